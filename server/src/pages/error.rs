//! A failure behind a page (the store is closed or busy, a bug) answered as
//! a zh-CN HTML page a person can read, with the API's status and
//! `Retry-After`, never the API's JSON.

use askama::Template;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::errors::ApiError;
use crate::store::StoreError;

/// What a page handler fails with; `?` converts the API's and the store's
/// errors.
#[derive(Debug)]
pub(crate) struct PageError(pub(crate) ApiError);

impl From<ApiError> for PageError {
    fn from(e: ApiError) -> Self {
        PageError(e)
    }
}

impl From<crate::qr::QrError> for PageError {
    fn from(e: crate::qr::QrError) -> Self {
        PageError(ApiError::from(e))
    }
}

impl From<StoreError> for PageError {
    fn from(e: StoreError) -> Self {
        PageError(ApiError::from(e))
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    heading: &'a str,
    explanation: &'a str,
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let e = self.0;
        let (heading, explanation) = match e.status {
            StatusCode::FORBIDDEN => ("无权查看", "当前登录的账户无权查看此页面。"),
            StatusCode::NOT_FOUND => ("页面不存在", "您要找的内容不存在或已被删除。"),
            s if s.is_server_error() => (
                "服务暂时不可用",
                "服务器暂时无法完成请求，请稍后再试。如一直如此，请联系平台管理员。",
            ),
            // A refused request's own message says what to change.
            _ => ("请求有误", e.message.as_str()),
        };
        let body = ErrorPage {
            heading,
            explanation,
        }
        .render()
        // The template has only these two constant strings; if it ever
        // failed, plain text still tells the person what happened.
        .unwrap_or_else(|_| format!("{heading}：{explanation}"));
        let mut res = (
            e.status,
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/html; charset=utf-8"),
                ),
                (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            ],
            body,
        )
            .into_response();
        if let Some(secs) = e.retry_after {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        res
    }
}
