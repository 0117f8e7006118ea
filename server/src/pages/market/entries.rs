//! `/market/entries` (入场查验): a day's entry checks in the market (the
//! date picker is in Asia/Shanghai), the day's accepted and refused counts,
//! a bar chart of the last 30 days drawn by the server as SVG, the recent
//! refusals with their reasons, and the day's purchases that no check
//! links (what `entry_check_missing` will be raised for after the grace).

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use chrono::{Duration, NaiveDate, Utc};
use serde::Deserialize;
use shian_core::entry_check::Decision;
use shian_core::warnings::entry::EntryThresholds;

use super::super::console::{error_page, html, notice};
use super::Operator;
use crate::errors::ApiError;
use crate::store::entry_checks::{CheckFilter, DayCount, StoredCheck};
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/market/entries", get(page))
}

/// Days in the chart.
const DAYS: i64 = 30;
/// The most checks listed for a day (a busy wholesale morning).
const MAX_LISTED: u32 = 500;
/// The chart's size in SVG units.
const CHART_W: i64 = 620;
const CHART_H: i64 = 160;
const BAR_GAP: i64 = 4;

#[derive(Debug, Deserialize)]
pub struct EntriesQuery {
    pub market_id: Option<String>,
    pub date: Option<String>,
}

/// One check as a table row.
struct Row {
    check_id: String,
    time: String,
    merchant: String,
    product: String,
    quantity: String,
    certificates: String,
    rapid_test: String,
    refused: bool,
    decision: &'static str,
    reason: String,
    linked: bool,
}

/// One day's stacked bar.
struct Bar {
    x: i64,
    width: i64,
    accepted_y: i64,
    accepted_h: i64,
    refused_y: i64,
    refused_h: i64,
    label: String,
    title: String,
    /// Every fifth day's date under the axis.
    tick: bool,
}

struct Unchecked {
    time: String,
    merchant: String,
    product: String,
    quantity: String,
    trace_code: String,
}

#[derive(Template)]
#[template(path = "market/entries.html")]
struct EntriesPage {
    nav: &'static str,
    csrf: String,
    market_id: String,
    market_name: String,
    date: String,
    accepted: u64,
    refused: u64,
    rows: Vec<Row>,
    more: u64,
    bars: Vec<Bar>,
    chart_w: i64,
    chart_h: i64,
    max_day: u64,
    refusals: Vec<Row>,
    unchecked: Vec<Unchecked>,
    grace_hours: i64,
}

fn cst() -> chrono::FixedOffset {
    use chrono::Offset;
    // +08:00 always exists.
    chrono::FixedOffset::east_opt(8 * 3600).unwrap_or_else(|| Utc.fix())
}

fn row(c: &StoredCheck) -> Row {
    let k = &c.check;
    Row {
        check_id: k.check_id.to_string(),
        time: k.at.with_timezone(&cst()).format("%m-%d %H:%M").to_string(),
        merchant: c
            .merchant_name
            .clone()
            .unwrap_or_else(|| k.merchant_id.clone()),
        product: format!("{}（{}）", k.product.name, k.product.category.zh()),
        quantity: k.quantity.display_zh(),
        certificates: if k.certificates_seen.is_empty() {
            "无".into()
        } else {
            k.certificates_seen
                .iter()
                .map(|c| format!("{} {}", c.kind.zh(), c.number))
                .collect::<Vec<_>>()
                .join("；")
        },
        rapid_test: k.rapid_test.as_ref().map_or_else(String::new, |t| {
            format!(
                "{}：{}{}",
                t.item,
                if t.result == shian_core::entry_check::TestResult::Pass {
                    "合格"
                } else {
                    "不合格"
                },
                t.value
                    .as_deref()
                    .map(|v| format!("（{v}）"))
                    .unwrap_or_default()
            )
        }),
        refused: k.decision == Decision::Refused,
        decision: k.decision.zh(),
        reason: k.reason.clone().unwrap_or_default(),
        linked: c.purchase_entry_id.is_some(),
    }
}

/// The chart's bars, tallest day full height.
fn bars(days: &[DayCount]) -> (Vec<Bar>, u64) {
    let max = days
        .iter()
        .map(|d| d.accepted + d.refused)
        .max()
        .unwrap_or(0)
        .max(1);
    let n = i64::try_from(days.len()).unwrap_or(1).max(1);
    let width = (CHART_W / n - BAR_GAP).max(2);
    let scale = |v: u64| i64::try_from(v).unwrap_or(0) * CHART_H / i64::try_from(max).unwrap_or(1);
    let out = days
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let i = i64::try_from(i).unwrap_or(0);
            let (ah, rh) = (scale(d.accepted), scale(d.refused));
            Bar {
                x: i * (width + BAR_GAP),
                width,
                accepted_y: CHART_H - ah,
                accepted_h: ah,
                refused_y: CHART_H - ah - rh,
                refused_h: rh,
                label: d.date.format("%m-%d").to_string(),
                title: format!("{}：准入 {}，拒收 {}", d.date, d.accepted, d.refused),
                tick: i % 5 == 0,
            }
        })
        .collect();
    (out, max)
}

async fn page(
    State(state): State<AppState>,
    op: Operator,
    Query(q): Query<EntriesQuery>,
) -> Response {
    let market_id = match op.market(q.market_id.as_deref()) {
        Ok(id) => id,
        Err(refused) => return refused,
    };
    let today = Utc::now().with_timezone(&cst()).date_naive();
    let date = match q.date.as_deref().map(str::trim).filter(|d| !d.is_empty()) {
        None => today,
        Some(d) => match NaiveDate::parse_from_str(d, "%Y-%m-%d") {
            Ok(d) => d,
            Err(_) => {
                return notice(
                    StatusCode::BAD_REQUEST,
                    "日期有误",
                    "日期应为 YYYY-MM-DD，如 2026-12-01。",
                )
            }
        },
    };
    let market = match state.store.market(market_id.clone()).await {
        Ok(Some(m)) => m,
        Ok(None) => return notice(StatusCode::NOT_FOUND, "未找到", "没有这个市场。"),
        Err(e) => return error_page(ApiError::from(e)),
    };
    let store = &state.store;
    let day = store.list_entry_checks(CheckFilter {
        market_id: Some(market_id.clone()),
        date: Some(date),
        limit: MAX_LISTED,
        ..Default::default()
    });
    let refusals = store.list_entry_checks(CheckFilter {
        market_id: Some(market_id.clone()),
        decision: Some(Decision::Refused),
        limit: 20,
        ..Default::default()
    });
    let days = store.entry_check_days(market_id.clone(), date - Duration::days(DAYS - 1), date);
    let unchecked = store.unchecked_purchases(market_id.clone(), date);
    let (day, refusals, days, unchecked) = match tokio::join!(day, refusals, days, unchecked) {
        (Ok(a), Ok(b), Ok(c), Ok(d)) => (a, b, c, d),
        (Err(e), ..) | (_, Err(e), ..) | (_, _, Err(e), _) | (.., Err(e)) => {
            return error_page(ApiError::from(e))
        }
    };
    let (accepted, refused) = days
        .iter()
        .find(|d| d.date == date)
        .map_or((0, 0), |d| (d.accepted, d.refused));
    let rows: Vec<Row> = day.items.iter().map(row).collect();
    let more = day.total.saturating_sub(rows.len() as u64);
    let (bars, max_day) = bars(&days);
    html(
        StatusCode::OK,
        &EntriesPage {
            nav: "entries",
            csrf: op.csrf.clone(),
            market_id,
            market_name: market.name,
            date: date.to_string(),
            accepted,
            refused,
            rows,
            more,
            bars,
            chart_w: CHART_W,
            chart_h: CHART_H,
            max_day,
            refusals: refusals.items.iter().map(row).collect(),
            unchecked: unchecked
                .into_iter()
                .map(|p| Unchecked {
                    time: p
                        .received_at
                        .with_timezone(&cst())
                        .format("%H:%M")
                        .to_string(),
                    merchant: p.merchant_name,
                    product: format!("{}（{}）", p.product_name, p.category.zh()),
                    quantity: p.quantity.display_zh(),
                    trace_code: p.trace_code,
                })
                .collect(),
            grace_hours: EntryThresholds::builtin().grace_hours,
        },
    )
}
