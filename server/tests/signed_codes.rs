//! Signed codes end to end (issue 12, item 1): the signed shop URL, key
//! rotation and retirement by the CLI while a real server runs, device
//! certificates at enrolment, revocation, and the trust list reaching a
//! device's local store by pull so it verifies with no network.

mod common;

use std::sync::Mutex;

use chrono::NaiveDate;
use common::{expect_error, uscc, TestServer};
use qrcode::{EcLevel, QrCode};
use reqwest::StatusCode;
use serde_json::{json, Value};
use shian_core::quantity::{BaseUnit, Quantity};
use shian_core::signed::local::Scanned;
use shian_core::signed::voucher::NewVoucher;
use shian_core::signed::{shop, Part, TrustList, Verdict};
use shian_core::store::LocalStore;
use shian_core::sync::{SyncClient, SyncConfig};
use shian_server::store::{Merchant, Role};

const BIN: &str = env!("CARGO_BIN_EXE_shian-server");

fn today() -> NaiveDate {
    chrono::Utc::now().date_naive()
}

/// A merchant with a login; returns its card.
async fn merchant(s: &TestServer, admin: &str, market: &str, n: u32, username: &str) -> Value {
    let res = s
        .post(
            "/v1/merchants",
            admin,
            json!({
                "market_id": market, "name": format!("签名测试{n}"),
                "uscc": uscc(&format!("92350203{n:08}")),
                "licence_no": format!("JY1350203{n:07}"), "licence_expiry": "2030-06-30",
            }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let m: Value = res.json().await.unwrap();
    s.user(
        username,
        "merchant-pass-1",
        Role::Merchant,
        m["id"].as_str(),
        &[],
    )
    .await;
    m
}

async fn trust_list(s: &TestServer) -> TrustList {
    let res = s
        .http
        .get(s.url("/.well-known/shian-keys.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    TrustList::from_json(&res.text().await.unwrap()).unwrap()
}

async fn signed_url(s: &TestServer, token: &str, merchant_id: &str) -> Value {
    let res = s
        .get(&format!("/v1/merchants/{merchant_id}/signed-code"), token)
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    res.json().await.unwrap()
}

/// A device's local store that syncs with the server as `username`.
struct Phone {
    store: Mutex<LocalStore>,
    config: SyncConfig,
}

impl Phone {
    fn new(base: &str, device: &str, username: &str) -> Phone {
        Phone {
            store: Mutex::new(LocalStore::open_in_memory().unwrap()),
            config: SyncConfig::new(base, device, username, "merchant-pass-1"),
        }
    }

    /// Syncs on a blocking thread (the client is blocking, as on a phone;
    /// it is made and dropped there, away from the async runtime).
    async fn sync(self) -> Phone {
        tokio::task::spawn_blocking(move || {
            let mut client = SyncClient::new(self.config.clone()).unwrap();
            client.sync(&self.store).unwrap();
            self
        })
        .await
        .unwrap()
    }

    fn verify(&self, text: &str) -> Scanned {
        self.store
            .lock()
            .unwrap()
            .verify_scanned(text, today())
            .unwrap()
    }
}

fn shop_verdict(scanned: Scanned) -> (Verdict, Option<String>) {
    match scanned {
        Scanned::Shop(c) => (c.verdict, c.kid),
        other => panic!("not a shop code: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_shop_url_verifies_offline_after_one_pull() {
    let s = TestServer::start().await;
    let admin = s.admin().await;
    let market = s.create_market(&admin).await;
    let m = merchant(&s, &admin, &market, 1, "shop1").await;
    let id = m["id"].as_str().unwrap();
    let token = s.token("shop1", "merchant-pass-1").await;

    let signed = signed_url(&s, &token, id).await;
    let url = signed["url"].as_str().unwrap();
    assert!(url.starts_with(&format!(
        "{}/s/{}?sig=",
        s.base,
        m["shop_code"].as_str().unwrap()
    )));
    // The admin may ask too; another merchant and an inspector may not.
    assert_eq!(
        signed_url(&s, &admin, id).await["shop_code"],
        m["shop_code"]
    );
    merchant(&s, &admin, &market, 2, "shop2").await;
    let other = s.token("shop2", "merchant-pass-1").await;
    expect_error(
        s.get(&format!("/v1/merchants/{id}/signed-code"), &other)
            .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    expect_error(
        s.get("/v1/merchants/no-such-merchant/signed-code", &admin)
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;

    // The URL opens the shop's page, as a phone camera would open it.
    let page = s.http.get(url).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains("签名测试1"));

    // The well-known trust list verifies it.
    let list = trust_list(&s).await;
    assert_eq!(list.keys.len(), 1);
    assert!(list.keys[0].signs);
    let checked = shop::verify_url(&list.verifier().unwrap(), url, today());
    assert_eq!(checked.verdict, Verdict::Genuine);
    assert_eq!(checked.kid.as_deref(), signed["kid"].as_str());

    // A fresh phone pulls once, then verifies with the server gone.
    let phone = Phone::new(&s.base, "phone-1", "shop2").sync().await;
    assert_eq!(
        phone.store.lock().unwrap().trust_list().unwrap(),
        Some(list)
    );
    s.stop().await;
    assert_eq!(shop_verdict(phone.verify(url)).0, Verdict::Genuine);
    let forged = url.replace(m["shop_code"].as_str().unwrap(), "0123456789ABCDEF");
    let (v, _) = shop_verdict(phone.verify(&forged));
    assert!(
        matches!(v, Verdict::Forged { .. } | Verdict::Malformed { .. }),
        "{v:?}"
    );
}

/// The QR sizes the doc comments of `shian_core::signed` state.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_codes_fit_the_stated_qr_versions() {
    let s = TestServer::start().await;
    let card = Merchant {
        id: "m1".into(),
        market_id: None,
        name: "x".into(),
        uscc: uscc("9235020300000001"),
        uscc_acknowledged: false,
        licence_no: None,
        licence_expiry: None,
        business_type: None,
        categories: vec![],
        stall: None,
        contact: None,
        region_code: "350203".into(),
        shop_code: shian_core::codes::new_code(&mut rand::rng()),
        created_at: chrono::Utc::now(),
    };
    let url =
        shian_server::signing::signed_shop_url(&s.state.keys, "https://shian.example.cn", &card);
    assert_eq!(url.len(), 222);
    // The segmenting (numeric, alphanumeric, byte runs) depends on the
    // shop code's letters and digits: over many codes the QR is version 7
    // or 8 at level M, never more.
    let mut versions = std::collections::BTreeSet::new();
    for _ in 0..300 {
        let card = Merchant {
            shop_code: shian_core::codes::new_code(&mut rand::rng()),
            ..card.clone()
        };
        let url = shian_server::signing::signed_shop_url(
            &s.state.keys,
            "https://shian.example.cn",
            &card,
        );
        let qr = QrCode::with_error_correction_level(url.as_bytes(), EcLevel::M).unwrap();
        versions.insert(match qr.version() {
            qrcode::Version::Normal(v) => v,
            other => panic!("{other:?}"),
        });
    }
    assert!(
        versions.iter().all(|v| (7..=8).contains(v)),
        "shop URL QR versions {versions:?}"
    );

    let device = ed25519_dalek::SigningKey::from_bytes(&[9; 32]);
    let (server, _) = s.state.keys.signer();
    let cert = shian_core::signed::voucher::certify(
        &server,
        [1; 8],
        &card.shop_code,
        today(),
        today() + chrono::Days::new(30),
        &device.verifying_key(),
    )
    .unwrap();
    let code = shian_core::codes::new_code(&mut rand::rng());
    let text = shian_core::signed::voucher::issue(
        &device,
        &cert,
        &NewVoucher {
            voucher_code: &code,
            product: "鲜猪肉",
            quantity: Quantity::new(12_500, BaseUnit::Gram),
            issued_on: today(),
        },
    )
    .unwrap();
    let qr = QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M).unwrap();
    assert_eq!(qr.version(), qrcode::Version::Normal(11), "voucher");
    s.stop().await;
}

fn cli(args: &[&str], db: &std::ffi::OsStr) -> std::process::Output {
    std::process::Command::new(BIN)
        .args(args)
        .arg("--db")
        .arg(db)
        .env_remove("SHIAN_DB")
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_keeps_old_codes_and_retirement_revokes_them() {
    let s = TestServer::start().await;
    let admin = s.admin().await;
    let market = s.create_market(&admin).await;
    let m = merchant(&s, &admin, &market, 3, "shop3").await;
    let id = m["id"].as_str().unwrap().to_owned();
    let old = signed_url(&s, &admin, &id).await;
    let old_kid = old["kid"].as_str().unwrap().to_owned();
    let phone = Phone::new(&s.base, "phone-3", "shop3").sync().await;

    // Rotate with the CLI while the server runs.
    let out = cli(&["keys", "rotate"], &s.db_arg());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    s.follow_keys();
    let new = signed_url(&s, &admin, &id).await;
    let new_kid = new["kid"].as_str().unwrap().to_owned();
    assert_ne!(new_kid, old_kid, "new codes use the new key");
    let list = trust_list(&s).await;
    assert_eq!(list.keys.len(), 2);
    let signer: Vec<_> = list
        .keys
        .iter()
        .filter(|k| k.signs)
        .map(|k| k.kid.clone())
        .collect();
    assert_eq!(signer, std::slice::from_ref(&new_kid));

    // The phone learns of the new key by pull; both codes verify.
    let phone = phone.sync().await;
    let (v, kid) = shop_verdict(phone.verify(old["url"].as_str().unwrap()));
    assert_eq!(
        (v, kid.as_deref()),
        (Verdict::Genuine, Some(old_kid.as_str()))
    );
    let (v, kid) = shop_verdict(phone.verify(new["url"].as_str().unwrap()));
    assert_eq!(
        (v, kid.as_deref()),
        (Verdict::Genuine, Some(new_kid.as_str()))
    );

    // The key that signs cannot be retired, nor an unknown one.
    assert!(!cli(&["keys", "retire", &new_kid], &s.db_arg())
        .status
        .success());
    assert!(!cli(&["keys", "retire", "ed25519-nosuchkey"], &s.db_arg())
        .status
        .success());
    // Retired, the old key's codes are revoked at the next pull.
    let out = cli(&["keys", "retire", &old_kid], &s.db_arg());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    s.follow_keys();
    let phone = phone.sync().await;
    let (v, _) = shop_verdict(phone.verify(old["url"].as_str().unwrap()));
    assert_eq!(
        v,
        Verdict::Revoked {
            part: Part::ServerKey,
            id: old_kid.clone()
        }
    );
    assert!(shop_verdict(phone.verify(new["url"].as_str().unwrap()))
        .0
        .is_genuine());
    // A restarted server signs with the new key too.
    let restarted = s.keys_restarted();
    assert_eq!(restarted.kid(), new_kid);
    s.assert_healthy().await;
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certified_device_signs_vouchers_offline_until_it_is_revoked() {
    let s = TestServer::start().await;
    let admin = s.admin().await;
    let market = s.create_market(&admin).await;
    let seller_card = merchant(&s, &admin, &market, 4, "seller").await;
    merchant(&s, &admin, &market, 5, "buyer").await;
    let seller_token = s.token("seller", "merchant-pass-1").await;

    // The tablet makes its key and enrols with it.
    let tablet = Phone::new(&s.base, "tablet-1", "seller");
    let public = tablet.store.lock().unwrap().device_public_key().unwrap();
    let res = s
        .post(
            "/v1/devices",
            &seller_token,
            json!({"name": "摊位平板", "public_key": public}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let enrolled: Value = res.json().await.unwrap();
    let device_id = enrolled["device_id"].as_str().unwrap().to_owned();
    let cert = &enrolled["certificate"];
    assert_eq!(cert["shop_code"], seller_card["shop_code"]);
    let claims = tablet
        .store
        .lock()
        .unwrap()
        .install_device_certificate(cert["certificate"].as_str().unwrap())
        .unwrap();
    assert_eq!(claims.cert_id, cert["cert_id"].as_str().unwrap());

    // Offline, it signs a voucher.
    let code = shian_core::codes::new_code(&mut rand::rng());
    let voucher = tablet
        .store
        .lock()
        .unwrap()
        .issue_voucher(&NewVoucher {
            voucher_code: &code,
            product: "冻牛肉",
            quantity: Quantity::new(20, BaseUnit::Box),
            issued_on: today(),
        })
        .unwrap();

    // The buyer's phone, after one pull, checks it and receives it once.
    let buyer = Phone::new(&s.base, "buyer-1", "buyer").sync().await;
    {
        let mut store = buyer.store.lock().unwrap();
        let first = store.receive_voucher(&voucher, today()).unwrap();
        assert_eq!(first.checked.verdict, Verdict::Genuine);
        let c = first.checked.claims.clone().unwrap();
        assert_eq!(
            c.seller_shop_code,
            seller_card["shop_code"].as_str().unwrap()
        );
        assert_eq!(
            (c.product.as_str(), c.quantity),
            ("冻牛肉", Quantity::new(20, BaseUnit::Box))
        );
        assert_eq!(first.already_received_at, None);
        let again = store.receive_voucher(&voucher, today()).unwrap();
        assert!(
            again.already_received_at.is_some(),
            "a replayed voucher is caught"
        );
    }

    // Only an admin revokes; an unknown device is 404.
    expect_error(
        s.post(
            &format!("/v1/devices/{device_id}/revoke"),
            &seller_token,
            json!({}),
        )
        .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    expect_error(
        s.post("/v1/devices/no-such-device/revoke", &admin, json!({}))
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let res = s
        .post(
            &format!("/v1/devices/{device_id}/revoke"),
            &admin,
            json!({}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let revoked: Value = res.json().await.unwrap();
    assert_eq!(revoked["cert_ids"], json!([cert["cert_id"]]));
    let list = trust_list(&s).await;
    assert_eq!(list.revoked_devices.len(), 1);

    // After the next pull the buyer's phone refuses its vouchers, offline.
    let buyer = buyer.sync().await;
    s.stop().await;
    match buyer.verify(&voucher) {
        Scanned::Voucher(c) => assert_eq!(
            c.verdict,
            Verdict::Revoked {
                part: Part::DeviceCertificate,
                id: cert["cert_id"].as_str().unwrap().to_owned()
            }
        ),
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_key_or_a_non_merchant_gets_no_certificate_and_stores_nothing() {
    let s = TestServer::start().await;
    let admin = s.admin().await;
    let market = s.create_market(&admin).await;
    merchant(&s, &admin, &market, 6, "shop6").await;
    let token = s.token("shop6", "merchant-pass-1").await;
    for bad in ["", "AAAA", "not base64!", &"!".repeat(43)] {
        let res = s
            .post(
                "/v1/devices",
                &token,
                json!({"name": "平板", "public_key": bad}),
            )
            .await;
        expect_error(res, StatusCode::BAD_REQUEST, "invalid_public_key").await;
    }
    // The schema's form, but a small-order point or stray final bits.
    for unusable in ["A".repeat(43), format!("{}B", "A".repeat(42))] {
        let res = s
            .post(
                "/v1/devices",
                &token,
                json!({"name": "平板", "public_key": unusable}),
            )
            .await;
        expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "unusable_public_key").await;
    }
    s.user(
        "insp",
        "inspector-pass-1",
        Role::Inspector,
        None,
        &["350203"],
    )
    .await;
    let insp = s.token("insp", "inspector-pass-1").await;
    let key = base64::Engine::encode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        ed25519_dalek::SigningKey::from_bytes(&[3; 32])
            .verifying_key()
            .as_bytes(),
    );
    let res = s
        .post(
            "/v1/devices",
            &insp,
            json!({"name": "手机", "public_key": key}),
        )
        .await;
    expect_error(res, StatusCode::FORBIDDEN, "certificate_for_merchants_only").await;
    // Nothing was stored: no certificate exists, the trust list is unchanged.
    assert!(trust_list(&s).await.revoked_devices.is_empty());
    // A device without a key still enrols as before.
    let res = s.post("/v1/devices", &insp, json!({"name": "手机"})).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let v: Value = res.json().await.unwrap();
    assert!(v.get("certificate").is_none());
    s.assert_healthy().await;
    s.stop().await;
}
