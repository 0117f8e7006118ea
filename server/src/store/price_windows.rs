//! The markets' price windows, held in memory: the baselines of the
//! `price_below_market` warning that the alerts' incremental pass judges a
//! merchant's prices against (issue 13). What every backend shares — the
//! windows themselves, how they are lent to core's evaluation and pruned,
//! and how a stored priced entry becomes an observation; each backend
//! reads its rows and says how far it has read (`sqlite/price_window.rs`:
//! a rowid; `postgres/price_window.rs`: a position per district).
//!
//! Why in memory: re-reading a market's whole rolling window (the demo
//! market holds 115,443 priced entries over 30 days) on every push took
//! 746 ms of a 784 ms pass in a release build, beside 11 ms for the push
//! itself. The window is read once (by the full pass, or by the first
//! incremental pass) and then caught up with only the entries stored since.
//!
//! Why this stays true to the store: entries are append-only (a correction
//! is a new `ledger.void` entry, never an update) and a merchant's market
//! is fixed when it is registered, so what was read never changes; only
//! the rolling cut-off moves, and [`PriceWindows::catch_up_with`] drops
//! what left it. The full pass reads everything again
//! ([`PriceWindows::unload`] first), so a drift could not outlive it.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use shian_core::category::Category;
use shian_core::event::PURCHASE;
use shian_core::quantity::BaseUnit;
use shian_core::warnings::{PriceObservation, Side};

use super::local_time::device_time;

/// Every market's priced entries in the price window, as of the entries
/// read so far; `P` is how far the backend has read.
#[derive(Debug)]
pub struct PriceWindows<P> {
    /// `None` until the first read (and after a failed one).
    loaded: Option<Loaded<P>>,
}

impl<P> Default for PriceWindows<P> {
    fn default() -> Self {
        Self { loaded: None }
    }
}

#[derive(Debug, Default)]
struct Loaded<P> {
    read_to: P,
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

/// Hands one observation and when its entry was recorded to the windows.
pub type Add<'a> = dyn FnMut(DateTime<Utc>, PriceObservation) + 'a;

impl<P: Default> PriceWindows<P> {
    /// Brings the windows up to the store: `read` gets how far the windows
    /// have read (the default on first use: read everything) and hands
    /// each priced entry recorded since `cutoff` to its `Add`, moving the
    /// mark on as it goes; then what left the window is dropped. A failed
    /// read leaves the windows unloaded, to be read whole next time.
    pub fn catch_up_with<E>(
        &mut self,
        cutoff: DateTime<Utc>,
        read: impl FnOnce(&mut P, &mut Add<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut loaded = self.loaded.take().unwrap_or_default();
        let Loaded { read_to, markets } = &mut loaded;
        read(read_to, &mut |recorded, obs| {
            markets
                .entry(obs.market_id.clone())
                .or_default()
                .push(recorded, obs);
        })?;
        for w in loaded.markets.values_mut() {
            w.prune(cutoff);
        }
        self.loaded = Some(loaded);
        Ok(())
    }

    /// Forgets everything read (before the full pass reads it again).
    pub fn unload(&mut self) {
        self.loaded = None;
    }

    /// How many observations the windows hold (for the passes' logs).
    pub fn len(&self) -> usize {
        self.loaded
            .as_ref()
            .map_or(0, |l| l.markets.values().map(|w| w.obs.len()).sum())
    }

    /// Lends one market's window (core's `Facts::prices`); give it back
    /// with [`PriceWindows::give_back`]. Moved, not copied.
    pub fn take(&mut self, market: &str) -> Vec<PriceObservation> {
        self.window(market)
            .map(|w| std::mem::take(&mut w.obs))
            .unwrap_or_default()
    }

    pub fn give_back(&mut self, market: &str, obs: Vec<PriceObservation>) {
        if let Some(w) = self.window(market) {
            w.obs = obs;
        }
    }

    /// Lends every market's window as one (the full pass); give it back
    /// with [`PriceWindows::give_back_all`].
    pub fn take_all(&mut self) -> Vec<PriceObservation> {
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
    pub fn give_back_all(&mut self, all: Vec<PriceObservation>) {
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

/// Locks the windows for a pass. A pass that panicked while holding them
/// may have left them half caught up: they are dropped, to be read again
/// from the store.
pub fn lock<P: Default>(windows: &Mutex<PriceWindows<P>>) -> MutexGuard<'_, PriceWindows<P>> {
    match windows.lock() {
        Ok(g) => g,
        Err(poisoned) => {
            windows.clear_poison();
            let mut g = poisoned.into_inner();
            g.unload();
            g
        }
    }
}

/// A priced purchase or sale as a backend reads it: the sale's product and
/// category are its batch's (the purchase with its trace code).
pub struct PricedRow {
    pub entry_id: String,
    pub merchant_id: String,
    pub market_id: String,
    pub kind: String,
    pub price_fen: i64,
    pub unit: Option<String>,
    pub category: Option<String>,
    pub product: Option<String>,
    /// The device's time, as sent.
    pub at: String,
}

impl PricedRow {
    /// The observation, or `None` for an entry of no known unit, batch
    /// category or device time: it prices nothing.
    pub fn observation(self) -> Option<PriceObservation> {
        let unit = match self.unit.as_deref() {
            Some("kg") => BaseUnit::Gram,
            Some(u) => BaseUnit::parse(u)?,
            None => return None,
        };
        let category = self.category.as_deref().and_then(Category::parse)?;
        let at = device_time(&self.at)?;
        Some(PriceObservation {
            entry_id: self.entry_id,
            merchant_id: self.merchant_id,
            market_id: self.market_id,
            product: self.product.unwrap_or_default(),
            category,
            unit,
            side: if self.kind == PURCHASE {
                Side::Purchase
            } else {
                Side::Sale
            },
            price_fen: self.price_fen,
            at,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(entry: &str, market: &str, unit: Option<&str>) -> PricedRow {
        PricedRow {
            entry_id: entry.into(),
            merchant_id: "m".into(),
            market_id: market.into(),
            kind: PURCHASE.into(),
            price_fen: 1200,
            unit: unit.map(str::to_owned),
            category: Some(Category::Vegetable.as_str().into()),
            product: Some("白菜".into()),
            at: "2026-12-01T08:00:00+08:00".into(),
        }
    }

    #[test]
    fn a_row_of_no_known_unit_category_or_time_prices_nothing() {
        assert!(row("a", "mk", Some("kg")).observation().is_some());
        assert_eq!(
            row("a", "mk", Some("kg")).observation().map(|o| o.unit),
            Some(BaseUnit::Gram)
        );
        assert!(row("a", "mk", None).observation().is_none());
        assert!(row("a", "mk", Some("furlong")).observation().is_none());
        let mut r = row("a", "mk", Some("kg"));
        r.category = Some("no-such-category".into());
        assert!(r.observation().is_none());
        let mut r = row("a", "mk", Some("kg"));
        r.at = "yesterday".into();
        assert!(r.observation().is_none());
    }

    #[test]
    fn windows_catch_up_prune_lend_and_fail_whole() {
        let t0 = DateTime::parse_from_rfc3339("2026-12-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let mut w = PriceWindows::<i64>::default();
        let obs = |e: &str, m: &str| row(e, m, Some("kg")).observation().unwrap();
        w.catch_up_with(t0, |read_to, add| {
            assert_eq!(*read_to, 0, "first use reads everything");
            add(t0 - chrono::Duration::days(1), obs("old", "mk"));
            add(t0, obs("a", "mk"));
            add(t0, obs("b", "other"));
            *read_to = 3;
            Ok::<_, ()>(())
        })
        .unwrap();
        // The entry recorded before the cut-off left the window.
        assert_eq!(w.len(), 2);
        w.catch_up_with(t0, |read_to, add| {
            assert_eq!(*read_to, 3, "then only what came since");
            add(t0, obs("c", "mk"));
            *read_to = 4;
            Ok::<_, ()>(())
        })
        .unwrap();
        let lent = w.take("mk");
        assert_eq!(
            lent.iter().map(|o| o.entry_id.as_str()).collect::<Vec<_>>(),
            ["a", "c"]
        );
        assert_eq!(w.len(), 1, "a lent window is out");
        w.give_back("mk", lent);
        let all = w.take_all();
        assert_eq!(all.len(), 3);
        w.give_back_all(all);
        assert_eq!(w.take("other").len(), 1);

        // A failed read unloads: the next read starts from nothing.
        assert!(w.catch_up_with(t0, |_, _| Err("down")).is_err());
        assert_eq!(w.len(), 0);
        w.catch_up_with(t0, |read_to, _| {
            assert_eq!(*read_to, 0);
            Ok::<_, ()>(())
        })
        .unwrap();
    }

    /// A poisoned lock gives unloaded windows, to be read again.
    #[test]
    fn a_poisoned_lock_starts_over() {
        let m = std::sync::Arc::new(Mutex::new(PriceWindows::<i64>::default()));
        m.lock()
            .unwrap()
            .catch_up_with(Utc::now(), |_, _| Ok::<_, ()>(()))
            .unwrap();
        let held = std::sync::Arc::clone(&m);
        let _ = std::thread::spawn(move || {
            let _g = held.lock().unwrap();
            panic!("a pass panicked");
        })
        .join();
        assert!(m.is_poisoned());
        assert!(lock(&m).loaded.is_none());
        assert!(!m.is_poisoned());
    }
}
