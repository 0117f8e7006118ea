//! The public pages (`/`, `/s/{shop_code}`, `/t/{trace_code}`) and the
//! product page's JSON twin, on a real server over a real SQLite file: what
//! a consumer sees for known, mistyped and unknown codes, and that names
//! typed by merchants are escaped everywhere.

mod common;
mod field_common;

use chrono::{Duration, FixedOffset, Utc};
use field_common::{accepted, inspection, now_cn, op, Failures, Field, PW};
use reqwest::StatusCode;
use serde_json::{json, Value};
use shian_server::store::Role;

use common::{expect_error, uscc};

const SCRIPT_NAME: &str = "<script>alert(1)</script>";
const IMG_PRODUCT: &str = "\"><img src=x onerror=alert(1)>";
/// What a page may weigh (issue 12: under 30 KB on a phone).
const MAX_PAGE_BYTES: usize = 30 * 1024;

/// A page as a browser gets it.
struct Page {
    status: StatusCode,
    content_type: String,
    cache: String,
    body: String,
}

async fn page(f: &Field, path: &str) -> Page {
    let res = f.s.http.get(f.s.url(path)).send().await.unwrap();
    let header = |h: &str| {
        res.headers()
            .get(h)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    let (content_type, cache) = (header("content-type"), header("cache-control"));
    Page {
        status: res.status(),
        content_type,
        cache,
        body: res.text().await.unwrap(),
    }
}

/// Every page: HTML in zh-CN, small, no script of its own.
fn assert_html(p: &Page, status: StatusCode) {
    assert_eq!(p.status, status, "{}", p.body);
    assert!(
        p.content_type.starts_with("text/html"),
        "{}",
        p.content_type
    );
    assert!(p.body.contains("<html lang=\"zh-CN\">"), "{}", p.body);
    assert!(
        p.body.len() < MAX_PAGE_BYTES,
        "{} bytes: {}",
        p.body.len(),
        p.body
    );
    assert!(
        !p.body.to_ascii_lowercase().contains("<script"),
        "no script on a public page: {}",
        p.body
    );
    assert!(!p.body.contains("<img"), "{}", p.body);
}

fn china_date(days_from_now: i64) -> String {
    (Utc::now() + Duration::days(days_from_now))
        .with_timezone(&FixedOffset::east_opt(8 * 3600).unwrap())
        .date_naive()
        .to_string()
}

async fn shop_code(f: &Field, merchant: &str) -> String {
    let v: Value =
        f.s.get(&format!("/v1/merchants/{merchant}"), &f.admin)
            .await
            .json()
            .await
            .unwrap();
    v["shop_code"].as_str().unwrap().to_owned()
}

/// A code of the right shape whose check character is wrong (a typo).
fn mistype(code: &str) -> String {
    let mut c: Vec<char> = code.chars().collect();
    c[3] = if c[3] == '7' { '8' } else { '7' };
    c.into_iter().collect()
}

async fn new_merchant(f: &Field, body: Value) -> String {
    let res = f.s.post("/v1/merchants", &f.admin, body).await;
    let status = res.status();
    let v: Value = res.json().await.unwrap();
    assert_eq!(status, StatusCode::CREATED, "{v}");
    v["id"].as_str().unwrap().to_owned()
}

/// m1 buys a batch (a hostile product name) from an off-platform farm and
/// sells part of it with a voucher to a shop with a hostile name, which
/// receives it: the buyer's batch traces back through m1 to the farm.
struct Chain {
    f: Field,
    /// The hostile-named shop.
    m3: String,
    /// m1's batch (the origin purchase).
    upstream: String,
    /// m3's batch, received with m1's voucher.
    downstream: String,
}

async fn chain() -> Chain {
    let f = Field::start().await;
    let m3 = new_merchant(
        &f,
        json!({"market_id": f.market, "name": SCRIPT_NAME, "uscc": uscc("9235020300000033"),
               "licence_no": "JY13502030000033", "licence_expiry": china_date(10),
               "categories": ["vegetable"], "stall": "C-03", "contact": "李女士"}),
    )
    .await;
    f.s.user("shop3", PW, Role::Merchant, Some(&m3), &[]).await;
    let m3_user = f.s.token("shop3", PW).await;
    let upstream = shian_core::codes::new_code(&mut rand::rng());
    let downstream = shian_core::codes::new_code(&mut rand::rng());
    let voucher = shian_core::codes::new_code(&mut rand::rng());
    let purchase = |merchant: &str, trace: &str, voucher: Option<&str>| {
        json!({"entry_id": uuid::Uuid::now_v7().to_string(), "merchant_id": merchant,
               "product": {"name": IMG_PRODUCT, "category": "vegetable"},
               "quantity": {"value": "20", "unit": "kg"},
               "supplier": {"name": "同安蔬菜合作社", "region_code": "350212"},
               "certificates": [{"kind": "origin", "number": "CD-2026-0001"}],
               "trace_code": trace, "voucher_code": voucher,
               "unit_price_fen": 450, "received_at": now_cn(-120)})
    };
    accepted(
        &f.push1(
            &f.m1_user,
            op("ledger.purchase", purchase(&f.m1, &upstream, None)),
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
                       "buyer": {"merchant_id": m3}, "voucher_code": voucher,
                       "unit_price_fen": 600, "sold_at": now_cn(-90)}),
            ),
        )
        .await,
    );
    accepted(
        &f.push1(
            &m3_user,
            op(
                "ledger.purchase",
                purchase(&m3, &downstream, Some(&voucher)),
            ),
        )
        .await,
    );
    Chain {
        f,
        m3,
        upstream,
        downstream,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn landing_page_says_what_this_is_and_where_each_role_goes() {
    let f = Field::start().await;
    let p = page(&f, "/").await;
    assert_html(&p, StatusCode::OK);
    for text in [
        "食安 Shian",
        "食品安全监管平台",
        "action=\"/go\"",
        "name=\"code\"",
        "/s/",
        "/t/",
        "/v1/sync",
        "/console",
        "/report",
        "href=\"/openapi.json\"",
        "href=\"/healthz\"",
    ] {
        assert!(p.body.contains(text), "{text} missing: {}", p.body);
    }
    for (link, what) in [
        ("href=\"/console\"", "the regulator's console"),
        ("href=\"/report\"", "the whistleblowing form"),
        ("href=\"/signs\"", "the merchant's stall sign"),
        ("href=\"/handler/reports\"", "the analysts' report handling"),
    ] {
        assert!(p.body.contains(link), "{what} is linked");
    }
    assert!(p.cache.contains("max-age="), "{}", p.cache);
    f.s.assert_healthy().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_code_form_sends_a_shop_code_to_its_shop_and_a_trace_code_to_its_product() {
    let c = chain().await;
    let f = &c.f;
    let code = shop_code(f, &f.m1).await;
    let no_redirect = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let go = |q: String| {
        let url = f.s.url(&format!("/go?code={q}"));
        let http = no_redirect.clone();
        async move { http.get(url).send().await.unwrap() }
    };
    // Typed in lower case with spaces, as a person does.
    let typed = format!("{} {}", &code[..8], &code[8..]).to_lowercase();
    let res = go(urlencode(&typed)).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()["location"], format!("/s/{code}").as_str());
    let res = go(c.downstream.clone()).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        res.headers()["location"],
        format!("/t/{}", c.downstream).as_str()
    );

    let p = page(f, &format!("/go?code={}", mistype(&code))).await;
    assert_html(&p, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(p.body.contains("输入有误，请核对"), "{}", p.body);
    let p = page(f, "/go?code=abc").await;
    assert_html(&p, StatusCode::BAD_REQUEST);
    assert!(p.body.contains("输入有误，请核对"), "{}", p.body);
    let p = page(f, "/go").await;
    assert_html(&p, StatusCode::BAD_REQUEST);
    let unknown = shian_core::codes::new_code(&mut rand::rng());
    let p = page(f, &format!("/go?code={unknown}")).await;
    assert_html(&p, StatusCode::NOT_FOUND);
    assert!(p.body.contains("查无此码"), "{}", p.body);
    f.s.assert_healthy().await;
}

fn urlencode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shop_page_shows_licence_grade_inspection_and_findings_and_nothing_personal() {
    let f = Field::start().await;
    // An inspection of m1, then a lab-confirmed failure on one of its batches.
    let t = f.template("food_sales_daily").await;
    let photo = f.upload(&f.insp1, b"stall photo".to_vec()).await;
    let pair = [f.insp1_id.as_str(), f.insp2_id.as_str()];
    let rec = inspection(
        &t,
        &f.m1,
        &pair,
        Failures { general: 8, key: 0 },
        &photo,
        "basically_compliant",
    );
    accepted(&f.push1(&f.insp1, op("inspection.record", rec)).await);
    let batch = shian_core::codes::new_code(&mut rand::rng());
    let rapid = json!({"sample_id": uuid::Uuid::now_v7().to_string(), "merchant_id": f.m1,
        "trace_code": batch, "item": "pesticide_enzyme_inhibition", "method": "rapid",
        "value": 70.0, "unit": "%", "limit": 50.0, "taken_at": now_cn(-20)});
    let rapid_id = rapid["sample_id"].as_str().unwrap().to_owned();
    accepted(&f.push1(&f.insp1, op("sample.record", rapid)).await);
    let lab = json!({"sample_id": uuid::Uuid::now_v7().to_string(), "merchant_id": f.m1,
        "item": "毒死蜱", "method": "lab", "value": 0.35, "unit": "mg/kg", "limit": 0.02,
        "taken_at": now_cn(-5), "confirms": rapid_id});
    accepted(&f.push1(&f.insp2, op("sample.record", lab)).await);

    let code = shop_code(&f, &f.m1).await;
    let p = page(&f, &format!("/s/{code}")).await;
    assert_html(&p, StatusCode::OK);
    for text in [
        "鑫海冻品",
        "测试市场",
        "A-01",
        "JY13502030000011",
        "2030-06-30",
        "基本符合",
        "风险等级",
        batch.as_str(),
        &format!("href=\"/t/{batch}\""),
        "class=\"banner red\"",
    ] {
        assert!(p.body.contains(text), "{text} missing: {}", p.body);
    }
    assert!(
        !p.body.contains("许可证将于") && !p.body.contains("过期"),
        "a licence valid to 2030 gets no warning: {}",
        p.body
    );
    // Nothing personal: not the contact person, not the USCC.
    assert!(!p.body.contains("陈先生"), "{}", p.body);
    assert!(!p.body.contains(&uscc("9235020300000001")), "{}", p.body);
    assert!(p.cache.contains("max-age=60"), "{}", p.cache);

    // The grade is the one the console computes.
    let risk: Value =
        f.s.get("/v1/risk/merchants?limit=1000", &f.analyst)
            .await
            .json()
            .await
            .unwrap();
    let grade = risk["merchants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["merchant_id"] == f.m1.as_str())
        .unwrap()["grade"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        p.body
            .contains(&format!("<span class=\"grade\">{grade}</span>")),
        "grade {grade}: {}",
        p.body
    );

    // The shop code as a person may type it (lower case) opens the page too.
    let p = page(&f, &format!("/s/{}", code.to_lowercase())).await;
    assert_html(&p, StatusCode::OK);
    f.s.assert_healthy().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shop_page_warns_of_an_expiring_and_an_expired_licence() {
    let c = chain().await;
    let f = &c.f;
    let p = page(f, &format!("/s/{}", shop_code(f, &c.m3).await)).await;
    assert_html(&p, StatusCode::OK);
    assert!(
        p.body.contains("class=\"banner warn\"")
            && p.body
                .contains(&format!("将于 {} 到期（还有 10 天）", china_date(10))),
        "{}",
        p.body
    );
    let expired = new_merchant(
        f,
        json!({"market_id": f.market, "name": "过期档口", "uscc": uscc("9235020300000044"),
               "licence_no": "JY13502030000044", "licence_expiry": china_date(-1),
               "categories": ["vegetable"]}),
    )
    .await;
    let p = page(f, &format!("/s/{}", shop_code(f, &expired).await)).await;
    assert_html(&p, StatusCode::OK);
    assert!(
        p.body.contains("class=\"banner red\"")
            && p.body.contains(&format!("已于 {} 过期", china_date(-1))),
        "{}",
        p.body
    );
    f.s.assert_healthy().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mistyped_and_unknown_codes_get_a_helpful_page_not_an_error() {
    let f = Field::start().await;
    let code = shop_code(&f, &f.m1).await;
    let unknown = shian_core::codes::new_code(&mut rand::rng());
    for prefix in ["/s/", "/t/"] {
        let p = page(&f, &format!("{prefix}{}", mistype(&code))).await;
        assert_html(&p, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(p.body.contains("输入有误，请核对"), "{}", p.body);
        assert!(p.body.contains("校验位"), "{}", p.body);
        assert_eq!(p.cache, "no-cache");
        for bad in ["NOT-A-CODE", "%E9%A3%9F%E5%AE%89", "%FF%FE", "x"] {
            let p = page(&f, &format!("{prefix}{bad}")).await;
            assert_html(&p, StatusCode::BAD_REQUEST);
            assert!(p.body.contains("输入有误，请核对"), "{bad}: {}", p.body);
        }
        let p = page(&f, &format!("{prefix}{unknown}")).await;
        assert_html(&p, StatusCode::NOT_FOUND);
        assert!(p.body.contains("查无此码"), "{}", p.body);
        assert!(!p.body.contains("输入有误"), "{}", p.body);
    }
    // A trace code is not a shop code, and a shop code is not a batch.
    let c = shop_code(&f, &f.m2).await;
    let p = page(&f, &format!("/t/{c}")).await;
    assert_html(&p, StatusCode::NOT_FOUND);
    // What was typed is echoed escaped, and clipped.
    let p = page(&f, "/s/%3Cb%3Ehi%3C%2Fb%3E").await;
    assert_html(&p, StatusCode::BAD_REQUEST);
    assert!(
        p.body.contains("&#60;b&#62;hi") || p.body.contains("&lt;b&gt;hi"),
        "{}",
        p.body
    );
    assert!(!p.body.contains("<b>hi"), "{}", p.body);
    f.s.assert_healthy().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn product_page_shows_the_chain_to_the_origin_and_a_red_banner_for_a_finding() {
    let c = chain().await;
    let f = &c.f;
    let p = page(f, &format!("/t/{}", c.downstream)).await;
    assert_html(&p, StatusCode::OK);
    for text in [
        c.downstream.as_str(),
        "鑫海冻品",
        "20 千克",
        "同安蔬菜合作社",
        "源头",
        "上家售出",
    ] {
        assert!(p.body.contains(text), "{text} missing: {}", p.body);
    }
    assert!(
        p.body
            .contains(&format!("href=\"/s/{}\"", shop_code(f, &f.m1).await)),
        "{}",
        p.body
    );
    assert!(!p.body.contains("class=\"banner red\""), "{}", p.body);
    assert!(!p.body.contains("李女士") && !p.body.contains("陈先生"));

    // A lab-confirmed failure on the upstream batch: the product is named.
    let rapid = json!({"sample_id": uuid::Uuid::now_v7().to_string(), "merchant_id": f.m1,
        "trace_code": c.upstream, "item": "pesticide_enzyme_inhibition", "method": "rapid",
        "value": 70.0, "unit": "%", "limit": 50.0, "taken_at": now_cn(-20)});
    let rapid_id = rapid["sample_id"].as_str().unwrap().to_owned();
    accepted(&f.push1(&f.insp1, op("sample.record", rapid)).await);
    let lab = json!({"sample_id": uuid::Uuid::now_v7().to_string(), "merchant_id": f.m1,
        "item": "毒死蜱", "method": "lab", "value": 0.35, "unit": "mg/kg", "limit": 0.02,
        "taken_at": now_cn(-5), "confirms": rapid_id});
    accepted(&f.push1(&f.insp2, op("sample.record", lab)).await);
    let p = page(f, &format!("/t/{}", c.downstream)).await;
    assert_html(&p, StatusCode::OK);
    assert!(
        p.body.contains("class=\"banner red\"") && p.body.contains("请勿食用"),
        "{}",
        p.body
    );
    f.s.assert_healthy().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_names_are_escaped_on_every_page() {
    let c = chain().await;
    let f = &c.f;
    let pages = [
        format!("/s/{}", shop_code(f, &c.m3).await),
        format!("/s/{}", shop_code(f, &f.m1).await),
        format!("/t/{}", c.downstream),
        format!("/t/{}", c.upstream),
    ];
    let mut saw_name = false;
    let mut saw_product = false;
    for path in &pages {
        let p = page(f, path).await;
        // assert_html refuses any `<script` and `<img` in the page.
        assert_html(&p, StatusCode::OK);
        saw_name |= p.body.contains("&#60;script&#62;alert(1)&#60;/script&#62;")
            || p.body.contains("&lt;script&gt;alert(1)&lt;/script&gt;");
        saw_product |= p.body.contains("onerror=alert(1)") && !p.body.contains("\"><img");
    }
    assert!(saw_name, "the hostile shop name is shown, escaped");
    assert!(saw_product, "the hostile product name is shown, escaped");
    f.s.assert_healthy().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_trace_json_twin_has_public_fields_only() {
    let c = chain().await;
    let f = &c.f;
    let res =
        f.s.http
            .get(f.s.url(&format!("/v1/public/trace/{}", c.downstream.to_lowercase())))
            .send()
            .await
            .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["trace_code"], c.downstream.as_str());
    assert_eq!(v["product_name"], IMG_PRODUCT);
    assert_eq!(v["chain_end"], "origin");
    assert_eq!(v["origin_supplier"], "同安蔬菜合作社");
    assert_eq!(v["findings"], json!([]));
    let chain = v["chain"].as_array().unwrap();
    assert_eq!(chain.len(), 2, "{v}");
    assert_eq!(chain[0]["trace_code"], c.downstream.as_str());
    assert_eq!(chain[0]["merchant_name"], SCRIPT_NAME);
    assert_eq!(chain[0]["shop_code"], shop_code(f, &c.m3).await.as_str());
    assert_eq!(chain[0]["received"], json!({"value": "20", "unit": "kg"}));
    assert!(chain[0]["sold_at"].is_string(), "{v}");
    assert_eq!(chain[1]["trace_code"], c.upstream.as_str());
    assert_eq!(chain[1]["depth"], 1);
    let mut keys: Vec<&str> = chain[0]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "depth",
            "merchant_name",
            "product_name",
            "received",
            "received_at",
            "shop_code",
            "sold_at",
            "trace_code"
        ],
        "no merchant id, account or customer on the public record"
    );

    let unknown = shian_core::codes::new_code(&mut rand::rng());
    let res =
        f.s.http
            .get(f.s.url(&format!("/v1/public/trace/{unknown}")))
            .send()
            .await
            .unwrap();
    expect_error(res, StatusCode::NOT_FOUND, "unknown_trace_code").await;
    let res =
        f.s.http
            .get(f.s.url(&format!("/v1/public/trace/{}", mistype(&c.downstream))))
            .send()
            .await
            .unwrap();
    expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "code_check_mismatch").await;
    let res =
        f.s.http
            .get(f.s.url("/v1/public/trace/NOT-A-CODE"))
            .send()
            .await
            .unwrap();
    expect_error(res, StatusCode::BAD_REQUEST, "invalid_code").await;

    let doc: Value =
        f.s.http
            .get(f.s.url("/openapi.json"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    let op = &doc["paths"]["/v1/public/trace/{trace_code}"]["get"];
    assert!(op.is_object(), "in the OpenAPI document");
    assert!(op["responses"]["200"].is_object() && op["responses"]["422"].is_object());
    f.s.assert_healthy().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shop_page_shows_suppliers_recent_tests_and_the_latest_inspections() {
    let c = chain().await;
    let f = &c.f;
    // Two inspections of m3 (the buyer), a passed rapid test of its batch.
    let t = f.template("food_sales_daily").await;
    let photo = f.upload(&f.insp1, b"stall photo".to_vec()).await;
    let pair = [f.insp1_id.as_str(), f.insp2_id.as_str()];
    for result in ["non_compliant", "compliant"] {
        let fail = if result == "compliant" {
            Failures::default()
        } else {
            Failures { general: 0, key: 1 }
        };
        let rec = inspection(&t, &c.m3, &pair, fail, &photo, result);
        accepted(&f.push1(&f.insp1, op("inspection.record", rec)).await);
    }
    let rapid = json!({"sample_id": uuid::Uuid::now_v7().to_string(), "merchant_id": c.m3,
        "trace_code": c.downstream, "item": "pesticide_enzyme_inhibition", "method": "rapid",
        "value": 12.0, "unit": "%", "limit": 50.0, "taken_at": now_cn(-10)});
    accepted(&f.push1(&f.insp1, op("sample.record", rapid)).await);
    // A purchase from m1 named as a platform merchant (no voucher scanned).
    let m3_user = f.s.token("shop3", PW).await;
    accepted(
        &f.push1(
            &m3_user,
            op(
                "ledger.purchase",
                json!({"entry_id": uuid::Uuid::now_v7().to_string(), "merchant_id": c.m3,
                       "product": {"name": "菠菜", "category": "vegetable"},
                       "quantity": {"value": "3", "unit": "kg"},
                       "supplier": {"merchant_id": f.m1},
                       "certificates": [{"kind": "origin", "number": "CD-2026-0003"}],
                       "received_at": now_cn(-5)}),
            ),
        )
        .await,
    );

    let m3_code = shop_code(f, &c.m3).await;
    let p = page(f, &format!("/s/{m3_code}")).await;
    assert_html(&p, StatusCode::OK);
    let m1_code = shop_code(f, &f.m1).await;
    for text in [
        // Its supplier on the platform, by shop name, linking its page.
        &format!("<a href=\"/s/{m1_code}\">鑫海冻品</a>"),
        "进货来源",
        "同安蔬菜合作社",
        "进货 1 次",
        // Both inspections, newest first.
        "<strong>符合</strong>",
        "<strong>不符合</strong>",
        // The test, in words, with its batch.
        "最近的检测",
        "合格",
        "快检",
        &format!("href=\"/t/{}\"", c.downstream),
    ] {
        assert!(p.body.contains(text), "{text} missing: {}", p.body);
    }
    assert!(
        p.body.find("<strong>符合</strong>") < p.body.find("<strong>不符合</strong>"),
        "newest inspection first: {}",
        p.body
    );
    assert!(
        p.body.find("鑫海冻品") < p.body.find("同安蔬菜合作社"),
        "latest purchase first: {}",
        p.body
    );

    // The JSON twin carries the same record, with the grade.
    let v: Value =
        f.s.http
            .get(f.s.url(&format!("/v1/public/shops/{m3_code}")))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    assert_eq!(v["inspections"].as_array().unwrap().len(), 2, "{v}");
    assert_eq!(v["inspections"][0]["result"], "compliant");
    assert_eq!(v["tests"][0]["outcome"], "pass");
    assert_eq!(v["tests"][0]["method"], "rapid");
    assert_eq!(v["suppliers"][0]["name"], "鑫海冻品");
    assert_eq!(v["suppliers"][0]["shop_code"], m1_code.as_str());
    assert_eq!(v["suppliers"][0]["purchases"], 1);
    assert!(
        ["A", "B", "C", "D"].contains(&v["risk"]["grade"].as_str().unwrap()),
        "{v}"
    );
    assert!(v.get("contact").is_none() && v.get("uscc").is_none(), "{v}");
    f.s.assert_healthy().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_failure_behind_a_page_is_a_page_in_chinese_not_json() {
    let c = chain().await;
    let f = &c.f;
    let code = shop_code(f, &f.m1).await;
    if common::on_postgres() {
        // A PostgreSQL store has nothing to close (its pool reconnects):
        // its tables go instead, so every read behind the pages fails.
        f.s.execute("DROP SCHEMA public CASCADE", &[]);
    } else {
        f.s.store.close().await.unwrap();
    }
    for path in [
        format!("/s/{code}"),
        format!("/t/{}", c.downstream),
        format!("/go?code={code}"),
    ] {
        let p = page(f, &path).await;
        assert!(p.status.is_server_error(), "{path}: {}", p.status);
        assert!(
            p.content_type.starts_with("text/html"),
            "{path}: {} {}",
            p.content_type,
            p.body
        );
        assert!(p.body.contains("<html lang=\"zh-CN\">"), "{}", p.body);
        assert!(p.body.contains("服务暂时不可用"), "{}", p.body);
    }
}

/// The shop page grades its one shop (`merchant_risk_facts`) instead of
/// every merchant: the facts of each merchant read alone are the facts the
/// console's all-merchant read has for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_merchants_grading_facts_are_the_same_as_in_the_all_merchant_read() {
    let c = chain().await;
    let f = &c.f;
    let t = f.template("food_sales_daily").await;
    let photo = f.upload(&f.insp1, b"stall photo".to_vec()).await;
    let pair = [f.insp1_id.as_str(), f.insp2_id.as_str()];
    let rec = inspection(
        &t,
        &f.m1,
        &pair,
        Failures { general: 0, key: 1 },
        &photo,
        "non_compliant",
    );
    accepted(&f.push1(&f.insp1, op("inspection.record", rec)).await);
    let rapid = json!({"sample_id": uuid::Uuid::now_v7().to_string(), "merchant_id": f.m1,
        "trace_code": c.upstream, "item": "pesticide_enzyme_inhibition", "method": "rapid",
        "value": 70.0, "unit": "%", "limit": 50.0, "taken_at": now_cn(-20)});
    let rapid_id = rapid["sample_id"].as_str().unwrap().to_owned();
    accepted(&f.push1(&f.insp1, op("sample.record", rapid)).await);
    let lab = json!({"sample_id": uuid::Uuid::now_v7().to_string(), "merchant_id": f.m1,
        "item": "毒死蜱", "method": "lab", "value": 0.35, "unit": "mg/kg", "limit": 0.02,
        "taken_at": now_cn(-5), "confirms": rapid_id});
    accepted(&f.push1(&f.insp2, op("sample.record", lab)).await);

    let now = Utc::now();
    let all = f.s.store.risk_facts(now, 365).await.unwrap();
    assert_eq!(all.len(), 4, "every merchant");
    let mut saw_failure = false;
    for row in &all {
        let one =
            f.s.store
                .merchant_risk_facts(row.merchant_id.clone(), now, 365)
                .await
                .unwrap()
                .unwrap();
        assert_eq!(one.merchant_id, row.merchant_id);
        assert_eq!(one.facts, row.facts, "{}", row.name);
        assert_eq!(one.last_inspectors, row.last_inspectors);
        assert_eq!(one.categories, row.categories);
        saw_failure |= one.facts.confirmed_test_failures > 0 && one.facts.ledger.entries > 0;
    }
    assert!(saw_failure, "the facts compared are not all empty");
    let none =
        f.s.store
            .merchant_risk_facts("no-such-merchant".into(), now, 365)
            .await
            .unwrap();
    assert!(none.is_none());
}

/// The page cache: a ledger movement may show up to the TTL late (the test
/// holds pages for an hour so that is certain), a push with a field op
/// shows at once, and POSTs pass by the cache.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ledger_movements_may_lag_by_the_cache_but_field_ops_show_at_once() {
    let f = Field::start_with(shian_server::Config {
        page_cache_ttl: std::time::Duration::from_secs(3600),
        ..shian_server::Config::default()
    })
    .await;
    let code = shop_code(&f, &f.m1).await;
    let path = format!("/s/{code}");
    let twin = format!("/v1/public/shops/{code}");
    let first = page(&f, &path).await;
    assert_html(&first, StatusCode::OK);
    let twin_first = page(&f, &twin).await.body;
    assert!(!first.body.contains("缓存测试农场"));
    let purchase = json!({"entry_id": uuid::Uuid::now_v7().to_string(), "merchant_id": f.m1,
        "product": {"name": "冻猪肉", "category": "livestock_meat"},
        "quantity": {"value": "8", "unit": "kg"},
        "supplier": {"name": "缓存测试农场", "region_code": "350212"},
        "certificates": [{"kind": "quarantine", "number": "DQ-2026-0099"}],
        "trace_code": shian_core::codes::new_code(&mut rand::rng()),
        "unit_price_fen": 2400, "received_at": now_cn(-30)});
    accepted(&f.push1(&f.m1_user, op("ledger.purchase", purchase)).await);
    // Kept: the same bytes as before the purchase, page and twin.
    assert_eq!(page(&f, &path).await.body, first.body);
    assert_eq!(page(&f, &twin).await.body, twin_first);
    // A query is another page (and the cache keeps it apart).
    let with_query = page(&f, &format!("{path}?from=sign")).await;
    assert!(
        with_query.body.contains("缓存测试农场"),
        "{}",
        with_query.body
    );
    // A rapid test recorded by an inspector: the pages are rendered anew.
    let rapid = json!({"sample_id": uuid::Uuid::now_v7().to_string(), "merchant_id": f.m1,
        "item": "pesticide_enzyme_inhibition", "method": "rapid",
        "value": 10.0, "unit": "%", "limit": 50.0, "taken_at": now_cn(-10)});
    accepted(&f.push1(&f.insp1, op("sample.record", rapid)).await);
    let after = page(&f, &path).await;
    assert!(after.body.contains("缓存测试农场"), "{}", after.body);
    assert!(page(&f, &twin).await.body.contains("缓存测试农场"));
}
