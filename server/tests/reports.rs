//! Anonymous reports (吹哨人) against the real server on loopback: the
//! receipt, wrong and mistyped receipts, the per-address limit, messages
//! both ways, photos, HTML injection on every page, the analysts' flow to
//! the inspector's phone, and the deadline flags.

mod common;

use std::time::Duration;

use chrono::Days;
use common::{expect_error, TestServer};
use image::{ImageEncoder, Rgb, RgbImage};
use reqwest::StatusCode;
use serde_json::{json, Value};
use shian_server::reports::receipt;
use shian_server::store::reports::NewReport;
use shian_server::store::Role;
use shian_server::Config;

const ALPHABET: &str = "0123456789ABCDEFGHJKMNPQRSTVWXY";

async fn server() -> TestServer {
    TestServer::start_with(Config {
        report_rate_burst: 10_000,
        ..Config::default()
    })
    .await
}

async fn file(s: &TestServer, body: Value) -> reqwest::Response {
    s.http
        .post(s.url("/v1/reports"))
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn file_ok(s: &TestServer, description: &str) -> String {
    let res = file(
        s,
        json!({"category": "expired_food", "description": description, "location": "B 区 12 号"}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let v: Value = res.json().await.unwrap();
    v["receipt"].as_str().unwrap().to_owned()
}

async fn open(s: &TestServer, receipt: &str) -> reqwest::Response {
    s.http
        .get(s.url(&format!("/v1/reports/{receipt}")))
        .send()
        .await
        .unwrap()
}

/// Swaps one symbol of a receipt for another: the check catches it.
fn mistype(receipt: &str, at: usize) -> String {
    let mut b = receipt.as_bytes().to_vec();
    let i = if b[at] == b'-' { at + 1 } else { at };
    b[i] = if b[i] == b'7' { b'8' } else { b'7' };
    String::from_utf8(b).unwrap()
}

/// A well-formed receipt (its check symbol right) that no report has.
fn unknown_receipt() -> String {
    receipt::grouped(&receipt::new_receipt().unwrap())
}

#[tokio::test]
async fn a_receipt_is_twenty_symbols_in_four_groups_with_a_check_and_opens_in_any_typed_form() {
    let s = server().await;
    let mut seen = std::collections::HashSet::new();
    for i in 0..12 {
        let r = file_ok(&s, &format!("冷柜里的酸奶已过期三天仍在销售 {i}")).await;
        let groups: Vec<&str> = r.split('-').collect();
        assert_eq!(groups.len(), 4, "{r}");
        assert!(groups.iter().all(|g| g.len() == 5), "{r}");
        assert!(
            r.chars()
                .filter(|c| *c != '-')
                .all(|c| ALPHABET.contains(c)),
            "{r}"
        );
        assert!(seen.insert(r.clone()), "receipts repeat");
    }
    // 19 random symbols of 31: log2(31^19) ≈ 94 bits.
    assert!(19.0 * 31f64.log2() >= 80.0);
    let r = seen.iter().next().unwrap().clone();
    let ungrouped = r.replace('-', "").to_lowercase();
    let wide: String = r
        .chars()
        .map(|c| char::from_u32(c as u32 + 0xFEE0).unwrap())
        .collect();
    for typed in [r.clone(), ungrouped, r.replace('-', "%20"), wide] {
        let res = open(&s, &typed).await;
        assert_eq!(res.status(), StatusCode::OK, "{typed}");
        assert_eq!(res.headers()["cache-control"], "no-store");
        let v: Value = res.json().await.unwrap();
        assert_eq!(v["status"], "received");
        assert_eq!(v["category"], "expired_food");
        assert_eq!(v["deadlines"]["acknowledge"]["state"], "pending");
    }
}

#[tokio::test]
async fn a_mistyped_receipt_is_422_and_a_wrong_one_404() {
    let s = server().await;
    let r = file_ok(&s, "夜间有无标签冻品从后门卸货").await;
    for at in [0, 7, 22] {
        let body = expect_error(
            open(&s, &mistype(&r, at)).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "receipt_check_mismatch",
        )
        .await;
        assert_eq!(body["error"]["field"], "receipt");
    }
    expect_error(
        open(&s, "ABCDE").await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_receipt",
    )
    .await;
    expect_error(
        open(&s, &unknown_receipt()).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    // The same answer for a message or photo to a receipt that opens nothing.
    let res = s
        .http
        .post(s.url(&format!("/v1/reports/{}/messages", unknown_receipt())))
        .json(&json!({"body": "补充"}))
        .send()
        .await
        .unwrap();
    expect_error(res, StatusCode::NOT_FOUND, "not_found").await;
}

#[tokio::test]
async fn many_guesses_from_one_address_are_refused_with_retry_after() {
    let s = TestServer::start_with(Config {
        report_rate_burst: 5,
        report_rate_period: Duration::from_secs(60),
        ..Config::default()
    })
    .await;
    let mut statuses = Vec::new();
    for _ in 0..8 {
        statuses.push(open(&s, &unknown_receipt()).await);
    }
    let refused: Vec<_> = statuses
        .into_iter()
        .filter(|r| r.status() == StatusCode::TOO_MANY_REQUESTS)
        .collect();
    assert_eq!(refused.len(), 3, "five guesses, then refused");
    let last = refused.into_iter().last().unwrap();
    let wait: u64 = last.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(wait >= 1);
    expect_error(last, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    // Filing shares the bucket: a script cannot file its way around it.
    let res = file(
        &s,
        json!({"category": "hygiene", "description": "后厨地面积水且有老鼠出没"}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn bad_reports_are_refused_and_store_nothing() {
    let s = server().await;
    let cases = [
        (
            json!({"category": "gossip", "description": "冷柜里的酸奶已过期三天"}),
            "invalid_category",
            "category",
        ),
        (
            json!({"category": "hygiene", "description": "太短"}),
            "too_short",
            "description",
        ),
        (
            json!({"category": "hygiene", "description": "冷柜里的酸奶已过期三天", "occurred_at": "2999-01-01"}),
            "date_in_future",
            "occurred_at",
        ),
        (
            json!({"category": "hygiene", "description": "冷柜里的酸奶已过期三天", "occurred_at": "yesterday"}),
            "invalid_date",
            "occurred_at",
        ),
        (
            json!({"category": "hygiene", "description": "冷柜里的酸奶已过期三天", "merchant_ref": "0123456789ABCDEF"}),
            "invalid_shop_code",
            "merchant_ref",
        ),
        (
            json!({"category": "hygiene", "description": "冷柜里的酸奶已过期三天\u{0007}"}),
            "invalid_characters",
            "description",
        ),
    ];
    for (body, code, field) in cases {
        let v = expect_error(file(&s, body).await, StatusCode::UNPROCESSABLE_ENTITY, code).await;
        assert_eq!(v["error"]["field"], field);
    }
    let res = file(
        &s,
        json!({"category": "hygiene", "description": "冷柜里的酸奶已过期三天", "name": "张三"}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST, "no field for a name");
    let admin = s.admin().await;
    let list: Value = s.get("/v1/reports", &admin).await.json().await.unwrap();
    assert_eq!(list["total"], 0);
}

fn jpeg(w: u32, h: u32) -> Vec<u8> {
    let img = RgbImage::from_fn(w, h, |x, y| Rgb([(x * 7) as u8, (y * 5) as u8, 90]));
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90)
        .write_image(img.as_raw(), w, h, image::ExtendedColorType::Rgb8)
        .unwrap();
    out
}

const SECRET: &[u8] = b"GPS 24.4798N 118.0894E camera SN-0042-REPORTER";

/// A JPEG with an APP1 Exif segment carrying `SECRET`, as phones write.
fn jpeg_with_exif(w: u32, h: u32) -> Vec<u8> {
    let plain = jpeg(w, h);
    let mut tiff = vec![b'I', b'I', 42, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    tiff.extend_from_slice(SECRET);
    let mut seg = b"Exif\0\0".to_vec();
    seg.extend_from_slice(&tiff);
    let len = (seg.len() + 2) as u16;
    let mut out = plain[..2].to_vec();
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&seg);
    out.extend_from_slice(&plain[2..]);
    out
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

async fn post_photo(s: &TestServer, receipt: &str, bytes: Vec<u8>) -> reqwest::Response {
    s.http
        .post(s.url(&format!("/v1/reports/{receipt}/photos")))
        .header("content-type", "image/jpeg")
        .body(bytes)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn photos_are_images_only_size_limited_and_come_back_without_exif() {
    let s = server().await;
    let r = file_ok(&s, "摊位上的冻肉没有检疫证明").await;
    expect_error(
        post_photo(&s, &r, vec![0u8; 5 * 1024 * 1024 + 1]).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
    )
    .await;
    expect_error(
        post_photo(
            &s,
            &r,
            b"<svg xmlns='http://www.w3.org/2000/svg'/>".to_vec(),
        )
        .await,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "not_an_image",
    )
    .await;
    let dirty = jpeg_with_exif(40, 30);
    assert!(contains(&dirty, SECRET) && contains(&dirty, b"Exif"));
    let res = post_photo(&s, &r, dirty).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["photos"], 1);

    let admin = s.admin().await;
    let list: Value = s.get("/v1/reports", &admin).await.json().await.unwrap();
    let id = list["reports"][0]["id"].as_str().unwrap().to_owned();
    let one: Value = s
        .get(&format!("/v1/handler/reports/{id}"), &admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(one["photos"][0]["width"], 40);
    let res = s
        .get(&format!("/v1/handler/reports/{id}/photos/1"), &admin)
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "image/jpeg");
    let clean = res.bytes().await.unwrap();
    assert!(clean.starts_with(&[0xFF, 0xD8]), "a JPEG");
    assert!(!contains(&clean, SECRET), "the secret is gone");
    assert!(!contains(&clean, b"Exif"), "no Exif segment");
    // The reporter cannot read photos back by id (no receipt there).
    let res = s
        .http
        .get(s.url(&format!("/v1/handler/reports/{id}/photos/1")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

async fn page_post(s: &TestServer, path: &str, form: &[(&str, &str)]) -> (StatusCode, String) {
    let res = s.http.post(s.url(path)).form(form).send().await.unwrap();
    (res.status(), res.text().await.unwrap())
}

async fn page_get(s: &TestServer, path: &str, token: &str) -> (StatusCode, String) {
    let res = s
        .http
        .get(s.url(path))
        .header("cookie", format!("shian_session={token}"))
        .send()
        .await
        .unwrap();
    (res.status(), res.text().await.unwrap())
}

/// A `multipart/form-data` body as a browser sends the H5 form.
async fn multipart(
    s: &TestServer,
    path: &str,
    fields: &[(&str, &str)],
    photo: Option<Vec<u8>>,
) -> reqwest::Response {
    let boundary = "----shianTestBoundary7MA4YWxkTrZu0gW";
    let mut body = Vec::new();
    for (k, v) in fields {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n")
                .as_bytes(),
        );
    }
    if let Some(p) = photo {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"photo\"; filename=\"a.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n")
                .as_bytes(),
        );
        body.extend_from_slice(&p);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    s.http
        .post(s.url(path))
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(body)
        .send()
        .await
        .unwrap()
}

const EVIL: &str = "<script>alert('x')</script><img src=x onerror=alert(1)>";

fn escaped(html: &str) -> bool {
    // askama writes `<` as `&#60;`.
    !html.contains("<script>alert")
        && !html.contains("<img src=x")
        && html.contains("&#60;script&#62;alert(&#39;x&#39;)")
}

#[tokio::test]
async fn html_in_descriptions_and_messages_is_escaped_on_every_page() {
    let s = server().await;
    let description = format!("后门卸货无标签冻品 {EVIL}");
    let res = file(
        &s,
        json!({"category": "unknown_origin", "description": description, "location": EVIL}),
    )
    .await;
    let r: Value = res.json().await.unwrap();
    let r = r["receipt"].as_str().unwrap().to_owned();
    let res = s
        .http
        .post(s.url(&format!("/v1/reports/{r}/messages")))
        .json(&json!({"body": EVIL}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);

    // The reporter's follow-up page.
    let (status, html) = page_post(&s, "/report/follow", &[("receipt", &r)]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(escaped(&html), "follow page: {html}");
    // The form page after a refusal echoes what was typed, escaped.
    let (status, html) = page_post(&s, "/report/follow", &[("receipt", EVIL)]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(!html.contains("<script>alert"), "{html}");

    // The handler's list and report pages.
    let admin = s.admin().await;
    let (status, html) = page_get(&s, "/handler/reports", &admin).await;
    assert_eq!(status, StatusCode::OK);
    assert!(escaped(&html), "list: {html}");
    let list: Value = s.get("/v1/reports", &admin).await.json().await.unwrap();
    let id = list["reports"][0]["id"].as_str().unwrap().to_owned();
    let res = s
        .http
        .post(s.url(&format!("/handler/reports/{id}/reply")))
        .header("cookie", format!("shian_session={admin}"))
        .form(&[("body", EVIL)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK, "followed the 303");
    let html = res.text().await.unwrap();
    assert!(escaped(&html), "report page: {html}");
    // And the reporter sees the handler's (escaped) answer.
    let (_, html) = page_post(&s, "/report/follow", &[("receipt", &r)]).await;
    assert!(html.contains("处理人员") && escaped(&html));
}

#[tokio::test]
async fn the_report_form_page_files_a_report_and_shows_the_receipt_once() {
    let s = server().await;
    let (status, html) = page_get(&s, "/report", "").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("enctype=\"multipart/form-data\""));
    let res = multipart(
        &s,
        "/report",
        &[
            ("category", "hygiene"),
            ("description", "后厨地面积水且有老鼠出没，已多日"),
            ("merchant_ref", ""),
            ("location", ""),
            ("occurred_at", ""),
        ],
        Some(jpeg_with_exif(20, 20)),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["cache-control"], "no-store");
    assert_eq!(res.headers()["referrer-policy"], "no-referrer");
    let html = res.text().await.unwrap();
    assert!(html.contains("请立即保存此回执码"));
    assert!(
        html.contains("required"),
        "the onward form needs the checkbox"
    );
    let re = regex::Regex::new(
        r#"<div class="receipt" id="receipt">((?:<span>[0-9A-Z]{5}</span>(?:<br>)?){4})</div>"#,
    )
    .unwrap();
    let groups = re.captures(&html).expect("the receipt, grouped")[1]
        .replace("<span>", "")
        .replace("<br>", "")
        .replace("</span>", "-");
    let receipt = groups.trim_end_matches('-').to_owned();
    assert!(html.contains("download=\"举报回执码.txt\""));
    let v: Value = open(&s, &receipt).await.json().await.unwrap();
    assert_eq!(v["photos"], 1);
    // A refused form keeps what was typed and says why.
    let res = multipart(
        &s,
        "/report",
        &[("category", "hygiene"), ("description", "太短")],
        None,
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.text().await.unwrap().contains("太短"));
}

#[tokio::test]
async fn analysts_acknowledge_reply_assign_to_the_inspectors_phone_and_close() {
    let s = server().await;
    let r = file_ok(&s, "冷柜里的酸奶已过期三天仍在销售").await;
    let admin = s.admin().await;
    s.user("ana", "analyst-pass-1", Role::Analyst, None, &[])
        .await;
    let analyst = s.token("ana", "analyst-pass-1").await;
    let insp = s
        .user(
            "insp",
            "inspector-pass-1",
            Role::Inspector,
            None,
            &["350203"],
        )
        .await;
    let inspector = s.token("insp", "inspector-pass-1").await;
    // Only handlers list reports.
    expect_error(
        s.get("/v1/reports", &inspector).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    let list: Value = s
        .get("/v1/reports?status=received", &analyst)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["total"], 1);
    assert_eq!(list["warnings"], 0);
    let id = list["reports"][0]["id"].as_str().unwrap().to_owned();
    let path = |a: &str| format!("/v1/handler/reports/{id}/{a}");

    let v: Value = s
        .post(
            &path("triage"),
            &analyst,
            json!({"status": "acknowledged", "priority": "high"}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["status"], "acknowledged");
    assert_eq!(v["priority"], "high");
    assert_eq!(v["deadlines"]["acknowledge"]["state"], "met");
    expect_error(
        s.post(&path("triage"), &analyst, json!({"status": "received"}))
            .await,
        StatusCode::CONFLICT,
        "invalid_transition",
    )
    .await;

    let res = s
        .post(
            &path("reply"),
            &analyst,
            json!({"body": "已收到，我们会安排检查。"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let mine: Value = open(&s, &r).await.json().await.unwrap();
    assert_eq!(mine["messages"][0]["from"], "handler");
    assert_eq!(mine["deadlines"]["feedback"]["state"], "met");
    let res = s
        .http
        .post(s.url(&format!("/v1/reports/{r}/messages")))
        .json(&json!({"body": "另外，下午三点也有。"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let v: Value = s
        .get(&format!("/v1/handler/reports/{id}"), &analyst)
        .await
        .json()
        .await
        .unwrap();
    let from: Vec<&str> = v["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["from"].as_str().unwrap())
        .collect();
    assert_eq!(from, ["handler", "reporter"]);

    expect_error(
        s.post(
            &path("assign"),
            &analyst,
            json!({"inspector_id": "no-such-user"}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "not_an_inspector",
    )
    .await;
    let v: Value = s
        .post(&path("assign"), &analyst, json!({"inspector_id": insp}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["status"], "investigating");
    assert_eq!(v["assigned_to"], insp.as_str());
    // The inspector's phone pulls the task.
    let feed: Value = s
        .get("/v1/sync/pull", &inspector)
        .await
        .json()
        .await
        .unwrap();
    let tasks: Vec<&Value> = feed["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["kind"] == "task" && c["payload"]["source"] == "report")
        .collect();
    assert_eq!(tasks.len(), 1, "{feed}");
    assert_eq!(tasks[0]["payload"]["report_id"], id.as_str());
    assert_eq!(
        tasks[0]["payload"]["description"],
        "冷柜里的酸奶已过期三天仍在销售"
    );
    assert_eq!(tasks[0]["payload"]["inspectors"][0], insp.as_str());
    // Another inspector's phone does not.
    s.user(
        "other",
        "inspector-pass-2",
        Role::Inspector,
        None,
        &["350203"],
    )
    .await;
    let other = s.token("other", "inspector-pass-2").await;
    let feed: Value = s.get("/v1/sync/pull", &other).await.json().await.unwrap();
    assert!(!feed["changes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["payload"]["source"] == "report"));

    let v: Value = s
        .post(
            &path("close"),
            &admin,
            json!({"note": "已现场检查，过期酸奶已下架并立案。"}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["status"], "closed");
    let mine: Value = open(&s, &r).await.json().await.unwrap();
    assert_eq!(mine["status"], "closed");
    assert_eq!(
        mine["messages"][2]["body"],
        "已现场检查，过期酸奶已下架并立案。"
    );
    let res = s
        .http
        .post(s.url(&format!("/v1/reports/{r}/messages")))
        .json(&json!({"body": "谢谢"}))
        .send()
        .await
        .unwrap();
    expect_error(res, StatusCode::CONFLICT, "report_closed").await;
    expect_error(
        s.post(&path("reply"), &analyst, json!({"body": "再补一句"}))
            .await,
        StatusCode::CONFLICT,
        "report_closed",
    )
    .await;
}

#[tokio::test]
async fn overdue_and_due_soon_deadlines_are_flagged() {
    let s = server().await;
    let today = shian_server::reports::service::today();
    // Reports filed 10 and 6 days ago, stored as the server stores them.
    for (days, text) in [(10, "十天前的举报"), (6, "六天前的举报")] {
        let r = receipt::new_receipt().unwrap();
        s.store
            .create_report(NewReport {
                id: format!("{days:032x}"),
                receipt_hash: s.state.receipts.hash(&r).unwrap(),
                category: "hygiene".into(),
                description: text.into(),
                merchant_ref: None,
                merchant_id: None,
                location: None,
                occurred_on: None,
                received_on: today.checked_sub_days(Days::new(days)).unwrap(),
                photos: Vec::new(),
            })
            .await
            .unwrap();
    }
    file_ok(&s, "今天的举报，尚未到期").await;
    let admin = s.admin().await;
    let list: Value = s.get("/v1/reports", &admin).await.json().await.unwrap();
    assert_eq!(list["total"], 3);
    assert_eq!(list["warnings"], 2);
    let state = |d: &str| {
        list["reports"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["description"] == d)
            .unwrap()["deadlines"]["acknowledge"]
            .clone()
    };
    assert_eq!(state("十天前的举报")["state"], "overdue");
    assert_eq!(state("六天前的举报")["state"], "due_soon");
    assert_eq!(state("今天的举报，尚未到期")["state"], "pending");
    assert_eq!(state("十天前的举报")["warn"], true);
    let (status, html) = page_get(&s, "/handler/reports", &admin).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("已逾期") && html.contains("即将到期"),
        "{html}"
    );
    assert!(html.contains("2 件即将到期或已逾期"));
    // Without a session the handler pages send the browser to the login
    // form (reqwest follows the 303).
    let (status, html) = page_get(&s, "/handler/reports", "not-a-token").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("name=\"username\""), "{html}");
    assert!(!html.contains("十天前的举报"), "{html}");
}
