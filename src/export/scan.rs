//! One pass over a run's records for the report: what each record-dependent section needs,
//! gathered as the records go by, so a report never holds the records themselves.
//!
//! Invariant: what a [`Scan`] keeps is bounded by what the report prints (its history,
//! decisions, episodes and file table), by the run's agents, files and models, and by a
//! constant — never by the number of events (deltas, requests and tool calls leave nothing).

use super::literal::md;
use super::markdown::cell;
use super::rfc3339;
use crate::domain::{
    AgentStatus, ApprovalDecision, ApprovalId, Autonomy, BudgetTarget, Event, EventRecord,
    RunStatus,
};
use std::collections::BTreeMap;

/// A row of "Decisions by people" whose text may name an approval (resolved against the
/// final state when the report is written).
pub(super) struct Decision {
    pub ts_ms: u64,
    pub seq: u64,
    pub who: String,
    pub what: String,
    /// The approval the row resolves: its request is described after `what`.
    pub approval: Option<ApprovalId>,
}

/// A stuck agent or a reached budget, and how it ended once a later record says so.
pub(super) struct Episode {
    pub seq: u64,
    pub ts_ms: u64,
    /// Printed as `{head}{end or default}`.
    pub head: String,
    pub end: Option<String>,
    pub default_end: &'static str,
    until: Until,
}

/// What ends an open episode.
enum Until {
    /// The agent's next non-stuck status, or a message to it.
    Agent(String),
    /// A budget change of the target.
    Budget(BudgetTarget),
}

/// Tasks, agents, lines added, lines removed.
pub(super) type Touched = (Vec<String>, Vec<String>, u32, u32);

/// Requests, tokens in, tokens out, cost, unpriced requests.
pub(super) type ModelCost = (u64, u64, u64, f64, u64);

#[derive(Default)]
pub(super) struct Scan {
    pub history: Vec<String>,
    pub decisions: Vec<Decision>,
    /// Every approval asked, as it ended (the run's state keeps only the latest answered).
    pub approvals: Vec<crate::domain::state::ApprovalState>,
    pub first_autonomy: Option<Autonomy>,
    pub denied_by_policy: u64,
    pub episodes: Vec<Episode>,
    /// Indices in `episodes` of the ones not ended yet (at most one per agent and budget).
    open: Vec<usize>,
    last_status: BTreeMap<String, AgentStatus>,
    pub files: BTreeMap<String, Touched>,
    asked: BTreeMap<String, String>,
    pub by_model: BTreeMap<String, ModelCost>,
    /// The last change to each run status: why the run stopped is the one of the final status.
    pub last_run_status: BTreeMap<String, (u64, u64, String)>,
}

impl Scan {
    pub fn feed(&mut self, r: &EventRecord) {
        self.history(r);
        self.decision(r);
        crate::domain::state::approvals::fold(&mut self.approvals, r);
        self.governance(r);
        self.episode(r);
        self.change(r);
        self.cost(r);
        if let Event::RunStatusChanged { status, reason } = &r.event {
            self.last_run_status
                .insert(status.to_string(), (r.seq, r.ts_ms, reason.clone()));
        }
    }

    /// The last change to `status`: `(seq, ts_ms, reason)`.
    pub fn last_change_to(&self, status: RunStatus) -> Option<&(u64, u64, String)> {
        self.last_run_status.get(&status.to_string())
    }

    fn history(&mut self, r: &EventRecord) {
        let line = match &r.event {
            Event::TaskCreated {
                task, title, by, ..
            } => format!("{task} created by {}: {}", md(by), cell(title)),
            Event::TaskStatusChanged {
                task,
                status,
                reason,
            } => format!("{task} → {status}: {}", cell(reason)),
            Event::TaskCompleted { task, .. } => format!("{task} → done"),
            Event::RunStatusChanged { status, reason } => {
                format!("run → {status}: {}", cell(reason))
            }
            Event::Recovered { reason, tasks, .. } => format!(
                "recovered after a stop ({}); {} task(s) put back",
                cell(reason),
                tasks.len()
            ),
            Event::BudgetExceeded {
                target,
                scope,
                limit,
                used,
            } => format!(
                "{}: {scope} budget reached: {} of {}",
                md(target),
                scope.amount(*used),
                scope.amount(*limit)
            ),
            _ => return,
        };
        self.history
            .push(format!("- `#{}` {} {line}", r.seq, rfc3339(r.ts_ms)));
    }

    fn decision(&mut self, r: &EventRecord) {
        let mut approval = None;
        let row = match &r.event {
            Event::ApprovalResolved {
                approval: id,
                decision,
                by,
            } => {
                let what = match decision {
                    ApprovalDecision::Approve => "approved".to_owned(),
                    ApprovalDecision::ApproveAlways => "approved always for this kind".to_owned(),
                    ApprovalDecision::Deny { reason } => format!("denied ({})", cell(reason)),
                };
                approval = Some(id.clone());
                Some((by.to_string(), what))
            }
            Event::HumanMessage { target, text, by } => Some((
                by.to_string(),
                format!("wrote to {}: {}", md(target), cell(text)),
            )),
            Event::BudgetChanged { target, budget, by } => Some((
                by.to_string(),
                format!("set the {} budget to {budget}", md(target)),
            )),
            Event::RunRuleAdded { rule, by } => Some((
                by.to_string(),
                format!(
                    "added the run rule: {}",
                    super::markdown::rule_md(rule, true)
                ),
            )),
            Event::RunRuleRevoked { index, rule, by } => Some((
                by.to_string(),
                format!(
                    "revoked run rule {index}: {}",
                    super::markdown::rule_md(rule, true)
                ),
            )),
            Event::AutonomyChanged { level, by } => {
                Some((by.to_string(), format!("switched the autonomy to {level}")))
            }
            _ => None,
        };
        if let Some((who, what)) = row {
            self.decisions.push(Decision {
                ts_ms: r.ts_ms,
                seq: r.seq,
                who,
                what,
                approval,
            });
            return;
        }
        // Pauses, resumes, retries, cancels and stops name their person in the reason.
        let said = match &r.event {
            Event::RunStatusChanged { status, reason } => Some((format!("run → {status}"), reason)),
            Event::TaskStatusChanged {
                task,
                status,
                reason,
            } => Some((format!("{task} → {status}"), reason)),
            Event::AgentStatusChanged {
                agent,
                status,
                reason,
            } => Some((format!("{} → {status}", md(agent)), reason)),
            _ => None,
        };
        // Approvals are listed with their own rows, not again through the status they changed.
        if let Some((what, reason)) = said.filter(|(_, r)| !r.contains("approval")) {
            if let Some(who) = person_in(reason) {
                self.decisions.push(Decision {
                    ts_ms: r.ts_ms,
                    seq: r.seq,
                    who,
                    what: format!("{what}: {}", cell(reason)),
                    approval: None,
                });
            }
        }
    }

    fn governance(&mut self, r: &EventRecord) {
        match &r.event {
            Event::RunCreated { autonomy, .. } if self.first_autonomy.is_none() => {
                self.first_autonomy = Some(*autonomy);
            }
            Event::ToolCallRequested {
                policy: Some(p), ..
            } if p.starts_with("deny") => self.denied_by_policy += 1,
            _ => {}
        }
    }

    /// Ends the open episodes `r` ends, then opens the one `r` starts.
    fn episode(&mut self, r: &EventRecord) {
        let ending = |until: &Until| match (&r.event, until) {
            (
                Event::AgentStatusChanged {
                    agent,
                    status,
                    reason,
                },
                Until::Agent(a),
            ) if agent.as_str() == a && *status != AgentStatus::Stuck => Some(format!(
                "`#{}` {} → {status}: {}",
                r.seq,
                rfc3339(r.ts_ms),
                cell(reason)
            )),
            (Event::HumanMessage { target, text, by }, Until::Agent(a)) if target.as_str() == a => {
                Some(format!(
                    "`#{}` {} wrote to it: {}",
                    r.seq,
                    md(by),
                    cell(text)
                ))
            }
            (Event::BudgetChanged { target, budget, by }, Until::Budget(t)) if target == t => {
                Some(format!("`#{}` {} set it to {budget}", r.seq, md(by)))
            }
            _ => None,
        };
        let episodes = &mut self.episodes;
        self.open.retain(|&i| match ending(&episodes[i].until) {
            Some(end) => {
                episodes[i].end = Some(end);
                false
            }
            None => true,
        });
        let was = match &r.event {
            Event::AgentStatusChanged { agent, status, .. } => {
                self.last_status.insert(agent.to_string(), *status)
            }
            _ => None,
        };
        let (head, default_end, until) = match &r.event {
            // One episode, however often it is announced.
            Event::AgentStatusChanged {
                status: AgentStatus::Stuck,
                ..
            } if was == Some(AgentStatus::Stuck) => return,
            Event::AgentStatusChanged {
                agent,
                status: AgentStatus::Stuck,
                reason,
            } => (
                format!("**{} stuck**: {}. Ended: ", md(agent), cell(reason)),
                "not yet (still stuck)",
                Until::Agent(agent.to_string()),
            ),
            Event::BudgetExceeded {
                target,
                scope,
                limit,
                used,
            } => (
                format!(
                    "**{} reached its {scope} budget**: {} of {}. Ended: ",
                    md(target),
                    scope.amount(*used),
                    scope.amount(*limit)
                ),
                "not extended",
                Until::Budget(target.clone()),
            ),
            _ => return,
        };
        self.open.push(self.episodes.len());
        self.episodes.push(Episode {
            seq: r.seq,
            ts_ms: r.ts_ms,
            head,
            end: None,
            default_end,
            until,
        });
    }

    fn change(&mut self, r: &EventRecord) {
        if let Event::FileChanged {
            agent,
            task,
            path,
            added,
            removed,
        } = &r.event
        {
            let e = self
                .files
                .entry(path.clone())
                .or_insert_with(|| (Vec::new(), Vec::new(), 0, 0));
            let task = task.as_ref().map(ToString::to_string).unwrap_or_default();
            if !e.0.contains(&task) {
                e.0.push(task);
            }
            if !e.1.contains(&agent.to_string()) {
                e.1.push(agent.to_string());
            }
            e.2 += added;
            e.3 += removed;
        }
    }

    /// By model: each finished request is charged to the model its agent last asked.
    fn cost(&mut self, r: &EventRecord) {
        match &r.event {
            Event::LlmRequestStarted { agent, model, .. }
                if self.asked.get(agent.as_str()) != Some(model) =>
            {
                self.asked.insert(agent.to_string(), model.clone());
            }
            Event::LlmRequestFinished {
                agent,
                usage,
                cost_usd,
                ..
            } => {
                let model = self
                    .asked
                    .get(agent.as_str())
                    .map_or("unknown", String::as_str);
                let e = match self.by_model.get_mut(model) {
                    Some(e) => e,
                    None => self.by_model.entry(model.to_owned()).or_default(),
                };
                e.0 += 1;
                e.1 += usage.input_tokens;
                e.2 += usage.output_tokens;
                e.3 += cost_usd.unwrap_or(0.0);
                e.4 += u64::from(cost_usd.is_none());
            }
            _ => {}
        }
    }
}

/// The person a reason names (`paused now by ada@box`, `retry requested by ada`).
fn person_in(reason: &str) -> Option<String> {
    let (_, after) = reason.rsplit_once(" by ")?;
    let who: String = after
        .chars()
        .take_while(|c| !matches!(c, ':' | ';' | ',' | '(' | ')'))
        .collect();
    let who = who.trim();
    let machine = ["the engine", "engine", "a person", "policy"];
    (!who.is_empty() && !machine.contains(&who) && !who.contains(' ') || who.ends_with("(--yes)"))
        .then(|| who.to_owned())
}
