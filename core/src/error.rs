//! Errors of the core, one enum per concern.
//!
//! Every refusal carries a machine code (snake_case, stable: apps branch on
//! it and the server puts it on the wire), a message for people (zh-CN first)
//! and, where one field is at fault, its path (`quantity.value`).

use serde::Serialize;

/// One field of an input is wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{field}: {message} ({code})")]
pub struct FieldError {
    pub field: String,
    pub code: String,
    pub message: String,
}

impl FieldError {
    pub fn new(
        field: impl Into<String>,
        code: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            field: field.into(),
            code: code.into(),
            message: message.into(),
        }
    }

    /// The same error under a parent path: `quantity` + `value` → `quantity.value`.
    pub fn under(mut self, parent: &str) -> Self {
        self.field = if self.field.is_empty() {
            parent.to_owned()
        } else {
            format!("{parent}.{}", self.field)
        };
        self
    }
}

/// Why a well-formed event cannot be recorded (it breaks a rule that makes it
/// meaningless, e.g. voiding another merchant's entry).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{code}: {message}")]
pub struct RuleError {
    pub code: String,
    pub message: String,
    pub field: Option<String>,
    /// The closest HTTP-like class: `conflict` (409), `forbidden` (403),
    /// `not_found` (404) or `unprocessable` (422).
    pub class: ErrorClass,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorClass {
    Conflict,
    Forbidden,
    NotFound,
    Unprocessable,
}

impl RuleError {
    pub fn new(class: ErrorClass, code: &str, message: impl Into<String>) -> Self {
        Self {
            code: code.to_owned(),
            message: message.into(),
            field: None,
            class,
        }
    }

    pub fn at(mut self, field: &str) -> Self {
        self.field = Some(field.to_owned());
        self
    }
}

/// The store under the ledger failed (a device's SQLite file, a server's
/// database). Named after no backend, so that [`LedgerError`] is the same
/// whatever stores the ledger; a backend maps its own errors into it.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct StorageError {
    /// Another writer held the store past its busy timeout: the same call
    /// may succeed later (the server answers 503 with `Retry-After`).
    pub busy: bool,
    /// A constraint of the store (a unique key…) refused the write.
    pub constraint: bool,
    /// The backend's own description, for logs.
    pub message: String,
    /// The backend's own error, for the backend that raised it.
    backend: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl StorageError {
    /// The SQLite error this was made from, for core's own device store
    /// (which keeps rusqlite inside).
    pub(crate) fn into_rusqlite(self) -> rusqlite::Error {
        match self.backend.map(|b| b.downcast::<rusqlite::Error>()) {
            Some(Ok(e)) => *e,
            Some(Err(other)) => rusqlite::Error::ToSqlConversionFailure(other),
            None => rusqlite::Error::ToSqlConversionFailure(self.message.into()),
        }
    }
}

/// Core's device store is SQLite: its failures, busy, constrained or not.
impl From<rusqlite::Error> for StorageError {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode;
        let code = e.sqlite_error_code();
        StorageError {
            busy: matches!(
                code,
                Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
            ),
            constraint: matches!(
                &e,
                rusqlite::Error::SqliteFailure(f, _) if f.code == ErrorCode::ConstraintViolation
            ),
            message: e.to_string(),
            backend: Some(Box::new(e)),
        }
    }
}

/// Everything that can refuse a ledger event.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error(transparent)]
    Invalid(#[from] FieldError),
    #[error(transparent)]
    Rule(#[from] RuleError),
    #[error("storage: {0}")]
    Storage(#[from] StorageError),
}

/// The device store's SQL reads and writes inside the rules (`?`).
impl From<rusqlite::Error> for LedgerError {
    fn from(e: rusqlite::Error) -> Self {
        LedgerError::Storage(e.into())
    }
}

impl LedgerError {
    /// The machine code of the refusal.
    pub fn code(&self) -> &str {
        match self {
            LedgerError::Invalid(e) => &e.code,
            LedgerError::Rule(e) => &e.code,
            LedgerError::Storage(_) => "storage_error",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What core's device store needs back from a neutral storage error: a
    /// constraint is told apart (a pulled change refused as
    /// `local_constraint`), its SQLite message kept, and any other failure
    /// handed back as the SQLite error it was.
    #[test]
    fn a_sqlite_failure_keeps_its_kind_and_itself() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (k TEXT PRIMARY KEY); INSERT INTO t VALUES ('a');")
            .unwrap();
        let e = conn.execute("INSERT INTO t VALUES ('a')", []).unwrap_err();
        let text = e.to_string();
        let s = StorageError::from(e);
        assert!(s.constraint && !s.busy);
        assert_eq!(s.message, text);
        let back = s.into_rusqlite();
        assert_eq!(
            back.sqlite_error_code(),
            Some(rusqlite::ErrorCode::ConstraintViolation)
        );
        let e = conn.execute("SELECT * FROM nowhere", []).unwrap_err();
        let text = e.to_string();
        let other = StorageError::from(e);
        assert!(!other.constraint && !other.busy);
        assert_eq!(
            LedgerError::Storage(other).to_string(),
            format!("storage: {text}")
        );
    }
}
