//! [`MemoryGraph`]: the compact in-memory trace index the server keeps beside
//! its database (and the benchmark measures), so that a forward trace over
//! tens of millions of entries costs a few cache misses per holder instead of
//! a few queries per holder.
//!
//! A trace visits batches at random, so each batch, voucher and movement is
//! one fixed-size record (`records.rs`) that arrives in one or two cache
//! lines; strings are interned (a merchant's id beside its name) and codes
//! packed into a `u128`. Memory:
//!
//! | per | bytes | what |
//! |---|---|---|
//! | batch | 48 + 16 + 40 + ~12 | record (code, received, received_at, merchant, supplier, upstream voucher, product, unit, flags), entry id, stock (balance, category, expiry: what the ledger rules read), slots in the code and entry indexes |
//! | movement | 16 + 4 + 4 + 16 + ~6 | record inline in the CSR (amount, voucher or buyer name, kind, voided), its id, its batch, entry id, entry index slot |
//! | voucher | 48 + ~6 | record (code, sold_at, amount, seller, buyer, seller's batch, first redeemer), index slot |
//!
//! Index slots are 4 bytes at a load of ⅜–¾. With the generator's Xiamen mix
//! (a quarter purchases, three quarters movements, a quarter sales to
//! merchants) that is about 70 bytes per ledger entry (69.7 measured at
//! 10 M entries: 664 MB); [`MemoryGraph::stats`] gives the exact figure and
//! the benchmark reports it beside the process's resident memory.
//!
//! The graph is also a [`crate::ledger::LedgerView`] (`view.rs`): the
//! server judges every pushed event against it, so the rules read memory
//! instead of SQLite and only the entry itself is written.
//!
//! Events may arrive in any order, as they do from offline devices: a sale
//! of a batch whose purchase has not arrived, or a purchase scanning a
//! voucher whose sale has not, leaves a placeholder that the late event
//! fills in. A void whose target has not arrived is ignored, as the SQL
//! store does.

mod build;
mod code;
mod intern;
mod load;
mod merchants;
mod moves;
mod read;
mod records;
mod snapshot;
mod strings;
mod table;
mod view;

use std::collections::HashMap;

use uuid::Uuid;

use super::{SupplierRef, TraceError};
use crate::event::{Buyer, DisposeMethod, LedgerEvent, Supplier};
use build::{KindIn, MovementIn, PurchaseIn};
use intern::Interner;
use merchants::Merchants;
use moves::Movements;
use records::{BatchRec, Kind, Stock, VoucherRec, NONE};
use strings::Strings;
use table::IdTable;

pub use snapshot::{SnapshotError, FORMAT as SNAPSHOT_FORMAT};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GraphError {
    #[error("purchase {entry_id} has no trace code")]
    MissingTraceCode { entry_id: String },
    #[error("sale {entry_id} to a merchant has no voucher code")]
    MissingVoucherCode { entry_id: String },
    #[error("not a canonical trace or voucher code: {0:?}")]
    InvalidCode(String),
    #[error("entry {0} recorded twice")]
    DuplicateEntry(String),
    #[error("trace code {0} used by two purchases")]
    DuplicateTraceCode(String),
    #[error("voucher {0} issued by two sales")]
    DuplicateVoucher(String),
    #[error(
        "the in-memory trace graph is full (2^28 batches, products or vouchers, or 2^31 movements)"
    )]
    Full,
    #[error("storage: {0}")]
    Storage(String),
}

impl From<rusqlite::Error> for GraphError {
    fn from(e: rusqlite::Error) -> Self {
        GraphError::Storage(e.to_string())
    }
}

impl From<TraceError> for GraphError {
    fn from(e: TraceError) -> Self {
        GraphError::Storage(e.to_string())
    }
}

/// Sizes, for capacity planning and the benchmark.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct MemoryStats {
    pub batches: usize,
    pub movements: usize,
    pub vouchers: usize,
    pub merchants: usize,
    /// Heap bytes held (interned strings estimated).
    pub heap_bytes: usize,
}

fn packed(code: &str) -> Result<u128, GraphError> {
    code::pack(code).ok_or_else(|| GraphError::InvalidCode(code.to_owned()))
}

/// The in-memory trace index. See the module documentation for its layout.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct MemoryGraph {
    merchants: Merchants,
    products: Strings,
    #[serde(with = "snapshot::suppliers")]
    suppliers: Interner<SupplierRef>,
    buyer_names: Strings,
    batches: Vec<BatchRec>,
    /// By batch: the purchase's entry id, for voids.
    batch_entry: Vec<u128>,
    /// By batch: balance, category and expiry, for the ledger rules.
    stock: Vec<Stock>,
    batch_index: IdTable,
    vouchers: Vec<VoucherRec>,
    voucher_index: IdTable,
    /// Second and later redeemers of a voucher (rare: see
    /// [`super::TraceGraph::redeemed_by`]).
    extra_redeemers: HashMap<u32, Vec<u32>>,
    moves: Movements,
    /// Entry id → batch, or movement id | `moves::ID_LIMIT`.
    entry_index: IdTable,
    /// Void entries → their merchant (rare: a map is enough).
    voids: HashMap<u128, u32>,
}

impl Default for MemoryGraph {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryGraph {
    pub fn new() -> Self {
        Self {
            merchants: Merchants::new(),
            products: Strings::new(),
            suppliers: Interner::new(),
            buyer_names: Strings::new(),
            batches: Vec::new(),
            batch_entry: Vec::new(),
            stock: Vec::new(),
            batch_index: IdTable::new(),
            vouchers: Vec::new(),
            voucher_index: IdTable::new(),
            extra_redeemers: HashMap::new(),
            moves: Movements::default(),
            entry_index: IdTable::new(),
            voids: HashMap::new(),
        }
    }

    /// Adds one accepted ledger event. Codes must be filled in (a purchase's
    /// trace code, the voucher of a sale to a merchant), as they are once
    /// the device or the server has accepted the event.
    pub fn apply(&mut self, event: &LedgerEvent) -> Result<(), GraphError> {
        match event {
            LedgerEvent::Purchase(p) => {
                let trace_code =
                    p.trace_code
                        .as_deref()
                        .ok_or_else(|| GraphError::MissingTraceCode {
                            entry_id: p.entry_id.to_string(),
                        })?;
                self.add_purchase(PurchaseIn {
                    entry: p.entry_id.as_u128(),
                    trace_code: packed(trace_code)?,
                    merchant: &p.merchant_id,
                    product: &p.product.name,
                    received: p.quantity,
                    voucher: p.voucher_code.as_deref().map(packed).transpose()?,
                    supplier: match &p.supplier {
                        Supplier::Merchant { merchant_id } => SupplierRef::Merchant {
                            merchant_id: merchant_id.clone(),
                        },
                        Supplier::External {
                            name,
                            uscc,
                            region_code,
                        } => SupplierRef::External {
                            name: name.clone(),
                            uscc: uscc.clone(),
                            region_code: region_code.clone(),
                        },
                    },
                    received_at_ms: p.received_at.timestamp_millis(),
                    voided: false,
                    category: p.product.category,
                    expiry: p.expiry_date,
                })
            }
            LedgerEvent::Sale(s) => {
                let kind = match &s.buyer {
                    Buyer::Merchant { merchant_id } => KindIn::SaleMerchant {
                        voucher: packed(s.voucher_code.as_deref().ok_or_else(|| {
                            GraphError::MissingVoucherCode {
                                entry_id: s.entry_id.to_string(),
                            }
                        })?)?,
                        seller: &s.merchant_id,
                        buyer: merchant_id.into(),
                        sold_at_ms: s.sold_at.timestamp_millis(),
                    },
                    Buyer::Named { name } => KindIn::SaleNamed {
                        buyer_name: name.into(),
                    },
                    Buyer::Retail => KindIn::Plain(Kind::SaleRetail),
                };
                self.add_movement(s.entry_id, &s.trace_code, s.quantity.amount, kind)
            }
            LedgerEvent::Dispose(d) => {
                let kind = match d.method {
                    DisposeMethod::Destroyed => Kind::Destroyed,
                    DisposeMethod::Returned => Kind::Returned,
                };
                self.add_movement(
                    d.entry_id,
                    &d.trace_code,
                    d.quantity.amount,
                    KindIn::Plain(kind),
                )
            }
            LedgerEvent::Adjust(a) => self.add_movement(
                a.entry_id,
                &a.trace_code,
                a.delta.amount,
                KindIn::Plain(Kind::Adjust),
            ),
            LedgerEvent::Void(v) => self.add_void(
                v.entry_id.as_u128(),
                &v.merchant_id,
                v.voided_entry_id.as_u128(),
            ),
        }
    }

    fn add_movement(
        &mut self,
        entry: Uuid,
        trace_code: &str,
        amount: i64,
        kind: KindIn<'_>,
    ) -> Result<(), GraphError> {
        self.insert_movement(MovementIn {
            entry: entry.as_u128(),
            trace_code: packed(trace_code)?,
            amount,
            kind,
            voided: false,
        })
    }

    /// Records a merchant's display name (from the registry or directory).
    pub fn set_merchant_name(&mut self, merchant_id: &str, name: &str) -> Result<(), GraphError> {
        self.merchants.set_name(merchant_id, name)
    }

    /// Folds recent movements into the CSR and returns spare capacity: call
    /// after a bulk load, before serving.
    pub fn compact(&mut self) {
        self.moves.rebuild(self.batches.len());
        self.moves.shrink();
        self.batches.shrink_to_fit();
        self.batch_entry.shrink_to_fit();
        self.stock.shrink_to_fit();
        self.vouchers.shrink_to_fit();
    }

    pub fn stats(&self) -> MemoryStats {
        MemoryStats {
            batches: self.batches.len(),
            movements: self.moves.len(),
            vouchers: self.vouchers.len(),
            merchants: self.merchants.len(),
            heap_bytes: self.batches.capacity() * std::mem::size_of::<BatchRec>()
                + self.batch_entry.capacity() * 16
                + self.stock.capacity() * std::mem::size_of::<Stock>()
                + self.voids.capacity() * 24
                + self.batch_index.heap_bytes()
                + self.vouchers.capacity() * std::mem::size_of::<VoucherRec>()
                + self.voucher_index.heap_bytes()
                + self.moves.heap_bytes()
                + self.entry_index.heap_bytes()
                + self
                    .extra_redeemers
                    .values()
                    .map(|v| 32 + v.capacity() * 4)
                    .sum::<usize>()
                + self.merchants.heap_bytes()
                + self.products.heap_bytes()
                + self.buyer_names.heap_bytes()
                + self.suppliers.heap_bytes(SupplierRef::text_len),
        }
    }

    /// Trace codes of every live batch, in arrival order.
    pub fn trace_codes(&self) -> impl Iterator<Item = String> + '_ {
        self.batches
            .iter()
            .filter(|b| b.live())
            .map(|b| code::unpack(b.code))
    }

    /// Trace codes of live batches received without an upstream voucher:
    /// the roots of supply trees, where a recall usually starts.
    pub fn origin_codes(&self) -> impl Iterator<Item = String> + '_ {
        self.batches
            .iter()
            .filter(|b| b.live() && b.voucher == NONE)
            .map(|b| code::unpack(b.code))
    }
}
