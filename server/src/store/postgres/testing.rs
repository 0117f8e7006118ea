//! Test support, compiled in so that the server's unit tests and its
//! integration suites (`server/tests/common`, with `SHIAN_TEST_DB=postgres`)
//! share it: one throw-away PostgreSQL 15 cluster per test process
//! (`scripts/pg-cluster.sh` in a temporary folder), and a fresh database
//! on it for each test, so tests run in parallel without seeing each
//! other. Without PostgreSQL 15 installed, [`fresh`] panics when `CI` is
//! set and answers `None` (the test prints why and passes) otherwise.
//!
//! The cluster is stopped (and its folder removed) when the test process
//! exits, by an `atexit` hook.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use super::pool::PgOptions;
use super::store::PgStore;

struct Cluster {
    /// `postgres://shian@127.0.0.1:PORT/` without a database name.
    base: String,
}

fn pg_bin() -> PathBuf {
    std::env::var_os("PG_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| "/usr/lib/postgresql/15/bin".into())
}

fn cluster() -> Option<&'static Cluster> {
    static CLUSTER: OnceLock<Option<Cluster>> = OnceLock::new();
    CLUSTER
        .get_or_init(|| {
            if !pg_bin().join("initdb").exists() {
                let why = "PostgreSQL 15 is not installed: run scripts/install-test-deps.sh";
                if std::env::var_os("CI").is_some() {
                    panic!("{why}");
                }
                eprintln!("skipped: {why}");
                return None;
            }
            let dir = tempfile::Builder::new()
                .prefix("shian-pg-unit-")
                .tempdir()
                .expect("temporary folder")
                .keep();
            let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/pg-cluster.sh");
            let out = Command::new("bash")
                .arg(script)
                .arg("start")
                .arg(&dir)
                .output()
                .expect("run scripts/pg-cluster.sh");
            assert!(
                out.status.success(),
                "pg-cluster.sh start: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let url = String::from_utf8_lossy(&out.stdout)
                .lines()
                .last()
                .expect("the script prints the URL last")
                .trim()
                .to_owned();
            let base = url
                .rsplit_once('/')
                .map(|(b, _)| format!("{b}/"))
                .expect("URL with a database");
            stop_at_exit(dir.clone());
            Some(Cluster { base })
        })
        .as_ref()
}

/// Stops the cluster when the test process exits.
fn stop_at_exit(dir: PathBuf) {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    let _ = DIR.set(dir);
    extern "C" fn stop() {
        if let Some(dir) = DIR.get() {
            let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/pg-cluster.sh");
            let _ = Command::new("bash")
                .arg(script)
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

/// A fresh, migrated database of its own: the URL and the store.
pub struct Db {
    pub url: String,
    pub store: PgStore,
}

/// A fresh database for one test (see the module doc for `None`).
pub fn fresh() -> Option<Db> {
    let url = fresh_url()?;
    let store = PgStore::open(
        &url,
        &PgOptions {
            max_connections: 4,
            ..PgOptions::default()
        },
    )
    .expect("open and migrate the test database");
    Some(Db { url, store })
}

/// The URL of a fresh, empty database of its own (see the module doc for
/// `None`); whoever opens it migrates it.
pub fn fresh_url() -> Option<String> {
    static N: AtomicUsize = AtomicUsize::new(0);
    let c = cluster()?;
    let name = format!(
        "t{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    // The cluster's superuser (trust on loopback) makes the database;
    // the store connects as `shian`, its owner.
    let superuser = format!("{}postgres", c.base.replacen("shian@", "postgres@", 1));
    let mut admin = postgres::Client::connect(&superuser, postgres::NoTls)
        .expect("connect to the test cluster");
    admin
        .batch_execute(&format!("CREATE DATABASE {name} OWNER shian"))
        .expect("create a test database");
    Some(format!("{}{name}", c.base))
}

/// Registers a market in district `region` (six digits) for a test.
pub fn add_market(c: &mut impl postgres::GenericClient, id: &str, region: &str) {
    c.execute(
        "INSERT INTO markets (id, name, region_code, created_at) VALUES ($1, $1, $2, now())",
        &[&id, &region],
    )
    .expect("insert a test market");
}

/// Registers a merchant (shop code = `S-` + id, uscc = id) in district
/// `region`, in `market` if given, with its directory row, for a test.
pub fn add_merchant(
    c: &mut impl postgres::GenericClient,
    id: &str,
    region: &str,
    market: Option<&str>,
) {
    let mut tx = c.transaction().expect("begin");
    tx.execute(
        "INSERT INTO merchants (id, market_id, name, uscc, region_code, shop_code, created_at)
         VALUES ($1, $2, $1, $1, $3, 'S-' || $1, now())",
        &[&id, &market, &region],
    )
    .expect("insert a test merchant");
    let seq = super::feed::take_seq(&mut tx, 1).expect("take a seq");
    tx.execute(
        "INSERT INTO directory (merchant_id, name, seq) VALUES ($1, $1, $2)",
        &[&id, &seq],
    )
    .expect("insert a directory row");
    tx.commit().expect("commit");
}

/// Registers an account (`role` as the schema's check names it; password
/// hash `x`) for a test.
pub fn add_user(
    c: &mut impl postgres::GenericClient,
    id: &str,
    role: &str,
    merchant: Option<&str>,
    regions: &[&str],
    markets: &[&str],
) {
    c.execute(
        "INSERT INTO users (id, username, password_hash, role, merchant_id, regions, markets, created_at)
         VALUES ($1, $1, 'x', $2, $3, $4, $5, now())",
        &[
            &id,
            &role,
            &merchant,
            &serde_json::json!(regions),
            &serde_json::json!(markets),
        ],
    )
    .expect("insert a test user");
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh database is migrated and the helpers' rows go in.
    #[test]
    fn a_fresh_database_takes_the_registry() {
        let Some(db) = fresh() else { return };
        let mut c = db.store.pool().get().unwrap();
        add_market(&mut *c, "m1", "350203");
        add_merchant(&mut *c, "shop1", "350203", Some("m1"));
        add_user(&mut *c, "u1", "merchant", Some("shop1"), &[], &[]);
        let n: i64 = c
            .query_one("SELECT count(*) FROM directory WHERE seq >= 1", &[])
            .unwrap()
            .get(0);
        assert_eq!(n, 1);
    }
}
