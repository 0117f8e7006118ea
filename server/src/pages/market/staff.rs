//! `/market/staff` (从业人员): every merchant of the market with its
//! food-handling workers and their health certificates' validity (core's
//! `staff::validity`), filtered to the expired or the expiring (within the
//! notice window of `staff-v1.json`) when asked; merchants that recorded
//! nobody are listed too (their `health_cert_missing`).

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde::Deserialize;
use shian_core::staff::{validity, Validity};
use shian_core::warnings::staff::StaffRules;

use super::super::console::{error_page, html, notice};
use super::overview::market_merchants;
use super::Operator;
use crate::errors::ApiError;
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/market/staff", get(page))
}

#[derive(Debug, Deserialize)]
pub struct StaffQuery {
    pub market_id: Option<String>,
    /// `expired`, `expiring` or none (everyone).
    pub filter: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Filter {
    All,
    Expired,
    Expiring,
}

impl Filter {
    fn parse(s: Option<&str>) -> Option<Filter> {
        match s.map(str::trim).unwrap_or("") {
            "" | "all" => Some(Filter::All),
            "expired" => Some(Filter::Expired),
            "expiring" => Some(Filter::Expiring),
            _ => None,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Filter::All => "all",
            Filter::Expired => "expired",
            Filter::Expiring => "expiring",
        }
    }

    fn keeps(self, v: Validity) -> bool {
        match self {
            Filter::All => true,
            Filter::Expired => matches!(v, Validity::Expired { .. } | Validity::Missing),
            Filter::Expiring => matches!(v, Validity::Expiring { .. }),
        }
    }
}

struct WorkerRow {
    name: String,
    role: String,
    certificate_no: String,
    /// `valid`, `expiring`, `expired`, `missing`.
    status: &'static str,
    label: String,
}

struct MerchantRows {
    merchant_id: String,
    name: String,
    stall: String,
    workers: Vec<WorkerRow>,
}

#[derive(Template)]
#[template(path = "market/staff.html")]
struct StaffPage {
    nav: &'static str,
    csrf: String,
    market_id: String,
    market_name: String,
    filter: &'static str,
    filters: Vec<(&'static str, &'static str)>,
    expiring_days: i64,
    merchants: Vec<MerchantRows>,
    /// Merchants with no worker recorded (only without a filter).
    nobody: Vec<(String, String, String)>,
    shown: usize,
}

async fn page(
    State(state): State<AppState>,
    op: Operator,
    Query(q): Query<StaffQuery>,
) -> Response {
    let market_id = match op.market(q.market_id.as_deref()) {
        Ok(id) => id,
        Err(refused) => return refused,
    };
    let Some(filter) = Filter::parse(q.filter.as_deref()) else {
        return notice(
            StatusCode::BAD_REQUEST,
            "筛选条件无效",
            "filter 只能是 expired（已过期或未登记）或 expiring（即将到期）。",
        );
    };
    match render(&state, &op, market_id, filter).await {
        Ok(res) => res,
        Err(e) => error_page(e),
    }
}

async fn render(
    state: &AppState,
    op: &Operator,
    market_id: String,
    filter: Filter,
) -> Result<Response, ApiError> {
    let Some(market) = state.store.market(market_id.clone()).await? else {
        return Ok(notice(StatusCode::NOT_FOUND, "未找到", "没有这个市场。"));
    };
    let (merchants, _) = market_merchants(state, &market_id).await?;
    let staff = state.store.staff_of_market(market_id.clone()).await?;
    let rules = StaffRules::builtin();
    let now = crate::store::now();
    let mut rows: Vec<MerchantRows> = Vec::new();
    let mut nobody = Vec::new();
    for m in &merchants {
        let workers: Vec<WorkerRow> = staff
            .iter()
            .filter(|w| w.stored.worker.merchant_id == m.id)
            .filter_map(|w| {
                let v = validity(&w.stored.worker, now, rules.expiring_days);
                filter.keeps(v).then(|| WorkerRow {
                    name: w.stored.worker.name.clone(),
                    role: w.stored.worker.role.clone(),
                    certificate_no: w.stored.worker.certificate_no.clone().unwrap_or_default(),
                    status: v.as_str(),
                    label: match v {
                        Validity::Expired { expires_on } => format!("已于 {expires_on} 过期"),
                        v => v.label_zh(),
                    },
                })
            })
            .collect();
        let stall = m.stall.clone().unwrap_or_default();
        if !staff.iter().any(|w| w.stored.worker.merchant_id == m.id) {
            if filter != Filter::Expiring {
                nobody.push((m.id.clone(), m.name.clone(), stall));
            }
            continue;
        }
        if !workers.is_empty() {
            rows.push(MerchantRows {
                merchant_id: m.id.clone(),
                name: m.name.clone(),
                stall,
                workers,
            });
        }
    }
    let shown = rows.iter().map(|r| r.workers.len()).sum();
    Ok(html(
        StatusCode::OK,
        &StaffPage {
            nav: "staff",
            csrf: op.csrf.clone(),
            market_id,
            market_name: market.name,
            filter: filter.as_str(),
            filters: vec![
                ("all", "全部"),
                ("expired", "已过期或未登记"),
                ("expiring", "即将到期"),
            ],
            expiring_days: rules.expiring_days,
            merchants: rows,
            nobody,
            shown,
        },
    ))
}
