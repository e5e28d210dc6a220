#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Governance end to end on the simulated company's scenarios: a looping agent, a budget
//! overrun, a denied command, run rules and the live autonomy switch.

mod common;
use common::wait_for;

use macrohard::domain::policy::{Decision, Rule};
use macrohard::domain::{
    Actor, AgentStatus, Autonomy, Budget, BudgetTarget, Budgets, Event, EventRecord, RunState,
    RunStatus, TaskId, TaskStatus,
};
use macrohard::engine::{self, Engine, EngineConfig, NewRun, Roster, RunTarget};
use macrohard::llm::sim::{SimProvider, SimSpeed};
use macrohard::protocol::Command;
use macrohard::store::Store;
use std::sync::Arc;
use std::time::Duration;

fn tester() -> Actor {
    Actor::Human {
        user: "tester".into(),
        host: Some("lab".into()),
        auto: false,
    }
}

fn t(n: usize) -> TaskId {
    TaskId::numbered(n)
}

struct Run {
    _dir: tempfile::TempDir,
    store: Store,
    engine: Engine,
}

/// A run of the simulated company at sim `speed` (0: instant).
async fn start_at(speed: f64, goal: &str, configure: impl FnOnce(&mut EngineConfig)) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store")).unwrap();
    let mut config = EngineConfig::new(Roster::embedded().unwrap(), dir.path().join("ws"));
    configure(&mut config);
    let new = NewRun {
        goal: goal.into(),
        workspace: None,
        seed: 1,
        by: tester(),
    };
    let provider = Arc::new(SimProvider::new(SimSpeed(speed), None));
    let engine = engine::start(store.clone(), provider, config, RunTarget::New(new))
        .await
        .unwrap();
    Run {
        _dir: dir,
        store,
        engine,
    }
}

async fn start(goal: &str, configure: impl FnOnce(&mut EngineConfig)) -> Run {
    start_at(0.0, goal, configure).await
}

impl Run {
    async fn cmd(&self, c: Command) -> Result<(), String> {
        self.engine.handle.command(tester(), c).await
    }

    async fn finish(self) -> (RunState, Vec<EventRecord>) {
        let state = tokio::time::timeout(Duration::from_secs(60), self.engine.join)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        let records = self
            .store
            .events(state.id().unwrap(), 1)
            .unwrap()
            .map(Result::unwrap)
            .collect();
        (state, records)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_looping_reviewer_is_marked_stuck_and_a_message_frees_it() {
    let run = start("Build a command-line todo app #loop", |c| {
        c.auto_approve = Some(tester());
    })
    .await;
    let (_, mut rx) = run.engine.handle.subscribe().await.unwrap();
    let rec = wait_for(&mut rx, "the stuck reviewer", |e| {
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
    assert_eq!(agent.as_str(), "reviewer-1");
    assert!(
        reason.contains("search_files") && reason.contains("on T6"),
        "{reason}"
    );
    // The message alone frees it: no `p` needed.
    run.cmd(Command::Inject {
        target: Some(agent.clone()),
        text: "stop searching, the code is clean: write the verdict".into(),
    })
    .await
    .unwrap();
    let (state, records) = run.finish().await;
    assert_eq!(
        state.status,
        RunStatus::Completed,
        "{}",
        state.status_reason
    );
    assert_eq!(state.task(&t(6)).unwrap().status, TaskStatus::Done);
    let report = macrohard::export::report(&state, &records);
    assert!(
        report.contains("**reviewer-1 stuck**: stuck on T6")
            && report.contains("Ended: `#")
            && report.contains("tester@lab wrote to it: stop searching"),
        "{report}"
    );
    assert_eq!(
        report.matches("**reviewer-1 stuck**").count(),
        1,
        "one episode"
    );
    assert!(
        report.contains("| tester@lab | wrote to reviewer-1: stop searching"),
        "{report}"
    );
    assert!(
        report.contains(
            "| tester@lab | reviewer-1 → thinking: freed by tester@lab, who wrote to it |"
        ),
        "{report}"
    );
    // The supervisor heard about it too.
    assert!(records.iter().any(|r| matches!(&r.event,
        Event::LlmRequestStarted { agent, .. } if agent.as_str() == "supervisor")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_budget_pauses_only_that_task_and_a_person_extends_it() {
    let run = start("Build a command-line todo app #overrun", |c| {
        c.auto_approve = Some(tester());
        c.budgets = Budgets {
            task: Budget {
                usd: Some(0.05),
                ..Budget::default()
            },
            ..Budgets::default()
        };
    })
    .await;
    let (_, mut rx) = run.engine.handle.subscribe().await.unwrap();
    let rec = wait_for(&mut rx, "the overrun", |e| {
        matches!(e, Event::BudgetExceeded { .. })
    })
    .await;
    let Event::BudgetExceeded { target, limit, .. } = rec.event else {
        unreachable!()
    };
    assert_eq!(target, BudgetTarget::Task { task: t(4) });
    assert!((limit - 0.05).abs() < 1e-9);
    // Only T4 stops: the rest of the company finishes its work meanwhile.
    wait_for(
        &mut rx,
        "T7 done while T4 waits",
        |e| matches!(e, Event::TaskCompleted { task, .. } if task == &t(7)),
    )
    .await;
    let (state, _) = run.engine.handle.subscribe().await.unwrap();
    let growth = state.agents.iter().find(|a| a.role == "growth").unwrap();
    assert_eq!(
        growth.status,
        AgentStatus::Paused,
        "{}",
        growth.status_reason
    );
    assert!(
        growth
            .status_reason
            .contains("task T4 reached its USD budget"),
        "{}",
        growth.status_reason
    );
    assert_eq!(state.budget_holds.len(), 1);
    let t4_turns = state.task(&t(4)).unwrap().turns;
    // One key (B): extend by the first amount.
    run.cmd(Command::ExtendBudget { target: None })
        .await
        .unwrap();
    let rec = wait_for(&mut rx, "the extension", |e| {
        matches!(e, Event::BudgetChanged { .. })
    })
    .await;
    let Event::BudgetChanged { target, budget, by } = rec.event else {
        unreachable!()
    };
    assert_eq!(target, BudgetTarget::Task { task: t(4) });
    assert_eq!(budget.usd, Some(0.1));
    assert_eq!(by, tester());
    // It works again, then reaches the new limit.
    wait_for(&mut rx, "the second overrun", |e| {
        matches!(e, Event::BudgetExceeded { target: BudgetTarget::Task { .. }, limit, .. } if (limit - 0.1).abs() < 1e-9)
    })
    .await;
    let (state, _) = run.engine.handle.subscribe().await.unwrap();
    assert!(state.task(&t(4)).unwrap().turns > t4_turns);
    // Any amount with :budget.
    run.cmd(Command::SetBudget {
        target: BudgetTarget::Task { task: t(4) },
        budget: Budget {
            usd: Some(50.0),
            ..Budget::default()
        },
    })
    .await
    .unwrap();
    // The runaway writer then either finishes or is caught by the stuck detector (its drafts
    // bring nothing new); a person cancels it in that case.
    let end = wait_for(&mut rx, "T4 to finish or be caught", |e| {
        matches!(e, Event::TaskCompleted { task, .. } if task == &t(4))
            || matches!(
                e,
                Event::AgentStatusChanged {
                    status: AgentStatus::Stuck,
                    ..
                }
            )
    })
    .await;
    if matches!(end.event, Event::AgentStatusChanged { .. }) {
        run.cmd(Command::CancelTask {
            task: t(4),
            reason: Some("enough drafts".into()),
        })
        .await
        .unwrap();
    }
    let (state, records) = run.finish().await;
    let report = macrohard::export::report(&state, &records);
    for needle in [
        "| tester@lab | set the task T4 budget to $0.1000 |",
        "| tester@lab | set the task T4 budget to $50.00 |",
        "**task T4 reached its USD budget**",
        "Ended: `#",
        "## Costs by task",
        "## Costs by model\n\n| model | requests | tokens in | tokens out | cost |\n|---|---|---|---|---|\n| sim-1 |",
        "## Why the run stopped\n\nThe run is **completed**",
    ] {
        assert!(report.contains(needle), "{needle} not in\n{report}");
    }
    let overruns = records
        .iter()
        .filter(|r| matches!(r.event, Event::BudgetExceeded { .. }))
        .count();
    assert_eq!(overruns, 2);
    // The run went on while T4 waited: it paused only when nothing but T4 was left, and said
    // who waits for what.
    let over = records
        .iter()
        .position(|r| matches!(r.event, Event::BudgetExceeded { .. }))
        .unwrap();
    let t7_done = records
        .iter()
        .position(|r| matches!(&r.event, Event::TaskCompleted { task, .. } if task == &t(7)))
        .unwrap();
    assert!(over < t7_done);
    let paused: Vec<&str> = records
        .iter()
        .filter_map(|r| match &r.event {
            Event::RunStatusChanged {
                status: RunStatus::Paused,
                reason,
            } => Some(reason.as_str()),
            _ => None,
        })
        .collect();
    assert!(
        !records[..t7_done].iter().any(|r| matches!(
            r.event,
            Event::RunStatusChanged {
                status: RunStatus::Paused,
                ..
            }
        )),
        "{paused:?}"
    );
    assert!(
        paused
            .iter()
            .all(|p| p.starts_with("waiting for a person: task T4 reached its USD budget")),
        "{paused:?}"
    );
    assert_eq!(
        state.status,
        RunStatus::Completed,
        "{}",
        state.status_reason
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_denied_command_is_refused_by_policy_and_the_agent_takes_another_way() {
    let run = start("Build a command-line todo app #deny", |c| {
        c.auto_approve = Some(tester());
        c.rules = vec![Rule {
            tool: Some("run_command".into()),
            command: Some("curl *".into()),
            path: None,
            decision: Decision::Deny,
            network: None,
        }];
    })
    .await;
    let (state, records) = run.finish().await;
    assert_eq!(
        state.status,
        RunStatus::Completed,
        "{}",
        state.status_reason
    );
    let denied = records.iter().find_map(|r| match &r.event {
        Event::ToolCallFinished {
            ok: false, output, ..
        } if output.contains("curl") => Some(output.clone()),
        _ => None,
    });
    let denied = denied.expect("the curl command was refused");
    assert!(
        denied.starts_with("denied by policy rule 1: deny run_command `curl *`"),
        "{denied}"
    );
    assert!(
        !records
            .iter()
            .any(|r| matches!(&r.event, Event::ApprovalRequested { summary, .. } if summary.contains("curl"))),
        "a denied command is never put to a person"
    );
    assert_eq!(state.task(&t(7)).unwrap().status, TaskStatus::Done);
    let report = macrohard::export::report(&state, &records);
    assert!(report.contains("- Calls denied by policy: 1"), "{report}");
    assert!(report.contains("1. deny run_command `curl *`"), "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_rules_are_added_and_revoked_and_the_autonomy_switches_live() {
    let run = start("Build a command-line todo app", |_| {}).await;
    let (_, mut rx) = run.engine.handle.subscribe().await.unwrap();
    let rec = wait_for(&mut rx, "the first approval", |e| {
        matches!(e, Event::ApprovalRequested { .. })
    })
    .await;
    let Event::ApprovalRequested {
        approval, label, ..
    } = rec.event
    else {
        unreachable!()
    };
    let label = label.expect("every approval carries a risk label");
    assert!(!label.reversible);
    assert!(!label.network, "commands have no network by default");
    run.cmd(Command::Approve {
        approval,
        always: true,
    })
    .await
    .unwrap();
    wait_for(&mut rx, "the run rule", |e| {
        matches!(e, Event::RunRuleAdded { .. })
    })
    .await;
    run.cmd(Command::RevokeRule { index: 1 }).await.unwrap();
    assert!(
        run.cmd(Command::RevokeRule { index: 1 })
            .await
            .unwrap_err()
            .contains("no run rule 1")
    );
    run.cmd(Command::SetAutonomy {
        level: Autonomy::Full,
    })
    .await
    .unwrap();
    // Anything asked before the switch is answered; nothing asks after it.
    let (state, _) = run.engine.handle.subscribe().await.unwrap();
    for a in state.pending_approvals() {
        run.cmd(Command::Approve {
            approval: a.id.clone(),
            always: false,
        })
        .await
        .unwrap();
    }
    let (state, records) = run.finish().await;
    assert_eq!(
        state.status,
        RunStatus::Completed,
        "{}",
        state.status_reason
    );
    assert!(state.run_rules.is_empty());
    assert_eq!(state.info.as_ref().unwrap().autonomy, Autonomy::Full);
    let switched = records
        .iter()
        .position(|r| matches!(&r.event, Event::AutonomyChanged { level: Autonomy::Full, by } if *by == tester()))
        .expect("the switch is recorded and attributed");
    assert!(records.iter().any(
        |r| matches!(&r.event, Event::RunRuleRevoked { index: 1, by, .. } if *by == tester())
    ));
    let after = &records[switched..];
    assert!(after.iter().any(|r| matches!(&r.event,
        Event::ToolCallRequested { tool, policy: Some(p), .. } if tool == "run_command" && p == "allow: autonomy full")));
    let asked_after = after
        .iter()
        .filter(|r| matches!(r.event, Event::ApprovalRequested { .. }))
        .count();
    assert_eq!(asked_after, 0);
    let report = macrohard::export::report(&state, &records);
    for needle in [
        "| tester@lab | approved always for this kind A1",
        "| tester@lab | added the run rule: allow run_command `python3 -m unittest*`",
        "| tester@lab | revoked run rule 1: allow run_command `python3 -m unittest*`",
        "| tester@lab | switched the autonomy to full |",
        "- Autonomy: ask-risky, switched to full during the run",
    ] {
        assert!(report.contains(needle), "{needle} not in\n{report}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_cancelled_by_a_pause_or_a_budget_is_recorded_with_its_cause() {
    // Slow enough that a step is still streaming when it is stopped.
    let run = start_at(4.0, "Build a command-line todo app", |c| {
        c.auto_approve = Some(tester());
        c.budgets.roles.insert(
            "engineer".into(),
            Budget {
                turns: Some(1),
                ..Budget::default()
            },
        );
    })
    .await;
    let engine = &run.engine;
    let (_, mut rx) = engine.handle.subscribe().await.unwrap();
    // The engineer's second request starts over its one-turn budget and is stopped.
    let rec = wait_for(&mut rx, "the engineer's cancelled step", |e| {
        matches!(e, Event::LlmRequestFinished { agent, stop_reason, .. }
            if agent.as_str() == "engineer-1" && stop_reason.starts_with("cancelled"))
    })
    .await;
    let Event::LlmRequestFinished { stop_reason, .. } = rec.event else {
        unreachable!()
    };
    assert_eq!(stop_reason, "cancelled: role engineer reached its budget");
    // A person's "pause now" names the person.
    wait_for(&mut rx, "another step", |e| {
        matches!(e, Event::LlmRequestStarted { .. })
    })
    .await;
    engine
        .handle
        .command(tester(), Command::PauseRun { now: true })
        .await
        .unwrap();
    let rec = wait_for(&mut rx, "the paused step", |e| {
        matches!(e, Event::LlmRequestFinished { stop_reason, .. } if stop_reason.starts_with("cancelled"))
    })
    .await;
    let Event::LlmRequestFinished { stop_reason, .. } = rec.event else {
        unreachable!()
    };
    assert_eq!(stop_reason, "cancelled: paused now by tester@lab");
    engine.handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raising_the_runs_budget_lets_the_paused_run_go_on() {
    let run = start("Build a command-line todo app", |c| {
        c.auto_approve = Some(tester());
        c.budget = Budget {
            usd: Some(0.01),
            ..Budget::default()
        };
    })
    .await;
    let (_, mut rx) = run.engine.handle.subscribe().await.unwrap();
    wait_for(&mut rx, "the run's budget", |e| {
        matches!(e, Event::RunStatusChanged { status: RunStatus::Paused, reason } if reason.starts_with("budget reached"))
    })
    .await;
    run.cmd(Command::SetBudget {
        target: BudgetTarget::Run,
        budget: Budget {
            usd: Some(100.0),
            ..Budget::default()
        },
    })
    .await
    .unwrap();
    let (state, records) = run.finish().await;
    assert_eq!(
        state.status,
        RunStatus::Completed,
        "{}",
        state.status_reason
    );
    assert!(records.iter().any(|r| matches!(&r.event,
        Event::RunStatusChanged { status: RunStatus::Running, reason } if reason == "resumed by tester@lab: the budget was raised")));
}

/// Waits for the reviewer of the `#loop` scenario to be marked stuck.
async fn stuck_reviewer(rx: &mut tokio::sync::broadcast::Receiver<EventRecord>) -> EventRecord {
    wait_for(rx, "the stuck reviewer", |e| {
        matches!(e, Event::AgentStatusChanged { agent, status: AgentStatus::Stuck, .. }
            if agent.as_str() == "reviewer-1")
    })
    .await
}

fn freed_by_tester(records: &[EventRecord], how: &str) -> bool {
    records.iter().any(|r| {
        matches!(&r.event, Event::AgentStatusChanged { agent, status, reason }
            if agent.as_str() == "reviewer-1" && *status != AgentStatus::Stuck
                && reason == &format!("freed by tester@lab, who {how}"))
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p_on_a_stuck_agent_frees_it_with_a_fresh_window() {
    let run = start("Build a command-line todo app #loop", |c| {
        c.auto_approve = Some(tester());
    })
    .await;
    let (_, mut rx) = run.engine.handle.subscribe().await.unwrap();
    let first = stuck_reviewer(&mut rx).await;
    let reviewer = macrohard::domain::AgentId::from("reviewer-1");
    // `p` (whether the view sends pause or resume) frees it, never "already paused".
    run.cmd(Command::PauseAgent {
        agent: reviewer.clone(),
    })
    .await
    .unwrap();
    // The sim's reviewer loops until a person writes to it: it is caught again, but only
    // after a whole new window of calls.
    let again = stuck_reviewer(&mut rx).await;
    run.cmd(Command::Inject {
        target: Some(reviewer.clone()),
        text: "write the verdict now".into(),
    })
    .await
    .unwrap();
    let (state, records) = run.finish().await;
    assert_eq!(
        state.status,
        RunStatus::Completed,
        "{}",
        state.status_reason
    );
    assert!(freed_by_tester(&records, "resumed it"), "p is recorded");
    assert!(freed_by_tester(&records, "wrote to it"), "the message too");
    let calls = records
        .iter()
        .filter(|r| r.seq > first.seq && r.seq < again.seq)
        .filter(
            |r| matches!(&r.event, Event::ToolCallRequested { agent, .. } if agent == &reviewer),
        )
        .count();
    let window = macrohard::engine::stuck::StuckLimits::default().window;
    assert!(calls >= window, "{calls} calls between two episodes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_and_retry_of_a_stuck_agents_task_frees_it() {
    let run = start("Build a command-line todo app #loop", |c| {
        c.auto_approve = Some(tester());
    })
    .await;
    let (_, mut rx) = run.engine.handle.subscribe().await.unwrap();
    stuck_reviewer(&mut rx).await;
    run.cmd(Command::CancelTask {
        task: t(6),
        reason: None,
    })
    .await
    .unwrap();
    run.cmd(Command::RetryTask { task: t(6) }).await.unwrap();
    let (state, records) = run.finish().await;
    assert_eq!(
        state.status,
        RunStatus::Completed,
        "{}",
        state.status_reason
    );
    assert_eq!(state.task(&t(6)).unwrap().status, TaskStatus::Done);
    assert!(freed_by_tester(&records, "cancelled its task"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resuming_a_run_held_by_a_stuck_agent_frees_it() {
    let run = start("Build a command-line todo app #loop", |c| {
        c.auto_approve = Some(tester());
    })
    .await;
    let (_, mut rx) = run.engine.handle.subscribe().await.unwrap();
    stuck_reviewer(&mut rx).await;
    wait_for(&mut rx, "the held pause", |e| {
        matches!(e, Event::RunStatusChanged { status: RunStatus::Paused, reason }
            if reason.starts_with("waiting for a person"))
    })
    .await;
    run.cmd(Command::ResumeRun).await.unwrap();
    // Not paused again at once: the reviewer works a new window before it is caught again.
    let next = wait_for(&mut rx, "the reviewer's next call or a pause", |e| {
        matches!(e, Event::ToolCallRequested { agent, .. } if agent.as_str() == "reviewer-1")
            || matches!(
                e,
                Event::RunStatusChanged {
                    status: RunStatus::Paused,
                    ..
                }
            )
    })
    .await;
    assert!(
        matches!(next.event, Event::ToolCallRequested { .. }),
        "{:?}",
        next.event
    );
    run.cmd(Command::Inject {
        target: Some("reviewer-1".into()),
        text: "write the verdict now".into(),
    })
    .await
    .unwrap();
    let (state, records) = run.finish().await;
    assert_eq!(
        state.status,
        RunStatus::Completed,
        "{}",
        state.status_reason
    );
    assert!(freed_by_tester(&records, "resumed the run"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_after_a_stop_frees_the_stuck_agent_and_the_run_completes() {
    let run = start("Build a command-line todo app #loop", |c| {
        c.auto_approve = Some(tester());
    })
    .await;
    let (_, mut rx) = run.engine.handle.subscribe().await.unwrap();
    stuck_reviewer(&mut rx).await;
    wait_for(&mut rx, "the held pause", |e| {
        matches!(
            e,
            Event::RunStatusChanged {
                status: RunStatus::Paused,
                ..
            }
        )
    })
    .await;
    // What a headless run does on exit 3: stop the engine, the run stays resumable.
    run.engine.handle.shutdown().await;
    let id = run.engine.handle.run().clone();
    let Run {
        _dir,
        store,
        engine,
    } = run;
    let _ = engine.join.await;
    let mut config = EngineConfig::new(Roster::embedded().unwrap(), _dir.path().join("ws"));
    config.auto_approve = Some(tester());
    let provider = Arc::new(SimProvider::new(SimSpeed(0.0), None));
    let target = RunTarget::Resume {
        run: id,
        by: tester(),
        budget: None,
    };
    let engine = engine::start(store.clone(), provider, config, target)
        .await
        .unwrap();
    let (_, mut rx) = engine.handle.subscribe().await.unwrap();
    let end = wait_for(&mut rx, "the end or another pause", |e| {
        matches!(
            e,
            Event::RunStatusChanged {
                status: RunStatus::Completed | RunStatus::Paused,
                ..
            }
        )
    })
    .await;
    assert!(
        matches!(
            &end.event,
            Event::RunStatusChanged {
                status: RunStatus::Completed,
                ..
            }
        ),
        "{:?}",
        end.event
    );
    let (state, records) = Run {
        _dir,
        store,
        engine,
    }
    .finish()
    .await;
    assert_eq!(state.task(&t(6)).unwrap().status, TaskStatus::Done);
    assert!(freed_by_tester(&records, "resumed the run"));
}
