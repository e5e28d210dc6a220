//! Opening the control room (the TUI) on a session.

use super::Failure;
use super::config::{Config, Paths};
use crate::domain::RunStatus;
use crate::session::Session;
use crate::tui::keymap::Keymap;
use crate::tui::terminal::Guard;
use crate::tui::theme::{ColorDepth, Themes};
use crate::tui::{self, Ending, Options};
use std::collections::BTreeMap;

/// A terminal that cannot address the cursor (`TERM=dumb`, or an empty `TERM`).
fn dumb_terminal() -> bool {
    std::env::var_os("TERM").is_some_and(|t| t.is_empty() || t == "dumb")
}

fn no_color() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
}

pub fn options(paths: &Paths, config: &Config, fps: Option<u32>) -> Result<Options, Failure> {
    let themes =
        Themes::load(Some(&paths.themes_dir()), ColorDepth::detect()).map_err(Failure::usage)?;
    let name = if no_color() {
        "mono"
    } else {
        config.ui.theme.as_str()
    };
    let theme = themes.index_of(name).ok_or_else(|| {
        let names: Vec<&str> = themes.list.iter().map(|t| t.name.as_str()).collect();
        Failure::usage(format!(
            "{}: key `ui.theme`: no theme {name:?} (themes: {})",
            paths.config_file.display(),
            names.join(", ")
        ))
    })?;
    let keys: BTreeMap<String, Vec<String>> = config
        .keys
        .iter()
        .map(|(k, v)| (k.clone(), v.to_vec()))
        .collect();
    let keymap = Keymap::with_overrides(&keys)
        .map_err(|e| Failure::usage(format!("{}: {e}", paths.config_file.display())))?;
    let fps = fps.unwrap_or(config.ui.fps);
    if fps == 0 || fps > 240 {
        return Err(Failure::usage("--fps must be between 1 and 240"));
    }
    Ok(Options {
        fps,
        keymap,
        themes,
        theme,
        signals: true,
    })
}

/// Runs the control room until the person leaves; then detaches (the run stays resumable).
/// `remote`: where the run goes on after a detach (its server), said when the person leaves.
pub async fn open<S: Session>(
    session: S,
    opts: Options,
    remote: Option<String>,
) -> Result<u8, Failure> {
    if dumb_terminal() {
        // No cursor addressing: a full screen would be garbage. Lines work everywhere.
        eprintln!(
            "macrohard-tui: TERM={} cannot show the control room; following the run line by line (Ctrl-C leaves it{})",
            std::env::var("TERM").unwrap_or_default(),
            if remote.is_some() {
                "; the run goes on in its server"
            } else {
                "; the run stays resumable"
            }
        );
        let opts = super::headless::FollowOptions::new(false, false, remote.is_some());
        let code = super::headless::follow_session(&session, opts, true).await;
        session.detach().await;
        return Ok(code);
    }
    // Syntax highlighting's first use of each common language, off the UI thread.
    crate::tui::highlight::warm_up();
    let mut guard =
        Guard::enter().map_err(|e| Failure::runtime(format!("cannot use this terminal: {e}")))?;
    let input = crossterm::event::EventStream::new();
    let result = tui::run(&mut guard.terminal, &session, input, opts).await;
    if let Ok((Ending::TerminalLost, _)) = &result {
        guard.abandon();
    }
    drop(guard);
    session.detach().await;
    let (ending, app) = result.map_err(|e| Failure::runtime(e.to_string()))?;
    let s = &app.view.state;
    let id = s.id().map(ToString::to_string).unwrap_or_default();
    if ending != Ending::TerminalLost {
        match s.status {
            st if st.is_terminal() => {
                // Uncut, with where the work is and how to read the report.
                let reason = crate::domain::sanitize::line(&s.status_reason);
                eprintln!("run {id} {st}: {reason}");
                for line in super::where_to_look(s) {
                    eprintln!("{line}");
                }
            }
            _ if ending == Ending::Stopped => eprintln!("run {id} stopped"),
            _ if remote.is_some() => eprintln!(
                "detached from run {id} ({}); {}",
                s.status,
                remote.as_deref().unwrap_or_default()
            ),
            _ => eprintln!(
                "left run {id} ({}); continue it with `macrohard-tui resume {id}`",
                s.status
            ),
        }
    }
    Ok(match s.status {
        RunStatus::Failed => 1,
        _ => 0,
    })
}
