//! The market-operator role (市场开办者、食品安全员): accounts scoped to
//! their markets, by API and by pull, and the `admin create-user` rules.

mod common;

use std::process::Command;

use common::{expect_error, uscc, TestServer};
use reqwest::StatusCode;
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_shian-server");

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_sees_its_own_market_only() {
    let s = TestServer::start().await;
    let admin = s.admin().await;
    let (ours, theirs) = (s.create_market(&admin).await, s.create_market(&admin).await);
    let m_ours = merchant(&s, &admin, &ours, "本市场经营户", "9235020300000109").await;
    let m_theirs = merchant(&s, &admin, &theirs, "别的市场经营户", "9235020300000119").await;
    s.operator("op", "operator-pass-1", &[&ours]).await;

    let res = s.login("op", "operator-pass-1").await;
    assert_eq!(res.status(), StatusCode::OK);
    let login: Value = res.json().await.unwrap();
    assert_eq!(login["role"], "market_operator");
    assert_eq!(login["scope"]["markets"], json!([ours]));
    let op = login["token"].as_str().unwrap().to_owned();

    // One merchant: its own market's, not another's.
    let res = s.get(&format!("/v1/merchants/{m_ours}"), &op).await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = s.get(&format!("/v1/merchants/{m_theirs}"), &op).await;
    expect_error(res, StatusCode::FORBIDDEN, "forbidden").await;

    // The list: its market by default, another market refused.
    let res = s.get("/v1/merchants", &op).await;
    assert_eq!(res.status(), StatusCode::OK);
    let page: Value = res.json().await.unwrap();
    let ids: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![m_ours.as_str()], "{page}");
    let res = s
        .get(&format!("/v1/merchants?market_id={theirs}"), &op)
        .await;
    expect_error(res, StatusCode::FORBIDDEN, "forbidden").await;

    // Alerts: its market's, not another's.
    let res = s.get("/v1/alerts", &op).await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = s.get(&format!("/v1/alerts?market_id={theirs}"), &op).await;
    expect_error(res, StatusCode::FORBIDDEN, "forbidden").await;

    // Pull: what is addressed to its market, not to another market.
    for (market, note) in [(&ours, "ours"), (&theirs, "theirs")] {
        s.execute_in(
            "INSERT INTO changes (kind, market_id, payload, created_at) VALUES ('market.test', $1, $2, '2026-12-01T00:00:00Z')",
            // PostgreSQL numbers a change from the feed's sequencer row.
            "WITH h AS (UPDATE changes_head SET head = head + 1 WHERE feed = 'changes' RETURNING head)
             INSERT INTO changes (seq, kind, market_id, payload, created_at)
             VALUES ((SELECT head FROM h), 'market.test', $1, $2, '2026-12-01T00:00:00Z')",
            &[market, &json!({"note": note}).to_string()],
        );
    }
    let res = s.get("/v1/sync/pull", &op).await;
    assert_eq!(res.status(), StatusCode::OK);
    let pulled: Value = res.json().await.unwrap();
    let notes: Vec<&str> = pulled["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["kind"] == "market.test")
        .map(|c| c["payload"]["note"].as_str().unwrap())
        .collect();
    assert_eq!(notes, vec!["ours"], "{pulled}");

    // A merchant's pull does not get the market's rows either.
    s.user(
        "m1",
        "merchant-pass-1",
        shian_server::store::Role::Merchant,
        Some(&m_ours),
        &[],
    )
    .await;
    let m1 = s.token("m1", "merchant-pass-1").await;
    let pulled: Value = s.get("/v1/sync/pull", &m1).await.json().await.unwrap();
    assert!(
        !pulled["changes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["kind"] == "market.test"),
        "{pulled}"
    );
    s.stop().await;
}

fn create_user(db: &std::ffi::OsStr, args: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .args(["admin", "create-user", "--db"])
        .arg(db)
        .args(args)
        .env_remove("SHIAN_DB")
        .env_remove("SHIAN_PASSWORD")
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_user_takes_repeatable_market_ids_for_operators_only() {
    let s = TestServer::start().await;
    let admin = s.admin().await;
    let (a, b) = (s.create_market(&admin).await, s.create_market(&admin).await);
    let db = s.db_arg();
    let base = ["--password", "operator-pass-1"];
    let run = |extra: Vec<String>| {
        let db = db.clone();
        async move {
            tokio::task::spawn_blocking(move || {
                let mut args: Vec<&str> = base.to_vec();
                args.extend(extra.iter().map(String::as_str));
                create_user(&db, &args)
            })
            .await
            .unwrap()
        }
    };
    let v = |xs: &[&str]| xs.iter().map(|x| (*x).to_owned()).collect::<Vec<_>>();

    // Without a market, with an unknown one, or on another role: refused.
    let out = run(v(&["--username", "op0", "--role", "market_operator"])).await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--market-id"));
    let out = run(v(&[
        "--username",
        "op0",
        "--role",
        "market_operator",
        "--market-id",
        "no-such-market",
    ]))
    .await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no such market"));
    let out = run(v(&[
        "--username",
        "an0",
        "--role",
        "analyst",
        "--market-id",
        &a,
    ]))
    .await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("only market operators"));

    // Two markets, the flag repeated: both in the token's scope.
    let out = run(v(&[
        "--username",
        "op2",
        "--role",
        "market_operator",
        "--market-id",
        &a,
        "--market-id",
        &b,
    ]))
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let login: Value = s
        .login("op2", "operator-pass-1")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(login["scope"]["markets"], json!([a, b]));
    s.stop().await;
}
