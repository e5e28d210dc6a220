//! The tools agents call: a registry with JSON schemas, argument parsing that answers a
//! model's mistakes with a readable error, workspace-confined file tools and `run_command`.
//! Tools return results to the engine; they never write events themselves.

mod changes;
mod command;
mod edit;
mod error;
mod files;
pub mod git;
mod lines;
mod output;
mod output_log;
mod read;
mod registry;
pub mod sandbox;
mod syntax;
mod workspace;

/// How a long command output is shown to the model, and where all of it is kept.
pub use output::{HEAD_LINES, TAIL_LINES};
pub use output_log::DIR as OUTPUT_DIR;

pub use command::CommandLimits;
pub use error::ToolError;
pub use files::diffstat;
pub use registry::{NewTask, ToolCall, ToolSpec, specs};
pub use workspace::Workspace;

use crate::domain::policy::{Effect, Risk};
use tokio_util::sync::CancellationToken;

/// A file a tool changed, with its diffstat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileChange {
    pub path: String,
    pub added: u32,
    pub removed: u32,
}

/// What a tool returns to the model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolOutput {
    pub ok: bool,
    pub text: String,
    pub changes: Vec<FileChange>,
}

impl ToolOutput {
    pub fn ok(text: impl Into<String>) -> Self {
        Self {
            ok: true,
            text: text.into(),
            changes: Vec::new(),
        }
    }
}

/// The workspace tools of one run.
#[derive(Debug, Clone)]
pub struct Tools {
    ws: Workspace,
    limits: CommandLimits,
}

impl Tools {
    pub fn new(ws: Workspace, limits: CommandLimits) -> Self {
        Self { ws, limits }
    }

    pub fn workspace(&self) -> &Workspace {
        &self.ws
    }

    /// The same tools, working in another folder (a task's worktree).
    pub fn at(&self, ws: Workspace) -> Self {
        Self {
            ws,
            limits: self.limits,
        }
    }

    /// Runs a workspace tool; `network` grants a command the network. Engine tools
    /// (`create_task`, `complete_task`, …) are handled by the engine and are refused here.
    pub async fn execute(
        &self,
        call: &ToolCall,
        network: bool,
        cancel: &CancellationToken,
    ) -> Result<ToolOutput, ToolError> {
        if let ToolCall::RunCommand { command, timeout_s } = call {
            let limits = &self.limits;
            return command::run_command(&self.ws, command, *timeout_s, network, limits, cancel)
                .await;
        }
        let ws = self.ws.clone();
        let call = call.clone();
        tokio::task::spawn_blocking(move || match &call {
            ToolCall::ReadFile {
                path,
                offset,
                limit,
            } => read::read_file(&ws, path, *offset, *limit),
            ToolCall::WriteFile { path, content } => files::write_file(&ws, path, content),
            ToolCall::EditFile { path, old, new } => edit::edit_file(&ws, path, old, new),
            ToolCall::ListFiles { path } => files::list_files(&ws, path.as_deref().unwrap_or(".")),
            ToolCall::SearchFiles { pattern, path } => {
                files::search_files(&ws, pattern, path.as_deref().unwrap_or("."))
            }
            other => Err(ToolError::failed(format!(
                "{} is handled by the engine",
                other.name()
            ))),
        })
        .await
        .map_err(|e| ToolError::failed(format!("the tool stopped unexpectedly: {e}")))?
    }
}

impl ToolCall {
    /// What the call does to the world, for the policy.
    pub fn effect(&self) -> Effect {
        match self {
            ToolCall::WriteFile { .. } | ToolCall::EditFile { .. } => Effect::WorkspaceWrite,
            ToolCall::RunCommand { .. } => Effect::Command,
            _ => Effect::None,
        }
    }

    /// What the call puts at stake, for approval requests: `network` when the command may
    /// reach the network, `confined` when the sandbox keeps its writes in the workspace. A
    /// command that runs remote code is labelled so, and as reaching the network even where
    /// the sandbox takes the network away: the person sees what the agent tried.
    pub fn risk(&self, network: bool, confined: bool) -> Risk {
        match self {
            ToolCall::RunCommand { command, .. } => {
                let remote_code = crate::domain::remote_code::remote_code(command).is_some();
                Risk {
                    touches: if confined {
                        "files in the workspace (sandboxed)".into()
                    } else {
                        "any file this account can write (no sandbox)".into()
                    },
                    reversible: false,
                    network: network || remote_code,
                    remote_code,
                }
            }
            ToolCall::WriteFile { path, .. } | ToolCall::EditFile { path, .. } => Risk {
                touches: format!("{path} in the workspace (the old content stays in git)"),
                reversible: true,
                network: false,
                remote_code: false,
            },
            ToolCall::AskHuman { .. } => Risk {
                touches: "nothing: a question for a person".into(),
                reversible: true,
                network: false,
                remote_code: false,
            },
            _ => Risk {
                touches: "nothing (reads only)".into(),
                reversible: true,
                network: false,
                remote_code: false,
            },
        }
    }

    /// A short human summary of the call, for approvals and logs.
    pub fn summary(&self) -> String {
        match self {
            ToolCall::RunCommand { command, .. } => format!("run `{command}`"),
            ToolCall::WriteFile { path, content } => {
                format!("write {path} ({} bytes)", content.len())
            }
            ToolCall::EditFile { path, .. } => format!("edit {path}"),
            ToolCall::ReadFile { path, .. } => format!("read {path}"),
            ToolCall::ListFiles { path } => format!("list {}", path.as_deref().unwrap_or(".")),
            ToolCall::SearchFiles { pattern, .. } => format!("search for /{pattern}/"),
            ToolCall::CreateTask(t) => format!("create task for {}: {}", t.role, t.title),
            ToolCall::RetryTask { task, guidance } => format!("retry {task}: {guidance}"),
            ToolCall::CancelTask { task, reason } => format!("cancel {task}: {reason}"),
            ToolCall::CompleteTask { summary, .. } => format!("complete task: {summary}"),
            ToolCall::FailTask { reason } => format!("fail task: {reason}"),
            ToolCall::AskHuman { question } => format!("ask a person: {question}"),
            ToolCall::FinishRun { summary } => format!("finish the run: {summary}"),
        }
    }
}
