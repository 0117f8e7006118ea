//! Consumer ratings and complaints (issue 12, item 4) on a real server over
//! a real SQLite file: the aggregate on the shop page and its JSON twin, a
//! complaint routed by sync to its district's inspectors and no one else,
//! the 12315 deadline kept or missed, the risk grade, bad input that stores
//! nothing, the per-address limit with nothing of the sender stored, and
//! complaint text escaped on every page.

mod common;
mod field_common;

use std::time::Duration;

use chrono::{Duration as Days, FixedOffset, Utc};
use field_common::{accepted, inspection, now_cn, op, rejected, sha256_hex, Failures, PW};
use image::{ImageEncoder, Rgb, RgbImage};
use reqwest::StatusCode;
use serde_json::{json, Value};
use shian_server::store::Role;
use shian_server::Config;

use common::{contains, expect_error, uscc, TestServer};

const UA: &str = "feedback-test-agent/1.0 (UA-SECRET-7f3a91)";
const FORWARDED: &str = "203.0.113.77";
const SCRIPT: &str = "<script>alert('x')</script> 鱼不新鲜";
const EXIF_SECRET: &[u8] = b"GPS 24.4798N 118.0894E SN-0042-SECRET";

struct Env {
    s: TestServer,
    admin: String,
    analyst: String,
    /// An inspector of 350203 and one of 350206.
    near: String,
    far: String,
    /// The two inspectors of 350203, by id.
    near_ids: [String; 2],
    /// m1's own merchant account.
    m1_user: String,
    m1: String,
    code1: String,
    /// A shop in 350206.
    code_far: String,
}

async fn merchant(s: &TestServer, admin: &str, body: Value) -> (String, String) {
    let res = s.post("/v1/merchants", admin, body).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let v: Value = res.json().await.unwrap();
    (
        v["id"].as_str().unwrap().to_owned(),
        v["shop_code"].as_str().unwrap().to_owned(),
    )
}

async fn env_with(burst: u32) -> Env {
    let s = TestServer::start_with(Config {
        // Room for a photo beyond the photo limit, to reach `photo::clean`.
        body_limit: 16 * 1024 * 1024,
        feedback_rate_burst: burst,
        feedback_rate_period: Duration::from_secs(3600),
        ..Config::default()
    })
    .await;
    let admin = s.admin().await;
    let market = s.create_market(&admin).await;
    let (m1, code1) = merchant(
        &s,
        &admin,
        json!({"market_id": market, "name": "鑫海冻品", "uscc": uscc("9235020300000001"),
               "categories": ["livestock_meat", "frozen"], "stall": "A-01"}),
    )
    .await;
    let (_, code_far) = merchant(
        &s,
        &admin,
        json!({"name": "湖里海鲜", "uscc": uscc("9235020600000003"), "region_code": "350206",
               "categories": ["aquatic"]}),
    )
    .await;
    let near_a = s
        .user("insp_near", PW, Role::Inspector, None, &["350203"])
        .await;
    let near_b = s
        .user("insp_near2", PW, Role::Inspector, None, &["350203"])
        .await;
    s.user("insp_far", PW, Role::Inspector, None, &["350206"])
        .await;
    s.user("analyst", PW, Role::Analyst, None, &[]).await;
    s.user("shop1", PW, Role::Merchant, Some(&m1), &[]).await;
    Env {
        near: s.token("insp_near", PW).await,
        far: s.token("insp_far", PW).await,
        analyst: s.token("analyst", PW).await,
        m1_user: s.token("shop1", PW).await,
        near_ids: [near_a, near_b],
        s,
        admin,
        m1,
        code1,
        code_far,
    }
}

async fn env() -> Env {
    env_with(1000).await
}

impl Env {
    async fn rate(&self, code: &str, h: &str, f: &str, p: &str) -> reqwest::Response {
        self.s
            .http
            .post(self.s.url(&format!("/v1/public/shops/{code}/ratings")))
            .header("user-agent", UA)
            .header("x-forwarded-for", FORWARDED)
            .json(&json!({"hygiene": h, "freshness": f, "price_honesty": p}))
            .send()
            .await
            .unwrap()
    }

    async fn complain(&self, code: &str, body: Value) -> reqwest::Response {
        self.s
            .http
            .post(self.s.url(&format!("/v1/public/shops/{code}/complaints")))
            .header("user-agent", UA)
            .header("x-forwarded-for", FORWARDED)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// Files a complaint about m1 and returns its id.
    async fn complaint(&self, text: &str) -> String {
        let res = self
            .complain(
                &self.code1,
                json!({"category": "foreign_matter", "text": text}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::CREATED);
        let v: Value = res.json().await.unwrap();
        v["complaint_id"].as_str().unwrap().to_owned()
    }

    async fn page(&self, path: &str) -> (StatusCode, String) {
        let res = self.s.http.get(self.s.url(path)).send().await.unwrap();
        (res.status(), res.text().await.unwrap())
    }

    async fn push1(&self, token: &str, op: Value) -> Value {
        let device = format!("phone-{}", &sha256_hex(token.as_bytes())[..16]);
        let res = self
            .s
            .post(
                "/v1/sync/push",
                token,
                json!({"device_id": device, "ops": [op]}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::OK);
        let mut v: Value = res.json().await.unwrap();
        v["results"][0].take()
    }

    async fn pulled(&self, token: &str, kind: &str) -> Vec<Value> {
        let v: Value = self
            .s
            .get("/v1/sync/pull", token)
            .await
            .json()
            .await
            .unwrap();
        v["changes"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["kind"] == kind)
            .map(|c| c["payload"].clone())
            .collect()
    }

    fn stored(&self) -> [i64; 4] {
        [
            self.s.count("SELECT COUNT(*) FROM ratings"),
            self.s.count("SELECT COUNT(*) FROM complaints"),
            self.s.count("SELECT COUNT(*) FROM attachments"),
            self.s
                .count("SELECT COUNT(*) FROM changes WHERE kind LIKE 'complaint.%'"),
        ]
    }

    async fn list(&self, query: &str) -> Value {
        let res = self
            .s
            .get(&format!("/v1/complaints{query}"), &self.analyst)
            .await;
        assert_eq!(res.status(), StatusCode::OK);
        res.json().await.unwrap()
    }

    /// A compliant routine inspection of m1, so that its grade is made of
    /// what happened (a merchant never inspected gets a score scaled from
    /// its static one instead).
    async fn inspect_m1(&self) {
        let v: Value = self
            .s
            .get("/v1/checklists", &self.near)
            .await
            .json()
            .await
            .unwrap();
        let t = v["templates"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["id"] == "food_sales_daily")
            .unwrap()
            .clone();
        let photo = jpeg(8, 8);
        let sha = sha256_hex(&photo);
        let res = self
            .s
            .http
            .put(self.s.url(&format!("/v1/attachments/{sha}")))
            .bearer_auth(&self.near)
            .header("content-type", "image/jpeg")
            .body(photo)
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success());
        let ids = [self.near_ids[0].as_str(), self.near_ids[1].as_str()];
        let payload = inspection(&t, &self.m1, &ids, Failures::default(), &sha, "compliant");
        accepted(
            &self
                .push1(&self.near, op("inspection.record", payload))
                .await,
        );
    }

    async fn dynamic_score(&self) -> f64 {
        let v: Value = self
            .s
            .get("/v1/risk/merchants?region=350203", &self.analyst)
            .await
            .json()
            .await
            .unwrap();
        v["merchants"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["merchant_id"] == self.m1.as_str())
            .unwrap()["dynamic_score"]
            .as_f64()
            .unwrap()
    }
}

fn china_today() -> chrono::NaiveDate {
    Utc::now()
        .with_timezone(&FixedOffset::east_opt(8 * 3600).unwrap())
        .date_naive()
}

fn jpeg(w: u32, h: u32) -> Vec<u8> {
    let img = RgbImage::from_fn(w, h, |x, y| Rgb([(x * 7) as u8, (y * 5) as u8, 90]));
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90)
        .write_image(img.as_raw(), w, h, image::ExtendedColorType::Rgb8)
        .unwrap();
    out
}

/// `jpeg` with an APP1 Exif segment holding [`EXIF_SECRET`], as phones write.
fn jpeg_with_exif(w: u32, h: u32) -> Vec<u8> {
    let plain = jpeg(w, h);
    let mut tiff = vec![b'I', b'I', 42, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    tiff.extend_from_slice(EXIF_SECRET);
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

fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A code of the right shape whose check character is wrong.
fn mistype(code: &str) -> String {
    let mut c: Vec<char> = code.chars().collect();
    c[3] = if c[3] == '7' { '8' } else { '7' };
    c.into_iter().collect()
}

/// A `multipart/form-data` body as a browser sends the complaint form
/// (reqwest is built without its multipart feature here).
struct Multipart {
    content_type: String,
    body: Vec<u8>,
}

fn multipart_complaint(category: &str, text: &str, photo: Option<Vec<u8>>) -> Multipart {
    multipart_naming(category, None, text, photo)
}

/// The form with a product named (or not).
fn multipart_naming(
    category: &str,
    product: Option<&str>,
    text: &str,
    photo: Option<Vec<u8>>,
) -> Multipart {
    let boundary = "----shianTestBoundary7MA4YWxkTrZu0gW";
    let mut body = Vec::new();
    let mut fields = vec![("category", category), ("text", text)];
    fields.extend(product.map(|p| ("product", p)));
    for (name, value) in fields {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n")
                .as_bytes(),
        );
    }
    body.extend_from_slice(
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"photo\"; filename=\"photo.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n")
            .as_bytes(),
    );
    body.extend_from_slice(&photo.unwrap_or_default());
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    Multipart {
        content_type: format!("multipart/form-data; boundary={boundary}"),
        body,
    }
}

impl Env {
    /// Posts the shop page's complaint form.
    async fn complaint_form(&self, m: Multipart) -> reqwest::Response {
        self.s
            .http
            .post(self.s.url(&format!("/s/{}/complaints", self.code1)))
            .header("user-agent", UA)
            .header("content-type", m.content_type)
            .body(m.body)
            .send()
            .await
            .unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ratings_are_counted_per_dimension_on_the_page_and_its_json_twin() {
    let e = env().await;
    for (h, f, p) in [
        ("good", "good", "poor"),
        ("good", "fair", "poor"),
        ("poor", "good", "good"),
    ] {
        let res = e.rate(&e.code1, h, f, p).await;
        assert_eq!(res.status(), StatusCode::CREATED);
    }
    // Another shop's rating is not m1's.
    assert_eq!(
        e.rate(&e.code_far, "poor", "poor", "poor").await.status(),
        StatusCode::CREATED
    );
    let res = e.rate(&e.code1, "fair", "fair", "fair").await;
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["total"], 4);
    assert_eq!(v["window_days"], 365);
    assert_eq!(v["hygiene"], json!({"good": 2, "fair": 1, "poor": 1}));
    assert_eq!(v["freshness"], json!({"good": 2, "fair": 2, "poor": 0}));
    assert_eq!(v["price_honesty"], json!({"good": 1, "fair": 1, "poor": 2}));
    let since = (china_today() - Days::days(364)).to_string();
    assert_eq!(v["since"], since.as_str());

    let twin: Value =
        e.s.http
            .get(e.s.url(&format!("/v1/public/shops/{}", e.code1)))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    assert_eq!(twin["ratings"], v, "{twin}");
    assert_eq!(twin["name"], "鑫海冻品");

    let (status, page) = e.page(&format!("/s/{}", e.code1)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("共 4 条评价"), "{page}");
    assert!(
        page.contains("<tr><th>卫生</th><td>2</td><td>1</td><td>1</td></tr>"),
        "{page}"
    );
    assert!(page.contains("<tr><th>价格诚信</th><td>1</td><td>1</td><td>2</td></tr>"));

    // The form on the page: a plain POST answered 303 back to the page,
    // which then counts one more.
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let res = client
        .post(e.s.url(&format!("/s/{}/ratings", e.code1)))
        .form(&[
            ("hygiene", "good"),
            ("freshness", "good"),
            ("price_honesty", "good"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let to = res.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(to, format!("/s/{}?rated=1#feedback", e.code1));
    let (_, page) = e.page(&to).await;
    assert!(page.contains("共 5 条评价"), "{page}");
    assert!(page.contains("<tr><th>卫生</th><td>3</td><td>1</td><td>1</td></tr>"));

    // A form missing a dimension: an HTML page with the reason, nothing stored.
    let before = e.stored();
    let res = client
        .post(e.s.url(&format!("/s/{}/ratings", e.code1)))
        .form(&[("hygiene", "good"), ("freshness", "great")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(res.text().await.unwrap().contains("没有保存任何内容"));
    assert_eq!(e.stored(), before);
    e.s.assert_healthy().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_complaint_reaches_its_districts_inspectors_by_pull_and_no_one_else() {
    let e = env().await;
    let id = e.complaint("买的冻虾里有塑料片").await;
    let near = e.pulled(&e.near, "complaint.received").await;
    assert_eq!(near.len(), 1, "{near:?}");
    let c = &near[0];
    assert_eq!(c["complaint_id"], id.as_str());
    assert_eq!(c["merchant_id"], e.m1.as_str());
    assert_eq!(c["region_code"], "350203");
    assert_eq!(c["category"], "foreign_matter");
    assert_eq!(c["text"], "买的冻虾里有塑料片");
    assert_eq!(c["received_on"], china_today().to_string().as_str());
    let accept_by = shian_core::complaints::WorkCalendar::builtin()
        .unwrap()
        .add_working_days_or_weekdays(china_today(), 7)
        .0;
    assert_eq!(c["accept_by"], accept_by.to_string().as_str());
    // Not the other district's inspector, not the merchant, not an analyst's feed.
    assert!(e.pulled(&e.far, "complaint.received").await.is_empty());
    assert!(e.pulled(&e.m1_user, "complaint.received").await.is_empty());
    // The other district cannot act on it either (as if it did not exist).
    let r = e
        .push1(
            &e.far,
            op(
                "complaint.accept",
                json!({"complaint_id": id, "decided_at": now_cn(0)}),
            ),
        )
        .await;
    rejected(&r, "unknown_complaint");
    e.s.assert_healthy().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accepting_within_and_after_the_deadline_shows_overdue_and_weighs_in_the_grade() {
    let e = env().await;
    e.inspect_m1().await;
    let before = e.dynamic_score().await;
    assert_eq!(before, 0.0);
    let fresh = e.complaint("冻肉解冻后发臭，疑似变质").await;
    let old = e.complaint("摊位地面积水，苍蝇很多").await;
    let third = e.complaint("标签上的生产日期被涂改").await;
    // `old` came in 30 days ago: its 7 working days are long past.
    let long_ago = (china_today() - Days::days(30)).to_string();
    e.s.execute(
        "UPDATE complaints SET received_on = $1 WHERE id = $2",
        &[&long_ago, &old],
    );

    // Undecided and past its deadline: overdue already in the list.
    let open = e.list("?region=350203&status=received").await;
    assert_eq!(open["total"], 3);
    let by_id = |list: &Value, id: &str| {
        list["complaints"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id)
            .unwrap()
            .clone()
    };
    assert_eq!(by_id(&open, &old)["accept_overdue"], true);
    assert_eq!(by_id(&open, &fresh)["accept_overdue"], false);
    assert_eq!(open["overdue"], 1);

    // Three complaints weigh 2 points each (risk-v2 `dynamic.complaint`).
    let with_three = e.dynamic_score().await;
    assert_eq!(with_three, 6.0);

    let r = accepted(
        &e.push1(
            &e.near,
            op(
                "complaint.accept",
                json!({"complaint_id": fresh, "decided_at": now_cn(0)}),
            ),
        )
        .await,
    );
    assert_eq!(r["status"], "accepted");
    assert_eq!(r["accept_overdue"], false);
    assert!(r["handle_by"].is_string());
    let r = accepted(
        &e.push1(
            &e.near,
            op(
                "complaint.accept",
                json!({"complaint_id": old, "decided_at": now_cn(0), "note": "已派员核查"}),
            ),
        )
        .await,
    );
    assert_eq!(r["accept_overdue"], true);
    let accepted_list = e.list("?status=accepted").await;
    assert_eq!(accepted_list["total"], 2);
    assert_eq!(by_id(&accepted_list, &old)["accept_overdue"], true);
    assert_eq!(by_id(&accepted_list, &fresh)["accept_overdue"], false);
    assert_eq!(
        by_id(&accepted_list, &fresh)["decided_on"],
        china_today().to_string().as_str()
    );
    // The district's phones hear of it.
    let updates = e.pulled(&e.near, "complaint.updated").await;
    assert_eq!(updates.len(), 2);

    // Refusals, transitions and bad payloads are refused and store nothing.
    let actions = e.s.count("SELECT COUNT(*) FROM complaint_actions");
    rejected(
        &e.push1(
            &e.near,
            op(
                "complaint.accept",
                json!({"complaint_id": fresh, "decided_at": now_cn(0)}),
            ),
        )
        .await,
        "invalid_transition",
    );
    rejected(
        &e.push1(
            &e.near,
            op(
                "complaint.refuse",
                json!({"complaint_id": third, "decided_at": now_cn(0)}),
            ),
        )
        .await,
        "missing_field",
    );
    rejected(
        &e.push1(
            &e.near,
            op(
                "complaint.accept",
                json!({"complaint_id": third, "decided_at": now_cn(60)}),
            ),
        )
        .await,
        "timestamp_in_future",
    );
    rejected(
        &e.push1(
            &e.near,
            op(
                "complaint.close",
                json!({"complaint_id": fresh, "decided_at": now_cn(0), "result": "done"}),
            ),
        )
        .await,
        "invalid_field",
    );
    rejected(
        &e.push1(
            &e.m1_user,
            op(
                "complaint.accept",
                json!({"complaint_id": third, "decided_at": now_cn(0)}),
            ),
        )
        .await,
        "forbidden_kind",
    );
    assert_eq!(e.s.count("SELECT COUNT(*) FROM complaint_actions"), actions);

    // Refused and unfounded complaints no longer weigh in the grade.
    accepted(
        &e.push1(
            &e.near,
            op("complaint.refuse", json!({"complaint_id": third, "decided_at": now_cn(0), "reason": "不属于食品安全监管职责"})),
        )
        .await,
    );
    accepted(
        &e.push1(
            &e.near,
            op(
                "complaint.close",
                json!({"complaint_id": old, "decided_at": now_cn(0), "result": "unfounded"}),
            ),
        )
        .await,
    );
    // `fresh` (accepted) still counts; `old` (unfounded) and `third`
    // (refused) do not.
    assert_eq!(e.dynamic_score().await, 2.0);
    let refused = e.list("?status=refused").await;
    assert_eq!(
        by_id(&refused, &third)["refusal_reason"],
        "不属于食品安全监管职责"
    );
    let closed = e.list("?status=closed").await;
    assert_eq!(by_id(&closed, &old)["result"], "unfounded");
    assert_eq!(by_id(&closed, &old)["handle_overdue"], false);

    // The list is for analysts.
    expect_error(
        e.s.get("/v1/complaints", &e.near).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    expect_error(
        e.s.get("/v1/complaints?status=pending", &e.admin).await,
        StatusCode::BAD_REQUEST,
        "invalid_query",
    )
    .await;
    e.s.assert_healthy().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_complaints_and_ratings_store_nothing_and_photos_come_back_clean() {
    let e = env().await;
    let nothing = e.stored();
    // A well-formed code of no shop.
    let unknown = shian_core::codes::new_code(&mut rand::rng());
    let ok = json!({"category": "hygiene", "text": "摊位很脏，没有防蝇设施"});
    expect_error(
        e.complain(&unknown, ok.clone()).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect_error(
        e.complain(&mistype(&e.code1), ok.clone()).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "code_check_mismatch",
    )
    .await;
    expect_error(
        e.rate(&unknown, "good", "good", "good").await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect_error(
        e.rate(&e.code1, "excellent", "good", "good").await,
        StatusCode::BAD_REQUEST,
        "invalid_field",
    )
    .await;
    let v = expect_error(
        e.complain(
            &e.code1,
            json!({"category": "rude_staff", "text": "态度很差很差"}),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid_field",
    )
    .await;
    assert_eq!(v["error"]["field"], "category");
    let v = expect_error(
        e.complain(
            &e.code1,
            json!({"category": "hygiene", "text": "脏".repeat(1001)}),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid_text",
    )
    .await;
    assert_eq!(v["error"]["field"], "text");
    expect_error(
        e.complain(&e.code1, json!({"category": "hygiene", "text": " 脏 "}))
            .await,
        StatusCode::BAD_REQUEST,
        "invalid_text",
    )
    .await;
    // Contact details are not taken.
    expect_error(
        e.complain(
            &e.code1,
            json!({"category": "hygiene", "text": "摊位很脏很脏", "phone": "13800000000"}),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid_field",
    )
    .await;
    expect_error(
        e.complain(&e.code1, json!({"category": "hygiene", "text": "摊位很脏很脏", "photo": b64(b"%PDF-1.4 not an image")})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "not_an_image",
    )
    .await;
    let mut huge = jpeg(64, 64);
    huge.resize(6 * 1024 * 1024, 0);
    expect_error(
        e.complain(
            &e.code1,
            json!({"category": "hygiene", "text": "摊位很脏很脏", "photo": b64(&huge)}),
        )
        .await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "photo_too_large",
    )
    .await;
    // The form: a non-image, and a photo past the body limit of a default server.
    let res = e
        .complaint_form(multipart_complaint(
            "hygiene",
            "摊位很脏很脏",
            Some(b"GIF89a nope".to_vec()),
        ))
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.text().await.unwrap().contains("没有保存任何内容"));
    let res = e
        .complaint_form(multipart_complaint(
            "hygiene",
            "摊位很脏很脏",
            Some(huge.clone()),
        ))
        .await;
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(e.stored(), nothing, "a refused request stored something");

    // A photo with EXIF: stored and served without it.
    let sent = jpeg_with_exif(40, 30);
    assert!(contains(&sent, EXIF_SECRET));
    let res = e
        .complain(
            &e.code1,
            json!({"category": "foreign_matter", "text": "鱼肚子里有铁丝", "photo": b64(&sent)}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let v: Value = res.json().await.unwrap();
    let sha = v["photo_sha256"].as_str().unwrap().to_owned();
    let got =
        e.s.get(&format!("/v1/attachments/{sha}"), &e.near)
            .await
            .bytes()
            .await
            .unwrap();
    assert!(!contains(&got, EXIF_SECRET));
    assert!(!contains(&got, b"Exif"));
    assert_eq!(sha256_hex(&got), sha);
    assert!(image::load_from_memory(&got).is_ok());
    // The complaint points at it in the district's feed.
    let c = e.pulled(&e.near, "complaint.received").await;
    assert_eq!(c[0]["photo_sha256"], sha.as_str());
    // And through the form too.
    let res = e
        .complaint_form(multipart_complaint(
            "expired_or_spoiled",
            "买回家的肉已经发绿",
            Some(jpeg_with_exif(20, 20)),
        ))
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert!(!e.s.stores(EXIF_SECRET));
    e.s.assert_healthy().await;
}

/// The product a complaint names is checked, stored, listed and sent to
/// the district; a bad one is refused in the error shape and stores
/// nothing; the form takes it too.
#[tokio::test]
async fn a_complaint_names_its_product_checked_stored_and_listed() {
    let e = env().await;
    let before = e.stored();
    let long = "虾".repeat(101);
    for (product, why) in [
        ("冻虾仁\n冻牛腱", "a line break"),
        ("冻\u{7}虾仁", "a control character"),
        (long.as_str(), "too long"),
    ] {
        let res = e
            .complain(
                &e.code1,
                json!({"category": "expired_or_spoiled", "product": product, "text": "解冻后发臭，疑似变质"}),
            )
            .await;
        let err = expect_error(res, StatusCode::BAD_REQUEST, "invalid_product").await;
        assert_eq!(err["error"]["field"], "product", "{why}");
        assert_eq!(e.stored(), before, "{why}: nothing stored");
    }
    let res = e
        .complain(
            &e.code1,
            json!({"category": "expired_or_spoiled", "product": " 冻虾仁 ", "text": "解冻后发臭，疑似变质"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    // Blank is no product.
    let res = e
        .complain(
            &e.code1,
            json!({"category": "hygiene", "product": "  ", "text": "地面积水，苍蝇很多"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let res = e
        .complaint_form(multipart_naming(
            "foreign_matter",
            Some("巴沙鱼柳"),
            "里面有塑料碎片",
            None,
        ))
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let list = e.list("").await;
    let mut products: Vec<Value> = list["complaints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["product"].clone())
        .collect();
    products.sort_by_key(|p| p.to_string());
    assert_eq!(
        products,
        vec![json!("冻虾仁"), json!("巴沙鱼柳"), Value::Null]
    );
    let sent: Vec<Value> = e
        .pulled(&e.near, "complaint.received")
        .await
        .into_iter()
        .map(|c| c["product"].clone())
        .collect();
    assert!(sent.contains(&json!("冻虾仁")), "{sent:?}");
    e.s.assert_healthy().await;
    e.s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_limit_answers_429_with_retry_after_and_nothing_of_the_sender_is_stored() {
    let e = env_with(3).await;
    assert_eq!(
        e.rate(&e.code1, "good", "good", "good").await.status(),
        StatusCode::CREATED
    );
    assert_eq!(
        e.complain(
            &e.code1,
            json!({"category": "price", "text": "标价和收费不一致"})
        )
        .await
        .status(),
        StatusCode::CREATED
    );
    // The form shares the bucket.
    let res = e
        .complaint_form(multipart_complaint(
            "short_weight",
            "一斤只有八两左右",
            None,
        ))
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let before = e.stored();
    for res in [
        e.rate(&e.code1, "poor", "poor", "poor").await,
        e.complain(
            &e.code1,
            json!({"category": "price", "text": "标价和收费不一致"}),
        )
        .await,
    ] {
        let retry = res.headers()["retry-after"].to_str().unwrap().to_owned();
        assert!(retry.parse::<u64>().unwrap() >= 1, "{retry}");
        expect_error(res, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    }
    assert_eq!(e.stored(), before);
    // The shop page itself is not limited.
    assert_eq!(e.page(&format!("/s/{}", e.code1)).await.0, StatusCode::OK);

    // Neither the address, the forwarded address nor the user agent is in
    // the store (the database file and its log, or every row on PostgreSQL).
    e.s.assert_healthy().await;
    let stored = common::stored_bytes(&e.s.target);
    for needle in [
        UA.as_bytes(),
        b"UA-SECRET-7f3a91",
        FORWARDED.as_bytes(),
        b"127.0.0.1",
    ] {
        assert!(
            !contains(&stored, needle),
            "{} is stored",
            String::from_utf8_lossy(needle)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn complaint_text_is_escaped_on_every_page_that_shows_it() {
    let e = env().await;
    let res = e
        .complaint_form(multipart_complaint("illness", SCRIPT, None))
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let page = res.text().await.unwrap();
    assert!(
        page.contains("&#60;script&#62;alert(&#39;x&#39;)&#60;/script&#62; 鱼不新鲜")
            || page.contains("&lt;script&gt;"),
        "{page}"
    );
    assert!(!page.to_ascii_lowercase().contains("<script"), "{page}");
    assert!(page.contains("投诉已收到"));
    for path in [format!("/s/{}", e.code1), format!("/s/{}?rated=1", e.code1)] {
        let (status, page) = e.page(&path).await;
        assert_eq!(status, StatusCode::OK);
        assert!(!page.to_ascii_lowercase().contains("<script"), "{page}");
    }
    // The text itself is kept as sent, for the inspectors.
    let list = e.list("").await;
    assert_eq!(list["complaints"][0]["text"], SCRIPT);
    // A bad form echoes nothing it was sent.
    let res = e
        .complaint_form(multipart_complaint(SCRIPT, SCRIPT, None))
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(!res
        .text()
        .await
        .unwrap()
        .to_ascii_lowercase()
        .contains("<script"));
    e.s.assert_healthy().await;
}
