//! Workspace confinement. Every path a tool receives is relative to the workspace root and is
//! read in its canonical spelling ([`normalize_path`]): the one the policy decided on is the
//! one the tool touches. Paths that climb above the root, absolute paths, NUL bytes and
//! symlinks that lead outside are refused before anything is touched, and so is the
//! repository's `.git` (in any case, at any depth, or reached through a symlink): it is the
//! run's audit trail and what the engine's own git runs on, so agents neither read nor
//! write it with file tools (they read history with `git log` and friends).

use super::ToolError;
use crate::domain::workspace_path::{Case, in_git_dir, normalize_path};
use std::path::{Component, Path, PathBuf};

#[derive(Debug, Clone)]
pub struct Workspace {
    root: PathBuf,
    case: Case,
}

impl Workspace {
    /// Creates the directory if needed, pins its canonical path and finds out whether its
    /// file system tells `A` from `a`.
    pub fn open(root: &Path) -> std::io::Result<Self> {
        std::fs::create_dir_all(root)?;
        let root = root.canonicalize()?;
        let case = probe_case(&root);
        Ok(Self { root, case })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Whether the workspace's file system tells `A` from `a`; policy rules match paths under
    /// this rule.
    pub fn case(&self) -> Case {
        self.case
    }

    /// The canonical workspace-relative spelling of `rel` (`a/../x` is `x`), or why it has
    /// none. Reads no file: the same spelling the policy matches on.
    pub fn canonical(&self, rel: &str) -> Result<String, ToolError> {
        normalize_path(rel).map_err(|e| ToolError::Confinement {
            path: rel.to_owned(),
            why: e.to_string(),
        })
    }

    /// Resolves `rel` to a path inside the workspace, refusing anything that is or leads
    /// outside it, or into `.git`. The path need not exist yet; whatever part of it exists is
    /// checked through its symlinks.
    pub fn resolve(&self, rel: &str) -> Result<PathBuf, ToolError> {
        let refuse = |why: &str| ToolError::Confinement {
            path: rel.to_owned(),
            why: why.to_owned(),
        };
        let canonical = self.canonical(rel)?;
        if in_git_dir(&canonical) {
            return Err(refuse(GIT_REFUSAL));
        }
        let full = if canonical == "." {
            self.root.clone()
        } else {
            self.root.join(&canonical)
        };
        // Check the longest existing prefix through its symlinks.
        let mut existing = full.as_path();
        loop {
            match std::fs::symlink_metadata(existing) {
                Ok(_) => break,
                Err(_) => match existing.parent() {
                    Some(p) => existing = p,
                    None => return Err(refuse("it cannot be resolved")),
                },
            }
        }
        let real = existing
            .canonicalize()
            .map_err(|e| refuse(&format!("it cannot be resolved ({e})")))?;
        let Ok(inside) = real.strip_prefix(&self.root) else {
            return Err(refuse("it leads outside the workspace through a symlink"));
        };
        let into_git = inside.components().any(|c| match c {
            Component::Normal(part) => part.to_str().is_some_and(in_git_dir),
            _ => false,
        });
        if into_git {
            return Err(refuse(GIT_REFUSAL));
        }
        Ok(full)
    }

    /// The workspace-relative form of a path inside it, with `/` separators.
    pub fn relative(&self, full: &Path) -> String {
        full.strip_prefix(&self.root)
            .unwrap_or(full)
            .to_string_lossy()
            .replace('\\', "/")
    }
}

const GIT_REFUSAL: &str = "the repository's .git is not open to file tools (not even through a symlink or a policy rule); use git commands to read history";

/// Whether the file system under `root` ignores case: a probe file with a lower-case name is
/// created, its upper-case name looked up, and the probe removed. Where no probe can be made
/// (a read-only workspace) the answer is the usual one on Linux, case-sensitive.
fn probe_case(root: &Path) -> Case {
    let name = format!(".macrohard-case-probe-{}", std::process::id());
    let lower = root.join(&name);
    let upper = root.join(name.to_uppercase());
    if std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&lower)
        .is_err()
    {
        return Case::Sensitive;
    }
    // Not following symlinks: a planted `.MACROHARD-…` symlink to the probe proves nothing.
    let case = match (
        std::fs::symlink_metadata(&lower),
        std::fs::symlink_metadata(&upper),
    ) {
        (Ok(a), Ok(b)) if same_file(&a, &b) => Case::Insensitive,
        _ => Case::Sensitive,
    };
    let _ = std::fs::remove_file(&lower);
    case
}

#[cfg(unix)]
fn same_file(a: &std::fs::Metadata, b: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    a.dev() == b.dev() && a.ino() == b.ino()
}

#[cfg(not(unix))]
fn same_file(a: &std::fs::Metadata, b: &std::fs::Metadata) -> bool {
    a.len() == b.len() && a.modified().ok() == b.modified().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ws() -> (tempfile::TempDir, Workspace) {
        let dir = tempfile::tempdir().unwrap();
        let ws = Workspace::open(&dir.path().join("ws")).unwrap();
        (dir, ws)
    }

    #[test]
    fn plain_relative_paths_resolve_inside() {
        let (_d, ws) = ws();
        let p = ws.resolve("src/new/file.py").unwrap();
        assert!(p.starts_with(ws.root()));
        assert_eq!(ws.relative(&p), "src/new/file.py");
        assert_eq!(ws.resolve(".").unwrap(), ws.root().to_path_buf());
    }

    #[test]
    fn climbing_above_the_root_and_absolute_paths_are_refused() {
        let (_d, ws) = ws();
        for bad in [
            "../../etc/passwd",
            "a/../../b",
            "/etc/passwd",
            "..",
            "./..",
            "x\0y",
        ] {
            let err = ws.resolve(bad).unwrap_err();
            assert!(matches!(err, ToolError::Confinement { .. }), "{bad}: {err}");
        }
        let err = ws.resolve("a/../../b").unwrap_err().to_string();
        assert!(err.contains("`..` is not allowed"), "{err}");
    }

    #[test]
    fn detours_that_stay_inside_resolve_to_the_canonical_path() {
        let (_d, ws) = ws();
        for spelling in ["a/../x", "./x", ".//x", "x/.", "x/", "b/c/../../x", "x//"] {
            let p = ws.resolve(spelling).unwrap();
            assert_eq!(ws.relative(&p), "x", "{spelling}");
        }
        assert_eq!(ws.resolve("a/..").unwrap(), ws.root().to_path_buf());
    }

    #[test]
    fn the_git_directory_is_refused_however_it_is_spelled_or_reached() {
        let (_d, ws) = ws();
        std::fs::create_dir_all(ws.root().join(".git/hooks")).unwrap();
        std::fs::write(ws.root().join(".git/config"), "[core]\n").unwrap();
        std::os::unix::fs::symlink(ws.root().join(".git"), ws.root().join("g")).unwrap();
        std::os::unix::fs::symlink(".git/config", ws.root().join("cfg")).unwrap();
        for bad in [
            ".git",
            ".git/config",
            "./.git/hooks/pre-commit",
            ".GIT/config",
            "sub/../.git/hooks/x",
            "sub/.Git/HEAD",
            "g/config",
            "g/hooks/new",
            "g",
            "cfg",
        ] {
            let err = ws.resolve(bad).unwrap_err();
            assert!(
                matches!(&err, ToolError::Confinement { why, .. } if why.contains(".git")),
                "{bad}: {err}"
            );
        }
        for fine in [".gitignore", ".github/workflows/ci.yml", "git/config"] {
            assert!(ws.resolve(fine).is_ok(), "{fine}");
        }
    }

    #[test]
    fn a_linux_temp_dir_is_case_sensitive_and_the_probe_leaves_nothing() {
        let (_d, ws) = ws();
        let upper = ws.root().join("PROBE");
        std::fs::write(&upper, "x").unwrap();
        let insensitive = ws.root().join("probe").exists();
        let want = if insensitive {
            Case::Insensitive
        } else {
            Case::Sensitive
        };
        assert_eq!(ws.case(), want);
        std::fs::remove_file(upper).unwrap();
        assert_eq!(std::fs::read_dir(ws.root()).unwrap().count(), 0);
    }

    #[test]
    fn symlinks_leading_outside_are_refused_and_inside_ones_allowed() {
        let (dir, ws) = ws();
        let outside = dir.path().join("outside");
        std::fs::create_dir_all(&outside).unwrap();
        std::os::unix::fs::symlink(&outside, ws.root().join("escape")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", ws.root().join("pw")).unwrap();
        std::fs::create_dir_all(ws.root().join("real")).unwrap();
        std::os::unix::fs::symlink(ws.root().join("real"), ws.root().join("alias")).unwrap();
        assert!(ws.resolve("escape/x.txt").is_err());
        assert!(ws.resolve("escape").is_err());
        assert!(ws.resolve("pw").is_err());
        assert!(ws.resolve("alias/x.txt").is_ok());
    }
}
