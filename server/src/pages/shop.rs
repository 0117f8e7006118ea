//! `GET /s/{shop_code}`: the shop page behind its QR code (一店一码), what
//! 浙食链 and Sichuan's shop codes show: name, stall and market, licence and
//! its expiry (warned when near or past), risk grade with its date, the
//! latest inspections, recent tests, where its goods come from (suppliers
//! by name) and published findings. Renders [`crate::public::shop_record`],
//! the record behind the JSON twin.

use askama::Template;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::NaiveDate;
use shian_core::inspection::{RiskGrade, SampleOutcome};

use super::error::PageError;
use super::render::{local_time, local_time_str, local_today, mistyped, page, unknown};
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
    inspections: Vec<InspectionView>,
    tests: Vec<TestView>,
    suppliers: Vec<SupplierView>,
    findings: Vec<FindingView>,
    /// Active recalls naming one of the shop's batches.
    recalls: Vec<crate::recalls::view::RecallBanner>,
    /// The food-handling staff as the public may see them (initial, role,
    /// validity; never the full name or the certificate's number).
    staff: Vec<shian_core::staff::PublicWorker>,
    generated: String,
    /// Ratings and the feedback forms (`shop_feedback.html`).
    feedback: super::feedback::ShopFeedback,
}

struct GradeView {
    letter: String,
    label: &'static str,
    date: String,
    period_days: u32,
}

struct InspectionView {
    result: &'static str,
    date: String,
}

struct TestView {
    item: String,
    method: &'static str,
    outcome: &'static str,
    /// A failure or an unconfirmed positive: shown in bold.
    alarming: bool,
    date: String,
    trace_code: Option<String>,
}

struct SupplierView {
    name: String,
    shop_code: Option<String>,
    purchases: u32,
    last: String,
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

fn method_label(method: &str) -> &'static str {
    match method {
        "rapid" => "快检",
        "lab" => "实验室检测",
        _ => "检测",
    }
}

/// The stored outcome (`pass`, …) in words, and whether it is alarming.
fn outcome_view(outcome: &str) -> (&'static str, bool) {
    match serde_json::from_value::<SampleOutcome>(serde_json::Value::from(outcome)) {
        Ok(o) => (
            o.label_zh(),
            matches!(
                o,
                SampleOutcome::PositiveUnconfirmed | SampleOutcome::FailedConfirmed
            ),
        ),
        Err(_) => ("结果未知", false),
    }
}

/// The shop's workers as the public sees them (core's `PublicWorker`).
async fn public_staff(
    state: &AppState,
    shop_code: &str,
) -> Result<Vec<shian_core::staff::PublicWorker>, crate::errors::ApiError> {
    let Some(m) = state
        .store
        .merchant_by_shop_code(shop_code.to_owned())
        .await?
    else {
        return Ok(Vec::new());
    };
    let now = chrono::Utc::now();
    Ok(state
        .store
        .staff_of(m.id)
        .await?
        .iter()
        .map(|s| shian_core::staff::PublicWorker::new(&s.worker, now))
        .collect())
}

pub(super) async fn shop_page(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, PageError> {
    let typed = path.map(|Path(p)| p).unwrap_or_default();
    let code = match shian_core::codes::parse_code(&typed, "shop_code") {
        Ok(c) => c,
        Err(e) => return Ok(mistyped(&typed, &e)),
    };
    let Some(shop) = crate::public::shop_record(&state, code.clone()).await? else {
        return Ok(unknown(&typed, "店码"));
    };
    let expiry = shop
        .licence_expiry
        .as_deref()
        .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok());
    let warning = expiry.and_then(|e| licence_warning(e, local_today()));
    let recalls = state
        .store
        .active_recalls_of_shop(code.clone())
        .await
        .map_err(crate::errors::ApiError::from)?
        .into_iter()
        .map(|r| {
            let started = local_time(r.started_at);
            crate::recalls::view::RecallBanner::new(r, started)
        })
        .collect();
    let staff = public_staff(&state, &code).await?;
    let view = ShopPage {
        staff,
        recalls,
        grade: shop.risk.map(|r| GradeView {
            label: crate::field::risk::parse_grade(&r.grade).map_or("", grade_label),
            letter: r.grade,
            date: r.as_of,
            period_days: r.period_days,
        }),
        feedback: super::feedback::shop_feedback(&state, &code).await?,
        name: shop.name,
        shop_code: shop.shop_code,
        market: shop.market,
        stall: shop.stall,
        licence_no: shop.licence_no,
        licence_expiry: shop.licence_expiry,
        licence_expired: warning.as_ref().is_some_and(|(_, expired)| *expired),
        licence_warning: warning.map(|(w, _)| w),
        inspections: shop
            .inspections
            .into_iter()
            .map(|i| InspectionView {
                result: result_label(&i.result),
                date: local_time_str(&i.finished_at),
            })
            .collect(),
        tests: shop
            .tests
            .into_iter()
            .map(|t| {
                let (outcome, alarming) = outcome_view(&t.outcome);
                TestView {
                    item: t.item,
                    method: method_label(&t.method),
                    outcome,
                    alarming,
                    date: local_time_str(&t.taken_at),
                    trace_code: t.trace_code,
                }
            })
            .collect(),
        suppliers: shop
            .suppliers
            .into_iter()
            .map(|s| SupplierView {
                name: s.name,
                shop_code: s.shop_code,
                purchases: s.purchases,
                last: local_time_str(&s.last_received_at),
            })
            .collect(),
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
