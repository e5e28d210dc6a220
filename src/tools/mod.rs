//! The tools agents call: a registry with JSON schemas, argument parsing that answers a
//! model's mistakes with a readable error, workspace-confined file tools and `run_command`.
//! Tools return results to the engine; they never write events themselves.

mod command;
mod error;
mod files;
pub mod git;
mod registry;
mod workspace;

pub use command::CommandLimits;
pub use error::ToolError;
pub use files::diffstat;
pub use registry::{ToolCall, ToolSpec, specs};
pub use workspace::Workspace;

use crate::domain::policy::Effect;
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

    /// Runs a workspace tool. Engine tools (`create_task`, `complete_task`, …) are handled by
    /// the engine and are refused here.
    pub async fn execute(
        &self,
        call: &ToolCall,
        cancel: &CancellationToken,
    ) -> Result<ToolOutput, ToolError> {
        if let ToolCall::RunCommand { command, timeout_s } = call {
            return command::run_command(&self.ws, command, *timeout_s, &self.limits, cancel).await;
        }
        let ws = self.ws.clone();
        let call = call.clone();
        tokio::task::spawn_blocking(move || match &call {
            ToolCall::ReadFile { path } => files::read_file(&ws, path),
            ToolCall::WriteFile { path, content } => files::write_file(&ws, path, content),
            ToolCall::EditFile { path, old, new } => files::edit_file(&ws, path, old, new),
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

    /// A one-line description of the risk, for approval requests.
    pub fn risk(&self) -> String {
        match self {
            ToolCall::RunCommand { .. } => {
                "runs a program in the workspace: it may change or delete files there, cannot be undone, and can reach the network".into()
            }
            ToolCall::WriteFile { path, .. } | ToolCall::EditFile { path, .. } => {
                format!("changes {path} inside the workspace (reversible from the event log)")
            }
            _ => "reads only".into(),
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
            ToolCall::ReadFile { path } => format!("read {path}"),
            ToolCall::ListFiles { path } => format!("list {}", path.as_deref().unwrap_or(".")),
            ToolCall::SearchFiles { pattern, .. } => format!("search for /{pattern}/"),
            ToolCall::CreateTask { title, role, .. } => format!("create task for {role}: {title}"),
            ToolCall::CompleteTask { summary, .. } => format!("complete task: {summary}"),
            ToolCall::FailTask { reason } => format!("fail task: {reason}"),
            ToolCall::AskHuman { question } => format!("ask a person: {question}"),
            ToolCall::FinishRun { summary } => format!("finish the run: {summary}"),
        }
    }
}
