//! [`PgTxn`]: the push transaction on PostgreSQL, as the sync service and
//! the ops' rules see it (`crate::store::sync::PushTx` and its sub-traits
//! `FieldReads`, `FeedbackTx`, `RecallTx`, `StaffTx`, `EntryCheckTx`,
//! `HoldsTx`, `SelfCheckTx`, each implemented in its module's file).
//!
//! Those traits read through `&self` (SQLite's connection reads through a
//! shared reference); PostgreSQL's transaction needs `&mut`, so the
//! transaction sits in a `RefCell`. A push runs on one blocking thread and
//! no call re-enters another, so a borrow never overlaps another.

use std::cell::RefCell;
use std::collections::BTreeSet;

use postgres::Transaction;

use crate::store::StoreError;

/// One push's transaction.
pub struct PgTxn<'a, 'b> {
    tx: RefCell<&'a mut Transaction<'b>>,
    /// The district whose ledger feed this push writes (the caller's
    /// merchant's), with its sequencer row locked, and the head as it
    /// stands with this push's entries (see `sync.rs`).
    pub(super) feed: RefCell<Option<FeedHead>>,
    /// The district the push's other ops are logged under (`ops`).
    pub(super) log_district: String,
    /// The merchants whose facts for the alerts (entries and their
    /// warnings, samples, complaint decisions) this push wrote: `sync.rs`
    /// marks them all for the incremental pass before the commit, as
    /// SQLite marks from its rowid ranges. In id order, so two pushes lock
    /// their `alert_marks` rows in the same order.
    touched: RefCell<BTreeSet<String>>,
}

/// A district's ledger feed as a push holds it.
#[derive(Debug, Clone)]
pub struct FeedHead {
    pub district: String,
    /// The head when the push took the row.
    pub taken: i64,
    /// The head with the push's own entries.
    pub head: i64,
}

impl<'a, 'b> PgTxn<'a, 'b> {
    /// A transaction that writes no ledger entries (tests of the ops'
    /// reads and writes); a push sets its feed with [`PgTxn::for_push`].
    pub fn new(tx: &'a mut Transaction<'b>) -> Self {
        Self::for_push(tx, None, String::from("000000"))
    }

    pub(super) fn for_push(
        tx: &'a mut Transaction<'b>,
        feed: Option<FeedHead>,
        log_district: String,
    ) -> Self {
        PgTxn {
            tx: RefCell::new(tx),
            feed: RefCell::new(feed),
            log_district,
            touched: RefCell::default(),
        }
    }

    /// Notes that the push wrote facts of `merchant_id` the alerts read
    /// (after the write succeeded: a savepoint rolled back wrote nothing).
    pub(super) fn touch(&self, merchant_id: &str) {
        self.touched.borrow_mut().insert(merchant_id.to_owned());
    }

    /// The ledger feed as the push left it, and the merchants it touched
    /// (see [`PgTxn::touch`]).
    pub(super) fn finish(self) -> (Option<FeedHead>, BTreeSet<String>) {
        (self.feed.into_inner(), self.touched.into_inner())
    }

    /// Runs `f` on the transaction: `txn.with(|tx| tx.query(…))`.
    pub fn with<R>(
        &self,
        f: impl FnOnce(&mut Transaction<'b>) -> Result<R, postgres::Error>,
    ) -> Result<R, StoreError> {
        let mut tx = self.tx.borrow_mut();
        Ok(f(&mut tx)?)
    }

    /// As [`PgTxn::with`], for a closure with its own errors.
    pub fn try_with<R>(
        &self,
        f: impl FnOnce(&mut Transaction<'b>) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        let mut tx = self.tx.borrow_mut();
        f(&mut tx)
    }
}
