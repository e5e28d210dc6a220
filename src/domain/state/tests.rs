use super::*;
use crate::domain::event::SCHEMA_VERSION;
use crate::domain::{Actor, ApprovalDecision, CallId};
use proptest::prelude::*;

fn rec(seq: u64, event: Event) -> EventRecord {
    EventRecord {
        v: SCHEMA_VERSION,
        run: RunId::from("run"),
        seq,
        ts_ms: seq * 10,
        event,
    }
}

/// A random step of a run, in terms of task numbers that may or may not exist.
#[derive(Debug, Clone)]
enum Op {
    Create(Vec<usize>),
    Assign(usize),
    Complete(usize),
    Fail(usize),
    Retry(usize),
    Cancel(usize),
    Recover(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => proptest::collection::vec(1usize..10, 0..3).prop_map(Op::Create),
        3 => (1usize..10).prop_map(Op::Assign),
        3 => (1usize..10).prop_map(Op::Complete),
        1 => (1usize..10).prop_map(Op::Fail),
        1 => (1usize..10).prop_map(Op::Retry),
        1 => (1usize..10).prop_map(Op::Cancel),
        1 => (1usize..10).prop_map(Op::Recover),
    ]
}

fn events(ops: &[Op]) -> Vec<EventRecord> {
    let mut out = vec![rec(
        1,
        Event::AgentSpawned {
            agent: AgentId::from("engineer-1"),
            role: "engineer".into(),
            model: "m".into(),
            provider: "sim".into(),
        },
    )];
    let mut created = 0;
    for op in ops {
        let t = |n: &usize| TaskId::numbered(*n);
        let e = match op {
            Op::Create(deps) => {
                created += 1;
                Event::TaskCreated {
                    task: TaskId::numbered(created),
                    title: format!("task {created}"),
                    description: String::new(),
                    role: "engineer".into(),
                    depends_on: deps.iter().map(t).collect(),
                    by: AgentId::from("supervisor"),
                    acceptance: None,
                    check: None,
                }
            }
            Op::Assign(n) => Event::TaskAssigned {
                task: t(n),
                agent: AgentId::from("engineer-1"),
                attempt: 1,
            },
            Op::Complete(n) => Event::TaskCompleted {
                task: t(n),
                summary: "s".into(),
                evidence: "e".into(),
            },
            Op::Fail(n) => Event::TaskStatusChanged {
                task: t(n),
                status: TaskStatus::Failed,
                reason: "boom".into(),
            },
            Op::Retry(n) => Event::TaskStatusChanged {
                task: t(n),
                status: TaskStatus::Ready,
                reason: "retry".into(),
            },
            Op::Cancel(n) => Event::TaskStatusChanged {
                task: t(n),
                status: TaskStatus::Cancelled,
                reason: "no".into(),
            },
            Op::Recover(n) => Event::Recovered {
                reason: "crash".into(),
                tasks: vec![t(n)],
                calls: vec![],
            },
        };
        out.push(rec(out.len() as u64 + 1, e));
    }
    out
}

proptest! {
    #[test]
    fn the_fold_is_deterministic_and_snapshots_resume_it(ops in proptest::collection::vec(op(), 0..60), cut in 0usize..60) {
        let evs = events(&ops);
        let a = RunState::fold(&evs);
        let b = RunState::fold(&evs);
        prop_assert_eq!(serde_json::to_string(&a).unwrap(), serde_json::to_string(&b).unwrap());
        // Folding a prefix, snapshotting it through serde, and folding the rest gives the same state.
        let cut = cut.min(evs.len());
        let snap = serde_json::to_vec(&RunState::fold(&evs[..cut])).unwrap();
        let mut resumed: RunState = serde_json::from_slice(&snap).unwrap();
        for r in &evs[cut..] {
            resumed.apply(r);
        }
        prop_assert_eq!(serde_json::to_string(&resumed).unwrap(), serde_json::to_string(&a).unwrap());
    }

    #[test]
    fn a_task_is_ready_exactly_when_all_its_dependencies_are_done(ops in proptest::collection::vec(op(), 0..80)) {
        let mut s = RunState::default();
        for r in events(&ops) {
            s.apply(&r);
            for t in &s.tasks {
                let waiting = matches!(t.status, TaskStatus::Pending | TaskStatus::Ready);
                if !waiting {
                    continue;
                }
                let deps_done = t.depends_on.iter().all(|d| s.task(d).is_some_and(|d| d.status == TaskStatus::Done));
                prop_assert_eq!(t.status == TaskStatus::Ready, deps_done, "task {} in {:?}", t.id, t.status);
            }
            prop_assert!(!s.graph.has_cycle());
        }
    }
}

#[test]
fn completing_a_dependency_readies_its_dependents_and_failure_blocks_them() {
    let ops = [
        Op::Create(vec![]),
        Op::Create(vec![1]),
        Op::Create(vec![2]),
        Op::Assign(1),
    ];
    let mut s = RunState::fold(&events(&ops));
    assert_eq!(
        s.task(&TaskId::numbered(1)).unwrap().status,
        TaskStatus::Running
    );
    assert_eq!(
        s.task(&TaskId::numbered(2)).unwrap().status,
        TaskStatus::Pending
    );
    s.apply(&rec(
        10,
        Event::TaskStatusChanged {
            task: TaskId::numbered(1),
            status: TaskStatus::Failed,
            reason: "x".into(),
        },
    ));
    assert_eq!(
        s.task(&TaskId::numbered(2)).unwrap().status,
        TaskStatus::Blocked
    );
    assert_eq!(
        s.task(&TaskId::numbered(3)).unwrap().status,
        TaskStatus::Blocked
    );
    s.apply(&rec(
        11,
        Event::TaskStatusChanged {
            task: TaskId::numbered(1),
            status: TaskStatus::Ready,
            reason: "retry".into(),
        },
    ));
    assert_eq!(
        s.task(&TaskId::numbered(1)).unwrap().status,
        TaskStatus::Ready
    );
    assert_eq!(
        s.task(&TaskId::numbered(2)).unwrap().status,
        TaskStatus::Pending
    );
    s.apply(&rec(
        12,
        Event::TaskAssigned {
            task: TaskId::numbered(1),
            agent: AgentId::from("engineer-1"),
            attempt: 2,
        },
    ));
    s.apply(&rec(
        13,
        Event::TaskCompleted {
            task: TaskId::numbered(1),
            summary: "ok".into(),
            evidence: "tests pass".into(),
        },
    ));
    let t2 = s.task(&TaskId::numbered(2)).unwrap();
    assert_eq!(
        (t2.status, t2.status_reason.as_str()),
        (TaskStatus::Ready, "all dependencies done")
    );
    assert_eq!(
        s.task(&TaskId::numbered(1)).unwrap().failures,
        vec!["x".to_owned()]
    );
}

#[test]
fn recovery_puts_running_work_back_and_expires_its_approvals() {
    let mut evs = events(&[Op::Create(vec![]), Op::Assign(1)]);
    let agent = AgentId::from("engineer-1");
    let call = CallId::from("c1");
    evs.push(rec(
        4,
        Event::ToolCallRequested {
            agent: agent.clone(),
            task: Some(TaskId::numbered(1)),
            call: call.clone(),
            tool: "run_command".into(),
            args: serde_json::json!({}),
            policy: None,
        },
    ));
    evs.push(rec(
        5,
        Event::ApprovalRequested {
            approval: ApprovalId::from("A1"),
            call: call.clone(),
            agent,
            task: Some(TaskId::numbered(1)),
            tool: "run_command".into(),
            risk: "r".into(),
            label: None,
            summary: "s".into(),
        },
    ));
    let mut s = RunState::fold(&evs);
    assert_eq!(s.pending_approvals().count(), 1);
    assert_eq!(
        s.task(&TaskId::numbered(1)).unwrap().status,
        TaskStatus::AwaitingApproval
    );
    s.apply(&rec(
        6,
        Event::Recovered {
            reason: "process stopped".into(),
            tasks: vec![TaskId::numbered(1)],
            calls: vec![call],
        },
    ));
    assert_eq!(s.pending_approvals().count(), 0);
    assert!(s.calls.is_empty());
    let t = s.task(&TaskId::numbered(1)).unwrap();
    assert_eq!(t.status, TaskStatus::Ready);
    assert!(t.status_reason.starts_with("interrupted"));
    assert_eq!(s.agents[0].status, AgentStatus::Idle);
}

#[test]
fn a_replacement_unblocks_the_whole_chain_behind_the_task_it_replaces() {
    // T1 ← T2 ← T3; T1 fails for good, so T2 and T3 are blocked.
    let mut evs = events(&[
        Op::Create(vec![]),
        Op::Create(vec![1]),
        Op::Create(vec![2]),
        Op::Assign(1),
    ]);
    let t = TaskId::numbered;
    let n = evs.len() as u64;
    evs.push(rec(
        n + 1,
        Event::TaskStatusChanged {
            task: t(1),
            status: TaskStatus::Failed,
            reason: "x".into(),
        },
    ));
    let mut s = RunState::fold(&evs);
    assert_eq!(s.task(&t(3)).unwrap().status, TaskStatus::Blocked);
    s.apply(&rec(
        n + 2,
        Event::TaskCreated {
            task: t(4),
            title: "another way".into(),
            description: String::new(),
            role: "engineer".into(),
            depends_on: vec![],
            by: AgentId::from("supervisor"),
            acceptance: None,
            check: None,
        },
    ));
    s.apply(&rec(
        n + 3,
        Event::TaskReplaced {
            task: t(1),
            replacement: t(4),
            dependents: vec![t(2)],
            by: AgentId::from("supervisor"),
        },
    ));
    assert_eq!(s.task(&t(2)).unwrap().depends_on, vec![t(4)]);
    assert_eq!(s.task(&t(2)).unwrap().status, TaskStatus::Pending);
    assert_eq!(
        s.task(&t(3)).unwrap().status,
        TaskStatus::Pending,
        "T3 waits for T2 again, no longer blocked"
    );
    assert_eq!(s.task(&t(1)).unwrap().replaced_by, Some(t(4)));
    assert!(!s.graph.has_cycle());
}

/// `n` approvals on task 1, each answered at once by "ada" or "bob" except every 97th, which
/// stays waiting; the first is asked before everything and never answered.
fn approvals_run(n: usize) -> Vec<EventRecord> {
    let mut evs = events(&[Op::Create(vec![]), Op::Assign(1)]);
    let agent = AgentId::from("engineer-1");
    let ask = |i: usize| Event::ApprovalRequested {
        approval: ApprovalId::from(format!("A{i}").as_str()),
        call: CallId::from(format!("c{i}").as_str()),
        agent: agent.clone(),
        task: Some(TaskId::numbered(1)),
        tool: "run_command".into(),
        risk: "r".into(),
        label: None,
        summary: format!("command {i}"),
    };
    let push = |evs: &mut Vec<EventRecord>, e| {
        let seq = evs.len() as u64 + 1;
        evs.push(rec(seq, e));
    };
    for i in 0..n {
        push(&mut evs, ask(i));
        if i % 97 != 0 {
            let by = if i % 2 == 0 { "ada" } else { "bob" };
            push(
                &mut evs,
                Event::ApprovalResolved {
                    approval: ApprovalId::from(format!("A{i}").as_str()),
                    decision: ApprovalDecision::Approve,
                    by: Actor::Human {
                        user: by.into(),
                        host: None,
                        auto: false,
                    },
                },
            );
        }
    }
    evs
}

#[test]
fn the_state_keeps_pending_approvals_and_the_latest_answered_whatever_the_count() {
    use super::approvals::ANSWERED_KEPT;
    let evs = approvals_run(3_000);
    let s = RunState::fold(&evs);
    assert!(
        s.approvals.len() <= 2 * ANSWERED_KEPT + 40,
        "{} approvals kept",
        s.approvals.len()
    );
    assert_eq!(s.approvals_made, 3_000);
    // Every approval still waiting is kept, the first one asked too.
    let pending: Vec<&str> = s.pending_approvals().map(|a| a.id.as_str()).collect();
    assert_eq!(pending.len(), 3_000usize.div_ceil(97));
    assert_eq!(pending[0], "A0");
    // The latest answered is there (the control room draws its answer from it).
    assert!(s.approval(&ApprovalId::from("A2999")).is_some());
    assert!(
        s.approval(&ApprovalId::from("A1")).is_none(),
        "long answered"
    );
    // Who approved the task's calls stays on the task, each once.
    let t = s.task(&TaskId::numbered(1)).unwrap();
    assert_eq!(t.approved_by.len(), 2, "{:?}", t.approved_by);
    // A snapshot at any point resumes to the same state.
    for cut in [0, 7, 401, 2_222, evs.len()] {
        let snap = serde_json::to_vec(&RunState::fold(&evs[..cut])).unwrap();
        let mut resumed: RunState = serde_json::from_slice(&snap).unwrap();
        for r in &evs[cut..] {
            resumed.apply(r);
        }
        assert_eq!(
            serde_json::to_string(&resumed).unwrap(),
            serde_json::to_string(&s).unwrap(),
            "cut at {cut}"
        );
    }
    // Ten times the approvals, the same bound.
    let s = RunState::fold(&approvals_run(30_000));
    assert!(s.approvals.len() - s.pending_approvals().count() <= 2 * ANSWERED_KEPT);
}

#[test]
fn an_approval_answered_long_after_it_was_asked_is_kept_once_answered() {
    let mut evs = approvals_run(1_000);
    let seq = evs.len() as u64 + 1;
    evs.push(rec(
        seq,
        Event::ApprovalResolved {
            approval: ApprovalId::from("A0"),
            decision: ApprovalDecision::Deny {
                reason: "no".into(),
            },
            by: Actor::Human {
                user: "cy".into(),
                host: None,
                auto: false,
            },
        },
    ));
    let s = RunState::fold(&evs);
    let a = s.approval(&ApprovalId::from("A0")).expect("just answered");
    assert!(!a.is_pending());
    // Denied: not among those who approved.
    let t = s.task(&TaskId::numbered(1)).unwrap();
    assert!(!t.approved_by.iter().any(|b| b.contains("cy")));
}
