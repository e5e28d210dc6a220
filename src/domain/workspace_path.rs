//! The one spelling of a workspace path. Policy rules are matched, and file tools act, on the
//! canonical workspace-relative form this module gives, so `./x`, `.//x`, `a/../x`, `x/.`
//! and `x/` are all the same `x`, and a rule cannot be dodged by spelling a path differently.
//!
//! Invariants: the canonical form never starts with `/`, never holds an empty, `.` or `..`
//! component, and is `.` for the workspace root. Normalising is lexical (it reads no file
//! system): `a/../x` is `x` whatever `a` is, which is also the path the file tools touch.

use std::fmt;

/// Whether the file system of a workspace tells `A` from `a`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Case {
    /// `A` and `a` are two files (the usual answer on Linux).
    #[default]
    Sensitive,
    /// `A` and `a` are one file (macOS and Windows by default): rules match whatever the case.
    Insensitive,
}

impl Case {
    /// The form of `text` to compare under this case rule.
    pub fn fold(self, text: &str) -> String {
        match self {
            Case::Sensitive => text.to_owned(),
            Case::Insensitive => text.to_lowercase(),
        }
    }
}

/// Why a path has no spelling inside the workspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathError {
    /// It holds a NUL byte, which no file name can.
    Nul,
    /// It starts at the file system's root.
    Absolute,
    /// Its `..` components climb above the workspace root.
    Escapes,
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PathError::Nul => "it contains a NUL byte",
            PathError::Absolute => "absolute paths are not allowed",
            PathError::Escapes => "`..` is not allowed above the workspace root",
        })
    }
}

impl std::error::Error for PathError {}

/// The canonical workspace-relative spelling of `raw`: components joined by single `/`, with
/// `.` dropped and each `..` taking back the component before it; `.` for the root itself.
pub fn normalize_path(raw: &str) -> Result<String, PathError> {
    if raw.contains('\0') {
        return Err(PathError::Nul);
    }
    if raw.starts_with('/') {
        return Err(PathError::Absolute);
    }
    let mut kept: Vec<&str> = Vec::new();
    for part in raw.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if kept.pop().is_none() {
                    return Err(PathError::Escapes);
                }
            }
            name => kept.push(name),
        }
    }
    Ok(if kept.is_empty() {
        ".".to_owned()
    } else {
        kept.join("/")
    })
}

/// Whether a canonical path names the git directory or something in it, at any depth and in
/// any case (`.git/config`, `sub/.GIT/hooks/x`): agents' file tools never touch it.
pub fn in_git_dir(canonical: &str) -> bool {
    canonical
        .split('/')
        .any(|part| part.eq_ignore_ascii_case(".git"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_in_the_issue_is_the_same_path() {
        for spelling in [
            "x",
            "./x",
            ".//x",
            "a/../x",
            "x/.",
            "x/",
            "x//",
            "././x/./",
            "a/b/../../x",
            "a//..//x",
        ] {
            assert_eq!(normalize_path(spelling).as_deref(), Ok("x"), "{spelling}");
        }
        assert_eq!(
            normalize_path("src//lib/./a.rs").as_deref(),
            Ok("src/lib/a.rs")
        );
        assert_eq!(normalize_path("a/b/..").as_deref(), Ok("a"));
    }

    #[test]
    fn the_root_is_a_dot_and_climbing_above_it_is_an_error() {
        for root in ["", ".", "./", "a/..", "a/b/../..", ".//."] {
            assert_eq!(normalize_path(root).as_deref(), Ok("."), "{root:?}");
        }
        for bad in ["..", "../x", "a/../../x", "./..", "x/../..", "a/./../.."] {
            assert_eq!(normalize_path(bad), Err(PathError::Escapes), "{bad}");
        }
        assert_eq!(normalize_path("/etc/passwd"), Err(PathError::Absolute));
        assert_eq!(normalize_path("//x"), Err(PathError::Absolute));
        assert_eq!(normalize_path("a\0b"), Err(PathError::Nul));
    }

    #[test]
    fn names_that_only_look_special_are_names() {
        assert_eq!(normalize_path("...").as_deref(), Ok("..."));
        assert_eq!(normalize_path("..a/.b").as_deref(), Ok("..a/.b"));
        assert_eq!(normalize_path("a\\..\\b").as_deref(), Ok("a\\..\\b"));
    }

    #[test]
    fn the_git_directory_is_recognised_in_any_case_and_depth() {
        for p in [".git", ".git/config", ".GIT/config", "sub/.Git/hooks/x"] {
            assert!(in_git_dir(p), "{p}");
        }
        for p in [".gitignore", ".github/workflows/x", "git/config", "a.git"] {
            assert!(!in_git_dir(p), "{p}");
        }
    }

    #[test]
    fn folding_follows_the_case_rule() {
        assert_eq!(Case::Sensitive.fold("Src/A.rs"), "Src/A.rs");
        assert_eq!(Case::Insensitive.fold("Src/A.rs"), "src/a.rs");
    }
}
