//! How SQLite stores a time.

use chrono::{DateTime, Utc};

use crate::store::StoreError;

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
