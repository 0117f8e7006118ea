//! One throw-away PostgreSQL 15 cluster per test process, for the suites
//! run with `SHIAN_TEST_DB=postgres`: started on first use with
//! `scripts/pg-cluster.sh start DIR` in a temporary folder, stopped (and
//! the folder removed) when the process exits, by an `atexit` hook — the
//! way `server/src/store/postgres/testing.rs` runs its own. Each
//! [`fresh_database`] is a new empty database on it, owned by `shian`, so
//! the tests of one process run in parallel without seeing each other.
//!
//! PostgreSQL was asked for by name here, so a missing installation is a
//! panic with the way to install it, not a skip.

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use crate::workspace_root;

/// The running cluster of this process.
struct Cluster {
    port: u16,
}

fn pg_bin() -> PathBuf {
    std::env::var_os("PG_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| "/usr/lib/postgresql/15/bin".into())
}

fn script() -> PathBuf {
    workspace_root().join("scripts").join("pg-cluster.sh")
}

/// The port of a `postgres://user@127.0.0.1:PORT/db` URL.
fn port_of(url: &str) -> Option<u16> {
    let rest = url.strip_prefix("postgres://")?;
    let host_port = rest.split('/').next()?;
    let host_port = host_port.rsplit('@').next()?;
    host_port.rsplit_once(':')?.1.parse().ok()
}

fn cluster() -> &'static Cluster {
    static CLUSTER: OnceLock<Cluster> = OnceLock::new();
    CLUSTER.get_or_init(|| {
        assert!(
            pg_bin().join("initdb").exists(),
            "SHIAN_TEST_DB=postgres, but PostgreSQL 15 is not installed ({} has no initdb): run scripts/install-test-deps.sh",
            pg_bin().display()
        );
        let dir = tempfile::Builder::new()
            .prefix("shian-pg-e2e-")
            .tempdir()
            .expect("a temporary folder for the cluster")
            .keep();
        // Registered before the start: a start that fails half-way (the
        // server up, the role not made) is stopped all the same.
        stop_at_exit(dir.clone());
        let out = Command::new("bash")
            .arg(script())
            .arg("start")
            .arg(&dir)
            .output()
            .expect("run scripts/pg-cluster.sh");
        assert!(
            out.status.success(),
            "pg-cluster.sh start {}: {}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        let url = stdout
            .lines()
            .map(str::trim)
            .rfind(|l| !l.is_empty())
            .unwrap_or_default();
        let port = port_of(url)
            .unwrap_or_else(|| panic!("pg-cluster.sh printed no postgres:// URL last: {stdout}"));
        Cluster { port }
    })
}

/// Stops the cluster in `dir` and removes the folder when the process
/// exits (normally: a test binary's `main` returning or `exit`).
fn stop_at_exit(dir: PathBuf) {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    if DIR.set(dir).is_err() {
        return; // one cluster per process: already registered
    }
    extern "C" fn stop() {
        if let Some(dir) = DIR.get() {
            let _ = Command::new("bash")
                .arg(script())
                .arg("stop")
                .arg(dir)
                .output();
            let _ = std::fs::remove_dir_all(dir);
        }
    }
    extern "C" {
        fn atexit(f: extern "C" fn()) -> i32;
    }
    // SAFETY: `stop` is a plain function that lives for the whole program;
    // atexit only stores the pointer.
    unsafe {
        atexit(stop);
    }
}

/// The URL of a new empty database on this process's cluster (started on
/// first use), owned by `shian`: `postgres://shian@127.0.0.1:PORT/tN`.
pub fn fresh_database() -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    let c = cluster();
    let name = format!(
        "t{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    // The cluster's superuser (trust on loopback) makes the database; the
    // server connects as `shian`, its owner.
    let superuser = format!("postgres://postgres@127.0.0.1:{}/postgres", c.port);
    let mut admin = postgres::Client::connect(&superuser, postgres::NoTls)
        .unwrap_or_else(|e| panic!("connect to the test cluster as postgres: {e}"));
    admin
        .batch_execute(&format!("CREATE DATABASE {name} OWNER shian"))
        .unwrap_or_else(|e| panic!("CREATE DATABASE {name}: {e}"));
    format!("postgres://shian@127.0.0.1:{}/{name}", c.port)
}

/// A connection to a database of the cluster, for the harness's looks
/// into what a server stored.
pub fn connect(url: &str) -> postgres::Client {
    postgres::Client::connect(url, postgres::NoTls)
        .unwrap_or_else(|e| panic!("connect to {url}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_port_comes_out_of_the_url() {
        assert_eq!(
            port_of("postgres://shian@127.0.0.1:23456/shian"),
            Some(23456)
        );
        assert_eq!(port_of("postgres://shian@127.0.0.1/shian"), None);
        assert_eq!(port_of("sqlite.db"), None);
    }

    /// A cluster starts, a fresh database answers as `shian`, and two
    /// fresh databases are two.
    #[test]
    fn a_fresh_database_answers() {
        if !pg_bin().join("initdb").exists() {
            eprintln!("skipped: PostgreSQL 15 is not installed (scripts/install-test-deps.sh)");
            return;
        }
        let a = fresh_database();
        let b = fresh_database();
        assert_ne!(a, b);
        assert!(a.starts_with("postgres://shian@127.0.0.1:"), "{a}");
        let mut c = connect(&a);
        let one: i32 = c.query_one("SELECT 1", &[]).unwrap().get(0);
        assert_eq!(one, 1);
        let (user, db): (String, String) = c
            .query_one("SELECT current_user::text, current_database()::text", &[])
            .map(|r| (r.get(0), r.get(1)))
            .unwrap();
        assert_eq!(user, "shian");
        assert_eq!(Some(db.as_str()), a.rsplit('/').next());
        // The owner may make tables (what the server's migrations do).
        c.batch_execute("CREATE TABLE t (x int); INSERT INTO t VALUES (1)")
            .unwrap();
    }
}
