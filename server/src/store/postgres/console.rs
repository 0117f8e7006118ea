//! [`ConsoleStore`] on PostgreSQL, from `sqlite/console.rs`: the same
//! lists in the same order. A merchant's record is read inside its
//! district (`region_code` leads the indexes `inspections_by_merchant` and
//! `entries_feed`), in one repeatable-read transaction so the three lists
//! are of the same moment, as SQLite's single read transaction.

use chrono::{DateTime, SecondsFormat, Utc};
use postgres::{GenericClient, IsolationLevel};

use super::district;
use super::PgStore;
use crate::store::console::{
    BatchRow, ConsoleStore, DrawSummary, InspectionRow, InspectorRow, MerchantRecord, SampleRow,
};
use crate::store::{StoreError, StoreFuture};

/// A `timestamptz` as the SQLite backend stores it (RFC 3339, milliseconds,
/// `Z`), since the console's rows carry the recorded time as text.
fn ts_text(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn list_draws(
    c: &mut impl GenericClient,
    limit: u32,
) -> Result<(Vec<DrawSummary>, u64), StoreError> {
    let total: i64 = c.query_one("SELECT count(*) FROM draws", &[])?.get(0);
    let rows = c.query(
        "SELECT d.id, d.name, d.seed_hash, d.algorithm, d.pool_size, d.created_at,
                COALESCE(u.username, d.created_by),
                (SELECT count(*) FROM draw_tasks t WHERE t.draw_id = d.id)
         FROM draws d LEFT JOIN users u ON u.id = d.created_by
         ORDER BY d.created_at DESC, d.id DESC LIMIT $1",
        &[&i64::from(limit)],
    )?;
    let draws = rows
        .iter()
        .map(|r| DrawSummary {
            id: r.get(0),
            name: r.get(1),
            seed_hash: r.get(2),
            algorithm: r.get(3),
            pool_size: u64::try_from(r.get::<_, i32>(4)).unwrap_or(0),
            created_at: r.get(5),
            created_by: r.get(6),
            tasks: u64::try_from(r.get::<_, i64>(7)).unwrap_or(0),
        })
        .collect();
    Ok((draws, u64::try_from(total).unwrap_or(0)))
}

fn merchant_record(
    c: &mut postgres::Client,
    merchant_id: &str,
    limit: u32,
) -> Result<MerchantRecord, StoreError> {
    let mut tx = c
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()?;
    // An unknown merchant has no district, and no record: empty lists.
    let Some(region) = district::of_merchant(&mut tx, merchant_id)? else {
        return Ok(MerchantRecord::default());
    };
    let limit = i64::from(limit);
    let inspections = tx
        .query(
            "SELECT id, result, template, finished_at FROM inspections
             WHERE region_code = $1 AND merchant_id = $2 ORDER BY finished_at DESC LIMIT $3",
            &[&region, &merchant_id, &limit],
        )?
        .iter()
        .map(|r| InspectionRow {
            id: r.get(0),
            result: r.get(1),
            template: r.get(2),
            finished_at: ts_text(r.get(3)),
        })
        .collect();
    let samples = tx
        .query(
            "SELECT id, item, method, value, unit, limit_value, outcome, trace_code, taken_at
             FROM samples WHERE region_code = $1 AND merchant_id = $2
             ORDER BY taken_at DESC LIMIT $3",
            &[&region, &merchant_id, &limit],
        )?
        .iter()
        .map(|r| SampleRow {
            id: r.get(0),
            item: r.get(1),
            method: r.get(2),
            value: r.get(3),
            unit: r.get(4),
            limit_value: r.get(5),
            outcome: r.get(6),
            trace_code: r.get(7),
            taken_at: ts_text(r.get(8)),
        })
        .collect();
    // Feed order (`pos`) is SQLite's rowid order: acceptance order.
    let batches = tx
        .query(
            "SELECT trace_code, COALESCE(payload::jsonb #>> '{product,name}', ''), at
             FROM entries
             WHERE region_code = $1 AND merchant_id = $2 AND kind = 'ledger.purchase'
               AND voided_by IS NULL AND trace_code IS NOT NULL
             ORDER BY pos DESC LIMIT $3",
            &[&region, &merchant_id, &limit],
        )?
        .iter()
        .map(|r| BatchRow {
            trace_code: r.get(0),
            product_name: r.get(1),
            at: r.get(2),
        })
        .collect();
    tx.commit()?;
    Ok(MerchantRecord {
        inspections,
        samples,
        batches,
    })
}

fn list_inspectors(
    c: &mut impl GenericClient,
    limit: u32,
) -> Result<Vec<InspectorRow>, StoreError> {
    // SQLite's username column is COLLATE NOCASE: order by the ASCII fold.
    let rows = c.query(
        "SELECT id, username, regions FROM users WHERE role = 'inspector'
         ORDER BY lower(username COLLATE \"C\"), username LIMIT $1",
        &[&i64::from(limit)],
    )?;
    rows.iter()
        .map(|r| {
            let id: String = r.get(0);
            let regions = serde_json::from_value(r.get::<_, serde_json::Value>(2))
                .map_err(|e| StoreError::Corrupt(format!("regions of user {id}: {e}")))?;
            Ok(InspectorRow {
                username: r.get(1),
                id,
                regions,
            })
        })
        .collect()
}

impl ConsoleStore for PgStore {
    fn list_inspectors(&self, limit: u32) -> StoreFuture<'_, Vec<InspectorRow>> {
        Box::pin(self.pool.call(move |c| list_inspectors(c, limit)))
    }

    fn list_draws(&self, limit: u32) -> StoreFuture<'_, (Vec<DrawSummary>, u64)> {
        Box::pin(self.pool.call(move |c| list_draws(c, limit)))
    }

    fn merchant_record(&self, merchant_id: String, limit: u32) -> StoreFuture<'_, MerchantRecord> {
        Box::pin(
            self.pool
                .call(move |c| merchant_record(c, &merchant_id, limit)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{add_market, add_merchant, add_user, fresh};
    use super::*;
    use tokio::task::block_in_place;

    /// Inspectors only, by username, limited; their regions read back.
    #[tokio::test(flavor = "multi_thread")]
    async fn inspectors_by_username() {
        // The synchronous client blocks: off the runtime's threads.
        let Some(db) = block_in_place(fresh) else {
            return;
        };
        block_in_place(|| {
            let mut c = db.store.pool().get().unwrap();
            add_user(&mut *c, "zed", "inspector", None, &["3502"], &[]);
            add_user(
                &mut *c,
                "amy",
                "inspector",
                None,
                &["350203", "350206"],
                &[],
            );
            add_user(&mut *c, "boss", "admin", None, &[], &[]);
        });
        let all = db.store.list_inspectors(10).await.unwrap();
        let names: Vec<_> = all.iter().map(|i| i.username.as_str()).collect();
        assert_eq!(names, ["amy", "zed"]);
        assert_eq!(all[0].regions, ["350203", "350206"]);
        assert_eq!(db.store.list_inspectors(1).await.unwrap().len(), 1);
    }

    /// No draws yet: an empty list and a zero count.
    #[tokio::test(flavor = "multi_thread")]
    async fn no_draws() {
        // The synchronous client blocks: off the runtime's threads.
        let Some(db) = block_in_place(fresh) else {
            return;
        };
        let (draws, total) = db.store.list_draws(5).await.unwrap();
        assert!(draws.is_empty());
        assert_eq!(total, 0);
    }

    /// An unknown merchant's record is empty, as SQLite's; a known one
    /// lists its samples newest first with the recorded time as text.
    #[tokio::test(flavor = "multi_thread")]
    async fn merchant_record_lists_newest_first() {
        // The synchronous client blocks: off the runtime's threads.
        let Some(db) = block_in_place(fresh) else {
            return;
        };
        block_in_place(|| {
            let mut c = db.store.pool().get().unwrap();
            add_market(&mut *c, "m1", "350203");
            add_merchant(&mut *c, "shop1", "350203", Some("m1"));
            for (id, at) in [
                ("s1", "2026-01-01T08:00:00Z"),
                ("s2", "2026-01-02T08:00:00Z"),
            ] {
                c.execute(
                    "INSERT INTO samples (region_code, id, merchant_id, item, method, value, unit,
                        limit_value, taken_at, outcome, counts_as_failure, payload, evaluation,
                        pushed_by, recorded_at)
                     VALUES ('350203', $1, 'shop1', 'nitrite', 'rapid', 1.5, 'mg/kg', 30,
                        $2::text::timestamptz, 'pass', false, '{}', '{}', 'u', now())",
                    &[&id, &at],
                )
                .unwrap();
            }
        });
        let none = db.store.merchant_record("nobody".into(), 10).await.unwrap();
        assert!(none.samples.is_empty() && none.inspections.is_empty() && none.batches.is_empty());
        let rec = db.store.merchant_record("shop1".into(), 10).await.unwrap();
        let ids: Vec<_> = rec.samples.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, ["s2", "s1"]);
        assert_eq!(rec.samples[0].taken_at, "2026-01-02T08:00:00.000Z");
        let one = db.store.merchant_record("shop1".into(), 1).await.unwrap();
        assert_eq!(one.samples.len(), 1);
    }
}
