//! The PostgreSQL schema on a live PostgreSQL 15, checked against Citus's
//! rules — Citus itself is not installable on the project's machines, so
//! its rules are read off the catalogue instead:
//! * every table is declared distributed (with its column) or reference,
//!   exactly once (`schema::DISTRIBUTED`, `schema::REFERENCE`);
//! * a distributed table's distribution column exists, is NOT NULL, and is
//!   a key column of every primary key, unique index and exclusion
//!   constraint; the tables of one co-location group give it one type;
//!   identity columns of distributed tables are `bigint`;
//! * a foreign key from a distributed table goes to a reference table, or
//!   to a table of its co-location group with the distribution column
//!   matched to the distribution column; a reference table's foreign keys
//!   go to reference tables only;
//! * each list is in an order `create_reference_table` /
//!   `create_distributed_table` can take (referenced tables first).
//!
//! The same check runs on deliberately bad tables in a scratch schema, and
//! must find each fault: a check that cannot fail proves nothing.
//!
//! The cluster comes from `scripts/pg-cluster.sh` in a temporary folder
//! and is stopped by a guard, also when a test panics. Without PostgreSQL
//! 15 (`scripts/install-test-deps.sh` installs it) the tests fail when
//! `CI` is set and are skipped with a printed reason otherwise.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Barrier};

use postgres::{Client, NoTls};
use shian_server::store::postgres::schema::{self, DISTRIBUTED, REFERENCE};
use shian_server::store::postgres::{migrate, PgError, PgOptions, PgPool};
use shian_server::store::StoreError;

/// Debian's PostgreSQL 15; `PG_BIN` points the test and the script
/// elsewhere (the same variable as `scripts/pg-cluster.sh`).
fn pg_bin() -> PathBuf {
    std::env::var_os("PG_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| "/usr/lib/postgresql/15/bin".into())
}

/// A throw-away cluster, stopped when dropped.
struct Cluster {
    dir: tempfile::TempDir,
    url: String,
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/pg-cluster.sh")
}

impl Cluster {
    /// `None` (with the reason printed) when PostgreSQL is not installed
    /// and this is not CI.
    fn start() -> Option<Cluster> {
        let initdb = pg_bin().join("initdb");
        if !initdb.exists() {
            let why = format!(
                "PostgreSQL 15 is not installed ({} missing): run scripts/install-test-deps.sh",
                initdb.display()
            );
            if std::env::var_os("CI").is_some() {
                panic!("{why}");
            }
            eprintln!("skipped: {why}");
            return None;
        }
        let dir = tempfile::tempdir().expect("temporary folder");
        let out = Command::new("bash")
            .arg(script())
            .arg("start")
            .arg(dir.path())
            .output()
            .expect("run scripts/pg-cluster.sh");
        // From here on the guard stops the cluster, whatever happens.
        let mut cluster = Cluster {
            dir,
            url: String::new(),
        };
        assert!(
            out.status.success(),
            "pg-cluster.sh start failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        cluster.url = stdout
            .lines()
            .last()
            .filter(|l| l.starts_with("postgres://"))
            .unwrap_or_else(|| panic!("no URL on the last line of: {stdout}"))
            .to_owned();
        Some(cluster)
    }

    fn client(&self) -> Client {
        Client::connect(&self.url, NoTls).expect("connect")
    }
}

/// A cluster with the schema applied, and a client on it.
fn migrated() -> Option<(Cluster, Client)> {
    let cluster = Cluster::start()?;
    let mut c = cluster.client();
    migrate::migrate(&mut c).unwrap();
    Some((cluster, c))
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let out = Command::new("bash")
            .arg(script())
            .arg("stop")
            .arg(self.dir.path())
            .output();
        match out {
            Ok(o) if o.status.success() => {}
            Ok(o) => eprintln!(
                "pg-cluster.sh stop failed: {}",
                String::from_utf8_lossy(&o.stderr)
            ),
            Err(e) => eprintln!("pg-cluster.sh stop: {e}"),
        }
    }
}

// ---------------------------------------------------------------------------
// The check
// ---------------------------------------------------------------------------

/// A column as `information_schema.columns` tells it.
struct Column {
    attnum: i16,
    not_null: bool,
    data_type: String,
    identity: bool,
}

fn columns(c: &mut Client, schema: &str, table: &str) -> BTreeMap<String, Column> {
    // `ordinal_position` is the attribute number (pg_attribute.attnum) for
    // a table's columns, which is what pg_index and pg_constraint list.
    c.query(
        "SELECT column_name::text, ordinal_position::int2, is_nullable = 'NO', data_type::text, is_identity = 'YES'
         FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2",
        &[&schema, &table],
    )
    .unwrap()
    .iter()
    .map(|r| {
        (
            r.get(0),
            Column {
                attnum: r.get(1),
                not_null: r.get(2),
                data_type: r.get(3),
                identity: r.get(4),
            },
        )
    })
    .collect()
}

/// Every way the tables of `schema` break Citus's rules under the two
/// lists, one line each; empty when they are ready.
fn citus_violations(
    c: &mut Client,
    schema: &str,
    distributed: &[(&str, &str)],
    reference: &[&str],
) -> Vec<String> {
    let mut out = Vec::new();
    let tables: Vec<String> = c
        .query(
            "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') ORDER BY 1",
            &[&schema],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let dist: BTreeMap<&str, &str> = distributed.iter().copied().collect();
    for t in &tables {
        let n = usize::from(dist.contains_key(t.as_str()))
            + usize::from(reference.contains(&t.as_str()));
        if n != 1 {
            out.push(format!(
                "{t}: declared {n} times (must be in exactly one of DISTRIBUTED and REFERENCE)"
            ));
        }
    }
    for t in dist.keys().copied().chain(reference.iter().copied()) {
        if !tables.iter().any(|x| x == t) {
            out.push(format!("{t}: declared but not in the database"));
        }
    }

    // The distribution column of each distributed table: its attnum.
    let mut dist_att: BTreeMap<&str, i16> = BTreeMap::new();
    let mut group_type: BTreeMap<&str, (String, &str)> = BTreeMap::new();
    for (t, col) in distributed {
        let cols = columns(c, schema, t);
        let Some(dc) = cols.get(*col) else {
            out.push(format!("{t}: distribution column {col} does not exist"));
            continue;
        };
        dist_att.insert(t, dc.attnum);
        if !dc.not_null {
            out.push(format!("{t}: distribution column {col} is nullable"));
        }
        match group_type.get(col) {
            Some((ty, first)) if *ty != dc.data_type => out.push(format!(
                "{t}: {col} is {} but {first}.{col} is {ty} (one co-location group, one type)",
                dc.data_type
            )),
            Some(_) => {}
            None => {
                group_type.insert(col, (dc.data_type.clone(), t));
            }
        }
        for (name, column) in &cols {
            if column.identity && column.data_type != "bigint" {
                out.push(format!(
                    "{t}: identity column {name} is {} (Citus needs bigint)",
                    column.data_type
                ));
            }
        }
        let indexes = c
            .query(
                "SELECT i.relname::text, x.indkey::int2[], x.indnkeyatts::int4
                 FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
                 JOIN pg_class t ON t.oid = x.indrelid JOIN pg_namespace n ON n.oid = t.relnamespace
                 WHERE n.nspname = $1 AND t.relname = $2 AND (x.indisunique OR x.indisexclusion)",
                &[&schema, t],
            )
            .unwrap();
        for r in indexes {
            let name: String = r.get(0);
            let keys: Vec<i16> = r.get(1);
            let nkeys = usize::try_from(r.get::<_, i32>(2)).unwrap();
            if !keys[..nkeys.min(keys.len())].contains(&dc.attnum) {
                out.push(format!(
                    "{t}: unique index {name} lacks the distribution column {col}"
                ));
            }
        }
    }

    let position = |t: &str| {
        distributed
            .iter()
            .position(|(d, _)| *d == t)
            .or_else(|| reference.iter().position(|r| *r == t))
    };
    let fks = c
        .query(
            "SELECT con.conname::text, src.relname::text, dst.relname::text, con.conkey::int2[], con.confkey::int2[]
             FROM pg_constraint con
             JOIN pg_class src ON src.oid = con.conrelid
             JOIN pg_class dst ON dst.oid = con.confrelid
             JOIN pg_namespace n ON n.oid = src.relnamespace
             WHERE con.contype = 'f' AND n.nspname = $1 ORDER BY 1",
            &[&schema],
        )
        .unwrap();
    for r in fks {
        let (name, src, dst): (String, String, String) = (r.get(0), r.get(1), r.get(2));
        let (from, to): (Vec<i16>, Vec<i16>) = (r.get(3), r.get(4));
        let (src_dist, dst_dist) = (dist.get(src.as_str()), dist.get(dst.as_str()));
        let dst_ref = reference.contains(&dst.as_str());
        match (src_dist, dst_dist) {
            (Some(_), None) if dst_ref => {}
            (Some(sc), Some(dc)) => {
                if sc != dc {
                    out.push(format!(
                        "{src}: foreign key {name} to {dst} crosses co-location groups ({sc} vs {dc})"
                    ));
                } else {
                    let (sa, da) = (dist_att.get(src.as_str()), dist_att.get(dst.as_str()));
                    let matched = from
                        .iter()
                        .zip(&to)
                        .any(|(f, t)| Some(f) == sa && Some(t) == da);
                    if !matched {
                        out.push(format!(
                            "{src}: foreign key {name} to {dst} does not include the distribution column {sc} on both sides"
                        ));
                    }
                }
            }
            (Some(_), None) => out.push(format!(
                "{src}: foreign key {name} to {dst}, which is neither reference nor distributed"
            )),
            (None, Some(_)) => out.push(format!(
                "{src}: reference table with foreign key {name} to the distributed table {dst}"
            )),
            (None, None) => {}
        }
        // Both in one list: the referenced one must come first.
        let same_list = src_dist.is_some() == dst_dist.is_some();
        if let (true, Some(ps), Some(pd)) = (same_list, position(&src), position(&dst)) {
            if pd > ps && src != dst {
                out.push(format!(
                    "{src}: listed before {dst}, which its foreign key {name} references"
                ));
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

fn schema_migrations(c: &mut Client) -> Vec<(String, i64)> {
    c.query(
        "SELECT component, version FROM schema_migrations ORDER BY component, version",
        &[],
    )
    .unwrap()
    .iter()
    .map(|r| (r.get(0), r.get(1)))
    .collect()
}

/// Three instances migrating one new database at the same moment, then
/// twice more: each migration applied and recorded once, and the schema
/// passes the Citus check. Then the pool and its error mapping on the live
/// database.
#[test]
fn migrations_race_once_and_the_schema_is_ready_for_citus() {
    let Some(cluster) = Cluster::start() else {
        return;
    };
    let barrier = Arc::new(Barrier::new(3));
    let racers: Vec<_> = (0..3)
        .map(|_| {
            let (url, barrier) = (cluster.url.clone(), Arc::clone(&barrier));
            std::thread::spawn(move || {
                let mut c = Client::connect(&url, NoTls).expect("connect");
                barrier.wait();
                migrate::migrate(&mut c)
            })
        })
        .collect();
    let want: Vec<(&str, i64)> = schema::COMPONENTS
        .iter()
        .map(|(name, steps)| (*name, steps.len() as i64))
        .collect();
    for r in racers {
        let versions = r.join().expect("no panic").expect("migrated");
        assert_eq!(versions, want);
    }
    let mut c = cluster.client();
    let applied = schema_migrations(&mut c);
    let expected: usize = schema::COMPONENTS.iter().map(|(_, s)| s.len()).sum();
    assert_eq!(applied.len(), expected, "{applied:?}");
    for _ in 0..2 {
        assert_eq!(migrate::migrate(&mut c).unwrap(), want);
    }
    assert_eq!(schema_migrations(&mut c), applied, "nothing applied again");
    // Plain PostgreSQL: nothing handed to Citus.
    assert_eq!(migrate::distribute_on_citus(&mut c).unwrap(), 0);

    let faults = citus_violations(&mut c, "public", DISTRIBUTED, REFERENCE);
    assert!(
        faults.is_empty(),
        "not ready for Citus:\n{}",
        faults.join("\n")
    );

    // A database migrated by a newer binary is refused.
    c.execute(
        "INSERT INTO schema_migrations (component, version) VALUES ('server', 99)",
        &[],
    )
    .unwrap();
    let e = migrate::migrate(&mut c).unwrap_err();
    assert!(
        matches!(e, StoreError::Migration { version: 99, .. }),
        "{e}"
    );
    c.execute(
        "DELETE FROM schema_migrations WHERE component = 'server' AND version = 99",
        &[],
    )
    .unwrap();

    pool_and_errors(&cluster.url);
}

/// `PgPool::call` on the migrated database; a unique and a foreign-key
/// violation come back distinguishable; a connection killed under a call
/// is a retryable failure (Busy), and the pool serves the next call.
fn pool_and_errors(url: &str) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let pool = PgPool::connect(url, PgOptions::default()).await.unwrap();
        let n: i64 = pool
            .call(|c| Ok(c.query_one("SELECT count(*) FROM markets", &[])?.get(0)))
            .await
            .unwrap();
        assert_eq!(n, 0);
        pool.call(|c| {
            c.execute(
                "INSERT INTO markets (id, name, region_code, created_at) VALUES ('m1', '八一市场', '350203', now())",
                &[],
            )?;
            Ok(())
        })
        .await
        .unwrap();

        let dup = pool
            .call(|c| {
                Ok(c
                    .execute(
                        "INSERT INTO markets (id, name, region_code, created_at) VALUES ('m1', 'again', '350203', now())",
                        &[],
                    )
                    .map_err(PgError::from))
            })
            .await
            .unwrap();
        match dup {
            Err(PgError::Unique { constraint, .. }) => assert_eq!(constraint, "markets_pkey"),
            other => panic!("{other:?}"),
        }
        let orphan = pool
            .call(|c| {
                c.execute(
                    "INSERT INTO merchants (id, market_id, name, uscc, region_code, shop_code, created_at)
                     VALUES ('x1', 'no-such-market', '张三水产', '91350200MA00000000', '350203', 'S1', now())",
                    &[],
                )?;
                Ok(())
            })
            .await
            .unwrap_err();
        match orphan {
            StoreError::Conflict { code, message } => {
                assert_eq!(code, "foreign_key_violation");
                assert!(message.contains("merchants_market_id_fkey"), "{message}");
            }
            other => panic!("{other:?}"),
        }

        let killed = pool
            .call(|c| {
                c.execute("SELECT pg_terminate_backend(pg_backend_pid())", &[])?;
                Ok(())
            })
            .await
            .unwrap_err();
        assert!(matches!(killed, StoreError::Busy), "{killed:?}");
        // The broken connection is not handed out again.
        for _ in 0..3 {
            let one: i32 = pool
                .call(|c| Ok(c.query_one("SELECT 1", &[])?.get(0)))
                .await
                .unwrap();
            assert_eq!(one, 1);
        }
    });
}

/// The check finds each fault in deliberately bad tables.
#[test]
fn the_check_fails_on_bad_tables() {
    let Some(cluster) = Cluster::start() else {
        return;
    };
    let mut c = cluster.client();
    c.batch_execute(
        "CREATE SCHEMA scratch;
         -- nullable distribution column; a primary key without it
         CREATE TABLE scratch.bad_dist (region_code text, id text PRIMARY KEY);
         -- a foreign key to a distributed table without the distribution column
         CREATE TABLE scratch.bad_child (
             region_code text NOT NULL, id text NOT NULL, parent_id text REFERENCES scratch.bad_dist(id),
             PRIMARY KEY (region_code, id));
         -- a unique index without the column; an integer identity
         CREATE TABLE scratch.bad_int (
             region_code text NOT NULL, n integer GENERATED ALWAYS AS IDENTITY, code text,
             PRIMARY KEY (region_code, n));
         CREATE UNIQUE INDEX bad_int_code ON scratch.bad_int (code);
         -- another group's column of another type
         CREATE TABLE scratch.bad_type (region_code integer NOT NULL PRIMARY KEY);
         -- a reference table pointing at a distributed one
         CREATE TABLE scratch.bad_ref (id text PRIMARY KEY, region_code text, child_id text,
             FOREIGN KEY (region_code, child_id) REFERENCES scratch.bad_child(region_code, id));
         -- a table nobody declared
         CREATE TABLE scratch.stray (id text PRIMARY KEY);
         -- a good pair: a co-located foreign key on the distribution column
         CREATE TABLE scratch.good_parent (region_code text NOT NULL, id text NOT NULL, PRIMARY KEY (region_code, id));
         CREATE TABLE scratch.good_child (region_code text NOT NULL, id text NOT NULL, parent_id text,
             PRIMARY KEY (region_code, id),
             FOREIGN KEY (region_code, parent_id) REFERENCES scratch.good_parent(region_code, id));",
    )
    .unwrap();
    let distributed = [
        ("bad_dist", "region_code"),
        ("bad_child", "region_code"),
        ("bad_int", "region_code"),
        ("bad_type", "region_code"),
        // listed before the table it references
        ("good_child", "region_code"),
        ("good_parent", "region_code"),
    ];
    let reference = ["bad_ref", "missing_table"];
    let faults = citus_violations(&mut c, "scratch", &distributed, &reference);
    let text = faults.join("\n");
    for want in [
        "bad_dist: distribution column region_code is nullable",
        "bad_dist: unique index bad_dist_pkey lacks the distribution column region_code",
        "bad_child: foreign key bad_child_parent_id_fkey to bad_dist does not include the distribution column",
        "bad_int: unique index bad_int_code lacks the distribution column",
        "bad_int: identity column n is integer",
        "bad_type: region_code is integer but bad_dist.region_code is text",
        "bad_ref: reference table with foreign key bad_ref_region_code_child_id_fkey to the distributed table bad_child",
        "stray: declared 0 times",
        "missing_table: declared but not in the database",
        "good_child: listed before good_parent",
    ] {
        assert!(text.contains(want), "missing {want:?} in:\n{text}");
    }
    assert_eq!(faults.len(), 10, "exactly the planted faults:\n{text}");
    // Fixed, the same tables pass.
    c.batch_execute(
        "DROP SCHEMA scratch CASCADE; CREATE SCHEMA scratch;
         CREATE TABLE scratch.good_parent (region_code text NOT NULL, id text NOT NULL, PRIMARY KEY (region_code, id));
         CREATE TABLE scratch.good_child (region_code text NOT NULL, id text NOT NULL, parent_id text,
             PRIMARY KEY (region_code, id),
             FOREIGN KEY (region_code, parent_id) REFERENCES scratch.good_parent(region_code, id));",
    )
    .unwrap();
    let ok = citus_violations(
        &mut c,
        "scratch",
        &[
            ("good_parent", "region_code"),
            ("good_child", "region_code"),
        ],
        &[],
    );
    assert!(ok.is_empty(), "{ok:?}");
}

/// Waits (bounded) until `n` other sessions wait for a lock: a step of a
/// race made deterministic by the catalogue rather than by sleeping.
fn until_waiting(c: &mut Client, n: i64) {
    for _ in 0..500 {
        let waiting: i64 = c
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = 'shian'",
                &[],
            )
            .unwrap()
            .get(0);
        if waiting == n {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    panic!("never saw {n} sessions waiting for a lock");
}

/// Takes `n` positions of `region`'s ledger feed (the sequencer row).
fn take(c: &mut impl postgres::GenericClient, region: &str, n: i64) -> i64 {
    c.query_one(
        "INSERT INTO ledger_heads (region_code, head) VALUES ($1, $2)
         ON CONFLICT (region_code) DO UPDATE SET head = ledger_heads.head + EXCLUDED.head
         RETURNING head",
        &[&region, &n],
    )
    .unwrap()
    .get(0)
}

fn entry(c: &mut impl postgres::GenericClient, region: &str, id: &str, pos: i64, merchant: &str) {
    c.execute(
        "INSERT INTO entries (region_code, entry_id, pos, kind, merchant_id, at, recorded_at, payload)
         VALUES ($1, $2, $3, 'ledger.purchase', $4, '2026-12-02T09:00:00+08:00', now(), '{}')",
        &[&region, &id, &pos, &merchant],
    )
    .unwrap();
}

/// The schema's answers to the multi-instance questions, on the live
/// database: a district's sequencer makes its feed commit in order (a
/// second push waits for the first, another district does not), and a
/// voucher row lets one of two buyers redeem it, even from two districts
/// at once.
#[test]
fn the_feed_commits_in_order_and_a_voucher_is_redeemed_once() {
    let Some((cluster, mut c)) = migrated() else {
        return;
    };
    c.batch_execute(
        "INSERT INTO merchants (id, name, uscc, region_code, shop_code, created_at) VALUES
             ('a', '思明水产', 'U1', '350203', 'SA', now()),
             ('b', '湖里餐馆', 'U2', '350206', 'SB', now()),
             ('c', '湖里超市', 'U3', '350206', 'SC', now());",
    )
    .unwrap();

    // Push 1 in Siming takes positions 1–2 and has not committed.
    let mut c1 = cluster.client();
    let mut t1 = c1.transaction().unwrap();
    assert_eq!(take(&mut t1, "350203", 2), 2);
    // Push 2 in Siming waits for it…
    let url = cluster.url.clone();
    let push2 = std::thread::spawn(move || {
        let mut c2 = Client::connect(&url, NoTls).unwrap();
        let mut t2 = c2.transaction().unwrap();
        let head = take(&mut t2, "350203", 1);
        entry(&mut t2, "350203", "e3", head, "a");
        t2.commit().unwrap();
        head
    });
    until_waiting(&mut c, 1);
    // …while a push in Huli does not.
    let mut c3 = cluster.client();
    let mut t3 = c3.transaction().unwrap();
    assert_eq!(take(&mut t3, "350206", 1), 1);
    entry(&mut t3, "350206", "h1", 1, "b");
    t3.commit().unwrap();
    // Nothing of Siming is visible yet: a pull cannot pass an open push.
    let seen: i64 = c
        .query_one(
            "SELECT count(*) FROM entries WHERE region_code = '350203'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(seen, 0);
    entry(&mut t1, "350203", "e1", 1, "a");
    entry(&mut t1, "350203", "e2", 2, "a");
    t1.commit().unwrap();
    assert_eq!(
        push2.join().unwrap(),
        3,
        "the second push numbers after the first"
    );
    let feed: Vec<(i64, String)> = c
        .query(
            "SELECT pos, entry_id FROM entries WHERE region_code = '350203' AND merchant_id = 'a' AND pos > 0 ORDER BY pos",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(
        feed,
        [(1, "e1".into()), (2, "e2".into()), (3, "e3".into())],
        "positions gapless, in commit order"
    );

    // A voucher issued in Siming; two buyers in Huli redeem it at once.
    c.execute(
        "INSERT INTO codes (code, kind, region_code, merchant_id, entry_id, trace_code, created_at)
         VALUES ('V1', 'voucher', '350203', 'a', 'e2', 'T1', now())",
        &[],
    )
    .unwrap();
    const REDEEM: &str = "UPDATE codes SET redeemed_region = $2, redeemed_by = $3, redeemed_entry_id = $4, redeemed_at = now()
         WHERE code = $1 AND kind = 'voucher' AND redeemed_entry_id IS NULL";
    let mut cb = cluster.client();
    let mut tb = cb.transaction().unwrap();
    assert_eq!(
        tb.execute(REDEEM, &[&"V1", &"350206", &"b", &"pb"])
            .unwrap(),
        1
    );
    let url = cluster.url.clone();
    let buyer_c = std::thread::spawn(move || {
        let mut cc = Client::connect(&url, NoTls).unwrap();
        cc.execute(REDEEM, &[&"V1", &"350206", &"c", &"pc"])
            .unwrap()
    });
    until_waiting(&mut c, 1);
    tb.commit().unwrap();
    assert_eq!(
        buyer_c.join().unwrap(),
        0,
        "the second buyer finds it redeemed"
    );
    let by: String = c
        .query_one("SELECT redeemed_by FROM codes WHERE code = 'V1'", &[])
        .unwrap()
        .get(0);
    assert_eq!(by, "b");
    // A code is unique across districts and kinds.
    let e = c
        .execute(
            "INSERT INTO codes (code, kind, region_code, merchant_id, entry_id, created_at)
             VALUES ('V1', 'trace', '350206', 'b', 'pb', now())",
            &[],
        )
        .map_err(PgError::from)
        .unwrap_err();
    assert!(
        matches!(&e, PgError::Unique { constraint, .. } if constraint == "codes_pkey"),
        "{e}"
    );
}

/// Core's device-side tables, which the server's SQLite file carries only
/// because core's ledger migrations make them everywhere.
const DEVICE_ONLY: &[&str] = &["outbox", "inbox", "meta", "unapplied"];

/// SQLite columns that PostgreSQL holds under another name: a push's run
/// of entries is a run of feed positions.
const RENAMED: &[(&str, &str, &str)] = &[
    ("pushes", "first_entry", "first_pos"),
    ("pushes", "last_entry", "last_pos"),
];

/// The PostgreSQL schema holds every table and column the SQLite backend
/// makes (as a live SQLite file has them after all its migrations), with
/// the same NOT NULL-ness, so that the two cannot drift apart unseen: a
/// SQLite migration that adds a column fails this test until the
/// PostgreSQL schema has it too.
#[test]
fn postgres_has_every_sqlite_table_and_column() {
    // The guard lives to the end of the test: it stops the cluster.
    let Some((_cluster, mut c)) = migrated() else {
        return;
    };

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shian.db");
    let store = shian_server::store::sqlite::SqliteStore::open(
        &path,
        &shian_server::store::sqlite::SqliteOptions::default(),
    )
    .unwrap();
    drop(store);
    let lite = rusqlite::Connection::open(&path).unwrap();
    let tables: Vec<String> = lite
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let mut missing = Vec::new();
    for t in tables.iter().filter(|t| !DEVICE_ONLY.contains(&t.as_str())) {
        let pg = columns(&mut c, "public", t);
        if pg.is_empty() {
            missing.push(format!("table {t}"));
            continue;
        }
        let mut st = lite
            .prepare(&format!(
                "SELECT name, \"notnull\", pk FROM pragma_table_info('{t}')"
            ))
            .unwrap();
        let cols = st
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, bool>(1)?,
                    r.get::<_, i64>(2)? > 0,
                ))
            })
            .unwrap()
            .map(Result::unwrap);
        for (name, not_null, pk) in cols {
            let pg_name = RENAMED
                .iter()
                .find(|(rt, rc, _)| rt == t && *rc == name)
                .map_or(name.as_str(), |(_, _, to)| to);
            match pg.get(pg_name) {
                None => missing.push(format!("column {t}.{name}")),
                // A SQLite primary key column is NOT NULL in PostgreSQL
                // whatever SQLite says (an INTEGER key is the rowid).
                Some(col) if col.not_null != (not_null || pk) => missing.push(format!(
                    "column {t}.{name}: NOT NULL is {} on PostgreSQL, {} on SQLite",
                    col.not_null,
                    not_null || pk
                )),
                Some(_) => {}
            }
        }
    }
    assert!(
        missing.is_empty(),
        "missing or different on PostgreSQL:\n{}",
        missing.join("\n")
    );
}
