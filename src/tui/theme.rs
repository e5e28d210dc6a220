//! Themes: TOML files (`themes/*.toml`) embedded in the binary and overridable from the config
//! directory. Colours degrade to 256 or 16 colours when the terminal cannot show RGB; the mono
//! theme (chosen by `NO_COLOR`) uses only bold, reverse and underline (and dim for comments in
//! code). The code roles (`code_keyword`, …) are optional in a theme file: a file made before
//! them still loads, with colours of its own for code.

use ratatui::style::{Color, Modifier, Style};
use serde::Deserialize;
use std::path::Path;

const EMBEDDED: [(&str, &str); 4] = [
    ("dark", include_str!("../../themes/dark.toml")),
    ("light", include_str!("../../themes/light.toml")),
    (
        "high-contrast",
        include_str!("../../themes/high-contrast.toml"),
    ),
    ("mono", include_str!("../../themes/mono.toml")),
];

pub fn embedded_files() -> impl Iterator<Item = (&'static str, &'static str)> {
    EMBEDDED.iter().copied()
}

/// How many colours the terminal shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColorDepth {
    TrueColor,
    Ansi256,
    Ansi16,
}

impl ColorDepth {
    /// From `COLORTERM` and `TERM`.
    pub fn detect() -> Self {
        let colorterm = std::env::var("COLORTERM").unwrap_or_default();
        let term = std::env::var("TERM").unwrap_or_default();
        if colorterm.contains("truecolor") || colorterm.contains("24bit") {
            Self::TrueColor
        } else if term.contains("256") {
            Self::Ansi256
        } else {
            Self::Ansi16
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ThemeFile {
    name: String,
    #[serde(default)]
    mono: bool,
    colors: Colors,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Colors {
    fg: String,
    bg: String,
    dim: String,
    accent: String,
    border: String,
    border_focus: String,
    selection_fg: String,
    selection_bg: String,
    ok: String,
    warn: String,
    error: String,
    info: String,
    reasoning: String,
    tool: String,
    human: String,
    simulated: String,
    /// Code (fenced blocks, files a tool writes). Optional, so a theme file made before these
    /// existed still loads: each falls back to a colour of the theme above.
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    code_keyword: Option<String>,
    #[serde(default)]
    code_string: Option<String>,
    #[serde(default)]
    code_comment: Option<String>,
    #[serde(default)]
    code_type: Option<String>,
    #[serde(default)]
    code_number: Option<String>,
    #[serde(default)]
    code_function: Option<String>,
}

/// Ready-to-use styles.
#[derive(Debug, Clone, PartialEq)]
pub struct Theme {
    pub name: String,
    pub mono: bool,
    pub base: Style,
    pub dim: Style,
    pub accent: Style,
    pub border: Style,
    pub border_focus: Style,
    pub selection: Style,
    pub ok: Style,
    pub warn: Style,
    pub error: Style,
    pub info: Style,
    pub reasoning: Style,
    pub tool: Style,
    pub human: Style,
    pub simulated: Style,
    pub title: Style,
    /// Code: its plain text and its syntax roles.
    pub code: Style,
    pub code_keyword: Style,
    pub code_string: Style,
    pub code_comment: Style,
    pub code_type: Style,
    pub code_number: Style,
    pub code_function: Style,
}

fn parse_color(s: &str) -> Result<Color, String> {
    if s == "reset" {
        return Ok(Color::Reset);
    }
    s.parse::<Color>().map_err(|_| {
        format!("{s:?} is not a colour (use \"#rrggbb\", a name like \"lightblue\", or \"reset\")")
    })
}

fn to_256(r: u8, g: u8, b: u8) -> u8 {
    let level = |v: u8| -> u8 {
        if v < 48 {
            0
        } else if v < 115 {
            1
        } else {
            (v - 35) / 40
        }
    };
    let (lr, lg, lb) = (level(r), level(g), level(b));
    let cube = 16 + 36 * lr + 6 * lg + lb;
    let gray = ((u16::from(r) + u16::from(g) + u16::from(b)) / 3) as u8;
    let gray_idx = if gray > 238 {
        23
    } else {
        gray.saturating_sub(3) / 10
    };
    let cube_rgb = |l: u8| if l == 0 { 0 } else { 55 + 40 * l };
    let dist = |a: (u8, u8, u8)| {
        let d = |x: u8, y: u8| (i32::from(x) - i32::from(y)).pow(2);
        d(a.0, r) + d(a.1, g) + d(a.2, b)
    };
    let gv = 8 + 10 * gray_idx;
    if dist((gv, gv, gv)) < dist((cube_rgb(lr), cube_rgb(lg), cube_rgb(lb))) {
        232 + gray_idx
    } else {
        cube
    }
}

fn to_16(r: u8, g: u8, b: u8) -> Color {
    const TABLE: [(Color, (u8, u8, u8)); 16] = [
        (Color::Black, (0, 0, 0)),
        (Color::Red, (170, 0, 0)),
        (Color::Green, (0, 170, 0)),
        (Color::Yellow, (170, 85, 0)),
        (Color::Blue, (0, 0, 170)),
        (Color::Magenta, (170, 0, 170)),
        (Color::Cyan, (0, 170, 170)),
        (Color::Gray, (170, 170, 170)),
        (Color::DarkGray, (85, 85, 85)),
        (Color::LightRed, (255, 85, 85)),
        (Color::LightGreen, (85, 255, 85)),
        (Color::LightYellow, (255, 255, 85)),
        (Color::LightBlue, (85, 85, 255)),
        (Color::LightMagenta, (255, 85, 255)),
        (Color::LightCyan, (85, 255, 255)),
        (Color::White, (255, 255, 255)),
    ];
    let d = |(x, y, z): (u8, u8, u8)| {
        (i32::from(x) - i32::from(r)).pow(2)
            + (i32::from(y) - i32::from(g)).pow(2)
            + (i32::from(z) - i32::from(b)).pow(2)
    };
    TABLE
        .iter()
        .min_by_key(|(_, rgb)| d(*rgb))
        .map_or(Color::Reset, |(c, _)| *c)
}

/// A colour as this terminal can show it.
pub fn degrade(c: Color, depth: ColorDepth) -> Color {
    match (c, depth) {
        (Color::Rgb(r, g, b), ColorDepth::Ansi256) => Color::Indexed(to_256(r, g, b)),
        (Color::Rgb(r, g, b), ColorDepth::Ansi16) => to_16(r, g, b),
        (c, _) => c,
    }
}

impl Theme {
    pub fn parse(text: &str, depth: ColorDepth) -> Result<Self, String> {
        let f: ThemeFile =
            toml::from_str(text).map_err(|e| crate::fsread::describe_toml(text, &e, 1))?;
        let c = &f.colors;
        // A bad colour names its line and key: `line 7: key `colors.fg`: "nope" is not …`.
        let col = |key: &str, s: &str| {
            parse_color(s).map(|c| degrade(c, depth)).map_err(|e| {
                let key = format!("colors.{key}");
                match crate::fsread::toml_key_line(text, &key) {
                    Some(n) => format!("line {n}: key `{key}`: {e}"),
                    None => format!("key `{key}`: {e}"),
                }
            })
        };
        let fg =
            |key: &str, s: &str| -> Result<Style, String> { Ok(Style::new().fg(col(key, s)?)) };
        let base = Style::new().fg(col("fg", &c.fg)?).bg(col("bg", &c.bg)?);
        let code =
            |key: &str, set: &Option<String>, or: &str| fg(key, set.as_deref().unwrap_or(or));
        let mut t = Theme {
            name: f.name.clone(),
            mono: f.mono,
            base,
            dim: fg("dim", &c.dim)?,
            accent: fg("accent", &c.accent)?,
            border: fg("border", &c.border)?,
            border_focus: fg("border_focus", &c.border_focus)?.add_modifier(Modifier::BOLD),
            selection: Style::new()
                .fg(col("selection_fg", &c.selection_fg)?)
                .bg(col("selection_bg", &c.selection_bg)?)
                .add_modifier(Modifier::BOLD),
            ok: fg("ok", &c.ok)?,
            warn: fg("warn", &c.warn)?,
            error: fg("error", &c.error)?.add_modifier(Modifier::BOLD),
            info: fg("info", &c.info)?,
            reasoning: fg("reasoning", &c.reasoning)?,
            tool: fg("tool", &c.tool)?,
            human: fg("human", &c.human)?.add_modifier(Modifier::BOLD),
            simulated: fg("simulated", &c.simulated)?.add_modifier(Modifier::BOLD),
            title: fg("accent", &c.accent)?.add_modifier(Modifier::BOLD),
            code: code("code", &c.code, &c.fg)?,
            code_keyword: code("code_keyword", &c.code_keyword, &c.tool)?,
            code_string: code("code_string", &c.code_string, &c.ok)?,
            code_comment: code("code_comment", &c.code_comment, &c.dim)?
                .add_modifier(Modifier::ITALIC),
            code_type: code("code_type", &c.code_type, &c.info)?,
            code_number: code("code_number", &c.code_number, &c.human)?,
            code_function: code("code_function", &c.code_function, &c.accent)?,
        };
        if f.mono {
            let plain = Style::new();
            t.base = plain;
            t.dim = plain;
            t.accent = plain;
            t.border = plain;
            t.border_focus = plain.add_modifier(Modifier::BOLD);
            t.selection = plain.add_modifier(Modifier::REVERSED);
            t.ok = plain;
            t.warn = plain.add_modifier(Modifier::UNDERLINED);
            t.error = plain.add_modifier(Modifier::BOLD | Modifier::UNDERLINED);
            t.info = plain;
            t.reasoning = plain;
            t.tool = plain.add_modifier(Modifier::BOLD);
            t.human = plain.add_modifier(Modifier::BOLD);
            t.simulated = plain.add_modifier(Modifier::BOLD | Modifier::REVERSED);
            t.title = plain.add_modifier(Modifier::BOLD);
            // Code without colour: keywords and types stand out, comments recede.
            t.code = plain;
            t.code_keyword = plain.add_modifier(Modifier::BOLD);
            t.code_type = plain.add_modifier(Modifier::BOLD);
            t.code_comment = plain.add_modifier(Modifier::DIM);
            t.code_string = plain;
            t.code_number = plain;
            t.code_function = plain;
        }
        Ok(t)
    }
}

/// The available themes, in cycling order: embedded ones, overridden or extended by
/// `*.toml` files in the config directory's `themes/`.
#[derive(Debug, Clone)]
pub struct Themes {
    pub list: Vec<Theme>,
}

impl Themes {
    pub fn load(dir: Option<&Path>, depth: ColorDepth) -> Result<Self, String> {
        let mut list = Vec::new();
        for (name, text) in EMBEDDED {
            list.push(Theme::parse(text, depth).map_err(|e| format!("themes/{name}.toml: {e}"))?);
        }
        if let Some(dir) = dir.filter(|d| d.is_dir()) {
            let mut paths: Vec<_> = std::fs::read_dir(dir)
                .map_err(|e| format!("{}: {e}", dir.display()))?
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "toml"))
                .collect();
            paths.sort();
            for p in paths {
                let text = crate::fsread::read_text(&p, crate::fsread::TEXT_FILE_LIMIT)
                    .map_err(|e| format!("theme {e}"))?;
                let theme =
                    Theme::parse(&text, depth).map_err(|e| format!("{}: {e}", p.display()))?;
                match list.iter_mut().find(|t| t.name == theme.name) {
                    Some(slot) => *slot = theme,
                    None => list.push(theme),
                }
            }
        }
        Ok(Self { list })
    }

    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.list.iter().position(|t| t.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_themes_parse_at_every_depth() {
        for depth in [
            ColorDepth::TrueColor,
            ColorDepth::Ansi256,
            ColorDepth::Ansi16,
        ] {
            let t = Themes::load(None, depth).unwrap();
            assert_eq!(t.list.len(), 4);
        }
        let t = Themes::load(None, ColorDepth::TrueColor).unwrap();
        assert!(t.list[3].mono);
        assert!(
            t.list[3]
                .selection
                .add_modifier
                .contains(Modifier::REVERSED)
        );
    }

    #[test]
    fn rgb_degrades_to_near_colours() {
        assert_eq!(
            degrade(Color::Rgb(255, 0, 0), ColorDepth::Ansi16),
            Color::Red
        );
        assert_eq!(
            degrade(Color::Rgb(255, 90, 90), ColorDepth::Ansi16),
            Color::LightRed
        );
        assert_eq!(
            degrade(Color::Rgb(0, 0, 0), ColorDepth::Ansi256),
            Color::Indexed(16)
        );
        assert_eq!(
            degrade(Color::Rgb(128, 128, 128), ColorDepth::Ansi256),
            Color::Indexed(244)
        );
        assert_eq!(
            degrade(Color::Rgb(1, 2, 3), ColorDepth::TrueColor),
            Color::Rgb(1, 2, 3)
        );
    }

    #[test]
    fn bad_theme_files_say_where() {
        let e = Theme::parse(
            "name = \"x\"\n[colors]\nfg = \"nope\"\n",
            ColorDepth::TrueColor,
        )
        .unwrap_err();
        assert!(e.contains("line") || e.contains("missing"), "{e}");
        let mut text = include_str!("../../themes/dark.toml").replace("#c0caf5", "nocolour");
        text.push('\n');
        let e = Theme::parse(&text, ColorDepth::TrueColor).unwrap_err();
        assert!(e.contains("not a colour"), "{e}");
        let line = text.lines().position(|l| l.contains("nocolour")).unwrap() + 1;
        assert!(e.starts_with(&format!("line {line}: key `colors.")), "{e}");
        let e = Theme::parse("name = \"x\"\nmono = \"yes\"\n", ColorDepth::TrueColor).unwrap_err();
        assert!(e.starts_with("line 2: key `mono`"), "{e}");
    }

    #[test]
    fn a_theme_file_that_is_not_utf8_names_the_file_and_the_line() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("odd.toml"), b"name = \"odd\"\n# caf\xe9\n").unwrap();
        let e = Themes::load(Some(dir.path()), ColorDepth::TrueColor).unwrap_err();
        assert!(e.contains("odd.toml line 2") && e.contains("UTF-8"), "{e}");
    }

    #[test]
    fn a_theme_file_that_is_a_device_or_a_fifo_is_refused_at_once() {
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink("/dev/zero", dir.path().join("zero.toml")).unwrap();
        let started = std::time::Instant::now();
        let e = Themes::load(Some(dir.path()), ColorDepth::TrueColor).unwrap_err();
        assert!(
            e.contains("zero.toml") && e.contains("character device"),
            "{e}"
        );
        std::fs::remove_file(dir.path().join("zero.toml")).unwrap();
        let fifo =
            std::ffi::CString::new(dir.path().join("pipe.toml").as_os_str().as_encoded_bytes())
                .unwrap();
        // SAFETY: a valid, NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
        let e = Themes::load(Some(dir.path()), ColorDepth::TrueColor).unwrap_err();
        assert!(e.contains("pipe.toml") && e.contains("FIFO"), "{e}");
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
    }
}
