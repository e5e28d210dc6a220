//! The simulated supervisor: plans the project for the goal, keeps an eye on the graph, retries
//! a task that failed for good once with guidance from its failure (and asks a person when that
//! fails too), and ends the run when everything is done.

use super::phrases::{self, pick};
use super::project::App;
use super::turn::{Conversation, Turn};
use crate::domain::TaskStatus;
use crate::llm::LlmRequest;
use serde_json::json;

/// A task of the plan; `deps` are positions in [`PLAN`].
pub struct Planned {
    pub key: &'static str,
    pub title: &'static str,
    pub role: &'static str,
    pub description: &'static str,
    pub deps: &'static [usize],
}

pub const PLAN: [Planned; 7] = [
    Planned {
        key: "design",
        title: "Design the @title@ command line",
        role: "architect",
        description: "Decide the module layout, the storage format and the commands; write DESIGN.md.",
        deps: &[],
    },
    Planned {
        key: "core",
        title: "Implement the @noun@ store",
        role: "engineer",
        description: "Write @module@/core.py (add, find, complete, remove, save) with unit tests that pass.",
        deps: &[0],
    },
    Planned {
        key: "cli",
        title: "Build the command-line interface",
        role: "engineer",
        description: "Write @module@/cli.py and __main__.py: add, list [--all], done, remove; exit 1 on a bad id.",
        deps: &[1],
    },
    Planned {
        key: "docs",
        title: "Write the README and the launch page",
        role: "growth",
        description: "README.md for users; LAUNCH.md with positioning, pricing and a launch checklist.",
        deps: &[0],
    },
    Planned {
        key: "qa",
        title: "Test the CLI end to end",
        role: "qa",
        description: "Add tests/test_cli.py and run the whole suite; the evidence is the test output.",
        deps: &[2],
    },
    Planned {
        key: "review",
        title: "Review the code",
        role: "reviewer",
        description: "Read the core and the CLI, note risks, and write REVIEW.md with a verdict.",
        deps: &[2],
    },
    Planned {
        key: "release",
        title: "Package and smoke-test a release",
        role: "ops",
        description: "Add pyproject.toml, a Makefile and scripts/smoke.sh; run the smoke test and the suite.",
        deps: &[4, 5],
    },
];

pub fn respond(req: &LlmRequest) -> Turn {
    let ctx = &req.context;
    let app = App::for_goal(&ctx.goal);
    let conv = Conversation::new(req);
    let mut rng = phrases::rng(ctx.seed, ("supervisor", conv.step(), ctx.plan.len()));
    let mut heard = String::new();
    for m in conv.new_human_messages() {
        heard.push_str(&phrases::heard(&mut rng, &m));
    }
    let just_planned = conv.last_results().iter().any(|r| r.tool == "create_task");
    if ctx.plan.is_empty() {
        return plan(&app, &mut rng, heard);
    }
    let missing: Vec<usize> = (0..PLAN.len())
        .filter(|i| !ctx.plan.iter().any(|t| t.title == app.fill(PLAN[*i].title)))
        .collect();
    if !missing.is_empty() && !just_planned {
        return complete_plan(&app, ctx, &missing, heard);
    }
    if just_planned {
        let parallel =
            "The growth work only needs the design, so it runs beside the engineering chain.";
        return Turn::think(format!(
            "{heard}The plan is in place: {} tasks. {parallel} Dispatching.",
            ctx.plan.len()
        ))
        .say("Plan created; the scheduler will start the first tasks.");
    }
    let done = ctx
        .plan
        .iter()
        .filter(|t| t.status == TaskStatus::Done)
        .count();
    let settled = ctx
        .plan
        .iter()
        .all(|t| matches!(t.status, TaskStatus::Done | TaskStatus::Cancelled));
    if settled {
        return finish(&app, ctx.plan.len(), done, heard);
    }
    let asked = conv.last_results().iter().any(|r| r.tool == "ask_human");
    if let Some(failed) = ctx.plan.iter().find(|t| t.status == TaskStatus::Failed) {
        let why = failed
            .failures
            .last()
            .map(String::as_str)
            .unwrap_or("no reason given");
        let why: String = why.lines().next().unwrap_or("").chars().take(160).collect();
        // The plan is right and the attempt went wrong: one more, told what failed. Only when
        // that fails too does a person decide.
        if !conv.called_on("retry_task", failed.id.as_str()) {
            return Turn::think(format!(
                "{heard}{} failed for good after {} attempts ({why}). The task itself is right; the attempts went wrong. One more attempt, starting from that error.",
                failed.id, failed.attempt
            ))
            .call(
                "retry_task",
                json!({
                    "task": failed.id,
                    "guidance": format!("The last attempt failed: {why}. Reproduce that failure with the narrowest test first, fix its cause, then run the whole suite before you complete."),
                }),
            );
        }
        if !asked {
            return Turn::think(format!(
                "{heard}{} failed after {} attempts ({why}). I will not burn more budget guessing; a person should decide.",
                failed.id, failed.attempt
            ))
            .call(
                "ask_human",
                json!({ "question": format!("{} \"{}\" failed after {} attempts: {why}. Retry it (r) once the cause is fixed, or cancel it (x)?", failed.id, failed.title, failed.attempt) }),
            );
        }
    }
    let running: Vec<String> = ctx
        .plan
        .iter()
        .filter(|t| t.status.is_active())
        .map(|t| format!("{} ({})", t.id, t.role))
        .collect();
    let lead = pick(
        &mut rng,
        &["Checking the board.", "Progress review.", "Status check."],
    );
    Turn::think(format!(
        "{heard}{lead} {done} of {} tasks done. In progress: {}. Nothing to re-plan; the dependencies still hold.",
        ctx.plan.len(),
        if running.is_empty() {
            "none yet".to_owned()
        } else {
            running.join(", ")
        }
    ))
}

fn plan(app: &App, rng: &mut fastrand::Rng, heard: String) -> Turn {
    let lead = pick(
        rng,
        &[
            "Breaking the goal down.",
            "Planning the work.",
            "First, a plan.",
        ],
    );
    let mut turn = Turn::think(format!(
        "{heard}{lead} Goal: \"{}\". The smallest thing that fully meets it is a {} CLI in plain \
         Python (no dependencies, so it runs anywhere), with unit tests, docs, a review and a \
         smoke-tested release. Design comes first; the store, then the CLI, depend on it. The \
         README and launch page only need the design, so growth can work in parallel with \
         engineering. QA and review both wait for the CLI, and the release waits for both.",
        app.goal, app.title
    ));
    for p in &PLAN {
        let deps: Vec<String> = p.deps.iter().map(|d| format!("T{}", d + 1)).collect();
        let mut args = json!({
            "title": app.fill(p.title),
            "description": app.fill(p.description),
            "role": p.role,
            "depends_on": deps,
        });
        // QA's task is done only when the engine has run the whole suite itself.
        if p.key == "qa" {
            args["acceptance"] =
                json!("tests/test_cli.py covers every command; the whole suite passes");
            args["check"] = json!(app.test_command());
        }
        turn = turn.call("create_task", args);
    }
    turn
}

/// The plan was cut short (the process stopped while it was being made): add what is missing,
/// wiring dependencies to the tasks that exist and to the ones being added.
fn complete_plan(
    app: &App,
    ctx: &crate::llm::RequestContext,
    missing: &[usize],
    heard: String,
) -> Turn {
    let id_of = |i: usize| -> String {
        match ctx.plan.iter().find(|t| t.title == app.fill(PLAN[i].title)) {
            Some(t) => t.id.to_string(),
            None => format!(
                "T{}",
                ctx.plan.len() + missing.iter().position(|m| *m == i).unwrap_or(0) + 1
            ),
        }
    };
    let mut turn = Turn::think(format!(
        "{heard}The plan has {} of its {} tasks; the rest never got created (the run was interrupted while I planned). Adding the missing {} with their dependencies.",
        ctx.plan.len(),
        PLAN.len(),
        missing.len()
    ));
    for &i in missing {
        let p = &PLAN[i];
        let deps: Vec<String> = p.deps.iter().map(|d| id_of(*d)).collect();
        turn = turn.call("create_task", json!({ "title": app.fill(p.title), "description": app.fill(p.description), "role": p.role, "depends_on": deps }));
    }
    turn
}

fn finish(app: &App, total: usize, done: usize, heard: String) -> Turn {
    let summary = format!(
        "Delivered {} ({}): {done} of {total} tasks done. `python3 -m {} --help` works; the test suite \
         and the release smoke test pass (see the QA and ops evidence). Docs: README.md, LAUNCH.md \
         (pricing), DESIGN.md, REVIEW.md. [SIMULATED company]",
        app.title, app.module, app.module
    );
    Turn::think(format!(
        "{heard}Every task is settled and the evidence is in. Closing the run."
    ))
    .call("finish_run", json!({ "summary": summary }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::TaskId;
    use crate::llm::{Message, RequestContext, TaskBrief};

    fn request(plan: Vec<TaskBrief>) -> LlmRequest {
        LlmRequest {
            model: "sim-1".into(),
            system: String::new(),
            messages: vec![Message::user("The run is resuming.")],
            tools: Vec::new(),
            max_output_tokens: 100,
            reasoning: None,
            context: RequestContext {
                role: "supervisor".into(),
                goal: "Build a command-line todo app".into(),
                task: None,
                plan,
                seed: 1,
                concurrency: 3,
            },
        }
    }

    #[test]
    fn a_plan_cut_short_by_a_crash_is_completed_with_the_right_dependencies() {
        let app = App::for_goal("Build a command-line todo app");
        let plan: Vec<TaskBrief> = PLAN[..3]
            .iter()
            .enumerate()
            .map(|(i, p)| TaskBrief {
                id: TaskId::numbered(i + 1),
                title: app.fill(p.title),
                role: p.role.into(),
                status: TaskStatus::Pending,
                attempt: 0,
                failures: vec![],
            })
            .collect();
        let turn = respond(&request(plan));
        let created: Vec<(String, Vec<String>)> = turn
            .calls
            .iter()
            .map(|c| {
                (
                    c.arguments["role"].as_str().unwrap_or("").to_owned(),
                    serde_json::from_value(c.arguments["depends_on"].clone()).unwrap_or_default(),
                )
            })
            .collect();
        assert_eq!(
            created,
            vec![
                ("growth".into(), vec!["T1".into()]),
                ("qa".into(), vec!["T3".into()]),
                ("reviewer".into(), vec!["T3".into()]),
                ("ops".into(), vec!["T5".into(), "T6".into()]),
            ]
        );
    }
}
