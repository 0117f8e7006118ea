//! The markets' price windows on PostgreSQL (the shared part, and why they
//! are in memory, is `store/price_windows.rs`), held by each instance.
//!
//! Why it is caught up by **per-district positions**, not by an id: on
//! PostgreSQL several instances write, and an entry's number only means
//! "everything below it is committed" within its district's feed
//! (`entries.pos`, numbered under the district's `ledger_heads` row, which
//! is written in the transaction that writes the entries). So, as
//! `ledger.rs`'s `LedgerSource` does, a catch-up reads each district's
//! head and then that district's entries above what it read before, up to
//! that head: all committed, none skipped, whichever instance wrote them.
//! A merchant in a market is in the market's district, so a market's
//! window is one district's entries, in feed order.
//!
//! Why this stays true to the database, as SQLite's:
//! - entries are append-only (a correction is a new `ledger.void` entry)
//!   and a merchant's market is fixed when it is registered, so what was
//!   read never changes; only the rolling cut-off moves, and
//!   [`PriceWindows::catch_up`] drops what left it;
//! - a sale is priced under its batch's product and category: the purchase
//!   that made its trace code (found through `codes`, which holds every
//!   trace code's purchase whatever its district);
//! - the full pass reloads from scratch ([`PriceWindows::reload`]), so a
//!   drift could not outlive the next full pass.
//!
//! An instance's passes hold the lock around it for their whole run (and
//! the passes of all instances are serialised in the database, see
//! `alerts.rs`), so it is never contended for long.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use postgres::GenericClient;
use shian_core::event::{PURCHASE, SALE};
use shian_core::warnings::Thresholds;

pub(super) use crate::store::price_windows::lock;
use crate::store::price_windows::{self, Add, PricedRow};
use crate::store::StoreError;

/// Every market's priced entries in the price window, read up to a feed
/// position per district (`region_code`).
pub(super) type PriceWindows = price_windows::PriceWindows<HashMap<String, i64>>;

impl PriceWindows {
    /// Brings the windows up to the database as of `now`: the whole window
    /// on first use, else each district's entries stored since the last
    /// read; drops what left the window.
    pub(super) fn catch_up(
        &mut self,
        c: &mut impl GenericClient,
        t: &Thresholds,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let cutoff = now - Duration::days(t.price.window_days);
        self.catch_up_with(cutoff, |read_to, add| {
            // The heads first: every entry up to a district's head is
            // committed (the head is written in the entries' transaction).
            let mut ranges = Ranges::default();
            for r in c.query("SELECT region_code, head FROM ledger_heads", &[])? {
                let district: String = r.try_get(0)?;
                let head: i64 = r.try_get(1)?;
                let from = read_to.get(&district).copied().unwrap_or(0);
                if head > from {
                    ranges.districts.push(district);
                    ranges.from.push(from);
                    ranges.to.push(head);
                }
            }
            if !ranges.districts.is_empty() {
                read(c, &ranges, cutoff, add)?;
                for (d, to) in ranges.districts.into_iter().zip(ranges.to) {
                    read_to.insert(d, to);
                }
            }
            Ok(())
        })
    }

    /// Reads the whole window again (the full pass).
    pub(super) fn reload(
        &mut self,
        c: &mut impl GenericClient,
        t: &Thresholds,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.unload();
        self.catch_up(c, t, now)
    }
}

/// The positions to read, per district: above `from`, up to `to`
/// (columns, for `unnest`).
#[derive(Debug, Default)]
struct Ranges {
    districts: Vec<String>,
    from: Vec<i64>,
    to: Vec<i64>,
}

/// Reads the priced purchases and sales in `ranges` recorded since
/// `cutoff`, of merchants in a market, in each district's feed order, and
/// hands each to `add` with when it was recorded. A sale's product and
/// category are its batch's: the purchase with its trace code.
fn read(
    c: &mut impl GenericClient,
    ranges: &Ranges,
    cutoff: DateTime<Utc>,
    add: &mut Add<'_>,
) -> Result<(), StoreError> {
    let rows = c.query(
        "SELECT s.recorded_at, s.entry_id, s.merchant_id, m.market_id, s.kind,
                (s.payload->>'unit_price_fen')::bigint, s.payload->'quantity'->>'unit',
                CASE WHEN s.kind = $5 THEN s.payload->'product'->>'category'
                     ELSE p.payload->'product'->>'category' END,
                CASE WHEN s.kind = $5 THEN s.payload->'product'->>'name'
                     ELSE p.payload->'product'->>'name' END,
                s.at
         FROM unnest($1::text[], $2::bigint[], $3::bigint[]) AS r(region_code, from_pos, to_pos)
         JOIN entries s ON s.region_code = r.region_code AND s.pos > r.from_pos AND s.pos <= r.to_pos
         JOIN merchants m ON m.id = s.merchant_id
         LEFT JOIN codes k ON s.kind = $6 AND k.code = s.trace_code AND k.kind = 'trace'
         LEFT JOIN entries p ON p.region_code = k.region_code AND p.entry_id = k.entry_id AND p.kind = $5
         WHERE s.recorded_at >= $4 AND s.kind IN ($5, $6) AND m.market_id IS NOT NULL
           AND s.payload->>'unit_price_fen' IS NOT NULL
         ORDER BY s.region_code, s.pos",
        &[
            &ranges.districts,
            &ranges.from,
            &ranges.to,
            &cutoff,
            &PURCHASE,
            &SALE,
        ],
    )?;
    for r in rows {
        let row = PricedRow {
            entry_id: r.try_get(1)?,
            merchant_id: r.try_get(2)?,
            market_id: r.try_get(3)?,
            kind: r.try_get(4)?,
            price_fen: r.try_get(5)?,
            unit: r.try_get(6)?,
            category: r.try_get(7)?,
            product: r.try_get(8)?,
            at: r.try_get(9)?,
        };
        if let Some(obs) = row.observation() {
            add(r.try_get(0)?, obs);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use shian_core::category::Category;
    use shian_core::quantity::BaseUnit;
    use shian_core::warnings::Side;

    use super::*;
    use crate::store::postgres::testing::{add_market, add_merchant, fresh};

    /// Appends an entry to its district's feed as a push does (the head
    /// written in the same transaction, the purchase's trace code in
    /// `codes`), recorded at `recorded`.
    #[allow(clippy::too_many_arguments)] // an entry's columns
    fn entry(
        c: &mut postgres::Client,
        region: &str,
        merchant: &str,
        kind: &str,
        trace: &str,
        payload: serde_json::Value,
        recorded: DateTime<Utc>,
    ) -> String {
        let id = uuid::Uuid::now_v7().to_string();
        let mut tx = c.transaction().unwrap();
        let pos: i64 = tx
            .query_one(
                "INSERT INTO ledger_heads (region_code, head) VALUES ($1, 1)
                 ON CONFLICT (region_code) DO UPDATE SET head = ledger_heads.head + 1 RETURNING head",
                &[&region],
            )
            .unwrap()
            .get(0);
        tx.execute(
            "INSERT INTO entries (region_code, entry_id, pos, kind, merchant_id, at, recorded_at, trace_code, payload)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::text::json)",
            &[&region, &id, &pos, &kind, &merchant, &recorded.to_rfc3339(), &recorded, &trace, &payload.to_string()],
        )
        .unwrap();
        if kind == PURCHASE {
            tx.execute(
                "INSERT INTO codes (code, kind, region_code, merchant_id, entry_id, created_at)
                 VALUES ($1, 'trace', $2, $3, $4, $5)",
                &[&trace, &region, &merchant, &id, &recorded],
            )
            .unwrap();
        }
        tx.commit().unwrap();
        id
    }

    fn purchase(price: i64) -> serde_json::Value {
        json!({"product": {"name": "冻牛腱", "category": "livestock_meat"},
               "quantity": {"value": "10", "unit": "kg"}, "unit_price_fen": price})
    }

    /// The windows read each district's feed up to its head, then only
    /// what was stored since — by whichever connection (another instance)
    /// — price a sale under its batch's purchase, keep a market's entries
    /// apart from another's, and drop what leaves the window.
    #[test]
    fn caught_up_per_district_with_what_others_wrote() {
        let Some(db) = fresh() else { return };
        let mut c = db.store.pool().get().unwrap();
        add_market(&mut *c, "mk1", "350203");
        add_market(&mut *c, "mk2", "350205");
        add_merchant(&mut *c, "a", "350203", Some("mk1"));
        add_merchant(&mut *c, "b", "350203", Some("mk1"));
        add_merchant(&mut *c, "c", "350205", Some("mk2"));
        add_merchant(&mut *c, "lone", "350205", None);
        let t = Thresholds::builtin();
        let now = Utc::now();
        let mut w = PriceWindows::default();
        w.catch_up(&mut *c, t, now).unwrap();
        assert_eq!(w.len(), 0);

        // Another instance's writes, on a connection of its own: priced
        // purchases in two districts, a sale of a's batch, an entry with
        // no price, one out of the window, one of a merchant in no market.
        let mut other = postgres::Client::connect(&db.url, postgres::NoTls).unwrap();
        let old = now - Duration::days(t.price.window_days + 1);
        entry(
            &mut other,
            "350203",
            "a",
            PURCHASE,
            "T-old",
            purchase(6_000),
            old,
        );
        let bought = entry(
            &mut other,
            "350203",
            "a",
            PURCHASE,
            "T-a",
            purchase(7_000),
            now,
        );
        let sale = json!({"quantity": {"value": "2", "unit": "kg"}, "unit_price_fen": 9_000});
        let sold = entry(&mut other, "350203", "a", SALE, "T-a", sale, now);
        entry(
            &mut other,
            "350203",
            "b",
            SALE,
            "T-a",
            json!({"quantity": {"value": "1", "unit": "kg"}}),
            now,
        );
        entry(
            &mut other,
            "350205",
            "c",
            PURCHASE,
            "T-c",
            purchase(7_100),
            now,
        );
        entry(
            &mut other,
            "350205",
            "lone",
            PURCHASE,
            "T-l",
            purchase(7_100),
            now,
        );
        w.catch_up(&mut *c, t, now).unwrap();
        assert_eq!(w.len(), 3);

        let mk1 = w.take("mk1");
        let got: Vec<(&str, Side, i64, &str, Category, BaseUnit)> = mk1
            .iter()
            .map(|o| {
                (
                    o.entry_id.as_str(),
                    o.side,
                    o.price_fen,
                    o.product.as_str(),
                    o.category,
                    o.unit,
                )
            })
            .collect();
        let beef = (Category::LivestockMeat, BaseUnit::Gram);
        assert_eq!(
            got,
            vec![
                (
                    bought.as_str(),
                    Side::Purchase,
                    7_000,
                    "冻牛腱",
                    beef.0,
                    beef.1
                ),
                (sold.as_str(), Side::Sale, 9_000, "冻牛腱", beef.0, beef.1),
            ]
        );
        w.give_back("mk1", mk1);
        assert_eq!(w.take("mk2").len(), 1);
        assert!(w.take("nowhere").is_empty());

        // Only what came since is read: nothing twice.
        entry(
            &mut other,
            "350203",
            "b",
            PURCHASE,
            "T-b",
            purchase(6_900),
            now,
        );
        w.catch_up(&mut *c, t, now).unwrap();
        let mk1 = w.take("mk1");
        assert_eq!(mk1.len(), 3);
        w.give_back("mk1", mk1);

        // A reload reads everything again; a month on, all left the window.
        w.reload(&mut *c, t, now).unwrap();
        assert_eq!(w.len(), 4);
        let all = w.take_all();
        assert_eq!(all.len(), 4);
        w.give_back_all(all);
        assert_eq!(w.take("mk1").len(), 3);
        w.reload(&mut *c, t, now).unwrap();
        w.catch_up(&mut *c, t, now + Duration::days(t.price.window_days + 1))
            .unwrap();
        assert_eq!(w.len(), 0);
    }
}
