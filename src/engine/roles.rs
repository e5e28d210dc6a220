//! Roles: one Markdown file per role with TOML front matter between `+++` lines. The defaults
//! are embedded in the binary; files of the same name in the config directory override them,
//! and new names add roles.

use crate::tools::specs;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const EMBEDDED: [(&str, &str); 7] = [
    ("supervisor", include_str!("../../prompts/supervisor.md")),
    ("architect", include_str!("../../prompts/architect.md")),
    ("engineer", include_str!("../../prompts/engineer.md")),
    ("qa", include_str!("../../prompts/qa.md")),
    ("reviewer", include_str!("../../prompts/reviewer.md")),
    ("ops", include_str!("../../prompts/ops.md")),
    ("growth", include_str!("../../prompts/growth.md")),
];

/// The embedded prompt files, for `init`.
pub fn embedded_files() -> impl Iterator<Item = (&'static str, &'static str)> {
    EMBEDDED.iter().copied()
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
struct FrontMatter {
    name: String,
    title: String,
    description: String,
    #[serde(default)]
    model: Option<String>,
    tools: Vec<String>,
    #[serde(default = "default_max_turns")]
    max_turns: u32,
}

fn default_max_turns() -> u32 {
    20
}

#[derive(Debug, Clone, PartialEq)]
pub struct RoleDef {
    pub name: String,
    pub title: String,
    pub description: String,
    pub model: Option<String>,
    pub tools: Vec<String>,
    pub max_turns: u32,
    /// The system prompt template; `{{goal}}`, `{{role}}` and `{{workspace}}` are filled in.
    pub template: String,
    /// Where it came from: `embedded` or a file path.
    pub source: String,
}

impl RoleDef {
    pub fn render(&self, goal: &str, workspace: &str) -> String {
        self.template
            .replace("{{goal}}", goal)
            .replace("{{role}}", &self.name)
            .replace("{{workspace}}", workspace)
    }
}

/// The hash of a rendered prompt, recorded with every request for the audit trail.
pub fn prompt_hash(rendered: &str) -> String {
    let digest = Sha256::digest(rendered.as_bytes());
    digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

#[derive(Debug, thiserror::Error)]
pub enum RoleError {
    #[error("{}: {detail}", path.display())]
    Invalid { path: PathBuf, detail: String },
    /// A prompt file that cannot be read (missing, too large, not a regular file).
    #[error("prompt file {0}")]
    Read(#[from] crate::fsread::ReadError),
}

fn parse(text: &str, source: &str, path: &Path) -> Result<RoleDef, RoleError> {
    let bad = |detail: String| RoleError::Invalid {
        path: path.to_owned(),
        detail,
    };
    // A byte order mark and Windows line ends (`\r\n`) are accepted: some editors write them.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let text = text.replace("\r\n", "\n");
    let rest = text.strip_prefix("+++\n").ok_or_else(|| {
        bad(
            "line 1: a role file starts with a `+++` line, then TOML front matter, then `+++`"
                .into(),
        )
    })?;
    let end = rest
        .find("\n+++")
        .ok_or_else(|| bad("the front matter has no closing `+++` line".into()))?;
    let (front, body) = (&rest[..end], &rest[end + 4..]);
    // The front matter starts on the file's line 2.
    let fm: FrontMatter =
        toml::from_str(front).map_err(|e| bad(crate::fsread::describe_toml(front, &e, 2)))?;
    let known: Vec<&str> = specs().iter().map(|s| s.name).collect();
    if let Some(t) = fm.tools.iter().find(|t| !known.contains(&t.as_str())) {
        return Err(bad(format!(
            "unknown tool {t:?} in `tools` (known: {})",
            known.join(", ")
        )));
    }
    if fm.max_turns == 0 {
        return Err(bad("`max_turns` must be at least 1".into()));
    }
    Ok(RoleDef {
        name: fm.name,
        title: fm.title,
        description: fm.description,
        model: fm.model,
        tools: fm.tools,
        max_turns: fm.max_turns,
        template: body.trim_start_matches(['\r', '\n']).to_owned(),
        source: source.to_owned(),
    })
}

/// Every role of the company, by name.
#[derive(Debug, Clone)]
pub struct Roster {
    roles: BTreeMap<String, RoleDef>,
}

impl Roster {
    /// The embedded roles.
    pub fn embedded() -> Result<Self, RoleError> {
        let mut roles = BTreeMap::new();
        for (name, text) in EMBEDDED {
            let role = parse(text, "embedded", Path::new(&format!("prompts/{name}.md")))?;
            roles.insert(role.name.clone(), role);
        }
        Ok(Self { roles })
    }

    /// The embedded roles, overridden and extended by `*.md` files in `dir` (if it exists).
    pub fn load(dir: Option<&Path>) -> Result<Self, RoleError> {
        let mut roster = Self::embedded()?;
        let Some(dir) = dir.filter(|d| d.is_dir()) else {
            return Ok(roster);
        };
        let entries = std::fs::read_dir(dir).map_err(|e| RoleError::Invalid {
            path: dir.to_owned(),
            detail: e.to_string(),
        })?;
        let mut paths: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "md"))
            .collect();
        paths.sort();
        for path in paths {
            let text = crate::fsread::read_text(&path, crate::fsread::TEXT_FILE_LIMIT)?;
            let role = parse(&text, &path.display().to_string(), &path)?;
            let stem = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            if role.name != stem {
                return Err(RoleError::Invalid {
                    path,
                    detail: format!("`name = {:?}` must match the file name {stem:?}", role.name),
                });
            }
            roster.roles.insert(role.name.clone(), role);
        }
        if !roster.roles.contains_key("supervisor") {
            return Err(RoleError::Invalid {
                path: dir.to_owned(),
                detail: "there is no supervisor role".into(),
            });
        }
        Ok(roster)
    }

    /// Applies per-role settings from the config file.
    pub fn configure(
        &mut self,
        name: &str,
        model: Option<String>,
        max_turns: Option<u32>,
    ) -> Result<(), String> {
        let Some(role) = self.roles.get_mut(name) else {
            let names: Vec<&str> = self.roles.keys().map(String::as_str).collect();
            return Err(format!(
                "there is no role {name:?} (roles: {})",
                names.join(", ")
            ));
        };
        if let Some(m) = model {
            role.model = Some(m);
        }
        if let Some(t) = max_turns {
            role.max_turns = t.max(1);
        }
        Ok(())
    }

    pub fn get(&self, name: &str) -> Option<&RoleDef> {
        self.roles.get(name)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.roles.keys().map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_roles_parse_and_cover_the_company() {
        let r = Roster::embedded().unwrap();
        for name in [
            "supervisor",
            "architect",
            "engineer",
            "qa",
            "reviewer",
            "ops",
            "growth",
        ] {
            let role = r.get(name).unwrap();
            assert!(role.render("G", "/w").contains('G'), "{name}");
        }
        assert!(
            r.get("supervisor")
                .unwrap()
                .tools
                .contains(&"create_task".to_owned())
        );
        assert_eq!(prompt_hash("x").len(), 16);
    }

    #[test]
    fn overrides_replace_roles_and_bad_files_name_the_line() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("engineer.md"),
            "+++\nname = \"engineer\"\ntitle = \"E\"\ndescription = \"d\"\ntools = [\"read_file\"]\n+++\nBe brief about {{goal}}.\n",
        )
        .unwrap();
        let r = Roster::load(Some(dir.path())).unwrap();
        assert_eq!(
            r.get("engineer").unwrap().template,
            "Be brief about {{goal}}.\n"
        );
        std::fs::write(
            dir.path().join("qa.md"),
            "+++\nname = \"qa\"\ntitle = \"Q\"\ndescription = \"d\"\ntools = []\nbogus = 1\n+++\nx",
        )
        .unwrap();
        let e = Roster::load(Some(dir.path())).unwrap_err().to_string();
        assert!(
            e.contains("qa.md") && e.contains("line 6") && e.contains("bogus"),
            "{e}"
        );
    }

    #[test]
    fn a_prompt_file_with_windows_line_ends_or_a_byte_order_mark_is_accepted() {
        let dir = tempfile::tempdir().unwrap();
        let unix = "+++\nname = \"qa\"\ntitle = \"Q\"\ndescription = \"d\"\ntools = []\n+++\n\nTest {{goal}}.\n";
        let crlf = unix.replace('\n', "\r\n");
        std::fs::write(dir.path().join("qa.md"), &crlf).unwrap();
        let r = Roster::load(Some(dir.path())).unwrap();
        assert_eq!(r.get("qa").unwrap().template, "Test {{goal}}.\n");
        let bom = format!("\u{feff}{crlf}");
        std::fs::write(dir.path().join("qa.md"), bom).unwrap();
        let r = Roster::load(Some(dir.path())).unwrap();
        assert_eq!(r.get("qa").unwrap().title, "Q");
        // An error in CRLF front matter still names the line and the key.
        let bad = crlf.replace("tools = []", "tools = 3");
        std::fs::write(dir.path().join("qa.md"), bad).unwrap();
        let e = Roster::load(Some(dir.path())).unwrap_err().to_string();
        assert!(e.contains("qa.md: line 5: key `tools`"), "{e}");
        // Bytes that are not UTF-8 name the file and the line.
        let mut bytes = unix.as_bytes().to_vec();
        bytes.extend_from_slice(b"caf\xe9\n");
        std::fs::write(dir.path().join("qa.md"), bytes).unwrap();
        let e = Roster::load(Some(dir.path())).unwrap_err().to_string();
        assert!(e.contains("qa.md line 9") && e.contains("UTF-8"), "{e}");
    }

    #[test]
    fn a_prompt_file_that_is_a_device_a_fifo_or_too_large_is_refused_at_once() {
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink("/dev/zero", dir.path().join("engineer.md")).unwrap();
        let started = std::time::Instant::now();
        let e = Roster::load(Some(dir.path())).unwrap_err().to_string();
        assert!(
            e.contains("engineer.md") && e.contains("character device"),
            "{e}"
        );
        std::fs::remove_file(dir.path().join("engineer.md")).unwrap();
        let fifo = std::ffi::CString::new(dir.path().join("qa.md").as_os_str().as_encoded_bytes())
            .unwrap();
        // SAFETY: a valid, NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
        let e = Roster::load(Some(dir.path())).unwrap_err().to_string();
        assert!(e.contains("qa.md") && e.contains("FIFO"), "{e}");
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
        std::fs::remove_file(dir.path().join("qa.md")).unwrap();
        std::fs::write(dir.path().join("ops.md"), vec![b'x'; 2 << 20]).unwrap();
        let e = Roster::load(Some(dir.path())).unwrap_err().to_string();
        assert!(
            e.contains("ops.md") && e.contains("limit for it is 1.0 MiB"),
            "{e}"
        );
    }
}
