//! `#swarm`: the load generator. The supervisor plans one independent stream per worker place
//! (`--concurrency`, from the request's context); each stream's agent reasons in Markdown at
//! [`PACE`] and, every step, calls a tool: in a cycle of [`CYCLE`] steps it writes a small
//! Python module under `swarm/<task>/`, reads it, edits it, searches its folder, runs it (or,
//! in most cycles, counts its lines with `wc`) and lists the folder. It never completes its task: an attempt ends at the role's turn limit
//! (the engine fails it and tries again, going on in the same worktree), and when the task
//! fails for good the supervisor creates the stream's next part, which replaces it (the engine
//! lets the supervisor retry a task only a few times). Only the run's budget (or a person)
//! ends a swarm.
//!
//! Invariants: every step's call gives a result the agent has not seen before (the module's
//! version names attempt and cycle), so the engine's stuck watch never fires on a healthy
//! stream; a stream keeps at most [`FILES`] modules, so the workspace does not grow with time;
//! the same seed gives the same run.

use super::phrases::{self, pick};
use super::swarm_text::{self, TOPICS};
use super::turn::{Conversation, Pace, Turn};
use crate::domain::TaskStatus;
use crate::llm::{LlmRequest, TaskBrief};
use serde_json::json;
use std::time::Duration;

/// Tokens a second a swarm agent streams at `MACROHARD_SIM_SPEED=1`.
pub const TOKENS_PER_SEC: f64 = 100.0;
/// Words per token, for text of English prose and code (a common rule of thumb).
pub const WORDS_PER_TOKEN: f64 = 0.75;
/// A swarm turn starts almost at once (the stream is meant to be continuous) and then streams
/// [`TOKENS_PER_SEC`].
pub const PACE: Pace = Pace {
    latency: Duration::from_millis(150),
    words_per_sec: TOKENS_PER_SEC * WORDS_PER_TOKEN,
};
/// Steps in one cycle of tool calls.
pub const CYCLE: usize = 6;
/// Cycles between two runs of the module.
pub const RUN_EVERY: usize = 3;
/// Modules a stream keeps (written in turn, overwritten cycle after cycle).
pub const FILES: usize = 3;
/// Streams at most, whatever the concurrency.
pub const MAX_STREAMS: u32 = 256;
/// Reasoning per step, in tokens (at 100 tokens/s: 2 to 6 seconds).
const TOKENS_PER_STEP: std::ops::RangeInclusive<usize> = 200..=600;

const TITLE: &str = "Swarm stream ";
const DESCRIPTION: &str = "Think out loud about this part of the system, and every few steps write, edit and run a small module under swarm/<task>/. Keep going: the run's budget ends the stream. (SIMULATED load)";

/// The title of stream `k` (1-based).
fn title(k: u32) -> String {
    let (topic, _) = TOPICS[(k as usize - 1) % TOPICS.len()];
    format!("{TITLE}{k}: the {topic}")
}

/// The command of a cycle: every [`RUN_EVERY`] cycles the module runs; in between, a cheaper
/// look at the folder (a Python start costs about 0.1-0.2 s of CPU on a small machine, most of
/// what a swarm at speed 0 would otherwise spend).
fn command(cycle: usize, folder: &str, path: &str) -> String {
    if cycle % RUN_EVERY == 0 {
        format!("python3 -I -S {path}")
    } else {
        format!("wc -l {folder}/*.py")
    }
}

/// The folder a stream's task writes in.
fn folder(task: &crate::domain::TaskId) -> String {
    format!("swarm/{}", task.as_str().to_lowercase())
}

/// The title of stream `k`'s next task: its first, or its next part (every title is new, so
/// the engine never sees the same task planned twice, even when a person cancelled a stream).
fn part_title(plan: &[TaskBrief], k: u32) -> String {
    match plan
        .iter()
        .filter(|t| stream_of(&t.title) == Some(k))
        .count()
    {
        0 => title(k),
        n => format!("{}, part {}", title(k), n + 1),
    }
}

/// `create_task`'s arguments for stream `k`'s next part, replacing a task when it is one's
/// successor.
fn next_part(
    plan: &[TaskBrief],
    k: u32,
    replaces: Option<&crate::domain::TaskId>,
) -> serde_json::Value {
    let mut args = json!({
        "title": part_title(plan, k),
        "description": DESCRIPTION,
        "role": "engineer",
        "depends_on": [],
    });
    if let Some(t) = replaces {
        args["replaces"] = json!(t);
    }
    args
}

/// The stream a task title names, when it is a swarm stream.
fn stream_of(title: &str) -> Option<u32> {
    let rest = title.strip_prefix(TITLE)?;
    rest.split(':').next()?.parse().ok().filter(|k| *k >= 1)
}

/// The supervisor of a swarm: plans the streams, keeps every one of them going.
pub fn supervise(req: &LlmRequest) -> Turn {
    let ctx = &req.context;
    let conv = Conversation::new(req);
    let mut rng = phrases::rng(ctx.seed, ("swarm-supervisor", conv.step(), ctx.plan.len()));
    let mut heard = String::new();
    for m in conv.new_human_messages() {
        heard.push_str(&phrases::heard(&mut rng, &m));
    }
    let want = ctx.concurrency.clamp(1, MAX_STREAMS);
    let missing: Vec<u32> = (1..=want)
        .filter(|k| {
            !ctx.plan
                .iter()
                .any(|t| stream_of(&t.title) == Some(*k) && t.status != TaskStatus::Cancelled)
        })
        .collect();
    let just_planned = conv.last_results().iter().any(|r| r.tool == "create_task");
    if !missing.is_empty() && !just_planned {
        let mut turn = Turn::think(format!(
            "{heard}A swarm: {want} independent streams, one per worker place, none depending on \
             another. Each reasons continuously and touches a small module of its own now and \
             then. They do not finish; the run's budget decides when this stops. Creating {}.",
            missing.len()
        ));
        for k in missing {
            turn = turn.call("create_task", next_part(&ctx.plan, k, None));
        }
        return turn;
    }
    let failed: Vec<&TaskBrief> = ctx
        .plan
        .iter()
        .filter(|t| t.status == TaskStatus::Failed && stream_of(&t.title).is_some())
        .collect();
    if !failed.is_empty() {
        let ids: Vec<&str> = failed.iter().map(|t| t.id.as_str()).collect();
        let mut turn = Turn::think(format!(
            "{heard}{} ran out of attempts, as a stream does at the turn limit. A stream is meant \
             to go on: a next part replaces it and carries on in its place.",
            ids.join(", ")
        ));
        for t in failed {
            let k = stream_of(&t.title).unwrap_or(1);
            turn = turn.call("create_task", next_part(&ctx.plan, k, Some(&t.id)));
        }
        return turn;
    }
    let running = ctx.plan.iter().filter(|t| t.status.is_active()).count();
    let starting = ctx
        .plan
        .iter()
        .filter(|t| matches!(t.status, TaskStatus::Pending | TaskStatus::Ready))
        .count();
    let starting = match starting {
        0 => String::new(),
        n => format!(", {n} about to start"),
    };
    let lead = pick(
        &mut rng,
        &[
            "Checking the board.",
            "Status check.",
            "Looking over the swarm.",
        ],
    );
    Turn::think(format!(
        "{heard}{lead} {running} of {want} streams are working{starting}. Nothing to change."
    ))
}

/// Whether this request is a swarm stream's.
pub fn is_stream(task: &TaskBrief) -> bool {
    stream_of(&task.title).is_some()
}

/// One step of a stream's agent.
pub fn work(req: &LlmRequest, task: &TaskBrief) -> Turn {
    let conv = Conversation::new(req);
    let step = conv.step();
    let seed = req.context.seed;
    let stream = stream_of(&task.title).unwrap_or(1) as usize;
    let topic = (stream - 1) % TOPICS.len();
    let mut rng = phrases::rng(seed, ("swarm", task.id.as_str(), task.attempt, step));
    let mut said = String::new();
    for m in conv.new_human_messages() {
        said.push_str(&phrases::heard(&mut rng, &m));
    }
    if let Some(r) = conv.last_results().first() {
        let first = r.text.lines().next().unwrap_or("").replace('`', "'");
        let first: String = first.chars().take(100).collect();
        said.push_str(&format!("The {} said `{first}`. ", r.tool));
    }
    let tokens = rng.usize(TOKENS_PER_STEP);
    let words = (tokens as f64 * WORDS_PER_TOKEN) as usize;
    said.push_str(&swarm_text::reasoning(&mut rng, topic, words));

    let cycle = step / CYCLE;
    let folder = folder(&task.id);
    let (_, slug) = TOPICS[topic];
    let path = format!("{folder}/{slug}_{}.py", cycle % FILES);
    let version = format!("a{}-c{cycle}", task.attempt);
    // The module of this cycle, the same at every step of it.
    let mut mrng = phrases::rng(
        seed,
        ("swarm-module", task.id.as_str(), task.attempt, cycle),
    );
    let module = swarm_text::module(&mut mrng, topic, &version);
    let turn = Turn::think(said).paced(PACE);
    match step % CYCLE {
        0 => turn.call(
            "write_file",
            json!({ "path": path, "content": module.content }),
        ),
        1 => turn.call("read_file", json!({ "path": path })),
        2 => turn.call(
            "edit_file",
            json!({ "path": path, "old": module.edit_old, "new": module.edit_new }),
        ),
        3 => turn.call(
            "search_files",
            json!({ "pattern": format!("VERSION|LIMIT|def {slug}_"), "path": folder }),
        ),
        4 => turn.call(
            "run_command",
            json!({ "command": command(cycle, &folder, &path), "timeout_s": 30 }),
        ),
        _ => turn.call("list_files", json!({ "path": folder })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::TaskId;
    use crate::llm::{Message, RequestContext};

    fn request(role: &str, task: Option<TaskBrief>, plan: Vec<TaskBrief>) -> LlmRequest {
        LlmRequest {
            messages: vec![Message::user("Start.")],
            context: RequestContext {
                role: role.into(),
                goal: "load test #swarm".into(),
                task,
                plan,
                seed: 3,
                concurrency: 5,
            },
            ..LlmRequest::default()
        }
    }

    fn brief(k: u32, status: TaskStatus) -> TaskBrief {
        TaskBrief {
            id: TaskId::numbered(k as usize),
            title: title(k),
            role: "engineer".into(),
            status,
            attempt: 2,
            failures: vec![],
        }
    }

    #[test]
    fn the_supervisor_plans_one_independent_stream_per_place() {
        let turn = supervise(&request("supervisor", None, vec![]));
        assert_eq!(turn.calls.len(), 5);
        for (i, c) in turn.calls.iter().enumerate() {
            assert_eq!(c.name, "create_task");
            assert_eq!(
                stream_of(c.arguments["title"].as_str().unwrap()),
                Some(i as u32 + 1)
            );
            assert_eq!(c.arguments["depends_on"], json!([]));
        }
    }

    #[test]
    fn the_supervisor_replaces_failed_streams_and_never_finishes() {
        let mut plan: Vec<TaskBrief> = (1..=5).map(|k| brief(k, TaskStatus::Running)).collect();
        plan[1].status = TaskStatus::Failed;
        let turn = supervise(&request("supervisor", None, plan.clone()));
        assert_eq!(turn.calls.len(), 1);
        let args = &turn.calls[0].arguments;
        assert_eq!(turn.calls[0].name, "create_task");
        assert_eq!(args["replaces"], "T2");
        assert_eq!(args["title"], format!("{}, part 2", title(2)));
        assert_eq!(stream_of(args["title"].as_str().unwrap()), Some(2));
        // Replaced (cancelled), with its next part running: nothing to do, and never a finish.
        plan[1].status = TaskStatus::Cancelled;
        // A stream a person cancelled starts again, under a title not planned before.
        let turn = supervise(&request("supervisor", None, plan.clone()));
        assert_eq!(turn.calls.len(), 1);
        assert_eq!(
            turn.calls[0].arguments["title"],
            format!("{}, part 2", title(2))
        );
        assert_eq!(turn.calls[0].arguments.get("replaces"), None);
        let mut next = brief(2, TaskStatus::Running);
        next.id = TaskId::numbered(6);
        next.title = format!("{}, part 2", title(2));
        plan.push(next);
        let turn = supervise(&request("supervisor", None, plan));
        assert!(turn.calls.is_empty(), "{:?}", turn.calls);
    }

    #[test]
    fn the_supervisors_status_counts_its_places_and_the_streams_about_to_start() {
        let mut plan: Vec<TaskBrief> = (1..=5).map(|k| brief(k, TaskStatus::Running)).collect();
        plan[3].status = TaskStatus::Ready;
        plan[4].status = TaskStatus::Pending;
        // A replaced stream is in the plan too, and is not one of the places.
        let mut old = brief(1, TaskStatus::Cancelled);
        old.id = TaskId::numbered(6);
        plan.push(old);
        let turn = supervise(&request("supervisor", None, plan));
        assert!(turn.calls.is_empty(), "{:?}", turn.calls);
        assert!(
            turn.reasoning
                .contains("3 of 5 streams are working, 2 about to start."),
            "{}",
            turn.reasoning
        );
    }

    #[test]
    fn a_stream_calls_a_tool_every_step_in_a_cycle() {
        let task = brief(2, TaskStatus::Running);
        let mut req = request("engineer", Some(task.clone()), vec![]);
        let mut names = Vec::new();
        for step in 0..CYCLE {
            let turn = work(&req, &task);
            assert_eq!(turn.calls.len(), 1);
            assert!(turn.reasoning.split_whitespace().count() >= 150);
            assert_eq!(turn.pace, Some(PACE));
            names.push(turn.calls[0].name.clone());
            if step == 2 {
                // The edit's text is in what the write of this cycle wrote.
                let written = work(
                    &LlmRequest {
                        messages: vec![Message::user("Start.")],
                        ..req.clone()
                    },
                    &task,
                );
                let content = written.calls[0].arguments["content"].as_str().unwrap();
                let old = turn.calls[0].arguments["old"].as_str().unwrap();
                assert_eq!(content.matches(old).count(), 1);
            }
            req.messages
                .push(Message::assistant(String::new(), turn.calls.clone()));
        }
        assert_eq!(
            names,
            [
                "write_file",
                "read_file",
                "edit_file",
                "search_files",
                "run_command",
                "list_files"
            ]
        );
    }
}
