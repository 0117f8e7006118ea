//! [`PublicStore`] for the SQLite backend, and the parts of a shop's public
//! record read from the ledger and field tables (suppliers, tests,
//! inspections).
//!
//! The server keeps ledger events only as `entries` rows (batches live in
//! its in-memory graph), so a batch's GTIN and dates are read from the
//! purchase's canonical payload. Two partial indexes (component `"public"`)
//! keep those reads off a table scan: purchases by trace code (the product
//! page, GS1 `/01/{gtin}/10/{lot}`) and by GTIN (`/01/{gtin}`).

use rusqlite::{params, Connection, OptionalExtension};
use shian_core::ledger::LedgerView;

use super::migrate::{self, Migration};
use super::SqliteStore;
use crate::store::ledger::{PublicInspection, PublicShop};
use crate::store::public::{
    BatchDetails, GtinBatch, PagesStamp, PublicStore, PublicSupplier, PublicTest,
};
use crate::store::{StoreError, StoreFuture};

/// The indexes behind the public reads. The GTIN index is on the very
/// expression the query filters on (SQLite uses an expression index only
/// for an identical expression).
pub(super) const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "purchases by trace code and by GTIN",
    sql: r#"
    CREATE INDEX IF NOT EXISTS entries_purchase_by_trace ON entries(trace_code)
        WHERE kind = 'ledger.purchase';
    CREATE INDEX IF NOT EXISTS entries_purchase_by_gtin ON entries(json_extract(payload, '$.product.gtin'))
        WHERE kind = 'ledger.purchase';
    "#,
}];

/// Applies [`MIGRATIONS`]; called by [`SqliteStore::open`] once the ledger
/// tables exist.
pub(super) fn open(conn: &mut Connection) -> Result<(), StoreError> {
    migrate::apply(conn, "public", MIGRATIONS)?;
    Ok(())
}

/// How many of each list a shop's record carries: enough for a phone
/// screen, and a bound on the page's size.
const INSPECTIONS: i64 = 5;
const TESTS: i64 = 10;
const SUPPLIERS: i64 = 20;

/// Fills the lists of `shop` (merchant `merchant_id`) on the connection the
/// rest of the record was read on, so the record is one snapshot.
pub(super) fn complete_shop(
    conn: &Connection,
    merchant_id: &str,
    shop: &mut PublicShop,
) -> Result<(), StoreError> {
    let mut st = conn.prepare_cached(
        "SELECT id, result, finished_at FROM inspections WHERE merchant_id = ?1
         ORDER BY finished_at DESC, id DESC LIMIT ?2",
    )?;
    shop.inspections = st
        .query_map(params![merchant_id, INSPECTIONS], |r| {
            Ok(PublicInspection {
                id: r.get(0)?,
                result: r.get(1)?,
                finished_at: r.get(2)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut st = conn.prepare_cached(
        "SELECT item, method, outcome, trace_code, taken_at FROM samples WHERE merchant_id = ?1
         ORDER BY taken_at DESC, id DESC LIMIT ?2",
    )?;
    shop.tests = st
        .query_map(params![merchant_id, TESTS], |r| {
            Ok(PublicTest {
                item: r.get(0)?,
                method: r.get(1)?,
                outcome: r.get(2)?,
                trace_code: r.get(3)?,
                taken_at: r.get(4)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    // Live purchases grouped by supplier: an off-platform supplier by the
    // name on the entry, a platform merchant by its id (named from the
    // registry). Over the merchant's entries only (entries_by_merchant).
    // The latest purchase is the device's time of receipt (what the
    // merchant recorded), compared as an instant (offsets may differ);
    // `last` is taken from the row with that maximum (SQLite's rule for a
    // bare column beside a single MAX).
    let mut st = conn.prepare_cached(
        "SELECT s.ext, m.name, m.shop_code, s.n, s.last FROM (
             SELECT json_extract(payload, '$.supplier.name') AS ext,
                    json_extract(payload, '$.supplier.merchant_id') AS mid,
                    COUNT(*) AS n,
                    MAX(julianday(json_extract(payload, '$.received_at'))) AS day,
                    json_extract(payload, '$.received_at') AS last
             FROM entries
             WHERE merchant_id = ?1 AND kind = 'ledger.purchase' AND voided_by IS NULL
             GROUP BY 1, 2
         ) s LEFT JOIN merchants m ON m.id = s.mid
         ORDER BY s.day DESC LIMIT ?2",
    )?;
    shop.suppliers = st
        .query_map(params![merchant_id, SUPPLIERS], |r| {
            let external: Option<String> = r.get(0)?;
            let registered: Option<String> = r.get(1)?;
            let n: i64 = r.get(3)?;
            Ok(PublicSupplier {
                name: external
                    .or(registered)
                    .unwrap_or_else(|| "平台经营户".to_owned()),
                shop_code: r.get(2)?,
                purchases: u32::try_from(n).unwrap_or(u32::MAX),
                last_received_at: r.get(4)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(())
}

fn batch_details(conn: &Connection, trace_code: &str) -> Result<Option<BatchDetails>, StoreError> {
    let mut st = conn.prepare_cached(
        "SELECT json_extract(payload, '$.product.category'), json_extract(payload, '$.product.gtin'),
                json_extract(payload, '$.production_date'), json_extract(payload, '$.expiry_date')
         FROM entries WHERE trace_code = ?1 AND kind = 'ledger.purchase' AND voided_by IS NULL",
    )?;
    Ok(st
        .query_row([trace_code], |r| {
            Ok(BatchDetails {
                category: r.get(0)?,
                gtin: r.get(1)?,
                production_date: r.get(2)?,
                expiry_date: r.get(3)?,
            })
        })
        .optional()?)
}

fn batches_by_gtin(
    conn: &Connection,
    gtins: &[String],
    lot: Option<&str>,
    limit: u32,
) -> Result<Vec<GtinBatch>, StoreError> {
    // One GTIN has at most four recorded forms (14, 13, 12 and 8 digits);
    // unused slots repeat the first so the statement stays one cached text.
    let form = |i: usize| gtins.get(i).or(gtins.first()).cloned().unwrap_or_default();
    let mut st = conn.prepare_cached(
        "SELECT e.trace_code, json_extract(e.payload, '$.product.name'), m.name, m.shop_code,
                json_extract(e.payload, '$.received_at')
         FROM entries e LEFT JOIN merchants m ON m.id = e.merchant_id
         WHERE e.kind = 'ledger.purchase'
           AND json_extract(e.payload, '$.product.gtin') IN (?1, ?2, ?3, ?4)
           AND e.voided_by IS NULL AND (?5 IS NULL OR e.trace_code = ?5)
         ORDER BY e.recorded_at DESC LIMIT ?6",
    )?;
    let rows = st
        .query_map(
            params![form(0), form(1), form(2), form(3), lot, i64::from(limit)],
            |r| {
                Ok(GtinBatch {
                    trace_code: r.get(0)?,
                    product_name: r.get(1)?,
                    merchant_name: r.get(2)?,
                    shop_code: r.get(3)?,
                    received_at: r.get(4)?,
                })
            },
        )?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// The changes feed's and the ratings' last keys (both the rowid).
fn pages_stamp(conn: &Connection) -> Result<PagesStamp, StoreError> {
    Ok(conn.prepare_cached(
        "SELECT (SELECT COALESCE(MAX(seq), 0) FROM changes), (SELECT COALESCE(MAX(id), 0) FROM ratings)",
    )?
    .query_row([], |r| {
        Ok(PagesStamp {
            changes: r.get(0)?,
            ratings: r.get(1)?,
        })
    })?)
}

impl PublicStore for SqliteStore {
    fn batch_details(&self, trace_code: String) -> StoreFuture<'_, Option<BatchDetails>> {
        Box::pin(
            self.readers()
                .call(move |conn| batch_details(conn, &trace_code)),
        )
    }

    fn batches_by_gtin(
        &self,
        gtins: Vec<String>,
        lot: Option<String>,
        limit: u32,
    ) -> StoreFuture<'_, Vec<GtinBatch>> {
        Box::pin(
            self.readers()
                .call(move |conn| batches_by_gtin(conn, &gtins, lot.as_deref(), limit)),
        )
    }

    // The in-memory graph holds vouchers with their live sale: microseconds,
    // on the request's task.
    fn voucher_seller(&self, voucher_code: String) -> StoreFuture<'_, Option<String>> {
        Box::pin(async move {
            let graph = self.followed_graph().await?;
            let g = graph.read()?;
            Ok(match g.voucher(&voucher_code) {
                Ok(v) => v.map(|v| v.seller_merchant_id),
                Err(never) => match never {},
            })
        })
    }

    fn pages_stamp(&self) -> StoreFuture<'_, PagesStamp> {
        Box::pin(self.readers().call(pages_stamp))
    }
}
