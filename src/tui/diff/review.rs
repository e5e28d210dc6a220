//! A person's review of a task's diff: comments on lines, the one message they become, and
//! what `approve` and `request changes` send for the task as the run stands.

use crate::domain::{AgentId, ApprovalId, RunState, TaskId, TaskStatus};

/// Which side of the diff a line number counts on: a removed line has only an old number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    Old,
    New,
}

/// A comment on one line of a file of the diff.
#[derive(Debug, Clone, PartialEq)]
pub struct Comment {
    pub path: String,
    pub side: Side,
    pub line: u32,
    /// The line's text, quoted in the message.
    pub quote: String,
    pub text: String,
}

impl Comment {
    /// `path:line`, marked when the line is one the task removed.
    pub fn anchor(&self) -> String {
        match self.side {
            Side::New => format!("{}:{}", self.path, self.line),
            Side::Old => format!("{}:{} (a removed line)", self.path, self.line),
        }
    }
}

/// The one message every comment of a review becomes, for the agent (as a deny reason or a
/// message): a first line saying what it is, then each comment with the line it is about.
pub fn message(task: &TaskId, comments: &[Comment]) -> String {
    let mut out = format!("Review of {task} by a person: please change the following.");
    for c in comments {
        out.push_str(&format!("\n- {}: {}", c.anchor(), one_line(&c.text)));
        let quote = one_line(c.quote.trim_end());
        if !quote.trim().is_empty() {
            out.push_str(&format!("\n  > {quote}"));
        }
    }
    out
}

fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c == '\n' || c == '\r' { ' ' } else { c })
        .collect()
}

/// What a decision on the review sends, or why it sends nothing.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Approve(ApprovalId),
    Deny(ApprovalId, String),
    /// No merge review waits, but the task is still at work: the comments go to its agent.
    Tell(AgentId, String),
    Nothing(String),
}

/// The merge review waiting for a person's answer on `task`, if one is.
pub fn pending_review<'a>(state: &'a RunState, task: &TaskId) -> Option<&'a ApprovalId> {
    state
        .pending_approvals()
        .find(|a| a.tool == "merge" && a.task.as_ref() == Some(task))
        .map(|a| &a.id)
}

/// The agent of `task` while it is still at work on it.
fn working_agent<'a>(state: &'a RunState, task: &TaskId) -> Option<&'a AgentId> {
    let t = state.task(task)?;
    let active = matches!(
        t.status,
        TaskStatus::Running | TaskStatus::AwaitingApproval | TaskStatus::Conflict
    );
    t.agent.as_ref().filter(|_| active)
}

/// `approve`: the pending merge review, approved.
pub fn approve(state: &RunState, task: &TaskId) -> Verdict {
    match pending_review(state, task) {
        Some(id) => Verdict::Approve(id.clone()),
        None => Verdict::Nothing(format!(
            "nothing approved: no merge review of {task} is waiting{}",
            match state.task(task).map(|t| t.status) {
                Some(s) => format!(" ({task} is {s})"),
                None => String::new(),
            }
        )),
    }
}

/// `request changes`: the comments as one message, as the reason the merge review is denied
/// or, with none waiting and the task at work, as a message to its agent.
pub fn request_changes(state: &RunState, task: &TaskId, comments: &[Comment]) -> Verdict {
    if comments.is_empty() {
        return Verdict::Nothing("nothing sent: comment on a line first".into());
    }
    let text = message(task, comments);
    if let Some(id) = pending_review(state, task) {
        return Verdict::Deny(id.clone(), text);
    }
    match working_agent(state, task) {
        Some(agent) => Verdict::Tell(agent.clone(), text),
        None => Verdict::Nothing(format!(
            "nothing sent: no merge review of {task} is waiting and it is not at work{}",
            match state.task(task).map(|t| t.status) {
                Some(s) => format!(" ({s})"),
                None => String::new(),
            }
        )),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn comment(path: &str, side: Side, line: u32, quote: &str, text: &str) -> Comment {
        Comment {
            path: path.into(),
            side,
            line,
            quote: quote.into(),
            text: text.into(),
        }
    }

    #[test]
    fn the_message_names_each_line_and_quotes_it() {
        let m = message(
            &TaskId::from("T3"),
            &[
                comment("src/app.py", Side::New, 12, "    x = 1  ", "use a constant"),
                comment(
                    "src/old.py",
                    Side::Old,
                    4,
                    "def keep():",
                    "why remove\nthis?",
                ),
                comment("README.md", Side::New, 1, "", "typo"),
            ],
        );
        assert_eq!(
            m,
            "Review of T3 by a person: please change the following.\n\
             - src/app.py:12: use a constant\n\
             \x20 >     x = 1\n\
             - src/old.py:4 (a removed line): why remove this?\n\
             \x20 > def keep():\n\
             - README.md:1: typo"
        );
    }
}
