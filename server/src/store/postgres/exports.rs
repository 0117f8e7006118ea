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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::testing::{add_merchant, fresh};
    use super::*;

    /// An entry of `merchant` in `region` at feed position `pos`.
    #[allow(clippy::too_many_arguments)]
    fn entry(
        c: &mut impl GenericClient,
        region: &str,
        pos: i64,
        kind: &str,
        merchant: &str,
        at: &str,
        code: Option<&str>,
        payload: &str,
        voided_by: Option<&str>,
    ) {
        c.execute(
            "INSERT INTO entries (region_code, entry_id, pos, kind, merchant_id, at, recorded_at, trace_code, payload, voided_by)
             VALUES ($1, $2 || '-' || $3::bigint::text, $3, $4, $2, $5, now(), $6, $7::text::json, $8)",
            &[&region, &merchant, &pos, &kind, &at, &code, &payload, &voided_by],
        )
        .unwrap();
    }

    fn seed(c: &mut impl GenericClient) -> [String; 3] {
        add_merchant(c, "m1", "350203", None);
        add_merchant(c, "m2", "350206", None);
        // Key order kept as written: `json`, not `jsonb`.
        let purchase = json!({"trace_code": "T1", "supplier": {"name": "散户"}}).to_string();
        let sale = json!({"trace_code": "T1", "buyer": {"merchant_id": "m2"}}).to_string();
        let bought = json!({"trace_code": "T9", "supplier": {"merchant_id": "m1"}}).to_string();
        let t2 = r#"{"z":1,"a":2}"#;
        entry(
            c,
            "350203",
            1,
            "ledger.purchase",
            "m1",
            "2026-06-01T09:00:00+08:00",
            Some("T1"),
            &purchase,
            None,
        );
        entry(
            c,
            "350203",
            2,
            "ledger.sale",
            "m1",
            "2026-06-01T10:00:00+08:00",
            Some("T1"),
            &sale,
            None,
        );
        entry(
            c,
            "350203",
            3,
            "ledger.sale",
            "m1",
            "2026-06-01T11:00:00+08:00",
            Some("T1"),
            &sale,
            Some("m1-4"),
        );
        entry(
            c,
            "350203",
            4,
            "ledger.void",
            "m1",
            "2026-06-01T11:30:00+08:00",
            None,
            "{}",
            None,
        );
        // 13:00 in China, written in UTC: compared as the instant it is.
        entry(
            c,
            "350203",
            5,
            "ledger.purchase",
            "m1",
            "2026-06-01T05:00:00Z",
            Some("T2"),
            t2,
            None,
        );
        entry(
            c,
            "350206",
            1,
            "ledger.purchase",
            "m2",
            "2026-06-02T09:00:00+08:00",
            Some("T9"),
            &bought,
            None,
        );
        [purchase, sale, t2.to_owned()]
    }

    fn groups() -> Vec<ExportGroup> {
        ["m1", "ghost", "m2"]
            .map(|m| ExportGroup {
                merchant_id: m.into(),
                trace_codes: None,
            })
            .into()
    }

    fn at(s: &str) -> Option<DateTime<Utc>> {
        Some(DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc))
    }

    /// Live entries only, per group, within a trace's batches and the
    /// window compared as instants.
    #[test]
    fn counts_keep_live_entries_in_the_window() {
        let Some(db) = fresh() else { return };
        let mut c = db.store.pool().get().unwrap();
        seed(&mut *c);
        let all = ExportWindow::default();
        assert_eq!(count(&mut *c, &groups(), all).unwrap(), 4);
        let t1 = [ExportGroup {
            merchant_id: "m1".into(),
            trace_codes: Some(vec!["T1".into(), "T7".into()]),
        }];
        assert_eq!(count(&mut *c, &t1, all).unwrap(), 2);
        let none = [ExportGroup {
            merchant_id: "m1".into(),
            trace_codes: Some(Vec::new()),
        }];
        assert_eq!(count(&mut *c, &none, all).unwrap(), 0);
        // From 13:00 China time (T2's 05:00Z) to before m2's purchase.
        let window = ExportWindow {
            from: at("2026-06-01T13:00:00+08:00"),
            to: at("2026-06-02T09:00:00+08:00"),
        };
        assert_eq!(count(&mut *c, &groups(), window).unwrap(), 1);
        let to_only = ExportWindow {
            from: None,
            to: at("2026-06-01T10:00:00+08:00"),
        };
        assert_eq!(count(&mut *c, &groups(), to_only).unwrap(), 1);
    }

    /// Pages follow feed order through the groups without loss or overlap,
    /// with the batch's purchase and the names, the payloads byte for byte.
    #[test]
    fn pages_walk_the_groups_in_feed_order() {
        let Some(db) = fresh() else { return };
        let mut c = db.store.pool().get().unwrap();
        let [purchase, sale, t2] = seed(&mut *c);
        let g = groups();
        let all = ExportWindow::default();
        let first = page(&mut *c, &g, all, ExportCursor::default(), 2).unwrap();
        let kinds: Vec<&str> = first.entries.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(kinds, ["ledger.purchase", "ledger.sale"]);
        assert_eq!(first.next, Some(ExportCursor { group: 0, after: 2 }));
        assert_eq!(first.entries[0].payload, purchase);
        assert_eq!(first.entries[0].batch_purchase, None);
        assert_eq!(first.entries[0].merchant_name.as_deref(), Some("m1"));
        assert_eq!(first.entries[1].payload, sale);
        assert_eq!(
            first.entries[1].batch_purchase.as_deref(),
            Some(purchase.as_str())
        );
        assert_eq!(first.entries[1].counterparty_name.as_deref(), Some("m2"));
        let Some(next) = first.next else {
            unreachable!()
        };
        let second = page(&mut *c, &g, all, next, 2).unwrap();
        assert_eq!(second.entries.len(), 2);
        assert_eq!(second.entries[0].payload, t2);
        assert_eq!(second.entries[1].merchant_id, "m2");
        assert_eq!(second.entries[1].merchant_name.as_deref(), Some("m2"));
        assert_eq!(second.entries[1].counterparty_name.as_deref(), Some("m1"));
        // m2's group ended on that page only if it had fewer rows than asked.
        assert_eq!(second.next, Some(ExportCursor { group: 2, after: 1 }));
        let Some(next) = second.next else {
            unreachable!()
        };
        let last = page(&mut *c, &g, all, next, 2).unwrap();
        assert!(last.entries.is_empty());
        assert_eq!(last.next, None);
        // One page for everything.
        let whole = page(&mut *c, &g, all, ExportCursor::default(), 100).unwrap();
        assert_eq!(whole.entries.len(), 4);
        assert_eq!(whole.next, None);
    }
}
