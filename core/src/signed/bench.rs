//! The entry of the verification benchmark (issue 12: "code verifications
//! per second in core"): a trust list with three server keys (one retired)
//! and signed shop URLs and vouchers to verify. Time
//! [`Sample::verify_all`]; `cargo run --release -p shian-core --example
//! signed_verify_bench` prints the figure.

use chrono::NaiveDate;
use ed25519_dalek::SigningKey;

use super::shop::{self, ShopClaims};
use super::trust::{key_id, KeyStatus, TrustList, TrustedKey, Verifier};
use super::voucher::{self, NewVoucher};
use crate::quantity::{BaseUnit, Quantity};

/// Codes to verify and what to verify them with.
pub struct Sample {
    pub verifier: Verifier,
    pub shop_urls: Vec<String>,
    pub vouchers: Vec<String>,
    pub today: NaiveDate,
}

fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

/// `n` shop URLs and `n` vouchers, all genuine, signed by the newest key.
pub fn sample(n: usize) -> Sample {
    let today = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap_or_default();
    let from = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap_or_default();
    let keys: Vec<SigningKey> = (1..=3).map(key).collect();
    let list = TrustList {
        keys: keys
            .iter()
            .enumerate()
            .map(|(i, k)| TrustedKey {
                kid: key_id(&k.verifying_key()),
                alg: "Ed25519".into(),
                public_key: base64::Engine::encode(
                    &base64::engine::general_purpose::URL_SAFE_NO_PAD,
                    k.verifying_key().as_bytes(),
                ),
                status: if i == 0 {
                    KeyStatus::Retired
                } else {
                    KeyStatus::Active
                },
                signs: i == 2,
                valid_from: from,
                valid_until: None,
            })
            .collect(),
        revoked_devices: Vec::new(),
    };
    let server = &keys[2];
    let device = key(9);
    let mut rng = rand::rng();
    let shop_code = crate::codes::new_code(&mut rng);
    let cert = voucher::certify(
        server,
        [7; 8],
        &shop_code,
        from,
        NaiveDate::from_ymd_opt(2028, 1, 1).unwrap_or_default(),
        &device.verifying_key(),
    );
    let mut shop_urls = Vec::with_capacity(n);
    let mut vouchers = Vec::with_capacity(n);
    for _ in 0..n {
        let claims = ShopClaims {
            shop_code: crate::codes::new_code(&mut rng),
            issued_on: today,
            expires_on: None,
        };
        if let Ok(url) = shop::url("https://shian.example.cn", server, &claims) {
            shop_urls.push(url);
        }
        let code = crate::codes::new_code(&mut rng);
        let v = NewVoucher {
            voucher_code: &code,
            product: "鲜猪肉",
            quantity: Quantity::new(12_500, BaseUnit::Gram),
            issued_on: today,
        };
        if let Some(text) = cert
            .as_ref()
            .ok()
            .and_then(|c| voucher::issue(&device, c, &v).ok())
        {
            vouchers.push(text);
        }
    }
    Sample {
        // Built from valid keys above, so it decodes.
        verifier: list.verifier().unwrap_or(Verifier {
            keys: Vec::new(),
            revoked: Default::default(),
        }),
        shop_urls,
        vouchers,
        today,
    }
}

impl Sample {
    /// Verifies every code once; returns how many were genuine (all of
    /// them, unless something is broken).
    pub fn verify_all(&self) -> (usize, usize) {
        let shops = self
            .shop_urls
            .iter()
            .filter(|u| {
                shop::verify_url(&self.verifier, u, self.today)
                    .verdict
                    .is_genuine()
            })
            .count();
        let vouchers = self
            .vouchers
            .iter()
            .filter(|v| {
                voucher::verify(&self.verifier, v, self.today)
                    .verdict
                    .is_genuine()
            })
            .count();
        (shops, vouchers)
    }
}
