//! Traces on the device's own data as records: the top level typed, the whole
//! answer also as JSON (`detail_json`, the same shape as the server's
//! `GET /v1/trace/{code}/forward|backward`) for screens that want every figure.

use chrono::{DateTime, SecondsFormat, Utc};
use shian_core::trace::{
    BackwardStep, BackwardTrace, ChainEnd, ForwardTrace, InTransit, SupplierRef, TraceNode,
};

use crate::ledger::QuantityValue;

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// One batch in a forward trace: the root (depth 0) or a downstream holder.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct TraceHolder {
    pub merchant_id: String,
    pub merchant_name: Option<String>,
    pub trace_code: String,
    pub parent_trace_code: Option<String>,
    /// The voucher this batch was received with.
    pub voucher_code: Option<String>,
    pub depth: u32,
    pub product_name: String,
    pub received_at: String,
    pub received: QuantityValue,
    pub retail_sold: QuantityValue,
    pub named_sold: QuantityValue,
    pub sold_to_merchants: QuantityValue,
    pub destroyed: QuantityValue,
    pub returned: QuantityValue,
    pub adjusted: QuantityValue,
    /// Negative when more was sold than the batch held (来源不明).
    pub held: QuantityValue,
}

impl From<&TraceNode> for TraceHolder {
    fn from(n: &TraceNode) -> Self {
        Self {
            merchant_id: n.merchant_id.clone(),
            merchant_name: n.merchant_name.clone(),
            trace_code: n.trace_code.clone(),
            parent_trace_code: n.parent_trace_code.clone(),
            voucher_code: n.voucher_code.clone(),
            depth: n.depth,
            product_name: n.product_name.clone(),
            received_at: ts(n.received_at),
            received: n.received.into(),
            retail_sold: n.retail_sold.into(),
            named_sold: n.named_sold.into(),
            sold_to_merchants: n.sold_to_merchants.into(),
            destroyed: n.destroyed.into(),
            returned: n.returned.into(),
            adjusted: n.adjusted.into(),
            held: n.held.into(),
        }
    }
}

/// A voucher issued and not scanned yet (goods in transit).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct InTransitRecord {
    pub voucher_code: String,
    pub from_trace_code: String,
    pub seller_merchant_id: String,
    pub buyer_merchant_id: String,
    pub buyer_merchant_name: Option<String>,
    pub quantity: QuantityValue,
    pub sold_at: String,
}

impl From<&InTransit> for InTransitRecord {
    fn from(t: &InTransit) -> Self {
        Self {
            voucher_code: t.voucher_code.clone(),
            from_trace_code: t.from_trace_code.clone(),
            seller_merchant_id: t.seller_merchant_id.clone(),
            buyer_merchant_id: t.buyer_merchant_id.clone(),
            buyer_merchant_name: t.buyer_merchant_name.clone(),
            quantity: t.quantity.into(),
            sold_at: ts(t.sold_at),
        }
    }
}

/// Every downstream holder of a batch, as far as this device knows.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ForwardTraceRecord {
    pub trace_code: String,
    pub root: TraceHolder,
    /// One row per downstream batch, at any depth.
    pub holders: Vec<TraceHolder>,
    /// Sold at retail by the root and every holder, in the root's unit.
    pub retail_sold: QuantityValue,
    /// Still held by the root and every holder, in the root's unit.
    pub held: QuantityValue,
    pub in_transit: Vec<InTransitRecord>,
    /// Every batch reached once and every unit's mass balance holds.
    pub balanced: bool,
    pub truncated: bool,
    pub cycle: bool,
    /// The whole answer as JSON (with the per-unit totals and named buyers).
    pub detail_json: String,
}

impl From<ForwardTrace> for ForwardTraceRecord {
    fn from(t: ForwardTrace) -> Self {
        Self {
            detail_json: serde_json::to_string(&t).unwrap_or_default(),
            balanced: t.is_balanced(),
            trace_code: t.trace_code.clone(),
            root: (&t.root).into(),
            holders: t.holders.iter().map(Into::into).collect(),
            retail_sold: t.retail_sold.into(),
            held: t.held.into(),
            in_transit: t.in_transit.iter().map(Into::into).collect(),
            truncated: t.truncated,
            cycle: t.cycle,
        }
    }
}

/// One batch on the way up a backward trace.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct BackwardStepRecord {
    pub depth: u32,
    pub merchant_id: String,
    pub merchant_name: Option<String>,
    pub trace_code: String,
    pub product_name: String,
    pub received: QuantityValue,
    pub received_at: String,
    /// The supplier a platform merchant (its id) ...
    pub supplier_merchant_id: Option<String>,
    /// ... or off the platform (its name, and USCC if recorded).
    pub supplier_name: Option<String>,
    pub supplier_uscc: Option<String>,
    pub voucher_code: Option<String>,
    pub sold_at: Option<String>,
    pub voucher_quantity: Option<QuantityValue>,
}

impl From<&BackwardStep> for BackwardStepRecord {
    fn from(s: &BackwardStep) -> Self {
        let (supplier_merchant_id, supplier_name, supplier_uscc) = match &s.supplier {
            SupplierRef::Merchant { merchant_id } => (Some(merchant_id.clone()), None, None),
            SupplierRef::External { name, uscc, .. } => (None, Some(name.clone()), uscc.clone()),
        };
        Self {
            depth: s.depth,
            merchant_id: s.merchant_id.clone(),
            merchant_name: s.merchant_name.clone(),
            trace_code: s.trace_code.clone(),
            product_name: s.product_name.clone(),
            received: s.received.into(),
            received_at: ts(s.received_at),
            supplier_merchant_id,
            supplier_name,
            supplier_uscc,
            voucher_code: s.voucher_code.clone(),
            sold_at: s.sold_at.map(ts),
            voucher_quantity: s.voucher_quantity.map(Into::into),
        }
    }
}

/// The chain of custody back to the origin, as far as this device knows.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct BackwardTraceRecord {
    pub trace_code: String,
    /// The traced batch first.
    pub chain: Vec<BackwardStepRecord>,
    /// Why the chain stops: `origin`, `unlinked_merchant_supplier`,
    /// `voucher_not_found`, `upstream_batch_missing`, `cycle`, `depth_limit`.
    pub end: String,
    pub detail_json: String,
}

impl From<BackwardTrace> for BackwardTraceRecord {
    fn from(t: BackwardTrace) -> Self {
        let end = match &t.end {
            ChainEnd::Origin { .. } => "origin",
            ChainEnd::UnlinkedMerchantSupplier { .. } => "unlinked_merchant_supplier",
            ChainEnd::VoucherNotFound { .. } => "voucher_not_found",
            ChainEnd::UpstreamBatchMissing { .. } => "upstream_batch_missing",
            ChainEnd::Cycle { .. } => "cycle",
            ChainEnd::DepthLimit => "depth_limit",
        };
        Self {
            detail_json: serde_json::to_string(&t).unwrap_or_default(),
            trace_code: t.trace_code.clone(),
            chain: t.chain.iter().map(Into::into).collect(),
            end: end.to_owned(),
        }
    }
}
