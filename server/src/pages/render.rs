//! What every page shares: the HTML response with its cache header, times
//! in China's zone, and the page for a code that was mistyped or is unknown.

use askama::Template;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, FixedOffset, NaiveDate, Offset as _, Utc};
use shian_core::error::FieldError;

use crate::errors::ApiError;

/// Asia/Shanghai: UTC+8 all year (China has had no daylight saving time
/// since 1991), so a fixed offset is exact and needs no zone database.
const SHANGHAI_OFFSET_SECS: i32 = 8 * 3600;

/// How long a browser or proxy may keep a found page: a minute, so a new
/// inspection, finding or recall reaches a consumer who scans again soon
/// after, while a busy market's repeated scans are still served from cache.
const FOUND_MAX_AGE: &str = "public, max-age=60";

/// Error pages are not kept: a shop registered a moment later must not stay
/// "unknown" in a cache.
const ERROR_CACHE: &str = "no-cache";

fn shanghai() -> FixedOffset {
    // The offset is a constant within ±24 h, so `east_opt` is always Some;
    // the fallback (UTC) is never taken.
    FixedOffset::east_opt(SHANGHAI_OFFSET_SECS).unwrap_or_else(|| Utc.fix())
}

/// `2026-12-01 17:52`, Beijing time.
pub(crate) fn local_time(t: DateTime<Utc>) -> String {
    t.with_timezone(&shanghai())
        .format("%Y-%m-%d %H:%M")
        .to_string()
}

/// Today's date in China (licence expiry is a date there).
pub(crate) fn local_today() -> NaiveDate {
    Utc::now().with_timezone(&shanghai()).date_naive()
}

/// A stored RFC 3339 timestamp shown in Beijing time; an unreadable one is
/// shown as stored rather than failing the page.
pub(crate) fn local_time_str(s: &str) -> String {
    DateTime::parse_from_rfc3339(s)
        .map(|t| local_time(t.with_timezone(&Utc)))
        .unwrap_or_else(|_| s.to_owned())
}

/// A rendered page with its status and cache header; a template that fails
/// to render (it cannot with these plain values, but askama says it may)
/// becomes the API's 500.
pub(crate) fn page(status: StatusCode, t: &impl Template) -> Response {
    match t.render() {
        Ok(body) => {
            let cache = if status.is_success() {
                FOUND_MAX_AGE
            } else {
                ERROR_CACHE
            };
            (
                status,
                [
                    (
                        header::CONTENT_TYPE,
                        HeaderValue::from_static("text/html; charset=utf-8"),
                    ),
                    (header::CACHE_CONTROL, HeaderValue::from_static(cache)),
                ],
                body,
            )
                .into_response()
        }
        Err(e) => ApiError::internal(e).into_response(),
    }
}

#[derive(Template)]
#[template(path = "code_error.html")]
struct CodeErrorPage<'a> {
    heading: &'a str,
    explanation: &'a str,
    hint: &'a str,
    typed: &'a str,
}

/// What a person typed or scanned is not a code: a typo (wrong length or
/// letters: 400; a failed check character: 422, as the API answers).
pub(crate) fn mistyped(typed: &str, e: &FieldError) -> Response {
    let status = ApiError::from(e.clone()).status;
    let explanation = if e.code == "code_check_mismatch" {
        "输入有误，请核对：这个码的校验位不符，很可能有一位输错或看错了。"
    } else {
        "输入有误，请核对：店码和追溯码都是 16 位字母和数字。"
    };
    typo(
        status,
        explanation,
        "请对照码下方印的字符逐位核对（字母 O 与数字 0、字母 I/L 与数字 1 可以混用）。",
        typed,
    )
}

/// The "输入有误，请核对" page with its own explanation and hint (a GTIN's
/// typo is explained in digits, not in shop-code symbols).
pub(crate) fn typo(status: StatusCode, explanation: &str, hint: &str, typed: &str) -> Response {
    page(
        status,
        &CodeErrorPage {
            heading: "输入有误，请核对",
            explanation,
            hint,
            typed: clip(typed),
        },
    )
}

/// A well-formed code that names nothing here: 404.
pub(crate) fn unknown(typed: &str, what: &str) -> Response {
    let explanation = format!("查无此码：本平台没有这个{what}。");
    page(
        StatusCode::NOT_FOUND,
        &CodeErrorPage {
            heading: "查无此码",
            explanation: &explanation,
            hint: "这个码的格式正确，但本平台没有登记。请确认是在本平台的摊位或商品上扫到的；如怀疑是假冒的码，可向当地市场监管部门（12315）反映。",
            typed: clip(typed),
        },
    )
}

/// Echoes at most 40 characters of what was typed, so the page stays small
/// whatever is sent.
fn clip(s: &str) -> &str {
    match s.char_indices().nth(40) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}
