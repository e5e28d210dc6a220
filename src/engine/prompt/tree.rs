//! A depth-limited tree of the workspace for a worker's brief: what is there, at a glance,
//! without a `list_files` call per folder. Bounded everywhere: a folder is read up to
//! [`READ_CAP`] entries, the tree shows at most `entries` names, a folder at most `per_dir`,
//! and what is left out is counted (`… 12 more`). Folders are filled breadth-first, so a deep
//! folder cannot crowd out the top level. Links are shown, never followed.

use std::path::{Path, PathBuf};

/// Names never shown: the repository and the engine's own files.
const HIDDEN: [&str; 2] = [".git", ".macrohard"];
/// Folders shown with a count but not opened: what tools generate, rarely read.
const NOT_OPENED: [&str; 9] = [
    "node_modules",
    "target",
    "__pycache__",
    ".venv",
    "venv",
    ".tox",
    ".mypy_cache",
    ".pytest_cache",
    ".cache",
];
/// Entries read from one folder at most (a folder of a million files costs no more).
const READ_CAP: usize = 2_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TreeLimits {
    /// Levels shown below the root (1: the root's entries only).
    pub depth: usize,
    /// Names shown in all.
    pub entries: usize,
    /// Names shown in one folder.
    pub per_dir: usize,
}

pub const BRIEF_TREE: TreeLimits = TreeLimits {
    depth: 3,
    entries: 80,
    per_dir: 25,
};

#[derive(Debug, Default)]
struct Node {
    name: String,
    kind: Kind,
    children: Vec<Node>,
    /// Entries of a folder that are not shown.
    more: usize,
    /// The folder's entries were counted but not listed (depth, budget, or a generated folder).
    closed: bool,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    #[default]
    File,
    Dir,
    Link,
}

/// The entries of a folder, sorted, hidden names left out, at most [`READ_CAP`] read; and
/// how many more there were past the cap.
fn entries(dir: &Path) -> (Vec<(String, Kind)>, usize) {
    let Ok(read) = std::fs::read_dir(dir) else {
        return (Vec::new(), 0);
    };
    let mut out = Vec::new();
    let mut past = 0;
    for e in read.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if HIDDEN.contains(&name.as_str()) {
            continue;
        }
        if out.len() >= READ_CAP {
            past += 1;
            if past >= READ_CAP {
                break;
            }
            continue;
        }
        // The entry itself, not what a link points to.
        let kind = match e.file_type() {
            Ok(t) if t.is_symlink() => Kind::Link,
            Ok(t) if t.is_dir() => Kind::Dir,
            _ => Kind::File,
        };
        out.push((name, kind));
    }
    out.sort();
    (out, past)
}

/// The tree of `root` within `limits`, one name a line, folders ending in `/`, indented two
/// spaces a level.
pub fn render(root: &Path, limits: TreeLimits) -> String {
    let mut top = Node {
        kind: Kind::Dir,
        ..Node::default()
    };
    let mut budget = limits.entries;
    // Breadth-first: (path of the folder, path of indices to its node, its level).
    let mut queue: std::collections::VecDeque<(PathBuf, Vec<usize>, usize)> =
        std::collections::VecDeque::from([(root.to_path_buf(), Vec::new(), 1)]);
    while let Some((dir, at, level)) = queue.pop_front() {
        let (found, past) = entries(&dir);
        let node = node_at(&mut top, &at);
        let name = node.name.clone();
        if level > limits.depth || budget == 0 || NOT_OPENED.contains(&name.as_str()) {
            node.closed = true;
            node.more = found.len() + past;
            continue;
        }
        let shown = found.len().min(limits.per_dir).min(budget);
        budget -= shown;
        node.more = found.len() - shown + past;
        for (i, (name, kind)) in found.into_iter().take(shown).enumerate() {
            if kind == Kind::Dir {
                let mut path = at.clone();
                path.push(i);
                queue.push_back((dir.join(&name), path, level + 1));
            }
            node.children.push(Node {
                name,
                kind,
                ..Node::default()
            });
        }
    }
    let mut out = String::new();
    if top.children.is_empty() && top.more == 0 {
        out.push_str("(empty)\n");
    }
    write_children(&top, 0, &mut out);
    out
}

fn node_at<'a>(top: &'a mut Node, at: &[usize]) -> &'a mut Node {
    let mut node = top;
    for &i in at {
        node = &mut node.children[i];
    }
    node
}

fn write_children(node: &Node, indent: usize, out: &mut String) {
    let pad = "  ".repeat(indent);
    for c in &node.children {
        out.push_str(&pad);
        out.push_str(&c.name);
        match c.kind {
            Kind::Dir if c.closed && c.more > 0 => {
                out.push_str(&format!("/ ({} entries, not listed)", c.more));
            }
            Kind::Dir => out.push('/'),
            Kind::Link => out.push_str(" (link)"),
            Kind::File => {}
        }
        out.push('\n');
        if c.kind == Kind::Dir && !c.closed {
            write_children(c, indent + 1, out);
        }
    }
    if node.more > 0 && !node.closed {
        out.push_str(&format!("{pad}… {} more\n", node.more));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(root: &Path, rel: &str) {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, "x").unwrap();
    }

    #[test]
    fn an_empty_workspace_says_so() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(render(dir.path(), BRIEF_TREE), "(empty)\n");
    }

    #[test]
    fn folders_nest_by_indent_and_the_engines_own_are_hidden() {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        touch(r, "README.md");
        touch(r, "src/app.py");
        touch(r, "src/cli/main.py");
        touch(r, ".git/HEAD");
        touch(r, ".macrohard/out.log");
        touch(r, "node_modules/a/index.js");
        touch(r, "node_modules/b.js");
        std::os::unix::fs::symlink("/etc", r.join("etc")).unwrap();
        assert_eq!(
            render(r, BRIEF_TREE),
            "README.md\netc (link)\nnode_modules/ (2 entries, not listed)\nsrc/\n  app.py\n  cli/\n    main.py\n"
        );
    }

    #[test]
    fn the_depth_limit_closes_deeper_folders_with_a_count() {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        touch(r, "a/b/c/d/e.txt");
        touch(r, "a/b/c/f.txt");
        let tree = render(r, BRIEF_TREE);
        assert_eq!(
            tree, "a/\n  b/\n    c/ (2 entries, not listed)\n",
            "three levels shown"
        );
    }

    #[test]
    fn the_entry_limits_count_what_they_leave_out() {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        for i in 0..40 {
            touch(r, &format!("f{i:02}.txt"));
        }
        for i in 0..30 {
            touch(r, &format!("zdir/g{i:02}.txt"));
        }
        let limits = TreeLimits {
            depth: 3,
            entries: 30,
            per_dir: 25,
        };
        let tree = render(r, limits);
        // 41 entries at the top, 25 shown (the folder's limit), the rest counted.
        let names = tree.lines().filter(|l| !l.contains('…')).count();
        assert_eq!(names, 25, "{tree}");
        assert!(tree.starts_with("f00.txt\n") && tree.ends_with("f24.txt\n… 16 more\n"));
        // With fewer at the top, the folder below gets what is left of the 30.
        for i in 10..40 {
            std::fs::remove_file(r.join(format!("f{i:02}.txt"))).unwrap();
        }
        let tree = render(r, limits);
        assert_eq!(tree.lines().filter(|l| !l.contains('…')).count(), 30);
        assert!(tree.contains("  g18.txt\n  … 11 more\n"), "{tree}");
        // A folder that is reached but not listed when the budget has run out.
        for i in 0..10 {
            std::fs::remove_file(r.join(format!("f{i:02}.txt"))).unwrap();
        }
        touch(r, "a.txt");
        let tree = render(
            r,
            TreeLimits {
                depth: 3,
                entries: 2,
                per_dir: 25,
            },
        );
        assert_eq!(tree, "a.txt\nzdir/ (30 entries, not listed)\n");
        let tree = render(r, BRIEF_TREE);
        assert!(tree.contains("  g24.txt\n  … 5 more\n"), "{tree}");
    }
}
