//! The process's heap. glibc gives threads that allocate at once arenas of their own (up to
//! eight per core), and an arena keeps what was freed in it for its next allocations rather than
//! give it back to the system. Records read for a client (an export, a backlog) are made on one
//! of the runtime's threads and freed on another, so a long export spread over many arenas
//! kept most of what it ever held: a 1M-event export through the server left it at 248 MB with
//! glibc's default arenas and at 145 MB with one (BENCHMARKS.md, "Memory and times by run
//! length"). The server bounds its arenas at start and trims the heap after bulk sends.

/// Arenas of the process: one per core is enough for a server's few busy threads.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const ARENAS: libc::c_int = 1;

/// Bounds glibc's arenas; called first thing, before the runtime's threads start.
pub fn bound_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; any value is accepted or refused.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, ARENAS);
    }
}

/// Gives the heap's free memory back to the system (after an export, a backlog).
pub fn give_back() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory of the allocator.
    unsafe {
        libc::malloc_trim(0);
    }
}
