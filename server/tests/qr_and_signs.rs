//! QR images, the stall sign and its browser login, and GS1 Digital Link,
//! on a real server over a real SQLite file: the images are decoded as a
//! phone camera would (rqrr) and the decoded address is opened.

mod common;
mod field_common;

use field_common::{accepted, now_cn, op, Field, PW};
use reqwest::header::{CACHE_CONTROL, CONTENT_TYPE, LOCATION, SET_COOKIE};
use reqwest::{Client, Response, StatusCode};
use serde_json::{json, Value};
use shian_core::signed::{shop, TrustList, Verdict};
use shian_server::Config;

use common::{expect_error, uscc, TestServer};

const SCRIPT_NAME: &str = "<script>alert(1)</script>摊";

/// A client that shows redirects instead of following them.
fn no_redirect() -> Client {
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The text of the one QR code in a greyscale image.
fn decode_luma(img: &image::GrayImage) -> (rqrr::MetaData, String) {
    let mut prepared = rqrr::PreparedImage::prepare_from_greyscale(
        img.width() as usize,
        img.height() as usize,
        |x, y| img.get_pixel(x as u32, y as u32)[0],
    );
    let grids = prepared.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code in the image");
    grids[0].decode().unwrap()
}

fn decode_png(bytes: &[u8]) -> (rqrr::MetaData, String, u32) {
    let img = image::load_from_memory(bytes).unwrap().to_luma8();
    let width = img.width();
    let (meta, text) = decode_luma(&img);
    (meta, text, width)
}

/// Paints the SVG's path (`M{x} {y}h{w}v{h}H{x}V{y}` per dark run, as the
/// qrcode crate writes it) at 4 px per unit and decodes it.
fn decode_svg(svg: &str) -> (rqrr::MetaData, String) {
    let attr = |name: &str| -> u32 {
        let at = svg.find(&format!(" {name}=\"")).unwrap() + name.len() + 3;
        svg[at..].split('"').next().unwrap().parse().unwrap()
    };
    let (w, h) = (attr("width"), attr("height"));
    let d = svg
        .split(" d=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    let scale = 4;
    let mut img = image::GrayImage::from_pixel(w * scale, h * scale, image::Luma([255]));
    let re = regex::Regex::new(r"M(\d+) (\d+)h(\d+)v(\d+)H\d+V\d+").unwrap();
    let mut runs = 0;
    for c in re.captures_iter(d) {
        let n = |i: usize| c[i].parse::<u32>().unwrap();
        let (x, y, rw, rh) = (n(1), n(2), n(3), n(4));
        for py in y * scale..(y + rh) * scale {
            for px in x * scale..(x + rw) * scale {
                img.put_pixel(px, py, image::Luma([0]));
            }
        }
        runs += 1;
    }
    assert!(runs > 50, "the path draws the modules: {d:.200}");
    decode_luma(&img)
}

fn header(res: &Response, name: reqwest::header::HeaderName) -> String {
    res.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned()
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

/// Logs in through the browser form; returns the `Cookie` header to send.
async fn browser_login(s: &TestServer, username: &str, password: &str, next: &str) -> String {
    let body = format!(
        "username={}&password={}&next={}",
        enc(username),
        enc(password),
        enc(next)
    );
    let res = no_redirect()
        .post(s.url("/login"))
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        StatusCode::SEE_OTHER,
        "{}",
        header(&res, LOCATION)
    );
    assert_eq!(header(&res, LOCATION), next);
    let cookie = header(&res, SET_COOKIE);
    for attr in [
        "shian_session=",
        "HttpOnly",
        "SameSite=Strict",
        "Path=/",
        "Max-Age=",
    ] {
        assert!(cookie.contains(attr), "{attr} missing: {cookie}");
    }
    cookie.split(';').next().unwrap().to_owned()
}

fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

async fn with_cookie(s: &TestServer, path: &str, cookie: &str) -> Response {
    no_redirect()
        .get(s.url(path))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
}

/// `text` is `page` with the server's signature (`?sig=…`), and a phone
/// holding the server's published keys finds it genuine offline.
async fn assert_signed_page(s: &TestServer, text: &str, page: &str) {
    let rest = text
        .strip_prefix(page)
        .unwrap_or_else(|| panic!("{text} is not {page}?sig=…"));
    assert!(rest.starts_with("?sig="), "{text}");
    let keys = s
        .http
        .get(s.url("/.well-known/shian-keys.json"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let list = TrustList::from_json(&keys).unwrap();
    let checked = shop::verify_url(
        &list.verifier().unwrap(),
        text,
        chrono::Utc::now().date_naive(),
    );
    assert_eq!(checked.verdict, Verdict::Genuine, "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shop_qr_images_decode_to_the_shop_page_and_only_admins_and_the_shop_get_them() {
    let f = Field::start().await;
    let code = shop_code(&f, &f.m1).await;
    let want = f.s.url(&format!("/s/{code}"));

    let res =
        f.s.get(&format!("/v1/merchants/{}/qr.png", f.m1), &f.admin)
            .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(header(&res, CONTENT_TYPE), "image/png");
    assert!(
        header(&res, CACHE_CONTROL).contains("max-age="),
        "{:?}",
        res.headers()
    );
    let (meta, text, width) = decode_png(&res.bytes().await.unwrap());
    assert_signed_page(&f.s, &text, &want).await;
    assert_eq!(meta.ecc_level, 0, "error correction M");
    assert!(width >= 600, "prints at 4 cm at 300 dpi: {width} px");

    let res =
        f.s.get(&format!("/v1/merchants/{}/qr.svg", f.m1), &f.m1_user)
            .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(header(&res, CONTENT_TYPE), "image/svg+xml");
    let (meta, text) = decode_svg(&res.text().await.unwrap());
    assert_signed_page(&f.s, &text, &want).await;
    assert_eq!(meta.ecc_level, 0);

    // What the code opens is the shop's page.
    let page = f.s.http.get(&text).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains("鑫海冻品"));

    for ext in ["svg", "png"] {
        let path = format!("/v1/merchants/{}/qr.{ext}", f.m1);
        for token in [&f.m2_user, &f.analyst, &f.insp1] {
            expect_error(
                f.s.get(&path, token).await,
                StatusCode::FORBIDDEN,
                "forbidden",
            )
            .await;
        }
        let res = f.s.http.get(f.s.url(&path)).send().await.unwrap();
        expect_error(res, StatusCode::UNAUTHORIZED, "missing_token").await;
        let unknown = format!("/v1/merchants/no-such-merchant/qr.{ext}");
        expect_error(
            f.s.get(&unknown, &f.admin).await,
            StatusCode::NOT_FOUND,
            "not_found",
        )
        .await;
        // Another merchant's account learns nothing about unknown ids.
        expect_error(
            f.s.get(&unknown, &f.m1_user).await,
            StatusCode::FORBIDDEN,
            "forbidden",
        )
        .await;
        let bad = format!("/v1/merchants/%20%3C%3E/qr.{ext}");
        let res = f.s.get(&bad, &f.admin).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    }
    f.s.assert_healthy().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_public_url_setting_is_what_the_shop_qr_carries() {
    let s = TestServer::start_with(Config {
        public_url: Some("https://shian.example.cn".into()),
        ..Config::default()
    })
    .await;
    let admin = s.admin().await;
    let market = s.create_market(&admin).await;
    let res = s
        .post(
            "/v1/merchants",
            &admin,
            json!({"market_id": market, "name": "鑫海冻品", "uscc": uscc("9235020300000001"),
                   "categories": ["frozen"]}),
        )
        .await;
    let m: Value = res.json().await.unwrap();
    let res = s
        .get(
            &format!("/v1/merchants/{}/qr.png", m["id"].as_str().unwrap()),
            &admin,
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let (_, text, _) = decode_png(&res.bytes().await.unwrap());
    let page = format!(
        "https://shian.example.cn/s/{}",
        m["shop_code"].as_str().unwrap()
    );
    assert_signed_page(&s, &text, &page).await;
    s.assert_healthy().await;
}

/// m1 buys 20 kg and sells 5 kg of it to m2 with a voucher: the voucher.
async fn sale_with_voucher(f: &Field, gtin: Option<&str>) -> (String, String) {
    let batch = shian_core::codes::new_code(&mut rand::rng());
    let voucher = shian_core::codes::new_code(&mut rand::rng());
    let mut product = json!({"name": "速冻水饺", "category": "frozen"});
    if let Some(g) = gtin {
        product["gtin"] = json!(g);
    }
    accepted(
        &f.push1(
            &f.m1_user,
            op(
                "ledger.purchase",
                json!({"entry_id": uuid::Uuid::now_v7().to_string(), "merchant_id": f.m1,
                       "product": product, "quantity": {"value": "20", "unit": "kg"},
                       "supplier": {"name": "思念食品厦门经销部"},
                       "certificates": [{"kind": "origin", "number": "CD-2026-0002"}],
                       "trace_code": batch, "production_date": "2026-11-20",
                       "expiry_date": "2027-11-19", "received_at": now_cn(-120)}),
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
                       "trace_code": batch, "quantity": {"value": "5", "unit": "kg"},
                       "buyer": {"merchant_id": f.m2}, "voucher_code": voucher,
                       "sold_at": now_cn(-90)}),
            ),
        )
        .await,
    );
    (batch, voucher)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_voucher_qr_holds_the_voucher_and_only_its_seller_gets_it() {
    let f = Field::start().await;
    let (_, voucher) = sale_with_voucher(&f, None).await;
    for token in [&f.m1_user, &f.admin] {
        let res =
            f.s.get(&format!("/v1/vouchers/{voucher}/qr.png"), token)
                .await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(header(&res, CONTENT_TYPE), "image/png");
        let (meta, text, _) = decode_png(&res.bytes().await.unwrap());
        assert_eq!(text, voucher);
        assert_eq!(meta.ecc_level, 0);
    }
    let res =
        f.s.get(
            &format!("/v1/vouchers/{}/qr.svg", voucher.to_lowercase()),
            &f.m1_user,
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(decode_svg(&res.text().await.unwrap()).1, voucher);

    for ext in ["svg", "png"] {
        // The buyer and everyone else but the seller: 403.
        for token in [&f.m2_user, &f.analyst, &f.insp1] {
            let res =
                f.s.get(&format!("/v1/vouchers/{voucher}/qr.{ext}"), token)
                    .await;
            expect_error(res, StatusCode::FORBIDDEN, "forbidden").await;
        }
        let unknown = shian_core::codes::new_code(&mut rand::rng());
        let res =
            f.s.get(&format!("/v1/vouchers/{unknown}/qr.{ext}"), &f.m1_user)
                .await;
        expect_error(res, StatusCode::NOT_FOUND, "unknown_voucher").await;
        let mut typo: Vec<char> = voucher.chars().collect();
        typo[5] = if typo[5] == '7' { '8' } else { '7' };
        let typo: String = typo.into_iter().collect();
        let res =
            f.s.get(&format!("/v1/vouchers/{typo}/qr.{ext}"), &f.m1_user)
                .await;
        expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "code_check_mismatch").await;
    }
    f.s.assert_healthy().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stall_sign_needs_a_browser_login_and_shows_the_shop_ready_to_print() {
    let f = Field::start().await;
    let code = shop_code(&f, &f.m1).await;
    let sign = format!("/signs/{}", f.m1);

    // No cookie: to the login form, which brings the browser back.
    let res = with_cookie(&f.s, &sign, "other=1").await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        header(&res, LOCATION),
        format!("/login?next=%2Fsigns%2F{}", f.m1)
    );
    let form =
        f.s.http
            .get(f.s.url(&format!("/login?next=/signs/{}", f.m1)))
            .send()
            .await
            .unwrap();
    assert_eq!(form.status(), StatusCode::OK);
    let body = form.text().await.unwrap();
    assert!(body.contains("<html lang=\"zh-CN\">") && body.contains("method=\"post\""));
    assert!(
        body.contains(&format!("value=\"/signs/{}\"", f.m1)),
        "{body}"
    );
    // A forged or stale cookie is no login either.
    let res = with_cookie(&f.s, &sign, "shian_session=eyJhbGciOiJIUzI1NiJ9.e30.x").await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);

    // A wrong password: the form again, with the reason, and no cookie.
    let res = no_redirect()
        .post(f.s.url("/login"))
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(format!(
            "username=shop1&password=wrong-password&next={}",
            enc(&sign)
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(res.headers().get(SET_COOKIE).is_none());
    assert!(res.text().await.unwrap().contains("用户名或密码错误"));
    // `next` only ever leads back into this site.
    let res = no_redirect()
        .post(f.s.url("/login"))
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(format!(
            "username=shop1&password={PW}&next={}",
            enc("//evil.example/x")
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(header(&res, LOCATION), "/");

    let cookie = browser_login(&f.s, "shop1", PW, &sign).await;
    // `/signs` (the landing page's link) takes a merchant to its own sign.
    let res = with_cookie(&f.s, "/signs", &cookie).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(header(&res, LOCATION), sign);
    let res = with_cookie(&f.s, &sign, &cookie).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        header(&res, CACHE_CONTROL).contains("no-store"),
        "{:?}",
        res.headers()
    );
    let body = res.text().await.unwrap();
    for text in [
        "<html lang=\"zh-CN\">",
        "鑫海冻品",
        "测试市场",
        "A-01",
        "JY13502030000011",
        "2030-06-30",
        "风险等级",
        "扫码查看食品安全信息",
        "@page{size:A4",
        "<svg",
        &format!(
            "{} {} {} {}",
            &code[..4],
            &code[4..8],
            &code[8..12],
            &code[12..]
        ),
    ] {
        assert!(body.contains(text), "{text} missing: {body}");
    }
    assert!(body.len() < 30 * 1024, "{} bytes", body.len());
    // The inline QR is the shop page's address.
    let svg_start = body.find("<svg").unwrap();
    let svg_end = body[svg_start..].find("</svg>").unwrap() + svg_start + 6;
    let text = decode_svg(&body[svg_start..svg_end]).1;
    assert_signed_page(&f.s, &text, &f.s.url(&format!("/s/{code}"))).await;
    // The grade is the console's.
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
        body.contains(&format!("<span class=\"grade\">{grade}</span>")),
        "{body}"
    );

    // The PNG beside the sign, for the same logged-in browser.
    let res = with_cookie(&f.s, &format!("{sign}/qr.png"), &cookie).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(header(&res, CONTENT_TYPE), "image/png");
    let text = decode_png(&res.bytes().await.unwrap()).1;
    assert_signed_page(&f.s, &text, &f.s.url(&format!("/s/{code}"))).await;

    // Another shop's sign: 403, as an HTML page.
    let res = with_cookie(&f.s, &format!("/signs/{}", f.m2), &cookie).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(header(&res, CONTENT_TYPE).starts_with("text/html"));
    assert!(res.text().await.unwrap().contains("无权查看"));
    // An analyst has no sign to print; an admin any, and 404 for no shop.
    let analyst = browser_login(&f.s, "analyst", PW, "/").await;
    let res = with_cookie(&f.s, &sign, &analyst).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let root = browser_login(&f.s, "root", "root-password-1", "/").await;
    let res = with_cookie(&f.s, &format!("/signs/{}", f.m2), &root).await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = with_cookie(&f.s, "/signs/no-such-merchant", &root).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert!(header(&res, CONTENT_TYPE).starts_with("text/html"));
    // An admin has no sign of its own: the page says to name the merchant.
    let res = with_cookie(&f.s, "/signs", &root).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(header(&res, CONTENT_TYPE).starts_with("text/html"));

    // Logging out clears the cookie.
    let res = no_redirect()
        .post(f.s.url("/logout"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert!(header(&res, SET_COOKIE).contains("Max-Age=0"));
    f.s.assert_healthy().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_shop_name_is_escaped_on_the_sign_and_the_shop_page() {
    let f = Field::start().await;
    let res =
        f.s.post(
            "/v1/merchants",
            &f.admin,
            json!({"market_id": f.market, "name": SCRIPT_NAME, "uscc": uscc("9235020300000055"),
                   "categories": ["vegetable"], "stall": "\"><img src=x onerror=alert(2)>"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let m: Value = res.json().await.unwrap();
    let root = browser_login(&f.s, "root", "root-password-1", "/").await;
    let sign = with_cookie(
        &f.s,
        &format!("/signs/{}", m["id"].as_str().unwrap()),
        &root,
    )
    .await;
    assert_eq!(sign.status(), StatusCode::OK);
    let shop =
        f.s.http
            .get(f.s.url(&format!("/s/{}", m["shop_code"].as_str().unwrap())))
            .send()
            .await
            .unwrap();
    assert_eq!(shop.status(), StatusCode::OK);
    for body in [sign.text().await.unwrap(), shop.text().await.unwrap()] {
        assert!(!body.contains("<script>alert"), "{body}");
        assert!(!body.contains("<img"), "{body}");
        assert!(
            body.contains("&#60;script&#62;alert(1)&#60;/script&#62;")
                || body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "the name is shown, escaped: {body}"
        );
    }
    f.s.assert_healthy().await;
}

/// `gtin12` with its check digit.
fn with_check(data: &str) -> String {
    let sum: u32 = data
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, d)| u32::from(d - b'0') * if i % 2 == 0 { 3 } else { 1 })
        .sum();
    format!("{data}{}", (10 - sum % 10) % 10)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gs1_digital_link_opens_the_batch_of_that_gtin_and_lot() {
    let f = Field::start().await;
    let gtin13 = with_check("692000100001");
    let gtin14 = format!("0{gtin13}");
    let (batch, _) = sale_with_voucher(&f, Some(&gtin13)).await;
    let (other, _) = sale_with_voucher(&f, None).await;
    let http = no_redirect();
    let get = |path: String| {
        let url = f.s.url(&path);
        let http = http.clone();
        async move { http.get(url).send().await.unwrap() }
    };
    for g in [&gtin14, &gtin13] {
        let res = get(format!("/01/{g}/10/{batch}?17=271119")).await;
        assert_eq!(res.status(), StatusCode::TEMPORARY_REDIRECT);
        assert_eq!(header(&res, LOCATION), format!("/t/{batch}"));
    }
    // Typed in lower case, the lot still resolves.
    let res = get(format!("/01/{gtin14}/10/{}", batch.to_lowercase())).await;
    assert_eq!(header(&res, LOCATION), format!("/t/{batch}"));
    // The trace page shows the product's category and dates.
    let page =
        f.s.http
            .get(f.s.url(&format!("/t/{batch}")))
            .send()
            .await
            .unwrap();
    let body = page.text().await.unwrap();
    for text in ["速冻/冷冻食品", "2026-11-20", "2027-11-19"] {
        assert!(body.contains(text), "{text} missing: {body}");
    }

    let html_page = |res: Response, status: StatusCode, text: &'static str| async move {
        assert_eq!(res.status(), status);
        assert!(header(&res, CONTENT_TYPE).starts_with("text/html"));
        let body = res.text().await.unwrap();
        assert!(body.contains(text), "{text} missing: {body}");
    };
    // A wrong check digit is a typo; so is a lot with a wrong check symbol.
    let bad_check = format!(
        "{}{}",
        &gtin14[..13],
        (gtin14.as_bytes()[13] - b'0' + 1) % 10
    );
    html_page(
        get(format!("/01/{bad_check}/10/{batch}")).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "校验位不符",
    )
    .await;
    let mut lot: Vec<char> = batch.chars().collect();
    lot[2] = if lot[2] == '7' { '8' } else { '7' };
    let lot: String = lot.into_iter().collect();
    html_page(
        get(format!("/01/{gtin14}/10/{lot}")).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "校验位",
    )
    .await;
    html_page(
        get(format!("/01/12345/10/{batch}")).await,
        StatusCode::BAD_REQUEST,
        "输入有误",
    )
    .await;
    // A real batch of another product, and an unknown lot: no such code.
    html_page(
        get(format!("/01/{gtin14}/10/{other}")).await,
        StatusCode::NOT_FOUND,
        "查无此码",
    )
    .await;
    let unknown = shian_core::codes::new_code(&mut rand::rng());
    html_page(
        get(format!("/01/{gtin14}/10/{unknown}")).await,
        StatusCode::NOT_FOUND,
        "查无此码",
    )
    .await;

    // The GTIN alone lists its batches.
    let res = get(format!("/01/{gtin14}")).await;
    assert_eq!(res.status(), StatusCode::OK);
    let body = res.text().await.unwrap();
    assert!(body.contains(&format!("href=\"/t/{batch}\"")), "{body}");
    assert!(!body.contains(&other), "{body}");
    assert!(
        body.contains("速冻水饺") && body.contains("鑫海冻品"),
        "{body}"
    );
    let unknown_gtin = with_check("692000999999");
    html_page(
        get(format!("/01/{unknown_gtin}")).await,
        StatusCode::NOT_FOUND,
        "查无此码",
    )
    .await;
    html_page(
        get("/01/abc".to_owned()).await,
        StatusCode::BAD_REQUEST,
        "输入有误",
    )
    .await;

    f.s.assert_healthy().await;
}
