//! Commands that read the store: `runs`, `show`, `export`, `blame`. What models, commands,
//! files and people wrote is sanitised before it reaches the terminal (`safe`: one line each).

use super::Failure;
use super::args::ExportFormat;
use super::config::Paths;
use crate::domain::sanitize::{self, line as safe};
use crate::domain::{EventRecord, RunMeta, RunState};
use crate::export::{self, duration, usd};
use crate::protocol::wire::{ClientMsg, ServerMsg};
use crate::session::socket::Conn;
use crate::store::{Store, StoreOptions};
use std::io::Write;
use std::path::Path;

/// Where the runs are read from: the server that holds the store, or the store itself.
enum Source {
    Server(Box<Conn>),
    Store(Store),
}

/// sled's cache, in MiB at most, for a process that reads a run once from start to end (an
/// export): such a pass never reads a page twice, so a bigger cache only holds memory
/// (BENCHMARKS.md, "Memory and times by run length").
const ONE_PASS_CACHE_MB: u64 = 2;

async fn open(paths: &Paths) -> Result<Source, Failure> {
    open_with(paths, paths.store).await
}

async fn open_with(paths: &Paths, options: StoreOptions) -> Result<Source, Failure> {
    if let Some(conn) = super::remote::server(paths).await? {
        return Ok(Source::Server(Box::new(conn)));
    }
    if !paths.store_dir().exists() {
        return Err(Failure::usage(format!(
            "no runs in {} yet: start one with `macrohard-tui run`",
            paths.data_dir.display()
        )));
    }
    // A read-only store is read from a private copy: it can still be listed and exported.
    Ok(Source::Store(Store::open_for_reading_with(
        &paths.store_dir(),
        &options,
    )?))
}

fn asked(e: String) -> Failure {
    Failure::usage(e)
}

impl Source {
    async fn runs(&mut self) -> Result<Vec<RunMeta>, Failure> {
        match self {
            Source::Store(s) => Ok(s.runs()?),
            Source::Server(c) => match c.ask(&ClientMsg::Runs).await.map_err(asked)? {
                ServerMsg::Runs { runs } => Ok(runs),
                other => Err(Failure::runtime(format!("unexpected answer {other:?}"))),
            },
        }
    }

    async fn state(&mut self, spec: &str) -> Result<RunState, Failure> {
        match self {
            Source::Store(s) => Ok(s.load_state(&s.resolve_run(spec)?)?),
            Source::Server(c) => match c
                .ask(&ClientMsg::State { run: spec.into() })
                .await
                .map_err(asked)?
            {
                ServerMsg::State { state } => Ok(state),
                other => Err(Failure::runtime(format!("unexpected answer {other:?}"))),
            },
        }
    }

    /// Hands every recorded event of a run to `f`, in order, without holding them all.
    async fn each_event(
        &mut self,
        spec: &str,
        mut f: impl FnMut(EventRecord) -> Result<(), String>,
    ) -> Result<(), Failure> {
        match self {
            Source::Store(s) => {
                let run = s.resolve_run(spec)?;
                for rec in s.events(&run, 1)? {
                    f(rec?).map_err(Failure::runtime)?;
                }
                Ok(())
            }
            Source::Server(c) => c.each_event(spec, 1, f).await.map_err(asked),
        }
    }
}

fn out_err(e: std::io::Error) -> Failure {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        // The reader went away (`| head`): nothing more to say.
        return Failure {
            code: 0,
            message: String::new(),
        };
    }
    Failure::runtime(format!("cannot write the output: {e}"))
}

pub async fn runs(paths: &Paths, json: bool) -> Result<u8, Failure> {
    // No store yet is no runs yet: an empty listing, exit 0.
    let runs = if paths.store_dir().exists() {
        open(paths).await?.runs().await?
    } else {
        Vec::new()
    };
    let mut out = std::io::stdout().lock();
    if json {
        let text =
            serde_json::to_string_pretty(&runs).map_err(|e| Failure::runtime(e.to_string()))?;
        writeln!(out, "{}", sanitize::json(&text)).map_err(out_err)?;
        return Ok(0);
    }
    if runs.is_empty() {
        writeln!(
            out,
            "No runs yet. Start one with `macrohard-tui run \"GOAL\"`."
        )
        .map_err(out_err)?;
        return Ok(0);
    }
    writeln!(
        out,
        "{:<26}  {:<10} {:>7}  {:>10}  {:>8}  {:<14} GOAL",
        "RUN", "STATUS", "TASKS", "COST", "ACTIVE", "PROVIDER"
    )
    .map_err(out_err)?;
    for m in &runs {
        writeln!(out, "{}", row(m)).map_err(out_err)?;
    }
    Ok(0)
}

fn row(m: &RunMeta) -> String {
    let provider = if m.simulated {
        format!("{} (SIM)", safe(&m.provider))
    } else {
        safe(&m.provider).into_owned()
    };
    let goal: String = safe(&m.goal).chars().take(60).collect();
    format!(
        "{:<26}  {:<10} {:>7}  {:>10}  {:>8}  {:<14} {goal}",
        safe(m.id.as_str()),
        status_word(m.status, m.waiting_for.is_some()),
        format!("{}/{}", m.tasks_done, m.tasks_total),
        usd(m.cost_usd, m.unpriced_requests),
        duration(m.active_ms),
        provider
    ) + &m
        .waiting_for
        .as_deref()
        .map(|w| format!("\n{:<28}waiting for a person: {}", "", safe(w)))
        .unwrap_or_default()
}

/// A run's status in a listing: "waiting" when it waits for a person, whatever its state.
fn status_word(status: crate::domain::RunStatus, waiting: bool) -> String {
    if waiting {
        "waiting".to_owned()
    } else {
        status.to_string()
    }
}

pub async fn show(paths: &Paths, spec: &str) -> Result<u8, Failure> {
    let s = open(paths).await?.state(spec).await?;
    let Some(info) = s.info.as_ref() else {
        return Err(Failure::runtime(format!("run {spec} has no events")));
    };
    let mut out = String::new();
    use std::fmt::Write as _;
    let sim = if info.simulated { "  [SIMULATED]" } else { "" };
    let _ = writeln!(out, "run       {}{sim}", safe(info.id.as_str()));
    let _ = writeln!(out, "goal      {}", safe(&info.goal));
    match s.waiting_for() {
        Some(w) => {
            let _ = writeln!(out, "status    waiting for a person: {}", safe(&w));
        }
        None => {
            let _ = writeln!(out, "status    {} — {}", s.status, safe(&s.status_reason));
        }
    }
    let _ = writeln!(
        out,
        "provider  {} / {}",
        safe(&info.provider),
        safe(&info.model)
    );
    let _ = writeln!(out, "workspace {}", safe(&info.workspace));
    let _ = writeln!(
        out,
        "events    {}   active {}   tokens {} in / {} out   cost {}",
        s.last_seq,
        duration(s.active_ms),
        s.usage.input_tokens,
        s.usage.output_tokens,
        usd(s.cost_usd, s.unpriced_requests)
    );
    let _ = writeln!(out, "\nTASKS ({}/{} done)", s.tasks_done(), s.tasks.len());
    for t in &s.tasks {
        let deps: Vec<&str> = t.depends_on.iter().map(|d| d.as_str()).collect();
        let after = if deps.is_empty() {
            String::new()
        } else {
            format!("  after {}", deps.join(","))
        };
        let _ = writeln!(
            out,
            "  {:<4} {:<18} {:<9} {}{after}",
            t.id.as_str(),
            t.status.to_string(),
            safe(&t.role),
            safe(&t.title)
        );
    }
    let _ = writeln!(out, "\nAGENTS");
    for a in &s.agents {
        let task = a
            .task
            .as_ref()
            .map(|t| t.to_string())
            .unwrap_or_else(|| "-".into());
        let _ = writeln!(
            out,
            "  {:<14} {:<20} {:<5} {:>6} req  {}",
            safe(a.id.as_str()),
            a.status.to_string(),
            task,
            a.requests,
            usd(a.cost_usd, a.unpriced_requests)
        );
    }
    let pending: Vec<_> = s.pending_approvals().collect();
    if !pending.is_empty() {
        let _ = writeln!(out, "\nWAITING FOR APPROVAL");
        for a in pending {
            let _ = writeln!(
                out,
                "  {} {} ({}): {}",
                a.id,
                safe(a.agent.as_str()),
                safe(&a.tool),
                safe(&a.summary)
            );
        }
    }
    std::io::stdout()
        .lock()
        .write_all(out.as_bytes())
        .map_err(out_err)?;
    Ok(0)
}

pub async fn export(
    paths: &Paths,
    spec: &str,
    format: ExportFormat,
    output: Option<&Path>,
) -> Result<u8, Failure> {
    let one_pass = StoreOptions {
        cache_mb: paths.store.cache_mb.min(ONE_PASS_CACHE_MB),
    };
    let mut source = open_with(paths, one_pass).await?;
    let mut sink: Box<dyn Write> = match output {
        Some(p) => Box::new(std::io::BufWriter::new(std::fs::File::create(p).map_err(
            |e| Failure::runtime(format!("cannot create {}: {e}", p.display())),
        )?)),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    match format {
        ExportFormat::Jsonl => {
            let mut broken = None;
            source
                .each_event(spec, |rec| {
                    let line = export::jsonl_line(&rec).map_err(|e| e.to_string())?;
                    writeln!(sink, "{line}").map_err(|e| {
                        let msg = e.to_string();
                        broken = Some(e);
                        msg
                    })
                })
                .await
                .map_err(|f| broken.take().map_or(f, out_err))?;
        }
        ExportFormat::Markdown | ExportFormat::Html => {
            // One pass over the records; only what the report prints is kept.
            let mut report = export::Report::new();
            source
                .each_event(spec, |rec| {
                    report.feed(&rec);
                    Ok(())
                })
                .await?;
            if format == ExportFormat::Html {
                report.write_html(&mut sink)
            } else {
                report.write_markdown(&mut sink)
            }
            .map_err(out_err)?;
        }
    }
    sink.flush().map_err(out_err)?;
    Ok(0)
}

/// `blame FILE[:LINE]`: for a line of the run's workspace, the agent, task, model, prompt and
/// approvals behind it, from git blame and the run's events.
pub async fn blame(paths: &Paths, spec: &str, target: &str) -> Result<u8, Failure> {
    let state = open(paths).await?.state(spec).await?;
    let Some(info) = state.info.as_ref() else {
        return Err(Failure::runtime(format!("run {spec} has no events")));
    };
    let root = Path::new(&info.workspace);
    let (file, line) = match target.rsplit_once(':') {
        Some((f, l)) if l.parse::<usize>().is_ok() => (f, l.parse::<usize>().ok()),
        _ => (target, None),
    };
    let file = Path::new(file);
    let rel = if file.is_absolute() {
        file.strip_prefix(root)
            .map_err(|_| {
                Failure::usage(format!(
                    "{} is not in the run's workspace {}",
                    file.display(),
                    root.display()
                ))
            })?
            .to_owned()
    } else {
        file.to_owned()
    };
    let rel = rel.to_string_lossy().into_owned();
    // The workspace is the agents': the file may be a FIFO or a device (refused, never
    // waited on) or huge.
    let bytes = crate::fsread::read_bytes(&root.join(&rel), 256 << 20)
        .map_err(|e| Failure::usage(e.to_string()))?;
    let count = bytes.iter().filter(|b| **b == b'\n').count()
        + usize::from(bytes.last().is_some_and(|b| *b != b'\n'));
    let lines: Vec<usize> = match line {
        Some(0) => return Err(Failure::usage("lines are numbered from 1")),
        Some(n) if n > count => {
            return Err(Failure::usage(format!("{rel} has {count} lines")));
        }
        Some(n) => vec![n],
        None => (1..=count).collect(),
    };
    let mut out = String::new();
    use std::fmt::Write as _;
    for n in lines {
        let o = crate::tools::git::blame(root, &rel, n).map_err(Failure::runtime)?;
        // The file's line, its commit and its trailers are the workspace's: all sanitised.
        let first = |k: &str| {
            o.trailers
                .get(k)
                .and_then(|v| v.first())
                .map_or_else(|| "-".into(), |v| safe(v).into_owned())
        };
        let (text, author, commit) = (safe(&o.text), safe(&o.author), safe(&o.commit));
        let task = first("Task");
        let agent = state
            .tasks
            .iter()
            .find(|t| t.id.as_str() == task)
            .and_then(|t| t.agent.as_ref().map(|a| safe(a.as_str()).into_owned()))
            .unwrap_or_else(|| "-".into());
        if line.is_none() {
            let _ = writeln!(
                out,
                "{n:>5} {task:<4} {agent:<14} {:<12} {text}",
                commit.chars().take(12).collect::<String>(),
            );
            continue;
        }
        let title = state
            .tasks
            .iter()
            .find(|t| t.id.as_str() == task)
            .map(|t| safe(&t.title).into_owned())
            .unwrap_or_default();
        let approved = o.trailers.get("Approved-By").cloned().unwrap_or_default();
        let _ = writeln!(out, "{}:{n}  {text}", safe(&rel));
        let _ = writeln!(out, "  commit     {commit} ({author})");
        let _ = writeln!(
            out,
            "  when       {}",
            export::rfc3339(o.time.saturating_mul(1000))
        );
        let _ = writeln!(out, "  task       {task} {title}");
        let _ = writeln!(out, "  agent      {agent} (role {author})");
        let _ = writeln!(out, "  model      {}", first("Model"));
        let _ = writeln!(out, "  prompt     {}", first("Prompt-Hash"));
        let _ = writeln!(
            out,
            "  approved   {}",
            if approved.is_empty() {
                "no approval was asked".to_owned()
            } else {
                safe(&approved.join(", ")).into_owned()
            }
        );
        let _ = writeln!(
            out,
            "  run        {}  cost {}",
            first("Run"),
            first("Cost-USD")
        );
    }
    std::io::stdout()
        .lock()
        .write_all(out.as_bytes())
        .map_err(out_err)?;
    Ok(0)
}
