//! A one-purpose text input on tui-textarea: messages to agents, deny reasons, filters and the
//! `:` command line. Enter sends, Alt-Enter adds a line (messages only), Esc cancels; Ctrl-U
//! kills to the start of the line, Ctrl-W a word. A paste is inserted as text, in one piece.

use super::super::theme::Theme;
use crate::domain::{AgentId, ApprovalId};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::style::Style;
use tui_textarea::TextArea;

#[derive(Debug, Clone, PartialEq)]
pub enum ComposerPurpose {
    /// A message to an agent; `None` is the supervisor.
    Inject(Option<AgentId>),
    Deny(ApprovalId),
    Filter,
    Command,
}

pub struct Composer {
    pub purpose: ComposerPurpose,
    pub area: TextArea<'static>,
    pub cancelled: bool,
}

impl Composer {
    pub fn new(purpose: ComposerPurpose, theme: &Theme) -> Self {
        let mut area = TextArea::default();
        area.set_cursor_line_style(Style::new());
        area.set_style(theme.base);
        let hint = match &purpose {
            ComposerPurpose::Inject(_) => {
                "type a message; Enter sends, Alt-Enter new line, Esc cancels"
            }
            ComposerPurpose::Deny(_) => "why is it denied? Enter sends, Esc cancels",
            ComposerPurpose::Filter => "text, or level:warn agent:NAME; Enter applies, Esc cancels",
            ComposerPurpose::Command => {
                "pause, resume, budget 10, theme mono, retry T3, help… (Tab completes)"
            }
        };
        area.set_placeholder_text(hint);
        area.set_placeholder_style(theme.dim);
        Self {
            purpose,
            area,
            cancelled: false,
        }
    }

    pub fn title(&self) -> String {
        match &self.purpose {
            ComposerPurpose::Inject(Some(a)) => format!(" message to {a} "),
            ComposerPurpose::Inject(None) => " message to the supervisor ".into(),
            ComposerPurpose::Deny(id) => format!(" deny {id}: reason "),
            ComposerPurpose::Filter => " filter / search ".into(),
            ComposerPurpose::Command => " : ".into(),
        }
    }

    pub fn text(&self) -> String {
        self.area.lines().join("\n")
    }

    pub fn height(&self) -> u16 {
        (self.area.lines().len() as u16).clamp(1, 6) + 2
    }

    /// Pasted text, inserted in one operation. Only a message keeps its lines; a one-line
    /// field (a reason, a filter, the `:` line) gets them joined with spaces. Nothing in a paste
    /// sends: Enter is a key, never a character of pasted text.
    pub fn paste(&mut self, text: &str) {
        let text = if matches!(self.purpose, ComposerPurpose::Inject(_)) {
            super::multi_line(text)
        } else {
            super::one_line(text)
        };
        self.area.insert_str(text);
    }

    /// Handles a key; returns the text when it is sent.
    pub fn key(&mut self, key: KeyEvent) -> Option<String> {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match key.code {
            // Readline's kills, in every text field: to the start of the line, a word back.
            KeyCode::Char('u') if ctrl => {
                self.area.delete_line_by_head();
                None
            }
            KeyCode::Char('w') if ctrl => {
                self.area.delete_word();
                None
            }
            KeyCode::Esc => {
                self.cancelled = true;
                None
            }
            KeyCode::Enter
                if key.modifiers.contains(KeyModifiers::ALT)
                    && matches!(self.purpose, ComposerPurpose::Inject(_)) =>
            {
                self.area.insert_newline();
                None
            }
            KeyCode::Enter => {
                let text = self.text().trim().to_owned();
                if text.is_empty() && matches!(self.purpose, ComposerPurpose::Inject(_)) {
                    return None;
                }
                Some(text)
            }
            KeyCode::Tab if self.purpose == ComposerPurpose::Command => {
                if let Some(done) = super::command_line::complete(&self.text()) {
                    self.area = TextArea::new(vec![done]);
                    self.area.move_cursor(tui_textarea::CursorMove::End);
                    self.area.set_cursor_line_style(Style::new());
                }
                None
            }
            _ => {
                self.area.input(key);
                None
            }
        }
    }
}
