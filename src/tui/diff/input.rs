//! The one-line input of a comment on a diff line, on tui-textarea like the composer: Enter
//! keeps the comment, Esc drops it, Ctrl-U and Ctrl-W kill as in readline, a paste is text.

use super::review::Comment;
use crate::tui::theme::Theme;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::style::Style;
use tui_textarea::TextArea;

pub struct CommentInput {
    /// The comment being written; its text comes from the input.
    pub draft: Comment,
    pub area: TextArea<'static>,
}

/// What a key did to the input.
pub enum Typed {
    Editing,
    Cancelled,
    /// The comment, with its text.
    Done(Comment),
}

impl CommentInput {
    pub fn new(draft: Comment, theme: &Theme) -> Self {
        let mut area = TextArea::default();
        area.set_cursor_line_style(Style::new());
        area.set_style(theme.base);
        area.set_placeholder_text("your comment on this line; Enter keeps it, Esc drops it");
        area.set_placeholder_style(theme.dim);
        Self { draft, area }
    }

    pub fn title(&self) -> String {
        format!(" comment on {} ", self.draft.anchor())
    }

    pub fn paste(&mut self, text: &str) {
        self.area.insert_str(
            crate::tui::popups::one_line(text)
                .chars()
                .take(2000)
                .collect::<String>(),
        );
    }

    pub fn key(&mut self, key: KeyEvent) -> Typed {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match key.code {
            KeyCode::Char('u') if ctrl => {
                self.area.delete_line_by_head();
            }
            KeyCode::Char('w') if ctrl => {
                self.area.delete_word();
            }
            KeyCode::Esc => return Typed::Cancelled,
            KeyCode::Enter => {
                let text = self.area.lines().join(" ").trim().to_owned();
                if text.is_empty() {
                    return Typed::Editing;
                }
                let mut c = self.draft.clone();
                c.text = text;
                return Typed::Done(c);
            }
            _ => {
                self.area.input(key);
            }
        }
        Typed::Editing
    }
}
