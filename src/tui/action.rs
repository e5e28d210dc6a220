//! Every user command, in one namespace shared by the keymap, the `:` command line and the help
//! overlay. Adding a command means adding a variant here and its handling in `app.rs` (or, for
//! the diff review's own commands, in `diff/keys.rs`).

/// Where a command's keys apply: everywhere, or only in the diff review, where they come
/// before the ones everywhere (so `a` approves the merge there and always-approves elsewhere).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Layer {
    Main,
    Diff,
}

/// A user command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    Help,
    FocusNext,
    FocusPrev,
    FocusAgents,
    FocusReasoning,
    FocusTasks,
    FocusLogs,
    Up,
    Down,
    Top,
    Bottom,
    PageUp,
    PageDown,
    Open,
    Zoom,
    ToggleView,
    ToggleRaw,
    PauseRun,
    PauseAgent,
    Inject,
    Approve,
    ApproveAlways,
    Deny,
    Examine,
    ExtendBudget,
    Retry,
    Cancel,
    Filter,
    SearchNext,
    SearchPrev,
    CommandLine,
    NextTheme,
    Detach,
    Stop,
    Close,
    Diff,
    NextHunk,
    PrevHunk,
    NextFile,
    PrevFile,
    FileList,
    Comment,
    Uncomment,
    ApproveMerge,
    RequestChanges,
}

impl Action {
    pub const ALL: [Action; 45] = [
        Action::Help,
        Action::FocusNext,
        Action::FocusPrev,
        Action::FocusAgents,
        Action::FocusReasoning,
        Action::FocusTasks,
        Action::FocusLogs,
        Action::Up,
        Action::Down,
        Action::Top,
        Action::Bottom,
        Action::PageUp,
        Action::PageDown,
        Action::Open,
        Action::Zoom,
        Action::ToggleView,
        Action::ToggleRaw,
        Action::PauseRun,
        Action::PauseAgent,
        Action::Inject,
        Action::Approve,
        Action::ApproveAlways,
        Action::Deny,
        Action::Examine,
        Action::ExtendBudget,
        Action::Retry,
        Action::Cancel,
        Action::Filter,
        Action::SearchNext,
        Action::SearchPrev,
        Action::CommandLine,
        Action::NextTheme,
        Action::Detach,
        Action::Stop,
        Action::Close,
        Action::Diff,
        Action::NextHunk,
        Action::PrevHunk,
        Action::NextFile,
        Action::PrevFile,
        Action::FileList,
        Action::Comment,
        Action::Uncomment,
        Action::ApproveMerge,
        Action::RequestChanges,
    ];

    /// The name used in the config (`[keys]`) and on the `:` command line.
    pub fn name(self) -> &'static str {
        match self {
            Action::Help => "help",
            Action::FocusNext => "focus-next",
            Action::FocusPrev => "focus-prev",
            Action::FocusAgents => "focus-agents",
            Action::FocusReasoning => "focus-reasoning",
            Action::FocusTasks => "focus-tasks",
            Action::FocusLogs => "focus-logs",
            Action::Up => "up",
            Action::Down => "down",
            Action::Top => "top",
            Action::Bottom => "bottom",
            Action::PageUp => "page-up",
            Action::PageDown => "page-down",
            Action::Open => "open",
            Action::Zoom => "zoom",
            Action::ToggleView => "view",
            Action::ToggleRaw => "raw",
            Action::PauseRun => "pause",
            Action::PauseAgent => "pause-agent",
            Action::Inject => "inject",
            Action::Approve => "approve",
            Action::ApproveAlways => "approve-always",
            Action::Deny => "deny",
            Action::Examine => "examine",
            Action::ExtendBudget => "extend-budget",
            Action::Retry => "retry",
            Action::Cancel => "cancel",
            Action::Filter => "filter",
            Action::SearchNext => "search-next",
            Action::SearchPrev => "search-prev",
            Action::CommandLine => "command",
            Action::NextTheme => "theme",
            Action::Detach => "quit",
            Action::Stop => "stop",
            Action::Close => "close",
            Action::Diff => "diff",
            Action::NextHunk => "next-hunk",
            Action::PrevHunk => "prev-hunk",
            Action::NextFile => "next-file",
            Action::PrevFile => "prev-file",
            Action::FileList => "files",
            Action::Comment => "comment",
            Action::Uncomment => "uncomment",
            Action::ApproveMerge => "approve-merge",
            Action::RequestChanges => "request-changes",
        }
    }

    pub fn description(self) -> &'static str {
        match self {
            Action::Help => "show this help",
            Action::FocusNext => "focus the next pane",
            Action::FocusPrev => "focus the previous pane",
            Action::FocusAgents => "focus the agents",
            Action::FocusReasoning => "focus the reasoning",
            Action::FocusTasks => "focus the task graph",
            Action::FocusLogs => "focus the logs",
            Action::Up => "move up / scroll up",
            Action::Down => "move down / scroll down",
            Action::Top => "go to the top",
            Action::Bottom => "go to the bottom (follow new text)",
            Action::PageUp => "page up",
            Action::PageDown => "page down",
            Action::Open => {
                "open the detail of the selection; in the reasoning, unfold / fold tool entries"
            }
            Action::Zoom => "zoom the focused pane / restore",
            Action::ToggleView => "switch: control room / grid of every agent",
            Action::ToggleRaw => {
                "reasoning: rendered Markdown / the raw text (tool calls as their JSON arguments)"
            }
            Action::PauseRun => "pause / resume the whole run",
            Action::PauseAgent => "pause / resume the selected agent",
            Action::Inject => "send a message to the selected agent (or the supervisor)",
            Action::Approve => "approve the oldest request",
            Action::ApproveAlways => "approve it and always allow this kind in this run",
            Action::Deny => "deny the oldest request (asks for a reason)",
            Action::Examine => "examine the oldest request: its risk, rule and arguments",
            Action::ExtendBudget => {
                "extend the budget reached last by its first amount (:budget sets any)"
            }
            Action::Retry => "retry the selected task",
            Action::Cancel => "cancel the selected task (asks to confirm)",
            Action::Filter => "filter the focused list / search the text",
            Action::SearchNext => "next match of the search, further down",
            Action::SearchPrev => "previous match of the search, further up",
            Action::CommandLine => "command line (:pause, :budget 10, :theme mono, …)",
            Action::NextTheme => "next theme",
            Action::Detach => {
                "leave: the run goes on in its server (with --foreground, it stays resumable)"
            }
            Action::Stop => "stop the run and quit (asks to confirm)",
            Action::Close => "close the popup / clear the filter",
            Action::Diff => "review the selected task's changes: its diff, with line comments",
            Action::NextHunk => "in a diff: the next hunk",
            Action::PrevHunk => "in a diff: the previous hunk",
            Action::NextFile => "in a diff: the next file",
            Action::PrevFile => "in a diff: the previous file",
            Action::FileList => "in a diff: the list of files with +/- counts (Enter jumps)",
            Action::Comment => "in a diff: comment on the line under the cursor",
            Action::Uncomment => "in a diff: delete the comment on the cursor's line",
            Action::ApproveMerge => "in a diff: approve the task's pending merge review",
            Action::RequestChanges => {
                "in a diff: request changes: the comments go to the task's agent as one message"
            }
        }
    }

    /// True for the commands that steer the run; a read-only viewer neither has nor shows them.
    pub fn steers(self) -> bool {
        matches!(
            self,
            Action::PauseRun
                | Action::PauseAgent
                | Action::Inject
                | Action::Approve
                | Action::ApproveAlways
                | Action::Deny
                | Action::ExtendBudget
                | Action::Retry
                | Action::Cancel
                | Action::Stop
                | Action::ApproveMerge
                | Action::RequestChanges
        )
    }

    /// Where the command's keys apply.
    pub fn layer(self) -> Layer {
        match self {
            Action::NextHunk
            | Action::PrevHunk
            | Action::NextFile
            | Action::PrevFile
            | Action::FileList
            | Action::Comment
            | Action::Uncomment
            | Action::ApproveMerge
            | Action::RequestChanges => Layer::Diff,
            _ => Layer::Main,
        }
    }

    pub fn from_name(name: &str) -> Option<Action> {
        Action::ALL.iter().copied().find(|a| a.name() == name)
    }
}
