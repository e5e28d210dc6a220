#![allow(clippy::unwrap_used, clippy::expect_used)]
//! People steering a run through the engine's commands, and the workspace confinement of the
//! file tools under a model that tries to escape.

mod common;
use common::scripted::Scripted;
use common::wait_for;

use macrohard::domain::{
    Actor, AgentId, AgentStatus, ApprovalDecision, Event, EventRecord, LogLevel, RunStatus, TaskId,
    TaskStatus,
};
use macrohard::engine::{self, EngineConfig, NewRun, Roster, RunTarget};
use macrohard::llm::sim::{SimProvider, SimSpeed, Turn};
use macrohard::llm::{LlmRequest, Provider, ProviderInfo, StreamItem};
use macrohard::protocol::Command;
use macrohard::store::Store;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

fn tester() -> Actor {
    Actor::Human {
        user: "tester".into(),
        host: Some("lab".into()),
        auto: false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn people_cancel_deny_inject_pause_approve_always_and_retry() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store")).unwrap();
    let config = EngineConfig::new(Roster::embedded().unwrap(), dir.path().join("ws"));
    let provider = Arc::new(SimProvider::new(SimSpeed(0.0), None));
    let new = NewRun {
        goal: "Build a command-line todo app".into(),
        workspace: None,
        seed: 1,
        by: tester(),
    };
    let engine = engine::start(store.clone(), provider, config, RunTarget::New(new))
        .await
        .unwrap();
    let h = engine.handle.clone();
    let (_, mut rx) = h.subscribe().await.unwrap();
    let t = |n: usize| TaskId::numbered(n);
    let cmd = |c: Command| {
        let h = h.clone();
        async move { h.command(tester(), c).await }
    };

    wait_for(
        &mut rx,
        "the plan",
        |e| matches!(e, Event::TaskCreated { task, .. } if task == &t(7)),
    )
    .await;
    cmd(Command::CancelTask {
        task: t(6),
        reason: Some("not needed".into()),
    })
    .await
    .unwrap();
    assert!(
        cmd(Command::CancelTask {
            task: t(6),
            reason: None
        })
        .await
        .unwrap_err()
        .contains("already")
    );

    let a1 = wait_for(&mut rx, "the first approval", |e| {
        matches!(e, Event::ApprovalRequested { .. })
    })
    .await;
    let Event::ApprovalRequested {
        approval, agent, ..
    } = a1.event
    else {
        unreachable!()
    };
    assert_eq!(agent, AgentId::from("engineer-1"));
    cmd(Command::Inject {
        target: Some(agent.clone()),
        text: "keep it small".into(),
    })
    .await
    .unwrap();
    cmd(Command::Deny {
        approval: approval.clone(),
        reason: "not yet".into(),
    })
    .await
    .unwrap();
    assert!(
        cmd(Command::Approve {
            approval,
            always: false
        })
        .await
        .unwrap_err()
        .contains("already answered")
    );
    wait_for(
        &mut rx,
        "the message to be read",
        |e| matches!(e, Event::AgentDelta { text, .. } if text.contains("keep it small")),
    )
    .await;

    let a2 = wait_for(&mut rx, "the retry's approval", |e| {
        matches!(e, Event::ApprovalRequested { .. })
    })
    .await;
    let Event::ApprovalRequested {
        approval: second, ..
    } = a2.event
    else {
        unreachable!()
    };
    cmd(Command::PauseRun { now: false }).await.unwrap();
    cmd(Command::Approve {
        approval: second,
        always: true,
    })
    .await
    .unwrap();
    wait_for(&mut rx, "the engineer to stop at the boundary", |e| {
        matches!(
            e,
            Event::AgentStatusChanged {
                status: macrohard::domain::AgentStatus::Paused,
                ..
            }
        )
    })
    .await;
    let quiet = tokio::time::timeout(
        Duration::from_millis(400),
        wait_for(&mut rx, "no new step", |e| {
            matches!(e, Event::LlmRequestStarted { .. })
        }),
    )
    .await;
    assert!(
        quiet.is_err(),
        "no agent starts a step while the run is paused"
    );
    // "Always" covered `python3 -m unittest*`; the CLI's and the release's chained commands
    // are not that kind and still ask: answer it from here on.
    let (_, mut later) = h.subscribe().await.unwrap();
    let h2 = h.clone();
    tokio::spawn(async move {
        while let Ok(rec) = later.recv().await {
            if let Event::ApprovalRequested { approval, .. } = rec.event {
                let approve = Command::Approve {
                    approval,
                    always: false,
                };
                let _ = h2.command(tester(), approve).await;
            }
        }
    });
    cmd(Command::ResumeRun).await.unwrap();

    let stalled = wait_for(&mut rx, "the run to wait for a person", |e| {
        matches!(
            e,
            Event::RunStatusChanged {
                status: RunStatus::Paused,
                ..
            }
        )
    })
    .await;
    let Event::RunStatusChanged { reason, .. } = stalled.event else {
        unreachable!()
    };
    assert!(
        reason.contains("T6 is cancelled") || reason.contains("T7 is blocked"),
        "{reason}"
    );
    cmd(Command::RetryTask { task: t(6) }).await.unwrap();
    cmd(Command::ResumeRun).await.unwrap();

    let state = tokio::time::timeout(Duration::from_secs(60), engine.join)
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
    assert!(state.tasks.iter().all(|t| t.status == TaskStatus::Done));

    let records: Vec<EventRecord> = store
        .events(state.id().unwrap(), 1)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let decisions: Vec<(ApprovalDecision, Actor)> = records
        .iter()
        .filter_map(|r| match &r.event {
            Event::ApprovalResolved { decision, by, .. } => Some((decision.clone(), by.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        decisions[0],
        (
            ApprovalDecision::Deny {
                reason: "not yet".into()
            },
            tester()
        )
    );
    assert_eq!(decisions[1], (ApprovalDecision::ApproveAlways, tester()));
    assert_eq!(state.run_rules.len(), 1);
    assert_eq!(state.run_rules[0].by, tester());
    assert_eq!(
        state.run_rules[0].rule.command.as_deref(),
        Some("python3 -m unittest*")
    );
    let asked_after: Vec<&str> = state.approvals[2..]
        .iter()
        .map(|a| a.summary.as_str())
        .collect();
    assert!(
        asked_after.iter().all(|s| s.contains("&&")),
        "after 'always', only commands of another kind ask: {asked_after:?}"
    );
    assert!(records.iter().any(|r| matches!(&r.event, Event::ToolCallRequested { policy: Some(p), .. } if p.starts_with("allow: run rule 1: allow run_command `python3 -m unittest*`"))));
    assert!(records.iter().any(|r| matches!(&r.event, Event::ToolCallFinished { ok: false, output, .. } if output.contains("denied by tester@lab: not yet"))));
    assert!(
        records
            .iter()
            .any(|r| matches!(&r.event, Event::HumanMessage { by, .. } if *by == tester()))
    );
    assert!(records.iter().any(|r| matches!(&r.event, Event::TaskStatusChanged { reason, .. } if reason == "cancelled by tester@lab: not needed")));
    assert!(records.iter().any(|r| matches!(&r.event, Event::TaskStatusChanged { reason, .. } if reason == "retry requested by tester@lab")));
}

fn escaping_company(req: &LlmRequest) -> Turn {
    let step = req
        .messages
        .iter()
        .filter(|m| m.role == macrohard::llm::MessageRole::Assistant)
        .count();
    let all_done = !req.context.plan.is_empty()
        && req
            .context
            .plan
            .iter()
            .all(|t| t.status == TaskStatus::Done);
    match (req.context.role.as_str(), step) {
        ("supervisor", 0) => Turn::think("plan").call(
            "create_task",
            json!({"title": "Poke around", "description": "d", "role": "engineer"}),
        ),
        ("supervisor", _) if all_done => {
            Turn::think("done").call("finish_run", json!({"summary": "ok"}))
        }
        ("supervisor", _) => Turn::think("waiting"),
        (_, 0) => Turn::think("escape")
            .call("read_file", json!({"path": "../../etc/passwd"}))
            .call(
                "write_file",
                json!({"path": "/tmp/macrohard-escape-test.txt", "content": "x"}),
            )
            .call(
                "write_file",
                json!({"path": "out/pwned.txt", "content": "x"}),
            )
            .call(
                "edit_file",
                json!({"path": "out/secret.txt", "old": "s", "new": "pwned"}),
            )
            .call("write_file", json!({"path": "fine.txt"}))
            .call("list_files", json!({"path": "out"})),
        _ => Turn::think("report").call(
            "complete_task",
            json!({"summary": "tried", "evidence": "refusals"}),
        ),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_tools_refuse_paths_outside_the_workspace_and_record_the_refusal() {
    let dir = tempfile::tempdir().unwrap();
    let outside = dir.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("secret.txt"), "s").unwrap();
    let ws = dir.path().join("ws");
    std::fs::create_dir_all(&ws).unwrap();
    std::os::unix::fs::symlink(&outside, ws.join("out")).unwrap();

    let store = Store::open(&dir.path().join("store")).unwrap();
    let mut config = EngineConfig::new(Roster::embedded().unwrap(), dir.path().join("wss"));
    config.auto_approve = Some(tester());
    let new = NewRun {
        goal: "escape".into(),
        workspace: Some(ws.clone()),
        seed: 1,
        by: tester(),
    };
    let engine = engine::start(
        store.clone(),
        Arc::new(Scripted(escaping_company)),
        config,
        RunTarget::New(new),
    )
    .await
    .unwrap();
    let state = tokio::time::timeout(Duration::from_secs(30), engine.join)
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

    assert_eq!(
        std::fs::read_to_string(outside.join("secret.txt")).unwrap(),
        "s"
    );
    assert!(!outside.join("pwned.txt").exists());
    assert!(!std::path::Path::new("/tmp/macrohard-escape-test.txt").exists());

    let records: Vec<EventRecord> = store
        .events(state.id().unwrap(), 1)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let finished: Vec<(bool, String)> = records
        .iter()
        .filter_map(|r| match &r.event {
            Event::ToolCallFinished {
                agent, ok, output, ..
            } if agent.as_str() == "engineer-1" => Some((*ok, output.clone())),
            _ => None,
        })
        .collect();
    assert!(finished[..5].iter().all(|(ok, _)| !ok), "{finished:?}");
    assert!(finished[0].1.contains("`..` is not allowed"));
    assert!(finished[1].1.contains("absolute paths are not allowed"));
    assert!(
        finished[2]
            .1
            .contains("outside the workspace through a symlink")
    );
    assert!(
        finished[4].1.contains("bad arguments for write_file") && finished[4].1.contains("content"),
        "malformed arguments go back to the model: {}",
        finished[4].1
    );
    let refusals = records.iter().filter(|r| matches!(&r.event, Event::Log { level: LogLevel::Warn, text, .. } if text.starts_with("refused"))).count();
    assert_eq!(refusals, 5, "every confinement refusal is logged");
}

/// The simulated company behind a provider account that runs out of credit for a while.
struct OutOfCredit {
    inner: SimProvider,
    broke: Arc<std::sync::atomic::AtomicBool>,
    refused: Arc<std::sync::atomic::AtomicUsize>,
}

impl Provider for OutOfCredit {
    fn info(&self) -> ProviderInfo {
        self.inner.info()
    }

    fn stream(&self, request: LlmRequest) -> mpsc::Receiver<StreamItem> {
        use std::sync::atomic::Ordering;
        if self.broke.load(Ordering::SeqCst) && request.context.role == "engineer" {
            self.refused.fetch_add(1, Ordering::SeqCst);
            let (tx, rx) = mpsc::channel(1);
            let _ = tx.try_send(Err(macrohard::llm::LlmError::Quota(
                "You exceeded your current quota, please check your plan and billing details."
                    .into(),
            )));
            return rx;
        }
        self.inner.stream(request)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quota_refusal_pauses_the_run_with_the_reason_and_resume_goes_on() {
    use std::sync::atomic::Ordering;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store")).unwrap();
    let mut config = EngineConfig::new(Roster::embedded().unwrap(), dir.path().join("ws"));
    config.auto_approve = Some(tester());
    let broke = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let refused = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let provider = Arc::new(OutOfCredit {
        inner: SimProvider::new(SimSpeed(0.0), None),
        broke: broke.clone(),
        refused: refused.clone(),
    });
    let new = NewRun {
        goal: "Build a command-line todo app".into(),
        workspace: None,
        seed: 1,
        by: tester(),
    };
    let engine = engine::start(store.clone(), provider, config, RunTarget::New(new))
        .await
        .unwrap();
    let h = engine.handle.clone();
    let (_, mut rx) = h.subscribe().await.unwrap();
    let paused = wait_for(&mut rx, "the pause", |e| {
        matches!(
            e,
            Event::RunStatusChanged {
                status: RunStatus::Paused,
                ..
            }
        )
    })
    .await;
    let Event::RunStatusChanged { reason, .. } = &paused.event else {
        unreachable!()
    };
    assert!(
        reason.contains("quota") && reason.contains("then resume"),
        "{reason}"
    );
    // Nothing is retried while the run is paused, and no task failed for it.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(refused.load(Ordering::SeqCst), 1, "never retried");
    let (state, _) = h.subscribe().await.unwrap();
    assert!(state.tasks.iter().all(|t| t.failures.is_empty()));
    broke.store(false, Ordering::SeqCst);
    h.command(tester(), Command::ResumeRun).await.unwrap();
    let state = tokio::time::timeout(Duration::from_secs(60), engine.join)
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
}

fn looping_company(req: &LlmRequest) -> Turn {
    let step = req
        .messages
        .iter()
        .filter(|m| m.role == macrohard::llm::MessageRole::Assistant)
        .count();
    let settled =
        !req.context.plan.is_empty() && req.context.plan.iter().all(|t| t.status.is_terminal());
    match req.context.role.as_str() {
        "supervisor" if step == 0 => Turn::think("plan").call(
            "create_task",
            json!({"title": "Find the config", "description": "d", "role": "engineer"}),
        ),
        "supervisor" if settled => Turn::think("done").call("finish_run", json!({"summary": "ok"})),
        "supervisor" => Turn::think("waiting"),
        // The engineer looks for the same file forever.
        _ => Turn::think("maybe it is there now").call("read_file", json!({"path": "config.toml"})),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_looping_agent_is_marked_stuck_paused_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store")).unwrap();
    let config = EngineConfig::new(Roster::embedded().unwrap(), dir.path().join("ws"));
    let new = NewRun {
        goal: "find the config".into(),
        workspace: None,
        seed: 1,
        by: tester(),
    };
    let engine = engine::start(
        store.clone(),
        Arc::new(Scripted(looping_company)),
        config,
        RunTarget::New(new),
    )
    .await
    .unwrap();
    let h = engine.handle.clone();
    let (_, mut rx) = h.subscribe().await.unwrap();
    let rec = wait_for(&mut rx, "the stuck agent", |e| {
        matches!(
            e,
            Event::AgentStatusChanged {
                status: AgentStatus::Stuck,
                ..
            }
        )
    })
    .await;
    let Event::AgentStatusChanged { agent, reason, .. } = rec.event else {
        unreachable!()
    };
    assert_eq!(agent.as_str(), "engineer-1");
    assert!(
        reason.contains("on T1")
            && (reason.contains("the same error 3 times")
                || reason.contains("the same call with the same result"))
            && reason.contains("read_file"),
        "{reason}"
    );
    // It stays paused: no more requests from it while the rest of the run goes on.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (state, _) = h.subscribe().await.unwrap();
    let eng = state.agent(&agent).unwrap();
    assert_eq!(eng.status, AgentStatus::Stuck, "{}", eng.status_reason);
    let requests = eng.requests;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (state, _) = h.subscribe().await.unwrap();
    assert_eq!(state.agent(&agent).unwrap().requests, requests);
    // The person steps in: cancel the task; the run finishes.
    h.command(
        tester(),
        Command::CancelTask {
            task: TaskId::numbered(1),
            reason: Some("it cannot be found".into()),
        },
    )
    .await
    .unwrap();
    let state = tokio::time::timeout(Duration::from_secs(30), engine.join)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(state.status.is_terminal(), "{}", state.status_reason);
    let records: Vec<EventRecord> = store
        .events(state.id().unwrap(), 1)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(records.iter().any(|r| matches!(&r.event, Event::Log { level: LogLevel::Warn, text, .. } if text.starts_with("stuck on T1"))));
}
