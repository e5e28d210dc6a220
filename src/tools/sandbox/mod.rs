//! The sandbox `run_command` runs in: Linux Landlock lets the command write only inside the
//! workspace and a private temporary directory; a new network namespace (with only its own
//! loopback) takes the network away unless policy grants it; resource limits cap memory,
//! processes, CPU time and file size.
//!
//! What the kernel offers is probed once per process (`support()`); where Landlock or
//! namespaces are missing, the run says so and the `[sandbox] unsupported` setting decides
//! whether commands go on.

use landlock::{
    ABI, Access, AccessFs, AccessNet, CompatLevel, Compatible, LandlockStatus, Ruleset,
    RulesetAttr, RulesetCreated, RulesetCreatedAttr, RulesetStatus, Scope, path_beneath_rules,
};
use serde::{Deserialize, Serialize};
use std::ffi::CString;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

/// The newest Landlock ABI this build asks for; older kernels get what they support. From ABI 9
/// on, connecting to a UNIX socket outside the workspace (the control room's server among them)
/// is refused too; before it, the server refuses clients from another network namespace.
const ABI_WANTED: ABI = ABI::V9;

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

/// How the network is taken away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NetMode {
    /// `unshare(CLONE_NEWNET)`: we may (root or CAP_SYS_ADMIN).
    Namespace,
    /// A user namespace first, then the network namespace (an ordinary account).
    UserNamespace,
}

/// What this kernel lets us do, probed once.
#[derive(Debug, Clone)]
pub struct Support {
    /// The Landlock ABI in effect, or why there is none.
    pub landlock: Result<i32, String>,
    net: Result<NetMode, String>,
}

impl Support {
    /// Whether Landlock confines writes.
    pub fn landlock(&self) -> bool {
        self.landlock.is_ok()
    }

    /// Whether commands can be cut off from the network (a namespace, or Landlock's TCP rules).
    pub fn network_isolation(&self) -> bool {
        self.net.is_ok() || self.landlock.as_ref().is_ok_and(|abi| *abi >= 4)
    }

    /// Both halves work.
    pub fn complete(&self) -> bool {
        self.landlock() && self.net.is_ok()
    }

    /// One line for the log and the screen.
    pub fn describe(&self) -> String {
        let fs = match &self.landlock {
            Ok(abi) => format!("Landlock ABI {abi}: writes only in the workspace"),
            Err(e) => format!("no Landlock ({e}): commands can write anywhere this account can"),
        };
        let net = match (&self.net, &self.landlock) {
            (Ok(NetMode::Namespace), _) => "network namespace: no network".to_owned(),
            (Ok(NetMode::UserNamespace), _) => "user + network namespace: no network".to_owned(),
            (Err(e), Ok(abi)) if *abi >= 4 => {
                format!("no network namespace ({e}): only TCP is blocked, by Landlock")
            }
            (Err(e), _) => format!("no network namespace ({e}): commands can reach the network"),
        };
        format!("{fs}; {net}")
    }
}

/// The probe, run once per process.
pub fn support() -> &'static Support {
    static SUPPORT: OnceLock<Support> = OnceLock::new();
    SUPPORT.get_or_init(|| Support {
        landlock: probe_landlock(),
        net: probe_net(),
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

/// Starts `true` in a new network namespace, directly and then inside a user namespace.
fn probe_net() -> Result<NetMode, String> {
    let try_mode = |mode: NetMode| -> io::Result<()> {
        let maps = IdMaps::new();
        let mut cmd = std::process::Command::new("/bin/sh");
        cmd.args(["-c", "exit 0"])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        // SAFETY: the closure only makes system calls (no allocation, no locks).
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut cmd, move || {
                enter_netns(mode, &maps)
            });
        }
        let status = cmd.status()?;
        if status.success() {
            Ok(())
        } else {
            Err(io::Error::other(format!("the probe exited with {status}")))
        }
    };
    match try_mode(NetMode::Namespace) {
        Ok(()) => Ok(NetMode::Namespace),
        Err(first) => match try_mode(NetMode::UserNamespace) {
            Ok(()) => Ok(NetMode::UserNamespace),
            Err(e) => Err(format!("{first}; with a user namespace: {e}")),
        },
    }
}

/// `uid_map` / `gid_map` lines that map this account to itself, written before the fork so
/// the child does not allocate.
struct IdMaps {
    uid: CString,
    gid: CString,
}

impl IdMaps {
    fn new() -> Self {
        // SAFETY: getuid/getgid cannot fail.
        let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
        Self {
            uid: CString::new(format!("{uid} {uid} 1")).unwrap_or_default(),
            gid: CString::new(format!("{gid} {gid} 1")).unwrap_or_default(),
        }
    }
}

fn check(rc: libc::c_int) -> io::Result<()> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Writes `text` to a `/proc/self` file, in the child.
fn write_proc(path: &std::ffi::CStr, text: &std::ffi::CStr) -> io::Result<()> {
    // SAFETY: plain open/write/close on NUL-terminated strings we own.
    unsafe {
        let fd = libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
        check(fd)?;
        let bytes = text.to_bytes();
        let n = libc::write(fd, bytes.as_ptr().cast(), bytes.len());
        libc::close(fd);
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Moves the calling (child) process into a new network namespace and brings its loopback up,
/// so a command's own servers on 127.0.0.1 still work while nothing outside can be reached.
fn enter_netns(mode: NetMode, maps: &IdMaps) -> io::Result<()> {
    // SAFETY: unshare affects only this (single-threaded, just forked) process.
    unsafe {
        match mode {
            NetMode::Namespace => check(libc::unshare(libc::CLONE_NEWNET))?,
            NetMode::UserNamespace => {
                check(libc::unshare(libc::CLONE_NEWUSER | libc::CLONE_NEWNET))?;
                write_proc(c"/proc/self/setgroups", c"deny")?;
                write_proc(c"/proc/self/uid_map", &maps.uid)?;
                write_proc(c"/proc/self/gid_map", &maps.gid)?;
            }
        }
    }
    loopback_up();
    Ok(())
}

/// `ip link set lo up`, best effort: without it the namespace simply has no loopback.
fn loopback_up() {
    // SAFETY: an ioctl on a socket we open and close, with a zeroed ifreq we own.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return;
        }
        let mut req: libc::ifreq = std::mem::zeroed();
        for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
            *dst = *src as libc::c_char;
        }
        if libc::ioctl(fd, libc::SIOCGIFFLAGS, &mut req) == 0 {
            req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
            libc::ioctl(fd, libc::SIOCSIFFLAGS, &req);
        }
        libc::close(fd);
    }
}

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

/// Sets a command up to run confined: limits, the network namespace and Landlock, applied in
/// the child between fork and exec. `network` grants the network to this command.
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
    let net = (!network)
        .then_some(support.net.as_ref().ok().copied())
        .flatten();
    let block_tcp = !network && net.is_none();
    let ruleset = match support.landlock {
        Ok(_) => Some(
            ruleset(workspace, tmp, block_tcp)
                .map_err(|e| format!("cannot build the Landlock rules: {e}"))?,
        ),
        Err(_) => None,
    };
    let ruleset = Mutex::new(ruleset);
    let maps = IdMaps::new();
    // SAFETY: between fork and exec the closure makes system calls only; the ruleset was built
    // in the parent, and its lock is fresh in the child.
    unsafe {
        cmd.pre_exec(move || {
            for (resource, value) in limits {
                set_limit(resource, value);
            }
            if let Some(mode) = net {
                enter_netns(mode, &maps)?;
            }
            let taken = ruleset.lock().ok().and_then(|mut r| r.take());
            if let Some(r) = taken {
                r.restrict_self()
                    .map_err(|_| io::Error::from_raw_os_error(libc::EPERM))?;
            }
            Ok(())
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
        assert!(d.contains("network"), "{d}");
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
