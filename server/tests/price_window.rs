//! The price windows each server keeps in memory for the incremental pass
//! (`store/sqlite/price_window.rs`, `store/postgres/price_window.rs`): a
//! push is judged against its market's prices as the database holds them —
//! including those another server wrote to the same database after this
//! one read its window — and the full pass, which reads the database
//! again, finds the very same warning. On either backend.

mod common;
mod field_common;

use reqwest::StatusCode;
use serde_json::{json, Value};
use shian_server::store::Role;

use common::uscc;
use field_common::{now_cn, op, Field, PW};

/// A purchase of frozen beef shank at `price` fen a kilo.
fn beef(merchant: &str, price: i64) -> Value {
    op(
        "ledger.purchase",
        json!({"entry_id": uuid::Uuid::now_v7().to_string(), "merchant_id": merchant,
            "product": {"name": "冻牛腱", "category": "livestock_meat"},
            "quantity": {"value": "10", "unit": "kg"}, "unit_price_fen": price,
            "supplier": {"name": "厦门冷链批发", "region_code": "350203"},
            "certificates": [], "received_at": now_cn(-60)}),
    )
}

/// Pushes through the server at `base` with a phone of the account's own.
async fn push(http: &reqwest::Client, base: &str, token: &str, device: &str, o: Value) {
    let res = http
        .post(format!("{base}/v1/sync/push"))
        .bearer_auth(token)
        .json(&json!({"device_id": device, "ops": [o]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["results"][0]["status"], "accepted", "{v}");
}

async fn price_alerts(f: &Field) -> Vec<Value> {
    let res =
        f.s.get("/v1/alerts?kind=price_below_market", &f.analyst)
            .await;
    assert_eq!(res.status(), StatusCode::OK);
    let v: Value = res.json().await.unwrap();
    v["alerts"].as_array().unwrap().clone()
}

#[tokio::test]
async fn a_push_is_judged_with_the_prices_another_server_wrote_since() {
    let f = Field::start().await;
    let http = reqwest::Client::new();
    // Four honest butchers in the market, each with an account.
    let mut honest = Vec::new();
    for i in 0..4 {
        let res =
            f.s.post(
                "/v1/merchants",
                &f.admin,
                json!({"market_id": f.market, "name": format!("诚信肉铺{i}"),
                       "uscc": uscc(&format!("923502030000010{i}")),
                       "categories": ["livestock_meat"], "stall": format!("C-0{i}")}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::CREATED);
        let id = res.json::<Value>().await.unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let user = format!("butcher{i}");
        f.s.user(&user, PW, Role::Merchant, Some(&id), &[]).await;
        honest.push((id, f.s.token(&user, PW).await));
    }

    // Two of them buy at the going rate through this server, and the
    // smuggler (m1) buys at a third of it: two merchants are no baseline,
    // so nothing fires — and this server has read its market's window.
    for (id, token) in &honest[..2] {
        for p in [6_900, 7_000, 7_200] {
            push(&http, &f.s.base, token, &format!("phone-{id}"), beef(id, p)).await;
        }
    }
    let first = beef(&f.m1, 2_300);
    let first_id = first["payload"]["entry_id"].as_str().unwrap().to_owned();
    push(&http, &f.s.base, &f.m1_user, "phone-m1", first).await;
    assert!(price_alerts(&f).await.is_empty());

    // The other two buy through a second server on the same database.
    let other = f.s.beside().await;
    for (id, token) in &honest[2..] {
        for p in [6_800, 7_100, 7_300] {
            push(
                &http,
                &other.base,
                token,
                &format!("phone-{id}"),
                beef(id, p),
            )
            .await;
        }
    }
    other.stop().await;

    // The smuggler's next cheap lot, through the first server: judged
    // against all twelve honest prices, both its lots are outliers.
    push(&http, &f.s.base, &f.m1_user, "phone-m1", beef(&f.m1, 2_400)).await;
    let found = price_alerts(&f).await;
    assert_eq!(found.len(), 1, "{found:#?}");
    let a = &found[0];
    assert_eq!(a["subject"]["id"], f.m1.as_str());
    let figures = &a["evidence"]["figures"];
    assert_eq!(figures["outlying_entries"], 2.0, "{a:#}");
    assert_eq!(figures["baseline_entries"], 12.0, "{a:#}");
    assert_eq!(figures["baseline_merchants"], 4.0, "{a:#}");
    let links: Vec<&str> = a["evidence"]["links"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["id"].as_str().unwrap())
        .collect();
    assert_eq!(links.len(), 2);
    assert_eq!(links[0], first_id, "the cheapest lot first: {links:?}");

    // The full pass reads the database again and finds the same warning, once.
    let res = f.s.post("/v1/alerts/scan", &f.analyst, json!({})).await;
    assert_eq!(res.status(), StatusCode::OK);
    let again = price_alerts(&f).await;
    assert_eq!(again.len(), 1, "{again:#?}");
    assert_eq!(again[0]["id"], a["id"]);
    assert_eq!(again[0]["evidence"], a["evidence"]);
    f.s.assert_healthy().await;
    f.s.stop().await;
}
