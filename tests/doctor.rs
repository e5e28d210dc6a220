#![allow(clippy::unwrap_used, clippy::expect_used)]
//! `doctor`: one line per check, with the fix, against servers that are down, that refuse the
//! key, and that do or do not serve the configured models.

mod common;

use common::llm_server::{Reply, start};

fn doctor(
    dir: &std::path::Path,
    config: &str,
    args: &[&str],
    env: &[(&str, &str)],
) -> (i32, String) {
    let path = dir.join("config.toml");
    std::fs::write(&path, config).unwrap();
    let mut cmd = common::bin();
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd
        .arg("--data-dir")
        .arg(dir.join("data"))
        .arg("--config")
        .arg(&path)
        .arg("doctor")
        .args(args)
        .output()
        .unwrap();
    let (stdout, stderr) = common::text(&out);
    (out.status.code().unwrap(), format!("{stdout}{stderr}"))
}

fn failures(out: &str) -> Vec<&str> {
    out.lines().filter(|l| l.starts_with("FAIL")).collect()
}

#[test]
fn the_simulated_company_needs_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (code, out) = doctor(dir.path(), "", &[], &[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("ok    sim"), "{out}");
    assert!(out.contains("ok    data"), "{out}");
    assert!(out.contains("ok    prompts    7 roles"), "{out}");
    // The sandbox says what the kernel allows, part by part (CI's kernel allows all of it).
    assert_sandbox_report(&out);
    assert!(
        out.lines().any(|l| l.starts_with("ok    terminal")),
        "{out}"
    );
}

#[test]
fn reasoning_per_role_and_the_responses_api_are_shown() {
    let dir = tempfile::tempdir().unwrap();
    let config = "[roles.engineer]\nreasoning = \"high\"\n[roles.qa]\nreasoning = \"low\"\n\n[run]\nprovider = \"local\"\nmodel = \"m\"\n\n[providers.local]\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:9/v1\"\napi = \"responses\"\n";
    let (_, out) = doctor(dir.path(), config, &[], &[]);
    assert!(
        out.contains("reasoning effort: engineer high, qa low"),
        "{out}"
    );
    assert!(out.contains("speaks the Responses API"), "{out}");
}

#[test]
fn a_server_that_is_down_is_one_line_naming_the_url() {
    let dir = tempfile::tempdir().unwrap();
    let (code, out) = doctor(
        dir.path(),
        "",
        &[
            "--provider",
            "openai",
            "--base-url",
            "http://127.0.0.1:9/v1",
        ],
        &[("OPENAI_API_KEY", "sk-x")],
    );
    assert_eq!(code, 1, "{out}");
    let fails = failures(&out);
    assert_eq!(fails.len(), 1, "{out}");
    assert!(
        fails[0].contains("cannot reach http://127.0.0.1:9/v1"),
        "{out}"
    );
}

#[test]
fn a_missing_key_is_named_before_any_request() {
    let dir = tempfile::tempdir().unwrap();
    let (code, out) = doctor(dir.path(), "", &["--provider", "anthropic"], &[]);
    assert_eq!(code, 1, "{out}");
    assert!(
        failures(&out)[0].contains("no API key: set ANTHROPIC_API_KEY"),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn models_are_checked_for_every_role_and_a_refused_key_is_said() {
    let server = start(|_, _| {
        Reply::Status(
            200,
            vec![],
            r#"{"data":[{"id":"gpt-4o-mini"},{"id":"qwen3:8b"}]}"#.into(),
        )
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("{}/v1", server.url);
    let config = format!(
        "[run]\nprovider = \"ollama\"\nbase_url = \"{url}\"\nmodel = \"qwen3\"\n\n[roles.engineer]\nmodel = \"gpt-4o-mini\"\n\n[roles.qa]\nmodel = \"llama-missing\"\n"
    );
    let d = dir.path().to_owned();
    let (code, out) = tokio::task::spawn_blocking(move || doctor(&d, &config, &[], &[]))
        .await
        .unwrap();
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("answers and accepts the key (2 models)"),
        "{out}"
    );
    assert!(out.contains("model qwen3 is known as qwen3:8b"), "{out}");
    assert!(out.contains("model gpt-4o-mini is known"), "{out}");
    let fails = failures(&out);
    assert_eq!(fails.len(), 1, "{out}");
    assert!(
        fails[0].contains("model llama-missing is not among the 2 models"),
        "{out}"
    );

    let refusing = start(|_, _| {
        Reply::Status(
            401,
            vec![],
            r#"{"error":{"message":"Incorrect API key provided"}}"#.into(),
        )
    })
    .await;
    let url = format!("{}/v1", refusing.url);
    let d = dir.path().to_owned();
    let (code, out) = tokio::task::spawn_blocking(move || {
        doctor(
            &d,
            "",
            &["--provider", "openai", "--base-url", &url],
            &[("OPENAI_API_KEY", "sk-wrong")],
        )
    })
    .await
    .unwrap();
    assert_eq!(code, 1, "{out}");
    assert!(
        failures(&out)[0].contains("refused the key (Incorrect API key provided)"),
        "{out}"
    );
    assert!(!out.contains("sk-wrong"), "the key is never printed");
}

#[test]
fn a_key_in_a_readable_config_is_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let (code, out) = doctor(
        dir.path(),
        "[providers.openai]\napi_key = \"sk-in-file\"\n",
        &[],
        &[],
    );
    assert_eq!(code, 0, "{out}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("warn") && l.contains("chmod 600")),
        "{out}"
    );
    let (code, out) = doctor(dir.path(), "[run]\nconcurency = 2\n", &[], &[]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("line 2: key `run.concurency`"), "{out}");
}

/// The sandbox lines of `doctor`: a verdict, then every part; "complete" only when every part
/// is ok.
fn assert_sandbox_report(out: &str) {
    let lines: Vec<&str> = out
        .lines()
        .filter(|l| l[4..].trim_start().starts_with("sandbox"))
        .collect();
    let verdict = lines.first().copied().unwrap_or_default();
    let parts = &lines[1.min(lines.len())..];
    let names = [
        "filesystem",
        "network",
        "capabilities",
        "devices",
        "processes",
        "socket",
    ];
    assert_eq!(parts.len(), names.len(), "{out}");
    for (line, name) in parts.iter().zip(names) {
        assert!(line.contains(name), "{line}");
    }
    let all_ok = parts.iter().all(|l| l.starts_with("ok"));
    if verdict.starts_with("ok    sandbox    complete") {
        assert!(all_ok, "complete with a part missing: {out}");
    } else {
        assert!(verdict.starts_with("warn  sandbox    incomplete"), "{out}");
        assert!(!all_ok, "{out}");
    }
    if std::env::var_os("CI").is_some() {
        assert!(all_ok, "CI's kernel offers the whole sandbox: {out}");
    }
}

#[test]
fn doctor_reports_the_sandbox_part_by_part_for_an_ordinary_account() {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipping: needs root to start a process as nobody");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let out = common::bin()
        .uid(65534)
        .gid(65534)
        .env("HOME", dir.path())
        .env("XDG_RUNTIME_DIR", dir.path().join("run"))
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .arg("doctor")
        .output();
    let out = match out {
        Ok(out) => out,
        Err(e) => {
            eprintln!("skipping: the binary is not reachable by nobody: {e}");
            return;
        }
    };
    let (stdout, stderr) = common::text(&out);
    if stderr.contains("Permission denied") {
        eprintln!("skipping: the binary is not reachable by nobody: {stderr}");
        return;
    }
    assert!(
        stdout.contains("as an ordinary account"),
        "{stdout}{stderr}"
    );
    assert_sandbox_report(&stdout);
}
