//! Two processes writing one SQLite file: a server's write transaction that
//! meets another process's write waits for it (within the busy timeout)
//! instead of failing.
//!
//! The CI run of 2026-12-01 lost `keys::two_servers_starting_at_once_share_
//! the_keys` this way: the second server's full alert pass at start read,
//! the first server committed, and the second's upgrade to a write answered
//! SQLITE_BUSY at once — SQLite cannot wait there, since the snapshot the
//! transaction read is already stale. Only a transaction that takes the
//! write lock before it reads can wait.

use std::time::Duration;

use chrono::Utc;
use shian_server::store::alerts::AlertStore;
use shian_server::store::sqlite::{SqliteOptions, SqliteStore};

/// Another connection holds the write lock, writes, and commits while the
/// server's full pass is under way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_pass_waits_for_another_process_write() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shian.db");
    let store = SqliteStore::open(&path, &SqliteOptions::default()).unwrap();

    let other = rusqlite::Connection::open(&path).unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    other
        .execute(
            "INSERT INTO alert_marks (merchant_id) VALUES ('m-other')",
            [],
        )
        .unwrap();
    let commit = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        other.execute_batch("COMMIT").unwrap();
    });

    let pass = store.scan_alerts(Utc::now()).await;
    commit.join().unwrap();
    let out = pass.expect("the full pass waits for the other writer");
    assert_eq!(out.open, 0);

    // And the incremental pass, which reads the marks before it writes.
    let other = rusqlite::Connection::open(&path).unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    other
        .execute(
            "INSERT INTO alert_marks (merchant_id) VALUES ('m-later')",
            [],
        )
        .unwrap();
    let commit = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        other.execute_batch("COMMIT").unwrap();
    });
    let pass = store.refresh_alerts(Utc::now()).await;
    commit.join().unwrap();
    pass.expect("the incremental pass waits for the other writer");
    let left: i64 = rusqlite::Connection::open(&path)
        .unwrap()
        .query_row("SELECT COUNT(*) FROM alert_marks", [], |r| r.get(0))
        .unwrap();
    assert_eq!(
        left, 0,
        "the pass saw the other process's mark and cleared it"
    );
}
