//! Keys while a popup is open: each popup owns the keyboard until it closes, and what it
//! produces (a confirmed action, a message, a filter, a command line) is carried out here.

use super::super::action::Action;
use super::super::app::{App, Focus, LogFilter, Quit};
use super::{ComposerPurpose, Confirm, Popup, command_line};
use crate::protocol::Command;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

impl App {
    pub(in crate::tui) fn popup_key(&mut self, popup: Popup, key: KeyEvent) -> Option<Popup> {
        // Popups read the same keymap as the panes: rebinding `down` moves popups too.
        let action = self.keymap.action(&key);
        let max = self.scroll_max.get();
        match popup {
            Popup::Help {
                mut filter,
                mut scroll,
            } => {
                // While no filter is typed, the keymap's moves scroll (j, k, g, G too); once one
                // is, characters are text and only keys that type nothing move.
                let types = matches!(key.code, KeyCode::Char(_))
                    && !key
                        .modifiers
                        .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT);
                match action {
                    Some(Action::Close) => return None,
                    Some(Action::Help) if filter.is_empty() => return None,
                    Some(a) if !types || filter.is_empty() => {
                        if let Some(s) = scrolled(a, scroll, max) {
                            return Some(Popup::Help { filter, scroll: s });
                        }
                    }
                    _ => {}
                }
                match key.code {
                    KeyCode::Backspace => {
                        filter.pop();
                        scroll = 0;
                    }
                    KeyCode::Char(c) if types => {
                        filter.push(c);
                        scroll = 0;
                    }
                    _ => {}
                }
                Some(Popup::Help { filter, scroll })
            }
            Popup::Detail { task, scroll } => match action {
                Some(Action::Close | Action::Detach | Action::Open) => None,
                // The transcript in it: rendered, or raw (tool calls as their JSON).
                Some(Action::ToggleRaw) => {
                    self.raw = !self.raw;
                    Some(Popup::Detail { task, scroll })
                }
                Some(Action::Diff) => {
                    self.open_diff(task);
                    self.popup.take()
                }
                Some(a) => Some(Popup::Detail {
                    task,
                    scroll: scrolled(a, scroll, max).unwrap_or(scroll),
                }),
                None => Some(Popup::Detail { task, scroll }),
            },
            Popup::Text {
                title,
                lines,
                scroll,
                approval,
            } => match action {
                // An examined request is answered from its page.
                Some(a @ (Action::Approve | Action::ApproveAlways | Action::Deny))
                    if approval.is_some() =>
                {
                    self.perform(a);
                    self.popup.take()
                }
                Some(Action::Close | Action::Detach | Action::Open) => None,
                Some(a) => Some(Popup::Text {
                    title,
                    scroll: scrolled(a, scroll, max).unwrap_or(scroll),
                    lines,
                    approval,
                }),
                None => Some(Popup::Text {
                    title,
                    lines,
                    scroll,
                    approval,
                }),
            },
            Popup::LogEntry(line) => match action {
                Some(Action::Close | Action::Detach | Action::Open) => None,
                _ => Some(Popup::LogEntry(line)),
            },
            Popup::Confirm(c) => match action {
                Some(Action::Approve | Action::Open) => {
                    self.confirmed(c);
                    None
                }
                Some(Action::Deny | Action::Close) => {
                    self.say("not done");
                    None
                }
                _ => Some(Popup::Confirm(c)),
            },
            Popup::Diff(v) => self.diff_key(v, key),
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

/// Where a move action takes a popup's scroll, at most `max`; `None` for other actions.
fn scrolled(action: Action, scroll: usize, max: usize) -> Option<usize> {
    let to = match action {
        Action::Down => scroll.saturating_add(1),
        Action::Up => scroll.saturating_sub(1),
        Action::PageDown => scroll.saturating_add(10),
        Action::PageUp => scroll.saturating_sub(10),
        Action::Top => 0,
        Action::Bottom => max,
        _ => return None,
    };
    Some(to.min(max))
}
