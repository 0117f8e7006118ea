//! What the ledger rules need to know about what is already recorded, and
//! what they answer. Both the device's store and the server's implement
//! [`LedgerView`], so one set of rules ([`crate::rules`]) serves both.

use chrono::NaiveDate;
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use crate::category::Category;
use crate::quantity::{BaseUnit, Quantity};

/// A recorded entry, as far as voids need to know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryInfo {
    pub kind: String,
    pub merchant_id: String,
    pub voided: bool,
    /// For a purchase: its batch; for a movement: the batch it moved.
    pub trace_code: Option<String>,
}

/// A batch and its running balance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchInfo {
    pub trace_code: String,
    pub merchant_id: String,
    pub category: Category,
    pub unit: BaseUnit,
    pub received: i64,
    /// Sold (to anyone) plus disposed, not voided.
    pub out: i64,
    /// Sum of stock corrections.
    pub adjusted: i64,
    pub expiry_date: Option<NaiveDate>,
    pub voided: bool,
    /// Movements recorded against the batch that are not voided.
    pub active_movements: u32,
}

impl BatchInfo {
    pub fn held(&self) -> i64 {
        self.received + self.adjusted - self.out
    }
}

/// A sale to a merchant, as seen by the buyer's purchase that scans its voucher.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoucherInfo {
    pub code: String,
    pub seller_merchant_id: String,
    pub buyer_merchant_id: String,
    pub from_trace_code: String,
    pub quantity: Quantity,
    pub category: Category,
    /// The batch that already received it, if any.
    pub redeemed_by: Option<String>,
}

/// Read access to recorded ledger state.
pub trait LedgerView {
    type Error;
    /// False on a device, whose store holds only its own slice: facts it does
    /// not know (an upstream voucher, another device's batch) may exist on
    /// the server, so their absence is not an error there.
    fn is_authoritative(&self) -> bool;
    fn entry(&self, entry_id: &Uuid) -> Result<Option<EntryInfo>, Self::Error>;
    fn batch(&self, trace_code: &str) -> Result<Option<BatchInfo>, Self::Error>;
    fn voucher(&self, code: &str) -> Result<Option<VoucherInfo>, Self::Error>;
    /// Whether a trace or voucher code is already in use.
    fn code_in_use(&self, code: &str) -> Result<bool, Self::Error>;
}

/// A warning raised by an accepted entry: the record stands, but a person
/// must look (来源不明, 超期销售, 索证不全 …).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Warning {
    pub code: String,
    pub message: String,
    /// The facts that raised it, for the regulator (quantities, dates).
    pub evidence: Value,
}

impl Warning {
    pub fn new(code: &str, message: impl Into<String>, evidence: Value) -> Self {
        Self {
            code: code.to_owned(),
            message: message.into(),
            evidence,
        }
    }
}
