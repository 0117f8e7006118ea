//! Signed shop codes and vouchers on the device (core `signed`): verify a
//! scanned code against the trust list the last sync stored, with no
//! network; make this device's key, keep its certificate, and issue
//! vouchers offline. Thin: every rule is core's.

use chrono::{NaiveDate, Utc};
use shian_core::quantity::{Quantity, Sign};
use shian_core::signed::local::{LocalSignedError, Received, Scanned};
use shian_core::signed::shop::ShopClaims;
use shian_core::signed::voucher::{NewVoucher, VoucherClaims};
use shian_core::signed::{Checked, Part, TrustList, Verdict, Verifier};

use crate::error::ShianError;
use crate::ledger::QuantityValue;
use crate::store::ShianStore;

/// What verification concluded (core's `Verdict`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum CodeOutcome {
    /// Signed by a trusted key, in date, nothing revoked.
    Genuine,
    /// A signature does not match: a field was changed, or someone signed
    /// posing as a trusted key.
    Forged,
    /// Genuine but past its end date (`expired_on`).
    Expired,
    /// Signed by a retired server key or a revoked device (`revoked_id`).
    Revoked,
    /// Its key is not in the stored trust list (sync, then scan again).
    UnknownKey,
    /// Not a code of this kind, truncated or padded.
    Malformed,
}

/// What kind of code was scanned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum CodeKind {
    /// A stall's shop code (`…/s/{shop_code}?sig=…`).
    Shop,
    /// A voucher (上市凭证, `SV1:…`).
    Voucher,
    /// Neither.
    Unrecognised,
}

/// What a shop code claims.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ShopCodeClaims {
    pub shop_code: String,
    /// YYYY-MM-DD.
    pub issued_on: String,
    pub expires_on: Option<String>,
}

/// What a voucher claims.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct VoucherCodeClaims {
    pub voucher_code: String,
    pub product: String,
    pub quantity: QuantityValue,
    /// The seller's shop code, from its device certificate.
    pub seller_shop_code: String,
    /// YYYY-MM-DD.
    pub issued_on: String,
    /// The certificate of the device that signed it.
    pub cert_id: String,
}

/// A scanned code checked offline.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ScannedCode {
    pub kind: CodeKind,
    pub outcome: CodeOutcome,
    /// Which link the outcome is about: `code`, `device_certificate` or
    /// `server_key` (none when genuine or malformed).
    pub part: Option<String>,
    /// A sentence for the screen (zh-CN with English).
    pub detail: String,
    /// The server key that vouched for it.
    pub kid: Option<String>,
    pub expired_on: Option<String>,
    /// The retired kid or the revoked certificate id.
    pub revoked_id: Option<String>,
    pub shop: Option<ShopCodeClaims>,
    pub voucher: Option<VoucherCodeClaims>,
    /// For a voucher received before on this device: when (a replay).
    pub already_received_at: Option<String>,
}

/// A voucher to sign on this device.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct VoucherInput {
    /// The sale's voucher code (16 symbols, as `ledger.sale` carries).
    pub voucher_code: String,
    pub product: String,
    pub quantity: QuantityValue,
    /// YYYY-MM-DD; today (UTC) when absent.
    pub issued_on: Option<String>,
}

/// The certificate this device holds.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct DeviceCertificateInfo {
    pub cert_id: String,
    pub shop_code: String,
    pub valid_from: String,
    pub valid_until: String,
}

impl From<LocalSignedError> for ShianError {
    fn from(e: LocalSignedError) -> Self {
        match e {
            LocalSignedError::Storage(e) => ShianError::storage(e),
            LocalSignedError::NoTrustList => ShianError::NotFound {
                code: "no_trust_list".into(),
                message: e.to_string(),
            },
            LocalSignedError::NoCertificate => ShianError::NotFound {
                code: "no_device_certificate".into(),
                message: e.to_string(),
            },
            LocalSignedError::TrustList(_) => ShianError::Storage {
                message: e.to_string(),
            },
            LocalSignedError::Sign(s) => ShianError::Validation {
                code: "cannot_sign".into(),
                field: None,
                message: s.to_string(),
            },
        }
    }
}

fn part(p: Part) -> String {
    match p {
        Part::Code => "code",
        Part::DeviceCertificate => "device_certificate",
        Part::ServerKey => "server_key",
    }
    .into()
}

/// The outcome fields common to both kinds.
fn outcome<C>(kind: CodeKind, c: &Checked<C>) -> ScannedCode {
    let (outcome, p, detail, expired_on, revoked_id) = match &c.verdict {
        Verdict::Genuine => (
            CodeOutcome::Genuine,
            None,
            "真码 (genuine)".to_owned(),
            None,
            None,
        ),
        Verdict::Forged { part: p, reason } => (
            CodeOutcome::Forged,
            Some(part(*p)),
            format!("伪造或被篡改 (forged): {reason}"),
            None,
            None,
        ),
        Verdict::Expired { part: p, on } => (
            CodeOutcome::Expired,
            Some(part(*p)),
            format!("已过期 (expired) {on}"),
            Some(on.to_string()),
            None,
        ),
        Verdict::Revoked { part: p, id } => (
            CodeOutcome::Revoked,
            Some(part(*p)),
            format!("已吊销 (revoked): {id}"),
            None,
            Some(id.clone()),
        ),
        Verdict::UnknownKey { kid_tag } => (
            CodeOutcome::UnknownKey,
            None,
            format!(
                "未知签名密钥 {kid_tag}，请联网同步后再扫 (unknown key: sync, then scan again)"
            ),
            None,
            None,
        ),
        Verdict::Malformed { reason } => (
            CodeOutcome::Malformed,
            None,
            format!("无法识别 (malformed): {reason}"),
            None,
            None,
        ),
    };
    ScannedCode {
        kind,
        outcome,
        part: p,
        detail,
        kid: c.kid.clone(),
        expired_on,
        revoked_id,
        shop: None,
        voucher: None,
        already_received_at: None,
    }
}

fn shop_claims(c: &ShopClaims) -> ShopCodeClaims {
    ShopCodeClaims {
        shop_code: c.shop_code.clone(),
        issued_on: c.issued_on.to_string(),
        expires_on: c.expires_on.map(|d| d.to_string()),
    }
}

fn voucher_claims(c: &VoucherClaims) -> VoucherCodeClaims {
    VoucherCodeClaims {
        voucher_code: c.voucher_code.clone(),
        product: c.product.clone(),
        quantity: c.quantity.into(),
        seller_shop_code: c.seller_shop_code.clone(),
        issued_on: c.issued_on.to_string(),
        cert_id: c.cert_id.clone(),
    }
}

fn voucher_outcome(c: &Checked<VoucherClaims>) -> ScannedCode {
    ScannedCode {
        voucher: c.claims.as_ref().map(voucher_claims),
        ..outcome(CodeKind::Voucher, c)
    }
}

fn scanned(s: Scanned) -> ScannedCode {
    match s {
        Scanned::Shop(c) => ScannedCode {
            shop: c.claims.as_ref().map(shop_claims),
            ..outcome(CodeKind::Shop, &c)
        },
        Scanned::Voucher(c) => voucher_outcome(&c),
        Scanned::Unrecognised { reason } => ScannedCode {
            kind: CodeKind::Unrecognised,
            outcome: CodeOutcome::Malformed,
            part: None,
            detail: reason,
            kid: None,
            expired_on: None,
            revoked_id: None,
            shop: None,
            voucher: None,
            already_received_at: None,
        },
    }
}

fn today() -> NaiveDate {
    Utc::now().date_naive()
}

fn parse_day(s: &str, field: &str) -> Result<NaiveDate, ShianError> {
    s.trim()
        .parse()
        .map_err(|_| ShianError::invalid(field, "invalid_date", "日期应为 YYYY-MM-DD (a date)"))
}

/// A trust list given as JSON (`/.well-known/shian-keys.json`), decoded for
/// verification; a bad one is `Validation` on `trust_list_json`.
pub(crate) fn verifier_from_json(json: &str) -> Result<Verifier, ShianError> {
    TrustList::from_json(json)
        .and_then(|l| l.verifier())
        .map_err(|e| ShianError::invalid("trust_list_json", "invalid_trust_list", e.to_string()))
}

/// Verifies a scanned shop URL or voucher against a trust list given as
/// JSON (`/.well-known/shian-keys.json`), for apps that keep no store.
#[uniffi::export]
pub fn verify_code_with_trust_list(
    trust_list_json: String,
    text: String,
) -> Result<ScannedCode, ShianError> {
    let verifier = verifier_from_json(&trust_list_json)?;
    Ok(scanned(shian_core::signed::local::verify_scanned(
        &verifier,
        &text,
        today(),
    )))
}

#[uniffi::export]
impl ShianStore {
    /// Verifies a scanned shop URL or voucher against the trust list the
    /// last sync stored, offline. Marks nothing received
    /// (`NotFound` `no_trust_list` before the first sync).
    pub fn verify_scanned_code(&self, text: String) -> Result<ScannedCode, ShianError> {
        Ok(scanned(self.lock()?.verify_scanned(&text, today())?))
    }

    /// Verifies a voucher scanned on receipt of goods and records it as
    /// received when genuine; a voucher received before answers
    /// `already_received_at`.
    pub fn receive_voucher(&self, text: String) -> Result<ScannedCode, ShianError> {
        let Received {
            checked,
            already_received_at,
        } = self.lock()?.receive_voucher(&text, today())?;
        Ok(ScannedCode {
            already_received_at,
            ..voucher_outcome(&checked)
        })
    }

    /// The stored trust list as JSON, if a sync brought one.
    pub fn trust_list_json(&self) -> Result<Option<String>, ShianError> {
        let list = self.lock()?.trust_list()?;
        Ok(list.and_then(|l| serde_json::to_string(&l).ok()))
    }

    /// This device's Ed25519 public key (base64url), made on first call and
    /// kept in the store with its private key. Send it as `public_key` of
    /// `POST /v1/devices`.
    pub fn device_public_key(&self) -> Result<String, ShianError> {
        Ok(self.lock()?.device_public_key()?)
    }

    /// Keeps the certificate `POST /v1/devices` answered (`certificate`).
    pub fn install_device_certificate(
        &self,
        certificate: String,
    ) -> Result<DeviceCertificateInfo, ShianError> {
        let c = self.lock()?.install_device_certificate(&certificate)?;
        Ok(DeviceCertificateInfo {
            cert_id: c.cert_id,
            shop_code: c.shop_code,
            valid_from: c.valid_from.to_string(),
            valid_until: c.valid_until.to_string(),
        })
    }

    /// Signs a voucher on this device with its certified key, offline;
    /// returns the text its QR code carries (`SV1:…`).
    pub fn issue_voucher(&self, input: VoucherInput) -> Result<String, ShianError> {
        let code = shian_core::codes::parse_code(&input.voucher_code, "voucher_code")?;
        let quantity = Quantity::parse(
            &input.quantity.value,
            &input.quantity.unit,
            Sign::Positive,
            "quantity",
        )?;
        let issued_on = match input.issued_on.as_deref() {
            Some(d) => parse_day(d, "issued_on")?,
            None => today(),
        };
        Ok(self.lock()?.issue_voucher(&NewVoucher {
            voucher_code: &code,
            product: &input.product,
            quantity,
            issued_on,
        })?)
    }
}
