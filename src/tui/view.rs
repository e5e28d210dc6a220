//! The client's view model: the run state (folded from the snapshot and live events), the
//! transcripts of every agent and the log lines. Built only from what the session delivers.

use super::transcript::{LineKind, Transcript};
use crate::domain::describe::{describe, one_line};
use crate::domain::{
    AgentId, ApprovalDecision, Event, EventRecord, LogLevel, RunState, TaskStatus,
};
use std::collections::{HashMap, VecDeque};

/// Log lines kept in memory (the store keeps every event; `export` reads them all).
pub const MAX_LOG_LINES: usize = 10_000;
/// Agents whose transcripts are kept: the newest; a longer run's older agents are in the store.
pub const MAX_TRANSCRIPTS: usize = 64;

#[derive(Debug, Clone)]
pub struct LogLine {
    pub seq: u64,
    pub ts_ms: u64,
    pub level: LogLevel,
    pub who: String,
    pub text: String,
}

#[derive(Debug, Default)]
pub struct View {
    pub state: RunState,
    pub transcripts: HashMap<AgentId, Transcript>,
    pub logs: VecDeque<LogLine>,
    /// Depth of each task in the graph (longest chain of dependencies below it), kept as tasks
    /// arrive so drawing the graph never walks it.
    pub depths: HashMap<crate::domain::TaskId, usize>,
    /// The oldest event shown: older ones are read back from the store on demand
    /// (`tui::history`).
    pub first_seq: u64,
    /// Each agent's current request: how much of its text is shown and recorded.
    pub(super) cursors: HashMap<AgentId, super::live::Cursor>,
    /// Approvals asked in the records drawn and not answered there yet, with their agents, the
    /// newest [`ASKED_KEPT`]: an answer is drawn in its agent's transcript, and the state keeps
    /// only the latest answered approvals.
    pub(super) asked: VecDeque<(crate::domain::ApprovalId, AgentId)>,
}

/// Approvals asked whose answers the view can still place (see `View::asked`).
const ASKED_KEPT: usize = 256;

fn level_of(event: &Event) -> Option<LogLevel> {
    Some(match event {
        Event::AgentDelta { .. } => return None,
        Event::Log { level, .. } => *level,
        Event::ToolCallFinished { ok: false, .. } => LogLevel::Warn,
        Event::TaskStatusChanged {
            status: TaskStatus::Failed,
            ..
        }
        | Event::BudgetExceeded { .. } => LogLevel::Warn,
        Event::LlmRequestFinished { stop_reason, .. } if stop_reason.starts_with("error") => {
            LogLevel::Error
        }
        Event::LlmRequestStarted { .. }
        | Event::LlmRequestFinished { .. }
        | Event::ToolCallRequested { .. }
        | Event::ToolCallFinished { .. } => LogLevel::Debug,
        Event::AgentStatusChanged { .. } => LogLevel::Debug,
        _ => LogLevel::Info,
    })
}

impl View {
    /// A view of `state`, with transcripts and logs rebuilt from `backlog` (records the state
    /// already contains).
    pub fn new(state: RunState, backlog: &[EventRecord]) -> Self {
        let first_seq = backlog.first().map_or(state.last_seq + 1, |r| r.seq);
        let mut v = View {
            state,
            first_seq,
            ..View::default()
        };
        for r in backlog {
            v.record(r);
        }
        v
    }

    /// A live record: applied to the state, then shown.
    pub fn ingest(&mut self, rec: &EventRecord) {
        if rec.seq <= self.state.last_seq {
            return; // already folded in (a resubscription overlaps)
        }
        self.state.apply(rec);
        self.record(rec);
    }

    fn add_depth(&mut self, id: crate::domain::TaskId, deps: &[crate::domain::TaskId]) {
        let d = deps
            .iter()
            .filter_map(|d| self.depths.get(d))
            .map(|d| d + 1)
            .max()
            .unwrap_or(0);
        self.depths.insert(id, d);
    }

    pub fn depth(&self, id: &crate::domain::TaskId) -> usize {
        self.depths.get(id).copied().unwrap_or(0)
    }

    pub(super) fn transcript(&mut self, agent: &AgentId) -> &mut Transcript {
        if !self.transcripts.contains_key(agent) && self.transcripts.len() >= MAX_TRANSCRIPTS {
            self.forget_a_transcript();
        }
        self.transcripts.entry(agent.clone()).or_default()
    }

    /// Drops the transcript of the agent least likely to be looked at: one the state no longer
    /// lists, else the earliest listed that is idle, else the earliest listed.
    fn forget_a_transcript(&mut self) {
        let listed = |id: &AgentId| self.state.agents.iter().position(|a| &a.id == id);
        let idle = |id: &AgentId| {
            self.state
                .agents
                .iter()
                .any(|a| &a.id == id && a.status == crate::domain::AgentStatus::Idle)
        };
        let victim = self
            .transcripts
            .keys()
            .min_by_key(|id| match listed(id) {
                None => (0, 0),
                Some(i) if idle(id) => (1, i),
                Some(i) => (2, i),
            })
            .cloned();
        if let Some(id) = victim {
            self.transcripts.remove(&id);
        }
    }

    pub(super) fn record(&mut self, rec: &EventRecord) {
        if let Some(level) = level_of(&rec.event) {
            let (who, text) = describe(&rec.event);
            self.logs.push_back(LogLine {
                seq: rec.seq,
                ts_ms: rec.ts_ms,
                level,
                who,
                text,
            });
            if self.logs.len() > MAX_LOG_LINES {
                self.logs.pop_front();
            }
        }
        match &rec.event {
            Event::TaskCreated {
                task, depends_on, ..
            } if !self.depths.contains_key(task) => self.add_depth(task.clone(), depends_on),
            Event::AgentDelta { agent, kind, text } => self.recorded_delta(agent, *kind, text),
            Event::LlmRequestStarted {
                agent,
                task,
                step,
                model,
                ..
            } => self.recorded_step(agent, task, *step, model),
            Event::LlmRequestFinished {
                agent, stop_reason, ..
            } if stop_reason.starts_with("error") || stop_reason.starts_with("cancelled") => {
                self.transcript(agent)
                    .push(LineKind::ToolErr, &format!("⨯ {stop_reason}"));
            }
            Event::ToolCallRequested {
                agent,
                call,
                tool,
                args,
                ..
            } => {
                self.transcript(agent).tool_call(call.as_str(), tool, args);
            }
            Event::ToolCallFinished {
                agent,
                call,
                ok,
                output,
                ..
            } => {
                self.transcript(agent)
                    .tool_result(call.as_str(), *ok, output);
            }
            Event::ApprovalRequested {
                approval,
                agent,
                summary,
                risk,
                label,
                ..
            } => {
                let risk = label.as_ref().map_or_else(|| risk.clone(), |l| l.badges());
                self.transcript(agent).push(
                    LineKind::Approval,
                    &format!("⚠ {approval} needs approval: {summary} ({risk})"),
                );
                if self.asked.len() >= ASKED_KEPT {
                    self.asked.pop_front();
                }
                self.asked.push_back((approval.clone(), agent.clone()));
            }
            Event::ApprovalResolved {
                approval,
                decision,
                by,
            } => {
                let asked = self.asked.iter().rposition(|(id, _)| id == approval);
                let asked = asked.and_then(|i| self.asked.remove(i)).map(|(_, a)| a);
                let agent =
                    asked.or_else(|| self.state.approval(approval).map(|a| a.agent.clone()));
                if let Some(agent) = agent {
                    let d = match decision {
                        ApprovalDecision::Approve => "✔ approved".to_owned(),
                        ApprovalDecision::ApproveAlways => {
                            "✔ approved (always for this kind)".to_owned()
                        }
                        ApprovalDecision::Deny { reason } => format!("✘ denied: {reason}"),
                    };
                    self.transcript(&agent)
                        .push(LineKind::Approval, &format!("{d} — {approval} by {by}"));
                }
            }
            Event::HumanMessage { target, text, by } => {
                self.transcript(target)
                    .push(LineKind::Human, &format!("✉ {by}: {text}"));
            }
            Event::TaskAssigned {
                task,
                agent,
                attempt,
            } => {
                let title = self
                    .state
                    .task(task)
                    .map(|t| t.title.clone())
                    .unwrap_or_default();
                self.transcript(agent).push(
                    LineKind::Task,
                    &format!("═══ {task} · attempt {attempt} · {title} ═══"),
                );
            }
            Event::TaskCompleted { task, summary, .. } => {
                if let Some(agent) = self.state.task(task).and_then(|t| t.agent.clone()) {
                    self.transcript(&agent).push(
                        LineKind::Task,
                        &format!("═══ {task} done: {} ═══", one_line(summary, 200)),
                    );
                }
            }
            _ => {}
        }
    }
}
