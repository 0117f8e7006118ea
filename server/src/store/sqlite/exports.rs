//! The paged read behind exports ([`crate::store::ledger::LedgerStore::export_page`]).
//!
//! A group is one merchant's entries, walked along the `entries_feed` index
//! (`merchant_id`, ordered by rowid, the acceptance order) from the
//! cursor's rowid on, so each page costs its own rows and the whole export
//! one pass, however large. A trace's group keeps only its batches' rows.
//! The batch's purchase comes from the purchases-by-trace-code index
//! (component `"public"`), the counterparty's name from the registry.

use rusqlite::{params, Connection, OptionalExtension};

use crate::store::ledger::{ExportCursor, ExportEntry, ExportGroup, ExportPage, ExportWindow};
use crate::store::StoreError;

/// Which of a group's entries an export holds: live movements only (no
/// void, nothing voided), optionally of some batches (`?3`, a JSON array)
/// and within the event-time window (`?4`, `?5`, Unix seconds; `at` keeps
/// the device's offset, so it is compared as an instant, not as text).
macro_rules! group_filter {
    () => {
        "e.merchant_id = ?1 AND e.rowid > ?2
  AND e.kind <> 'ledger.void' AND e.voided_by IS NULL
  AND (?3 IS NULL OR e.trace_code IN (SELECT value FROM json_each(?3)))
  AND (?4 IS NULL OR unixepoch(e.at, 'subsec') >= ?4)
  AND (?5 IS NULL OR unixepoch(e.at, 'subsec') < ?5)"
    };
}

/// One group's next rows, with the batch's purchase and the counterparty's
/// name.
const GROUP_PAGE: &str = concat!(
    "
SELECT e.rowid, e.kind, e.payload,
       CASE WHEN e.kind <> 'ledger.purchase' THEN
         (SELECT p.payload FROM entries p
           WHERE p.kind = 'ledger.purchase' AND p.trace_code = e.trace_code
           ORDER BY p.voided_by IS NOT NULL LIMIT 1)
       END,
       (SELECT name FROM merchants
         WHERE id = COALESCE(json_extract(e.payload, '$.buyer.merchant_id'),
                             json_extract(e.payload, '$.supplier.merchant_id')))
FROM entries e
WHERE ",
    group_filter!(),
    "
ORDER BY e.rowid
LIMIT ?6"
);

/// How many rows a group holds.
const GROUP_COUNT: &str = concat!("SELECT COUNT(*) FROM entries e WHERE ", group_filter!());

fn secs(t: Option<chrono::DateTime<chrono::Utc>>) -> Option<f64> {
    t.map(|t| t.timestamp_millis() as f64 / 1000.0)
}

fn codes_json(g: &ExportGroup) -> Option<String> {
    g.trace_codes
        .as_ref()
        .map(|c| serde_json::Value::from(c.clone()).to_string())
}

/// The rows of every group, counted.
pub(super) fn count(
    conn: &Connection,
    groups: &[ExportGroup],
    window: ExportWindow,
) -> Result<u64, StoreError> {
    let mut st = conn.prepare_cached(GROUP_COUNT)?;
    let mut total = 0u64;
    for g in groups {
        let n: i64 = st.query_row(
            params![
                g.merchant_id,
                0,
                codes_json(g),
                secs(window.from),
                secs(window.to)
            ],
            |r| r.get(0),
        )?;
        total += n as u64;
    }
    Ok(total)
}

/// Reads up to `limit` rows from `cursor` on, moving to the next group when
/// one is used up.
pub(super) fn page(
    conn: &Connection,
    groups: &[ExportGroup],
    window: ExportWindow,
    cursor: ExportCursor,
    limit: u32,
) -> Result<ExportPage, StoreError> {
    let limit = limit.max(1) as usize;
    let secs =
        |t: Option<chrono::DateTime<chrono::Utc>>| t.map(|t| t.timestamp_millis() as f64 / 1000.0);
    let (from, to) = (secs(window.from), secs(window.to));
    let mut st = conn.prepare_cached(GROUP_PAGE)?;
    let mut name_of = conn.prepare_cached("SELECT name FROM merchants WHERE id = ?1")?;
    let mut entries = Vec::with_capacity(limit.min(4096));
    let mut cur = cursor;
    while cur.group < groups.len() && entries.len() < limit {
        let g = &groups[cur.group];
        let codes = codes_json(g);
        let holder: Option<String> = name_of
            .query_row([&g.merchant_id], |r| r.get(0))
            .optional()?;
        let want = limit - entries.len();
        let mut rows = st.query(params![
            g.merchant_id,
            cur.after,
            codes,
            from,
            to,
            want as i64
        ])?;
        let mut got = 0;
        while let Some(r) = rows.next()? {
            got += 1;
            cur.after = r.get(0)?;
            entries.push(ExportEntry {
                kind: r.get(1)?,
                merchant_id: g.merchant_id.clone(),
                merchant_name: holder.clone(),
                payload: r.get(2)?,
                batch_purchase: r.get(3)?,
                counterparty_name: r.get(4)?,
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
