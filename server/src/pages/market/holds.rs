//! `/market/holds` (暂扣): the holds in force on the market's merchants'
//! batches — the batch, the merchant, what it holds now, how many days —
//! with the form that places a hold and the one that releases it, both
//! through the same push service as the operator's tablet
//! (`crate::market::holds::service`). Analysts and admins read any
//! market's holds; only the market's operators place and release them.

use askama::Template;
use axum::extract::rejection::FormRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;
use shian_core::hold::{HoldReason, HoldStatus};

use super::super::console::{error_page, html, notice};
use super::Operator;
use crate::errors::ApiError;
use crate::market::holds::api::{views, HoldView};
use crate::market::holds::service::{self, FormError};
use crate::store::holds::HoldFilter;
use crate::store::{MerchantFilter, Role};
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/market/holds", get(page).post(place))
        .route("/market/holds/{id}/release", post(release))
}

#[derive(Debug, Deserialize)]
pub struct HoldsQuery {
    pub market_id: Option<String>,
    /// `placed` or `released` after a form.
    pub done: Option<String>,
}

struct ReasonOption {
    value: &'static str,
    label: &'static str,
}

#[derive(Template)]
#[template(path = "market/holds.html")]
struct HoldsPage {
    nav: &'static str,
    csrf: String,
    market_id: String,
    market_name: String,
    active: Vec<HoldView>,
    ended: Vec<HoldView>,
    merchants: Vec<(String, String)>,
    reasons: Vec<ReasonOption>,
    can_place: bool,
    done: &'static str,
}

async fn page(
    State(state): State<AppState>,
    op: Operator,
    Query(q): Query<HoldsQuery>,
) -> Response {
    let market_id = match op.market(q.market_id.as_deref()) {
        Ok(id) => id,
        Err(refused) => return refused,
    };
    match render(&state, &op, market_id, q.done.as_deref()).await {
        Ok(r) => r,
        Err(e) => error_page(e),
    }
}

async fn render(
    state: &AppState,
    op: &Operator,
    market_id: String,
    done: Option<&str>,
) -> Result<Response, ApiError> {
    let Some(market) = state.store.market(market_id.clone()).await? else {
        return Ok(notice(StatusCode::NOT_FOUND, "未找到", "没有这个市场。"));
    };
    let list = |status| HoldFilter {
        market_id: Some(market_id.clone()),
        status: Some(status),
        limit: 200,
        offset: 0,
    };
    let active = state.store.list_holds(list(HoldStatus::Active)).await?;
    let released = state.store.list_holds(list(HoldStatus::Released)).await?;
    let destroyed = state.store.list_holds(list(HoldStatus::Destroyed)).await?;
    let mut ended = released.items;
    ended.extend(destroyed.items);
    ended.sort_by_key(|h| std::cmp::Reverse(h.ended_at));
    ended.truncate(20);
    let can_place = op.auth().role == Role::MarketOperator;
    let merchants = if can_place {
        state
            .store
            .list_merchants(MerchantFilter {
                market_id: Some(market_id.clone()),
                limit: 1000,
                ..Default::default()
            })
            .await?
            .items
            .into_iter()
            .map(|m| (m.id, m.name))
            .collect()
    } else {
        Vec::new()
    };
    Ok(html(
        StatusCode::OK,
        &HoldsPage {
            nav: "holds",
            csrf: op.csrf.clone(),
            market_id,
            market_name: market.name,
            active: views(state.store.as_ref(), active.items).await?,
            ended: views(state.store.as_ref(), ended).await?,
            merchants,
            reasons: HoldReason::ALL
                .into_iter()
                .map(|r| ReasonOption {
                    value: r.as_str(),
                    label: r.zh(),
                })
                .collect(),
            can_place,
            done: match done {
                Some("placed") => {
                    "已暂扣：经营户的设备下次同步即停止该批次的销售，监管部门已收到预警。"
                }
                Some("released") => "已解除暂扣。",
                _ => "",
            },
        },
    ))
}

#[derive(Debug, Default, Deserialize)]
pub struct PlaceForm {
    #[serde(default)]
    pub csrf: String,
    #[serde(default)]
    pub market_id: String,
    #[serde(default)]
    pub merchant_id: String,
    #[serde(default)]
    pub trace_code: String,
    #[serde(default)]
    pub reason: String,
    #[serde(default)]
    pub note: String,
}

fn refused(heading: &str, e: FormError) -> Response {
    match e {
        FormError::Refused(e) => notice(StatusCode::UNPROCESSABLE_ENTITY, heading, &e.message),
        FormError::Api(e) => error_page(e),
    }
}

async fn place(
    State(state): State<AppState>,
    op: Operator,
    form: Result<Form<PlaceForm>, FormRejection>,
) -> Response {
    let f = form.map(|Form(f)| f).unwrap_or_default();
    if let Err(refused) = op.check_csrf(&f.csrf) {
        return refused;
    }
    let market_id = match op.market(Some(&f.market_id)) {
        Ok(id) => id,
        Err(refused) => return refused,
    };
    let note = Some(f.note.trim()).filter(|n| !n.is_empty());
    match service::place(
        &state,
        op.auth(),
        &market_id,
        f.merchant_id.trim(),
        &f.trace_code,
        f.reason.trim(),
        note,
    )
    .await
    {
        Ok(_) => Redirect::to(&format!("/market/holds?market_id={market_id}&done=placed"))
            .into_response(),
        Err(e) => refused("无法暂扣", e),
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct ReleaseForm {
    #[serde(default)]
    pub csrf: String,
    #[serde(default)]
    pub market_id: String,
    #[serde(default)]
    pub note: String,
}

async fn release(
    State(state): State<AppState>,
    op: Operator,
    Path(id): Path<String>,
    form: Result<Form<ReleaseForm>, FormRejection>,
) -> Response {
    let f = form.map(|Form(f)| f).unwrap_or_default();
    if let Err(refused) = op.check_csrf(&f.csrf) {
        return refused;
    }
    let market_id = match op.market(Some(&f.market_id)) {
        Ok(id) => id,
        Err(refused) => return refused,
    };
    match service::release(&state, op.auth(), id.trim(), &f.note).await {
        Ok(()) => Redirect::to(&format!(
            "/market/holds?market_id={market_id}&done=released"
        ))
        .into_response(),
        Err(e) => refused("无法解除暂扣", e),
    }
}
