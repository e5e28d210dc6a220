//! The workspace as a git repository: each finished task is one commit whose author is the
//! agent's role and whose trailers say which task, run, model, prompt and approvals it came
//! from; `blame` reads them back for a line. Uses the `git` command (no library to build).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// What a finished task's commit records.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskCommit {
    pub task: String,
    pub run: String,
    pub title: String,
    pub summary: String,
    pub role: String,
    pub model: String,
    pub prompt_hash: String,
    /// One per approval a person gave in the task.
    pub approved_by: Vec<String>,
    pub cost_usd: f64,
    /// Workspace-relative paths the task changed.
    pub paths: Vec<String>,
}

/// What `git blame` and the commit's trailers say about one line.
#[derive(Debug, Clone, PartialEq)]
pub struct LineOrigin {
    pub commit: String,
    pub author: String,
    /// Seconds since the epoch.
    pub time: u64,
    pub text: String,
    /// Trailer name → values, in order.
    pub trailers: BTreeMap<String, Vec<String>>,
}

fn git(root: &Path) -> Command {
    let mut c = Command::new("git");
    c.arg("-C")
        .arg(root)
        .args([
            "-c",
            "commit.gpgsign=false",
            "-c",
            "core.hooksPath=/dev/null",
        ])
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_INDEX_FILE");
    c
}

fn run(mut c: Command, what: &str) -> Result<String, String> {
    let out = c
        .output()
        .map_err(|e| format!("cannot run git ({what}): {e}; is git installed?"))?;
    if !out.status.success() {
        return Err(format!(
            "git {what} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Makes the workspace a repository if it is not one.
pub fn ensure_repo(root: &Path) -> Result<(), String> {
    if root.join(".git").exists() {
        return Ok(());
    }
    let mut c = git(root);
    c.args(["init", "-q"]);
    run(c, "init").map(|_| ())
}

/// Commits what the task changed, as its role. `Ok(None)` when nothing changed.
pub fn commit_task(root: &Path, t: &TaskCommit) -> Result<Option<String>, String> {
    ensure_repo(root)?;
    let (present, gone): (Vec<&String>, Vec<&String>) =
        t.paths.iter().partition(|p| root.join(p).exists());
    if !present.is_empty() {
        let mut c = git(root);
        c.args(["add", "-A", "--"]).args(&present);
        run(c, "add")?;
    }
    if !gone.is_empty() {
        let mut c = git(root);
        c.args(["rm", "-q", "--cached", "--ignore-unmatch", "--"])
            .args(&gone);
        run(c, "rm")?;
    }
    let mut staged = git(root);
    staged.args(["diff", "--cached", "--quiet"]);
    if staged.status().map_err(|e| e.to_string())?.success() {
        return Ok(None);
    }
    let mut message = format!("{}: {}\n\n{}\n\n", t.task, t.title, t.summary.trim());
    message.push_str(&format!(
        "Task: {}\nRun: {}\nModel: {}\n",
        t.task, t.run, t.model
    ));
    message.push_str(&format!("Prompt-Hash: {}\n", t.prompt_hash));
    for by in &t.approved_by {
        message.push_str(&format!("Approved-By: {by}\n"));
    }
    message.push_str(&format!("Cost-USD: {:.4}\n", t.cost_usd));
    let email = format!(
        "{}@macrohard.local",
        t.role
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect::<String>()
    );
    let mut c = git(root);
    c.args(["commit", "-q", "-F", "-"])
        .env("GIT_AUTHOR_NAME", &t.role)
        .env("GIT_AUTHOR_EMAIL", &email)
        .env("GIT_COMMITTER_NAME", "macrohard-tui")
        .env("GIT_COMMITTER_EMAIL", "engine@macrohard.local")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = c
        .spawn()
        .map_err(|e| format!("cannot run git (commit): {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        use std::io::Write;
        stdin
            .write_all(message.as_bytes())
            .map_err(|e| format!("git commit: {e}"))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| format!("git commit: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "git commit failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let mut head = git(root);
    head.args(["rev-parse", "--short=12", "HEAD"]);
    Ok(Some(run(head, "rev-parse")?.trim().to_owned()))
}

/// Where line `line` (1-based) of `file` comes from.
pub fn blame(root: &Path, file: &str, line: usize) -> Result<LineOrigin, String> {
    let mut c = git(root);
    c.args([
        "blame",
        "--porcelain",
        "-L",
        &format!("{line},{line}"),
        "--",
        file,
    ]);
    let out = run(c, "blame")?;
    let mut lines = out.lines();
    let commit = lines
        .next()
        .and_then(|l| l.split_whitespace().next())
        .ok_or("git blame said nothing")?
        .to_owned();
    let (mut author, mut time, mut text) = (String::new(), 0, String::new());
    for l in lines {
        if let Some(a) = l.strip_prefix("author ") {
            author = a.to_owned();
        } else if let Some(t) = l.strip_prefix("author-time ") {
            time = t.trim().parse().unwrap_or(0);
        } else if let Some(t) = l.strip_prefix('\t') {
            text = t.to_owned();
        }
    }
    let mut trailers = BTreeMap::new();
    if !commit.chars().all(|c| c == '0') {
        let mut c = git(root);
        c.args(["show", "-s", "--format=%B", &commit]);
        for l in run(c, "show")?.lines() {
            if let Some((k, v)) = l.split_once(": ") {
                let known = [
                    "Task",
                    "Run",
                    "Model",
                    "Prompt-Hash",
                    "Approved-By",
                    "Cost-USD",
                ];
                if known.contains(&k) {
                    trailers
                        .entry(k.to_owned())
                        .or_insert_with(Vec::new)
                        .push(v.to_owned());
                }
            }
        }
    }
    Ok(LineOrigin {
        commit,
        author,
        time,
        text,
        trailers,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
