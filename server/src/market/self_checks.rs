//! A market's self-inspections (日管控、周排查、月调度; issue 14, item 3)
//! read back: `GET /v1/markets/{id}/self-checks` (the calendar: each
//! period done, missed, pending or not due, with its check ids) and
//! `GET /v1/markets/{id}/follow-ups` (findings open, closed or overdue).
//! Admins and analysts read every market, a market operator its own.
//!
//! What the tablets push is in [`super::self_check_ops`]. Change kinds
//! sent by sync: `self_check_template` (every self-inspection template
//! version, once, addressed to everyone like the inspectors' `checklist`:
//! core's `Template` with `cadence` and `performer`), `market.self_check`
//! (to the market's tablets when a check is kept: `{check_id, market_id,
//! template_id, template_version, cadence, period, result, findings[],
//! performed_by, at}`) and `market.follow_up_closed` (to the market's
//! tablets: `{finding_id, note, photos, closed_by, at}`). The periodic
//! check is [`super::self_check_tick`].

use std::borrow::Cow;

use axum::extract::State;
use chrono::{Months, NaiveDate};
use serde::{Deserialize, Serialize};
use shian_core::self_check::{
    calendar, china_date, follow_up_status, Cadence, FollowUpStatus, Period,
};
use utoipa::openapi::{ObjectBuilder, RefOr, Schema, Type};
use utoipa::{IntoParams, PartialSchema, ToSchema};

use crate::auth::Auth;
use crate::errors::{ApiError, ErrorResponse};
use crate::extract::{Path, Query};
use crate::store::self_checks::StoredFinding;
use crate::store::Role;
use crate::AppState;

/// Who reads a market's self-inspections (an operator: its own market).
const READERS: &[Role] = &[Role::Admin, Role::Analyst, Role::MarketOperator];
/// The longest calendar range, in days.
pub const MAX_RANGE_DAYS: i64 = 366;
/// Most follow-ups in one answer.
pub const MAX_FOLLOW_UPS: u32 = 500;

macro_rules! string_enum {
    ($name:ident, $schema_name:literal, $values:expr) => {
        pub struct $name;
        impl PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some($values))
                    .into()
            }
        }
        impl ToSchema for $name {
            fn name() -> Cow<'static, str> {
                Cow::Borrowed($schema_name)
            }
        }
    };
}

string_enum!(
    CadenceWire,
    "SelfCheckCadence",
    ["daily", "weekly", "monthly"]
);
string_enum!(
    FollowUpStatusWire,
    "FollowUpStatus",
    ["open", "closed", "overdue"]
);

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CalendarQuery {
    /// First date (Asia/Shanghai), default the first of this month.
    #[param(value_type = Option<crate::openapi::wire::Date>)]
    pub from: Option<String>,
    /// Last date, default the last of `from`'s month; at most 366 days
    /// after `from`.
    #[param(value_type = Option<crate::openapi::wire::Date>)]
    pub to: Option<String>,
    /// One cadence; default all three.
    #[param(value_type = Option<CadenceWire>)]
    pub cadence: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct FollowUpQuery {
    /// `open` (not closed, its date not over), `overdue` (not closed past
    /// its date), `closed`; default all.
    #[param(value_type = Option<FollowUpStatusWire>)]
    pub status: Option<String>,
}

/// One period of the calendar.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PeriodView {
    #[schema(value_type = CadenceWire)]
    pub cadence: Cadence,
    /// `2026-11-30`, `2026-W48` or `2026-11`.
    pub period: String,
    pub first_day: NaiveDate,
    pub last_day: NaiveDate,
    /// `done`, `missed`, `pending` or `not_due`.
    pub status: String,
    pub check_ids: Vec<String>,
}

/// A market's self-inspection calendar.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CalendarView {
    pub market_id: String,
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// The Shanghai date of the market's first self-inspection (periods
    /// before it are `not_due`).
    pub tracked_since: Option<NaiveDate>,
    pub periods: Vec<PeriodView>,
}

/// A finding and its follow-up.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FollowUpView {
    pub finding_id: String,
    pub check_id: String,
    pub period: String,
    pub item_id: String,
    pub item_text: String,
    pub note: String,
    pub follow_up_by: NaiveDate,
    #[schema(value_type = FollowUpStatusWire)]
    pub status: FollowUpStatus,
    pub found_at: String,
    pub found_by: String,
    pub closed_at: Option<String>,
    pub close_note: Option<String>,
    pub close_photos: Vec<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FollowUpList {
    pub market_id: String,
    pub items: Vec<FollowUpView>,
}

/// The market a route is about, as this caller may read it: 403 for a
/// role that reads no market or another operator's market, 404 for an
/// unknown market.
async fn market_for(state: &AppState, auth: &Auth, id: &str) -> Result<String, ApiError> {
    auth.require(READERS)?;
    let Some(id) = auth.market_filter(Some(id.trim().to_owned()))? else {
        return Err(ApiError::forbidden());
    };
    state
        .store
        .market(id.clone())
        .await?
        .ok_or_else(|| ApiError::not_found("市场"))?;
    Ok(id)
}

fn date(field: &str, s: &str) -> Result<NaiveDate, ApiError> {
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").map_err(|_| {
        ApiError::invalid(
            field,
            "invalid_date",
            format!("{field} 应为日期 YYYY-MM-DD"),
        )
    })
}

/// The range of a calendar request.
pub fn range(
    from: Option<&str>,
    to: Option<&str>,
    today: NaiveDate,
) -> Result<(NaiveDate, NaiveDate), ApiError> {
    // An empty value is not a date (the schema says so): 400, not the default.
    let from = match from {
        Some(s) => date("from", s)?,
        None => Period::containing(Cadence::Monthly, today).first_day(),
    };
    let to = match to {
        Some(s) => date("to", s)?,
        None => (Period::containing(Cadence::Monthly, from).first_day() + Months::new(1))
            .pred_opt()
            .unwrap_or(from),
    };
    // Two well-formed dates that make no range: 422.
    if to < from {
        return Err(ApiError::unprocessable("invalid_range", "to 不能早于 from").at("to"));
    }
    if (to - from).num_days() > MAX_RANGE_DAYS {
        return Err(ApiError::unprocessable(
            "invalid_range",
            format!("日期范围最多 {MAX_RANGE_DAYS} 天"),
        )
        .at("to"));
    }
    Ok((from, to))
}

/// The calendar of one market, as the API and the page show it.
pub async fn calendar_of(
    state: &AppState,
    market_id: &str,
    from: NaiveDate,
    to: NaiveDate,
    cadences: &[Cadence],
) -> Result<CalendarView, ApiError> {
    let history = state
        .store
        .self_check_history(market_id.to_owned(), from, to)
        .await?;
    let now = crate::store::now();
    let mut periods = Vec::new();
    for &cadence in cadences {
        let checks: Vec<(Period, String)> = history
            .checks
            .iter()
            .filter(|c| c.period.cadence() == cadence)
            .map(|c| (c.period, c.check_id.clone()))
            .collect();
        for p in calendar(cadence, from, to, history.tracked_since, &checks, now) {
            periods.push(PeriodView {
                cadence,
                period: p.period.to_string(),
                first_day: p.period.first_day(),
                last_day: p.period.last_day(),
                status: p.status.as_str().to_owned(),
                check_ids: p.check_ids,
            });
        }
    }
    Ok(CalendarView {
        market_id: market_id.to_owned(),
        from,
        to,
        tracked_since: history.tracked_since,
        periods,
    })
}

/// A market's self-inspection calendar: every period of each cadence
/// touching `from..=to` with its status (`done` once at least one check was
/// done in it, `missed` once it is over without one in Asia/Shanghai,
/// `pending` until then, `not_due` before the market's first
/// self-inspection) and the ids of its checks.
#[utoipa::path(
    get, path = "/v1/markets/{id}/self-checks", tag = "market", security(("bearer" = [])),
    params(("id" = crate::openapi::wire::Id, Path, description = "the market's id"), CalendarQuery),
    responses(
        (status = 200, body = CalendarView),
        (status = 400, description = "invalid_date (from, to: not a date, or empty), invalid_field (cadence), invalid_query", body = ErrorResponse),
        (status = 401, body = ErrorResponse),
        (status = 403, description = "forbidden: not an admin, analyst or this market's operator", body = ErrorResponse),
        (status = 404, description = "not_found: no such market", body = ErrorResponse),
        (status = 422, description = "invalid_range: to before from, or more than 366 days", body = ErrorResponse),
    )
)]
pub async fn self_check_calendar(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    Query(q): Query<CalendarQuery>,
) -> Result<axum::Json<CalendarView>, ApiError> {
    let market_id = market_for(&state, &auth, &id).await?;
    // An empty value is none of the enum's: 400, not the default.
    let cadences: Vec<Cadence> = match q.cadence.as_deref().map(str::trim) {
        None => Cadence::ALL.to_vec(),
        Some(c) => vec![Cadence::parse(c).ok_or_else(|| {
            ApiError::invalid(
                "cadence",
                "invalid_field",
                "cadence 应为 daily、weekly 或 monthly",
            )
        })?],
    };
    let today = china_date(crate::store::now());
    let (from, to) = range(q.from.as_deref(), q.to.as_deref(), today)?;
    Ok(axum::Json(
        calendar_of(&state, &market_id, from, to, &cadences).await?,
    ))
}

fn follow_up_view(f: StoredFinding, now: chrono::DateTime<chrono::Utc>) -> FollowUpView {
    let status = follow_up_status(f.follow_up_by, f.closing.is_some(), now);
    let (closed_at, close_note, close_photos) = match f.closing {
        Some(c) => (Some(c.closed_at.to_rfc3339()), Some(c.note), c.photos),
        None => (None, None, Vec::new()),
    };
    FollowUpView {
        finding_id: f.finding_id,
        check_id: f.check_id,
        period: f.period.to_string(),
        item_id: f.item_id,
        item_text: f.item_text,
        note: f.note,
        follow_up_by: f.follow_up_by,
        status,
        found_at: f.found_at.to_rfc3339(),
        found_by: f.found_by,
        closed_at,
        close_note,
        close_photos,
    }
}

/// A market's follow-ups, the page's and the API's.
pub async fn follow_ups_of(
    state: &AppState,
    market_id: &str,
    status: Option<FollowUpStatus>,
) -> Result<Vec<FollowUpView>, ApiError> {
    let closed = status.map(|s| s == FollowUpStatus::Closed);
    let now = crate::store::now();
    let rows = state
        .store
        .self_check_findings(market_id.to_owned(), closed, MAX_FOLLOW_UPS)
        .await?;
    Ok(rows
        .into_iter()
        .map(|f| follow_up_view(f, now))
        .filter(|v| status.is_none_or(|s| v.status == s))
        .collect())
}

/// A market's self-inspection findings and their follow-up: `open` until
/// closed, `overdue` once its follow-up date is over in Asia/Shanghai
/// without a closing, `closed` with the closing's note and photos; by
/// follow-up date, at most 500.
#[utoipa::path(
    get, path = "/v1/markets/{id}/follow-ups", tag = "market", security(("bearer" = [])),
    params(("id" = crate::openapi::wire::Id, Path, description = "the market's id"), FollowUpQuery),
    responses(
        (status = 200, body = FollowUpList),
        (status = 400, description = "invalid_field (status), invalid_query", body = ErrorResponse),
        (status = 401, body = ErrorResponse),
        (status = 403, description = "forbidden: not an admin, analyst or this market's operator", body = ErrorResponse),
        (status = 404, description = "not_found: no such market", body = ErrorResponse),
    )
)]
pub async fn follow_ups(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    Query(q): Query<FollowUpQuery>,
) -> Result<axum::Json<FollowUpList>, ApiError> {
    let market_id = market_for(&state, &auth, &id).await?;
    let status = match q.status.as_deref().map(str::trim) {
        None => None,
        Some(s) => Some(FollowUpStatus::parse(s).ok_or_else(|| {
            ApiError::invalid(
                "status",
                "invalid_field",
                "status 应为 open、closed 或 overdue",
            )
        })?),
    };
    let items = follow_ups_of(&state, &market_id, status).await?;
    Ok(axum::Json(FollowUpList { market_id, items }))
}
