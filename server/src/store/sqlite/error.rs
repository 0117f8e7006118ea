//! SQLite's errors mapped onto the store's backend-neutral ones.

use rusqlite::ErrorCode;

use crate::store::ledger::PullError;
use crate::store::StoreError;

impl From<rusqlite::Error> for StoreError {
    /// Busy and locked become [`StoreError::Busy`] (a 503 with Retry-After,
    /// not a 500): with the CLI or another process writing, that is expected.
    fn from(e: rusqlite::Error) -> Self {
        match e.sqlite_error_code() {
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => StoreError::Busy,
            _ => StoreError::Backend(format!("sqlite: {e}")),
        }
    }
}

impl From<rusqlite::Error> for PullError {
    fn from(e: rusqlite::Error) -> Self {
        PullError::Store(e.into())
    }
}
