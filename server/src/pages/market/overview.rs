//! `/market` (市场端总览): the market's figures at a glance and the way into
//! its operator's pages.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde::Deserialize;

use super::super::console::{error_page, html, notice};
use super::Operator;
use crate::errors::ApiError;
use crate::store::alerts::{AlertFilter, AlertStatus};
use crate::store::MerchantFilter;
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/market", get(page))
}

#[derive(Debug, Deserialize)]
pub struct MarketQuery {
    pub market_id: Option<String>,
}

#[derive(Template)]
#[template(path = "market/overview.html")]
struct OverviewPage {
    nav: &'static str,
    csrf: String,
    market_id: String,
    market_name: String,
    merchants: u64,
    open_alerts: u64,
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
    let market = match state.store.market(market_id.clone()).await {
        Ok(Some(m)) => m,
        Ok(None) => return notice(StatusCode::NOT_FOUND, "未找到", "没有这个市场。"),
        Err(e) => return error_page(ApiError::from(e)),
    };
    let merchants = state
        .store
        .list_merchants(MerchantFilter {
            market_id: Some(market_id.clone()),
            limit: 1,
            ..Default::default()
        })
        .await;
    let open = |status| AlertFilter {
        status: Some(status),
        kind: None,
        market_id: Some(market_id.clone()),
        merchant_id: None,
        limit: 1,
        offset: 0,
    };
    let new = state.store.list_alerts(open(AlertStatus::New)).await;
    let assigned = state.store.list_alerts(open(AlertStatus::Assigned)).await;
    let (merchants, new, assigned) = match (merchants, new, assigned) {
        (Ok(m), Ok(n), Ok(a)) => (m.total, n.total, a.total),
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => return error_page(ApiError::from(e)),
    };
    html(
        StatusCode::OK,
        &OverviewPage {
            nav: "overview",
            csrf: op.csrf.clone(),
            market_id,
            market_name: market.name,
            merchants,
            open_alerts: new + assigned,
        },
    )
}
