//! (Placeholder until the feedback port ports this module from `sqlite/`: the
//! functions other modules call, with their final signatures.)

use std::collections::HashMap;

use chrono::NaiveDate;
use postgres::GenericClient;

use crate::store::StoreError;

/// A complaint that weighs, as the warnings engine reads it.
// Read by the alerts' passes, whose port is still to land (issue 15).
#[allow(dead_code)]
pub(super) struct Weighing {
    pub id: String,
    pub merchant_id: String,
    pub received_on: NaiveDate,
    pub product: Option<String>,
}

/// Complaints per merchant since `since` (for the risk grade).
pub(super) fn complaint_counts(
    _c: &mut impl GenericClient,
    _since: NaiveDate,
) -> Result<HashMap<String, u16>, StoreError> {
    Err(StoreError::Backend(
        "not yet on PostgreSQL: feedback::complaint_counts".into(),
    ))
}

/// Complaints since `since` that weigh, for the warnings engine.
// Called by the alerts' passes, whose port is still to land (issue 15).
#[allow(dead_code)]
pub(super) fn weighing_complaints(
    c: &mut impl GenericClient,
    since: NaiveDate,
) -> Result<Vec<Weighing>, StoreError> {
    // TEMPORARY (pg-h4, for the alerts' passes until the feedback port
    // lands; take the feedback port's body over this one): with no
    // complaint since `since` none weighs; any other case is not ported.
    let n: i64 = c
        .query_one(
            "SELECT COUNT(*) FROM complaints WHERE received_on >= $1",
            &[&since],
        )?
        .get(0);
    if n == 0 {
        return Ok(Vec::new());
    }
    Err(StoreError::Backend(
        "not yet on PostgreSQL: feedback::weighing_complaints".into(),
    ))
}
