//! The trace benchmark (issue 2 part 7; DESIGN.md, "Quality bars: trace").
//!
//! ```text
//! cargo run --release -p shian-tests --bin bench-trace -- --entries 10000000
//!     [--queries 10000] [--seed 2] [--sql-max 1000000] [--scales 1000000,3000000] [--postgres]
//! ```
//!
//! For each scale of 1 M, 3 M and 10 M ledger entries up to `--entries`, a
//! child process generates a Xiamen-shaped ledger with the project's
//! generator, builds the in-memory trace graph event by event, and times
//! forward and backward traces of 10,000 random origin batches that have
//! downstream holders and of 10,000 random batches of any kind. A child per
//! scale keeps the memory figures (VmRSS / VmHWM) of one scale apart from
//! the next. Up to `--sql-max` entries the same events are also written to a
//! SQLite ledger through core's own `apply`, and the same queries are run on
//! `SqlGraph` for comparison. With `--postgres` (and PostgreSQL's `initdb`,
//! `pg_ctl` and `psql` on the PATH) the same ledger is also loaded into a
//! throw-away PostgreSQL cluster and the same origins are traced there with
//! `WITH RECURSIVE`, timed inside the server, as DESIGN.md asks. `--scales`
//! picks the scales instead of the ladder. The result is a markdown table
//! for the README.

use std::error::Error;
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rusqlite::Connection;
use serde_json::{json, Value};
use shian_core::generator::{GenConfig, Generator};
use shian_core::rules::LedgerRules;
use shian_core::store::{apply, schema};
use shian_core::trace::{backward, forward, MemoryGraph, SqlGraph, TraceGraph};
use shian_tests::memory;

type Res<T> = Result<T, Box<dyn Error>>;

const LADDER: [u64; 3] = [1_000_000, 3_000_000, 10_000_000];

struct Args {
    entries: u64,
    scales: Option<Vec<u64>>,
    postgres: bool,
    queries: usize,
    seed: u64,
    sql_max: u64,
    /// Set in a child: measure this one scale and print its result.
    scale: Option<u64>,
}

fn parse_args() -> Res<Args> {
    let mut a = Args {
        entries: 10_000_000,
        scales: None,
        postgres: false,
        queries: 10_000,
        seed: 2,
        sql_max: 1_000_000,
        scale: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--postgres" {
            a.postgres = true;
            continue;
        }
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--entries" => a.entries = value.parse()?,
            "--queries" => a.queries = value.parse()?,
            "--seed" => a.seed = value.parse()?,
            "--sql-max" => a.sql_max = value.parse()?,
            "--scale" => a.scale = Some(value.parse()?),
            "--scales" => a.scales = Some(value.split(',').map(str::parse).collect::<Result<_, _>>()?),
            other => return Err(format!("unknown flag {other} (use --entries, --scales, --queries, --seed, --sql-max, --postgres)").into()),
        }
    }
    Ok(a)
}

fn main() -> ExitCode {
    let result = parse_args().and_then(|a| match a.scale {
        Some(n) => measure(n, &a).map(|v| println!("RESULT {v}")),
        None => orchestrate(&a),
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench-trace: {e}");
            ExitCode::FAILURE
        }
    }
}

// ----- the parent: one child per scale, then the tables ---------------------

fn orchestrate(a: &Args) -> Res<()> {
    let scales = a.scales.clone().unwrap_or_else(|| {
        let mut ladder: Vec<u64> = LADDER.iter().copied().filter(|&n| n <= a.entries).collect();
        if !ladder.contains(&a.entries) {
            ladder.push(a.entries);
        }
        ladder
    });
    let exe = std::env::current_exe()?;
    let mut results = Vec::new();
    for n in scales {
        eprintln!("== {n} entries ==");
        let out = Command::new(&exe)
            .args([
                "--scale",
                &n.to_string(),
                "--queries",
                &a.queries.to_string(),
                "--seed",
                &a.seed.to_string(),
            ])
            .args(["--sql-max", &a.sql_max.to_string()])
            .args(a.postgres.then_some("--postgres"))
            .stderr(Stdio::inherit())
            .output()?;
        let text = String::from_utf8_lossy(&out.stdout);
        let line = text
            .lines()
            .find_map(|l| l.strip_prefix("RESULT "))
            .ok_or_else(|| format!("scale {n} failed ({})", out.status))?;
        let v: Value = serde_json::from_str(line)?;
        eprintln!("{v}");
        results.push(v);
    }
    print_tables(a, &results);
    Ok(())
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("model name")
                    .and_then(|r| r.split_once(':'))
                    .map(|(_, m)| m.trim().to_owned())
            })
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

fn print_tables(a: &Args, results: &[Value]) {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load = load
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ");
    println!("Trace benchmark, {} ({cores} cores, load average at the end {load}), {}; generator `GenConfig::xiamen(seed {}, entries)`; {} queries per set; release build.\n",
        cpu_model(), chrono::Utc::now().format("%Y-%m-%d"), a.seed, a.queries);
    println!(
        "| ledger entries | batches | movements | build (apply) | events/s | graph heap | heap B/entry | VmRSS | VmHWM | RSS B/entry |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for r in results {
        let b = &r["build"];
        println!(
            "| {} | {} | {} | {:.1} s | {:.0} | {:.0} MB | {:.1} | {:.0} MB | {:.0} MB | {:.1} |",
            r["entries"],
            b["batches"],
            b["movements"],
            f(&b["apply_s"]),
            f(&b["events_per_s"]),
            f(&b["heap_mb"]),
            f(&b["heap_bytes_per_entry"]),
            f(&b["vm_rss_mb"]),
            f(&b["vm_hwm_mb"]),
            f(&b["rss_bytes_per_entry"])
        );
    }
    println!();
    println!("| ledger entries | store | batches traced | forward median | forward p99 | forward max | forward CPU median / p99 | holders (mean / median / max) | backward median | backward p99 | backward max | chain (mean) |");
    println!("|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for r in results {
        for run in r["runs"].as_array().into_iter().flatten() {
            let (fw, bw) = (&run["forward"], &run["backward"]);
            println!(
                "| {} | {} | {} | {:.1} µs | {:.1} µs | {:.0} µs | {} | {:.1} / {} / {} | {:.1} µs | {:.1} µs | {:.0} µs | {:.2} |",
                r["entries"],
                s(&run["store"]),
                s(&run["set"]),
                f(&fw["median_us"]),
                f(&fw["p99_us"]),
                f(&fw["max_us"]),
                if f(&fw["cpu_median_us"]).is_nan() {
                    "–".to_owned()
                } else {
                    format!("{:.1} / {:.1} µs", f(&fw["cpu_median_us"]), f(&fw["cpu_p99_us"]))
                },
                f(&fw["mean_holders"]),
                fw["median_holders"],
                fw["max_holders"],
                f(&bw["median_us"]),
                f(&bw["p99_us"]),
                f(&bw["max_us"]),
                f(&bw["mean_chain"])
            );
        }
    }
    for r in results {
        if let Some(sql) = r.get("sqlite") {
            println!(
                "\nSQLite at {} entries: ledger written through core's `apply` in {:.1} s ({:.0} events/s, {} refused); `MemoryGraph::load` from it {:.1} s; \
                 {} of {} sampled forward traces identical between the loaded graph, `SqlGraph` and the graph built from events.",
                r["entries"], f(&sql["write_s"]), f(&sql["events_per_s"]), sql["refused"], f(&sql["load_s"]), sql["identical"], sql["compared"]
            );
        }
    }
    for r in results {
        if let Some(pg) = r.get("postgres") {
            println!(
                "\nPostgreSQL at {} entries: loaded with COPY and indexed in {:.0} s; forward holder counts equal to the engine's for {} of {} origins.",
                r["entries"], f(&pg["load_s"]), pg["same_holders"], pg["compared"]
            );
        }
    }
    for r in results {
        println!(
            "\n{} entries: {:.1} % of origin batches have downstream holders; {} events refused by the graph.",
            r["entries"],
            f(&r["origins_with_holders_pct"]),
            r["build"]["refused"]
        );
    }
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or(f64::NAN)
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

// ----- the child: one scale --------------------------------------------------

const MB: f64 = 1024.0 * 1024.0;

/// This thread's CPU time. Unlike the wall clock it stops while another
/// process has the core, so it shows what a query costs on a shared machine
/// (the wall-clock p99 there is the scheduler's time slice).
fn cpu_now() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime only writes one timespec through the pointer,
    // which points at a live local.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return Duration::ZERO;
    }
    Duration::new(
        u64::try_from(ts.tv_sec).unwrap_or(0),
        u32::try_from(ts.tv_nsec).unwrap_or(0),
    )
}

/// Wall and CPU time of one call.
fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration, Duration) {
    let (c, t) = (cpu_now(), Instant::now());
    let out = f();
    let wall = t.elapsed();
    (out, wall, cpu_now().saturating_sub(c))
}

fn summary(times: &mut [Duration]) -> (f64, f64, f64) {
    times.sort_unstable();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    match times.len() {
        0 => (f64::NAN, f64::NAN, f64::NAN),
        n => (
            us(times[n / 2]),
            us(times[(n * 99 / 100).min(n - 1)]),
            us(times[n - 1]),
        ),
    }
}

fn measure(n: u64, a: &Args) -> Res<Value> {
    let (rss0, _) = memory();
    let mut generator = Generator::new(GenConfig::xiamen(a.seed, n));
    generator.progress(true);
    let mut graph = MemoryGraph::new();
    for m in generator.merchants() {
        graph.set_merchant_name(&m.id, &m.name)?;
    }
    let (mut events, mut refused, mut apply_time) = (0u64, 0u64, Duration::ZERO);
    let mut export = if a.postgres {
        Some(pg::Export::create(n)?)
    } else {
        None
    };
    let started = Instant::now();
    for event in generator.by_ref() {
        if let Some(x) = export.as_mut() {
            x.write(&event)?;
        }
        let t = Instant::now();
        let outcome = graph.apply(&event);
        apply_time += t.elapsed();
        events += 1;
        if let Err(e) = outcome {
            if refused == 0 {
                eprintln!("first event refused by the graph: {e}");
            }
            refused += 1;
        }
    }
    let total = started.elapsed();
    drop(generator);
    let t = Instant::now();
    graph.compact();
    let apply_s = (apply_time + t.elapsed()).as_secs_f64();
    let stats = graph.stats();
    let (rss, hwm) = memory();
    eprintln!(
        "generated and applied {events} events in {:.1} s ({apply_s:.1} s in the graph)",
        total.as_secs_f64()
    );

    let mut rng = ChaCha8Rng::seed_from_u64(a.seed ^ n);
    let mut origins: Vec<String> = graph.origin_codes().collect();
    origins.shuffle(&mut rng);
    let randoms = sample_codes(&graph, a.queries, &mut rng);

    // Origins with holders, timed on first touch in random order.
    let (mut fwd, mut cpu, mut holders, mut pairs, mut tried) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), 0usize);
    for code in &origins {
        if pairs.len() == a.queries {
            break;
        }
        tried += 1;
        let (trace, took, used) = timed(|| forward(&graph, code));
        let trace = trace?;
        if !trace.holders.is_empty() {
            fwd.push(took);
            cpu.push(used);
            holders.push(trace.holders.len());
            let pick = rng.random_range(0..trace.holders.len());
            pairs.push((code.clone(), trace.holders[pick].trace_code.clone()));
        }
    }
    let with_holders_pct = 100.0 * pairs.len() as f64 / tried.max(1) as f64;
    pairs.shuffle(&mut rng);
    let mut runs = vec![run_set(
        &graph,
        "memory",
        "origins with holders",
        (fwd, cpu, holders),
        &pairs,
    )?];
    runs.push(run_random(&graph, "memory", &randoms)?);

    let mut result = json!({
        "entries": n,
        "origins_with_holders_pct": with_holders_pct,
        "build": {
            "events": events, "refused": refused, "batches": stats.batches, "movements": stats.movements,
            "vouchers": stats.vouchers, "apply_s": apply_s, "events_per_s": events as f64 / apply_s,
            "heap_mb": stats.heap_bytes as f64 / MB, "heap_bytes_per_entry": stats.heap_bytes as f64 / events.max(1) as f64,
            "vm_rss_mb": rss as f64 / MB, "vm_hwm_mb": hwm as f64 / MB,
            "rss_bytes_per_entry": rss.saturating_sub(rss0) as f64 / events.max(1) as f64,
        },
    });
    if let Some(x) = export {
        let pg_runs = x.finish()?.run(&graph, &pairs)?;
        result["postgres"] = pg_runs.0;
        runs.push(pg_runs.1);
    }
    if n <= a.sql_max {
        let (sql, sql_runs) = sqlite(n, a, &graph, &pairs, &randoms)?;
        result["sqlite"] = sql;
        runs.extend(sql_runs);
    }
    result["runs"] = Value::Array(runs);
    Ok(result)
}

/// `k` random live batches of any kind.
fn sample_codes(graph: &MemoryGraph, k: usize, rng: &mut ChaCha8Rng) -> Vec<String> {
    let total = graph.trace_codes().count();
    let mut picks: Vec<usize> = (0..k.min(total))
        .map(|_| rng.random_range(0..total))
        .collect();
    picks.sort_unstable();
    picks.dedup();
    let mut wanted = picks.into_iter().peekable();
    let mut codes: Vec<String> = graph
        .trace_codes()
        .enumerate()
        .filter_map(|(i, c)| {
            (wanted.peek() == Some(&i)).then(|| {
                wanted.next();
                c
            })
        })
        .collect();
    codes.shuffle(rng);
    codes
}

/// Backward from a holder of each origin (the forward times were taken when
/// the origins were picked, or are taken here for other stores).
fn run_set<G: TraceGraph>(
    graph: &G,
    store: &str,
    set: &str,
    forwards: (Vec<Duration>, Vec<Duration>, Vec<usize>),
    pairs: &[(String, String)],
) -> Res<Value> {
    let (mut fwd, mut cpu, mut holders) = forwards;
    if fwd.is_empty() {
        for (root, _) in pairs {
            let (trace, took, used) = timed(|| forward(graph, root));
            fwd.push(took);
            cpu.push(used);
            holders.push(trace?.holders.len());
        }
    }
    let (mut bwd, mut chain, mut missing_root) = (Vec::new(), 0usize, 0usize);
    for (root, holder) in pairs {
        let t = Instant::now();
        let trace = backward(graph, holder)?;
        bwd.push(t.elapsed());
        chain += trace.chain.len();
        if !trace.contains(root) {
            missing_root += 1;
        }
    }
    if missing_root > 0 {
        return Err(format!(
            "{missing_root} backward traces of a holder did not reach its root ({store})"
        )
        .into());
    }
    Ok(report(
        store,
        set,
        (&mut fwd, &mut cpu),
        &mut holders,
        &mut bwd,
        chain,
    ))
}

fn run_random<G: TraceGraph>(graph: &G, store: &str, codes: &[String]) -> Res<Value> {
    let (mut fwd, mut cpu, mut holders, mut bwd, mut chain) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), 0usize);
    for code in codes {
        let (trace, took, used) = timed(|| forward(graph, code));
        fwd.push(took);
        cpu.push(used);
        holders.push(trace?.holders.len());
        let t = Instant::now();
        let up = backward(graph, code)?;
        bwd.push(t.elapsed());
        chain += up.chain.len();
    }
    Ok(report(
        store,
        "random batches",
        (&mut fwd, &mut cpu),
        &mut holders,
        &mut bwd,
        chain,
    ))
}

fn report(
    store: &str,
    set: &str,
    fwd: (&mut [Duration], &mut [Duration]),
    holders: &mut [usize],
    bwd: &mut [Duration],
    chain: usize,
) -> Value {
    let (fm, fp, fx) = summary(fwd.0);
    let (cm, cp, _) = summary(fwd.1);
    let (bm, bp, bx) = summary(bwd);
    holders.sort_unstable();
    let n = holders.len().max(1);
    json!({
        "store": store, "set": set, "queries": holders.len(),
        "forward": {"median_us": fm, "p99_us": fp, "max_us": fx, "cpu_median_us": cm, "cpu_p99_us": cp,
                    "mean_holders": holders.iter().sum::<usize>() as f64 / n as f64,
                    "median_holders": holders.get(holders.len() / 2), "max_holders": holders.last()},
        "backward": {"median_us": bm, "p99_us": bp, "max_us": bx, "mean_chain": chain as f64 / n as f64},
    })
}

/// The same events written to a SQLite ledger through core's `apply`, then
/// the same queries on `SqlGraph`.
fn sqlite(
    n: u64,
    a: &Args,
    graph: &MemoryGraph,
    pairs: &[(String, String)],
    randoms: &[String],
) -> Res<(Value, Vec<Value>)> {
    let path = std::env::temp_dir().join(format!("shian-bench-trace-{n}.db"));
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    let mut conn = Connection::open(&path)?;
    schema::configure(&conn)?;
    schema::migrate(&mut conn)?;
    let rules = LedgerRules::builtin();
    let mut rng = ChaCha8Rng::seed_from_u64(a.seed);
    let mut generator = Generator::new(GenConfig::xiamen(a.seed, n));
    generator.progress(true);
    let started = Instant::now();
    let (mut events, mut refused) = (0u64, 0u64);
    {
        let tx = conn.transaction()?;
        for m in generator.merchants() {
            tx.execute(
                "INSERT INTO directory (merchant_id, name) VALUES (?1, ?2)",
                [&m.id, &m.name],
            )?;
        }
        tx.commit()?;
    }
    loop {
        let chunk: Vec<_> = generator.by_ref().take(50_000).collect();
        if chunk.is_empty() {
            break;
        }
        let mut tx = conn.transaction()?;
        for mut event in chunk {
            events += 1;
            // The generator's clock is the ledger's: judge each event at its own time.
            let now = event.at().with_timezone(&chrono::Utc) + chrono::Duration::seconds(1);
            let sp = tx.savepoint()?;
            match apply::apply(&sp, &mut event, &rules, now, true, &mut rng) {
                Ok(_) => sp.commit()?,
                Err(e) => {
                    if refused == 0 {
                        eprintln!("first event refused by SQLite apply: {e}");
                    }
                    refused += 1;
                }
            }
        }
        tx.commit()?;
    }
    let write_s = started.elapsed().as_secs_f64();
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE); ANALYZE;")?;

    let t = Instant::now();
    let loaded = MemoryGraph::load(&conn)?;
    let load_s = t.elapsed().as_secs_f64();
    let sql = SqlGraph::new(&conn);
    let compared = pairs.len().min(500);
    let identical = pairs[..compared]
        .iter()
        .filter(|(root, _)| {
            let m = forward(graph, root).ok();
            m.is_some() && m == forward(&sql, root).ok() && m == forward(&loaded, root).ok()
        })
        .count();
    drop(loaded);
    let runs = vec![
        run_set(
            &sql,
            "SQLite",
            "origins with holders",
            (Vec::new(), Vec::new(), Vec::new()),
            pairs,
        )?,
        run_random(&sql, "SQLite", randoms)?,
    ];
    Ok((
        json!({"write_s": write_s, "events_per_s": events as f64 / write_s, "refused": refused, "load_s": load_s,
               "compared": compared, "identical": identical, "path": path.display().to_string()}),
        runs,
    ))
}

/// The PostgreSQL comparison: the same ledger in a throw-away cluster, the
/// same origins traced with `WITH RECURSIVE`, timed inside the server (so
/// no client round trip is counted against PostgreSQL).
mod pg {
    use std::fs::File;
    use std::io::{BufWriter, Write};
    use std::os::unix::fs::PermissionsExt;
    use std::path::{Path, PathBuf};
    use std::process::Command;
    use std::time::{Duration, Instant};

    use serde_json::{json, Value};
    use shian_core::event::{Buyer, DisposeMethod, LedgerEvent};
    use shian_core::trace::{forward, MemoryGraph};

    use super::{report, Res};

    const PORT: &str = "54329";

    /// The ledger as CSV files PostgreSQL can COPY.
    pub struct Export {
        dir: PathBuf,
        batches: BufWriter<File>,
        movements: BufWriter<File>,
        voids: BufWriter<File>,
    }

    pub struct Loaded {
        dir: PathBuf,
        /// COPY, indexes and ANALYZE.
        load_s: f64,
    }

    fn as_postgres(program: &str) -> Command {
        let root = std::fs::read_to_string("/proc/self/status")
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|u| u.split_whitespace().next().map(|u| u == "0"))
            .unwrap_or(false);
        // PostgreSQL refuses to run as root.
        if root {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--", program]);
            c
        } else {
            Command::new(program)
        }
    }

    fn run(c: &mut Command) -> Res<String> {
        let out = c.output()?;
        if !out.status.success() {
            return Err(format!("{c:?} failed: {}", String::from_utf8_lossy(&out.stderr)).into());
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    fn psql(dir: &Path) -> Command {
        let mut c = as_postgres("psql");
        c.args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-h"])
            .arg(dir)
            .args(["-p", PORT, "-U", "postgres", "-d", "postgres"]);
        c
    }

    impl Export {
        pub fn create(n: u64) -> Res<Self> {
            let dir = std::env::temp_dir().join(format!("shian-bench-pg-{n}"));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir)?;
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777))?;
            let open = |name: &str| -> Res<BufWriter<File>> {
                Ok(BufWriter::new(File::create(dir.join(name))?))
            };
            Ok(Self {
                batches: open("batches.csv")?,
                movements: open("movements.csv")?,
                voids: open("voids.csv")?,
                dir,
            })
        }

        pub fn write(&mut self, e: &LedgerEvent) -> Res<()> {
            let opt = |s: &Option<String>| s.clone().unwrap_or_default();
            match e {
                LedgerEvent::Purchase(p) => writeln!(
                    self.batches,
                    "{},{},{},{},{},{}",
                    p.entry_id,
                    opt(&p.trace_code),
                    p.merchant_id,
                    p.quantity.unit.as_str(),
                    p.quantity.amount,
                    opt(&p.voucher_code)
                )?,
                LedgerEvent::Sale(s) => {
                    let kind = match s.buyer {
                        Buyer::Merchant { .. } => "sale_merchant",
                        Buyer::Named { .. } => "sale_named",
                        Buyer::Retail => "sale_retail",
                    };
                    writeln!(
                        self.movements,
                        "{},{},{kind},{},{}",
                        s.entry_id,
                        s.trace_code,
                        s.quantity.amount,
                        opt(&s.voucher_code)
                    )?
                }
                LedgerEvent::Dispose(d) => {
                    let kind = if d.method == DisposeMethod::Destroyed {
                        "destroyed"
                    } else {
                        "returned"
                    };
                    writeln!(
                        self.movements,
                        "{},{},{kind},{},",
                        d.entry_id, d.trace_code, d.quantity.amount
                    )?
                }
                LedgerEvent::Adjust(a) => writeln!(
                    self.movements,
                    "{},{},adjust,{},",
                    a.entry_id, a.trace_code, a.delta.amount
                )?,
                LedgerEvent::Void(v) => writeln!(self.voids, "{}", v.voided_entry_id)?,
            }
            Ok(())
        }

        /// Starts a cluster and loads the files into it.
        pub fn finish(mut self) -> Res<Loaded> {
            self.batches.flush()?;
            self.movements.flush()?;
            self.voids.flush()?;
            let dir = self.dir;
            let data = dir.join("data");
            run(as_postgres("initdb").arg("-D").arg(&data).args([
                "-U",
                "postgres",
                "-A",
                "trust",
                "--no-sync",
                "-E",
                "UTF8",
                "--locale=C",
            ]))?;
            let options = format!(
                "-k {} -p {PORT} -c listen_addresses='' -c shared_buffers=2GB -c fsync=off -c synchronous_commit=off \
                 -c full_page_writes=off -c max_wal_size=8GB -c maintenance_work_mem=1GB -c work_mem=64MB",
                dir.display()
            );
            run(as_postgres("pg_ctl")
                .arg("-D")
                .arg(&data)
                .arg("-l")
                .arg(dir.join("log"))
                .args(["-w", "-o", &options, "start"]))?;
            let mut loaded = Loaded { dir, load_s: 0.0 };
            let d = loaded.dir.display();
            let setup = format!(
                "CREATE TABLE batches (entry_id uuid, trace_code text PRIMARY KEY, merchant_id text, unit text, received bigint, voucher_code text, voided bool NOT NULL DEFAULT false);
                 CREATE TABLE movements (entry_id uuid, trace_code text, kind text, amount bigint, voucher_code text, voided bool NOT NULL DEFAULT false);
                 CREATE TABLE voids (entry_id uuid);
                 COPY batches (entry_id, trace_code, merchant_id, unit, received, voucher_code) FROM '{d}/batches.csv' WITH (FORMAT csv);
                 COPY movements (entry_id, trace_code, kind, amount, voucher_code) FROM '{d}/movements.csv' WITH (FORMAT csv);
                 COPY voids FROM '{d}/voids.csv' WITH (FORMAT csv);
                 UPDATE batches SET voided = true WHERE entry_id IN (SELECT entry_id FROM voids);
                 UPDATE movements SET voided = true WHERE entry_id IN (SELECT entry_id FROM voids);
                 CREATE INDEX movements_by_batch ON movements (trace_code);
                 CREATE INDEX movements_by_voucher ON movements (voucher_code) WHERE voucher_code IS NOT NULL;
                 CREATE INDEX batches_by_voucher ON batches (voucher_code) WHERE voucher_code IS NOT NULL;
                 VACUUM ANALYZE;
                 CREATE FUNCTION forward_trace(code text)
                 RETURNS TABLE (trace_code text, merchant_id text, depth int, received bigint, retail bigint, named bigint,
                                to_merchants bigint, destroyed bigint, returned bigint, adjusted bigint)
                 LANGUAGE sql STABLE AS $$
                   WITH RECURSIVE tree (trace_code, depth) AS (
                       SELECT b.trace_code, 0 FROM batches b WHERE b.trace_code = code AND NOT b.voided
                     UNION ALL
                       SELECT c.trace_code, t.depth + 1 FROM tree t
                       JOIN movements m ON m.trace_code = t.trace_code AND m.kind = 'sale_merchant' AND NOT m.voided
                       JOIN batches c ON c.voucher_code = m.voucher_code AND NOT c.voided
                       WHERE t.depth < 64)
                   SELECT t.trace_code, b.merchant_id, t.depth, b.received,
                          coalesce(sum(m.amount) FILTER (WHERE m.kind = 'sale_retail'), 0),
                          coalesce(sum(m.amount) FILTER (WHERE m.kind = 'sale_named'), 0),
                          coalesce(sum(m.amount) FILTER (WHERE m.kind = 'sale_merchant'), 0),
                          coalesce(sum(m.amount) FILTER (WHERE m.kind = 'destroyed'), 0),
                          coalesce(sum(m.amount) FILTER (WHERE m.kind = 'returned'), 0),
                          coalesce(sum(m.amount) FILTER (WHERE m.kind = 'adjust'), 0)
                   FROM tree t JOIN batches b ON b.trace_code = t.trace_code
                   LEFT JOIN movements m ON m.trace_code = t.trace_code AND NOT m.voided
                   GROUP BY t.trace_code, b.merchant_id, t.depth, b.received
                 $$;
                 CREATE FUNCTION backward_trace(code text) RETURNS TABLE (trace_code text, depth int) LANGUAGE sql STABLE AS $$
                   WITH RECURSIVE up (trace_code, voucher_code, depth) AS (
                       SELECT b.trace_code, b.voucher_code, 0 FROM batches b WHERE b.trace_code = code AND NOT b.voided
                     UNION ALL
                       SELECT p.trace_code, p.voucher_code, u.depth + 1 FROM up u
                       JOIN movements m ON m.voucher_code = u.voucher_code AND m.kind = 'sale_merchant' AND NOT m.voided
                       JOIN batches p ON p.trace_code = m.trace_code AND NOT p.voided
                       WHERE u.depth < 64)
                   SELECT trace_code, depth FROM up
                 $$;"
            );
            std::fs::write(loaded.dir.join("setup.sql"), setup)?;
            let t = Instant::now();
            run(psql(&loaded.dir)
                .arg("-f")
                .arg(loaded.dir.join("setup.sql")))?;
            loaded.load_s = t.elapsed().as_secs_f64();
            Ok(loaded)
        }
    }

    impl Loaded {
        /// Times forward (origin) and backward (holder) for each pair, and
        /// checks the holder counts against the engine's.
        pub fn run(&self, graph: &MemoryGraph, pairs: &[(String, String)]) -> Res<(Value, Value)> {
            let mut csv = String::new();
            for (i, (root, holder)) in pairs.iter().enumerate() {
                csv.push_str(&format!("{i},{root},{holder}\n"));
            }
            std::fs::write(self.dir.join("pairs.csv"), csv)?;
            let d = self.dir.display();
            let script = format!(
                "CREATE TABLE pairs (n int PRIMARY KEY, root text, holder text);
                 COPY pairs FROM '{d}/pairs.csv' WITH (FORMAT csv);
                 CREATE TABLE timings (n int, fwd_us float8, holders int, bwd_us float8, chain int);
                 DO $$ DECLARE r record; t0 timestamptz; t1 timestamptz; h int; c int; BEGIN
                   FOR r IN SELECT * FROM pairs ORDER BY n LOOP
                     t0 := clock_timestamp();
                     SELECT count(*) INTO h FROM forward_trace(r.root);
                     t1 := clock_timestamp();
                     SELECT count(*) INTO c FROM backward_trace(r.holder);
                     INSERT INTO timings VALUES (r.n, extract(epoch FROM t1 - t0) * 1e6, h - 1,
                                                 extract(epoch FROM clock_timestamp() - t1) * 1e6, c);
                   END LOOP;
                 END $$;"
            );
            std::fs::write(self.dir.join("run.sql"), script)?;
            run(psql(&self.dir).arg("-f").arg(self.dir.join("run.sql")))?;
            let out = run(psql(&self.dir).args([
                "-At",
                "-c",
                "COPY (SELECT n, fwd_us, holders, bwd_us, chain FROM timings ORDER BY n) TO STDOUT WITH (FORMAT csv)",
            ]))?;
            let (mut fwd, mut holders, mut bwd, mut chain, mut same) =
                (Vec::new(), Vec::new(), Vec::new(), 0usize, 0usize);
            for line in out.lines() {
                let cols: Vec<&str> = line.split(',').collect();
                let [n, f_us, h, b_us, c] = cols[..] else {
                    return Err(format!("unexpected psql line {line:?}").into());
                };
                let (n, h): (usize, usize) = (n.parse()?, h.parse()?);
                fwd.push(Duration::from_secs_f64(f_us.parse::<f64>()? / 1e6));
                bwd.push(Duration::from_secs_f64(b_us.parse::<f64>()? / 1e6));
                holders.push(h);
                chain += c.parse::<usize>()?;
                if let Some((root, _)) = pairs.get(n) {
                    if forward(graph, root).map(|t| t.holders.len()).ok() == Some(h) {
                        same += 1;
                    }
                }
            }
            Ok((
                json!({"compared": holders.len(), "same_holders": same, "load_s": self.load_s}),
                report(
                    "PostgreSQL 15, WITH RECURSIVE (server-side time)",
                    "origins with holders",
                    (&mut fwd, &mut []),
                    &mut holders,
                    &mut bwd,
                    chain,
                ),
            ))
        }
    }

    impl Drop for Loaded {
        fn drop(&mut self) {
            let _ = as_postgres("pg_ctl")
                .arg("-D")
                .arg(self.dir.join("data"))
                .args(["-m", "fast", "-w", "stop"])
                .output();
        }
    }
}
