//! The PostgreSQL runs of the ingest benchmark (issue 15): `--db postgres`.
//!
//! ```text
//! SHIAN_SERVER_BIN=target/release/shian-server \
//!   target/release/bench-ingest --db postgres --events 200000 \
//!     --instances 1,3 --threads 3 --districts 3 --follower true
//! ```
//!
//! The same workload as the SQLite runs (`workload` in main.rs), with one
//! pushing merchant in each of `--districts` Xiamen districts: client
//! thread t pushes as merchant t mod D (its own device) straight to
//! instance t mod N (no balancer: the figure is the instances', not
//! nginx's). Entries are numbered per district under a sequencer
//! (docs/scale-out.md §3), so one district's pushes serialise whichever
//! instance takes them; several districts are what several instances can
//! spread. Each (instances, threads) pair is a run on a fresh database of
//! the harness's throw-away PostgreSQL 15 cluster (tests/src/pg.rs).
//!
//! With `--follower true`, one more instance over the same database takes
//! no pushes: every 50 ms its `/healthz` `ledger.behind` (entries other
//! instances had committed that it had not read when it last looked; it
//! looks every 250 ms, `--follow-ms`) is sampled, and so is its
//! `ledger.position` against the ops the clients had been answered for.
//!
//! Beside the pushes, in the same run: the rows the last run's pushes wrote
//! (every table whose row count grew while they ran, read back with
//! `COPY (SELECT …) TO STDOUT`) copied with `COPY … FROM STDIN` into a
//! fresh database migrated by the server (same tables, same indexes and
//! constraints), in one transaction; only the COPY IN is timed. The
//! registry rows those need (merchants, users) are copied first, untimed.
//! Then pull (each district's merchant in turn, from instance 0) and a
//! restart of instance 0 over the full database until `/healthz` answers.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;
use shian_tests::{Backend, Db, Server, PASSWORD};

use super::{fmt_n, machine, pull_all, push_all, vm_hwm_kib, workload, Args, Job, Res};

/// Xiamen's districts, in the order `--districts` takes them.
pub const DISTRICTS: [&str; 4] = ["350203", "350206", "350211", "350212"];

/// The tables a push writes, in an order their foreign keys allow; a table
/// that grew and is not named here is copied after these, by name.
const COPY_ORDER: [&str; 10] = [
    "ledger_heads",
    "devices",
    "entries",
    "batches",
    "movements",
    "warnings",
    "codes",
    "ops",
    "pushes",
    "changes",
];

/// Registry rows the pushed rows refer to: copied untimed, before.
const REGISTRY: [&str; 2] = ["merchants", "users"];

struct Lag {
    samples: usize,
    /// `ledger.behind` as sampled.
    behind: Vec<i64>,
    /// Ops answered to the clients minus the follower's position.
    gap: Vec<i64>,
    /// From the last answer until the follower held every entry.
    catch_up_secs: f64,
}

struct Run {
    instances: usize,
    threads: usize,
    events: usize,
    secs: f64,
    hwm_kib: u64,
    pull_changes: usize,
    pull_secs: f64,
    lag: Option<Lag>,
}

/// The last run's database and instances, kept for the COPY and restart.
struct Kept {
    url: String,
    servers: Vec<Server>,
    grown: Vec<String>,
}

fn url_of(s: &Server) -> Res<String> {
    match &s.store {
        Db::Postgres(url) => Ok(url.clone()),
        Db::Sqlite(_) => Err("a PostgreSQL run got a SQLite server".into()),
    }
}

fn table_counts(c: &mut postgres::Client) -> Res<BTreeMap<String, i64>> {
    let tables: Vec<String> = c
        .query(
            "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY 1",
            &[],
        )?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let mut out = BTreeMap::new();
    for t in tables {
        let n: i64 = c
            .query_one(&format!("SELECT count(*) FROM {t}"), &[])?
            .get(0);
        out.insert(t, n);
    }
    Ok(out)
}

/// The follower's `ledger` object of `/healthz`: (position, behind).
fn ledger_of(http: &reqwest::blocking::Client, url: &str) -> Option<(i64, i64)> {
    let v: Value = http.get(url).send().ok()?.json().ok()?;
    Some((
        v["ledger"]["position"].as_i64()?,
        v["ledger"]["behind"].as_i64()?,
    ))
}

/// Samples the follower every 50 ms until `stop`, then waits for it to
/// hold `total` entries.
fn sample_lag(
    health: String,
    done: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    total: usize,
) -> Res<Lag> {
    let http = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()?;
    let (mut behind, mut gap) = (Vec::new(), Vec::new());
    while !stop.load(Ordering::Relaxed) {
        let answered = done.load(Ordering::Relaxed) as i64;
        if let Some((position, b)) = ledger_of(&http, &health) {
            behind.push(b);
            gap.push((answered - position).max(0));
        }
        thread::sleep(Duration::from_millis(50));
    }
    let t = Instant::now();
    loop {
        match ledger_of(&http, &health) {
            Some((position, _)) if position >= total as i64 => break,
            _ if t.elapsed() > Duration::from_secs(120) => {
                return Err("the follower did not catch up in 120 s".into())
            }
            _ => thread::sleep(Duration::from_millis(10)),
        }
    }
    Ok(Lag {
        samples: behind.len(),
        behind,
        gap,
        catch_up_secs: t.elapsed().as_secs_f64(),
    })
}

/// Max, median and p99 of `v`.
fn spread(v: &mut [i64]) -> (i64, i64, i64) {
    if v.is_empty() {
        return (0, 0, 0);
    }
    v.sort_unstable();
    let n = v.len();
    (v[n - 1], v[n / 2], v[(n * 99 / 100).min(n - 1)])
}

/// One fresh database, `instances` servers over it (and the follower),
/// `threads` pushing clients, then the pull.
fn push_run(a: &Args, instances: usize, threads: usize) -> Res<(Run, Kept)> {
    let mut first = Server::new_on(Backend::Postgres, "release", &[]);
    first.create_user("root", shian_tests::ADMIN_PASSWORD, "admin", None, &[]);
    first.restart();
    let admin = first.login("root", shian_tests::ADMIN_PASSWORD);
    let mut sellers = Vec::new();
    for (d, district) in DISTRICTS.iter().take(a.districts).enumerate() {
        let merchant = first.create_merchant(&admin, &format!("鑫海批发{d}"), district);
        let buyers: Vec<String> = (0..a.buyers)
            .map(|i| first.create_merchant(&admin, &format!("下游商户{d}-{i}"), district))
            .collect();
        let user = format!("bench{d}");
        first.create_user(&user, PASSWORD, "merchant", Some(&merchant), &[]);
        let token = Arc::new(first.login(&user, PASSWORD));
        sellers.push((merchant, buyers, token));
    }
    let url = url_of(&first)?;
    let mut servers = vec![first];
    for _ in 1..instances {
        let mut s = Server::beside(&servers[0]);
        s.restart();
        servers.push(s);
    }
    let mut follower = if a.follower {
        let mut s = Server::beside(&servers[0]);
        s.restart();
        Some(s)
    } else {
        None
    };

    let pairs = a.events / (2 * a.batch);
    let events = pairs * 2 * a.batch;
    let jobs: Vec<Job> = (0..threads)
        .map(|t| {
            let (merchant, buyers, token) = &sellers[t % a.districts];
            let mine: Vec<usize> = (t..pairs).step_by(threads).collect();
            let bodies = workload(
                merchant,
                buyers,
                &mine,
                a.batch,
                &format!("bench-{t}"),
                a.seed,
            );
            (
                servers[t % instances].url("/v1/sync/push"),
                token.clone(),
                bodies,
            )
        })
        .collect();
    let before = table_counts(&mut shian_tests::pg::connect(&url))?;
    let done = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = follower.as_ref().map(|f| {
        let (health, done, stop) = (f.url("/healthz"), done.clone(), stop.clone());
        thread::spawn(move || sample_lag(health, done, stop, events).map_err(|e| e.to_string()))
    });
    let pushed = push_all(jobs, &done);
    stop.store(true, Ordering::Relaxed);
    let lag = match sampler {
        Some(h) => Some(h.join().map_err(|_| "sampler panicked")??),
        None => None,
    };
    let (accepted, secs) = pushed.map_err(|e| {
        let logs: Vec<String> = servers.iter().map(Server::logs).collect();
        format!("{e}; the instances' logs:\n{}", logs.join("\n---\n"))
    })?;
    if accepted != events {
        return Err(format!("{accepted} of {events} accepted").into());
    }
    let hwm_kib = servers[0].pid().and_then(vm_hwm_kib).unwrap_or(0);
    let after = table_counts(&mut shian_tests::pg::connect(&url))?;
    let grown = after
        .iter()
        .filter(|(t, n)| before.get(*t).is_none_or(|b| *n > b))
        .map(|(t, _)| t.clone())
        .collect();

    let mut pull_changes = 0;
    let mut pull_secs = 0.0;
    for (_, _, token) in &sellers {
        let (n, s) = pull_all(&servers[0].url("/v1/sync/pull"), token)?;
        pull_changes += n;
        pull_secs += s;
    }
    if let Some(f) = follower.as_mut() {
        f.terminate();
    }
    Ok((
        Run {
            instances,
            threads,
            events,
            secs,
            hwm_kib,
            pull_changes,
            pull_secs,
            lag,
        },
        Kept {
            url,
            servers,
            grown,
        },
    ))
}

fn copy_out(c: &mut postgres::Client, table: &str) -> Res<Vec<u8>> {
    let mut data = Vec::new();
    c.copy_out(&format!("COPY (SELECT * FROM {table}) TO STDOUT"))?
        .read_to_end(&mut data)?;
    Ok(data)
}

fn copy_in(tx: &mut postgres::Transaction<'_>, table: &str, data: &[u8]) -> Res<()> {
    let mut w = tx.copy_in(&format!("COPY {table} FROM STDIN"))?;
    w.write_all(data)?;
    w.finish()?;
    Ok(())
}

/// The rows the pushes wrote, copied into a fresh migrated database: the
/// seconds of the timed COPY IN and the rows per table.
fn copy_rows(kept: &Kept) -> Res<(f64, Vec<(String, u64)>)> {
    let mut source = shian_tests::pg::connect(&kept.url);
    let mut order: Vec<&str> = COPY_ORDER
        .iter()
        .copied()
        .filter(|t| kept.grown.iter().any(|g| g.as_str() == *t))
        .collect();
    order.extend(
        kept.grown
            .iter()
            .map(String::as_str)
            .filter(|g| !COPY_ORDER.contains(g) && !REGISTRY.contains(g)),
    );
    let mut data = Vec::new();
    for t in &order {
        data.push((t.to_string(), copy_out(&mut source, t)?));
    }
    // A server migrates the fresh database (and stops): the server's
    // tables and indexes, nothing else.
    let mut target = Server::new_on(Backend::Postgres, "release", &[]);
    target.restart();
    target.terminate();
    let mut c = shian_tests::pg::connect(&url_of(&target)?);
    {
        let mut tx = c.transaction()?;
        for t in REGISTRY {
            let rows = copy_out(&mut source, t)?;
            copy_in(&mut tx, t, &rows)?;
        }
        tx.commit()?;
    }
    let start = Instant::now();
    let mut tx = c.transaction()?;
    for (t, rows) in &data {
        copy_in(&mut tx, t, rows)?;
    }
    tx.commit()?;
    let secs = start.elapsed().as_secs_f64();
    let counts = data
        .iter()
        .map(|(t, rows)| {
            (
                t.clone(),
                rows.iter().filter(|&&b| b == b'\n').count() as u64,
            )
        })
        .collect();
    Ok((secs, counts))
}

/// The machine, with how the harness's cluster is set up
/// (`scripts/pg-cluster.sh`).
fn pg_machine() -> String {
    machine("PostgreSQL: the harness's throw-away cluster (scripts/pg-cluster.sh: fsync, synchronous_commit and full_page_writes off)")
}

pub fn run(a: &Args) -> Res<()> {
    eprintln!("bench-ingest --db postgres: {}", pg_machine());
    let mut runs = Vec::new();
    let mut kept = None;
    for &n in &a.instances {
        for &k in &a.threads {
            eprintln!(
                "bench-ingest: {} events, {n} instance(s), {k} client thread(s), {} district(s) …",
                a.events, a.districts
            );
            let (run, k) = push_run(a, n, k)?;
            eprintln!(
                "  {:.1} s, {} events/s; pull {} changes in {:.1} s",
                run.secs,
                fmt_n(run.events as f64 / run.secs),
                run.pull_changes,
                run.pull_secs
            );
            runs.push(run);
            // Only the last run's database is kept (the COPY reads it).
            kept = Some(k);
        }
    }
    let mut kept = kept.ok_or("no run")?;
    let version: String = shian_tests::pg::connect(&kept.url)
        .query_one("SHOW server_version", &[])?
        .get(0);
    eprintln!(
        "bench-ingest: COPY of the last run's rows ({:?}) …",
        kept.grown
    );
    let (copy_secs, counts) = copy_rows(&kept)?;
    let events = runs.last().map_or(0, |r| r.events);
    let copy_rate = events as f64 / copy_secs;
    for s in kept.servers.iter_mut() {
        s.terminate();
    }
    let t = Instant::now();
    kept.servers[0].restart();
    let restart_secs = t.elapsed().as_secs_f64();
    let restart_hwm = kept.servers[0].pid().and_then(vm_hwm_kib).unwrap_or(0);

    println!("\nMachine: {}; PostgreSQL {version}.  ", pg_machine());
    println!(
        "Workload: {} ledger events per run, {} ops per push, {} district(s) with one pushing merchant each (client thread t as merchant t mod {}, straight to instance t mod N), release build, loopback HTTP, a fresh database per run{}.\n",
        fmt_n(events as f64),
        a.batch,
        a.districts,
        a.districts,
        if a.follower { ", one following instance taking no pushes" } else { "" }
    );
    println!("| measure | instances | client threads | events | s | events/s | vs COPY (same rows) | instance 0 VmHWM |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for r in &runs {
        let rate = r.events as f64 / r.secs;
        println!(
            "| push over HTTP | {} | {} | {} | {:.1} | **{}** | {:.0} % | {} MiB |",
            r.instances,
            r.threads,
            fmt_n(r.events as f64),
            r.secs,
            fmt_n(rate),
            100.0 * rate / copy_rate,
            r.hwm_kib / 1024
        );
    }
    let rows: Vec<String> = counts
        .iter()
        .map(|(t, n)| format!("{t} {}", fmt_n(*n as f64)))
        .collect();
    println!(
        "| `COPY … FROM STDIN` of the rows the last run wrote ({}), one transaction | — | 1 | {} | {:.1} | {} | 100 % | — |",
        rows.join(", "),
        fmt_n(events as f64),
        copy_secs,
        fmt_n(copy_rate)
    );
    for r in &runs {
        println!(
            "| pull (`GET /v1/sync/pull`, limit 5000, parsed; each district's merchant in turn, instance 0) after the {}-instance {}-thread run | — | 1 | {} changes | {:.1} | {} changes/s | — | — |",
            r.instances,
            r.threads,
            fmt_n(r.pull_changes as f64),
            r.pull_secs,
            fmt_n(r.pull_changes as f64 / r.pull_secs)
        );
    }
    println!(
        "\nRestart of instance 0 over the last run's database ({} entries) until `/healthz` answers: {restart_secs:.1} s; VmHWM then {} MiB.",
        fmt_n(events as f64),
        restart_hwm / 1024
    );
    if runs.iter().any(|r| r.lag.is_some()) {
        println!("\n| follower lag while the others ingest | instances pushed | samples (every 50 ms) | `ledger.behind` max / median / p99 | answered − position max / median / p99 | caught up after the last answer |");
        println!("|---|---:|---:|---:|---:|---:|");
        for r in &mut runs {
            if let Some(l) = r.lag.as_mut() {
                let b = spread(&mut l.behind);
                let g = spread(&mut l.gap);
                println!(
                    "| entries | {} | {} | {} / {} / {} | {} / {} / {} | {:.2} s |",
                    r.instances,
                    l.samples,
                    fmt_n(b.0 as f64),
                    fmt_n(b.1 as f64),
                    fmt_n(b.2 as f64),
                    fmt_n(g.0 as f64),
                    fmt_n(g.1 as f64),
                    fmt_n(g.2 as f64),
                    l.catch_up_secs
                );
            }
        }
    }
    Ok(())
}
