//! `/market/self-checks` (自查): the month's self-inspection calendar of a
//! market — each day's 日管控 green when done, red when missed, grey when
//! still to come (or before the market's first check), each ISO week's
//! 周排查 and the month's 月调度 beside it — and its open and overdue
//! follow-ups with a form to close one (`POST /market/self-checks/close`).
//!
//! The close form goes through the same path as a tablet's
//! `market.follow_up_closed` op (the sync push, as the operator, from the
//! device `web-{user}`), so its rules and its exactly-once log are the
//! tablet's. Analysts and admins see any market's page; only the market's
//! operator can close (others get the op's refusal).

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use chrono::{Datelike, Months, NaiveDate};
use serde::Deserialize;
use serde_json::json;
use shian_core::self_check::{china_date, Cadence, FollowUpStatus, Period, CLOSE_KIND};
use shian_core::sync::protocol::{Op, OpStatus};

use super::super::console::{error_page, html, notice};
use super::Operator;
use crate::errors::ApiError;
use crate::market::self_checks::{calendar_of, follow_ups_of, FollowUpView, PeriodView};
use crate::store::ledger::{Caller, Prepared};
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/market/self-checks", get(page))
        .route("/market/self-checks/close", post(close))
}

#[derive(Debug, Deserialize)]
pub struct PageQuery {
    pub market_id: Option<String>,
    /// `2026-11`; default this month (Asia/Shanghai).
    pub month: Option<String>,
    /// `closed` after a close.
    pub done: Option<String>,
}

/// One day cell.
struct DayCell {
    day: u32,
    /// `done`, `missed`, `pending`, `not_due`, or `other` (another month).
    status: &'static str,
    label: &'static str,
}

/// One ISO week row.
struct WeekRow {
    week: String,
    /// `W48`.
    short: String,
    /// ✓ done, ✗ missed, · otherwise.
    mark: &'static str,
    days: Vec<DayCell>,
    status: &'static str,
    label: &'static str,
}

#[derive(Template)]
#[template(path = "market/self_checks.html")]
struct SelfChecksPage {
    nav: &'static str,
    csrf: String,
    market_id: String,
    market_name: String,
    month: String,
    prev_month: String,
    next_month: String,
    month_status: &'static str,
    month_label: &'static str,
    weeks: Vec<WeekRow>,
    done_days: usize,
    missed_days: usize,
    follow_ups: Vec<FollowUpView>,
    closed: bool,
}

fn label(status: &str) -> &'static str {
    match status {
        "done" => "已完成",
        "missed" => "缺失",
        "pending" => "待完成",
        "not_due" => "未开始",
        _ => "",
    }
}

fn status_str(s: &str) -> &'static str {
    match s {
        "done" => "done",
        "missed" => "missed",
        "pending" => "pending",
        "not_due" => "not_due",
        _ => "other",
    }
}

fn find<'a>(periods: &'a [PeriodView], cadence: Cadence, p: &str) -> Option<&'a PeriodView> {
    periods
        .iter()
        .find(|v| v.cadence == cadence && v.period == p)
}

async fn page(State(state): State<AppState>, op: Operator, Query(q): Query<PageQuery>) -> Response {
    let market_id = match op.market(q.market_id.as_deref()) {
        Ok(id) => id,
        Err(refused) => return refused,
    };
    let market = match state.store.market(market_id.clone()).await {
        Ok(Some(m)) => m,
        Ok(None) => return notice(StatusCode::NOT_FOUND, "未找到", "没有这个市场。"),
        Err(e) => return error_page(ApiError::from(e)),
    };
    let today = china_date(crate::store::now());
    let month = match q.month.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => Period::containing(Cadence::Monthly, today),
        Some(m) => match Period::parse(Cadence::Monthly, m) {
            Ok(p) => p,
            Err(e) => return notice(StatusCode::BAD_REQUEST, "月份无效", &e.0),
        },
    };
    // The weeks touching the month, Monday to Sunday.
    let first = Period::containing(Cadence::Weekly, month.first_day()).first_day();
    let last = Period::containing(Cadence::Weekly, month.last_day()).last_day();
    let cal = match calendar_of(&state, &market_id, first, last, &Cadence::ALL).await {
        Ok(c) => c,
        Err(e) => return error_page(e),
    };
    let mut weeks = Vec::new();
    let mut w = Period::containing(Cadence::Weekly, first);
    while w.first_day() <= last {
        let days = (0..7)
            .filter_map(|i| w.first_day().checked_add_days(chrono::Days::new(i)))
            .map(|d: NaiveDate| {
                let status = if d.month() == month.first_day().month() {
                    find(&cal.periods, Cadence::Daily, &d.to_string())
                        .map_or("other", |p| status_str(&p.status))
                } else {
                    "other"
                };
                DayCell {
                    day: d.day(),
                    status,
                    label: label(status),
                }
            })
            .collect();
        let status = find(&cal.periods, Cadence::Weekly, &w.to_string())
            .map_or("other", |p| status_str(&p.status));
        let week = w.to_string();
        weeks.push(WeekRow {
            short: week
                .split_once('-')
                .map_or(week.clone(), |(_, w)| w.to_owned()),
            mark: match status {
                "done" => "✓",
                "missed" => "✗",
                _ => "·",
            },
            week,
            days,
            status,
            label: label(status),
        });
        w = w.next();
    }
    let month_status = find(&cal.periods, Cadence::Monthly, &month.to_string())
        .map_or("other", |p| status_str(&p.status));
    let in_month = |s: &str| {
        weeks
            .iter()
            .flat_map(|w| &w.days)
            .filter(|d| d.status == s)
            .count()
    };
    let (done_days, missed_days) = (in_month("done"), in_month("missed"));
    let mut follow_ups = match follow_ups_of(&state, &market_id, None).await {
        Ok(f) => f,
        Err(e) => return error_page(e),
    };
    follow_ups.retain(|f| f.status != FollowUpStatus::Closed);
    // Overdue first, then by date.
    follow_ups.sort_by_key(|f| (f.status != FollowUpStatus::Overdue, f.follow_up_by));
    let shift = |m: Period, forward: bool| {
        let d = m.first_day();
        let d = if forward {
            d.checked_add_months(Months::new(1))
        } else {
            d.checked_sub_months(Months::new(1))
        };
        d.map_or_else(|| m.to_string(), |d| Period::Month(d).to_string())
    };
    html(
        StatusCode::OK,
        &SelfChecksPage {
            nav: "self_checks",
            csrf: op.csrf.clone(),
            market_id,
            market_name: market.name,
            month: month.to_string(),
            prev_month: shift(month, false),
            next_month: shift(month, true),
            month_status,
            month_label: label(month_status),
            weeks,
            done_days,
            missed_days,
            follow_ups,
            closed: q.done.as_deref() == Some("closed"),
        },
    )
}

#[derive(Debug, Default, Deserialize)]
struct CloseForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    market_id: String,
    #[serde(default)]
    finding_id: String,
    #[serde(default)]
    note: String,
}

async fn close(
    State(state): State<AppState>,
    op: Operator,
    form: Result<Form<CloseForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let f = form.map(|Form(f)| f).unwrap_or_default();
    if let Err(refused) = op.check_csrf(&f.csrf) {
        return refused;
    }
    let market_id = match op.market(Some(&f.market_id)) {
        Ok(id) => id,
        Err(refused) => return refused,
    };
    let auth = op.auth();
    let caller = Caller {
        user_id: auth.user_id.clone(),
        role: auth.role.as_str().to_owned(),
        merchant_id: None,
        regions: vec![],
        markets: auth.scope.markets.clone(),
    };
    let now = crate::store::now();
    let china = chrono::FixedOffset::east_opt(8 * 3600);
    let at = china.map_or_else(|| now.to_rfc3339(), |c| now.with_timezone(&c).to_rfc3339());
    let push = Prepared {
        op: Op {
            op_id: uuid::Uuid::now_v7().to_string(),
            kind: CLOSE_KIND.into(),
            at,
            payload: json!({"finding_id": f.finding_id.trim(), "note": f.note}),
        },
        event: None,
        wire: None,
    };
    let device = format!("web-{}", auth.user_id);
    let results = match state.store.sync_push(caller, device, vec![push]).await {
        Ok((r, _)) => r,
        Err(e) => return error_page(ApiError::from(e)),
    };
    match results.into_iter().next() {
        Some(r) if r.status == OpStatus::Accepted => {
            let to = format!("/market/self-checks?market_id={market_id}&done=closed");
            let to = HeaderValue::from_str(&to)
                .unwrap_or(HeaderValue::from_static("/market/self-checks"));
            (StatusCode::SEE_OTHER, [(header::LOCATION, to)]).into_response()
        }
        Some(r) => {
            let message = r.error.map_or_else(|| "未能关闭".to_owned(), |e| e.message);
            notice(StatusCode::UNPROCESSABLE_ENTITY, "未能关闭", &message)
        }
        None => notice(StatusCode::UNPROCESSABLE_ENTITY, "未能关闭", "未能关闭"),
    }
}
