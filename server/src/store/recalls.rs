//! Recalls in the store (issue 13, item 3): a recall with its holders, the
//! confirmations they sent, and what the phones pull about it. A separate
//! trait from [`super::Store`]'s others (like [`super::feedback::FeedbackStore`]);
//! `Store` requires it. The rules (deadlines, the bound of a confirmation,
//! which of several confirmations counts, overdue) are core's
//! `shian_core::recall`; this layer keeps what they decide on.
//!
//! Confirmations are events (DESIGN.md: nothing updated in place): every
//! accepted one is a row, and a holder's "latest" columns are core's
//! `recall::latest` over them, re-made after each insert, so any arrival
//! order gives the same holder.

use chrono::{DateTime, Utc};
use shian_core::quantity::Quantity;
use shian_core::recall::{Confirmation, Holder, RecallHeader, RecallStatus};

use super::{Page, StoreError, StoreFuture};

/// A recall to store: the recall, its holders (from the forward trace) and
/// the proposal it answers, if any.
#[derive(Debug, Clone)]
pub struct NewRecall {
    pub header: RecallHeader,
    pub proposal_id: Option<String>,
    pub started_by: String,
    pub holders: Vec<Holder>,
}

/// One holder as stored.
#[derive(Debug, Clone)]
pub struct StoredHolder {
    pub holder: Holder,
    /// The holder's district (its shop's region), where its inspectors are.
    pub region_code: String,
    /// The confirmation that counts (core's `latest`), if any arrived.
    pub latest: Option<Confirmation>,
    /// Confirmations received for this holder.
    pub confirmations: u64,
    /// When the overdue reminder was sent.
    pub reminded_at: Option<DateTime<Utc>>,
}

/// A stored recall with every holder.
#[derive(Debug, Clone)]
pub struct StoredRecall {
    pub header: RecallHeader,
    pub proposal_id: Option<String>,
    pub started_by: String,
    pub holders: Vec<StoredHolder>,
}

/// A recall in a list.
#[derive(Debug, Clone)]
pub struct RecallSummary {
    pub header: RecallHeader,
    pub holders: u64,
    pub confirmed: u64,
    /// Confirmed holders that still hold goods (overdue after the finish
    /// deadline).
    pub still_holding: u64,
}

#[derive(Debug, Clone, Default)]
pub struct RecallFilter {
    pub status: Option<RecallStatus>,
    pub limit: u32,
    pub offset: u32,
}

/// A recall proposal from a lab-confirmed failed sample.
#[derive(Debug, Clone)]
pub struct StoredProposal {
    pub id: String,
    pub merchant_id: String,
    pub merchant_name: Option<String>,
    pub trace_code: Option<String>,
    pub sample_id: String,
    pub reason: String,
    pub basis: String,
    /// `proposed`, or `recalled` once a recall was started from it.
    pub status: String,
    /// The recall started from it.
    pub recall_id: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// An active recall as a public page shows it.
#[derive(Debug, Clone)]
pub struct PublicRecall {
    pub recall_id: String,
    pub level: shian_core::recall::RecallLevel,
    pub product_name: String,
    pub trace_code: String,
    pub reason: String,
    pub started_at: DateTime<Utc>,
}

/// What the `recall.confirm` op needs of its holder.
#[derive(Debug, Clone)]
pub struct HolderForOp {
    pub received: Quantity,
}

/// After a confirmation was kept.
#[derive(Debug, Clone)]
pub struct Confirmed {
    /// The holder's confirmation that counts now (perhaps an earlier count
    /// with a later time).
    pub latest: Confirmation,
    pub status: RecallStatus,
    /// Holders of the recall that have not confirmed.
    pub pending: u64,
}

/// What the `recall.confirm` op reads and writes inside the push transaction.
pub trait RecallTx {
    /// The holder (recall, merchant, trace code), if the recall names it.
    fn recall_holder(
        &self,
        recall_id: &str,
        merchant_id: &str,
        trace_code: &str,
    ) -> Result<Option<HolderForOp>, StoreError>;

    /// Keeps an accepted confirmation, re-makes the holder's latest count,
    /// closes the recall when no holder is pending, and publishes
    /// `recall.updated` to the merchant (to every holder on closing) and
    /// `recall.progress` to the district; all or nothing.
    fn persist_confirmation(
        &mut self,
        c: &Confirmation,
        now: DateTime<Utc>,
    ) -> Result<Confirmed, StoreError>;
}

pub trait RecallStore {
    /// Stores the recall and its holders, marks its proposal used and
    /// publishes `recall.notice` to every holder and `recall.progress` to
    /// every district, in one transaction. `NotFound("召回建议")` for an
    /// unknown proposal, `Conflict("proposal_used")` for one already used.
    fn create_recall(&self, recall: NewRecall) -> StoreFuture<'_, ()>;

    fn recall(&self, id: String) -> StoreFuture<'_, Option<StoredRecall>>;

    /// Recalls, newest first.
    fn list_recalls(&self, filter: RecallFilter) -> StoreFuture<'_, Page<RecallSummary>>;

    fn recall_proposal(&self, id: String) -> StoreFuture<'_, Option<StoredProposal>>;

    /// Proposals, newest first; `open_only` leaves out those recalled.
    fn list_recall_proposals(
        &self,
        open_only: bool,
        limit: u32,
    ) -> StoreFuture<'_, Vec<StoredProposal>>;

    /// Sends the one reminder to every holder of an active recall that has
    /// not confirmed past the start deadline (`recall.notice` with
    /// `reminder: true`, and the district's `recall.progress`); marks them so
    /// a second call sends nothing. Returns how many were reminded.
    fn remind_overdue(&self, now: DateTime<Utc>) -> StoreFuture<'_, u64>;

    /// Active recalls naming one of this shop's batches (by its shop code).
    fn active_recalls_of_shop(&self, shop_code: String) -> StoreFuture<'_, Vec<PublicRecall>>;

    /// Active recalls naming this trace code (root or downstream).
    fn active_recalls_of_code(&self, trace_code: String) -> StoreFuture<'_, Vec<PublicRecall>>;
}
