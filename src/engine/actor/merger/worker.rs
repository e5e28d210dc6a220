//! The merge queue's git worker: one job at a time, off the actor (git in `spawn_blocking`,
//! the run's check through the sandboxed command tool), each step reported back to the actor
//! as a [`Report`]; and what recovery finds of a merge a crash left unrecorded.

use super::Branching;
use crate::domain::state::PendingMerge;
use crate::domain::{Event, LogLevel, TaskId};
use crate::engine::msg::{AgentMsg, Msg};
use crate::tools::git::worktree as wt;
use crate::tools::{ToolCall, Tools};
use std::path::PathBuf;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// One merge: the task's branch at `tip` into the run branch, with the run's check; its
/// worktree and branch go once it is merged.
pub(in crate::engine) struct MergeJob {
    pub task: TaskId,
    pub tip: String,
    pub message: String,
    pub check: Option<String>,
    pub worktree: Option<PathBuf>,
    pub branch: Option<String>,
}

/// Work for the git worker.
pub(in crate::engine) enum Job {
    /// Commit everything in the task's worktree, as its role (or the person who resolved its
    /// conflict: then no conflict marker may be left).
    Commit {
        task: TaskId,
        worktree: PathBuf,
        base: String,
        commit: Box<crate::tools::git::TaskCommit>,
        no_markers: bool,
    },
    /// Merge a task's branch into the run branch, check, commit or undo.
    Merge(MergeJob),
    /// Remove worktrees (the run is over).
    Remove { worktrees: Vec<(TaskId, PathBuf)> },
    /// Commit what a task that ended unmerged (cancelled, replaced) left in its worktree to
    /// its branch, then remove the worktree.
    Retire {
        task: TaskId,
        worktree: PathBuf,
        commit: Box<crate::tools::git::TaskCommit>,
    },
}

/// What the git worker did.
pub(crate) enum Report {
    Committed {
        task: TaskId,
        sha: Option<String>,
        tip: Result<String, String>,
        files: Vec<String>,
    },
    Merged {
        task: TaskId,
        sha: Option<String>,
        check: Option<(String, String)>,
        removed: Option<PathBuf>,
    },
    CheckFailed {
        task: TaskId,
        command: String,
        output: String,
    },
    Conflict {
        task: TaskId,
        files: Vec<String>,
        in_task: Vec<String>,
    },
    Failed {
        task: TaskId,
        error: String,
    },
    Removed {
        task: TaskId,
        path: PathBuf,
    },
    /// A retired worktree: removed after its commit (if anything had changed), or kept
    /// because it could not be committed.
    Retired {
        task: TaskId,
        path: PathBuf,
        commit: Result<Option<String>, String>,
    },
}

/// The check of a merge: the configured one ("" for none), or one found from the layout of
/// the merged result.
fn check_for(configured: Option<&str>, root: &std::path::Path) -> Option<String> {
    if let Some(c) = configured {
        let c = c.trim();
        return (!c.is_empty()).then(|| c.to_owned());
    }
    let has = |p: &str| root.join(p).exists();
    if has("Cargo.toml") {
        return Some("cargo test --quiet".into());
    }
    if has("go.mod") {
        return Some("go test ./...".into());
    }
    if has("package.json")
        && crate::fsread::read_text(&root.join("package.json"), 1 << 20)
            .is_ok_and(|t| t.contains("\"test\""))
    {
        return Some("npm test --silent".into());
    }
    let python_tests = |dir: &std::path::Path| {
        std::fs::read_dir(dir).is_ok_and(|entries| {
            entries.filter_map(Result::ok).any(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                name.ends_with(".py") && (name.starts_with("test_") || name.ends_with("_test.py"))
            })
        })
    };
    if python_tests(&root.join("tests")) {
        return Some("python3 -m unittest discover -s tests -t .".into());
    }
    if python_tests(root) {
        return Some("python3 -m unittest discover".into());
    }
    None
}

/// The git worker: one job at a time, off the actor, each reported back.
pub(in crate::engine) fn merge_worker(
    branching: Branching,
    run_tools: Tools,
    engine: mpsc::Sender<Msg>,
) -> (mpsc::UnboundedSender<Job>, tokio::task::JoinHandle<()>) {
    let (tx, mut rx) = mpsc::unbounded_channel::<Job>();
    let done = tokio::spawn(async move {
        while let Some(job) = rx.recv().await {
            let reports = work(&branching, &run_tools, job).await;
            for r in reports {
                if engine
                    .send(Msg::Agent(AgentMsg::Merge(Box::new(r))))
                    .await
                    .is_err()
                {
                    return;
                }
            }
        }
    });
    (tx, done)
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, String> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| format!("the git step stopped: {e}"))?
}

async fn work(b: &Branching, run_tools: &Tools, job: Job) -> Vec<Report> {
    match job {
        Job::Commit {
            task,
            worktree,
            base,
            commit,
            no_markers,
        } => {
            let done = blocking(move || {
                if no_markers {
                    let left = wt::with_markers(&worktree);
                    if !left.is_empty() {
                        return Err(format!("conflict markers are still in {}", left.join(", ")));
                    }
                }
                let sha = wt::commit_worktree(&worktree, &commit)?;
                let tip = wt::head(&worktree)?;
                let files = wt::changed_files(&worktree, &base, &tip)?;
                Ok((sha, tip, files))
            })
            .await;
            vec![match done {
                Ok((sha, tip, files)) => Report::Committed {
                    task,
                    sha,
                    tip: Ok(tip),
                    files,
                },
                Err(e) => Report::Committed {
                    task,
                    sha: None,
                    tip: Err(e),
                    files: Vec::new(),
                },
            }]
        }
        Job::Merge(job) => merge(b, run_tools, job).await,
        Job::Remove { worktrees } => {
            // Every task worktree of the run, earlier attempts' (no longer named in the
            // state) included: all but the run's own.
            let (repo, dir) = (b.repo.clone(), b.worktrees.clone());
            let _ = blocking(move || {
                for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                    if e.file_name() != "run" {
                        wt::remove_worktree(&repo, &e.path());
                    }
                }
                Ok(())
            })
            .await;
            worktrees
                .into_iter()
                .map(|(task, path)| Report::Removed { task, path })
                .collect()
        }
        Job::Retire {
            task,
            worktree,
            commit,
        } => {
            let (repo, path) = (b.repo.clone(), worktree.clone());
            let commit = blocking(move || wt::retire_worktree(&repo, &path, &commit)).await;
            vec![Report::Retired {
                task,
                path: worktree,
                commit,
            }]
        }
    }
}

async fn merge(b: &Branching, run_tools: &Tools, job: MergeJob) -> Vec<Report> {
    let MergeJob {
        task,
        tip,
        message,
        check,
        worktree,
        branch,
    } = job;
    let root = run_tools.workspace().root().to_owned();
    let (r, t) = (root.clone(), tip.clone());
    let begun = blocking(move || wt::merge_begin(&r, &t)).await;
    let staged = match begun {
        Err(error) => return vec![Report::Failed { task, error }],
        Ok(wt::Merge::Conflict(files)) => {
            let (w, run_branch) = (worktree.clone(), b.branch.clone());
            let in_task = blocking(move || match w {
                Some(w) => wt::conflict_into(&w, &run_branch),
                None => Ok(Vec::new()),
            })
            .await
            .unwrap_or_default();
            return vec![Report::Conflict {
                task,
                files,
                in_task,
            }];
        }
        Ok(wt::Merge::UpToDate) => false,
        Ok(wt::Merge::Staged) => true,
    };
    let mut checked = None;
    let mut sha = None;
    if staged {
        if let Some(command) = check_for(check.as_deref(), &root) {
            let call = ToolCall::RunCommand {
                command: command.clone(),
                timeout_s: None,
            };
            let result = run_tools
                .execute(&call, false, &CancellationToken::new())
                .await;
            let (ok, output) = match result {
                Ok(out) => (out.ok, out.text),
                Err(e) => (false, format!("error: {e}")),
            };
            let output = crate::engine::repair::tail(&output);
            if !ok {
                let r = root.clone();
                let _ = blocking(move || {
                    wt::merge_undo(&r);
                    Ok(())
                })
                .await;
                return vec![Report::CheckFailed {
                    task,
                    command,
                    output,
                }];
            }
            checked = Some((command, output));
        }
        let r = root.clone();
        match blocking(move || {
            let done = wt::merge_finish(&r, &message);
            if done.is_err() {
                wt::merge_undo(&r);
            }
            done
        })
        .await
        {
            Ok(s) => sha = Some(s),
            Err(error) => return vec![Report::Failed { task, error }],
        }
    }
    let repo = b.repo.clone();
    let removed = blocking(move || {
        if let Some(w) = &worktree {
            wt::remove_worktree(&repo, w);
        }
        if let Some(branch) = &branch {
            wt::delete_branch(&repo, branch);
        }
        Ok(worktree)
    })
    .await
    .ok()
    .flatten();
    vec![Report::Merged {
        task,
        sha,
        check: checked,
        removed,
    }]
}

/// The run's worktree after a crash: a half-made merge undone, the locks of a killed git gone
/// (there and in the task worktrees under `task_trees`), and each merge the queue had
/// taken (`merge_started`, given as `pending`) that landed in the run branch recorded, with
/// its task done; the others go back with the rest of the interrupted work. Blocking (git).
pub(in crate::engine) fn recover_merges(
    run_tree: &std::path::Path,
    task_trees: &std::path::Path,
    pending: Vec<(TaskId, PendingMerge)>,
) -> Vec<Event> {
    wt::recover(run_tree);
    wt::recover_task_worktrees(task_trees);
    let mut events = Vec::new();
    for (task, p) in pending {
        let Some(sha) = wt::merged_by(run_tree, &p.tip) else {
            continue;
        };
        events.push(Event::TaskMerged {
            task: task.clone(),
            sha,
        });
        events.push(Event::log(
            LogLevel::Info,
            task.as_str(),
            "its merge had landed when the process stopped: recorded now",
        ));
        events.push(Event::TaskCompleted {
            task,
            summary: p.summary,
            evidence: p.evidence,
        });
    }
    events
}
