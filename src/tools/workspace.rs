//! Workspace confinement. Every path a tool receives is relative to the workspace root; `..`,
//! absolute paths and symlinks that lead outside are refused before anything is touched.

use super::ToolError;
use std::path::{Component, Path, PathBuf};

#[derive(Debug, Clone)]
pub struct Workspace {
    root: PathBuf,
}

impl Workspace {
    /// Creates the directory if needed and pins its canonical path.
    pub fn open(root: &Path) -> std::io::Result<Self> {
        std::fs::create_dir_all(root)?;
        Ok(Self {
            root: root.canonicalize()?,
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Resolves `rel` to a path inside the workspace, refusing anything that is or leads
    /// outside it. The path need not exist yet; whatever part of it exists is checked through
    /// its symlinks.
    pub fn resolve(&self, rel: &str) -> Result<PathBuf, ToolError> {
        let refuse = |why: &str| ToolError::Confinement {
            path: rel.to_owned(),
            why: why.to_owned(),
        };
        if rel.contains('\0') {
            return Err(refuse("it contains a NUL byte"));
        }
        let path = Path::new(rel);
        let mut clean = PathBuf::new();
        for c in path.components() {
            match c {
                Component::Normal(part) => clean.push(part),
                Component::CurDir => {}
                Component::ParentDir => return Err(refuse("`..` is not allowed")),
                Component::RootDir | Component::Prefix(_) => {
                    return Err(refuse("absolute paths are not allowed"));
                }
            }
        }
        let full = self.root.join(&clean);
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
        if !real.starts_with(&self.root) {
            return Err(refuse("it leads outside the workspace through a symlink"));
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
    fn parent_components_and_absolute_paths_are_refused() {
        let (_d, ws) = ws();
        for bad in ["../../etc/passwd", "a/../../b", "/etc/passwd", "..", "x\0y"] {
            let err = ws.resolve(bad).unwrap_err();
            assert!(matches!(err, ToolError::Confinement { .. }), "{bad}: {err}");
        }
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
