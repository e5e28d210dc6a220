//! `land RUN [--into BRANCH] [--force]`: a run's branch merged into a branch of the person's
//! repository (the git side is `tools::git::land`). Every refusal says why, changes nothing,
//! and prints the commands to land the run by hand.

use super::Failure;
use super::config::Paths;
use crate::domain::sanitize::line as safe;
use crate::domain::{RunBranchInfo, RunState};
use crate::protocol::wire::{ClientMsg, ServerMsg};
use crate::store::Store;
use crate::tools::git::land::{self, Landed, Refusal};
use std::io::Write;
use std::path::Path;

/// The run's state, from the server that holds the store or from the store itself.
async fn state(paths: &Paths, spec: &str) -> Result<RunState, Failure> {
    if let Some(mut conn) = super::remote::server(paths).await? {
        return match conn
            .ask(&ClientMsg::State { run: spec.into() })
            .await
            .map_err(Failure::usage)?
        {
            ServerMsg::State { state } => Ok(state),
            other => Err(Failure::runtime(format!("unexpected answer {other:?}"))),
        };
    }
    if !paths.store_dir().exists() {
        return Err(Failure::usage(format!(
            "no runs in {} yet: start one with `macrohard-tui run`",
            paths.data_dir.display()
        )));
    }
    let store = Store::open_for_reading(&paths.store_dir())?;
    Ok(store.load_state(&store.resolve_run(spec)?)?)
}

/// `s` as one word of a shell command line.
fn sh(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+:@%=,".contains(c));
    if plain {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

fn short(sha: &str) -> &str {
    sha.get(..12).unwrap_or(sha)
}

/// What names the run's repository and branch on a command line, sanitised.
struct Names {
    run: String,
    repo: String,
    branch: String,
    worktree: String,
}

impl Names {
    fn of(id: &str, b: &RunBranchInfo) -> Self {
        Self {
            run: safe(id).into_owned(),
            repo: sh(&safe(&b.repo)),
            branch: sh(&safe(&b.branch)),
            worktree: safe(&b.worktree).into_owned(),
        }
    }

    /// Where the run's work is.
    fn whereabouts(&self) -> String {
        format!(
            "The run's work is on branch {} of {} (checked out in {}).",
            self.branch, self.repo, self.worktree
        )
    }

    /// Where the run's work is, and how to land it by hand.
    fn by_hand(&self, existing: bool) -> String {
        let Names { repo, branch, .. } = self;
        let mut s = format!(
            "{}\nTo land it yourself later:\n  git -C {repo} merge {branch}\n\
             or on a branch of its own, without touching your work tree:\n  \
             macrohard-tui land {} --into BRANCH\n\
             or push it to review it elsewhere:\n  git -C {repo} push REMOTE {branch}",
            self.whereabouts(),
            self.run
        );
        if !existing {
            s.push_str(&format!(
                "\nThis repository was made for the run; into a repository of yours:\n  \
                 git -C YOUR_REPO fetch {repo} {branch} && git -C YOUR_REPO merge FETCH_HEAD"
            ));
        }
        s
    }
}

/// `land RUN [--into BRANCH] [--force]`.
pub async fn run(
    paths: &Paths,
    spec: &str,
    into: Option<&str>,
    force: bool,
) -> Result<u8, Failure> {
    let state = state(paths, spec).await?;
    let Some(info) = state.info.as_ref() else {
        return Err(Failure::runtime(format!(
            "run {} has no events",
            safe(spec)
        )));
    };
    let id = info.id.as_str().to_owned();
    let Some(b) = state.branch.as_ref() else {
        return Err(Failure::usage(format!(
            "run {} has no branch to land: it was made before runs worked on branches. \
             Its work is in its workspace, {} (a git repository of its own).",
            safe(&id),
            safe(&info.workspace)
        )));
    };
    let names = Names::of(&id, b);
    if state.status.is_working() && !force {
        return Err(Failure::usage(format!(
            "run {} is still {} and its branch still moves: land it once it has ended or is \
             paused, or pass --force to land its branch as it is now.\n{}",
            names.run,
            state.status,
            names.whereabouts()
        )));
    }
    let repo = Path::new(&b.repo);
    if !repo.is_dir() {
        return Err(Failure::usage(format!(
            "cannot land run {}: its repository {} is gone",
            names.run, names.repo
        )));
    }
    let landed = land::land(repo, &b.branch, into).map_err(|r| refused(&names, b, r))?;
    let mut text = said(&names, b, &landed);
    if !state.status.is_terminal() {
        text.push_str(&format!(
            "\nThe run has not ended ({}): what it does from now on lands with another \
             `macrohard-tui land {}`.",
            state.status, names.run
        ));
    }
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}")
        .map_err(|e| Failure::runtime(format!("cannot write the output: {e}")))?;
    Ok(0)
}

/// What landing did, in words.
fn said(n: &Names, b: &RunBranchInfo, landed: &Landed) -> String {
    let (run, repo, branch) = (&n.run, &n.repo, &n.branch);
    let untouched = "Your work tree, index and current branch were not touched.";
    let mut s = match landed {
        Landed::Already { into, .. } => format!(
            "Run {run} is already landed: {} of {repo} contains {branch}.",
            sh(&safe(into))
        ),
        Landed::FastForward {
            into,
            current: true,
            from,
            to,
        } => format!(
            "Landed run {run}: {} of {repo} fast-forwarded from {} to {}; the run's files are \
             in your work tree.",
            sh(&safe(into)),
            short(from),
            short(to)
        ),
        Landed::Merged {
            into,
            current: true,
            commit,
            ..
        } => format!(
            "Landed run {run}: {branch} merged into {} of {repo} as commit {}; the run's files \
             are in your work tree.",
            sh(&safe(into)),
            short(commit)
        ),
        Landed::FastForward { into, from, to, .. } => format!(
            "Landed run {run} on {}: fast-forwarded from {} to {}. {untouched}\n{}",
            sh(&safe(into)),
            short(from),
            short(to),
            look(repo, into)
        ),
        Landed::Merged { into, commit, .. } => format!(
            "Landed run {run} on {}: {branch} merged as commit {}. {untouched}\n{}",
            sh(&safe(into)),
            short(commit),
            look(repo, into)
        ),
        Landed::Created { into, at } => format!(
            "Landed run {run} on the new branch {} at {} (the tip of {branch}). \
             {untouched}\n{}",
            sh(&safe(into)),
            short(at),
            look(repo, into)
        ),
    };
    if !b.existing {
        s.push_str(&format!(
            "\nThis repository was made for the run; into a repository of yours:\n  \
             git -C YOUR_REPO fetch {repo} {branch} && git -C YOUR_REPO merge FETCH_HEAD"
        ));
    }
    s
}

/// How to look at a branch `land` moved without checking it out.
fn look(repo: &str, into: &str) -> String {
    let into = sh(&safe(into));
    format!(
        "To see it: git -C {repo} log --stat {into}   (or check it out: git -C {repo} switch {into})"
    )
}

/// A refusal as a failure: why, and what to do instead. Exit 1 for a conflict or a git error,
/// 2 when the repository is not ready or there is nothing to land.
fn refused(n: &Names, b: &RunBranchInfo, r: Refusal) -> Failure {
    const SHOWN: usize = 10;
    let (run, repo, branch) = (&n.run, &n.repo, &n.branch);
    let list = |items: Vec<String>| {
        let more = items.len().saturating_sub(SHOWN);
        let mut s: String = items
            .iter()
            .take(SHOWN)
            .map(|p| format!("\n  {}", safe(p)))
            .collect();
        if more > 0 {
            s.push_str(&format!("\n  … and {more} more"));
        }
        s
    };
    let head = format!("cannot land run {run}");
    let hand = n.by_hand(b.existing);
    match r {
        Refusal::NoRunBranch => Failure::usage(format!(
            "{head}: its branch {branch} is not in {repo} (deleted?): nothing to land."
        )),
        Refusal::Detached => Failure::usage(format!(
            "{head}: HEAD of {repo} is detached, so there is no current branch to merge into. \
             Check out a branch and run this again, or name one with --into BRANCH.\n{hand}"
        )),
        Refusal::Unborn { branch: into } => Failure::usage(format!(
            "{head}: your current branch {} of {repo} has no commit yet.\n{hand}",
            sh(&safe(&into))
        )),
        Refusal::Busy { what } => Failure::usage(format!(
            "{head}: {what} is under way in {repo}; finish or abort it first.\n{hand}"
        )),
        Refusal::Dirty { changes } => {
            let count = changes.len();
            let items = changes
                .into_iter()
                .map(|(xy, p)| format!("{xy} {p}"))
                .collect();
            Failure::usage(format!(
                "{head}: your work tree in {repo} has {count} uncommitted change{} \
                 (staged, unstaged or untracked), and landing would mix them with the run's \
                 work:{}\nCommit or stash them, then run `macrohard-tui land {run}` again. \
                 Nothing was changed.\n{hand}",
                if count == 1 { "" } else { "s" },
                list(items)
            ))
        }
        Refusal::WouldOverwrite { paths } => Failure::usage(format!(
            "{head}: the run's branch adds files that exist in {repo} as files git ignores; \
             landing would overwrite them:{}\nMove them away, then run this again. Nothing \
             was changed.\n{hand}",
            list(paths)
        )),
        Refusal::Conflict {
            into,
            current,
            files,
        } => {
            let into = sh(&safe(&into));
            let switch = if current {
                String::new()
            } else {
                format!("  git -C {repo} switch {into}\n")
            };
            Failure::runtime(format!(
                "{head}: merging {branch} into {into} conflicts in {} file{}:{}\nNothing was \
                 changed. To merge by hand and resolve the conflicts:\n{switch}  \
                 git -C {repo} merge {branch}\n  (edit the files, `git add` them, then) \
                 git -C {repo} commit\nThe run's work is on branch {branch} (checked out in {}).",
                files.len(),
                if files.len() == 1 { "" } else { "s" },
                list(files),
                n.worktree
            ))
        }
        Refusal::CheckedOutElsewhere {
            branch: into,
            worktree,
        } => Failure::usage(format!(
            "{head}: {} is checked out in {}; land it there:\n  git -C {} merge {branch}",
            sh(&safe(&into)),
            safe(&worktree),
            sh(&safe(&worktree))
        )),
        Refusal::IsRunBranch => Failure::usage(format!(
            "{head}: --into names the run's own branch {branch}"
        )),
        Refusal::BadBranchName { name } => Failure::usage(format!(
            "{head}: {} is not a valid branch name",
            sh(&safe(&name))
        )),
        Refusal::Git(e) => Failure::runtime(format!("{head}: {}\n{hand}", safe(&e))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_of_a_command_line_are_quoted_when_they_need_it() {
        assert_eq!(sh("/srv/repo"), "/srv/repo");
        assert_eq!(sh("macrohard/01abc"), "macrohard/01abc");
        assert_eq!(sh("my repo"), "'my repo'");
        assert_eq!(sh("it's"), r"'it'\''s'");
        assert_eq!(sh("$(x)"), "'$(x)'");
        assert_eq!(sh(""), "''");
    }
}
