//! GS1 Digital Link (`/01/{gtin}/10/{lot}`): the URI a product's pack may
//! carry instead of a bare trace code, so one QR serves a shop's till
//! (which reads the GTIN) and a consumer's phone (which opens the page).
//! In Shian a lot (AI 10) is the batch's trace code. `/01/{gtin}/10/{lot}`
//! redirects to that batch's trace page when the batch's product carries
//! the GTIN; `/01/{gtin}` alone lists the latest batches of the product.
//!
//! A GTIN is checked as its mod-10 check digit says (GS1 General
//! Specifications §7.9): a wrong digit gets the "mistyped" page (422) as a
//! wrong check symbol on `/t/` does, a well-formed code that names nothing
//! the 404 "查无此码". Attributes in the query string (`?17=YYMMDD`) are
//! ignored.

use askama::Template;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use shian_core::codes;

use super::error::PageError;
use super::render::{local_time_str, mistyped, page, typo, unknown};
use crate::store::public::GtinBatch;
use crate::AppState;

/// Batches listed under a GTIN: the latest, enough to find one's own.
const LIST_LIMIT: u32 = 20;

/// A GTIN as typed that is not one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GtinTypo {
    /// Not 8, 12, 13 or 14 digits.
    Form,
    /// The check digit does not match.
    Check,
}

/// The GTIN-14 of what was typed (a GTIN-8, -12 or -13 padded with zeros,
/// as GS1 Digital Link writes every GTIN).
fn parse_gtin(typed: &str) -> Result<String, GtinTypo> {
    let g = codes::normalize(typed);
    if !matches!(g.len(), 8 | 12 | 13 | 14) || !g.bytes().all(|b| b.is_ascii_digit()) {
        return Err(GtinTypo::Form);
    }
    codes::validate_gtin(&g, "gtin").map_err(|_| GtinTypo::Check)?;
    Ok(format!("{g:0>14}"))
}

/// Every form a GTIN-14 may have been recorded in: itself, and the shorter
/// GTIN-13, -12 and -8 its leading zeros allow.
fn recorded_forms(gtin14: &str) -> Vec<String> {
    let mut forms = vec![gtin14.to_owned()];
    for len in [13, 12, 8] {
        let (pad, rest) = gtin14.split_at(14 - len);
        if pad.bytes().all(|b| b == b'0') {
            forms.push(rest.to_owned());
        }
    }
    forms
}

fn gtin_typo(kind: GtinTypo, typed: &str) -> Response {
    match kind {
        GtinTypo::Form => typo(
            StatusCode::BAD_REQUEST,
            "输入有误，请核对：商品条码（GTIN）应为 8、12、13 或 14 位数字。",
            "请对照条码下方印的数字逐位核对。",
            typed,
        ),
        GtinTypo::Check => typo(
            StatusCode::UNPROCESSABLE_ENTITY,
            "输入有误，请核对：这个商品条码的校验位不符，很可能有一位输错或看错了。",
            "请对照条码下方印的数字逐位核对。",
            typed,
        ),
    }
}

/// `/01/{gtin}/10/{lot}`: 307 to `/t/{lot}` when the batch is of that
/// product.
pub(super) async fn gtin_lot(
    State(state): State<AppState>,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Result<Response, PageError> {
    let (gtin, lot) = path.map(|Path(p)| p).unwrap_or_default();
    let typed = format!("01/{gtin}/10/{lot}");
    let gtin14 = match parse_gtin(&gtin) {
        Ok(g) => g,
        Err(kind) => return Ok(gtin_typo(kind, &gtin)),
    };
    let code = match codes::parse_code(&lot, "lot") {
        Ok(c) => c,
        Err(e) => return Ok(mistyped(&lot, &e)),
    };
    let found = state
        .store
        .batches_by_gtin(recorded_forms(&gtin14), Some(code.clone()), 1)
        .await?;
    if found.is_empty() {
        return Ok(unknown(&typed, "商品批次"));
    }
    // The canonical code is 16 symbols of Crockford's alphabet, always a
    // valid header value; the fallback is never taken.
    let location =
        HeaderValue::from_str(&format!("/t/{code}")).unwrap_or(HeaderValue::from_static("/"));
    Ok((
        StatusCode::TEMPORARY_REDIRECT,
        [
            (header::LOCATION, location),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
    )
        .into_response())
}

#[derive(Template)]
#[template(path = "gs1.html")]
struct GtinPage {
    gtin: String,
    product_name: String,
    batches: Vec<BatchView>,
}

struct BatchView {
    trace_code: String,
    merchant_name: Option<String>,
    shop_code: Option<String>,
    received_at: String,
}

/// `/01/{gtin}`: the latest batches of the product, each opening its trace
/// page.
pub(super) async fn gtin_only(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, PageError> {
    let gtin = path.map(|Path(p)| p).unwrap_or_default();
    let gtin14 = match parse_gtin(&gtin) {
        Ok(g) => g,
        Err(kind) => return Ok(gtin_typo(kind, &gtin)),
    };
    let batches: Vec<GtinBatch> = state
        .store
        .batches_by_gtin(recorded_forms(&gtin14), None, LIST_LIMIT)
        .await?;
    let Some(first) = batches.first() else {
        return Ok(unknown(&gtin, "商品条码"));
    };
    let view = GtinPage {
        product_name: first.product_name.clone(),
        gtin: gtin14,
        batches: batches
            .into_iter()
            .map(|b| BatchView {
                trace_code: b.trace_code,
                merchant_name: b.merchant_name,
                shop_code: b.shop_code,
                received_at: local_time_str(&b.received_at),
            })
            .collect(),
    };
    Ok(page(StatusCode::OK, &view))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gtins_are_checked_and_padded() {
        assert_eq!(parse_gtin("6920001000011").as_deref(), Ok("06920001000011"));
        assert_eq!(
            parse_gtin("09506000134352").as_deref(),
            Ok("09506000134352")
        );
        assert_eq!(parse_gtin("09506000134353"), Err(GtinTypo::Check));
        assert_eq!(parse_gtin("12345"), Err(GtinTypo::Form));
        assert_eq!(parse_gtin("0950600013435X"), Err(GtinTypo::Form));
        assert_eq!(
            recorded_forms("00012345678905"),
            ["00012345678905", "0012345678905", "012345678905"]
        );
        assert_eq!(recorded_forms("00000096385074").len(), 4);
    }
}
