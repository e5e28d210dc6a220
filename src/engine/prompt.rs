//! What an agent is told: the task brief, the plan, updates for the supervisor, and the
//! structured context that goes with every request.

use crate::domain::{RunState, TaskId, TaskState, TaskStatus};
use crate::llm::{RequestContext, TaskBrief};
use std::fmt::Write;

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
    }
}

/// One line per task: `T3 [running] engineer: Build the CLI (after T2)`.
pub fn plan_summary(state: &RunState) -> String {
    if state.tasks.is_empty() {
        return "(no tasks yet)".to_owned();
    }
    let mut out = String::new();
    for t in &state.tasks {
        let _ = write!(out, "{} [{}] {}: {}", t.id, t.status, t.role, t.title);
        if !t.depends_on.is_empty() {
            let deps: Vec<&str> = t.depends_on.iter().map(|d| d.as_str()).collect();
            let _ = write!(out, " (after {})", deps.join(", "));
        }
        out.push('\n');
    }
    out
}

/// The first message of a worker's attempt at a task.
pub fn task_brief(state: &RunState, task: &TaskState) -> String {
    let mut out = String::new();
    let goal = state.info.as_ref().map_or("", |i| i.goal.as_str());
    let _ = writeln!(out, "Run goal: {goal}\n");
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
        out.push_str("Finished work you build on:\n");
        for d in done {
            let _ = writeln!(
                out,
                "- {} {}: {}",
                d.id,
                d.title,
                d.summary.as_deref().unwrap_or("")
            );
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
    let _ = writeln!(out, "The plan:\n{}", plan_summary(state));
    out.push_str("Work in the workspace with your tools. Finish with complete_task (with evidence) or fail_task.");
    out
}

/// The supervisor's first message in this process.
pub fn supervisor_opening(state: &RunState) -> String {
    let goal = state.info.as_ref().map_or("", |i| i.goal.as_str());
    if state.tasks.is_empty() {
        format!("Run goal: {goal}\n\nThere is no plan yet. Create it with create_task.")
    } else {
        format!(
            "Run goal: {goal}\n\nThe run is resuming. Make sure the plan covers the goal; create what is missing.\n\nThe plan:\n{}",
            plan_summary(state)
        )
    }
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
