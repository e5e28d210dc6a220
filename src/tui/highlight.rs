//! Syntax highlighting of code lines with syntect's bundled syntaxes, coloured by the roles of
//! OUR theme (`code_keyword`, `code_string`, …), never by a syntect theme.
//!
//! Invariants:
//! - the syntax set is loaded once per process ([`OnceLock`]), at the first code line drawn
//!   (under a millisecond); a syntax's first use costs more (30–50 ms, its regexes compile), so
//!   the control room starts [`warm_up`] as it opens, which does that for the common languages
//!   on a thread of its own;
//! - a highlighter parses at most [`MAX_BACK`] lines before the first line it shows: a block
//!   scrolled deep into starts from a fresh state there rather than from its first line, so the
//!   cost of a frame does not grow with the length of a code block;
//! - the text is never changed, only styled: the caller wraps and sanitises it as plain text.

use super::theme::Theme;
use ratatui::style::Style;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use syntect::parsing::{ParseState, Scope, ScopeStack, SyntaxReference, SyntaxSet};

/// Lines parsed, at most, before the first one shown, to find the parser's state there.
pub const MAX_BACK: usize = 60;
/// Lines longer than this are not parsed (minified code): they draw plain.
const MAX_LINE: usize = 2_000;

static SYNTAXES: OnceLock<SyntaxSet> = OnceLock::new();
static LOADING: AtomicBool = AtomicBool::new(false);

/// Small pieces of the languages agents write most, parsed by [`warm_up`] so that the
/// parser's first use of each (its regexes compile then) happens off the UI thread.
const SAMPLES: &[(&str, &str)] = &[
    (
        "py",
        "import os\n@dataclass\nclass A(B):\n    \"\"\"Doc.\"\"\"\n    def f(self, x: int = 1) -> str:\n        return f'{x}' + \"s\" if x else None  # c\n",
    ),
    (
        "rs",
        "use std::io;\n#[derive(Debug)]\npub struct A<'a> { x: &'a str }\nimpl A<'_> {\n    pub fn f(&self) -> Result<u8, E> { let v = vec![1, 2]; Ok(0x1f) } // c\n}\n",
    ),
    (
        "js",
        "import x from 'y';\nexport async function f(a) {\n  const b = `t${a}`; // c\n  return await g(a, 1.5, null);\n}\nclass C extends D {}\n",
    ),
    (
        "sh",
        "#!/bin/sh\nset -eu\nfor f in \"$@\"; do\n  if [ -f \"$f\" ]; then echo \"${f%.py}\" | grep -q x && exit 1; fi\ndone # c\n",
    ),
    (
        "json",
        "{\"a\": [1, 2.5, true, null], \"b\": {\"c\": \"d\"}}\n",
    ),
    (
        "yaml",
        "name: ci\non: [push]\njobs:\n  test:\n    steps:\n      - run: cargo test # c\n",
    ),
    (
        "go",
        "package main\nimport \"fmt\"\nfunc main() {\n\tx := 1 // c\n\tfmt.Println(\"a\", x)\n}\n",
    ),
    (
        "c",
        "#include <stdio.h>\nint main(void) {\n  char *s = \"a\"; /* c */\n  return 0;\n}\n",
    ),
];

/// Loads the syntaxes and makes the common languages ready, once, on a thread of its own: the
/// control room calls it as it starts, so its first frames with code wait for nothing.
pub fn warm_up() {
    if LOADING.swap(true, Ordering::AcqRel) {
        return;
    }
    let spawned = std::thread::Builder::new()
        .name("syntaxes".into())
        .spawn(|| {
            let ss = load();
            for (token, sample) in SAMPLES {
                if let Some(syntax) = syntax_for(ss, token) {
                    let mut h = Highlighter::new(ss, syntax);
                    for line in sample.lines() {
                        h.skip(line);
                    }
                }
            }
        });
    if spawned.is_err() {
        LOADING.store(false, Ordering::Release);
    }
}

/// The syntaxes, loaded at the first call (under a millisecond: each syntax's contexts load at
/// its first use).
pub fn load() -> &'static SyntaxSet {
    SYNTAXES.get_or_init(SyntaxSet::load_defaults_newlines)
}

/// The syntax for a fence's language or a file's extension (`rust`, `py`, `sh`, `Makefile`).
pub fn syntax_for<'a>(ss: &'a SyntaxSet, token: &str) -> Option<&'a SyntaxReference> {
    let token = token.trim();
    if token.is_empty() || token.len() > 40 {
        return None;
    }
    let alias = match token.to_ascii_lowercase().as_str() {
        "shell" | "console" | "zsh" | "bash" => "sh",
        "py3" | "python3" => "py",
        "js" | "javascript" | "jsx" | "ts" | "typescript" | "tsx" => "js",
        "yml" => "yaml",
        "c++" => "cpp",
        _ => "",
    };
    let token = if alias.is_empty() { token } else { alias };
    ss.find_syntax_by_token(token)
}

/// A colour role of code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Plain,
    Keyword,
    String,
    Comment,
    Type,
    Number,
    Function,
}

/// A line's roles: each piece's end (a byte offset in the line) and role, in order, the last
/// ending at the line's end. Independent of the theme, so it can be kept.
pub type Pieces = std::sync::Arc<[(u32, Role)]>;

/// Scope prefixes and their roles, most specific first.
fn roles() -> &'static [(Scope, Role)] {
    static ROLES: OnceLock<Vec<(Scope, Role)>> = OnceLock::new();
    ROLES.get_or_init(|| {
        [
            ("comment", Role::Comment),
            ("string", Role::String),
            ("constant.character", Role::String),
            ("constant.numeric", Role::Number),
            ("constant.language", Role::Number),
            ("entity.name.function", Role::Function),
            ("support.function", Role::Function),
            ("variable.function", Role::Function),
            ("entity.name.type", Role::Type),
            ("entity.name.class", Role::Type),
            ("entity.name.struct", Role::Type),
            ("entity.name.enum", Role::Type),
            ("support.type", Role::Type),
            ("support.class", Role::Type),
            ("storage.type", Role::Keyword),
            ("storage.modifier", Role::Keyword),
            ("keyword.operator", Role::Plain),
            ("keyword", Role::Keyword),
        ]
        .into_iter()
        .filter_map(|(s, r)| Scope::new(s).ok().map(|s| (s, r)))
        .collect()
    })
}

fn role_of(stack: &ScopeStack) -> Role {
    // The innermost scope with a role decides (a keyword inside a comment is a comment).
    for scope in stack.as_slice().iter().rev() {
        if let Some((_, r)) = roles().iter().find(|(p, _)| p.is_prefix_of(*scope)) {
            return *r;
        }
    }
    Role::Plain
}

pub fn style_of(role: Role, theme: &Theme) -> Style {
    match role {
        Role::Plain => theme.code,
        Role::Keyword => theme.code_keyword,
        Role::String => theme.code_string,
        Role::Comment => theme.code_comment,
        Role::Type => theme.code_type,
        Role::Number => theme.code_number,
        Role::Function => theme.code_function,
    }
}

/// The parser's state between two lines, to go on from there later.
#[derive(Debug, Clone)]
pub struct State {
    parse: ParseState,
    stack: ScopeStack,
}

/// Highlights the consecutive lines of one code block.
pub struct Highlighter<'a> {
    ss: &'a SyntaxSet,
    state: State,
    buf: String,
}

impl<'a> Highlighter<'a> {
    pub fn new(ss: &'a SyntaxSet, syntax: &SyntaxReference) -> Self {
        Self::resume(
            ss,
            State {
                parse: ParseState::new(syntax),
                stack: ScopeStack::new(),
            },
        )
    }

    /// Goes on from a state kept earlier (from the same syntax set).
    pub fn resume(ss: &'a SyntaxSet, state: State) -> Self {
        Self {
            ss,
            state,
            buf: String::new(),
        }
    }

    /// The state after the lines parsed so far.
    pub fn state(&self) -> State {
        self.state.clone()
    }

    /// The roles of the next line of the block.
    pub fn roles(&mut self, line: &str) -> Pieces {
        let len = line.len() as u32;
        if line.len() > MAX_LINE {
            return std::sync::Arc::from([(len, Role::Plain)]);
        }
        self.buf.clear();
        self.buf.push_str(line);
        self.buf.push('\n');
        let Ok(ops) = self.state.parse.parse_line(&self.buf, self.ss) else {
            return std::sync::Arc::from([(len, Role::Plain)]);
        };
        let mut out: Vec<(u32, Role)> = Vec::new();
        // Adds a piece ending at `end`, past the last one; one piece per run of a role.
        let push = |out: &mut Vec<(u32, Role)>, end: u32, role: Role| match out.last_mut() {
            Some(last) if last.1 == role => last.0 = end,
            _ => out.push((end, role)),
        };
        for (i, op) in ops {
            let i = (i as u32).min(len);
            if i > out.last().map_or(0, |l| l.0) {
                push(&mut out, i, role_of(&self.state.stack));
            }
            if self.state.stack.apply(&op).is_err() {
                // A syntax that does not fit its own stack: the rest of the line is plain.
                if len > out.last().map_or(0, |l| l.0) || out.is_empty() {
                    push(&mut out, len, Role::Plain);
                }
                return out.into();
            }
        }
        if len > out.last().map_or(0, |l| l.0) || out.is_empty() {
            push(&mut out, len, role_of(&self.state.stack));
        }
        out.into()
    }

    /// Parses a line that is not shown (to carry the state to the ones that are).
    pub fn skip(&mut self, line: &str) {
        let _ = self.roles(line);
    }

    /// `line` cut into styled pieces (byte ranges of `line`), in order, covering all of it.
    pub fn line(&mut self, line: &str, theme: &Theme) -> Vec<(std::ops::Range<usize>, Style)> {
        ranges(&self.roles(line))
            .map(|(r, role)| (r, style_of(role, theme)))
            .collect()
    }
}

/// Lines' roles and parser states kept between frames, by line id. Bounded: past
/// [`MAX_KEPT`] lines (or states) it starts again empty. A copy starts empty too.
#[derive(Default)]
pub struct Kept(std::sync::Mutex<KeptLines>);

#[derive(Default)]
pub struct KeptLines {
    pieces: std::collections::HashMap<u64, Pieces>,
    /// The state before a line.
    states: std::collections::HashMap<u64, State>,
}

/// Lines (and states) kept per transcript.
pub const MAX_KEPT: usize = 4_096;

impl KeptLines {
    pub fn pieces(&self, id: u64) -> Option<&Pieces> {
        self.pieces.get(&id)
    }

    pub fn keep_pieces(&mut self, id: u64, p: Pieces) {
        if self.pieces.len() >= MAX_KEPT {
            self.pieces.clear();
        }
        self.pieces.insert(id, p);
    }

    pub fn state(&self, id: u64) -> Option<&State> {
        self.states.get(&id)
    }

    pub fn keep_state(&mut self, id: u64, s: State) {
        if self.states.len() >= MAX_KEPT {
            self.states.clear();
        }
        self.states.insert(id, s);
    }
}

impl Kept {
    pub fn lock(&self) -> std::sync::MutexGuard<'_, KeptLines> {
        // A panic while it was held leaves a cache, not data: go on with it.
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Clone for Kept {
    fn clone(&self) -> Self {
        Kept::default()
    }
}

impl std::fmt::Debug for Kept {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Kept")
    }
}

/// The byte ranges of a line's pieces, with their roles.
pub fn ranges(p: &Pieces) -> impl Iterator<Item = (std::ops::Range<usize>, Role)> + '_ {
    let mut at = 0usize;
    p.iter().map(move |&(end, role)| {
        let r = at..end as usize;
        at = end as usize;
        (r, role)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::theme::{ColorDepth, Themes};

    #[test]
    fn rust_keywords_strings_and_comments_take_their_roles() {
        let theme = Themes::load(None, ColorDepth::TrueColor)
            .unwrap()
            .list
            .remove(0);
        let ss = load();
        let syntax = syntax_for(ss, "rust").unwrap();
        let mut h = Highlighter::new(ss, syntax);
        let line = "fn main() { let s = \"hi\"; } // done";
        let pieces = h.line(line, &theme);
        let style_at = |needle: &str| {
            let at = line.find(needle).unwrap();
            pieces.iter().find(|(r, _)| r.contains(&at)).unwrap().1
        };
        assert_eq!(style_at("fn"), theme.code_keyword);
        assert_eq!(style_at("\"hi\""), theme.code_string);
        assert_eq!(style_at("// done"), theme.code_comment);
        assert_eq!(style_at("main"), theme.code_function);
        // The pieces cover the line exactly, in order.
        let mut at = 0;
        for (r, _) in &pieces {
            assert_eq!(r.start, at);
            at = r.end;
        }
        assert_eq!(at, line.len());
    }

    #[test]
    fn state_carries_across_lines_and_odd_tokens_find_nothing() {
        let theme = Themes::load(None, ColorDepth::TrueColor)
            .unwrap()
            .list
            .remove(0);
        let ss = load();
        let mut h = Highlighter::new(ss, syntax_for(ss, "py").unwrap());
        h.skip("x = \"\"\"a docstring");
        let pieces = h.line("def not_code(): pass", &theme);
        assert!(
            pieces.iter().all(|(_, s)| *s == theme.code_string),
            "{pieces:?}"
        );
        assert!(syntax_for(ss, "").is_none());
        assert!(syntax_for(ss, "\u{1b}[2J").is_none());
        assert!(syntax_for(ss, "bash").is_some() && syntax_for(ss, "sh").is_some());
    }
}
