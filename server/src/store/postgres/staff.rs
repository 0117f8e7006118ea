//! (Placeholder until the market operations port ports this module from `sqlite/`: the
//! functions other modules call, with their final signatures.)

use chrono::{DateTime, Utc};
use postgres::GenericClient;
use shian_core::warnings::Candidate;

use crate::store::StoreError;

/// This module's alert candidates for the warnings pass.
pub(super) fn alert_candidates(
    _c: &mut impl GenericClient,
    _now: DateTime<Utc>,
) -> Result<Vec<Candidate>, StoreError> {
    Err(StoreError::Backend(
        "not yet on PostgreSQL: staff::alert_candidates".into(),
    ))
}
