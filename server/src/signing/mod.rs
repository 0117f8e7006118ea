//! Signed codes on the server (issue 12): the trust list at
//! `/.well-known/shian-keys.json`, the signed shop URL, device revocation
//! and the `keys` CLI (device certificates are issued at enrolment by
//! [`crate::certify`]). The formats
//! and their verification are core's (`shian_core::signed`); this module
//! only signs with the server's keys and stores what it issued.
//!
//! Change kind `keys.trust_list` (to every device; payload: the trust list
//! of `/.well-known/shian-keys.json` plus `"id": "trust_list"`) is
//! published when the server starts with a list other than the last one
//! published, after `shian-server keys rotate|retire`, and when a device is
//! revoked, so a device's pull always ends with the current list.

pub mod cli;

use axum::extract::State;
use axum::http::HeaderMap;
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use shian_core::signed::shop::{self, ShopClaims};
use utoipa::ToSchema;

use crate::auth::Auth;
use crate::errors::{ApiError, ErrorResponse};
use crate::extract::{Json, Path};
use crate::keys::{KeySet, Keys, PublicKey, RevokedDeviceDoc};
use crate::store::{Merchant, Role};
use crate::validate;
use crate::AppState;

/// The shop's signed URL, for QR images and the stall sign:
/// `{base}/s/{shop_code}?sig={174 digits}` signed by the current server key,
/// dated today (UTC), with no expiry (a printed sign lasts until its key is
/// retired). `base` is e.g. `https://shian.example.cn`, no trailing slash.
///
/// Registry shop codes are canonical, so signing cannot fail; were one
/// stored otherwise, the plain `{base}/s/{shop_code}` (which still opens the
/// shop page) is answered and the error logged.
pub fn signed_shop_url(keys: &Keys, base: &str, merchant: &Merchant) -> String {
    sign_shop(keys, base, merchant).0
}

/// [`signed_shop_url`] with the kid of the key that signed it.
fn sign_shop(keys: &Keys, base: &str, merchant: &Merchant) -> (String, String) {
    let (key, kid) = keys.signer();
    let claims = ShopClaims {
        shop_code: merchant.shop_code.clone(),
        issued_on: Utc::now().date_naive(),
        expires_on: None,
    };
    match shop::url(base, &key, &claims) {
        Ok(url) => (url, kid),
        Err(e) => {
            tracing::error!(merchant = %merchant.id, kid = %kid, error = %e, "cannot sign shop code");
            let plain = format!("{}/s/{}", base.trim_end_matches('/'), merchant.shop_code);
            (plain, kid)
        }
    }
}

/// The trust list: every server key with its status, and the revoked
/// device certificates.
pub async fn trust_list(state: &AppState) -> Result<KeySet, ApiError> {
    let keys = state.keys.trusted_keys();
    let mut revoked_devices = Vec::new();
    for r in state.store.revoked_devices().await? {
        // Written by the store from a timestamp; unreadable only if damaged.
        let revoked_at = DateTime::parse_from_rfc3339(&r.revoked_at)
            .map_err(|e| ApiError::internal(format!("revoked_at of {}: {e}", r.cert_id)))?
            .with_timezone(&Utc);
        revoked_devices.push(RevokedDeviceDoc {
            cert_id: r.cert_id,
            device_id: r.device_id,
            revoked_at,
        });
    }
    Ok(KeySet {
        keys: keys
            .into_iter()
            .map(|k| PublicKey {
                kid: k.kid,
                alg: k.alg,
                public_key: k.public_key,
                status: k.status,
                signs: k.signs,
                valid_from: k.valid_from,
                valid_until: k.valid_until,
            })
            .collect(),
        revoked_devices,
    })
}

/// Public keys and revoked device certificates for offline verification of
/// shop codes and vouchers (also synced to devices as `keys.trust_list`).
#[utoipa::path(get, path = "/.well-known/shian-keys.json", tag = "keys",
    responses((status = 200, body = KeySet)))]
pub async fn well_known(State(state): State<AppState>) -> Result<Json<KeySet>, ApiError> {
    Ok(Json(trust_list(&state).await?))
}

/// A shop's signed URL.
#[derive(Debug, Serialize, ToSchema)]
pub struct SignedCode {
    /// What the QR holds: `{base}/s/{shop_code}?sig={digits}`.
    pub url: String,
    pub shop_code: String,
    /// The server key that signed it.
    pub kid: String,
    pub issued_on: NaiveDate,
}

/// The shop's signed URL (what its QR code and stall sign carry): admins,
/// and the merchant's own accounts.
#[utoipa::path(
    get, path = "/v1/merchants/{id}/signed-code", tag = "keys",
    params(("id" = crate::openapi::wire::Id, Path, description = "merchant id")),
    security(("bearer" = [])),
    responses(
        (status = 200, body = SignedCode),
        (status = 400, body = ErrorResponse),
        (status = 401, body = ErrorResponse),
        (status = 403, body = ErrorResponse),
        (status = 404, body = ErrorResponse),
    )
)]
pub async fn signed_code(
    State(state): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<SignedCode>, ApiError> {
    auth.require(&[Role::Admin, Role::Merchant])?;
    let id = validate::validate_id(&id, "id")?;
    let merchant = state
        .store
        .merchant(id)
        .await?
        .ok_or_else(|| ApiError::not_found("商户"))?;
    if !auth.can_see_merchant(&merchant) {
        return Err(ApiError::forbidden());
    }
    let base = crate::field::record::public_base(&headers);
    let (url, kid) = sign_shop(&state.keys, &base, &merchant);
    Ok(Json(SignedCode {
        url,
        shop_code: merchant.shop_code,
        kid,
        issued_on: Utc::now().date_naive(),
    }))
}

/// What revoking a device did.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeviceRevoked {
    pub device_id: String,
    /// Its certificates, now in the trust list's `revoked_devices`.
    pub cert_ids: Vec<String>,
    pub revoked_at: DateTime<Utc>,
}

/// Revoke a device (admin): every certificate it holds goes on the trust
/// list, published to every device at once, so vouchers it signs no longer
/// verify. Revoking again answers the same.
#[utoipa::path(
    post, path = "/v1/devices/{id}/revoke", tag = "keys",
    params(("id" = crate::openapi::wire::Id, Path, description = "device id")),
    security(("bearer" = [])),
    responses(
        (status = 200, body = DeviceRevoked),
        (status = 400, body = ErrorResponse),
        (status = 401, body = ErrorResponse),
        (status = 403, body = ErrorResponse),
        (status = 404, body = ErrorResponse),
    )
)]
pub async fn revoke_device(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<Json<DeviceRevoked>, ApiError> {
    auth.require(&[Role::Admin])?;
    let id = validate::validate_id(&id, "id")?;
    let done = state
        .store
        .revoke_device(id, crate::store::now(), state.keys.trusted_keys())
        .await?
        .ok_or_else(|| ApiError::not_found("设备"))?;
    tracing::info!(device = %done.device_id, certs = done.cert_ids.len(), "device revoked");
    Ok(Json(DeviceRevoked {
        device_id: done.device_id,
        cert_ids: done.cert_ids,
        revoked_at: done.revoked_at,
    }))
}
