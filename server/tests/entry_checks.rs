//! Entry checks (入场查验) through the real HTTP server: a market's operator
//! pushes checks from its tablet; another market's operator is refused by
//! API (403) and by push (`out_of_scope`) and pulls nothing of them; a
//! check and the seller's purchase link in either order of arrival; a
//! retry answers the first result; bad input is refused with its field;
//! `entry_refused` fires at once and `entry_check_missing` after the grace,
//! with their near misses quiet.

mod common;
mod field_common;

use chrono::{Duration, FixedOffset, Utc};
use common::{expect_error, uscc, TestServer};
use field_common::{accepted, rejected};
use reqwest::StatusCode;
use serde_json::{json, Value};
use shian_server::store::Role;

fn id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Now plus `minutes`, in China time with its offset.
fn cn(minutes: i64) -> String {
    (Utc::now() + Duration::minutes(minutes))
        .with_timezone(&FixedOffset::east_opt(8 * 3600).unwrap())
        .to_rfc3339()
}

struct Market {
    s: TestServer,
    admin: String,
    market: String,
    other_market: String,
    /// Merchants of the market, and one of the other market.
    m1: String,
    m2: String,
    m_other: String,
    op: String,
    op_other: String,
}

async fn merchant(s: &TestServer, admin: &str, market: &str, name: &str, stem: &str) -> String {
    let res = s
        .post(
            "/v1/merchants",
            admin,
            json!({"name": name, "uscc": uscc(stem), "market_id": market, "region_code": "350203"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let v: Value = res.json().await.unwrap();
    v["id"].as_str().unwrap().to_owned()
}

async fn market() -> Market {
    let s = TestServer::start().await;
    let admin = s.admin().await;
    let (market, other_market) = (s.create_market(&admin).await, s.create_market(&admin).await);
    let m1 = merchant(&s, &admin, &market, "鲜肉铺", "9235020300000109").await;
    let m2 = merchant(&s, &admin, &market, "蔬菜摊", "9235020300000119").await;
    let m_other = merchant(&s, &admin, &other_market, "别的市场", "9235020300000129").await;
    s.operator("op", "operator-pass-1", &[&market]).await;
    s.operator("op2", "operator-pass-2", &[&other_market]).await;
    for (u, m) in [("mer1", &m1), ("mer2", &m2)] {
        s.user(u, "merchant-pass-1", Role::Merchant, Some(m), &[])
            .await;
    }
    let op = s.token("op", "operator-pass-1").await;
    let op_other = s.token("op2", "operator-pass-2").await;
    Market {
        s,
        admin,
        market,
        other_market,
        m1,
        m2,
        m_other,
        op,
        op_other,
    }
}

fn meat_check(market: &str, merchant: &str, at: &str) -> Value {
    json!({
        "check_id": id(), "market_id": market, "merchant_id": merchant,
        "product": {"name": "冷鲜猪肉", "category": "livestock_meat"},
        "quantity": {"value": "120.5", "unit": "kg"},
        "certificates_seen": [{"kind": "quarantine", "number": "3502-001"}],
        "decision": "accepted", "at": at,
    })
}

fn purchase(merchant: &str, category: &str, at: &str) -> Value {
    json!({
        "entry_id": id(), "merchant_id": merchant,
        "product": {"name": "货品", "category": category},
        "quantity": {"value": "100", "unit": "kg"},
        "supplier": {"name": "同安屠宰场"},
        "certificates": [{"kind": "quarantine", "number": "3502-001"},
                         {"kind": "commitment", "number": "HG-1"}],
        "received_at": at,
    })
}

fn op(kind: &str, payload: Value) -> Value {
    json!({"op_id": id(), "kind": kind, "at": cn(0), "payload": payload})
}

/// One device per login (a device belongs to one account).
fn device_of(token: &str) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    token.hash(&mut h);
    format!("tablet-{:016x}", h.finish())
}

async fn push(s: &TestServer, token: &str, ops: Vec<Value>) -> Vec<Value> {
    let res = s
        .post(
            "/v1/sync/push",
            token,
            json!({"device_id": device_of(token), "ops": ops}),
        )
        .await;
    let status = res.status();
    let body: Value = res.json().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    body["results"].as_array().unwrap().clone()
}

async fn push_one(s: &TestServer, token: &str, op: Value) -> Value {
    push(s, token, vec![op]).await.remove(0)
}

/// A merchant pushes a purchase from its phone; returns its entry id.
async fn book(m: &Market, user: &str, p: Value) -> String {
    let token = m.s.token(user, "merchant-pass-1").await;
    let entry = p["entry_id"].as_str().unwrap().to_owned();
    let r = push_one(
        &m.s,
        &token,
        json!({"op_id": entry, "kind": "ledger.purchase", "at": cn(0), "payload": p}),
    )
    .await;
    accepted(&r);
    entry
}

async fn get(s: &TestServer, path: &str, token: &str) -> Value {
    let res = s.get(path, token).await;
    let status = res.status();
    let body: Value = res.json().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{path}: {body}");
    body
}

async fn alerts(m: &Market, kind: &str) -> Vec<Value> {
    let v = get(&m.s, &format!("/v1/alerts?kind={kind}"), &m.op).await;
    v["alerts"].as_array().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_markets_operator_gets_403_by_api_out_of_scope_by_push_and_pulls_nothing() {
    let m = market().await;
    let c = meat_check(&m.market, &m.m1, &cn(-5));
    let check_id = c["check_id"].as_str().unwrap().to_owned();
    let r = accepted(&push_one(&m.s, &m.op, op("market.entry_check", c.clone())).await);
    assert_eq!(r["check_id"], check_id.as_str());

    // By API: the other market's operator, an inspector and a merchant: 403.
    let list = format!("/v1/markets/{}/entry-checks", m.market);
    let one = format!("/v1/entry-checks/{check_id}");
    for path in [&list, &one] {
        expect_error(
            m.s.get(path, &m.op_other).await,
            StatusCode::FORBIDDEN,
            "forbidden",
        )
        .await;
    }
    m.s.user("insp", "inspector-pass-1", Role::Inspector, None, &["3502"])
        .await;
    let insp = m.s.token("insp", "inspector-pass-1").await;
    let mer = m.s.token("mer1", "merchant-pass-1").await;
    for t in [&insp, &mer] {
        expect_error(m.s.get(&list, t).await, StatusCode::FORBIDDEN, "forbidden").await;
        expect_error(m.s.get(&one, t).await, StatusCode::FORBIDDEN, "forbidden").await;
    }
    // The market's own operator and the analyst read it.
    let v = get(&m.s, &list, &m.op).await;
    assert_eq!(v["total"], 1);
    assert_eq!(v["checks"][0]["merchant_name"], "鲜肉铺");
    m.s.user("an", "analyst-pass-1", Role::Analyst, None, &[])
        .await;
    let an = m.s.token("an", "analyst-pass-1").await;
    assert_eq!(get(&m.s, &one, &an).await["check_id"], check_id.as_str());
    assert_eq!(
        get(&m.s, &one, &m.admin).await["quantity"]["value"],
        "120.5"
    );

    // By push: a check for this market from the other market's operator.
    let e = rejected(
        &push_one(
            &m.s,
            &m.op_other,
            op("market.entry_check", meat_check(&m.market, &m.m1, &cn(-1))),
        )
        .await,
        "out_of_scope",
    );
    assert_eq!(e["field"], "market_id");
    // A seller of another market, and a merchant's account: refused.
    let e = rejected(
        &push_one(
            &m.s,
            &m.op,
            op(
                "market.entry_check",
                meat_check(&m.market, &m.m_other, &cn(-1)),
            ),
        )
        .await,
        "merchant_not_in_market",
    );
    assert_eq!(e["field"], "merchant_id");
    rejected(
        &push(
            &m.s,
            &mer,
            vec![op(
                "market.entry_check",
                meat_check(&m.market, &m.m1, &cn(-1)),
            )],
        )
        .await[0],
        "forbidden_kind",
    );
    assert_eq!(
        get(&m.s, &list, &m.op).await["total"],
        1,
        "nothing refused was stored"
    );

    // By pull: the check reaches this market's tablets only.
    let kinds = |v: &Value| -> Vec<String> {
        v["changes"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["kind"] == "market.entry_check")
            .map(|c| c["payload"]["check_id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        kinds(&get(&m.s, "/v1/sync/pull", &m.op).await),
        vec![check_id.clone()]
    );
    assert!(kinds(&get(&m.s, "/v1/sync/pull", &m.op_other).await).is_empty());
    assert!(kinds(&get(&m.s, "/v1/sync/pull", &mer).await).is_empty());
    // And the other market's list is its own (empty), not this one's.
    let theirs = get(
        &m.s,
        &format!("/v1/markets/{}/entry-checks", m.other_market),
        &m.op_other,
    )
    .await;
    assert_eq!(theirs["total"], 0);
    m.s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_check_and_its_purchase_link_in_either_order() {
    let m = market().await;
    // Check first, purchase later (the seller books it after the gate).
    let c = meat_check(&m.market, &m.m1, &cn(-60));
    let first = c["check_id"].as_str().unwrap().to_owned();
    let r = accepted(&push_one(&m.s, &m.op, op("market.entry_check", c)).await);
    assert_eq!(r["purchase_entry_id"], Value::Null);
    let meat = book(&m, "mer1", purchase(&m.m1, "livestock_meat", &cn(-45))).await;
    let v = get(&m.s, &format!("/v1/entry-checks/{first}"), &m.op).await;
    assert_eq!(
        v["purchase_entry_id"],
        meat.as_str(),
        "linked when the purchase arrived"
    );
    // Its tablets pull the check again, now with the link.
    let pulled = get(&m.s, "/v1/sync/pull", &m.op).await;
    let last = pulled["changes"]
        .as_array()
        .unwrap()
        .iter()
        .rfind(|c| c["kind"] == "market.entry_check")
        .unwrap()
        .clone();
    assert_eq!(last["payload"]["purchase_entry_id"], meat.as_str());

    // Purchase first, check later.
    let veg = book(&m, "mer2", purchase(&m.m2, "vegetable", &cn(-30))).await;
    // A near miss first: fish at the same stall is other goods.
    let mut fish = meat_check(&m.market, &m.m2, &cn(-20));
    fish["product"] = json!({"name": "草鱼", "category": "aquatic"});
    fish["certificates_seen"] = json!([{"kind": "origin", "number": "CD-1"}]);
    let r = accepted(&push_one(&m.s, &m.op, op("market.entry_check", fish)).await);
    assert_eq!(r["purchase_entry_id"], Value::Null);
    let mut c = meat_check(&m.market, &m.m2, &cn(-20));
    c["product"] = json!({"name": "小白菜", "category": "vegetable"});
    c["certificates_seen"] = json!([{"kind": "commitment", "number": "HG-7"}]);
    c["rapid_test"] = json!({"item": "有机磷农药残留", "result": "pass", "value": "抑制率 12%"});
    let r = accepted(&push_one(&m.s, &m.op, op("market.entry_check", c)).await);
    assert_eq!(r["purchase_entry_id"], veg.as_str(), "linked at once");
    // The vegetable purchase is now checked: the page's list of purchases
    // without a check is empty for both.
    let date = (Utc::now() - Duration::minutes(30))
        .with_timezone(&FixedOffset::east_opt(8 * 3600).unwrap())
        .date_naive();
    let left =
        m.s.store
            .unchecked_purchases(m.market.clone(), date)
            .await
            .unwrap();
    assert!(
        left.iter().all(|p| p.entry_id != veg && p.entry_id != meat),
        "{left:?}"
    );
    m.s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_answers_the_first_result() {
    let m = market().await;
    let c = meat_check(&m.market, &m.m1, &cn(-60));
    let check_id = c["check_id"].as_str().unwrap().to_owned();
    let first = op("market.entry_check", c.clone());
    let r = accepted(&push_one(&m.s, &m.op, first.clone()).await);
    assert_eq!(r["purchase_entry_id"], Value::Null);
    // The same op again: a duplicate with the first result.
    let again = push_one(&m.s, &m.op, first).await;
    assert_eq!(again["status"], "duplicate", "{again}");
    assert_eq!(again["result"], r);
    // The purchase arrives and links; then the tablet, having lost the
    // answer, sends the check once more under a new op id and with a
    // changed mind: the first result, nothing stored twice.
    book(&m, "mer1", purchase(&m.m1, "livestock_meat", &cn(-50))).await;
    let mut changed = c.clone();
    changed["decision"] = json!("refused");
    changed["reason"] = json!("改主意了");
    let r2 = accepted(&push_one(&m.s, &m.op, op("market.entry_check", changed)).await);
    assert_eq!(r2, r);
    let v = get(
        &m.s,
        &format!("/v1/markets/{}/entry-checks", m.market),
        &m.op,
    )
    .await;
    assert_eq!(v["total"], 1);
    assert_eq!(v["checks"][0]["decision"], "accepted");
    assert_eq!(v["checks"][0]["check_id"], check_id.as_str());
    // The other market's operator cannot claim the id.
    let mut theirs = c.clone();
    theirs["market_id"] = json!(m.other_market);
    theirs["merchant_id"] = json!(m.m_other);
    let e = rejected(
        &push_one(&m.s, &m.op_other, op("market.entry_check", theirs)).await,
        "check_id_taken",
    );
    assert_eq!(e["field"], "check_id");
    m.s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_input_is_refused_with_its_field_and_stores_nothing() {
    let m = market().await;
    let base = meat_check(&m.market, &m.m1, &cn(-5));
    let with = |path: &[&str], v: Value| {
        let mut p = base.clone();
        p["check_id"] = json!(id());
        let mut slot = &mut p;
        for k in &path[..path.len() - 1] {
            slot = &mut slot[*k];
        }
        slot[path[path.len() - 1]] = v;
        p
    };
    let cases: Vec<(Value, &str, &str)> = vec![
        (
            with(&["quantity", "value"], json!("-3")),
            "quantity.value",
            "negative_quantity",
        ),
        (
            with(&["quantity", "value"], json!("十")),
            "quantity.value",
            "invalid_number",
        ),
        (
            with(&["quantity", "unit"], json!("桶")),
            "quantity.unit",
            "unknown_unit",
        ),
        (
            with(&["decision"], json!("maybe")),
            "decision",
            "invalid_enum",
        ),
        (
            with(&["decision"], json!("refused")),
            "reason",
            "missing_field",
        ),
        (
            with(&["product", "category"], json!("meat")),
            "product.category",
            "invalid_enum",
        ),
        (
            with(&["product", "name"], json!("  ")),
            "product.name",
            "empty_text",
        ),
        (
            with(&["check_id"], json!("nope")),
            "check_id",
            "invalid_uuid",
        ),
        (
            with(&["at"], json!("2026-12-01 08:00")),
            "at",
            "invalid_time",
        ),
        (with(&["at"], json!(cn(60))), "at", "future_time"),
        (
            with(&["merchant_id"], json!("no-such-merchant")),
            "merchant_id",
            "unknown_merchant",
        ),
        (
            with(&["certificates_seen"], json!([])),
            "certificates_seen",
            "missing_certificate",
        ),
        (
            with(
                &["certificates_seen"],
                json!([{"kind": "stamp", "number": "1"}]),
            ),
            "certificates_seen[0].kind",
            "invalid_enum",
        ),
        (
            with(&["rapid_test"], json!({"item": "瘦肉精", "result": "fail"})),
            "decision",
            "rapid_test_failed",
        ),
    ];
    for (payload, field, code) in cases {
        let e = rejected(
            &push_one(&m.s, &m.op, op("market.entry_check", payload)).await,
            code,
        );
        assert_eq!(e["field"], field, "{code}: {e}");
    }
    let list = format!("/v1/markets/{}/entry-checks", m.market);
    assert_eq!(get(&m.s, &list, &m.op).await["total"], 0, "nothing stored");
    // A refusal with its reason is the record of goods turned away.
    let refused = with(&["certificates_seen"], json!([]));
    let mut refused = refused;
    refused["decision"] = json!("refused");
    refused["reason"] = json!("无动物检疫合格证明");
    accepted(&push_one(&m.s, &m.op, op("market.entry_check", refused)).await);

    // The API's bad queries: 400 with the field; an unknown market 404.
    for (q, field, code) in [
        ("date=2026-13-01", "date", "invalid_query"),
        ("decision=maybe", "decision", "invalid_query"),
        ("merchant_id=a%20b", "merchant_id", "invalid_id"),
        ("limit=0", "limit", "invalid_query"),
        ("offset=3000000000", "offset", "invalid_query"),
    ] {
        let res = m.s.get(&format!("{list}?{q}"), &m.op).await;
        let e = expect_error(res, StatusCode::BAD_REQUEST, code).await;
        assert_eq!(e["error"]["field"], field, "{q}: {e}");
    }
    let res =
        m.s.get("/v1/markets/no-such-market/entry-checks", &m.admin)
            .await;
    expect_error(res, StatusCode::NOT_FOUND, "not_found").await;
    let res = m.s.get("/v1/entry-checks/not-a-uuid", &m.op).await;
    expect_error(res, StatusCode::BAD_REQUEST, "invalid_field").await;
    let res = m.s.get(&format!("/v1/entry-checks/{}", id()), &m.op).await;
    expect_error(res, StatusCode::NOT_FOUND, "not_found").await;
    // The filters answer what they name.
    let v = get(
        &m.s,
        &format!("{list}?decision=refused&merchant_id={}", m.m1),
        &m.op,
    )
    .await;
    assert_eq!(v["total"], 1);
    let v = get(&m.s, &format!("{list}?decision=accepted"), &m.op).await;
    assert_eq!(v["total"], 0);
    m.s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_warnings_fire_and_their_near_misses_stay_quiet() {
    let m = market().await;
    // The market starts its entry checks 40 hours ago (meat at stall 1).
    accepted(
        &push_one(
            &m.s,
            &m.op,
            op(
                "market.entry_check",
                meat_check(&m.market, &m.m1, &cn(-40 * 60)),
            ),
        )
        .await,
    );
    assert!(alerts(&m, "entry_refused").await.is_empty());
    // Stall 2: vegetables 30 h ago and 26 h ago, no check — past the 24 h
    // grace; eggs 23 h ago — inside it.
    let late = book(&m, "mer2", purchase(&m.m2, "vegetable", &cn(-30 * 60))).await;
    let later = book(&m, "mer2", purchase(&m.m2, "fruit", &cn(-26 * 60))).await;
    book(&m, "mer2", purchase(&m.m2, "egg", &cn(-23 * 60))).await;
    // Stall 1's meat 39 h ago was checked (linked).
    book(&m, "mer1", purchase(&m.m1, "livestock_meat", &cn(-39 * 60))).await;

    // The periodic check raises it for stall 2 only.
    let raised = m.s.store.raise_entry_alerts(Utc::now()).await.unwrap();
    assert_eq!(raised, 1);
    let a = alerts(&m, "entry_check_missing").await;
    assert_eq!(a.len(), 1, "{a:?}");
    assert_eq!(a[0]["subject"]["id"], m.m2.as_str());
    assert_eq!(a[0]["evidence"]["figures"]["purchases_unchecked"], 2.0);
    let links: Vec<&str> = a[0]["evidence"]["links"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["id"].as_str().unwrap())
        .collect();
    assert_eq!(links, vec![later.as_str(), late.as_str()]);
    // Run again: the same warning, not a second one.
    assert_eq!(m.s.store.raise_entry_alerts(Utc::now()).await.unwrap(), 0);

    // A late check of the vegetables links them: the warning stays (its
    // lifecycle is the operator's), and the full pass counts only the fruit.
    let mut c = meat_check(&m.market, &m.m2, &cn(-29 * 60));
    c["product"] = json!({"name": "小白菜", "category": "vegetable"});
    c["certificates_seen"] = json!([{"kind": "commitment", "number": "HG-7"}]);
    let r = accepted(&push_one(&m.s, &m.op, op("market.entry_check", c)).await);
    assert_eq!(r["purchase_entry_id"], late.as_str());
    let res = m.s.post("/v1/alerts/scan", &m.admin, json!({})).await;
    assert_eq!(res.status(), StatusCode::OK);
    let a = alerts(&m, "entry_check_missing").await;
    assert_eq!(a.len(), 1);
    assert_eq!(a[0]["evidence"]["figures"]["purchases_unchecked"], 1.0);

    // A refusal raises entry_refused at once, seen by the operator.
    let mut refused = meat_check(&m.market, &m.m1, &cn(-2));
    refused["certificates_seen"] = json!([]);
    refused["decision"] = json!("refused");
    refused["reason"] = json!("无动物检疫合格证明");
    let check_id = refused["check_id"].as_str().unwrap().to_owned();
    accepted(&push_one(&m.s, &m.op, op("market.entry_check", refused)).await);
    let a = alerts(&m, "entry_refused").await;
    assert_eq!(a.len(), 1, "{a:?}");
    assert_eq!(a[0]["subject"]["id"], m.m1.as_str());
    assert_eq!(a[0]["severity"], "high");
    assert_eq!(a[0]["evidence"]["links"][0]["id"], check_id.as_str());
    assert_eq!(a[0]["evidence"]["links"][0]["type"], "entry_check");
    // The other market's operator sees none of them.
    let theirs = get(&m.s, "/v1/alerts", &m.op_other).await;
    assert!(theirs["alerts"].as_array().unwrap().is_empty(), "{theirs}");
    m.s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_market_that_keeps_no_entry_checks_gets_no_missing_warnings() {
    let m = market().await;
    book(&m, "mer2", purchase(&m.m2, "vegetable", &cn(-30 * 60))).await;
    assert_eq!(m.s.store.raise_entry_alerts(Utc::now()).await.unwrap(), 0);
    let res = m.s.post("/v1/alerts/scan", &m.admin, json!({})).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(alerts(&m, "entry_check_missing").await.is_empty());
    m.s.stop().await;
}
