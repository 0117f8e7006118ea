//! The sync ingest benchmark (issue 3; DESIGN.md, "Quality bars: sync
//! ingest"). Not a test.
//!
//! ```text
//! cargo run --release -p shian-tests --bin bench-ingest -- --events 1000000
//!     [--threads 1,2,4] [--batch 500] [--buyers 20] [--seed 3]
//!     [--db postgres --instances 1,3 --districts 3 --follower true]
//! ```
//!
//! `--db postgres` runs the same workload on PostgreSQL, on one or several
//! instances, beside a `COPY` of the same rows (issue 15): see `pg.rs`.
//! What follows is the SQLite run.
//!
//! For each client thread count K, a fresh release `shian-server` (built with
//! `cargo build --release -p shian-server` when missing or stale) on a
//! loopback port over a new SQLite file; a merchant with its buyers made
//! through the real CLI and API; then `--events` valid ledger events pushed
//! over HTTP in batches of `--batch` ops by K threads, each a device of its
//! own. The workload: pairs of batches, 500 purchases (vegetables, fruit,
//! aquatic, with the certificates their category needs, trace codes made on
//! the device) then 500 sales from those batches (30 % to registered buyers,
//! which makes the server issue a voucher, 50 % retail, 20 % to a named
//! buyer); pairs are dealt round-robin to the threads, so every sale follows
//! its purchase. Bodies are serialized before the clock starts.
//!
//! Beside it, in the same run: the very rows the server wrote (its entries,
//! one `pushes` row per push, and any op log rows of the bench's devices —
//! none, since the ops are sent under their entry ids as core's client sends
//! them; batches and balances
//! live in the server's memory — read back from its file) inserted raw into
//! a new file with the same schema and pragmas, 500 events' rows per
//! transaction, with prepared statements. Then
//! pull throughput (one client paging with limit 5000, parsing each page)
//! and the server's peak RSS (VmHWM). Last, an in-process breakdown of where
//! a push's time goes: JSON parsing, event parsing, and core's rules (on an
//! in-memory graph, as the server judges) and writes in a replica of the
//! server's push transaction.

use std::error::Error;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rusqlite::Connection;
use serde_json::json;
use shian_core::event::LedgerEvent;
use shian_core::json::Node;
use shian_core::ledger::LedgerView;
use shian_core::rules::LedgerRules;
use shian_core::store::{apply, schema};
use shian_core::sync::protocol::{PullResponse, PushResponse};
use shian_core::trace::MemoryGraph;
use shian_tests::{now_wire, Backend, Server, PASSWORD};

mod pg;

type Res<T> = Result<T, Box<dyn Error>>;

struct Args {
    events: usize,
    threads: Vec<usize>,
    batch: usize,
    buyers: usize,
    seed: u64,
    /// Events of the in-process breakdown.
    breakdown: usize,
    /// Only the in-process breakdown (for trying tunings quickly).
    breakdown_only: bool,
    /// `postgres`: the PostgreSQL runs of `pg.rs` instead (issue 15).
    postgres: bool,
    /// PostgreSQL: server instances over the one database, a run each.
    instances: Vec<usize>,
    /// PostgreSQL: districts the pushing merchants are in (one merchant a
    /// district; client thread t pushes as merchant t mod this).
    districts: usize,
    /// PostgreSQL: one more instance that takes no pushes, its `/healthz`
    /// lag sampled while the others ingest.
    follower: bool,
}

fn parse_args() -> Res<Args> {
    let mut a = Args {
        events: 1_000_000,
        threads: vec![1, 2, 4],
        batch: 500,
        buyers: 20,
        seed: 3,
        breakdown: 200_000,
        breakdown_only: false,
        postgres: false,
        instances: vec![1],
        districts: 1,
        follower: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let v = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--events" => a.events = v.parse()?,
            "--threads" => a.threads = v.split(',').map(str::parse).collect::<Result<_, _>>()?,
            "--batch" => a.batch = v.parse()?,
            "--buyers" => a.buyers = v.parse()?,
            "--seed" => a.seed = v.parse()?,
            "--breakdown-events" => a.breakdown = v.parse()?,
            "--breakdown-only" => a.breakdown_only = v.parse()?,
            "--db" => {
                a.postgres = match v.as_str() {
                    "postgres" => true,
                    "sqlite" => false,
                    other => return Err(format!("--db {other}: sqlite or postgres").into()),
                }
            }
            "--instances" => {
                a.instances = v.split(',').map(str::parse).collect::<Result<_, _>>()?
            }
            "--districts" => a.districts = v.parse()?,
            "--follower" => a.follower = v.parse()?,
            other => {
                return Err(format!(
                    "unknown flag {other} (use --events, --threads, --batch, --buyers, --seed, --db, --instances, --districts, --follower)"
                )
                .into())
            }
        }
    }
    if a.batch == 0 || a.batch > 1000 || a.events < 2 * a.batch {
        return Err("--batch must be 1..=1000 and --events at least two batches".into());
    }
    if a.districts == 0 || a.districts > pg::DISTRICTS.len() || a.instances.contains(&0) {
        return Err(format!(
            "--districts must be 1..={} and every --instances at least 1",
            pg::DISTRICTS.len()
        )
        .into());
    }
    Ok(a)
}

fn main() -> ExitCode {
    let go = |a: Args| if a.postgres { pg::run(&a) } else { run(&a) };
    match parse_args().and_then(go) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench-ingest: {e}");
            ExitCode::FAILURE
        }
    }
}

// ----- the workload ---------------------------------------------------------

const PRODUCTS: [(&str, &str, &str); 6] = [
    ("青菜", "vegetable", "origin"),
    ("西红柿", "vegetable", "commitment"),
    ("苹果", "fruit", "origin"),
    ("香蕉", "fruit", "test_report"),
    ("带鱼", "aquatic", "origin"),
    ("对虾", "aquatic", "commitment"),
];

/// One push body per batch, for one device; every sale batch follows the
/// purchase batch it sells from.
fn workload(
    merchant: &str,
    buyers: &[String],
    pairs: &[usize],
    batch: usize,
    device: &str,
    seed: u64,
) -> Vec<Vec<u8>> {
    let at = now_wire();
    let mut bodies = Vec::with_capacity(pairs.len() * 2);
    for &pair in pairs {
        let mut rng =
            ChaCha8Rng::seed_from_u64(seed ^ (pair as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let mut codes = Vec::with_capacity(batch);
        let mut ops = Vec::with_capacity(batch);
        for i in 0..batch {
            let (name, category, cert) = PRODUCTS[rng.random_range(0..PRODUCTS.len())];
            let code = shian_core::codes::new_code(&mut rng);
            let id = uuid::Uuid::now_v7().to_string();
            let p = json!({
                "entry_id": id, "merchant_id": merchant,
                "product": {"name": name, "category": category},
                "quantity": {"value": format!("{}", 10 + rng.random_range(0..90)), "unit": "kg"},
                "supplier": {"name": "同安蔬果合作社", "region_code": "350212"},
                "certificates": [{"kind": cert, "number": format!("CD-{pair}-{i}")}],
                "trace_code": code, "unit_price_fen": 300 + rng.random_range(0..500), "received_at": at,
            });
            codes.push(code);
            ops.push(json!({"op_id": id, "kind": "ledger.purchase", "at": at, "payload": p}));
        }
        bodies.push(serde_json::to_vec(&json!({"device_id": device, "ops": ops})).expect("json"));
        let mut ops = Vec::with_capacity(batch);
        for code in &codes {
            let roll = rng.random_range(0..10);
            let buyer = match roll {
                0..=2 => json!({"merchant_id": buyers[rng.random_range(0..buyers.len())]}),
                3..=7 => json!({"retail": true}),
                _ => json!({"name": "职工食堂"}),
            };
            let id = uuid::Uuid::now_v7().to_string();
            let s = json!({
                "entry_id": id, "merchant_id": merchant, "trace_code": code,
                "quantity": {"value": "1.5", "unit": "kg"}, "buyer": buyer, "unit_price_fen": 900, "sold_at": at,
            });
            ops.push(json!({"op_id": id, "kind": "ledger.sale", "at": at, "payload": s}));
        }
        bodies.push(serde_json::to_vec(&json!({"device_id": device, "ops": ops})).expect("json"));
    }
    bodies
}

// ----- measurements ---------------------------------------------------------

fn vm_hwm_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

struct PushRun {
    threads: usize,
    events: usize,
    secs: f64,
    hwm_kib: u64,
    pull_changes: usize,
    pull_secs: f64,
    hwm_after_pull_kib: u64,
    /// Core's SyncClient pulling into a device store: (changes, seconds).
    device_pull: Option<(usize, f64)>,
    db_bytes: u64,
}

/// What the pushing threads read of an answer.
#[derive(serde::Deserialize)]
struct Answer<'a> {
    #[serde(borrow)]
    results: Vec<AnswerOp<'a>>,
}

#[derive(serde::Deserialize)]
struct AnswerOp<'a> {
    status: &'a str,
}

/// What one pushing thread sends: the push URL, its bearer token, its bodies.
type Job = (String, Arc<String>, Vec<Vec<u8>>);

/// Pushes every job's bodies in order, a thread a job, checking that every
/// op is accepted; `done` counts accepted ops as answers come (the lag
/// sampler of `pg.rs` reads it). Returns the ops accepted and the seconds.
fn push_all(jobs: Vec<Job>, done: &Arc<AtomicUsize>) -> Result<(usize, f64), String> {
    let start = Instant::now();
    let handles: Vec<_> = jobs
        .into_iter()
        .map(|(url, token, bodies)| {
            let done = done.clone();
            thread::spawn(move || -> Result<usize, String> {
                let http = reqwest::blocking::Client::builder()
                    .timeout(Duration::from_secs(300))
                    .build()
                    .map_err(|e| e.to_string())?;
                let mut accepted = 0;
                for body in bodies {
                    let res = http
                        .post(&url)
                        .bearer_auth(token.as_str())
                        .header("content-type", "application/json")
                        .body(body)
                        .send()
                        .map_err(|e| {
                            format!(
                                "after {accepted} accepted: {e}: {:?}",
                                std::error::Error::source(&e)
                            )
                        })?;
                    let status = res.status();
                    let bytes = res.bytes().map_err(|e| e.to_string())?;
                    if !status.is_success() {
                        return Err(format!(
                            "push answered {status}: {}",
                            String::from_utf8_lossy(&bytes)
                        ));
                    }
                    // Only the statuses, borrowed: the load generator shares
                    // the server's two cores, so it reads no more than it checks.
                    let r: Answer<'_> =
                        serde_json::from_slice(&bytes).map_err(|e| e.to_string())?;
                    if let Some(i) = r.results.iter().position(|x| x.status != "accepted") {
                        let full: PushResponse =
                            serde_json::from_slice(&bytes).map_err(|e| e.to_string())?;
                        return Err(format!("op not accepted: {:?}", full.results.get(i)));
                    }
                    accepted += r.results.len();
                    done.fetch_add(r.results.len(), Ordering::Relaxed);
                }
                Ok(accepted)
            })
        })
        .collect();
    let mut accepted = 0;
    for h in handles {
        accepted += h.join().map_err(|_| "push thread panicked")??;
    }
    Ok((accepted, start.elapsed().as_secs_f64()))
}

/// One client pulling everything `token` may see, 5,000 changes a page,
/// each page parsed: the changes and the seconds.
fn pull_all(pull_url: &str, token: &str) -> Res<(usize, f64)> {
    let http = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(300))
        .build()?;
    let mut cursor = String::new();
    let mut pull_changes = 0;
    let start = Instant::now();
    loop {
        let res = http
            .get(pull_url)
            .bearer_auth(token)
            .query(&[("cursor", cursor.as_str()), ("limit", "5000")])
            .send()?;
        if !res.status().is_success() {
            return Err(format!("pull answered {}", res.status()).into());
        }
        let page: PullResponse = serde_json::from_slice(&res.bytes()?)?;
        pull_changes += page.changes.len();
        cursor = page.cursor;
        if !page.has_more {
            break;
        }
    }
    Ok((pull_changes, start.elapsed().as_secs_f64()))
}

/// One fresh server, K pushing threads, then one pulling client.
fn push_run(a: &Args, threads: usize) -> Res<(PushRun, Server, String)> {
    let mut server = Server::new_on(Backend::Sqlite, "release", &[]);
    server.create_user("root", shian_tests::ADMIN_PASSWORD, "admin", None, &[]);
    server.restart();
    let admin = server.login("root", shian_tests::ADMIN_PASSWORD);
    let merchant = server.create_merchant(&admin, "鑫海批发", "350203");
    let buyers: Vec<String> = (0..a.buyers)
        .map(|i| server.create_merchant(&admin, &format!("下游商户{i}"), "350203"))
        .collect();
    server.create_user("bench", PASSWORD, "merchant", Some(&merchant), &[]);
    let token = server.login("bench", PASSWORD);

    let pairs = a.events / (2 * a.batch);
    let events = pairs * 2 * a.batch;
    let work: Vec<Vec<Vec<u8>>> = (0..threads)
        .map(|t| {
            let mine: Vec<usize> = (t..pairs).step_by(threads).collect();
            workload(
                &merchant,
                &buyers,
                &mine,
                a.batch,
                &format!("bench-{t}"),
                a.seed,
            )
        })
        .collect();
    let url = server.url("/v1/sync/push");
    let token = Arc::new(token);
    let jobs = work
        .into_iter()
        .map(|bodies| (url.clone(), token.clone(), bodies))
        .collect();
    let (accepted, secs) = push_all(jobs, &Arc::new(AtomicUsize::new(0))).map_err(|e| {
        // A failed push: say what the server logged (its files go with it).
        let logs = server.logs();
        let tail: Vec<&str> = logs.lines().rev().take(30).collect();
        format!(
            "{e}; server running: {}; its last log lines:\n{}",
            server.is_running(),
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        )
    })?;
    if accepted != events {
        return Err(format!("{accepted} of {events} accepted").into());
    }
    let pid = server.pid().ok_or("server gone")?;
    let hwm_kib = vm_hwm_kib(pid).unwrap_or(0);

    // Pull everything back as the merchant, 5,000 changes a page.
    let (pull_changes, pull_secs) = pull_all(&server.url("/v1/sync/pull"), &token)?;
    let hwm_after_pull_kib = vm_hwm_kib(pid).unwrap_or(0);

    // A device pulling the same into its store with core's client (after
    // the 1-thread run only: it takes a while).
    let mut device_pull = None;
    if threads == a.threads[0] {
        let dir = tempfile::tempdir()?;
        let store = shian_core::store::LocalStore::open(dir.path().join("device.db"))?;
        let mut config =
            shian_core::sync::SyncConfig::new(&server.base(), "bench-pull", "bench", PASSWORD);
        config.pull_limit = 5000;
        config.timeout_ms = 300_000;
        let mut client = shian_core::sync::SyncClient::new(config)?;
        let store = std::sync::Mutex::new(store);
        let t = Instant::now();
        let n = client.pull_all(&store)?;
        device_pull = Some((n, t.elapsed().as_secs_f64()));
    }
    let db_bytes = std::fs::metadata(&server.db).map(|m| m.len()).unwrap_or(0)
        + std::fs::metadata(server.db.with_extension("db-wal"))
            .map(|m| m.len())
            .unwrap_or(0);
    Ok((
        PushRun {
            threads,
            events,
            secs,
            hwm_kib,
            pull_changes,
            pull_secs,
            hwm_after_pull_kib,
            device_pull,
            db_bytes,
        },
        server,
        merchant,
    ))
}

/// Rows of the two tables a push writes, in the server's order.
struct Rows {
    schema: Vec<String>,
    entries: Vec<[rusqlite::types::Value; 8]>,
    ops: Vec<Vec<rusqlite::types::Value>>,
    /// Who sent each push's entries, one row a push.
    pushes: Vec<Vec<rusqlite::types::Value>>,
}

fn read_rows(server: &Server, merchant: &str) -> Res<Rows> {
    let c = server.sqlite();
    let all = |sql: &str, n: usize| -> Res<Vec<Vec<rusqlite::types::Value>>> {
        let mut st = c.prepare(sql)?;
        let rows = st.query_map([merchant], |r| {
            (0..n)
                .map(|i| r.get::<_, rusqlite::types::Value>(i))
                .collect::<Result<Vec<_>, _>>()
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    };
    let entries_raw = all("SELECT entry_id, kind, merchant_id, at, recorded_at, trace_code, payload, voided_by FROM entries WHERE merchant_id = ?1 ORDER BY rowid", 8)?;
    let entries = entries_raw
        .into_iter()
        .map(|r| <[rusqlite::types::Value; 8]>::try_from(r).expect("8 columns"))
        .collect();
    let ops = all("SELECT op_id, device_id, user_id, kind, status, outcome, received_at FROM ops WHERE device_id LIKE 'bench-%' AND ?1 IS NOT NULL ORDER BY rowid", 7)?;
    let pushes = all("SELECT device_id, user_id, received_at, first_entry, last_entry FROM pushes WHERE device_id LIKE 'bench-%' AND ?1 IS NOT NULL ORDER BY id", 5)?;
    let mut schema = Vec::new();
    let mut st = c.prepare(
        "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND tbl_name IN ('entries','ops','pushes') ORDER BY type DESC",
    )?;
    for s in st.query_map([], |r| r.get::<_, String>(0))? {
        schema.push(s?);
    }
    Ok(Rows {
        schema,
        entries,
        ops,
        pushes,
    })
}

/// Extra pragmas for the raw and in-process measurements, to try tunings
/// before proposing them for the server: `SHIAN_BENCH_PRAGMAS="cache_size=-65536;mmap_size=1073741824"`.
fn extra_pragmas(conn: &Connection) -> Res<()> {
    // The server's writer pragmas (server/src/db/sqlite.rs).
    conn.execute_batch("PRAGMA temp_store = MEMORY; PRAGMA wal_autocheckpoint = 16384;")?;
    if let Ok(p) = std::env::var("SHIAN_BENCH_PRAGMAS") {
        for kv in p.split(';').filter(|s| !s.trim().is_empty()) {
            conn.execute_batch(&format!("PRAGMA {kv}"))?;
        }
    }
    Ok(())
}

fn fresh_db(path: &std::path::Path, schema: &[String]) -> Res<Connection> {
    let conn = Connection::open(path)?;
    // Before WAL, so that a `page_size` among them still takes.
    extra_pragmas(&conn)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    for s in schema {
        conn.execute_batch(s)?;
    }
    Ok(conn)
}

/// Raw batched inserts of the same rows (each transaction a push's worth of
/// entries and of op log rows, and its `pushes` row): returns seconds.
fn raw_inserts(rows: &Rows, batch: usize, dir: &std::path::Path) -> Res<f64> {
    let mut conn = fresh_db(&dir.join("raw.db"), &rows.schema)?;
    let start = Instant::now();
    let mut tt = [0f64; 3];
    let transactions = rows
        .entries
        .len()
        .div_ceil(batch)
        .max(rows.ops.len().div_ceil(batch))
        .max(rows.pushes.len());
    for k in 0..transactions {
        let tx = conn.transaction()?;
        {
            let mut e =
                tx.prepare_cached("INSERT INTO entries VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)")?;
            let mut op = tx.prepare_cached("INSERT INTO ops (op_id, device_id, user_id, kind, status, outcome, received_at) VALUES (?1,?2,?3,?4,?5,?6,?7)")?;
            let t = Instant::now();
            for row in rows.entries.iter().skip(k * batch).take(batch) {
                e.execute(rusqlite::params_from_iter(row.iter()))?;
            }
            tt[0] += t.elapsed().as_secs_f64();
            let t = Instant::now();
            for row in rows.ops.iter().skip(k * batch).take(batch) {
                op.execute(rusqlite::params_from_iter(row.iter()))?;
            }
            if let Some(row) = rows.pushes.get(k) {
                tx.prepare_cached("INSERT INTO pushes (device_id, user_id, received_at, first_entry, last_entry) VALUES (?1,?2,?3,?4,?5)")?
                    .execute(rusqlite::params_from_iter(row.iter()))?;
            }
            tt[1] += t.elapsed().as_secs_f64();
        }
        let t = Instant::now();
        tx.commit()?;
        tt[2] += t.elapsed().as_secs_f64();
    }
    let n = rows.entries.len() as f64;
    eprintln!(
        "  raw: µs/event entries {:.2}, op log and pushes {:.2}, commit {:.2}",
        tt[0] * 1e6 / n,
        tt[1] * 1e6 / n,
        tt[2] * 1e6 / n
    );
    Ok(start.elapsed().as_secs_f64())
}

/// A push body as the server reads it (server/src/sync/mod.rs): payloads
/// borrowed from the body.
#[derive(serde::Deserialize)]
struct BodyIn<'a> {
    #[serde(borrow)]
    ops: Vec<OpIn<'a>>,
}

#[derive(serde::Deserialize)]
struct OpIn<'a> {
    op_id: String,
    kind: String,
    #[serde(borrow)]
    payload: Node<'a>,
}

/// Where a push's time goes, in process: µs per event for reading the
/// bodies, for core's event parsing and canonical text, and for a replica
/// of the server's push transaction (one op-log query, the graph's entry
/// lookup, core's rules on the in-memory graph, the entry row, the answer)
/// on a fresh file.
fn breakdown(
    merchant: &str,
    buyers: &[String],
    a: &Args,
    dir: &std::path::Path,
) -> Res<Vec<(String, f64)>> {
    let pairs = (a.breakdown / (2 * a.batch)).max(1);
    let bodies = workload(
        merchant,
        buyers,
        &(0..pairs).collect::<Vec<_>>(),
        a.batch,
        "bench-x",
        a.seed ^ 7,
    );
    let n = (pairs * 2 * a.batch) as f64;
    // Each body read and dropped, as the server does (keeping 200,000
    // trees alive at once would time the page faults of fresh memory).
    let t = Instant::now();
    for b in &bodies {
        std::hint::black_box(serde_json::from_slice::<BodyIn<'_>>(b)?);
    }
    let json_us = t.elapsed().as_secs_f64() * 1e6 / n;
    let reqs: Vec<BodyIn<'_>> = bodies
        .iter()
        .map(|b| serde_json::from_slice(b))
        .collect::<Result<_, _>>()?;
    let rules = LedgerRules::builtin();
    let t = Instant::now();
    for r in &reqs {
        for op in &r.ops {
            std::hint::black_box(LedgerEvent::parse_node(&op.kind, &op.payload)?);
        }
    }
    let parse_us = t.elapsed().as_secs_f64() * 1e6 / n;
    let mut events = Vec::with_capacity(n as usize);
    for r in &reqs {
        for op in &r.ops {
            events.push(LedgerEvent::parse_node(&op.kind, &op.payload)?);
        }
    }
    let t = Instant::now();
    for e in &events {
        std::hint::black_box(e.to_wire_string());
    }
    let wire_us = t.elapsed().as_secs_f64() * 1e6 / n;
    let wires: Vec<String> = events.iter().map(LedgerEvent::to_wire_string).collect();

    let mut conn = Connection::open(dir.join("replica.db"))?;
    schema::configure(&conn)?;
    extra_pragmas(&conn)?;
    schema::migrate(&mut conn)?;
    conn.execute_batch(
        "CREATE TABLE ops (op_id TEXT PRIMARY KEY, device_id TEXT NOT NULL, user_id TEXT NOT NULL, kind TEXT NOT NULL, status TEXT NOT NULL, outcome TEXT NOT NULL, received_at TEXT NOT NULL);
         CREATE INDEX entries_feed ON entries(merchant_id);
         DROP INDEX entries_by_merchant;",
    )?;
    let mut rng = rand::rng();
    let mut graph = MemoryGraph::new();
    let mut t_record = 0.0;
    let (mut t_lookup, mut t_apply, mut t_answer, mut t_commit) = (0.0, 0.0, 0.0, 0.0);
    let (mut t_purchase, mut t_sale, mut n_purchase) = (0.0, 0.0, 0usize);
    let mut events = events.into_iter().zip(wires);
    let total = Instant::now();
    for r in &reqs {
        let now = chrono::Utc::now();
        let tx = conn.transaction()?;
        // The server's one op-log query per push (server/src/sync/sql.rs).
        let t = Instant::now();
        let ids =
            serde_json::to_string(&r.ops.iter().map(|o| o.op_id.as_str()).collect::<Vec<_>>())?;
        let logged: i64 = tx
            .prepare_cached(
                "SELECT COUNT(*) FROM ops WHERE op_id IN (SELECT value FROM json_each(?1))",
            )?
            .query_row([ids], |r| r.get(0))?;
        assert_eq!(logged, 0);
        t_lookup += t.elapsed().as_secs_f64();
        for op in &r.ops {
            let (mut event, wire) = events.next().ok_or("fewer events than ops")?;
            // An op_id naming an entry is that entry's op.
            let t = Instant::now();
            let known = uuid::Uuid::parse_str(&op.op_id)
                .ok()
                .map(|id| graph.entry(&id));
            assert!(matches!(known, Some(Ok(None))));
            t_lookup += t.elapsed().as_secs_f64();
            let ta = Instant::now();
            // The server's judging (server/src/sync/sql.rs): rules on the
            // in-memory graph, the event added to it, the entry row written.
            let warnings = apply::judge(&mut event, &graph, &rules, now, &mut rng)
                .map_err(|e| e.to_string())?;
            graph.apply(&event)?;
            let applied = apply::Applied::new(&event, warnings);
            let tr = Instant::now();
            let wire = if op.kind == "ledger.sale" && applied.voucher_code.is_some() {
                event.to_wire_string()
            } else {
                wire
            };
            apply::record(&tx, &event, &wire, &applied.warnings, now)?;
            t_record += tr.elapsed().as_secs_f64();
            if op.kind == "ledger.purchase" {
                t_purchase += ta.elapsed().as_secs_f64();
                n_purchase += 1;
            } else {
                t_sale += ta.elapsed().as_secs_f64();
            }
            t_apply += ta.elapsed().as_secs_f64();
            // The answer (the entry row is the op's log: nothing more written).
            let t = Instant::now();
            let answer = json!({"entry_id": applied.entry_id, "trace_code": applied.trace_code, "voucher_code": applied.voucher_code, "warnings": applied.warnings});
            std::hint::black_box(answer);
            t_answer += t.elapsed().as_secs_f64();
        }
        let t = Instant::now();
        tx.commit()?;
        t_commit += t.elapsed().as_secs_f64();
    }
    let replica_us = total.elapsed().as_secs_f64() * 1e6 / n;
    let us = |s: f64| s * 1e6 / n;
    Ok(vec![
        (
            "JSON body → ops with borrowed payload trees (core `json::Node`)".into(),
            json_us,
        ),
        ("`LedgerEvent::parse_node`".into(), parse_us),
        ("canonical wire text (`to_wire_string`)".into(), wire_us),
        (
            "replica push tx: op-log query (one a push) + graph entry lookup".into(),
            us(t_lookup),
        ),
        (
            "replica push tx: core judge on the graph + graph apply + entry row".into(),
            us(t_apply),
        ),
        (
            "  of which the entry row (core `record`)".into(),
            us(t_record),
        ),
        (
            "  of which per purchase".into(),
            t_purchase * 1e6 / n_purchase.max(1) as f64,
        ),
        (
            "  of which per sale".into(),
            t_sale * 1e6 / (n as usize - n_purchase).max(1) as f64,
        ),
        ("replica push tx: the answer (`Value`)".into(), us(t_answer)),
        ("replica push tx: COMMIT".into(), us(t_commit)),
        ("replica push tx: total".into(), replica_us),
    ])
}

// ----- the report -----------------------------------------------------------

/// The machine, the time and the load, with `store` (how the store under
/// test is set up) in the middle.
fn machine(store: &str) -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("model name")
                    .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
            })
        })
        .unwrap_or_else(|| "unknown".into());
    let cores = thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("MemTotal:").map(|v| v.trim().to_owned()))
        })
        .unwrap_or_default();
    let date = chrono::Utc::now().format("%Y-%m-%d %H:%M UTC");
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load = load
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ");
    format!("{cores} cores (nproc), {cpu}, {mem} RAM; {store}; {date}; load average {load} (a shared machine)")
}

fn sqlite_machine() -> String {
    machine(&format!(
        "SQLite {} (bundled), WAL, synchronous=NORMAL",
        rusqlite::version()
    ))
}

fn fmt_n(n: f64) -> String {
    let s = format!("{:.0}", n);
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn run(a: &Args) -> Res<()> {
    eprintln!("bench-ingest: {}", sqlite_machine());
    if a.breakdown_only {
        let dir = tempfile::tempdir()?;
        let buyers: Vec<String> = (0..a.buyers)
            .map(|_| uuid::Uuid::now_v7().to_string())
            .collect();
        for (what, us) in breakdown(&uuid::Uuid::now_v7().to_string(), &buyers, a, dir.path())? {
            println!("| {what} | {us:.2} |");
        }
        return Ok(());
    }
    let mut runs = Vec::new();
    let mut keep = None;
    for &k in &a.threads {
        eprintln!(
            "bench-ingest: pushing {} events with {k} client thread(s) …",
            a.events
        );
        let (run, server, merchant) = push_run(a, k)?;
        eprintln!(
            "  {:.1} s, {} events/s; pull {} changes in {:.1} s; server VmHWM {} MiB",
            run.secs,
            fmt_n(run.events as f64 / run.secs),
            run.pull_changes,
            run.pull_secs,
            run.hwm_kib / 1024
        );
        runs.push(run);
        // Keep the last server's file for the raw comparison.
        keep = Some((server, merchant));
    }
    let (mut server, merchant) = keep.ok_or("no run")?;
    // A restart rebuilds the in-memory ledger state from every entry: how
    // long until the server answers again, and its memory then.
    server.terminate();
    let t = Instant::now();
    server.restart();
    let restart_secs = t.elapsed().as_secs_f64();
    let restart_hwm = server.pid().and_then(vm_hwm_kib).unwrap_or(0);
    eprintln!(
        "bench-ingest: restart over {} events: {restart_secs:.1} s, VmHWM {} MiB",
        runs.last().map_or(0, |r| r.events),
        restart_hwm / 1024
    );
    server.terminate();
    eprintln!("bench-ingest: reading the server's rows back …");
    let rows = read_rows(&server, &merchant)?;
    let buyers: Vec<String> = {
        let c = server.sqlite();
        let mut st = c.prepare("SELECT id FROM merchants WHERE id <> ?1")?;
        let v = st
            .query_map([&merchant], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        v
    };
    let n = rows.entries.len();
    let dir = tempfile::tempdir()?;
    eprintln!(
        "bench-ingest: raw inserts of the same {n} events' rows ({} op log rows) …",
        rows.ops.len()
    );
    let raw = raw_inserts(&rows, a.batch, dir.path())?;
    eprintln!("bench-ingest: in-process breakdown …");
    let parts = breakdown(&merchant, &buyers, a, dir.path())?;

    let raw_rate = n as f64 / raw;
    println!("\n### Sync ingest (issue 3)\n");
    println!("Machine: {}.  ", sqlite_machine());
    println!(
        "Workload: {} ledger events per run (half purchases, half sales from them; 30 % of sales to registered buyers get a server-made voucher), {} ops per push, one merchant, release build, loopback HTTP, a fresh SQLite file per run.\n",
        fmt_n(runs[0].events as f64),
        a.batch
    );
    println!("| measure | client threads | events | seconds | events/s | vs raw (same rows) | server VmHWM |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for r in &runs {
        let rate = r.events as f64 / r.secs;
        println!(
            "| push over HTTP (`POST /v1/sync/push`) | {} | {} | {:.1} | **{}** | {:.0} % | {} MiB |",
            r.threads,
            fmt_n(r.events as f64),
            r.secs,
            fmt_n(rate),
            100.0 * rate / raw_rate,
            r.hwm_kib / 1024
        );
    }
    println!(
        "| raw rusqlite inserts of the rows the server wrote ({} entries, {} op log rows, {} push rows), {} events a transaction | 1 | {} | {:.1} | {} | 100 % | — |",
        fmt_n(n as f64),
        fmt_n(rows.ops.len() as f64),
        fmt_n(rows.pushes.len() as f64),
        a.batch,
        fmt_n(n as f64),
        raw,
        fmt_n(raw_rate)
    );
    for r in &runs {
        println!(
            "| pull (`GET /v1/sync/pull`, limit 5000, pages parsed) after the {}-thread run | 1 | {} changes | {:.1} | {} changes/s | — | {} MiB |",
            r.threads,
            fmt_n(r.pull_changes as f64),
            r.pull_secs,
            fmt_n(r.pull_changes as f64 / r.pull_secs),
            r.hwm_after_pull_kib / 1024
        );
    }
    for r in &runs {
        if let Some((n, secs)) = &r.device_pull {
            println!(
                "| device pull into a `LocalStore` (core `SyncClient::pull_all`, limit 5000, each page applied in one transaction) | 1 | {} changes | {:.1} | {} changes/s | — | — |",
                fmt_n(*n as f64),
                secs,
                fmt_n(*n as f64 / secs)
            );
        }
    }
    println!(
        "\nServer file after a run: {} MiB (with WAL).  ",
        runs.last().map(|r| r.db_bytes >> 20).unwrap_or(0)
    );
    println!(
        "Restart over that file (ledger state rebuilt from {} entries) until `/healthz` answers: {restart_secs:.1} s; server VmHWM then {} MiB.\n",
        fmt_n(n as f64),
        restart_hwm / 1024
    );
    println!(
        "In-process breakdown (one thread, µs per event, {} events):\n",
        fmt_n(((a.breakdown / (2 * a.batch)).max(1) * 2 * a.batch) as f64)
    );
    println!("| step | µs/event |");
    println!("|---|---:|");
    for (what, us) in parts {
        println!("| {what} | {us:.2} |");
    }
    Ok(())
}
