//! Signed shop codes and vouchers, verified with no network (DESIGN.md,
//! "Signed codes"; the EU Digital COVID Certificate's design: a key id in
//! the payload, a trust list synced to verifiers, verified offline).
//!
//! Two formats, both Ed25519 over a fixed binary layout ([`wire`]), written
//! as fixed-width decimal digits (a QR code's numeric mode, the densest):
//!
//! - **shop code** ([`shop`]): `{base}/s/{shop_code}?sig={174 digits}`, a
//!   URL any phone camera opens; the digits hold 72 bytes (key tag, issue
//!   date, optional expiry, the server's signature over the shop code and
//!   those fields).
//! - **voucher** ([`voucher`], 上市凭证): `SV1:` + digits, signed offline by
//!   a merchant's *device* key, carrying the device certificate the server
//!   signed when the device enrolled, so a phone checks server key →
//!   device certificate → voucher with nothing but the trust list.
//!
//! [`trust::TrustList`] is what verification trusts; [`Verdict`] tells
//! genuine, forged, expired, revoked, unknown key and malformed apart, and
//! [`Checked`] carries what the code claims alongside. [`local`] keeps the
//! device's key, its certificate, the pulled trust list and the vouchers
//! already received in the local store. [`bench`] is the benchmark's entry.

pub mod bench;
pub mod local;
pub mod shop;
pub mod trust;
pub mod voucher;
pub mod wire;

use chrono::NaiveDate;
use ed25519_dalek::Signature;
use serde::Serialize;

pub use trust::{KeyStatus, RevokedDevice, TrustList, TrustListError, TrustedKey, Verifier};

/// Which link of the chain a verdict is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Part {
    /// The shop code or voucher itself.
    Code,
    /// The merchant device's certificate inside a voucher.
    DeviceCertificate,
    /// The server key that signed the code or the certificate.
    ServerKey,
}

/// What offline verification concluded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Verdict {
    /// Signed by a trusted key, in date, nothing revoked.
    Genuine,
    /// A signature does not match (a field was changed, or someone signed
    /// with a key posing as a trusted one), or a date lies outside its
    /// signer's validity.
    Forged { part: Part, reason: String },
    /// Genuine but past its end date.
    Expired { part: Part, on: NaiveDate },
    /// Signed by a retired server key, or a revoked device certificate.
    Revoked { part: Part, id: String },
    /// Its key tag names no key in the trust list (a newer key not yet
    /// synced, or another issuer).
    UnknownKey { kid_tag: String },
    /// Not a code of this format, truncated, or padded.
    Malformed { reason: String },
}

impl Verdict {
    /// The outcome's snake_case name (`genuine`, `forged`, …).
    pub fn code(&self) -> &'static str {
        match self {
            Verdict::Genuine => "genuine",
            Verdict::Forged { .. } => "forged",
            Verdict::Expired { .. } => "expired",
            Verdict::Revoked { .. } => "revoked",
            Verdict::UnknownKey { .. } => "unknown_key",
            Verdict::Malformed { .. } => "malformed",
        }
    }

    pub fn is_genuine(&self) -> bool {
        matches!(self, Verdict::Genuine)
    }

    fn malformed(reason: impl Into<String>) -> Verdict {
        Verdict::Malformed {
            reason: reason.into(),
        }
    }
}

/// A verdict with what the code claims (absent only when malformed) and
/// the server key that vouched for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Checked<C> {
    pub verdict: Verdict,
    pub claims: Option<C>,
    /// The kid of the server key whose signature matched.
    pub kid: Option<String>,
}

impl<C> Checked<C> {
    pub(crate) fn malformed(reason: impl Into<String>) -> Self {
        Checked {
            verdict: Verdict::malformed(reason),
            claims: None,
            kid: None,
        }
    }
}

/// Why a code could not be signed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignError {
    #[error("{field}: 不是有效的16位编码 (not a canonical 16-symbol code)")]
    BadCode { field: &'static str },
    #[error("{field}: 日期超出 2020-01-01..2199 (date outside the encodable range)")]
    BadDate { field: &'static str },
    #[error("产品名称为空或超过 {max} 字节 (product name empty or too long)", max = voucher::MAX_PRODUCT_BYTES)]
    BadProduct,
    #[error("数量须为正数且不超过上限 (quantity must be positive and within limits)")]
    BadQuantity,
    #[error("设备证书无效 (device certificate): {0}")]
    BadCertificate(String),
    #[error("设备证书与本机密钥不符 (the certificate is for another device key)")]
    CertificateKeyMismatch,
}

/// Checks `signature` over `message` against the trust list's keys named by
/// `tag`, and that key's standing on `today` for something dated `dated`.
pub(crate) fn check_server_signature<'v>(
    verifier: &'v Verifier,
    tag: &[u8],
    message: &[u8],
    signature: &Signature,
    dated: NaiveDate,
    today: NaiveDate,
    part: Part,
) -> Result<&'v trust::ReadyKey, Verdict> {
    let mut named = verifier.candidates(tag).peekable();
    if named.peek().is_none() {
        return Err(Verdict::UnknownKey {
            kid_tag: tag.iter().map(|b| format!("{b:02x}")).collect(),
        });
    }
    // verify_strict: no malleable signatures, no small-order keys.
    let key = named
        .find(|k| k.key.verify_strict(message, signature).is_ok())
        .ok_or_else(|| Verdict::Forged {
            part,
            reason: "签名不符 (signature does not match)".into(),
        })?;
    if key.status == KeyStatus::Retired {
        return Err(Verdict::Revoked {
            part: Part::ServerKey,
            id: key.kid.clone(),
        });
    }
    if dated < key.valid_from {
        return Err(Verdict::Forged {
            part,
            reason: "日期早于签发密钥启用日 (dated before its key existed)".into(),
        });
    }
    if let Some(until) = key.valid_until.filter(|u| today > *u) {
        return Err(Verdict::Expired {
            part: Part::ServerKey,
            on: until,
        });
    }
    Ok(key)
}
