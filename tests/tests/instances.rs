//! Several server instances over one data directory — one SQLite file in
//! WAL mode, three processes on one host — behind a real round-robin load
//! balancer (nginx), with the scenarios of issue 15, item 4: one device's
//! pushes spread over all three, an instance SIGKILLed in the middle of a
//! push, an answer cut after the work was done and its retry landing on
//! another instance, two devices redeeming one voucher through different
//! instances at the same moment, and a recall and traces asked of one
//! instance right after the pushes that went through the others; and the
//! background follower keeping an idle instance caught up.
//!
//! Each scenario runs twice with the same ops and the same ids: first
//! against one plain server (the reference), then against the cluster.
//! After each: every event exactly once (the file's entries by id, the op
//! log, the outbox, the balances, the feed a fresh device pulls), and every
//! answer the same as the reference's — per op its status, error code and
//! result, and the traces and recalls. The servers make the merchant ids,
//! so the ops name merchants by label (`@seller`) and the answers are read
//! with the ids turned back into labels.
//!
//! The harness (`Cluster`, `Balancer`) points at SQLite today; the same
//! scenarios are to run against PostgreSQL once that backend exists.

use std::collections::BTreeSet;
use std::sync::Barrier;
use std::thread;
use std::time::Duration;

use serde_json::{json, Value};
use shian_core::sync::{SyncClient, SyncConfig, SyncReport, SyncWorker};
use shian_tests::{
    add_report, op, purchase, sale, void, wait_drained, wait_until, Cluster, Device, Fault, Proxy,
    PASSWORD, PUSH_LINE,
};

const INSTANCES: usize = 3;
const REGION: &str = "350203";
const ANALYST: &str = "analyst";
/// What the server logs when a failed push made it replay the whole file
/// into its graph (`store::graph`): the cost a retry on a stale instance
/// paid before the graph followed the file.
const REBUILD: &str = "rebuilding the graph from the file";
/// The cluster's instances run without the background follower (`serve
/// --follow-ms`, every 250 ms by default), so that a scenario that passes
/// does so because an instance catches up with the file before it judges a
/// push or answers a trace or a recall, not because the follower happened
/// to have run in between; [`the_follower_keeps_an_idle_instance_caught_up`]
/// tests the follower.
const ON_DEMAND: &[&str] = &["--follow-ms", "0"];

// ---------------------------------------------------------------------------
// A deployment with its merchants, and what a run of a scenario saw
// ---------------------------------------------------------------------------

/// A deployment (a cluster or the reference) with the scenario's merchants.
struct World {
    c: Cluster,
    /// `(@label, the server's id)` of every merchant.
    merchants: Vec<(String, String)>,
    work: tempfile::TempDir,
}

impl World {
    /// Registers `(label, name)` merchants on instance 0, each with a
    /// merchant account named by its label, and an analyst.
    fn new(mut c: Cluster, merchants: &[(&str, &str)]) -> World {
        let s = c.first();
        let admin = s.admin_token();
        s.create_user(ANALYST, PASSWORD, "analyst", None, &[]);
        let merchants = merchants
            .iter()
            .map(|(label, name)| {
                let id = s.create_merchant(&admin, name, REGION);
                s.create_user(label, PASSWORD, "merchant", Some(&id), &[]);
                (format!("@{label}"), id)
            })
            .collect();
        World {
            c,
            merchants,
            work: tempfile::tempdir().expect("temp dir"),
        }
    }

    fn id(&self, label: &str) -> &str {
        let key = format!("@{label}");
        &self
            .merchants
            .iter()
            .find(|(l, _)| *l == key)
            .unwrap_or_else(|| panic!("no merchant {label}"))
            .1
    }

    /// Another account of merchant `label` (a second phone's login).
    fn user(&self, user: &str, label: &str) {
        self.c
            .at(0)
            .create_user(user, PASSWORD, "merchant", Some(self.id(label)), &[]);
    }

    /// A plan's value with its `@label`s made this deployment's ids.
    fn bind(&self, v: &Value) -> Value {
        let mut text = v.to_string();
        for (label, id) in &self.merchants {
            text = text.replace(&format!("\"{label}\""), &format!("\"{id}\""));
        }
        serde_json::from_str(&text).expect("bound JSON")
    }

    /// An answer with this deployment's ids read back as `@label`s.
    fn unbind(&self, v: &Value) -> Value {
        let mut text = v.to_string();
        for (label, id) in &self.merchants {
            text = text.replace(id.as_str(), label);
        }
        serde_json::from_str(&text).expect("unbound JSON")
    }

    /// A phone of `user` (device `dev-<name>`) that syncs with `url` in
    /// pushes of `batch` ops.
    fn device(&self, name: &str, user: &str, url: &str, batch: usize) -> Device {
        Device::open_with(self.work.path(), name, self.config(name, user, url, batch))
    }

    fn config(&self, name: &str, user: &str, url: &str, batch: usize) -> SyncConfig {
        let mut config = SyncConfig::new(url, &format!("dev-{name}"), user, PASSWORD);
        config.push_batch = batch;
        config
    }

    /// Records a plan on a device, its merchants bound.
    fn record(&self, d: &Device, plan: &[Value]) {
        for o in plan {
            let o = self.bind(o);
            d.record(o["kind"].as_str().expect("kind"), &o["payload"]);
        }
    }

    fn token(&self, i: usize, user: &str) -> String {
        self.c.at(i).login(user, PASSWORD)
    }

    /// Pushes a plan's ops to instance `i` as `user`'s device `dev-<user>`:
    /// the status and every op's answer.
    fn push(&self, i: usize, user: &str, ops: &[Value]) -> Value {
        self.push_as(i, &self.token(i, user), &format!("dev-{user}"), ops)
    }

    fn push_as(&self, i: usize, token: &str, device: &str, ops: &[Value]) -> Value {
        let ops: Vec<Value> = ops.iter().map(|o| self.bind(o)).collect();
        let (status, body) = self.c.at(i).push(token, device, &ops);
        json!({"status": status, "results": self.outcomes(&body)})
    }

    /// Per op: its status, error code and result (every code in it was
    /// given by the plan, so they are the same on every deployment); an
    /// error body as it is.
    fn outcomes(&self, body: &Value) -> Value {
        match body["results"].as_array() {
            Some(results) => results
                .iter()
                .map(|r| {
                    json!({"op_id": r["op_id"], "status": r["status"],
                           "error": r["error"]["code"], "result": self.unbind(&r["result"])})
                })
                .collect(),
            None => self.unbind(body),
        }
    }

    /// `GET /v1/trace/{code}/{direction}` asked of instance `i`.
    fn trace(&self, i: usize, direction: &str, code: &str) -> Value {
        let (status, body) = self.c.at(i).get(
            &self.token(i, ANALYST),
            &format!("/v1/trace/{code}/{direction}"),
        );
        json!({"status": status, "body": self.unbind(&body)})
    }

    /// Asks every instance for the forward trace of each code and the
    /// backward trace of each of `back`.
    fn traces(&self, out: &mut Outcome, forward: &[&str], back: &[&str]) {
        for i in 0..INSTANCES {
            for code in forward {
                out.answer(
                    &format!("forward trace of {code} at instance {i}"),
                    self.trace(i, "forward", code),
                );
            }
            for code in back {
                out.answer(
                    &format!("backward trace of {code} at instance {i}"),
                    self.trace(i, "backward", code),
                );
            }
        }
    }

    /// Every op of `plan` pushed again to every instance, as `user`: each
    /// must answer as its first push did (a duplicate with the original
    /// result), whichever instance took it first.
    fn replay(&self, out: &mut Outcome, user: &str, plan: &[Value]) {
        for i in 0..INSTANCES {
            let token = self.token(i, user);
            let answers: Vec<Value> = plan
                .chunks(400)
                .map(|ops| self.push_as(i, &token, &format!("dev-{user}-again"), ops))
                .flat_map(|r| match r["results"].as_array() {
                    Some(rs) if r["status"] == 200 => rs.clone(),
                    _ => vec![r],
                })
                .collect();
            out.answer(
                &format!("{user}'s ops pushed again at instance {i}"),
                Value::Array(answers),
            );
        }
    }

    /// Every event of `plan` exactly once on the server: the file holds the
    /// plan's entries of `label` (by entry id, once each: it is the key),
    /// the op log nothing of the device (core's client sends each event
    /// under its entry id, so a row there is a refusal or a foreign op),
    /// the device's outbox is empty and its balances are the server's; and
    /// a fresh device of the merchant pulls every entry through the front.
    fn exactly_once(&self, out: &mut Outcome, d: &Device, label: &str, user: &str, plan: &[Value]) {
        let merchant = self.id(label);
        let planned: BTreeSet<String> = plan
            .iter()
            .map(|o| {
                o["payload"]["entry_id"]
                    .as_str()
                    .expect("entry id")
                    .to_owned()
            })
            .collect();
        let file = self.c.at(0);
        let stored = file.entry_ids(merchant);
        out.check(
            &format!("{label}: the file holds every event once"),
            stored == planned,
            || {
                format!(
                    "{} stored of {} planned; missing {:?}",
                    stored.len(),
                    planned.len(),
                    planned.difference(&stored).take(3).collect::<Vec<_>>()
                )
            },
        );
        let logged = file.count(&format!(
            "SELECT COUNT(*) FROM ops WHERE device_id = 'dev-{}'",
            d.name
        ));
        out.check(&format!("{label}: no op log rows"), logged == 0, || {
            format!("{logged} rows")
        });
        let (pending, parked) = (d.pending(), d.parked());
        out.check(
            &format!("{label}: the outbox is empty"),
            (pending, parked) == (0, 0),
            || {
                format!(
                    "{pending} pending, parked: {:?}",
                    d.store().parked().expect("parked")
                )
            },
        );
        let balances = file.balances(merchant);
        out.check(
            &format!("{label}: the device's balances are the server's"),
            d.balances(merchant) == balances,
            || format!("device {:?}\nserver {balances:?}", d.balances(merchant)),
        );
        out.answer(&format!("{label}'s balances"), json!(balances));
        let mut fresh = self.device(&format!("{}-fresh", d.name), user, &self.c.url(), 500);
        let pulled = fresh.sync().map(|_| fresh.entry_ids(merchant));
        out.check(
            &format!("{label}: a fresh device pulls every event"),
            pulled.as_ref().is_ok_and(|p| *p == planned),
            || format!("{:?}", pulled.as_ref().map(BTreeSet::len)),
        );
    }

    /// The end of every scenario: how many times an instance replayed the
    /// whole file into its graph after a failed push (none: a retry on
    /// another instance is a duplicate, not a failure), every instance
    /// healthy, and the logs for a failure's message.
    fn finish(&self, mut out: Outcome) -> Outcome {
        let logs = self.c.logs();
        out.answer("graph rebuilds", json!(logs.matches(REBUILD).count()));
        for (i, s) in self.c.servers.iter().enumerate() {
            out.check(&format!("instance {i} is healthy"), s.healthy(), || {
                format!("{:?}", s.get("", "/healthz"))
            });
        }
        out.logs = logs;
        out
    }
}

/// What one run of a scenario saw: answers to compare with the
/// reference's, and checks that must hold on their own.
#[derive(Default)]
struct Outcome {
    answers: Vec<(String, Value)>,
    checks: Vec<(String, Result<(), String>)>,
    logs: String,
}

impl Outcome {
    fn answer(&mut self, what: &str, v: Value) {
        self.answers.push((what.to_owned(), v));
    }

    fn check(&mut self, what: &str, ok: bool, detail: impl FnOnce() -> String) {
        let r = if ok { Ok(()) } else { Err(detail()) };
        self.checks.push((what.to_owned(), r));
    }

    fn report(&mut self, what: &str, r: &Result<SyncReport, String>) {
        self.answer(what, json!(r));
    }

    fn failed_checks(&self) -> Vec<String> {
        self.checks
            .iter()
            .filter_map(|(what, r)| r.as_ref().err().map(|e| format!("{what}: {e}")))
            .collect()
    }
}

fn clip(v: &Value) -> String {
    let s = v.to_string();
    match s.char_indices().nth(1500) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s,
    }
}

/// Where two answers differ: for lists of one length, the first few items
/// that differ.
fn difference(what: &str, reference: &Value, cluster: &Value) -> String {
    if let (Some(a), Some(b)) = (reference.as_array(), cluster.as_array()) {
        if a.len() == b.len() {
            let differing: Vec<usize> = (0..a.len()).filter(|&i| a[i] != b[i]).collect();
            let shown: Vec<String> = differing
                .iter()
                .take(3)
                .map(|&i| {
                    format!(
                        "  [{i}] one server: {}\n  [{i}] {INSTANCES} instances: {}",
                        clip(&a[i]),
                        clip(&b[i])
                    )
                })
                .collect();
            return format!(
                "{what}: {} of {} differ\n{}",
                differing.len(),
                a.len(),
                shown.join("\n")
            );
        }
    }
    format!(
        "{what}:\n  one server: {}\n  {INSTANCES} instances: {}",
        clip(reference),
        clip(cluster)
    )
}

/// Runs `scenario` with `plan` against one plain server, which must pass
/// its own checks, then against the cluster, which must pass them too and
/// answer everything the same.
fn against_one_server_and_the_cluster<P>(plan: &P, scenario: fn(Cluster, &P) -> Outcome) {
    let reference = scenario(Cluster::single(), plan);
    let failed = reference.failed_checks();
    assert!(
        failed.is_empty(),
        "one plain server fails the scenario's own checks (the harness is wrong):\n{}\n{}",
        failed.join("\n"),
        reference.logs
    );
    let cluster = scenario(Cluster::start_with(INSTANCES, ON_DEMAND), plan);
    let mut problems: Vec<String> = cluster
        .failed_checks()
        .into_iter()
        .map(|f| format!("check failed: {f}"))
        .collect();
    let keys = |o: &Outcome| o.answers.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>();
    assert_eq!(
        keys(&reference),
        keys(&cluster),
        "a scenario asks the same questions"
    );
    for ((what, a), (_, b)) in reference.answers.iter().zip(&cluster.answers) {
        if a != b {
            problems.push(difference(what, a, b));
        }
    }
    assert!(
        problems.is_empty(),
        "{INSTANCES} instances over one file differ from one server ({} problems):\n{}\n\nthe instances' logs:\n{}",
        problems.len(),
        problems.join("\n"),
        cluster.logs
    );
}

// ---------------------------------------------------------------------------
// Plans: the same ops, with the same ids, for every deployment
// ---------------------------------------------------------------------------

fn code() -> String {
    shian_core::codes::new_code(&mut rand::rng())
}

/// A purchase of `label` with its trace code (and a voucher it scans).
fn buy(label: &str, product: &str, kg: &str, trace: &str, voucher: Option<&str>) -> Value {
    let mut p = purchase(&format!("@{label}"), product, kg);
    p["trace_code"] = json!(trace);
    if let Some(v) = voucher {
        p["voucher_code"] = json!(v);
    }
    op("ledger.purchase", &p)
}

/// A sale of `label` from batch `trace` to `buyer`.
fn sell(label: &str, trace: &str, kg: &str, buyer: Value) -> Value {
    op("ledger.sale", &sale(&format!("@{label}"), trace, kg, buyer))
}

/// A sale to the registered merchant `to`, with the voucher it scans.
fn sell_to(label: &str, trace: &str, kg: &str, to: &str, voucher: &str) -> Value {
    let mut s = sale(
        &format!("@{label}"),
        trace,
        kg,
        json!({"merchant_id": format!("@{to}")}),
    );
    s["voucher_code"] = json!(voucher);
    op("ledger.sale", &s)
}

fn retail() -> Value {
    json!({"retail": true})
}

fn entry_id(o: &Value) -> &str {
    o["payload"]["entry_id"].as_str().expect("entry id")
}

/// A stall's day: purchases, retail and named sales from batches bought
/// in earlier pushes, a sale past the stock (kept, with its warning), a
/// void, and a sale to `buyer` with voucher `voucher` from batch
/// `codes[1]`.
fn stall_day(label: &str, buyer: &str, codes: &[String; 5], voucher: &str) -> Vec<Value> {
    let first_retail = sell(label, &codes[0], "5", retail());
    let void_it = op(
        "ledger.void",
        &void(&format!("@{label}"), entry_id(&first_retail), "录入错误"),
    );
    vec![
        buy(label, "菠菜", "20", &codes[0], None),
        buy(label, "白菜", "30", &codes[1], None),
        first_retail,
        sell_to(label, &codes[1], "10", buyer, voucher),
        buy(label, "土豆", "10", &codes[2], None),
        sell(label, &codes[0], "20", retail()),
        void_it,
        sell(label, &codes[2], "2", json!({"name": "职工食堂"})),
        buy(label, "冬瓜", "8", &codes[3], None),
        sell(label, &codes[3], "3", retail()),
        sell(label, &codes[1], "5", retail()),
        buy(label, "青椒", "6", &codes[4], None),
        sell(label, &codes[4], "6", retail()),
        sell(label, &codes[2], "1", retail()),
        sell(label, &codes[3], "1", json!({"name": "小吃店"})),
    ]
}

/// Syncs until nothing is pending or parked (at most `attempts` syncs):
/// what the syncs answered in total, and how many failed.
fn settle(d: &mut Device, attempts: usize) -> (SyncReport, usize) {
    let (mut total, mut failures) = (SyncReport::default(), 0);
    for _ in 0..attempts {
        match d.sync() {
            Ok(r) => add_report(&mut total, &r),
            Err(_) => failures += 1,
        }
        if d.pending() == 0 && d.parked() == 0 {
            break;
        }
    }
    (total, failures)
}

// ---------------------------------------------------------------------------
// a. One device's pushes spread over all three instances
// ---------------------------------------------------------------------------

struct Spread {
    seller: Vec<Value>,
    buyer: Vec<Value>,
    /// The batch sold to the buyer, and the buyer's batch of it.
    sold: String,
    bought: String,
}

/// A stall's phone syncs a day in pushes of three ops through the
/// balancer, so consecutive pushes land on different instances and most
/// sales name a batch bought through another instance; the buyer then
/// scans the voucher of one sale through the balancer too.
#[test]
fn pushes_of_one_device_spread_over_all_instances() {
    let codes: [String; 5] = std::array::from_fn(|_| code());
    let (voucher, bought) = (code(), code());
    let plan = Spread {
        seller: stall_day("seller", "buyer", &codes, &voucher),
        buyer: vec![buy("buyer", "白菜", "10", &bought, Some(&voucher))],
        sold: codes[1].clone(),
        bought,
    };
    against_one_server_and_the_cluster(&plan, |c, plan| {
        let w = World::new(c, &[("seller", "鑫海蔬菜"), ("buyer", "下游餐馆")]);
        let mut out = Outcome::default();
        let mut phone = w.device("seller", "seller", &w.c.url(), 3);
        w.record(&phone, &plan.seller);
        let first = phone.sync().map_err(|e| e.to_string());
        out.report("the phone's first sync", &first);
        let (rest, failures) = settle(&mut phone, 10);
        out.answer("the phone's later syncs", json!([rest, failures]));
        let seen = w.c.pushes_seen();
        out.check(
            "every instance took pushes",
            seen.iter().all(|&n| n > 0),
            || format!("pushes per instance {seen:?}"),
        );
        let mut buyer = w.device("buyer", "buyer", &w.c.url(), 3);
        w.record(&buyer, &plan.buyer);
        let scanned = buyer.sync().map_err(|e| e.to_string());
        out.report("the buyer's sync", &scanned);
        w.traces(&mut out, &[&plan.sold], &[&plan.bought]);
        w.exactly_once(&mut out, &phone, "seller", "seller", &plan.seller);
        w.exactly_once(&mut out, &buyer, "buyer", "buyer", &plan.buyer);
        w.replay(&mut out, "seller", &plan.seller);
        w.replay(&mut out, "buyer", &plan.buyer);
        w.finish(out)
    });
}

// ---------------------------------------------------------------------------
// b. An instance SIGKILLed in the middle of a push, then restarted
// ---------------------------------------------------------------------------

/// `n` events of a cold store: purchases, every fourth a retail sale from
/// the batch bought just before (across a push boundary now and then).
fn cold_store(label: &str, n: usize) -> Vec<Value> {
    let mut last = String::new();
    (0..n)
        .map(|i| {
            if i % 4 == 3 {
                sell(label, &last, "1.5", retail())
            } else {
                last = code();
                buy(label, &format!("冻品 {i}"), "20", &last, None)
            }
        })
        .collect()
}

/// Large pushes through the balancer from a background sync worker; the
/// instance that has the first push is SIGKILLed as it arrives, the one
/// that has the second a little later (its body read, its transaction
/// running or committing), and each is restarted; the worker retries
/// through the balancer.
#[test]
fn an_instance_sigkilled_in_the_middle_of_a_push() {
    let plan = cold_store("cold", 1200);
    against_one_server_and_the_cluster(&plan, |c, plan| {
        let mut w = World::new(c, &[("cold", "冷库一号")]);
        let mut out = Outcome::default();
        let url = w.c.url();
        let device = w.device("cold", "cold", &url, 400);
        w.record(&device, plan);
        let worker = SyncWorker::spawn(
            device.store.clone(),
            SyncClient::new(w.config("cold", "cold", &url, 400)).expect("client"),
            Duration::from_millis(200),
        );
        let mut before = w.c.pushes_seen();
        for (nth, delay_ms) in [(1, 0), (2, 40)] {
            wait_until("a push on the wire", || {
                w.c.pushes_seen().iter().sum::<usize>() >= nth
            });
            let now = w.c.pushes_seen();
            let i = (0..now.len())
                .max_by_key(|&i| now[i] - before[i])
                .expect("an instance");
            before = now;
            thread::sleep(Duration::from_millis(delay_ms));
            w.c.servers[i].kill();
            let (pending, stored) = (
                device.pending(),
                w.c.at(0).count("SELECT COUNT(*) FROM entries"),
            );
            out.check(
                &format!("kill {nth} hit a push in the middle"),
                pending > 0 && (stored as usize) < plan.len(),
                || format!("{pending} pending, {stored} stored"),
            );
            w.c.servers[i].restart();
            worker.wake();
        }
        wait_drained(&worker, &device);
        worker.stop();
        let mut device = device;
        // Refusals that may clear up (an unknown batch) are parked; the
        // reference has none, and a sync unparks them.
        let (after, failures) = settle(&mut device, 5);
        out.answer(
            "what syncs after the drain refused",
            json!([after.rejected, failures]),
        );
        w.exactly_once(&mut out, &device, "cold", "cold", plan);
        w.replay(&mut out, "cold", plan);
        w.finish(out)
    });
}

// ---------------------------------------------------------------------------
// c. An answer cut after the server did the work; the retry elsewhere
// ---------------------------------------------------------------------------

struct Cut {
    ops: Vec<Value>,
    sold: String,
}

/// A proxy between the phone and the balancer cuts the answer of the
/// second push once the instance has stored it; the phone retries, and the
/// balancer sends the retry to the next instance, which must know the
/// push's events: a duplicate for each, as one server answers.
#[test]
fn a_cut_answer_retried_on_another_instance() {
    let codes: [String; 5] = std::array::from_fn(|_| code());
    let plan = Cut {
        ops: stall_day("cut", "downstream", &codes, &code()),
        sold: codes[1].clone(),
    };
    against_one_server_and_the_cluster(&plan, |c, plan| {
        let w = World::new(c, &[("cut", "断线商户"), ("downstream", "下游档口")]);
        let mut out = Outcome::default();
        let proxy = Proxy::start(w.c.port(), PUSH_LINE, Fault::Pass, 0);
        proxy.arm_after(Fault::Cut, 1, 1);
        let mut phone = w.device("cut", "cut", &proxy.url(), 5);
        w.record(&phone, &plan.ops);
        let (total, failures) = settle(&mut phone, 10);
        out.answer(
            "the phone's syncs: what they answered, how many failed, answers cut",
            json!([total, failures, proxy.faulted()]),
        );
        if let Some(b) = &w.c.balancer {
            // The balancer's access log: the cut push (the second) and its
            // retry (the third) went to different instances.
            let log = b.access_log();
            let upstreams: Vec<&str> = log
                .lines()
                .filter(|l| l.starts_with("POST /v1/sync/push"))
                .filter_map(|l| l.split("upstream=").nth(1))
                .collect();
            out.check(
                "the retry reached another instance",
                upstreams.len() >= 3 && upstreams[1] != upstreams[2],
                || log.clone(),
            );
        }
        w.traces(&mut out, &[&plan.sold], &[]);
        w.exactly_once(&mut out, &phone, "cut", "cut", &plan.ops);
        w.replay(&mut out, "cut", &plan.ops);
        w.finish(out)
    });
}

// ---------------------------------------------------------------------------
// d. Two devices redeem one voucher through different instances at once
// ---------------------------------------------------------------------------

struct Race {
    seller: Vec<Value>,
    /// The two scans of the voucher, by the buyer's phone and its tablet.
    scans: [Value; 2],
    root: String,
    voucher: String,
}

/// The seller sells 10 kg to the buyer with a voucher through instance 0;
/// the buyer's phone (through instance 1) and tablet (through instance 2)
/// scan it at the same moment. Core's rules allow one redemption per
/// voucher: one wins, the other is refused `voucher_already_redeemed`.
#[test]
fn two_devices_redeem_one_voucher_through_different_instances() {
    let (root, voucher) = (code(), code());
    let plan = Race {
        seller: vec![
            buy("seller", "冻牛肉", "40", &root, None),
            sell_to("seller", &root, "10", "buyer", &voucher),
        ],
        scans: [
            buy("buyer", "冻牛肉", "10", &code(), Some(&voucher)),
            buy("buyer", "冻牛肉", "10", &code(), Some(&voucher)),
        ],
        root,
        voucher,
    };
    against_one_server_and_the_cluster(&plan, |c, plan| {
        let w = World::new(c, &[("seller", "鑫海冻品"), ("buyer", "巷口餐馆")]);
        let mut out = Outcome::default();
        w.user("buyer-tablet", "buyer");
        out.answer(
            "the seller's push at instance 0",
            w.push(0, "seller", &plan.seller),
        );
        let devices = [("buyer", 1), ("buyer-tablet", 2)];
        let tokens: Vec<String> = devices.iter().map(|(u, i)| w.token(*i, u)).collect();
        let barrier = Barrier::new(2);
        let answers: Vec<Value> = thread::scope(|s| {
            let handles: Vec<_> = devices
                .iter()
                .zip(&tokens)
                .zip(&plan.scans)
                .map(|(((user, i), token), scan)| {
                    let (w, barrier) = (&w, &barrier);
                    s.spawn(move || {
                        barrier.wait();
                        w.push_as(
                            *i,
                            token,
                            &format!("dev-{user}"),
                            std::slice::from_ref(scan),
                        )
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("scan"))
                .collect()
        });
        // Which scan wins is a race; its answers and traces are read with
        // the two scans named by their outcome.
        let won = |a: &Value| a["results"][0]["status"] == "accepted";
        let winner = answers.iter().position(won);
        let name = |v: Value| -> Value {
            let Some(k) = winner else { return v };
            let mut text = v.to_string();
            for (j, label) in [(k, "<winner>"), (1 - k, "<loser>")] {
                let scan = &plan.scans[j]["payload"];
                for field in ["entry_id", "trace_code"] {
                    text = text.replace(scan[field].as_str().expect("id"), label);
                }
            }
            serde_json::from_str(&text).expect("JSON")
        };
        let mut outcomes: Vec<Value> = answers.iter().cloned().map(name).collect();
        outcomes.sort_by_key(Value::to_string);
        out.answer("the two scans at the same moment", json!(outcomes));
        let codes: Vec<&Value> = answers.iter().map(|a| &a["results"][0]["error"]).collect();
        out.check(
            "one scan wins, the other is refused voucher_already_redeemed",
            winner.is_some()
                && codes.iter().filter(|c| c.is_null()).count() == 1
                && codes
                    .iter()
                    .any(|c| c.as_str() == Some("voucher_already_redeemed")),
            || format!("{answers:?}"),
        );
        let redeemed = w.c.at(0).count(&format!(
            // Portable: the stored wire form names the voucher it scanned.
            "SELECT COUNT(*) FROM entries WHERE kind = 'ledger.purchase' AND CAST(payload AS TEXT) LIKE '%\"voucher_code\":\"{}\"%'",
            plan.voucher
        ));
        out.check("the file holds one redemption", redeemed == 1, || {
            format!("{redeemed} purchases scanned the voucher")
        });
        for i in 0..INSTANCES {
            out.answer(
                &format!("forward trace of the root at instance {i}"),
                name(w.trace(i, "forward", &plan.root)),
            );
        }
        // Both scans again (the winning one first) from each account, the
        // winner's first, each at the instance it scanned through: the
        // winning scan is its entry's duplicate for any account of the
        // merchant; the refused one a duplicate of its refusal for its own
        // account and `op_id_taken` for the other.
        let k = winner.unwrap_or(0);
        let in_order = [plan.scans[k].clone(), plan.scans[1 - k].clone()];
        for (role, (user, i)) in [("winner", devices[k]), ("loser", devices[1 - k])] {
            let again = w.push(i, user, &in_order);
            out.answer(
                &format!("both scans again as the {role}'s account"),
                name(again),
            );
        }
        w.finish(out)
    });
}

// ---------------------------------------------------------------------------
// e. A recall and traces asked of one instance, the pushes through others
// ---------------------------------------------------------------------------

struct Recall {
    /// Through instance 0: the root batch and its sales with vouchers.
    seller: Vec<Value>,
    /// Through instance 1: the first holder's scan.
    first: Vec<Value>,
    /// Through instance 2: the second holder's scan and a retail sale.
    second: Vec<Value>,
    root: String,
    held: [String; 2],
}

/// The holders' fields of a recall that do not depend on when it started.
fn recall_holders(w: &World, status: u16, body: &Value) -> Value {
    let holders: Vec<Value> = body["holders"]
        .as_array()
        .map(|hs| {
            hs.iter()
                .map(|h| {
                    json!({"merchant_id": h["merchant_id"], "merchant_name": h["merchant_name"],
                           "trace_code": h["trace_code"], "parent_trace_code": h["parent_trace_code"],
                           "depth": h["depth"], "received": h["received"], "state": h["state"]})
                })
                .collect()
        })
        .unwrap_or_default();
    w.unbind(&json!({"status": status, "trace_code": body["trace_code"],
                     "progress": body["progress"]["holders"], "holders": holders,
                     "error": body["error"]["code"]}))
}

/// The seller buys 100 kg and sells 30 and 20 kg to two merchants with
/// vouchers through instance 0; the holders scan them through instances 1
/// and 2. Right after, every instance traces the batch and each holder's
/// batch; an analyst starts a recall of the batch on instance 0, which
/// must name both holders, as instances 1 and 2 read it back, and each
/// holder's pull brings the notice.
#[test]
fn a_recall_and_traces_name_holders_pushed_through_other_instances() {
    let (root, v1, v2, h1, h2) = (code(), code(), code(), code(), code());
    let plan = Recall {
        seller: vec![
            buy("seller", "进口奶酪", "100", &root, None),
            sell_to("seller", &root, "30", "first", &v1),
            sell_to("seller", &root, "20", "second", &v2),
            sell("seller", &root, "10", retail()),
        ],
        first: vec![buy("first", "进口奶酪", "30", &h1, Some(&v1))],
        second: vec![
            buy("second", "进口奶酪", "20", &h2, Some(&v2)),
            sell("second", &h2, "4", retail()),
        ],
        root,
        held: [h1, h2],
    };
    against_one_server_and_the_cluster(&plan, |c, plan| {
        let w = World::new(
            c,
            &[
                ("seller", "厦门某进口商"),
                ("first", "思明超市"),
                ("second", "湖里餐馆"),
            ],
        );
        let mut out = Outcome::default();
        out.answer(
            "the seller's push at instance 0",
            w.push(0, "seller", &plan.seller),
        );
        out.answer(
            "the first holder's push at instance 1",
            w.push(1, "first", &plan.first),
        );
        out.answer(
            "the second holder's push at instance 2",
            w.push(2, "second", &plan.second),
        );
        let held: Vec<&str> = plan.held.iter().map(String::as_str).collect();
        w.traces(&mut out, &[&plan.root], &held);
        let (status, started) = send(
            &w,
            0,
            "POST",
            "/v1/recalls",
            json!({
            "trace_code": plan.root, "level": 2, "reason": "检出单增李斯特菌"}),
        );
        // Compared with one plain server, a refusal on both would agree.
        out.check("the recall started", status == 201, || {
            format!("{status} {started}")
        });
        out.answer(
            "the recall started at instance 0",
            recall_holders(&w, status, &started),
        );
        let id = started["id"].as_str().unwrap_or("none").to_owned();
        for i in 1..INSTANCES {
            let (status, body) =
                w.c.at(i)
                    .get(&w.token(i, ANALYST), &format!("/v1/recalls/{id}"));
            out.answer(
                &format!("the recall read at instance {i}"),
                recall_holders(&w, status, &body),
            );
        }
        for (label, i) in [("first", 2), ("second", 1)] {
            let token = w.token(i, label);
            let (pages, _) = w.c.at(i).pull_pages(&token, "", 100);
            let notices = pages
                .iter()
                .flatten()
                .filter(|ch| ch["kind"] == "recall.notice")
                .count();
            out.answer(
                &format!("recall notices {label} pulls at instance {i}"),
                json!(notices),
            );
        }
        w.finish(out)
    });
}

/// An analyst's request with a JSON body to instance `i`.
fn send(w: &World, i: usize, method: &str, path: &str, body: Value) -> (u16, Value) {
    let s = w.c.at(i);
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    shian_tests::send_json(
        s.http
            .request(method, s.url(path))
            .bearer_auth(w.token(i, ANALYST))
            .json(&body),
    )
}

// ---------------------------------------------------------------------------
// The background follower
// ---------------------------------------------------------------------------

/// With the follower on (the default), an instance that takes no request
/// still reads what another commits: its `/healthz` comes to show the
/// file's last entry as its position and nothing behind. `/healthz` itself
/// reads no entries, so only the follower can move the position.
#[test]
fn the_follower_keeps_an_idle_instance_caught_up() {
    let w = World::new(Cluster::start(2), &[("cold", "冷库二号")]);
    let plan = cold_store("cold", 40);
    let pushed = w.push(0, "cold", &plan);
    let accepted = pushed["results"]
        .as_array()
        .is_some_and(|rs| rs.iter().all(|r| r["status"] == "accepted"));
    assert!(accepted, "{pushed}");
    // The position is the entries read (SQLite's last rowid; on
    // PostgreSQL the sum of the districts' gapless feeds): their count.
    let end = w.c.at(0).count("SELECT COUNT(*) FROM entries");
    let mut last = Value::Null;
    wait_until("instance 1 follows instance 0's push by itself", || {
        last = w.c.at(1).get("", "/healthz").1;
        last["ledger"]["position"] == end && last["ledger"]["behind"] == 0
    });
    // Instance 0 holds its own push, and says so.
    let (_, own) = w.c.at(0).get("", "/healthz");
    assert_eq!(own["ledger"]["position"], end, "{own}");
}
