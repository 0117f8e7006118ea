//! Why a store call failed, in terms of no backend: each backend maps its
//! own errors onto these (SQLite's in `sqlite/error.rs`), so handlers and
//! services answer the same whatever stores the data.

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
    /// The database stayed locked past its busy timeout (another process
    /// writing): a 503 with `Retry-After`, not a 500.
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
    /// The in-memory ledger graph could not be made equal to the stored
    /// ledger (`graph.rs`): writes and traces are refused until a restart.
    #[error("ledger graph failed: {0}")]
    GraphFailed(String),
    /// The read model did not catch up with the store within the wait
    /// (`store::graph::within`); it goes on catching up, retry.
    #[error("read model still catching up after {waited:?}")]
    CatchingUp { waited: std::time::Duration },
    /// Any other failure of the backend (a full disk, an unexpected
    /// constraint, a failed statement): a 500, with the backend's own words
    /// in the log.
    #[error("{0}")]
    Backend(String),
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

/// A failure of core's storage (from the ledger rules): busy stays busy.
impl From<shian_core::error::StorageError> for StoreError {
    fn from(e: shian_core::error::StorageError) -> Self {
        if e.busy {
            StoreError::Busy
        } else {
            StoreError::Backend(format!("storage: {}", e.message))
        }
    }
}

/// The message of a caught panic.
pub(crate) fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_owned()
    } else {
        "unknown panic".to_owned()
    }
}
