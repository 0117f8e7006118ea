//! Backward trace: the chain of custody from a batch up to its origin, the
//! first purchase from a supplier off the platform (a farm, a slaughterhouse,
//! an importer). Each batch has at most one upstream voucher, so the chain is
//! a path; where it breaks (a supplier on the platform who issued no voucher,
//! a voucher the store has never seen) the break is the answer, because that
//! is where an inspector looks for goods of unknown origin.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{canonical, wire, BatchNode, SupplierRef, TraceError, TraceGraph, MAX_DEPTH};
use crate::quantity::Quantity;

/// The answer of `GET /v1/trace/{trace_code}/backward`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BackwardTrace {
    pub trace_code: String,
    /// The traced batch first, its origin (or the last batch reached) last.
    pub chain: Vec<BackwardStep>,
    /// Why the chain stops where it does.
    pub end: ChainEnd,
}

impl BackwardTrace {
    /// Whether the chain passes through the batch `trace_code`.
    pub fn contains(&self, trace_code: &str) -> bool {
        self.chain.iter().any(|s| s.trace_code == trace_code)
    }
}

/// One batch on the way up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BackwardStep {
    /// 0 for the traced batch, 1 for its seller's batch, …
    pub depth: u32,
    pub merchant_id: String,
    pub merchant_name: Option<String>,
    pub trace_code: String,
    pub product_name: String,
    #[serde(serialize_with = "wire::qty")]
    pub received: Quantity,
    pub received_at: DateTime<Utc>,
    pub supplier: SupplierRef,
    /// The voucher this batch was received with.
    pub voucher_code: Option<String>,
    /// When the seller recorded the sale behind that voucher.
    pub sold_at: Option<DateTime<Utc>>,
    /// What the seller's sale said, in the seller's unit (compare with
    /// `received`).
    #[serde(serialize_with = "wire::opt_qty")]
    pub voucher_quantity: Option<Quantity>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ChainEnd {
    /// The first purchase, from a supplier off the platform.
    Origin {
        trace_code: String,
        supplier: SupplierRef,
    },
    /// Bought from a platform merchant without scanning a voucher: the link
    /// upstream is missing (a lead for the inspector).
    UnlinkedMerchantSupplier {
        trace_code: String,
        merchant_id: String,
    },
    /// The voucher scanned on receipt is not in this store (a device that
    /// holds only its own slice, or a forged voucher).
    VoucherNotFound { voucher_code: String },
    /// The voucher's sale names a batch this store does not hold.
    UpstreamBatchMissing { trace_code: String },
    /// A batch was reached twice (corrupt or forged data).
    Cycle { trace_code: String },
    /// The chain is longer than [`MAX_DEPTH`].
    DepthLimit,
}

/// The chain of custody of `trace_code` back to its origin.
pub fn backward<G: TraceGraph + ?Sized>(
    graph: &G,
    trace_code: &str,
) -> Result<BackwardTrace, TraceError> {
    let code = canonical(trace_code)?;
    let mut handle = graph.find(&code)?.ok_or_else(|| TraceError::NotFound {
        trace_code: code.clone(),
    })?;
    let mut batch = graph.batch(&handle)?;
    let mut visited = HashSet::from([handle.clone()]);
    let mut chain = Vec::new();
    let end = loop {
        let mut step = step(graph, &handle, batch, chain.len() as u32)?;
        let Some(voucher) = graph.received_with(&handle)? else {
            let end = match &step.supplier {
                SupplierRef::Merchant { merchant_id } => ChainEnd::UnlinkedMerchantSupplier {
                    trace_code: step.trace_code.clone(),
                    merchant_id: merchant_id.clone(),
                },
                supplier @ SupplierRef::External { .. } => ChainEnd::Origin {
                    trace_code: step.trace_code.clone(),
                    supplier: supplier.clone(),
                },
            };
            chain.push(step);
            break end;
        };
        let Some(sale) = graph.voucher_sale(&voucher)? else {
            // A store knows a voucher handle only for a batch that has a code.
            let voucher_code = step.voucher_code.clone().unwrap_or_default();
            chain.push(step);
            break ChainEnd::VoucherNotFound { voucher_code };
        };
        step.sold_at = Some(sale.sold_at);
        let Some(up) = sale.from else {
            chain.push(step);
            break ChainEnd::UpstreamBatchMissing {
                trace_code: sale.from_trace_code,
            };
        };
        let upstream = graph.batch(&up)?;
        step.voucher_quantity = Some(Quantity::new(sale.amount, upstream.received.unit));
        chain.push(step);
        if !visited.insert(up.clone()) {
            break ChainEnd::Cycle {
                trace_code: upstream.trace_code,
            };
        }
        if chain.len() as u32 > MAX_DEPTH {
            break ChainEnd::DepthLimit;
        }
        (handle, batch) = (up, upstream);
    };
    Ok(BackwardTrace {
        trace_code: code,
        chain,
        end,
    })
}

fn step<G: TraceGraph + ?Sized>(
    graph: &G,
    handle: &G::Batch,
    batch: BatchNode,
    depth: u32,
) -> Result<BackwardStep, TraceError> {
    Ok(BackwardStep {
        depth,
        supplier: graph.supplier(handle)?,
        merchant_id: batch.merchant_id,
        merchant_name: batch.merchant_name,
        trace_code: batch.trace_code,
        product_name: batch.product_name,
        received: batch.received,
        received_at: batch.received_at,
        voucher_code: batch.voucher_code,
        sold_at: None,
        voucher_quantity: None,
    })
}
