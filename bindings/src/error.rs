//! The one error type of the binding surface, and how core's errors map onto it.
//!
//! Apps branch on the variant (a Kotlin `sealed class ShianException`, a Swift
//! `enum ShianError: Error`, Python exception classes `ShianError.Validation` etc.).
//! `code` values are the same snake_case codes the HTTP API uses.
//!
//! Kotlin note: `Throwable.message` clashes with a field called `message`, so
//! `bindings/uniffi.toml` renames that field to `detail` in Kotlin only
//! (uniffi-rs issues #1434, #2065). Swift and Python keep `message`.

use shian_core::error::{ErrorClass, FieldError, LedgerError, RuleError};
use shian_core::inspection::InspectionError;
use shian_core::store::StoreError;
use shian_core::sync::SyncError;
use shian_core::trace::TraceError;

/// An error raised by a Shian call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
pub enum ShianError {
    /// Bad input: `field` is the path of the offending input (e.g. `quantity.value`) if known.
    /// Also a well-formed input that breaks a rule (`unprocessable`, HTTP 400/422).
    #[error("{message}")]
    Validation {
        code: String,
        field: Option<String>,
        message: String,
    },
    /// No or invalid credentials (login failed, token refused by the server).
    #[error("{message}")]
    Auth { message: String },
    /// The input is well formed but not this merchant's to touch (another
    /// merchant's batch or entry, a voucher issued to someone else).
    #[error("{message}")]
    Forbidden { code: String, message: String },
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
    NotFound { code: String, message: String },
}

impl ShianError {
    pub(crate) fn storage(e: impl std::fmt::Display) -> Self {
        ShianError::Storage {
            message: e.to_string(),
        }
    }

    pub(crate) fn invalid(field: &str, code: &str, message: impl Into<String>) -> Self {
        ShianError::Validation {
            code: code.to_owned(),
            field: Some(field.to_owned()),
            message: message.into(),
        }
    }
}

impl From<FieldError> for ShianError {
    fn from(e: FieldError) -> Self {
        ShianError::Validation {
            code: e.code,
            field: (!e.field.is_empty()).then_some(e.field),
            message: e.message,
        }
    }
}

impl From<RuleError> for ShianError {
    fn from(e: RuleError) -> Self {
        match e.class {
            ErrorClass::Conflict => ShianError::Conflict {
                code: e.code,
                message: e.message,
            },
            ErrorClass::Forbidden => ShianError::Forbidden {
                code: e.code,
                message: e.message,
            },
            ErrorClass::NotFound => ShianError::NotFound {
                code: e.code,
                message: e.message,
            },
            ErrorClass::Unprocessable => ShianError::Validation {
                code: e.code,
                field: e.field,
                message: e.message,
            },
        }
    }
}

impl From<LedgerError> for ShianError {
    fn from(e: LedgerError) -> Self {
        match e {
            LedgerError::Invalid(f) => f.into(),
            LedgerError::Rule(r) => r.into(),
            LedgerError::Storage(s) => ShianError::storage(s),
        }
    }
}

impl From<StoreError> for ShianError {
    fn from(e: StoreError) -> Self {
        ShianError::storage(e)
    }
}

impl From<rusqlite::Error> for ShianError {
    fn from(e: rusqlite::Error) -> Self {
        ShianError::storage(e)
    }
}

impl From<SyncError> for ShianError {
    fn from(e: SyncError) -> Self {
        let message = e.to_string();
        match e {
            SyncError::Network(_) | SyncError::RateLimited { .. } | SyncError::Protocol(_) => {
                ShianError::Network { message }
            }
            SyncError::Auth(_) => ShianError::Auth { message },
            SyncError::Server {
                status,
                code,
                message,
            } => match status {
                404 => ShianError::NotFound { code, message },
                409 => ShianError::Conflict { code, message },
                400..=499 => ShianError::Validation {
                    code,
                    field: None,
                    message,
                },
                // 5xx: the server's trouble; the same sync may succeed later.
                _ => ShianError::Network {
                    message: format!("服务器错误 ({status}): {code} {message}"),
                },
            },
            SyncError::Storage(_) | SyncError::Poisoned => ShianError::Storage { message },
        }
    }
}

impl From<InspectionError> for ShianError {
    fn from(e: InspectionError) -> Self {
        ShianError::Validation {
            code: e.code().to_owned(),
            field: e.field().map(str::to_owned),
            message: e.to_string(),
        }
    }
}

impl From<TraceError> for ShianError {
    fn from(e: TraceError) -> Self {
        let message = e.to_string();
        match e {
            TraceError::NotFound { .. } => ShianError::NotFound {
                code: "no_such_batch".into(),
                message,
            },
            TraceError::InvalidCode { .. } => ShianError::Validation {
                code: "invalid_code".into(),
                field: Some("trace_code".into()),
                message,
            },
            TraceError::Storage(_) => ShianError::Storage { message },
        }
    }
}

impl From<serde_json::Error> for ShianError {
    fn from(e: serde_json::Error) -> Self {
        ShianError::Validation {
            code: "invalid_json".into(),
            field: None,
            message: format!("JSON 格式错误: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_classes_map_to_variants() {
        let r =
            |class| ShianError::from(LedgerError::Rule(RuleError::new(class, "c", "m").at("f")));
        assert!(matches!(
            r(ErrorClass::Conflict),
            ShianError::Conflict { .. }
        ));
        assert!(matches!(
            r(ErrorClass::Forbidden),
            ShianError::Forbidden { .. }
        ));
        assert!(matches!(
            r(ErrorClass::NotFound),
            ShianError::NotFound { .. }
        ));
        match r(ErrorClass::Unprocessable) {
            ShianError::Validation { code, field, .. } => {
                assert_eq!((code.as_str(), field.as_deref()), ("c", Some("f")))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn field_errors_keep_their_path() {
        let e = ShianError::from(LedgerError::Invalid(FieldError::new(
            "quantity.value",
            "zero_quantity",
            "zero",
        )));
        assert_eq!(
            e,
            ShianError::Validation {
                code: "zero_quantity".into(),
                field: Some("quantity.value".into()),
                message: "zero".into()
            }
        );
    }

    #[test]
    fn sync_errors_map_by_status() {
        let s = |status| {
            ShianError::from(SyncError::Server {
                status,
                code: "x".into(),
                message: "m".into(),
            })
        };
        assert!(matches!(s(409), ShianError::Conflict { .. }));
        assert!(matches!(s(404), ShianError::NotFound { .. }));
        assert!(matches!(s(422), ShianError::Validation { .. }));
        assert!(matches!(s(503), ShianError::Network { .. }));
        assert!(matches!(
            ShianError::from(SyncError::Auth("a".into())),
            ShianError::Auth { .. }
        ));
        assert!(matches!(
            ShianError::from(SyncError::Network("n".into())),
            ShianError::Network { .. }
        ));
    }
}
