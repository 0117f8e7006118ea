//! The ledger side of the store: sync, traces and what the public pages and
//! the console read. A separate trait from [`super::Store`]'s registry and
//! accounts so each backend file stays small; `Store` requires it.

use shian_core::sync::protocol::{Op, OpResult, PullResponse};

use super::{StoreError, StoreFuture};
use crate::sync::{Caller, PullError};

pub trait LedgerStore {
    /// Registers `device_id` under `user_id` on first use; `Conflict` when
    /// the id belongs to another user. Marks the device as seen.
    fn claim_device(&self, device_id: String, user_id: String) -> StoreFuture<'_, ()>;

    /// Applies a push in one transaction (see `sync::sql::push`).
    fn sync_push(&self, caller: Caller, device_id: String, ops: Vec<Op>) -> StoreFuture<'_, (Vec<OpResult>, String)>;

    /// One page of the caller's changes after `cursor`.
    fn sync_pull(&self, caller: Caller, cursor: String, limit: u32) -> StoreFuture<'_, Result<PullResponse, PullError>>;
}

/// Maps a pull's storage failure to a store error and keeps a bad cursor as
/// the caller's error.
pub(crate) fn split_pull(r: Result<PullResponse, PullError>) -> Result<Result<PullResponse, PullError>, StoreError> {
    match r {
        Err(PullError::Sqlite(e)) => Err(e.into()),
        other => Ok(other),
    }
}
