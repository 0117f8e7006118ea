//! `GET /v1/risk/merchants`: risk grades A–D computed on request.
//!
//! Grades are not stored: core's `RiskGrader` grades 840,000 merchants in
//! tens of milliseconds, so computing them from the current facts on every
//! request is cheap and can never serve a grade that missed a new inspection
//! or test result ("recomputed when facts change", issue 5). The facts come
//! from the registry (business type, categories) and from what was recorded:
//! inspection results and confirmed test failures in the rules' period
//! (365 days), and the ledger of that period: each kind of warning (sales
//! beyond stock, missing certificates, sales after expiry, …) as a rate of
//! the entries it concerns, weighted by `risk-v2.json` (see core's
//! `LedgerRates` for why a rate). Complaints received in the period count
//! as core's `complaints::counts_in_risk_grade` says (undecided, accepted,
//! or closed as founded), weighted by the rules' `dynamic.complaint`.

use axum::extract::State;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use shian_core::inspection::{RiskAssessment, RiskGrade, RiskGrader};
use utoipa::{IntoParams, ToSchema};

use crate::auth::Auth;
use crate::errors::{ApiError, ErrorResponse};
use crate::extract::{Json, Query};
use crate::store::field::RiskFactsRow;
use crate::store::Role;
use crate::{validate, AppState};

/// Who may see risk grades.
pub(crate) const ANALYSTS: &[Role] = &[Role::Admin, Role::Analyst];

/// Every merchant with its grade, as of now.
pub(crate) async fn graded(
    state: &AppState,
) -> Result<Vec<(RiskFactsRow, RiskAssessment)>, ApiError> {
    let grader = RiskGrader::builtin().map_err(ApiError::internal)?;
    let rows = state
        .store
        .risk_facts(Utc::now(), grader.rules().dynamic.period_days)
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let a = grader.grade(&r.facts);
            (r, a)
        })
        .collect())
}

/// One merchant's grade as of now (`None` when it is not registered): the
/// same facts and grader as [`graded`], read for that merchant only (a shop
/// page must not grade every merchant to show one grade).
pub(crate) async fn graded_one(
    state: &AppState,
    merchant_id: &str,
) -> Result<Option<RiskAssessment>, ApiError> {
    let grader = RiskGrader::builtin().map_err(ApiError::internal)?;
    let row = state
        .store
        .merchant_risk_facts(
            merchant_id.to_owned(),
            Utc::now(),
            grader.rules().dynamic.period_days,
        )
        .await?;
    Ok(row.map(|r| grader.grade(&r.facts)))
}

pub(crate) fn parse_grade(s: &str) -> Option<RiskGrade> {
    RiskGrade::ALL
        .into_iter()
        .find(|g| g.as_str().eq_ignore_ascii_case(s.trim()))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RiskQuery {
    /// GB/T 2260; a province or city code covers everything under it.
    #[param(value_type = Option<crate::openapi::wire::RegionFilter>)]
    pub region: Option<String>,
    /// `A`, `B`, `C` or `D`.
    #[param(pattern = "^$|^[ABCDabcd]$")]
    pub grade: Option<String>,
    /// 1..=1000, default 100.
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
    #[param(minimum = 0, maximum = 4294967295_u32)]
    pub offset: Option<u32>,
}

/// One graded merchant.
#[derive(Debug, Serialize, ToSchema)]
pub struct RiskRow {
    pub merchant_id: String,
    pub name: String,
    pub region_code: String,
    #[schema(value_type = String)]
    pub grade: RiskGrade,
    /// static + dynamic, 0–100.
    pub score: f64,
    pub static_score: f64,
    pub dynamic_score: f64,
    /// Minimum inspections a year for the grade.
    pub inspections_per_year: u8,
    /// Still due this calendar year.
    pub inspections_due: u8,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RiskList {
    pub merchants: Vec<RiskRow>,
    /// Merchants matching the filters (before paging).
    pub total: u64,
    /// The `risk` rules version the grades come from.
    pub rules_version: u32,
}

/// Risk grades of merchants, highest score first (analysts and admins).
#[utoipa::path(
    get, path = "/v1/risk/merchants", tag = "field", params(RiskQuery), security(("bearer" = [])),
    responses(
        (status = 200, body = RiskList),
        (status = 400, body = ErrorResponse), (status = 401, body = ErrorResponse), (status = 403, body = ErrorResponse),
    )
)]
pub async fn risk_merchants(
    State(state): State<AppState>,
    auth: Auth,
    Query(q): Query<RiskQuery>,
) -> Result<Json<RiskList>, ApiError> {
    auth.require(ANALYSTS)?;
    let limit = crate::paging::limit(q.limit)?;
    let offset = q.offset.unwrap_or(0) as usize;
    let region = q
        .region
        .as_deref()
        .filter(|s| !s.trim().is_empty())
        .map(|s| validate::validate_region_code(s, "region"))
        .transpose()?;
    let grade = match q.grade.as_deref().filter(|s| !s.trim().is_empty()) {
        None => None,
        Some(g) => Some(parse_grade(g).ok_or_else(|| {
            ApiError::invalid("grade", "invalid_query", "grade 应为 A、B、C 或 D")
        })?),
    };
    let mut rows: Vec<(RiskFactsRow, RiskAssessment)> = graded(&state)
        .await?
        .into_iter()
        .filter(|(r, a)| {
            let in_region = match region.as_deref() {
                Some(reg) => validate::region_covers(reg, &r.region_code),
                None => true,
            };
            let in_grade = match grade {
                Some(g) => a.grade == g,
                None => true,
            };
            in_region && in_grade
        })
        .collect();
    rows.sort_by(|(ra, a), (rb, b)| {
        b.score
            .total_cmp(&a.score)
            .then_with(|| ra.merchant_id.cmp(&rb.merchant_id))
    });
    let total = rows.len() as u64;
    let merchants = rows
        .into_iter()
        .skip(offset)
        .take(limit as usize)
        .map(|(r, a)| RiskRow {
            merchant_id: r.merchant_id,
            name: r.name,
            region_code: r.region_code,
            grade: a.grade,
            score: a.score,
            static_score: a.static_score,
            dynamic_score: a.dynamic_score,
            inspections_per_year: a.inspections_per_year,
            inspections_due: a.inspections_due,
        })
        .collect();
    let rules_version = RiskGrader::builtin()
        .map_err(ApiError::internal)?
        .rules()
        .version;
    Ok(Json(RiskList {
        merchants,
        total,
        rules_version,
    }))
}
