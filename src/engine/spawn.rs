//! Starting things: the first events of a new run, and an agent loop for a role.

use super::EngineConfig;
use super::actor::{Live, RunActor, SUPERVISOR};
use super::agent::AgentLoop;
use crate::domain::{AgentId, Event, LogLevel, TaskId};
use crate::llm::{Provider, Providers};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// The provider and model a role's agents use: the role's own, or the run's.
pub(super) fn route(
    config: &EngineConfig,
    providers: &Providers,
    role: &str,
) -> (Arc<dyn Provider>, String) {
    let provider = providers.for_role(role).clone();
    let model = config
        .roster
        .get(role)
        .and_then(|r| r.model.clone())
        .unwrap_or_else(|| provider.info().model);
    (provider, model)
}

impl RunActor {
    pub(super) fn spawn_agent(
        &mut self,
        agent: AgentId,
        role_name: &str,
        task: Option<TaskId>,
        messages: Vec<crate::llm::Message>,
    ) {
        let Some(role) = self.config.roster.get(role_name).cloned() else {
            return;
        };
        let info = self.state.info.clone();
        let goal = info.as_ref().map_or(String::new(), |i| i.goal.clone());
        let worktree = task.as_ref().and_then(|t| self.worktree_for(t, &agent));
        let root = worktree.as_ref().map_or_else(
            || self.tools.workspace().root().to_owned(),
            |w| w.path.clone(),
        );
        let system = role.render(&goal, &root.display().to_string());
        let prompt_hash = super::roles::prompt_hash(&system);
        let tools = crate::tools::specs()
            .iter()
            .filter(|s| role.tools.iter().any(|t| t == s.name))
            .map(|s| crate::llm::ToolDef {
                name: s.name.into(),
                description: s.description.into(),
                parameters: s.parameters.clone(),
            })
            .collect();
        let cancel = CancellationToken::new();
        let (provider, model) = route(&self.config, &self.providers, role_name);
        let context_window = provider.context_window(&model);
        let agent_loop = AgentLoop {
            agent: agent.clone(),
            task: task.clone(),
            model,
            system,
            prompt_hash,
            tools,
            max_turns: role.max_turns,
            messages,
            provider,
            prices: self.config.prices.clone(),
            context_window,
            workspace: self.tools.clone(),
            engine: self.tx.clone(),
            cancel: cancel.clone(),
            step_retries: self.config.step_retries,
            retry_backoff: self.config.retry_backoff,
            long_lived: task.is_none(),
            reasoning: self
                .config
                .role_settings
                .get(role_name)
                .and_then(|c| c.reasoning),
            worktree,
            feed: self.feed.clone(),
        };
        self.live.insert(
            agent,
            Live {
                task,
                role: role.name.clone(),
                cancel,
                step_cancel: super::msg::StepStop::default(),
                parked: None,
                idle: false,
                finishing: false,
                shown: None,
                inbox: Vec::new(),
            },
        );
        tokio::spawn(agent_loop.run());
    }
}

impl RunActor {
    /// Where a new attempt of `task` works, when the run is on a branch: a worktree of its
    /// own under the data directory, on a new branch.
    fn worktree_for(&self, task: &TaskId, agent: &AgentId) -> Option<super::agent::WorktreeSetup> {
        let b = self.branching.as_ref()?;
        let t = self.state.task(task)?;
        let attempt = t.attempts + 1;
        // A later attempt goes on from what the last one left, as a shared folder would.
        // Its worktree may be gone (retired when the task was cancelled): then its branch.
        let previous = match (&t.branch, &t.base) {
            (Some(branch), Some(base)) => {
                let why = t.failures.last().map_or("interrupted", String::as_str);
                let summary = format!("attempt {} (failed: {why})", t.attempts);
                let commit = self.task_commit_by(task, &summary, Some(agent))?;
                Some(super::agent::PreviousAttempt {
                    worktree: t.worktree.clone().map(Into::into),
                    branch: branch.clone(),
                    base: base.clone(),
                    commit,
                })
            }
            _ => None,
        };
        Some(super::agent::WorktreeSetup {
            previous,
            repo: b.repo.clone(),
            path: b.worktrees.join(format!("{task}-{attempt}")),
            branch: crate::tools::git::worktree::task_branch(
                self.run.as_str(),
                task.as_str(),
                attempt,
            ),
            run_branch: b.branch.clone(),
            attempt,
        })
    }
}

pub(super) fn first_events(
    config: &EngineConfig,
    providers: &Providers,
    new: &super::NewRun,
    ws: &std::path::Path,
) -> Vec<Event> {
    let info = providers.default_provider().info();
    let mut events = vec![Event::RunCreated {
        goal: new.goal.clone(),
        workspace: ws.display().to_string(),
        provider: info.name.clone(),
        model: info.model.clone(),
        base_url: info.base_url.clone(),
        simulated: info.simulated,
        budget: config.budget,
        budgets: config.budgets.clone(),
        concurrency: config.concurrency,
        max_attempts: config.max_attempts,
        autonomy: config.autonomy,
        seed: new.seed,
        by: new.by.clone(),
    }];
    if info.simulated {
        events.push(Event::log(
            LogLevel::Warn,
            "engine",
            "SIMULATED: no model is configured, so the built-in simulated company runs this. Its files and commands are real; its reasoning is scripted.",
        ));
    }
    for (role, p) in providers.routes() {
        let i = p.info();
        let at = i.base_url.map(|u| format!(" at {u}")).unwrap_or_default();
        events.push(Event::log(
            LogLevel::Info,
            "engine",
            format!("role {role} uses provider {}{at}", i.name),
        ));
    }
    let (provider, model) = route(config, providers, SUPERVISOR);
    events.push(Event::AgentSpawned {
        agent: AgentId::from(SUPERVISOR),
        role: SUPERVISOR.into(),
        model,
        provider: provider.info().name,
    });
    if let Some(by) = &config.auto_approve {
        events.push(Event::log(
            LogLevel::Warn,
            "engine",
            format!("--yes: every approval is granted automatically on behalf of {by}"),
        ));
    }
    events
}
