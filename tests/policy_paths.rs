#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Policy paths are read in one spelling: however a model spells a path (`./x`, `.//x`,
//! `a/../x`, `x/.`, `x/`), the policy decides on the file the tool will touch, and the
//! repository's `.git` stays closed to file tools whatever the policy says.

mod common;
use common::scripted::{self, all_done, step};

use macrohard::domain::policy::{self, Decision, Effect, Rule};
use macrohard::domain::workspace_path::normalize_path;
use macrohard::domain::{Autonomy, Event, LogLevel, RunStatus};
use macrohard::llm::LlmRequest;
use macrohard::llm::sim::Turn;
use macrohard::tools::Workspace;
use proptest::prelude::*;
use serde_json::json;

fn rule(tool: &str, path: &str, decision: Decision) -> Rule {
    Rule {
        tool: Some(tool.into()),
        command: None,
        path: Some(path.into()),
        decision,
        network: None,
    }
}

/// Rules of every kind, some of them spelled the long way round.
fn rules() -> Vec<Rule> {
    vec![
        rule("write_file", "secrets/*", Decision::Deny),
        rule("*", "./src//lib/*", Decision::Ask),
        rule("write_file", "docs/*", Decision::Allow),
        rule("edit_file", "*/Key", Decision::Deny),
        rule("*", "src/a.rs", Decision::Deny),
    ]
}

fn decide(ws: &Workspace, tool: &str, path: &str) -> (Decision, String) {
    policy::decide_with(
        &rules(),
        &[],
        Autonomy::Suggest,
        Effect::WorkspaceWrite,
        tool,
        None,
        Some(path),
        ws.case(),
    )
}

const NAMES: [&str; 6] = ["src", "lib", "docs", "secrets", "a.rs", "Key"];

/// A spelling of the path `parts`: a leading `./` or not, each separator one of several
/// detours (`//`, `/./`, `/x/../`), and a trailing `/`, `/.` or `//` or not.
fn spelling(parts: Vec<usize>) -> impl Strategy<Value = (String, String)> {
    let n = parts.len();
    let seps = prop::collection::vec(
        prop::sample::select(vec![
            "/",
            "//",
            "/./",
            "/x/../",
            "/./y//../",
            "/zz/w/../../",
        ]),
        n.saturating_sub(1),
    );
    let lead = prop::sample::select(vec!["", "./", ".//", "q/../", "./q/./../"]);
    let tail = prop::sample::select(vec!["", "/", "/.", "//", "/./", "/r/.."]);
    (lead, seps, tail).prop_map(move |(lead, seps, tail)| {
        let canonical: Vec<&str> = parts.iter().map(|&i| NAMES[i]).collect();
        let mut s = lead.to_owned();
        for (k, part) in canonical.iter().enumerate() {
            if k > 0 {
                s.push_str(seps[k - 1]);
            }
            s.push_str(part);
        }
        s.push_str(tail);
        (canonical.join("/"), s)
    })
}

/// Two spellings of one random path.
fn two_spellings() -> impl Strategy<Value = (String, String, String)> {
    prop::collection::vec(0..NAMES.len(), 1..5).prop_flat_map(|parts| {
        (spelling(parts.clone()), spelling(parts))
            .prop_map(|((canonical, a), (_, b))| (canonical, a, b))
    })
}

fn workspace() -> (tempfile::TempDir, Workspace) {
    let dir = tempfile::tempdir().unwrap();
    let ws = Workspace::open(&dir.path().join("ws")).unwrap();
    for d in ["src/lib", "docs", "secrets"] {
        std::fs::create_dir_all(ws.root().join(d)).unwrap();
    }
    (dir, ws)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn two_spellings_of_one_file_get_one_decision((canonical, a, b) in two_spellings()) {
        let (_d, ws) = workspace();
        let (ra, rb) = (ws.resolve(&a), ws.resolve(&b));
        prop_assert!(ra.is_ok() && rb.is_ok(), "{a}: {ra:?}; {b}: {rb:?}");
        let (ra, rb) = (ra.unwrap(), rb.unwrap());
        prop_assert_eq!(&ra, &rb);
        // The policy decides on the spelling the tool touches.
        prop_assert_eq!(ws.relative(&ra), canonical.clone());
        prop_assert_eq!(ws.canonical(&a).unwrap(), canonical.clone());
        for tool in ["write_file", "edit_file"] {
            let on_canonical = decide(&ws, tool, &canonical);
            // As the gate asks (canonical first) and as a raw spelling would be matched.
            prop_assert_eq!(&decide(&ws, tool, &ws.canonical(&a).unwrap()), &on_canonical);
            prop_assert_eq!(&decide(&ws, tool, &a), &on_canonical, "{}", a);
            prop_assert_eq!(&decide(&ws, tool, &b), &on_canonical, "{}", b);
        }
    }

    #[test]
    fn the_normaliser_and_the_resolver_agree_on_what_stays_inside(
        parts in prop::collection::vec(prop::sample::select(vec!["a", "b", ".", "..", ""]), 0..8),
    ) {
        let (_d, ws) = workspace();
        let raw = parts.join("/");
        let normal = normalize_path(&raw);
        let resolved = ws.resolve(&raw);
        prop_assert_eq!(normal.is_ok(), resolved.is_ok(), "{:?}: {:?} {:?}", raw, normal, resolved);
        if let (Ok(n), Ok(r)) = (normal, resolved) {
            let rel = ws.relative(&r);
            prop_assert_eq!(if rel.is_empty() { ".".to_owned() } else { rel }, n);
        }
    }
}

#[test]
fn each_spelling_of_the_issue_gets_the_rule_of_the_file() {
    let (_d, ws) = workspace();
    for spelling in [
        "secrets/key",
        "./secrets/key",
        ".//secrets/key",
        "docs/../secrets/key",
        "secrets/key/.",
        "secrets//key",
        "secrets/key/",
        "secrets/key//",
    ] {
        let (d, why) = decide(&ws, "write_file", spelling);
        assert_eq!(d, Decision::Deny, "{spelling}: {why}");
        assert_eq!(ws.relative(&ws.resolve(spelling).unwrap()), "secrets/key");
    }
    let (d, _) = decide(&ws, "write_file", "src/x/../lib/a.rs");
    assert_eq!(d, Decision::Ask);
}

const SECRET_SPELLINGS: [&str; 3] = [".//secrets/key", "src/../secrets/key", "secrets/key/."];
const GIT_SPELLINGS: [&str; 5] = [
    ".git/config",
    ".GIT/config",
    "sub/../.git/hooks/pre-commit",
    "g/config",
    "g/hooks/post-checkout",
];

/// An engineer who spells paths every which way, into a denied folder and into `.git`.
fn path_bender(req: &LlmRequest) -> Turn {
    match (req.context.role.as_str(), step(req)) {
        ("supervisor", 0) => Turn::think("plan").call(
            "create_task",
            json!({"title": "Bend paths", "description": "d", "role": "engineer"}),
        ),
        ("supervisor", _) if all_done(req) => {
            Turn::think("done").call("finish_run", json!({"summary": "ok"}))
        }
        ("supervisor", _) => Turn::think("waiting"),
        (_, 0) => {
            let mut turn = Turn::think("bend");
            for p in SECRET_SPELLINGS {
                turn = turn.call("write_file", json!({"path": p, "content": "leaked"}));
            }
            for p in GIT_SPELLINGS {
                turn = turn.call(
                    "write_file",
                    json!({"path": p, "content": "[core]\n\tfsmonitor = touch /tmp/x\n"}),
                );
            }
            turn.call("read_file", json!({"path": "./.git//config"}))
                .call(
                    "write_file",
                    json!({"path": "./notes//todo.md/", "content": "fine\n"}),
                )
        }
        _ => Turn::think("report").call(
            "complete_task",
            json!({"summary": "tried", "evidence": "refusals"}),
        ),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spellings_meet_their_rule_and_git_stays_closed_whatever_the_policy_says() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws");
    std::fs::create_dir_all(&ws).unwrap();
    let init = std::process::Command::new("git")
        .args(["init", "-q"])
        .current_dir(&ws)
        .status()
        .unwrap();
    assert!(init.success());
    // A link into .git, as a command could have made it, committed so that every task's
    // worktree has it.
    std::os::unix::fs::symlink(".git", ws.join("g")).unwrap();
    for args in [&["add", "g"][..], &["commit", "-qm", "link"][..]] {
        let ok = std::process::Command::new("git")
            .args(args)
            .current_dir(&ws)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_AUTHOR_NAME", "p")
            .env("GIT_AUTHOR_EMAIL", "p@example.com")
            .env("GIT_COMMITTER_NAME", "p")
            .env("GIT_COMMITTER_EMAIL", "p@example.com")
            .status()
            .unwrap();
        assert!(ok.success());
    }
    let config_before = std::fs::read_to_string(ws.join(".git/config")).unwrap();

    let done = scripted::run(dir.path(), ws.clone(), "bend paths", path_bender, |c| {
        c.autonomy = Autonomy::Full;
        c.rules = vec![
            rule("write_file", "secrets/*", Decision::Deny),
            // A rule that tries to open .git: it does not.
            rule("write_file", ".git/*", Decision::Allow),
            rule("*", "*", Decision::Allow),
        ];
    })
    .await;
    assert_eq!(
        done.state.status,
        RunStatus::Completed,
        "{}",
        done.state.status_reason
    );

    // Every spelling of the denied path met the deny rule.
    let decided: Vec<(String, String)> = done
        .records
        .iter()
        .filter_map(|r| match &r.event {
            Event::ToolCallRequested {
                tool, args, policy, ..
            } if tool == "write_file" => Some((
                args["path"].as_str().unwrap_or_default().to_owned(),
                policy.clone().unwrap_or_default(),
            )),
            _ => None,
        })
        .collect();
    for p in SECRET_SPELLINGS {
        let (_, policy) = decided.iter().find(|(path, _)| path == p).unwrap();
        assert!(policy.starts_with("deny: policy rule 1"), "{p}: {policy}");
    }
    assert!(!ws.join("secrets").exists());

    // .git was refused every time, as a confinement error the model saw and the log kept.
    assert_eq!(
        std::fs::read_to_string(ws.join(".git/config")).unwrap(),
        config_before
    );
    assert!(!ws.join(".git/hooks/pre-commit").exists());
    assert!(!ws.join(".git/hooks/post-checkout").exists());
    let outputs: Vec<&str> = done
        .records
        .iter()
        .filter_map(|r| match &r.event {
            Event::ToolCallFinished {
                ok: false, output, ..
            } => Some(output.as_str()),
            _ => None,
        })
        .filter(|o| o.contains(".git is not open to file tools"))
        .collect();
    assert_eq!(outputs.len(), GIT_SPELLINGS.len() + 1, "{outputs:?}");
    let refusals = done
        .records
        .iter()
        .filter(|r| matches!(&r.event, Event::Log { level: LogLevel::Warn, text, .. } if text.starts_with("refused") && text.contains(".git")))
        .count();
    assert_eq!(refusals, GIT_SPELLINGS.len() + 1);
    assert!(!done.records.iter().any(|r| matches!(&r.event, Event::FileChanged { path, .. } if path.to_lowercase().contains(".git"))));

    // A trailing slash and doubled slashes still write the file they name (merged into the
    // run branch, in its worktree).
    let result = std::path::PathBuf::from(&done.state.info.as_ref().unwrap().workspace);
    assert_ne!(
        result, ws,
        "the run worked on a branch, not in the person's folder"
    );
    assert_eq!(
        std::fs::read_to_string(result.join("notes/todo.md")).unwrap(),
        "fine\n"
    );
}
