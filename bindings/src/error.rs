//! The one error type of the binding surface.
//!
//! Apps branch on the variant (a Kotlin `sealed class ShianException`, a Swift
//! `enum ShianError: Error`, Python exception classes `ShianError.Validation` etc.).
//! `code` values are the same snake_case codes the HTTP API uses.
//!
//! Kotlin note: `Throwable.message` clashes with a field called `message`, so
//! `bindings/uniffi.toml` renames that field to `detail` in Kotlin only
//! (uniffi-rs issues #1434, #2065). Swift and Python keep `message`.

/// An error raised by a Shian call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
pub enum ShianError {
    /// Bad input: `field` is the path of the offending input (e.g. `quantity.value`) if known.
    #[error("{message}")]
    Validation {
        code: String,
        field: Option<String>,
        message: String,
    },
    /// No or invalid credentials, wrong role or scope.
    #[error("{message}")]
    Auth { message: String },
    /// The server could not be reached or answered badly; retrying later is safe.
    #[error("{message}")]
    Network { message: String },
    /// The operation conflicts with recorded state (duplicate, already voided, ...).
    #[error("{message}")]
    Conflict { code: String, message: String },
    /// The local store failed (disk full, corrupt file, migration).
    #[error("{message}")]
    Storage { message: String },
    /// The requested record does not exist (locally or on the server).
    #[error("{message}")]
    NotFound { message: String },
}
