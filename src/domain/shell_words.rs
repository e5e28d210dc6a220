//! A lexical reading of a shell command line, enough to tell what programs it runs: its parts
//! between operators (`|`, `&&`, `;`, …) outside quotes, the words of a part with quotes
//! removed, the program a part runs past wrappers like `sudo` or `env X=1`, and the bodies of
//! its command and process substitutions. It never runs or expands anything; on input it
//! cannot read (an unclosed quote or parenthesis) it reads on to the end rather than fail.

/// Programs that run the command named after them (and their own flags).
const WRAPPERS: [&str; 10] = [
    "sudo", "doas", "env", "command", "exec", "nohup", "time", "nice", "xargs", "timeout",
];

/// The bodies of the outermost command and process substitutions in `text`: `$(…)`, `<(…)`,
/// `>(…)` and backquotes (a body left open runs to the end).
pub(super) fn substitutions(text: &str) -> impl Iterator<Item = &str> {
    let bytes = text.as_bytes();
    let mut i = 0;
    std::iter::from_fn(move || {
        while i < bytes.len() {
            let b = bytes[i];
            let paren = matches!(b, b'$' | b'<' | b'>') && bytes.get(i + 1) == Some(&b'(');
            if paren {
                let start = i + 2;
                let mut depth = 1usize;
                let mut j = start;
                while j < bytes.len() && depth > 0 {
                    match bytes[j] {
                        b'(' => depth += 1,
                        b')' => depth -= 1,
                        _ => {}
                    }
                    j += 1;
                }
                let end = if depth == 0 { j - 1 } else { j };
                i = j;
                return text.get(start..end);
            }
            if b == b'`' {
                let start = i + 1;
                let end = text[start..].find('`').map_or(text.len(), |k| start + k);
                i = end + 1;
                return text.get(start..end);
            }
            i += 1;
        }
        None
    })
}

pub(super) fn basename(word: &str) -> &str {
    word.rsplit('/').next().unwrap_or(word)
}

/// A part of a command line between operators, and whether output is piped into it.
pub(super) struct Segment {
    pub(super) text: String,
    pub(super) after_pipe: bool,
}

/// Splits a command at `|`, `||`, `&&`, `;`, `&` and line breaks outside quotes. Parentheses
/// do not protect what they hold: `(curl … | sh)` is split like `curl … | sh`.
pub(super) fn split(command: &str) -> Vec<Segment> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut after_pipe = false;
    let (mut single, mut double) = (false, false);
    let mut chars = command.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if !single => {
                cur.push(c);
                cur.extend(chars.next());
                continue;
            }
            '\'' if !double => single = !single,
            '"' if !single => double = !double,
            '|' | '&' | ';' | '\n' if !single && !double => {
                // `>&2` and `&>` redirect; they do not start a command.
                if c == '&' && (cur.ends_with(['>', '<']) || chars.peek() == Some(&'>')) {
                    cur.push(c);
                    continue;
                }
                let pipe = c == '|' && chars.peek() != Some(&'|');
                if matches!(c, '|' | '&') && chars.peek() == Some(&c) {
                    chars.next();
                }
                out.push(Segment {
                    text: std::mem::take(&mut cur),
                    after_pipe,
                });
                after_pipe = pipe;
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    out.push(Segment {
        text: cur,
        after_pipe,
    });
    out
}

/// The words of a segment, quotes removed, and the grouping and substitution marks around
/// them (`(`, `{`, `$(`, `` ` ``, `)`, `}`) stripped.
pub(super) fn words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let (mut single, mut double, mut started) = (false, false, false);
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' if !double => {
                single = !single;
                started = true;
            }
            '"' if !single => {
                double = !double;
                started = true;
            }
            '\\' if !single => {
                cur.extend(chars.next());
                started = true;
            }
            c if c.is_whitespace() && !single && !double => {
                if started {
                    out.push(std::mem::take(&mut cur));
                    started = false;
                }
            }
            c => {
                cur.push(c);
                started = true;
            }
        }
    }
    if started {
        out.push(cur);
    }
    out.into_iter()
        .map(|w| {
            w.trim_start_matches(['$', '<', '>', '(', '{', '`', '!'])
                .trim_end_matches([')', '}', '`'])
                .to_owned()
        })
        .filter(|w| !w.is_empty())
        .collect()
}

/// The program a segment runs, past variable assignments and wrappers like `sudo -E` or
/// `env X=1`, and its arguments.
pub(super) fn program(words: &[String]) -> (Option<&str>, &[String]) {
    let mut i = 0;
    while let Some(w) = words.get(i) {
        let assignment = w
            .split_once('=')
            .is_some_and(|(name, _)| !name.is_empty() && !name.contains(['/', '-']));
        if assignment {
            i += 1;
        } else if is_wrapper(w) {
            i += 1;
            // Flags of the wrapper, and the value of the ones that take one.
            while let Some(f) = words.get(i).filter(|f| f.starts_with('-')) {
                i += 1;
                if takes_value(basename(w), f) {
                    i += 1;
                }
            }
            if basename(w) == "timeout" {
                i += 1; // its duration
            }
        } else {
            return (Some(w), &words[i + 1..]);
        }
    }
    (None, &[])
}

/// Whether a wrapper's flag takes the next word as its value.
fn takes_value(wrapper: &str, flag: &str) -> bool {
    let valued: &[&str] = match wrapper {
        "sudo" | "doas" => &["-u", "-g", "-C", "-h", "-p"],
        "env" => &["-u", "-C", "-S"],
        "nice" => &["-n"],
        "xargs" => &["-n", "-I", "-L", "-P", "-s", "-d", "-a", "-E"],
        "timeout" => &["-s", "-k"],
        _ => &[],
    };
    valued.contains(&flag)
}

fn is_wrapper(word: &str) -> bool {
    WRAPPERS.contains(&basename(word))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitting_respects_quotes_and_substitutions() {
        let segs = split("echo 'a | b' && x \"$(c; d)\" | y");
        let texts: Vec<&str> = segs.iter().map(|s| s.text.trim()).collect();
        assert_eq!(texts, ["echo 'a | b'", "x \"$(c; d)\"", "y"]);
        assert_eq!(
            segs.iter().map(|s| s.after_pipe).collect::<Vec<_>>(),
            [false, false, true]
        );
        let w = words("sudo -u bob env A=1 'py thon' -c \"x y\"");
        assert_eq!(program(&w), (Some("py thon"), &w[6..]));
    }

    #[test]
    fn substitutions_are_read_outermost_first_and_open_ones_run_to_the_end() {
        let bodies: Vec<&str> = substitutions("a $(b $(c)) <(d) `e` $(f").collect();
        assert_eq!(bodies, ["b $(c)", "d", "e", "f"]);
        assert_eq!(words("(curl x) {y;} `z`"), ["curl", "x", "y;", "z"]);
    }

    proptest::proptest! {
        #[test]
        fn any_text_is_read_without_a_panic(text in "[a-z $()`'\"|&;<>\\\\é\n-]{0,40}") {
            for seg in split(&text) {
                let w = words(&seg.text);
                let _ = program(&w);
            }
            let _ = substitutions(&text).count();
            let _ = super::super::remote_code::remote_code(&text);
        }
    }
}
