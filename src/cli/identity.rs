//! Who is at the keyboard, for attributing approvals and commands.

use crate::domain::Actor;

fn hostname() -> Option<String> {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname writes at most that many bytes.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return None;
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    Some(String::from_utf8_lossy(&buf[..end]).into_owned()).filter(|h| !h.is_empty())
}

/// The login name of the real user: `$USER`, else the password database, else `uid<N>`.
fn user() -> String {
    if let Ok(u) = std::env::var("USER").or_else(|_| std::env::var("LOGNAME")) {
        if !u.is_empty() {
            return u;
        }
    }
    crate::server::socket::user_name(crate::server::socket::my_uid())
}

/// The person running this process; `auto` marks approvals given by `--yes`.
pub fn me(auto: bool) -> Actor {
    Actor::Human {
        user: user(),
        host: hostname(),
        auto,
    }
}
