//! [`ConsoleStore`] for the SQLite backend. Each read walks an existing
//! index: `draws` by its primary key order of creation time is a scan of a
//! table that grows by a few rows a month; a merchant's inspections and
//! samples by `(merchant_id, finished_at|taken_at)`, its purchases by
//! `entries_feed` (merchant_id, in acceptance order).

use rusqlite::{params, Connection};

use super::timestamps::parse_ts;
use super::SqliteStore;
use crate::store::console::{
    BatchRow, ConsoleStore, DrawSummary, InspectionRow, InspectorRow, MerchantRecord, SampleRow,
};
use crate::store::{StoreError, StoreFuture};

fn list_draws(conn: &Connection, limit: u32) -> Result<(Vec<DrawSummary>, u64), StoreError> {
    let total: u64 = conn.query_row("SELECT COUNT(*) FROM draws", [], |r| r.get(0))?;
    let mut stmt = conn.prepare_cached(
        "SELECT d.id, d.name, d.seed_hash, d.algorithm, d.pool_size, d.created_at,
                COALESCE(u.username, d.created_by),
                (SELECT COUNT(*) FROM draw_tasks t WHERE t.draw_id = d.id)
         FROM draws d LEFT JOIN users u ON u.id = d.created_by
         ORDER BY d.created_at DESC, d.id DESC LIMIT ?1",
    )?;
    let rows = stmt
        .query_map([limit], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, i64>(4)?,
                r.get::<_, String>(5)?,
                r.get::<_, String>(6)?,
                r.get::<_, i64>(7)?,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let draws = rows
        .into_iter()
        .map(
            |(id, name, seed_hash, algorithm, pool, at, by, tasks)| -> Result<_, StoreError> {
                Ok(DrawSummary {
                    id,
                    name,
                    seed_hash,
                    algorithm,
                    pool_size: u64::try_from(pool).unwrap_or(0),
                    tasks: u64::try_from(tasks).unwrap_or(0),
                    created_by: by,
                    created_at: parse_ts(&at)?,
                })
            },
        )
        .collect::<Result<Vec<_>, _>>()?;
    Ok((draws, total))
}

fn merchant_record(
    conn: &Connection,
    merchant_id: &str,
    limit: u32,
) -> Result<MerchantRecord, StoreError> {
    // One read transaction: the three lists are of the same moment.
    let tx = conn.unchecked_transaction()?;
    let inspections = tx
        .prepare_cached(
            "SELECT id, result, template, finished_at FROM inspections
             WHERE merchant_id = ?1 ORDER BY finished_at DESC LIMIT ?2",
        )?
        .query_map(params![merchant_id, limit], |r| {
            Ok(InspectionRow {
                id: r.get(0)?,
                result: r.get(1)?,
                template: r.get(2)?,
                finished_at: r.get(3)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let samples = tx
        .prepare_cached(
            "SELECT id, item, method, value, unit, limit_value, outcome, trace_code, taken_at
             FROM samples WHERE merchant_id = ?1 ORDER BY taken_at DESC LIMIT ?2",
        )?
        .query_map(params![merchant_id, limit], |r| {
            Ok(SampleRow {
                id: r.get(0)?,
                item: r.get(1)?,
                method: r.get(2)?,
                value: r.get(3)?,
                unit: r.get(4)?,
                limit_value: r.get(5)?,
                outcome: r.get(6)?,
                trace_code: r.get(7)?,
                taken_at: r.get(8)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let batches = tx
        .prepare_cached(
            "SELECT trace_code, COALESCE(json_extract(payload, '$.product.name'), ''), at
             FROM entries
             WHERE merchant_id = ?1 AND kind = 'ledger.purchase' AND voided_by IS NULL
               AND trace_code IS NOT NULL
             ORDER BY rowid DESC LIMIT ?2",
        )?
        .query_map(params![merchant_id, limit], |r| {
            Ok(BatchRow {
                trace_code: r.get(0)?,
                product_name: r.get(1)?,
                at: r.get(2)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    tx.finish()?;
    Ok(MerchantRecord {
        inspections,
        samples,
        batches,
    })
}

fn list_inspectors(conn: &Connection, limit: u32) -> Result<Vec<InspectorRow>, StoreError> {
    let rows = conn
        .prepare_cached(
            "SELECT id, username, regions FROM users WHERE role = 'inspector'
             ORDER BY username LIMIT ?1",
        )?
        .query_map([limit], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    rows.into_iter()
        .map(|(id, username, regions)| {
            let regions = serde_json::from_str(&regions)
                .map_err(|e| StoreError::Corrupt(format!("regions of user {id}: {e}")))?;
            Ok(InspectorRow {
                id,
                username,
                regions,
            })
        })
        .collect()
}

impl ConsoleStore for SqliteStore {
    fn list_inspectors(&self, limit: u32) -> StoreFuture<'_, Vec<InspectorRow>> {
        Box::pin(
            self.readers()
                .call(move |conn| list_inspectors(conn, limit)),
        )
    }

    fn list_draws(&self, limit: u32) -> StoreFuture<'_, (Vec<DrawSummary>, u64)> {
        Box::pin(self.readers().call(move |conn| list_draws(conn, limit)))
    }

    fn merchant_record(&self, merchant_id: String, limit: u32) -> StoreFuture<'_, MerchantRecord> {
        Box::pin(
            self.readers()
                .call(move |conn| merchant_record(conn, &merchant_id, limit)),
        )
    }
}
