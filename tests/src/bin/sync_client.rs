//! A device in a process of its own, for the fault tests: records N ledger
//! events into a store file, then syncs until nothing is pending. The test
//! SIGKILLs it in the middle of a sync and runs it again over the same file.
//!
//! ```text
//! sync-client --store PATH --server URL --user U --password P --merchant ID
//!             [--record N] [--batch OPS] [--device ID]
//! ```
//! Prints `recorded N` once the events are in the outbox, then
//! `synced accepted=A duplicate=D rejected=R pending=P parked=K` at the end.

use std::process::ExitCode;
use std::sync::Mutex;
use std::time::Duration;

use shian_core::store::LocalStore;
use shian_core::sync::{SyncClient, SyncConfig};
use shian_tests::{purchase, sale};

struct Args {
    store: String,
    server: String,
    user: String,
    password: String,
    merchant: String,
    record: usize,
    batch: usize,
    device: String,
}

fn parse() -> Result<Args, String> {
    let mut a = Args {
        store: String::new(),
        server: String::new(),
        user: String::new(),
        password: String::new(),
        merchant: String::new(),
        record: 0,
        batch: 500,
        device: "sync-client".into(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let v = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--store" => a.store = v,
            "--server" => a.server = v,
            "--user" => a.user = v,
            "--password" => a.password = v,
            "--merchant" => a.merchant = v,
            "--record" => a.record = v.parse().map_err(|e| format!("--record: {e}"))?,
            "--batch" => a.batch = v.parse().map_err(|e| format!("--batch: {e}"))?,
            "--device" => a.device = v,
            other => return Err(format!("unknown flag {other}")),
        }
    }
    if a.store.is_empty() || a.server.is_empty() || a.user.is_empty() || a.merchant.is_empty() {
        return Err("--store, --server, --user, --password and --merchant are required".into());
    }
    Ok(a)
}

fn run(a: Args) -> Result<(), String> {
    let mut store = LocalStore::open(&a.store).map_err(|e| e.to_string())?;
    // Every fourth event sells part of the batch bought just before.
    let mut last_batch: Option<String> = None;
    for i in 0..a.record {
        match (&last_batch, i % 4) {
            (Some(code), 3) => {
                store
                    .record(
                        "ledger.sale",
                        &sale(
                            &a.merchant,
                            code,
                            "1.5",
                            serde_json::json!({"retail": true}),
                        ),
                    )
                    .map_err(|e| e.to_string())?;
            }
            _ => {
                let applied = store
                    .record(
                        "ledger.purchase",
                        &purchase(&a.merchant, &format!("青菜 {i}"), "20"),
                    )
                    .map_err(|e| e.to_string())?;
                last_batch = applied.trace_code;
            }
        }
    }
    println!("recorded {}", a.record);
    let mut config = SyncConfig::new(&a.server, &a.device, &a.user, &a.password);
    config.push_batch = a.batch.max(1);
    let mut client = SyncClient::new(config).map_err(|e| e.to_string())?;
    let store = Mutex::new(store);
    let (mut accepted, mut duplicate, mut rejected) = (0, 0, 0);
    for attempt in 0.. {
        match client.sync(&store) {
            Ok(r) => {
                accepted += r.accepted;
                duplicate += r.duplicate;
                rejected += r.rejected;
                let s = store
                    .lock()
                    .map_err(|_| "poisoned")?
                    .sync_status()
                    .map_err(|e| e.to_string())?;
                if s.pending == 0 {
                    println!("synced accepted={accepted} duplicate={duplicate} rejected={rejected} pending={} parked={}", s.pending, s.parked);
                    return Ok(());
                }
            }
            Err(e) if attempt < 300 => {
                eprintln!("sync failed (attempt {attempt}): {e}");
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(e) => return Err(e.to_string()),
        }
    }
    unreachable!()
}

fn main() -> ExitCode {
    match parse().and_then(run) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sync-client: {e}");
            ExitCode::FAILURE
        }
    }
}
