//! Keys → actions. Defaults follow DESIGN §7; every binding can be changed in the config's
//! `[keys]` table (`approve = "y"`, `help = ["?", "f1"]`). `ctrl-a` and `ctrl-b` are never
//! bound (tmux and screen use them).
//!
//! Keys live in layers ([`Layer`]): the diff review's own commands have keys of their own that
//! come first there and mean nothing elsewhere; every other key works in the review too.

use super::action::{Action, Layer};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    pub code: KeyCodeKey,
    pub ctrl: bool,
    pub alt: bool,
}

/// A comparable key code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KeyCodeKey {
    Char(char),
    F(u8),
    Enter,
    Esc,
    Tab,
    BackTab,
    Up,
    Down,
    Left,
    Right,
    PageUp,
    PageDown,
    Home,
    End,
    Backspace,
    Delete,
}

impl Key {
    pub fn from_event(ev: &KeyEvent) -> Option<Key> {
        let code = match ev.code {
            KeyCode::Char(c) => KeyCodeKey::Char(c),
            KeyCode::F(n) => KeyCodeKey::F(n),
            KeyCode::Enter => KeyCodeKey::Enter,
            KeyCode::Esc => KeyCodeKey::Esc,
            KeyCode::Tab => KeyCodeKey::Tab,
            KeyCode::BackTab => KeyCodeKey::BackTab,
            KeyCode::Up => KeyCodeKey::Up,
            KeyCode::Down => KeyCodeKey::Down,
            KeyCode::Left => KeyCodeKey::Left,
            KeyCode::Right => KeyCodeKey::Right,
            KeyCode::PageUp => KeyCodeKey::PageUp,
            KeyCode::PageDown => KeyCodeKey::PageDown,
            KeyCode::Home => KeyCodeKey::Home,
            KeyCode::End => KeyCodeKey::End,
            KeyCode::Backspace => KeyCodeKey::Backspace,
            KeyCode::Delete => KeyCodeKey::Delete,
            _ => return None,
        };
        Some(Key {
            code,
            ctrl: ev.modifiers.contains(KeyModifiers::CONTROL),
            alt: ev.modifiers.contains(KeyModifiers::ALT),
        })
    }

    /// Parses `q`, `Q`, `space`, `enter`, `ctrl-c`, `shift-tab`, `f1`, `pgup`, …
    pub fn parse(s: &str) -> Result<Key, String> {
        let mut ctrl = false;
        let mut alt = false;
        let mut rest = s;
        loop {
            if let Some(r) = rest.strip_prefix("ctrl-") {
                ctrl = true;
                rest = r;
            } else if let Some(r) = rest.strip_prefix("alt-") {
                alt = true;
                rest = r;
            } else {
                break;
            }
        }
        let code = match rest.to_lowercase().as_str() {
            "space" => KeyCodeKey::Char(' '),
            "enter" | "return" => KeyCodeKey::Enter,
            "esc" | "escape" => KeyCodeKey::Esc,
            "tab" => KeyCodeKey::Tab,
            "shift-tab" | "backtab" => KeyCodeKey::BackTab,
            "up" => KeyCodeKey::Up,
            "down" => KeyCodeKey::Down,
            "left" => KeyCodeKey::Left,
            "right" => KeyCodeKey::Right,
            "pgup" | "pageup" => KeyCodeKey::PageUp,
            "pgdn" | "pagedown" => KeyCodeKey::PageDown,
            "home" => KeyCodeKey::Home,
            "end" => KeyCodeKey::End,
            "backspace" => KeyCodeKey::Backspace,
            "delete" | "del" => KeyCodeKey::Delete,
            f if f.len() >= 2 && f.starts_with('f') && f[1..].parse::<u8>().is_ok() => {
                KeyCodeKey::F(f[1..].parse().unwrap_or(1))
            }
            _ => {
                let mut chars = rest.chars();
                match (chars.next(), chars.next()) {
                    (Some(c), None) => {
                        KeyCodeKey::Char(if ctrl { c.to_ascii_lowercase() } else { c })
                    }
                    _ => {
                        return Err(format!(
                            "{s:?} is not a key (examples: q, Q, space, enter, ctrl-c, shift-tab, f1, pgup)"
                        ));
                    }
                }
            }
        };
        if ctrl && matches!(code, KeyCodeKey::Char('a' | 'b')) {
            return Err(format!("{s:?} is reserved for tmux and screen"));
        }
        Ok(Key { code, ctrl, alt })
    }

    pub fn label(&self) -> String {
        let base = match self.code {
            KeyCodeKey::Char(' ') => "space".to_owned(),
            KeyCodeKey::Char(c) => c.to_string(),
            KeyCodeKey::F(n) => format!("F{n}"),
            KeyCodeKey::Enter => "Enter".into(),
            KeyCodeKey::Esc => "Esc".into(),
            KeyCodeKey::Tab => "Tab".into(),
            KeyCodeKey::BackTab => "S-Tab".into(),
            KeyCodeKey::Up => "↑".into(),
            KeyCodeKey::Down => "↓".into(),
            KeyCodeKey::Left => "←".into(),
            KeyCodeKey::Right => "→".into(),
            KeyCodeKey::PageUp => "PgUp".into(),
            KeyCodeKey::PageDown => "PgDn".into(),
            KeyCodeKey::Home => "Home".into(),
            KeyCodeKey::End => "End".into(),
            KeyCodeKey::Backspace => "Bksp".into(),
            KeyCodeKey::Delete => "Del".into(),
        };
        match (self.ctrl, self.alt) {
            (true, _) => format!("C-{base}"),
            (_, true) => format!("M-{base}"),
            _ => base,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Keymap {
    map: BTreeMap<Key, Action>,
    /// The diff review's keys, looked up before `map` there.
    diff: BTreeMap<Key, Action>,
}

const DEFAULTS: &[(&str, Action)] = &[
    ("?", Action::Help),
    ("f1", Action::Help),
    ("tab", Action::FocusNext),
    ("shift-tab", Action::FocusPrev),
    ("1", Action::FocusAgents),
    ("2", Action::FocusReasoning),
    ("3", Action::FocusTasks),
    ("4", Action::FocusLogs),
    ("k", Action::Up),
    ("up", Action::Up),
    ("j", Action::Down),
    ("down", Action::Down),
    ("g", Action::Top),
    ("home", Action::Top),
    ("G", Action::Bottom),
    ("end", Action::Bottom),
    ("pgup", Action::PageUp),
    ("pgdn", Action::PageDown),
    ("enter", Action::Open),
    ("z", Action::Zoom),
    ("v", Action::ToggleView),
    ("m", Action::ToggleRaw),
    ("space", Action::PauseRun),
    ("p", Action::PauseAgent),
    ("i", Action::Inject),
    ("y", Action::Approve),
    ("a", Action::ApproveAlways),
    ("n", Action::Deny),
    ("e", Action::Examine),
    ("B", Action::ExtendBudget),
    ("r", Action::Retry),
    ("x", Action::Cancel),
    ("/", Action::Filter),
    ("]", Action::SearchNext),
    ("[", Action::SearchPrev),
    (":", Action::CommandLine),
    ("t", Action::NextTheme),
    ("q", Action::Detach),
    ("Q", Action::Stop),
    ("esc", Action::Close),
    ("ctrl-c", Action::Detach),
    ("d", Action::Diff),
];

/// The diff review's own keys ([`Layer::Diff`]).
const DIFF_DEFAULTS: &[(&str, Action)] = &[
    ("n", Action::NextHunk),
    ("N", Action::PrevHunk),
    ("]", Action::NextFile),
    ("[", Action::PrevFile),
    ("f", Action::FileList),
    ("c", Action::Comment),
    ("x", Action::Uncomment),
    ("a", Action::ApproveMerge),
    ("R", Action::RequestChanges),
];

impl Default for Keymap {
    fn default() -> Self {
        let parse = |defaults: &[(&str, Action)]| {
            let mut map = BTreeMap::new();
            for (k, a) in defaults {
                if let Ok(key) = Key::parse(k) {
                    map.insert(key, *a);
                }
            }
            map
        };
        Self {
            map: parse(DEFAULTS),
            diff: parse(DIFF_DEFAULTS),
        }
    }
}

impl Keymap {
    /// The defaults with `overrides` (action name → keys) applied: an action named there loses
    /// its default keys and gets the given ones.
    pub fn with_overrides(overrides: &BTreeMap<String, Vec<String>>) -> Result<Self, String> {
        let mut km = Keymap::default();
        for (name, keys) in overrides {
            let action = Action::from_name(name).ok_or_else(|| {
                let names: Vec<&str> = Action::ALL.iter().map(|a| a.name()).collect();
                format!(
                    "[keys]: unknown action {name:?} (actions: {})",
                    names.join(", ")
                )
            })?;
            let map = km.layer_mut(action.layer());
            map.retain(|_, a| *a != action);
            for k in keys {
                let key = Key::parse(k).map_err(|e| format!("[keys] {name}: {e}"))?;
                map.insert(key, action);
            }
        }
        Ok(km)
    }

    fn layer(&self, layer: Layer) -> &BTreeMap<Key, Action> {
        match layer {
            Layer::Main => &self.map,
            Layer::Diff => &self.diff,
        }
    }

    fn layer_mut(&mut self, layer: Layer) -> &mut BTreeMap<Key, Action> {
        match layer {
            Layer::Main => &mut self.map,
            Layer::Diff => &mut self.diff,
        }
    }

    /// The command of a key everywhere but in the diff review.
    pub fn action(&self, ev: &KeyEvent) -> Option<Action> {
        self.action_in(Layer::Main, ev)
    }

    /// The command of a key in `layer`: the layer's own keys first, then the ones everywhere.
    pub fn action_in(&self, layer: Layer, ev: &KeyEvent) -> Option<Action> {
        // Shifted letters arrive as upper case with SHIFT; that is the key itself.
        let key = Key::from_event(ev)?;
        match layer {
            Layer::Main => None,
            Layer::Diff => self.diff.get(&key).copied(),
        }
        .or_else(|| self.map.get(&key).copied())
    }

    /// Every key bound to `action`, as labels.
    /// Plain keys come before ones with modifiers.
    pub fn keys_for(&self, action: Action) -> Vec<String> {
        let mut keys: Vec<&Key> = self
            .layer(action.layer())
            .iter()
            .filter(|(_, a)| **a == action)
            .map(|(k, _)| k)
            .collect();
        keys.sort_by_key(|k| k.ctrl || k.alt);
        keys.into_iter().map(Key::label).collect()
    }

    /// The first key of `action`, for hints.
    pub fn key_for(&self, action: Action) -> String {
        self.keys_for(action)
            .into_iter()
            .next()
            .unwrap_or_else(|| format!(":{}", action.name()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(code: KeyCode, m: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, m)
    }

    #[test]
    fn defaults_follow_the_design() {
        let km = Keymap::default();
        assert_eq!(
            km.action(&ev(KeyCode::Char(' '), KeyModifiers::NONE)),
            Some(Action::PauseRun)
        );
        assert_eq!(
            km.action(&ev(KeyCode::Char('Q'), KeyModifiers::SHIFT)),
            Some(Action::Stop)
        );
        assert_eq!(
            km.action(&ev(KeyCode::BackTab, KeyModifiers::SHIFT)),
            Some(Action::FocusPrev)
        );
        assert_eq!(
            km.action(&ev(KeyCode::Char('a'), KeyModifiers::CONTROL)),
            None
        );
        assert_eq!(
            km.action(&ev(KeyCode::Char('b'), KeyModifiers::CONTROL)),
            None
        );
    }

    #[test]
    fn overrides_rebind_and_bad_names_are_errors() {
        let mut o = BTreeMap::new();
        o.insert("approve".to_owned(), vec!["Y".to_owned(), "f5".to_owned()]);
        let km = Keymap::with_overrides(&o).unwrap();
        assert_eq!(km.action(&ev(KeyCode::Char('y'), KeyModifiers::NONE)), None);
        assert_eq!(
            km.action(&ev(KeyCode::Char('Y'), KeyModifiers::SHIFT)),
            Some(Action::Approve)
        );
        assert_eq!(
            km.action(&ev(KeyCode::F(5), KeyModifiers::NONE)),
            Some(Action::Approve)
        );
        o.insert("launch".to_owned(), vec!["l".to_owned()]);
        assert!(
            Keymap::with_overrides(&o)
                .unwrap_err()
                .contains("unknown action")
        );
        let mut o = BTreeMap::new();
        o.insert("help".to_owned(), vec!["ctrl-b".to_owned()]);
        assert!(Keymap::with_overrides(&o).unwrap_err().contains("reserved"));
    }

    #[test]
    fn the_diff_layer_comes_first_in_a_diff_and_nowhere_else() {
        let a = ev(KeyCode::Char('a'), KeyModifiers::NONE);
        let j = ev(KeyCode::Char('j'), KeyModifiers::NONE);
        let km = Keymap::default();
        assert_eq!(km.action(&a), Some(Action::ApproveAlways));
        assert_eq!(km.action_in(Layer::Diff, &a), Some(Action::ApproveMerge));
        assert_eq!(km.action_in(Layer::Diff, &j), Some(Action::Down));
        assert_eq!(km.keys_for(Action::ApproveMerge), vec!["a"]);
        assert_eq!(km.keys_for(Action::ApproveAlways), vec!["a"]);
        // Rebinding a review key moves it in its layer only.
        let mut o = BTreeMap::new();
        o.insert("approve-merge".to_owned(), vec!["A".to_owned()]);
        let km = Keymap::with_overrides(&o).unwrap();
        assert_eq!(km.action_in(Layer::Diff, &a), Some(Action::ApproveAlways));
        assert_eq!(km.keys_for(Action::ApproveMerge), vec!["A"]);
        assert_eq!(
            km.action(&ev(KeyCode::Char('A'), KeyModifiers::SHIFT)),
            None
        );
    }
}
