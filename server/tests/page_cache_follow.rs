//! The public page cache of one instance follows the writes made through
//! another over the same store: both keep pages for a minute, so only the
//! follower's look at the store (`PagesStamp`) can explain instance B's
//! page changing after a write through instance A. On either backend.

mod common;
mod field_common;

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use common::TestServer;
use field_common::{accepted, now_cn, op, Field};

/// Pages kept for a minute: longer than any wait below.
fn config() -> shian_server::Config {
    shian_server::Config {
        page_cache_ttl: Duration::from_secs(60),
        ..shian_server::Config::default()
    }
}

async fn get(s: &TestServer, path: &str) -> String {
    let res = s.http.get(s.url(path)).send().await.unwrap();
    assert_eq!(res.status(), 200, "{path}");
    res.text().await.unwrap()
}

/// Polls `path` on `s` until `shows` holds of the body (30 s at most, far
/// below the TTL); returns it.
async fn until(s: &TestServer, path: &str, shows: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let body = get(s, path).await;
        if shows(&body) {
            return body;
        }
        assert!(Instant::now() < deadline, "{path} never changed: {body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_instances_writes_reach_the_cached_pages() {
    let f = Field::start_with(config()).await;
    let b = f.s.beside_with(config()).await;
    shian_server::follow::spawn(
        b.store.clone(),
        b.state.page_cache.clone(),
        Duration::from_millis(50),
    );
    let m: Value =
        f.s.get(&format!("/v1/merchants/{}", f.m1), &f.admin)
            .await
            .json()
            .await
            .unwrap();
    let code = m["shop_code"].as_str().unwrap().to_owned();
    let page = format!("/s/{code}");
    let twin = format!("/v1/public/shops/{code}");

    // B keeps the shop's page and its JSON twin.
    let first = get(&b, &page).await;
    assert_eq!(get(&b, &page).await, first);
    let twin_first: Value = serde_json::from_str(&get(&b, &twin).await).unwrap();
    assert_eq!(twin_first["ratings"]["total"], 0);
    assert!(!first.contains("跟随测试农场"));

    // A purchase through A: a ledger movement, which forgets no page on A
    // either. Then a rapid test through A, a field op: B renders anew and
    // shows both.
    let purchase = json!({"entry_id": uuid::Uuid::now_v7().to_string(), "merchant_id": f.m1,
        "product": {"name": "冻猪肉", "category": "livestock_meat"},
        "quantity": {"value": "8", "unit": "kg"},
        "supplier": {"name": "跟随测试农场", "region_code": "350212"},
        "certificates": [{"kind": "quarantine", "number": "DQ-2026-0098"}],
        "trace_code": shian_core::codes::new_code(&mut rand::rng()),
        "unit_price_fen": 2400, "received_at": now_cn(-30)});
    accepted(&f.push1(&f.m1_user, op("ledger.purchase", purchase)).await);
    let rapid = json!({"sample_id": uuid::Uuid::now_v7().to_string(), "merchant_id": f.m1,
        "item": "pesticide_enzyme_inhibition", "method": "rapid",
        "value": 10.0, "unit": "%", "limit": 50.0, "taken_at": now_cn(-10)});
    accepted(&f.push1(&f.insp1, op("sample.record", rapid)).await);
    until(&b, &page, |body| body.contains("跟随测试农场")).await;

    // A consumer's rating through A (no change in the feed: the ratings'
    // own id moves): B's twin counts it.
    let res =
        f.s.http
            .post(f.s.url(&format!("{twin}/ratings")))
            .header("user-agent", "page-cache-follow/1.0")
            .header("x-forwarded-for", "203.0.113.77")
            .json(&json!({"hygiene": "good", "freshness": "good", "price_honesty": "fair"}))
            .send()
            .await
            .unwrap();
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    until(&b, &twin, |body| {
        serde_json::from_str::<Value>(body).unwrap()["ratings"]["total"] == 1
    })
    .await;
    b.assert_healthy().await;
    f.s.assert_healthy().await;
}
