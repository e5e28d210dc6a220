//! Syntax checks of common formats after a file tool wrote them: TOML, JSON, YAML and Python,
//! each with a parser built into this program. Nothing the workspace defines runs: no
//! interpreter, no linter. An error is reported with its line and column so the model can fix
//! it; the write itself stands.

use std::fmt;

/// Files larger than this are not checked (a parse must stay quick).
const CHECK_CAP: usize = 4 << 20;

/// The first syntax error of a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub format: &'static str,
    /// 1-based.
    pub line: usize,
    /// 1-based, in characters.
    pub column: usize,
    pub message: String,
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} syntax error at line {}, column {}: {}",
            self.format, self.line, self.column, self.message
        )
    }
}

/// The format a path's name says it holds, when it is one that is checked.
fn format_of(path: &str) -> Option<&'static str> {
    let name = path.rsplit('/').next().unwrap_or(path).to_ascii_lowercase();
    let ext = name.rsplit_once('.').map(|(_, e)| e)?;
    // JSON with comments by convention: these tools' own parsers accept what a plain JSON
    // parser would call an error.
    let jsonc = name.starts_with("tsconfig")
        || name.starts_with("jsconfig")
        || name == "devcontainer.json"
        || name.starts_with(".eslintrc")
        || path.contains(".vscode/");
    match ext {
        "toml" => Some("TOML"),
        "json" if !jsonc => Some("JSON"),
        "yaml" | "yml" => Some("YAML"),
        "py" | "pyi" => Some("Python"),
        _ => None,
    }
}

/// The first syntax error of `text`, were it the content of `path`; `None` when it parses or
/// its format is not one that is checked.
pub fn check(path: &str, text: &str) -> Option<SyntaxError> {
    let format = format_of(path)?;
    if text.len() > CHECK_CAP {
        return None;
    }
    let (line, column, message) = match format {
        "TOML" => toml_error(text)?,
        "JSON" => json_error(text)?,
        "YAML" => yaml_error(text)?,
        _ => python_error(text)?,
    };
    Some(SyntaxError {
        format,
        line,
        column,
        message,
    })
}

/// 1-based line and column (in characters) of a byte offset.
fn position(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[start..].chars().count() + 1)
}

fn one_line(message: &str) -> String {
    let text = message.split_whitespace().collect::<Vec<_>>().join(" ");
    text.chars().take(200).collect()
}

fn toml_error(text: &str) -> Option<(usize, usize, String)> {
    let e = text.parse::<toml::Table>().err()?;
    let (line, column) = position(text, e.span().map_or(0, |s| s.start));
    Some((line, column, one_line(e.message())))
}

fn json_error(text: &str) -> Option<(usize, usize, String)> {
    let e = serde_json::from_str::<serde::de::IgnoredAny>(text).err()?;
    // serde_json says "… at line L column C" in its text too.
    let message = e.to_string();
    let message = message
        .rsplit_once(" at line ")
        .map_or(message.as_str(), |(m, _)| m);
    Some((e.line().max(1), e.column().max(1), one_line(message)))
}

fn yaml_error(text: &str) -> Option<(usize, usize, String)> {
    for event in saphyr_parser::Parser::new_from_str(text) {
        if let Err(e) = event {
            let m = e.marker();
            return Some((m.line().max(1), m.col() + 1, one_line(e.info())));
        }
    }
    None
}

fn python_error(text: &str) -> Option<(usize, usize, String)> {
    let mut parser = tree_sitter::Parser::new();
    parser
        .set_language(&tree_sitter_python::LANGUAGE.into())
        .ok()?;
    let tree = parser.parse(text, None)?;
    let mut node = tree.root_node();
    if !node.has_error() {
        return None;
    }
    // Down to the first node, in reading order, that is an error or a missing token.
    'descend: while !(node.is_error() || node.is_missing()) {
        let mut cursor = node.walk();
        for child in node.children(&mut cursor) {
            if child.has_error() || child.is_missing() {
                node = child;
                continue 'descend;
            }
        }
        break;
    }
    let start = node.start_byte();
    let (line, column) = position(text, start);
    let message = if node.is_missing() {
        format!("missing `{}`", node.kind())
    } else {
        let end = node.end_byte().min(text.len());
        let found = text.get(start..end).unwrap_or("");
        let found: String = found
            .lines()
            .next()
            .unwrap_or("")
            .trim()
            .chars()
            .take(40)
            .collect();
        if found.is_empty() {
            "invalid syntax".to_owned()
        } else {
            format!("invalid syntax near `{found}`")
        }
    };
    Some((line, column, message))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(e: Option<SyntaxError>) -> (usize, usize) {
        let e = e.expect("an error");
        (e.line, e.column)
    }

    #[test]
    fn good_files_pass_and_other_formats_are_not_checked() {
        assert_eq!(check("Cargo.toml", "[package]\nname = \"x\"\n"), None);
        assert_eq!(check("a/b.json", "{\"a\": [1, 2]}\n"), None);
        assert_eq!(
            check("ci.yml", "on: push\njobs:\n  a:\n    runs-on: x\n"),
            None
        );
        assert_eq!(
            check(
                "m.py",
                "def f(x):\n    match x:\n        case 1:\n            return f\"{x!r}\"\n"
            ),
            None
        );
        // Newer Python: type parameters and aliases, nested f-string quotes, walrus, match.
        for modern in [
            "def first[T](xs: list[T]) -> T:\n    return xs[0]\n",
            "type Pair = tuple[int, int]\n",
            "names = {'a': 1}\nprint(f\"{names['a']}\")\n",
            "if (n := 3) > 2:\n    pass\n",
            "async def f():\n    async with a as b:\n        await b\n",
            "class A:\n    @property\n    def x(self) -> int: ...\n",
        ] {
            assert_eq!(check("m.py", modern), None, "{modern}");
        }
        assert_eq!(check("notes.md", "{{{ not checked"), None);
        assert_eq!(
            check("tsconfig.json", "{ // comments are fine here\n}"),
            None
        );
    }

    #[test]
    fn errors_have_a_line_and_column() {
        assert_eq!(at(check("c.toml", "[a]\nx = 1\ny = \n")), (3, 5));
        let e = check("d.json", "{\n  \"a\": 1,\n  \"b\" 2\n}\n").unwrap();
        assert_eq!((e.line, e.format), (3, "JSON"));
        assert!(!e.message.contains("at line"), "{e}");
        assert!((2..=3).contains(&at(check("w.yaml", "a: [1, 2\nb: 3\n")).0));
        assert_eq!(at(check("w.yaml", "a: 1\n  b: 2\n")).0, 2);
        let e = check("p.py", "def f(x:\n    return x\n").unwrap();
        assert_eq!(e.format, "Python");
        assert!(e.line <= 2, "{e}");
        let e = check("p.py", "x = 1\nif x\n    y = 2\n").unwrap();
        assert_eq!(e.line, 2, "{e}");
    }

    #[test]
    fn deep_nesting_is_an_error_or_fine_never_a_crash() {
        // A hostile file checked on a small stack, as on a blocking thread.
        let deep = |open: &str, n: usize| open.repeat(n);
        let cases = [
            ("a.json", deep("[", 200_000)),
            ("a.toml", format!("a = {}", deep("[", 200_000))),
            ("a.yaml", deep("[", 200_000)),
            ("a.py", format!("x = {}", deep("(", 200_000))),
        ];
        for (path, text) in cases {
            let checked = std::thread::Builder::new()
                .stack_size(2 << 20)
                .spawn(move || check(path, &text).is_some())
                .unwrap()
                .join();
            assert_eq!(checked.ok(), Some(true), "{path}");
        }
    }
}
