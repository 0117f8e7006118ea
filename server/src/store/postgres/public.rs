//! [`PublicStore`] on PostgreSQL, and the parts of a shop's public record
//! read from the ledger and field tables (suppliers, tests, inspections),
//! as `sqlite/public.rs` reads them.
//!
//! A batch's GTIN and dates are read from the purchase's canonical payload
//! (`entries.payload`, `json`), as on SQLite. The shop's lists name its
//! district, so on Citus they stay in one shard; a trace code names no
//! district, so the product page finds the purchase's district in `codes`
//! (every purchase with a trace code has its row there, written with the
//! entry) and reads one shard; a GTIN spans districts and is read from
//! every shard over `entries_purchase_by_gtin`.

use postgres::GenericClient;
use shian_core::ledger::LedgerView;

use super::ledger::ts;
use super::store::PgStore;
use crate::store::ledger::{PublicInspection, PublicShop};
use crate::store::public::{
    BatchDetails, GtinBatch, PagesStamp, PublicStore, PublicSupplier, PublicTest,
};
use crate::store::{StoreError, StoreFuture};

/// How many of each list a shop's record carries (as SQLite's): enough for
/// a phone screen, and a bound on the page's size.
const INSPECTIONS: i64 = 5;
const TESTS: i64 = 10;
const SUPPLIERS: i64 = 20;

/// Fills the lists of `shop` (merchant `merchant_id`, in district
/// `shop.region_code`) on the connection the rest of the record was read
/// on.
pub(super) fn complete_shop(
    c: &mut impl GenericClient,
    merchant_id: &str,
    shop: &mut PublicShop,
) -> Result<(), StoreError> {
    let region = shop.region_code.clone();
    // Ids compare bytewise (`COLLATE "C"`), as SQLite's BINARY does.
    shop.inspections = c
        .query(
            "SELECT id, result, finished_at FROM inspections
             WHERE region_code = $1 AND merchant_id = $2
             ORDER BY finished_at DESC, id COLLATE \"C\" DESC LIMIT $3",
            &[&region, &merchant_id, &INSPECTIONS],
        )?
        .iter()
        .map(|r| {
            Ok(PublicInspection {
                id: r.try_get(0)?,
                result: r.try_get(1)?,
                finished_at: ts(&r.try_get(2)?),
            })
        })
        .collect::<Result<_, postgres::Error>>()?;
    shop.tests = c
        .query(
            "SELECT item, method, outcome, trace_code, taken_at FROM samples
             WHERE region_code = $1 AND merchant_id = $2
             ORDER BY taken_at DESC, id COLLATE \"C\" DESC LIMIT $3",
            &[&region, &merchant_id, &TESTS],
        )?
        .iter()
        .map(|r| {
            Ok(PublicTest {
                item: r.try_get(0)?,
                method: r.try_get(1)?,
                outcome: r.try_get(2)?,
                trace_code: r.try_get(3)?,
                taken_at: ts(&r.try_get(4)?),
            })
        })
        .collect::<Result<_, postgres::Error>>()?;
    // Live purchases grouped by supplier: an off-platform supplier by the
    // name on the entry, a platform merchant by its id (named from the
    // registry). The latest purchase is the device's time of receipt,
    // compared as an instant (offsets may differ); `last` is that
    // purchase's text as the device sent it (SQLite takes the bare column
    // from the row of the MAX; here the aggregate says so).
    let rows = c.query(
        "SELECT s.ext, m.name, m.shop_code, s.n, s.last FROM (
             SELECT payload -> 'supplier' ->> 'name' AS ext,
                    payload -> 'supplier' ->> 'merchant_id' AS mid,
                    COUNT(*) AS n,
                    MAX((payload ->> 'received_at')::timestamptz) AS day,
                    (array_agg(payload ->> 'received_at'
                               ORDER BY (payload ->> 'received_at')::timestamptz DESC))[1] AS last
             FROM entries
             WHERE region_code = $1 AND merchant_id = $2 AND kind = 'ledger.purchase'
               AND voided_by IS NULL
             GROUP BY 1, 2
         ) s LEFT JOIN merchants m ON m.id = s.mid
         ORDER BY s.day DESC LIMIT $3",
        &[&region, &merchant_id, &SUPPLIERS],
    )?;
    shop.suppliers = rows
        .iter()
        .map(|r| {
            let external: Option<String> = r.try_get(0)?;
            let registered: Option<String> = r.try_get(1)?;
            let n: i64 = r.try_get(3)?;
            Ok(PublicSupplier {
                name: external
                    .or(registered)
                    .unwrap_or_else(|| "平台经营户".to_owned()),
                shop_code: r.try_get(2)?,
                purchases: u32::try_from(n).unwrap_or(u32::MAX),
                last_received_at: r.try_get(4)?,
            })
        })
        .collect::<Result<_, postgres::Error>>()?;
    Ok(())
}

fn batch_details(
    c: &mut impl GenericClient,
    trace_code: &str,
) -> Result<Option<BatchDetails>, StoreError> {
    // Two single-shard reads rather than a join: `codes` and `entries` are
    // distributed by different columns.
    let Some(district) = c
        .query_opt(
            "SELECT region_code FROM codes WHERE code = $1 AND kind = 'trace'",
            &[&trace_code],
        )?
        .map(|r| r.try_get::<_, String>(0))
        .transpose()?
    else {
        return Ok(None);
    };
    let row = c.query_opt(
        "SELECT payload -> 'product' ->> 'category', payload -> 'product' ->> 'gtin',
                payload ->> 'production_date', payload ->> 'expiry_date'
         FROM entries
         WHERE region_code = $1 AND trace_code = $2 AND kind = 'ledger.purchase' AND voided_by IS NULL
         LIMIT 1",
        &[&district, &trace_code],
    )?;
    Ok(row
        .map(|r| -> Result<_, postgres::Error> {
            Ok(BatchDetails {
                category: r.try_get(0)?,
                gtin: r.try_get(1)?,
                production_date: r.try_get(2)?,
                expiry_date: r.try_get(3)?,
            })
        })
        .transpose()?)
}

fn batches_by_gtin(
    c: &mut impl GenericClient,
    gtins: &[String],
    lot: Option<&str>,
    limit: u32,
) -> Result<Vec<GtinBatch>, StoreError> {
    // The expression is `entries_purchase_by_gtin`'s, so the index serves it.
    Ok(c.query(
        "SELECT e.trace_code, e.payload -> 'product' ->> 'name', m.name, m.shop_code,
                e.payload ->> 'received_at'
         FROM entries e LEFT JOIN merchants m ON m.id = e.merchant_id
         WHERE e.kind = 'ledger.purchase'
           AND (e.payload -> 'product' ->> 'gtin') = ANY($1)
           AND e.voided_by IS NULL AND ($2::text IS NULL OR e.trace_code = $2)
         ORDER BY e.recorded_at DESC LIMIT $3",
        &[&gtins, &lot, &i64::from(limit)],
    )?
    .iter()
    .map(|r| {
        Ok(GtinBatch {
            trace_code: r.try_get(0)?,
            product_name: r.try_get(1)?,
            merchant_name: r.try_get(2)?,
            shop_code: r.try_get(3)?,
            received_at: r.try_get(4)?,
        })
    })
    .collect::<Result<_, postgres::Error>>()?)
}

/// The changes feed's sequencer row, and the last value of the ratings'
/// identity sequence (a rolled-back rating moves it too: one forgetting
/// more, never one less). Neither reads a table that grows.
fn pages_stamp(c: &mut impl GenericClient) -> Result<PagesStamp, StoreError> {
    let r = c.query_one(
        "SELECT (SELECT head FROM changes_head WHERE feed = 'changes'),
                COALESCE(pg_sequence_last_value(pg_get_serial_sequence('ratings', 'id')::regclass), 0)",
        &[],
    )?;
    Ok(PagesStamp {
        changes: r.try_get::<_, Option<i64>>(0)?.unwrap_or(0),
        ratings: r.try_get(1)?,
    })
}

impl PublicStore for PgStore {
    fn batch_details(&self, trace_code: String) -> StoreFuture<'_, Option<BatchDetails>> {
        Box::pin(self.pool.call(move |c| batch_details(c, &trace_code)))
    }

    fn batches_by_gtin(
        &self,
        gtins: Vec<String>,
        lot: Option<String>,
        limit: u32,
    ) -> StoreFuture<'_, Vec<GtinBatch>> {
        Box::pin(
            self.pool
                .call(move |c| batches_by_gtin(c, &gtins, lot.as_deref(), limit)),
        )
    }

    // The read model holds vouchers with their live sale, caught up with
    // every committed entry first (a voucher may be another instance's).
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
        Box::pin(self.pool.call(pages_stamp))
    }
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone, Utc};
    use serde_json::{json, Value};

    use super::super::staff::block_on;
    use super::super::testing::{add_market, add_merchant, fresh};
    use super::*;
    use crate::store::ledger::LedgerStore;

    /// A purchase entry of `merchant` (district 350203) at feed position
    /// `pos`, with its trace code's row in `codes`.
    fn purchase(c: &mut impl GenericClient, pos: i64, merchant: &str, code: &str, payload: Value) {
        let at = Utc.with_ymd_and_hms(2026, 6, 1, 0, 0, 0).unwrap() + Duration::minutes(pos);
        c.execute(
            "INSERT INTO entries (region_code, entry_id, pos, kind, merchant_id, at, recorded_at, trace_code, payload)
             VALUES ('350203', $1, $2, 'ledger.purchase', $3, '2026-06-01T08:00:00+08:00', $4, $5, $6::text::json)",
            &[&format!("e{pos}"), &pos, &merchant, &at, &code, &payload.to_string()],
        )
        .unwrap();
        c.execute(
            "INSERT INTO codes (code, kind, region_code, merchant_id, entry_id, created_at)
             VALUES ($1, 'trace', '350203', $2, $3, $4)",
            &[&code, &merchant, &format!("e{pos}"), &at],
        )
        .unwrap();
    }

    fn void(c: &mut impl GenericClient, pos: i64) {
        c.execute(
            "UPDATE entries SET voided_by = 'v' WHERE entry_id = $1",
            &[&format!("e{pos}")],
        )
        .unwrap();
    }

    fn setup(c: &mut impl GenericClient) {
        add_market(c, "mk1", "350203");
        add_merchant(c, "shop1", "350203", Some("mk1"));
        add_merchant(c, "farm2", "350203", None);
    }

    #[test]
    fn a_shop_lists_its_inspections_tests_and_suppliers() {
        let Some(db) = fresh() else { return };
        let mut c = db.store.pool().get().unwrap();
        setup(&mut *c);
        let t0 = Utc.with_ymd_and_hms(2026, 5, 1, 2, 0, 0).unwrap();
        for i in 0..7i64 {
            // Two inspections finish at the same instant: the id decides.
            let finished = t0 + Duration::days(i.min(5));
            c.execute(
                "INSERT INTO inspections (region_code, id, merchant_id, template, template_version, result,
                     violations, inspectors, started_at, finished_at, payload, evaluation, pushed_by, recorded_at)
                 VALUES ('350203', $1, 'shop1', 't', 1, 'compliant', '[]', '[]', $2, $2, '{}', '{}', 'u', $2)",
                &[&format!("i{i}"), &finished],
            )
            .unwrap();
        }
        for i in 0..12i64 {
            c.execute(
                "INSERT INTO samples (region_code, id, merchant_id, trace_code, item, method, value, unit,
                     limit_value, taken_at, outcome, counts_as_failure, payload, evaluation, pushed_by, recorded_at)
                 VALUES ('350203', $1, 'shop1', $2, '毒死蜱', 'rapid', 0, 'mg/kg', 1, $3, 'pass', false,
                     '{}', '{}', 'u', $3)",
                &[&format!("s{i:02}"), &(i == 11).then_some("T11"), &(t0 + Duration::hours(i))],
            )
            .unwrap();
        }
        let supplier = |name: &str, received: &str| json!({"supplier": {"name": name}, "received_at": received, "product": {"name": "青菜", "category": "vegetable"}});
        // The farm's latest purchase is the later instant, though its text
        // sorts first (another offset).
        purchase(
            &mut *c,
            1,
            "shop1",
            "T1",
            supplier("张三农场", "2026-06-01T09:00:00+08:00"),
        );
        purchase(
            &mut *c,
            2,
            "shop1",
            "T2",
            supplier("张三农场", "2026-06-01T02:30:00+00:00"),
        );
        purchase(
            &mut *c,
            3,
            "shop1",
            "T3",
            supplier("李四批发", "2026-06-01T10:00:00+08:00"),
        );
        purchase(
            &mut *c,
            4,
            "shop1",
            "T4",
            json!({"supplier": {"merchant_id": "farm2"}, "received_at": "2026-05-30T10:00:00+08:00", "product": {"name": "鸡蛋", "category": "egg"}}),
        );
        // Voided, and another shop's: not counted.
        purchase(
            &mut *c,
            5,
            "shop1",
            "T5",
            supplier("王五", "2026-06-02T10:00:00+08:00"),
        );
        void(&mut *c, 5);
        purchase(
            &mut *c,
            6,
            "farm2",
            "T6",
            supplier("赵六", "2026-06-02T10:00:00+08:00"),
        );
        drop(c);

        let shop = block_on(db.store.public_shop("S-shop1".into()))
            .unwrap()
            .unwrap();
        let ids: Vec<&str> = shop.inspections.iter().map(|i| i.id.as_str()).collect();
        assert_eq!(ids, ["i6", "i5", "i4", "i3", "i2"]);
        assert_eq!(shop.inspections[0].finished_at, "2026-05-06T02:00:00.000Z");
        assert_eq!(shop.tests.len(), 10);
        assert_eq!(shop.tests[0].trace_code.as_deref(), Some("T11"));
        assert_eq!(shop.tests[0].taken_at, "2026-05-01T13:00:00.000Z");
        assert_eq!(shop.tests[9].taken_at, "2026-05-01T04:00:00.000Z");
        let suppliers: Vec<(&str, Option<&str>, u32, &str)> = shop
            .suppliers
            .iter()
            .map(|s| {
                (
                    s.name.as_str(),
                    s.shop_code.as_deref(),
                    s.purchases,
                    s.last_received_at.as_str(),
                )
            })
            .collect();
        assert_eq!(
            suppliers,
            [
                ("张三农场", None, 2, "2026-06-01T02:30:00+00:00"),
                ("李四批发", None, 1, "2026-06-01T10:00:00+08:00"),
                ("farm2", Some("S-farm2"), 1, "2026-05-30T10:00:00+08:00"),
            ]
        );
    }

    #[test]
    fn batches_by_trace_code_and_by_gtin() {
        let Some(db) = fresh() else { return };
        let mut c = db.store.pool().get().unwrap();
        setup(&mut *c);
        let with_gtin = |gtin: &str| {
            json!({"product": {"name": "冻虾", "category": "frozen", "gtin": gtin},
                   "production_date": "2026-05-01", "expiry_date": null,
                   "received_at": "2026-06-01T08:00:00+08:00"})
        };
        purchase(&mut *c, 1, "shop1", "T1", with_gtin("06901234567892"));
        purchase(&mut *c, 2, "shop1", "T2", with_gtin("6901234567892"));
        purchase(&mut *c, 3, "farm2", "T3", with_gtin("6901234567892"));
        purchase(&mut *c, 4, "shop1", "T4", with_gtin("6901234567892"));
        void(&mut *c, 4);
        purchase(&mut *c, 5, "shop1", "T5", with_gtin("00000000000000"));
        drop(c);
        let s = &db.store;

        let d = block_on(s.batch_details("T1".into())).unwrap().unwrap();
        assert_eq!(
            d,
            BatchDetails {
                category: "frozen".into(),
                gtin: Some("06901234567892".into()),
                production_date: Some("2026-05-01".into()),
                expiry_date: None,
            }
        );
        assert!(block_on(s.batch_details("T4".into())).unwrap().is_none());
        assert!(block_on(s.batch_details("nope".into())).unwrap().is_none());

        let forms = vec!["06901234567892".to_owned(), "6901234567892".to_owned()];
        let all = block_on(s.batches_by_gtin(forms.clone(), None, 10)).unwrap();
        let codes: Vec<&str> = all.iter().map(|b| b.trace_code.as_str()).collect();
        assert_eq!(
            codes,
            ["T3", "T2", "T1"],
            "newest recorded first, live only"
        );
        assert_eq!(all[0].merchant_name.as_deref(), Some("farm2"));
        assert_eq!(all[0].shop_code.as_deref(), Some("S-farm2"));
        assert_eq!(all[0].product_name, "冻虾");
        assert_eq!(all[0].received_at, "2026-06-01T08:00:00+08:00");
        let two = block_on(s.batches_by_gtin(forms.clone(), None, 2)).unwrap();
        assert_eq!(two.len(), 2);
        let lot = block_on(s.batches_by_gtin(forms, Some("T2".into()), 10)).unwrap();
        assert_eq!(lot.len(), 1);
        assert_eq!(lot[0].trace_code, "T2");
    }
}
