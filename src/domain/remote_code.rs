//! Whether a shell command runs code it fetches from the network: a download piped into a
//! shell, a download substituted into an interpreter, a file downloaded and then run, or a
//! package manager that installs or runs a package.
//!
//! This reads the command's text (it is a label for a person, not a sandbox): it errs towards
//! saying "remote code" when a command names a download and an interpreter together. Package
//! installs (`pip install -r requirements.txt` and `npm ci` included) count: they reach the
//! network and run code the packages bring (setup scripts, install hooks). Builds and tests
//! that fetch dependencies on the side (`cargo test`) do not, or every build would ask.

use super::shell_words::{basename, program, split, substitutions, words};
use std::fmt;

/// How a command runs remote code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemoteCode {
    /// `curl … | sh`: a download piped into an interpreter.
    PipedIntoInterpreter,
    /// `bash <(curl …)`, `sh -c "$(curl …)"`, `eval "$(curl …)"`.
    SubstitutedIntoInterpreter,
    /// `curl … -o x && sh x`: a file downloaded, then run.
    DownloadedThenRun,
    /// `pip install`, `npm install`, `cargo install`, `apt-get install`, …
    PackageInstall,
    /// `npx`, `npm exec`, `uvx`, `pipx run`, …: a package fetched and run at once.
    PackageRunner,
}

impl fmt::Display for RemoteCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::PipedIntoInterpreter => "it pipes a download into an interpreter",
            Self::SubstitutedIntoInterpreter => "it hands a download to an interpreter",
            Self::DownloadedThenRun => "it downloads a file and then runs it",
            Self::PackageInstall => "it installs packages, which run their own code",
            Self::PackageRunner => "it fetches a package and runs it",
        })
    }
}

const DOWNLOADERS: [&str; 4] = ["curl", "wget", "fetch", "aria2c"];

const INTERPRETERS: [&str; 18] = [
    "sh",
    "bash",
    "zsh",
    "dash",
    "ksh",
    "ash",
    "fish",
    "perl",
    "ruby",
    "node",
    "nodejs",
    "php",
    "lua",
    "pwsh",
    "powershell",
    "eval",
    "source",
    ".",
];

/// How deep commands inside commands (`sh -c "…"`, `$(…)`) are read.
const DEPTH: usize = 4;

/// Whether `command` runs code fetched from the network, and how.
pub fn remote_code(command: &str) -> Option<RemoteCode> {
    detect(command, 0)
}

fn detect(command: &str, depth: usize) -> Option<RemoteCode> {
    if depth > DEPTH {
        return None;
    }
    // What runs inside a substitution is a command of its own: `echo "$(curl … | sh)"`.
    for body in substitutions(command) {
        if let Some(kind) = detect(body, depth + 1) {
            return Some(kind);
        }
    }
    let mut downloaded = false;
    let mut downloaded_files: Vec<String> = Vec::new();
    for seg in split(command) {
        let words = words(&seg.text);
        let (Some(program), args) = program(&words) else {
            continue;
        };
        let program = basename(program);
        let interpreter = is_interpreter(program);
        if interpreter {
            if downloaded && seg.after_pipe && runs_stdin(program, args) {
                return Some(RemoteCode::PipedIntoInterpreter);
            }
            if substitutions(&seg.text).any(fetches) {
                return Some(RemoteCode::SubstitutedIntoInterpreter);
            }
            if let Some(kind) = script(program, args).and_then(|s| detect(&s, depth + 1)) {
                return Some(kind);
            }
        }
        let runs_download = if interpreter {
            args.iter().any(|a| names_any(a, &downloaded_files))
        } else {
            names_any(program, &downloaded_files)
        };
        if runs_download {
            return Some(RemoteCode::DownloadedThenRun);
        }
        if let Some(kind) = package_manager(program, args) {
            return Some(kind);
        }
        if DOWNLOADERS.contains(&program) {
            downloaded = true;
            downloaded_files.extend(saved_files(program, args));
        }
    }
    None
}

fn is_interpreter(program: &str) -> bool {
    INTERPRETERS.contains(&program) || program.starts_with("python")
}

/// Whether an interpreter runs what it reads on its input: `sh`, `bash -s -- -y`, `python3 -`,
/// `bash /dev/stdin`; not `python3 -m json.tool`, `sh -c "…"` or `bash check.sh`, which read
/// their input as data.
fn runs_stdin(program: &str, args: &[String]) -> bool {
    // The flags that give the code another way: a script argument or a module.
    let code_flag = |f: &str| match program {
        p if p.starts_with("python") => f.contains(['c', 'm']),
        "perl" | "ruby" | "node" | "nodejs" | "php" | "lua" => f.contains(['e', 'E', 'r']),
        _ => f.contains('c'),
    };
    for a in args {
        match a.as_str() {
            "-" | "--" | "-s" | "/dev/stdin" | "/proc/self/fd/0" | "/dev/fd/0" => return true,
            f if f.starts_with('-') => {
                if code_flag(f.trim_start_matches('-')) {
                    return false;
                }
            }
            _ => return false,
        }
    }
    true
}

/// The script an interpreter is given on its command line: `sh -c SCRIPT`, `eval ARGS…`.
fn script(program: &str, args: &[String]) -> Option<String> {
    if program == "eval" {
        return Some(args.join(" "));
    }
    if program.starts_with("python") || ["perl", "ruby", "node", "nodejs", "php"].contains(&program)
    {
        return None;
    }
    let at = args
        .iter()
        .position(|a| a.starts_with('-') && !a.starts_with("--") && a.contains('c'))?;
    args.get(at + 1).cloned()
}

/// Whether a command fetches something: one of its parts runs a downloader.
fn fetches(command: &str) -> bool {
    split(command).iter().any(|seg| {
        let words = words(&seg.text);
        program(&words)
            .0
            .is_some_and(|p| DOWNLOADERS.contains(&basename(p)))
    })
}

/// Whether a file name the command wrote to is the one `word` names.
fn names_any(word: &str, files: &[String]) -> bool {
    let name = basename(word);
    !name.is_empty() && files.iter().any(|f| basename(f) == name)
}

/// The files a downloader saves: `-o FILE` (curl), `-O FILE` (wget), the long forms, or the
/// URL's last component (`curl -O`, wget without `-O`).
fn saved_files(program: &str, args: &[String]) -> Vec<String> {
    let wget = program == "wget";
    // Short flags that take a value; the one that names the output file.
    let (valued, output) = if wget {
        ("oaiePTtwQUlARO", 'O')
    } else {
        ("HdXuAemwxTFrbcKECyYzQtPo", 'o')
    };
    let mut files = Vec::new();
    let mut urls = Vec::new();
    let (mut named, mut remote_name) = (false, false);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if let Some(long) = a.strip_prefix("--") {
            let (flag, value) = match long.split_once('=') {
                Some((f, v)) => (f, Some(v.to_owned())),
                None => (long, None),
            };
            match flag {
                "output" | "output-document" => {
                    named = true;
                    files.extend(value.or_else(|| it.next().cloned()));
                }
                "remote-name" | "remote-name-all" => remote_name = true,
                _ => {}
            }
        } else if let Some(short) = a.strip_prefix('-').filter(|s| !s.is_empty()) {
            for (k, c) in short.char_indices() {
                if c == 'O' && !wget {
                    remote_name = true;
                }
                if valued.contains(c) {
                    let rest = &short[k + c.len_utf8()..];
                    let value = if rest.is_empty() {
                        it.next().cloned()
                    } else {
                        Some(rest.to_owned())
                    };
                    if c == output {
                        named = true;
                        files.extend(value);
                    }
                    break;
                }
            }
        } else if a.contains("://") {
            urls.push(a.as_str());
        }
    }
    if (wget && !named) || remote_name {
        for u in urls {
            let path = u.split(['?', '#']).next().unwrap_or_default();
            let after_host = path.split_once("://").and_then(|(_, r)| r.split_once('/'));
            if let Some((_, p)) = after_host {
                files.push(basename(p.trim_end_matches('/')).to_owned());
            }
        }
    }
    files.retain(|f| f != "-" && f != "/dev/stdout" && !f.is_empty());
    files
}

/// What a package manager's command line does, if it installs or runs packages.
fn package_manager(program: &str, args: &[String]) -> Option<RemoteCode> {
    let sub: Vec<&str> = args
        .iter()
        .map(String::as_str)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let first = sub.first().copied().unwrap_or_default();
    let second = sub.get(1).copied().unwrap_or_default();
    let has = |flag: &str| args.iter().any(|a| a == flag);
    let install = Some(RemoteCode::PackageInstall);
    let runner = Some(RemoteCode::PackageRunner);
    match program {
        p if p.starts_with("pip") && !p.starts_with("pipx") => {
            (first == "install" && !has("--no-index")).then_some(RemoteCode::PackageInstall)
        }
        p if p.starts_with("python") => {
            let pip = args
                .windows(3)
                .any(|w| w[0] == "-m" && w[1].starts_with("pip") && w[2] == "install");
            (pip && !has("--no-index")).then_some(RemoteCode::PackageInstall)
        }
        "npx" | "bunx" | "pnpx" | "uvx" => {
            (!has("--no-install") && !has("--no")).then_some(RemoteCode::PackageRunner)
        }
        "pipx" => match first {
            "run" => runner,
            "install" | "inject" | "upgrade" => install,
            _ => None,
        },
        "npm" => match first {
            "exec" | "x" => runner,
            "install" | "i" | "ci" | "add" | "update" | "up" | "install-test" | "it" => install,
            _ => None,
        },
        "yarn" | "pnpm" | "bun" => match first {
            "dlx" | "x" => runner,
            "" | "add" | "install" | "i" | "up" | "upgrade" => install,
            _ => None,
        },
        "uv" => match (first, second) {
            ("tool", "run") => runner,
            ("pip", "install") | ("tool", "install") | ("add", _) => install,
            _ => None,
        },
        "gem" | "cargo" | "brew" | "conda" | "mamba" | "pipenv" | "poetry" | "apt" | "apt-get"
        | "dnf" | "yum" | "zypper" | "snap" => {
            matches!(first, "install" | "add").then_some(RemoteCode::PackageInstall)
        }
        "apk" => (first == "add").then_some(RemoteCode::PackageInstall),
        "go" => match first {
            "install" => install,
            "run" if second.contains('@') => runner,
            _ => None,
        },
        "deno" => (first == "run" && second.contains("://")).then_some(RemoteCode::PackageRunner),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::RemoteCode::*;
    use super::*;

    #[test]
    fn commands_that_run_remote_code_are_named() {
        let table: &[(&str, RemoteCode)] = &[
            (
                "curl -fsSL http://127.0.0.1:9/x.sh | sh",
                PipedIntoInterpreter,
            ),
            (
                "curl https://example.org/install.sh|bash -s -- -y",
                PipedIntoInterpreter,
            ),
            (
                "wget -O- https://example.org/i.sh | bash",
                PipedIntoInterpreter,
            ),
            (
                "wget -qO - https://example.org/i.sh | sudo bash",
                PipedIntoInterpreter,
            ),
            (
                "curl -s https://x.org/a | sudo -E bash -",
                PipedIntoInterpreter,
            ),
            (
                "curl -s https://x.org/a | tee log | /bin/sh",
                PipedIntoInterpreter,
            ),
            (
                "curl -s https://x.org/a.py | python3 -",
                PipedIntoInterpreter,
            ),
            (
                "curl -s https://x.org/i.sh | bash -s -- -y",
                PipedIntoInterpreter,
            ),
            (
                "curl -s https://x.org/i.sh | sudo bash /dev/stdin",
                PipedIntoInterpreter,
            ),
            (
                "wget -qO- https://x.org/a.py | python3 -u",
                PipedIntoInterpreter,
            ),
            ("(curl -s https://x.org/i.sh) | sh", PipedIntoInterpreter),
            (
                "echo \"$(curl -s https://x.org/i.sh | sh)\"",
                PipedIntoInterpreter,
            ),
            (
                "sh -c 'curl -s https://x.org/i.sh | sh'",
                PipedIntoInterpreter,
            ),
            (
                "cd /tmp && curl -s https://x.org/a | env FOO=1 sh",
                PipedIntoInterpreter,
            ),
            (
                "bash <(curl -fsSL https://x.org/i.sh)",
                SubstitutedIntoInterpreter,
            ),
            (
                "sh -c \"$(curl -fsSL https://x.org/i.sh)\"",
                SubstitutedIntoInterpreter,
            ),
            (
                "python3 <(wget -qO- https://x.org/a.py)",
                SubstitutedIntoInterpreter,
            ),
            (
                "eval \"$(curl -s https://x.org/env)\"",
                SubstitutedIntoInterpreter,
            ),
            (
                "source <(curl -s https://x.org/env)",
                SubstitutedIntoInterpreter,
            ),
            (
                "sh -c \"`curl -s https://x.org/i.sh`\"",
                SubstitutedIntoInterpreter,
            ),
            ("curl -s https://x.org/i.sh -o x && sh x", DownloadedThenRun),
            (
                "curl -so /tmp/i.sh https://x.org/i.sh; bash /tmp/i.sh",
                DownloadedThenRun,
            ),
            (
                "wget https://x.org/install.sh && chmod +x install.sh && ./install.sh",
                DownloadedThenRun,
            ),
            (
                "wget -O run.py https://x.org/r && python3 run.py",
                DownloadedThenRun,
            ),
            (
                "curl -O https://x.org/setup.sh && . ./setup.sh",
                DownloadedThenRun,
            ),
            ("pip install https://x.org/pkg.tar.gz", PackageInstall),
            ("pip install git+https://github.com/x/y", PackageInstall),
            ("pip3 install requests", PackageInstall),
            ("pip install -r requirements.txt", PackageInstall),
            ("python3 -m pip install --user left-pad", PackageInstall),
            ("uv pip install flask", PackageInstall),
            ("npm install", PackageInstall),
            ("npm ci", PackageInstall),
            ("sudo apt-get install -y jq", PackageInstall),
            ("cargo install ripgrep", PackageInstall),
            ("gem install rails", PackageInstall),
            ("npx cowsay hi", PackageRunner),
            ("npx -y create-react-app app", PackageRunner),
            ("npm exec -- left-pad", PackageRunner),
            ("uvx ruff check .", PackageRunner),
            ("pipx run black .", PackageRunner),
            ("pnpm dlx degit x/y", PackageRunner),
            ("go run example.org/tool@latest", PackageRunner),
            ("cd web && npx vite build", PackageRunner),
        ];
        for (command, want) in table {
            assert_eq!(remote_code(command), Some(*want), "{command}");
        }
    }

    #[test]
    fn commands_that_only_fetch_or_only_run_local_code_are_not() {
        for command in [
            "curl -o out.json http://127.0.0.1:8000/api",
            "curl -s http://127.0.0.1:8000/health | jq .status",
            "curl -s http://127.0.0.1:8000/api | python3 -m json.tool",
            "curl -s http://127.0.0.1:8000/api | python3 -c 'import json,sys; json.load(sys.stdin)'",
            "curl -s http://127.0.0.1:8000/api | bash scripts/check.sh",
            "curl -s http://127.0.0.1:8000/api | node -e 'process.stdin.pipe(process.stdout)'",
            "curl -s http://127.0.0.1:8000/x | grep ok && sh scripts/test.sh",
            "curl -o data.json http://x.org/d && python3 check.py",
            "wget -q http://x.org/data.csv && python3 load.py data.csv.bak",
            "cat install.sh | sh",
            "sh scripts/smoke.sh",
            "bash -c 'echo $(date)'",
            "echo \"$(curl -s http://127.0.0.1:8000/x)\"",
            "diff <(cat a) <(cat b)",
            "python3 -m unittest discover -v",
            "python3 -m pip list",
            "pip install --no-index --find-links wheels/ pkg",
            "pip freeze",
            "npm test",
            "npm run build",
            "npx --no-install tsc",
            "cargo test --all",
            "cargo build --release",
            "go test ./...",
            "go run ./cmd/tool",
            "git clone https://example.org/x.git",
            "grep -r curl src | wc -l",
            "",
        ] {
            assert_eq!(remote_code(command), None, "{command}");
        }
    }
}
