//! The paged read behind exports on PostgreSQL
//! ([`crate::store::ledger::LedgerStore::export_page`]), from
//! `sqlite/exports.rs`.
//!
//! A group is one merchant's entries, walked along the `entries_feed` index
//! (district, merchant, `pos`) from the cursor's position on, so each page
//! costs its own rows and the whole export one pass, however large. `pos`
//! is the district's feed position, in commit order: for one merchant (all
//! its entries in its district) the acceptance order, as SQLite's rowid. A
//! trace's group keeps only its batches' rows. The batch's purchase comes
//! from the purchases-by-trace-code index (component `"public"`), the
//! counterparty's name from the registry.

use chrono::{DateTime, Utc};
use postgres::GenericClient;

use crate::store::ledger::{ExportCursor, ExportEntry, ExportGroup, ExportPage, ExportWindow};
use crate::store::StoreError;

/// Which of a group's entries an export holds: live movements only (no
/// void, nothing voided), optionally of some batches (`$3`) and within the
/// event-time window (`$4`, `$5`; `at` keeps the device's offset, so it is
/// compared as an instant, not as text, to the millisecond as SQLite's
/// `unixepoch(at, 'subsec')`). The district names the merchant's shard.
macro_rules! group_filter {
    () => {
        "e.region_code = (SELECT region_code FROM merchants WHERE id = $1)
  AND e.merchant_id = $1 AND e.pos > $2
  AND e.kind <> 'ledger.void' AND e.voided_by IS NULL
  AND ($3::text[] IS NULL OR e.trace_code = ANY($3))
  AND ($4::timestamptz IS NULL OR date_trunc('milliseconds', e.at::timestamptz) >= $4)
  AND ($5::timestamptz IS NULL OR date_trunc('milliseconds', e.at::timestamptz) < $5)"
    };
}

/// One group's next rows, with the batch's purchase and the counterparty's
/// name. A merchant moves only its own batches (core's rules), which its
/// own purchases made, in its district: the purchase is looked up there.
const GROUP_PAGE: &str = concat!(
    "
SELECT e.pos, e.kind, e.payload::text,
       CASE WHEN e.kind <> 'ledger.purchase' THEN
         (SELECT p.payload::text FROM entries p
           WHERE p.region_code = e.region_code AND p.kind = 'ledger.purchase'
             AND p.trace_code = e.trace_code
           ORDER BY p.voided_by IS NOT NULL, p.pos LIMIT 1)
       END,
       (SELECT name FROM merchants
         WHERE id = COALESCE(e.payload -> 'buyer' ->> 'merchant_id',
                             e.payload -> 'supplier' ->> 'merchant_id'))
FROM entries e
WHERE ",
    group_filter!(),
    "
ORDER BY e.pos
LIMIT $6"
);

/// How many rows a group holds.
const GROUP_COUNT: &str = concat!("SELECT COUNT(*) FROM entries e WHERE ", group_filter!());

/// A window's end to the millisecond, as SQLite compares it.
fn millis(t: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    t.map(|t| DateTime::from_timestamp_millis(t.timestamp_millis()).unwrap_or(t))
}

/// The rows of every group, counted.
pub(super) fn count(
    c: &mut impl GenericClient,
    groups: &[ExportGroup],
    window: ExportWindow,
) -> Result<u64, StoreError> {
    let st = c.prepare(GROUP_COUNT)?;
    let (from, to) = (millis(window.from), millis(window.to));
    let mut total = 0u64;
    for g in groups {
        let n: i64 = c
            .query_one(&st, &[&g.merchant_id, &0i64, &g.trace_codes, &from, &to])?
            .try_get(0)?;
        total += u64::try_from(n).unwrap_or(0);
    }
    Ok(total)
}

/// Reads up to `limit` rows from `cursor` on, moving to the next group when
/// one is used up.
pub(super) fn page(
    c: &mut impl GenericClient,
    groups: &[ExportGroup],
    window: ExportWindow,
    cursor: ExportCursor,
    limit: u32,
) -> Result<ExportPage, StoreError> {
    let limit = limit.max(1) as usize;
    let (from, to) = (millis(window.from), millis(window.to));
    let st = c.prepare(GROUP_PAGE)?;
    let mut entries = Vec::with_capacity(limit.min(4096));
    let mut cur = cursor;
    while cur.group < groups.len() && entries.len() < limit {
        let g = &groups[cur.group];
        let holder: Option<String> = c
            .query_opt(
                "SELECT name FROM merchants WHERE id = $1",
                &[&g.merchant_id],
            )?
            .map(|r| r.try_get(0))
            .transpose()?;
        let want = limit - entries.len();
        // `want` is at most `limit`, a u32.
        let want_sql = i64::try_from(want).unwrap_or(i64::MAX);
        let rows = c.query(
            &st,
            &[
                &g.merchant_id,
                &cur.after,
                &g.trace_codes,
                &from,
                &to,
                &want_sql,
            ],
        )?;
        let got = rows.len();
        for r in rows {
            cur.after = r.try_get(0)?;
            entries.push(ExportEntry {
                kind: r.try_get(1)?,
                merchant_id: g.merchant_id.clone(),
                merchant_name: holder.clone(),
                payload: r.try_get(2)?,
                batch_purchase: r.try_get(3)?,
                counterparty_name: r.try_get(4)?,
            });
        }
        if got < want {
            cur = ExportCursor {
                group: cur.group + 1,
                after: 0,
            };
        }
    }
    Ok(ExportPage {
        entries,
        next: (cur.group < groups.len()).then_some(cur),
    })
}
