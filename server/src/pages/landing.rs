//! `GET /`: what this server is and where each role goes; `GET /go`: the
//! landing page's code form, which sends the person to the shop or product
//! page the code names.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use shian_core::trace::TraceError;

use super::error::PageError;
use super::render::{mistyped, page, unknown};
use crate::errors::ApiError;
use crate::AppState;

#[derive(Template)]
#[template(path = "landing.html")]
struct Landing;

pub(super) async fn landing() -> Response {
    page(StatusCode::OK, &Landing)
}

#[derive(Debug, Deserialize)]
pub(super) struct GoQuery {
    #[serde(default)]
    code: String,
}

/// One box takes either kind of code (a person does not know which one a
/// sticker carries): a shop code goes to `/s/`, a trace code to `/t/`, in
/// canonical form (303, so the page's address is the one a QR would hold).
/// A malformed query string is treated as an empty code.
pub(super) async fn go(
    State(state): State<AppState>,
    q: Result<Query<GoQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, PageError> {
    let typed = q.map(|Query(q)| q.code).unwrap_or_default();
    let code = match shian_core::codes::parse_code(&typed, "code") {
        Ok(c) => c,
        Err(e) => return Ok(mistyped(&typed, &e)),
    };
    let target = if state
        .store
        .merchant_by_shop_code(code.clone())
        .await?
        .is_some()
    {
        format!("/s/{code}")
    } else {
        match state.store.trace_backward(code.clone()).await? {
            Ok(_) => format!("/t/{code}"),
            Err(TraceError::NotFound { .. }) => return Ok(unknown(&typed, "店码或追溯码")),
            Err(TraceError::InvalidCode { .. }) => {
                return Ok(mistyped(
                    &typed,
                    &shian_core::error::FieldError::new("code", "invalid_code", "invalid"),
                ))
            }
            Err(TraceError::Storage(detail)) => return Err(ApiError::internal(detail).into()),
        }
    };
    // The canonical code is 16 symbols of Crockford's alphabet, always a
    // valid header value; the fallback is never taken.
    let location = HeaderValue::from_str(&target).unwrap_or(HeaderValue::from_static("/"));
    Ok((StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response())
}
