//! The changes feed on PostgreSQL: what a pull pages through besides a
//! merchant's own entries (registry cards, tasks, notices, holds). Every
//! row is numbered from the one sequencer row `changes_head`, taken by the
//! writing transaction and held to its commit, so `seq` is commit order: a
//! pull that has read `seq` = n has every row below n (see the schema's
//! module doc). Take it as late in a transaction as you can.

use chrono::Utc;
use postgres::GenericClient;
use serde_json::Value;

/// Takes the next `n` numbers of the changes sequencer; returns the last
/// (the numbers are `last - n + 1 ..= last`). The row stays locked until
/// the caller's transaction ends.
pub fn take_seq(tx: &mut impl GenericClient, n: i64) -> Result<i64, postgres::Error> {
    let row = tx.query_one(
        "UPDATE changes_head SET head = head + $1 WHERE feed = 'changes' RETURNING head",
        &[&n],
    )?;
    Ok(row.get(0))
}

/// Who a change is for: a merchant, a region (inspectors, by prefix), a
/// user, a market (its operator's and officers' tablets), or everyone
/// (all `None`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Audience<'a> {
    pub merchant_id: Option<&'a str>,
    pub region_code: Option<&'a str>,
    pub user_id: Option<&'a str>,
    pub market_id: Option<&'a str>,
}

/// Appends one change; returns its `seq`.
pub fn publish(
    tx: &mut impl GenericClient,
    kind: &str,
    to: Audience<'_>,
    payload: &Value,
) -> Result<i64, postgres::Error> {
    let seq = take_seq(tx, 1)?;
    tx.execute(
        "INSERT INTO changes (seq, kind, merchant_id, region_code, user_id, market_id, payload, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        &[
            &seq,
            &kind,
            &to.merchant_id,
            &to.region_code,
            &to.user_id,
            &to.market_id,
            payload,
            &Utc::now(),
        ],
    )?;
    Ok(seq)
}

/// A change addressed to a market's operator and officers.
pub fn publish_to_market(
    tx: &mut impl GenericClient,
    kind: &str,
    market_id: &str,
    payload: &Value,
) -> Result<i64, postgres::Error> {
    publish(
        tx,
        kind,
        Audience {
            market_id: Some(market_id),
            ..Audience::default()
        },
        payload,
    )
}
