//! Keys while a popup is open: each popup owns the keyboard until it closes, and what it
//! produces (a confirmed action, a message, a filter, a command line) is carried out here.

use super::super::action::Action;
use super::super::app::{App, Focus, LogFilter, Quit};
use super::{ComposerPurpose, Confirm, Popup, command_line};
use crate::protocol::Command;
use crossterm::event::{KeyCode, KeyEvent};

impl App {
    pub(in crate::tui) fn popup_key(&mut self, popup: Popup, key: KeyEvent) -> Option<Popup> {
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
            Popup::Text {
                title,
                lines,
                mut scroll,
            } => match key.code {
                // An examined request is answered from its page.
                _ if title.starts_with("approval ")
                    && matches!(
                        self.keymap.action(&key),
                        Some(Action::Approve | Action::ApproveAlways | Action::Deny)
                    ) =>
                {
                    if let Some(action) = self.keymap.action(&key) {
                        self.perform(action);
                    }
                    self.popup.take()
                }
                KeyCode::Esc | KeyCode::Enter | KeyCode::Char('q') => None,
                KeyCode::Down | KeyCode::Char('j') => {
                    scroll = (scroll + 1).min(lines.len().saturating_sub(1));
                    Some(Popup::Text {
                        title,
                        lines,
                        scroll,
                    })
                }
                KeyCode::Up | KeyCode::Char('k') => {
                    scroll = scroll.saturating_sub(1);
                    Some(Popup::Text {
                        title,
                        lines,
                        scroll,
                    })
                }
                _ => Some(Popup::Text {
                    title,
                    lines,
                    scroll,
                }),
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
                    // A command may open a popup of its own (`:rules`).
                    self.popup.take()
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
    pub(in crate::tui) fn jump_to_match(&mut self) {
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
}
