//! Device certificates and signed vouchers (上市凭证).
//!
//! A merchant's tablet signs vouchers while offline with its own Ed25519
//! key; the server certified that key when the device enrolled. The
//! voucher carries the certificate, so the buyer's or an inspector's phone
//! checks server key → device certificate → voucher with only the trust
//! list (as an EU DCC carries its signer's key id and the verifier holds
//! the signing certificates).
//!
//! Certificate, [`CERT_BYTES`] (122) bytes:
//!
//! | bytes | field |
//! |---|---|
//! | 8 | certificate id (what the trust list revokes) |
//! | 10 | the merchant's shop code, packed (16 base-31 symbols) |
//! | 2 + 2 | valid from, valid until: days since 2020-01-01 |
//! | 32 | the device's Ed25519 public key |
//! | 4 | the server key's tag |
//! | 64 | the server's signature over `"shian/cert/v1\0"` and the 58 bytes above |
//!
//! Voucher text: `SV1:` + fixed-width decimal digits of:
//!
//! | bytes | field |
//! |---|---|
//! | 10 | voucher code, packed |
//! | 2 | date: days since 2020-01-01 |
//! | 1 | unit: 0 g, 1 piece, 2 bag, 3 box |
//! | 1–5 | amount in that unit, LEB128 |
//! | 1 + n | product name, UTF-8, n ≤ 64 |
//! | 122 | the device certificate |
//! | 64 | the device's signature over `"shian/voucher/v1\0"` and everything above |
//!
//! Size: 211 bytes for "鲜猪肉" and 12.5 kg, 509 digits, 513 characters with
//! the prefix: a version 11 QR at level M (61×61 modules; measured in
//! `server/tests/signed_codes.rs`), printable 4 cm wide on a receipt.

use chrono::NaiveDate;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::Serialize;

use super::trust::{cert_id_hex, kid_tag, Verifier, KID_TAG_LEN};
use super::wire::{self, Reader, Writer, PACKED_CODE_LEN};
use super::{check_server_signature, Checked, Part, SignError, Verdict};
use crate::codes;
use crate::quantity::{BaseUnit, Quantity, MAX_COUNT, MAX_GRAMS};

/// Bytes of a device certificate.
pub const CERT_BYTES: usize = 8 + PACKED_CODE_LEN + 2 + 2 + 32 + KID_TAG_LEN + 64;
/// Longest product name a voucher carries, in UTF-8 bytes (21 Chinese
/// characters): the QR grows with it.
pub const MAX_PRODUCT_BYTES: usize = 64;
/// What a voucher's text starts with.
pub const PREFIX: &str = "SV1:";

const CERT_DOMAIN: &[u8] = b"shian/cert/v1\0";
const VOUCHER_DOMAIN: &[u8] = b"shian/voucher/v1\0";

/// What a device certificate says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CertClaims {
    /// 16 hex digits.
    pub cert_id: String,
    /// The merchant the device sells for.
    pub shop_code: String,
    pub valid_from: NaiveDate,
    pub valid_until: NaiveDate,
    /// The device's public key, base64url.
    pub device_key: String,
}

/// A certificate taken apart.
#[derive(Debug, Clone)]
pub struct ParsedCert {
    pub claims: CertClaims,
    id: [u8; 8],
    device_key: VerifyingKey,
    tag: [u8; KID_TAG_LEN],
    signature: Signature,
    bytes: [u8; CERT_BYTES],
}

impl ParsedCert {
    pub fn bytes(&self) -> &[u8; CERT_BYTES] {
        &self.bytes
    }
    pub fn device_key(&self) -> &VerifyingKey {
        &self.device_key
    }
}

/// Signs a device certificate with a server key (the server does this
/// when a merchant's device enrols).
pub fn certify(
    server: &SigningKey,
    cert_id: [u8; 8],
    shop_code: &str,
    valid_from: NaiveDate,
    valid_until: NaiveDate,
    device_key: &VerifyingKey,
) -> Result<[u8; CERT_BYTES], SignError> {
    let shop = wire::pack_code(shop_code).ok_or(SignError::BadCode { field: "shop_code" })?;
    let from = wire::day_number(valid_from).ok_or(SignError::BadDate {
        field: "valid_from",
    })?;
    let until = wire::day_number(valid_until)
        .filter(|u| *u >= from)
        .ok_or(SignError::BadDate {
            field: "valid_until",
        })?;
    let mut w = Writer::default();
    w.bytes(&cert_id)
        .bytes(&shop)
        .u16(from)
        .u16(until)
        .bytes(device_key.as_bytes())
        .bytes(&kid_tag(&server.verifying_key()));
    let mut msg = CERT_DOMAIN.to_vec();
    msg.extend_from_slice(&w.0);
    w.bytes(&server.sign(&msg).to_bytes());
    let mut out = [0u8; CERT_BYTES];
    out.copy_from_slice(&w.0);
    Ok(out)
}

/// Takes certificate bytes apart (no signature checked yet).
pub fn parse_cert(bytes: &[u8]) -> Result<ParsedCert, String> {
    let bad = || "设备证书格式错误 (malformed device certificate)".to_string();
    let all: [u8; CERT_BYTES] = bytes.try_into().map_err(|_| bad())?;
    let mut r = Reader::new(&all);
    let id: [u8; 8] = r.array().ok_or_else(bad)?;
    let shop = wire::unpack_code(r.take(PACKED_CODE_LEN).ok_or_else(bad)?).ok_or_else(bad)?;
    let from = r.u16().and_then(wire::day_from).ok_or_else(bad)?;
    let until = r.u16().and_then(wire::day_from).ok_or_else(bad)?;
    let key: [u8; 32] = r.array().ok_or_else(bad)?;
    let device_key = VerifyingKey::from_bytes(&key).map_err(|_| bad())?;
    let tag: [u8; KID_TAG_LEN] = r.array().ok_or_else(bad)?;
    let sig: [u8; 64] = r.array().ok_or_else(bad)?;
    use base64::Engine as _;
    Ok(ParsedCert {
        claims: CertClaims {
            cert_id: cert_id_hex(&id),
            shop_code: shop,
            valid_from: from,
            valid_until: until,
            device_key: base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key),
        },
        id,
        device_key,
        tag,
        signature: Signature::from_bytes(&sig),
        bytes: all,
    })
}

/// Checks a certificate's server signature, revocation and dates.
pub fn verify_cert(
    verifier: &Verifier,
    cert: &ParsedCert,
    today: NaiveDate,
) -> Checked<CertClaims> {
    let msg = [CERT_DOMAIN, &cert.bytes[..CERT_BYTES - 64]].concat();
    match check_server_signature(
        verifier,
        &cert.tag,
        &msg,
        &cert.signature,
        cert.claims.valid_from,
        today,
        Part::DeviceCertificate,
    ) {
        Err(v) => Checked {
            verdict: v,
            claims: Some(cert.claims.clone()),
            kid: None,
        },
        Ok(key) => Checked {
            verdict: cert_standing(verifier, cert, today),
            claims: Some(cert.claims.clone()),
            kid: Some(key.kid.clone()),
        },
    }
}

fn cert_standing(verifier: &Verifier, cert: &ParsedCert, today: NaiveDate) -> Verdict {
    if verifier.revoked.contains(&cert.id) {
        Verdict::Revoked {
            part: Part::DeviceCertificate,
            id: cert.claims.cert_id.clone(),
        }
    } else if today > cert.claims.valid_until {
        Verdict::Expired {
            part: Part::DeviceCertificate,
            on: cert.claims.valid_until,
        }
    } else {
        Verdict::Genuine
    }
}

/// What a voucher claims.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VoucherClaims {
    pub voucher_code: String,
    pub product: String,
    pub quantity: Quantity,
    /// The seller's shop code (from the device certificate).
    pub seller_shop_code: String,
    pub issued_on: NaiveDate,
    /// The certificate of the device that signed it.
    pub cert_id: String,
}

/// The fields of a voucher to issue.
#[derive(Debug, Clone)]
pub struct NewVoucher<'a> {
    pub voucher_code: &'a str,
    pub product: &'a str,
    pub quantity: Quantity,
    pub issued_on: NaiveDate,
}

fn unit_code(u: BaseUnit) -> u8 {
    match u {
        BaseUnit::Gram => 0,
        BaseUnit::Piece => 1,
        BaseUnit::Bag => 2,
        BaseUnit::Box => 3,
    }
}

fn unit_from(c: u8) -> Option<BaseUnit> {
    Some(match c {
        0 => BaseUnit::Gram,
        1 => BaseUnit::Piece,
        2 => BaseUnit::Bag,
        3 => BaseUnit::Box,
        _ => return None,
    })
}

fn quantity_ok(q: &Quantity) -> bool {
    let max = if q.unit == BaseUnit::Gram {
        MAX_GRAMS
    } else {
        MAX_COUNT
    };
    q.amount > 0 && q.amount <= max
}

/// Signs a voucher with the device key, embedding its certificate (which
/// must certify that key). Works offline.
pub fn issue(device: &SigningKey, cert: &[u8], v: &NewVoucher<'_>) -> Result<String, SignError> {
    let parsed = parse_cert(cert).map_err(SignError::BadCertificate)?;
    if parsed.device_key != device.verifying_key() {
        return Err(SignError::CertificateKeyMismatch);
    }
    let code = codes::parse_code(v.voucher_code, "voucher_code")
        .ok()
        .and_then(|c| wire::pack_code(&c))
        .ok_or(SignError::BadCode {
            field: "voucher_code",
        })?;
    let day = wire::day_number(v.issued_on).ok_or(SignError::BadDate { field: "issued_on" })?;
    let product = v.product.trim();
    if product.is_empty() || product.len() > MAX_PRODUCT_BYTES {
        return Err(SignError::BadProduct);
    }
    if !quantity_ok(&v.quantity) {
        return Err(SignError::BadQuantity);
    }
    let mut w = Writer::default();
    w.bytes(&code)
        .u16(day)
        .u8(unit_code(v.quantity.unit))
        // Positive, checked above.
        .varint(v.quantity.amount.unsigned_abs())
        .u8(product.len() as u8)
        .bytes(product.as_bytes())
        .bytes(cert);
    let msg = [VOUCHER_DOMAIN, &w.0].concat();
    w.bytes(&device.sign(&msg).to_bytes());
    Ok(format!("{PREFIX}{}", wire::to_digits(&w.0)))
}

/// Verifies a scanned voucher against the trust list on `today`.
pub fn verify(verifier: &Verifier, text: &str, today: NaiveDate) -> Checked<VoucherClaims> {
    let text = text.trim();
    let Some(digits) = text
        .get(..PREFIX.len())
        .filter(|p| p.eq_ignore_ascii_case(PREFIX))
        .map(|_| &text[PREFIX.len()..])
    else {
        return Checked::malformed("不是上市凭证 (not a voucher: no SV1: prefix)");
    };
    let Some(bytes) = wire::from_digits(digits) else {
        return Checked::malformed("凭证数字长度或内容不符 (truncated or not digits)");
    };
    let parsed = (|| {
        let mut r = Reader::new(&bytes);
        let code = wire::unpack_code(r.take(PACKED_CODE_LEN)?)?;
        let day = wire::day_from(r.u16()?)?;
        let unit = unit_from(r.u8()?)?;
        let amount = i64::try_from(r.varint()?).ok()?;
        let n = usize::from(r.u8()?);
        let product = std::str::from_utf8(r.take(n)?).ok()?.to_owned();
        let cert = parse_cert(r.take(CERT_BYTES)?).ok()?;
        let signed_len = r.pos();
        let sig: [u8; 64] = r.array()?;
        let quantity = Quantity::new(amount, unit);
        (r.rest() == 0 && quantity_ok(&quantity) && n <= MAX_PRODUCT_BYTES)
            .then_some((code, day, quantity, product, cert, signed_len, sig))
    })();
    let Some((voucher_code, issued_on, quantity, product, cert, signed_len, sig)) = parsed else {
        return Checked::malformed("凭证格式错误或被截断 (malformed or truncated voucher)");
    };
    let claims = VoucherClaims {
        voucher_code,
        product,
        quantity,
        seller_shop_code: cert.claims.shop_code.clone(),
        issued_on,
        cert_id: cert.claims.cert_id.clone(),
    };
    let with = |verdict: Verdict, kid: Option<String>| Checked {
        verdict,
        claims: Some(claims.clone()),
        kid,
    };
    // The chain from the top: the server key vouches for the certificate…
    let msg = [CERT_DOMAIN, &cert.bytes[..CERT_BYTES - 64]].concat();
    let key = match check_server_signature(
        verifier,
        &cert.tag,
        &msg,
        &cert.signature,
        cert.claims.valid_from,
        today,
        Part::DeviceCertificate,
    ) {
        Ok(k) => k,
        Err(v) => return with(v, None),
    };
    let kid = Some(key.kid.clone());
    // …the certificate's key for the voucher…
    let msg = [VOUCHER_DOMAIN, &bytes[..signed_len]].concat();
    if cert
        .device_key
        .verify_strict(&msg, &Signature::from_bytes(&sig))
        .is_err()
    {
        return with(
            Verdict::Forged {
                part: Part::Code,
                reason: "凭证签名不符 (voucher signature does not match)".into(),
            },
            kid,
        );
    }
    // …and the certificate was in force.
    if issued_on < cert.claims.valid_from {
        return with(
            Verdict::Forged {
                part: Part::Code,
                reason: "凭证日期早于设备证书 (dated before its certificate)".into(),
            },
            kid,
        );
    }
    let standing = cert_standing(verifier, &cert, today);
    if !standing.is_genuine() {
        return with(standing, kid);
    }
    if issued_on > cert.claims.valid_until {
        return with(
            Verdict::Expired {
                part: Part::DeviceCertificate,
                on: cert.claims.valid_until,
            },
            kid,
        );
    }
    with(Verdict::Genuine, kid)
}
