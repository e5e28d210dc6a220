//! The control room's state: the view model plus what the person is looking at (focus,
//! selections, scroll, popups), and how keys and actions change it. Commands for the engine are
//! queued in `outbox`; the loop sends them through the session.

use super::action::Action;
use super::keymap::Keymap;
pub use super::log_filter::LogFilter;
use super::popups::{Composer, ComposerPurpose, Confirm, Popup};
use super::theme::{Theme, Themes};
use super::view::View;
use crate::domain::{AgentId, LogLevel, RunStatus, TaskId};
use crate::protocol::Command;
use crossterm::event::{KeyEvent, KeyEventKind};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Focus {
    Agents,
    Reasoning,
    Tasks,
    Logs,
}

impl Focus {
    const ORDER: [Focus; 4] = [Focus::Agents, Focus::Reasoning, Focus::Tasks, Focus::Logs];

    fn shift(self, by: isize) -> Focus {
        let i = Self::ORDER.iter().position(|f| *f == self).unwrap_or(0) as isize;
        Self::ORDER[(i + by).rem_euclid(4) as usize]
    }
}

/// How the program should end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quit {
    /// Leave the run as it is.
    Detach,
    /// The run was stopped.
    Stopped,
}

pub struct App {
    pub view: View,
    pub keymap: Keymap,
    pub themes: Themes,
    pub theme: usize,
    pub focus: Focus,
    pub zoomed: bool,
    pub grid: bool,
    pub agent_sel: usize,
    pub task_sel: usize,
    /// Lines scrolled up from the bottom of the reasoning pane (0 follows new text).
    pub reasoning_scroll: usize,
    /// Older events are being read back (`tui::history`).
    pub reading_older: bool,
    /// The reasoning shows the raw text (Markdown source, tool calls as JSON).
    pub raw: bool,
    /// Tool entries in the reasoning show all their lines.
    pub unfolded: bool,
    pub log_scroll: usize,
    pub log_filter: LogFilter,
    /// Min log level shown when no filter says otherwise.
    pub log_min: LogLevel,
    pub search: Option<String>,
    pub popup: Option<Popup>,
    pub status: Option<String>,
    pub can_steer: bool,
    pub quit: Option<Quit>,
    pub outbox: Vec<Command>,
    /// Something changed since the last frame.
    pub dirty: bool,
    /// How far the open popup's text scrolls, as it was last drawn; keys scroll no further.
    pub scroll_max: std::cell::Cell<usize>,
    /// Diffs to make for reviews, and the comments of closed ones.
    pub diffs: super::diff::Reviews,
}

impl App {
    pub fn new(view: View, keymap: Keymap, themes: Themes, theme: usize, can_steer: bool) -> Self {
        Self {
            view,
            keymap,
            themes,
            theme,
            focus: Focus::Agents,
            zoomed: false,
            grid: false,
            agent_sel: 0,
            task_sel: 0,
            reasoning_scroll: 0,
            reading_older: false,
            raw: false,
            unfolded: false,
            log_scroll: 0,
            log_filter: LogFilter::default(),
            log_min: LogLevel::Info,
            search: None,
            popup: None,
            status: None,
            can_steer,
            quit: None,
            outbox: Vec::new(),
            dirty: true,
            scroll_max: std::cell::Cell::new(usize::MAX),
            diffs: super::diff::Reviews::default(),
        }
    }

    /// How the reasoning shows transcripts.
    pub fn transcript_mode(&self) -> super::transcript::Mode {
        super::transcript::Mode {
            raw: self.raw,
            unfolded: self.unfolded,
        }
    }

    pub fn theme(&self) -> &Theme {
        &self.themes.list[self.theme.min(self.themes.list.len().saturating_sub(1))]
    }

    /// The agent whose reasoning is shown.
    pub fn selected_agent(&self) -> Option<&AgentId> {
        let agents = &self.view.state.agents;
        agents
            .get(self.agent_sel.min(agents.len().saturating_sub(1)))
            .map(|a| &a.id)
    }

    pub fn selected_task(&self) -> Option<&TaskId> {
        let tasks = &self.view.state.tasks;
        tasks
            .get(self.task_sel.min(tasks.len().saturating_sub(1)))
            .map(|t| &t.id)
    }

    pub(super) fn say(&mut self, msg: impl Into<String>) {
        self.status = Some(msg.into());
    }

    pub(super) fn send(&mut self, cmd: Command) {
        if self.can_steer {
            self.outbox.push(cmd);
        } else {
            let why = self.no_steer_reason();
            self.say(why);
        }
    }

    /// Why commands are not sent: a run that has ended, or a read-only viewer.
    pub(super) fn no_steer_reason(&self) -> String {
        if self.view.state.status.is_terminal() {
            "this run has ended; it can only be viewed".into()
        } else {
            "this viewer is read-only: it can look but not steer".into()
        }
    }

    /// Pasted text: it goes into the text field that is open (the composer, the `:` line, a
    /// filter), whole and at once, and is never read as keys. With no field open it is dropped.
    pub fn on_paste(&mut self, text: &str) {
        self.dirty = true;
        match &mut self.popup {
            Some(Popup::Composer(c)) => c.paste(text),
            Some(Popup::Help { filter, scroll }) => {
                filter.extend(super::popups::one_line(text).chars().take(200));
                *scroll = 0;
            }
            Some(Popup::Diff(v)) if v.input.is_some() => {
                if let Some(input) = &mut v.input {
                    input.paste(text);
                }
            }
            _ => {
                let chars = text.chars().count();
                self.say(format!(
                    "paste of {chars} characters ignored: open a text field first ({} message, {} command line)",
                    self.keymap.key_for(Action::Inject),
                    self.keymap.key_for(Action::CommandLine)
                ));
            }
        }
    }

    /// The engine's answer to a command sent earlier: only a refusal is news.
    pub fn on_answer(&mut self, _command: &Command, result: Result<(), String>) {
        if let Err(e) = result {
            self.say(format!("not done: {e}"));
            self.dirty = true;
        }
    }

    /// A key from the terminal.
    pub fn on_key(&mut self, key: KeyEvent) {
        if key.kind == KeyEventKind::Release {
            return;
        }
        self.dirty = true;
        if let Some(popup) = self.popup.take() {
            self.popup = self.popup_key(popup, key);
            return;
        }
        self.status = None;
        if let Some(action) = self.keymap.action(&key) {
            self.perform(action);
        }
    }

    fn oldest_approval(&self) -> Option<crate::domain::ApprovalId> {
        self.view
            .state
            .pending_approvals()
            .next()
            .map(|a| a.id.clone())
    }

    pub fn perform(&mut self, action: Action) {
        self.dirty = true;
        match action {
            Action::Help => {
                self.popup = Some(Popup::Help {
                    filter: String::new(),
                    scroll: 0,
                })
            }
            Action::FocusNext => self.focus = self.focus.shift(1),
            Action::FocusPrev => self.focus = self.focus.shift(-1),
            Action::FocusAgents => self.focus = Focus::Agents,
            Action::FocusReasoning => self.focus = Focus::Reasoning,
            Action::FocusTasks => self.focus = Focus::Tasks,
            Action::FocusLogs => self.focus = Focus::Logs,
            Action::Up => self.scroll(-1),
            Action::Down => self.scroll(1),
            Action::PageUp => self.scroll(-10),
            Action::PageDown => self.scroll(10),
            Action::Top => self.scroll(isize::MIN / 2),
            Action::Bottom => self.scroll(isize::MAX / 2),
            Action::Open => self.open(),
            Action::Zoom => self.zoomed = !self.zoomed,
            Action::ToggleView => self.grid = !self.grid,
            Action::ToggleRaw => {
                self.raw = !self.raw;
                self.say(if self.raw {
                    "reasoning: raw text (Markdown source, tool calls as JSON)"
                } else {
                    "reasoning: rendered"
                });
            }
            // The engine decides pause or resume from its true state: a second press while the
            // first is on its way undoes it, whatever this view shows yet.
            Action::PauseRun => match self.view.state.status {
                s if s.is_terminal() => self.say(format!("the run is {s}")),
                s => {
                    let key = self.keymap.key_for(Action::PauseRun);
                    self.say(if s == RunStatus::Paused {
                        format!("resuming the run; {key} pauses")
                    } else {
                        // Now: streaming stops at once; a tool already running finishes.
                        format!("pausing the run; {key} resumes")
                    });
                    self.send(Command::TogglePause { now: true });
                }
            },
            Action::PauseAgent => {
                let Some(agent) = self.selected_agent().cloned() else {
                    return;
                };
                let paused = self
                    .view
                    .state
                    .agent(&agent)
                    .is_some_and(|a| a.status == crate::domain::AgentStatus::Paused);
                self.say(if paused {
                    format!("resuming {agent}")
                } else {
                    format!("pausing {agent} at its next step")
                });
                self.send(Command::ToggleAgentPause { agent });
            }
            Action::SearchNext => self.next_match(1),
            Action::SearchPrev => self.next_match(-1),
            Action::Inject => {
                let target = if self.focus == Focus::Agents || self.focus == Focus::Reasoning {
                    self.selected_agent().cloned()
                } else {
                    None
                };
                self.popup = Some(Popup::Composer(Box::new(Composer::new(
                    ComposerPurpose::Inject(target),
                    self.theme(),
                ))));
            }
            Action::Approve | Action::ApproveAlways => match self.oldest_approval() {
                Some(approval) => {
                    let always = action == Action::ApproveAlways;
                    // The engine approves remote code once whatever is asked; say so here.
                    let remote = self
                        .oldest_pending()
                        .is_some_and(|a| a.label.as_ref().is_some_and(|l| l.remote_code));
                    self.say(format!(
                        "approved {approval}{}",
                        match (always, remote) {
                            (true, true) => " once only: remote code is never approved always",
                            (true, false) => " (always for this kind)",
                            (false, _) => "",
                        }
                    ));
                    self.send(Command::Approve { approval, always });
                }
                None => self.say("nothing waits for approval"),
            },
            Action::Deny => match self.oldest_approval() {
                Some(approval) => {
                    self.popup = Some(Popup::Composer(Box::new(Composer::new(
                        ComposerPurpose::Deny(approval),
                        self.theme(),
                    ))))
                }
                None => self.say("nothing waits for approval"),
            },
            Action::Retry => match self.selected_task().cloned() {
                Some(task) => {
                    self.say(format!("retrying {task}"));
                    self.send(Command::RetryTask { task });
                }
                None => self.say("select a task first (3)"),
            },
            Action::Cancel => match self.selected_task().cloned() {
                Some(task)
                    if self
                        .view
                        .state
                        .task(&task)
                        .is_some_and(|t| !t.status.is_terminal()) =>
                {
                    self.popup = Some(Popup::Confirm(Confirm::CancelTask(task)));
                }
                Some(task) => self.say(format!("{task} has already ended")),
                None => self.say("select a task first (3)"),
            },
            Action::Filter => {
                self.popup = Some(Popup::Composer(Box::new(Composer::new(
                    ComposerPurpose::Filter,
                    self.theme(),
                ))))
            }
            Action::CommandLine => {
                self.popup = Some(Popup::Composer(Box::new(Composer::new(
                    ComposerPurpose::Command,
                    self.theme(),
                ))))
            }
            Action::NextTheme => {
                self.theme = (self.theme + 1) % self.themes.list.len().max(1);
                let name = self.theme().name.clone();
                self.say(format!("theme: {name}"));
            }
            Action::Examine => match self.oldest_pending() {
                Some(a) => {
                    let lines = self.examine(&a);
                    let k = |a| self.keymap.key_for(a);
                    let answer = if self.can_steer {
                        format!(
                            " · {} approve · {} always · {} deny",
                            k(Action::Approve),
                            k(Action::ApproveAlways),
                            k(Action::Deny)
                        )
                    } else {
                        String::new()
                    };
                    self.popup = Some(Popup::Text {
                        title: format!("approval {}{answer}", a.id),
                        lines,
                        scroll: 0,
                        approval: Some(a.id.clone()),
                    });
                }
                None => self.say("nothing waits for approval"),
            },
            Action::ExtendBudget => {
                self.say("extending the budget reached last by its first amount");
                self.send(Command::ExtendBudget { target: None });
            }
            Action::Detach => self.quit = Some(Quit::Detach),
            Action::Stop => {
                if self.can_steer && !self.view.state.status.is_terminal() {
                    self.popup = Some(Popup::Confirm(Confirm::StopRun));
                } else {
                    self.quit = Some(Quit::Detach);
                }
            }
            Action::Diff => match self.task_to_review() {
                Some(task) => self.open_diff(task),
                None => self.say("select a task first (3)"),
            },
            Action::NextHunk
            | Action::PrevHunk
            | Action::NextFile
            | Action::PrevFile
            | Action::FileList
            | Action::Comment
            | Action::Uncomment
            | Action::ApproveMerge
            | Action::RequestChanges => {
                let key = self.keymap.key_for(Action::Diff);
                self.say(format!(
                    ":{} works in a task's diff: {key} on a task opens it",
                    action.name()
                ));
            }
            Action::Close => {
                if self.zoomed {
                    self.zoomed = false;
                } else if !self.log_filter.is_empty() || self.search.is_some() {
                    self.log_filter = LogFilter::default();
                    self.search = None;
                    self.say("filter cleared");
                }
            }
        }
    }

    /// The task a diff review opens on: the focused agent's task, else the selected task.
    fn task_to_review(&self) -> Option<TaskId> {
        let agents_task = || {
            self.selected_agent()
                .and_then(|a| self.view.state.agent(a))
                .and_then(|a| a.task.clone())
        };
        match self.focus {
            Focus::Agents | Focus::Reasoning => agents_task(),
            Focus::Tasks | Focus::Logs => None,
        }
        .or_else(|| self.selected_task().cloned())
    }

    fn oldest_pending(&self) -> Option<crate::domain::ApprovalState> {
        self.view.state.pending_approvals().next().cloned()
    }

    /// The lines of an approval request examined: what, risk, the rule that asked, the call.
    fn examine(&self, a: &crate::domain::ApprovalState) -> Vec<String> {
        let s = &self.view.state;
        let mut lines = vec![
            format!("request   {}", a.summary),
            format!(
                "by        {}{}",
                a.agent,
                a.task
                    .as_ref()
                    .map(|t| format!(" for {t}"))
                    .unwrap_or_default()
            ),
            format!("tool      {}", a.tool),
        ];
        match &a.label {
            Some(r) => {
                if r.remote_code {
                    lines.push(
                        "REMOTE    runs code fetched from the network; `a` approves it once only"
                            .to_owned(),
                    );
                }
                lines.push(format!("touches   {}", r.touches));
                lines.push(format!(
                    "undo      {}",
                    if r.reversible {
                        "reversible"
                    } else {
                        "irreversible: nothing undoes it"
                    }
                ));
                lines.push(format!(
                    "network   {}",
                    match (r.network, r.remote_code) {
                        (_, true) => "reaches for the network (to fetch the code it runs)",
                        (true, false) => "can reach the network",
                        (false, false) => "none (sandboxed)",
                    }
                ));
            }
            None => lines.push(format!("risk      {}", a.risk)),
        }
        if let Some(sb) = s.sandbox.as_ref().filter(|sb| !sb.complete) {
            lines.push(format!("sandbox   INCOMPLETE: {}", sb.detail));
        }
        if let Some(c) = s.calls.iter().find(|c| c.call == a.call) {
            if let Some(p) = &c.policy {
                lines.push(format!("decided   {p}"));
            }
            lines.push(String::new());
            let args = serde_json::to_string_pretty(&c.args).unwrap_or_default();
            lines.extend(args.lines().map(str::to_owned));
        }
        lines
    }

    fn open(&mut self) {
        match self.focus {
            Focus::Tasks => {
                if let Some(task) = self.selected_task().cloned() {
                    self.popup = Some(Popup::Detail { task, scroll: 0 });
                }
            }
            Focus::Agents => self.focus = Focus::Reasoning,
            Focus::Logs => {
                let shown = super::panes::logs::visible(self);
                if let Some(line) = shown
                    .len()
                    .checked_sub(1 + self.log_scroll)
                    .and_then(|i| shown.get(i))
                {
                    self.popup = Some(Popup::LogEntry((*line).clone()));
                }
            }
            // Folds or unfolds the tool entries (a file written, a diff, a command's output).
            Focus::Reasoning => {
                self.unfolded = !self.unfolded;
                self.say(if self.unfolded {
                    "tool entries unfolded"
                } else {
                    "tool entries folded"
                });
            }
        }
    }

    /// Moves the reasoning to the next (`by` 1, further down) or previous (-1) line that
    /// matches the search.
    fn next_match(&mut self, by: isize) {
        let (Some(q), Some(agent)) = (self.search.clone(), self.selected_agent().cloned()) else {
            let key = self.keymap.key_for(Action::Filter);
            self.say(format!("no search: {key} in the reasoning searches"));
            return;
        };
        let Some(t) = self.view.transcripts.get(&agent) else {
            return;
        };
        let hits = t.find_in(&q, Some(self.transcript_mode()));
        let here = t.len().saturating_sub(1 + self.reasoning_scroll);
        let found = if by > 0 {
            hits.iter().position(|&i| i > here)
        } else {
            hits.iter().rposition(|&i| i < here)
        };
        match found {
            Some(k) => {
                self.reasoning_scroll = t.len().saturating_sub(hits[k] + 1);
                self.say(format!("match {} of {} for \"{q}\"", k + 1, hits.len()));
            }
            None if hits.is_empty() => self.say(format!("no match for \"{q}\"")),
            None => self.say(format!(
                "no {} match for \"{q}\" ({} in all)",
                if by > 0 { "later" } else { "earlier" },
                hits.len()
            )),
        }
    }

    fn scroll(&mut self, by: isize) {
        let clamp = |v: usize, by: isize, max: usize| -> usize {
            (v as isize + by).clamp(0, max as isize) as usize
        };
        match self.focus {
            Focus::Agents => {
                let n = self.view.state.agents.len();
                self.agent_sel = clamp(self.agent_sel, by, n.saturating_sub(1));
                self.reasoning_scroll = 0;
            }
            Focus::Tasks => {
                let n = self.view.state.tasks.len();
                self.task_sel = clamp(self.task_sel, by, n.saturating_sub(1));
            }
            Focus::Reasoning => {
                let mode = self.transcript_mode();
                self.reasoning_scroll = self
                    .selected_agent()
                    .and_then(|a| self.view.transcripts.get(a))
                    .map_or(0, |t| t.scrolled(self.reasoning_scroll, by, mode));
            }
            Focus::Logs => {
                // Scrolled over the lines the filters let through, as the pane draws them.
                let shown = super::panes::logs::visible(self).len();
                self.log_scroll = clamp(self.log_scroll, -by, shown.saturating_sub(1));
            }
        }
    }

    /// A record from the session.
    pub fn on_record(&mut self, rec: &crate::domain::EventRecord) {
        // Keep a scrolled-back reasoning pane where it is while text arrives.
        let selected = self.selected_agent().cloned();
        let before = selected
            .as_ref()
            .and_then(|a| self.view.transcripts.get(a))
            .map_or(0, |t| t.len());
        self.view.ingest(rec);
        if self.reasoning_scroll > 0 {
            let after = selected
                .as_ref()
                .and_then(|a| self.view.transcripts.get(a))
                .map_or(0, |t| t.len());
            self.reasoning_scroll += after.saturating_sub(before);
        }
        if self.log_scroll > 0 && !matches!(rec.event, crate::domain::Event::AgentDelta { .. }) {
            self.log_scroll += 1;
        }
        self.dirty = true;
    }
}
