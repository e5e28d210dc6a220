//! The real binary in a pseudo-terminal, its screen kept by a vt100 parser.
#![allow(dead_code)]

use portable_pty::{Child, CommandBuilder, MasterPty, PtySize, native_pty_system};
use std::io::{Read, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub struct Pty {
    pub child: Box<dyn Child + Send + Sync>,
    writer: Arc<Mutex<Box<dyn Write + Send>>>,
    master: Option<Box<dyn MasterPty + Send>>,
    /// Set by [`Pty::hang_up`]: the reader lets go of the terminal at its next read.
    hanging_up: Arc<AtomicBool>,
    /// When the last handle of the terminal's master side was closed.
    hung_up_at: Arc<Mutex<Option<Instant>>>,
    pub parser: Arc<Mutex<vt100::Parser>>,
    pub bytes: Arc<AtomicUsize>,
    /// Synchronized-output begins (`ESC [ ? 2026 h`) written so far: the frames drawn.
    pub frames: Arc<AtomicUsize>,
    data: std::path::PathBuf,
}

/// What begins a frame in synchronized output (DEC mode 2026).
const FRAME_BEGIN: &[u8] = b"\x1b[?2026h";

/// Counts [`FRAME_BEGIN`] in a stream read in pieces: `tail` keeps the end of the last piece,
/// so a sequence split between two reads counts once.
fn count_frames(tail: &mut Vec<u8>, piece: &[u8]) -> usize {
    tail.extend_from_slice(piece);
    let n = tail
        .windows(FRAME_BEGIN.len())
        .filter(|w| *w == FRAME_BEGIN)
        .count();
    let keep = tail.len().min(FRAME_BEGIN.len() - 1);
    tail.drain(..tail.len() - keep);
    n
}

impl Drop for Pty {
    /// The control room detaches and leaves its run to the server: stop that server, so no
    /// test leaves a run going on in the background.
    fn drop(&mut self) {
        let _ = self.child.kill();
        stop_server(&self.data);
    }
}

impl Pty {
    pub fn spawn(data: &Path, args: &[&str], env: &[(&str, &str)], cols: u16, rows: u16) -> Pty {
        let bin = Path::new(env!("CARGO_BIN_EXE_macrohard-tui"));
        Pty::spawn_bin(bin, data, args, env, cols, rows)
    }

    /// As [`Pty::spawn`], with another build of the binary (a benchmark's older commit).
    pub fn spawn_bin(
        bin: &Path,
        data: &Path,
        args: &[&str],
        env: &[(&str, &str)],
        cols: u16,
        rows: u16,
    ) -> Pty {
        let pair = native_pty_system()
            .openpty(PtySize {
                rows,
                cols,
                pixel_width: 0,
                pixel_height: 0,
            })
            .unwrap();
        let mut cmd = CommandBuilder::new(bin);
        cmd.arg("--data-dir");
        cmd.arg(data);
        cmd.args(args);
        cmd.env("TERM", "xterm-256color");
        cmd.env("XDG_CONFIG_HOME", "/nonexistent-macrohard-test-config");
        cmd.env_remove("NO_COLOR");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = pair.slave.spawn_command(cmd).unwrap();
        drop(pair.slave);
        let mut reader = pair.master.try_clone_reader().unwrap();
        let writer = pair.master.take_writer().unwrap();
        let parser = Arc::new(Mutex::new(vt100::Parser::new(rows, cols, 0)));
        let bytes = Arc::new(AtomicUsize::new(0));
        let frames = Arc::new(AtomicUsize::new(0));
        let (p, b, f) = (parser.clone(), bytes.clone(), frames.clone());
        let hanging_up = Arc::new(AtomicBool::new(false));
        let hung_up_at = Arc::new(Mutex::new(None));
        let (stop, at) = (hanging_up.clone(), hung_up_at.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            let mut tail = Vec::new();
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                if stop.load(Ordering::SeqCst) {
                    // The last handle of the master side: closing it hangs the terminal up.
                    drop(reader);
                    *at.lock().unwrap() = Some(Instant::now());
                    return;
                }
                f.fetch_add(count_frames(&mut tail, &buf[..n]), Ordering::Relaxed);
                b.fetch_add(n, Ordering::Relaxed);
                p.lock().unwrap().process(&buf[..n]);
            }
        });
        Pty {
            child,
            writer: Arc::new(Mutex::new(writer)),
            master: Some(pair.master),
            hanging_up,
            hung_up_at,
            parser,
            bytes,
            frames,
            data: data.to_owned(),
        }
    }

    /// Closes the terminal as a dropped SSH connection or a closed window does: every handle of
    /// its master side goes (the reader's at its next read of the program's output). Returns
    /// when the terminal was hung up; panics when the program writes nothing for 5 s.
    pub fn hang_up(&mut self) -> Instant {
        self.hanging_up.store(true, Ordering::SeqCst);
        *self.writer.lock().unwrap() = Box::new(std::io::sink());
        self.master = None;
        let start = Instant::now();
        loop {
            if let Some(at) = *self.hung_up_at.lock().unwrap() {
                return at;
            }
            assert!(
                start.elapsed() < Duration::from_secs(5),
                "the program wrote nothing to let the reader go"
            );
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    pub fn screen(&self) -> String {
        self.parser.lock().unwrap().screen().contents()
    }

    /// Types `text`; panics when the program has not read it within 30 s (a program that
    /// stopped reading would otherwise block the test for ever on a full terminal buffer).
    pub fn send(&mut self, text: &str) {
        let writer = self.writer.clone();
        let bytes = text.as_bytes().to_vec();
        let (done, written) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut w = writer.lock().unwrap();
            let r = w.write_all(&bytes).and_then(|()| w.flush());
            let _ = done.send(r.is_ok());
        });
        match written.recv_timeout(Duration::from_secs(30)) {
            Ok(true) => {}
            Ok(false) => panic!(
                "the terminal is closed; the screen shows:\n{}",
                self.screen()
            ),
            Err(_) => panic!(
                "the program stopped reading its input; the screen shows:\n{}",
                self.screen()
            ),
        }
    }

    /// Waits until the screen satisfies `pred`; panics with the screen after `timeout`.
    pub fn wait_for(&self, what: &str, timeout: Duration, pred: impl Fn(&str) -> bool) -> Duration {
        let start = Instant::now();
        loop {
            let s = self.screen();
            if pred(&s) {
                return start.elapsed();
            }
            assert!(
                start.elapsed() < timeout,
                "timed out waiting for {what}; the screen shows:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Waits for the process to exit; returns how long it took.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<Duration> {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if self.child.try_wait().unwrap().is_some() {
                return Some(start.elapsed());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }
}

/// The pid of the server of `data`, if one runs.
pub fn server_pid(data: &Path) -> Option<i32> {
    let socket = macrohard::server::socket::socket_path(data).ok()?;
    std::os::unix::net::UnixStream::connect(&socket).ok()?;
    macrohard::server::socket::server_pid(&socket)?.parse().ok()
}

/// Stops the server of `data` (SIGTERM) and waits until it is gone.
pub fn stop_server(data: &Path) {
    let Some(pid) = server_pid(data) else { return };
    // SAFETY: signalling a process this test started (through the binary).
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    // SAFETY: signal 0 only asks whether the process exists.
    while unsafe { libc::kill(pid, 0) } == 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
