//! `GET /v1/public/trace/{trace_code}`: what anyone may read about a batch
//! behind a product's code — its chain of custody back to the origin (core's
//! backward trace) and any published finding naming a batch on that chain.
//! The product page (`/t/{trace_code}`) renders this same record.

use std::collections::{BTreeMap, HashSet};

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::Serialize;
use shian_core::quantity::Quantity;
use shian_core::trace::{BackwardTrace, ChainEnd, SupplierRef, TraceError};
use utoipa::ToSchema;

use crate::errors::{ApiError, ErrorResponse};
use crate::extract::{Json, Path};
use crate::store::ledger::PublicFinding;
use crate::AppState;

/// A batch's public record. Merchants appear by shop name and shop code
/// (what their stall sign shows), never by account, licence holder or
/// customer.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PublicTrace {
    pub trace_code: String,
    pub product_name: String,
    /// The product's category code (`frozen`, `vegetable`, …).
    #[schema(value_type = Option<crate::openapi::wire::Category>)]
    pub category: Option<String>,
    /// The GTIN on the pack, as recorded (8, 12, 13 or 14 digits).
    pub gtin: Option<String>,
    /// `YYYY-MM-DD`, as the purchase recorded it.
    pub production_date: Option<String>,
    /// `YYYY-MM-DD` (保质期至), as the purchase recorded it.
    pub expiry_date: Option<String>,
    /// When the current holder received the batch.
    pub received_at: DateTime<Utc>,
    /// The traced batch first, the origin (or the last batch reached) last.
    pub chain: Vec<PublicStep>,
    /// Why the chain ends where it does: `origin`, `unlinked_merchant_supplier`,
    /// `voucher_not_found`, `upstream_batch_missing`, `cycle` or `depth_limit`.
    pub chain_end: String,
    /// The off-platform supplier the first purchase came from, by name (at
    /// `origin`).
    pub origin_supplier: Option<String>,
    /// Published findings (a failed test, a recall) naming a batch on the
    /// chain: the product page shows them in a red banner.
    pub findings: Vec<PublicFinding>,
}

/// One holder on the way up.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PublicStep {
    /// 0 for the traced batch, 1 for its seller's batch, …
    pub depth: u32,
    pub trace_code: String,
    pub merchant_name: Option<String>,
    /// Opens the holder's shop page, `/s/{shop_code}`.
    pub shop_code: Option<String>,
    pub product_name: String,
    pub received: PublicQuantity,
    pub received_at: DateTime<Utc>,
    /// When the seller recorded the sale this batch was received from.
    pub sold_at: Option<DateTime<Utc>>,
}

/// A quantity in the wire form of the trace API: kilograms with up to three
/// decimals, or a count.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PublicQuantity {
    #[schema(example = "12.5")]
    pub value: String,
    #[schema(example = "kg")]
    pub unit: String,
    /// The same for a person: `12.5 千克`.
    #[serde(skip)]
    pub zh: String,
}

impl From<Quantity> for PublicQuantity {
    fn from(q: Quantity) -> Self {
        PublicQuantity {
            value: q.value_string(),
            unit: q.wire_unit().to_owned(),
            zh: q.display_zh(),
        }
    }
}

/// The public record of the batch `code` (canonical), or why there is none
/// (`NotFound`, `InvalidCode`) as core's trace error.
pub(crate) async fn build(
    state: &AppState,
    code: String,
) -> Result<Result<PublicTrace, TraceError>, ApiError> {
    let trace: BackwardTrace = match state.store.trace_backward(code.clone()).await? {
        Ok(t) => t,
        Err(e) => return Ok(Err(e)),
    };
    let details = state.store.batch_details(code).await?;
    // Each holder once: its shop code for the link, and its published
    // findings (the store keeps them per shop).
    let mut shops: BTreeMap<String, Option<String>> = BTreeMap::new();
    let mut findings: Vec<PublicFinding> = Vec::new();
    let on_chain: HashSet<&str> = trace.chain.iter().map(|s| s.trace_code.as_str()).collect();
    for step in &trace.chain {
        if shops.contains_key(&step.merchant_id) {
            continue;
        }
        let holder = state
            .store
            .holder_findings(step.merchant_id.clone())
            .await?;
        let shop_code = holder.map(|(code, shop_findings)| {
            findings.extend(shop_findings.into_iter().filter(|f| {
                f.trace_code
                    .as_deref()
                    .is_some_and(|t| on_chain.contains(t))
            }));
            code
        });
        shops.insert(step.merchant_id.clone(), shop_code);
    }
    findings.sort_by(|a, b| b.published_at.cmp(&a.published_at));
    let (chain_end, origin_supplier) = match &trace.end {
        ChainEnd::Origin { supplier, .. } => (
            "origin",
            match supplier {
                SupplierRef::External { name, .. } => Some(name.clone()),
                SupplierRef::Merchant { .. } => None,
            },
        ),
        ChainEnd::UnlinkedMerchantSupplier { .. } => ("unlinked_merchant_supplier", None),
        ChainEnd::VoucherNotFound { .. } => ("voucher_not_found", None),
        ChainEnd::UpstreamBatchMissing { .. } => ("upstream_batch_missing", None),
        ChainEnd::Cycle { .. } => ("cycle", None),
        ChainEnd::DepthLimit => ("depth_limit", None),
    };
    let chain: Vec<PublicStep> = trace
        .chain
        .iter()
        .map(|s| PublicStep {
            depth: s.depth,
            trace_code: s.trace_code.clone(),
            merchant_name: s.merchant_name.clone(),
            shop_code: shops.get(&s.merchant_id).cloned().flatten(),
            product_name: s.product_name.clone(),
            received: s.received.into(),
            received_at: s.received_at,
            sold_at: s.sold_at,
        })
        .collect();
    let (product_name, received_at) = chain
        .first()
        .map(|s| (s.product_name.clone(), s.received_at))
        .ok_or_else(|| ApiError::internal("backward trace with an empty chain"))?;
    Ok(Ok(PublicTrace {
        trace_code: trace.trace_code,
        product_name,
        category: details.as_ref().map(|d| d.category.clone()),
        gtin: details.as_ref().and_then(|d| d.gtin.clone()),
        production_date: details.as_ref().and_then(|d| d.production_date.clone()),
        expiry_date: details.and_then(|d| d.expiry_date),
        received_at,
        chain,
        chain_end: chain_end.to_owned(),
        origin_supplier,
        findings,
    }))
}

/// A product's chain of custody and published findings, as JSON for the
/// consumer page.
#[utoipa::path(
    get, path = "/v1/public/trace/{trace_code}", tag = "public",
    params(("trace_code" = crate::openapi::wire::Code, Path, description = "the code on the product or its voucher")),
    responses((status = 200, body = PublicTrace), (status = 400, body = ErrorResponse), (status = 404, body = ErrorResponse), (status = 422, description = "code_check_mismatch", body = ErrorResponse))
)]
pub async fn trace(
    State(state): State<AppState>,
    Path(code): Path<String>,
) -> Result<Json<PublicTrace>, ApiError> {
    let code = shian_core::codes::parse_code(&code, "trace_code").map_err(ApiError::from)?;
    match build(&state, code).await? {
        Ok(t) => Ok(Json(t)),
        Err(TraceError::NotFound { trace_code }) => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_trace_code",
            format!("追溯码 {trace_code} 对应的批次不存在"),
        )
        .at("trace_code")),
        Err(TraceError::InvalidCode { reason, .. }) => {
            Err(ApiError::invalid("trace_code", "invalid_code", reason))
        }
        Err(TraceError::Storage(detail)) => Err(ApiError::internal(detail)),
    }
}
