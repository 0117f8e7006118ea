//! (Placeholder until the public pages port ports this module from `sqlite/`: the
//! functions other modules call, with their final signatures.)

use postgres::GenericClient;

use crate::store::ledger::PublicShop;
use crate::store::StoreError;

/// Fills the stored parts of a shop's public page.
pub(super) fn complete_shop(
    _c: &mut impl GenericClient,
    _merchant_id: &str,
    _shop: &mut PublicShop,
) -> Result<(), StoreError> {
    Err(StoreError::Backend(
        "not yet on PostgreSQL: public::complete_shop".into(),
    ))
}
