//! The server's store.
//!
//! Handlers see only the [`Store`] trait, so a PostgreSQL backend (and with it
//! Citus or YugabyteDB for a province or a country) can come later without
//! touching them. The default backend is [`sqlite::SqliteStore`]: one SQLite file,
//! zero set-up, one writer thread and a small read pool.
//!
//! The trait returns boxed futures ([`StoreFuture`]) rather than using
//! `async fn`, because handlers hold it as `Arc<dyn Store>` and `async fn` in
//! traits is not object-safe.

pub mod alerts;
pub mod console;
pub mod entry_checks;
mod error;
pub mod feedback;
pub mod field;
pub mod graph;
pub mod holds;
pub mod ledger;
pub mod local_time;
pub mod migrations;
pub mod model;
pub mod postgres;
pub(crate) mod price_windows;
pub mod public;
pub mod recalls;
pub mod reports;
pub mod search;
pub mod self_checks;
pub mod signing;
pub mod sqlite;
pub mod staff;
pub mod sync;
pub mod vault;

use std::future::Future;
use std::pin::Pin;

use chrono::{DateTime, Utc};

pub use error::StoreError;
pub use model::*;

/// What a store call returns.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// The store of the server. Every method is one atomic unit: either all of
/// it is stored or none.
///
/// To add a method: declare it here, implement it in `sqlite.rs` with
/// `self.writer().call(|conn| …)` for writes or `self.readers().call(|conn| …)`
/// for reads.
pub trait Store:
    ledger::LedgerStore
    + field::FieldStore
    + public::PublicStore
    + feedback::FeedbackStore
    + reports::ReportStore
    + recalls::RecallStore
    + staff::StaffStore
    + entry_checks::EntryCheckStore
    + self_checks::SelfCheckStore
    + signing::SigningStore
    + console::ConsoleStore
    + alerts::AlertStore
    + holds::HoldStore
    + Send
    + Sync
    + 'static
{
    /// `"sqlite"`, later `"postgres"`.
    fn backend(&self) -> &'static str;

    /// Checks that reads and writes both answer and the ledger state is
    /// sound (for `/healthz`); returns the alerts an operator should see.
    fn health(&self) -> StoreFuture<'_, Vec<String>>;

    /// Finishes queued writes and stops accepting new ones (graceful shutdown).
    fn close(&self) -> StoreFuture<'_, ()>;

    // --- accounts -------------------------------------------------------

    /// Creates an account; `Conflict("username_taken")` if the name exists
    /// (case-insensitively).
    fn create_user(&self, user: NewUser) -> StoreFuture<'_, User>;

    fn user(&self, id: String) -> StoreFuture<'_, Option<User>>;

    /// The account and its password hash and lock state, by username.
    fn user_credentials(&self, username: String) -> StoreFuture<'_, Option<UserCredentials>>;

    /// Counts a login attempt before its password is checked, in one
    /// transaction: `Locked` while a lock lasts (check nothing); otherwise
    /// the attempt counts as a failure until [`Store::record_login_success`]
    /// clears it, and the `max_failures`-th attempt since the last success
    /// locks the account until `now + lock_for`. So however many guesses
    /// arrive at once, at most `max_failures` are checked. An expired lock
    /// starts a new count.
    fn begin_login_attempt(
        &self,
        user_id: String,
        now: DateTime<Utc>,
        max_failures: u32,
        lock_for: chrono::Duration,
    ) -> StoreFuture<'_, LoginAttempt>;

    /// Clears the failure count and any lock after a right password.
    fn record_login_success(&self, user_id: String) -> StoreFuture<'_, ()>;

    // --- devices --------------------------------------------------------

    fn create_device(&self, device: Device) -> StoreFuture<'_, Device>;

    fn device(&self, id: String) -> StoreFuture<'_, Option<Device>>;

    /// Marks a device as seen now (sync calls this).
    fn touch_device(&self, id: String, at: DateTime<Utc>) -> StoreFuture<'_, ()>;

    // --- registry -------------------------------------------------------

    fn create_market(&self, market: Market) -> StoreFuture<'_, Market>;

    /// [`Store::create_market`] under an idempotency key: the market and the
    /// key's stored response are one transaction; a key already used for
    /// the same request answers `Replayed`, for another request
    /// [`StoreError::IdempotencyKeyReused`].
    fn create_market_idempotent(
        &self,
        market: Market,
        key: IdempotencyKey,
    ) -> StoreFuture<'_, Created<Market>>;

    fn market(&self, id: String) -> StoreFuture<'_, Option<Market>>;

    fn list_markets(&self, limit: u32, offset: u32) -> StoreFuture<'_, Page<Market>>;

    /// Stores a merchant made by the caller (id and shop code included),
    /// with its sync feed rows and directory entry, in one transaction;
    /// `Conflict` on a taken licence number, shop code or id,
    /// `NotFound("市场")` on an unknown market.
    fn create_merchant(&self, merchant: Merchant) -> StoreFuture<'_, Merchant>;

    /// [`Store::create_merchant`] under an idempotency key, as
    /// [`Store::create_market_idempotent`].
    fn create_merchant_idempotent(
        &self,
        merchant: Merchant,
        key: IdempotencyKey,
    ) -> StoreFuture<'_, Created<Merchant>>;

    fn merchant(&self, id: String) -> StoreFuture<'_, Option<Merchant>>;

    fn merchant_by_shop_code(&self, shop_code: String) -> StoreFuture<'_, Option<Merchant>>;

    fn list_merchants(&self, filter: MerchantFilter) -> StoreFuture<'_, Page<Merchant>>;

    /// Which of these licence numbers are already registered.
    fn existing_licences(&self, licences: Vec<String>) -> StoreFuture<'_, Vec<String>>;

    /// Stores all merchants in one transaction, or none of them.
    fn import_merchants(&self, merchants: Vec<Merchant>) -> StoreFuture<'_, usize>;
}

/// The current time at the precision stored (milliseconds), so a record
/// answered on creation equals the same record read back later.
pub fn now() -> DateTime<Utc> {
    let t = Utc::now();
    DateTime::from_timestamp_millis(t.timestamp_millis()).unwrap_or(t)
}
