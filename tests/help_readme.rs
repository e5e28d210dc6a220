#![allow(clippy::unwrap_used, clippy::expect_used)]
//! README and `--help` agree: every long flag any command's `--help` lists is described in the
//! README, every flag has a description in `--help`, `--foreground` is offered only where it
//! means something, and `MACROHARD_SIM_SPEED` is explained in both.

mod common;

const README: &str = include_str!("../README.md");

const COMMANDS: [&str; 12] = [
    "", "run", "resume", "runs", "show", "export", "attach", "serve", "doctor", "blame", "land",
    "init",
];

fn help(command: &str) -> String {
    let mut cmd = common::bin();
    if !command.is_empty() {
        cmd.arg(command);
    }
    // `-h`: the short help, one line per option.
    let out = cmd.arg("-h").output().unwrap();
    assert!(
        out.status.success(),
        "{command} --help: {:?}",
        common::text(&out)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The option lines of a help text: (long flag, its description).
fn options(help: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut in_options = false;
    for line in help.lines() {
        if line.trim_end() == "Options:" {
            in_options = true;
            continue;
        }
        if !in_options {
            continue;
        }
        if !line.starts_with("  ") {
            if !line.trim().is_empty() {
                in_options = false;
            }
            continue;
        }
        let Some(at) = line.find("--") else { continue };
        let flag: String = line[at..]
            .chars()
            .take_while(|c| *c == '-' || c.is_ascii_alphanumeric())
            .collect();
        let rest = line[at + flag.len()..].trim_start();
        // Skip the value name (`<DIR>`) to get to the description.
        let description = match rest.strip_prefix('<') {
            Some(r) => r.split_once('>').map(|(_, d)| d).unwrap_or("").trim(),
            None => rest,
        };
        found.push((flag, description.to_owned()));
    }
    found
}

#[test]
fn every_flag_of_every_help_is_described_in_the_readme_and_in_the_help() {
    let mut missing = Vec::new();
    let mut undescribed = Vec::new();
    let mut seen = 0;
    for command in COMMANDS {
        for (flag, description) in options(&help(command)) {
            if flag == "--help" || flag == "--version" {
                continue;
            }
            seen += 1;
            // As a whole word: `--json` is not found inside `--jsonl`.
            let described = README.match_indices(&flag).any(|(i, _)| {
                !README[i + flag.len()..]
                    .chars()
                    .next()
                    .is_some_and(|c| c == '-' || c.is_ascii_alphanumeric())
            });
            if !described {
                missing.push(format!("{command} {flag}"));
            }
            if description.is_empty() || description.starts_with('[') {
                undescribed.push(format!("{command} {flag}"));
            }
        }
    }
    assert!(seen > 30, "the help was not parsed: {seen} flags");
    assert!(
        missing.is_empty(),
        "flags --help lists that README does not: {missing:?}"
    );
    assert!(
        undescribed.is_empty(),
        "flags --help does not describe: {undescribed:?}"
    );
}

#[test]
fn foreground_is_offered_only_where_it_means_something() {
    for command in COMMANDS {
        let has = options(&help(command))
            .iter()
            .any(|(f, _)| f == "--foreground");
        let means_something = matches!(command, "" | "run" | "resume");
        assert_eq!(has, means_something, "`{command} --help` and --foreground");
    }
    // It still works on run, before it and from the environment.
    let dir = tempfile::tempdir().unwrap();
    for args in [
        &["run", "--foreground", "--headless", "--yes"][..],
        &["--foreground", "run", "--headless", "--yes"],
    ] {
        let out = common::run(dir.path(), args);
        assert!(out.status.success(), "{args:?}: {:?}", common::text(&out));
    }
    let out = common::run(dir.path(), &["runs", "--foreground"]);
    assert_eq!(out.status.code(), Some(2), "runs takes no --foreground");
}

#[test]
fn the_simulated_company_speed_is_explained_in_both() {
    let top = help("");
    assert!(
        top.contains("MACROHARD_SIM_SPEED") && top.contains("speed of the simulated company"),
        "{top}"
    );
    assert!(README.contains("MACROHARD_SIM_SPEED"));
}
