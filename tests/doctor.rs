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
    // The sandbox line says what the kernel allows (CI's kernel allows all of it).
    assert!(
        out.lines()
            .any(|l| l.starts_with("ok    sandbox    Landlock ABI")
                || (std::env::var_os("CI").is_none()
                    && l.starts_with("warn  sandbox    incomplete"))),
        "{out}"
    );
    assert!(
        out.lines().any(|l| l.starts_with("ok    terminal")),
        "{out}"
    );
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
