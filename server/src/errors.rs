//! The one error shape of the HTTP API.
//!
//! Every refusal on the wire is
//! `{"error":{"code":"snake_case_code","message":"…","field":"optional.path"}}`
//! with a fitting status (DESIGN.md, "HTTP API"). Apps branch on `code`, show
//! `message` (zh-CN first, English where cheap) and highlight `field`. Internal
//! details (SQL, paths, panics) are logged, never sent.

use std::borrow::Cow;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::store::StoreError;

/// An error answered to an HTTP client. Build it with the constructors
/// (`ApiError::bad_request(…)`, `ApiError::forbidden()`…), add a field path
/// with [`ApiError::at`].
#[derive(Debug, Clone, thiserror::Error)]
#[error("{status} {code}: {message}")]
pub struct ApiError {
    pub status: StatusCode,
    pub code: Cow<'static, str>,
    pub message: String,
    pub field: Option<String>,
    /// Seconds for the `Retry-After` header (429, 503).
    pub retry_after: Option<u64>,
    /// Extra top-level members beside `error` (e.g. an import's row report),
    /// so a detailed report still carries the standard `error` object.
    /// Boxed: it is rare, and it keeps `Result<_, ApiError>` small.
    pub extra: Option<Box<serde_json::Map<String, serde_json::Value>>>,
}

/// The `error` object of the wire shape (also the OpenAPI schema).
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// Stable machine code, snake_case.
    pub code: String,
    /// For people: zh-CN, with English where cheap.
    pub message: String,
    /// Path of the offending input field (`licence_expiry`, `ops[3].payload`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// The whole error document: `{"error": {...}}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorResponse {
    pub error: ErrorBody,
}

impl ApiError {
    /// Any status and code; prefer the named constructors below.
    pub fn new(
        status: StatusCode,
        code: impl Into<Cow<'static, str>>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            status,
            code: code.into(),
            message: message.into(),
            field: None,
            retry_after: None,
            extra: None,
        }
    }

    /// Names the input field at fault (dotted path).
    #[must_use]
    pub fn at(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    /// Adds a top-level member beside `error` in the body.
    #[must_use]
    pub fn with_extra(mut self, key: &str, value: serde_json::Value) -> Self {
        self.extra
            .get_or_insert_with(Box::default)
            .insert(key.to_owned(), value);
        self
    }

    /// 400: malformed or invalid input.
    pub fn bad_request(code: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 400 for one field: the usual validation failure.
    pub fn invalid(
        field: impl Into<String>,
        code: impl Into<Cow<'static, str>>,
        message: impl Into<String>,
    ) -> Self {
        Self::bad_request(code, message).at(field)
    }

    /// 401 `missing_token`: no bearer token was sent.
    pub fn missing_token() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "missing_token",
            "需要登录 (missing bearer token)",
        )
    }

    /// 401 `invalid_token`: bad signature, wrong algorithm, expired, malformed.
    pub fn invalid_token() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            "登录凭证无效或已过期，请重新登录 (invalid or expired token)",
        )
    }

    /// 401 with another code (e.g. `invalid_credentials`).
    pub fn unauthorized(code: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, code, message)
    }

    /// 403 `forbidden`: authenticated, but the role or scope does not allow it.
    pub fn forbidden() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "无权执行此操作 (forbidden for this role or scope)",
        )
    }

    /// 404 `not_found`, naming what was looked for.
    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what}不存在 (not found)"),
        )
    }

    /// 405: the path exists, the method does not.
    pub fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "不支持此请求方法 (method not allowed)",
        )
    }

    /// 409: the request conflicts with what is stored (duplicate username…).
    pub fn conflict(code: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }

    /// 413 `payload_too_large`, naming the limit.
    pub fn payload_too_large(limit_bytes: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("请求体超过上限 {limit_bytes} 字节 (request body exceeds {limit_bytes} bytes)"),
        )
    }

    /// 415: the body is not of a media type this route reads.
    pub fn unsupported_media_type(expected: &str) -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!("请求须为 {expected} (Content-Type must be {expected})"),
        )
    }

    /// 422: well-formed input that breaks a rule.
    pub fn unprocessable(code: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
    }

    /// 429 with `Retry-After`.
    pub fn too_many_requests(
        code: impl Into<Cow<'static, str>>,
        message: impl Into<String>,
        retry_after_secs: u64,
    ) -> Self {
        let mut e = Self::new(StatusCode::TOO_MANY_REQUESTS, code, message);
        e.retry_after = Some(retry_after_secs.max(1));
        e
    }

    /// 503: a dependency (the database) is not answering.
    pub fn unavailable(message: impl Into<String>) -> Self {
        let mut e = Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message);
        e.retry_after = Some(1);
        e
    }

    /// 500 with a generic message; the detail goes to the log only.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "服务器内部错误 (internal server error)",
        )
    }

    /// The JSON body.
    pub fn body(&self) -> serde_json::Value {
        let mut error = serde_json::Map::new();
        error.insert("code".into(), self.code.as_ref().into());
        error.insert("message".into(), self.message.clone().into());
        if let Some(f) = &self.field {
            error.insert("field".into(), f.clone().into());
        }
        let mut doc = self.extra.as_deref().cloned().unwrap_or_default();
        doc.insert("error".into(), serde_json::Value::Object(error));
        serde_json::Value::Object(doc)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut res = (self.status, axum::Json(self.body())).into_response();
        if let Some(secs) = self.retry_after {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        res
    }
}

/// The `Idempotency-Key` request header (see `crate::idempotency`): the
/// `field` of a reused key's error.
pub const IDEMPOTENCY_KEY_HEADER: &str = "Idempotency-Key";

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict { code, message } => ApiError::conflict(code, message),
            StoreError::NotFound(what) => ApiError::not_found(what),
            StoreError::IdempotencyKeyReused => ApiError::unprocessable(
                "idempotency_key_reused",
                "该 Idempotency-Key 已用于另一个请求，请换一个新键 (this Idempotency-Key was used for another request; use a fresh key)",
            )
            .at(IDEMPOTENCY_KEY_HEADER),
            StoreError::Busy => {
                ApiError::unavailable("数据库繁忙，请稍后重试 (database busy, retry)")
            }
            StoreError::Closed => ApiError::unavailable("数据库已关闭 (database closed)"),
            // Not retryable before a restart: no Retry-After.
            StoreError::GraphFailed(_) => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "ledger_graph_failed",
                "台账状态与数据库不一致，暂停写入和追溯，需重启服务 (ledger state failed; restart required)",
            ),
            StoreError::CatchingUp { waited } => {
                let mut e = ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "read_model_catching_up",
                    format!(
                        "本实例的台账状态正在追上数据库，{} 毫秒内未完成，请稍后重试 (this instance's read model is catching up with the store and did not within {} ms; retry)",
                        waited.as_millis(),
                        waited.as_millis()
                    ),
                );
                e.retry_after = Some(1);
                e
            }
            other => ApiError::internal(other),
        }
    }
}

/// Field codes of input that has the form the OpenAPI schema states but
/// fails its check character: 422, as no schema pattern can carry a checksum
/// (400 is for what the schema itself refuses).
const CHECK_FAILURES: &[&str] = &["uscc_check_mismatch", "code_check_mismatch"];

impl From<crate::validate::FieldError> for ApiError {
    fn from(e: crate::validate::FieldError) -> Self {
        let status = if CHECK_FAILURES.contains(&e.code.as_str()) {
            StatusCode::UNPROCESSABLE_ENTITY
        } else {
            StatusCode::BAD_REQUEST
        };
        ApiError::new(status, e.code, e.message).at(e.field)
    }
}

/// Fallback for unknown paths, in the contract's shape.
pub async fn not_found_fallback() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        "没有这个地址 (no such route)",
    )
}

/// Fallback for a known path with a method it does not serve.
pub async fn method_not_allowed_fallback() -> ApiError {
    ApiError::method_not_allowed()
}

/// Answers a caught panic with the JSON shape and a 500 (tower-http
/// `CatchPanicLayer`); the panic message goes to the log only.
pub fn panic_response(err: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let detail = if let Some(s) = err.downcast_ref::<String>() {
        s.clone()
    } else if let Some(s) = err.downcast_ref::<&str>() {
        (*s).to_owned()
    } else {
        "unknown panic".to_owned()
    };
    ApiError::internal(format!("handler panicked: {detail}")).into_response()
}
