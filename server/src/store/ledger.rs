//! The ledger side of the store: sync, traces and what the public pages and
//! the console read. A separate trait from [`super::Store`]'s registry and
//! accounts so each backend file stays small; `Store` requires it.

use serde::Serialize;
use shian_core::error::FieldError;
use shian_core::event::LedgerEvent;
use shian_core::sync::protocol::{Op, OpResult, PullResponse};
use shian_core::trace::{
    BackwardTrace, ForwardTrace, MemoryGraph, MovementKind, TraceError, TraceGraph,
};

use super::graph::{Lag, Started};
use super::{StoreError, StoreFuture};

/// Who is pushing or pulling, from the verified token.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user_id: String,
    pub role: String,
    pub merchant_id: Option<String>,
    pub regions: Vec<String>,
    /// Market operators: the markets they run.
    pub markets: Vec<String>,
}

/// An op as it reaches the store: a ledger event already parsed.
pub struct Prepared {
    pub op: Op,
    /// `None` for kinds that are not ledger events.
    pub event: Option<Result<LedgerEvent, FieldError>>,
    /// The event's canonical wire form, when it already carries its codes
    /// (else the writer serializes it after filling them in).
    pub wire: Option<String>,
}

/// Why a pull was refused.
#[derive(Debug, thiserror::Error)]
pub enum PullError {
    /// The caller's cursor does not decode: its error, a 400.
    #[error("invalid cursor")]
    BadCursor,
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub trait LedgerStore {
    /// Applies a push in one transaction (decided by `crate::sync::push`): registers
    /// `device_id` under the caller on first use (`Conflict` when the id
    /// belongs to another user) and marks it seen, then applies the ops.
    fn sync_push(
        &self,
        caller: Caller,
        device_id: String,
        ops: Vec<Prepared>,
    ) -> StoreFuture<'_, (Vec<OpResult>, String)> {
        self.sync_push_pulled(caller, device_id, None, ops)
    }

    /// [`LedgerStore::sync_push`] from a device that says where its last
    /// pull stood (`pulled`: the change-feed position of its cursor), by
    /// which a sale of a held batch is judged (`crate::market::holds`).
    fn sync_push_pulled(
        &self,
        caller: Caller,
        device_id: String,
        pulled: Option<i64>,
        ops: Vec<Prepared>,
    ) -> StoreFuture<'_, (Vec<OpResult>, String)>;

    /// One page of the caller's changes after `cursor`.
    fn sync_pull(
        &self,
        caller: Caller,
        cursor: String,
        limit: u32,
    ) -> StoreFuture<'_, Result<PullResponse, PullError>>;

    /// Every downstream holder of a batch (core's engine over this store).
    fn trace_forward(
        &self,
        trace_code: String,
    ) -> StoreFuture<'_, Result<ForwardTrace, TraceError>>;

    /// The chain of custody of a batch back to its origin.
    fn trace_backward(
        &self,
        trace_code: String,
    ) -> StoreFuture<'_, Result<BackwardTrace, TraceError>>;

    /// Catches this instance's in-memory ledger state up with what other
    /// instances committed (the background follower calls it; traces do it
    /// themselves). `None` until that state is built.
    fn follow_ledger(&self) -> StoreFuture<'_, Option<Lag>>;

    /// How far behind the store the in-memory ledger state was when it last
    /// looked (`/healthz`); `None` until it is built.
    fn ledger_lag(&self) -> Option<Lag>;

    /// How the in-memory ledger state was built when this instance started
    /// (`/healthz`); `None` until it is built.
    fn ledger_started(&self) -> Option<Started>;

    /// Saves the in-memory ledger state when at least `min_new` entries
    /// came after the newest saved one, so that the next instance to start
    /// reads it instead of every entry (`crate::store::graph::snapshot`).
    /// `None`: nothing saved (too soon, another instance is saving, the
    /// state is not built yet, or the backend keeps no snapshots).
    fn save_ledger_snapshot(&self, min_new: i64) -> StoreFuture<'_, Option<SnapshotSaved>>;

    /// Applies generated ledger events (the demo) through core's rules in
    /// large transactions, each published to its merchant's devices.
    fn load_ledger(
        &self,
        events: Box<dyn Iterator<Item = LedgerEvent> + Send>,
    ) -> StoreFuture<'_, LedgerCounts>;

    /// Row counts of the ledger and its warnings by code.
    fn ledger_counts(&self) -> StoreFuture<'_, LedgerCounts>;

    /// The origin batch with the most downstream sales to merchants, and
    /// the first merchant it sold to: a showcase for the demo.
    fn showcase_batch(&self) -> StoreFuture<'_, Option<Showcase>>;

    /// What a consumer scanning a shop's code may see (一店一码).
    fn public_shop(&self, shop_code: String) -> StoreFuture<'_, Option<PublicShop>>;

    /// A merchant's shop code and its latest published findings: what a
    /// product page needs of each holder on the chain (a fraction of
    /// [`LedgerStore::public_shop`]'s reads). `None` for an unknown id.
    fn holder_findings(
        &self,
        merchant_id: String,
    ) -> StoreFuture<'_, Option<(String, Vec<PublicFinding>)>>;

    /// One page of an export (`crate::exports`): the next `limit` live
    /// ledger movements of `groups` after `cursor`, in group order and, within
    /// a group, in acceptance order. Voids and voided entries are left out
    /// (an export shows the corrected ledger, as a trace does). Pages are
    /// read one at a time so that no export is ever held whole in memory;
    /// the ledger is append-only, so a later page never repeats a row.
    fn export_page(
        &self,
        groups: std::sync::Arc<[ExportGroup]>,
        window: ExportWindow,
        cursor: ExportCursor,
        limit: u32,
    ) -> StoreFuture<'_, ExportPage>;

    /// How many rows [`LedgerStore::export_page`] will give for `groups`
    /// (the console's progress bar; rows accepted meanwhile may add some).
    fn export_count(
        &self,
        groups: std::sync::Arc<[ExportGroup]>,
        window: ExportWindow,
    ) -> StoreFuture<'_, u64>;
}

/// One holder's part of an export: all its entries, or only those of some
/// of its batches (a trace).
#[derive(Debug, Clone)]
pub struct ExportGroup {
    pub merchant_id: String,
    /// `None`: every entry of the merchant; else only these batches'.
    pub trace_codes: Option<Vec<String>>,
}

/// The event times an export keeps: `from <= at < to`, either end open.
#[derive(Debug, Clone, Copy, Default)]
pub struct ExportWindow {
    pub from: Option<chrono::DateTime<chrono::Utc>>,
    pub to: Option<chrono::DateTime<chrono::Utc>>,
}

/// Where the next page of an export starts: a group, and the last entry
/// already read in it (the backend's acceptance position, opaque here).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExportCursor {
    pub group: usize,
    pub after: i64,
}

/// A page of an export; `next` is `None` after the last page.
#[derive(Debug, Clone, Default)]
pub struct ExportPage {
    pub entries: Vec<ExportEntry>,
    pub next: Option<ExportCursor>,
}

/// A ledger entry as an export reads it, with what its row needs from
/// elsewhere: the batch's purchase (product, dates, certificates) for a
/// movement, and the names of the holder and of a platform counterparty.
#[derive(Debug, Clone)]
pub struct ExportEntry {
    pub kind: String,
    pub merchant_id: String,
    pub merchant_name: Option<String>,
    /// The canonical wire payload of the entry.
    pub payload: String,
    /// The canonical payload of the purchase that made the batch moved
    /// (`None` for a purchase itself, or a batch the store lacks).
    pub batch_purchase: Option<String>,
    /// The registry name of the supplier or buyer when it is a merchant.
    pub counterparty_name: Option<String>,
}

/// The public record of a shop: licence, latest inspection and published
/// findings (a lab-confirmed test failure, …). Nothing about its customers.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PublicShop {
    pub shop_code: String,
    pub name: String,
    pub licence_no: Option<String>,
    pub licence_expiry: Option<String>,
    pub market: Option<String>,
    pub stall: Option<String>,
    pub region_code: String,
    pub latest_inspection: Option<PublicInspection>,
    /// The latest inspections, newest first (at most 5).
    pub inspections: Vec<PublicInspection>,
    pub findings: Vec<PublicFinding>,
    /// Recent tests of its goods, newest first (at most 10).
    pub tests: Vec<super::public::PublicTest>,
    /// Where its goods come from, latest purchase first (at most 20).
    pub suppliers: Vec<super::public::PublicSupplier>,
    /// Its risk grade; the store leaves it empty, the service grades.
    pub risk: Option<super::public::PublicRisk>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PublicInspection {
    pub id: String,
    /// `compliant` (符合), `basically_compliant` (基本符合) or `non_compliant` (不符合).
    pub result: String,
    pub finished_at: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PublicFinding {
    pub kind: String,
    pub title: String,
    pub summary: String,
    pub trace_code: Option<String>,
    pub published_at: String,
}

/// A saved snapshot of the ledger state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotSaved {
    /// The entries it holds (the sum of its feeds' marks).
    pub position: i64,
    pub bytes: i64,
}

/// What the ledger holds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LedgerCounts {
    pub entries: i64,
    pub batches: i64,
    pub movements: i64,
    /// Accepted when loading; refused events (none expected) counted here.
    pub refused: i64,
    pub warnings: Vec<(String, i64)>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Showcase {
    pub trace_code: String,
    pub merchant_id: String,
    pub buyer_merchant_id: String,
}

/// Maps a pull's storage failure to a store error and keeps a bad cursor as
/// the caller's error.
pub(crate) fn split_pull(
    r: Result<PullResponse, PullError>,
) -> Result<Result<PullResponse, PullError>, StoreError> {
    match r {
        Err(PullError::Store(e)) => Err(e),
        other => Ok(other),
    }
}

/// The live origin batch (received from outside, not by voucher) sold to
/// the most merchants: the demo's example of a recall, read off the ledger graph (either
/// backend's).
pub fn showcase(g: &MemoryGraph) -> Result<Option<Showcase>, TraceError> {
    let mut best: Option<(usize, Showcase)> = None;
    for code in g.origin_codes() {
        let Some(b) = g.find(&code)? else { continue };
        let mut buyers = Vec::new();
        for m in g.movements(&b)? {
            if let MovementKind::SaleMerchant { voucher } = m.kind {
                if let Some(sale) = g.voucher_sale(&voucher)? {
                    buyers.push(sale.buyer_merchant_id);
                }
            }
        }
        let Some(first) = buyers.iter().min().cloned() else {
            continue;
        };
        let better = match &best {
            None => true,
            Some((n, s)) => buyers.len() > *n || (buyers.len() == *n && code < s.trace_code),
        };
        if better {
            let merchant_id = g.batch(&b)?.merchant_id;
            best = Some((
                buyers.len(),
                Showcase {
                    trace_code: code,
                    merchant_id,
                    buyer_merchant_id: first,
                },
            ));
        }
    }
    Ok(best.map(|(_, s)| s))
}
