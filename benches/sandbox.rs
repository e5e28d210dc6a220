//! What the sandbox costs a command: `run_command` of a trivial program with the sandbox on
//! (Landlock rules built, a network namespace, limits) and off, and the policy decision for a
//! call against a long rule list.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use criterion::{Criterion, criterion_group, criterion_main};
use macrohard::domain::policy::{self, Autonomy, Decision, Effect, Rule};
use macrohard::tools::sandbox::SandboxConfig;
use macrohard::tools::{CommandLimits, ToolCall, Tools, Workspace};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

fn command(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ws = Workspace::open(dir.path()).unwrap();
    eprintln!(
        "sandbox: {}",
        macrohard::tools::sandbox::support().describe()
    );
    let call = ToolCall::RunCommand {
        command: "true".into(),
        timeout_s: Some(10),
    };
    let mut group = c.benchmark_group("run_command");
    group
        .sample_size(30)
        .measurement_time(Duration::from_secs(8));
    for (name, enabled) in [("sandboxed", true), ("unsandboxed", false)] {
        let limits = CommandLimits {
            sandbox: SandboxConfig {
                enabled,
                ..SandboxConfig::default()
            },
            ..CommandLimits::default()
        };
        let tools = Tools::new(ws.clone(), limits);
        group.bench_function(name, |b| {
            b.iter(|| {
                let out = rt
                    .block_on(tools.execute(&call, false, &CancellationToken::new()))
                    .unwrap();
                assert!(out.ok, "{}", out.text);
            });
        });
    }
    // The same in a git repository of 2,000 committed files: each command also lists what it
    // created or changed (a `git status` before and after), so the files it made are committed
    // with its task.
    let repo = tempfile::tempdir().unwrap();
    for i in 0..2000 {
        let d = repo.path().join(format!("pkg{}", i / 100));
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join(format!("m{i}.py")), format!("x = {i}\n")).unwrap();
    }
    macrohard::tools::git::ensure_repo(repo.path()).unwrap();
    let git = |args: &[&str]| {
        let ok = std::process::Command::new("git")
            .args(["-c", "user.name=b", "-c", "user.email=b@b"])
            .args(args)
            .current_dir(repo.path())
            .status()
            .unwrap()
            .success();
        assert!(ok, "git {args:?}");
    };
    git(&["add", "-A"]);
    git(&["commit", "-qm", "files"]);
    let tools = Tools::new(
        Workspace::open(repo.path()).unwrap(),
        CommandLimits::default(),
    );
    group.bench_function("sandboxed_in_a_repository_of_2000_files", |b| {
        b.iter(|| {
            let out = rt
                .block_on(tools.execute(&call, false, &CancellationToken::new()))
                .unwrap();
            assert!(out.ok, "{}", out.text);
        });
    });
    group.finish();
}

fn decide(c: &mut Criterion) {
    let rules: Vec<Rule> = (0..200)
        .map(|i| Rule {
            tool: Some("run_command".into()),
            command: Some(format!("tool{i} *")),
            path: None,
            decision: Decision::Allow,
            network: None,
        })
        .collect();
    c.bench_function("policy_decide_200_rules_no_match", |b| {
        b.iter(|| {
            policy::decide_with(
                &rules,
                &[],
                Autonomy::AskRisky,
                Effect::Command,
                "run_command",
                Some("cargo test --all"),
                None,
                macrohard::domain::workspace_path::Case::Sensitive,
            )
        });
    });
}

criterion_group!(benches, command, decide);
criterion_main!(benches);
