//! The workspace as a git repository: each finished task is one commit whose author is the
//! agent's role and whose trailers say which task, run, model, prompt and approvals it came
//! from; `blame` reads them back for a line. Uses the `git` command (no library to build).
//!
//! The workspace is hostile: an agent may have written `.gitattributes`, and (where the kernel
//! cannot keep `.git` read-only) `.git/config` or hooks. The engine's git never runs a program
//! the repository defines: no system or global config, hooks pointed at nothing, fsmonitor,
//! pagers, editors, external diffs, askpass, credential helpers and ssh commands switched off on
//! the command line (which outranks every config file, included ones too), attributes read
//! from the empty tree instead of the work tree, and every filter, diff or merge driver the
//! repository's config defines neutered by name.

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

/// Settings that keep repository-defined programs from running, given on the command line.
const SAFE: [&str; 19] = [
    "core.hooksPath=/dev/null",
    "core.fsmonitor=false",
    "core.pager=cat",
    "core.editor=true",
    "sequence.editor=true",
    "core.askPass=",
    "core.sshCommand=",
    "core.gitProxy=",
    "core.attributesFile=/dev/null",
    "core.alternateRefsCommand=",
    "credential.helper=",
    "diff.external=",
    "uploadpack.packObjectsHook=",
    "protocol.allow=never",
    "commit.gpgsign=false",
    "tag.gpgsign=false",
    "gpg.program=false",
    "init.templateDir=",
    "status.showUntrackedFiles=all",
];

/// The empty tree: attributes come from it, so `.gitattributes` in the work tree (written by
/// an agent) selects no filter, diff or merge driver.
const EMPTY_TREE: &str = "4b825dc642cb6eb9a060e54bf8d69288fbee4904";

/// Whether this git reads attributes from a tree (`--attr-source`, git 2.40).
fn attr_source_supported() -> bool {
    static SUPPORTED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *SUPPORTED.get_or_init(|| {
        let out = Command::new("git").arg("--version").output();
        let text = out
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        let version: Vec<u32> = text
            .split_whitespace()
            .nth(2)
            .unwrap_or("0")
            .split('.')
            .map_while(|p| p.parse().ok())
            .collect();
        version.as_slice() >= [2, 40].as_slice()
    })
}

/// The git directory of the work tree at `root`: its `.git` folder, or for a linked worktree
/// (whose `.git` is a file naming its git directory) the folder that file names, accepted
/// only when that folder names `root` back. A worktree's own `.git` file is not to be trusted
/// blindly (a command may have rewritten it where the sandbox is partial); the back link is
/// in the main repository, out of the agents' reach.
pub fn git_dir_of(root: &Path) -> std::path::PathBuf {
    let dot_git = root.join(".git");
    if !std::fs::symlink_metadata(&dot_git).is_ok_and(|m| m.is_file()) {
        return dot_git;
    }
    let linked = (|| {
        let text = crate::fsread::read_text_no_follow(&dot_git, 4096).ok()?;
        let dir = std::path::PathBuf::from(text.trim().strip_prefix("gitdir:")?.trim());
        let back = crate::fsread::read_text(&dir.join("gitdir"), 4096).ok()?;
        let back = std::path::PathBuf::from(back.trim());
        let same = back.canonicalize().ok()? == dot_git.canonicalize().ok()?;
        let in_worktrees = dir.parent()?.file_name()? == "worktrees";
        (same && in_worktrees).then_some(dir)
    })();
    // A `.git` file that does not check out names nothing git may use.
    linked.unwrap_or_else(|| std::path::PathBuf::from("/nonexistent/macrohard-untrusted-gitdir"))
}

/// `git` for the repository at `root`, with nothing from the environment, the system or the
/// account, and the settings of `SAFE`.
fn base(root: &Path) -> Command {
    base_in(&git_dir_of(root), root)
}

/// [`base`] with the git directory given: `git_dir` and the work tree `root`.
fn base_in(git_dir: &Path, root: &Path) -> Command {
    let mut c = Command::new("git");
    c.arg("--no-pager");
    for setting in SAFE {
        c.args(["-c", setting]);
    }
    if attr_source_supported() {
        c.arg(format!("--attr-source={EMPTY_TREE}"));
    }
    if let Some(file) = EXCLUDES.get() {
        c.arg("-c")
            .arg(format!("core.excludesFile={}", file.display()));
    }
    c.current_dir(root)
        .env("GIT_DIR", git_dir)
        .env("GIT_WORK_TREE", root)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        // Paths are file names, never patterns: a file named `*` or `:(glob)**` must not
        // make `git rm --cached -- '*'` empty the index.
        .env("GIT_LITERAL_PATHSPECS", "1")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_PAGER", "cat")
        .env("GIT_EDITOR", "true")
        .env("GIT_NO_REPLACE_OBJECTS", "1")
        .env("GIT_OPTIONAL_LOCKS", "0")
        .env_remove("GIT_INDEX_FILE")
        .env_remove("GIT_EXTERNAL_DIFF")
        .env_remove("GIT_SSH")
        .env_remove("GIT_SSH_COMMAND")
        .env_remove("GIT_ASKPASS")
        .env_remove("SSH_ASKPASS")
        .env_remove("GIT_PROXY_COMMAND")
        .env_remove("GIT_CONFIG")
        .env_remove("GIT_CONFIG_COUNT")
        .env_remove("GIT_CONFIG_PARAMETERS")
        .env_remove("GIT_ATTR_SOURCE")
        .env_remove("GIT_TEMPLATE_DIR")
        .env_remove("GIT_EXEC_PATH")
        .env_remove("PAGER")
        .env_remove("EDITOR")
        .env_remove("VISUAL");
    c
}

/// The repository's own filter, diff and merge drivers, as `key=` settings that switch each
/// off (an empty command runs nothing; a filter is no longer required). Reading config runs
/// nothing.
fn neutered_drivers(root: &Path) -> Vec<String> {
    let mut c = base(root);
    c.args([
        "config",
        "--name-only",
        "--get-regexp",
        r"^(filter|diff|merge)\..*\.(clean|smudge|process|textconv|command|driver)$",
    ]);
    let Ok(out) = c.output() else {
        return Vec::new();
    };
    let mut settings = Vec::new();
    for key in String::from_utf8_lossy(&out.stdout).lines() {
        if key.is_empty() {
            continue;
        }
        settings.push(format!("{key}="));
        // A "required" filter that runs nothing would fail the command: not required.
        if let Some((driver, _)) = key.strip_prefix("filter.").and_then(|k| k.rsplit_once('.')) {
            settings.push(format!("filter.{driver}.required=false"));
        }
    }
    settings
}

pub(crate) fn git(root: &Path) -> Command {
    let drivers = neutered_drivers(root);
    let mut c = base(root);
    for d in &drivers {
        c.args(["-c", d]);
    }
    c
}

pub(crate) fn run(mut c: Command, what: &str) -> Result<String, String> {
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

/// Runs a yes/no git command: exit 0 is yes, 1 is no, anything else an error (said, never
/// printed on the terminal the control room draws on).
pub(crate) fn yes_no(mut c: Command, what: &str) -> Result<bool, String> {
    let out = c
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| format!("cannot run git ({what}): {e}; is git installed?"))?;
    match out.status.code() {
        Some(0) => Ok(true),
        Some(1) => Ok(false),
        _ => Err(format!(
            "git {what} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )),
    }
}

/// Whether anything is staged in the work tree at `root`.
pub(crate) fn staged(root: &Path) -> Result<bool, String> {
    let mut c = git(root);
    c.args([
        "diff",
        "--cached",
        "--quiet",
        "--no-ext-diff",
        "--no-textconv",
    ]);
    yes_no(c, "diff --cached").map(|nothing| !nothing)
}

/// Who the engine's own commits are by (a task's commit is authored by its role, committed
/// by the engine; merges and `land`'s commits are the engine's alone).
pub(crate) const ENGINE_NAME: &str = "macrohard-tui";
pub(crate) const ENGINE_EMAIL: &str = "engine@macrohard.local";

/// Makes `c`'s commits the engine's: committer, and author too when `author` is true.
pub(crate) fn as_engine(c: &mut Command, author: bool) -> &mut Command {
    if author {
        c.env("GIT_AUTHOR_NAME", ENGINE_NAME)
            .env("GIT_AUTHOR_EMAIL", ENGINE_EMAIL);
    }
    c.env("GIT_COMMITTER_NAME", ENGINE_NAME)
        .env("GIT_COMMITTER_EMAIL", ENGINE_EMAIL)
}

/// Makes the workspace a repository if it is not one, and keeps out of git what the engine's
/// tools write for themselves (`.macrohard/`) and what builds and test runs leave.
pub fn ensure_repo(root: &Path) -> Result<(), String> {
    if !root.join(".git").exists() {
        let mut c = base(root);
        c.args(["init", "-q", "--template="]);
        run(c, "init")?;
    }
    ensure_excluded(root)
}

/// The file of [`EXCLUDED`] patterns every git of the engine reads (see [`use_excludes`]).
static EXCLUDES: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();

/// Writes the [`EXCLUDED`] patterns to a file in `dir` (the engine's data directory) that
/// every git of this process reads as its excludes file: a worktree of the person's own
/// repository keeps the engine's files and caches out of its commits without a line written
/// to their `.git/info/exclude`. The first call wins.
pub fn use_excludes(dir: &Path) -> Result<(), String> {
    if EXCLUDES.get().is_some() {
        return Ok(());
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot make {}: {e}", dir.display()))?;
    let file = dir.join("git-exclude");
    let mut text = String::from(
        "# macrohard-tui: its tools' own files, and what builds and test runs leave\n",
    );
    for p in EXCLUDED {
        text.push_str(p);
        text.push('\n');
    }
    std::fs::write(&file, text).map_err(|e| format!("cannot write {}: {e}", file.display()))?;
    let _ = EXCLUDES.set(file);
    Ok(())
}

/// Patterns `ensure_repo` adds to `.git/info/exclude`: never a task's work, and the caches
/// would otherwise be committed with every command that runs the tests.
pub const EXCLUDED: [&str; 8] = [
    ".macrohard/",
    "__pycache__/",
    "*.py[cod]",
    ".pytest_cache/",
    ".mypy_cache/",
    ".ruff_cache/",
    "node_modules/",
    ".venv/",
];

/// Adds the missing [`EXCLUDED`] patterns to `.git/info/exclude`, following no symlink. A
/// `.git` that is a file (a linked worktree) is left alone.
fn ensure_excluded(root: &Path) -> Result<(), String> {
    use std::io::{Read, Write};
    use std::os::unix::fs::OpenOptionsExt;
    let git_dir = root.join(".git");
    if !std::fs::symlink_metadata(&git_dir).is_ok_and(|m| m.is_dir()) {
        return Ok(());
    }
    let info = git_dir.join("info");
    match std::fs::symlink_metadata(&info) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => return Err(".git/info is not a folder".into()),
        Err(_) => {
            std::fs::create_dir(&info).map_err(|e| format!("cannot create .git/info: {e}"))?
        }
    }
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(info.join("exclude"))
        .map_err(|e| format!("cannot open .git/info/exclude: {e}"))?;
    if !file.metadata().is_ok_and(|m| m.is_file()) {
        return Err(".git/info/exclude is not a file".into());
    }
    let mut bytes = Vec::new();
    Read::by_ref(&mut file)
        .take(1 << 20)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read .git/info/exclude: {e}"))?;
    let text = String::from_utf8_lossy(&bytes);
    let missing: Vec<&str> = EXCLUDED
        .into_iter()
        .filter(|p| !text.lines().any(|l| l.trim() == *p))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let mut add = String::new();
    if !text.is_empty() && !text.ends_with('\n') {
        add.push('\n');
    }
    add.push_str("# macrohard-tui: its tools' own files, and what builds and test runs leave\n");
    for p in missing {
        add.push_str(p);
        add.push('\n');
    }
    file.write_all(add.as_bytes())
        .map_err(|e| format!("cannot write .git/info/exclude: {e}"))
}

/// `git status` of the work tree for [`parse_status`]: changed, deleted and untracked files
/// (not ignored ones, not inside submodules), a rename as a deletion and an addition. Runs
/// nothing the repository defines, like every command here; the caller bounds its time.
pub fn status_command(root: &Path) -> Command {
    let mut c = git(root);
    c.args([
        "status",
        "--porcelain=v1",
        "-z",
        "--untracked-files=all",
        "--no-renames",
        "--ignore-submodules=all",
    ]);
    c
}

/// The entries of `git status --porcelain=v1 -z --no-renames`: (the two status letters, path).
pub fn parse_status(out: &[u8]) -> Vec<(String, String)> {
    out.split(|b| *b == 0)
        .filter(|e| e.len() > 3)
        .map(|e| {
            (
                String::from_utf8_lossy(&e[..2]).into_owned(),
                String::from_utf8_lossy(&e[3..]).into_owned(),
            )
        })
        .collect()
}

/// `git diff --numstat` of `paths` between the index and the work tree, for [`parse_numstat`].
pub fn numstat_command(root: &Path, paths: &[String]) -> Command {
    let mut c = git(root);
    c.args([
        "diff",
        "--numstat",
        "-z",
        "--no-ext-diff",
        "--no-textconv",
        "--no-renames",
        "--ignore-submodules=all",
        "--",
    ])
    .args(paths);
    c
}

/// Path → (added, removed) lines from `git diff --numstat -z`; binary files count 0.
pub fn parse_numstat(out: &[u8]) -> BTreeMap<String, (u32, u32)> {
    let mut map = BTreeMap::new();
    for entry in out.split(|b| *b == 0) {
        let text = String::from_utf8_lossy(entry);
        let mut parts = text.splitn(3, '\t');
        let (Some(a), Some(r), Some(path)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        map.insert(
            path.to_owned(),
            (a.parse().unwrap_or(0), r.parse().unwrap_or(0)),
        );
    }
    map
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
    if !staged(root)? {
        return Ok(None);
    }
    commit_staged(root, &t.role, &commit_message(t))
}

/// The message of a task's commit: its title and summary, then the trailers `blame` reads.
pub(crate) fn commit_message(t: &TaskCommit) -> String {
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
    message
}

/// Commits what is staged in the work tree at `root` with `message`, authored by `author`
/// (a role, or the engine), committed by the engine; the new commit's id.
pub(crate) fn commit_staged(
    root: &Path,
    author: &str,
    message: &str,
) -> Result<Option<String>, String> {
    let email = format!(
        "{}@macrohard.local",
        author
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect::<String>()
    );
    let mut c = git(root);
    as_engine(&mut c, false);
    c.args(["commit", "-q", "--no-verify", "-F", "-"])
        .env("GIT_AUTHOR_NAME", author)
        .env("GIT_AUTHOR_EMAIL", &email)
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
    head.args(["rev-parse", "HEAD"]);
    Ok(Some(run(head, "rev-parse")?.trim().to_owned()))
}

/// Where line `line` (1-based) of `file` comes from.
pub fn blame(root: &Path, file: &str, line: usize) -> Result<LineOrigin, String> {
    let mut c = git(root);
    c.args([
        "blame",
        "--no-textconv",
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

pub mod diff;
pub mod land;
pub mod worktree;

#[cfg(test)]
mod tests;
