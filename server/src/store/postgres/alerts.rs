//! (Placeholder until the alerts port ports this module from `sqlite/`: the
//! functions other modules call, with their final signatures.)

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use postgres::GenericClient;
use shian_core::warnings::Candidate;

use crate::store::StoreError;

/// Opens or refreshes an alert for each candidate; returns how many are new.
pub(super) fn raise(
    _c: &mut impl GenericClient,
    _candidates: &[Candidate],
    _now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    Err(StoreError::Backend(
        "not yet on PostgreSQL: alerts::raise".into(),
    ))
}

/// Marks a merchant for the alerts' next incremental pass.
pub(super) fn mark(_c: &mut impl GenericClient, _merchant_id: &str) -> Result<(), StoreError> {
    Err(StoreError::Backend(
        "not yet on PostgreSQL: alerts::mark".into(),
    ))
}

/// Open alerts' risk weight per merchant (`only`: one merchant).
pub(super) fn open_risk(
    _c: &mut impl GenericClient,
    _only: Option<&str>,
) -> Result<HashMap<String, u16>, StoreError> {
    Err(StoreError::Backend(
        "not yet on PostgreSQL: alerts::open_risk".into(),
    ))
}
