//! The signed shop code (一店一码): a URL a phone camera opens, with the
//! server's signature in its query so an inspector's phone can tell a
//! genuine stall sign from a printed fake with no signal.
//!
//! Form: `{base}/s/{shop_code}?sig={digits}` — [`SIG_DIGITS`] (174) digits
//! holding [`SIG_BYTES`] (72) bytes:
//!
//! | bytes | field |
//! |---|---|
//! | 4 | key tag: first 4 bytes of SHA-256(server public key) |
//! | 2 | issued: days since 2020-01-01 |
//! | 2 | expires: days since 2020-01-01, `FFFF` = none |
//! | 64 | Ed25519 signature over `"shian/shop/v1\0"`, the 16-character shop code, and the 8 bytes above |
//!
//! Size: with the base `https://shian.example.cn` the URL is 222
//! characters; `qrcode` encodes the digits in numeric mode and the QR is
//! version 7 or 8 at level M, by how the shop code's letters and digits
//! fall into segments (`server/tests/signed_codes.rs` measures 300 codes).
//! The signature alone is 512 bits, so version 6 at M (864 data bits)
//! cannot hold a signature with a useful URL around it; 7-M and 8-M are
//! 45 and 49 modules a side, read in poor light at 2–3 cm a side.

use chrono::NaiveDate;
use ed25519_dalek::{Signature, Signer, SigningKey};
use serde::Serialize;

use super::trust::{kid_tag, Verifier, KID_TAG_LEN};
use super::wire::{self, Reader, Writer, NO_DAY};
use super::{check_server_signature, Checked, Part, SignError, Verdict};
use crate::codes;

/// Bytes behind `sig=`.
pub const SIG_BYTES: usize = KID_TAG_LEN + 2 + 2 + 64;
/// Digits of `sig=` (fixed width: a shorter or longer value is malformed).
pub const SIG_DIGITS: usize = 174;

const DOMAIN: &[u8] = b"shian/shop/v1\0";

/// What a shop code claims.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ShopClaims {
    /// The merchant's shop code (canonical, 16 symbols).
    pub shop_code: String,
    pub issued_on: NaiveDate,
    pub expires_on: Option<NaiveDate>,
}

fn message(shop_code: &str, head: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(DOMAIN.len() + shop_code.len() + head.len());
    m.extend_from_slice(DOMAIN);
    m.extend_from_slice(shop_code.as_bytes());
    m.extend_from_slice(head);
    m
}

/// Signs a shop code with a server key; returns the `sig` digits.
pub fn sign(key: &SigningKey, claims: &ShopClaims) -> Result<String, SignError> {
    let code = codes::parse_code(&claims.shop_code, "shop_code")
        .ok()
        .filter(|c| *c == claims.shop_code)
        .ok_or(SignError::BadCode { field: "shop_code" })?;
    let issued =
        wire::day_number(claims.issued_on).ok_or(SignError::BadDate { field: "issued_on" })?;
    let expires = match claims.expires_on {
        Some(d) => wire::day_number(d).ok_or(SignError::BadDate {
            field: "expires_on",
        })?,
        None => NO_DAY,
    };
    let mut w = Writer::default();
    w.bytes(&kid_tag(&key.verifying_key()))
        .u16(issued)
        .u16(expires);
    let sig = key.sign(&message(&code, &w.0));
    w.bytes(&sig.to_bytes());
    Ok(wire::to_digits(&w.0))
}

/// The shop code's URL: `{base}/s/{shop_code}?sig={digits}` (`base`
/// without a trailing slash, e.g. `https://shian.example.cn`).
pub fn url(base: &str, key: &SigningKey, claims: &ShopClaims) -> Result<String, SignError> {
    let sig = sign(key, claims)?;
    Ok(format!(
        "{}/s/{}?sig={sig}",
        base.trim_end_matches('/'),
        claims.shop_code
    ))
}

/// A shop URL taken apart, before any signature is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedShopUrl {
    pub claims: ShopClaims,
    tag: [u8; KID_TAG_LEN],
    head: [u8; 8],
    signature: Signature,
}

/// Takes a scanned shop URL apart: the shop code after the last `/s/`, the
/// `sig` parameter of the query. Case of the code and look-alike symbols
/// are folded as a person's typing is.
pub fn parse_url(url: &str) -> Result<ParsedShopUrl, String> {
    let url = url.trim();
    let (_, after) = url
        .rsplit_once("/s/")
        .ok_or("不是店铺码网址 (no /s/ in the URL)")?;
    let (code, query) = after
        .split_once('?')
        .ok_or("店铺码缺少签名 (no ?sig= in the URL)")?;
    let code = codes::parse_code(code, "shop_code").map_err(|e| e.message)?;
    let query = query.split('#').next().unwrap_or_default();
    let sig = query
        .split('&')
        .find_map(|p| p.strip_prefix("sig="))
        .ok_or("店铺码缺少签名 (no sig parameter)")?;
    if sig.len() != SIG_DIGITS {
        return Err(format!(
            "签名长度 {} 位，应为 {SIG_DIGITS} 位 (truncated or padded signature)",
            sig.len()
        ));
    }
    let bytes = wire::from_digits(sig).ok_or("签名不是有效数字 (signature is not a number)")?;
    let mut r = Reader::new(&bytes);
    let fields = (|| {
        let tag: [u8; KID_TAG_LEN] = r.array()?;
        let issued = r.u16()?;
        let expires = r.u16()?;
        let sig: [u8; 64] = r.array()?;
        Some((tag, issued, expires, sig))
    })();
    let (tag, issued, expires, sig) = fields
        .filter(|_| r.rest() == 0)
        .ok_or("签名长度不符 (signature has the wrong length)")?;
    let issued_on = wire::day_from(issued).ok_or("签发日期无效 (no issue date)")?;
    let mut head = [0u8; 8];
    head[..4].copy_from_slice(&tag);
    head[4..6].copy_from_slice(&issued.to_be_bytes());
    head[6..].copy_from_slice(&expires.to_be_bytes());
    Ok(ParsedShopUrl {
        claims: ShopClaims {
            shop_code: code,
            issued_on,
            expires_on: wire::day_from(expires),
        },
        tag,
        head,
        signature: Signature::from_bytes(&sig),
    })
}

/// Verifies a scanned shop URL against the trust list on `today`.
pub fn verify_url(verifier: &Verifier, url: &str, today: NaiveDate) -> Checked<ShopClaims> {
    let parsed = match parse_url(url) {
        Ok(p) => p,
        Err(reason) => return Checked::malformed(reason),
    };
    let msg = message(&parsed.claims.shop_code, &parsed.head);
    let claims = parsed.claims;
    let key = match check_server_signature(
        verifier,
        &parsed.tag,
        &msg,
        &parsed.signature,
        claims.issued_on,
        today,
        Part::Code,
    ) {
        Ok(k) => k,
        Err(verdict) => {
            return Checked {
                verdict,
                claims: Some(claims),
                kid: None,
            }
        }
    };
    let verdict = match claims.expires_on {
        Some(on) if today > on => Verdict::Expired {
            part: Part::Code,
            on,
        },
        _ => Verdict::Genuine,
    };
    Checked {
        verdict,
        claims: Some(claims),
        kid: Some(key.kid.clone()),
    }
}
