//! Who must answer a recall and what each received of the code. The forward
//! trace already follows every sale to a platform merchant at any depth and
//! nets out voided entries; every batch it reaches — the root's own and
//! each downstream one — is a holder, even one sold out at retail (it must
//! still say so). A merchant who received the code twice (two vouchers) is
//! two holders, one per trace code, because a confirmation names the code.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::quantity::Quantity;
use crate::trace::{ForwardTrace, TraceNode};

/// One (merchant, trace code) that must confirm.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Holder {
    pub merchant_id: String,
    pub merchant_name: Option<String>,
    pub trace_code: String,
    pub parent_trace_code: Option<String>,
    /// 0 for the root batch.
    pub depth: u32,
    pub product_name: String,
    pub received_at: DateTime<Utc>,
    /// What the holder received of this code (the root: its own receipt):
    /// the bound of its confirmation.
    pub received: Quantity,
    /// What the ledger says it still held when the recall started.
    pub held_at_start: Quantity,
}

impl From<&TraceNode> for Holder {
    fn from(n: &TraceNode) -> Self {
        Holder {
            merchant_id: n.merchant_id.clone(),
            merchant_name: n.merchant_name.clone(),
            trace_code: n.trace_code.clone(),
            parent_trace_code: n.parent_trace_code.clone(),
            depth: n.depth,
            product_name: n.product_name.clone(),
            received_at: n.received_at,
            received: n.received,
            held_at_start: n.held,
        }
    }
}

/// The root and every downstream batch, in the trace's order (depth, then
/// receipt time, then code).
pub fn holders_of(trace: &ForwardTrace) -> Vec<Holder> {
    std::iter::once(&trace.root)
        .chain(&trace.holders)
        .map(Holder::from)
        .collect()
}
