//! Device certificates: when a merchant's device enrols with its public
//! key (`POST /v1/devices` with `public_key`), the server signs a
//! certificate binding that key to the merchant's shop code for
//! [`DEVICE_CERT_DAYS`], so the device signs vouchers while offline.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::{Days, NaiveDate};
use ed25519_dalek::VerifyingKey;
use serde::Serialize;
use shian_core::signed::trust::cert_id_hex;
use shian_core::signed::voucher;
use utoipa::ToSchema;

use crate::errors::ApiError;
use crate::store::signing::DeviceCertificate;
use crate::store::Role;
use crate::AppState;

/// How long a device certificate lasts: two years, then the device enrols
/// again (a short life is what revocation leans on, as EU DCC's short
/// `exp`; a lost tablet is revoked at once besides).
pub const DEVICE_CERT_DAYS: u64 = 730;

/// The certificate answered to the enrolling device.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CertificateDoc {
    /// 16 hex digits; what `revoked_devices` lists.
    #[schema(pattern = "^[0-9a-f]{16}$")]
    pub cert_id: String,
    /// The 122 certificate bytes, base64url: keep it in the local store
    /// (core `install_device_certificate`); vouchers embed it.
    #[schema(pattern = "^[A-Za-z0-9_-]{163}$")]
    pub certificate: String,
    /// The server key that signed it.
    pub kid: String,
    pub shop_code: String,
    pub valid_from: NaiveDate,
    pub valid_until: NaiveDate,
}

/// Parses a device's Ed25519 public key (base64url of 32 bytes): 400 when
/// it does not have the form the schema states (43 base64url characters),
/// 422 when it has the form but is no usable key (not a curve point, a
/// small-order point, stray bits in the last character), as for check
/// characters.
fn parse_public_key(text: &str) -> Result<VerifyingKey, ApiError> {
    let shaped = text.len() == 43
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !shaped {
        return Err(ApiError::invalid(
            "public_key",
            "invalid_public_key",
            "设备公钥应为 43 位 base64url (32 字节 Ed25519 公钥) (a base64url Ed25519 public key)",
        ));
    }
    let unusable = || {
        ApiError::unprocessable(
            "unusable_public_key",
            "设备公钥不是可用的 Ed25519 公钥 (not a usable Ed25519 public key)",
        )
        .at("public_key")
    };
    let bytes: [u8; 32] = URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|_| unusable())?
        .try_into()
        .map_err(|_| unusable())?;
    let key = VerifyingKey::from_bytes(&bytes).map_err(|_| unusable())?;
    if key.is_weak() {
        return Err(unusable());
    }
    Ok(key)
}

/// Signs a certificate for `device_id`'s key; the caller (`role`, and the
/// merchant its account acts for) must be a merchant account (only
/// merchants issue vouchers). Stores nothing: the caller stores it with the
/// device, in one transaction. Kept apart from `auth` (which calls it) and
/// `signing` (whose handlers use `auth`) so neither imports the other.
pub async fn for_device(
    state: &AppState,
    role: Role,
    merchant_id: Option<String>,
    device_id: &str,
    public_key: &str,
) -> Result<(DeviceCertificate, CertificateDoc), ApiError> {
    let key = parse_public_key(public_key)?;
    if role != Role::Merchant {
        return Err(ApiError::new(
            axum::http::StatusCode::FORBIDDEN,
            "certificate_for_merchants_only",
            "只有经营户的设备可以领取签名证书 (only merchants' devices get signing certificates)",
        )
        .at("public_key"));
    }
    let merchant_id = merchant_id.ok_or_else(ApiError::forbidden)?;
    let merchant = state
        .store
        .merchant(merchant_id)
        .await?
        .ok_or_else(|| ApiError::not_found("商户"))?;
    let today = chrono::Utc::now().date_naive();
    let until = today
        .checked_add_days(Days::new(DEVICE_CERT_DAYS))
        .unwrap_or(today);
    let id: [u8; 8] = rand::random();
    let (server, kid) = state.keys.signer();
    let bytes = voucher::certify(&server, id, &merchant.shop_code, today, until, &key)
        .map_err(ApiError::internal)?;
    let cert = DeviceCertificate {
        cert_id: cert_id_hex(&id),
        device_id: device_id.to_owned(),
        merchant_id: merchant.id,
        public_key: URL_SAFE_NO_PAD.encode(key.as_bytes()),
        certificate: URL_SAFE_NO_PAD.encode(bytes),
        kid,
        valid_from: today,
        valid_until: until,
        created_at: crate::store::now(),
    };
    let doc = CertificateDoc {
        cert_id: cert.cert_id.clone(),
        certificate: cert.certificate.clone(),
        kid: cert.kid.clone(),
        shop_code: merchant.shop_code,
        valid_from: today,
        valid_until: until,
    };
    Ok((cert, doc))
}
