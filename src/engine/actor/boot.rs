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
                events.extend(recovery::interrupted(&state));
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
            let records = store.events(&run, 1)?.filter_map(Result::ok);
            Some(crate::engine::transcript::rebuild(
                &AgentId::from(SUPERVISOR),
                records,
            ))
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
        let ws = Workspace::open(&workspace).map_err(|source| EngineError::Workspace {
            path: workspace.clone(),
            source,
        })?;
        let mut journal = store.journal(&run)?;
        journal.set_snapshot_every(config.snapshot_every);
        let mut agents_per_role = HashMap::new();
        for a in &state.agents {
            *agents_per_role.entry(a.role.clone()).or_insert(0) += 1;
        }
        // The repository exists before any command runs, so that no agent can make `.git`
        // first, and commands find it to keep read-only.
        let root = ws.root().to_owned();
        if let Ok(Err(e)) =
            tokio::task::spawn_blocking(move || crate::tools::git::ensure_repo(&root)).await
        {
            boot_events.push(Event::log(
                LogLevel::Warn,
                "git",
                format!("the workspace is not a git repository, so tasks are not committed: {e}"),
            ));
        }
        let (git, git_done) = committer::git_worker(ws.root().to_owned(), tx.clone());
        let tools = Tools::new(ws, config.limits);
        let (events, _) = broadcast::channel(BROADCAST_CAPACITY);
        let uncommitted = committer::left_uncommitted(&state);
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
            pending: boot_events,
            replies: Vec::new(),
            live: BTreeMap::new(),
            paused_agents: HashSet::new(),
            watches: HashMap::new(),
            stuck: HashMap::new(),
            prompt_hashes: HashMap::new(),
            git: Some(git),
            git_done: Some(git_done),
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
        Ok(actor)
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
