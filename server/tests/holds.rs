//! Holds and destruction (暂扣、销毁), against the real server and a real
//! device store: the operator's scope, the hold reaching a device that was
//! offline and stopping the sale there, a sale made before the hold arrived
//! (kept, with `held_batch_sold`), release, destruction with a witness and
//! photos, and every bad input a clear refusal that stores nothing.

mod common;

use std::sync::Mutex;

use chrono::{Duration, FixedOffset, Utc};
use common::{expect_error, uscc, TestServer};
use reqwest::StatusCode;
use serde_json::{json, Value};
use shian_core::error::LedgerError;
use shian_core::store::LocalStore;
use shian_core::sync::{SyncClient, SyncConfig};
use shian_server::db_target::DbTarget;
use shian_server::store::Role;

fn code() -> String {
    shian_core::codes::new_code(&mut rand::rng())
}

fn id() -> String {
    uuid::Uuid::now_v7().to_string()
}

fn cn(minutes: i64) -> String {
    (Utc::now() + Duration::minutes(minutes))
        .with_timezone(&FixedOffset::east_opt(8 * 3600).unwrap())
        .to_rfc3339()
}

fn purchase(merchant: &str, trace: &str, kg: &str) -> Value {
    json!({"entry_id": id(), "merchant_id": merchant,
           "product": {"name": "冻牛肉", "category": "livestock_meat"},
           "quantity": {"value": kg, "unit": "kg"},
           "supplier": {"name": "某冷库"},
           "certificates": [{"kind": "quarantine", "number": "Q-2026-1"}],
           "trace_code": trace, "received_at": cn(-600)})
}

fn sale(merchant: &str, trace: &str, kg: &str, minutes: i64) -> Value {
    json!({"entry_id": id(), "merchant_id": merchant, "trace_code": trace,
           "quantity": {"value": kg, "unit": "kg"}, "buyer": {"retail": true},
           "sold_at": cn(minutes)})
}

fn op(kind: &str, payload: Value) -> Value {
    let op_id = payload["entry_id"]
        .as_str()
        .or(payload["hold_id"]
            .as_str()
            .filter(|_| kind == "market.hold"))
        .map(str::to_owned)
        .unwrap_or_else(id);
    json!({"op_id": op_id, "kind": kind, "at": cn(0), "payload": payload})
}

fn hold(market: &str, merchant: &str, trace: &str) -> Value {
    json!({"hold_id": id(), "market_id": market, "merchant_id": merchant,
           "trace_code": trace, "reason": "unknown_origin", "note": "无检疫证明"})
}

/// The world of a test: two markets, a merchant in each with a batch, an
/// operator of each market.
struct World {
    s: TestServer,
    admin: String,
    market: String,
    other_market: String,
    m1: String,
    m1_token: String,
    m2: String,
    m2_token: String,
    op: String,
    other_op: String,
    /// m1's batch (100 kg) and m2's.
    batch: String,
    other_batch: String,
}

async fn merchant(s: &TestServer, admin: &str, market: &str, stem: &str) -> String {
    let res = s
        .post(
            "/v1/merchants",
            admin,
            json!({"name": format!("冻品行{stem}"), "uscc": uscc(stem), "market_id": market, "region_code": "350203"}),
        )
        .await;
    let status = res.status();
    let v: Value = res.json().await.unwrap();
    assert_eq!(status, StatusCode::CREATED, "{v}");
    v["id"].as_str().unwrap().to_owned()
}

async fn push(s: &TestServer, token: &str, device: &str, ops: Vec<Value>) -> Vec<Value> {
    push_pulled(s, token, device, None, ops).await
}

async fn push_pulled(
    s: &TestServer,
    token: &str,
    device: &str,
    pulled: Option<&str>,
    ops: Vec<Value>,
) -> Vec<Value> {
    let mut body = json!({"device_id": device, "ops": ops});
    if let Some(c) = pulled {
        body["pulled_cursor"] = json!(c);
    }
    let res = s.post("/v1/sync/push", token, body).await;
    let status = res.status();
    let v: Value = res.json().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{v}");
    v["results"].as_array().unwrap().clone()
}

fn accepted(r: &Value) -> &Value {
    assert_eq!(r["status"], "accepted", "{r}");
    &r["result"]
}

fn refused<'a>(r: &'a Value, code: &str) -> &'a Value {
    assert_eq!(r["status"], "rejected", "{r}");
    assert_eq!(r["error"]["code"], code, "{r}");
    &r["error"]
}

async fn world() -> World {
    let s = TestServer::start().await;
    let admin = s.admin().await;
    let (market, other_market) = (s.create_market(&admin).await, s.create_market(&admin).await);
    let m1 = merchant(&s, &admin, &market, "9235020300000209").await;
    let m2 = merchant(&s, &admin, &other_market, "9235020300000219").await;
    s.user("m1", "merchant-pass-1", Role::Merchant, Some(&m1), &[])
        .await;
    s.user("m2", "merchant-pass-1", Role::Merchant, Some(&m2), &[])
        .await;
    s.operator("op", "operator-pass-1", &[&market]).await;
    s.operator("op2", "operator-pass-1", &[&other_market]).await;
    let m1_token = s.token("m1", "merchant-pass-1").await;
    let m2_token = s.token("m2", "merchant-pass-1").await;
    let op_token = s.token("op", "operator-pass-1").await;
    let other_op = s.token("op2", "operator-pass-1").await;
    let (batch, other_batch) = (code(), code());
    let r = push(
        &s,
        &m1_token,
        "m1-web",
        vec![op("ledger.purchase", purchase(&m1, &batch, "100"))],
    )
    .await;
    accepted(&r[0]);
    let r = push(
        &s,
        &m2_token,
        "m2-web",
        vec![op("ledger.purchase", purchase(&m2, &other_batch, "40"))],
    )
    .await;
    accepted(&r[0]);
    World {
        s,
        admin,
        market,
        other_market,
        m1,
        m1_token,
        m2,
        m2_token,
        op: op_token,
        other_op,
        batch,
        other_batch,
    }
}

/// Rows of the tables a hold writes: a refused op must add none.
fn written(w: &World) -> (i64, i64, i64) {
    (
        w.s.count("SELECT COUNT(*) FROM holds"),
        w.s.count("SELECT COUNT(*) FROM changes WHERE kind LIKE 'hold.%'"),
        w.s.count("SELECT COUNT(*) FROM alerts WHERE kind = 'batch_held'"),
    )
}

async fn alerts(w: &World, kind: &str) -> Vec<Value> {
    let res = w.s.get(&format!("/v1/alerts?kind={kind}"), &w.admin).await;
    assert_eq!(res.status(), StatusCode::OK);
    let v: Value = res.json().await.unwrap();
    v["alerts"].as_array().unwrap().clone()
}

async fn pulled_kinds(w: &World, token: &str) -> Vec<(String, Value)> {
    let v: Value = w.s.get("/v1/sync/pull", token).await.json().await.unwrap();
    v["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["kind"].as_str().unwrap().starts_with("hold."))
        .map(|c| (c["kind"].as_str().unwrap().to_owned(), c["payload"].clone()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_markets_operator_holds_its_merchants_batches() {
    let w = world().await;
    let s = &w.s;

    // Refusals first: each a clear code at its field, nothing stored.
    let cases: Vec<(&str, Value, &str, &str)> = vec![
        (
            &w.op,
            hold(&w.other_market, &w.m2, &w.other_batch),
            "out_of_scope",
            "payload.market_id",
        ),
        (
            &w.op,
            hold(&w.market, &w.m2, &w.other_batch),
            "out_of_scope",
            "payload.merchant_id",
        ),
        (
            &w.op,
            hold(&w.market, &w.m1, &w.other_batch),
            "not_merchants_batch",
            "payload.trace_code",
        ),
        (
            &w.op,
            hold(&w.market, &w.m1, &code()),
            "not_merchants_batch",
            "payload.trace_code",
        ),
        (
            &w.op,
            hold(&w.market, "no-such-merchant", &w.batch),
            "unknown_merchant",
            "payload.merchant_id",
        ),
        (
            &w.m1_token,
            hold(&w.market, &w.m1, &w.batch),
            "forbidden_kind",
            "kind",
        ),
        (
            &w.op,
            {
                let mut h = hold(&w.market, &w.m1, &w.batch);
                h["reason"] = json!("smelly");
                h
            },
            "invalid_enum",
            "payload.reason",
        ),
        (
            &w.op,
            {
                let mut h = hold(&w.market, &w.m1, &w.batch);
                h["trace_code"] = json!("not-a-code");
                h
            },
            "invalid_code",
            "payload.trace_code",
        ),
        (
            &w.op,
            {
                let mut h = hold(&w.market, &w.m1, &w.batch);
                h["hold_id"] = json!("x");
                h
            },
            "invalid_uuid",
            "payload.hold_id",
        ),
        (&w.op, json!("not an object"), "wrong_type", "payload"),
    ];
    for (token, payload, code, field) in cases {
        let device = if token == w.m1_token {
            "m1-web"
        } else {
            "tab-1"
        };
        let r = push(s, token, device, vec![op("market.hold", payload)]).await;
        let e = refused(&r[0], code);
        assert_eq!(e["field"], field, "{e}");
    }
    let mut future = op("market.hold", hold(&w.market, &w.m1, &w.batch));
    future["at"] = json!(cn(60));
    refused(
        &push(s, &w.op, "tab-1", vec![future]).await[0],
        "future_time",
    );
    assert_eq!(written(&w), (0, 0, 0), "a refused hold stores nothing");

    // The operator of the market holds its merchant's batch.
    let h = hold(&w.market, &w.m1, &w.batch);
    let hold_id = h["hold_id"].as_str().unwrap().to_owned();
    let r = push(s, &w.op, "tab-1", vec![op("market.hold", h)]).await;
    let result = accepted(&r[0]);
    assert_eq!(result["status"], "active");
    assert_eq!(result["on_hand"], "100 千克");
    assert_eq!(
        written(&w),
        (1, 2, 1),
        "the hold, a change to the merchant and one to the market, the alert"
    );

    // The regulator is told at once, with the evidence.
    let a = alerts(&w, "batch_held").await;
    assert_eq!(a.len(), 1, "{a:?}");
    assert_eq!(a[0]["subject"]["id"], w.m1);
    assert_eq!(a[0]["severity"], "high");
    let title = a[0]["title"].as_str().unwrap();
    for part in [
        w.batch.as_str(),
        "来源不明",
        "100 千克",
        "op",
        hold_id.as_str(),
    ] {
        assert!(title.contains(part), "{part} in {title}");
    }

    // A second hold of the same batch, or of the same id, is refused.
    refused(
        &push(
            s,
            &w.op,
            "tab-1",
            vec![op("market.hold", hold(&w.market, &w.m1, &w.batch))],
        )
        .await[0],
        "already_held",
    );
    let mut again = hold(&w.market, &w.m1, &w.batch);
    again["hold_id"] = json!(hold_id);
    let mut again = op("market.hold", again);
    again["op_id"] = json!(id());
    refused(
        &push(s, &w.op, "tab-1", vec![again]).await[0],
        "hold_exists",
    );
    assert_eq!(written(&w), (1, 2, 1));

    // Who reads it: the operator of the market, the regulator, the merchant.
    let list: Value = s
        .get(
            &format!("/v1/markets/{}/holds?status=active", w.market),
            &w.op,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["total"], 1, "{list}");
    let item = &list["holds"][0];
    assert_eq!(item["id"], hold_id.as_str());
    assert_eq!(item["product_name"], "冻牛肉");
    assert_eq!(item["on_hand_now"], "100 千克");
    assert_eq!(item["reason_zh"], "来源不明");
    let none: Value = s
        .get(
            &format!("/v1/markets/{}/holds?status=released", w.market),
            &w.op,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(none["total"], 0);
    let res = s
        .get(&format!("/v1/markets/{}/holds", w.other_market), &w.op)
        .await;
    expect_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    let res = s
        .get(&format!("/v1/markets/{}/holds", w.market), &w.admin)
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = s
        .get(&format!("/v1/markets/{}/holds", w.market), &w.m1_token)
        .await;
    expect_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    let res = s.get("/v1/markets/no-such-market/holds", &w.admin).await;
    expect_error(res, StatusCode::NOT_FOUND, "not_found").await;
    let res = s
        .get(
            &format!("/v1/markets/{}/holds?status=lost", w.market),
            &w.op,
        )
        .await;
    expect_error(res, StatusCode::BAD_REQUEST, "invalid_query").await;
    let res = s.get(&format!("/v1/holds/{hold_id}"), &w.m1_token).await;
    assert_eq!(res.status(), StatusCode::OK);
    for token in [&w.m2_token, &w.other_op] {
        let res = s.get(&format!("/v1/holds/{hold_id}"), token).await;
        expect_error(res, StatusCode::NOT_FOUND, "not_found").await;
    }
    let res = s.get("/v1/holds/not-a-uuid", &w.admin).await;
    expect_error(res, StatusCode::BAD_REQUEST, "invalid_field").await;

    // By pull: the merchant's devices and its market's tablets, no others.
    for (token, sees) in [
        (&w.m1_token, true),
        (&w.op, true),
        (&w.m2_token, false),
        (&w.other_op, false),
    ] {
        let kinds = pulled_kinds(&w, token).await;
        assert_eq!(!kinds.is_empty(), sees, "{kinds:?}");
        if sees {
            assert_eq!(kinds[0].0, "hold.placed");
            assert_eq!(kinds[0].1["id"], hold_id.as_str());
            assert_eq!(kinds[0].1["trace_code"], w.batch);
        }
    }

    // Another market's operator cannot release it (and learns nothing).
    let r = push(
        s,
        &w.other_op,
        "tab-2",
        vec![op(
            "market.hold_release",
            json!({"hold_id": hold_id, "note": "放行"}),
        )],
    )
    .await;
    refused(&r[0], "unknown_hold");
    s.assert_healthy().await;
    w.s.stop().await;
}

/// A device's local store that syncs with the server as a merchant.
struct Phone {
    store: Mutex<LocalStore>,
    config: SyncConfig,
}

impl Phone {
    async fn sync(self) -> Phone {
        tokio::task::spawn_blocking(move || {
            let mut client = SyncClient::new(self.config.clone()).unwrap();
            client.sync(&self.store).unwrap();
            self
        })
        .await
        .unwrap()
    }

    fn record(&self, kind: &str, payload: &Value) -> Result<Vec<String>, LedgerError> {
        self.store
            .lock()
            .unwrap()
            .record(kind, payload)
            .map(|a| a.warnings.into_iter().map(|w| w.code).collect())
    }

    fn cursor(&self) -> String {
        self.store.lock().unwrap().cursor().unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hold_reaches_an_offline_device_and_a_sale_made_before_it_is_kept() {
    let w = world().await;
    let s = &w.s;
    let phone = Phone {
        store: Mutex::new(LocalStore::open_in_memory().unwrap()),
        config: SyncConfig::new(&s.base, "m1-phone", "m1", "merchant-pass-1"),
    };
    // The phone has the batch (pulled), then goes offline.
    let phone = phone.sync().await;
    let before_hold = phone.cursor();

    // The operator holds the batch while the phone is offline.
    let h = hold(&w.market, &w.m1, &w.batch);
    let hold_id = h["hold_id"].as_str().unwrap().to_owned();
    accepted(&push(s, &w.op, "tab-1", vec![op("market.hold", h)]).await[0]);

    // Offline, the phone sells 5 kg: it cannot know, so it records it.
    let sold = sale(&w.m1, &w.batch, "5", 0);
    assert_eq!(
        phone.record("ledger.sale", &sold).unwrap(),
        Vec::<String>::new()
    );

    // It syncs: the sale is kept (not lost) with the warning, and the
    // regulator gets `held_batch_sold`; the hold comes down.
    let phone = phone.sync().await;
    {
        let store = phone.store.lock().unwrap();
        assert_eq!(store.counts().unwrap().outbox_pending, 0);
        assert_eq!(
            store.counts().unwrap().outbox_parked,
            0,
            "{:?}",
            store.parked()
        );
    }
    let kept = s.text(
        "SELECT code FROM warnings WHERE entry_id = $1",
        &[sold["entry_id"].as_str().unwrap()],
    );
    assert_eq!(kept.as_deref(), Some("held_batch_sold"));
    let a = alerts(&w, "held_batch_sold").await;
    assert_eq!(a.len(), 1, "{a:?}");
    assert_eq!(a[0]["subject"]["id"], w.m1);
    assert!(a[0]["title"].as_str().unwrap().contains(&hold_id));

    // Now the phone has the hold: a sale there is refused offline, with
    // the reason naming the hold, and nothing is queued.
    let refusal = phone
        .record("ledger.sale", &sale(&w.m1, &w.batch, "5", 1))
        .unwrap_err();
    let LedgerError::Rule(r) = refusal else {
        panic!("a rule refusal: {refusal:?}")
    };
    assert_eq!(r.code, "batch_held");
    assert!(
        r.message.contains("来源不明") && r.message.contains(&hold_id),
        "{}",
        r.message
    );
    assert_eq!(
        phone.store.lock().unwrap().counts().unwrap().outbox_pending,
        0
    );
    let holds = phone.store.lock().unwrap().holds().unwrap();
    assert_eq!(holds.len(), 1);
    assert_eq!(holds[0].id, hold_id);

    // A sale that still arrives from a device that had the hold (an old or
    // tampered app) is refused by the server too.
    let had_it = phone.cursor();
    let late = sale(&w.m1, &w.batch, "1", 0);
    let r = push_pulled(
        s,
        &w.m1_token,
        "m1-phone",
        Some(&had_it),
        vec![op("ledger.sale", late)],
    )
    .await;
    refused(&r[0], "batch_held");
    // The same sale from a device whose cursor is from before the hold is
    // kept, warned; so is one older than the hold from any device.
    let r = push_pulled(
        s,
        &w.m1_token,
        "m1-tablet",
        Some(&before_hold),
        vec![op("ledger.sale", sale(&w.m1, &w.batch, "1", 0))],
    )
    .await;
    let warned = accepted(&r[0])["warnings"].as_array().unwrap().clone();
    assert_eq!(warned[0]["code"], "held_batch_sold", "{warned:?}");
    let r = push_pulled(
        s,
        &w.m1_token,
        "m1-tablet",
        Some(&had_it),
        vec![op("ledger.sale", sale(&w.m1, &w.batch, "1", -30))],
    )
    .await;
    assert_eq!(
        accepted(&r[0])["warnings"][0]["evidence"]["sold_before_hold"],
        true
    );
    // A malformed cursor is the whole push's 400.
    let res = s
        .post(
            "/v1/sync/push",
            &w.m1_token,
            json!({"device_id": "m1-tablet", "ops": [], "pulled_cursor": "zz"}),
        )
        .await;
    expect_error(res, StatusCode::BAD_REQUEST, "invalid_cursor").await;
    s.assert_healthy().await;
    w.s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn release_and_destruction_with_witness_and_photos_end_a_hold() {
    let w = world().await;
    let s = &w.s;
    let h = hold(&w.market, &w.m1, &w.batch);
    let first = h["hold_id"].as_str().unwrap().to_owned();
    accepted(&push(s, &w.op, "tab-1", vec![op("market.hold", h)]).await[0]);

    // A release needs its note; then the batch sells again.
    let r = push(
        s,
        &w.op,
        "tab-1",
        vec![op("market.hold_release", json!({"hold_id": first}))],
    )
    .await;
    assert_eq!(refused(&r[0], "missing_field")["field"], "payload.note");
    let r = push(
        s,
        &w.op,
        "tab-1",
        vec![op(
            "market.hold_release",
            json!({"hold_id": id(), "note": "x"}),
        )],
    )
    .await;
    refused(&r[0], "unknown_hold");
    let r = push(
        s,
        &w.op,
        "tab-1",
        vec![op(
            "market.hold_release",
            json!({"hold_id": first, "note": "补齐检疫证明"}),
        )],
    )
    .await;
    assert_eq!(accepted(&r[0])["status"], "released");
    let r = push(
        s,
        &w.op,
        "tab-1",
        vec![op(
            "market.hold_release",
            json!({"hold_id": first, "note": "again"}),
        )],
    )
    .await;
    refused(&r[0], "hold_not_active");
    let released = pulled_kinds(&w, &w.m1_token).await;
    assert_eq!(released.last().unwrap().0, "hold.released");
    assert_eq!(released.last().unwrap().1["status"], "released");
    let r = push(
        s,
        &w.m1_token,
        "m1-web",
        vec![op("ledger.sale", sale(&w.m1, &w.batch, "10", 0))],
    )
    .await;
    assert!(accepted(&r[0])["warnings"].as_array().unwrap().is_empty());

    // Held again: a return to the supplier is refused, a destruction needs
    // its witness and photos, and destroying all on hand ends the hold.
    let h = hold(&w.market, &w.m1, &w.batch);
    let second = h["hold_id"].as_str().unwrap().to_owned();
    accepted(&push(s, &w.op, "tab-1", vec![op("market.hold", h)]).await[0]);
    let photo = "ab".repeat(32);
    let dispose = |method: &str, kg: &str, witness: Option<&str>, photos: Vec<&str>| {
        let mut d = json!({"entry_id": id(), "merchant_id": w.m1, "trace_code": w.batch,
            "quantity": {"value": kg, "unit": "kg"}, "method": method,
            "reason": "来源不明，暂扣后销毁", "at": cn(0), "photos": photos});
        if let Some(name) = witness {
            d["witness"] = json!(name);
        }
        op("ledger.dispose", d)
    };
    let r = push(
        s,
        &w.m1_token,
        "m1-web",
        vec![
            dispose("returned", "90", Some("王安全员"), vec![&photo]),
            dispose("destroyed", "90", None, vec![&photo]),
            dispose("destroyed", "90", Some("王安全员"), vec![]),
            dispose("destroyed", "90", Some("王安全员"), vec!["not-a-hash"]),
        ],
    )
    .await;
    refused(&r[0], "batch_held");
    assert_eq!(
        refused(&r[1], "destruction_needs_witness")["field"],
        "witness"
    );
    assert_eq!(
        refused(&r[2], "destruction_needs_photos")["field"],
        "photos"
    );
    assert_eq!(refused(&r[3], "invalid_hash")["field"], "photos[0]");
    let got: Value = s
        .get(&format!("/v1/holds/{second}"), &w.op)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(got["status"], "active");
    assert_eq!(
        got["on_hand_now"], "90 千克",
        "nothing of the refused disposals stored"
    );

    // Part destroyed: the rest stays held.
    let r = push(
        s,
        &w.m1_token,
        "m1-web",
        vec![dispose("destroyed", "40", Some("王安全员"), vec![&photo])],
    )
    .await;
    accepted(&r[0]);
    let got: Value = s
        .get(&format!("/v1/holds/{second}"), &w.op)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(got["status"], "active", "{got}");
    let d = dispose("destroyed", "50", Some("王安全员"), vec![&photo]);
    let entry = d["payload"]["entry_id"].clone();
    accepted(&push(s, &w.m1_token, "m1-web", vec![d]).await[0]);
    let got: Value = s
        .get(&format!("/v1/holds/{second}"), &w.admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(got["status"], "destroyed", "{got}");
    assert_eq!(got["witness"], "王安全员");
    assert_eq!(got["photos"], json!([photo]));
    assert_eq!(got["dispose_entry_id"], entry);
    let ended = pulled_kinds(&w, &w.op).await;
    assert_eq!(ended.last().unwrap().1["status"], "destroyed");
    let list: Value = s
        .get(
            &format!("/v1/markets/{}/holds?status=destroyed", w.market),
            &w.op,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["total"], 1);
    let r = push(
        s,
        &w.op,
        "tab-1",
        vec![op(
            "market.hold_release",
            json!({"hold_id": second, "note": "x"}),
        )],
    )
    .await;
    refused(&r[0], "hold_not_active");
    // The batch_held alert is one per merchant, seen again for the second hold.
    assert_eq!(alerts(&w, "batch_held").await.len(), 1);
    let _ = (&w.m2, &w.other_batch);
    s.assert_healthy().await;
    w.s.stop().await;
}

const BIN: &str = env!("CARGO_BIN_EXE_shian-server");

/// Starts `serve --demo` over `db` (files in `dir`); the child and its
/// base URL.
fn start_demo(db: &DbTarget, dir: &std::path::Path) -> (std::process::Child, String) {
    use std::io::{BufRead, BufReader};
    let mut child = std::process::Command::new(BIN)
        .args([
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--demo",
            "--demo-days",
            "3",
            "--db",
        ])
        .arg(common::db_arg(db))
        .arg("--data-dir")
        .arg(dir)
        .env("SHIAN_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut printed = String::new();
    let mut lines = BufReader::new(stdout).lines();
    while let Some(line) = lines.next() {
        let line = line.unwrap();
        printed.push_str(&line);
        printed.push('\n');
        if let Some(url) = line.strip_prefix("shian-server listening on ") {
            assert!(
                printed.contains("merchant3"),
                "the login is printed: {printed}"
            );
            // Keep reading what it prints later (a closed pipe would fail it).
            std::thread::spawn(move || lines.for_each(drop));
            return (child, url.to_owned());
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("server did not start: {printed}");
}

fn stop_demo(mut child: std::process::Child) {
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = child.wait().unwrap();
    assert!(exit.success(), "{exit:?}");
}

/// The demo holds one smuggled-beef batch, once, and its merchant's device
/// (the demo login merchant3) pulls the hold and refuses the sale.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_holds_a_smuggled_beef_batch_its_merchants_device_obeys() {
    let dir = tempfile::tempdir().unwrap();
    let db = common::fresh_target(&dir.path().join("shian.db")).await;
    let (child, base) = start_demo(&db, dir.path());
    let held = common::sql_rows(
        &db,
        "SELECT merchant_id, trace_code, product_name, reason FROM holds",
        &[],
    );
    assert_eq!(held.len(), 1, "{held:?}");
    let [merchant, code, product, reason]: [String; 4] = held[0]
        .iter()
        .map(|c| c.clone().unwrap())
        .collect::<Vec<_>>()
        .try_into()
        .unwrap();
    assert!(product.contains('牛'), "{product}");
    assert_eq!(reason, "unknown_origin");

    let phone = Phone {
        store: Mutex::new(LocalStore::open_in_memory().unwrap()),
        config: SyncConfig::new(&base, "merchant3-phone", "merchant3", "demo-merchant3-pass"),
    };
    let phone = phone.sync().await;
    let holds = phone.store.lock().unwrap().holds().unwrap();
    assert_eq!(holds.len(), 1);
    assert_eq!(
        (holds[0].merchant_id.as_str(), holds[0].trace_code.as_str()),
        (merchant.as_str(), code.as_str())
    );
    let refusal = phone
        .record("ledger.sale", &sale(&merchant, &code, "1", 0))
        .unwrap_err();
    assert!(
        matches!(&refusal, LedgerError::Rule(r) if r.code == "batch_held"),
        "{refusal:?}"
    );
    stop_demo(child);

    // A second start holds nothing more.
    let (child, base) = start_demo(&db, dir.path());
    let health = reqwest::get(format!("{base}/healthz")).await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    stop_demo(child);
    assert_eq!(common::sql_count(&db, "SELECT COUNT(*) FROM holds"), 1);
}
