//! Faults (DESIGN.md, "Quality bars: faults"): the server SIGKILLed in the
//! middle of pushes, answers cut after the server did the work, answers
//! delayed past the client's timeout, the client process SIGKILLed in the
//! middle of a sync. After each: every event on the server exactly once, the
//! outbox empty.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use serde_json::json;
use shian_core::store::LocalStore;
use shian_core::sync::{SyncClient, SyncConfig, SyncReport, SyncWorker};
use shian_tests::{
    add_report, balances, purchase, sale, wait_drained, wait_until, Device, Fault, Proxy, Server,
    PASSWORD,
};

const PUSH: &str = "POST /v1/sync/push";
const PULL: &str = "GET /v1/sync/pull";

/// Records `n` events on a device (every fourth a retail sale from the batch
/// bought just before) and returns their entry ids.
fn record_many(d: &Device, merchant: &str, n: usize) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    let mut last: Option<String> = None;
    for i in 0..n {
        let p = match (&last, i % 4) {
            (Some(code), 3) => sale(merchant, code, "1.5", json!({"retail": true})),
            _ => purchase(merchant, &format!("菠菜 {i}"), "20"),
        };
        ids.insert(p["entry_id"].as_str().unwrap().to_owned());
        let kind = if p.get("trace_code").is_some() {
            "ledger.sale"
        } else {
            "ledger.purchase"
        };
        if let Some(code) = d.record(kind, &p) {
            last = Some(code);
        }
    }
    ids
}

/// Every recorded event is on the server exactly once: the merchant's
/// entries are exactly the recorded ids, and the op log holds nothing from
/// this device (its ops are logged by their entries; a refusal would be
/// logged).
fn assert_exactly_once(server: &Server, merchant: &str, device_id: &str, ids: &BTreeSet<String>) {
    let on_server = server.entry_ids(merchant);
    assert_eq!(on_server.len(), ids.len(), "entry count on the server");
    assert_eq!(
        &on_server, ids,
        "the server holds exactly the recorded entries"
    );
    let logged = |status: &str| {
        server.count(&format!(
            "SELECT COUNT(*) FROM ops WHERE device_id = '{device_id}' AND status {status}"
        ))
    };
    let (accepted, other) = (logged("= 'accepted'"), logged("<> 'accepted'"));
    assert_eq!(
        (accepted, other),
        (0, 0),
        "no op log rows beside the entries, and no refusals"
    );
    // The ledger feed a second device of the merchant pulls: every event
    // once, in small pages so the cursor is walked many times.
    let user = device_id
        .strip_prefix("dev-")
        .expect("devices are dev-<user>");
    let token = server.login(user, shian_tests::PASSWORD);
    let (pages, _) = server.pull_pages(&token, "", 7);
    let fed: Vec<String> = pages
        .iter()
        .flatten()
        .filter(|ch| ch["kind"].as_str().unwrap().starts_with("ledger."))
        .map(|ch| ch["payload"]["entry_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(fed.len(), ids.len(), "one change per event in the feed");
    assert_eq!(
        &fed.into_iter().collect::<BTreeSet<_>>(),
        ids,
        "the feed holds exactly the recorded entries"
    );
}

#[test]
fn server_sigkilled_in_the_middle_of_pushes_and_restarted() {
    let mut server = Server::start();
    let merchant = server.merchant_with_user("冷库一号", "350203", "cold");
    let work = tempfile::tempdir().unwrap();
    // The proxy tells the test when a push is on the wire, and holds every
    // push's answer a little: without that a fast machine drained the whole
    // outbox within the 100 ms after the eighth push, and the last kill hit
    // an idle server (seen in CI). With 12 pushes of 250 each held 50 ms,
    // at least 4 answers (200 ms) are still to come at the last kill.
    let proxy = Proxy::start(
        server.port,
        PUSH,
        Fault::Delay(Duration::from_millis(50)),
        usize::MAX,
    );
    let mut config = SyncConfig::new(&proxy.url(), "dev-cold", "cold", PASSWORD);
    config.push_batch = 250;
    let device = Device::open_with(work.path(), "cold", config.clone());
    let ids = record_many(&device, &merchant, 3000);
    assert_eq!(device.pending(), 3000);

    let worker = SyncWorker::spawn(
        device.store.clone(),
        SyncClient::new(config).unwrap(),
        Duration::from_millis(200),
    );
    // Kill at three points: as a push starts arriving, and a little later
    // (the body parsed, the transaction running or committing).
    for (nth, delay_ms) in [(2, 0), (5, 30), (8, 100)] {
        wait_until("a push on the wire", || proxy.matched() >= nth);
        thread::sleep(Duration::from_millis(delay_ms));
        server.kill();
        let pending = device.pending();
        assert!(pending > 0, "killed before the outbox drained (push {nth})");
        let on_server = server.count("SELECT COUNT(*) FROM entries");
        assert!(
            (on_server as usize) < ids.len(),
            "killed in the middle: {on_server} of {} on the server",
            ids.len()
        );
        server.restart();
        worker.wake();
    }
    wait_drained(&worker, &device);
    worker.stop();
    assert_eq!(device.parked(), 0, "{:?}", device.store().parked().unwrap());
    assert_exactly_once(&server, &merchant, "dev-cold", &ids);
    assert_eq!(device.balances(&merchant), server.balances(&merchant));
    assert!(server.healthy());
}

#[test]
fn answers_cut_after_the_server_did_the_work() {
    let server = {
        let mut s = Server::start();
        s.merchant_with_user("断线商户", "350203", "cut");
        s
    };
    let merchant = server
        .text("SELECT merchant_id FROM users WHERE username = 'cut'", &[])
        .expect("the merchant of user cut");
    let work = tempfile::tempdir().unwrap();

    // Pushes: the first three answers are cut once the server answers.
    let proxy = Proxy::start(server.port, PUSH, Fault::Cut, 3);
    let mut config = SyncConfig::new(&proxy.url(), "dev-cut", "cut", PASSWORD);
    config.push_batch = 400;
    let mut a = Device::open_with(work.path(), "cut", config);
    let ids = record_many(&a, &merchant, 1200);
    let (mut total, mut failures) = (SyncReport::default(), 0);
    while a.pending() > 0 {
        match a.sync() {
            Ok(r) => add_report(&mut total, &r),
            Err(_) => failures += 1,
        }
        assert!(failures < 50, "never got through");
    }
    assert_eq!(proxy.faulted(), 3);
    assert_eq!(failures, 3, "each cut answer fails one sync");
    // The first batch was stored before its answer was cut; the retries
    // learn that as `duplicate`, the rest is accepted.
    assert_eq!(
        (total.duplicate, total.accepted, total.rejected),
        (400, 800, 0)
    );
    assert_eq!((a.pending(), a.parked()), (0, 0));
    assert_exactly_once(&server, &merchant, "dev-cut", &ids);

    // Pulls: a second device pages through 100 at a time; the 4th and 5th
    // answers are cut, the 6th delayed (within the client's timeout).
    let pulls = Proxy::start(server.port, PULL, Fault::Pass, 0);
    pulls.arm_after(Fault::Cut, 3, 2);
    let mut config = SyncConfig::new(&pulls.url(), "dev-cut-b", "cut", PASSWORD);
    config.pull_limit = 100;
    let mut b = Device::open_with(work.path(), "cut-b", config);
    let mut failures = 0;
    loop {
        match b.sync() {
            Ok(_) => break,
            Err(_) => failures += 1,
        }
        if failures == 2 {
            pulls.arm(Fault::Delay(Duration::from_millis(300)), 1);
        }
        assert!(failures < 50, "never got through");
    }
    assert_eq!(failures, 2);
    assert_eq!(pulls.faulted(), 3);
    assert_eq!(
        b.entry_ids(&merchant),
        ids,
        "the puller holds every entry once"
    );
    assert_eq!(b.balances(&merchant), server.balances(&merchant));
    assert_eq!(b.store().counts().unwrap().entries as usize, ids.len());
    assert!(server.healthy());
}

#[test]
fn answers_delayed_past_the_client_timeout() {
    let mut server = Server::start();
    let merchant = server.merchant_with_user("慢网商户", "350203", "slow");
    let work = tempfile::tempdir().unwrap();
    let proxy = Proxy::start(server.port, PUSH, Fault::Delay(Duration::from_secs(5)), 2);
    let mut config = SyncConfig::new(&proxy.url(), "dev-slow", "slow", PASSWORD);
    config.push_batch = 100;
    config.timeout_ms = 2_000;
    let mut d = Device::open_with(work.path(), "slow", config);
    let ids = record_many(&d, &merchant, 300);
    let (mut total, mut timeouts) = (SyncReport::default(), 0);
    while d.pending() > 0 {
        match d.sync() {
            Ok(r) => add_report(&mut total, &r),
            Err(e) => {
                assert!(matches!(e, shian_core::sync::SyncError::Network(_)), "{e}");
                timeouts += 1;
            }
        }
        assert!(timeouts < 50, "never got through");
    }
    assert_eq!(proxy.faulted(), 2);
    assert!(timeouts >= 2, "the delayed answers time out");
    // The timed-out push was applied; pushing it again is harmless.
    assert!(total.duplicate >= 100, "{total:?}");
    // Each op is settled on the device once, by the first answer it hears.
    assert_eq!(total.accepted + total.duplicate, ids.len(), "{total:?}");
    assert_eq!(total.rejected, 0);
    assert_eq!(d.parked(), 0);
    assert_exactly_once(&server, &merchant, "dev-slow", &ids);
}

/// Runs the `sync-client` helper; returns its stdout lines as they come.
fn spawn_client(
    server: &Server,
    store: &std::path::Path,
    merchant: &str,
    record: usize,
) -> (std::process::Child, mpsc::Receiver<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sync-client"))
        .args([
            "--server",
            &server.base(),
            "--user",
            "kill",
            "--password",
            PASSWORD,
            "--merchant",
            merchant,
        ])
        .args([
            "--record",
            &record.to_string(),
            "--batch",
            "50",
            "--device",
            "dev-kill",
        ])
        .arg("--store")
        .arg(store)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn sync-client");
    let out = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    (child, rx)
}

#[test]
fn client_process_sigkilled_in_the_middle_of_a_sync_and_restarted() {
    let mut server = Server::start();
    let merchant = server.merchant_with_user("被杀的平板", "350203", "kill");
    let work = tempfile::tempdir().unwrap();
    let store = work.path().join("tablet.db");
    let n = 2000;
    let count = || server.count("SELECT COUNT(*) FROM entries");

    // Run 1 records, starts syncing, and is killed once some pushes landed;
    // run 2 resumes and is killed further on; run 3 finishes.
    for (record, kill_at) in [(n, 200), (0, 600)] {
        let (mut child, lines) = spawn_client(&server, &store, &merchant, record);
        let first = lines
            .recv_timeout(shian_tests::DEADLINE)
            .expect("the helper reports its recording");
        assert_eq!(first, format!("recorded {record}"));
        wait_until("pushes landing", || {
            count() >= kill_at || child.try_wait().unwrap().is_some()
        });
        assert!(
            child.try_wait().unwrap().is_none(),
            "the helper must still be syncing when killed"
        );
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        assert!((count() as usize) < n, "killed in the middle of the sync");
    }
    let (mut child, lines) = spawn_client(&server, &store, &merchant, 0);
    let status = child.wait().unwrap();
    let out: Vec<String> = lines.try_iter().collect();
    assert!(status.success(), "{out:?}");
    assert!(
        out.iter()
            .any(|l| l.starts_with("synced ") && l.ends_with("pending=0 parked=0")),
        "{out:?}"
    );

    let device = LocalStore::open(&store).unwrap();
    let counts = device.counts().unwrap();
    assert_eq!(
        (
            counts.entries as usize,
            counts.outbox_pending,
            counts.outbox_parked
        ),
        (n, 0, 0)
    );
    let mut st = device
        .conn()
        .prepare("SELECT entry_id FROM entries")
        .unwrap();
    let ids: BTreeSet<String> = st
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_exactly_once(&server, &merchant, "dev-kill", &ids);
    assert_eq!(
        balances(device.conn(), &merchant),
        server.balances(&merchant)
    );
}
