//! The regulator's console through the real server: the browser login,
//! who may enter, the anti-forgery token on its forms, and each page's
//! figures against what was stored.

mod common;

use common::{uscc, TestServer};
use reqwest::header::{CACHE_CONTROL, CONTENT_TYPE, LOCATION, SET_COOKIE};
use reqwest::{Client, Response, StatusCode};
use serde_json::json;
use shian_server::store::Role;

fn no_redirect() -> Client {
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn header(res: &Response, name: reqwest::header::HeaderName) -> String {
    res.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned()
}

/// Logs in through the browser form; returns the `Cookie` header to send.
async fn browser_login(s: &TestServer, username: &str, password: &str) -> String {
    let body = format!(
        "username={}&password={}&next=%2Fconsole",
        enc(username),
        enc(password)
    );
    let res = no_redirect()
        .post(s.url("/login"))
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(header(&res, LOCATION), "/console");
    header(&res, SET_COOKIE)
        .split(';')
        .next()
        .unwrap()
        .to_owned()
}

async fn get_page(s: &TestServer, path: &str, cookie: &str) -> Response {
    no_redirect()
        .get(s.url(path))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
}

/// The `value` of the page's first hidden `csrf` input.
fn csrf_of(html: &str) -> String {
    let at = html
        .find(r#"name="csrf" value=""#)
        .expect("a csrf field on the page");
    let rest = &html[at + r#"name="csrf" value=""#.len()..];
    rest[..rest.find('"').unwrap()].to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_a_logged_in_analyst_or_admin_enters_the_console() {
    let s = TestServer::start().await;
    s.user("ana", "analyst-pass-1", Role::Analyst, None, &[])
        .await;
    s.user("insp", "inspector-pass-1", Role::Inspector, None, &[])
        .await;

    let res = get_page(&s, "/console", "").await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(header(&res, LOCATION), "/login?next=%2Fconsole");

    let inspector = browser_login(&s, "insp", "inspector-pass-1").await;
    let res = get_page(&s, "/console", &inspector).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(res.text().await.unwrap().contains("仅限分析人员和管理员"));

    let analyst = browser_login(&s, "ana", "analyst-pass-1").await;
    let res = get_page(&s, "/console", &analyst).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(header(&res, CACHE_CONTROL), "private, no-store");
    let html = res.text().await.unwrap();
    for nav in [
        "/console/alerts",
        "/console/map",
        "/console/recalls",
        "/console/search",
        "/console/trace",
        "/console/draws",
        "/console/exports",
        "/handler/reports",
    ] {
        assert!(html.contains(&format!(r#"href="{nav}""#)), "{nav}");
    }
    // The token is the session's: the same on every page of one login,
    // another for another session.
    let token = csrf_of(&html);
    assert_eq!(token.len(), 64);
    let again = get_page(&s, "/console", &analyst)
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(csrf_of(&again), token);
    s.user("ana2", "analyst-pass-2", Role::Analyst, None, &[])
        .await;
    let second = browser_login(&s, "ana2", "analyst-pass-2").await;
    let other = get_page(&s, "/console", &second)
        .await
        .text()
        .await
        .unwrap();
    assert_ne!(csrf_of(&other), token);
    s.assert_healthy().await;
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_overview_counts_merchants_markets_and_grades() {
    let s = TestServer::start().await;
    let admin = s.admin().await;
    let market = s.create_market(&admin).await;
    s.create_market(&admin).await;
    for (i, name) in ["甲", "乙", "丙"].iter().enumerate() {
        let res = s
            .post(
                "/v1/merchants",
                &admin,
                json!({
                    "market_id": market, "name": format!("{name}号摊"),
                    "uscc": uscc(&format!("923502030000000{i}")),
                    "licence_no": format!("JY1350203000001{i}"), "licence_expiry": "2030-06-30",
                    "categories": ["aquatic"], "stall": format!("A-0{i}")
                }),
            )
            .await;
        assert_eq!(
            res.status(),
            StatusCode::CREATED,
            "{}",
            res.text().await.unwrap()
        );
    }
    let cookie = browser_login(&s, "root", "root-password-1").await;
    let html = get_page(&s, "/console", &cookie)
        .await
        .text()
        .await
        .unwrap();
    assert!(
        html.contains(r#"<span class="n">3</span>登记经营户"#),
        "{html}"
    );
    assert!(html.contains(r#"<span class="n">2</span>市场"#), "{html}");
    // The chart's bars add up to the merchants, as the JSON API grades them.
    let risk: serde_json::Value = s
        .get("/v1/risk/merchants", &admin)
        .await
        .json()
        .await
        .unwrap();
    for g in ["A", "B", "C", "D"] {
        let n = risk["merchants"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["grade"] == g)
            .count();
        assert!(
            html.contains(&format!("{g} 级 {n} 户")),
            "grade {g}: {n} in {html}"
        );
    }
    s.assert_healthy().await;
    s.stop().await;
}
