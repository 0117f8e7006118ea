//! Malformed and hostile requests: always the error shape, never a 500, the
//! server stays up. Also the operational endpoints.

mod common;

use common::{expect_error, TestServer};
use reqwest::StatusCode;
use serde_json::{json, Value};
use shian_server::Config;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_bodies() {
    let s = TestServer::start().await;
    let admin = s.admin().await;
    let post_raw = |path: &str, ct: Option<&str>, body: &'static str| {
        let mut req = s.http.post(s.url(path)).bearer_auth(&admin).body(body);
        if let Some(ct) = ct {
            req = req.header("content-type", ct);
        }
        req.send()
    };

    // Malformed JSON.
    for body in [
        "{",
        "{\"name\": }",
        "not json",
        "",
        "{\"name\":\"x\",",
        "{\"name\":\"x\",\"region_code\":\"350203\"} trailing",
    ] {
        let res = post_raw("/v1/markets", Some("application/json"), body)
            .await
            .unwrap();
        expect_error(res, StatusCode::BAD_REQUEST, "malformed_json").await;
    }
    // Wrong types name the field.
    let e = expect_error(
        s.post(
            "/v1/markets",
            &admin,
            json!({"name": 42, "region_code": "350203"}),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid_field",
    )
    .await;
    assert_eq!(e["error"]["field"], "name");
    let e = expect_error(
        s.post(
            "/v1/merchants",
            &admin,
            json!({"name": "x", "uscc": "y", "categories": ["frozen", 7]}),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid_field",
    )
    .await;
    assert_eq!(e["error"]["field"], "categories[1]");
    expect_error(
        s.post("/v1/markets", &admin, json!([1, 2])).await,
        StatusCode::BAD_REQUEST,
        "invalid_field",
    )
    .await;
    expect_error(
        s.post("/v1/markets", &admin, json!("a string")).await,
        StatusCode::BAD_REQUEST,
        "invalid_field",
    )
    .await;
    // Missing field, unknown field (a typo must not be silently ignored).
    expect_error(
        s.post("/v1/markets", &admin, json!({"name": "x"})).await,
        StatusCode::BAD_REQUEST,
        "invalid_field",
    )
    .await;
    expect_error(
        s.post(
            "/v1/merchants",
            &admin,
            json!({"name": "x", "uscc": "y", "acknowledge_uscc_missmatch": true}),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid_field",
    )
    .await;
    // Missing or wrong content type.
    expect_error(
        post_raw("/v1/markets", None, "{}").await.unwrap(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;
    expect_error(
        post_raw("/v1/auth/login", Some("text/plain"), "{}")
            .await
            .unwrap(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;
    // JSON with a charset parameter is fine.
    let res = post_raw(
        "/v1/markets",
        Some("application/json; charset=utf-8"),
        r#"{"name":"m","region_code":"350203"}"#,
    )
    .await
    .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    // Deeply nested JSON is refused, not a stack overflow.
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let res = s
        .http
        .post(s.url("/v1/markets"))
        .bearer_auth(&admin)
        .header("content-type", "application/json")
        .body(deep)
        .send()
        .await
        .unwrap();
    expect_error(res, StatusCode::BAD_REQUEST, "invalid_field").await;
    // Overlong strings are refused by validation.
    let e = expect_error(
        s.post(
            "/v1/markets",
            &admin,
            json!({"name": "x".repeat(10_000), "region_code": "350203"}),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "too_long",
    )
    .await;
    assert_eq!(e["error"]["field"], "name");
    s.assert_healthy().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversize_bodies_get_413() {
    let s = TestServer::start_with(Config {
        body_limit: 64 * 1024,
        ..Config::default()
    })
    .await;
    let admin = s.admin().await;
    let big = json!({"name": "x".repeat(100 * 1024), "region_code": "350203"});
    let e = expect_error(
        s.post("/v1/markets", &admin, big).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
    )
    .await;
    assert!(e["error"]["message"].as_str().unwrap().contains("65536"));
    // Also for the CSV import and for a body sent without a length (chunked).
    let csv = vec![b'a'; 100 * 1024];
    let res = s
        .http
        .post(s.url("/v1/merchants/import"))
        .bearer_auth(&admin)
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .await
        .unwrap();
    expect_error(res, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
    let raw = chunked_post(&s, "/v1/markets", &admin, 40, 4096).await;
    assert!(raw.starts_with("HTTP/1.1 413"), "{raw}");
    assert!(raw.contains("payload_too_large"), "{raw}");
    // Login is limited too (before argon2 ever sees the password).
    let res = s
        .http
        .post(s.url("/v1/auth/login"))
        .json(&json!({"username": "root", "password": "p".repeat(100 * 1024)}))
        .send()
        .await
        .unwrap();
    expect_error(res, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
    s.assert_healthy().await;
}

/// Sends a chunked body (no Content-Length) over a raw socket and returns
/// the raw answer: the limit must hold for streamed bodies too.
async fn chunked_post(
    s: &TestServer,
    path: &str,
    token: &str,
    chunks: usize,
    size: usize,
) -> String {
    use std::io::{Read, Write};
    let addr = s.base.trim_start_matches("http://").to_owned();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    tokio::task::spawn_blocking(move || {
        let mut sock = std::net::TcpStream::connect(addr).unwrap();
        sock.set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        let _ = sock.write_all(head.as_bytes());
        let chunk = format!("{size:x}\r\n{}\r\n", " ".repeat(size));
        for _ in 0..chunks {
            // The server may answer and close early; later writes may fail.
            if sock.write_all(chunk.as_bytes()).is_err() {
                break;
            }
        }
        let _ = sock.write_all(b"0\r\n\r\n");
        let mut out = Vec::new();
        let _ = sock.read_to_end(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_queries_paths_and_methods() {
    let s = TestServer::start().await;
    let admin = s.admin().await;
    for q in [
        "limit=abc",
        "limit=-1",
        "limit=0",
        "limit=100000",
        "offset=x",
        "region=abc",
        "unknown=1",
        "market_id=%27%20OR%201",
    ] {
        let res = s.get(&format!("/v1/merchants?{q}"), &admin).await;
        let status = res.status();
        let v: Value = res.json().await.unwrap();
        assert_eq!(status, StatusCode::BAD_REQUEST, "{q}: {v}");
        assert!(v["error"]["code"].is_string(), "{q}: {v}");
    }
    expect_error(
        s.get("/v1/merchants/%27%3B%20DROP", &admin).await,
        StatusCode::BAD_REQUEST,
        "invalid_id",
    )
    .await;
    expect_error(
        s.get("/v1/nothing-here", &admin).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let res = s
        .http
        .delete(s.url("/v1/markets"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    expect_error(res, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed").await;
    s.assert_healthy().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ops_endpoints() {
    let s = TestServer::start().await;
    let admin = s.admin().await;
    s.get("/v1/markets", &admin).await;

    let res = s.http.get(s.url("/metrics")).send().await.unwrap();
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    let text = res.text().await.unwrap();
    assert!(
        text.contains(
            r#"shian_http_requests_total{method="GET",route="/v1/markets",status="200"}"#
        ),
        "{text}"
    );
    assert!(
        text.contains(
            r#"shian_http_request_duration_seconds_bucket{route="/v1/auth/login",le="+Inf"}"#
        ),
        "{text}"
    );
    assert!(
        text.contains(r#"shian_sync_ops_total{outcome="accepted"}"#),
        "{text}"
    );

    let doc: Value = s
        .http
        .get(s.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let paths = doc["paths"].as_object().unwrap();
    for (path, method) in [
        ("/v1/auth/login", "post"),
        ("/v1/devices", "post"),
        ("/v1/markets", "get"),
        ("/v1/markets", "post"),
        ("/v1/merchants", "get"),
        ("/v1/merchants", "post"),
        ("/v1/merchants/{id}", "get"),
        ("/v1/merchants/import", "post"),
        ("/.well-known/shian-keys.json", "get"),
        ("/healthz", "get"),
        ("/metrics", "get"),
    ] {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} missing from OpenAPI"
        );
    }
    assert!(doc["components"]["schemas"]["Merchant"].is_object());
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());

    let keys: Value = s
        .http
        .get(s.url("/.well-known/shian-keys.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = &keys["keys"][0];
    assert_eq!(key["alg"], "Ed25519");
    assert_eq!(key["kid"], s.state.keys.kid());
    use base64::Engine as _;
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(key["public_key"].as_str().unwrap())
        .unwrap();
    assert_eq!(raw.len(), 32);
    s.assert_healthy().await;
    s.stop().await;
}

/// Input the OpenAPI schema accepts but a rule refuses (a check character,
/// a body that does not hash to its name) is 422, not 400: 400 says the
/// schema refuses it, and a client generated from the schema cannot know
/// the check. (scripts/test-schemathesis.sh holds the server to that.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rule_violations_the_schema_cannot_state_are_422() {
    let s = TestServer::start().await;
    let admin = s.admin().await;
    s.user(
        "insp",
        "insp-password-1",
        shian_server::store::Role::Inspector,
        None,
        &["350203"],
    )
    .await;
    let inspector = s.token("insp", "insp-password-1").await;

    // 16 symbols of the code alphabet whose check symbol is wrong.
    let good = shian_server::validate::new_code(&mut rand::rng());
    let last = good.as_bytes()[15];
    let wrong = if last == b'0' { '1' } else { '0' };
    let bad = format!("{}{wrong}", &good[..15]);
    let res = s
        .http
        .get(s.url(&format!("/v1/public/shops/{bad}")))
        .send()
        .await
        .unwrap();
    expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "code_check_mismatch").await;
    expect_error(
        s.get(&format!("/v1/trace/{bad}/forward"), &admin).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "code_check_mismatch",
    )
    .await;

    // A well-formed SHA-256 that is not the body's.
    let res = s
        .http
        .put(s.url(&format!("/v1/attachments/{}", "0".repeat(64))))
        .bearer_auth(&inspector)
        .header("content-type", "application/octet-stream")
        .body(b"some bytes".to_vec())
        .send()
        .await
        .unwrap();
    let e = expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "hash_mismatch").await;
    assert_eq!(e["error"]["field"], "sha256");
    s.assert_healthy().await;
}

/// Rules between fields or over a whole file that no schema of the OpenAPI
/// document can state are 422 too; and a count written `2.0` is the JSON
/// Schema integer 2, as the document's `integer` promises.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_field_rules_are_422_and_integral_numbers_are_integers() {
    let s = TestServer::start().await;
    let admin = s.admin().await;

    let e = expect_error(
        s.get(
            "/v1/stats/inspections?group_by=month&from=2026-03-02&to=2026-03-01",
            &admin,
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_query",
    )
    .await;
    assert_eq!(e["error"]["field"], "to");

    // Parsed as the integer 2: the draw goes on to find no inspectors.
    expect_error(
        s.post(
            "/v1/draws",
            &admin,
            json!({"name": "x", "seed": "s", "count": 2.0, "inspectors": []}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "not_enough_inspectors",
    )
    .await;
    expect_error(
        s.post(
            "/v1/draws",
            &admin,
            json!({"name": "x", "seed": "s", "per_grade": {"A": 1.0}, "inspectors": []}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "not_enough_inspectors",
    )
    .await;
    for bad in [json!(2.5), json!(-1), json!(-1.0), json!(1e30)] {
        expect_error(
            s.post(
                "/v1/draws",
                &admin,
                json!({"name": "x", "seed": "s", "count": bad, "inspectors": []}),
            )
            .await,
            StatusCode::BAD_REQUEST,
            "invalid_field",
        )
        .await;
    }

    // A readable CSV file whose header lacks a required column.
    let res = s
        .http
        .post(s.url("/v1/merchants/import"))
        .bearer_auth(&admin)
        .header("content-type", "text/csv")
        .body("0")
        .send()
        .await
        .unwrap();
    expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "missing_column").await;
    let res = s
        .http
        .post(s.url("/v1/merchants/import"))
        .bearer_auth(&admin)
        .header("content-type", "text/csv")
        .body("name,uscc,name\n")
        .send()
        .await
        .unwrap();
    expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "duplicate_column").await;
    s.assert_healthy().await;
}
