//! The sandbox `run_command` runs in: Linux Landlock lets the command write only inside the
//! workspace and a private temporary directory; a new network namespace (with only its own
//! loopback) takes the network away unless policy grants it; a private mount namespace makes
//! everything else read-only (the workspace's `.git` included), gives it a `/dev` of its own
//! and hides the control room's socket; a PID namespace hides other processes and ends what a
//! command leaves behind; the command holds no capabilities, even as root; resource limits cap
//! memory, processes, CPU time and file size (`child` does the work between fork and exec).
//!
//! What the kernel offers is probed once per process (`support()`); where Landlock or
//! namespaces are missing, the run says so and the `[sandbox] unsupported` setting decides
//! whether commands go on.

use landlock::{
    ABI, Access, AccessFs, AccessNet, CompatLevel, Compatible, Ruleset, RulesetAttr,
    RulesetCreated, RulesetCreatedAttr, Scope, path_beneath_rules,
};
use serde::{Deserialize, Serialize};
use std::ffi::CString;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The newest Landlock ABI this build asks for; older kernels get what they support. From ABI 9
/// on, connecting to a UNIX socket outside the workspace (the control room's server among them)
/// is refused too; before it, the server refuses clients from another network namespace.
pub(crate) const ABI_WANTED: ABI = ABI::V9;

/// What to do with commands when the kernel cannot confine them fully.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Unsupported {
    /// Run them with whatever confinement there is, after a warning.
    Continue,
    /// Every command asks a person first.
    #[default]
    Ask,
    /// Refuse every command.
    Deny,
}

/// `[sandbox]` in the config.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SandboxConfig {
    /// Confine commands at all (turning it off is for debugging a sandbox problem).
    pub enabled: bool,
    /// Let every command reach the network (policy rules can grant it per command instead).
    pub network: bool,
    /// Writable memory of each process (RLIMIT_DATA), in MiB.
    pub memory_mb: u64,
    /// Processes of the account (RLIMIT_NPROC; the kernel does not apply it to root).
    pub processes: u64,
    /// CPU seconds of each process (RLIMIT_CPU).
    pub cpu_s: u64,
    /// The largest file a command may write (RLIMIT_FSIZE), in MiB.
    pub file_size_mb: u64,
    pub unsupported: Unsupported,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            network: false,
            memory_mb: 8192,
            processes: 4096,
            cpu_s: 1800,
            file_size_mb: 4096,
            unsupported: Unsupported::Ask,
        }
    }
}

mod child;
mod support;

pub use support::{Part, PartState, Support, support};

fn set_limit(resource: u32, value: u64) {
    let lim = libc::rlimit {
        rlim_cur: value,
        rlim_max: value,
    };
    // SAFETY: setrlimit on this process with a value we own. A limit we may not lower (one
    // already below ours) is left as it is.
    unsafe {
        let mut old: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(resource as _, &mut old) == 0
            && old.rlim_max != libc::RLIM_INFINITY
            && old.rlim_max < value
        {
            return;
        }
        libc::setrlimit(resource as _, &lim);
    }
}

/// A private temporary directory for one command, removed afterwards.
pub struct PrivateTmp(PathBuf);

impl PrivateTmp {
    pub fn create() -> io::Result<Self> {
        use std::os::unix::fs::DirBuilderExt;
        let base = std::env::temp_dir();
        for _ in 0..8 {
            let p = base.join(format!("macrohard-cmd-{:016x}", fastrand::u64(..)));
            match std::fs::DirBuilder::new().mode(0o700).create(&p) {
                Ok(()) => return Ok(Self(p)),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
        Err(io::Error::other("no free name for a temporary directory"))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for PrivateTmp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Writable devices every shell expects.
const DEVICES: [&str; 5] = [
    "/dev/null",
    "/dev/zero",
    "/dev/full",
    "/dev/random",
    "/dev/urandom",
];

/// Builds the Landlock ruleset for one command (in the parent: opening the paths allocates).
fn ruleset(
    workspace: &Path,
    tmp: &Path,
    block_tcp: bool,
) -> Result<RulesetCreated, landlock::RulesetError> {
    let write = AccessFs::from_write(ABI_WANTED);
    let mut r = Ruleset::default()
        .set_compatibility(CompatLevel::BestEffort)
        .handle_access(write)?;
    if block_tcp {
        r = r.handle_access(AccessNet::from_all(ABI::V4))?;
    }
    r.scope(Scope::from_all(ABI_WANTED))?
        .create()?
        .add_rules(path_beneath_rules([workspace, tmp], write))?
        .add_rules(path_beneath_rules(DEVICES, write))
}

/// Directories no command may see (the control room's socket directory), covered in each
/// command's private view. Registered by whoever knows them (the CLI, at start).
static HIDDEN: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// Hides `dir` from every command started after this call.
pub fn hide_from_commands(dir: PathBuf) {
    if let Ok(mut hidden) = HIDDEN.lock()
        && !hidden.contains(&dir)
    {
        hidden.push(dir);
    }
}

/// Keeps other processes of this account (an agent's command among them) from reading this
/// process's memory and environment through `/proc`, or attaching a debugger to it.
pub fn protect_this_process() {
    // SAFETY: prctl on this process.
    unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) };
}

fn cpath(path: &Path) -> Result<CString, String> {
    use std::os::unix::ffi::OsStrExt;
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| format!("{} contains a NUL byte", path.display()))
}

/// The private view for a command in `workspace` (see `child`).
fn mounts(workspace: &Path, tmp: &Path) -> Result<child::Mounts, String> {
    let git = workspace.join(".git");
    let git_dir = match std::fs::symlink_metadata(&git) {
        Ok(m) if m.is_dir() || m.is_file() => Some(cpath(&git)?),
        _ => None,
    };
    let hide = HIDDEN
        .lock()
        .map(|h| h.clone())
        .unwrap_or_default()
        .into_iter()
        .filter(|d| d.is_dir() && !workspace.starts_with(d) && !tmp.starts_with(d))
        .map(|d| cpath(&d))
        .collect::<Result<_, _>>()?;
    Ok(child::Mounts {
        workspace: cpath(workspace)?,
        tmp: cpath(tmp)?,
        git_dir,
        hide,
    })
}

/// Sets a command up to run confined: limits, namespaces and a private view of the file
/// system, Landlock, then no capabilities, applied in the child between fork and exec.
/// `network` grants the network to this command.
pub fn confine(
    cmd: &mut tokio::process::Command,
    config: &SandboxConfig,
    workspace: &Path,
    tmp: &Path,
    network: bool,
) -> Result<(), String> {
    if !config.enabled {
        return Ok(());
    }
    let limits = [
        (libc::RLIMIT_DATA, config.memory_mb.saturating_mul(1 << 20)),
        (libc::RLIMIT_NPROC, config.processes),
        (libc::RLIMIT_CPU, config.cpu_s),
        (
            libc::RLIMIT_FSIZE,
            config.file_size_mb.saturating_mul(1 << 20),
        ),
        (libc::RLIMIT_CORE, 0),
    ];
    let support = support();
    let mut plan = child::Plan::bare(support.last_cap);
    if let Ok(mode) = support.ns {
        plan.ns = Some(mode);
        plan.new_net = !network;
        if support.mounts.is_ok() {
            plan.mounts = Some(mounts(workspace, tmp)?);
            plan.new_pid = support.pid.is_ok();
        }
    }
    let block_tcp = !network && !plan.new_net;
    let ruleset = match support.landlock {
        Ok(_) => Some(
            ruleset(workspace, tmp, block_tcp)
                .map_err(|e| format!("cannot build the Landlock rules: {e}"))?,
        ),
        Err(_) => None,
    };
    let ruleset = Mutex::new(ruleset);
    // SAFETY: between fork and exec the closure makes system calls only; the plan and the
    // ruleset were built in the parent, and the lock is fresh in the child.
    unsafe {
        cmd.pre_exec(move || {
            for (resource, value) in limits {
                set_limit(resource, value);
            }
            child::enter(&plan)?;
            let taken = ruleset.lock().ok().and_then(|mut r| r.take());
            if let Some(r) = taken {
                r.restrict_self()
                    .map_err(|_| io::Error::from_raw_os_error(libc::EPERM))?;
            }
            child::drop_capabilities(plan.last_cap)
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_probe_describes_what_it_found() {
        let s = support();
        let d = s.describe();
        assert!(d.contains("Landlock"), "{d}");
        let names: Vec<&str> = s.parts().iter().map(|p| p.name).collect();
        assert_eq!(
            names,
            [
                "filesystem",
                "network",
                "capabilities",
                "devices",
                "processes",
                "socket"
            ]
        );
        assert_eq!(
            s.complete(),
            !d.contains("missing") && !d.contains("partial")
        );
    }

    #[test]
    fn private_temp_dirs_are_private_and_removed() {
        use std::os::unix::fs::PermissionsExt;
        let t = PrivateTmp::create().unwrap();
        let p = t.path().to_owned();
        let mode = std::fs::metadata(&p).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        drop(t);
        assert!(!p.exists());
    }
}
