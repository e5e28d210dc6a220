//! The agent loop: one LLM turn plus its tool calls per step, asking the engine at every step
//! boundary whether to go on. It never writes events itself; it sends them to the engine.

use super::deltas::Coalescer;
use super::msg::{AgentMsg, CallFrom, Go, Msg, Outcome, StepStop, ToolAsk, Verdict};
use crate::domain::{AgentId, DeltaKind, Event, LogLevel, TaskId, Usage};
use crate::llm::context::{self, HIGH_WATER, TARGET};
use crate::llm::pricing::Prices;
use crate::llm::{
    Effort, LlmError, LlmRequest, Message, Provider, StopReason, StreamEvent, Thinking, ToolDef,
    ToolUse,
};
use crate::protocol::{Feed, LiveDelta};
use crate::tools::{ToolCall, Tools};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

/// Everything one agent loop needs.
pub(crate) struct AgentLoop {
    pub agent: AgentId,
    pub task: Option<TaskId>,
    pub model: String,
    pub system: String,
    pub prompt_hash: String,
    pub tools: Vec<ToolDef>,
    pub max_turns: u32,
    pub messages: Vec<Message>,
    pub provider: Arc<dyn Provider>,
    pub prices: Prices,
    /// The model's context window in tokens; lowered when the server says a request was too
    /// long for it.
    pub context_window: u64,
    pub workspace: Tools,
    pub engine: mpsc::Sender<Msg>,
    pub cancel: CancellationToken,
    pub step_retries: u32,
    pub retry_backoff: Duration,
    /// The supervisor waits for news between wakes instead of ending.
    pub long_lived: bool,
    /// The role's reasoning effort, for models that take one.
    pub reasoning: Option<Effort>,
    /// The worktree this task attempt works in, made before its first step.
    pub worktree: Option<WorktreeSetup>,
    /// Viewers' feed: streamed text goes there at once, ahead of its durable events.
    pub feed: tokio::sync::broadcast::Sender<crate::protocol::Feed>,
}

/// A task attempt's worktree: where, on which new branch, made from the run branch.
#[derive(Debug, Clone)]
pub(crate) struct WorktreeSetup {
    pub repo: std::path::PathBuf,
    pub path: std::path::PathBuf,
    pub branch: String,
    pub run_branch: String,
    pub attempt: u32,
    /// The previous attempt, which the new one goes on from.
    pub previous: Option<PreviousAttempt>,
}

/// Where a task's previous attempt left its work: its worktree while it is on disk, else its
/// branch; the commit the attempt started from, and how to commit what it left.
#[derive(Debug, Clone)]
pub(crate) struct PreviousAttempt {
    pub worktree: Option<std::path::PathBuf>,
    pub branch: String,
    pub base: String,
    pub commit: crate::tools::git::TaskCommit,
}

/// Condensing again after the server refused a request as too long, before giving up.
const CONTEXT_RETRIES: u32 = 3;

/// How one streamed turn ended.
enum Streamed {
    Answer(Answer),
    Cancelled,
    Error(LlmError),
}

/// A model's answer: its text, calls and thinking, and whether the token limit cut it off.
struct Answer {
    text: String,
    calls: Vec<ToolUse>,
    thinking: Vec<Thinking>,
    cut_off: bool,
}

impl AgentLoop {
    async fn send(&self, msg: AgentMsg) -> Result<(), ()> {
        self.engine.send(Msg::Agent(msg)).await.map_err(|_| ())
    }

    /// Sends live text to viewers (none listening is fine; nobody waits for it).
    fn live(&self, delta: LiveDelta) {
        if self.feed.receiver_count() > 0 {
            let _ = self.feed.send(Feed::Live(delta));
        }
    }

    async fn emit(&self, events: Vec<Event>) -> Result<(), ()> {
        if events.is_empty() {
            return Ok(());
        }
        self.send(AgentMsg::Emit(events)).await
    }

    async fn ask<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> AgentMsg) -> Option<T> {
        let (tx, rx) = oneshot::channel();
        self.send(make(tx)).await.ok()?;
        tokio::select! {
            r = rx => r.ok(),
            () = self.cancel.cancelled() => None,
        }
    }

    pub async fn run(mut self) {
        let outcome = match self.prepare().await {
            Ok(()) => self.steps().await,
            Err(reason) => Outcome::Failed(reason),
        };
        let agent = self.agent.clone();
        let _ = self.send(AgentMsg::Exited { agent, outcome }).await;
    }

    /// Makes the task attempt's worktree (off the runtime's threads: git writes a checkout)
    /// and points the tools at it.
    async fn prepare(&mut self) -> Result<(), String> {
        let (Some(w), Some(task)) = (self.worktree.take(), self.task.clone()) else {
            return Ok(());
        };
        let setup = w.clone();
        let base = tokio::task::spawn_blocking(move || {
            use crate::tools::git::worktree;
            if let Some(p) = &setup.previous {
                if worktree::continue_task_worktree(
                    &setup.repo,
                    &setup.path,
                    &setup.branch,
                    p.worktree.as_deref(),
                    &p.branch,
                    &p.commit,
                )? {
                    return Ok(p.base.clone());
                }
            }
            worktree::add_task_worktree(&setup.repo, &setup.path, &setup.branch, &setup.run_branch)
        })
        .await
        .map_err(|e| e.to_string())
        .and_then(|r| r)
        .map_err(|e| format!("cannot make the task's worktree: {e}"))?;
        let ws = crate::tools::Workspace::open(&w.path)
            .map_err(|e| format!("cannot open the task's worktree: {e}"))?;
        self.workspace = self.workspace.at(ws);
        let created = Event::WorktreeCreated {
            task,
            attempt: w.attempt,
            path: w.path.display().to_string(),
            branch: w.branch,
            base,
        };
        self.send(AgentMsg::Emit(vec![created]))
            .await
            .map_err(|_| "the engine has stopped".to_owned())
    }

    async fn steps(&mut self) -> Outcome {
        let mut step: u32 = 0;
        let mut idle = false;
        loop {
            let agent = self.agent.clone();
            let Some(go) = self
                .ask(|reply| AgentMsg::Boundary { agent, idle, reply })
                .await
            else {
                return Outcome::Stopped;
            };
            let (news, context, step_cancel) = match go {
                Go::Stop => return Outcome::Stopped,
                Go::Continue {
                    messages,
                    context,
                    step_cancel,
                } => (messages, context, step_cancel),
            };
            self.messages.extend(news.into_iter().map(Message::user));
            idle = false;
            if step >= self.max_turns && !self.long_lived {
                return Outcome::Failed(format!(
                    "turn limit reached ({} turns) without complete_task",
                    self.max_turns
                ));
            }
            let answer = match self.turn(&context, step, &step_cancel).await {
                Ok(Some(answer)) => answer,
                Ok(None) => continue, // cancelled by "pause now": ask again at the boundary
                Err(reason) => return Outcome::Failed(reason),
            };
            step += 1;
            // A cut-off call is kept (the APIs want every call answered) but never run.
            let split = crate::llm::cut_off::split(answer.calls, answer.cut_off);
            let calls = split.run.clone();
            let mut said = Message::assistant(answer.text, calls.clone());
            said.tool_calls.extend(split.cut.iter().cloned());
            said.thinking = answer.thinking;
            self.messages.push(said);
            if answer.cut_off {
                let why = split.describe();
                let _ = self
                    .emit(vec![Event::log(LogLevel::Warn, self.agent.as_str(), why)])
                    .await;
            }
            if calls.is_empty() && answer.cut_off {
                self.messages.extend(split.results);
                self.messages.push(Message::user(crate::llm::cut_off::NOTE));
                continue;
            }
            if calls.is_empty() {
                if self.long_lived {
                    idle = true;
                } else {
                    self.messages.push(Message::user(
                        "You ended your turn without calling complete_task or fail_task. Continue the task, and finish with one of them.",
                    ));
                }
                continue;
            }
            match self.call_tools(calls).await {
                Ok(true) if !self.long_lived => return Outcome::Finished,
                Ok(_) => {}
                Err(()) => return Outcome::Stopped,
            }
            if answer.cut_off {
                self.messages.extend(split.results);
                self.messages.push(Message::user(crate::llm::cut_off::NOTE));
            }
        }
    }

    /// The request for the conversation as it stands, condensed first when it nears the
    /// context window (and the condensing is logged).
    async fn request(&mut self, context: &crate::llm::RequestContext) -> LlmRequest {
        let max_output_tokens = (self.context_window / 4).clamp(256, 8192) as u32;
        let fixed = context::tokens(
            self.system.len()
                + self
                    .tools
                    .iter()
                    .map(|t| t.description.len() + t.parameters.to_string().len())
                    .sum::<usize>(),
        ) + u64::from(max_output_tokens)
            // Thinking takes room of its own in the answer (Anthropic asks for it on top).
            + self
                .reasoning
                .map_or(0, |e| u64::from(crate::llm::anthropic_body::thinking_budget(e)));
        let masked = crate::llm::masking::mask_old_outputs(&mut self.messages);
        if masked > 0 {
            let _ = self
                .emit(vec![Event::log(
                    LogLevel::Info,
                    self.agent.as_str(),
                    format!(
                        "context: masked {masked} old tool outputs (the model can get them again)"
                    ),
                )])
                .await;
        }
        let window = self.context_window as f64;
        let total = fixed + context::tokens(self.messages.iter().map(context::message_bytes).sum());
        if total as f64 > window * HIGH_WATER {
            let target = (window * TARGET) as u64;
            if let Some(c) = context::condense(&mut self.messages, fixed, target) {
                let _ = self
                    .emit(vec![Event::log(
                        LogLevel::Info,
                        self.agent.as_str(),
                        format!(
                            "context: condensed the conversation from about {}k to {}k tokens of a {}k window ({} outputs shortened, {} messages dropped)",
                            c.before / 1000,
                            c.after / 1000,
                            self.context_window / 1000,
                            c.shortened,
                            c.dropped
                        ),
                    )])
                    .await;
            }
        }
        LlmRequest {
            model: self.model.clone(),
            system: self.system.clone(),
            messages: self.messages.clone(),
            tools: self.tools.clone(),
            max_output_tokens,
            reasoning: self.reasoning,
            context: context.clone(),
        }
    }

    /// One LLM turn, retried on retryable errors. `Ok(None)` when cancelled.
    async fn turn(
        &mut self,
        context: &crate::llm::RequestContext,
        step: u32,
        step_cancel: &StepStop,
    ) -> Result<Option<Answer>, String> {
        let mut attempt = 0;
        let mut too_long = 0;
        loop {
            let request = self.request(context).await;
            let estimate = request.estimated_input_tokens();
            match self.stream_once(request, step, step_cancel).await {
                Streamed::Answer(answer) => return Ok(Some(answer)),
                Streamed::Cancelled => return Ok(None),
                Streamed::Error(LlmError::ContextLength(why)) if too_long < CONTEXT_RETRIES => {
                    // The server's window is smaller than we thought: believe it, and condense
                    // below what it refused.
                    too_long += 1;
                    self.context_window = self.context_window.min(estimate * 3 / 4).max(1024);
                    let _ = self
                        .emit(vec![Event::log(
                            LogLevel::Warn,
                            self.agent.as_str(),
                            format!(
                                "the model refused about {}k tokens as too long ({why}); condensing to fit {}k and asking again",
                                estimate / 1000,
                                self.context_window / 1000
                            ),
                        )])
                        .await;
                }
                Streamed::Error(e) if e.is_retryable() && attempt < self.step_retries => {
                    attempt += 1;
                    let wait = self.retry_backoff * 2u32.pow(attempt - 1);
                    let _ = self
                        .emit(vec![Event::log(
                            LogLevel::Warn,
                            self.agent.as_str(),
                            format!(
                                "model error: {e}; retrying in {}ms ({attempt}/{})",
                                wait.as_millis(),
                                self.step_retries
                            ),
                        )])
                        .await;
                    tokio::select! {
                        () = tokio::time::sleep(wait) => {}
                        () = step_cancel.stopped() => return Ok(None),
                        () = self.cancel.cancelled() => return Ok(None),
                    }
                }
                Streamed::Error(e) if e.needs_person() => {
                    // The run pauses; this step is asked again once a person resumes it.
                    let agent = self.agent.clone();
                    let reason = e.to_string();
                    let _ = self.send(AgentMsg::Blocked { agent, reason }).await;
                    return Ok(None);
                }
                Streamed::Error(e) => return Err(format!("model error: {e}")),
            }
        }
    }

    async fn stream_once(
        &mut self,
        request: LlmRequest,
        step: u32,
        step_cancel: &StepStop,
    ) -> Streamed {
        let started = Instant::now();
        let model = request.model.clone();
        let estimated_input = request.estimated_input_tokens();
        let start = Event::LlmRequestStarted {
            agent: self.agent.clone(),
            task: self.task.clone(),
            model: model.clone(),
            prompt_hash: self.prompt_hash.clone(),
            step,
            context_window: self.context_window,
        };
        self.live(LiveDelta::Step {
            agent: self.agent.clone(),
            task: self.task.clone(),
            step,
            model: model.clone(),
        });
        if self.emit(vec![start]).await.is_err() {
            return Streamed::Cancelled;
        }
        let mut rx = self.provider.stream(request);
        let mut offset = 0u64;
        let mut live = |kind: DeltaKind, text: &str| {
            if !text.is_empty() && self.feed.receiver_count() > 0 {
                let _ = self.feed.send(Feed::Live(LiveDelta::Text {
                    agent: self.agent.clone(),
                    task: self.task.clone(),
                    step,
                    offset,
                    kind,
                    text: text.to_owned(),
                }));
            }
            offset += text.len() as u64;
        };
        let mut coalescer = Coalescer::new(self.agent.clone());
        let (mut text, mut calls, mut usage, mut stop) =
            (String::new(), Vec::new(), None::<Usage>, None::<StopReason>);
        let mut thinking = Vec::new();
        let result = loop {
            let flush_at = coalescer.due();
            let item = tokio::select! {
                item = rx.recv() => Some(item),
                () = step_cancel.stopped() => break Err(step_cancel.why()),
                () = self.cancel.cancelled() => break Err("cancelled: the task was stopped".to_owned()),
                // Text held for coalescing is recorded when it is due, even if the provider
                // pauses: the durable copy never lags a delta by much more than its age.
                () = tokio::time::sleep_until(flush_at.unwrap_or_else(tokio::time::Instant::now)), if flush_at.is_some() => None,
            };
            let Some(item) = item else {
                if self
                    .emit(coalescer.flush().into_iter().collect())
                    .await
                    .is_err()
                {
                    return Streamed::Cancelled;
                }
                continue;
            };
            let due = match item {
                None => break Err("the provider closed the stream without finishing".to_owned()),
                Some(Err(e)) => break Ok(Some(e)),
                Some(Ok(StreamEvent::Reasoning(t))) => {
                    live(DeltaKind::Reasoning, &t);
                    coalescer.push(DeltaKind::Reasoning, &t)
                }
                Some(Ok(StreamEvent::Text(t))) => {
                    live(DeltaKind::Text, &t);
                    text.push_str(&t);
                    coalescer.push(DeltaKind::Text, &t)
                }
                Some(Ok(StreamEvent::ToolCall(c))) => {
                    calls.push(c);
                    Vec::new()
                }
                Some(Ok(StreamEvent::Thinking(t))) => {
                    thinking.push(t);
                    Vec::new()
                }
                Some(Ok(StreamEvent::Usage(u))) => {
                    usage = Some(u);
                    Vec::new()
                }
                Some(Ok(StreamEvent::Retrying { wait_ms, reason })) => {
                    vec![Event::log(
                        LogLevel::Warn,
                        self.agent.as_str(),
                        format!("model request: {reason}; waiting {wait_ms} ms"),
                    )]
                }
                Some(Ok(StreamEvent::Done { stop_reason })) => {
                    stop = Some(stop_reason);
                    break Ok(None);
                }
            };
            if self.emit(due).await.is_err() {
                return Streamed::Cancelled;
            }
        };
        drop(rx);
        let mut events: Vec<Event> = coalescer.flush().into_iter().collect();
        let usage = usage.unwrap_or(Usage {
            input_tokens: estimated_input,
            ..Usage::default()
        });
        let stop_reason = match (&result, &stop) {
            (Ok(None), Some(s)) => s.to_string(),
            (Ok(Some(e)), _) => format!("error: {e}"),
            (Err(why), _) => why.clone(),
            (Ok(None), None) => "unknown".to_owned(),
        };
        events.push(Event::LlmRequestFinished {
            agent: self.agent.clone(),
            task: self.task.clone(),
            usage,
            cost_usd: self.prices.cost(&model, &usage),
            duration_ms: started.elapsed().as_millis() as u64,
            stop_reason,
        });
        if self.emit(events).await.is_err() {
            return Streamed::Cancelled;
        }
        match result {
            // Anthropic ends a turn this way when the window filled up while it answered.
            Ok(None) if stop == Some(StopReason::ContextWindow) => {
                Streamed::Error(LlmError::ContextLength(
                    "the model stopped because its context window is full".into(),
                ))
            }
            Ok(None) => Streamed::Answer(Answer {
                text,
                calls,
                thinking,
                cut_off: stop.as_ref().is_some_and(StopReason::is_cut_off),
            }),
            Ok(Some(e)) => Streamed::Error(e),
            Err(_) => Streamed::Cancelled,
        }
    }

    /// Runs the turn's tool calls in order. `Ok(true)` when one of them ended the task.
    async fn call_tools(&mut self, calls: Vec<ToolUse>) -> Result<bool, ()> {
        let mut ended = false;
        for (i, call) in calls.into_iter().enumerate() {
            let parsed = ToolCall::parse(&call.name, &call.arguments);
            let from = CallFrom::Model { batched: i > 0 };
            let verdict = self
                .ask_tool(&call.name, call.arguments.clone(), parsed.clone(), from)
                .await?;
            let verdict = match verdict {
                Verdict::Check { call, command } => self.check(call, command).await?,
                v => v,
            };
            let result_text = match verdict {
                Verdict::Answer { text, ends_task } => {
                    ended |= ends_task;
                    text
                }
                Verdict::Check { .. } => "error: the check did not run".to_owned(),
                Verdict::Run { call: id, network } => {
                    let Ok(tool_call) = parsed else { continue };
                    match self.run_allowed(id, &tool_call, network).await? {
                        Ok(out) => out.text,
                        Err(e) => format!("error: {e}"),
                    }
                }
            };
            self.messages.push(Message::tool(call.id, result_text));
            if ended {
                break;
            }
        }
        Ok(ended)
    }

    /// Asks the engine whether (and as which call) a tool call may run.
    async fn ask_tool(
        &mut self,
        name: &str,
        args: serde_json::Value,
        parsed: Result<ToolCall, crate::tools::ToolError>,
        from: CallFrom,
    ) -> Result<Verdict, ()> {
        let ask = ToolAsk {
            agent: self.agent.clone(),
            task: self.task.clone(),
            name: name.to_owned(),
            args,
            parsed,
            from,
        };
        self.ask(|reply| AgentMsg::Tool { ask, reply })
            .await
            .ok_or(())
    }

    /// Carries out a call the engine allowed and reports its result. A decided call runs to
    /// its end even when the run is paused now; only stopping the task (or the engine) cuts
    /// it short, and then `Err(())`.
    async fn run_allowed(
        &mut self,
        call: crate::domain::CallId,
        tool_call: &ToolCall,
        network: bool,
    ) -> Result<Result<crate::tools::ToolOutput, crate::tools::ToolError>, ()> {
        let started = Instant::now();
        let cancel = self.cancel.child_token();
        let task_cancel = self.cancel.clone();
        let result = tokio::select! {
            r = self.workspace.execute(tool_call, network, &cancel) => r,
            () = task_cancel.cancelled() => { cancel.cancel(); return Err(()) }
        };
        let (agent, task) = (self.agent.clone(), self.task.clone());
        self.send(AgentMsg::ToolDone {
            agent,
            task,
            call,
            result: result.clone(),
            duration_ms: started.elapsed().as_millis() as u64,
        })
        .await?;
        Ok(result)
    }

    /// Runs a task's check command as the engine's own call: through the policy (a rule may
    /// deny it or ask a person), in the sandbox, recorded like any command. The engine's
    /// answer to `Checked` says whether the task is done.
    async fn check(&mut self, call: crate::domain::CallId, command: String) -> Result<Verdict, ()> {
        let args = serde_json::json!({ "command": command });
        let parsed = ToolCall::parse("run_command", &args);
        let verdict = self
            .ask_tool("run_command", args, parsed.clone(), CallFrom::Check)
            .await?;
        let result = match (verdict, parsed) {
            (Verdict::Run { call: id, network }, Ok(tc)) => {
                self.run_allowed(id, &tc, network).await?
            }
            (Verdict::Answer { text, .. }, _) => Ok(crate::tools::ToolOutput {
                ok: false,
                text: format!("{}{text}", super::repair::CHECK_NOT_RUN),
                changes: Vec::new(),
            }),
            (_, Err(e)) => Err(e),
            (Verdict::Check { .. }, _) => return Err(()),
        };
        let agent = self.agent.clone();
        self.ask(|reply| AgentMsg::Checked {
            agent,
            call,
            result,
            reply,
        })
        .await
        .ok_or(())
    }
}
