//! The server's store.
//!
//! Handlers see only the [`Store`] trait, so a PostgreSQL backend (and with it
//! Citus or YugabyteDB for a province or a country) can come later without
//! touching them. The default backend is [`SqliteStore`]: one SQLite file,
//! zero set-up, one writer thread and a small read pool.
//!
//! The trait returns boxed futures ([`StoreFuture`]) rather than using
//! `async fn`, because handlers hold it as `Arc<dyn Store>` and `async fn` in
//! traits is not object-safe.

pub mod field;
pub mod graph;
pub mod ledger;
pub mod migrate;
pub mod model;
pub mod readers;
pub mod sqlite;
mod sqlite_field;
mod sqlite_ledger;
pub mod writer;

use std::future::Future;
use std::pin::Pin;

use chrono::{DateTime, Utc};

pub use model::*;
pub use sqlite::{SqliteOptions, SqliteStore};

/// What a store call returns.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// Why a store call failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness rule: the username, shop code or licence is taken.
    #[error("{code}: {message}")]
    Conflict { code: String, message: String },
    /// A referenced row does not exist (the argument names it, in Chinese for
    /// the wire: `市场`, `商户`).
    #[error("not found: {0}")]
    NotFound(&'static str),
    /// SQLite stayed locked past the busy timeout (another process writing).
    #[error("database busy")]
    Busy,
    /// The store was closed (server shutting down) or its writer thread is gone.
    #[error("store closed")]
    Closed,
    /// A call panicked inside the writer or a reader; the connection survived.
    #[error("store task panicked: {0}")]
    Panicked(String),
    /// A migration failed or the file is newer than this binary.
    #[error("migration {component} v{version}: {message}")]
    Migration {
        component: String,
        version: i64,
        message: String,
    },
    /// An `Idempotency-Key` already used by this account for another
    /// request (another body or operation).
    #[error("idempotency key reused for another request")]
    IdempotencyKeyReused,
    /// A stored value could not be read back (a JSON column, a timestamp).
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// The in-memory ledger graph could not be made equal to the file
    /// (`graph.rs`): writes and traces are refused until a restart.
    #[error("ledger graph failed: {0}")]
    GraphFailed(String),
    #[error("sqlite: {0}")]
    Sqlite(rusqlite::Error),
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
}

impl StoreError {
    pub fn conflict(code: impl Into<String>, message: impl Into<String>) -> Self {
        StoreError::Conflict {
            code: code.into(),
            message: message.into(),
        }
    }
}

impl From<rusqlite::Error> for StoreError {
    /// Busy and locked become [`StoreError::Busy`] (a 503 with Retry-After,
    /// not a 500): with the CLI or another process writing, that is expected.
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode;
        match e.sqlite_error_code() {
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => StoreError::Busy,
            _ => StoreError::Sqlite(e),
        }
    }
}

/// The store of the server. Every method is one atomic unit: either all of
/// it is stored or none.
///
/// To add a method: declare it here, implement it in `sqlite.rs` with
/// `self.writer().call(|conn| …)` for writes or `self.readers().call(|conn| …)`
/// for reads.
pub trait Store: ledger::LedgerStore + field::FieldStore + Send + Sync + 'static {
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

/// Timestamps are stored as RFC 3339 UTC text with milliseconds, which sorts
/// as text and reads back exactly.
pub fn ts(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Reads a stored timestamp.
pub fn parse_ts(s: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(s)
        .map(|d| d.with_timezone(&Utc))
        .map_err(|e| StoreError::Corrupt(format!("timestamp '{s}': {e}")))
}
