/// Why a tool call could not be carried out. The text goes back to the model as the tool
/// result, so it says what to do instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ToolError {
    #[error(
        "path {path:?} is refused: {why}. Use a path relative to the workspace root, inside it"
    )]
    Confinement { path: String, why: String },
    #[error("bad arguments for {tool}: {detail}")]
    BadArguments { tool: String, detail: String },
    #[error("unknown tool {0:?}")]
    UnknownTool(String),
    #[error("{0}")]
    Failed(String),
}

impl ToolError {
    pub fn failed(msg: impl Into<String>) -> Self {
        Self::Failed(msg.into())
    }
}
