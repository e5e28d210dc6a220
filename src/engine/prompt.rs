//! What an agent is told: the task brief, the plan, updates for the supervisor, and the
//! structured context that goes with every request.
//!
//! A worker's brief hands on artifacts, not only summaries: each finished dependency's files
//! with their diffstat, its commit, the tail of its evidence and its small design documents;
//! a tree of the workspace; the environment its commands meet; and the project's own
//! instructions (`AGENTS.md`). Everything read from the workspace is bounded and labelled as
//! the project's text, never the engine's.
//!
//! The project's instructions go into the first user message (the brief, the supervisor's
//! opening), not the system prompt: the system prompt is the engine's voice, rendered from the
//! role alone and hashed for the audit trail, and it stays the same from run to run so a
//! provider can cache it with the tools; the brief's opening lines (goal, then instructions)
//! are the same for every task of a run, so the cached prefix runs on into them.

mod environment;
mod handoff;
pub(super) use handoff::tail;
mod project;
mod tree;

use crate::domain::{AgentId, RunState, TaskId, TaskState, TaskStatus};
use crate::engine::EngineConfig;
use crate::llm::{RequestContext, TaskBrief};
use std::fmt::Write;
use std::path::Path;

fn brief(t: &TaskState) -> TaskBrief {
    TaskBrief {
        id: t.id.clone(),
        title: t.title.clone(),
        role: t.role.clone(),
        status: t.status,
        attempt: t.attempts,
        failures: t.failures.clone(),
    }
}

pub fn context(state: &RunState, role: &str, task: Option<&TaskId>) -> RequestContext {
    RequestContext {
        role: role.to_owned(),
        goal: state
            .info
            .as_ref()
            .map(|i| i.goal.clone())
            .unwrap_or_default(),
        task: task.and_then(|t| state.task(t)).map(brief),
        plan: state.tasks.iter().map(brief).collect(),
        seed: state.info.as_ref().map_or(0, |i| i.seed),
        concurrency: state.info.as_ref().map_or(1, |i| i.concurrency),
    }
}

/// Settled tasks (done, failed, cancelled) the plan lists one by one: the newest. Older ones
/// are counted, so a long run's plan stays a readable size in every prompt.
const PLAN_SETTLED_LISTED: usize = 40;
/// Tasks the plan lists at most; the rest are counted.
const PLAN_LISTED: usize = 200;

/// One line per task: `T3 [running] engineer: Build the CLI (after T2)`. Every task still to
/// settle is listed (up to [`PLAN_LISTED`]) and the newest settled ones; the others are
/// counted by status on a first line, so the plan does not grow with the run's length.
pub fn plan_summary(state: &RunState) -> String {
    if state.tasks.is_empty() {
        return "(no tasks yet)".to_owned();
    }
    let settled = state
        .tasks
        .iter()
        .filter(|t| t.status.is_terminal())
        .count();
    let mut older = settled.saturating_sub(PLAN_SETTLED_LISTED);
    let mut unlisted: std::collections::BTreeMap<String, usize> = Default::default();
    let mut lines = String::new();
    let mut listed = 0;
    for t in &state.tasks {
        if older > 0 && t.status.is_terminal() {
            older -= 1;
            *unlisted.entry(t.status.to_string()).or_default() += 1;
            continue;
        }
        if listed == PLAN_LISTED {
            *unlisted.entry(t.status.to_string()).or_default() += 1;
            continue;
        }
        listed += 1;
        let _ = write!(lines, "{} [{}] {}: {}", t.id, t.status, t.role, t.title);
        if !t.depends_on.is_empty() {
            let deps: Vec<&str> = t.depends_on.iter().map(|d| d.as_str()).collect();
            let _ = write!(lines, " (after {})", deps.join(", "));
        }
        lines.push('\n');
    }
    if unlisted.is_empty() {
        return lines;
    }
    let total: usize = unlisted.values().sum();
    let counts: Vec<String> = unlisted.iter().map(|(s, n)| format!("{n} {s}")).collect();
    format!(
        "({total} of {} tasks not listed: {}; the tasks still to settle and the newest settled ones follow)\n{lines}",
        state.tasks.len(),
        counts.join(", ")
    )
}

/// The workspace of the run, where it has one.
fn workspace(state: &RunState) -> Option<&Path> {
    state
        .info
        .as_ref()
        .map(|i| Path::new(i.workspace.as_str()))
        .filter(|p| !p.as_os_str().is_empty())
}

/// The run's goal line and the project's instructions: the opening every agent's first
/// message shares.
fn opening(state: &RunState) -> String {
    let goal = state.info.as_ref().map_or("", |i| i.goal.as_str());
    let mut out = format!("Run goal: {goal}\n\n");
    if let Some(text) = workspace(state).and_then(project::instructions) {
        out.push_str(&text);
        out.push('\n');
    }
    out
}

/// The workspace tree under a heading, depth- and size-limited.
fn workspace_tree(state: &RunState) -> String {
    let Some(root) = workspace(state) else {
        return String::new();
    };
    let t = tree::BRIEF_TREE;
    format!(
        "The workspace now ({} levels, at most {} names):\n{}\n",
        t.depth,
        t.entries,
        tree::render(root, t)
    )
}

/// The first message of a worker's attempt at a task.
pub fn task_brief(state: &RunState, task: &TaskState, config: &EngineConfig) -> String {
    let mut out = opening(state);
    let _ = writeln!(
        out,
        "Your task {}: {}\n{}\n",
        task.id, task.title, task.description
    );
    let done: Vec<&TaskState> = task
        .depends_on
        .iter()
        .filter_map(|d| state.task(d))
        .filter(|d| d.status == TaskStatus::Done)
        .collect();
    if !done.is_empty() {
        out.push_str("Finished work you build on (its files are in the workspace):\n");
        let mut docs_left = handoff::DOCS_TOTAL;
        for d in done {
            out.push_str(&handoff::dependency(d, workspace(state), &mut docs_left));
        }
        out.push('\n');
    }
    if !task.failures.is_empty() {
        let _ = writeln!(
            out,
            "This is attempt {}. Earlier attempts failed:",
            task.attempts
        );
        for f in &task.failures {
            let _ = writeln!(out, "- {f}");
        }
        out.push('\n');
    }
    out.push_str(&super::repair::brief_terms(task));
    out.push_str(&workspace_tree(state));
    out.push_str(&environment::block(state, task, config));
    let _ = writeln!(out, "\nThe plan:\n{}", plan_summary(state));
    out.push_str("Work in the workspace with your tools. Finish with complete_task (with evidence) or fail_task.");
    out
}

/// The news that a task is done, for the supervisor's next update: its summary line, the
/// files it changed and the tail of its evidence. Called when the agent's complete_task is
/// accepted, before the completion is folded into `state` (so summary and evidence are given).
pub fn task_done_news(
    state: &RunState,
    task: &TaskId,
    agent: &AgentId,
    summary: &str,
    evidence: &str,
) -> String {
    let line = summary.lines().next().unwrap_or_default();
    let mut out = format!("{task} done by {agent}: {line}");
    if let Some(t) = state.task(task) {
        let files = handoff::files(t);
        if files.is_empty() {
            out.push_str("\n  Files changed: none recorded");
        } else {
            let _ = write!(out, "\n  Files changed: {}", files.join(", "));
        }
    }
    out.push('\n');
    handoff::evidence(
        &mut out,
        "  ",
        evidence,
        handoff::NEWS_EVIDENCE_LINES,
        handoff::NEWS_EVIDENCE_BYTES,
    );
    out.trim_end().to_owned()
}

/// The supervisor's first message in this process.
pub fn supervisor_opening(state: &RunState) -> String {
    let mut out = opening(state);
    out.push_str(&workspace_tree(state));
    if state.tasks.is_empty() {
        out.push_str("There is no plan yet. Create it with create_task.");
    } else {
        let _ = write!(
            out,
            "The run is resuming. Make sure the plan covers the goal; create what is missing.\n\nThe plan:\n{}",
            plan_summary(state)
        );
    }
    out
}

/// What a resumed supervisor is told after its own conversation, given back from the log.
pub fn supervisor_resumed(state: &RunState) -> String {
    format!(
        "The run was stopped and has been resumed here. Go on from where you were; do not plan again what is already planned.\n\nThe plan:\n{}",
        plan_summary(state)
    )
}

/// An update that wakes the supervisor.
pub fn supervisor_update(state: &RunState, news: &[String]) -> String {
    let mut out = String::from("Update:\n");
    for n in news {
        let _ = writeln!(out, "- {n}");
    }
    let _ = write!(out, "\nThe plan:\n{}", plan_summary(state));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{EventRecord, RunId, SCHEMA_VERSION};
    use serde_json::{Value, json};

    /// A state folded from events written as JSON (defaults fill what a test leaves out).
    pub(super) fn fold(workspace: &Path, events: Vec<Value>) -> RunState {
        let mut all = vec![json!({"type": "run_created", "goal": "a notes tool",
            "workspace": workspace.display().to_string(), "provider": "sim", "model": "m",
            "simulated": true, "budget": {"tokens": null, "usd": null, "turns": null,
            "wall_secs": null}, "concurrency": 1, "max_attempts": 2, "autonomy": "ask-risky",
            "seed": 1, "by": {"kind": "engine"}})];
        all.extend(events);
        let records: Vec<EventRecord> = all
            .into_iter()
            .enumerate()
            .map(|(i, event)| EventRecord {
                v: SCHEMA_VERSION,
                run: RunId::from("r"),
                seq: i as u64 + 1,
                ts_ms: 1,
                event: serde_json::from_value(event).unwrap(),
            })
            .collect();
        RunState::fold(&records)
    }

    fn task(n: u32, role: &str, deps: &[&str]) -> Value {
        json!({"type": "task_created", "task": format!("T{n}"), "title": format!("task {n}"),
            "description": "d", "role": role, "depends_on": deps, "by": "supervisor"})
    }

    fn changed(task: &str, path: &str, added: u32, removed: u32) -> Value {
        json!({"type": "file_changed", "agent": "a-1", "task": task, "path": path,
            "added": added, "removed": removed})
    }

    fn finished(dir: &Path) -> RunState {
        let mut events = vec![
            task(1, "architect", &[]),
            json!({"type": "task_assigned", "task": "T1", "agent": "a-1", "attempt": 1}),
            changed("T1", "DESIGN.md", 4, 0),
            changed("T1", "src/app.py", 10, 0),
            changed("T1", "src/app.py", 2, 3),
        ];
        for i in 0..40 {
            events.push(changed("T1", &format!("gen/f{i:02}.txt"), 1, 0));
        }
        events.push(
            json!({"type": "task_completed", "task": "T1", "summary": "designed",
            "evidence": "x"}),
        );
        events.push(task(2, "engineer", &["T1"]));
        fold(dir, events)
    }

    #[test]
    fn the_news_of_a_finished_task_holds_its_files_and_the_tail_of_its_evidence() {
        let dir = tempfile::tempdir().unwrap();
        let state = finished(dir.path());
        let evidence: String = (1..=40).map(|i| format!("ok {i}\n")).collect();
        let news = task_done_news(
            &state,
            &TaskId::numbered(1),
            &AgentId::from("architect-1"),
            "Designed it\nwith details",
            &evidence,
        );
        assert!(
            news.starts_with("T1 done by architect-1: Designed it\n"),
            "{news}"
        );
        assert!(
            news.contains("Files changed: DESIGN.md +4 -0, src/app.py +12 -3, gen/f00.txt +1 -0"),
            "{news}"
        );
        assert!(news.contains("… 12 more files"), "{news}");
        assert!(
            news.contains("  | ok 40") && news.contains("  | ok 29\n"),
            "{news}"
        );
        assert!(!news.contains("ok 28\n"), "{news}");
        let update = supervisor_update(&state, &[news]);
        assert!(
            update.starts_with("Update:\n- T1 done by architect-1"),
            "{update}"
        );
        assert!(update.contains("\n  Files changed: DESIGN.md"), "{update}");
        assert!(update.contains("\nThe plan:\nT1 [done]"), "{update}");
    }

    #[test]
    fn a_brief_says_when_a_dependencys_commit_is_not_recorded_yet_and_then_names_it() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("DESIGN.md"), "# D\nuse json\n").unwrap();
        let config = EngineConfig::new(
            super::super::Roster::embedded().unwrap(),
            dir.path().to_owned(),
        );
        let mut state = finished(dir.path());
        let t2 = state.task(&TaskId::numbered(2)).unwrap().clone();
        let brief = task_brief(&state, &t2, &config);
        assert!(brief.contains("- T1 task 1 (architect), its commit is not recorded yet"));
        assert!(brief.contains("    src/app.py +12 -3\n"), "{brief}");
        assert!(brief.contains("… 12 more files"), "{brief}");
        assert!(
            brief.contains("<<<DESIGN.md\n# D\nuse json\nDESIGN.md>>>"),
            "{brief}"
        );
        state.apply(&EventRecord {
            v: SCHEMA_VERSION,
            run: RunId::from("r"),
            seq: state.last_seq + 1,
            ts_ms: 2,
            event: crate::domain::Event::TaskCommitted {
                task: TaskId::numbered(1),
                sha: "0123abcd".into(),
            },
        });
        let brief = task_brief(&state, &t2, &config);
        assert!(brief.contains("(architect), commit 0123abcd\n"), "{brief}");
        assert!(brief.contains("Turns left for this task: 24"), "{brief}");
        assert!(brief.contains("timeout 120 s"), "{brief}");
    }
}

#[cfg(test)]
mod plan_tests {
    use super::*;
    use serde_json::json;

    fn state(tasks: u32, settled: u32) -> RunState {
        let mut events = Vec::new();
        for n in 1..=tasks {
            events.push(json!({"type": "task_created", "task": format!("T{n}"),
                "title": format!("part {n}"), "description": "d", "role": "engineer",
                "depends_on": [], "by": "supervisor"}));
            if n <= settled && n % 2 == 0 {
                events.push(json!({"type": "task_assigned", "task": format!("T{n}"),
                    "agent": "engineer-1", "attempt": 1}));
                events.push(json!({"type": "task_completed", "task": format!("T{n}"),
                    "summary": "s", "evidence": "e"}));
            } else if n <= settled {
                events.push(
                    json!({"type": "task_status_changed", "task": format!("T{n}"),
                    "status": "cancelled", "reason": "r"}),
                );
            }
        }
        super::tests::fold(Path::new(""), events)
    }

    #[test]
    fn a_short_plan_lists_every_task() {
        let s = plan_summary(&state(5, 2));
        assert_eq!(s.lines().count(), 5, "{s}");
        assert!(
            s.starts_with("T1 [cancelled] engineer: part 1\nT2 [done]"),
            "{s}"
        );
    }

    #[test]
    fn a_long_plan_lists_what_is_open_and_the_newest_settled_and_counts_the_rest() {
        let s = plan_summary(&state(2_000, 1_990));
        let lines: Vec<&str> = s.lines().collect();
        assert_eq!(lines.len(), 1 + PLAN_SETTLED_LISTED + 10, "{s}");
        assert_eq!(
            lines[0],
            "(1950 of 2000 tasks not listed: 975 cancelled, 975 done; the tasks still to settle and the newest settled ones follow)"
        );
        assert!(lines[1].starts_with("T1951 "), "{}", lines[1]);
        assert!(s.contains("T2000 [ready]"), "{s}");
        // However many tasks are open, the plan stays a bounded size.
        let open = plan_summary(&state(5_000, 0));
        assert_eq!(open.lines().count(), 1 + PLAN_LISTED);
        assert!(
            open.starts_with("(4800 of 5000 tasks not listed: 4800 ready;"),
            "{open}"
        );
    }
}
