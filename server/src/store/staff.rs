//! A merchant's food-handling staff and their health certificates in the
//! store (issue 14 item 5). The rules (what a worker record holds, when a
//! certificate is valid, what raises a warning) are core's
//! `shian_core::staff` and `shian_core::warnings::staff`; this layer keeps
//! the register and every change made to it.
//!
//! The register holds each worker's current record; every accepted upsert
//! and removal is also kept as a row of its log (who, when, what), so the
//! register's history is never lost. Each write publishes the merchant's
//! whole roster (`staff.roster`) to its devices, its district's inspectors
//! and its market's operators, and raises the merchant's health-certificate
//! warnings, in the same transaction.

use chrono::{DateTime, Utc};
use shian_core::staff::{Removal, Worker};

use super::{StoreError, StoreFuture};

/// A worker as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredWorker {
    pub worker: Worker,
    /// When this version was recorded, and by which account.
    pub recorded_at: DateTime<Utc>,
    pub recorded_by: String,
}

/// A worker with its merchant's name and stall (the market's lists).
#[derive(Debug, Clone, PartialEq)]
pub struct MarketWorker {
    pub stored: StoredWorker,
    pub merchant_name: String,
    pub stall: Option<String>,
}

/// What an upsert did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upserted {
    Created,
    Changed,
    /// The same record was stored already (a retry): nothing written.
    Unchanged,
    /// The staff id is another merchant's worker: nothing written.
    IdTaken,
}

/// The staff writes inside the sync push transaction (the merchant's
/// `staff.upsert` / `staff.remove` ops).
pub trait StaffTx {
    /// Stores the worker (new or changed), logs it, publishes the roster
    /// and raises the merchant's warnings; [`Upserted::IdTaken`] when the
    /// id is another merchant's worker.
    fn upsert_worker_in(
        &mut self,
        w: &Worker,
        user_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Upserted, StoreError>;

    /// Removes the worker if the merchant has it (`false`: nothing to
    /// remove, nothing written), logs it, publishes and raises likewise.
    fn remove_worker_in(
        &mut self,
        r: &Removal,
        user_id: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
}

pub trait StaffStore {
    /// [`StaffTx::upsert_worker_in`] in a transaction of its own;
    /// `NotFound("商户")` for an unknown merchant.
    fn upsert_worker(
        &self,
        w: Worker,
        user_id: String,
        now: DateTime<Utc>,
    ) -> StoreFuture<'_, Upserted>;

    /// [`StaffTx::remove_worker_in`] in a transaction of its own.
    fn remove_worker(
        &self,
        r: Removal,
        user_id: String,
        now: DateTime<Utc>,
    ) -> StoreFuture<'_, bool>;

    /// A merchant's workers, by name.
    fn staff_of(&self, merchant_id: String) -> StoreFuture<'_, Vec<StoredWorker>>;

    /// Every worker of a market's merchants, by merchant then name.
    fn staff_of_market(&self, market_id: String) -> StoreFuture<'_, Vec<MarketWorker>>;

    /// The periodic check: the health-certificate warnings of every
    /// merchant as of `now` (a certificate expires at midnight, with no
    /// write to notice it), raised in one transaction; returns how many
    /// were new.
    fn check_staff(&self, now: DateTime<Utc>) -> StoreFuture<'_, u64>;
}
