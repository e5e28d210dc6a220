//! What a command's process does between fork and exec: new namespaces, a private view of the
//! file system, a PID namespace with its own `/proc`, then no capabilities.
//!
//! Everything here runs in a child forked from a multi-threaded process, so it may only make
//! system calls: no allocation, no locks. Paths arrive as C strings built by the parent.
//!
//! The view of the file system a command gets (a new mount namespace):
//! - everything read-only (so `chmod`, `chown` and writes outside the workspace fail with
//!   EROFS even for root), except the workspace and the command's private temp directory;
//! - the workspace's `.git` read-only, so a command cannot plant hooks or configuration;
//! - a private `/dev` holding only `null`, `zero`, `full`, `random`, `urandom`, a fresh `shm`
//!   and its own `pts`: no disks, no person's terminal;
//! - the directories named to hide (the control room's socket directory) covered by an empty
//!   read-only tmpfs;
//! - with a PID namespace, a `/proc` that shows only the command's own processes, its `sys`
//!   read-only. The command's shell is that namespace's init: when it ends, every process it
//!   left behind (daemons included) is killed by the kernel.

use std::ffi::{CStr, CString};
use std::io;

/// How namespaces are made here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum NsMode {
    /// `unshare` directly: we may (root or CAP_SYS_ADMIN).
    Privileged,
    /// A user namespace first, mapping this account to itself (an ordinary account).
    User,
}

/// The mounts of a command's private view.
pub(super) struct Mounts {
    pub workspace: CString,
    pub tmp: CString,
    /// `<workspace>/.git` when it is a directory.
    pub git_dir: Option<CString>,
    /// Directories covered by an empty read-only tmpfs.
    pub hide: Vec<CString>,
}

/// Everything the child does, decided and allocated by the parent.
pub(super) struct Plan {
    pub ns: Option<NsMode>,
    pub new_net: bool,
    pub mounts: Option<Mounts>,
    /// A PID namespace (needs `mounts`, for its `/proc`).
    pub new_pid: bool,
    pub uid_map: CString,
    pub gid_map: CString,
    /// The highest capability number this kernel knows.
    pub last_cap: u32,
}

impl Plan {
    /// A plan with no namespaces: limits, Landlock and dropped capabilities only.
    pub fn bare(last_cap: u32) -> Self {
        // SAFETY: getuid/getgid cannot fail.
        let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
        Self {
            ns: None,
            new_net: false,
            mounts: None,
            new_pid: false,
            uid_map: CString::new(format!("{uid} {uid} 1")).unwrap_or_default(),
            gid_map: CString::new(format!("{gid} {gid} 1")).unwrap_or_default(),
            last_cap,
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

fn check_long(rc: libc::c_long) -> io::Result<libc::c_long> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// Writes `text` to a `/proc/self` file.
fn write_proc(path: &CStr, text: &CStr) -> io::Result<()> {
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

// The new mount API (Linux 5.2 and 5.12), by number: stable kernel ABI.
const OPEN_TREE_CLONE: libc::c_uint = 1;
const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 4;
const AT_RECURSIVE: libc::c_uint = 0x8000;
const MOUNT_ATTR_RDONLY: u64 = 0x1;

#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// A detached copy of the mount at `path` (it keeps its flags whatever happens to `/` later).
fn open_tree(path: &CStr) -> io::Result<libc::c_int> {
    // SAFETY: open_tree(2) with a NUL-terminated path we own.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_open_tree,
            libc::AT_FDCWD,
            path.as_ptr(),
            OPEN_TREE_CLONE | libc::O_CLOEXEC as libc::c_uint,
        )
    };
    check_long(fd).map(|fd| fd as libc::c_int)
}

/// Attaches the detached mount `fd` at `to`, and closes `fd`.
fn move_mount(fd: libc::c_int, to: &CStr) -> io::Result<()> {
    // SAFETY: move_mount(2) from an fd we own to a NUL-terminated path we own.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            fd,
            c"".as_ptr(),
            libc::AT_FDCWD,
            to.as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH,
        )
    };
    // SAFETY: closing an fd we own.
    unsafe { libc::close(fd) };
    check_long(rc).map(|_| ())
}

/// Makes the mount at `path` (and, `recursive`, every mount beneath it) read-only.
fn read_only(path: &CStr, recursive: bool) -> io::Result<()> {
    let attr = MountAttr {
        attr_set: MOUNT_ATTR_RDONLY,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    let flags = if recursive { AT_RECURSIVE } else { 0 };
    // SAFETY: mount_setattr(2) with a path and an attribute struct we own.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            libc::AT_FDCWD,
            path.as_ptr(),
            flags,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    check_long(rc).map(|_| ())
}

fn mount(
    source: &CStr,
    target: &CStr,
    fstype: Option<&CStr>,
    flags: libc::c_ulong,
    data: Option<&CStr>,
) -> io::Result<()> {
    // SAFETY: mount(2) with NUL-terminated strings we own (or null).
    check(unsafe {
        libc::mount(
            source.as_ptr(),
            target.as_ptr(),
            fstype.map_or(std::ptr::null(), CStr::as_ptr),
            flags,
            data.map_or(std::ptr::null(), |d| d.as_ptr().cast()),
        )
    })
}

/// The devices a command may use, in its private `/dev`.
const DEVICES: [&CStr; 5] = [
    c"/dev/null",
    c"/dev/zero",
    c"/dev/full",
    c"/dev/random",
    c"/dev/urandom",
];

/// Builds the private view described in the module doc. Runs in the new mount namespace.
fn private_view(m: &Mounts) -> io::Result<()> {
    mount(c"none", c"/", None, libc::MS_REC | libc::MS_PRIVATE, None)?;
    // Copies taken before `/` turns read-only keep their own flags.
    let workspace = open_tree(&m.workspace)?;
    let tmp = open_tree(&m.tmp)?;
    let mut devices = [-1; DEVICES.len()];
    for (fd, dev) in devices.iter_mut().zip(DEVICES) {
        *fd = open_tree(dev).unwrap_or(-1);
    }
    read_only(c"/", true)?;
    move_mount(workspace, &m.workspace)?;
    move_mount(tmp, &m.tmp)?;
    if let Some(git) = &m.git_dir {
        mount(git, git, None, libc::MS_BIND | libc::MS_REC, None)?;
        read_only(git, true)?;
    }
    private_dev(&devices)?;
    for dir in &m.hide {
        match mount(
            c"tmpfs",
            dir,
            Some(c"tmpfs"),
            libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
            Some(c"size=4k,mode=0755"),
        ) {
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
            other => other?,
        }
    }
    // The working directory was entered before the workspace's mount went over it.
    // SAFETY: chdir to a NUL-terminated path we own.
    check(unsafe { libc::chdir(m.workspace.as_ptr()) })
}

/// A fresh `/dev` with only the allowed devices, `shm` and a private `pts`.
fn private_dev(devices: &[libc::c_int]) -> io::Result<()> {
    mount(
        c"tmpfs",
        c"/dev",
        Some(c"tmpfs"),
        libc::MS_NOSUID | libc::MS_NOEXEC,
        Some(c"mode=0755,size=64k"),
    )?;
    for (&fd, dev) in devices.iter().zip(DEVICES) {
        if fd < 0 {
            continue;
        }
        // SAFETY: creating an empty file (a mount point) and closing it.
        unsafe {
            let f = libc::open(
                dev.as_ptr(),
                libc::O_CREAT | libc::O_WRONLY | libc::O_CLOEXEC | libc::O_NOFOLLOW,
                0o666,
            );
            check(f)?;
            libc::close(f);
        }
        move_mount(fd, dev)?;
    }
    let links: [(&CStr, &CStr); 4] = [
        (c"/proc/self/fd", c"/dev/fd"),
        (c"/proc/self/fd/0", c"/dev/stdin"),
        (c"/proc/self/fd/1", c"/dev/stdout"),
        (c"/proc/self/fd/2", c"/dev/stderr"),
    ];
    // SAFETY: mkdir/symlink on NUL-terminated strings we own; failures leave a smaller /dev.
    unsafe {
        for (to, at) in links {
            libc::symlink(to.as_ptr(), at.as_ptr());
        }
        if libc::mkdir(c"/dev/shm".as_ptr(), 0o1777) == 0 {
            let _ = mount(
                c"tmpfs",
                c"/dev/shm",
                Some(c"tmpfs"),
                libc::MS_NOSUID | libc::MS_NODEV,
                Some(c"mode=1777"),
            );
        }
        if libc::mkdir(c"/dev/pts".as_ptr(), 0o755) == 0
            && mount(
                c"devpts",
                c"/dev/pts",
                Some(c"devpts"),
                libc::MS_NOSUID | libc::MS_NOEXEC,
                Some(c"newinstance,ptmxmode=0666,mode=0620"),
            )
            .is_ok()
        {
            libc::symlink(c"pts/ptmx".as_ptr(), c"/dev/ptmx".as_ptr());
        }
    }
    Ok(())
}

/// The PID namespace's `/proc`, with what could change the machine read-only.
fn private_proc() -> io::Result<()> {
    mount(
        c"proc",
        c"/proc",
        Some(c"proc"),
        libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
        None,
    )?;
    for p in [
        c"/proc/sys",
        c"/proc/sysrq-trigger",
        c"/proc/irq",
        c"/proc/bus",
    ] {
        if mount(p, p, None, libc::MS_BIND | libc::MS_REC, None).is_ok() {
            read_only(p, true)?;
        }
    }
    Ok(())
}

/// Closes every descriptor from 3 up (the waiting parent must not hold the exec-error pipe).
fn close_from_3() {
    // SAFETY: close_range(2) or close(2) on descriptors of this process.
    unsafe {
        if libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32) != 0 {
            for fd in 3..1024 {
                libc::close(fd);
            }
        }
    }
}

/// Forks the namespace's init. The child returns and goes on to exec the command; this process
/// waits for it and exits as it did, never returning.
fn fork_init() -> io::Result<()> {
    // SAFETY: fork in a single-threaded child; the parent side only waits and exits.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(io::Error::last_os_error());
    }
    if pid == 0 {
        // The command dies with its waiter (e.g. a kill of the waiter alone).
        // SAFETY: prctl on this process.
        unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) };
        return private_proc();
    }
    close_from_3();
    let mut status = 0;
    // SAFETY: waiting for our own child, then exiting as it did.
    unsafe {
        while libc::waitpid(pid, &mut status, 0) < 0 {
            if *libc::__errno_location() != libc::EINTR {
                libc::_exit(127);
            }
        }
        if libc::WIFSIGNALED(status) {
            let sig = libc::WTERMSIG(status);
            libc::signal(sig, libc::SIG_DFL);
            libc::kill(libc::getpid(), sig);
            libc::_exit(128 + sig);
        }
        libc::_exit(libc::WEXITSTATUS(status));
    }
}

/// Namespaces, the private view, the PID namespace's init. Called first in the child.
pub(super) fn enter(plan: &Plan) -> io::Result<()> {
    let Some(mode) = plan.ns else {
        return Ok(());
    };
    let mut flags = 0;
    if mode == NsMode::User {
        flags |= libc::CLONE_NEWUSER;
    }
    if plan.new_net {
        flags |= libc::CLONE_NEWNET;
    }
    if plan.mounts.is_some() {
        flags |= libc::CLONE_NEWNS | libc::CLONE_NEWIPC;
        if plan.new_pid {
            flags |= libc::CLONE_NEWPID;
        }
    }
    // SAFETY: unshare affects only this (single-threaded, just forked) process.
    check(unsafe { libc::unshare(flags) })?;
    if mode == NsMode::User {
        // The engine is not dumpable, which leaves its /proc files to root; the maps are
        // written with that lifted for a moment (exec lifts it for good).
        // SAFETY: prctl on this process.
        unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 1, 0, 0, 0) };
        let written = write_proc(c"/proc/self/setgroups", c"deny")
            .and_then(|()| write_proc(c"/proc/self/uid_map", &plan.uid_map))
            .and_then(|()| write_proc(c"/proc/self/gid_map", &plan.gid_map));
        // SAFETY: prctl on this process.
        unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) };
        written?;
    }
    if plan.new_net {
        loopback_up();
    }
    if let Some(m) = &plan.mounts {
        private_view(m)?;
        if plan.new_pid {
            fork_init()?;
        }
    }
    Ok(())
}

const CAP_V3: u32 = 0x2008_0522;

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// No capabilities now or after exec, even for root: the bounding set emptied (where we hold
/// CAP_SETPCAP), ambient and inheritable cleared, root's exec-time grant switched off, and
/// `no_new_privs` so that no setuid or file-capability program gains any. Called last.
pub(super) fn drop_capabilities(last_cap: u32) -> io::Result<()> {
    // SAFETY: prctl/capset on this process with values we own.
    unsafe {
        check(libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))?;
        let bits = libc::SECBIT_NOROOT
            | libc::SECBIT_NOROOT_LOCKED
            | libc::SECBIT_NO_SETUID_FIXUP
            | libc::SECBIT_NO_SETUID_FIXUP_LOCKED
            | libc::SECBIT_KEEP_CAPS_LOCKED
            | libc::SECBIT_NO_CAP_AMBIENT_RAISE
            | libc::SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED;
        libc::prctl(libc::PR_SET_SECUREBITS, bits as libc::c_ulong, 0, 0, 0);
        for cap in 0..=last_cap {
            libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0);
        }
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL,
            0,
            0,
            0,
        );
        let header = CapHeader {
            version: CAP_V3,
            pid: 0,
        };
        let data = [CapData {
            effective: 0,
            permitted: 0,
            inheritable: 0,
        }; 2];
        check_long(libc::syscall(
            libc::SYS_capset,
            &header as *const CapHeader,
            data.as_ptr(),
        ))?;
    }
    Ok(())
}

/// The highest capability number of this kernel (for emptying the bounding set).
pub(super) fn last_cap() -> u32 {
    std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(63)
}
