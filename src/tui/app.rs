//! The control room's state: the view model plus what the person is looking at (focus,
//! selections, scroll, popups), and how keys and actions change it. Commands for the engine are
//! queued in `outbox`; the loop sends them through the session.

use super::action::Action;
use super::keymap::Keymap;
use super::popups::{Composer, ComposerPurpose, Confirm, Popup, command_line};
use super::theme::{Theme, Themes};
use super::view::View;
use crate::domain::{AgentId, LogLevel, RunStatus, TaskId};
use crate::protocol::Command;
use crossterm::event::{KeyCode, KeyEvent, KeyEventKind};

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

/// Filters of the logs pane: `/` text with optional `level:warn` and `agent:NAME` words.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LogFilter {
    pub text: String,
    pub level: Option<LogLevel>,
    pub agent: Option<String>,
}

impl LogFilter {
    pub fn parse(input: &str) -> Self {
        let mut f = LogFilter::default();
        let mut words = Vec::new();
        for w in input.split_whitespace() {
            if let Some(l) = w.strip_prefix("level:") {
                f.level = match l {
                    "debug" => Some(LogLevel::Debug),
                    "info" => Some(LogLevel::Info),
                    "warn" | "warning" => Some(LogLevel::Warn),
                    "error" => Some(LogLevel::Error),
                    _ => None,
                };
            } else if let Some(a) = w.strip_prefix("agent:") {
                f.agent = Some(a.to_owned());
            } else {
                words.push(w);
            }
        }
        f.text = words.join(" ").to_lowercase();
        f
    }

    pub fn is_empty(&self) -> bool {
        *self == LogFilter::default()
    }

    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(l) = self.level {
            parts.push(format!("level ≥ {l}"));
        }
        if let Some(a) = &self.agent {
            parts.push(format!("agent {a}"));
        }
        if !self.text.is_empty() {
            parts.push(format!("\"{}\"", self.text));
        }
        parts.join(" · ")
    }
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

    fn say(&mut self, msg: impl Into<String>) {
        self.status = Some(msg.into());
    }

    fn send(&mut self, cmd: Command) {
        if self.can_steer {
            self.outbox.push(cmd);
        } else {
            self.say("this run has ended; it can only be viewed");
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

    fn popup_key(&mut self, popup: Popup, key: KeyEvent) -> Option<Popup> {
        match popup {
            Popup::Help {
                mut filter,
                mut scroll,
            } => match key.code {
                KeyCode::Esc => None,
                KeyCode::Char('?') if filter.is_empty() => None,
                KeyCode::Down => {
                    scroll += 1;
                    Some(Popup::Help { filter, scroll })
                }
                KeyCode::Up => {
                    scroll = scroll.saturating_sub(1);
                    Some(Popup::Help { filter, scroll })
                }
                KeyCode::Backspace => {
                    filter.pop();
                    Some(Popup::Help { filter, scroll: 0 })
                }
                KeyCode::Char(c) => {
                    filter.push(c);
                    Some(Popup::Help { filter, scroll: 0 })
                }
                _ => Some(Popup::Help { filter, scroll }),
            },
            Popup::Detail { task, mut scroll } => match key.code {
                KeyCode::Esc | KeyCode::Char('q') | KeyCode::Enter => None,
                KeyCode::Down | KeyCode::Char('j') => {
                    scroll += 1;
                    Some(Popup::Detail { task, scroll })
                }
                KeyCode::Up | KeyCode::Char('k') => {
                    scroll = scroll.saturating_sub(1);
                    Some(Popup::Detail { task, scroll })
                }
                KeyCode::PageDown => Some(Popup::Detail {
                    task,
                    scroll: scroll + 10,
                }),
                KeyCode::PageUp => Some(Popup::Detail {
                    task,
                    scroll: scroll.saturating_sub(10),
                }),
                _ => Some(Popup::Detail { task, scroll }),
            },
            Popup::LogEntry(line) => match key.code {
                KeyCode::Esc | KeyCode::Enter | KeyCode::Char('q') => None,
                _ => Some(Popup::LogEntry(line)),
            },
            Popup::Confirm(c) => match key.code {
                KeyCode::Char('y') | KeyCode::Enter => {
                    self.confirmed(c);
                    None
                }
                KeyCode::Char('n') | KeyCode::Esc => {
                    self.say("not done");
                    None
                }
                _ => Some(Popup::Confirm(c)),
            },
            Popup::Composer(mut c) => match c.key(key) {
                Some(text) => {
                    self.composed(c.purpose.clone(), text);
                    None
                }
                None if c.cancelled => None,
                None => Some(Popup::Composer(c)),
            },
        }
    }

    fn confirmed(&mut self, c: Confirm) {
        match c {
            Confirm::CancelTask(task) => {
                self.say(format!("cancelling {task}"));
                self.send(Command::CancelTask { task, reason: None });
            }
            Confirm::StopRun => {
                self.send(Command::StopRun { reason: None });
                self.quit = Some(Quit::Stopped);
            }
        }
    }

    fn composed(&mut self, purpose: ComposerPurpose, text: String) {
        match purpose {
            ComposerPurpose::Inject(target) => {
                let who = target
                    .as_ref()
                    .map_or("the supervisor".to_owned(), ToString::to_string);
                self.say(format!("message sent to {who}"));
                self.send(Command::Inject { target, text });
            }
            ComposerPurpose::Deny(approval) => {
                self.say(format!("denied {approval}"));
                self.send(Command::Deny {
                    approval,
                    reason: text,
                });
            }
            ComposerPurpose::Filter => self.apply_filter(&text),
            ComposerPurpose::Command => {
                if let Err(e) = command_line::execute(self, &text) {
                    self.say(e);
                }
            }
        }
    }

    fn apply_filter(&mut self, text: &str) {
        match self.focus {
            Focus::Reasoning => {
                self.search = (!text.trim().is_empty()).then(|| text.trim().to_owned());
                self.jump_to_match();
            }
            _ => {
                self.log_filter = LogFilter::parse(text);
                self.log_scroll = 0;
                if self.focus != Focus::Logs {
                    self.focus = Focus::Logs;
                }
            }
        }
    }

    /// Scrolls the reasoning so the newest line matching the search is on screen.
    fn jump_to_match(&mut self) {
        let (Some(q), Some(agent)) = (self.search.clone(), self.selected_agent().cloned()) else {
            return;
        };
        let Some(t) = self.view.transcripts.get(&agent) else {
            return;
        };
        let hits = t.find(&q);
        match hits.last() {
            Some(i) => {
                self.reasoning_scroll = t.len().saturating_sub(i + 1);
                self.say(format!("{} matches for \"{q}\"", hits.len()));
            }
            None => self.say(format!("no match for \"{q}\"")),
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
            Action::PauseRun => match self.view.state.status {
                RunStatus::Paused => {
                    self.say("resuming the run");
                    self.send(Command::ResumeRun);
                }
                s if s.is_terminal() => self.say(format!("the run is {s}")),
                _ => {
                    // Now: streaming stops at once; a tool already running finishes.
                    self.say("run paused; space resumes");
                    self.send(Command::PauseRun { now: true });
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
                if paused {
                    self.say(format!("resuming {agent}"));
                    self.send(Command::ResumeAgent { agent });
                } else {
                    self.say(format!("pausing {agent} at its next step"));
                    self.send(Command::PauseAgent { agent });
                }
            }
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
                    self.say(format!(
                        "approved {approval}{}",
                        if always {
                            " (always for this kind)"
                        } else {
                            ""
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
            Action::Detach => self.quit = Some(Quit::Detach),
            Action::Stop => {
                if self.can_steer && !self.view.state.status.is_terminal() {
                    self.popup = Some(Popup::Confirm(Confirm::StopRun));
                } else {
                    self.quit = Some(Quit::Detach);
                }
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
            Focus::Reasoning => {
                let task = self
                    .selected_agent()
                    .and_then(|a| self.view.state.agent(a))
                    .and_then(|a| a.task.clone());
                if let Some(task) = task {
                    self.popup = Some(Popup::Detail { task, scroll: 0 });
                }
            }
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
                let len = self
                    .selected_agent()
                    .and_then(|a| self.view.transcripts.get(a))
                    .map_or(0, |t| t.len());
                self.reasoning_scroll = clamp(self.reasoning_scroll, -by, len.saturating_sub(1));
            }
            Focus::Logs => {
                self.log_scroll =
                    clamp(self.log_scroll, -by, self.view.logs.len().saturating_sub(1));
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
