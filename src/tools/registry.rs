//! The agent-facing tool contract: names, descriptions, JSON schemas, and parsing of a model's
//! arguments into [`ToolCall`]. The names are stable (DESIGN §4).

use super::ToolError;
use crate::domain::TaskId;
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::LazyLock;

#[derive(Debug, Clone)]
pub struct ToolSpec {
    pub name: &'static str,
    pub description: &'static str,
    pub parameters: Value,
}

/// The arguments of `create_task`: the task the supervisor plans.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewTask {
    pub title: String,
    pub description: String,
    pub role: String,
    #[serde(default)]
    pub depends_on: Vec<TaskId>,
    /// What done means, in words the worker and the reviewer check against.
    #[serde(default)]
    pub acceptance: Option<String>,
    /// A shell command the engine runs in the sandbox when the worker calls complete_task;
    /// the task completes only when it exits 0.
    #[serde(default)]
    pub check: Option<String>,
    /// A task this one replaces: its dependents wait for this one instead, and it is
    /// cancelled if it has not ended.
    #[serde(default)]
    pub replaces: Option<TaskId>,
}

/// A parsed tool call.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(
    tag = "tool",
    content = "args",
    rename_all = "snake_case",
    deny_unknown_fields
)]
pub enum ToolCall {
    CreateTask(NewTask),
    RetryTask {
        task: TaskId,
        guidance: String,
    },
    CancelTask {
        task: TaskId,
        reason: String,
    },
    FinishRun {
        summary: String,
    },
    CompleteTask {
        summary: String,
        #[serde(default)]
        evidence: String,
    },
    FailTask {
        reason: String,
    },
    AskHuman {
        question: String,
    },
    ReadFile {
        path: String,
        /// The first line shown, 1-based.
        #[serde(default)]
        offset: Option<u64>,
        /// How many lines to show.
        #[serde(default)]
        limit: Option<u64>,
    },
    WriteFile {
        path: String,
        content: String,
    },
    EditFile {
        path: String,
        old: String,
        new: String,
    },
    ListFiles {
        #[serde(default)]
        path: Option<String>,
    },
    SearchFiles {
        pattern: String,
        #[serde(default)]
        path: Option<String>,
    },
    RunCommand {
        command: String,
        #[serde(default)]
        timeout_s: Option<u64>,
    },
}

impl ToolCall {
    /// Parses a model's call. Unknown tools, missing or mistyped arguments become an error the
    /// model can read and correct.
    pub fn parse(name: &str, args: &Value) -> Result<Self, ToolError> {
        let Some(spec) = specs().iter().find(|s| s.name == name) else {
            let names: Vec<&str> = specs().iter().map(|s| s.name).collect();
            return Err(ToolError::BadArguments {
                tool: name.to_owned(),
                detail: format!("there is no such tool; the tools are {}", names.join(", ")),
            });
        };
        let args = match args {
            Value::Null => json!({}),
            Value::Object(_) => args.clone(),
            other => {
                return Err(ToolError::BadArguments {
                    tool: name.to_owned(),
                    detail: format!("arguments must be a JSON object, got {other}"),
                });
            }
        };
        serde_json::from_value(json!({ "tool": spec.name, "args": args })).map_err(|e| {
            ToolError::BadArguments {
                tool: name.to_owned(),
                detail: e.to_string(),
            }
        })
    }

    /// The command and the path a policy rule may match on.
    pub fn targets(&self) -> (Option<&str>, Option<&str>) {
        match self {
            ToolCall::RunCommand { command, .. } => (Some(command), None),
            ToolCall::ReadFile { path, .. }
            | ToolCall::WriteFile { path, .. }
            | ToolCall::EditFile { path, .. } => (None, Some(path)),
            ToolCall::ListFiles { path } | ToolCall::SearchFiles { path, .. } => {
                (None, Some(path.as_deref().unwrap_or(".")))
            }
            _ => (None, None),
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            ToolCall::CreateTask(_) => "create_task",
            ToolCall::RetryTask { .. } => "retry_task",
            ToolCall::CancelTask { .. } => "cancel_task",
            ToolCall::FinishRun { .. } => "finish_run",
            ToolCall::CompleteTask { .. } => "complete_task",
            ToolCall::FailTask { .. } => "fail_task",
            ToolCall::AskHuman { .. } => "ask_human",
            ToolCall::ReadFile { .. } => "read_file",
            ToolCall::WriteFile { .. } => "write_file",
            ToolCall::EditFile { .. } => "edit_file",
            ToolCall::ListFiles { .. } => "list_files",
            ToolCall::SearchFiles { .. } => "search_files",
            ToolCall::RunCommand { .. } => "run_command",
        }
    }

    /// True for tools the engine carries out (task and run bookkeeping).
    pub fn is_engine_tool(&self) -> bool {
        matches!(
            self,
            ToolCall::CreateTask(_)
                | ToolCall::RetryTask { .. }
                | ToolCall::CancelTask { .. }
                | ToolCall::FinishRun { .. }
                | ToolCall::CompleteTask { .. }
                | ToolCall::FailTask { .. }
                | ToolCall::AskHuman { .. }
        )
    }
}

fn object(props: Value, required: &[&str]) -> Value {
    json!({ "type": "object", "properties": props, "required": required, "additionalProperties": false })
}

static SPECS: LazyLock<Vec<ToolSpec>> = LazyLock::new(|| {
    let s = |d: &str| json!({ "type": "string", "description": d });
    vec![
        ToolSpec {
            name: "create_task",
            description: "Add a task to the plan (supervisor only). depends_on: ids that must be done first. acceptance: what done means, checkable. check: a shell command the engine runs in the sandbox at complete_task; the task completes only if it exits 0. replaces: a failed or unneeded task this one stands in for; its dependents are re-pointed here and it is cancelled.",
            parameters: object(
                json!({
                    "title": s("Short imperative title"),
                    "description": s("What to do, with the files and interfaces involved"),
                    "role": s("architect, engineer, qa, reviewer, ops or growth"),
                    "depends_on": { "type": "array", "items": { "type": "string" }, "description": "Task ids, e.g. [\"T1\"]" },
                    "acceptance": s("Acceptance criteria"),
                    "check": s("Command that must exit 0 before the task can complete, e.g. python3 -m unittest"),
                    "replaces": s("Id of the task this one replaces")
                }),
                &["title", "description", "role"],
            ),
        },
        ToolSpec {
            name: "retry_task",
            description: "Start a failed, cancelled or blocked task again, with guidance for the next attempt (supervisor only).",
            parameters: object(
                json!({ "task": s("Task id, e.g. T3"), "guidance": s("What to do differently this time") }),
                &["task", "guidance"],
            ),
        },
        ToolSpec {
            name: "cancel_task",
            description: "Cancel a task that is not needed or cannot succeed (supervisor only). Its dependents stay blocked until you cancel them too or create a task that replaces it.",
            parameters: object(
                json!({ "task": s("Task id"), "reason": s("Why") }),
                &["task", "reason"],
            ),
        },
        ToolSpec {
            name: "finish_run",
            description: "End the run when the goal is met: every task done or cancelled (supervisor only).",
            parameters: object(json!({ "summary": s("What was delivered") }), &["summary"]),
        },
        ToolSpec {
            name: "complete_task",
            description: "Mark your task done, with a summary and the evidence that proves it (command output). Call it alone in its turn, after you have seen the results of your other calls. If the task has a check command, the engine runs it first and refuses on failure.",
            parameters: object(
                json!({ "summary": s("What you did"), "evidence": s("Proof: command output, files") }),
                &["summary", "evidence"],
            ),
        },
        ToolSpec {
            name: "fail_task",
            description: "Give up on your task with the reason; it may be retried.",
            parameters: object(
                json!({ "reason": s("Why it cannot be done now") }),
                &["reason"],
            ),
        },
        ToolSpec {
            name: "ask_human",
            description: "Ask the person steering the run a question; the answer arrives as a message.",
            parameters: object(json!({ "question": s("The question") }), &["question"]),
        },
        ToolSpec {
            name: "read_file",
            description: "Read a text file: up to 400 lines (48 KB) from `offset`, each line prefixed with its number and a tab (not part of the file); lines over 2000 bytes are cut. The last line says how to read on when there is more.",
            parameters: object(
                json!({
                    "path": s("Path relative to the workspace root"),
                    "offset": { "type": "integer", "minimum": 1, "description": "First line to show, 1-based; default 1" },
                    "limit": { "type": "integer", "minimum": 1, "description": "Lines to show; default 400" }
                }),
                &["path"],
            ),
        },
        ToolSpec {
            name: "write_file",
            description: "Create or replace a whole file (folders are made). Returns its size and line count, and the first syntax error of a TOML, JSON, YAML or Python file (the file is written anyway). To change part of a file, use edit_file.",
            parameters: object(
                json!({ "path": s("Path relative to the workspace root"), "content": s("The whole new content") }),
                &["path", "content"],
            ),
        },
        ToolSpec {
            name: "edit_file",
            description: "Replace the one exact occurrence of `old` with `new` in a file: whitespace counts, no line-number prefixes. Read the file first. Returns the changed lines, numbered, with context, and the first syntax error of a TOML, JSON, YAML or Python file. If `old` is not found or occurs more than once, nothing changes and the answer shows the closest match or the occurrences' lines.",
            parameters: object(
                json!({ "path": s("Path relative to the workspace root"), "old": s("Exact text to replace; must occur once"), "new": s("Replacement") }),
                &["path", "old", "new"],
            ),
        },
        ToolSpec {
            name: "list_files",
            description: "List the files under a folder, recursively: at most 500 entries; .git, .macrohard, target, node_modules and __pycache__ are skipped.",
            parameters: object(
                json!({ "path": s("Folder relative to the workspace root; default .") }),
                &[],
            ),
        },
        ToolSpec {
            name: "search_files",
            description: "Search file contents with a regular expression (Rust syntax), line by line: path:line: text, at most 200 matches; skips what list_files skips.",
            parameters: object(
                json!({ "pattern": s("Regular expression"), "path": s("Folder or file; default .") }),
                &["pattern"],
            ),
        },
        ToolSpec {
            name: "run_command",
            description: "Run a shell command (sh -c) in the workspace root, sandboxed where the system allows: no network unless granted, stdin closed, killed after timeout_s (default 120, at most 1800). No interactive programs, no servers in the foreground. Returns the exit code and the output (stdout and stderr together): the first 50 and last 150 lines, long lines cut; when lines are left out, the whole output is in a file under .macrohard/output/ to read with read_file. Files it creates, changes or deletes are recorded with your task.",
            parameters: object(
                json!({ "command": s("Shell command"), "timeout_s": { "type": "integer", "minimum": 1, "description": "Seconds before it is killed; default 120" } }),
                &["command"],
            ),
        },
    ]
});

/// Every tool, in a stable order.
pub fn specs() -> &'static [ToolSpec] {
    &SPECS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spec_parses_and_names_round_trip() {
        for spec in specs() {
            assert_eq!(spec.parameters["type"], "object", "{}", spec.name);
        }
        let call =
            ToolCall::parse("write_file", &json!({"path": "a.txt", "content": "x"})).unwrap();
        assert_eq!(call.name(), "write_file");
        let call = ToolCall::parse("list_files", &Value::Null).unwrap();
        assert_eq!(call, ToolCall::ListFiles { path: None });
    }

    #[test]
    fn model_mistakes_become_readable_errors() {
        let e = ToolCall::parse("write_file", &json!({"path": "a.txt"}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("content"), "{e}");
        let e = ToolCall::parse("run_command", &json!({"command": 5}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("run_command"), "{e}");
        let e = ToolCall::parse("rm_rf", &json!({}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("no such tool"), "{e}");
        let e = ToolCall::parse("read_file", &json!({"path": "a", "bogus": 1}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("bogus"), "{e}");
        assert!(ToolCall::parse("read_file", &json!("a")).is_err());
    }
}
