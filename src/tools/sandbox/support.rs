//! What this kernel lets the sandbox do, probed once per process and reported part by part:
//! file system, network, capabilities, devices, process isolation and socket isolation. A
//! part is `Ok`, `Partial` (some of it, said how) or `Missing`; the sandbox is complete only
//! when every part is `Ok`, and nothing here calls a partial sandbox complete.

use super::child::{self, Mounts, NsMode, Plan};
use super::{ABI_WANTED, PrivateTmp};
use landlock::{AccessFs, LandlockStatus, Ruleset, RulesetAttr, RulesetStatus};
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::sync::OnceLock;

/// How much of one part the kernel provides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartState {
    Ok,
    Partial,
    Missing,
}

/// One part of the sandbox, for `doctor`, the log and the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    pub name: &'static str,
    pub state: PartState,
    pub detail: String,
}

/// What a probe command saw of its own capabilities.
#[derive(Debug, Clone, Copy)]
struct Caps {
    effective_empty: bool,
    bounding_empty: bool,
    no_new_privs: bool,
}

/// What this kernel lets us do.
#[derive(Debug, Clone)]
pub struct Support {
    /// The Landlock ABI in effect, or why there is none.
    pub landlock: Result<i32, String>,
    pub(super) ns: Result<NsMode, String>,
    pub(super) mounts: Result<(), String>,
    pub(super) pid: Result<(), String>,
    caps: Result<Caps, String>,
    pub(super) last_cap: u32,
    root: bool,
}

impl Support {
    /// Whether Landlock confines writes.
    pub fn landlock(&self) -> bool {
        self.landlock.is_ok()
    }

    /// Whether commands can be cut off from the network (a namespace, or Landlock's TCP rules).
    pub fn network_isolation(&self) -> bool {
        self.ns.is_ok() || self.landlock.as_ref().is_ok_and(|abi| *abi >= 4)
    }

    /// Whether a command's `.git` is read-only to it (a private mount namespace).
    pub fn git_read_only(&self) -> bool {
        self.mounts.is_ok()
    }

    /// Every part is in place.
    pub fn complete(&self) -> bool {
        self.parts().iter().all(|p| p.state == PartState::Ok)
    }

    /// The parts, in a fixed order.
    pub fn parts(&self) -> Vec<Part> {
        let part = |name, state, detail: String| Part {
            name,
            state,
            detail,
        };
        let no_mounts = self.mounts.as_ref().err();
        let filesystem = match (&self.landlock, no_mounts) {
            (Ok(abi), None) => part(
                "filesystem",
                PartState::Ok,
                format!(
                    "writes only in the workspace and a private temp dir (Landlock ABI {abi}); everything else read-only, so chmod and chown outside the workspace fail; .git read-only"
                ),
            ),
            (Ok(abi), Some(e)) => part(
                "filesystem",
                PartState::Partial,
                format!(
                    "writes only in the workspace and a private temp dir (Landlock ABI {abi}); no private mount namespace ({e}): the workspace's .git is writable by commands, and this account's files outside the workspace can be chmod-ed"
                ),
            ),
            (Err(e), None) => part(
                "filesystem",
                PartState::Partial,
                format!(
                    "no Landlock ({e}); everything outside the workspace is read-only by a private mount namespace, .git read-only"
                ),
            ),
            (Err(e), Some(m)) => part(
                "filesystem",
                PartState::Missing,
                format!(
                    "no Landlock ({e}) and no mount namespace ({m}): commands can write anywhere this account can"
                ),
            ),
        };
        let network = match (&self.ns, &self.landlock) {
            (Ok(_), _) => part(
                "network",
                PartState::Ok,
                "a network namespace with only its own loopback".into(),
            ),
            (Err(e), Ok(abi)) if *abi >= 4 => part(
                "network",
                PartState::Partial,
                format!("no network namespace ({e}): only TCP is blocked, by Landlock"),
            ),
            (Err(e), _) => part(
                "network",
                PartState::Missing,
                format!("no network namespace ({e}): commands can reach the network"),
            ),
        };
        let capabilities = match &self.caps {
            Ok(c) if c.effective_empty && c.no_new_privs && (c.bounding_empty || !self.root) => {
                part(
                    "capabilities",
                    PartState::Ok,
                    if c.bounding_empty {
                        "none: bounding set emptied, no_new_privs".into()
                    } else {
                        "none held (an ordinary account), no_new_privs".into()
                    },
                )
            }
            Ok(c) => part(
                "capabilities",
                PartState::Missing,
                format!(
                    "commands keep capabilities (effective empty: {}, bounding empty: {}, no_new_privs: {})",
                    c.effective_empty, c.bounding_empty, c.no_new_privs
                ),
            ),
            Err(e) => part(
                "capabilities",
                PartState::Missing,
                format!("could not be checked: {e}"),
            ),
        };
        let devices = match (no_mounts, self.root) {
            (None, _) => part(
                "devices",
                PartState::Ok,
                "a private /dev: null, zero, full, random, urandom, its own shm and pts".into(),
            ),
            (Some(e), false) => part(
                "devices",
                PartState::Partial,
                format!("the host's /dev ({e}), limited by this account's permissions"),
            ),
            (Some(e), true) => part(
                "devices",
                PartState::Missing,
                format!("the host's /dev as root ({e}): disks are readable"),
            ),
        };
        let processes = match &self.pid {
            Ok(()) => part(
                "processes",
                PartState::Ok,
                "a PID namespace and its own /proc: no other process is visible; whatever a command leaves running is killed when it ends".into(),
            ),
            Err(e) => part(
                "processes",
                PartState::Partial,
                format!("no PID namespace ({e}): this account's other processes are visible; the engine itself is not dumpable, so its memory and environment are not"),
            ),
        };
        let socket = match (no_mounts, &self.landlock) {
            (None, _) => part(
                "socket",
                PartState::Ok,
                "the control room's socket directory is hidden from commands".into(),
            ),
            (Some(_), Ok(abi)) if *abi >= 9 => part(
                "socket",
                PartState::Ok,
                format!("Landlock ABI {abi} refuses UNIX sockets outside the workspace"),
            ),
            (Some(e), _) => part(
                "socket",
                PartState::Partial,
                format!(
                    "the socket is visible ({e}); the server refuses clients from another namespace and any it cannot identify"
                ),
            ),
        };
        vec![
            filesystem,
            network,
            capabilities,
            devices,
            processes,
            socket,
        ]
    }

    /// One line for the log and the screen: what is missing first, else that all is there.
    pub fn describe(&self) -> String {
        let parts = self.parts();
        let weak: Vec<String> = parts
            .iter()
            .filter(|p| p.state != PartState::Ok)
            .map(|p| {
                let how = if p.state == PartState::Partial {
                    "partial"
                } else {
                    "missing"
                };
                format!("{} {how}: {}", p.name, p.detail)
            })
            .collect();
        if weak.is_empty() {
            let abi = self.landlock.as_ref().map_or(0, |a| *a);
            format!(
                "complete: Landlock ABI {abi}; no network; no capabilities; private /dev, /proc and mounts; .git and the socket out of reach"
            )
        } else {
            weak.join("; ")
        }
    }
}

/// The probe, run once per process.
pub fn support() -> &'static Support {
    static SUPPORT: OnceLock<Support> = OnceLock::new();
    SUPPORT.get_or_init(probe)
}

fn probe() -> Support {
    let last_cap = child::last_cap();
    // SAFETY: geteuid cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    let landlock = probe_landlock();
    let ns = match try_plan(plan(NsMode::Privileged, None, false, last_cap), None) {
        Ok(_) => Ok(NsMode::Privileged),
        Err(first) => match try_plan(plan(NsMode::User, None, false, last_cap), None) {
            Ok(_) => Ok(NsMode::User),
            Err(e) => Err(format!("{first}; with a user namespace: {e}")),
        },
    };
    let (mounts, pid) = match (&ns, PrivateTmp::create(), PrivateTmp::create()) {
        (Ok(mode), Ok(ws), Ok(tmp)) => {
            let m = || Mounts {
                workspace: cstring(ws.path()),
                tmp: cstring(tmp.path()),
                git_dir: None,
                hide: Vec::new(),
            };
            let mounts = try_plan(plan(*mode, Some(m()), false, last_cap), None).map(|_| ());
            let pid = match &mounts {
                Ok(()) => try_plan(plan(*mode, Some(m()), true, last_cap), None).map(|_| ()),
                Err(_) => Err("needs a mount namespace".into()),
            };
            (mounts, pid)
        }
        (Err(e), _, _) => (Err(e.clone()), Err(e.clone())),
        (_, Err(e), _) | (_, _, Err(e)) => {
            let e = format!("no temporary directory for the probe: {e}");
            (Err(e.clone()), Err(e))
        }
    };
    let caps = probe_caps(last_cap);
    Support {
        landlock,
        ns,
        mounts,
        pid,
        caps,
        last_cap,
        root,
    }
}

fn cstring(path: &std::path::Path) -> CString {
    CString::new(path.as_os_str().as_bytes()).unwrap_or_default()
}

fn plan(mode: NsMode, mounts: Option<Mounts>, pid: bool, last_cap: u32) -> Plan {
    let mut p = Plan::bare(last_cap);
    p.ns = Some(mode);
    p.new_net = true;
    p.new_pid = pid && mounts.is_some();
    p.mounts = mounts;
    p
}

/// Runs a small shell script under `plan` (and no capabilities); its output on success.
fn try_plan(plan: Plan, script: Option<&str>) -> Result<String, String> {
    let mut cmd = std::process::Command::new("/bin/sh");
    cmd.args(["-c", script.unwrap_or("exit 0")])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null());
    let last_cap = plan.last_cap;
    // SAFETY: the closure only makes system calls (no allocation, no locks).
    unsafe {
        cmd.pre_exec(move || {
            child::enter(&plan)?;
            child::drop_capabilities(last_cap)
        });
    }
    let out = cmd.output().map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!("the probe exited with {}", out.status))
    }
}

/// Reads a probe command's own capability lines under the fullest plan that works.
fn probe_caps(last_cap: u32) -> Result<Caps, String> {
    let script = Some("cat /proc/self/status");
    let status = try_plan(Plan::bare(last_cap), script)?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim().to_owned())
    };
    let zero =
        |name: &str| field(name).is_some_and(|v| v.chars().all(|c| c == '0') && !v.is_empty());
    Ok(Caps {
        effective_empty: zero("CapEff:") && zero("CapPrm:"),
        bounding_empty: zero("CapBnd:"),
        no_new_privs: field("NoNewPrivs:").is_some_and(|v| v == "1"),
    })
}

/// Restricts a throwaway thread (Landlock applies to the thread that asks and its children)
/// to learn the ABI in effect.
fn probe_landlock() -> Result<i32, String> {
    let probe = std::thread::spawn(|| -> Result<i32, String> {
        let status = Ruleset::default()
            .handle_access(AccessFs::from_write(ABI_WANTED))
            .and_then(|r| r.create())
            .and_then(|r| r.restrict_self())
            .map_err(|e| e.to_string())?;
        match (status.ruleset, status.landlock) {
            (RulesetStatus::NotEnforced, LandlockStatus::NotEnabled) => {
                Err("not enabled in this kernel".into())
            }
            (RulesetStatus::NotEnforced, LandlockStatus::NotImplemented) => {
                Err("not built into this kernel".into())
            }
            (RulesetStatus::NotEnforced, _) => Err("not enforced".into()),
            (_, LandlockStatus::Available { effective_abi, .. }) => Ok(effective_abi as i32),
            (_, _) => Err("status unknown".into()),
        }
    });
    probe
        .join()
        .unwrap_or_else(|_| Err("the probe failed".into()))
}
