//! The markets' price windows on SQLite (the shared part is
//! `store/price_windows.rs`): caught up by `entries` rowid, so what the
//! file gained since the last read is all that is read.
//!
//! Why by rowid: rowids grow in commit order under SQLite's one writer at
//! a time, and catching up reads the file's rowids, not the pushes this
//! process stored, so another server writing the same file is seen too.
//! A sale is priced under its batch's product and category (the purchase
//! with its trace code), which the server stores first: a sale of a batch
//! it does not hold is refused (`unknown_batch`, core's rules).
//!
//! Only the writer uses it (the incremental pass runs there), so the lock
//! around it is never contended.

use chrono::{DateTime, Duration, Utc};
use rusqlite::{params, Connection};
use shian_core::event::{PURCHASE, SALE};
use shian_core::warnings::Thresholds;

use super::timestamps::{parse_ts, ts};
use crate::store::price_windows::{self, Add, PricedRow};
use crate::store::StoreError;

/// Every market's priced entries in the price window, read up to an
/// `entries` rowid.
pub(super) type PriceWindows = price_windows::PriceWindows<i64>;

impl PriceWindows {
    /// Brings the windows up to the file as of `now`: the whole window on
    /// first use, else the entries stored since the last read; drops what
    /// left the window.
    pub(super) fn catch_up(
        &mut self,
        conn: &Connection,
        t: &Thresholds,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let cutoff = now - Duration::days(t.price.window_days);
        self.catch_up_with(cutoff, |read_to, add| {
            *read_to = read(conn, *read_to, cutoff, add)?.max(*read_to);
            Ok(())
        })
    }

    /// Reads the whole window again (the full pass).
    pub(super) fn reload(
        &mut self,
        conn: &Connection,
        t: &Thresholds,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.unload();
        self.catch_up(conn, t, now)
    }
}

/// Reads the priced purchases and sales stored after rowid `from` and
/// recorded since `cutoff`, of merchants in a market, in rowid order, and
/// hands each to `add` with when it was recorded; returns the last rowid
/// of `entries` read (0 when none). A sale's product and category are its
/// batch's: the purchase with its trace code.
fn read(
    conn: &Connection,
    from: i64,
    cutoff: DateTime<Utc>,
    add: &mut Add<'_>,
) -> Result<i64, StoreError> {
    let end: i64 = conn.query_row("SELECT COALESCE(MAX(rowid), 0) FROM entries", [], |r| {
        r.get(0)
    })?;
    let mut st = conn.prepare_cached(
        "SELECT s.recorded_at, s.entry_id, s.merchant_id, m.market_id, s.kind,
                json_extract(s.payload, '$.unit_price_fen'), json_extract(s.payload, '$.quantity.unit'),
                json_extract(b.payload, '$.product.category'), json_extract(b.payload, '$.product.name'), s.at
         FROM entries s JOIN merchants m ON m.id = s.merchant_id
         LEFT JOIN entries b ON b.rowid = CASE WHEN s.kind = ?3 THEN s.rowid
              ELSE (SELECT p.rowid FROM entries p WHERE p.trace_code = s.trace_code AND p.kind = ?3 LIMIT 1) END
         WHERE s.rowid > ?1 AND s.rowid <= ?5 AND s.recorded_at >= ?2 AND s.kind IN (?3, ?4) AND m.market_id IS NOT NULL
           AND json_extract(s.payload, '$.unit_price_fen') IS NOT NULL
         ORDER BY s.rowid",
    )?;
    let mut rows = st.query(params![from, ts(&cutoff), PURCHASE, SALE, end])?;
    while let Some(r) = rows.next()? {
        let row = PricedRow {
            entry_id: r.get(1)?,
            merchant_id: r.get(2)?,
            market_id: r.get(3)?,
            kind: r.get(4)?,
            price_fen: r.get(5)?,
            unit: r.get(6)?,
            category: r.get(7)?,
            product: r.get(8)?,
            at: r.get(9)?,
        };
        if let Some(obs) = row.observation() {
            add(parse_ts(&r.get::<_, String>(0)?)?, obs);
        }
    }
    Ok(end)
}
