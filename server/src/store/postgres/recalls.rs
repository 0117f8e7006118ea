//! Recalls on PostgreSQL (to be ported from `sqlite/recalls.rs`). Not yet
//! ported: every method answers `Backend("not yet on PostgreSQL: …")`, so
//! the store compiles and a caller gets a plain error, never a wrong answer.

use chrono::{DateTime, Utc};
use shian_core::recall::Confirmation;

use super::store::PgStore;
use super::txn::PgTxn;
use crate::store::recalls::{
    Confirmed, HolderForOp, NewRecall, PublicRecall, RecallFilter, RecallStore, RecallSummary,
    RecallTx, StoredProposal, StoredRecall,
};
use crate::store::{Page, StoreError, StoreFuture};

/// The error of a method not yet ported.
fn not_yet(name: &str) -> StoreError {
    StoreError::Backend(format!("not yet on PostgreSQL: {name}"))
}

/// A future that fails with [`not_yet`].
fn pending<'a, T: Send + 'a>(name: &'static str) -> StoreFuture<'a, T> {
    Box::pin(async move { Err(not_yet(name)) })
}

impl RecallTx for PgTxn<'_, '_> {
    fn recall_holder(
        &self,
        _recall_id: &str,
        _merchant_id: &str,
        _trace_code: &str,
    ) -> Result<Option<HolderForOp>, StoreError> {
        Err(not_yet("recall_holder"))
    }

    fn persist_confirmation(
        &mut self,
        _c: &Confirmation,
        _now: DateTime<Utc>,
    ) -> Result<Confirmed, StoreError> {
        Err(not_yet("persist_confirmation"))
    }
}

impl RecallStore for PgStore {
    fn create_recall(&self, _recall: NewRecall) -> StoreFuture<'_, ()> {
        pending("create_recall")
    }

    fn recall(&self, _id: String) -> StoreFuture<'_, Option<StoredRecall>> {
        pending("recall")
    }

    fn list_recalls(&self, _filter: RecallFilter) -> StoreFuture<'_, Page<RecallSummary>> {
        pending("list_recalls")
    }

    fn recall_proposal(&self, _id: String) -> StoreFuture<'_, Option<StoredProposal>> {
        pending("recall_proposal")
    }

    fn list_recall_proposals(
        &self,
        _open_only: bool,
        _limit: u32,
    ) -> StoreFuture<'_, Vec<StoredProposal>> {
        pending("list_recall_proposals")
    }

    fn remind_overdue(&self, _now: DateTime<Utc>) -> StoreFuture<'_, u64> {
        pending("remind_overdue")
    }

    fn active_recalls_of_shop(&self, _shop_code: String) -> StoreFuture<'_, Vec<PublicRecall>> {
        pending("active_recalls_of_shop")
    }

    fn active_recalls_of_code(&self, _trace_code: String) -> StoreFuture<'_, Vec<PublicRecall>> {
        pending("active_recalls_of_code")
    }
}
