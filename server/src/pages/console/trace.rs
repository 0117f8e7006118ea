//! `/console/trace?code=&direction=backward|forward`: a batch's chain as a
//! table, one row per hop, from the same handlers as
//! `GET /v1/trace/{code}/backward|forward` (`crate::trace`), so the page and
//! the JSON cannot disagree. Backward: each batch up to the origin with
//! what its holder received and when, and from whom. Forward: every
//! downstream holder with what it received, sold, disposed and still holds.
//! The export buttons post to `/console/exports` (a trace, its direction).

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde::Deserialize;
use shian_core::quantity::Quantity;
use shian_core::trace::{BackwardTrace, ChainEnd, ForwardTrace, SupplierRef, TraceNode};

use super::{html, Analyst};
use crate::extract::Path;
use crate::pages::render::local_time;
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/console/trace", get(page))
}

/// A row of the backward chain.
struct Up {
    depth: u32,
    merchant_id: String,
    holder: String,
    trace_code: String,
    product: String,
    received: String,
    received_at: String,
    supplier: String,
    voucher: String,
    sold_at: String,
}

/// A row of the forward trace.
struct Down {
    depth: u32,
    merchant_id: String,
    holder: String,
    trace_code: String,
    parent: String,
    product: String,
    received: String,
    received_at: String,
    retail_sold: String,
    to_merchants: String,
    named_sold: String,
    disposed: String,
    held: String,
    /// More left than came in (来源不明).
    short: bool,
}

enum Chain {
    None,
    Backward {
        rows: Vec<Up>,
        end: String,
    },
    Forward {
        rows: Vec<Down>,
        retail_sold: String,
        held: String,
        in_transit: usize,
        balanced: bool,
        truncated: bool,
    },
}

#[derive(Template)]
#[template(path = "console/trace.html")]
struct TracePage {
    nav: &'static str,
    csrf: String,
    code: String,
    direction: &'static str,
    error: Option<String>,
    chain: Chain,
}

#[derive(Debug, Default, Deserialize)]
struct TraceQuery {
    #[serde(default)]
    code: String,
    #[serde(default)]
    direction: String,
}

fn qty(q: Quantity) -> String {
    q.display_zh()
}

fn holder(name: &Option<String>, id: &str) -> String {
    name.clone().unwrap_or_else(|| id.to_owned())
}

fn backward_rows(t: &BackwardTrace) -> (Vec<Up>, String) {
    // A supplier on the platform is the holder one hop up: named as it is.
    let name_of = |id: &str| {
        t.chain
            .iter()
            .find(|s| s.merchant_id == id)
            .and_then(|s| s.merchant_name.clone())
            .unwrap_or_else(|| format!("平台经营户 {id}"))
    };
    let rows = t
        .chain
        .iter()
        .map(|s| Up {
            depth: s.depth,
            merchant_id: s.merchant_id.clone(),
            holder: holder(&s.merchant_name, &s.merchant_id),
            trace_code: s.trace_code.clone(),
            product: s.product_name.clone(),
            received: qty(s.received),
            received_at: local_time(s.received_at),
            supplier: match &s.supplier {
                SupplierRef::Merchant { merchant_id } => name_of(merchant_id),
                SupplierRef::External { name, .. } => name.clone(),
            },
            voucher: s.voucher_code.clone().unwrap_or_default(),
            sold_at: s.sold_at.map(local_time).unwrap_or_default(),
        })
        .collect();
    let end = match &t.end {
        ChainEnd::Origin { supplier, .. } => match supplier {
            SupplierRef::External { name, .. } => format!("追溯到源头：从平台外的「{name}」进货。"),
            SupplierRef::Merchant { merchant_id } => {
                format!("追溯到源头：从平台经营户 {merchant_id} 进货。")
            }
        },
        ChainEnd::UnlinkedMerchantSupplier { merchant_id, .. } => format!(
            "链条中断：从平台经营户 {merchant_id} 进货但未扫上市凭证，上游无法关联（检查线索）。"
        ),
        ChainEnd::VoucherNotFound { voucher_code } => {
            format!("链条中断：收货时扫描的凭证 {voucher_code} 不在平台（可能是伪造的凭证）。")
        }
        ChainEnd::UpstreamBatchMissing { trace_code } => {
            format!("链条中断：凭证指向的批次 {trace_code} 不在平台。")
        }
        ChainEnd::Cycle { trace_code } => {
            format!("数据异常：批次 {trace_code} 出现了两次。")
        }
        ChainEnd::DepthLimit => "链条过长，已截断。".to_owned(),
    };
    (rows, end)
}

fn down(n: &TraceNode) -> Down {
    Down {
        depth: n.depth,
        merchant_id: n.merchant_id.clone(),
        holder: holder(&n.merchant_name, &n.merchant_id),
        trace_code: n.trace_code.clone(),
        parent: n.parent_trace_code.clone().unwrap_or_default(),
        product: n.product_name.clone(),
        received: qty(n.received),
        received_at: local_time(n.received_at),
        retail_sold: qty(n.retail_sold),
        to_merchants: qty(n.sold_to_merchants),
        named_sold: qty(n.named_sold),
        disposed: qty(Quantity {
            amount: n.destroyed.amount + n.returned.amount,
            unit: n.destroyed.unit,
        }),
        held: qty(n.held),
        short: n.held.amount < 0,
    }
}

fn forward_chain(t: &ForwardTrace) -> Chain {
    let rows = std::iter::once(&t.root)
        .chain(t.holders.iter())
        .map(down)
        .collect();
    Chain::Forward {
        rows,
        retail_sold: qty(t.retail_sold),
        held: qty(t.held),
        in_transit: t.in_transit.len(),
        balanced: t.is_balanced(),
        truncated: t.truncated,
    }
}

async fn page(
    State(state): State<AppState>,
    analyst: Analyst,
    q: Result<Query<TraceQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let q = q.map(|Query(q)| q).unwrap_or_default();
    let direction = if q.direction.trim() == "forward" {
        "forward"
    } else {
        "backward"
    };
    let typed: String = q.code.trim().chars().take(40).collect();
    let mut page = TracePage {
        nav: "trace",
        csrf: analyst.csrf.clone(),
        code: typed.clone(),
        direction,
        error: None,
        chain: Chain::None,
    };
    if typed.is_empty() {
        return html(StatusCode::OK, &page);
    }
    let result = if direction == "forward" {
        crate::trace::forward(State(state), analyst.auth.clone(), Path(typed))
            .await
            .map(|crate::extract::Json(t)| (t.trace_code.clone(), forward_chain(&t)))
    } else {
        crate::trace::backward(State(state), analyst.auth.clone(), Path(typed))
            .await
            .map(|crate::extract::Json(t)| {
                let (rows, end) = backward_rows(&t);
                (t.trace_code.clone(), Chain::Backward { rows, end })
            })
    };
    match result {
        Ok((code, chain)) => {
            page.code = code;
            page.chain = chain;
            html(StatusCode::OK, &page)
        }
        Err(e) if e.status.is_server_error() => super::error_page(e),
        Err(e) => {
            let status = e.status;
            page.error = Some(e.message);
            html(status, &page)
        }
    }
}
