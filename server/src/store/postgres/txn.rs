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

use postgres::Transaction;

use crate::store::StoreError;

/// One push's transaction.
pub struct PgTxn<'a, 'b> {
    tx: RefCell<&'a mut Transaction<'b>>,
}

impl<'a, 'b> PgTxn<'a, 'b> {
    pub fn new(tx: &'a mut Transaction<'b>) -> Self {
        PgTxn {
            tx: RefCell::new(tx),
        }
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
