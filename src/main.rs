fn main() -> std::process::ExitCode {
    macrohard::cli::main()
}
