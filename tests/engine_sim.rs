#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The engine end to end on the simulated company, in-process, in a temporary data directory.

use macrohard::domain::{Actor, Event, RunStatus, TaskStatus};
use macrohard::engine::{self, EngineConfig, NewRun, Roster, RunTarget};
use macrohard::llm::sim::{SimProvider, SimSpeed};
use macrohard::store::Store;
use std::sync::Arc;
use std::time::Duration;

fn person() -> Actor {
    Actor::Human {
        user: "tester".into(),
        host: None,
        auto: true,
    }
}

/// Builds the todo app on the simulated company at full speed, every request approved, and
/// checks the run completed. The temporary directory lives as long as the returned guard.
async fn todo_app(
    tweak: impl FnOnce(&mut EngineConfig),
) -> (tempfile::TempDir, Store, macrohard::domain::RunState) {
    sim_run("Build a command-line todo app", tweak).await
}

/// [`todo_app`] with another goal (a scenario's tag in it).
async fn sim_run(
    goal: &str,
    tweak: impl FnOnce(&mut EngineConfig),
) -> (tempfile::TempDir, Store, macrohard::domain::RunState) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store")).unwrap();
    let mut config = EngineConfig::new(Roster::embedded().unwrap(), dir.path().join("workspaces"));
    config.auto_approve = Some(person());
    tweak(&mut config);
    let provider = Arc::new(SimProvider::new(SimSpeed(0.0), None));
    let new = NewRun {
        goal: goal.into(),
        workspace: None,
        seed: 7,
        by: person(),
    };
    let engine = engine::start(store.clone(), provider, config, RunTarget::New(new))
        .await
        .unwrap();
    let state = tokio::time::timeout(Duration::from_secs(120), engine.join)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(
        state.status,
        RunStatus::Completed,
        "{}",
        state.status_reason
    );
    (dir, store, state)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_simulated_company_builds_a_working_project() {
    let (_dir, store, state) = todo_app(|_| {}).await;
    assert!(state.tasks.len() >= 6);
    assert!(state.tasks.iter().all(|t| t.status == TaskStatus::Done));
    let roles: std::collections::HashSet<&str> =
        state.tasks.iter().map(|t| t.role.as_str()).collect();
    assert!(roles.len() >= 5, "{roles:?}");
    let core = state
        .tasks
        .iter()
        .find(|t| t.title.contains("store"))
        .unwrap();
    assert_eq!(
        core.attempts, 2,
        "the store task fails once and is fixed on retry"
    );
    assert_eq!(core.failures.len(), 1);
    // QA's task is accepted only once the engine has run the whole suite itself.
    let qa = state.tasks.iter().find(|t| t.role == "qa").unwrap();
    let check = qa.check.as_deref().unwrap_or_default();
    assert!(check.contains("unittest"), "{check}");
    let (passed, output) = qa.last_check.clone().expect("the check ran");
    assert!(passed && output.contains("OK"), "{output}");
    assert!(!state.approvals.is_empty());
    let ws = std::path::PathBuf::from(&state.info.as_ref().unwrap().workspace);
    for f in [
        "DESIGN.md",
        "todo/core.py",
        "todo/cli.py",
        "tests/test_cli.py",
        "README.md",
        "LAUNCH.md",
        "REVIEW.md",
        "scripts/smoke.sh",
    ] {
        assert!(ws.join(f).is_file(), "{f} missing");
    }
    let out = std::process::Command::new("python3")
        .args(["-m", "unittest", "discover", "-s", "tests", "-t", "."])
        .current_dir(&ws)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The log folds to the same state the engine ended with, and the sequence is contiguous.
    let run = state.info.as_ref().unwrap().id.clone();
    let records: Vec<_> = store.events(&run, 1).unwrap().map(|r| r.unwrap()).collect();
    assert!(
        records
            .iter()
            .enumerate()
            .all(|(i, r)| r.seq == i as u64 + 1)
    );
    assert!(
        records
            .iter()
            .any(|r| matches!(r.event, Event::AgentDelta { .. }))
    );
    let folded = macrohard::domain::RunState::fold(&records);
    assert_eq!(folded.status, RunStatus::Completed);
    assert_eq!(folded.tasks_done(), state.tasks_done());
}

/// With a single attempt per task, the store task's first failure is a failure for good: the
/// simulated supervisor retries it with guidance built from the failure, and the run completes
/// without asking anyone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_simulated_supervisor_repairs_a_task_that_failed_for_good() {
    let (_dir, store, state) = todo_app(|c| c.max_attempts = 1).await;
    let core = state
        .tasks
        .iter()
        .find(|t| t.title.contains("store"))
        .unwrap();
    assert_eq!(core.attempts, 2);
    assert_eq!(core.guidance.len(), 1);
    assert!(
        core.guidance[0].starts_with("The last attempt failed: "),
        "{}",
        core.guidance[0]
    );
    let records: Vec<_> = store
        .events(state.id().unwrap(), 1)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(records.iter().any(|r| matches!(
        &r.event,
        Event::TaskRetried { by, .. } if by.as_str() == "supervisor"
    )));
    assert!(
        !records.iter().any(|r| matches!(
            &r.event,
            Event::ApprovalRequested { tool, .. } if tool == "ask_human"
        )),
        "nobody was asked"
    );
}

/// `#conflict`: the store and the docs, built side by side, both start CHANGELOG.md. The
/// second to merge meets a real conflict, its agent resolves it keeping both entries, and the
/// merge goes through; blame names each task for its own entry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_conflict_scenario_resolves_a_real_conflict_and_merges_it() {
    let (_dir, store, state) = sim_run("Build a command-line todo app #conflict", |_| {}).await;
    let records: Vec<_> = store
        .events(state.id().unwrap(), 1)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let conflicted: Vec<String> = records
        .iter()
        .filter_map(|r| match &r.event {
            Event::TaskStatusChanged {
                task,
                status: TaskStatus::Conflict,
                reason,
            } if reason.contains("CHANGELOG.md") => Some(task.to_string()),
            _ => None,
        })
        .collect();
    assert_eq!(conflicted.len(), 1, "one real conflict: {conflicted:?}");
    let ws = std::path::PathBuf::from(&state.info.as_ref().unwrap().workspace);
    let log = std::fs::read_to_string(ws.join("CHANGELOG.md")).unwrap();
    assert!(
        !log.contains("<<<<<<<") && !log.contains(">>>>>>>"),
        "{log}"
    );
    let store_line = log.lines().position(|l| l.contains("store")).unwrap() + 1;
    let docs_line = log.lines().position(|l| l.contains("README")).unwrap() + 1;
    let task_of = |line: usize| {
        macrohard::tools::git::blame(&ws, "CHANGELOG.md", line)
            .unwrap()
            .trailers
            .get("Task")
            .cloned()
            .unwrap_or_default()
    };
    let title_of = |id: &str| {
        state
            .tasks
            .iter()
            .find(|t| t.id.as_str() == id)
            .map(|t| t.title.clone())
            .unwrap_or_default()
    };
    assert!(title_of(&task_of(store_line)[0]).contains("store"), "{log}");
    assert!(title_of(&task_of(docs_line)[0]).contains("README"), "{log}");
    assert!(state.tasks.iter().all(|t| t.status == TaskStatus::Done));
}
