//! Signed shop codes and vouchers verified offline (issue 12, item 1):
//! genuine, forged, truncated, re-signed, expired, revoked, unknown key,
//! rotation, and a voucher received twice.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::NaiveDate;
use ed25519_dalek::{Signer, SigningKey};
use proptest::prelude::*;
use shian_core::codes::new_code;
use shian_core::quantity::{BaseUnit, Quantity};
use shian_core::signed::local::{Scanned, TRUST_LIST_KEY, TRUST_LIST_KIND};
use shian_core::signed::shop::{self, ShopClaims, SIG_DIGITS};
use shian_core::signed::trust::key_id;
use shian_core::signed::voucher::{self, NewVoucher, CERT_BYTES};
use shian_core::signed::wire::{from_digits, to_digits};
use shian_core::signed::{
    KeyStatus, Part, RevokedDevice, TrustList, TrustedKey, Verdict, Verifier,
};
use shian_core::store::LocalStore;

const BASE: &str = "https://shian.example.cn";

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

fn today() -> NaiveDate {
    day(2026, 12, 1)
}

/// Fixed seeds: the tests never depend on two random keys' tags differing.
fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

fn trusted(k: &SigningKey, status: KeyStatus, signs: bool) -> TrustedKey {
    TrustedKey {
        kid: key_id(&k.verifying_key()),
        alg: "Ed25519".into(),
        public_key: URL_SAFE_NO_PAD.encode(k.verifying_key().as_bytes()),
        status,
        signs,
        valid_from: day(2026, 1, 1),
        valid_until: None,
    }
}

fn list(keys: Vec<TrustedKey>) -> TrustList {
    TrustList {
        keys,
        revoked_devices: Vec::new(),
    }
}

fn verifier(keys: Vec<TrustedKey>) -> Verifier {
    list(keys).verifier().unwrap()
}

fn shop_claims() -> ShopClaims {
    ShopClaims {
        shop_code: new_code(&mut rand::rng()),
        issued_on: day(2026, 11, 30),
        expires_on: None,
    }
}

#[test]
fn a_genuine_shop_url_verifies_and_says_which_shop() {
    let server = key(1);
    let claims = ShopClaims {
        expires_on: Some(day(2027, 11, 30)),
        ..shop_claims()
    };
    let url = shop::url(BASE, &server, &claims).unwrap();
    assert_eq!(
        url,
        format!(
            "{BASE}/s/{}?sig={}",
            claims.shop_code,
            &url[url.len() - SIG_DIGITS..]
        )
    );
    // The size stated in `signed::shop`'s doc comment.
    assert_eq!(url.len(), 222);
    let v = verifier(vec![trusted(&server, KeyStatus::Active, true)]);
    let checked = shop::verify_url(&v, &url, today());
    assert_eq!(checked.verdict, Verdict::Genuine);
    assert_eq!(checked.claims, Some(claims));
    assert_eq!(checked.kid, Some(key_id(&server.verifying_key())));
    // A phone may hand over the code in lower case.
    let lower = url.to_lowercase();
    assert_eq!(
        shop::verify_url(&v, &lower, today()).verdict,
        Verdict::Genuine
    );
}

#[test]
fn a_shop_url_with_another_shops_code_is_forged() {
    let server = key(1);
    let url = shop::url(BASE, &server, &shop_claims()).unwrap();
    let (_, sig) = url.split_once("?sig=").unwrap();
    let other = new_code(&mut rand::rng());
    let tampered = format!("{BASE}/s/{other}?sig={sig}");
    let v = verifier(vec![trusted(&server, KeyStatus::Active, true)]);
    let checked = shop::verify_url(&v, &tampered, today());
    assert!(
        matches!(
            checked.verdict,
            Verdict::Forged {
                part: Part::Code,
                ..
            }
        ),
        "{checked:?}"
    );
    assert_eq!(checked.claims.unwrap().shop_code, other);
}

/// Takes the 72 bytes behind `sig=` apart, changes them and writes them back.
fn with_sig_bytes(url: &str, f: impl FnOnce(&mut Vec<u8>)) -> String {
    let (head, sig) = url.split_once("?sig=").unwrap();
    let mut bytes = from_digits(sig).unwrap();
    f(&mut bytes);
    format!("{head}?sig={}", to_digits(&bytes))
}

#[test]
fn a_changed_date_or_signature_is_forged() {
    let server = key(1);
    let url = shop::url(BASE, &server, &shop_claims()).unwrap();
    let v = verifier(vec![trusted(&server, KeyStatus::Active, true)]);
    // A later expiry written in: bytes 6..8.
    let longer = with_sig_bytes(&url, |b| b[6..8].copy_from_slice(&[0x30, 0x00]));
    assert!(matches!(
        shop::verify_url(&v, &longer, today()).verdict,
        Verdict::Forged { .. }
    ));
    // One bit of the signature.
    let flipped = with_sig_bytes(&url, |b| b[40] ^= 1);
    assert!(matches!(
        shop::verify_url(&v, &flipped, today()).verdict,
        Verdict::Forged { .. }
    ));
}

#[test]
fn truncated_and_padded_shop_urls_are_malformed() {
    let server = key(1);
    let url = shop::url(BASE, &server, &shop_claims()).unwrap();
    let v = verifier(vec![trusted(&server, KeyStatus::Active, true)]);
    for bad in [
        url[..url.len() - 1].to_owned(),
        url[..url.len() - 40].to_owned(),
        format!("{url}0"),
        url.split_once('?').unwrap().0.to_owned(),
        url.replace("/s/", "/x/"),
        url.replace("sig=", "sig=x"),
        String::new(),
    ] {
        let checked = shop::verify_url(&v, &bad, today());
        assert_eq!(checked.verdict.code(), "malformed", "{bad}: {checked:?}");
        assert!(checked.claims.is_none());
    }
}

#[test]
fn a_shop_url_re_signed_by_another_key_is_unknown_or_forged() {
    let server = key(1);
    let forger = key(2);
    let claims = shop_claims();
    let v = verifier(vec![trusted(&server, KeyStatus::Active, true)]);
    // Signed with a key the trust list does not hold: unknown key.
    let resigned = shop::url(BASE, &forger, &claims).unwrap();
    let checked = shop::verify_url(&v, &resigned, today());
    assert!(
        matches!(checked.verdict, Verdict::UnknownKey { .. }),
        "{checked:?}"
    );
    // Signed by the forger but naming the trusted key's tag: forged.
    let genuine = shop::url(BASE, &server, &claims).unwrap();
    let tag = from_digits(genuine.split_once("?sig=").unwrap().1).unwrap()[..4].to_vec();
    let posing = with_sig_bytes(&resigned, |b| {
        b[..4].copy_from_slice(&tag);
        let mut msg = b"shian/shop/v1\0".to_vec();
        msg.extend_from_slice(claims.shop_code.as_bytes());
        msg.extend_from_slice(&b[..8]);
        let sig = forger.sign(&msg);
        b[8..].copy_from_slice(&sig.to_bytes());
    });
    let checked = shop::verify_url(&v, &posing, today());
    assert!(
        matches!(checked.verdict, Verdict::Forged { .. }),
        "{checked:?}"
    );
}

#[test]
fn an_expired_shop_code_says_so_with_its_date() {
    let server = key(1);
    let claims = ShopClaims {
        expires_on: Some(day(2026, 11, 30)),
        ..shop_claims()
    };
    let url = shop::url(BASE, &server, &claims).unwrap();
    let v = verifier(vec![trusted(&server, KeyStatus::Active, true)]);
    assert_eq!(
        shop::verify_url(&v, &url, today()).verdict,
        Verdict::Expired {
            part: Part::Code,
            on: day(2026, 11, 30)
        }
    );
    // The last day is still good.
    assert!(shop::verify_url(&v, &url, day(2026, 11, 30))
        .verdict
        .is_genuine());
}

#[test]
fn after_rotation_old_codes_verify_and_new_ones_use_the_new_key() {
    let old = key(1);
    let new = key(3);
    let old_url = shop::url(BASE, &old, &shop_claims()).unwrap();
    let new_url = shop::url(BASE, &new, &shop_claims()).unwrap();
    let v = verifier(vec![
        trusted(&old, KeyStatus::Active, false),
        trusted(&new, KeyStatus::Active, true),
    ]);
    let a = shop::verify_url(&v, &old_url, today());
    let b = shop::verify_url(&v, &new_url, today());
    assert!(a.verdict.is_genuine() && b.verdict.is_genuine());
    assert_eq!(a.kid, Some(key_id(&old.verifying_key())));
    assert_eq!(b.kid, Some(key_id(&new.verifying_key())));
    // Retired, the old key's codes are revoked; the new ones stay good.
    let v = verifier(vec![
        trusted(&old, KeyStatus::Retired, false),
        trusted(&new, KeyStatus::Active, true),
    ]);
    assert_eq!(
        shop::verify_url(&v, &old_url, today()).verdict,
        Verdict::Revoked {
            part: Part::ServerKey,
            id: key_id(&old.verifying_key())
        }
    );
    assert!(shop::verify_url(&v, &new_url, today()).verdict.is_genuine());
}

#[test]
fn a_code_dated_before_its_key_is_forged() {
    let server = key(1);
    let claims = ShopClaims {
        issued_on: day(2025, 6, 1),
        ..shop_claims()
    };
    let url = shop::url(BASE, &server, &claims).unwrap();
    let v = verifier(vec![trusted(&server, KeyStatus::Active, true)]);
    assert!(matches!(
        shop::verify_url(&v, &url, today()).verdict,
        Verdict::Forged { .. }
    ));
}

#[test]
fn a_trust_list_with_a_wrong_kid_or_key_is_refused() {
    let mut k = trusted(&key(1), KeyStatus::Active, true);
    k.kid = "ed25519-AAAAAAAAAAAAAAAA".into();
    assert!(list(vec![k]).verifier().is_err());
    let mut k = trusted(&key(1), KeyStatus::Active, true);
    k.public_key = "AAAA".into();
    assert!(list(vec![k]).verifier().is_err());
    let json =
        serde_json::to_string(&list(vec![trusted(&key(1), KeyStatus::Active, true)])).unwrap();
    assert!(TrustList::from_json(&json).unwrap().verifier().is_ok());
}

// --- vouchers -------------------------------------------------------------

struct Device {
    key: SigningKey,
    cert: [u8; CERT_BYTES],
    shop_code: String,
}

fn device(server: &SigningKey, seed: u8, id: u8, until: NaiveDate) -> Device {
    let key = key(seed);
    let shop_code = new_code(&mut rand::rng());
    let cert = voucher::certify(
        server,
        [id; 8],
        &shop_code,
        day(2026, 1, 1),
        until,
        &key.verifying_key(),
    )
    .unwrap();
    Device {
        key,
        cert,
        shop_code,
    }
}

fn pork(code: &str) -> NewVoucher<'_> {
    NewVoucher {
        voucher_code: code,
        product: "鲜猪肉",
        quantity: Quantity::new(12_500, BaseUnit::Gram),
        issued_on: day(2026, 12, 1),
    }
}

#[test]
fn a_genuine_voucher_verifies_through_its_certificate() {
    let server = key(1);
    let d = device(&server, 20, 1, day(2028, 1, 1));
    let code = new_code(&mut rand::rng());
    let text = voucher::issue(&d.key, &d.cert, &pork(&code)).unwrap();
    // The size stated in `signed::voucher`'s doc comment.
    assert_eq!(text.len(), 513);
    let v = verifier(vec![trusted(&server, KeyStatus::Active, true)]);
    let checked = voucher::verify(&v, &text, today());
    assert_eq!(checked.verdict, Verdict::Genuine);
    let claims = checked.claims.unwrap();
    assert_eq!(claims.voucher_code, code);
    assert_eq!(claims.product, "鲜猪肉");
    assert_eq!(claims.quantity, Quantity::new(12_500, BaseUnit::Gram));
    assert_eq!(claims.seller_shop_code, d.shop_code);
    assert_eq!(claims.cert_id, "0101010101010101");
    assert_eq!(checked.kid, Some(key_id(&server.verifying_key())));
}

/// The voucher's bytes, changed and written back.
fn with_voucher_bytes(text: &str, f: impl FnOnce(&mut Vec<u8>)) -> String {
    let mut bytes = from_digits(&text[4..]).unwrap();
    f(&mut bytes);
    format!("SV1:{}", to_digits(&bytes))
}

#[test]
fn a_voucher_with_a_changed_quantity_is_forged() {
    let server = key(1);
    let d = device(&server, 20, 1, day(2028, 1, 1));
    let text = voucher::issue(&d.key, &d.cert, &pork(&new_code(&mut rand::rng()))).unwrap();
    // Byte 13 is the amount's first LEB128 byte (after code 10, date 2, unit 1).
    let more = with_voucher_bytes(&text, |b| b[13] ^= 0x10);
    let v = verifier(vec![trusted(&server, KeyStatus::Active, true)]);
    let checked = voucher::verify(&v, &more, today());
    assert!(
        matches!(
            checked.verdict,
            Verdict::Forged {
                part: Part::Code,
                ..
            }
        ),
        "{checked:?}"
    );
    assert_ne!(checked.claims.unwrap().quantity.amount, 12_500);
}

#[test]
fn a_voucher_signed_by_an_uncertified_key_with_a_stolen_certificate_is_forged() {
    let server = key(1);
    let d = device(&server, 20, 1, day(2028, 1, 1));
    let thief = key(21);
    // `issue` refuses a certificate of another key, so sign by hand: take a
    // genuine voucher and replace its signature with the thief's.
    let text = voucher::issue(&d.key, &d.cert, &pork(&new_code(&mut rand::rng()))).unwrap();
    let forged = with_voucher_bytes(&text, |b| {
        let n = b.len() - 64;
        let mut msg = b"shian/voucher/v1\0".to_vec();
        msg.extend_from_slice(&b[..n]);
        let sig = thief.sign(&msg);
        b[n..].copy_from_slice(&sig.to_bytes());
    });
    let v = verifier(vec![trusted(&server, KeyStatus::Active, true)]);
    assert!(matches!(
        voucher::verify(&v, &forged, today()).verdict,
        Verdict::Forged {
            part: Part::Code,
            ..
        }
    ));
    assert_eq!(
        voucher::issue(&thief, &d.cert, &pork(&new_code(&mut rand::rng()))),
        Err(shian_core::signed::SignError::CertificateKeyMismatch)
    );
}

#[test]
fn a_certificate_from_an_unknown_or_posing_server_is_caught() {
    let server = key(1);
    let rogue = key(5);
    let d = device(&rogue, 20, 1, day(2028, 1, 1));
    let text = voucher::issue(&d.key, &d.cert, &pork(&new_code(&mut rand::rng()))).unwrap();
    let v = verifier(vec![trusted(&server, KeyStatus::Active, true)]);
    assert!(matches!(
        voucher::verify(&v, &text, today()).verdict,
        Verdict::UnknownKey { .. }
    ));
    // The certificate's server signature flipped: forged certificate.
    let genuine = device(&server, 20, 2, day(2028, 1, 1));
    let text = voucher::issue(
        &genuine.key,
        &genuine.cert,
        &pork(&new_code(&mut rand::rng())),
    )
    .unwrap();
    let flipped = with_voucher_bytes(&text, |b| {
        let cert_sig = b.len() - 64 - 10;
        b[cert_sig] ^= 1;
    });
    assert!(matches!(
        voucher::verify(&v, &flipped, today()).verdict,
        Verdict::Forged {
            part: Part::DeviceCertificate,
            ..
        }
    ));
}

#[test]
fn a_revoked_device_and_an_expired_certificate_are_told_apart() {
    let server = key(1);
    let d = device(&server, 20, 7, day(2028, 1, 1));
    let text = voucher::issue(&d.key, &d.cert, &pork(&new_code(&mut rand::rng()))).unwrap();
    let mut l = list(vec![trusted(&server, KeyStatus::Active, true)]);
    l.revoked_devices.push(RevokedDevice {
        cert_id: "0707070707070707".into(),
        device_id: None,
        revoked_at: "2026-12-01T08:00:00Z".into(),
    });
    let checked = voucher::verify(&l.verifier().unwrap(), &text, today());
    assert_eq!(
        checked.verdict,
        Verdict::Revoked {
            part: Part::DeviceCertificate,
            id: "0707070707070707".into()
        }
    );
    assert!(checked.claims.is_some());

    let short = device(&server, 22, 8, day(2026, 11, 30));
    let text = voucher::issue(
        &short.key,
        &short.cert,
        &NewVoucher {
            issued_on: day(2026, 11, 30),
            ..pork(&new_code(&mut rand::rng()))
        },
    )
    .unwrap();
    let v = verifier(vec![trusted(&server, KeyStatus::Active, true)]);
    assert_eq!(
        voucher::verify(&v, &text, today()).verdict,
        Verdict::Expired {
            part: Part::DeviceCertificate,
            on: day(2026, 11, 30)
        }
    );
}

#[test]
fn truncated_vouchers_are_malformed() {
    let server = key(1);
    let d = device(&server, 20, 1, day(2028, 1, 1));
    let text = voucher::issue(&d.key, &d.cert, &pork(&new_code(&mut rand::rng()))).unwrap();
    let v = verifier(vec![trusted(&server, KeyStatus::Active, true)]);
    for cut in [1, 2, 3, 100, 400, text.len() - 4] {
        let bad = &text[..text.len() - cut];
        assert_eq!(
            voucher::verify(&v, bad, today()).verdict.code(),
            "malformed",
            "cut {cut}"
        );
    }
    assert_eq!(
        voucher::verify(&v, &text[4..], today()).verdict.code(),
        "malformed"
    );
    // Whole bytes cut from the end and written back at their own width.
    let short = with_voucher_bytes(&text, |b| b.truncate(b.len() - 1));
    assert_eq!(
        voucher::verify(&v, &short, today()).verdict.code(),
        "malformed"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// No change of one digit makes a shop URL verify as another genuine
    /// one, and nothing panics.
    #[test]
    fn no_one_digit_change_of_a_shop_url_is_genuine(pos in 0usize..SIG_DIGITS, digit in 0u8..10) {
        let server = key(1);
        let url = shop::url(BASE, &server, &shop_claims()).unwrap();
        let i = url.len() - SIG_DIGITS + pos;
        let mut bytes = url.clone().into_bytes();
        prop_assume!(bytes[i] != b'0' + digit);
        bytes[i] = b'0' + digit;
        let changed = String::from_utf8(bytes).unwrap();
        let v = verifier(vec![trusted(&server, KeyStatus::Active, true)]);
        prop_assert!(!shop::verify_url(&v, &changed, today()).verdict.is_genuine());
    }

    /// Any byte of a voucher changed: never genuine, never a panic.
    #[test]
    fn no_one_byte_change_of_a_voucher_is_genuine(pos in 0usize..211, xor in 1u8..=255) {
        let server = key(1);
        let d = device(&server, 20, 1, day(2028, 1, 1));
        let text = voucher::issue(&d.key, &d.cert, &pork(&new_code(&mut rand::rng()))).unwrap();
        let changed = with_voucher_bytes(&text, |b| b[pos] ^= xor);
        let v = verifier(vec![trusted(&server, KeyStatus::Active, true)]);
        prop_assert!(!voucher::verify(&v, &changed, today()).verdict.is_genuine());
    }

    /// Arbitrary text never panics and is never genuine.
    #[test]
    fn arbitrary_text_is_never_genuine(s in ".{0,600}") {
        let v = verifier(vec![trusted(&key(1), KeyStatus::Active, true)]);
        let as_voucher = format!("SV1:{s}");
        let as_shop = format!("{BASE}/s/{s}");
        prop_assert!(!voucher::verify(&v, &as_voucher, today()).verdict.is_genuine());
        prop_assert!(!shop::verify_url(&v, &as_shop, today()).verdict.is_genuine());
    }
}

// --- the device's local store -------------------------------------------

/// Puts a trust list where a pull leaves it: the inbox row of its change
/// kind (the server test pulls it for real).
fn store_with_trust_list(l: &TrustList) -> LocalStore {
    let store = LocalStore::open_in_memory().unwrap();
    let mut payload = serde_json::to_value(l).unwrap();
    payload["id"] = TRUST_LIST_KEY.into();
    store
        .conn()
        .execute(
            "INSERT INTO inbox (kind, key, seq, payload) VALUES (?1, ?2, 1, ?3)",
            rusqlite::params![TRUST_LIST_KIND, TRUST_LIST_KEY, payload.to_string()],
        )
        .unwrap();
    store
}

#[test]
fn a_device_issues_vouchers_offline_and_a_voucher_received_twice_says_so() {
    let server = key(1);
    let l = list(vec![trusted(&server, KeyStatus::Active, true)]);
    // The seller's tablet: a key made on the device, certified by the server.
    let mut seller = store_with_trust_list(&l);
    let public = seller.device_public_key().unwrap();
    assert_eq!(seller.device_public_key().unwrap(), public, "made once");
    let device_key = ed25519_dalek::VerifyingKey::from_bytes(
        &URL_SAFE_NO_PAD.decode(&public).unwrap().try_into().unwrap(),
    )
    .unwrap();
    let shop_code = new_code(&mut rand::rng());
    let cert = voucher::certify(
        &server,
        [3; 8],
        &shop_code,
        day(2026, 1, 1),
        day(2028, 1, 1),
        &device_key,
    )
    .unwrap();
    let claims = seller
        .install_device_certificate(&URL_SAFE_NO_PAD.encode(cert))
        .unwrap();
    assert_eq!(claims.shop_code, shop_code);
    let code = new_code(&mut rand::rng());
    let text = seller.issue_voucher(&pork(&code)).unwrap();

    // The buyer's phone, offline.
    let mut buyer = store_with_trust_list(&l);
    match buyer.verify_scanned(&text, today()).unwrap() {
        Scanned::Voucher(c) => assert!(c.verdict.is_genuine()),
        other => panic!("{other:?}"),
    }
    let first = buyer.receive_voucher(&text, today()).unwrap();
    assert!(first.checked.verdict.is_genuine());
    assert_eq!(first.already_received_at, None);
    let second = buyer.receive_voucher(&text, today()).unwrap();
    assert!(second.checked.verdict.is_genuine());
    assert!(second.already_received_at.is_some(), "the replay is caught");

    // A certificate for another key is refused.
    let other = voucher::certify(
        &server,
        [4; 8],
        &shop_code,
        day(2026, 1, 1),
        day(2028, 1, 1),
        &key(9).verifying_key(),
    )
    .unwrap();
    assert!(seller
        .install_device_certificate(&URL_SAFE_NO_PAD.encode(other))
        .is_err());
}

#[test]
fn with_no_trust_list_a_device_says_sync_first() {
    let store = LocalStore::open_in_memory().unwrap();
    assert!(store.trust_list().unwrap().is_none());
    assert!(matches!(
        store.verify_scanned("https://x/s/0?sig=1", today()),
        Err(shian_core::signed::local::LocalSignedError::NoTrustList)
    ));
}

#[test]
fn the_benchmark_sample_is_all_genuine() {
    let s = shian_core::signed::bench::sample(3);
    assert_eq!(s.verify_all(), (3, 3));
}
