//! The trace engine: forward (every downstream holder of a batch, at any
//! depth, with an exact mass balance) and backward (the chain of custody up
//! to the origin).
//!
//! One engine runs on any store through the small [`TraceGraph`] trait: the
//! device's SQLite file ([`SqlGraph`]), the server's SQLite or PostgreSQL
//! ledger, or the compact in-memory index ([`MemoryGraph`]) the server keeps
//! to answer a recall in microseconds. The trait speaks in the facts the
//! ledger tables hold (batches, their non-voided movements, and the voucher
//! join that links a buyer's batch to the seller's sale), so a new store
//! (PostgreSQL, say) needs a handful of indexed lookups and no trace logic
//! of its own.

mod backward;
mod forward;
pub mod memory;
pub mod sql;
mod wire;

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;

use std::hash::Hash;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::quantity::Quantity;

pub use backward::{backward, BackwardStep, BackwardTrace, ChainEnd};
pub use forward::{forward, ForwardTrace, InTransit, NamedBuyer, TraceNode, UnitTotals};
pub use memory::{GraphError, MemoryGraph, MemoryStats, SnapshotError, SNAPSHOT_FORMAT};
pub use sql::{SqlBatch, SqlGraph};

/// The deepest chain a trace follows. Real chains are a handful of hops
/// (importer → wholesaler → stall → canteen); a longer one is corrupt or
/// malicious data, and a trace must answer instead of running away.
pub const MAX_DEPTH: u32 = 64;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TraceError {
    /// No recorded, non-voided batch has this trace code.
    #[error("追溯码 {trace_code} 对应的批次不存在 (no such batch)")]
    NotFound { trace_code: String },
    /// The code is malformed or its check character does not match (a typo).
    #[error("追溯码 {trace_code} 无效: {reason}")]
    InvalidCode { trace_code: String, reason: String },
    /// The store failed or holds a row the engine cannot read.
    #[error("storage: {0}")]
    Storage(String),
}

impl From<rusqlite::Error> for TraceError {
    fn from(e: rusqlite::Error) -> Self {
        TraceError::Storage(e.to_string())
    }
}

/// Where a batch came from, as its purchase recorded it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(untagged)]
pub enum SupplierRef {
    /// A merchant on the platform (the link is the voucher, when scanned).
    Merchant { merchant_id: String },
    /// A farm, slaughterhouse, importer or trader off the platform.
    External {
        name: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        uscc: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        region_code: Option<String>,
    },
}

impl SupplierRef {
    /// The bytes of text it holds (what the graph interns or counts).
    pub fn text_len(&self) -> usize {
        match self {
            SupplierRef::Merchant { merchant_id } => merchant_id.len(),
            SupplierRef::External {
                name,
                uscc,
                region_code,
            } => {
                name.len()
                    + uscc.as_ref().map_or(0, String::len)
                    + region_code.as_ref().map_or(0, String::len)
            }
        }
    }
}

/// A batch: what one purchase brought in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchNode {
    pub trace_code: String,
    pub merchant_id: String,
    /// From the store's directory, where it has one. Carried on the node so
    /// that a trace needs no extra lookup per holder.
    pub merchant_name: Option<String>,
    pub product_name: String,
    /// What the purchase recorded, in the batch's unit.
    pub received: Quantity,
    /// The upstream voucher scanned on receipt, linking to the seller's sale.
    pub voucher_code: Option<String>,
    /// Device time of the purchase, in UTC, to the millisecond.
    pub received_at: DateTime<Utc>,
}

/// One non-voided movement out of (or correction of) a batch, in the batch's
/// unit. `V` is the store's handle for a voucher.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Movement<V> {
    /// Positive for sales and disposals; signed for adjustments.
    pub amount: i64,
    pub kind: MovementKind<V>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MovementKind<V> {
    /// A sale to a platform merchant, who receives it by scanning the
    /// voucher.
    SaleMerchant {
        voucher: V,
    },
    /// A sale to a named buyer off the platform (a canteen, a trader).
    SaleNamed {
        buyer_name: String,
    },
    SaleRetail,
    Destroyed,
    Returned,
    /// A stock-count correction (signed).
    Adjust,
}

/// The sale that issued a voucher. `B` is the store's handle for a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoucherSale<B> {
    pub voucher_code: String,
    /// The seller's batch the goods left.
    pub from_trace_code: String,
    /// That batch, if it is a live batch of this store.
    pub from: Option<B>,
    pub seller_merchant_id: String,
    pub buyer_merchant_id: String,
    /// In the seller's batch unit.
    pub amount: i64,
    pub sold_at: DateTime<Utc>,
}

/// The lookups the engine needs from a store. Voided rows are invisible
/// through every method: a void is a correction, and a trace shows the
/// corrected ledger.
///
/// A store names batches and vouchers by handles of its own (an index, a
/// row id, or simply the code): the engine walks and de-duplicates handles
/// and asks for strings only for the rows of its answer, which is what lets
/// the in-memory graph trace a holder in a few hundred nanoseconds.
pub trait TraceGraph {
    type Batch: Clone + Eq + Hash;
    type Voucher: Clone;

    /// The live batch with this (canonical) trace code.
    fn find(&self, trace_code: &str) -> Result<Option<Self::Batch>, TraceError>;
    /// What a trace shows of a batch.
    fn batch(&self, batch: &Self::Batch) -> Result<BatchNode, TraceError>;
    /// The batch's movements, oldest first.
    fn movements(&self, batch: &Self::Batch) -> Result<Vec<Movement<Self::Voucher>>, TraceError>;
    /// The batches that received a voucher, oldest first. Normally one; the
    /// rules refuse a second redemption once the voucher is known, but two
    /// purchases that scanned it before the sale reached the store both
    /// stand, and a recall must reach both.
    fn redeemed_by(&self, voucher: &Self::Voucher) -> Result<Vec<Self::Batch>, TraceError>;
    /// The voucher a batch was received with, if this store knows it.
    fn received_with(&self, batch: &Self::Batch) -> Result<Option<Self::Voucher>, TraceError>;
    /// The live sale that issued a voucher.
    fn voucher_sale(
        &self,
        voucher: &Self::Voucher,
    ) -> Result<Option<VoucherSale<Self::Batch>>, TraceError>;
    /// Where a batch came from (asked only by the backward trace).
    fn supplier(&self, batch: &Self::Batch) -> Result<SupplierRef, TraceError>;
    /// A merchant's display name, where the store has a directory (for
    /// buyers of goods in transit, who hold no batch yet).
    fn merchant_name(&self, _merchant_id: &str) -> Result<Option<String>, TraceError> {
        Ok(None)
    }
}

/// Canonicalises a code typed or scanned by a person (case, width, dashes,
/// look-alikes) so every store is asked the same question.
fn canonical(trace_code: &str) -> Result<String, TraceError> {
    crate::codes::parse_code(trace_code, "trace_code").map_err(|e| TraceError::InvalidCode {
        trace_code: trace_code.to_owned(),
        reason: e.message,
    })
}
