//! Staff health certificates (issue 14 item 5) through the real server: who
//! may read and keep a merchant's register (by API and by push and pull),
//! bad input refused with its field and nothing stored, the warnings (a
//! certificate expiring at midnight Asia/Shanghai, a worker without one)
//! raised once and quiet on their near misses, and the public shop page
//! that never shows a worker's full name or certificate number.

mod common;

use chrono::{DateTime, TimeZone, Utc};
use common::{expect_error, uscc, TestServer};
use reqwest::{Response, StatusCode};
use serde_json::{json, Value};
use shian_server::store::Role;

struct World {
    s: TestServer,
    admin: String,
    market_a: String,
    /// In market A, district 350203.
    ma: String,
    ma_shop: String,
    /// In market B, district 350206.
    mb: String,
}

async fn merchant(s: &TestServer, admin: &str, market: &str, stem: &str, region: &str) -> Value {
    let res = s
        .post(
            "/v1/merchants",
            admin,
            json!({"name": format!("经营户{stem}"), "uscc": uscc(stem), "market_id": market, "region_code": region}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    res.json().await.unwrap()
}

async fn world() -> World {
    let s = TestServer::start().await;
    let admin = s.admin().await;
    let (market_a, market_b) = (s.create_market(&admin).await, s.create_market(&admin).await);
    let a = merchant(&s, &admin, &market_a, "9235020300000209", "350203").await;
    let b = merchant(&s, &admin, &market_b, "9235020300000219", "350206").await;
    let ma = a["id"].as_str().unwrap().to_owned();
    let mb = b["id"].as_str().unwrap().to_owned();
    s.user("ma", "merchant-pass-a", Role::Merchant, Some(&ma), &[])
        .await;
    s.user("mb", "merchant-pass-b", Role::Merchant, Some(&mb), &[])
        .await;
    s.user(
        "insp",
        "inspector-pass-1",
        Role::Inspector,
        None,
        &["350203"],
    )
    .await;
    s.user(
        "insp2",
        "inspector-pass-2",
        Role::Inspector,
        None,
        &["350206"],
    )
    .await;
    s.user("an", "analyst-pass-1", Role::Analyst, None, &[])
        .await;
    s.operator("opa", "operator-pass-a", &[&market_a]).await;
    s.operator("opb", "operator-pass-b", &[&market_b]).await;
    World {
        ma_shop: a["shop_code"].as_str().unwrap().to_owned(),
        s,
        admin,
        market_a,
        ma,
        mb,
    }
}

async fn put(s: &TestServer, token: &str, merchant: &str, staff_id: &str, body: Value) -> Response {
    s.http
        .put(s.url(&format!("/v1/merchants/{merchant}/staff/{staff_id}")))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn delete(s: &TestServer, token: &str, merchant: &str, staff_id: &str) -> Response {
    s.http
        .delete(s.url(&format!("/v1/merchants/{merchant}/staff/{staff_id}")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

fn wang(expires_on: &str) -> Value {
    json!({"name": "王建国", "role": "从业人员", "certificate_no": "JK3502030001",
           "issued_on": "2026-03-01", "expires_on": expires_on})
}

async fn staff(s: &TestServer, token: &str, merchant: &str) -> Response {
    s.get(&format!("/v1/merchants/{merchant}/staff"), token)
        .await
}

async fn names(s: &TestServer, token: &str, merchant: &str) -> Vec<String> {
    let res = staff(s, token, merchant).await;
    assert_eq!(res.status(), StatusCode::OK);
    let v: Value = res.json().await.unwrap();
    v["staff"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["name"].as_str().unwrap().to_owned())
        .collect()
}

async fn push(s: &TestServer, token: &str, device: &str, ops: Value) -> Vec<Value> {
    s.push_from(token, device, ops).await
}

/// The rosters a login pulls, as (merchant_id, names).
async fn pulled_rosters(s: &TestServer, token: &str) -> Vec<(String, Vec<String>)> {
    let res = s.get("/v1/sync/pull", token).await;
    assert_eq!(res.status(), StatusCode::OK);
    let v: Value = res.json().await.unwrap();
    v["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["kind"] == "staff.roster")
        .map(|c| {
            let p = &c["payload"];
            (
                p["merchant_id"].as_str().unwrap().to_owned(),
                p["staff"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|w| w["name"].as_str().unwrap().to_owned())
                    .collect(),
            )
        })
        .collect()
}

async fn alerts_of(s: &TestServer, admin: &str, merchant: &str, kind: &str) -> Vec<Value> {
    let res = s
        .get(
            &format!("/v1/alerts?merchant_id={merchant}&kind={kind}"),
            admin,
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let v: Value = res.json().await.unwrap();
    v["items"]
        .as_array()
        .or_else(|| v["alerts"].as_array())
        .cloned()
        .unwrap_or_default()
}

/// A moment in Shanghai time.
fn sh(y: i32, m: u32, d: u32, h: u32, min: u32, sec: u32) -> DateTime<Utc> {
    chrono::FixedOffset::east_opt(8 * 3600)
        .unwrap()
        .with_ymd_and_hms(y, m, d, h, min, sec)
        .unwrap()
        .with_timezone(&Utc)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_register_answers_its_merchant_market_district_and_regulator_only() {
    let w = world().await;
    let s = &w.s;
    let ma = s.token("ma", "merchant-pass-a").await;
    let mb = s.token("mb", "merchant-pass-b").await;
    let insp = s.token("insp", "inspector-pass-1").await;
    let insp2 = s.token("insp2", "inspector-pass-2").await;
    let an = s.token("an", "analyst-pass-1").await;
    let opa = s.token("opa", "operator-pass-a").await;
    let opb = s.token("opb", "operator-pass-b").await;

    let res = put(s, &ma, &w.ma, "s1", wang("2027-03-01")).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["outcome"], "created");
    assert_eq!(v["worker"]["status"], "valid", "{v}");
    // The same record again: idempotent, nothing changed.
    let res = put(s, &ma, &w.ma, "s1", wang("2027-03-01")).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.json::<Value>().await.unwrap()["outcome"], "unchanged");
    // Its market's operator keeps the register too.
    let res = put(
        s,
        &opa,
        &w.ma,
        "s2",
        json!({"name": "李秀英", "role": "配送"}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::CREATED);

    for (who, token) in [
        ("merchant", &ma),
        ("operator", &opa),
        ("inspector", &insp),
        ("analyst", &an),
        ("admin", &w.admin),
    ] {
        assert_eq!(
            names(s, token, &w.ma).await,
            vec!["李秀英", "王建国"],
            "{who}"
        );
    }
    for (who, token) in [
        ("other merchant", &mb),
        ("other market's operator", &opb),
        ("other district's inspector", &insp2),
    ] {
        let res = staff(s, token, &w.ma).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{who}");
        let res = put(s, token, &w.ma, "s9", wang("2027-03-01")).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{who}");
        let res = delete(s, token, &w.ma, "s1").await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{who}");
    }
    // Inspectors and analysts read the register; they do not keep it.
    for token in [&insp, &an] {
        let res = put(s, token, &w.ma, "s9", wang("2027-03-01")).await;
        expect_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    }
    assert_eq!(
        names(s, &w.admin, &w.ma).await.len(),
        2,
        "nothing of the refusals stored"
    );

    // Removal: once, then absent.
    let res = delete(s, &ma, &w.ma, "s2").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.json::<Value>().await.unwrap()["outcome"], "removed");
    let res = delete(s, &ma, &w.ma, "s2").await;
    assert_eq!(res.json::<Value>().await.unwrap()["outcome"], "absent");
    assert_eq!(names(s, &ma, &w.ma).await, vec!["王建国"]);
    // Another merchant cannot take the id.
    let res = put(s, &mb, &w.mb, "s1", wang("2027-03-01")).await;
    let e = expect_error(res, StatusCode::CONFLICT, "staff_id_taken").await;
    assert_eq!(e["error"]["field"], "staff_id");
    let res = put(s, &w.admin, "no-such-merchant", "s1", wang("2027-03-01")).await;
    expect_error(res, StatusCode::NOT_FOUND, "not_found").await;
    s.assert_healthy().await;
    w.s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_ops_from_the_device_are_its_own_merchants_and_reach_who_may_see_them() {
    let w = world().await;
    let s = &w.s;
    let ma = s.token("ma", "merchant-pass-a").await;
    let mb = s.token("mb", "merchant-pass-b").await;
    let opa = s.token("opa", "operator-pass-a").await;
    let opb = s.token("opb", "operator-pass-b").await;
    let insp = s.token("insp", "inspector-pass-1").await;
    let insp2 = s.token("insp2", "inspector-pass-2").await;

    let mut worker = wang("2027-03-01");
    worker["staff_id"] = json!("s1");
    worker["merchant_id"] = json!(w.ma);
    let mut theirs = worker.clone();
    theirs["merchant_id"] = json!(w.mb);
    theirs["staff_id"] = json!("s3");
    let op = |id: &str, kind: &str, payload: &Value| json!({"op_id": id, "kind": kind, "at": "2026-12-01T09:00:00+08:00", "payload": payload});
    let results = push(
        s,
        &ma,
        "phone-a",
        json!([
            op("op-1", "staff.upsert", &worker),
            op("op-2", "staff.upsert", &theirs),
            op(
                "op-3",
                "staff.remove",
                &json!({"staff_id": "s3", "merchant_id": w.mb})
            ),
        ]),
    )
    .await;
    assert_eq!(results[0]["status"], "accepted", "{results:?}");
    assert_eq!(results[0]["result"]["outcome"], "created");
    for r in &results[1..] {
        assert_eq!(r["status"], "rejected", "{r}");
        assert_eq!(r["error"]["code"], "out_of_scope");
        assert_eq!(r["error"]["field"], "payload.merchant_id");
    }
    // A retry is a duplicate with its outcome; the same record under a new
    // op id changes nothing.
    let again = push(
        s,
        &ma,
        "phone-a",
        json!([
            op("op-1", "staff.upsert", &worker),
            op("op-4", "staff.upsert", &worker)
        ]),
    )
    .await;
    assert_eq!(again[0]["status"], "duplicate", "{again:?}");
    assert_eq!(again[1]["result"]["outcome"], "unchanged", "{again:?}");
    // Only a merchant's account pushes staff ops.
    let r = push(
        s,
        &opa,
        "tablet-a",
        json!([op("op-5", "staff.upsert", &worker)]),
    )
    .await;
    assert_eq!(r[0]["error"]["code"], "forbidden_kind");
    // Bad input: the field at fault, nothing stored.
    let mut bad = worker.clone();
    bad["staff_id"] = json!("s4");
    bad["expires_on"] = json!("2026-02-01");
    let r = push(s, &ma, "phone-a", json!([op("op-6", "staff.upsert", &bad)])).await;
    assert_eq!(r[0]["error"]["code"], "expiry_before_issue", "{r:?}");
    assert_eq!(r[0]["error"]["field"], "payload.expires_on");
    assert_eq!(names(s, &ma, &w.ma).await, vec!["王建国"]);

    // Pull: the roster reaches the merchant, its market's operators and its
    // district's inspectors, nobody else.
    for (who, token, sees) in [
        ("merchant", &ma, true),
        ("operator", &opa, true),
        ("inspector", &insp, true),
        ("other merchant", &mb, false),
        ("other market's operator", &opb, false),
        ("other district's inspector", &insp2, false),
    ] {
        let rosters = pulled_rosters(s, token).await;
        let got = rosters
            .iter()
            .any(|(m, names)| *m == w.ma && names == &vec!["王建国".to_owned()]);
        assert_eq!(got, sees, "{who}: {rosters:?}");
    }
    w.s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_a_clear_4xx_naming_its_field_and_stores_nothing() {
    let w = world().await;
    let s = &w.s;
    let ma = s.token("ma", "merchant-pass-a").await;
    let cases: Vec<(Value, StatusCode, &str, &str)> = vec![
        (
            json!({"role": "从业人员"}),
            StatusCode::BAD_REQUEST,
            "missing_field",
            "name",
        ),
        (
            json!({"name": " ", "role": "从业人员"}),
            StatusCode::BAD_REQUEST,
            "empty_text",
            "name",
        ),
        (
            json!({"name": "王".repeat(33), "role": "从业人员"}),
            StatusCode::BAD_REQUEST,
            "text_too_long",
            "name",
        ),
        (
            json!({"name": "王建国", "role": 3}),
            StatusCode::BAD_REQUEST,
            "wrong_type",
            "role",
        ),
        (
            {
                let mut v = wang("2027-03-01");
                v["certificate_no"] = json!("编号12");
                v
            },
            StatusCode::BAD_REQUEST,
            "invalid_certificate_no",
            "certificate_no",
        ),
        (
            {
                let mut v = wang("2027-03-01");
                v["issued_on"] = json!("2026-02-30");
                v
            },
            StatusCode::BAD_REQUEST,
            "invalid_date",
            "issued_on",
        ),
        (
            {
                let mut v = wang("2027-03-01");
                v["photo"] = json!("not-a-hash");
                v
            },
            StatusCode::BAD_REQUEST,
            "invalid_hash",
            "photo",
        ),
        (
            wang("2026-03-01"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "expiry_before_issue",
            "expires_on",
        ),
        (
            wang("2032-03-01"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validity_too_long",
            "expires_on",
        ),
        (
            {
                let mut v = wang("2027-03-01");
                v["certificate_no"] = Value::Null;
                v
            },
            StatusCode::UNPROCESSABLE_ENTITY,
            "certificate_incomplete",
            "certificate_no",
        ),
        (
            {
                let mut v = wang("2027-03-01");
                v["expires_on"] = Value::Null;
                v
            },
            StatusCode::UNPROCESSABLE_ENTITY,
            "certificate_incomplete",
            "expires_on",
        ),
    ];
    for (body, status, code, field) in cases {
        let res = put(s, &ma, &w.ma, "s1", body.clone()).await;
        let e = expect_error(res, status, code).await;
        assert_eq!(e["error"]["field"], field, "{body}");
    }
    let res = put(s, &ma, &w.ma, "s%20x", wang("2027-03-01")).await;
    let e = expect_error(res, StatusCode::BAD_REQUEST, "invalid_id").await;
    assert_eq!(e["error"]["field"], "staff_id");
    let res = put(s, &ma, &w.ma, "s1", json!(["not", "an", "object"])).await;
    expect_error(res, StatusCode::BAD_REQUEST, "wrong_type").await;
    assert!(names(s, &ma, &w.ma).await.is_empty(), "nothing stored");
    w.s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_expiring_today_warns_from_midnight_in_shanghai_once() {
    let w = world().await;
    let s = &w.s;
    let ma = s.token("ma", "merchant-pass-a").await;
    let res = put(s, &ma, &w.ma, "s1", wang("2027-03-01")).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let res = put(s, &ma, &w.ma, "s2", json!({"name": "赵国庆", "role": "负责人", "certificate_no": "JK3502030002", "issued_on": "2026-06-01", "expires_on": "2027-06-01"})).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    // 23:59:59 on the expiry day in Shanghai: still valid, no warning.
    assert_eq!(
        s.store
            .check_staff(sh(2027, 3, 1, 23, 59, 59))
            .await
            .unwrap(),
        0
    );
    assert!(alerts_of(s, &w.admin, &w.ma, "health_cert_expired")
        .await
        .is_empty());
    // 00:00:00 the next day (still 1 March in UTC): expired, one warning.
    let midnight = sh(2027, 3, 2, 0, 0, 0);
    assert_eq!(midnight.date_naive().to_string(), "2027-03-01");
    assert_eq!(s.store.check_staff(midnight).await.unwrap(), 1);
    let a = alerts_of(s, &w.admin, &w.ma, "health_cert_expired").await;
    assert_eq!(a.len(), 1, "{a:?}");
    assert_eq!(a[0]["severity"], "high");
    assert_eq!(a[0]["evidence"]["figures"]["expired"], 1.0);
    assert!(
        !a[0]["title"].as_str().unwrap().contains("王建国"),
        "{}",
        a[0]["title"]
    );
    // Checked again, and by the full pass: the same warning, not a second.
    assert_eq!(
        s.store.check_staff(sh(2027, 3, 3, 9, 0, 0)).await.unwrap(),
        0
    );
    assert_eq!(
        alerts_of(s, &w.admin, &w.ma, "health_cert_expired")
            .await
            .len(),
        1
    );
    // The market's operator sees it in its own market's alerts.
    let opa = s.token("opa", "operator-pass-a").await;
    let res = s
        .get(
            &format!(
                "/v1/alerts?market_id={}&kind=health_cert_expired",
                w.market_a
            ),
            &opa,
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    w.s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_without_a_certificate_warns_and_a_merchant_that_never_sold_does_not() {
    let w = world().await;
    let s = &w.s;
    let ma = s.token("ma", "merchant-pass-a").await;
    // Near miss: merchant B records nobody but has never sold (and was
    // registered today): no warning.
    assert_eq!(
        s.store
            .check_staff(shian_server::store::now())
            .await
            .unwrap(),
        0
    );
    assert!(alerts_of(s, &w.admin, &w.mb, "health_cert_missing")
        .await
        .is_empty());
    // A worker recorded without a certificate: raised in the write itself.
    let res = put(
        s,
        &ma,
        &w.ma,
        "s1",
        json!({"name": "李秀英", "role": "配送"}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["worker"]["status"], "missing");
    let a = alerts_of(s, &w.admin, &w.ma, "health_cert_missing").await;
    assert_eq!(a.len(), 1, "{a:?}");
    assert_eq!(a[0]["evidence"]["figures"]["without_certificate"], 1.0);
    assert_eq!(
        s.store
            .check_staff(shian_server::store::now())
            .await
            .unwrap(),
        0,
        "not raised twice"
    );
    w.s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shop_page_shows_initial_role_and_validity_never_the_full_name_or_number() {
    let w = world().await;
    let s = &w.s;
    let ma = s.token("ma", "merchant-pass-a").await;
    let today = (shian_server::store::now() + chrono::Duration::hours(8)).date_naive();
    let valid = today + chrono::Duration::days(90);
    let expired = today - chrono::Duration::days(1);
    let res = put(s, &ma, &w.ma, "s1", json!({"name": "王建国", "role": "从业人员", "certificate_no": "JK3502030001", "issued_on": (valid - chrono::Duration::days(365)).to_string(), "expires_on": valid.to_string()})).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let res = put(s, &ma, &w.ma, "s2", json!({"name": "赵秀英", "role": "配送", "certificate_no": "JK3502030002", "issued_on": (expired - chrono::Duration::days(365)).to_string(), "expires_on": expired.to_string()})).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let html = s
        .http
        .get(s.url(&format!("/s/{}", w.ma_shop)))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("从业人员健康证"), "{html}");
    assert!(
        html.contains(&format!("王* · 从业人员 · 有效期至 {valid}")),
        "{html}"
    );
    assert!(
        html.contains("赵* · 配送 · ") && html.contains("健康证已过期"),
        "{html}"
    );
    for secret in [
        "王建国",
        "赵秀英",
        "JK3502030001",
        "JK3502030002",
        "建国",
        "秀英",
    ] {
        assert!(!html.contains(secret), "the page shows {secret}");
    }
    // The shop's JSON twin says nothing of the staff either.
    let twin = s
        .http
        .get(s.url(&format!("/v1/public/shops/{}", w.ma_shop)))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for secret in ["王建国", "赵秀英", "JK3502030001"] {
        assert!(!twin.contains(secret), "the twin shows {secret}");
    }
    w.s.stop().await;
}
