//! Starting the actor: the roster checked, the run created or resumed from its log (work in
//! flight put back, stuck agents freed), the workspace and its git repository made ready, and
//! what the sandbox can do here recorded.

use super::*;

impl RunActor {
    pub(in crate::engine) async fn boot(
        store: Store,
        providers: Providers,
        config: EngineConfig,
        target: RunTarget,
        tx: mpsc::Sender<Msg>,
        rx: mpsc::Receiver<Msg>,
    ) -> Result<Self, EngineError> {
        crate::engine::check_roster(&config.roster)?;
        // Git runs in other folders than this process: the data directory's paths are
        // absolute from here on (a relative --data-dir included).
        let mut config = config;
        for dir in [&mut config.worktrees_dir, &mut config.workspaces_dir] {
            if let Ok(abs) = std::path::absolute(&*dir) {
                *dir = abs;
            }
        }
        let resumed = matches!(target, RunTarget::Resume { .. });
        let (run, state, workspace, boot_events): (_, _, std::path::PathBuf, _) = match target {
            RunTarget::New(new) => {
                let run = RunId::generate(now_ms(), fastrand::u128(..));
                let ws = new
                    .workspace
                    .clone()
                    .unwrap_or_else(|| config.workspaces_dir.join(run.as_str()));
                let events = first_events(&config, &providers, &new, &ws);
                (run, RunState::default(), ws, events)
            }
            RunTarget::Resume { run, by, budget } => {
                let state = store.load_state(&run)?;
                let info = state
                    .info
                    .clone()
                    .ok_or_else(|| EngineError::Empty(run.clone()))?;
                if state.status.is_terminal() {
                    return Err(EngineError::Finished {
                        run,
                        status: state.status,
                        reason: state.status_reason.clone(),
                    });
                }
                let mut events = crate::engine::unstick::freed_on_resume(&state, &by);
                // A merge the process did not live to record is recorded first: that task is
                // done, not put back.
                let merged = match &state.branch {
                    Some(b) => {
                        let run_tree = std::path::PathBuf::from(&b.worktree);
                        let task_trees = config.worktrees_dir.join(run.as_str());
                        let pending: Vec<_> = state
                            .tasks
                            .iter()
                            .filter(|t| t.status != crate::domain::TaskStatus::Done)
                            .filter_map(|t| Some((t.id.clone(), t.merging.clone()?)))
                            .collect();
                        tokio::task::spawn_blocking(move || {
                            merger::recover_merges(&run_tree, &task_trees, pending)
                        })
                        .await
                        .unwrap_or_default()
                    }
                    None => Vec::new(),
                };
                let done: Vec<&TaskId> = merged
                    .iter()
                    .filter_map(|e| match e {
                        Event::TaskCompleted { task, .. } => Some(task),
                        _ => None,
                    })
                    .collect();
                events.extend(recovery::interrupted(&state, &done));
                events.extend(merged);
                events.push(Event::log(
                    LogLevel::Info,
                    "engine",
                    format!("run resumed by {by}"),
                ));
                if let Some(budget) = budget.filter(|b| *b != state.budget) {
                    events.push(Event::BudgetChanged {
                        target: BudgetTarget::Run,
                        budget,
                        by: by.clone(),
                    });
                }
                if state.status == RunStatus::Paused {
                    events.push(Event::RunStatusChanged {
                        status: RunStatus::Running,
                        reason: format!("resumed by {by}"),
                    });
                }
                (run, state, info.workspace.into(), events)
            }
        };
        let mut boot_events = boot_events;
        let resumed_supervisor = if resumed {
            // Its latest steps only: a long run's log is read back as far as they go.
            let sup = AgentId::from(SUPERVISOR);
            let newest_first = store.events_newest_first(&run)?.filter_map(Result::ok);
            let records = crate::engine::transcript::latest_steps(&sup, newest_first);
            Some(crate::engine::transcript::rebuild(&sup, records))
        } else {
            None
        };
        if config.rules != state.policy_rules {
            boot_events.push(Event::PolicyRules {
                rules: config.rules.clone(),
            });
        }
        if config.role_settings != state.role_settings {
            boot_events.push(Event::RoleSettings {
                roles: config.role_settings.clone(),
            });
        }
        boot_events.extend(sandbox_events(&config.limits.sandbox));
        let _ = crate::tools::git::use_excludes(&config.worktrees_dir);
        let mut workspace = workspace;
        let mut branching = None;
        if let Some(b) = &state.branch {
            branching = Some(merger::Branching {
                repo: b.repo.clone().into(),
                branch: b.branch.clone(),
                worktrees: config.worktrees_dir.join(run.as_str()),
            });
        } else if !resumed {
            match prepare_branch(&config, &run, &workspace).await {
                Ok(Some(r)) => {
                    boot_events.insert(
                        1.min(boot_events.len()),
                        Event::RunBranch {
                            repo: r.repo.display().to_string(),
                            branch: r.branch.clone(),
                            base: r.base.clone(),
                            worktree: r.worktree.display().to_string(),
                            existing: r.existing,
                        },
                    );
                    workspace = r.worktree.clone();
                    branching = Some(merger::Branching {
                        repo: r.repo,
                        branch: r.branch,
                        worktrees: config.worktrees_dir.join(run.as_str()),
                    });
                }
                Ok(None) => {}
                Err(e) => return Err(EngineError::Repository(e)),
            }
        }
        let ws = Workspace::open(&workspace).map_err(|source| EngineError::Workspace {
            path: workspace.clone(),
            source,
        })?;
        let mut journal = store.journal(&run)?;
        journal.set_snapshot_every(config.snapshot_every);
        journal.set_slow_flush(config.slow_flush);
        let mut agents_per_role = HashMap::new();
        for a in &state.agents {
            *agents_per_role.entry(a.role.clone()).or_insert(0) += 1;
        }
        // The repository exists before any command runs, so that no agent can make `.git`
        // first, and commands find it to keep read-only.
        let root = ws.root().to_owned();
        if branching.is_none() {
            if let Ok(Err(e)) =
                tokio::task::spawn_blocking(move || crate::tools::git::ensure_repo(&root)).await
            {
                boot_events.push(Event::log(
                    LogLevel::Warn,
                    "git",
                    format!(
                        "the workspace is not a git repository, so tasks are not committed: {e}"
                    ),
                ));
            }
        }
        let tools = Tools::new(ws, config.limits);
        let (git, git_done, merge_tx, merge_done) = match &branching {
            Some(b) => {
                let (m, d) = merger::merge_worker(b.clone(), tools.clone(), tx.clone());
                (None, None, Some(m), Some(d))
            }
            None => {
                let (g, d) = committer::git_worker(tools.workspace().root().to_owned(), tx.clone());
                (Some(g), Some(d), None, None)
            }
        };
        let (events, _) = broadcast::channel(BROADCAST_CAPACITY);
        let (feed, _) = broadcast::channel(FEED_CAPACITY);
        // A run in one folder commits finished tasks after the fact; a run on a branch merged
        // each before it was done.
        let uncommitted = if branching.is_none() {
            committer::left_uncommitted(&state)
        } else {
            Vec::new()
        };
        let mut actor = Self {
            next_call: state.calls_made,
            next_approval: state.approvals_made,
            next_task: state.tasks.len(),
            run,
            journal,
            state,
            config,
            providers,
            tools,
            tx,
            rx,
            events,
            feed,
            pending: boot_events,
            replies: Vec::new(),
            live: BTreeMap::new(),
            paused_agents: HashSet::new(),
            watches: HashMap::new(),
            stuck: HashMap::new(),
            prompt_hashes: HashMap::new(),
            git,
            git_done,
            branching,
            merger: merge_tx,
            merger_done: merge_done,
            merges: HashMap::new(),
            retiring: HashSet::new(),
            parked: HashMap::new(),
            news: Vec::new(),
            resumed_supervisor,
            agents_per_role,
            manual_retries: HashMap::new(),
            checking: HashMap::new(),
            files: Default::default(),
            committing: HashMap::new(),
            nudges: 0,
            told_settled: false,
            held_pause: false,
            frees: 0,
            shutdown: None,
            ended_at: None,
        };
        // A stop between a task's completion and its commit: the commit is made now.
        for (task, summary) in uncommitted {
            actor.commit_task(&task, &summary);
        }
        // A stop before a cancelled task's worktree was retired: it is retired now.
        let cancelled: Vec<TaskId> = actor
            .state
            .tasks
            .iter()
            .filter(|t| t.status == TaskStatus::Cancelled && t.worktree.is_some())
            .map(|t| t.id.clone())
            .collect();
        for task in cancelled {
            actor.retire_worktree(&task);
        }
        Ok(actor)
    }
}

/// The branch a new run works on: a branch of the person's repository when `workspace` is
/// one, else a repository made for the run in `workspace`. `None` when git cannot make one
/// (the run then works in the folder as it is, said in the log); an error when the person's
/// repository cannot be used.
async fn prepare_branch(
    config: &EngineConfig,
    run: &RunId,
    workspace: &std::path::Path,
) -> Result<Option<crate::tools::git::worktree::RunRepo>, String> {
    use crate::tools::git::worktree;
    // Git runs in other folders than this process: every path it is given is absolute.
    let workspace = &std::path::absolute(workspace)
        .map_err(|e| format!("cannot resolve {}: {e}", workspace.display()))?;
    let existing = worktree::is_repository(workspace);
    let (ws, run_id, base) = (workspace.to_owned(), run.to_string(), config.base.clone());
    let run_tree = config.worktrees_dir.join(run.as_str()).join("run");
    let prepared = tokio::task::spawn_blocking(move || {
        if existing {
            worktree::prepare_existing(&ws, &run_id, base.as_deref(), &run_tree)
        } else {
            std::fs::create_dir_all(&ws)
                .map_err(|e| format!("cannot make {}: {e}", ws.display()))?;
            worktree::prepare_own(&ws, &run_id)
        }
    })
    .await
    .map_err(|e| format!("preparing the repository stopped: {e}"))?;
    match prepared {
        Ok(r) => Ok(Some(r)),
        Err(e) if existing || config.base.is_some() => Err(e),
        Err(_) => Ok(None),
    }
}

/// What the sandbox can do here, for the log and the header: recorded at every start, since a
/// resumed run may be on another machine.
fn sandbox_events(config: &crate::tools::sandbox::SandboxConfig) -> Vec<Event> {
    use crate::tools::sandbox::{self, Unsupported};
    let s = sandbox::support();
    let (complete, detail, missing) = if !config.enabled {
        (
            false,
            "off ([sandbox] enabled = false): commands run unconfined".to_owned(),
            vec!["sandbox (off)".to_owned()],
        )
    } else {
        let missing = s
            .parts()
            .into_iter()
            .filter(|p| p.state != sandbox::PartState::Ok)
            .map(|p| p.name.to_owned())
            .collect();
        (s.complete(), s.describe(), missing)
    };
    let mut events = vec![Event::SandboxReported {
        complete,
        detail: detail.clone(),
        missing,
    }];
    if !complete {
        let then = match config.unsupported {
            Unsupported::Continue => "commands run anyway ([sandbox] unsupported = \"continue\")",
            Unsupported::Ask => {
                "every command asks a person first ([sandbox] unsupported = \"ask\")"
            }
            Unsupported::Deny => "commands are refused ([sandbox] unsupported = \"deny\")",
        };
        events.push(Event::log(
            LogLevel::Warn,
            "sandbox",
            format!("the sandbox is incomplete: {detail}; {then}"),
        ));
    }
    events
}
