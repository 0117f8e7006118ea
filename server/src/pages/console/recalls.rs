//! `/console/recalls`: the recalls (active and closed) and the form that
//! starts one — from the recall proposal of a lab-confirmed failed test, or
//! from a trace code — and `/console/recalls/{id}`: progress per holder and
//! in total, overdue holders marked, the deadlines, and the export buttons
//! (POST forms to `/console/exports`, see contracts). Starting goes through
//! the same checks and service as `POST /v1/recalls`
//! (`crate::recalls::start`).

use askama::Template;
use axum::extract::rejection::FormRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Form, Router};
use serde::Deserialize;
use shian_core::recall::{HolderState, RecallStatus};

use super::{error_page, html, notice, Analyst};
use crate::pages::render::local_time;
use crate::recalls::view::{RecallListItem, RecallView};
use crate::recalls::RecallRequest;
use crate::store::recalls::RecallFilter;
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console/recalls", get(list).post(start))
        .route("/console/recalls/{id}", get(detail))
}

struct ListRow {
    id: String,
    level_zh: &'static str,
    product_name: String,
    trace_code: String,
    reason: String,
    status_zh: &'static str,
    started: String,
    finish_by: String,
    holders: u64,
    confirmed: u64,
    overdue: bool,
}

struct ProposalRow {
    id: String,
    merchant: String,
    trace_code: String,
    reason: String,
    created: String,
}

#[derive(Template)]
#[template(path = "console/recalls.html")]
struct ListPage {
    nav: &'static str,
    csrf: String,
    recalls: Vec<ListRow>,
    proposals: Vec<ProposalRow>,
}

fn row(r: RecallListItem) -> ListRow {
    ListRow {
        id: r.id,
        level_zh: r.level_zh,
        product_name: r.header.product_name,
        trace_code: r.header.trace_code,
        reason: r.header.reason,
        status_zh: r.header.status.zh(),
        started: local_time(r.header.started_at),
        finish_by: r.header.deadlines.finish_by.to_string(),
        holders: r.holders,
        confirmed: r.confirmed,
        overdue: r.overdue && r.header.status == RecallStatus::Active,
    }
}

async fn list(State(state): State<AppState>, analyst: Analyst) -> Response {
    let page = match state
        .store
        .list_recalls(RecallFilter {
            status: None,
            limit: 200,
            offset: 0,
        })
        .await
    {
        Ok(p) => p,
        Err(e) => return error_page(e.into()),
    };
    let proposals = match state.store.list_recall_proposals(true, 100).await {
        Ok(p) => p,
        Err(e) => return error_page(e.into()),
    };
    let now = crate::store::now();
    html(
        StatusCode::OK,
        &ListPage {
            nav: "recalls",
            csrf: analyst.csrf,
            recalls: page
                .items
                .into_iter()
                .map(|s| row(RecallListItem::new(s, now)))
                .collect(),
            proposals: proposals
                .into_iter()
                .filter_map(|p| {
                    Some(ProposalRow {
                        trace_code: p.trace_code?,
                        merchant: p.merchant_name.unwrap_or(p.merchant_id),
                        id: p.id,
                        reason: p.reason,
                        created: local_time(p.created_at),
                    })
                })
                .collect(),
        },
    )
}

/// The start form: `trace_code` or `proposal_id` (the other blank).
#[derive(Debug, Default, Deserialize)]
struct StartForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    trace_code: String,
    #[serde(default)]
    proposal_id: String,
    #[serde(default)]
    level: String,
    #[serde(default)]
    reason: String,
}

async fn start(
    State(state): State<AppState>,
    analyst: Analyst,
    form: Result<Form<StartForm>, FormRejection>,
) -> Response {
    let f = form.map(|Form(f)| f).unwrap_or_default();
    if let Err(refused) = analyst.check_csrf(&f.csrf) {
        return refused;
    }
    let Ok(level) = f.level.trim().parse::<i64>() else {
        return notice(
            StatusCode::BAD_REQUEST,
            "无法启动召回",
            "请选择召回级别（一级、二级或三级）。",
        );
    };
    let blank = |s: String| Some(s).filter(|s| !s.trim().is_empty());
    let req = RecallRequest {
        trace_code: blank(f.trace_code),
        proposal_id: blank(f.proposal_id),
        level,
        reason: f.reason,
    };
    match crate::recalls::start(&state, &analyst.user_id, req).await {
        Ok(view) => Redirect::to(&format!("/console/recalls/{}", view.id)).into_response(),
        Err(e) => error_page(e),
    }
}

struct HolderRow {
    merchant: String,
    merchant_id: String,
    trace_code: String,
    depth: u32,
    region_code: String,
    received: String,
    held: String,
    returned: String,
    destroyed: String,
    confirmed_at: String,
    confirmed: bool,
    overdue: bool,
}

struct TotalRow {
    holders: usize,
    received: String,
    held: String,
    returned: String,
    destroyed: String,
    unconfirmed: String,
}

#[derive(Template)]
#[template(path = "console/recall.html")]
struct DetailPage {
    nav: &'static str,
    csrf: String,
    id: String,
    level_zh: &'static str,
    product_name: String,
    trace_code: String,
    reason: String,
    active: bool,
    status_zh: &'static str,
    started: String,
    start_by: String,
    finish_by: String,
    closed: Option<String>,
    calendar_warning: Option<String>,
    holders_total: usize,
    confirmed: usize,
    pending: usize,
    overdue: usize,
    /// Share confirmed, in whole percent (the progress bar).
    percent: usize,
    totals: Vec<TotalRow>,
    holders: Vec<HolderRow>,
}

fn qty(q: Option<shian_core::quantity::Quantity>) -> String {
    q.map_or_else(|| "—".to_owned(), |q| q.display_zh())
}

async fn detail(
    State(state): State<AppState>,
    analyst: Analyst,
    Path(id): Path<String>,
) -> Response {
    let Ok(id) = uuid::Uuid::parse_str(id.trim()) else {
        return notice(StatusCode::NOT_FOUND, "召回不存在", "没有这个召回编号。");
    };
    let stored = match state.store.recall(id.to_string()).await {
        Ok(Some(r)) => r,
        Ok(None) => return notice(StatusCode::NOT_FOUND, "召回不存在", "没有这个召回编号。"),
        Err(e) => return error_page(e.into()),
    };
    let v = RecallView::new(stored, crate::store::now());
    let p = &v.progress;
    let page = DetailPage {
        nav: "recalls",
        csrf: analyst.csrf,
        level_zh: v.level_zh,
        product_name: v.header.product_name.clone(),
        trace_code: v.header.trace_code.clone(),
        reason: v.header.reason.clone(),
        active: v.header.status == RecallStatus::Active,
        status_zh: v.header.status.zh(),
        started: local_time(v.header.started_at),
        start_by: local_time(v.header.deadlines.start_by),
        finish_by: v.header.deadlines.finish_by.to_string(),
        closed: v.header.closed_at.map(local_time),
        calendar_warning: v.header.deadlines.calendar_warning.clone(),
        holders_total: p.holders,
        confirmed: p.confirmed,
        pending: p.pending,
        overdue: p.overdue,
        percent: (p.confirmed * 100).checked_div(p.holders).unwrap_or(0),
        totals: p
            .totals
            .iter()
            .map(|t| TotalRow {
                holders: t.holders,
                received: t.received.display_zh(),
                held: t.held.display_zh(),
                returned: t.returned.display_zh(),
                destroyed: t.destroyed.display_zh(),
                unconfirmed: t.unconfirmed.display_zh(),
            })
            .collect(),
        holders: v
            .holders
            .iter()
            .map(|h| {
                let h2 = &h.progress;
                HolderRow {
                    merchant: h2
                        .merchant_name
                        .clone()
                        .unwrap_or_else(|| h2.merchant_id.clone()),
                    merchant_id: h2.merchant_id.clone(),
                    trace_code: h2.trace_code.clone(),
                    depth: h2.depth,
                    region_code: h.region_code.clone(),
                    received: h2.received.display_zh(),
                    held: qty(h2.held),
                    returned: qty(h2.returned),
                    destroyed: qty(h2.destroyed),
                    confirmed_at: h2
                        .confirmed_at
                        .map_or_else(|| "未确认".to_owned(), local_time),
                    confirmed: h2.state == HolderState::Confirmed,
                    overdue: h2.overdue,
                }
            })
            .collect(),
        id: v.id,
    };
    html(StatusCode::OK, &page)
}
