#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Older events are read back on demand through the server: a control room keeps a bounded
//! window of a long run and asks for the events before it as a person scrolls back.

mod common;

use macrohard::domain::{Actor, RunId};
use macrohard::protocol::wire::AttachTarget;
use macrohard::server::{Start, Starter};
use macrohard::session::Session;
use macrohard::session::socket::SocketSession;
use macrohard::store::Store;
use std::sync::Arc;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_reads_back_the_events_before_its_backlog() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store")).unwrap();
    let run = RunId::from("01HISTORYRUN");
    macrohard::store::synthetic::write_run(&store, &run, 30_000)
        .await
        .unwrap();
    let starter: Starter = Arc::new(|_store: Store, _start: Start, _by: Actor| {
        Box::pin(async { Err("no runs start here".to_owned()) })
    });
    let (socket, server) = common::served::serve(dir.path(), store, starter).await;
    let hello = common::served::hello("viewer", true);
    let viewer = SocketSession::new(socket, hello, AttachTarget::Run("last".into()));
    let attached = viewer.attach(1_000).await.expect("attaches");
    assert_eq!(attached.backlog.first().map(|r| r.seq), Some(29_000));
    let mut view = macrohard::tui::view::View::new(attached.state, &attached.backlog);
    let mut reads = 0;
    while let Some((from, to)) = view.older_range() {
        let older = viewer.history(from, to).await.expect("older events");
        assert_eq!(older.first().map(|r| r.seq), Some(from));
        assert_eq!(older.last().map(|r| r.seq), Some(to));
        view.older(&older);
        reads += 1;
    }
    assert_eq!(view.first_seq, 1);
    assert_eq!(reads, 6, "28,999 events in reads of 5,000");
    server.abort();
}
