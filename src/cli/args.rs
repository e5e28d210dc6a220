use crate::domain::Budget;
use clap::{Args, Parser, Subcommand, ValueEnum};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// The control room of an autonomous software company.
#[derive(Debug, Parser)]
#[command(
    name = "macrohard-tui",
    version,
    about,
    long_about = None,
    after_help = "Environment: MACROHARD_SIM_SPEED sets the speed of the simulated company \
(1 takes about a minute, 10 is ten times faster, 0 is instant); MACROHARD_LOG the log level. \
Exit codes: 0 done, 1 the run failed, 2 usage or configuration error, 3 the run waits for a person."
)]
pub struct Cli {
    /// Where runs, workspaces and the log live [default: $XDG_DATA_HOME/macrohard]
    #[arg(long, global = true, env = "MACROHARD_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// The configuration file [default: $XDG_CONFIG_HOME/macrohard/config.toml]
    #[arg(long, global = true, env = "MACROHARD_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Run the engine in this process, without a server: the run ends with the terminal
    /// (also an option of `run` and `resume`, the other commands that start a run)
    #[arg(long, env = "MACROHARD_FOREGROUND")]
    pub foreground: bool,
    #[command(subcommand)]
    pub command: Option<Cmd>,
}

#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Start a new run
    Run(RunArgs),
    /// Continue an unfinished run
    Resume(ResumeArgs),
    /// List runs with status, tasks done/total and cost
    Runs {
        /// One JSON array of the runs instead of a table
        #[arg(long)]
        json: bool,
    },
    /// Summary of one run
    Show {
        /// A run id, a unique prefix of one, or `last`
        #[arg(default_value = "last")]
        run: String,
    },
    /// Write a run's events (jsonl) or its report (markdown, or html: one self-contained page)
    Export {
        /// A run id, a unique prefix of one, or `last`
        #[arg(default_value = "last")]
        run: String,
        /// jsonl: every event, one per line (the stable format); markdown or html: the report
        #[arg(long, value_enum, default_value_t = ExportFormat::Jsonl)]
        format: ExportFormat,
        /// Write to this file instead of standard output
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Attach to the server of this data directory (exits 2 when none runs)
    Attach {
        /// A run id, a unique prefix of one, or `last` [default: the live run]
        run: Option<String>,
        /// Look without steering: the server refuses this viewer's commands
        #[arg(long)]
        read_only: bool,
        /// At most this many frames a second
        #[arg(long, value_name = "N")]
        fps: Option<u32>,
    },
    /// Run the server of this data directory in the foreground (for systemd or nohup)
    Serve {
        /// Started by `macrohard-tui` itself: stop when no run is live and nobody is attached
        #[arg(long, hide = true)]
        background: bool,
    },
    /// Check the config, the paths, every configured provider and the terminal
    Doctor {
        /// sim, openai, anthropic, …: check this provider instead of the configured one
        #[arg(long, env = "MACROHARD_PROVIDER")]
        provider: Option<String>,
        /// Check this model instead of the configured one
        #[arg(long, env = "MACROHARD_MODEL")]
        model: Option<String>,
        /// Check the provider at this address (an OpenAI- or Anthropic-style API)
        #[arg(long, env = "MACROHARD_BASE_URL")]
        base_url: Option<String>,
    },
    /// Who wrote a line of the workspace: agent, task, model, prompt and approvals
    Blame {
        /// FILE or FILE:LINE, relative to the run's workspace
        target: String,
        /// A run id, a unique prefix of one, or `last`
        #[arg(long, default_value = "last")]
        run: String,
    },
    /// Merge a run's branch into your current branch, or --into another
    ///
    /// The run's work is on the branch macrohard/RUN of its repository. Without --into it is
    /// merged into the branch checked out there, only when the work tree is clean (no staged,
    /// unstaged or untracked changes; `.macrohard/` aside) and the merge has no conflict and
    /// overwrites no file git ignores: a fast-forward when possible, else a merge commit by
    /// macrohard-tui. Otherwise nothing changes, and the message lists the files in the way
    /// and the commands to land the run by hand.
    ///
    /// With --into BRANCH only that branch moves; the work tree, the index and HEAD are never
    /// touched. A run that is still planning or running is refused (its branch still moves)
    /// unless --force; a paused or finished one lands as it is.
    ///
    /// Exit codes: 0 landed (or already landed), 1 a conflict or a git error, 2 nothing to land
    /// or the repository is not ready (changes, a detached HEAD, a merge under way).
    Land {
        /// A run id, a unique prefix of one, or `last`
        run: String,
        /// Land on this branch instead: only its ref moves (fast-forward or merge commit; made
        /// at the run's tip if it does not exist); work tree, index and HEAD stay as they are
        #[arg(long, value_name = "BRANCH")]
        into: Option<String>,
        /// Land a run that is still running: its branch as it is now
        #[arg(long)]
        force: bool,
    },
    /// Run a suite of goals with hidden acceptance tests and report pass rate, cost and time
    Eval(EvalArgs),
    /// Write the default config and prompts to the config directory
    Init {
        /// Overwrite files that exist
        #[arg(long)]
        force: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    Jsonl,
    Markdown,
    /// The report as one self-contained HTML page.
    Html,
}

/// How a run is followed and steered from the command line.
#[derive(Debug, Clone, Args, Serialize, Deserialize)]
pub struct FollowArgs {
    /// No TUI: one line per event on standard output
    #[arg(long)]
    pub headless: bool,
    /// With --headless: one JSON object per event
    #[arg(long, requires = "headless")]
    pub json: bool,
    /// Approve every request (for unattended runs); approvals are attributed to you
    #[arg(long)]
    pub yes: bool,
    /// Token budget for the run
    #[arg(long, value_name = "N", value_parser = budget_tokens)]
    pub budget_tokens: Option<u64>,
    /// USD budget for the run
    #[arg(long, value_name = "USD", value_parser = budget_usd)]
    pub budget_usd: Option<f64>,
    /// LLM turn budget for the run
    #[arg(long, value_name = "N", value_parser = budget_turns)]
    pub budget_turns: Option<u64>,
    /// Wall-time budget for the run, in seconds of running
    #[arg(long, value_name = "SECS", value_parser = budget_secs)]
    pub budget_secs: Option<u64>,
    /// Control room: at most this many frames a second
    #[arg(long, value_name = "N")]
    pub fps: Option<u32>,
    /// Run the engine in this process, without a server: the run ends with the terminal
    #[arg(long, env = "MACROHARD_FOREGROUND")]
    #[serde(default)]
    pub foreground: bool,
}

/// Per-role models and providers over the config's `[roles.NAME]`.
#[derive(Debug, Clone, Default, Args, Serialize, Deserialize)]
pub struct RoleArgs {
    /// A role's model, as ROLE=MODEL (repeat it, or separate with commas)
    #[arg(
        long = "role-model",
        value_name = "ROLE=MODEL",
        env = "MACROHARD_ROLE_MODELS",
        value_delimiter = ','
    )]
    pub models: Vec<String>,
    /// A role's provider, as ROLE=PROVIDER (repeat it, or separate with commas)
    #[arg(
        long = "role-provider",
        value_name = "ROLE=PROVIDER",
        env = "MACROHARD_ROLE_PROVIDERS",
        value_delimiter = ','
    )]
    pub providers: Vec<String>,
}

#[derive(Debug, Clone, Args, Serialize, Deserialize)]
pub struct RunArgs {
    /// What the company should build [default: the demo goal]
    pub goal: Option<String>,
    #[command(flatten)]
    pub follow: FollowArgs,
    /// sim, openai, anthropic, xai, ollama, openrouter, vllm, llamacpp, lmstudio
    #[arg(long, env = "MACROHARD_PROVIDER")]
    pub provider: Option<String>,
    /// The model every role uses unless --role-model or the config says otherwise
    #[arg(long, env = "MACROHARD_MODEL")]
    pub model: Option<String>,
    /// The provider's API address (a local server, a proxy)
    #[arg(long, env = "MACROHARD_BASE_URL")]
    pub base_url: Option<String>,
    /// The folder the agents work in [default: DATA_DIR/workspaces/RUN]; a git repository is
    /// worked on as with --repo
    #[arg(long, value_name = "DIR", conflicts_with = "repo")]
    pub workspace: Option<PathBuf>,
    /// Work on the branch macrohard/RUN of this git repository, in worktrees under the data
    /// directory: its work tree, index, HEAD and branches stay as they are
    #[arg(long, value_name = "DIR")]
    pub repo: Option<PathBuf>,
    /// The commit the run branch starts from [default: the repository's HEAD]
    #[arg(long, value_name = "REF")]
    pub base: Option<String>,
    /// Seed of the simulated company (its speed: MACROHARD_SIM_SPEED)
    #[arg(long)]
    pub seed: Option<u64>,
    /// Worker agents at once
    #[arg(long)]
    pub concurrency: Option<u32>,
    #[command(flatten)]
    pub roles: RoleArgs,
}

/// `eval`: goals run as `run --yes` would, then judged by tests the company never saw.
#[derive(Debug, Clone, Args)]
pub struct EvalArgs {
    /// `default` (the built-in suite) or a directory of goals, each a folder with goal.toml
    #[arg(default_value = "default")]
    pub suite: String,
    /// sim, openai, anthropic, xai, ollama, openrouter, vllm, llamacpp, lmstudio
    #[arg(long, env = "MACROHARD_PROVIDER")]
    pub provider: Option<String>,
    /// The model every role uses unless --role-model or the config says otherwise
    #[arg(long, env = "MACROHARD_MODEL")]
    pub model: Option<String>,
    /// The provider's API address (a local server, a proxy)
    #[arg(long, env = "MACROHARD_BASE_URL")]
    pub base_url: Option<String>,
    #[command(flatten)]
    pub roles: RoleArgs,
    /// Runs of each goal, with seeds 1 to N
    #[arg(long, value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u64).range(1..=1000))]
    pub seeds: u64,
    /// Only this goal of the suite (repeat it, or separate with commas)
    #[arg(long = "goal", value_name = "NAME", value_delimiter = ',')]
    pub goals: Vec<String>,
    /// Also write the report as JSON to this file
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// The report on standard output: a table, or the JSON report
    #[arg(long, value_enum, default_value_t = EvalFormat::Table)]
    pub format: EvalFormat,
    /// Cost cap of each run in USD (then it stops, waiting for a person) [default: 2]
    #[arg(long, value_name = "USD", value_parser = budget_usd)]
    pub budget_usd: Option<f64>,
    /// Time cap of each run, in seconds of running [default: 1200]
    #[arg(long, value_name = "SECS", value_parser = budget_secs)]
    pub budget_secs: Option<u64>,
    /// Token cap of each run
    #[arg(long, value_name = "N", value_parser = budget_tokens)]
    pub budget_tokens: Option<u64>,
    /// LLM turn cap of each run
    #[arg(long, value_name = "N", value_parser = budget_turns)]
    pub budget_turns: Option<u64>,
    /// Worker agents at once in each run
    #[arg(long)]
    pub concurrency: Option<u32>,
    /// Write the built-in suite as files into DIR (a start for goals of your own) and exit
    #[arg(long, value_name = "DIR")]
    pub write_suite: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EvalFormat {
    Table,
    Json,
}

#[derive(Debug, Clone, Args, Serialize, Deserialize)]
pub struct ResumeArgs {
    /// A run id, a unique prefix of one, or `last`
    #[arg(default_value = "last")]
    pub run: String,
    #[command(flatten)]
    pub follow: FollowArgs,
    /// The provider's server has moved: reach it here [default: where the run was]
    #[arg(long, env = "MACROHARD_BASE_URL")]
    pub base_url: Option<String>,
    #[command(flatten)]
    pub roles: RoleArgs,
}

/// A budget flag's value, refused as [`Budget::validate`] refuses it (negative, NaN, absurd).
fn budget_flag(budget: Budget) -> Result<(), String> {
    budget.validate().map_err(|e| {
        e.split_once(": ")
            .map_or(e.clone(), |(_, what)| what.to_owned())
    })
}

fn whole(s: &str) -> Result<u64, String> {
    s.trim()
        .parse::<u64>()
        .map_err(|_| format!("{s:?} is not a whole number of 0 or more"))
}

fn budget_usd(s: &str) -> Result<f64, String> {
    let usd: f64 = s
        .trim()
        .trim_start_matches('$')
        .parse()
        .map_err(|_| format!("{s:?} is not an amount of USD (e.g. 2.50)"))?;
    budget_flag(Budget {
        usd: Some(usd),
        ..Budget::default()
    })?;
    Ok(usd)
}

fn budget_tokens(s: &str) -> Result<u64, String> {
    let tokens = whole(s)?;
    budget_flag(Budget {
        tokens: Some(tokens),
        ..Budget::default()
    })?;
    Ok(tokens)
}

fn budget_turns(s: &str) -> Result<u64, String> {
    let turns = whole(s)?;
    budget_flag(Budget {
        turns: Some(turns),
        ..Budget::default()
    })?;
    Ok(turns)
}

fn budget_secs(s: &str) -> Result<u64, String> {
    let secs = whole(s)?;
    budget_flag(Budget {
        wall_secs: Some(secs),
        ..Budget::default()
    })?;
    Ok(secs)
}
