//! Login, lockout, tokens, roles and devices against a real server.

mod common;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use common::{expect_error, TestServer};
use jsonwebtoken::{encode, EncodingKey, Header};
use reqwest::StatusCode;
use serde_json::{json, Value};
use shian_server::store::Role;
use shian_server::Config;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_ok_and_wrong_password() {
    let s = TestServer::start().await;
    let id = s
        .user(
            "Li.Wei",
            "correct-horse",
            Role::Inspector,
            None,
            &["350203"],
        )
        .await;

    let res = s.login("Li.Wei", "correct-horse").await;
    assert_eq!(res.status(), StatusCode::OK);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["role"], "inspector");
    assert_eq!(v["subject_id"], id.as_str());
    assert_eq!(v["scope"]["regions"], json!(["350203"]));
    assert!(v["expires_at"].as_str().unwrap().contains('T'));
    assert_eq!(v["token"].as_str().unwrap().split('.').count(), 3);

    // Usernames are case-insensitive.
    assert_eq!(
        s.login("li.wei", "correct-horse").await.status(),
        StatusCode::OK
    );

    expect_error(
        s.login("Li.Wei", "wrong-horse").await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;
    // An unknown user gets the same answer.
    expect_error(
        s.login("nobody", "whatever-pass").await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;
    // Empty and overlong inputs are bad requests, not 500s.
    let e = expect_error(
        s.login("", "x").await,
        StatusCode::BAD_REQUEST,
        "invalid_username",
    )
    .await;
    assert_eq!(e["error"]["field"], "username");
    expect_error(
        s.login("Li.Wei", &"p".repeat(5000)).await,
        StatusCode::BAD_REQUEST,
        "invalid_password",
    )
    .await;
    s.assert_healthy().await;
}

/// The unauthenticated login has a limit per client address: past the
/// burst it answers 429 in the error shape with Retry-After, whatever the
/// account; other routes are not limited by it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_is_limited_per_client_address() {
    let config = Config {
        login_rate_burst: 3,
        login_rate_period: std::time::Duration::from_secs(3600),
        ..Config::default()
    };
    let s = TestServer::start_with(config).await;
    s.user("someone", "right-password", Role::Admin, None, &[])
        .await;
    for i in 0..3 {
        expect_error(
            s.login(&format!("nobody-{i}"), "whatever-pass").await,
            StatusCode::UNAUTHORIZED,
            "invalid_credentials",
        )
        .await;
    }
    for _ in 0..2 {
        let res = s.login("someone", "right-password").await;
        let retry: u64 = res.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=3600).contains(&retry), "Retry-After {retry}");
        expect_error(res, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    }
    // Only login is limited.
    let res = s.http.get(s.url("/v1/markets")).send().await.unwrap();
    expect_error(res, StatusCode::UNAUTHORIZED, "missing_token").await;
    s.assert_healthy().await;
}

/// Behind a trusted load balancer each forwarded client has its own
/// bucket; a client that is not the balancer cannot choose its bucket by
/// sending the header itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trusted_proxy_names_the_client_the_limit_counts() {
    let login_as = |s: &TestServer, real_ip: &str| {
        s.http
            .post(s.url("/v1/auth/login"))
            .header("x-real-ip", real_ip.to_owned())
            .json(&json!({"username": "nobody", "password": "whatever-pass"}))
            .send()
    };
    let behind = TestServer::start_with(Config {
        login_rate_burst: 2,
        login_rate_period: std::time::Duration::from_secs(3600),
        clients: shian_server::rate_limit::ClientAddress::new(&["127.0.0.1".parse().unwrap()]),
        ..Config::default()
    })
    .await;
    for ip in ["198.51.100.1", "198.51.100.2"] {
        for _ in 0..2 {
            let res = login_as(&behind, ip).await.unwrap();
            expect_error(res, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
        }
    }
    let res = login_as(&behind, "198.51.100.1").await.unwrap();
    expect_error(res, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;

    // No proxy trusted: the header is the client's own claim, ignored.
    let direct = TestServer::start_with(Config {
        login_rate_burst: 2,
        login_rate_period: std::time::Duration::from_secs(3600),
        ..Config::default()
    })
    .await;
    for ip in ["198.51.100.1", "198.51.100.2"] {
        let res = login_as(&direct, ip).await.unwrap();
        expect_error(res, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    }
    let res = login_as(&direct, "198.51.100.3").await.unwrap();
    expect_error(res, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lockout_after_five_failures() {
    let config = Config {
        login_lock: chrono::Duration::seconds(1),
        ..Config::default()
    };
    let s = TestServer::start_with(config).await;
    s.user("merchant-a", "right-password", Role::Admin, None, &[])
        .await;

    for _ in 0..4 {
        expect_error(
            s.login("merchant-a", "wrong-password").await,
            StatusCode::UNAUTHORIZED,
            "invalid_credentials",
        )
        .await;
    }
    // The fifth wrong password locks the account.
    let res = s.login("merchant-a", "wrong-password").await;
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry));
    expect_error(res, StatusCode::TOO_MANY_REQUESTS, "account_locked").await;
    // Locked means locked, even with the right password.
    let res = s.login("merchant-a", "right-password").await;
    assert!(res.headers().contains_key("retry-after"));
    expect_error(res, StatusCode::TOO_MANY_REQUESTS, "account_locked").await;

    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(
        s.login("merchant-a", "right-password").await.status(),
        StatusCode::OK
    );
    // A success resets the count: one more failure is just a failure.
    expect_error(
        s.login("merchant-a", "wrong-password").await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;
    s.assert_healthy().await;
}

fn claims(role: &str, exp: i64) -> Value {
    json!({"sub": "someone", "role": role, "scope": {}, "iss": "shian", "iat": exp - 3600, "exp": exp})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_checked() {
    let s = TestServer::start().await;
    let now = chrono::Utc::now().timestamp();

    // No token.
    let res = s.http.get(s.url("/v1/markets")).send().await.unwrap();
    expect_error(res, StatusCode::UNAUTHORIZED, "missing_token").await;
    // Not a bearer token.
    let res = s
        .http
        .get(s.url("/v1/markets"))
        .header("authorization", "Basic YWRtaW46YWRtaW4=")
        .send()
        .await
        .unwrap();
    expect_error(res, StatusCode::UNAUTHORIZED, "invalid_token").await;
    // Garbage.
    expect_error(
        s.get("/v1/markets", "not.a.jwt").await,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
    )
    .await;

    // Forged: right shape, another secret.
    let forged = encode(
        &Header::default(),
        &claims("admin", now + 3600),
        &EncodingKey::from_secret(b"guessed-secret-guessed-secret-xx"),
    )
    .unwrap();
    expect_error(
        s.get("/v1/markets", &forged).await,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
    )
    .await;

    // alg: none, no signature.
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let body = URL_SAFE_NO_PAD.encode(claims("admin", now + 3600).to_string());
    for t in [format!("{header}.{body}."), format!("{header}.{body}")] {
        expect_error(
            s.get("/v1/markets", &t).await,
            StatusCode::UNAUTHORIZED,
            "invalid_token",
        )
        .await;
    }

    // Expired, though correctly signed with the server's own secret (a
    // file beside SQLite's, a row in PostgreSQL's vault).
    let secret = s.state.keys.jwt_secret().to_vec();
    let expired = encode(
        &Header::default(),
        &claims("admin", now - 600),
        &EncodingKey::from_secret(&secret),
    )
    .unwrap();
    expect_error(
        s.get("/v1/markets", &expired).await,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
    )
    .await;
    // The same claims unexpired pass: the refusal above was the expiry.
    let fresh = encode(
        &Header::default(),
        &claims("admin", now + 600),
        &EncodingKey::from_secret(&secret),
    )
    .unwrap();
    assert_eq!(s.get("/v1/markets", &fresh).await.status(), StatusCode::OK);
    // HS512 with the right secret is still the wrong algorithm.
    let hs512 = encode(
        &Header::new(jsonwebtoken::Algorithm::HS512),
        &claims("admin", now + 600),
        &EncodingKey::from_secret(&secret),
    )
    .unwrap();
    expect_error(
        s.get("/v1/markets", &hs512).await,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
    )
    .await;
    s.assert_healthy().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_and_devices() {
    let s = TestServer::start().await;
    let admin = s.admin().await;
    let market = s.create_market(&admin).await;
    let res = s
        .post("/v1/merchants", &admin, json!({"market_id": market, "name": "海鲜档", "uscc": common::uscc("9235020300000009")}))
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let merchant: Value = res.json().await.unwrap();
    let merchant_id = merchant["id"].as_str().unwrap();
    s.user(
        "shop",
        "shop-password",
        Role::Merchant,
        Some(merchant_id),
        &[],
    )
    .await;
    s.user("insp", "insp-password", Role::Inspector, None, &["350200"])
        .await;
    let shop = s.token("shop", "shop-password").await;
    let insp = s.token("insp", "insp-password").await;

    // Wrong role.
    let e = expect_error(
        s.post(
            "/v1/markets",
            &shop,
            json!({"name": "x", "region_code": "350203"}),
        )
        .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    assert!(e["error"].get("field").is_none());
    expect_error(
        s.get("/v1/merchants", &insp).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    // The forbidden call stored nothing.
    let list: Value = s.get("/v1/markets", &admin).await.json().await.unwrap();
    assert_eq!(list["total"], 1);

    // Scope: a merchant sees itself, an inspector its region.
    assert_eq!(
        s.get(&format!("/v1/merchants/{merchant_id}"), &shop)
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        s.get(&format!("/v1/merchants/{merchant_id}"), &insp)
            .await
            .status(),
        StatusCode::OK
    );
    s.user("insp2", "insp-password", Role::Inspector, None, &["350100"])
        .await;
    let other = s.token("insp2", "insp-password").await;
    expect_error(
        s.get(&format!("/v1/merchants/{merchant_id}"), &other).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;

    // Devices: inspectors and merchants register theirs.
    for token in [&shop, &insp] {
        let res = s
            .post("/v1/devices", token, json!({"name": "摊位平板"}))
            .await;
        assert_eq!(res.status(), StatusCode::CREATED);
        let v: Value = res.json().await.unwrap();
        let id = v["device_id"].as_str().unwrap().to_owned();
        let device = s.store.device(id).await.unwrap().unwrap();
        assert_eq!(device.name, "摊位平板");
    }
    expect_error(
        s.post("/v1/devices", &admin, json!({"name": "x"})).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    let e = expect_error(
        s.post("/v1/devices", &shop, json!({"name": ""})).await,
        StatusCode::BAD_REQUEST,
        "required",
    )
    .await;
    assert_eq!(e["error"]["field"], "name");
    s.assert_healthy().await;
    s.stop().await;
}
