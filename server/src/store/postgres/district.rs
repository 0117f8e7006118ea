//! The district (`region_code`, the distribution column) that a row is
//! stored under: its merchant's, or its market's. Every write of a
//! distributed table names it, and reads that know it name it too, so that
//! on Citus they go to one shard.

use postgres::GenericClient;

use crate::store::StoreError;

/// The district of a merchant; `None` for an unknown merchant.
pub fn of_merchant(
    c: &mut impl GenericClient,
    merchant_id: &str,
) -> Result<Option<String>, StoreError> {
    Ok(c.query_opt(
        "SELECT region_code FROM merchants WHERE id = $1",
        &[&merchant_id],
    )?
    .map(|r| r.get(0)))
}

/// The district of a market; `None` for an unknown market.
pub fn of_market(
    c: &mut impl GenericClient,
    market_id: &str,
) -> Result<Option<String>, StoreError> {
    Ok(c.query_opt(
        "SELECT region_code FROM markets WHERE id = $1",
        &[&market_id],
    )?
    .map(|r| r.get(0)))
}
