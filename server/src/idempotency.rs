//! The `Idempotency-Key` request header on the creating POSTs
//! (`/v1/markets`, `/v1/merchants`), after the IETF draft
//! `draft-ietf-httpapi-idempotency-key-header` and Stripe's API.
//!
//! A client that may retry (a flaky mobile network) sends a fresh key with
//! the first try and the same key with every retry. The first success is
//! stored with its response in the same transaction as the record it made;
//! a retry with the same key and body answers that status and body (with
//! `Idempotent-Replayed: true`) and creates nothing. The same key with
//! another body or on another operation is 422 `idempotency_key_reused`.
//! Keys belong to the account that sent them and are kept for a day.
//! Refusals (400, 409…) are not stored: they store nothing, so a retry is
//! checked afresh.

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::auth::Auth;
use crate::errors::ApiError;
use crate::store::{IdempotencyKey, StoredResponse};

/// The request header (named in `errors`, which answers a reused key
/// without depending on this module).
pub use crate::errors::IDEMPOTENCY_KEY_HEADER as HEADER;
/// Longest key (Stripe's bound; a UUID is 36).
pub const MAX_LEN: usize = 255;

fn invalid(message: &str) -> ApiError {
    ApiError::invalid(HEADER, "invalid_idempotency_key", message)
}

/// The key a request sent, if any. The draft's form is a quoted string
/// (`"8e03978e-…"`); a bare value is taken as it is. 1..=255 visible ASCII
/// characters, without `"` or `\`; anything else is a 400.
pub fn header_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let mut values = headers.get_all(HEADER).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(invalid(
            "只能发送一个 Idempotency-Key (send one Idempotency-Key)",
        ));
    }
    let raw = value.as_bytes();
    let key = raw
        .strip_prefix(b"\"")
        .and_then(|r| r.strip_suffix(b"\""))
        .unwrap_or(raw);
    let visible = |b: &u8| (0x21..=0x7e).contains(b) && *b != b'"' && *b != b'\\';
    if key.is_empty() || key.len() > MAX_LEN || !key.iter().all(visible) {
        return Err(invalid(
            "Idempotency-Key 应为 1–255 个可见 ASCII 字符 (1..255 visible ASCII characters)",
        ));
    }
    // Visible ASCII only, checked above.
    Ok(Some(String::from_utf8_lossy(key).into_owned()))
}

/// The key of `auth`'s request to `operation` (`POST /v1/merchants`) with
/// body `request`, fingerprinted over the body as parsed.
pub fn for_request(
    auth: &Auth,
    key: String,
    operation: &str,
    request: &impl Serialize,
) -> Result<IdempotencyKey, ApiError> {
    let body = serde_json::to_vec(request).map_err(ApiError::internal)?;
    Ok(IdempotencyKey {
        account: auth.user_id.clone(),
        key,
        operation: operation.to_owned(),
        fingerprint: format!("{:x}", Sha256::digest(&body)),
    })
}

/// The stored first response, answered again.
pub fn replay(stored: StoredResponse) -> Result<Response, ApiError> {
    let status = StatusCode::from_u16(stored.status).map_err(ApiError::internal)?;
    let mut res = (status, stored.body).into_response();
    let headers = res.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert("idempotent-replayed", HeaderValue::from_static("true"));
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key_of(v: &[u8]) -> Result<Option<String>, ApiError> {
        let mut h = HeaderMap::new();
        h.insert(HEADER, HeaderValue::from_bytes(v).unwrap());
        header_key(&h)
    }

    #[test]
    fn header_forms() {
        assert_eq!(header_key(&HeaderMap::new()).unwrap(), None);
        assert_eq!(key_of(b"abc-1").unwrap().as_deref(), Some("abc-1"));
        assert_eq!(key_of(b"\"abc-1\"").unwrap().as_deref(), Some("abc-1"));
        assert!(key_of(&[b'k'; MAX_LEN]).is_ok());
        for bad in [
            &b""[..],
            b"\"\"",
            b"\"",
            b"a b",
            b"a\\b",
            &[b'k'; MAX_LEN + 1],
        ] {
            assert!(key_of(bad).is_err(), "{bad:?}");
        }
    }
}
