//! Parallel wrong passwords against one account. Alone in its test binary:
//! it reads the process-wide `shian_password_checks_total` counter.

mod common;

use common::TestServer;
use reqwest::StatusCode;
use serde_json::Value;
use shian_server::store::Role;
use shian_server::Config;

/// `shian_password_checks_total` (all outcomes) from `/metrics`.
async fn password_checks(s: &TestServer) -> u64 {
    let text = s
        .http
        .get(s.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter(|l| l.starts_with("shian_password_checks_total"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

/// 20 wrong passwords at once with a lockout after 5: the attempt is
/// counted before the slow check, so argon2 runs at most 5 times, at most 4
/// answers are "wrong password" and every other one is "locked".
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_wrong_passwords_check_at_most_the_lockout_count() {
    let config = Config {
        login_max_failures: 5,
        // The per-address limit is not what this test is about.
        login_rate_burst: 1000,
        ..Config::default()
    };
    let s = TestServer::start_with(config).await;
    s.user(
        "target",
        "right-password",
        Role::Inspector,
        None,
        &["350203"],
    )
    .await;
    let checks_before = password_checks(&s).await;

    let mut tasks = Vec::new();
    for i in 0..20 {
        let req = s
            .http
            .post(s.url("/v1/auth/login"))
            .json(&serde_json::json!({"username": "target", "password": format!("guess-{i:04}")}));
        tasks.push(tokio::spawn(async move {
            let res = req.send().await.unwrap();
            let status = res.status();
            let v: Value = res.json().await.unwrap();
            (status, v["error"]["code"].as_str().unwrap_or("").to_owned())
        }));
    }
    let mut wrong = 0;
    let mut locked = 0;
    for t in tasks {
        match t.await.unwrap() {
            (StatusCode::UNAUTHORIZED, code) if code == "invalid_credentials" => wrong += 1,
            (StatusCode::TOO_MANY_REQUESTS, code) if code == "account_locked" => locked += 1,
            other => panic!("unexpected answer {other:?}"),
        }
    }
    assert!(
        wrong <= 4,
        "{wrong} wrong-password answers, {locked} locked"
    );
    assert_eq!(wrong + locked, 20);
    let checked = password_checks(&s).await - checks_before;
    assert!((1..=5).contains(&checked), "argon2 ran {checked} times");

    // Locked means locked, and a locked account is not even checked.
    let res = s.login("target", "right-password").await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(password_checks(&s).await - checks_before, checked);
    s.assert_healthy().await;
}
