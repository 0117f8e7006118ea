//! shian-ffi: the uniffi surface of shian-core for Kotlin (Android), Swift (iOS),
//! Python and, through uniffi-dart, Flutter.
//!
//! This crate is thin: it wraps core types for uniffi and adds no logic of its own.
//! Keep the surface inside what uniffi-dart supports: synchronous functions,
//! records, enums, error enums and objects; no `async fn`, no callback interfaces.
//! Apps call blocking functions from a background thread.
//!
//! Bindings are generated from the built library (`scripts/gen-bindings.sh`);
//! per-language names live in `bindings/uniffi.toml`.

// Namespace "shian": gives the Python module `shian`, `shian.kt` in package
// `cn.shian.core` and `shian.swift` in module `ShianCore`.
uniffi::setup_scaffolding!("shian");

mod error;
mod evidence;
mod inspection;
mod ledger;
mod market_entry;
mod market_hold;
mod market_self_check;
mod recall;
mod signed;
mod staff;
mod store;
mod trace;

pub use error::ShianError;
pub use evidence::*;
pub use inspection::*;
pub use ledger::*;
pub use market_entry::*;
pub use market_hold::*;
pub use market_self_check::*;
pub use recall::*;
pub use signed::*;
pub use staff::*;
pub use store::*;
pub use trace::*;

/// Checks a scanned or typed trace / voucher / shop code offline and returns
/// its canonical form (upper case, look-alikes folded). A mistyped code fails
/// its check character: `ShianError.Validation` with code `code_check_mismatch`
/// (or `invalid_code` for a wrong length or symbol) on field `code`.
#[uniffi::export]
pub fn verify_code(code: String) -> Result<String, ShianError> {
    Ok(shian_core::codes::parse_code(&code, "code")?)
}

/// Checks a unified social credit code (统一社会信用代码, GB 32100) and returns
/// it canonical. A check-character mismatch is refused (`uscc_check_mismatch`)
/// unless `acknowledge_mismatch` (a few lawful early codes fail the check).
#[uniffi::export]
pub fn validate_uscc(code: String, acknowledge_mismatch: bool) -> Result<String, ShianError> {
    Ok(shian_core::codes::validate_uscc(&code, "uscc", acknowledge_mismatch)?.code)
}

/// A fresh UUIDv7 for an entry or inspection made on this device (pass it as
/// `entry_id` to make a retried call idempotent).
#[uniffi::export]
pub fn new_id() -> String {
    ledger::new_id()
}

/// The version of the Shian library (the workspace version), e.g. "0.1.0".
#[uniffi::export]
pub fn core_version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}

/// Checks that a required input field is not blank (empty or whitespace only).
///
/// Raises `ShianError.Validation` with code `required` and the given field path,
/// the same shape as the server's `{"error":{"code","message","field"}}`.
#[uniffi::export]
pub fn validate_nonempty(field: String, value: String) -> Result<(), ShianError> {
    if value.trim().is_empty() {
        return Err(ShianError::Validation {
            code: "required".to_string(),
            message: format!("{field} must not be empty"),
            field: Some(field),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_is_the_crate_version() {
        assert_eq!(core_version(), env!("CARGO_PKG_VERSION"));
    }

    #[test]
    fn blank_is_a_validation_error_with_its_field() {
        assert!(validate_nonempty("product.name".into(), "鲜猪肉".into()).is_ok());
        match validate_nonempty("product.name".into(), " \t".into()) {
            Err(ShianError::Validation { code, field, .. }) => {
                assert_eq!(code, "required");
                assert_eq!(field.as_deref(), Some("product.name"));
            }
            other => panic!("expected a validation error, got {other:?}"),
        }
    }
}
