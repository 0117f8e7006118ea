//! Alerts through the real HTTP server: warnings raised incrementally by
//! pushes and complaints, never twice for the same facts; the full pass is
//! idempotent; the lifecycle and its refusals; bad input gets the error
//! shape.

mod common;
mod field_common;

use chrono::{Duration, FixedOffset, Utc};
use reqwest::StatusCode;
use serde_json::{json, Value};
use shian_server::store::Role;

use common::{expect_error, uscc};
use field_common::{now_cn, op, Field, PW};

/// `GET /v1/alerts{query}` as the analyst.
async fn alerts(f: &Field, query: &str) -> Value {
    let res = f.s.get(&format!("/v1/alerts{query}"), &f.analyst).await;
    assert_eq!(res.status(), StatusCode::OK);
    res.json().await.unwrap()
}

/// The merchant's open alerts of `kind`.
async fn of_kind(f: &Field, merchant: &str, kind: &str) -> Vec<Value> {
    let v = alerts(f, &format!("?merchant_id={merchant}&kind={kind}")).await;
    v["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["status"] != "resolved")
        .cloned()
        .collect()
}

/// Pushes a purchase without the certificate its category needs (as m2);
/// returns the op and the batch's trace code.
async fn purchase(f: &Field, merchant: &str) -> (Value, String) {
    let p = json!({"entry_id": uuid::Uuid::now_v7().to_string(), "merchant_id": merchant,
        "product": {"name": "菠菜", "category": "vegetable"},
        "quantity": {"value": "10", "unit": "kg"},
        "supplier": {"name": "同安蔬菜合作社", "region_code": "350212"},
        "certificates": [], "received_at": now_cn(-60)});
    let o = op("ledger.purchase", p);
    let r = f.push1(&f.m2_user, o.clone()).await;
    assert_eq!(r["status"], "accepted", "{r}");
    (o, r["result"]["trace_code"].as_str().unwrap().to_owned())
}

/// Pushes a sale of twice what the batch holds (as m2).
async fn sale_beyond_stock(f: &Field, merchant: &str, trace: &str) -> Value {
    let s = json!({"entry_id": uuid::Uuid::now_v7().to_string(), "merchant_id": merchant,
        "trace_code": trace, "quantity": {"value": "20", "unit": "kg"},
        "buyer": {"retail": true}, "sold_at": now_cn(-30)});
    let o = op("ledger.sale", s);
    let r = f.push1(&f.m2_user, o.clone()).await;
    assert_eq!(
        r["result"]["warnings"][0]["code"], "sale_exceeds_stock",
        "{r}"
    );
    o
}

#[tokio::test]
async fn pushes_raise_warnings_incrementally_and_never_twice() {
    let f = Field::start().await;
    assert_eq!(alerts(&f, "").await["total"], 0);

    // One purchase without its certificate: the push's answer comes after
    // the merchant's warnings were evaluated.
    let (first, trace) = purchase(&f, &f.m2).await;
    let missing = of_kind(&f, &f.m2, "missing_certificate").await;
    assert_eq!(missing.len(), 1, "{missing:?}");
    let a = &missing[0];
    assert_eq!(a["status"], "new");
    assert_eq!(a["severity"], "medium");
    assert_eq!(a["subject"]["type"], "merchant");
    assert_eq!(a["subject"]["id"], f.m2.as_str());
    assert_eq!(a["subject"]["market_id"], f.market.as_str());
    assert_eq!(a["subject"]["name"], "绿源蔬菜");
    assert_eq!(a["rules_version"], "warnings-v1");
    assert_eq!(a["evidence"]["figures"]["count"], 1.0);
    assert_eq!(a["evidence"]["links"][0]["type"], "entry");
    assert_eq!(
        a["evidence"]["links"][0]["id"],
        first["payload"]["entry_id"]
    );
    let id = a["id"].as_str().unwrap().to_owned();

    // The same push again: duplicates, nothing new, the same alert.
    let again = f.push1(&f.m2_user, first.clone()).await;
    assert_eq!(again["status"], "duplicate", "{again}");
    let same = of_kind(&f, &f.m2, "missing_certificate").await;
    assert_eq!(same.len(), 1);
    assert_eq!(same[0]["id"], id.as_str());
    assert_eq!(same[0]["evidence"]["figures"]["count"], 1.0);
    assert_eq!(alerts(&f, "").await["total"], 1);

    // A sale beyond the batch's stock: a second kind, for the same merchant.
    let sale = sale_beyond_stock(&f, &f.m2, &trace).await;
    let beyond = of_kind(&f, &f.m2, "sales_beyond_purchases").await;
    assert_eq!(beyond.len(), 1);
    assert_eq!(beyond[0]["severity"], "high");
    assert_eq!(
        beyond[0]["evidence"]["links"][0]["id"],
        sale["payload"]["entry_id"]
    );

    // Another purchase without a certificate: the same alert seen again,
    // with the new figures, not a second one.
    purchase(&f, &f.m2).await;
    let seen = of_kind(&f, &f.m2, "missing_certificate").await;
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0]["id"], id.as_str());
    assert_eq!(seen[0]["evidence"]["figures"]["count"], 2.0);
    assert_eq!(seen[0]["evidence"]["links"].as_array().unwrap().len(), 2);
    assert!(seen[0]["last_seen_at"].as_str() >= a["last_seen_at"].as_str());
    assert_eq!(seen[0]["first_seen_at"], a["first_seen_at"]);
    assert_eq!(alerts(&f, "").await["total"], 2);
    // Nothing for the other merchant of the market.
    assert_eq!(
        alerts(&f, &format!("?merchant_id={}", f.m1)).await["total"],
        0
    );
    f.s.assert_healthy().await;
    f.s.stop().await;
}

#[tokio::test]
async fn the_full_pass_is_idempotent_and_finds_what_pushes_do_not() {
    let f = Field::start().await;
    let soon = (Utc::now().with_timezone(&FixedOffset::east_opt(8 * 3600).unwrap())
        + Duration::days(10))
    .date_naive();
    let res =
        f.s.post(
            "/v1/merchants",
            &f.admin,
            json!({"market_id": f.market, "name": "海峡水产", "uscc": uscc("9235020300000009"),
                   "licence_no": "JY13502030000099", "licence_expiry": soon.to_string(),
                   "categories": ["aquatic"], "stall": "C-03"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let m: Value = res.json().await.unwrap();
    let id = m["id"].as_str().unwrap();
    purchase(&f, &f.m2).await;

    let res = f.s.post("/v1/alerts/scan", &f.analyst, json!({})).await;
    assert_eq!(res.status(), StatusCode::OK);
    let first: Value = res.json().await.unwrap();
    // The licence notice (10 days left: the 30-day one, not yet the 7-day).
    assert_eq!(of_kind(&f, id, "licence_expiring_30d").await.len(), 1);
    assert!(of_kind(&f, id, "licence_expiring_7d").await.is_empty());
    assert_eq!(first["raised"], 1, "the push had raised its own: {first}");
    assert_eq!(first["open"], 2);
    assert!(first["elapsed_ms"].is_u64());
    let before = alerts(&f, "").await;

    let res = f.s.post("/v1/alerts/scan", &f.admin, json!({})).await;
    let second: Value = res.json().await.unwrap();
    assert_eq!(
        (second["raised"].as_u64(), second["open"].as_u64()),
        (Some(0), Some(2))
    );
    let after = alerts(&f, "").await;
    let ids = |v: &Value| {
        v["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["id"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(&before), ids(&after));
    f.s.assert_healthy().await;
    f.s.stop().await;
}

/// A full pass reads every subject's facts; a loop calling it would hold
/// the writer for good. A few at once, then 429 with `Retry-After`.
#[tokio::test]
async fn full_passes_are_limited_per_account_after_the_token() {
    let f = Field::start().await;
    for _ in 0..4 {
        let res = f.s.post("/v1/alerts/scan", &f.analyst, json!({})).await;
        assert_eq!(res.status(), StatusCode::OK);
    }
    let res = f.s.post("/v1/alerts/scan", &f.analyst, json!({})).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(res.headers().contains_key("retry-after"));
    expect_error(res, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    // Counted per account after the token is checked: another account
    // still may, and a bad token is a 401, never a 429.
    let res = f.s.post("/v1/alerts/scan", &f.admin, json!({})).await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = f.s.post("/v1/alerts/scan", "not-a-token", json!({})).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    f.s.assert_healthy().await;
    f.s.stop().await;
}

#[tokio::test]
async fn lifecycle_and_its_refusals() {
    let f = Field::start().await;
    let handler = f.s.user("analyst_chen", PW, Role::Analyst, None, &[]).await;
    purchase(&f, &f.m2).await;
    let a = of_kind(&f, &f.m2, "missing_certificate").await.remove(0);
    let id = a["id"].as_str().unwrap().to_owned();
    let path = |step: &str| format!("/v1/alerts/{id}/{step}");

    // Resolving what nobody took on is a bad transition.
    expect_error(
        f.s.post(&path("resolve"), &f.analyst, json!({"note": "已核查"}))
            .await,
        StatusCode::CONFLICT,
        "alert_not_assigned",
    )
    .await;
    let res =
        f.s.post(&path("assign"), &f.analyst, json!({"user_id": handler}))
            .await;
    assert_eq!(res.status(), StatusCode::OK);
    let v: Value = res.json().await.unwrap();
    assert_eq!(
        (v["status"].as_str(), v["assigned_to"].as_str()),
        (Some("assigned"), Some(handler.as_str()))
    );
    expect_error(
        f.s.post(&path("assign"), &f.analyst, json!({"user_id": f.m2}))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "unknown_user",
    )
    .await;
    expect_error(
        f.s.post(&path("resolve"), &f.analyst, json!({"note": "   "}))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "too_short",
    )
    .await;
    let res =
        f.s.post(
            &path("resolve"),
            &f.analyst,
            json!({"note": "已责令补齐检疫证明"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["status"], "resolved");
    assert_eq!(v["note"], "已责令补齐检疫证明");
    assert!(v["resolved_at"].is_string());
    for (step, body) in [
        ("resolve", json!({"note": "again"})),
        ("assign", json!({"user_id": handler})),
    ] {
        expect_error(
            f.s.post(&path(step), &f.analyst, body).await,
            StatusCode::CONFLICT,
            "alert_resolved",
        )
        .await;
    }

    // The same facts do not raise it again, by a scan or a push …
    let res = f.s.post("/v1/alerts/scan", &f.analyst, json!({})).await;
    let scan: Value = res.json().await.unwrap();
    assert_eq!(scan["raised"], 0, "{scan}");
    assert!(of_kind(&f, &f.m2, "missing_certificate").await.is_empty());
    // … newer facts do, as a new alert.
    purchase(&f, &f.m2).await;
    let raised = of_kind(&f, &f.m2, "missing_certificate").await;
    assert_eq!(raised.len(), 1);
    assert_ne!(raised[0]["id"], id.as_str());
    assert_eq!(raised[0]["status"], "new");
    let resolved = alerts(&f, "?status=resolved").await;
    assert_eq!(resolved["total"], 1);
    assert_eq!(resolved["alerts"][0]["id"], id.as_str());
    f.s.assert_healthy().await;
    f.s.stop().await;
}

/// The open hot-topic alerts about products.
async fn product_topics(f: &Field) -> Vec<Value> {
    let v = alerts(f, "?kind=complaint_hot_topic").await;
    v["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["status"] != "resolved" && a["subject"]["type"] == "product")
        .cloned()
        .collect()
}

/// The shop code of a merchant (its public page's key).
async fn shop_code(f: &Field, merchant: &str) -> String {
    let res =
        f.s.get(&format!("/v1/merchants/{merchant}"), &f.admin)
            .await;
    let m: Value = res.json().await.unwrap();
    m["shop_code"].as_str().unwrap().to_owned()
}

/// The public's `i`-th complaint about the shop `code` (each from its own
/// address), naming `product`; returns the complaint's id.
async fn complain(f: &Field, code: &str, i: usize, product: &str) -> String {
    let res =
        f.s.http
            .post(f.s.url(&format!("/v1/public/shops/{code}/complaints")))
            .header("user-agent", "alerts-test/1.0")
            .header("x-forwarded-for", format!("203.0.113.{}", 10 + i))
            .json(
                &json!({"category": "expired_or_spoiled", "product": product,
                "text": format!("{product}解冻后发臭，第{i}次")}),
            )
            .send()
            .await
            .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let v: Value = res.json().await.unwrap();
    v["complaint_id"].as_str().unwrap().to_owned()
}

/// Five complaints in 30 days make a merchant "frequently complained
/// about" (four stay quiet); eight naming one product (however it is
/// typed) make that product a hot topic, raised once.
#[tokio::test]
async fn complaints_raise_frequent_complaints_and_a_product_hot_topic_at_once() {
    let f = Field::start().await;
    let code = shop_code(&f, &f.m1).await;
    let spellings = ["冻虾仁", " 冻虾仁", "冻虾仁　", "冻虾仁"];
    for i in 0..9 {
        if i < 5 {
            assert!(
                of_kind(&f, &f.m1, "complaints_frequent").await.is_empty(),
                "after {i}"
            );
        }
        if i < 8 {
            assert!(product_topics(&f).await.is_empty(), "after {i}");
        }
        complain(&f, &code, i, spellings[i % 4]).await;
        if i == 4 {
            let a = of_kind(&f, &f.m1, "complaints_frequent").await;
            assert_eq!(a.len(), 1);
            assert_eq!(a[0]["evidence"]["figures"]["complaints"], 5.0);
            assert_eq!(a[0]["evidence"]["links"].as_array().unwrap().len(), 5);
            assert_eq!(a[0]["evidence"]["links"][0]["type"], "complaint");
        }
    }
    let hot = product_topics(&f).await;
    assert_eq!(hot.len(), 1, "{hot:#?}");
    assert_eq!(hot[0]["subject"]["id"], "冻虾仁");
    assert_eq!(hot[0]["evidence"]["figures"]["recent"], 9.0);
    assert_eq!(hot[0]["evidence"]["links"].as_array().unwrap().len(), 9);
    assert_eq!(of_kind(&f, &f.m1, "complaints_frequent").await.len(), 1);
    f.s.assert_healthy().await;
    f.s.stop().await;
}

/// An inspector's rapid test of `merchant` reading `value` (over 50 is
/// positive, to be confirmed by the lab).
fn rapid(merchant: &str, value: f64) -> Value {
    json!({"sample_id": uuid::Uuid::now_v7().to_string(), "merchant_id": merchant,
        "trace_code": "7K3M9QX2HD4RT8WB", "item": "pesticide_enzyme_inhibition",
        "method": "rapid", "value": value, "unit": "%", "limit": 50.0, "taken_at": now_cn(-20)})
}

/// The lab's failed confirmation of the rapid test `confirms`.
fn lab_failure(merchant: &str, confirms: &str) -> Value {
    json!({"sample_id": uuid::Uuid::now_v7().to_string(), "merchant_id": merchant,
        "item": "毒死蜱", "method": "lab", "value": 0.35, "unit": "mg/kg", "limit": 0.02,
        "taken_at": now_cn(-5), "confirms": confirms})
}

/// An inspector's pushes write facts of a merchant that is not the caller's
/// (samples): the merchant is marked in the push, so its warnings come
/// with the incremental pass after the push, without a full pass. Five
/// samplings in a year are too often; two of them failed in the lab make
/// an abnormal pass rate, for the merchant and for its market.
#[tokio::test]
async fn an_inspectors_samples_raise_warnings_without_a_full_pass() {
    let f = Field::start().await;
    let mut rapid_ids = Vec::new();
    for i in 0..5 {
        assert!(
            of_kind(&f, &f.m1, "sampled_too_often").await.is_empty(),
            "after {i}"
        );
        let s = rapid(&f.m1, 62.5);
        rapid_ids.push(s["sample_id"].as_str().unwrap().to_owned());
        let r = f.push1(&f.insp1, op("sample.record", s)).await;
        assert_eq!(r["status"], "accepted", "{r}");
    }
    let often = of_kind(&f, &f.m1, "sampled_too_often").await;
    assert_eq!(often.len(), 1, "{often:?}");
    assert_eq!(often[0]["evidence"]["figures"]["samplings"], 5.0);
    assert!(of_kind(&f, &f.m1, "pass_rate_abnormal").await.is_empty());

    for (i, rapid_id) in rapid_ids[..2].iter().enumerate() {
        let r = f
            .push1(&f.insp2, op("sample.record", lab_failure(&f.m1, rapid_id)))
            .await;
        assert_eq!(r["result"]["outcome"], "failed_confirmed", "{r}");
        let rate = of_kind(&f, &f.m1, "pass_rate_abnormal").await;
        assert_eq!(rate.len(), i, "after {} failures: {rate:?}", i + 1);
    }
    let rate = of_kind(&f, &f.m1, "pass_rate_abnormal").await;
    assert_eq!(rate[0]["evidence"]["figures"]["failures"], 2.0);
    let market = alerts(
        &f,
        &format!("?market_id={}&kind=pass_rate_abnormal", f.market),
    )
    .await;
    assert!(
        market["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["subject"]["type"] == "market"),
        "{market}"
    );
    // Nothing for the merchant the inspector did not sample.
    assert_eq!(
        alerts(&f, &format!("?merchant_id={}", f.m2)).await["total"],
        0
    );
    f.s.assert_healthy().await;
    f.s.stop().await;
}

/// An inspector's decision on a complaint (a push of the district's
/// inspector, not of the merchant) changes which complaints weigh: the
/// merchant is marked in the push, and the incremental pass after it sees
/// the open alert again with the new figures.
#[tokio::test]
async fn an_inspectors_complaint_decision_is_seen_without_a_full_pass() {
    let f = Field::start().await;
    let code = shop_code(&f, &f.m1).await;
    let mut ids = Vec::new();
    for i in 0..6 {
        ids.push(complain(&f, &code, i, "冻鸡翅").await);
    }
    let a = of_kind(&f, &f.m1, "complaints_frequent").await;
    assert_eq!(a[0]["evidence"]["figures"]["complaints"], 6.0, "{a:?}");
    let r = f
        .push1(
            &f.insp1,
            op(
                "complaint.refuse",
                json!({"complaint_id": ids[0], "decided_at": now_cn(0), "reason": "不属于食品安全监管职责"}),
            ),
        )
        .await;
    assert_eq!(r["status"], "accepted", "{r}");
    let a = of_kind(&f, &f.m1, "complaints_frequent").await;
    assert_eq!(a.len(), 1);
    assert_eq!(a[0]["evidence"]["figures"]["complaints"], 5.0, "{a:?}");
    f.s.assert_healthy().await;
    f.s.stop().await;
}

#[tokio::test]
async fn bad_input_gets_the_error_shape_and_stores_nothing() {
    let f = Field::start().await;
    for (query, field) in [
        ("?kind=smuggling", "kind"),
        ("?status=open", "status"),
        ("?status=", "status"),
        ("?limit=0", "limit"),
        ("?limit=1001", "limit"),
        ("?merchant_id=a%20b", "merchant_id"),
        ("?market_id=%E5%B8%82", "market_id"),
    ] {
        let v = expect_error(
            f.s.get(&format!("/v1/alerts{query}"), &f.analyst).await,
            StatusCode::BAD_REQUEST,
            "invalid_query",
        )
        .await;
        assert_eq!(v["error"]["field"], field, "{query}: {v}");
    }
    expect_error(
        f.s.get("/v1/alerts?limit=-1", &f.analyst).await,
        StatusCode::BAD_REQUEST,
        "invalid_query",
    )
    .await;
    expect_error(
        f.s.get("/v1/alerts", &f.m1_user).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    expect_error(
        f.s.post("/v1/alerts/scan", &f.insp1, json!({})).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    expect_error(
        f.s.post(
            "/v1/alerts/no-such-alert/assign",
            &f.analyst,
            json!({"user_id": "x"}),
        )
        .await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect_error(
        f.s.post(
            "/v1/alerts/no-such-alert/resolve",
            &f.analyst,
            json!({"note": "ok", "extra": 1}),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid_field",
    )
    .await;
    // Through the API, on either backend: no alert of any status.
    assert_eq!(alerts(&f, "").await["total"], 0);
    f.s.assert_healthy().await;
    f.s.stop().await;
}

#[tokio::test]
async fn an_open_licence_warning_weighs_in_the_risk_grade() {
    let f = Field::start().await;
    let res =
        f.s.post(
            "/v1/merchants",
            &f.admin,
            json!({"market_id": f.market, "name": "过期粮油", "uscc": uscc("9235020300000019"),
                   "licence_no": "JY13502030000199", "licence_expiry": "2025-06-30",
                   "categories": ["grain_oil"], "stall": "D-04"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let m: Value = res.json().await.unwrap();
    let id = m["id"].as_str().unwrap().to_owned();
    f.s.user("shop_expired", PW, Role::Merchant, Some(&id), &[])
        .await;
    let token = f.s.token("shop_expired", PW).await;
    let grade = || async {
        let res = f.s.get("/v1/risk/merchants?limit=1000", &f.analyst).await;
        let v: Value = res.json().await.unwrap();
        assert_eq!(v["rules_version"], 3);
        v["merchants"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["merchant_id"] == id.as_str())
            .unwrap()["dynamic_score"]
            .as_f64()
            .unwrap()
    };
    let before = grade().await;

    // Trading a year and a half after the licence expired.
    let p = json!({"entry_id": uuid::Uuid::now_v7().to_string(), "merchant_id": id,
        "product": {"name": "花生油", "category": "grain_oil"},
        "quantity": {"value": "5", "unit": "box"},
        "supplier": {"name": "厦门粮油批发", "region_code": "350206"},
        "certificates": [], "received_at": now_cn(-10)});
    let o = op("ledger.purchase", p);
    let r = f.push1(&token, o.clone()).await;
    assert_eq!(r["status"], "accepted", "{r}");
    let a = of_kind(&f, &id, "licence_expired_trading").await;
    assert_eq!(a.len(), 1);
    assert_eq!(a[0]["severity"], "high");
    assert_eq!(a[0]["evidence"]["links"][0]["id"], o["payload"]["entry_id"]);
    assert_eq!(a[0]["evidence"]["figures"]["entries_after_expiry"], 1.0);
    // risk-v3: 10 points per open warning no other factor counts (a new
    // operator's dynamic score was its static score scaled, less than that).
    assert!(before < 10.0, "{before}");
    assert_eq!(grade().await, 10.0);
    f.s.assert_healthy().await;
    f.s.stop().await;
}

/// Logs in through the browser form; returns the `Cookie` header to send.
async fn browser_login(f: &Field, username: &str) -> String {
    let res = no_redirect()
        .post(f.s.url("/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("username={username}&password={PW}&next=%2Fconsole"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let cookie = res.headers()["set-cookie"].to_str().unwrap();
    cookie.split(';').next().unwrap().to_owned()
}

fn no_redirect() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn console(f: &Field, path: &str, cookie: &str) -> String {
    let res = no_redirect()
        .get(f.s.url(path))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK, "{path}");
    res.text().await.unwrap()
}

async fn console_post(f: &Field, path: &str, cookie: &str, body: String) -> reqwest::Response {
    no_redirect()
        .post(f.s.url(path))
        .header("cookie", cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_console_lists_filters_and_acts_on_alerts_behind_its_csrf_token() {
    let f = Field::start().await;
    let (_, trace) = purchase(&f, &f.m2).await;
    sale_beyond_stock(&f, &f.m2, &trace).await;
    let cookie = browser_login(&f, "analyst").await;

    let page = console(&f, "/console/alerts", &cookie).await;
    assert!(
        page.contains("进货索证不全") && page.contains("销售超过进货（来源不明）"),
        "{page}"
    );
    assert!(page.contains("共 2 条"), "{page}");
    let only = console(
        &f,
        "/console/alerts?kind=sales_beyond_purchases&status=new",
        &cookie,
    )
    .await;
    assert!(
        only.contains("共 1 条") && !only.contains("data-kind=\"missing_certificate\""),
        "{only}"
    );
    let id = of_kind(&f, &f.m2, "sales_beyond_purchases").await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let csrf = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap()
        .to_owned();

    // Without the token, or with another one: refused, nothing changed.
    for token in ["", "00ff"] {
        let res = console_post(
            &f,
            &format!("/console/alerts/{id}/assign"),
            &cookie,
            format!("csrf={token}"),
        )
        .await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
    }
    assert_eq!(
        of_kind(&f, &f.m2, "sales_beyond_purchases").await[0]["status"],
        "new"
    );

    let res = console_post(
        &f,
        &format!("/console/alerts/{id}/assign"),
        &cookie,
        format!("csrf={csrf}&back=kind%3Dsales_beyond_purchases"),
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        res.headers()["location"],
        "/console/alerts?kind=sales_beyond_purchases&done=assigned"
    );
    let res = console_post(
        &f,
        &format!("/console/alerts/{id}/resolve"),
        &cookie,
        format!("csrf={csrf}&note=%E5%B7%B2%E6%A0%B8%E6%9F%A5"),
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let resolved = alerts(&f, "?status=resolved").await;
    assert_eq!(resolved["alerts"][0]["id"], id.as_str());
    assert_eq!(resolved["alerts"][0]["note"], "已核查");
    let page = console(&f, "/console/alerts?status=resolved", &cookie).await;
    assert!(page.contains("处理意见：已核查"), "{page}");
    f.s.assert_healthy().await;
    f.s.stop().await;
}
