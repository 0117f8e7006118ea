//! Markets and merchants: validation, scope, and hostile strings.

mod common;

use common::{expect_error, uscc, TestServer};
use reqwest::StatusCode;
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_market_and_merchant() {
    let s = TestServer::start().await;
    let admin = s.admin().await;
    let market = s.create_market(&admin).await;

    let code = uscc("9235020300000001");
    let res = s
        .post(
            "/v1/merchants",
            &admin,
            json!({
                "market_id": market, "name": "鑫海冻品", "uscc": code,
                "licence_no": "JY13502030000011", "licence_expiry": "2028-06-30",
                "categories": ["frozen", "水产品"], "stall": "A-01"
            }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let m: Value = res.json().await.unwrap();
    let id = m["id"].as_str().unwrap();
    assert_eq!(m["region_code"], "350203", "inherits the market's region");
    assert_eq!(m["categories"], json!(["frozen", "aquatic"]));
    assert_eq!(m["uscc_acknowledged"], false);
    let shop = m["shop_code"].as_str().unwrap();
    assert_eq!(shop.len(), 16);
    assert!(shop
        .bytes()
        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()));
    assert!(shian_server::validate::parse_code(shop, "shop_code").is_ok());

    let got: Value = s
        .get(&format!("/v1/merchants/{id}"), &admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(got, m);
    expect_error(
        s.get("/v1/merchants/0190aaaa-no-such", &admin).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;

    // The same licence twice is a conflict.
    let again = s
        .post("/v1/merchants", &admin, json!({"market_id": market, "name": "另一家", "uscc": code, "licence_no": "JY13502030000011", "licence_expiry": "2028-06-30"}))
        .await;
    expect_error(again, StatusCode::CONFLICT, "duplicate_licence").await;
    // An unknown market.
    let e = expect_error(
        s.post(
            "/v1/merchants",
            &admin,
            json!({"market_id": "nope", "name": "x", "uscc": code}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "unknown_market",
    )
    .await;
    assert_eq!(e["error"]["field"], "market_id");

    // Lists and filters.
    s.post(
        "/v1/merchants",
        &admin,
        json!({"name": "福州店", "uscc": uscc("9235010200000002"), "region_code": "350102"}),
    )
    .await;
    let all: Value = s.get("/v1/merchants", &admin).await.json().await.unwrap();
    assert_eq!(all["total"], 2);
    let xm: Value = s
        .get("/v1/merchants?region=350200", &admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(xm["total"], 1);
    let fj: Value = s
        .get("/v1/merchants?region=350000&limit=1", &admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (fj["total"].as_u64(), fj["items"].as_array().unwrap().len()),
        (Some(2), 1)
    );
    let by_market: Value = s
        .get(&format!("/v1/merchants?market_id={market}"), &admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(by_market["total"], 1);
    let q: Value = s
        .get("/v1/merchants?q=%E9%91%AB%E6%B5%B7", &admin)
        .await
        .json()
        .await
        .unwrap(); // 鑫海
    assert_eq!(q["total"], 1);
    let by_licence: Value = s
        .get("/v1/merchants?q=jy13502030000011", &admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(by_licence["total"], 1);
    let markets: Value = s.get("/v1/markets", &admin).await.json().await.unwrap();
    assert_eq!(markets["items"][0]["id"], market.as_str());
    s.assert_healthy().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_uscc_refused() {
    let s = TestServer::start().await;
    let admin = s.admin().await;
    let good = uscc("9235020300000001");
    let mut wrong_check = good.clone();
    let last = wrong_check.pop().unwrap();
    wrong_check.push(if last == '0' { '1' } else { '0' });
    let mut wrong_org = good.clone().into_bytes();
    wrong_org[16] = if wrong_org[16] == b'0' { b'1' } else { b'0' };
    let wrong_org = String::from_utf8(wrong_org).unwrap();
    let full_width_wrong: String = wrong_check
        .chars()
        .map(|c| char::from_u32(c as u32 + 0xFEE0).unwrap())
        .collect();

    let cases: Vec<(String, StatusCode, &str)> = vec![
        (
            wrong_check.clone(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "uscc_check_mismatch",
        ),
        (
            wrong_org.clone(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "uscc_check_mismatch",
        ),
        (
            wrong_check.to_lowercase(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "uscc_check_mismatch",
        ),
        (
            full_width_wrong,
            StatusCode::UNPROCESSABLE_ENTITY,
            "uscc_check_mismatch",
        ),
        (
            good[..17].to_owned(),
            StatusCode::BAD_REQUEST,
            "invalid_uscc",
        ),
        (format!("{good}0"), StatusCode::BAD_REQUEST, "invalid_uscc"),
        (
            good.replacen('9', "I", 1),
            StatusCode::BAD_REQUEST,
            "invalid_uscc",
        ),
        ("".to_owned(), StatusCode::BAD_REQUEST, "invalid_uscc"),
        (
            "'; DROP TABLE merchants; --".to_owned(),
            StatusCode::BAD_REQUEST,
            "invalid_uscc",
        ),
    ];
    for (code, status, err) in cases {
        let res = s
            .post(
                "/v1/merchants",
                &admin,
                json!({"name": "测试", "uscc": code, "region_code": "350203"}),
            )
            .await;
        let e = expect_error(res, status, err).await;
        assert_eq!(e["error"]["field"], "uscc", "{code}");
    }
    let none: Value = s.get("/v1/merchants", &admin).await.json().await.unwrap();
    assert_eq!(none["total"], 0, "nothing stored");

    // An acknowledged mismatch is accepted and marked.
    let res = s
        .post("/v1/merchants", &admin, json!({"name": "早期代码商户", "uscc": wrong_check, "region_code": "350203", "acknowledge_uscc_mismatch": true}))
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let m: Value = res.json().await.unwrap();
    assert_eq!(m["uscc_acknowledged"], true);
    assert_eq!(m["uscc"], wrong_check.as_str());

    // Lower case and full width of a valid code are folded to the canonical form (as core's codes::normalize does).
    let full_width_good: String = good
        .chars()
        .map(|c| char::from_u32(c as u32 + 0xFEE0).unwrap())
        .collect();
    for input in [good.to_lowercase(), full_width_good] {
        let res = s
            .post(
                "/v1/merchants",
                &admin,
                json!({"name": "规范化", "uscc": input, "region_code": "350203"}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::CREATED);
        let m: Value = res.json().await.unwrap();
        assert_eq!(m["uscc"], good.as_str());
        assert_eq!(m["uscc_acknowledged"], false);
    }

    // Other fields: licence form, licence without expiry, region, name length; all errors listed.
    let res = s
        .post(
            "/v1/merchants",
            &admin,
            json!({"name": "名".repeat(101), "uscc": good, "licence_no": "JY123", "region_code": "990000", "categories": ["drugs"]}),
        )
        .await;
    let e = expect_error(res, StatusCode::BAD_REQUEST, "too_long").await;
    assert_eq!(e["error"]["field"], "name");
    let fields: Vec<&str> = e["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["field"].as_str().unwrap())
        .collect();
    for f in [
        "name",
        "licence_no",
        "licence_expiry",
        "region_code",
        "categories[0]",
    ] {
        assert!(fields.contains(&f), "{f} in {fields:?}");
    }
    s.assert_healthy().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_looking_strings_are_stored_verbatim() {
    let s = TestServer::start().await;
    let admin = s.admin().await;
    let hostile = [
        "Robert'); DROP TABLE merchants;--",
        "\" OR 1=1 --",
        "100% 纯_天然 \\ %",
        "<script>alert(1)</script>",
        "名字'||(SELECT password_hash FROM users)||'",
    ];
    let mut ids = Vec::new();
    for (i, name) in hostile.iter().enumerate() {
        let res = s
            .post(
                "/v1/merchants",
                &admin,
                json!({"name": name, "uscc": uscc(&format!("92350203000000{i:02}")), "region_code": "350203", "stall": name, "contact": "1' OR '1'='1"}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::CREATED, "{name}");
        let v: Value = res.json().await.unwrap();
        ids.push(v["id"].as_str().unwrap().to_owned());
    }
    for (id, name) in ids.iter().zip(hostile) {
        let v: Value = s
            .get(&format!("/v1/merchants/{id}"), &admin)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(v["name"], name);
        assert_eq!(v["stall"], name);
        assert_eq!(v["contact"], "1' OR '1'='1");
    }
    // Search with wildcards matches literally.
    let q: Value = s
        .get("/v1/merchants?q=100%25", &admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(q["total"], 1);
    let q: Value = s
        .get("/v1/merchants?q=%25", &admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(q["total"], 1, "a bare % is a literal percent sign");
    let q: Value = s
        .get("/v1/merchants?q=%22%20OR%201%3D1%20--", &admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(q["total"], 1, "only the merchant whose name contains it");
    // Every table still there.
    let all: Value = s.get("/v1/merchants", &admin).await.json().await.unwrap();
    assert_eq!(all["total"], hostile.len());
    assert_eq!(
        s.login("root", "root-password-1").await.status(),
        StatusCode::OK
    );
    s.assert_healthy().await;
}
