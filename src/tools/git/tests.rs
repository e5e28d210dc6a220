use super::*;

/// A repository whose config, hooks and attributes were written by an attacker: every
/// program they name leaves a mark in `marks` if it ever runs.
fn hostile_repo(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let root = dir.join("ws");
    let marks = dir.join("marks");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::create_dir_all(&marks).unwrap();
    ensure_repo(&root).unwrap();
    let evil = |name: &str| {
        let p = dir.join(format!("{name}.sh"));
        std::fs::write(
            &p,
            format!("#!/bin/sh\ntouch '{}/{name}'\ncat\n", marks.display()),
        )
        .unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        p.display().to_string()
    };
    let hooks = root.join(".git/hooks");
    std::fs::create_dir_all(&hooks).unwrap();
    for hook in [
        "pre-commit",
        "commit-msg",
        "prepare-commit-msg",
        "post-commit",
        "post-index-change",
        "reference-transaction",
    ] {
        std::fs::copy(evil(&format!("hook-{hook}")), hooks.join(hook)).unwrap();
    }
    let other_hooks = dir.join("other-hooks");
    std::fs::create_dir_all(&other_hooks).unwrap();
    std::fs::copy(evil("hookspath"), other_hooks.join("pre-commit")).unwrap();
    let included = dir.join("included.cfg");
    std::fs::write(
        &included,
        format!(
            "[core]\n\tfsmonitor = {}\n[filter \"inc\"]\n\tclean = {}\n",
            evil("include-fsmonitor"),
            evil("include-filter")
        ),
    )
    .unwrap();
    let config = format!(
        "[core]\n\thooksPath = {}\n\tfsmonitor = {}\n\tpager = {}\n\tattributesFile = {}\n\
             [diff]\n\texternal = {}\n\
             [filter \"evil\"]\n\tclean = {}\n\tsmudge = {}\n\tprocess = {}\n\trequired = true\n\
             [diff \"evil\"]\n\ttextconv = {}\n\tcommand = {}\n\
             [pager]\n\tblame = {}\n\tshow = {}\n\
             [commit]\n\tgpgsign = true\n[gpg]\n\tprogram = {}\n\
             [include]\n\tpath = {}\n",
        other_hooks.display(),
        evil("fsmonitor"),
        evil("pager"),
        dir.join("global-attributes").display(),
        evil("diff-external"),
        evil("filter-clean"),
        evil("filter-smudge"),
        evil("filter-process"),
        evil("textconv"),
        evil("diff-command"),
        evil("pager-blame"),
        evil("pager-show"),
        evil("gpg"),
        included.display(),
    );
    let mut text = std::fs::read_to_string(root.join(".git/config")).unwrap();
    text.push_str(&config);
    std::fs::write(root.join(".git/config"), text).unwrap();
    std::fs::write(dir.join("global-attributes"), "* filter=evil diff=evil\n").unwrap();
    std::fs::write(
        root.join(".gitattributes"),
        "* filter=evil diff=evil\n*.py filter=inc\n",
    )
    .unwrap();
    std::fs::create_dir_all(root.join(".git/info")).unwrap();
    std::fs::write(
        root.join(".git/info/attributes"),
        "* filter=evil diff=evil\n",
    )
    .unwrap();
    (root, marks)
}

#[test]
fn the_engines_git_runs_nothing_the_repository_defines() {
    let dir = tempfile::tempdir().unwrap();
    let (root, marks) = hostile_repo(dir.path());
    std::fs::write(root.join("core.py"), "def f():\n    return 1\n").unwrap();
    let t = TaskCommit {
        task: "T1".into(),
        run: "01run".into(),
        title: "Write core".into(),
        summary: "core.py".into(),
        role: "engineer".into(),
        model: "m".into(),
        prompt_hash: "h".into(),
        approved_by: Vec::new(),
        cost_usd: 0.0,
        paths: vec!["core.py".into(), ".gitattributes".into()],
    };
    let sha = commit_task(&root, &t).unwrap().expect("a commit");
    let o = blame(&root, "core.py", 2).unwrap();
    assert_eq!(o.text, "    return 1");
    assert!(o.commit.starts_with(&sha[..7]));
    // Changed again, so that git looks at the file's content once more.
    std::fs::write(root.join("core.py"), "def f():\n    return 2\n").unwrap();
    let t2 = TaskCommit {
        task: "T2".into(),
        paths: vec!["core.py".into()],
        ..t
    };
    commit_task(&root, &t2).unwrap().expect("a second commit");
    blame(&root, "core.py", 1).unwrap();
    let ran: Vec<String> = std::fs::read_dir(&marks)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(ran.is_empty(), "repository-defined programs ran: {ran:?}");
    // The content went in as written: no clean filter touched it.
    let mut show = base(&root);
    show.args(["show", "HEAD:core.py"]);
    assert_eq!(run(show, "show").unwrap(), "def f():\n    return 2\n");
}

#[test]
fn file_names_that_look_like_patterns_are_taken_literally() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    ensure_repo(root).unwrap();
    std::fs::write(root.join("a.py"), "a\n").unwrap();
    std::fs::create_dir(root.join("src")).unwrap();
    std::fs::write(root.join("src/b.py"), "b\n").unwrap();
    let t = TaskCommit {
        task: "T1".into(),
        run: "01run".into(),
        title: "Write".into(),
        summary: "files".into(),
        role: "engineer".into(),
        model: "m".into(),
        prompt_hash: "h".into(),
        approved_by: Vec::new(),
        cost_usd: 0.0,
        paths: vec!["a.py".into(), "src/b.py".into()],
    };
    commit_task(root, &t).unwrap().expect("a commit");
    // A command made a file named `*` and deleted it again; another, `:(glob)**`, exists;
    // a.py was changed by someone else and is not this task's.
    std::fs::write(root.join(":(glob)**"), "g\n").unwrap();
    std::fs::write(root.join("a.py"), "changed by another task\n").unwrap();
    let t2 = TaskCommit {
        task: "T2".into(),
        paths: vec!["*".into(), ":(glob)**".into()],
        ..t
    };
    commit_task(root, &t2)
        .unwrap()
        .expect("a commit of the glob-named file");
    let mut files = base(root);
    files.args(["ls-tree", "-r", "--name-only", "HEAD"]);
    let listed = run(files, "ls-tree").unwrap();
    let mut names: Vec<&str> = listed.lines().collect();
    names.sort_unstable();
    assert_eq!(names, [":(glob)**", "a.py", "src/b.py"], "nothing deleted");
    let mut show = base(root);
    show.args(["show", "HEAD:a.py"]);
    assert_eq!(run(show, "show").unwrap(), "a\n", "a.py was not staged");
}

#[test]
fn the_same_repository_runs_its_programs_under_a_plain_git() {
    // The fixture is live: a plain `git add` does run the attacker's filter.
    let dir = tempfile::tempdir().unwrap();
    let (root, marks) = hostile_repo(dir.path());
    std::fs::write(root.join("x.txt"), "x\n").unwrap();
    let out = Command::new("git")
        .current_dir(&root)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .args(["add", "x.txt"])
        .output()
        .unwrap();
    let _ = out;
    assert!(std::fs::read_dir(&marks).unwrap().next().is_some());
}

#[test]
fn a_task_is_one_commit_by_its_role_and_blame_reads_it_back() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::write(root.join("core.py"), "def f():\n    return 1\n").unwrap();
    std::fs::write(root.join("other.py"), "x = 1\n").unwrap();
    let t = TaskCommit {
        task: "T2".into(),
        run: "01run".into(),
        title: "Implement the store".into(),
        summary: "core.py with f()".into(),
        role: "engineer".into(),
        model: "gpt-4o-mini".into(),
        prompt_hash: "abcd1234".into(),
        approved_by: vec!["ada@box".into()],
        cost_usd: 0.0123,
        paths: vec!["core.py".into(), "gone.py".into()],
    };
    let sha = commit_task(root, &t).unwrap().expect("a commit");
    assert!(!sha.is_empty());
    let o = blame(root, "core.py", 2).unwrap();
    assert_eq!(o.author, "engineer");
    assert_eq!(o.text, "    return 1");
    assert_eq!(o.trailers["Task"], vec!["T2"]);
    assert_eq!(o.trailers["Approved-By"], vec!["ada@box"]);
    assert_eq!(o.trailers["Prompt-Hash"], vec!["abcd1234"]);
    // Only the task's files: other.py stays uncommitted.
    assert!(blame(root, "other.py", 1).is_err());
    // Nothing changed: no empty commit.
    assert_eq!(commit_task(root, &t).unwrap(), None);
}
