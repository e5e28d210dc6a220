#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Hand-offs carry artifacts: an engineer whose task builds on a finished architect task is
//! given the architect's files with their diffstat, its commit, the tail of its evidence, its
//! design document inline, a tree of the workspace and the environment its commands meet; the
//! project's AGENTS.md reaches every role; an AGENTS.md that is a FIFO or huge neither hangs
//! nor breaks a run; and the supervisor's update after a task is done holds its files and the
//! tail of its evidence.

mod common;

use common::scripted::{all_done, run, step};
use macrohard::domain::{Event, RunStatus};
use macrohard::llm::sim::Turn;
use macrohard::llm::{LlmRequest, MessageRole};
use serde_json::json;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A request as the scripted model saw it.
#[derive(Debug, Clone)]
struct Seen {
    role: String,
    step: usize,
    first: String,
    last_user: String,
}

/// What each run's model saw, by goal (tests run side by side in one process).
static SEEN: Mutex<Vec<(String, Seen)>> = Mutex::new(Vec::new());
fn record(req: &LlmRequest) {
    let user = |m: &&macrohard::llm::Message| m.role == MessageRole::User;
    let seen = Seen {
        role: req.context.role.clone(),
        step: step(req),
        first: req
            .messages
            .iter()
            .find(user)
            .map(|m| m.content.clone())
            .unwrap_or_default(),
        last_user: req
            .messages
            .iter()
            .rev()
            .find(user)
            .map(|m| m.content.clone())
            .unwrap_or_default(),
    };
    SEEN.lock().unwrap().push((req.context.goal.clone(), seen));
}

fn seen(goal: &str) -> Vec<Seen> {
    SEEN.lock()
        .unwrap()
        .iter()
        .filter(|(g, _)| g == goal)
        .map(|(_, s)| s.clone())
        .collect()
}

const DESIGN: &str = "# Notes design\n\nOne module, notes.py, with add() and list().\nStorage: notes.json.\nTest: python3 -m unittest -q\n";

fn evidence() -> String {
    (1..=30).map(|i| format!("check line {i}\n")).collect()
}

/// Architect: a design and a module (written twice: +5 -1 in all), then done with 30 lines of
/// evidence. Engineer: done at once. Supervisor: T1 and T2 (after T1) at once.
fn model(req: &LlmRequest) -> Turn {
    record(req);
    match req.context.role.as_str() {
        "supervisor" => {
            // Both tasks at once: the engineer's task becomes ready the moment T1 is done, and
            // the engine holds it until T1's commit is recorded, so its brief names it.
            if step(req) == 0 {
                return Turn::think("plan")
                    .call(
                        "create_task",
                        json!({"title": "Design the notes tool", "description": "Write DESIGN.md", "role": "architect"}),
                    )
                    .call(
                        "create_task",
                        json!({"title": "Build the notes tool", "description": "Implement DESIGN.md", "role": "engineer", "depends_on": ["T1"]}),
                    );
            }
            if all_done(req) {
                return Turn::think("done").call("finish_run", json!({"summary": "ok"}));
            }
            Turn::think("waiting")
        }
        "architect" => match step(req) {
            0 => Turn::think("design").call(
                "write_file",
                json!({"path": "DESIGN.md", "content": DESIGN}),
            ),
            1 => Turn::think("module").call(
                "write_file",
                json!({"path": "notes.py", "content": "a\nb\nc\n"}),
            ),
            2 => Turn::think("module again").call(
                "write_file",
                json!({"path": "notes.py", "content": "a\nB\nc\nd\n"}),
            ),
            _ => Turn::think("done").call(
                "complete_task",
                json!({"summary": "Designed the notes tool", "evidence": evidence()}),
            ),
        },
        _ => Turn::think("done").call(
            "complete_task",
            json!({"summary": "built", "evidence": "ok"}),
        ),
    }
}

async fn run_goal(goal: &str, prepare: impl FnOnce(&Path)) -> common::scripted::Finished {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws");
    std::fs::create_dir_all(&ws).unwrap();
    prepare(&ws);
    let done = run(dir.path(), ws, goal, model, |c| {
        c.limits.default_timeout = Duration::from_secs(77);
        c.roster.configure("engineer", None, Some(9)).unwrap();
    })
    .await;
    drop(dir);
    done
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_engineers_brief_carries_the_architects_artifacts_and_the_environment() {
    let goal = "notes tool #handoff";
    let done = run_goal(goal, |ws| {
        std::fs::write(
            ws.join("AGENTS.md"),
            "Use four-space indents. Marker: AGENTS-7f3.\n",
        )
        .unwrap();
    })
    .await;
    done.assert_completed();
    let sha = done
        .records
        .iter()
        .find_map(|r| match &r.event {
            Event::TaskCommitted { task, sha } if task.as_str() == "T1" => Some(sha.clone()),
            _ => None,
        })
        .expect("T1's commit is recorded as an event");
    assert_eq!(done.state.tasks[0].commit.as_deref(), Some(sha.as_str()));
    let seen = seen(goal);
    let brief = &seen
        .iter()
        .find(|s| s.role == "engineer" && s.step == 0)
        .expect("the engineer was asked")
        .first;
    // The architect's files, with their diffstat summed over its writes.
    assert!(brief.contains("DESIGN.md +5 -0"), "{brief}");
    assert!(brief.contains("notes.py +5 -1"), "{brief}");
    // Its commit.
    assert!(brief.contains(&format!("commit {sha}")), "{brief}");
    // The tail of its evidence, not the whole of it.
    assert!(brief.contains("check line 30"), "{brief}");
    assert!(brief.contains("check line 11\n"), "{brief}");
    assert!(!brief.contains("check line 10\n"), "{brief}");
    assert!(brief.contains("10 earlier lines left out"), "{brief}");
    // The design document inline.
    assert!(
        brief.contains("<<<DESIGN.md\n# Notes design\n") && brief.contains("Storage: notes.json."),
        "{brief}"
    );
    // The workspace tree.
    assert!(brief.contains("The workspace now"), "{brief}");
    for name in ["\nAGENTS.md\n", "\nDESIGN.md\n", "\nnotes.py\n"] {
        assert!(brief.contains(name), "{name:?} in the tree: {brief}");
    }
    assert!(!brief.contains(".git/"), "{brief}");
    // The environment, with the real values.
    assert!(brief.contains("Environment:"), "{brief}");
    assert!(brief.contains("stdin closed"), "{brief}");
    assert!(brief.contains("timeout 77 s"), "{brief}");
    assert!(brief.contains("Turns left for this task: 9"), "{brief}");
    assert!(brief.contains("Attempt 1 of 2"), "{brief}");
    if macrohard::tools::sandbox::support().network_isolation() {
        assert!(brief.contains("- Network: off"), "{brief}");
    }
    // The project's instructions reach the supervisor and every worker, labelled as such.
    for role in ["supervisor", "architect", "engineer"] {
        let first = &seen
            .iter()
            .find(|s| s.role == role && s.step == 0)
            .unwrap()
            .first;
        assert!(first.contains("Marker: AGENTS-7f3."), "{role}: {first}");
        assert!(
            first.contains("Project instructions, from AGENTS.md")
                && first.contains("<<<AGENTS.md"),
            "{role}: {first}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_supervisors_update_holds_the_finished_tasks_files_and_evidence() {
    let goal = "notes tool #update";
    let done = run_goal(goal, |_| {}).await;
    assert_eq!(done.state.status, RunStatus::Completed);
    let update = seen(goal)
        .into_iter()
        .find(|s| s.role == "supervisor" && s.last_user.contains("T1 done"))
        .expect("the supervisor was told T1 is done")
        .last_user;
    assert!(update.contains("DESIGN.md +5 -0"), "{update}");
    assert!(update.contains("notes.py +5 -1"), "{update}");
    assert!(update.contains("check line 30"), "{update}");
    assert!(!update.contains("check line 18\n"), "{update}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agents_md_that_is_a_fifo_or_huge_is_said_and_skipped() {
    let goal = "notes tool #fifo";
    let started = Instant::now();
    let done = run_goal(goal, |ws| {
        let fifo =
            std::ffi::CString::new(ws.join("AGENTS.md").as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a valid, NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
    })
    .await;
    assert_eq!(done.state.status, RunStatus::Completed);
    assert!(started.elapsed() < Duration::from_secs(30));
    let opening = seen(goal)
        .into_iter()
        .find(|s| s.role == "supervisor")
        .unwrap()
        .first;
    assert!(
        opening.contains("AGENTS.md, but it was not read: it is a FIFO"),
        "{opening}"
    );

    let goal = "notes tool #huge";
    let done = run_goal(goal, |ws| {
        std::fs::write(ws.join("AGENTS.md"), "x".repeat(3 << 20)).unwrap();
    })
    .await;
    assert_eq!(done.state.status, RunStatus::Completed);
    let brief = seen(goal)
        .into_iter()
        .find(|s| s.role == "engineer")
        .unwrap()
        .first;
    assert!(
        brief.contains("AGENTS.md, but it was not read: it is 3.0 MiB"),
        "{brief}"
    );
    assert!(brief.len() < 16 << 10, "{} bytes", brief.len());
}
