//! `/market` (市场端总览): the market's stall map coloured by each
//! merchant's open warnings (the console's stall layout,
//! [`crate::pages::console::map::layout`]), today's figures, and the
//! merchants whose food business licence or whose workers' health
//! certificates expire within 30 days (or have expired), sorted by date.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use chrono::NaiveDate;
use serde::Deserialize;
use shian_core::staff::{days_left, validity};
use shian_core::warnings::staff::StaffRules;

use super::super::console::map::{layout, StallIn, Zone, CELL_W, COLS, GAP};
use super::super::console::{error_page, html, notice};
use super::super::render::local_today;
use super::Operator;
use crate::errors::ApiError;

use crate::store::{Merchant, MerchantFilter};
use crate::AppState;

/// The most stalls drawn (as the console's map).
const MAX_STALLS: u32 = 5000;
/// The most open alerts read to colour the map.
/// Licences listed this many days before they expire (the shop page's
/// warning: a renewal is due 30 working days before expiry).
const LICENCE_DAYS: i64 = crate::pages::shop::LICENCE_WARNING_DAYS;

pub fn router() -> Router<AppState> {
    Router::new().route("/market", get(page))
}

#[derive(Debug, Deserialize)]
pub struct MarketQuery {
    pub market_id: Option<String>,
}

/// A stall's colour by its merchant's open warnings (a display scale, not
/// a rule): none green, one yellow-green, two orange, three or more red.
pub(super) fn warnings_colour(n: u16) -> &'static str {
    match n {
        0 => "#1b7f3b",
        1 => "#7aa516",
        2 => "#d98a00",
        _ => "#b00020",
    }
}

/// One line of the expiring list.
pub(super) struct Expiring {
    pub date: NaiveDate,
    pub days_left: i64,
    pub merchant_id: String,
    pub merchant_name: String,
    pub stall: String,
    /// `许可证` or `健康证`.
    pub what: &'static str,
    /// The licence number, or the worker and role.
    pub detail: String,
}

#[derive(Template)]
#[template(path = "market/overview.html")]
struct OverviewPage {
    nav: &'static str,
    csrf: String,
    market_id: String,
    market_name: String,
    today: String,
    merchants: u64,
    open_alerts: u64,
    warned: usize,
    workers: usize,
    expired_certs: usize,
    expiring_certs: usize,
    licences_due: usize,
    zones: Vec<Zone>,
    width: u32,
    height: u32,
    legend: Vec<(&'static str, &'static str)>,
    expiring: Vec<Expiring>,
    expiring_days: i64,
}

/// Every merchant of the market (up to [`MAX_STALLS`]) and the total.
pub(super) async fn market_merchants(
    state: &AppState,
    market_id: &str,
) -> Result<(Vec<Merchant>, u64), ApiError> {
    let page = state
        .store
        .list_merchants(MerchantFilter {
            market_id: Some(market_id.to_owned()),
            limit: MAX_STALLS,
            ..MerchantFilter::default()
        })
        .await?;
    Ok((page.items, page.total))
}

async fn page(
    State(state): State<AppState>,
    op: Operator,
    Query(q): Query<MarketQuery>,
) -> Response {
    let market_id = match op.market(q.market_id.as_deref()) {
        Ok(id) => id,
        Err(refused) => return refused,
    };
    match render(&state, &op, market_id).await {
        Ok(res) => res,
        Err(e) => error_page(e),
    }
}

async fn render(state: &AppState, op: &Operator, market_id: String) -> Result<Response, ApiError> {
    let Some(market) = state.store.market(market_id.clone()).await? else {
        return Ok(notice(StatusCode::NOT_FOUND, "未找到", "没有这个市场。"));
    };
    let (merchants, total) = market_merchants(state, &market_id).await?;
    let (per_merchant, open_total) = crate::alerts::open_per_merchant(state, &market_id).await?;
    let staff = state.store.staff_of_market(market_id.clone()).await?;
    let now = crate::store::now();
    let today = local_today();
    let rules = StaffRules::builtin();

    let mut expiring = Vec::new();
    for m in &merchants {
        if let Some(e) = m.licence_expiry {
            let left = (e - today).num_days();
            if left <= LICENCE_DAYS {
                expiring.push(Expiring {
                    date: e,
                    days_left: left,
                    merchant_id: m.id.clone(),
                    merchant_name: m.name.clone(),
                    stall: m.stall.clone().unwrap_or_default(),
                    what: "许可证",
                    detail: m.licence_no.clone().unwrap_or_default(),
                });
            }
        }
    }
    let licences_due = expiring.len();
    let (mut expired_certs, mut expiring_certs) = (0, 0);
    for w in &staff {
        let v = validity(&w.stored.worker, now, rules.expiring_days);
        let Some(e) = v.expires_on() else { continue };
        let left = days_left(e, now);
        if left < 0 {
            expired_certs += 1;
        } else if left <= rules.expiring_days {
            expiring_certs += 1;
        } else {
            continue;
        }
        expiring.push(Expiring {
            date: e,
            days_left: left,
            merchant_id: w.stored.worker.merchant_id.clone(),
            merchant_name: w.merchant_name.clone(),
            stall: w.stall.clone().unwrap_or_default(),
            what: "健康证",
            detail: format!("{}（{}）", w.stored.worker.name, w.stored.worker.role),
        });
    }
    expiring.sort_by(|a, b| {
        (a.date, &a.merchant_name, a.what, &a.detail).cmp(&(
            b.date,
            &b.merchant_name,
            b.what,
            &b.detail,
        ))
    });

    let stalls: Vec<StallIn> = merchants
        .iter()
        .map(|m| StallIn {
            merchant_id: m.id.clone(),
            name: m.name.clone(),
            stall: m.stall.clone(),
            grade: None,
            warnings: per_merchant.get(&m.id).copied().unwrap_or(0),
        })
        .collect();
    let warned = stalls.iter().filter(|s| s.warnings > 0).count();
    let (mut zones, height) = layout(stalls);
    for s in zones.iter_mut().flat_map(|z| z.stalls.iter_mut()) {
        s.colour = warnings_colour(s.warnings);
    }
    Ok(html(
        StatusCode::OK,
        &OverviewPage {
            nav: "overview",
            csrf: op.csrf.clone(),
            market_id,
            market_name: market.name,
            today: today.to_string(),
            merchants: total,
            open_alerts: open_total,
            warned,
            workers: staff.len(),
            expired_certs,
            expiring_certs,
            licences_due,
            zones,
            width: COLS as u32 * (CELL_W + GAP),
            height,
            legend: vec![
                ("#1b7f3b", "无未结预警"),
                ("#7aa516", "1 条"),
                ("#d98a00", "2 条"),
                ("#b00020", "3 条及以上"),
            ],
            expiring,
            expiring_days: rules.expiring_days,
        },
    ))
}
