//! Extractors that refuse bad input in the contract's error shape.
//!
//! axum's own `Json`, `Query` and `Path` answer rejections in plain text; these
//! wrappers answer `{"error":{code,message,field}}` instead, and name the
//! offending field of a wrongly typed JSON body (`ops[3].quantity`) using
//! serde_path_to_error. Use `crate::extract::Json` (not `axum::Json`) for
//! request bodies.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{header, request::Parts, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::errors::ApiError;

/// The request body limit when a route does not set its own.
pub const DEFAULT_BODY_LIMIT: usize = 4 * 1024 * 1024;

/// Reads the whole body, mapping an oversize body to 413.
pub async fn body_bytes<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    let limit = req
        .extensions()
        .get::<BodyLimit>()
        .map_or(DEFAULT_BODY_LIMIT, |l| l.0);
    Bytes::from_request(req, state)
        .await
        .map_err(|e: BytesRejection| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::payload_too_large(limit)
            } else {
                ApiError::bad_request(
                    "unreadable_body",
                    "无法读取请求体 (could not read request body)",
                )
            }
        })
}

/// The configured body limit, put in request extensions by the app so 413
/// messages can name it.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit(pub usize);

fn is_json(parts: &header::HeaderMap) -> bool {
    let Some(ct) = parts
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Parses JSON, naming the field at fault. `T` may borrow from `bytes`.
pub fn parse_json<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    match serde_path_to_error::deserialize::<_, T>(&mut *de) {
        // Trailing bytes after the value (`{…} junk`) are malformed too.
        Ok(v) => de.end().map(|()| v).map_err(|e| {
            ApiError::bad_request(
                "malformed_json",
                format!("JSON 之后有多余内容 (trailing characters: {e})"),
            )
        }),
        Err(err) => {
            let path = err.path().to_string();
            let inner = err.into_inner();
            let mut e = match inner.classify() {
                serde_json::error::Category::Syntax
                | serde_json::error::Category::Eof
                | serde_json::error::Category::Io => {
                    return Err(ApiError::bad_request(
                        "malformed_json",
                        format!(
                            "JSON 格式错误：第 {} 行第 {} 列 (malformed JSON: {inner})",
                            inner.line(),
                            inner.column()
                        ),
                    ));
                }
                serde_json::error::Category::Data => ApiError::bad_request(
                    "invalid_field",
                    format!("字段类型或取值错误 (invalid field: {inner})"),
                ),
            };
            // "." is serde_path_to_error's name for the root.
            if path != "." && !path.is_empty() {
                e = e.at(path);
            }
            Err(e)
        }
    }
}

/// A JSON body (`Content-Type: application/json`), deserialized with
/// field-level errors; also a JSON response like `axum::Json`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

impl<T, S> FromRequest<S> for Json<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let JsonBody(bytes) = JsonBody::from_request(req, state).await?;
        parse_json(&bytes).map(Json)
    }
}

/// A JSON body (`Content-Type: application/json`) left as bytes, for a
/// handler that parses it with [`parse_json`] into a type borrowing from it.
#[derive(Debug, Clone)]
pub struct JsonBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(req.headers()) {
            return Err(ApiError::unsupported_media_type("application/json"));
        }
        body_bytes(req, state).await.map(JsonBody)
    }
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// Query parameters, refused as `400 invalid_query` when they do not parse.
#[derive(Debug, Clone, Copy, Default)]
pub struct Query<T>(pub T);

impl<T, S> FromRequestParts<S> for Query<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(de)
            .map(Query)
            .map_err(|err| {
                let path = err.path().to_string();
                let e = ApiError::bad_request(
                    "invalid_query",
                    format!("查询参数错误 (invalid query parameter: {})", err.inner()),
                );
                if path != "." && !path.is_empty() {
                    e.at(path)
                } else {
                    e
                }
            })
    }
}

/// Path parameters, refused as `400 invalid_path` when they do not parse.
#[derive(Debug, Clone, Copy, Default)]
pub struct Path<T>(pub T);

impl<T, S> FromRequestParts<S> for Path<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(v)| Path(v))
            .map_err(|e| {
                ApiError::bad_request(
                    "invalid_path",
                    format!("路径参数错误 (invalid path parameter: {})", e.body_text()),
                )
            })
    }
}
