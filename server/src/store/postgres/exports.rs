//! (Placeholder until the exports port ports this module from `sqlite/`: the
//! functions other modules call, with their final signatures.)

use postgres::GenericClient;

use crate::store::ledger::{ExportCursor, ExportGroup, ExportPage, ExportWindow};
use crate::store::StoreError;

/// How many rows an export of `groups` over `window` has.
pub(super) fn count(
    _c: &mut impl GenericClient,
    _groups: &[ExportGroup],
    _window: ExportWindow,
) -> Result<u64, StoreError> {
    Err(StoreError::Backend(
        "not yet on PostgreSQL: exports::count".into(),
    ))
}

/// One page of an export, after `cursor`.
pub(super) fn page(
    _c: &mut impl GenericClient,
    _groups: &[ExportGroup],
    _window: ExportWindow,
    _cursor: ExportCursor,
    _limit: u32,
) -> Result<ExportPage, StoreError> {
    Err(StoreError::Backend(
        "not yet on PostgreSQL: exports::page".into(),
    ))
}
