//! Two devices of one merchant and an inspector, offline, then syncing in
//! every order against the real server binary (issue 3, "Tests").

use std::collections::BTreeSet;

use serde_json::json;
use shian_core::sync::SyncError;
use shian_tests::{op, purchase, sale, skip_on_postgres, void, Device, Server, PASSWORD};

/// What one order's scenario recorded.
struct Scenario {
    entries: BTreeSet<String>,
    /// A's batch that B sold from before A had synced.
    shared_batch: String,
    cross_sale: String,
    voucher_sale: String,
    voucher_code: String,
}

const ORDERS: [[char; 3]; 6] = [
    ['A', 'B', 'I'],
    ['A', 'I', 'B'],
    ['B', 'A', 'I'],
    ['B', 'I', 'A'],
    ['I', 'A', 'B'],
    ['I', 'B', 'A'],
];
const REGIONS: [&str; 6] = ["350203", "350205", "350206", "350211", "350212", "350213"];

#[test]
fn two_devices_and_an_inspector_offline_then_every_sync_order() {
    let mut server = Server::start();
    let work = tempfile::tempdir().unwrap();

    // A merchant elsewhere, with a record of its own: nobody below may see it.
    let other = server.merchant_with_user("福州远方冻品", "350102", "far");
    let mut far = Device::open(work.path(), "far", &server.base(), "far", PASSWORD);
    far.record("ledger.purchase", &purchase(&other, "带鱼", "8"));
    far.sync_until_idle();
    let far_entries = server.entry_ids(&other);
    assert_eq!(far_entries.len(), 1);

    for (k, order) in ORDERS.iter().enumerate() {
        let region = REGIONS[k];
        let merchant = server.merchant_with_user(&format!("鑫海冻品{k}"), region, &format!("m{k}"));
        let admin = server.admin_token();
        let buyer = server.create_merchant(&admin, &format!("下游餐馆{k}"), region);
        server.create_user(&format!("i{k}"), PASSWORD, "inspector", None, &[region]);

        // Offline: the server is down while the devices record.
        server.kill();
        let mut a = Device::open(
            work.path(),
            &format!("A{k}"),
            &server.base(),
            &format!("m{k}"),
            PASSWORD,
        );
        let mut b = Device::open(
            work.path(),
            &format!("B{k}"),
            &server.base(),
            &format!("m{k}"),
            PASSWORD,
        );
        let mut i = Device::open(
            work.path(),
            &format!("I{k}"),
            &server.base(),
            &format!("i{k}"),
            PASSWORD,
        );
        let s = record_scenario(&a, &b, &merchant, &buyer);
        for d in [&mut a, &mut b, &mut i] {
            let before = d.pending();
            match d.sync() {
                Err(SyncError::Network(_)) => {}
                other => panic!(
                    "{}: a sync with the server down must fail with a network error, got {other:?}",
                    d.name
                ),
            }
            assert_eq!(
                d.pending(),
                before,
                "{}: a failed sync keeps the outbox",
                d.name
            );
            assert!(
                d.store().sync_status().unwrap().last_error.is_some(),
                "the failure is shown"
            );
        }
        assert_eq!((a.pending(), b.pending()), (4, 4));
        server.restart();

        let pos = |c: char| order.iter().position(|&x| x == c).unwrap();
        let b_before_a = pos('B') < pos('A');

        // First pass in this order.
        for &who in order {
            let d = match who {
                'A' => &mut a,
                'B' => &mut b,
                _ => &mut i,
            };
            d.sync()
                .unwrap_or_else(|e| panic!("order {order:?}: {who} sync: {e}"));
        }
        assert_eq!(
            a.pending() + a.parked(),
            0,
            "order {order:?}: A settles at once"
        );
        assert_eq!(b.pending(), 0);
        if b_before_a {
            // B's sale from A's batch reached the server before the batch:
            // refused as retryable, parked with its reason, not lost.
            let parked = b.store().parked().unwrap();
            assert_eq!(parked.len(), 1, "order {order:?}: {parked:?}");
            assert_eq!(parked[0].op_id, s.cross_sale);
            assert_eq!(parked[0].reason_code, "unknown_batch");
            assert!(parked[0].retryable);
            assert!(!server.entry_ids(&merchant).contains(&s.cross_sale));
        } else {
            assert_eq!(
                b.parked(),
                0,
                "order {order:?}: {:?}",
                b.store().parked().unwrap()
            );
        }

        // Two more passes in the same order: the parked sale goes through
        // once A's batch is on the server, then everyone pulls everything.
        for _ in 0..2 {
            for &who in order {
                let d = match who {
                    'A' => &mut a,
                    'B' => &mut b,
                    _ => &mut i,
                };
                d.sync()
                    .unwrap_or_else(|e| panic!("order {order:?}: {who} sync: {e}"));
            }
        }
        for d in [&a, &b, &i] {
            assert_eq!(
                (d.pending(), d.parked()),
                (0, 0),
                "order {order:?}: {} outbox empty",
                d.name
            );
        }

        // The server holds every entry exactly once (entry_id is its key).
        // Core's client sends each event under its entry_id, so the entry
        // row is the op's log and the op log holds nothing of them.
        assert_eq!(
            server.entry_ids(&merchant),
            s.entries,
            "order {order:?}: server view"
        );
        let logged = server.count(&format!(
            "SELECT COUNT(*) FROM ops WHERE device_id IN ('dev-A{k}', 'dev-B{k}')"
        ));
        assert_eq!(
            logged, 0,
            "order {order:?}: no op log rows beside the entries"
        );
        // Both devices hold all of the merchant's entries, the other
        // device's included, and nothing of anyone else's.
        assert_eq!(a.entry_ids(&merchant), s.entries, "order {order:?}: A");
        assert_eq!(b.entry_ids(&merchant), s.entries, "order {order:?}: B");
        assert!(a.entry_ids(&other).is_empty() && b.entry_ids(&other).is_empty());
        // A fresh device of the merchant pulls the server's view: the same.
        let mut fresh = Device::open(
            work.path(),
            &format!("F{k}"),
            &server.base(),
            &format!("m{k}"),
            PASSWORD,
        );
        fresh.sync().unwrap();
        assert_eq!(
            fresh.entry_ids(&merchant),
            s.entries,
            "order {order:?}: fresh device"
        );

        // Balances agree everywhere and are the right ones.
        let on_server = server.balances(&merchant);
        assert_eq!(
            a.balances(&merchant),
            on_server,
            "order {order:?}: A balances"
        );
        assert_eq!(
            b.balances(&merchant),
            on_server,
            "order {order:?}: B balances"
        );
        assert_eq!(
            fresh.balances(&merchant),
            on_server,
            "order {order:?}: fresh balances"
        );
        let shared = on_server
            .iter()
            .find(|r| r.0 == s.shared_batch)
            .expect("A's second batch");
        assert_eq!(
            (shared.1, shared.2),
            (30_000, 4_000),
            "B's sale counts against A's batch"
        );
        let mut outs: Vec<(i64, i64)> = on_server.iter().map(|r| (r.1, r.2)).collect();
        outs.sort();
        assert_eq!(
            outs,
            vec![(20_000, 0), (30_000, 4_000), (50_000, 15_000)],
            "the voided sale gave its 2 kg back"
        );

        // The voucher made on device A offline is the one the server keeps.
        let kept = server
            .entry_payload(&s.voucher_sale)
            .expect("the voucher sale is stored");
        assert_eq!(kept["voucher_code"], s.voucher_code.as_str());

        // The inspector holds its district's merchants, no ledger, and
        // nothing from elsewhere.
        let dir = i.directory();
        assert!(
            dir.contains(&merchant) && dir.contains(&buyer),
            "order {order:?}: inspector directory {dir:?}"
        );
        assert!(!dir.contains(&other));
        assert_eq!(
            i.store().counts().unwrap().entries,
            0,
            "inspectors get the registry, not every sale"
        );
    }
    assert_eq!(
        server.entry_ids(&other),
        far_entries,
        "the far merchant's ledger is untouched"
    );
    assert!(server.healthy());
}

/// A: two purchases, a retail sale and a sale to a registered buyer (with a
/// voucher made offline). B: a purchase, a named sale and its void, and a
/// sale from A's second batch (B read the batch's label).
fn record_scenario(a: &Device, b: &Device, merchant: &str, buyer: &str) -> Scenario {
    let mut entries = BTreeSet::new();
    let mut rec = |d: &Device, kind: &str, p: serde_json::Value| {
        entries.insert(p["entry_id"].as_str().unwrap().to_owned());
        let code = d.record(kind, &p);
        (p["entry_id"].as_str().unwrap().to_owned(), code)
    };
    let (_, p1) = rec(a, "ledger.purchase", purchase(merchant, "青菜", "50"));
    let (_, p2) = rec(a, "ledger.purchase", purchase(merchant, "冬瓜", "30"));
    let p1 = p1.unwrap();
    let p2 = p2.unwrap();
    rec(
        a,
        "ledger.sale",
        sale(merchant, &p1, "5", json!({"retail": true})),
    );
    let voucher_sale = sale(merchant, &p1, "10", json!({"merchant_id": buyer}));
    let (voucher_sale, _) = rec(a, "ledger.sale", voucher_sale);
    let voucher_code: String = a
        .store()
        .conn()
        .query_row(
            "SELECT voucher_code FROM movements WHERE entry_id = ?1",
            [&voucher_sale],
            |r| r.get(0),
        )
        .unwrap();

    let (_, p3) = rec(b, "ledger.purchase", purchase(merchant, "土豆", "20"));
    let (s3, _) = rec(
        b,
        "ledger.sale",
        sale(merchant, &p3.unwrap(), "2", json!({"name": "职工食堂"})),
    );
    rec(b, "ledger.void", void(merchant, &s3, "录入错误"));
    let (cross_sale, _) = rec(
        b,
        "ledger.sale",
        sale(merchant, &p2, "4", json!({"retail": true})),
    );
    Scenario {
        entries,
        shared_batch: p2,
        cross_sale,
        voucher_sale,
        voucher_code,
    }
}

/// An inspector whose scope is a whole city (350200, 厦门市) covers the
/// districts in it (350203, 350206 …), as the server's own registry reads
/// do (`validate::region_covers`): its pull must bring their merchants.
#[test]
fn a_city_inspector_pulls_the_merchants_of_its_districts() {
    let mut server = Server::start();
    let work = tempfile::tempdir().unwrap();
    let admin = server.admin_token();
    let in_city = server.create_merchant(&admin, "思明区商户", "350203");
    let in_other_district = server.create_merchant(&admin, "湖里区商户", "350206");
    let elsewhere = server.create_merchant(&admin, "福州商户", "350102");
    server.create_user("city", PASSWORD, "inspector", None, &["350200"]);
    let mut i = Device::open(work.path(), "city", &server.base(), "city", PASSWORD);
    i.sync().unwrap();
    let dir = i.directory();
    assert!(!dir.contains(&elsewhere), "{dir:?}");
    assert!(
        dir.contains(&in_city) && dir.contains(&in_other_district),
        "a 350200 inspector must receive the merchants of 350203 and 350206; got {dir:?}"
    );
}

/// A refused op is parked with its reason and shown; the ops behind it go
/// through (matrix-rust-sdk's wedged queue is the bug to avoid). That holds
/// for an op the server refuses by rule and for one too large for any push.
#[test]
fn refused_ops_are_parked_and_never_block_the_queue() {
    let mut server = Server::start();
    let merchant = server.merchant_with_user("排队商户", "350203", "q");
    let work = tempfile::tempdir().unwrap();
    let mut d = Device::open(work.path(), "q", &server.base(), "q", PASSWORD);
    // Refused by rule: the supplier is not a registered merchant.
    let mut bad = purchase(&merchant, "来路不明", "5");
    bad["supplier"] = json!({"merchant_id": "00000000-0000-7000-8000-000000000001"});
    d.record("ledger.purchase", &bad);
    // Too large for the server's body limit even alone (an event kind the
    // device only queues, e.g. an inspection with an inline photo).
    let huge = json!({"id": shian_tests::new_id(), "photo": "A".repeat(5 << 20)});
    d.store()
        .enqueue(
            &shian_tests::new_id(),
            "inspection.record",
            &shian_tests::now_wire(),
            &huge,
        )
        .unwrap();
    let mut good = BTreeSet::new();
    for i in 0..3 {
        let p = purchase(&merchant, &format!("排在后面 {i}"), "1");
        good.insert(p["entry_id"].as_str().unwrap().to_owned());
        d.record("ledger.purchase", &p);
    }
    let mut last = None;
    for _ in 0..3 {
        last = Some(d.sync());
    }
    assert!(
        server.entry_ids(&merchant).is_superset(&good),
        "the ops behind the refused ones reached the server; last sync: {last:?}"
    );
    assert!(last.unwrap().is_ok());
    assert_eq!(d.pending(), 0);
    let parked = d.store().parked().unwrap();
    let reasons: BTreeSet<&str> = parked.iter().map(|p| p.reason_code.as_str()).collect();
    assert_eq!(
        reasons,
        BTreeSet::from(["payload_too_large", "unknown_merchant"]),
        "{parked:?}"
    );
    assert!(parked.iter().all(|p| !p.retryable && !p.message.is_empty()));
    assert!(server.healthy());
}

/// Tokens expire; the client logs in again by itself.
#[test]
fn an_expired_token_is_renewed_by_the_client() {
    let mut server = Server::start_with(&["--token-ttl", "1"]);
    let merchant = server.merchant_with_user("短令牌", "350203", "ttl");
    let work = tempfile::tempdir().unwrap();
    let mut d = Device::open(work.path(), "ttl", &server.base(), "ttl", PASSWORD);
    d.record("ledger.purchase", &purchase(&merchant, "第一批", "1"));
    d.sync().unwrap();
    // Past the expiry and the server's 5 s leeway.
    std::thread::sleep(std::time::Duration::from_secs(7));
    d.record("ledger.purchase", &purchase(&merchant, "第二批", "1"));
    let r = d.sync().expect("the client logs in again after a 401");
    assert_eq!(r.accepted, 1);
    assert_eq!(server.entry_ids(&merchant).len(), 2);
}

/// Pull walks two feeds behind one cursor: the change feed (the merchant's
/// own card, checklists) and the ledger itself, read straight from the
/// entries the server accepted. Small pages must give every change once, in
/// order, and only the caller's; a cursor resumes exactly where it stopped,
/// and a one-part cursor from an older server restarts the ledger.
#[test]
fn pull_pages_the_change_feed_and_the_ledger_behind_one_cursor() {
    let mut server = Server::start();
    let merchant = server.merchant_with_user("两条流商户", "350203", "feed");
    let neighbour = server.merchant_with_user("隔壁商户", "350203", "next");
    let http = &server.http;
    let push = |user: &str, payloads: &[serde_json::Value]| {
        let token = server.login(user, PASSWORD);
        let ops: Vec<_> = payloads
            .iter()
            .map(|p| shian_tests::op("ledger.purchase", p))
            .collect();
        let res = http
            .post(server.url("/v1/sync/push"))
            .bearer_auth(token)
            .json(&json!({"device_id": format!("dev-{user}"), "ops": ops}))
            .send()
            .unwrap();
        assert_eq!(res.status(), 200);
        let body: serde_json::Value = res.json().unwrap();
        assert!(
            body["results"]
                .as_array()
                .unwrap()
                .iter()
                .all(|r| r["status"] == "accepted"),
            "{body}"
        );
    };
    let batch = |m: &str, n: usize, tag: &str| {
        (0..n)
            .map(|i| purchase(m, &format!("{tag}{i}"), "2"))
            .collect::<Vec<_>>()
    };
    let first = batch(&merchant, 5, "早");
    push("feed", &first);
    push("next", &batch(&neighbour, 3, "邻"));
    let token = server.login("feed", PASSWORD);
    // All pages from `cursor` with `limit`: (kind, entry_id or "") and the last cursor.
    let walk = |cursor: &str, limit: usize| {
        let (pages, end) = server.pull_pages(&token, cursor, limit);
        assert!(
            pages.iter().all(|p| p.len() <= limit),
            "a page holds at most `limit` changes"
        );
        let seen: Vec<(String, String)> = pages
            .iter()
            .flatten()
            .map(|c| {
                (
                    c["kind"].as_str().unwrap().to_owned(),
                    c["payload"]["entry_id"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                )
            })
            .collect();
        (seen, end, pages.len())
    };
    let ids = |ps: &[serde_json::Value]| {
        ps.iter()
            .map(|p| p["entry_id"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    let ledger = |seen: &[(String, String)]| {
        seen.iter()
            .filter(|(k, _)| k.starts_with("ledger."))
            .map(|(_, id)| id.clone())
            .collect::<Vec<_>>()
    };
    let (whole, end, _) = walk("", 5000);
    for limit in [1, 2, 3] {
        let (paged, paged_end, pages) = walk("", limit);
        assert_eq!(
            paged, whole,
            "limit {limit} gives the same changes in the same order"
        );
        assert_eq!(paged_end, end);
        assert!(pages >= whole.len() / limit);
    }
    // The change feed comes first (the merchant's own card at least), then
    // the ledger in acceptance order, the neighbour's entries nowhere.
    let first_ledger = whole
        .iter()
        .position(|(k, _)| k.starts_with("ledger."))
        .unwrap();
    assert!(
        whole[..first_ledger].iter().any(|(k, _)| k == "merchant"),
        "{whole:?}"
    );
    assert!(whole[first_ledger..]
        .iter()
        .all(|(k, _)| k.starts_with("ledger.")));
    assert_eq!(ledger(&whole), ids(&first));
    // More entries later: the old cursor gives exactly them.
    let later = batch(&merchant, 4, "晚");
    push("feed", &later);
    let (fresh, _, _) = walk(&end, 2);
    assert_eq!(ledger(&fresh), ids(&later));
    assert_eq!(
        fresh.len(),
        later.len(),
        "nothing from the change feed again: {fresh:?}"
    );
    // A one-part cursor (`s` + change sequence) restarts the ledger only.
    let (restart, _, _) = walk("s0", 3);
    assert_eq!(ledger(&restart), [ids(&first), ids(&later)].concat());
}

/// `/metrics` shows how far behind the devices are: the age, by the
/// device's clock, of the oldest op accepted in the latest push. A refused
/// op (older still) does not count, and a newer push replaces the figure.
#[test]
fn metrics_show_the_outbox_lag_of_the_latest_push() {
    let mut server = Server::start();
    let merchant = server.merchant_with_user("离线两小时", "350203", "lag");
    let token = server.login("lag", PASSWORD);
    let http = &server.http;
    let ago = |secs: i64| (chrono::Utc::now() - chrono::Duration::seconds(secs)).to_rfc3339();
    let lag = || -> i64 {
        let text = http
            .get(server.url("/metrics"))
            .send()
            .unwrap()
            .text()
            .unwrap();
        let line = text
            .lines()
            .find(|l| l.starts_with("shian_sync_outbox_lag_seconds "))
            .unwrap_or_else(|| panic!("no lag series in {text}"));
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    };
    assert_eq!(lag(), 0, "no push yet");
    let push = |ops: Vec<serde_json::Value>| {
        let res = http
            .post(server.url("/v1/sync/push"))
            .bearer_auth(&token)
            .json(&json!({"device_id": "dev-lag", "ops": ops}))
            .send()
            .unwrap();
        assert_eq!(res.status(), 200);
    };
    let mut offline = shian_tests::op("ledger.purchase", &purchase(&merchant, "两小时前收货", "4"));
    offline["at"] = json!(ago(2 * 3600));
    let mut recent = shian_tests::op("ledger.purchase", &purchase(&merchant, "刚收货", "1"));
    recent["at"] = json!(ago(60));
    let mut refused = shian_tests::op(
        "ledger.purchase",
        &json!({"entry_id": shian_tests::new_id(), "merchant_id": merchant}),
    );
    refused["at"] = json!(ago(5 * 3600));
    push(vec![recent.clone(), offline, refused]);
    let first = lag();
    assert!((2 * 3600..2 * 3600 + 60).contains(&first), "lag {first}");
    let mut fresh = shian_tests::op("ledger.purchase", &purchase(&merchant, "现在收货", "1"));
    fresh["at"] = json!(ago(5));
    push(vec![fresh]);
    let second = lag();
    assert!((5..60).contains(&second), "lag {second}");
}

/// The server judges pushes against ledger state it keeps in memory and
/// rebuilds from its entries: after a restart the balances, taken entry
/// ids, voids and traces are what they were; a push whose transaction fails
/// after its events were judged leaves no trace of them in that state.
#[test]
fn ledger_state_in_memory_survives_a_restart_and_forgets_a_failed_push() {
    let mut server = Server::start();
    let merchant = server.merchant_with_user("重启后的档口", "350203", "restart");
    let other = server.merchant_with_user("隔壁档口", "350203", "neighbour");
    server.create_user("restart-analyst", PASSWORD, "analyst", None, &[]);
    let (token, neighbour) = (
        server.login("restart", PASSWORD),
        server.login("neighbour", PASSWORD),
    );
    let push = |server: &Server,
                token: &str,
                ops: Vec<serde_json::Value>|
     -> Vec<serde_json::Value> {
        let res = server
            .http
            .post(server.url("/v1/sync/push"))
            .bearer_auth(token)
            .json(&json!({"device_id": format!("dev-{}", &token[token.len() - 8..]), "ops": ops}))
            .send()
            .unwrap();
        assert_eq!(res.status(), 200);
        res.json::<serde_json::Value>().unwrap()["results"]
            .as_array()
            .unwrap()
            .clone()
    };
    let held = |server: &Server, code: &str| -> String {
        let analyst = server.login("restart-analyst", PASSWORD);
        let t: serde_json::Value = server
            .http
            .get(server.url(&format!("/v1/trace/{code}/forward")))
            .bearer_auth(analyst)
            .send()
            .unwrap()
            .json()
            .unwrap();
        t["held"]["value"]
            .as_str()
            .unwrap_or_else(|| panic!("no trace of {code}: {t}"))
            .to_owned()
    };

    let p = purchase(&merchant, "菠菜", "10");
    let r = push(&server, &token, vec![op("ledger.purchase", &p)]);
    let code = r[0]["result"]["trace_code"].as_str().unwrap().to_owned();
    let s1 = sale(&merchant, &code, "4", json!({"retail": true}));
    let s2 = sale(&merchant, &code, "1", json!({"retail": true}));
    let r = push(
        &server,
        &token,
        vec![op("ledger.sale", &s1), op("ledger.sale", &s2)],
    );
    assert!(r.iter().all(|x| x["status"] == "accepted"), "{r:?}");
    let v = void(&merchant, s2["entry_id"].as_str().unwrap(), "录错");
    assert_eq!(
        push(&server, &token, vec![op("ledger.void", &v)])[0]["status"],
        "accepted"
    );
    assert_eq!(held(&server, &code), "6");

    server.kill();
    server.restart();
    assert_eq!(
        held(&server, &code),
        "6",
        "balances rebuilt from the entries"
    );
    // 7 kg of the 6 held: accepted with the oversell warning.
    let over = sale(&merchant, &code, "7", json!({"retail": true}));
    let mut again = p.clone();
    again["product"]["name"] = json!("换了名字");
    let mut void_again = void(&merchant, s2["entry_id"].as_str().unwrap(), "再作废");
    void_again["entry_id"] = json!(shian_tests::new_id());
    let void_of_void = void(&merchant, v["entry_id"].as_str().unwrap(), "作废作废记录");
    let mut renamed = op("ledger.purchase", &again);
    renamed["op_id"] = json!(shian_tests::new_id());
    let r = push(
        &server,
        &token,
        vec![
            op("ledger.sale", &over),
            renamed,
            op("ledger.void", &void_again),
            op("ledger.void", &void_of_void),
        ],
    );
    let codes: Vec<String> = r
        .iter()
        .map(|x| {
            x["error"]["code"]
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| {
                    x["result"]["warnings"][0]["code"]
                        .as_str()
                        .unwrap_or("-")
                        .to_owned()
                })
        })
        .collect();
    assert_eq!(
        codes,
        [
            "sale_exceeds_stock",
            "entry_exists",
            "already_voided",
            "cannot_void_a_void"
        ],
        "{r:?}"
    );
    assert_eq!(held(&server, &code), "-1");
    let theirs = push(
        &server,
        &neighbour,
        vec![op(
            "ledger.sale",
            &sale(&other, &code, "1", json!({"retail": true})),
        )],
    );
    assert_eq!(theirs[0]["error"]["code"], "not_your_batch");

    if skip_on_postgres(
        "the failed-write half of this test breaks the SQLite file's inserts with triggers",
    ) {
        return;
    }
    // Make the next entry write fail inside the push's transaction, after
    // the rules have judged the event on the in-memory state.
    let rebuilds = || {
        server
            .logs()
            .matches("rebuilding the graph from the file")
            .count()
    };
    let before_failure = rebuilds();
    let rw = rusqlite::Connection::open(server.sqlite_path().unwrap()).unwrap();
    rw.busy_timeout(std::time::Duration::from_secs(10)).unwrap();
    rw.execute_batch("CREATE TRIGGER fail_entries BEFORE INSERT ON entries BEGIN SELECT RAISE(ABORT, 'disk full (test)'); END;").unwrap();
    let lost = purchase(&merchant, "写入失败", "3");
    let res = server.http.post(server.url("/v1/sync/push")).bearer_auth(&token).json(&json!({"device_id": "dev-fail", "ops": [op("ledger.purchase", &lost), op("ledger.sale", &sale(&merchant, &code, "1", json!({"retail": true})))]})).send().unwrap();
    assert_eq!(
        res.status(),
        500,
        "a storage failure fails the push, to be retried"
    );
    assert_eq!(
        held(&server, &code),
        "-1",
        "the failed push's sale is not in the balances"
    );
    rw.execute_batch("DROP TRIGGER fail_entries").unwrap();
    let after_failure = rebuilds();
    assert_eq!(
        after_failure,
        before_failure + 1,
        "the failed push rebuilt the graph once"
    );
    // A push that fails before judging anything (claiming a new device)
    // leaves the graph as it was, and costs no rebuild.
    rw.execute_batch("CREATE TRIGGER fail_devices BEFORE INSERT ON devices BEGIN SELECT RAISE(ABORT, 'disk full (test)'); END;").unwrap();
    let res = server
        .http
        .post(server.url("/v1/sync/push"))
        .bearer_auth(&token)
        .json(&json!({"device_id": "dev-new", "ops": [op("ledger.purchase", &lost)]}))
        .send()
        .unwrap();
    assert_eq!(res.status(), 500);
    assert_eq!(
        rebuilds(),
        after_failure,
        "no rebuild when the graph was not touched"
    );
    rw.execute_batch("DROP TRIGGER fail_devices").unwrap();
    let r = push(&server, &token, vec![op("ledger.purchase", &lost)]);
    assert_eq!(
        r[0]["status"], "accepted",
        "the failed purchase's entry id was not kept: {r:?}"
    );
    assert!(server.healthy());
}

/// A ledger op sent under its entry_id (as core's client does) is logged by
/// its entry row alone; its retry, after a crash too, is a duplicate with
/// the very answer of the first push (server-made voucher and warnings
/// included), and nobody else can take its op_id meanwhile.
#[test]
fn a_retry_is_answered_from_its_entry_even_after_a_restart() {
    let mut server = Server::start();
    let merchant = server.merchant_with_user("重试的档口", "350203", "retry");
    let buyer = server.merchant_with_user("下游档口", "350203", "retry-buyer");
    let (token, buyer_token) = (
        server.login("retry", PASSWORD),
        server.login("retry-buyer", PASSWORD),
    );
    let push = |server: &Server,
                token: &str,
                ops: Vec<serde_json::Value>|
     -> Vec<serde_json::Value> {
        let res = server
            .http
            .post(server.url("/v1/sync/push"))
            .bearer_auth(token)
            .json(&json!({"device_id": format!("dev-{}", &token[token.len() - 8..]), "ops": ops}))
            .send()
            .unwrap();
        assert_eq!(res.status(), 200);
        res.json::<serde_json::Value>().unwrap()["results"]
            .as_array()
            .unwrap()
            .clone()
    };

    let p = purchase(&merchant, "冻虾", "5");
    let first = push(&server, &token, vec![op("ledger.purchase", &p)]);
    let code = first[0]["result"]["trace_code"]
        .as_str()
        .unwrap()
        .to_owned();
    // 8 kg of 5 to a registered buyer: accepted with a warning and a voucher
    // the server makes; then a retail sale under an op_id of its own.
    let s = sale(&merchant, &code, "8", json!({"merchant_id": buyer}));
    let retail = sale(&merchant, &code, "1", json!({"retail": true}));
    let mut retail_op = op("ledger.sale", &retail);
    retail_op["op_id"] = json!(shian_tests::new_id());
    let second = push(
        &server,
        &token,
        vec![op("ledger.sale", &s), retail_op.clone()],
    );
    assert!(
        second.iter().all(|r| r["status"] == "accepted"),
        "{second:?}"
    );
    let voucher = second[0]["result"]["voucher_code"]
        .as_str()
        .expect("a voucher made by the server")
        .to_owned();
    assert_eq!(
        second[0]["result"]["warnings"][0]["code"], "sale_exceeds_stock",
        "{second:?}"
    );
    let device = format!("dev-{}", &token[token.len() - 8..]);
    assert_eq!(
        server.count(&format!(
            "SELECT COUNT(*) FROM ops WHERE device_id = '{device}'"
        )),
        1,
        "only the op under a foreign op_id is in the op log"
    );
    // Who sent each entry is kept per push: every entry of the merchant lies
    // in exactly one push of this device and account.
    let user_id = server.login_full("retry", PASSWORD)["subject_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let sent_by = |server: &Server, device: &str| {
        // A push's entries: a run of rowids in SQLite, of feed positions in
        // the entry's district on PostgreSQL.
        let within = if server.on_postgres() {
            "p.region_code = e.region_code AND e.pos BETWEEN p.first_pos AND p.last_pos"
        } else {
            "e.rowid BETWEEN p.first_entry AND p.last_entry"
        };
        server.count(&format!(
            "SELECT COUNT(*) FROM entries e WHERE e.merchant_id = '{merchant}' AND (SELECT COUNT(*) FROM pushes p
             WHERE {within} AND p.device_id = '{device}' AND p.user_id = '{user_id}') = 1"
        ))
    };
    assert_eq!(
        (
            sent_by(&server, &device),
            server.count("SELECT COUNT(*) FROM pushes")
        ),
        (3, 2)
    );

    server.kill();
    server.restart();
    let again = push(
        &server,
        &token,
        vec![op("ledger.purchase", &p), op("ledger.sale", &s), retail_op],
    );
    for (a, b) in again.iter().zip(first.iter().chain(&second)) {
        assert_eq!(
            (&a["op_id"], a["status"].as_str()),
            (&b["op_id"], Some("duplicate")),
            "{again:?}"
        );
        assert_eq!(a["result"], b["result"], "the retry gets the first answer");
    }

    // The buyer sending an op under the seller's entry id learns nothing,
    // and the seller's retry is still its own duplicate.
    let theirs = purchase(&buyer, "买方自己的货", "1");
    let mut steal = op("ledger.purchase", &theirs);
    steal["op_id"] = s["entry_id"].clone();
    let r = push(&server, &buyer_token, vec![steal]);
    assert_eq!(r[0]["error"]["code"], "op_id_taken", "{r:?}");
    assert!(
        !r[0].to_string().contains(&voucher) && !r[0].to_string().contains(&code),
        "{r:?}"
    );
    let r = push(&server, &token, vec![op("ledger.sale", &s)]);
    assert_eq!(
        (r[0]["status"].as_str(), &r[0]["result"]),
        (Some("duplicate"), &second[0]["result"])
    );
    assert_eq!(server.entry_ids(&merchant).len(), 3, "nothing stored twice");
    assert_eq!(
        (
            sent_by(&server, &device),
            server.count("SELECT COUNT(*) FROM pushes")
        ),
        (3, 2),
        "retries write no push rows"
    );
    assert!(
        server.entry_ids(&buyer).is_empty(),
        "nothing of the buyer's refused op stored"
    );
    assert!(server.healthy());
}
