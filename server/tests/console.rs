//! The regulator's console through the real server: the browser login,
//! who may enter, the anti-forgery token on its forms, and each page's
//! figures against what was stored.

mod common;
mod field_common;

use common::{csrf_of, forged, uscc, TestServer};
use field_common::{
    accepted, frozen_purchase, inspection, new_code, now_cn, op, Failures, Field, PW,
};
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

/// Pushes inspections of `merchant` by inspectors 1 and 2 with these results.
async fn inspect(f: &Field, merchant: &str, results: &[&str]) {
    let t = f.template("food_sales_daily").await;
    let photo = f.upload(&f.insp1, b"photo".to_vec()).await;
    for result in results {
        let fail = match *result {
            "compliant" => Failures::default(),
            "basically_compliant" => Failures { general: 2, key: 0 },
            _ => Failures { general: 0, key: 1 },
        };
        let p = inspection(
            &t,
            merchant,
            &[f.insp1_id.as_str(), f.insp2_id.as_str()],
            fail,
            &photo,
            result,
        );
        accepted(&f.push1(&f.insp1, op("inspection.record", p)).await);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_overview_charts_this_months_inspections_and_pass_rate() {
    let f = Field::start().await;
    inspect(
        &f,
        &f.m1,
        &["compliant", "basically_compliant", "non_compliant"],
    )
    .await;
    inspect(&f, &f.m2, &["compliant"]).await;
    let cookie = browser_login(&f.s, "analyst", PW).await;
    let html = get_page(&f.s, "/console", &cookie)
        .await
        .text()
        .await
        .unwrap();
    let month = chrono::Utc::now()
        .with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).unwrap())
        .format("%Y-%m")
        .to_string();
    // Four inspections this month, three passed (符合 + 基本符合): 75 %.
    assert!(
        html.contains(&format!(r#"data-month="{month}" data-count="4""#)),
        "{html}"
    );
    let row = &html[html.find(&format!(r#"<tr data-month="{month}">"#)).unwrap()..];
    let row = &row[..row.find("</tr>").unwrap()];
    assert!(
        row.contains(r#"<td class="num">4</td><td class="num">3</td><td class="num">75%</td>"#),
        "{row}"
    );
    assert_eq!(html.matches(r#"<rect class="month""#).count(), 12);
    f.s.assert_healthy().await;
}

/// The grade `/v1/risk/merchants` gives a merchant.
async fn api_grade(f: &Field, merchant: &str) -> String {
    let v: serde_json::Value =
        f.s.get("/v1/risk/merchants?limit=1000", &f.analyst)
            .await
            .json()
            .await
            .unwrap();
    v["merchants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["merchant_id"] == merchant)
        .unwrap()["grade"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// The field market's map page.
async fn market_map(f: &Field, cookie: &str) -> String {
    get_page(
        &f.s,
        &format!("/console/map?market_id={}", f.market),
        cookie,
    )
    .await
    .text()
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_market_map_draws_each_stall_by_grade_and_links_its_merchant() {
    let f = Field::start().await;
    inspect(&f, &f.m1, &["non_compliant", "non_compliant"]).await;
    let cookie = browser_login(&f.s, "analyst", PW).await;

    let html = market_map(&f, &cookie).await;
    // A-01 and B-02: two zones, one stall each, as the JSON API grades them.
    assert!(html.contains(">A（1）</text>"), "{html}");
    assert!(html.contains(">B（1）</text>"), "{html}");
    for m in [&f.m1, &f.m2] {
        let grade = api_grade(&f, m).await;
        assert!(
            html.contains(&format!(
                r#"href="/console/merchants/{m}" data-merchant="{m}" data-grade="{grade}""#
            )),
            "{m} {grade}: {html}"
        );
    }
    assert_eq!(html.matches(r#"<a class="stall""#).count(), 2);

    // The district view: the market's tile, its share of C/D merchants.
    let html = get_page(&f.s, "/console/map", &cookie)
        .await
        .text()
        .await
        .unwrap();
    let mut risky = 0;
    for m in [&f.m1, &f.m2] {
        if matches!(api_grade(&f, m).await.as_str(), "C" | "D") {
            risky += 1;
        }
    }
    assert!(
        html.contains(&format!(
            r#"href="/console/map?market_id={}" data-market="{}" data-share="{}""#,
            f.market,
            f.market,
            risky * 50
        )),
        "{html}"
    );
    assert!(html.contains("另有 1 户不在市场内"), "{html}");

    let res = get_page(&f.s, "/console/map?market_id=no-such-market", &cookie).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    f.s.assert_healthy().await;
}

/// The stall's warning mark counts its open alerts: a resolved alert
/// takes it off, though the ledger warning behind it stays in the record.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_market_maps_mark_stalls_by_their_open_alerts() {
    let f = Field::start().await;
    let cookie = browser_login(&f.s, "analyst", PW).await;
    let handler = f.s.user("analyst_chen", PW, Role::Analyst, None, &[]).await;
    // m2 buys spinach without its certificate: one open alert.
    let p = json!({"entry_id": uuid::Uuid::now_v7().to_string(), "merchant_id": f.m2,
        "product": {"name": "菠菜", "category": "vegetable"},
        "quantity": {"value": "10", "unit": "kg"},
        "supplier": {"name": "同安蔬菜合作社", "region_code": "350212"},
        "certificates": [], "received_at": now_cn(-60)});
    accepted(&f.push1(&f.m2_user, op("ledger.purchase", p)).await);
    let warnings_of = |html: &str, m: &str| -> String {
        let at = html.find(&format!(r#"data-merchant="{m}""#)).unwrap();
        let rest = &html[at..];
        let w = rest.find("data-warnings=\"").unwrap() + "data-warnings=\"".len();
        rest[w..w + rest[w..].find('"').unwrap()].to_owned()
    };
    let html = market_map(&f, &cookie).await;
    assert_eq!(warnings_of(&html, &f.m2), "1", "{html}");
    assert_eq!(warnings_of(&html, &f.m1), "0", "{html}");
    assert!(html.contains("有未结预警"), "{html}");

    // Resolved: the mark goes.
    let res =
        f.s.get(&format!("/v1/alerts?merchant_id={}", f.m2), &f.analyst)
            .await;
    let v: serde_json::Value = res.json().await.unwrap();
    let id = v["alerts"][0]["id"].as_str().unwrap().to_owned();
    let res =
        f.s.post(
            &format!("/v1/alerts/{id}/assign"),
            &f.analyst,
            json!({"user_id": handler}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let res =
        f.s.post(
            &format!("/v1/alerts/{id}/resolve"),
            &f.analyst,
            json!({"note": "已补齐合格证"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let html = market_map(&f, &cookie).await;
    assert_eq!(warnings_of(&html, &f.m2), "0", "{html}");
    f.s.assert_healthy().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_merchant_page_shows_registry_grade_inspections_and_batches() {
    let f = Field::start().await;
    inspect(&f, &f.m1, &["compliant", "non_compliant"]).await;
    let cookie = browser_login(&f.s, "analyst", PW).await;
    let res = get_page(&f.s, &format!("/console/merchants/{}", f.m1), &cookie).await;
    assert_eq!(res.status(), StatusCode::OK);
    let html = res.text().await.unwrap();
    assert!(html.contains("鑫海冻品"));
    assert!(html.contains(&uscc("9235020300000001")));
    let grade = api_grade(&f, &f.m1).await;
    assert!(
        html.contains(&format!(
            r#"<p id="risk-grade"><span class="grade grade-{grade}""#
        )),
        "{html}"
    );
    assert!(html.contains("<td class=\"num\">1 / 0 / 1</td>"), "{html}");
    assert_eq!(html.matches("<strong>不符合</strong>").count(), 1);
    assert!(html.contains(">符合</td>"));
    // The export buttons post to the export route with this session's token.
    assert!(html.contains(r#"<input type="hidden" name="what" value="merchant">"#));
    assert!(html.contains(&format!(
        r#"<input type="hidden" name="id" value="{}">"#,
        f.m1
    )));

    let res = get_page(&f.s, "/console/merchants/no-such-merchant", &cookie).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    f.s.assert_healthy().await;
}

/// m1 buys 20 kg from a farm and sells 5 kg to m2 with a voucher, which m2
/// scans on receipt: (m1's batch, m2's batch).
async fn two_hops(f: &Field) -> (String, String) {
    let (upstream, downstream, voucher) = (new_code(), new_code(), new_code());
    accepted(
        &f.push1(
            &f.m1_user,
            op(
                "ledger.purchase",
                frozen_purchase(&f.m1, &upstream, "20", None),
            ),
        )
        .await,
    );
    accepted(
        &f.push1(
            &f.m1_user,
            op(
                "ledger.sale",
                json!({"entry_id": uuid::Uuid::now_v7().to_string(), "merchant_id": f.m1,
                       "trace_code": upstream, "quantity": {"value": "5", "unit": "kg"},
                       "buyer": {"merchant_id": f.m2}, "voucher_code": voucher,
                       "sold_at": now_cn(-90)}),
            ),
        )
        .await,
    );
    accepted(
        &f.push1(
            &f.m2_user,
            op(
                "ledger.purchase",
                frozen_purchase(&f.m2, &downstream, "5", Some(&voucher)),
            ),
        )
        .await,
    );
    (upstream, downstream)
}

fn table<'a>(html: &'a str, id: &str) -> &'a str {
    let at = html
        .find(&format!(r#"<table id="{id}">"#))
        .unwrap_or_else(|| panic!("no table {id} in {html}"));
    let rest = &html[at..];
    &rest[..rest.find("</table>").unwrap()]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_trace_views_show_each_hop_with_its_quantities() {
    let f = Field::start().await;
    let (up, down) = two_hops(&f).await;
    let cookie = browser_login(&f.s, "analyst", PW).await;

    let res = get_page(&f.s, &format!("/console/trace?code={down}"), &cookie).await;
    assert_eq!(res.status(), StatusCode::OK);
    let html = res.text().await.unwrap();
    let chain = table(&html, "chain");
    assert_eq!(
        chain.matches("<tr>").count(),
        3,
        "header and two hops: {chain}"
    );
    let m2 = chain.find(&down).unwrap();
    let m1 = chain.find(&up).unwrap();
    assert!(m2 < m1, "the traced batch first, its origin last");
    assert!(chain.contains("绿源蔬菜") && chain.contains("鑫海冻品"));
    assert!(html.contains("追溯到源头：从平台外的「同安冷冻食品厂」进货。"));
    assert!(html.contains(r#"<input type="hidden" name="direction" value="backward">"#));

    let html = get_page(
        &f.s,
        &format!(
            "/console/trace?code={}&direction=forward",
            up.to_lowercase()
        ),
        &cookie,
    )
    .await
    .text()
    .await
    .unwrap();
    let chain = table(&html, "chain");
    // The root keeps 15 kg, m2 received and holds 5 kg.
    let root = &chain[chain.find(&format!(">{up}</a>")).unwrap()..];
    let root = &root[..root.find("</tr>").unwrap()];
    assert!(root.contains(r#"<td class="num">15 千克</td>"#), "{root}");
    let held = &chain[chain.find(&format!(">{down}</a>")).unwrap()..];
    let held = &held[..held.find("</tr>").unwrap()];
    assert!(held.contains(r#"<td class="num">5 千克</td><td"#), "{held}");
    assert!(html.contains(&format!(r#"<input type="hidden" name="id" value="{up}">"#)));
    assert!(html.contains(r#"<input type="hidden" name="direction" value="forward">"#));

    // A typo and an unknown code: the page says so, with the API's status.
    let res = get_page(&f.s, "/console/trace?code=ABC", &cookie).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(res.text().await.unwrap().contains(r#"id="trace-error""#));
    let unknown = shian_core::codes::new_code(&mut rand::rng());
    let res = get_page(&f.s, &format!("/console/trace?code={unknown}"), &cookie).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);

    // The merchant page lists its batches with links to their traces.
    let html = get_page(&f.s, &format!("/console/merchants/{}", f.m1), &cookie)
        .await
        .text()
        .await
        .unwrap();
    assert!(table(&html, "batches")
        .contains(&format!("/console/trace?code={up}&amp;direction=forward")));
    f.s.assert_healthy().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_finds_by_name_uscc_shop_code_and_trace_code() {
    let f = Field::start().await;
    let (up, _) = two_hops(&f).await;
    let cookie = browser_login(&f.s, "analyst", PW).await;
    let search = |q: &str| format!("/console/search?q={}", enc(q));

    let html = get_page(&f.s, &search("蔬菜"), &cookie)
        .await
        .text()
        .await
        .unwrap();
    let hits = table(&html, "hits");
    assert!(
        hits.contains("绿源蔬菜") && !hits.contains("鑫海冻品"),
        "{hits}"
    );
    let grade = api_grade(&f, &f.m2).await;
    assert!(hits.contains(&format!(r#">{grade}</span>"#)), "{hits}");

    let html = get_page(
        &f.s,
        &search(&uscc("9235020300000001").to_lowercase()),
        &cookie,
    )
    .await
    .text()
    .await
    .unwrap();
    let hits = table(&html, "hits");
    assert_eq!(hits.matches(r#"class="hit""#).count(), 1);
    assert!(hits.contains(&format!(r#"href="/console/merchants/{}">鑫海冻品"#, f.m1)));

    let res = get_page(&f.s, &search(&up), &cookie).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(header(&res, LOCATION), format!("/console/trace?code={up}"));

    let shop: serde_json::Value =
        f.s.get(&format!("/v1/merchants/{}", f.m2), &f.admin)
            .await
            .json()
            .await
            .unwrap();
    let res = get_page(&f.s, &search(shop["shop_code"].as_str().unwrap()), &cookie).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        header(&res, LOCATION),
        format!("/console/merchants/{}", f.m2)
    );

    let html = get_page(&f.s, &search("没有这家"), &cookie)
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains(r#"id="no-hits""#));
    f.s.assert_healthy().await;
}

async fn post_form(s: &TestServer, path: &str, cookie: &str, body: String) -> Response {
    no_redirect()
        .post(s.url(path))
        .header("cookie", cookie)
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_draw_is_run_from_the_console_and_published() {
    let f = Field::start().await;
    let cookie = browser_login(&f.s, "analyst", PW).await;
    let html = get_page(&f.s, "/console/draws", &cookie)
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("尚无抽查"));
    assert!(html.contains(&format!(r#"value="{}""#, f.insp1_id)));
    let csrf = csrf_of(&html);
    let body = format!(
        "csrf={csrf}&name={}&seed=2026-12-01-387&regions=350203&quota=count&count=2&inspector={}&inspector={}",
        enc("十二月双随机"),
        f.insp1_id,
        f.insp2_id
    );
    let res = post_form(&f.s, "/console/draws", &cookie, body).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let to = header(&res, LOCATION);
    let id = to.strip_prefix("/console/draws/").unwrap().to_owned();
    assert_eq!(f.count("SELECT COUNT(*) FROM draws"), 1);

    let html = get_page(&f.s, &to, &cookie).await.text().await.unwrap();
    let tasks = table(&html, "tasks");
    assert_eq!(
        tasks.matches("<tr>").count(),
        3,
        "header and both merchants"
    );
    assert!(tasks.contains("鑫海冻品") && tasks.contains("绿源蔬菜"));
    assert!(tasks.contains("insp_wang、insp_li") || tasks.contains("insp_li、insp_wang"));
    assert!(html.contains(&format!(r#"href="/v1/public/draws/{id}""#)));
    let public =
        f.s.http
            .get(f.s.url(&format!("/v1/public/draws/{id}")))
            .send()
            .await
            .unwrap();
    assert_eq!(public.status(), StatusCode::OK);
    let public: serde_json::Value = public.json().await.unwrap();
    assert_eq!(public["name"], "十二月双随机");
    assert_eq!(public["tasks"].as_array().unwrap().len(), 2);

    let html = get_page(&f.s, "/console/draws", &cookie)
        .await
        .text()
        .await
        .unwrap();
    assert!(table(&html, "draws").contains(&format!(r#"href="/console/draws/{id}">十二月双随机"#)));
    f.s.assert_healthy().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_console_post_without_this_sessions_token_changes_nothing() {
    let f = Field::start().await;
    let cookie = browser_login(&f.s, "analyst", PW).await;
    let admin = browser_login(&f.s, "root", "root-password-1").await;
    let others = csrf_of(
        &get_page(&f.s, "/console/draws", &admin)
            .await
            .text()
            .await
            .unwrap(),
    );
    let fields = format!(
        "name=x&seed=s&quota=count&count=1&inspector={}&inspector={}",
        f.insp1_id, f.insp2_id
    );
    for body in [
        fields.clone(),
        format!("csrf=&{fields}"),
        format!("csrf={}&{fields}", forged(&others)),
        format!("csrf={others}&{fields}"),
    ] {
        let res = post_form(&f.s, "/console/draws", &cookie, body.clone()).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{body}");
        assert!(res.text().await.unwrap().contains("未做任何更改"));
    }
    assert_eq!(f.count("SELECT COUNT(*) FROM draws"), 0);
    assert_eq!(
        f.count("SELECT COUNT(*) FROM changes WHERE kind = 'task'"),
        0
    );

    // A draw the service refuses stores nothing and keeps what was typed.
    let csrf = csrf_of(
        &get_page(&f.s, "/console/draws", &cookie)
            .await
            .text()
            .await
            .unwrap(),
    );
    let body = format!(
        "csrf={csrf}&name={}&seed=s&quota=count&count=1&inspector={}",
        enc("只有一人"),
        f.insp1_id
    );
    let res = post_form(&f.s, "/console/draws", &cookie, body).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = res.text().await.unwrap();
    assert!(
        html.contains(r#"id="draw-error""#) && html.contains("至少需要 2 人"),
        "{html}"
    );
    assert!(html.contains(r#"value="只有一人""#));
    assert_eq!(f.count("SELECT COUNT(*) FROM draws"), 0);
    f.s.assert_healthy().await;
}
