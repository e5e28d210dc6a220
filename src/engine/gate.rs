//! The tool gate: every tool call an agent makes passes here. Calls are recorded, checked
//! against the role and the policy, sent to a person when the policy says ask, and the
//! engine's own tools (tasks, questions, finishing the run) are carried out here.

use super::actor::{ParkedCall, Reply, RunActor};
use super::msg::{CallFrom, ToolAsk, Verdict};
use crate::domain::policy::{self, Decision};
use crate::domain::{
    Actor, AgentId, ApprovalDecision, ApprovalId, CallId, Event, LogLevel, TaskId,
};
use crate::tools::{ToolCall, ToolError, ToolOutput};
use tokio::sync::oneshot;

/// Tool output kept in the event log; the model itself gets the whole (capped) output.
const EVENT_OUTPUT_CAP: usize = 16 * 1024;

pub(super) fn cap(text: &str) -> String {
    if text.len() <= EVENT_OUTPUT_CAP {
        return text.to_owned();
    }
    let mut end = EVENT_OUTPUT_CAP;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!(
        "{}\n[… {} more bytes in the tool result]",
        &text[..end],
        text.len() - end
    )
}

impl RunActor {
    pub(super) fn answer(
        &mut self,
        reply: oneshot::Sender<Verdict>,
        text: String,
        ends_task: bool,
    ) {
        self.replies
            .push(Reply::Verdict(reply, Verdict::Answer { text, ends_task }));
    }

    pub(super) fn finish_call(&mut self, agent: &AgentId, call: &CallId, ok: bool, output: &str) {
        self.files.since.remove(call);
        self.pending.push(Event::ToolCallFinished {
            agent: agent.clone(),
            call: call.clone(),
            ok,
            output: cap(output),
            duration_ms: 0,
        });
    }

    pub(super) fn on_tool(&mut self, ask: ToolAsk, reply: oneshot::Sender<Verdict>) {
        let ToolAsk {
            agent,
            task,
            name,
            args,
            parsed,
            from,
        } = ask;
        if !self.live.contains_key(&agent) || self.state.status.is_terminal() {
            return; // the agent is being stopped; dropping the reply tells it so
        }
        let limits = self.config.stuck;
        if let Some(p) = self
            .watches
            .entry(agent.clone())
            .or_default()
            .call(&name, &args, &limits)
        {
            self.mark_stuck(&agent, p);
        }
        self.next_call += 1;
        let call = CallId::from(format!("c{}", self.next_call));
        let run_rules = self.state.run_rule_list();
        let decided = parsed
            .as_ref()
            .ok()
            .filter(|tc| !tc.is_engine_tool())
            .map(|tc| {
                let (command, path) = tc.targets();
                // The policy reads the path the file tool will touch: its canonical spelling,
                // under the case rule of the workspace's file system.
                let ws = self.tools.workspace();
                let path = path.map(|p| ws.canonical(p).unwrap_or_else(|_| p.to_owned()));
                let decided = policy::decide_with(
                    &self.config.rules,
                    &run_rules,
                    self.state_autonomy(),
                    tc.effect(),
                    &name,
                    command,
                    path.as_deref(),
                    ws.case(),
                );
                match tc {
                    ToolCall::RunCommand { command, .. } => {
                        let decided =
                            policy::guard_remote_code(&self.config.rules, command, decided);
                        self.command_gate(decided, command, &run_rules)
                    }
                    _ => (decided.0, decided.1, false),
                }
            });
        self.files.started(&call);
        self.pending.push(Event::ToolCallRequested {
            agent: agent.clone(),
            task: task.clone(),
            call: call.clone(),
            tool: name.clone(),
            args,
            policy: decided.as_ref().map(|(d, why, _)| format!("{d}: {why}")),
        });
        let tc = match parsed {
            Ok(tc) => tc,
            Err(e) => {
                let text = format!("error: {e}");
                self.finish_call(&agent, &call, false, &text);
                return self.answer(reply, text, false);
            }
        };
        let role = self
            .live
            .get(&agent)
            .map(|l| l.role.clone())
            .unwrap_or_default();
        let allowed = self
            .config
            .roster
            .get(&role)
            .is_some_and(|r| r.tools.iter().any(|t| t == &name));
        if !allowed && from != CallFrom::Check {
            let text = format!("error: the {role} role may not use {name}");
            self.finish_call(&agent, &call, false, &text);
            return self.answer(reply, text, false);
        }
        let batched = from == (CallFrom::Model { batched: true });
        if batched
            && matches!(
                tc,
                ToolCall::CompleteTask { .. } | ToolCall::FinishRun { .. }
            )
        {
            let text = format!(
                "error: {name} was sent in the same turn as other calls, before you saw their results; nothing was finished. Read those results, then call {name} alone"
            );
            self.finish_call(&agent, &call, false, &text);
            return self.answer(reply, text, false);
        }
        if tc.is_engine_tool() {
            return self.engine_tool(agent, task, call, tc, reply);
        }
        let (decision, why, network) = decided.unwrap_or((Decision::Ask, String::new(), false));
        match decision {
            Decision::Allow => self
                .replies
                .push(Reply::Verdict(reply, Verdict::Run { call, network })),
            Decision::Deny => {
                let text = format!("denied by {why}: {}", tc.summary());
                self.finish_call(&agent, &call, false, &text);
                self.answer(reply, text, false);
            }
            Decision::Ask => self.ask(agent, task, call, &tc, network, reply),
        }
    }

    /// What the sandbox adds to a command's decision: the network grant, and, where the kernel
    /// cannot confine commands, what `[sandbox] unsupported` says.
    fn command_gate(
        &self,
        decided: (Decision, String),
        command: &str,
        run_rules: &[crate::domain::Rule],
    ) -> (Decision, String, bool) {
        use crate::tools::sandbox::{self, Unsupported};
        let (mut decision, mut why) = decided;
        let cfg = &self.config.limits.sandbox;
        let grant = policy::network_grant(&self.config.rules, run_rules, command, cfg.network);
        let support = sandbox::support();
        let network = grant.is_some() || !cfg.enabled || !support.network_isolation();
        if let Some(g) = grant {
            why.push_str(&format!("; network granted by {g}"));
        }
        if cfg.enabled && !support.complete() {
            match (cfg.unsupported, decision) {
                (Unsupported::Ask, Decision::Allow) => {
                    decision = Decision::Ask;
                    why.push_str("; the sandbox is incomplete here, so commands ask");
                }
                (Unsupported::Deny, Decision::Allow | Decision::Ask) => {
                    decision = Decision::Deny;
                    why = "the sandbox is incomplete here ([sandbox] unsupported = \"deny\")"
                        .to_owned();
                }
                _ => {}
            }
        }
        (decision, why, network)
    }

    fn state_autonomy(&self) -> crate::domain::Autonomy {
        self.state
            .info
            .as_ref()
            .map_or(self.config.autonomy, |i| i.autonomy)
    }

    /// Records an approval request; with `--yes` it is granted at once, otherwise the call
    /// waits for a person.
    fn ask(
        &mut self,
        agent: AgentId,
        task: Option<TaskId>,
        call: CallId,
        tc: &ToolCall,
        network: bool,
        reply: oneshot::Sender<Verdict>,
    ) {
        self.next_approval += 1;
        let approval = ApprovalId::from(format!("A{}", self.next_approval));
        let confined =
            self.config.limits.sandbox.enabled && crate::tools::sandbox::support().landlock();
        let label = tc.risk(network, confined);
        let summary = match tc {
            ToolCall::AskHuman { question } => question.clone(),
            _ => tc.summary(),
        };
        // "Approve always" never covers remote code: such a request has no kind to allow, so
        // its `a` approves it once (see `resolve`).
        let kind = (!matches!(tc, ToolCall::AskHuman { .. }) && !label.remote_code).then(|| {
            let (command, path) = tc.targets();
            let ws = self.tools.workspace();
            let path = path.map(|p| ws.canonical(p).unwrap_or_else(|_| p.to_owned()));
            crate::domain::Rule::allow_kind(tc.name(), command, path.as_deref())
        });
        self.pending.push(Event::ApprovalRequested {
            approval: approval.clone(),
            call: call.clone(),
            agent: agent.clone(),
            task,
            tool: tc.name().into(),
            risk: label.to_string(),
            summary,
            label: Some(label),
        });
        self.parked.insert(
            approval.clone(),
            ParkedCall {
                reply,
                call,
                agent,
                tool: tc.name().into(),
                network,
                kind,
            },
        );
        if let Some(by) = self.config.auto_approve.clone() {
            let _ = self.resolve(&by, &approval, ApprovalDecision::Approve);
        }
    }

    /// A person's answer to an approval request.
    pub(super) fn resolve(
        &mut self,
        by: &Actor,
        approval: &ApprovalId,
        decision: ApprovalDecision,
    ) -> Result<(), String> {
        let Some(p) = self.parked.remove(approval) else {
            return Err(match self.state.approval(approval) {
                Some(a) if a.expired => format!(
                    "{approval} expired: {}",
                    a.expiry.as_deref().unwrap_or("nobody waits for it")
                ),
                Some(a) if !a.is_pending() => format!("{approval} was already answered"),
                Some(_) => format!(
                    "{approval} belongs to work that was interrupted; it will be asked again"
                ),
                None => format!("there is no approval {approval} waiting for an answer"),
            });
        };
        if p.tool == "merge" {
            // A merge review: "approve always" approves this merge.
            let decision = match decision {
                ApprovalDecision::ApproveAlways => ApprovalDecision::Approve,
                d => d,
            };
            self.pending.push(Event::ApprovalResolved {
                approval: approval.clone(),
                decision: decision.clone(),
                by: by.clone(),
            });
            let task = self.state.approval(approval).and_then(|a| a.task.clone());
            self.resolve_review(by, task, p, &decision);
            return Ok(());
        }
        // Only requests to run remote code are parked with no kind to allow (besides
        // questions): "approve always" approves those once, and the record says so.
        let decision = match decision {
            ApprovalDecision::ApproveAlways if p.kind.is_none() && p.tool != "ask_human" => {
                self.pending.push(Event::log(
                    LogLevel::Warn,
                    "policy",
                    format!(
                        "{approval} approved once by {by}: a command that runs remote code is never approved always, so no run rule was added"
                    ),
                ));
                ApprovalDecision::Approve
            }
            d => d,
        };
        self.pending.push(Event::ApprovalResolved {
            approval: approval.clone(),
            decision: decision.clone(),
            by: by.clone(),
        });
        if let (ApprovalDecision::ApproveAlways, Some(rule)) = (&decision, p.kind.clone()) {
            if !self.state.run_rules.iter().any(|r| r.rule == rule) {
                self.pending.push(Event::RunRuleAdded {
                    rule,
                    by: by.clone(),
                });
            }
        }
        let verdict = match (&decision, p.tool.as_str()) {
            (ApprovalDecision::Deny { reason }, "ask_human") => {
                self.answered(&p, format!("{by} answered: no. {reason}"))
            }
            (_, "ask_human") => self.answered(&p, format!("{by} answered: yes, go ahead.")),
            (ApprovalDecision::Deny { reason }, _) => {
                let text = format!("denied by {by}: {reason}");
                self.finish_call(&p.agent, &p.call, false, &text);
                Verdict::Answer {
                    text,
                    ends_task: false,
                }
            }
            _ => Verdict::Run {
                call: p.call.clone(),
                network: p.network,
            },
        };
        self.replies.push(Reply::Verdict(p.reply, verdict));
        Ok(())
    }

    /// A question answered by a person: the call is finished with the answer.
    fn answered(&mut self, p: &ParkedCall, text: String) -> Verdict {
        self.finish_call(&p.agent, &p.call, true, &text);
        Verdict::Answer {
            text,
            ends_task: false,
        }
    }

    pub(super) fn on_tool_done(
        &mut self,
        agent: AgentId,
        task: Option<TaskId>,
        call: CallId,
        result: Result<ToolOutput, ToolError>,
        duration_ms: u64,
    ) {
        let since = self.files.since.remove(&call);
        let command = self
            .state
            .calls
            .iter()
            .any(|c| c.call == call && c.tool == "run_command");
        let (ok, output) = match &result {
            Ok(out) => (out.ok, out.text.clone()),
            Err(e) => (false, format!("error: {e}")),
        };
        let limits = self.config.stuck;
        let stuck = self
            .watches
            .entry(agent.clone())
            .or_default()
            .result(ok, &output, &limits);
        if let Err(e @ ToolError::Confinement { .. }) = &result {
            self.pending.push(Event::log(
                LogLevel::Warn,
                agent.as_str(),
                format!("refused {call}: {e}"),
            ));
        }
        self.pending.push(Event::ToolCallFinished {
            agent: agent.clone(),
            call,
            ok,
            output: cap(&output),
            duration_ms,
        });
        // A command sees every file that changed while it ran, in a folder the run's tasks
        // share: a file another task wrote meanwhile (with a file tool or its own command) is
        // that task's work, not this one's.
        let changes: Vec<_> = match result {
            Ok(out) => out
                .changes
                .into_iter()
                .filter(|c| {
                    !command || !self.files.written_by_another(&c.path, task.as_ref(), since)
                })
                .collect(),
            Err(_) => Vec::new(),
        };
        for c in changes {
            self.files.wrote(&c.path, task.as_ref());
            self.pending.push(Event::FileChanged {
                agent: agent.clone(),
                task: task.clone(),
                path: c.path,
                added: c.added,
                removed: c.removed,
            });
        }
        // After the result, which the fold reads as the agent going on thinking: a loop is
        // seen with its result, and the agent is stuck from here.
        if let Some(p) = stuck {
            self.mark_stuck(&agent, p);
        }
    }

    fn engine_tool(
        &mut self,
        agent: AgentId,
        task: Option<TaskId>,
        call: CallId,
        tc: ToolCall,
        reply: oneshot::Sender<Verdict>,
    ) {
        if let ToolCall::AskHuman { .. } = tc {
            return self.ask(agent, task, call, &tc, false, reply);
        }
        let result = match tc {
            ToolCall::CreateTask(t) => self.create_task(&agent, t).map(|t| (t, false)),
            ToolCall::RetryTask { task, guidance } => self
                .supervisor_retry(&agent, &task, guidance)
                .map(|t| (t, false)),
            ToolCall::CancelTask { task, reason } => self
                .supervisor_cancel(&agent, &task, reason)
                .map(|t| (t, false)),
            ToolCall::CompleteTask { summary, evidence } => {
                match self.begin_completion(&agent, task.as_ref(), &call, summary, evidence) {
                    Ok(super::repair::Begun::Check(command)) => {
                        return self
                            .replies
                            .push(Reply::Verdict(reply, Verdict::Check { call, command }));
                    }
                    Ok(super::repair::Begun::Done(text)) => Ok((text, true)),
                    Ok(super::repair::Begun::Merge {
                        task,
                        summary,
                        evidence,
                    }) => {
                        return self.start_merge(&agent, &task, &call, summary, evidence, reply);
                    }
                    Err(e) => Err(e),
                }
            }
            ToolCall::FailTask { reason } => match task.as_ref().filter(|t| self.owns(&agent, t)) {
                Some(t) => {
                    let t = t.clone();
                    self.fail_task(&t, &reason);
                    Ok((format!("{t} marked failed"), true))
                }
                None => Err("you have no task to fail".to_owned()),
            },
            ToolCall::FinishRun { summary } => self.finish_run(&agent, summary).map(|t| (t, true)),
            _ => Err("not an engine tool".to_owned()),
        };
        let (ok, text, ends) = match result {
            Ok((text, ends)) => (true, text, ends),
            Err(e) => (false, format!("error: {e}"), false),
        };
        if let Some(live) = self.live.get_mut(&agent).filter(|_| ends) {
            live.finishing = true;
        }
        // An engine tool's result is news like any other: a supervisor that keeps replacing
        // failed tasks makes progress, and one that gets the same refusal again is looping.
        let limits = self.config.stuck;
        if let Some(p) = self
            .watches
            .entry(agent.clone())
            .or_default()
            .result(ok, &text, &limits)
        {
            self.mark_stuck(&agent, p);
        }
        self.finish_call(&agent, &call, ok, &text);
        self.answer(reply, text, ends);
    }

    pub(super) fn owns(&self, agent: &AgentId, task: &TaskId) -> bool {
        self.state
            .task(task)
            .is_some_and(|t| t.status.is_active() && t.agent.as_ref() == Some(agent))
    }
}

/// Who wrote which file of the shared workspace, in the order the engine learnt it, so that a
/// command is credited only with the files no other task wrote while it ran.
#[derive(Debug, Default)]
pub(super) struct FileClock {
    now: u64,
    /// Each path: the task that last wrote it, and when.
    last: std::collections::HashMap<String, (Option<TaskId>, u64)>,
    /// Each call in flight: the time it was asked for.
    since: std::collections::HashMap<CallId, u64>,
}

impl FileClock {
    fn started(&mut self, call: &CallId) {
        self.since.insert(call.clone(), self.now);
    }

    fn wrote(&mut self, path: &str, task: Option<&TaskId>) {
        self.now += 1;
        self.last.insert(path.to_owned(), (task.cloned(), self.now));
    }

    /// Another task wrote `path` after `since` (the call's start).
    fn written_by_another(&self, path: &str, task: Option<&TaskId>, since: Option<u64>) -> bool {
        self.last
            .get(path)
            .is_some_and(|(by, at)| by.as_ref() != task && since.is_some_and(|s| *at > s))
    }
}
