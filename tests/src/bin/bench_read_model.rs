//! Trace latency on a server instance's read model over PostgreSQL
//! (issue 15). Not a test.
//!
//! ```text
//! SHIAN_SERVER_BIN=target/release/shian-server \
//!   target/release/bench-read-model --entries 10000000 [--queries 2000] [--seed 2]
//! ```
//!
//! Core's generator makes a Xiamen-shaped ledger (`GenConfig::xiamen`, as
//! bench-trace does); each event is applied to an in-process `MemoryGraph`
//! and, in the same pass, streamed by `COPY … FROM STDIN` into the
//! `entries` table of a fresh database the server migrated (the columns
//! and canonical payload a push writes, see store/postgres/sync.rs
//! `record`: the entry's district is its merchant's, positions gapless per
//! district), with the merchants, their directory names and each
//! district's `ledger_heads` row. The rules' tables (batches, movements,
//! codes, warnings) are not loaded: the read model is rebuilt from the
//! entries alone, and a trace reads nothing else. Then one release
//! instance starts over it: the seconds until `/healthz` answers and until
//! its read model holds every entry (built by the background follower on
//! its first look). Last, for a few thousand random origin batches with
//! downstream holders, `GET /v1/trace/{code}/forward` and, from a random
//! holder of each, `/backward`, over loopback HTTP with an analyst's
//! token (each request also looks whether other instances committed
//! anything: one read of `ledger_heads`), beside the same traces on the
//! in-process `MemoryGraph` of the same data; the holder counts of the two
//! are compared. The instance saves a snapshot of its read model once it
//! holds a million entries (`--snapshot-entries`); after the traces it is
//! killed and started again, and the same two times are taken of the start
//! from that snapshot.

use std::collections::HashMap;
use std::error::Error;
use std::io::Write;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::Value;
use shian_core::event::LedgerEvent;
use shian_core::generator::{GenConfig, Generator};
use shian_core::trace::{backward, forward, MemoryGraph};
use shian_tests::{Backend, Db, Server, PASSWORD};

type Res<T> = Result<T, Box<dyn Error>>;

struct Args {
    entries: u64,
    queries: usize,
    seed: u64,
}

fn parse_args() -> Res<Args> {
    let mut a = Args {
        entries: 10_000_000,
        queries: 2000,
        seed: 2,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let v = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--entries" => a.entries = v.parse()?,
            "--queries" => a.queries = v.parse()?,
            "--seed" => a.seed = v.parse()?,
            other => {
                return Err(
                    format!("unknown flag {other} (use --entries, --queries, --seed)").into(),
                )
            }
        }
    }
    Ok(a)
}

fn main() -> ExitCode {
    match parse_args().and_then(|a| run(&a)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench-read-model: {e}");
            ExitCode::FAILURE
        }
    }
}

/// A field of PostgreSQL's COPY text format (backslash, tab and line ends
/// escaped; `\N` is NULL).
fn field(out: &mut Vec<u8>, value: Option<&str>) {
    let Some(v) = value else {
        out.extend_from_slice(b"\\N");
        return;
    };
    for b in v.bytes() {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            _ => out.push(b),
        }
    }
}

fn row(out: &mut Vec<u8>, fields: &[Option<&str>]) {
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.push(b'\t');
        }
        field(out, *f);
    }
    out.push(b'\n');
}

/// The batch an entry made or moved, as the push's `record` stores it.
fn batch_code(event: &LedgerEvent) -> Option<&str> {
    match event {
        LedgerEvent::Purchase(p) => p.trace_code.as_deref(),
        LedgerEvent::Sale(s) => Some(s.trace_code.as_str()),
        LedgerEvent::Adjust(a) => Some(a.trace_code.as_str()),
        LedgerEvent::Dispose(x) => Some(x.trace_code.as_str()),
        LedgerEvent::Void(_) => None,
    }
}

fn url_of(s: &Server) -> Res<String> {
    match &s.store {
        Db::Postgres(url) => Ok(url.clone()),
        Db::Sqlite(_) => Err("a PostgreSQL server was asked for".into()),
    }
}

/// Median and p99 in µs.
fn summary(times: &mut [Duration]) -> (f64, f64) {
    times.sort_unstable();
    let n = times.len().max(1);
    let us = |d: Option<&Duration>| d.map_or(0.0, |d| d.as_secs_f64() * 1e6);
    (
        us(times.get(n / 2)),
        us(times.get((n * 99 / 100).min(n - 1))),
    )
}

/// The ledger position `/healthz` reports, once the read model is built.
fn position(http: &reqwest::blocking::Client, url: &str) -> Option<i64> {
    let v: Value = http.get(url).send().ok()?.json().ok()?;
    v["ledger"]["position"].as_i64()
}

fn run(a: &Args) -> Res<()> {
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    eprintln!(
        "bench-read-model: {} entries, {}; load average {load}",
        a.entries,
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC")
    );
    // A server migrates the fresh database, and its CLI makes the analyst.
    // It saves a snapshot of its read model once it holds a million
    // entries, looking every 2 s (the second start below reads it).
    let mut server = Server::new_on(
        Backend::Postgres,
        "release",
        &[
            "--snapshot-entries",
            "1000000",
            "--snapshot-check-secs",
            "2",
        ],
    );
    server.restart();
    server.terminate();
    server.create_user("analyst", PASSWORD, "analyst", None, &[]);
    let mut db = shian_tests::pg::connect(&url_of(&server)?);

    let mut generator = Generator::new(GenConfig::xiamen(a.seed, a.entries));
    let started = Instant::now();
    let mut graph = MemoryGraph::new();
    let mut district: HashMap<String, String> = HashMap::new();
    {
        let mut tx = db.transaction()?;
        let (mut markets, mut merchants, mut names) = (Vec::new(), Vec::new(), Vec::new());
        for m in generator.markets() {
            row(
                &mut markets,
                &[
                    Some(m.id.as_str()),
                    Some(m.name.as_str()),
                    Some(m.region_code.as_str()),
                    Some(m.address.as_str()),
                    Some("2026-01-01 00:00:00+00"),
                ],
            );
        }
        for (i, m) in generator.merchants().iter().enumerate() {
            graph.set_merchant_name(&m.id, &m.name)?;
            district.insert(m.id.clone(), m.region_code.clone());
            let expiry = m.licence_expiry.to_string();
            let shop = format!("B{i:07}");
            row(
                &mut merchants,
                &[
                    Some(m.id.as_str()),
                    Some(m.market_id.as_str()),
                    Some(m.name.as_str()),
                    Some(m.uscc.as_str()),
                    Some(m.licence_no.as_str()),
                    Some(expiry.as_str()),
                    Some(m.region_code.as_str()),
                    Some(shop.as_str()),
                    Some("2026-01-01 00:00:00+00"),
                ],
            );
            let seq = (i + 1).to_string();
            row(
                &mut names,
                &[
                    Some(m.id.as_str()),
                    Some(m.name.as_str()),
                    Some(seq.as_str()),
                ],
            );
        }
        let mut copy = |sql: &str, data: &[u8]| -> Res<()> {
            let mut w = tx.copy_in(sql)?;
            w.write_all(data)?;
            w.finish()?;
            Ok(())
        };
        copy(
            "COPY markets (id, name, region_code, address, created_at) FROM STDIN",
            &markets,
        )?;
        copy("COPY merchants (id, market_id, name, uscc, licence_no, licence_expiry, region_code, shop_code, created_at) FROM STDIN", &merchants)?;
        copy("COPY directory (merchant_id, name, seq) FROM STDIN", &names)?;
        let seq = i64::try_from(generator.merchants().len())?;
        tx.execute("UPDATE changes_head SET head = $1", &[&seq])?;
        tx.commit()?;
    }

    // The entries, streamed as they are generated.
    let mut heads: HashMap<String, i64> = HashMap::new();
    let (mut events, mut refused) = (0u64, 0u64);
    let mut tx = db.transaction()?;
    {
        let mut w = tx.copy_in(
            "COPY entries (region_code, entry_id, pos, kind, merchant_id, at, recorded_at, trace_code, payload) FROM STDIN",
        )?;
        let mut buf = Vec::with_capacity(1 << 20);
        for event in generator.by_ref() {
            let merchant = event.merchant_id().to_string();
            let d = district
                .get(&merchant)
                .ok_or_else(|| format!("event of an unknown merchant {merchant}"))?;
            let head = heads.entry(d.clone()).or_insert(0);
            *head += 1;
            let (pos, id, at) = (
                head.to_string(),
                event.entry_id().to_string(),
                event.at().to_rfc3339(),
            );
            let wire = event.to_wire_string();
            row(
                &mut buf,
                &[
                    Some(d.as_str()),
                    Some(id.as_str()),
                    Some(pos.as_str()),
                    Some(event.kind()),
                    Some(merchant.as_str()),
                    Some(at.as_str()),
                    Some("2026-12-03 00:00:00+00"),
                    batch_code(&event),
                    Some(wire.as_str()),
                ],
            );
            if buf.len() > 1 << 20 {
                w.write_all(&buf)?;
                buf.clear();
            }
            if graph.apply(&event).is_err() {
                refused += 1;
            }
            events += 1;
        }
        w.write_all(&buf)?;
        w.finish()?;
    }
    for (d, head) in &heads {
        tx.execute(
            "INSERT INTO ledger_heads (region_code, head) VALUES ($1, $2)",
            &[d, head],
        )?;
    }
    tx.commit()?;
    drop(generator);
    graph.compact();
    let load_secs = started.elapsed().as_secs_f64();
    eprintln!(
        "generated, applied in process and COPYed {events} entries ({refused} refused by the graph) in {load_secs:.1} s"
    );
    drop(db);

    // The instance: until it answers, then until its read model holds all.
    let t = Instant::now();
    server.restart();
    let healthy_secs = t.elapsed().as_secs_f64();
    let http = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(600))
        .build()?;
    let health = server.url("/healthz");
    while position(&http, &health).is_none_or(|p| p < events as i64) {
        if t.elapsed() > Duration::from_secs(1800) {
            return Err("the read model was not built in 30 minutes".into());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let built_secs = t.elapsed().as_secs_f64();
    let hwm = std::fs::read_to_string(format!("/proc/{}/status", server.pid().unwrap_or(0)))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .map(|v| v.trim().to_owned())
        })
        .unwrap_or_default();
    eprintln!("instance answering after {healthy_secs:.1} s, read model built after {built_secs:.1} s (VmHWM {hwm})");

    // The snapshot the instance saves of it (before the traces, so that
    // its encoding does not hold them up).
    let t = Instant::now();
    while server.count("SELECT count(*) FROM graph_snapshots") == 0 {
        if t.elapsed() > Duration::from_secs(900) {
            return Err("no snapshot saved in 15 minutes".into());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let saved_secs = t.elapsed().as_secs_f64();
    let snapshot_mib = server.count("SELECT max(bytes) FROM graph_snapshots") as f64 / 1048576.0;
    eprintln!(
        "snapshot of {snapshot_mib:.0} MiB saved {saved_secs:.1} s after the read model was built"
    );

    // Origins with downstream holders, a random holder of each.
    let mut rng = ChaCha8Rng::seed_from_u64(a.seed ^ a.entries);
    let mut origins: Vec<String> = graph.origin_codes().collect();
    origins.shuffle(&mut rng);
    let mut pairs = Vec::new();
    for code in &origins {
        if pairs.len() == a.queries {
            break;
        }
        let trace = forward(&graph, code)?;
        if !trace.holders.is_empty() {
            let pick = rng.random_range(0..trace.holders.len());
            pairs.push((
                code.clone(),
                trace.holders[pick].trace_code.clone(),
                trace.holders.len(),
            ));
        }
    }
    let (mut mem_f, mut mem_b) = (Vec::new(), Vec::new());
    for (root, holder, _) in &pairs {
        let t = Instant::now();
        std::hint::black_box(forward(&graph, root)?);
        mem_f.push(t.elapsed());
        let t = Instant::now();
        std::hint::black_box(backward(&graph, holder)?);
        mem_b.push(t.elapsed());
    }
    let token = server.login("analyst", PASSWORD);
    let (mut http_f, mut http_b, mut mismatched) = (Vec::new(), Vec::new(), 0usize);
    for (root, holder, holders) in &pairs {
        let t = Instant::now();
        let res = http
            .get(server.url(&format!("/v1/trace/{root}/forward")))
            .bearer_auth(&token)
            .send()?;
        let status = res.status();
        let body = res.bytes()?;
        http_f.push(t.elapsed());
        if !status.is_success() {
            return Err(format!(
                "forward {root}: {status} {}",
                String::from_utf8_lossy(&body)
            )
            .into());
        }
        let v: Value = serde_json::from_slice(&body)?;
        if v["holders"].as_array().map_or(0, Vec::len) != *holders {
            mismatched += 1;
        }
        let t = Instant::now();
        let res = http
            .get(server.url(&format!("/v1/trace/{holder}/backward")))
            .bearer_auth(&token)
            .send()?;
        let status = res.status();
        let body = res.bytes()?;
        http_b.push(t.elapsed());
        if !status.is_success() {
            return Err(format!(
                "backward {holder}: {status} {}",
                String::from_utf8_lossy(&body)
            )
            .into());
        }
    }
    // A second start, from the snapshot: until it answers and holds every
    // entry, and the way `/healthz` says it started.
    server.kill();
    let t = Instant::now();
    server.restart();
    let snap_healthy_secs = t.elapsed().as_secs_f64();
    while position(&http, &health).is_none_or(|p| p < events as i64) {
        if t.elapsed() > Duration::from_secs(1800) {
            return Err("the read model was not built in 30 minutes".into());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let snap_built_secs = t.elapsed().as_secs_f64();
    let started: Value = http.get(&health).send()?.json()?;
    let started = started["ledger"]["start"]["from"]
        .as_str()
        .unwrap_or("?")
        .to_owned();
    let token = server.login("analyst", PASSWORD);
    let (mut again, mut differ) = (0usize, 0usize);
    for (root, _, holders) in pairs.iter().take(200) {
        let v: Value = http
            .get(server.url(&format!("/v1/trace/{root}/forward")))
            .bearer_auth(&token)
            .send()?
            .json()?;
        again += 1;
        if v["holders"].as_array().map_or(0, Vec::len) != *holders {
            differ += 1;
        }
    }
    let mean_holders = pairs.iter().map(|p| p.2).sum::<usize>() as f64 / pairs.len().max(1) as f64;
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let pg: String = shian_tests::pg::connect(&url_of(&server)?)
        .query_one("SHOW server_version", &[])?
        .get(0);
    println!(
        "\nRead model over PostgreSQL {pg}, {} entries (`GenConfig::xiamen({}, {})`, {refused} refused by the graph), {} origins with holders (mean {mean_holders:.1} holders); {}; load average at the end {}.\n",
        events,
        a.seed,
        a.entries,
        pairs.len(),
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC"),
        load.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
    );
    println!("| where | forward median / p99 | backward median / p99 |");
    println!("|---|---:|---:|");
    let (fm, fp) = summary(&mut mem_f);
    let (bm, bp) = summary(&mut mem_b);
    println!(
        "| in process (`MemoryGraph`, same data) | {fm:.1} / {fp:.1} µs | {bm:.1} / {bp:.1} µs |"
    );
    let (fm, fp) = summary(&mut http_f);
    let (bm, bp) = summary(&mut http_b);
    println!("| instance over HTTP (`GET /v1/trace/…`, analyst token, loopback) | {fm:.0} / {fp:.0} µs | {bm:.0} / {bp:.0} µs |");
    println!(
        "\nHolder counts over HTTP differing from in-process: {mismatched} of {}.  ",
        pairs.len()
    );
    println!("Generate + apply in process + COPY of the entries: {load_secs:.1} s. Instance start over them: `/healthz` answers after {healthy_secs:.1} s, read model holds every entry after {built_secs:.1} s; instance VmHWM {hwm}.");
    println!("Snapshot of the read model: {snapshot_mib:.0} MiB, saved {saved_secs:.1} s after it was built. Start after a SIGKILL (`ledger.start.from` = {started}): `/healthz` answers after {snap_healthy_secs:.1} s, read model holds every entry after {snap_built_secs:.1} s (replay above: {built_secs:.1} s); {differ} of {again} forward traces then differed in holder count from in-process.");
    Ok(())
}
