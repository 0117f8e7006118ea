//! `GET /s/{shop_code}`: the shop page behind its QR code (一店一码), what
//! 浙食链 and Sichuan's shop codes show: name, stall and market, licence and
//! its expiry, risk grade, latest inspection, published test results.
//!
//! Where the shop's goods come from (its suppliers) is not shown yet: the
//! store has no query for a shop's suppliers, and the in-memory ledger graph
//! answers by batch, not by holder.

use askama::Template;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::NaiveDate;
use shian_core::inspection::{RiskGrade, RiskGrader};

use super::render::{local_time, local_time_str, local_today, mistyped, page, unknown};
use crate::errors::ApiError;
use crate::AppState;

/// Days before expiry from which the page warns. The licensing measures
/// (食品经营许可管理办法) ask a shop to apply for renewal 30 working days
/// before its licence expires, so within 30 calendar days a renewal is
/// overdue or about to be: a consumer should see that the licence may lapse.
pub(crate) const LICENCE_WARNING_DAYS: i64 = 30;

#[derive(Template)]
#[template(path = "shop.html")]
struct ShopPage {
    name: String,
    shop_code: String,
    market: Option<String>,
    stall: Option<String>,
    licence_no: Option<String>,
    licence_expiry: Option<String>,
    licence_warning: Option<String>,
    licence_expired: bool,
    grade: Option<GradeView>,
    inspection: Option<InspectionView>,
    findings: Vec<FindingView>,
    generated: String,
    /// Ratings and the feedback forms (`shop_feedback.html`).
    feedback: super::feedback::ShopFeedback,
}

struct GradeView {
    letter: &'static str,
    label: &'static str,
    date: String,
    period_days: u32,
}

struct InspectionView {
    result: &'static str,
    date: String,
}

struct FindingView {
    title: String,
    summary: String,
    date: String,
    trace_code: Option<String>,
}

/// The grade's meaning in the SAMR risk-grading measures' words.
fn grade_label(g: RiskGrade) -> &'static str {
    match g {
        RiskGrade::A => "风险较低",
        RiskGrade::B => "风险一般",
        RiskGrade::C => "风险较高",
        RiskGrade::D => "风险高",
    }
}

fn result_label(result: &str) -> &'static str {
    match result {
        "compliant" => "符合",
        "basically_compliant" => "基本符合",
        "non_compliant" => "不符合",
        _ => "结果未知",
    }
}

/// The licence warning for an expiry date, as of `today`: expired (red) or
/// within [`LICENCE_WARNING_DAYS`] (yellow).
fn licence_warning(expiry: NaiveDate, today: NaiveDate) -> Option<(String, bool)> {
    let days = (expiry - today).num_days();
    if days < 0 {
        Some((
            format!("注意：本店食品经营许可证已于 {expiry} 过期。"),
            true,
        ))
    } else if days <= LICENCE_WARNING_DAYS {
        Some((
            format!("注意：本店食品经营许可证将于 {expiry} 到期（还有 {days} 天）。"),
            false,
        ))
    } else {
        None
    }
}

/// The shop's grade as of now, computed exactly as `GET /v1/risk/merchants`
/// does (the same function), so the page and the console never disagree.
async fn grade(state: &AppState, shop_code: &str) -> Result<Option<GradeView>, ApiError> {
    let Some(merchant) = state
        .store
        .merchant_by_shop_code(shop_code.to_owned())
        .await?
    else {
        return Ok(None);
    };
    let period_days = RiskGrader::builtin()
        .map_err(ApiError::internal)?
        .rules()
        .dynamic
        .period_days;
    Ok(crate::field::risk::graded(state)
        .await?
        .into_iter()
        .find(|(r, _)| r.merchant_id == merchant.id)
        .map(|(_, a)| GradeView {
            letter: a.grade.as_str(),
            label: grade_label(a.grade),
            date: local_today().to_string(),
            period_days,
        }))
}

pub(super) async fn shop_page(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let typed = path.map(|Path(p)| p).unwrap_or_default();
    let code = match shian_core::codes::parse_code(&typed, "shop_code") {
        Ok(c) => c,
        Err(e) => return Ok(mistyped(&typed, &e)),
    };
    let Some(shop) = state.store.public_shop(code.clone()).await? else {
        return Ok(unknown(&typed, "店码"));
    };
    let expiry = shop
        .licence_expiry
        .as_deref()
        .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok());
    let warning = expiry.and_then(|e| licence_warning(e, local_today()));
    let view = ShopPage {
        grade: grade(&state, &code).await?,
        feedback: super::feedback::shop_feedback(&state, &code).await?,
        name: shop.name,
        shop_code: shop.shop_code,
        market: shop.market,
        stall: shop.stall,
        licence_no: shop.licence_no,
        licence_expiry: shop.licence_expiry,
        licence_expired: warning.as_ref().is_some_and(|(_, expired)| *expired),
        licence_warning: warning.map(|(w, _)| w),
        inspection: shop.latest_inspection.map(|i| InspectionView {
            result: result_label(&i.result),
            date: local_time_str(&i.finished_at),
        }),
        findings: shop
            .findings
            .into_iter()
            .map(|f| FindingView {
                title: f.title,
                summary: f.summary,
                date: local_time_str(&f.published_at),
                trace_code: f.trace_code,
            })
            .collect(),
        generated: local_time(chrono::Utc::now()),
    };
    Ok(page(StatusCode::OK, &view))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn licence_warning_edges() {
        let today = d("2026-12-01");
        assert_eq!(
            licence_warning(d("2026-11-30"), today).map(|w| w.1),
            Some(true)
        );
        assert_eq!(
            licence_warning(d("2026-12-01"), today).map(|w| w.1),
            Some(false)
        );
        assert_eq!(
            licence_warning(d("2026-12-31"), today).map(|w| w.1),
            Some(false)
        );
        assert_eq!(licence_warning(d("2027-01-01"), today), None);
    }
}
