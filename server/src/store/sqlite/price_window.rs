//! The markets' price windows, held in memory by the writer: the baselines
//! of the `price_below_market` warning (issue 13: the incremental pass per
//! push).
//!
//! Why: the incremental pass judges a merchant's prices against its
//! market's whole rolling window (the demo market holds 115,443 priced
//! entries over 30 days). Re-reading that window from the file on every
//! push — JSON extracted, each sale joined to its batch's purchase — took
//! 746 ms of a 784 ms pass in a release build, beside 11 ms for the push
//! itself. Now the window is read once (by the full pass, or by the first
//! incremental pass) and then caught up by rowid: only the entries stored
//! since the last pass are read.
//!
//! Why this stays true to the file:
//! - entries are append-only (a correction is a new `ledger.void` entry,
//!   never an update), and a merchant's market is fixed when it is
//!   registered (merchants are only inserted), so what was read never
//!   changes; only the rolling cut-off moves, and [`PriceWindows::catch_up`]
//!   drops what left it;
//! - catching up reads the file's rowids, not the pushes this process
//!   stored, so another server writing the same file is seen too;
//! - a sale is priced under its batch's product and category (the
//!   purchase with its trace code), which the server stores first: a sale
//!   of a batch it does not hold is refused (`unknown_batch`, core's
//!   rules);
//! - the full pass reloads from scratch ([`PriceWindows::reload`]), so a
//!   drift could not outlive the next full pass.
//!
//! Only the writer uses it (the incremental pass runs there), so the lock
//! around it is never contended.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use rusqlite::{params, Connection};
use shian_core::category::Category;
use shian_core::event::{PURCHASE, SALE};
use shian_core::quantity::BaseUnit;
use shian_core::warnings::{PriceObservation, Side, Thresholds};

use super::timestamps::{parse_ts, ts};
use crate::store::StoreError;

/// Every market's priced entries in the price window, as of the entries
/// read so far.
#[derive(Debug, Default)]
pub(super) struct PriceWindows {
    /// `None` until the first read (and after a failed one).
    loaded: Option<Loaded>,
}

#[derive(Debug, Default)]
struct Loaded {
    /// The last `entries` rowid read.
    read_to: i64,
    markets: HashMap<String, Window>,
}

/// One market's window: the observations and, in step, when each entry
/// was recorded (the window is by the server's clock, as the full read's).
#[derive(Debug, Default)]
struct Window {
    obs: Vec<PriceObservation>,
    recorded: Vec<DateTime<Utc>>,
}

impl Window {
    fn push(&mut self, recorded: DateTime<Utc>, obs: PriceObservation) {
        self.obs.push(obs);
        self.recorded.push(recorded);
    }

    fn prune(&mut self, cutoff: DateTime<Utc>) {
        if self.recorded.iter().all(|r| *r >= cutoff) {
            return;
        }
        let mut keep = self.recorded.iter().map(|r| *r >= cutoff);
        self.obs.retain(|_| keep.next().unwrap_or(true));
        self.recorded.retain(|r| *r >= cutoff);
    }
}

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
        let mut loaded = self.loaded.take().unwrap_or_default();
        let from = loaded.read_to;
        loaded.read_to = read(conn, from, cutoff, |recorded, obs| {
            loaded
                .markets
                .entry(obs.market_id.clone())
                .or_default()
                .push(recorded, obs);
        })?
        .max(from);
        for w in loaded.markets.values_mut() {
            w.prune(cutoff);
        }
        self.loaded = Some(loaded);
        Ok(())
    }

    /// Reads the whole window again (the full pass).
    pub(super) fn reload(
        &mut self,
        conn: &Connection,
        t: &Thresholds,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.loaded = None;
        self.catch_up(conn, t, now)
    }

    /// How many observations the windows hold (for the passes' logs).
    pub(super) fn len(&self) -> usize {
        self.loaded
            .as_ref()
            .map_or(0, |l| l.markets.values().map(|w| w.obs.len()).sum())
    }

    /// Lends one market's window (core's `Facts::prices`); give it back
    /// with [`PriceWindows::give_back`]. Moved, not copied.
    pub(super) fn take(&mut self, market: &str) -> Vec<PriceObservation> {
        self.window(market)
            .map(|w| std::mem::take(&mut w.obs))
            .unwrap_or_default()
    }

    pub(super) fn give_back(&mut self, market: &str, obs: Vec<PriceObservation>) {
        if let Some(w) = self.window(market) {
            w.obs = obs;
        }
    }

    /// Lends every market's window as one (the full pass); give it back
    /// with [`PriceWindows::give_back_all`].
    pub(super) fn take_all(&mut self) -> Vec<PriceObservation> {
        let Some(l) = self.loaded.as_mut() else {
            return Vec::new();
        };
        let mut all = Vec::with_capacity(l.markets.values().map(|w| w.obs.len()).sum());
        for w in l.markets.values_mut() {
            all.append(&mut w.obs);
        }
        all
    }

    /// Gives back what [`PriceWindows::take_all`] lent, unchanged in
    /// order: each market's run goes back to its market.
    pub(super) fn give_back_all(&mut self, all: Vec<PriceObservation>) {
        let Some(l) = self.loaded.as_mut() else {
            return;
        };
        for o in all {
            if let Some(w) = l.markets.get_mut(&o.market_id) {
                w.obs.push(o);
            }
        }
    }

    /// The market's window (while lent, its `obs` is empty and `recorded`
    /// keeps its length: nothing prunes a lent window).
    fn window(&mut self, market: &str) -> Option<&mut Window> {
        self.loaded.as_mut()?.markets.get_mut(market)
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
    mut add: impl FnMut(DateTime<Utc>, PriceObservation),
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
        let kind: String = r.get(4)?;
        let unit: Option<String> = r.get(6)?;
        let unit = match unit.as_deref() {
            Some("kg") => Some(BaseUnit::Gram),
            Some(u) => BaseUnit::parse(u),
            None => None,
        };
        let category: Option<String> = r.get(7)?;
        let at: String = r.get(9)?;
        // An entry of no known unit, batch category or device time prices
        // nothing.
        let (Some(unit), Some(category), Some(at)) = (
            unit,
            category.as_deref().and_then(Category::parse),
            super::alerts::device_time(&at),
        ) else {
            continue;
        };
        add(
            parse_ts(&r.get::<_, String>(0)?)?,
            PriceObservation {
                entry_id: r.get(1)?,
                merchant_id: r.get(2)?,
                market_id: r.get(3)?,
                product: r.get::<_, Option<String>>(8)?.unwrap_or_default(),
                category,
                unit,
                side: if kind == PURCHASE {
                    Side::Purchase
                } else {
                    Side::Sale
                },
                price_fen: r.get(5)?,
                at,
            },
        );
    }
    Ok(end)
}
