#![allow(clippy::unwrap_used, clippy::expect_used)]
//! `doctor` checks `[keys]` as the control room does and warns when a binding takes another
//! action's key; `init` writes the config (which may hold keys) as 0600; the end of a run
//! says where the workspace is and how to read the report, uncut.

mod common;

use std::path::Path;

fn doctor(dir: &Path, config: &str) -> (i32, String) {
    let path = dir.join("config.toml");
    std::fs::write(&path, config).unwrap();
    let out = common::bin()
        .arg("--data-dir")
        .arg(dir.join("data"))
        .arg("--config")
        .arg(&path)
        .arg("doctor")
        .output()
        .unwrap();
    let (stdout, stderr) = common::text(&out);
    (out.status.code().unwrap(), format!("{stdout}{stderr}"))
}

#[test]
fn doctor_warns_when_a_binding_takes_a_key_from_another_action() {
    let dir = tempfile::tempdir().unwrap();
    let (code, out) = doctor(dir.path(), "[keys]\napprove = \"q\"\n");
    assert_eq!(code, 0, "a warning is not a failure: {out}");
    let warns: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("warn  keys"))
        .collect();
    assert_eq!(warns.len(), 1, "{out}");
    assert!(warns[0].contains("approve takes \"q\" from quit"), "{out}");
    // Two entries on one key: the one that loses it is named, with what it is left with.
    let (_, out) = doctor(
        dir.path(),
        "[keys]\napprove = \"z\"\ndeny = [\"z\", \"N\"]\n",
    );
    assert!(
        out.lines().any(|l| l.starts_with("warn  keys")
            && l.contains("from approve")
            && l.contains("no key")),
        "{out}"
    );
    // A map without clashes says nothing about keys.
    let (code, out) = doctor(dir.path(), "[keys]\napprove = [\"y\", \"Y\"]\n");
    assert_eq!(code, 0, "{out}");
    assert!(!out.contains("warn  keys"), "{out}");
}

#[test]
fn doctor_refuses_keys_the_control_room_refuses() {
    let dir = tempfile::tempdir().unwrap();
    for (config, what) in [
        (
            "[keys]\napprove = \"ctrl-zz\"\n",
            "\"ctrl-zz\" is not a key",
        ),
        ("[keys]\naprove = \"y\"\n", "unknown action \"aprove\""),
        ("[keys]\napprove = \"ctrl-a\"\n", "reserved"),
    ] {
        let (code, out) = doctor(dir.path(), config);
        assert_eq!(code, 1, "{out}");
        assert!(
            out.lines()
                .any(|l| l.starts_with("FAIL") && l.contains(what)),
            "{config}: {out}"
        );
    }
}

#[test]
fn init_writes_the_config_for_its_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("cfg").join("config.toml");
    let out = common::bin()
        .env("XDG_CONFIG_HOME", dir.path())
        .arg("--config")
        .arg(&config)
        .arg("init")
        .output()
        .unwrap();
    assert!(out.status.success(), "{:?}", common::text(&out));
    let mode = std::fs::metadata(&config).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "config.toml is {mode:o}");
    // --force rewrites one that others could read, and makes it private.
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = common::bin()
        .env("XDG_CONFIG_HOME", dir.path())
        .arg("--config")
        .arg(&config)
        .args(["init", "--force"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{:?}", common::text(&out));
    let mode = std::fs::metadata(&config).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "config.toml is {mode:o} after --force");
}

#[test]
fn the_end_of_a_headless_run_says_where_the_workspace_is_and_how_to_read_the_report() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let out = common::run(&data, &["run", "--headless", "--yes"]);
    let (_, stderr) = common::text(&out);
    assert!(out.status.success(), "{stderr}");
    let runs = common::run(&data, &["runs", "--json"]);
    let runs: serde_json::Value = serde_json::from_slice(&runs.stdout).unwrap();
    let id = runs[0]["id"].as_str().unwrap();
    let ws = std::fs::canonicalize(data.join("workspaces").join(id)).unwrap();
    let tail: Vec<&str> = stderr.lines().rev().take(3).collect();
    assert!(
        tail.contains(&format!("workspace: {}", ws.display()).as_str()),
        "{stderr}"
    );
    assert!(
        tail.iter()
            .any(|l| l.contains(&format!("macrohard-tui export {id} --format markdown"))),
        "{stderr}"
    );
    // The reason is whole: it ends as the run said it.
    let end = stderr
        .lines()
        .find(|l| l.starts_with(&format!("run {id} completed")))
        .unwrap();
    assert!(end.ends_with("[SIMULATED company]"), "{end}");
}
