//! [`PgTxn`]: the push transaction on PostgreSQL, as the sync service and
//! the ops' rules see it (`crate::store::sync::PushTx` and its sub-traits
//! `FieldReads`, `FeedbackTx`, `RecallTx`, `StaffTx`, `EntryCheckTx`,
//! `HoldsTx`, `SelfCheckTx`, each implemented in its module's file).
//!
//! Those traits read through `&self` (SQLite's connection reads through a
//! shared reference); PostgreSQL's transaction needs `&mut`, so the
//! transaction sits in a `RefCell`. A push runs on one blocking thread and
//! no call re-enters another, so a borrow never overlaps another.
//!
//! The push's ledger rows wait in [`EntryRows`] and are written together
//! (`entry_rows.rs`): [`PgTxn::with`] and [`PgTxn::try_with`] write them
//! before anything else runs, [`PgTxn::read`] is for the per-event reads
//! of tables they never touch, and [`PgTxn::finish`] writes the rest.

use std::cell::RefCell;
use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use postgres::Transaction;
use shian_core::event::LedgerEvent;
use shian_core::ledger::Warning;

use super::entry_rows::EntryRows;
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
    /// Accepted events' rows not yet written.
    rows: RefCell<EntryRows>,
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
            rows: RefCell::default(),
        }
    }

    /// Notes that the push wrote facts of `merchant_id` the alerts read
    /// (after the write succeeded: a savepoint rolled back wrote nothing).
    pub(super) fn touch(&self, merchant_id: &str) {
        self.touched.borrow_mut().insert(merchant_id.to_owned());
    }

    /// Writes the rows still kept; then the ledger feed as the push left
    /// it, and the merchants it touched (see [`PgTxn::touch`]).
    pub(super) fn finish(self) -> Result<(Option<FeedHead>, BTreeSet<String>), StoreError> {
        self.rows.borrow_mut().flush(&mut self.tx.borrow_mut())?;
        Ok((self.feed.into_inner(), self.touched.into_inner()))
    }

    /// Keeps an accepted event's rows at the feed's next position (a void
    /// is written at once: see `entry_rows.rs`).
    pub(super) fn record(
        &self,
        feed: &mut FeedHead,
        event: &LedgerEvent,
        wire: &str,
        warnings: &[Warning],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.tx.borrow_mut();
        self.rows
            .borrow_mut()
            .record(&mut tx, feed, event, wire, warnings, now)
    }

    /// Runs `f` on the transaction, the kept rows written first:
    /// `txn.with(|tx| tx.query(…))`.
    pub fn with<R>(
        &self,
        f: impl FnOnce(&mut Transaction<'b>) -> Result<R, postgres::Error>,
    ) -> Result<R, StoreError> {
        self.try_with(|tx| Ok(f(tx)?))
    }

    /// As [`PgTxn::with`], for a closure with its own errors.
    pub fn try_with<R>(
        &self,
        f: impl FnOnce(&mut Transaction<'b>) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        let mut tx = self.tx.borrow_mut();
        self.rows.borrow_mut().flush(&mut tx)?;
        f(&mut tx)
    }

    /// Runs `f` without writing the kept rows first: only for reads of
    /// tables those rows never touch (`entries`, `warnings`, `codes` are
    /// theirs), which a push makes for each event (the merchant's market,
    /// its unlinked entry checks, a batch's hold).
    pub fn read<R>(
        &self,
        f: impl FnOnce(&mut Transaction<'b>) -> Result<R, postgres::Error>,
    ) -> Result<R, StoreError> {
        let mut tx = self.tx.borrow_mut();
        Ok(f(&mut tx)?)
    }
}
