//! `GET /v1/traces/{code}/export`, `/v1/merchants/{id}/export`,
//! `/v1/markets/{id}/export`, `/v1/recalls/{id}/export`: parse, check the
//! caller, plan, answer with the file (see [`super`]).

use axum::extract::State;
use axum::response::Response;
use chrono::{NaiveDate, TimeZone};
use serde::Deserialize;
use utoipa::IntoParams;

use super::{plan, respond, Direction, Format, Subject};
use crate::auth::Auth;
use crate::errors::{ApiError, ErrorResponse};
use crate::extract::{Path, Query};
use crate::store::ledger::ExportWindow;
use crate::store::Role;
use crate::validate;
use crate::AppState;

/// Who may export any ledger: regulators.
const REGULATORS: &[Role] = &[Role::Admin, Role::Analyst];

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TraceExportQuery {
    /// `csv` (UTF-8 with BOM), `xlsx`, or `epcis` (EPCIS 2.0 JSON-LD).
    #[param(inline)]
    pub format: Format,
    /// `forward` (every downstream holder; the default) or `backward`
    /// (the chain to the origin).
    #[param(inline)]
    pub direction: Option<Direction>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct LedgerExportQuery {
    /// `csv` (UTF-8 with BOM), `xlsx`, or `epcis` (EPCIS 2.0 JSON-LD).
    #[param(inline)]
    pub format: Format,
    /// First day kept (China time), inclusive.
    #[param(value_type = Option<crate::openapi::wire::Date>)]
    pub from: Option<String>,
    /// Last day kept (China time), inclusive.
    #[param(value_type = Option<crate::openapi::wire::Date>)]
    pub to: Option<String>,
}

fn day(s: &Option<String>, field: &str) -> Result<Option<NaiveDate>, ApiError> {
    s.as_deref()
        .map(|s| {
            NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| {
                ApiError::invalid(
                    field,
                    "invalid_date",
                    "日期应为 YYYY-MM-DD (a calendar date)",
                )
            })
        })
        .transpose()
}

/// `from`..=`to` as the instants `[from 00:00, to + 1 day 00:00)` in China
/// time.
fn window(q: &LedgerExportQuery) -> Result<ExportWindow, ApiError> {
    let (from, to) = (day(&q.from, "from")?, day(&q.to, "to")?);
    if let (Some(f), Some(t)) = (from, to) {
        if t < f {
            // Both dates are valid on their own (the schema's own words);
            // together they make no sense: 422, not 400.
            return Err(ApiError::unprocessable(
                "invalid_range",
                "结束日期早于开始日期 (to is before from)",
            )
            .at("to"));
        }
    }
    // Cannot fail: +8 h is a valid offset and midnight exists in it.
    let cst =
        chrono::FixedOffset::east_opt(8 * 3600).ok_or_else(|| ApiError::internal("offset"))?;
    let start = |d: NaiveDate| {
        cst.from_local_datetime(&d.and_time(chrono::NaiveTime::MIN))
            .single()
            .map(|t| t.with_timezone(&chrono::Utc))
    };
    Ok(ExportWindow {
        from: from.and_then(start),
        to: to.and_then(|d| d.succ_opt()).and_then(start),
    })
}

/// A trace as a file: every movement of every batch the forward trace
/// reaches (or the backward chain passes), one row or event each.
#[utoipa::path(
    get, path = "/v1/traces/{code}/export", tag = "trace", security(("bearer" = [])),
    params(("code" = crate::openapi::wire::Code, Path, description = "16-character trace code"), TraceExportQuery),
    responses(
        (status = 200, description = "the file, with Content-Disposition (ASCII filename and RFC 5987 filename*): text/csv (UTF-8 with BOM, RFC 4180), XLSX, or application/ld+json (an EPCIS 2.0 EPCISDocument)",
         content((String = "text/csv"), (Vec<u8> = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"), (Object = "application/ld+json"))),
        (status = 400, description = "invalid_query (format, direction), invalid_code", body = ErrorResponse),
        (status = 401, body = ErrorResponse), (status = 403, description = "analysts and admins only", body = ErrorResponse),
        (status = 404, description = "unknown_trace_code", body = ErrorResponse),
        (status = 422, description = "code_check_mismatch", body = ErrorResponse),
    )
)]
pub async fn trace_export(
    State(state): State<AppState>,
    auth: Auth,
    Path(code): Path<String>,
    Query(q): Query<TraceExportQuery>,
) -> Result<Response, ApiError> {
    auth.require(REGULATORS)?;
    let code = shian_core::codes::parse_code(&code, "code").map_err(ApiError::from)?;
    super::export_trace(&state, &code, q.direction.unwrap_or_default(), q.format).await
}

/// A merchant's ledger as a file, optionally for some days; analysts,
/// admins, and the merchant itself.
#[utoipa::path(
    get, path = "/v1/merchants/{id}/export", tag = "registry", security(("bearer" = [])),
    params(("id" = crate::openapi::wire::Id, Path, description = "merchant id"), LedgerExportQuery),
    responses(
        (status = 200, description = "the file (see /v1/traces/{code}/export)",
         content((String = "text/csv"), (Vec<u8> = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"), (Object = "application/ld+json"))),
        (status = 400, description = "invalid_query, invalid_id, invalid_date", body = ErrorResponse),
        (status = 422, description = "invalid_range: to is before from", body = ErrorResponse),
        (status = 401, body = ErrorResponse), (status = 403, description = "another merchant's ledger, or an inspector", body = ErrorResponse),
        (status = 404, description = "not_found", body = ErrorResponse),
    )
)]
pub async fn merchant_export(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    Query(q): Query<LedgerExportQuery>,
) -> Result<Response, ApiError> {
    let id = validate::validate_id(&id, "id")?;
    let own = auth.role == Role::Merchant && auth.scope.merchant_id.as_deref() == Some(id.as_str());
    if !own {
        auth.require(REGULATORS)?;
    }
    let window = window(&q)?;
    let plan = plan(
        state.store.as_ref(),
        &Subject::Merchant { id },
        window,
        q.format,
    )
    .await?;
    Ok(respond(state.store.clone(), plan).await?)
}

/// A market's ledger (every merchant in it) as a file, optionally for some
/// days; analysts and admins.
#[utoipa::path(
    get, path = "/v1/markets/{id}/export", tag = "registry", security(("bearer" = [])),
    params(("id" = crate::openapi::wire::Id, Path, description = "market id"), LedgerExportQuery),
    responses(
        (status = 200, description = "the file (see /v1/traces/{code}/export)",
         content((String = "text/csv"), (Vec<u8> = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"), (Object = "application/ld+json"))),
        (status = 400, description = "invalid_query, invalid_id, invalid_date", body = ErrorResponse),
        (status = 422, description = "invalid_range: to is before from", body = ErrorResponse),
        (status = 401, body = ErrorResponse), (status = 403, description = "analysts and admins only", body = ErrorResponse),
        (status = 404, description = "not_found", body = ErrorResponse),
    )
)]
pub async fn market_export(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    Query(q): Query<LedgerExportQuery>,
) -> Result<Response, ApiError> {
    auth.require(REGULATORS)?;
    let id = validate::validate_id(&id, "id")?;
    let window = window(&q)?;
    let plan = plan(
        state.store.as_ref(),
        &Subject::Market { id },
        window,
        q.format,
    )
    .await?;
    Ok(respond(state.store.clone(), plan).await?)
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RecallExportQuery {
    /// `csv` (UTF-8 with BOM), `xlsx`, or `epcis` (EPCIS 2.0 JSON-LD).
    #[param(inline)]
    pub format: Format,
}

/// The recall's trace code, for its export: the forward trace of the batch
/// it was started from is exactly the movements that reached its holders.
pub(crate) async fn recall_code(state: &AppState, id: &str) -> Result<String, ApiError> {
    let id = uuid::Uuid::parse_str(id.trim())
        .map_err(|_| ApiError::invalid("id", "invalid_field", "召回编号应为 UUID"))?
        .to_string();
    let recall = state
        .store
        .recall(id)
        .await?
        .ok_or_else(|| ApiError::not_found("召回"))?;
    Ok(recall.header.trace_code)
}

/// A recall as a file: every movement of the batch it was started from and
/// of every batch downstream (its forward trace), one row or event each —
/// the spreadsheet FSMA 204 asks for within 24 hours.
#[utoipa::path(
    get, path = "/v1/recalls/{id}/export", tag = "recalls", security(("bearer" = [])),
    params(("id" = crate::openapi::wire::Uuid, Path, description = "the recall's id"), RecallExportQuery),
    responses(
        (status = 200, description = "the file (see /v1/traces/{code}/export)",
         content((String = "text/csv"), (Vec<u8> = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"), (Object = "application/ld+json"))),
        (status = 400, description = "invalid_query, invalid_field (id)", body = ErrorResponse),
        (status = 401, body = ErrorResponse), (status = 403, description = "analysts and admins only", body = ErrorResponse),
        (status = 404, description = "not_found", body = ErrorResponse),
    )
)]
pub async fn recall_export(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    Query(q): Query<RecallExportQuery>,
) -> Result<Response, ApiError> {
    auth.require(REGULATORS)?;
    let code = recall_code(&state, &id).await?;
    super::export_trace(&state, &code, Direction::Forward, q.format).await
}
