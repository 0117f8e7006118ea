//! A pull, decided: the cursor, who sees what, and the page. The backend
//! reads the two feeds through [`PullReads`].

use shian_core::sync::protocol::{decode_cursor, encode_cursor, PullResponse, MAX_PULL_LIMIT};

use crate::store::ledger::{Caller, PullError};
use crate::store::sync::{FeedScope, PullReads};

/// One page of the caller's changes after `cursor`: first the change feed
/// (registry cards, tasks, notices: few), then, for a merchant, its own
/// ledger entries in the order the server accepted them.
pub fn page(
    reads: &dyn PullReads,
    caller: &Caller,
    cursor: &str,
    limit: u32,
) -> Result<PullResponse, PullError> {
    let after = decode_cursor(cursor).ok_or(PullError::BadCursor)?;
    let limit = limit.clamp(1, MAX_PULL_LIMIT) as usize;
    // Inspectors see their district, a market operator its markets; a
    // merchant sees its own records only.
    let merchant = if caller.role == "merchant" {
        caller.merchant_id.clone()
    } else {
        None
    };
    // A region covers the codes under it (350000 a province, 350200 a city),
    // as the registry reads it (`validate::region_covers`): match prefixes.
    let inspector_prefixes = (caller.role == "inspector").then(|| {
        caller
            .regions
            .iter()
            .filter_map(|r| region_prefix(r))
            .map(str::to_owned)
            .collect()
    });
    let scope = FeedScope {
        merchant_id: merchant.clone(),
        inspector_prefixes,
        user_id: caller.user_id.clone(),
        market_ids: if caller.role == "market_operator" {
            caller.markets.clone()
        } else {
            Vec::new()
        },
    };
    // One more than asked tells whether there is more.
    let mut changes = reads.changes_after(after.changes, &scope, limit + 1)?;
    let mut next = after;
    let mut has_more = changes.len() > limit;
    changes.truncate(limit);
    if let Some(last) = changes.last() {
        next.changes = last.seq;
    }
    // Ledger records go back to the merchant's own devices only; inspectors
    // get the registry and tasks of their district, not every sale.
    if let (Some(own), false) = (merchant.as_deref(), has_more) {
        let room = limit - changes.len();
        let mut entries = reads.entries_after(own, after.entries, room + 1)?;
        has_more = entries.len() > room;
        entries.truncate(room);
        if let Some(last) = entries.last() {
            next.entries = last.seq;
        }
        changes.append(&mut entries);
    }
    Ok(PullResponse {
        changes,
        cursor: encode_cursor(next),
        has_more,
    })
}

/// The code prefix a GB/T 2260 scope covers; `None` for a malformed one.
fn region_prefix(scope: &str) -> Option<&str> {
    if scope.len() != 6 || !scope.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(if scope.ends_with("0000") {
        &scope[..2]
    } else if scope.ends_with("00") {
        &scope[..4]
    } else {
        scope
    })
}
