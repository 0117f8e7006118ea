//! Exports (`/v1/traces/{code}/export`, `/v1/merchants/{id}/export`,
//! `/v1/markets/{id}/export`) on a real server over a real SQLite file:
//! one row per movement, CSV with the BOM and RFC 4180 quoting, EPCIS 2.0
//! valid against GS1's schema, pages joined without a row lost, bad input
//! in the error shape.

mod common;
mod field_common;

use std::collections::BTreeSet;

use field_common::{accepted, now_cn, op, Field};
use reqwest::StatusCode;
use serde_json::{json, Value};
use shian_core::event::LedgerEvent;

use common::{csrf_of, expect_error};

/// A product name that needs CSV quoting: quotes, a comma and a line
/// separator (U+2028; the ledger refuses control characters such as `\n`
/// in names, so a real newline is held by `exports::csv`'s unit test).
const HARD_NAME: &str = "冻\"牛\"腱, 一级\u{2028}(进口)";

fn code() -> String {
    shian_core::codes::new_code(&mut rand::rng())
}

fn uuid() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// m1 buys 20 kg from a farm, sells 5 kg to m2 with a voucher, 2 kg at
/// retail, destroys 1 kg, and sells 3 kg that it then voids; m2 receives
/// the 5 kg and sells 1 kg to a canteen. m_far buys a batch of its own.
struct Chain {
    f: Field,
    origin: String,
    downstream: String,
    /// The entries that move goods in the forward trace of `origin`.
    forward: BTreeSet<String>,
    /// m1's entries (the voided sale and the void excluded).
    m1_rows: BTreeSet<String>,
    far_entry: String,
}

async fn chain() -> Chain {
    let f = Field::start().await;
    let (origin, downstream, voucher) = (code(), code(), code());
    let ids: Vec<String> = (0..9).map(|_| uuid()).collect();
    let purchase = json!({"entry_id": ids[0], "merchant_id": f.m1,
        "product": {"name": HARD_NAME, "category": "livestock_meat", "gtin": "06901234567892"},
        "quantity": {"value": "20", "unit": "kg"},
        "supplier": {"name": "内蒙古\"草原\"牧场, 有限公司", "uscc": common::uscc("9115010000000001"), "region_code": "150102"},
        "certificates": [{"kind": "quarantine", "number": "DQ-2026-0001"}],
        "production_date": "2026-11-01", "expiry_date": "2027-11-01",
        "trace_code": origin, "unit_price_fen": 6000, "received_at": now_cn(-300)});
    let sale = |id: &str, qty: &str, buyer: Value, v: Option<&str>, minutes: i64| {
        json!({"entry_id": id, "merchant_id": f.m1, "trace_code": origin,
               "quantity": {"value": qty, "unit": "kg"}, "buyer": buyer, "voucher_code": v,
               "unit_price_fen": 7000, "sold_at": now_cn(minutes)})
    };
    let results = f
        .push(
            &f.m1_user,
            vec![
                op("ledger.purchase", purchase),
                op(
                    "ledger.sale",
                    sale(
                        &ids[1],
                        "5",
                        json!({"merchant_id": f.m2}),
                        Some(&voucher),
                        -280,
                    ),
                ),
                op(
                    "ledger.sale",
                    sale(&ids[2], "2", json!({"retail": true}), None, -270),
                ),
                op(
                    "ledger.dispose",
                    json!({"entry_id": ids[3], "merchant_id": f.m1, "trace_code": origin,
                       "quantity": {"value": "1", "unit": "kg"}, "method": "destroyed",
                       "reason": "包装破损, \"解冻\"", "at": now_cn(-260)}),
                ),
                op(
                    "ledger.sale",
                    sale(&ids[4], "3", json!({"retail": true}), None, -250),
                ),
                op(
                    "ledger.void",
                    json!({"entry_id": ids[5], "merchant_id": f.m1, "voided_entry_id": ids[4],
                       "reason": "录错", "at": now_cn(-240)}),
                ),
            ],
        )
        .await;
    for r in &results {
        accepted(r);
    }
    for r in f
        .push(
            &f.m2_user,
            vec![
                op(
                    "ledger.purchase",
                    json!({"entry_id": ids[6], "merchant_id": f.m2,
                       "product": {"name": HARD_NAME, "category": "livestock_meat"},
                       "quantity": {"value": "5", "unit": "kg"}, "supplier": {"merchant_id": f.m1},
                       "trace_code": downstream, "voucher_code": voucher, "received_at": now_cn(-200)}),
                ),
                op(
                    "ledger.sale",
                    json!({"entry_id": ids[7], "merchant_id": f.m2, "trace_code": downstream,
                       "quantity": {"value": "1.25", "unit": "kg"}, "buyer": {"name": "=HYPERLINK(\"x\") 食堂"},
                       "sold_at": now_cn(-100)}),
                ),
            ],
        )
        .await
    {
        accepted(&r);
    }
    // A merchant of another district buys a batch of its own.
    f.s.user(
        "far",
        field_common::PW,
        shian_server::store::Role::Merchant,
        Some(&f.m_far),
        &[],
    )
    .await;
    let far = f.s.token("far", field_common::PW).await;
    accepted(
        &f.push1(
            &far,
            op(
                "ledger.purchase",
                json!({"entry_id": ids[8], "merchant_id": f.m_far,
                   "product": {"name": "带鱼", "category": "aquatic"},
                   "quantity": {"value": "3", "unit": "box"}, "supplier": {"name": "舟山渔业"},
                   "received_at": now_cn(-50)}),
            ),
        )
        .await,
    );
    let set = |v: &[usize]| v.iter().map(|i| ids[*i].clone()).collect::<BTreeSet<_>>();
    Chain {
        origin,
        downstream,
        forward: set(&[0, 1, 2, 3, 6, 7]),
        m1_rows: set(&[0, 1, 2, 3]),
        far_entry: ids[8].clone(),
        f,
    }
}

struct Download {
    status: StatusCode,
    content_type: String,
    disposition: String,
    body: Vec<u8>,
}

async fn download(f: &Field, path: &str, token: &str) -> Download {
    let res = f.s.get(path, token).await;
    let header = |h: &str| {
        res.headers()
            .get(h)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    let (content_type, disposition) = (header("content-type"), header("content-disposition"));
    Download {
        status: res.status(),
        content_type,
        disposition,
        body: res.bytes().await.unwrap().to_vec(),
    }
}

/// The CSV's records (header first) after its BOM.
fn csv_records(d: &Download) -> Vec<csv::StringRecord> {
    assert_eq!(
        d.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&d.body)
    );
    assert!(d.content_type.starts_with("text/csv"), "{}", d.content_type);
    assert!(
        d.body.starts_with(b"\xEF\xBB\xBF"),
        "CSV starts with the UTF-8 BOM"
    );
    csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(&d.body[3..])
        .records()
        .map(Result::unwrap)
        .collect()
}

fn column(records: &[csv::StringRecord], name: &str) -> usize {
    records[0]
        .iter()
        .position(|h| h.ends_with(&format!("/{name}")))
        .unwrap_or_else(|| panic!("no column {name} in {:?}", records[0]))
}

fn entry_ids(records: &[csv::StringRecord]) -> BTreeSet<String> {
    let c = column(records, "entry_id");
    records[1..].iter().map(|r| r[c].to_owned()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forward_trace_as_csv_has_the_bom_and_one_row_per_movement() {
    let c = chain().await;
    let f = &c.f;
    let d = download(
        f,
        &format!(
            "/v1/traces/{}/export?format=csv&direction=forward",
            c.origin
        ),
        &f.analyst,
    )
    .await;
    assert!(
        d.disposition
            .starts_with("attachment; filename=\"shian-trace-")
            && d.disposition
                .contains("filename*=UTF-8''%E8%BF%BD%E6%BA%AF-"),
        "{}",
        d.disposition
    );
    let records = csv_records(&d);
    assert_eq!(records.len(), 1 + 6, "{records:?}");
    assert_eq!(
        entry_ids(&records),
        c.forward,
        "the voided sale and the void are left out"
    );
    assert!(
        d.body.windows(2).any(|w| w == b"\r\n"),
        "RFC 4180 line ends"
    );
    let product = column(&records, "product");
    let event = column(&records, "event");
    let qty = column(&records, "quantity");
    let counterparty = column(&records, "counterparty");
    for r in &records[1..] {
        assert_eq!(
            &r[product], HARD_NAME,
            "quotes, comma and newline round-trip"
        );
    }
    let events: Vec<&str> = records[1..].iter().map(|r| &r[event]).collect();
    for e in [
        "purchase",
        "sale_merchant",
        "sale_retail",
        "destroyed",
        "sale_named",
    ] {
        assert!(events.contains(&e), "{e} in {events:?}");
    }
    let named = records[1..]
        .iter()
        .find(|r| &r[event] == "sale_named")
        .unwrap();
    assert_eq!(&named[qty], "1.25");
    assert_eq!(
        &named[counterparty], "'=HYPERLINK(\"x\") 食堂",
        "a formula typed as a name is never run by a spreadsheet"
    );
    let to_m2 = records[1..]
        .iter()
        .find(|r| &r[event] == "sale_merchant")
        .unwrap();
    assert_eq!(
        &to_m2[counterparty], "绿源蔬菜",
        "the buyer's registry name"
    );
    f.s.assert_healthy().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backward_trace_holds_the_chain_to_the_origin_and_xlsx_is_a_workbook() {
    let c = chain().await;
    let f = &c.f;
    let d = download(
        f,
        &format!(
            "/v1/traces/{}/export?format=csv&direction=backward",
            c.downstream
        ),
        &f.admin,
    )
    .await;
    let records = csv_records(&d);
    // m2's batch, and every movement of m1's batch it came from.
    assert_eq!(entry_ids(&records), c.forward);
    let x = download(
        f,
        &format!("/v1/traces/{}/export?format=xlsx", c.origin),
        &f.analyst,
    )
    .await;
    assert_eq!(x.status, StatusCode::OK);
    assert_eq!(
        x.content_type,
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    );
    assert!(x.body.starts_with(b"PK\x03\x04"), "a zip");
    assert!(x.disposition.contains(".xlsx"), "{}", x.disposition);
    f.s.assert_healthy().await;
}

fn epcis_validator() -> jsonschema::Validator {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/data/epcis/EPCIS-JSON-Schema.json"
    );
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    jsonschema::draft7::options()
        .should_validate_formats(true)
        .build(&schema)
        .unwrap()
}

fn schema_errors(v: &jsonschema::Validator, doc: &Value) -> Vec<String> {
    v.iter_errors(doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn epcis_exports_validate_against_gs1s_schema() {
    let c = chain().await;
    let f = &c.f;
    let v = epcis_validator();
    for (path, expected) in [
        (
            format!("/v1/traces/{}/export?format=epcis", c.origin),
            c.forward.len(),
        ),
        (
            format!("/v1/merchants/{}/export?format=epcis", f.m1),
            c.m1_rows.len(),
        ),
        (
            format!("/v1/markets/{}/export?format=epcis", f.market),
            c.forward.len(),
        ),
    ] {
        let d = download(f, &path, &f.analyst).await;
        assert_eq!(d.status, StatusCode::OK, "{path}");
        assert_eq!(d.content_type, "application/ld+json");
        let doc: Value = serde_json::from_slice(&d.body).unwrap();
        let errors = schema_errors(&v, &doc);
        assert!(errors.is_empty(), "{path}: {errors:#?}\n{doc:#}");
        let events = doc["epcisBody"]["eventList"].as_array().unwrap();
        assert_eq!(events.len(), expected, "{path}");
        for e in events {
            assert_eq!(e["type"], "ObjectEvent");
            assert_eq!(e["eventTimeZoneOffset"], "+08:00");
        }
        let receiving = events.iter().find(|e| e["bizStep"] == "receiving").unwrap();
        assert_eq!(receiving["action"], "ADD");
        assert!(receiving["ilmd"]["cbvmda:lotNumber"].is_string());
        // The voucher links the seller's shipping to the buyer's receipt.
        let shipping = events.iter().find(|e| e["bizStep"] == "shipping");
        if let Some(s) = shipping {
            assert_eq!(s["bizTransactionList"][0]["type"], "desadv");
        }
    }
    // The validator does refuse a broken event: the test can fail.
    let d = download(
        f,
        &format!("/v1/traces/{}/export?format=epcis", c.origin),
        &f.analyst,
    )
    .await;
    let mut doc: Value = serde_json::from_slice(&d.body).unwrap();
    doc["epcisBody"]["eventList"][0]
        .as_object_mut()
        .unwrap()
        .remove("eventTimeZoneOffset");
    doc["epcisBody"]["eventList"][1]["bizStep"] = json!("urn:epcglobal:cbv:bizstep:shipping");
    assert!(schema_errors(&v, &doc).len() >= 2);
    f.s.assert_healthy().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ledgers_of_a_merchant_and_a_market_by_their_days_and_their_callers() {
    let c = chain().await;
    let f = &c.f;
    let m1_csv = format!("/v1/merchants/{}/export?format=csv", f.m1);
    // The merchant itself, and a regulator.
    for token in [&f.m1_user, &f.analyst] {
        let records = csv_records(&download(f, &m1_csv, token).await);
        assert_eq!(entry_ids(&records), c.m1_rows);
    }
    let d = download(f, &m1_csv, &f.m1_user).await;
    assert!(
        d.disposition
            .contains("filename*=UTF-8''%E9%91%AB%E6%B5%B7"),
        "the merchant's name: {}",
        d.disposition
    );
    // Another merchant's ledger, an inspector, a market as a merchant.
    for (path, token) in [
        (m1_csv.clone(), &f.m2_user),
        (m1_csv.clone(), &f.insp1),
        (
            format!("/v1/markets/{}/export?format=csv", f.market),
            &f.m1_user,
        ),
        (
            format!("/v1/traces/{}/export?format=csv", c.origin),
            &f.m1_user,
        ),
    ] {
        expect_error(
            f.s.get(&path, token).await,
            StatusCode::FORBIDDEN,
            "forbidden",
        )
        .await;
    }
    // The market holds m1 and m2, not the merchant of another district.
    let market = csv_records(
        &download(
            f,
            &format!("/v1/markets/{}/export?format=csv", f.market),
            &f.analyst,
        )
        .await,
    );
    let ids = entry_ids(&market);
    assert_eq!(ids, c.forward);
    assert!(!ids.contains(&c.far_entry));
    // Days in China time: everything happened within the last few hours.
    let cst = chrono::FixedOffset::east_opt(8 * 3600).unwrap();
    let today = chrono::Utc::now().with_timezone(&cst).date_naive();
    let earliest = (chrono::Utc::now() - chrono::Duration::minutes(300))
        .with_timezone(&cst)
        .date_naive();
    let kept = csv_records(
        &download(
            f,
            &format!("{m1_csv}&from={earliest}&to={today}"),
            &f.analyst,
        )
        .await,
    );
    assert_eq!(entry_ids(&kept), c.m1_rows);
    let tomorrow = today.succ_opt().unwrap();
    let none = csv_records(&download(f, &format!("{m1_csv}&from={tomorrow}"), &f.analyst).await);
    assert_eq!(none.len(), 1, "the header alone");
    let before = earliest.pred_opt().unwrap();
    let none = csv_records(&download(f, &format!("{m1_csv}&to={before}"), &f.analyst).await);
    assert_eq!(none.len(), 1, "the header alone");
    f.s.assert_healthy().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_in_the_error_shape() {
    let c = chain().await;
    let f = &c.f;
    let t = &f.analyst;
    let trace = |q: &str| format!("/v1/traces/{}/export?{q}", c.origin);
    let cases: Vec<(String, StatusCode, &str, Option<&str>)> = vec![
        (
            trace("format=pdf"),
            StatusCode::BAD_REQUEST,
            "invalid_query",
            Some("format"),
        ),
        (trace(""), StatusCode::BAD_REQUEST, "invalid_query", None),
        (
            trace("format=csv&direction=sideways"),
            StatusCode::BAD_REQUEST,
            "invalid_query",
            Some("direction"),
        ),
        (
            trace("format=csv&limit=3"),
            StatusCode::BAD_REQUEST,
            "invalid_query",
            None,
        ),
        (
            format!("/v1/traces/{}/export?format=csv", code()),
            StatusCode::NOT_FOUND,
            "unknown_trace_code",
            Some("code"),
        ),
        (
            format!("/v1/traces/{}/export?format=csv", mistype(&c.origin)),
            StatusCode::UNPROCESSABLE_ENTITY,
            "code_check_mismatch",
            None,
        ),
        (
            "/v1/traces/short/export?format=csv".to_owned(),
            StatusCode::BAD_REQUEST,
            "invalid_code",
            None,
        ),
        (
            "/v1/merchants/no-such-merchant/export?format=csv".to_owned(),
            StatusCode::NOT_FOUND,
            "not_found",
            Some("id"),
        ),
        (
            "/v1/merchants/bad%20id/export?format=csv".to_owned(),
            StatusCode::BAD_REQUEST,
            "invalid_id",
            Some("id"),
        ),
        (
            "/v1/markets/no-such-market/export?format=xlsx".to_owned(),
            StatusCode::NOT_FOUND,
            "not_found",
            Some("id"),
        ),
        (
            format!("/v1/merchants/{}/export?format=csv&from=2026-13-01", f.m1),
            StatusCode::BAD_REQUEST,
            "invalid_date",
            Some("from"),
        ),
        (
            format!(
                "/v1/merchants/{}/export?format=csv&from=2026-12-02&to=2026-12-01",
                f.m1
            ),
            // Each date is well formed; only together they make no sense.
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_range",
            Some("to"),
        ),
    ];
    for (path, status, code, field) in cases {
        let v = expect_error(f.s.get(&path, t).await, status, code).await;
        if let Some(field) = field {
            assert_eq!(v["error"]["field"], field, "{path}: {v}");
        }
    }
    let res =
        f.s.http
            .get(f.s.url(&trace("format=csv")))
            .send()
            .await
            .unwrap();
    expect_error(res, StatusCode::UNAUTHORIZED, "missing_token").await;
    f.s.assert_healthy().await;
}

/// A code of the right shape whose check character is wrong (a typo).
fn mistype(code: &str) -> String {
    let mut c: Vec<char> = code.chars().collect();
    c[3] = if c[3] == '7' { '8' } else { '7' };
    c.into_iter().collect()
}

/// More rows than one page of the store's read (2,000): every row arrives,
/// in order, none twice, in every format.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_longer_than_a_page_loses_no_row() {
    let f = Field::start().await;
    let batch = code();
    let t0 = chrono::Utc::now() - chrono::Duration::hours(10);
    let at = |i: i64| (t0 + chrono::Duration::seconds(i)).to_rfc3339();
    let mut events = vec![LedgerEvent::parse(
        "ledger.purchase",
        &json!({"entry_id": uuid(), "merchant_id": f.m1,
                "product": {"name": "冻鸡翅", "category": "poultry"},
                "quantity": {"value": "5000", "unit": "piece"}, "supplier": {"name": "某禽业"},
                "trace_code": batch, "received_at": at(0)}),
    )
    .unwrap()];
    const SALES: i64 = 4_100;
    for i in 1..=SALES {
        events.push(
            LedgerEvent::parse(
                "ledger.sale",
                &json!({"entry_id": uuid(), "merchant_id": f.m1, "trace_code": batch,
                        "quantity": {"value": "1", "unit": "piece"}, "buyer": {"retail": true},
                        "sold_at": at(i)}),
            )
            .unwrap(),
        );
    }
    let expected: Vec<String> = events.iter().map(|e| e.entry_id().to_string()).collect();
    let counts =
        f.s.store
            .load_ledger(Box::new(events.into_iter()))
            .await
            .unwrap();
    assert_eq!(counts.refused, 0);
    let records = csv_records(
        &download(
            &f,
            &format!("/v1/traces/{batch}/export?format=csv"),
            &f.analyst,
        )
        .await,
    );
    let c = column(&records, "entry_id");
    let got: Vec<String> = records[1..].iter().map(|r| r[c].to_owned()).collect();
    assert_eq!(got, expected, "every row, in acceptance order");
    let d = download(
        &f,
        &format!("/v1/merchants/{}/export?format=epcis", f.m1),
        &f.analyst,
    )
    .await;
    let doc: Value = serde_json::from_slice(&d.body).unwrap();
    assert_eq!(
        doc["epcisBody"]["eventList"].as_array().unwrap().len(),
        expected.len()
    );
    f.s.assert_healthy().await;
}

// --- the console's export jobs -------------------------------------------

fn no_redirect() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn header_of(res: &reqwest::Response, name: &str) -> String {
    res.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned()
}

/// Logs in through the browser form; the `Cookie` header to send.
async fn browser_login(f: &Field, username: &str) -> String {
    let res = no_redirect()
        .post(f.s.url("/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "username={}&password={}&next=%2Fconsole",
            enc(username),
            enc(field_common::PW)
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    header_of(&res, "set-cookie")
        .split(';')
        .next()
        .unwrap()
        .to_owned()
}

async fn page(f: &Field, path: &str, cookie: &str) -> reqwest::Response {
    no_redirect()
        .get(f.s.url(path))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
}

async fn post_form(f: &Field, cookie: &str, body: &str) -> reqwest::Response {
    no_redirect()
        .post(f.s.url("/console/exports"))
        .header("cookie", cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.to_owned())
        .send()
        .await
        .unwrap()
}

/// Waits for the job to leave `running` (the task is real; this only polls
/// its state, it asserts nothing about how long it took).
async fn finished(f: &Field, job: &str, cookie: &str) -> Value {
    loop {
        let v: Value = page(f, &format!("{job}.json"), cookie)
            .await
            .json()
            .await
            .unwrap();
        if v["status"] != "running" {
            return v;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_console_export_job_shows_progress_and_gives_the_file_to_its_session_only() {
    let c = chain().await;
    let f = &c.f;
    let cookie = browser_login(f, "analyst").await;
    let list = page(f, "/console/exports", &cookie).await;
    assert_eq!(list.status(), StatusCode::OK);
    let html = list.text().await.unwrap();
    assert!(html.contains("暂无导出任务"), "{html}");
    let csrf = csrf_of(&html);

    // Without the session's token nothing starts.
    let form = format!("what=trace&id={}&direction=forward&format=csv", c.origin);
    for bad in [String::new(), format!("csrf={}&", "0".repeat(64))] {
        let res = post_form(f, &cookie, &format!("{bad}{form}")).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
    }
    let html = page(f, "/console/exports", &cookie)
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("暂无导出任务"), "no job was made: {html}");

    // An unknown code is said on a page, and starts nothing.
    let res = post_form(
        f,
        &cookie,
        &format!("csrf={csrf}&what=trace&id={}&format=csv", code()),
    )
    .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert!(res.text().await.unwrap().contains("不存在"));

    let res = post_form(f, &cookie, &format!("csrf={csrf}&{form}")).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let job = header_of(&res, "location");
    assert!(job.starts_with("/console/exports/"), "{job}");
    let progress = page(f, &job, &cookie).await.text().await.unwrap();
    assert!(
        progress.contains("<progress id=\"export-progress\""),
        "{progress}"
    );
    let state = finished(f, &job, &cookie).await;
    assert_eq!(state["status"], "done", "{state}");
    assert_eq!(state["rows"], 6);
    assert_eq!(state["total"], 6);
    let done = page(f, &job, &cookie).await.text().await.unwrap();
    assert!(done.contains("已完成：共 6 行"), "{done}");
    assert!(
        !done.contains("http-equiv=\"refresh\""),
        "no refresh once done"
    );

    let file = page(f, &format!("{job}/file"), &cookie).await;
    assert_eq!(file.status(), StatusCode::OK);
    assert!(header_of(&file, "content-disposition").contains("filename*=UTF-8''"));
    let body = file.bytes().await.unwrap();
    let records = csv_records(&Download {
        status: StatusCode::OK,
        content_type: "text/csv".into(),
        disposition: String::new(),
        body: body.to_vec(),
    });
    assert_eq!(entry_ids(&records), c.forward);

    // XLSX and EPCIS jobs run the same way.
    for format in ["xlsx", "epcis"] {
        let res = post_form(
            f,
            &cookie,
            &format!("csrf={csrf}&what=merchant&id={}&format={format}", f.m1),
        )
        .await;
        let job = header_of(&res, "location");
        assert_eq!(finished(f, &job, &cookie).await["status"], "done");
        let body = page(f, &format!("{job}/file"), &cookie)
            .await
            .bytes()
            .await
            .unwrap();
        if format == "xlsx" {
            assert!(body.starts_with(b"PK\x03\x04"));
        } else {
            let doc: Value = serde_json::from_slice(&body).unwrap();
            assert!(schema_errors(&epcis_validator(), &doc).is_empty());
        }
    }
    let html = page(f, "/console/exports", &cookie)
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(html.matches("/file\">下载</a>").count(), 3, "{html}");

    // Another analyst's session sees none of it.
    f.s.user(
        "analyst2",
        field_common::PW,
        shian_server::store::Role::Analyst,
        None,
        &[],
    )
    .await;
    let other = browser_login(f, "analyst2").await;
    for path in [job.clone(), format!("{job}.json"), format!("{job}/file")] {
        assert_eq!(
            page(f, &path, &other).await.status(),
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
    let html = page(f, "/console/exports", &other)
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("暂无导出任务"));
    // And a merchant does not enter the console.
    let shop = browser_login(f, "shop1").await;
    assert_eq!(
        page(f, "/console/exports", &shop).await.status(),
        StatusCode::FORBIDDEN
    );
    f.s.assert_healthy().await;
}

/// Every schema the export routes' OpenAPI names is in the document
/// (schemathesis refused the three routes when `Format` was a dangling
/// reference).
#[test]
fn the_export_routes_openapi_references_resolve() {
    let doc = serde_json::to_value(shian_server::openapi_doc()).unwrap();
    let schemas = &doc["components"]["schemas"];
    for path in [
        "/v1/traces/{code}/export",
        "/v1/merchants/{id}/export",
        "/v1/markets/{id}/export",
    ] {
        let op = &doc["paths"][path]["get"];
        assert!(op.is_object(), "{path} is documented");
        let text = op.to_string();
        for r in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
            let name = &r[..r.find('"').unwrap()];
            assert!(
                schemas.get(name).is_some(),
                "{path}: {name} is not in the document"
            );
        }
        let params = op["parameters"].to_string();
        assert!(
            params.contains("\"csv\"") && params.contains("\"epcis\""),
            "{path}: {params}"
        );
    }
}
