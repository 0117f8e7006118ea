//! What the sync service (`crate::sync::push`, `crate::sync::pull`) reads
//! and writes through a backend: the push transaction ([`PushTx`]) and the
//! two feeds a pull pages through ([`PullReads`]). The service decides
//! (op classification, scope, outcomes, cursors); each backend implements
//! these over its own transaction and keeps its SQL to itself.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use shian_core::event::LedgerEvent;
use shian_core::ledger::Warning;
use shian_core::sync::protocol::{Change, Cursor};

use super::field::{FieldReads, FieldWrite};
use super::StoreError;

/// What the op log says of an op already seen.
#[derive(Debug, Clone)]
pub struct LoggedOp {
    /// `accepted` or `rejected`.
    pub status: String,
    /// `{"result":…}` or `{"error":…}`, as JSON text.
    pub outcome: String,
    /// The account that sent it.
    pub user_id: String,
}

/// A new op log row.
#[derive(Debug, Clone)]
pub struct NewLoggedOp<'a> {
    pub op_id: &'a str,
    pub device_id: &'a str,
    pub user_id: &'a str,
    pub kind: &'a str,
    pub status: &'a str,
    pub outcome: &'a str,
    pub received_at: DateTime<Utc>,
}

/// A stored ledger entry with its warnings: what a retried op is answered
/// from.
#[derive(Debug, Clone)]
pub struct RecordedEntry {
    pub kind: String,
    /// The event's wire form (JSON).
    pub payload: String,
    pub warnings: Vec<Warning>,
}

/// The push transaction as the sync service drives it: one transaction,
/// committed by the backend after the service is done.
pub trait PushTx:
    FieldReads
    + super::feedback::FeedbackTx
    + super::recalls::RecallTx
    + super::staff::StaffTx
    + super::entry_checks::EntryCheckTx
    + super::holds::HoldsTx
    + super::self_checks::SelfCheckTx
{
    /// Registers the device under `user_id` on first use and marks it seen;
    /// `false` (nothing written) when it belongs to another user.
    fn claim_device(
        &mut self,
        device_id: &str,
        user_id: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// The op log rows of these op ids, in one read.
    fn logged_ops(&mut self, op_ids: &[&str]) -> Result<HashMap<String, LoggedOp>, StoreError>;

    fn log_op(&mut self, row: NewLoggedOp<'_>) -> Result<(), StoreError>;

    /// Whether a merchant is registered.
    fn merchant_exists(&mut self, merchant_id: &str) -> Result<bool, StoreError>;

    /// A stored entry and its warnings.
    fn recorded_entry(&mut self, entry_id: &str) -> Result<RecordedEntry, StoreError>;

    /// Stores an accepted ledger event (its entry row is its change and,
    /// when its `op_id` is its `entry_id`, its op log).
    fn record_entry(
        &mut self,
        event: &LedgerEvent,
        wire: &str,
        warnings: &[Warning],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Persists a field op's writes, all or none.
    fn persist_field(&mut self, writes: &[FieldWrite]) -> Result<(), StoreError>;

    /// The position of the last stored entry (0 when none).
    fn entries_end(&mut self) -> Result<i64, StoreError>;

    /// Where both feeds end now.
    fn feeds_end(&mut self) -> Result<Cursor, StoreError>;

    /// Records which device and account sent the entries at positions
    /// `first..=last`.
    fn record_push(
        &mut self,
        device_id: &str,
        user_id: &str,
        received_at: DateTime<Utc>,
        first: i64,
        last: i64,
    ) -> Result<(), StoreError>;
}

/// Who may see which change-feed items.
#[derive(Debug, Clone)]
pub struct FeedScope {
    /// A merchant account's own merchant.
    pub merchant_id: Option<String>,
    /// An inspector: the items addressed to regions under these code
    /// prefixes.
    pub inspector_prefixes: Option<Vec<String>>,
    /// Items addressed to this account.
    pub user_id: String,
    /// A market operator: the items addressed to these markets (empty for
    /// everyone else).
    pub market_ids: Vec<String>,
}

/// The two feeds a pull pages through.
pub trait PullReads {
    /// Up to `limit` change-feed items after `seq` that `scope` sees, in
    /// order (public items included).
    fn changes_after(
        &self,
        seq: i64,
        scope: &FeedScope,
        limit: usize,
    ) -> Result<Vec<Change>, StoreError>;

    /// Up to `limit` of a merchant's ledger entries after `position`, in
    /// acceptance order (each change's `seq` is the entry's position).
    fn entries_after(
        &self,
        merchant_id: &str,
        position: i64,
        limit: usize,
    ) -> Result<Vec<Change>, StoreError>;
}
