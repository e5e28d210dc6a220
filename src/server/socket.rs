//! Where a data directory's server listens: a Unix socket in a private per-user runtime
//! directory (`$XDG_RUNTIME_DIR/macrohard/`, else `<tmp>/macrohard-<uid>/`), named after a hash
//! of the data directory so two data directories never collide. The directory is 0700 and the
//! socket 0600; a directory that is not ours or that others may enter is refused.

use sha2::{Digest, Sha256};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum SocketError {
    #[error("{}: {detail}", path.display())]
    Unsafe { path: PathBuf, detail: String },
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "a server already runs for this data directory (pid {pid}); `macrohard-tui attach` joins it"
    )]
    Running { pid: String },
}

fn uid() -> u32 {
    // SAFETY: getuid cannot fail.
    unsafe { libc::getuid() }
}

/// The private directory the sockets live in, created (0700) when missing.
pub fn runtime_dir() -> Result<PathBuf, SocketError> {
    let dir = match std::env::var_os("XDG_RUNTIME_DIR").filter(|v| !v.is_empty()) {
        Some(base) => PathBuf::from(base).join("macrohard"),
        None => std::env::temp_dir().join(format!("macrohard-{}", uid())),
    };
    let io = |source| SocketError::Io {
        path: dir.clone(),
        source,
    };
    match std::fs::symlink_metadata(&dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&dir)
                .map_err(io)?;
        }
        Err(e) => return Err(io(e)),
        Ok(_) => {}
    }
    let meta = std::fs::symlink_metadata(&dir).map_err(io)?;
    let unsafe_dir = |detail: String| SocketError::Unsafe {
        path: dir.clone(),
        detail,
    };
    if !meta.is_dir() {
        return Err(unsafe_dir("is not a directory".into()));
    }
    if meta.uid() != uid() {
        return Err(unsafe_dir(format!(
            "belongs to uid {}, not to you (uid {}); remove it or set XDG_RUNTIME_DIR",
            meta.uid(),
            uid()
        )));
    }
    if meta.mode() & 0o077 != 0 {
        // Ours, but too open: close it rather than refuse.
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).map_err(io)?;
    }
    Ok(dir)
}

/// The socket of the server for `data_dir`.
pub fn socket_path(data_dir: &Path) -> Result<PathBuf, SocketError> {
    let canonical = std::fs::canonicalize(data_dir).unwrap_or_else(|_| data_dir.to_owned());
    let digest = Sha256::digest(canonical.as_os_str().as_encoded_bytes());
    let name: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    Ok(runtime_dir()?.join(format!("{name}.sock")))
}

/// The file next to the socket that names the server's process.
pub fn pid_path(socket: &Path) -> PathBuf {
    socket.with_extension("pid")
}

/// The server's pid, as its pid file says.
pub fn server_pid(socket: &Path) -> Option<String> {
    std::fs::read_to_string(pid_path(socket))
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}

/// Binds the socket (0600). A socket nobody answers on is stale (its server was killed) and is
/// replaced; one that answers belongs to a live server.
pub fn bind(path: &Path) -> Result<tokio::net::UnixListener, SocketError> {
    let io = |source| SocketError::Io {
        path: path.to_owned(),
        source,
    };
    if std::fs::symlink_metadata(path).is_ok() {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(SocketError::Running {
                pid: server_pid(path).unwrap_or_else(|| "unknown".into()),
            });
        }
        tracing::warn!(socket = %path.display(), "replacing a stale socket");
        std::fs::remove_file(path).map_err(io)?;
    }
    let listener = tokio::net::UnixListener::bind(path).map_err(io)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(io)?;
    std::fs::write(pid_path(path), format!("{}\n", std::process::id())).map_err(io)?;
    Ok(listener)
}

/// Removes the socket and pid file when the server stops.
pub fn unbind(path: &Path) {
    let _ = std::fs::remove_file(path);
    let _ = std::fs::remove_file(pid_path(path));
}

/// Why the process at the other end of `stream` may not steer runs, or `None` when it may.
/// It may only when it is a process of the server's own network, PID and mount namespaces: an
/// agent's sandboxed command runs in others. Fails closed: a peer that cannot be identified
/// (it has exited, having passed the socket on; `/proc` cannot be read) is refused too.
pub fn peer_refusal(stream: &tokio::net::UnixStream) -> Option<String> {
    use std::os::fd::AsRawFd;
    let pid = stream.peer_cred().ok().and_then(|c| c.pid());
    refusal(pid, peer_pidfd(stream.as_raw_fd()))
}

/// `SO_PEERPIDFD` (Linux 6.5): a handle on the very process that connected, which no later
/// process can take the place of.
fn peer_pidfd(fd: std::os::fd::RawFd) -> Option<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    const SO_PEERPIDFD: libc::c_int = 77;
    let mut pidfd: libc::c_int = -1;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: getsockopt on a socket we hold, into an int we own.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            SO_PEERPIDFD,
            (&mut pidfd as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    // SAFETY: on success the kernel gave us this descriptor to own.
    (rc == 0 && pidfd >= 0).then(|| unsafe { std::os::fd::OwnedFd::from_raw_fd(pidfd) })
}

/// The decision for a peer process `pid`, with its pidfd where the kernel gives one.
fn refusal(pid: Option<i32>, pidfd: Option<std::os::fd::OwnedFd>) -> Option<String> {
    use std::os::fd::AsRawFd;
    let Some(pid) = pid.filter(|p| *p > 0) else {
        return Some("the client's process cannot be identified".into());
    };
    for ns in ["net", "pid", "mnt"] {
        let theirs = std::fs::read_link(format!("/proc/{pid}/ns/{ns}"));
        let ours = std::fs::read_link(format!("/proc/self/ns/{ns}"));
        match (theirs, ours) {
            (Ok(t), Ok(o)) if t == o => {}
            (Ok(_), Ok(_)) => {
                return Some(format!(
                    "the client runs in another {ns} namespace (an agent's sandbox)"
                ));
            }
            (Err(_), _) | (_, Err(_)) => {
                return Some(
                    "the client's process is gone or cannot be inspected (it may have passed the socket on)".into(),
                );
            }
        }
    }
    // What was read belongs to the process that connected only if it is still alive now: a
    // pid can be reused once its process has exited.
    if let Some(fd) = pidfd {
        // SAFETY: pidfd_send_signal with signal 0 only checks that the process lives.
        let alive = unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                fd.as_raw_fd(),
                0,
                std::ptr::null::<libc::siginfo_t>(),
                0,
            )
        } == 0;
        if !alive {
            return Some("the client's process has exited (it passed the socket on)".into());
        }
    }
    None
}

/// The uid of the process at the other end of `stream`.
pub fn peer_uid(stream: &tokio::net::UnixStream) -> Option<u32> {
    stream.peer_cred().ok().map(|c| c.uid())
}

/// This process's uid.
pub fn my_uid() -> u32 {
    uid()
}

/// The login name of `uid`, from the password database.
pub fn user_name(uid: u32) -> String {
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut buf = vec![0u8; 4096];
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the call; the name is read only when it succeeded.
    let rc = unsafe {
        libc::getpwuid_r(
            uid,
            &mut pwd,
            buf.as_mut_ptr().cast(),
            buf.len(),
            &mut result,
        )
    };
    if rc == 0 && !result.is_null() && !pwd.pw_name.is_null() {
        // SAFETY: pw_name points into `buf`, NUL-terminated by getpwuid_r.
        let name = unsafe { std::ffi::CStr::from_ptr(pwd.pw_name) };
        return name.to_string_lossy().into_owned();
    }
    format!("uid{uid}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_live_process_of_our_namespaces_is_trusted_and_unknown_peers_are_refused() {
        let me = std::process::id() as i32;
        assert_eq!(refusal(Some(me), None), None);
        assert!(refusal(None, None).is_some());
        assert!(refusal(Some(0), None).is_some());
        // A process that connected and exited: whatever its pid now names, it is refused.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id() as i32;
        child.wait().unwrap();
        let why = refusal(Some(pid), None).expect("refused");
        assert!(why.contains("gone"), "{why}");
    }

    #[tokio::test]
    async fn a_peer_whose_connecting_process_exited_is_refused_through_its_pidfd() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sock");
        let listener = tokio::net::UnixListener::bind(&path).unwrap();
        // The child connects, hands nothing back, and exits; its socket outlives it in the
        // kernel until accepted.
        let status = std::process::Command::new("python3")
            .arg("-c")
            .arg(format!(
                "import socket, os; s = socket.socket(socket.AF_UNIX); s.connect({:?}); os._exit(0) if os.fork() == 0 else None; import time; time.sleep(0.05)",
                path.display().to_string()
            ))
            .status();
        let Ok(status) = status else {
            eprintln!("skipping: no python3");
            return;
        };
        assert!(status.success());
        let (stream, _) = listener.accept().await.unwrap();
        let why = peer_refusal(&stream).expect("a peer that has exited is refused");
        assert!(why.contains("gone") || why.contains("exited"), "{why}");
    }

    #[test]
    fn sockets_differ_by_data_directory_and_the_directory_is_private() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let (pa, pb) = (
            socket_path(a.path()).unwrap(),
            socket_path(b.path()).unwrap(),
        );
        assert_ne!(pa, pb);
        assert_eq!(pa, socket_path(a.path()).unwrap(), "stable");
        let mode = std::fs::metadata(pa.parent().unwrap()).unwrap().mode();
        assert_eq!(mode & 0o077, 0, "{mode:o}");
    }
}
