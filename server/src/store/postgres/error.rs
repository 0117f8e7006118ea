//! PostgreSQL's errors, sorted into what a caller does about them, and
//! mapped onto the store's backend-neutral [`StoreError`].
//!
//! The backend's own code matches [`PgError`] (a unique violation on
//! `entries_pkey` is a duplicate op, not a failure); what reaches a handler
//! unmatched becomes a [`StoreError`] with the same distinctions: a
//! constraint violation is a [`StoreError::Conflict`] whose code says which
//! kind (`unique_violation`, `foreign_key_violation`) and whose message
//! names the constraint; a lost connection, a server going down, a full
//! pool, a serialization failure or a deadlock are [`StoreError::Busy`] —
//! the store's retryable error (503 with `Retry-After`): the same request
//! again, to this instance or another, may well succeed.

use postgres::error::SqlState;

use crate::store::StoreError;

/// Why a PostgreSQL call failed.
#[derive(Debug, thiserror::Error)]
pub enum PgError {
    /// SQLSTATE 23505: a primary key or unique index refused the row.
    #[error("unique violation of {constraint}: {message}")]
    Unique { constraint: String, message: String },
    /// SQLSTATE 23503: a foreign key refused the row.
    #[error("foreign key violation of {constraint}: {message}")]
    ForeignKey { constraint: String, message: String },
    /// The transaction lost a race (40001 serialization failure, 40P01
    /// deadlock): run it again.
    #[error("transaction must be retried: {0}")]
    Retry(String),
    /// The database cannot be reached or went away (connection refused or
    /// closed, class 08, admin shutdown, crash recovery, no pooled
    /// connection in time): retry later, perhaps elsewhere.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// The URL is not a `postgres://` URL PostgreSQL's client accepts.
    #[error("bad database URL: {0}")]
    Url(String),
    /// Anything else: a bad statement, a check constraint, a type mismatch.
    #[error("postgres: {0}")]
    Other(String),
}

impl PgError {
    /// Whether the same call may succeed when simply tried again.
    pub fn is_retryable(&self) -> bool {
        matches!(self, PgError::Retry(_) | PgError::Unavailable(_))
    }
}

impl From<postgres::Error> for PgError {
    fn from(e: postgres::Error) -> Self {
        if let Some(db) = e.as_db_error() {
            let constraint = db.constraint().unwrap_or("").to_owned();
            let message = db.message().to_owned();
            let code = db.code();
            return if *code == SqlState::UNIQUE_VIOLATION {
                PgError::Unique {
                    constraint,
                    message,
                }
            } else if *code == SqlState::FOREIGN_KEY_VIOLATION {
                PgError::ForeignKey {
                    constraint,
                    message,
                }
            } else if *code == SqlState::T_R_SERIALIZATION_FAILURE
                || *code == SqlState::T_R_DEADLOCK_DETECTED
            {
                PgError::Retry(message)
            } else if code.code().starts_with("08")
                || *code == SqlState::ADMIN_SHUTDOWN
                || *code == SqlState::CRASH_SHUTDOWN
                || *code == SqlState::CANNOT_CONNECT_NOW
                || *code == SqlState::TOO_MANY_CONNECTIONS
            {
                PgError::Unavailable(message)
            } else {
                PgError::Other(e.to_string())
            };
        }
        // No server answer: the socket is gone, or never connected.
        let io = std::error::Error::source(&e).is_some_and(|s| s.is::<std::io::Error>());
        if e.is_closed() || io {
            PgError::Unavailable(e.to_string())
        } else {
            PgError::Other(e.to_string())
        }
    }
}

/// No connection within the pool's timeout.
impl From<r2d2::Error> for PgError {
    fn from(e: r2d2::Error) -> Self {
        PgError::Unavailable(format!("pool: {e}"))
    }
}

impl From<PgError> for StoreError {
    fn from(e: PgError) -> Self {
        match e {
            PgError::Unique {
                constraint,
                message,
            } => StoreError::conflict("unique_violation", format!("{constraint}: {message}")),
            PgError::ForeignKey {
                constraint,
                message,
            } => StoreError::conflict("foreign_key_violation", format!("{constraint}: {message}")),
            PgError::Retry(m) | PgError::Unavailable(m) => {
                tracing::warn!(error = %m, "postgres: retryable failure");
                StoreError::Busy
            }
            PgError::Url(m) => StoreError::Backend(format!("bad database URL: {m}")),
            PgError::Other(m) => StoreError::Backend(format!("postgres: {m}")),
        }
    }
}

impl From<postgres::Error> for StoreError {
    fn from(e: postgres::Error) -> Self {
        PgError::from(e).into()
    }
}
