//! `GET /v1/stats/inspections`: how often, where, by whom and with what
//! outcome inspections were done (监管频率、内容、次数).

use axum::extract::State;
use chrono::{DateTime, Days, NaiveDate, NaiveTime, Offset, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::Auth;
use crate::errors::{ApiError, ErrorResponse};
use crate::extract::{Json, Query};
use crate::field::risk::ANALYSTS;
use crate::store::field::{StatsGroup, StatsRow};
use crate::AppState;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StatsQuery {
    /// `inspector`, `month`, `market`, `result` or `item`.
    #[param(pattern = "^(inspector|month|market|result|item)$")]
    pub group_by: String,
    /// First day (`YYYY-MM-DD`, China time) or instant (RFC 3339), inclusive.
    #[param(value_type = Option<crate::openapi::wire::DayOrInstant>)]
    pub from: Option<String>,
    /// Last day (`YYYY-MM-DD`, China time, inclusive) or instant (RFC 3339, exclusive).
    #[param(value_type = Option<crate::openapi::wire::DayOrInstant>)]
    pub to: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InspectionStats {
    pub group_by: String,
    pub rows: Vec<StatsRow>,
}

/// China Standard Time: days and months are counted as inspectors and
/// regulators see them, not in UTC.
fn china() -> chrono::FixedOffset {
    chrono::FixedOffset::east_opt(8 * 3600).unwrap_or_else(|| Utc.fix())
}

/// Parses a bound: a date is the start of that day in China (for `to`, the
/// start of the next day, so the day is included).
fn bound(raw: Option<&str>, field: &str, end: bool) -> Result<Option<DateTime<Utc>>, ApiError> {
    let Some(s) = raw.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(Some(t.with_timezone(&Utc)));
    }
    let bad = || {
        ApiError::invalid(
            field,
            "invalid_query",
            format!("{field} 应为 YYYY-MM-DD 或带时区的 RFC 3339 时间"),
        )
    };
    let d = NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| bad())?;
    let d = if end {
        d.checked_add_days(Days::new(1)).ok_or_else(bad)?
    } else {
        d
    };
    let local = china()
        .from_local_datetime(&d.and_time(NaiveTime::MIN))
        .single()
        .ok_or_else(bad)?;
    Ok(Some(local.with_timezone(&Utc)))
}

/// Inspection counts grouped by inspector, month (China time), market,
/// result or failed checklist item, each split by result (analysts and
/// admins). For `item`, `count` is the inspections in which that item failed.
#[utoipa::path(
    get, path = "/v1/stats/inspections", tag = "field", params(StatsQuery), security(("bearer" = [])),
    responses(
        (status = 200, body = InspectionStats),
        (status = 400, body = ErrorResponse), (status = 401, body = ErrorResponse), (status = 403, body = ErrorResponse),
        (status = 422, description = "invalid_query: `to` is not after `from`", body = ErrorResponse),
    )
)]
pub async fn inspection_stats(
    State(state): State<AppState>,
    auth: Auth,
    Query(q): Query<StatsQuery>,
) -> Result<Json<InspectionStats>, ApiError> {
    auth.require(ANALYSTS)?;
    let group = StatsGroup::parse(q.group_by.trim()).ok_or_else(|| {
        ApiError::invalid(
            "group_by",
            "invalid_query",
            "group_by 应为 inspector、month、market、result 或 item",
        )
    })?;
    let from = bound(q.from.as_deref(), "from", false)?;
    let to = bound(q.to.as_deref(), "to", true)?;
    if let (Some(f), Some(t)) = (from, to) {
        // 422: each bound is valid alone; the schema of a query cannot
        // relate two parameters.
        if t <= f {
            return Err(
                ApiError::unprocessable("invalid_query", "结束时间须晚于开始时间").at("to"),
            );
        }
    }
    let rows = state.store.inspection_stats(group, from, to).await?;
    Ok(Json(InspectionStats {
        group_by: group.as_str().to_owned(),
        rows,
    }))
}
