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
        shian_server::store::Role::Analyst,
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

/// A merchant list as a spreadsheet shows it, one `Vec` per row (row 1 the
/// header): row 2 has a categories cell with a line break in it (Alt+Enter),
/// row 3 a quoted comma and a two-line remark, row 4 a wrong USCC, row 5
/// the licence of row 2, then Excel's trailing blank row.
fn sheet(cell_break: &str) -> Vec<Vec<String>> {
    let (good1, good2, bad, good4) = (
        uscc("9235020300000001"),
        uscc("9235020300000002"),
        bad_uscc("9235020300000003"),
        uscc("9235020600000004"),
    );
    let (meats, remark) = (
        format!("畜肉{cell_break}禽肉"),
        format!("早市{cell_break}晚市"),
    );
    let rows: [[&str; 8]; 6] = [
        [
            "名称",
            "统一社会信用代码",
            "许可证号",
            "许可证有效期",
            "摊位",
            "区划代码",
            "类别",
            "备注",
        ],
        [
            "鑫海冻品",
            &good1,
            "JY13502030000011",
            "2028/6/30",
            "A-01",
            "350203",
            &meats,
            "",
        ],
        [
            "闽南鲜肉, 二店",
            &good2,
            "JY13502030000022",
            "2028年1月1日",
            "B-12",
            "350203",
            "畜肉;禽肉",
            &remark,
        ],
        [
            "同安蔬菜",
            &bad,
            "JY13502030000033",
            "2028-01-01",
            "C-07",
            "350203",
            "蔬菜",
            "",
        ],
        [
            "湖里水果",
            &good4,
            "JY13502030000011",
            "2028-01-01",
            "D-01",
            "350206",
            "水果",
            "",
        ],
        ["", "", "", "", "", "", "", ""],
    ];
    rows.iter()
        .map(|r| r.iter().map(|c| (*c).to_owned()).collect())
        .collect()
}

/// Writes rows the way Excel does: a cell with the delimiter, a quote or a
/// line break is quoted; `eol` ends every row.
fn write_sheet(rows: &[Vec<String>], delimiter: char, eol: &str) -> String {
    let mut out = String::new();
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .map(|c| {
                if c.contains([delimiter, '"', '\n', '\r']) {
                    format!("\"{}\"", c.replace('"', "\"\""))
                } else {
                    c.clone()
                }
            })
            .collect();
        out.push_str(&cells.join(&delimiter.to_string()));
        out.push_str(eol);
    }
    out
}

fn gbk(text: &str) -> Vec<u8> {
    let (bytes, _, unmappable) = encoding_rs::GBK.encode(text);
    assert!(!unmappable);
    bytes.into_owned()
}

/// Excel's "Unicode text": UTF-16LE with a BOM.
fn utf16le(text: &str) -> Vec<u8> {
    let mut out = vec![0xFF, 0xFE];
    out.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
    out
}

/// The row errors of a rejected import as (row, field, code, message).
async fn row_errors(
    s: &TestServer,
    admin: &str,
    body: Vec<u8>,
) -> Vec<(u64, String, String, String)> {
    let e = expect_error(
        import(s, admin, "", body).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "import_rejected",
    )
    .await;
    assert_eq!(e["rows"], 4, "{e}");
    e["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            (
                x["row"].as_u64().unwrap(),
                x["field"].as_str().unwrap().to_owned(),
                x["code"].as_str().unwrap().to_owned(),
                x["message"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// The row in an error is the row the user sees in Excel or WPS, whatever
/// the line ends (LF, CRLF, old Mac CR), the encoding (UTF-8 with or
/// without BOM, GBK, UTF-16), quoted commas, or line breaks inside a cell.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn row_errors_name_the_spreadsheet_row_whatever_the_line_ends() {
    let s = TestServer::start().await;
    let admin = s.admin().await;
    let lf = sheet("\n");
    let bom = |text: String| [vec![0xEF, 0xBB, 0xBF], text.into_bytes()].concat();
    let variants: Vec<(&str, Vec<u8>)> = vec![
        ("UTF-8 LF", write_sheet(&lf, ',', "\n").into_bytes()),
        ("UTF-8 CRLF", write_sheet(&lf, ',', "\r\n").into_bytes()),
        ("UTF-8 BOM CRLF", bom(write_sheet(&lf, ',', "\r\n"))),
        ("GBK CRLF", gbk(&write_sheet(&lf, ',', "\r\n"))),
        ("GBK LF", gbk(&write_sheet(&lf, ',', "\n"))),
        (
            "UTF-8 CR (Excel for Mac)",
            write_sheet(&lf, ',', "\r").into_bytes(),
        ),
        (
            "UTF-8 BOM CRLF, CRLF inside cells",
            bom(write_sheet(&sheet("\r\n"), ',', "\r\n")),
        ),
        (
            "UTF-16 tab-separated CRLF",
            utf16le(&write_sheet(&lf, '\t', "\r\n")),
        ),
    ];
    // Every variant is imported before any assertion, so a failure lists
    // all the variants that name a wrong row.
    let mut wrong = Vec::new();
    for (name, body) in variants {
        let errors = row_errors(&s, &admin, body).await;
        let rows: Vec<(u64, &str, &str)> = errors
            .iter()
            .map(|(r, f, c, _)| (*r, f.as_str(), c.as_str()))
            .collect();
        let want = [
            (4, "uscc", "uscc_check_mismatch"),
            (5, "licence_no", "duplicate_licence"),
        ];
        if rows != want || !errors[1].3.contains("第 2 行") {
            wrong.push(format!("{name}: {errors:?}"));
        }
    }

    // The issue's file: no line breaks in cells, GBK, CRLF; the bad row is 4.
    let plain = chinese_csv(true).replace('\n', "\r\n");
    let e = expect_error(
        import(&s, &admin, "", gbk(&plain)).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "import_rejected",
    )
    .await;
    if e["errors"][0]["row"] != 4 {
        wrong.push(format!("plain GBK CRLF: {}", e["errors"]));
    }

    // An empty line is an empty row in Excel and WPS: it counts.
    for eol in ["\n", "\r\n"] {
        let text = write_sheet(&lf, ',', eol);
        let cut = text.find("同安蔬菜").unwrap();
        let text = format!("{}{eol}{}", &text[..cut], &text[cut..]);
        let errors = row_errors(&s, &admin, text.into_bytes()).await;
        if errors.iter().map(|e| e.0).collect::<Vec<_>>() != [5, 6] {
            wrong.push(format!("empty line, {eol:?}: {errors:?}"));
        }
    }
    assert!(wrong.is_empty(), "wrong rows:\n{}", wrong.join("\n"));
    assert_eq!(total(&s, &admin).await, 0);
    s.assert_healthy().await;
}
