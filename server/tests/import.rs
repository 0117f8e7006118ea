//! CSV bulk import: encodings, headers, per-row report, all or nothing.

mod common;

use common::{expect_error, uscc, TestServer};
use reqwest::StatusCode;
use serde_json::Value;

async fn import(s: &TestServer, token: &str, query: &str, body: Vec<u8>) -> reqwest::Response {
    s.http
        .post(s.url(&format!("/v1/merchants/import{query}")))
        .bearer_auth(token)
        .header("content-type", "text/csv")
        .body(body)
        .send()
        .await
        .unwrap()
}

async fn total(s: &TestServer, token: &str) -> u64 {
    let v: Value = s.get("/v1/merchants", token).await.json().await.unwrap();
    v["total"].as_u64().unwrap()
}

/// A USCC whose final check character is wrong.
fn bad_uscc(stem: &str) -> String {
    let mut bad = uscc(stem);
    let last = bad.pop().unwrap();
    bad.push(if last == '0' { '1' } else { '0' });
    bad
}

fn chinese_csv(bad_row: bool) -> String {
    let mut csv = String::from("名称,统一社会信用代码,许可证号,许可证有效期,摊位,区划代码,类别\n");
    csv.push_str(&format!(
        "鑫海冻品,{},JY13502030000011,2028/6/30,A-01,350203,速冻/冷冻食品、进口冷链食品\n",
        uscc("9235020300000001")
    ));
    csv.push_str(&format!(
        "\"闽南鲜肉, 二店\",{},JY13502030000022,2028年1月1日,B-12,350203,畜肉;禽肉\n",
        uscc("9235020300000002")
    ));
    if bad_row {
        // Row 4: a wrong check character.
        let bad = bad_uscc("9235020300000003");
        csv.push_str(&format!(
            "同安蔬菜,{bad},JY13502030000033,2028-01-01,C-07,350203,蔬菜\n"
        ));
    }
    csv.push_str(&format!(
        "湖里水果,{},,,D-01,350206,水果\n",
        uscc("9235020600000004")
    ));
    csv.push_str(",,,,,,\n"); // Excel's trailing blank row
    csv
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn utf8_import_with_bom() {
    let s = TestServer::start().await;
    let admin = s.admin().await;
    let market = s.create_market(&admin).await;
    let mut body = vec![0xEF, 0xBB, 0xBF];
    body.extend(chinese_csv(false).into_bytes());

    // Dry run first: a report, nothing stored.
    let res = import(
        &s,
        &admin,
        &format!("?market_id={market}&dry_run=true"),
        body.clone(),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(total(&s, &admin).await, 0);

    let res = import(&s, &admin, &format!("?market_id={market}"), body).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let r: Value = res.json().await.unwrap();
    assert_eq!(
        (r["rows"].as_u64(), r["imported"].as_u64()),
        (Some(3), Some(3))
    );
    assert_eq!(r["errors"].as_array().unwrap().len(), 0);
    let list: Value = s
        .get(&format!("/v1/merchants?market_id={market}"), &admin)
        .await
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"闽南鲜肉, 二店"));
    let meat = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["stall"] == "B-12")
        .unwrap();
    assert_eq!(
        meat["categories"],
        serde_json::json!(["livestock_meat", "poultry"])
    );
    assert_eq!(meat["licence_expiry"], "2028-01-01");

    // Importing the same file again: every licence is a duplicate, nothing stored.
    let mut body = vec![0xEF, 0xBB, 0xBF];
    body.extend(chinese_csv(false).into_bytes());
    let e = expect_error(
        import(&s, &admin, "", body).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "import_rejected",
    )
    .await;
    assert_eq!(e["imported"], 0);
    assert!(e["errors"]
        .as_array()
        .unwrap()
        .iter()
        .all(|x| x["code"] == "duplicate_licence"));
    assert_eq!(total(&s, &admin).await, 3);
    s.assert_healthy().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gbk_import_with_one_bad_row_stores_nothing() {
    let s = TestServer::start().await;
    let admin = s.admin().await;
    let text = chinese_csv(true);
    let (gbk, _, unmappable) = encoding_rs::GBK.encode(&text);
    assert!(!unmappable);
    assert!(std::str::from_utf8(&gbk).is_err(), "really GBK, not UTF-8");

    let e = expect_error(
        import(&s, &admin, "", gbk.into_owned()).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "import_rejected",
    )
    .await;
    assert_eq!(e["rows"], 4);
    assert_eq!(e["imported"], 0);
    let errors = e["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0]["row"], 4, "header is row 1");
    assert_eq!(errors[0]["field"], "uscc");
    assert_eq!(errors[0]["code"], "uscc_check_mismatch");
    assert_eq!(total(&s, &admin).await, 0, "nothing half-imported");

    // Fixed file: all four rows go in.
    let fixed = chinese_csv(true).replace(&bad_uscc("9235020300000003"), &uscc("9235020300000003"));
    let (gbk, _, _) = encoding_rs::GBK.encode(&fixed);
    let res = import(&s, &admin, "", gbk.into_owned()).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(total(&s, &admin).await, 4);
    s.assert_healthy().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn english_headers_many_errors_and_bad_files() {
    let s = TestServer::start().await;
    let admin = s.admin().await;
    let csv = format!(
        "Name,USCC,licence_no,licence_expiry,stall,region_code,categories,Remarks\n\
         Good One,{},SC10435020300011,2030-01-01,1,350203,dairy,x\n\
         ,{},JY1,not-a-date,2,12345,unicorns,y\n\
         Dup,{},SC10435020300011,2030-01-01,3,350203,,z\n",
        uscc("9235020300000001"),
        uscc("9235020300000002"),
        uscc("9235020300000003"),
    );
    let e = expect_error(
        import(&s, &admin, "", csv.into_bytes()).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "import_rejected",
    )
    .await;
    assert_eq!(e["ignored_columns"], serde_json::json!(["Remarks"]));
    let errs: Vec<(u64, String, String)> = e["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            (
                x["row"].as_u64().unwrap(),
                x["field"].as_str().unwrap().to_owned(),
                x["code"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    for want in [
        (3, "name", "required"),
        (3, "licence_no", "invalid_licence"),
        (3, "licence_expiry", "invalid_date"),
        (3, "region_code", "invalid_region_code"),
        (3, "categories", "invalid_category"),
        (4, "licence_no", "duplicate_licence"),
    ] {
        assert!(
            errs.iter()
                .any(|(r, f, c)| (*r, f.as_str(), c.as_str()) == want),
            "{want:?} in {errs:?}"
        );
    }
    assert_eq!(total(&s, &admin).await, 0);

    // Missing required column, undecodable bytes, empty body, wrong role.
    let e = expect_error(
        import(&s, &admin, "", b"stall,region_code\nA,350203\n".to_vec()).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "missing_column",
    )
    .await;
    assert_eq!(e["error"]["field"], "name");
    expect_error(
        import(&s, &admin, "", vec![0x81, 0x20, 0xFF, 0xFE, 0x00]).await,
        StatusCode::BAD_REQUEST,
        "invalid_encoding",
    )
    .await;
    expect_error(
        import(&s, &admin, "", Vec::new()).await,
        StatusCode::BAD_REQUEST,
        "empty_body",
    )
    .await;
    expect_error(
        import(&s, &admin, "?dry_run=maybe", b"name,uscc\n".to_vec()).await,
        StatusCode::BAD_REQUEST,
        "invalid_query",
    )
    .await;
    s.user(
        "ana",
        "analyst-pass",
        shian_server::db::Role::Analyst,
        None,
        &[],
    )
    .await;
    let analyst = s.token("ana", "analyst-pass").await;
    expect_error(
        import(&s, &analyst, "", b"name,uscc\n".to_vec()).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    s.assert_healthy().await;
}
