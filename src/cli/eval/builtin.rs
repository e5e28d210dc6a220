//! The built-in suite, embedded so that a fresh install can run `eval`: its files live in
//! `suite/default/` (one folder per goal; the `solution/` folders are not embedded).

use super::goals::{Suite, goal_from_files};
use std::collections::BTreeMap;

/// Every file of the default suite: path under `suite/default/`, text.
pub const FILES: &[(&str, &str)] = &[
    (
        "fix-inventory/goal.toml",
        include_str!("suite/default/fix-inventory/goal.toml"),
    ),
    (
        "fix-inventory/seed/inventory.py",
        include_str!("suite/default/fix-inventory/seed/inventory.py"),
    ),
    (
        "fix-inventory/seed/test_inventory.py",
        include_str!("suite/default/fix-inventory/seed/test_inventory.py"),
    ),
    (
        "fix-inventory/tests/test_inventory_hidden.py",
        include_str!("suite/default/fix-inventory/tests/test_inventory_hidden.py"),
    ),
    (
        "kv-server/goal.toml",
        include_str!("suite/default/kv-server/goal.toml"),
    ),
    (
        "kv-server/tests/test_kvserver.py",
        include_str!("suite/default/kv-server/tests/test_kvserver.py"),
    ),
    (
        "log-stats/goal.toml",
        include_str!("suite/default/log-stats/goal.toml"),
    ),
    (
        "log-stats/tests/test_logstats.py",
        include_str!("suite/default/log-stats/tests/test_logstats.py"),
    ),
    (
        "lru-cache/goal.toml",
        include_str!("suite/default/lru-cache/goal.toml"),
    ),
    (
        "lru-cache/tests/test_lru.py",
        include_str!("suite/default/lru-cache/tests/test_lru.py"),
    ),
    (
        "md-toc/goal.toml",
        include_str!("suite/default/md-toc/goal.toml"),
    ),
    (
        "md-toc/tests/test_mdtoc.py",
        include_str!("suite/default/md-toc/tests/test_mdtoc.py"),
    ),
    (
        "roman/goal.toml",
        include_str!("suite/default/roman/goal.toml"),
    ),
    (
        "roman/tests/test_roman.py",
        include_str!("suite/default/roman/tests/test_roman.py"),
    ),
    (
        "sales-summary/goal.toml",
        include_str!("suite/default/sales-summary/goal.toml"),
    ),
    (
        "sales-summary/tests/test_sales_summary.py",
        include_str!("suite/default/sales-summary/tests/test_sales_summary.py"),
    ),
    (
        "semver/goal.toml",
        include_str!("suite/default/semver/goal.toml"),
    ),
    (
        "semver/tests/test_semver.py",
        include_str!("suite/default/semver/tests/test_semver.py"),
    ),
    (
        "slugify/goal.toml",
        include_str!("suite/default/slugify/goal.toml"),
    ),
    (
        "slugify/tests/test_slugify.py",
        include_str!("suite/default/slugify/tests/test_slugify.py"),
    ),
    (
        "wordcount/goal.toml",
        include_str!("suite/default/wordcount/goal.toml"),
    ),
    (
        "wordcount/tests/test_wordcount.py",
        include_str!("suite/default/wordcount/tests/test_wordcount.py"),
    ),
];

/// The default suite, read as a folder of goals would be.
pub fn suite() -> Result<Suite, String> {
    let mut by_goal: BTreeMap<&str, BTreeMap<String, Vec<u8>>> = BTreeMap::new();
    for (path, text) in FILES {
        let (goal, rest) = path.split_once('/').unwrap_or((path, ""));
        by_goal
            .entry(goal)
            .or_default()
            .insert(rest.to_owned(), text.as_bytes().to_vec());
    }
    let goals = by_goal
        .into_iter()
        .map(|(name, files)| goal_from_files(name, &format!("built-in suite/{name}"), files))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Suite {
        name: "default".into(),
        dir: None,
        goals,
    })
}

/// Writes the default suite's files into `dir` (a start for a suite of one's own); refuses
/// to overwrite a file. Returns the paths written.
pub fn write_to(dir: &std::path::Path) -> Result<Vec<std::path::PathBuf>, String> {
    let mut written = Vec::new();
    for (path, text) in FILES {
        let target = dir.join(path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
        }
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&target)
            .map_err(|e| format!("cannot write {}: {e}", target.display()))?;
        std::io::Write::write_all(&mut file, text.as_bytes())
            .map_err(|e| format!("cannot write {}: {e}", target.display()))?;
        written.push(target);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every file of `suite/default/` (but the reference solutions) is embedded, and nothing
    /// else: a goal added on disk and not here would silently be missing from the binary.
    #[test]
    fn the_embedded_list_is_the_folder() {
        fn walk(dir: &std::path::Path, root: &std::path::Path, out: &mut Vec<String>) {
            for e in std::fs::read_dir(dir).unwrap() {
                let p = e.unwrap().path();
                let name = p.file_name().unwrap().to_string_lossy().into_owned();
                if name == "solution" || name == "__pycache__" || name.starts_with('.') {
                    continue;
                }
                if p.is_dir() {
                    walk(&p, root, out);
                } else {
                    out.push(p.strip_prefix(root).unwrap().to_string_lossy().into_owned());
                }
            }
        }
        let root =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/cli/eval/suite/default");
        let mut on_disk = Vec::new();
        walk(&root, &root, &mut on_disk);
        on_disk.sort();
        let mut embedded: Vec<String> = FILES.iter().map(|(p, _)| (*p).to_owned()).collect();
        embedded.sort();
        assert_eq!(embedded, on_disk);
    }

    #[test]
    fn the_default_suite_loads_with_ten_goals() {
        let s = suite().unwrap();
        assert_eq!(s.goals.len(), 10);
        assert!(
            s.goals
                .iter()
                .all(|g| !g.description.is_empty() && !g.tests.is_empty())
        );
        let bug = s.goals.iter().find(|g| g.name == "fix-inventory").unwrap();
        assert!(!bug.seed.is_empty());
    }
}
