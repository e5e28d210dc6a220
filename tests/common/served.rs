//! A server on a temporary socket, started in the test's runtime with a starter of its own.

use macrohard::server::{self, Lifetime, ServerConfig, Starter};
use macrohard::session::socket::Hello;
use macrohard::store::Store;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Serves `store` on a socket in `dir`; returns once the socket accepts connections.
pub async fn serve(
    dir: &Path,
    store: Store,
    starter: Starter,
) -> (PathBuf, tokio::task::JoinHandle<Result<(), String>>) {
    let socket = dir.join("s.sock");
    let config = ServerConfig {
        socket: socket.clone(),
        lifetime: Lifetime::Forever,
        initial: None,
        client_queue: server::CLIENT_QUEUE,
    };
    let task = tokio::spawn(server::serve(store, starter, config));
    for _ in 0..200 {
        if tokio::net::UnixStream::connect(&socket).await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    (socket, task)
}

/// A person's hello from the host `host`.
pub fn hello(host: &str, read_only: bool) -> Hello {
    Hello {
        user: "tester".into(),
        host: Some(host.into()),
        read_only,
        auto: !read_only,
        records_only: false,
    }
}
