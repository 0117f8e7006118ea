//! `serve` answers before the full warnings pass at start has finished
//! (a restart over a city's ledger must not wait for it) and the pass
//! still runs: a merchant whose licence came within seven days of expiry
//! while the server was down is warned about after the restart, with no
//! push to set it off.

use std::time::{Duration, Instant};

use chrono::Utc;
use reqwest::StatusCode;
use serde_json::{json, Value};

mod common;
mod process;
use process::{create_user, serve};

/// POSTs JSON (with a bearer token unless it is empty); the status and body.
async fn post(
    http: &reqwest::Client,
    url: String,
    token: &str,
    body: Value,
) -> (StatusCode, Value) {
    let mut req = http.post(url).json(&body);
    if !token.is_empty() {
        req = req.bearer_auth(token);
    }
    let res = req.send().await.unwrap();
    (res.status(), res.json().await.unwrap())
}

async fn token(http: &reqwest::Client, base: &str, username: &str) -> String {
    let body = json!({"username": username, "password": "start-pass-12345"});
    let (_, v) = post(http, format!("{base}/v1/auth/login"), "", body).await;
    v["token"].as_str().unwrap().to_owned()
}

async fn licence_alerts(http: &reqwest::Client, base: &str, analyst: &str) -> Vec<Value> {
    let res = http
        .get(format!("{base}/v1/alerts?kind=licence_expiring_7d"))
        .bearer_auth(analyst)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let v: Value = res.json().await.unwrap();
    v["alerts"].as_array().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_full_pass_at_start_runs_beside_the_first_requests() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // The store the processes open (`--db`): the SQLite file, or with
    // SHIAN_TEST_DB=postgres a fresh database of its own, whose server
    // files (the keys) go in `data`, which every process reads from
    // SHIAN_DATA_DIR (set before any process starts; this binary holds
    // this one test, so nothing else reads the environment meanwhile).
    let db = if common::on_postgres() {
        let url = tokio::task::spawn_blocking(shian_server::store::postgres::testing::fresh_url)
            .await
            .unwrap()
            .expect("SHIAN_TEST_DB=postgres needs PostgreSQL 15 (scripts/install-test-deps.sh)");
        std::env::set_var("SHIAN_DATA_DIR", &data);
        std::path::PathBuf::from(url)
    } else {
        data.join("shian.db")
    };
    let http = reqwest::Client::new();
    create_user(&db, "root", "start-pass-12345", "admin");
    create_user(&db, "desk", "start-pass-12345", "analyst");

    // A merchant registered with a licence three days from expiry: no
    // push, so no incremental pass, judges it.
    let merchant = {
        let s = serve(&db);
        let admin = token(&http, &s.base, "root").await;
        let body = json!({"name": "测试市场", "region_code": "350203"});
        let (_, market) = post(&http, format!("{}/v1/markets", s.base), &admin, body).await;
        let expiry = (Utc::now() + chrono::Duration::days(3)).date_naive();
        let body = json!({"market_id": market["id"], "name": "将到期肉铺",
            "uscc": shian_server::validate::complete_uscc("9235020300000009").unwrap(),
            "licence_no": "JY13502030000011", "licence_expiry": expiry.to_string(),
            "categories": ["livestock_meat"]});
        let (status, v) = post(&http, format!("{}/v1/merchants", s.base), &admin, body).await;
        assert_eq!(status, StatusCode::CREATED, "{v}");
        v["id"].as_str().unwrap().to_owned()
    };

    // After the restart the server answers, and the pass at start finds
    // the licence.
    let s = serve(&db);
    let analyst = token(&http, &s.base, "desk").await;
    let deadline = Instant::now() + Duration::from_secs(60);
    let found = loop {
        let found = licence_alerts(&http, &s.base, &analyst).await;
        if !found.is_empty() || Instant::now() > deadline {
            break found;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0]["subject"]["id"], merchant.as_str());
}
