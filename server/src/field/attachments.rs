//! Content-addressed attachments (photos as evidence, scanned documents).
//!
//! Phones upload each photo on its own, named by its SHA-256, and events
//! refer to it by that hash (DESIGN.md, "Sync protocol"). Naming by content
//! makes the upload idempotent (a retried upload of the same bytes changes
//! nothing), lets a phone upload before or after pushing the event that cites
//! it, and makes tampering visible: the server recomputes the hash and
//! refuses a body that does not match its name.

use axum::body::{Body, HttpBody};
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use crate::auth::Auth;
use crate::errors::{ApiError, ErrorResponse};
use crate::extract::{Json, Path};
use crate::store::field::NewAttachment;
use crate::store::Role;
use crate::AppState;

/// Largest attachment: 5 MiB, enough for a phone photo at inspection
/// quality, small enough to upload on a weak signal.
pub const MAX_ATTACHMENT_BYTES: usize = 5 * 1024 * 1024;

/// Media types kept as sent; anything else is served as
/// `application/octet-stream` (never SVG or HTML: they can carry scripts).
const KEPT_TYPES: &[&str] = &[
    "image/jpeg",
    "image/png",
    "image/webp",
    "image/heic",
    "image/heif",
    "application/pdf",
];

/// What an upload answers.
#[derive(Debug, Serialize, ToSchema)]
pub struct AttachmentStored {
    pub sha256: String,
    pub size: u64,
    pub content_type: String,
    /// False when the same bytes were already stored.
    pub created: bool,
}

fn lower_hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
        s.push(char::from(b"0123456789abcdef"[usize::from(b & 15)]));
    }
    s
}

fn parse_hash(raw: &str) -> Result<String, ApiError> {
    let h = raw.trim().to_ascii_lowercase();
    if shian_core::inspection::evaluate::is_sha256_hex(&h) {
        Ok(h)
    } else {
        Err(ApiError::invalid(
            "sha256",
            "invalid_hash",
            "附件名须为 64 位十六进制 SHA-256 摘要",
        ))
    }
}

fn content_type(headers: &HeaderMap) -> String {
    let essence = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default();
    if KEPT_TYPES.contains(&essence.as_str()) {
        essence
    } else {
        "application/octet-stream".to_owned()
    }
}

/// Reads the body up to the limit. An oversize body is still read (up to
/// twice the limit) before the 413, so a client that sends the whole body
/// before reading the answer gets the answer rather than a reset connection.
async fn read_limited(mut body: Body, limit: usize) -> Result<Vec<u8>, ApiError> {
    let mut buf = Vec::new();
    let mut seen = 0usize;
    loop {
        let frame = std::future::poll_fn(|cx| std::pin::Pin::new(&mut body).poll_frame(cx)).await;
        match frame {
            None => break,
            Some(Err(_)) => {
                return Err(ApiError::bad_request(
                    "unreadable_body",
                    "无法读取请求体 (could not read request body)",
                ))
            }
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    seen = seen.saturating_add(data.len());
                    if seen <= limit {
                        buf.extend_from_slice(&data);
                    } else if seen > limit.saturating_mul(2) {
                        break;
                    }
                }
            }
        }
    }
    if seen > limit {
        return Err(ApiError::payload_too_large(limit));
    }
    Ok(buf)
}

/// Upload an attachment named by the SHA-256 of its bytes (inspectors and
/// merchants). Idempotent: 201 when new, 200 when already stored.
#[utoipa::path(
    put, path = "/v1/attachments/{sha256}", tag = "field", security(("bearer" = [])),
    params(("sha256" = crate::openapi::wire::Sha256, Path, description = "lowercase hex SHA-256 of the body")),
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "the bytes, at most 5 MiB; image/jpeg, image/png, image/webp, image/heic, application/pdf keep their type"),
    responses(
        (status = 201, body = AttachmentStored), (status = 200, body = AttachmentStored),
        (status = 400, description = "invalid_hash, empty_body", body = ErrorResponse),
        (status = 422, description = "hash_mismatch: the body does not hash to the name", body = ErrorResponse),
        (status = 401, body = ErrorResponse), (status = 403, body = ErrorResponse),
        (status = 413, description = "more than 5 MiB", body = ErrorResponse),
    )
)]
pub async fn put_attachment(
    State(state): State<AppState>,
    auth: Auth,
    Path(sha256): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    auth.require(&[Role::Inspector, Role::Merchant])?;
    let sha256 = parse_hash(&sha256)?;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > (MAX_ATTACHMENT_BYTES as u64).saturating_mul(2)) {
        return Err(ApiError::payload_too_large(MAX_ATTACHMENT_BYTES));
    }
    let data = read_limited(body, MAX_ATTACHMENT_BYTES).await?;
    if data.is_empty() {
        return Err(ApiError::bad_request("empty_body", "附件内容不能为空"));
    }
    let actual = lower_hex(&Sha256::digest(&data));
    // 422, not 400: the name has the form the schema states; only the body
    // can tell it is not this body's.
    if actual != sha256 {
        return Err(ApiError::unprocessable(
            "hash_mismatch",
            format!("附件内容的 SHA-256 为 {actual}，与地址中的 {sha256} 不符"),
        )
        .at("sha256"));
    }
    let size = data.len() as u64;
    let content_type = content_type(&headers);
    let created = state
        .store
        .put_attachment(NewAttachment {
            sha256: sha256.clone(),
            content_type: content_type.clone(),
            data,
            user_id: auth.user_id,
        })
        .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        Json(AttachmentStored {
            sha256,
            size,
            content_type,
            created,
        }),
    )
        .into_response())
}

/// Download an attachment: admins, analysts and inspectors; a merchant only
/// what its own accounts uploaded.
#[utoipa::path(
    get, path = "/v1/attachments/{sha256}", tag = "field", security(("bearer" = [])),
    params(("sha256" = crate::openapi::wire::Sha256, Path, description = "lowercase hex SHA-256")),
    responses(
        (status = 200, description = "the bytes", content_type = "application/octet-stream"),
        (status = 400, body = ErrorResponse), (status = 401, body = ErrorResponse),
        (status = 403, body = ErrorResponse), (status = 404, body = ErrorResponse),
    )
)]
pub async fn get_attachment(
    State(state): State<AppState>,
    auth: Auth,
    Path(sha256): Path<String>,
) -> Result<Response, ApiError> {
    let sha256 = parse_hash(&sha256)?;
    if auth.role == Role::Merchant
        && !state
            .store
            .attachment_owned_by(sha256.clone(), auth.user_id.clone())
            .await?
    {
        // Same answer as for an unknown hash: a merchant cannot probe which
        // photos exist.
        return Err(ApiError::not_found("附件"));
    }
    let a = state
        .store
        .attachment(sha256)
        .await?
        .ok_or_else(|| ApiError::not_found("附件"))?;
    let mut res = a.data.into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(&a.content_type)
            .unwrap_or(HeaderValue::from_static("application/octet-stream")),
    );
    if let Ok(etag) = HeaderValue::from_str(&format!("\"{}\"", a.sha256)) {
        h.insert(header::ETAG, etag);
    }
    // Content-addressed: the bytes behind a name never change.
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=31536000, immutable"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; sandbox"),
    );
    Ok(res)
}
