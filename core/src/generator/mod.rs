//! A deterministic generator of markets, merchants and ledgers shaped like
//! the seeds: the frozen-food market of seed 000 (478 merchants, smuggled
//! beef sold beyond stock and under price) up to Xiamen in seed 002 (81,000
//! businesses, ~150,000 entries a day, a relabelled cheese reaching dozens
//! of downstream sellers).
//!
//! Goods enter from outside suppliers at first-hop dealers and flow down
//! multi-hop chains in partial sales; every sale to a platform merchant
//! issues a voucher that the buyer scans hours later with the same quantity,
//! so the trace engine, the warnings and the benchmarks all run on ledgers
//! that look like the real ones. The same config and seed give the same
//! events, byte for byte ([`ChaCha8Rng`](rand_chacha::ChaCha8Rng), never the
//! thread RNG), and a run streams: only open batches are kept.
//!
//! Beside the ledger it plants the cases of every warning kind, with near
//! misses, and keeps their [`GroundTruth`]: licences near the 30- and
//! 7-day horizons or lapsed (`plants`), a four-year sampling history
//! ([`Generator::samples`]) beside two years of routine inspections
//! ([`Generator::inspections`]), 60 days of complaints
//! ([`Generator::complaints`]), and the ledger kinds read off the emitted
//! events ([`Generator::record_truth`]). The thresholds are in [`truth`].
//!
//! ```no_run
//! use shian_core::generator::{GenConfig, Generator};
//! let mut generator = Generator::new(GenConfig::frozen_market(7));
//! let shops = generator.merchants().len();
//! generator.progress(true);
//! for event in generator.by_ref().take(1_000) {
//!     let _ = (event.kind(), shops);
//! }
//! ```

mod batches;
mod catalogue;
mod clock;
mod complaints;
mod config;
mod engine;
mod inspections;
mod names;
mod observer;
mod plants;
mod purchase;
mod registry;
mod sampling;
mod trade;
pub mod truth;

#[cfg(test)]
mod tests;

use indicatif::{ProgressBar, ProgressStyle};

pub use complaints::GenComplaint;
pub use config::{BusinessMix, GenConfig, Layout, Shares};
pub use inspections::GenInspection;
pub use registry::{GenMarket, GenMerchant};
pub use sampling::GenSample;
pub use truth::{GroundTruth, SubjectType, TruthCase};

use crate::event::LedgerEvent;
use engine::Engine;
use observer::Observer;
use truth::{
    CaseList, LICENCE_EXPIRING_30D, LICENCE_EXPIRING_7D, LICENCE_URGENT_DAYS, LICENCE_WARN_DAYS,
};

/// How often the progress bar is redrawn, in events: cheap at 10⁷ events.
const PROGRESS_EVERY: u64 = 10_000;

/// Yields a market's ledger events in time order.
pub struct Generator {
    engine: Engine,
    seed: u64,
    config: GenConfig,
    /// Watches the emitted events for the ledger kinds' truth (off unless
    /// asked: it keeps every batch, which a 10⁷-event run does not need).
    observer: Option<Observer>,
    limit: Option<u64>,
    expected: u64,
    emitted: u64,
    /// When the progress bar is next redrawn.
    next_draw: u64,
    progress: Option<ProgressBar>,
}

impl Generator {
    /// Builds the registry (markets, merchants, suppliers) and queues the
    /// first day; events are made as they are pulled.
    pub fn new(config: GenConfig) -> Generator {
        Generator {
            engine: Engine::new(&config),
            seed: config.seed,
            config: config.clone(),
            observer: None,
            limit: config.target_entries,
            expected: config.expected_entries(),
            emitted: 0,
            next_draw: PROGRESS_EVERY,
            progress: None,
        }
    }

    pub fn markets(&self) -> &[GenMarket] {
        &self.engine.world.markets
    }

    pub fn merchants(&self) -> &[GenMerchant] {
        &self.engine.world.merchants
    }

    /// Records the ledger kinds' ground truth from here on: call before the
    /// first event is pulled, or [`Generator::truth`] misses what came
    /// before.
    pub fn record_truth(&mut self) -> &mut Self {
        let w = &self.engine.world;
        let market_index = |id: &str| w.markets.iter().position(|m| m.id == id).unwrap_or(0);
        self.observer = Some(Observer::new(
            w.merchants
                .iter()
                .map(|m| (m.id.clone(), market_index(&m.market_id), m.licence_expiry)),
            self.engine.planted.discounters.clone(),
        ));
        self
    }

    /// The planted sampling history (laboratory results), oldest first:
    /// the same for the same config and seed.
    pub fn samples(&self) -> Vec<GenSample> {
        sampling::samples(
            self.seed,
            &self.engine.world.merchants,
            &self.engine.planted,
        )
    }

    /// Two years of routine inspections of every seller, oldest first.
    pub fn inspections(&self) -> Vec<GenInspection> {
        inspections::inspections(
            self.seed,
            &self.engine.world.merchants,
            &self.engine.planted,
        )
    }

    /// The planted complaints, oldest first.
    pub fn complaints(&self) -> Vec<GenComplaint> {
        complaints::complaints(
            &self.config,
            &self.engine.world.merchants,
            &self.engine.planted,
        )
        .0
    }

    /// The ground truth of every warning kind as of the day after the run:
    /// licences, samples and complaints from the plans, the ledger kinds
    /// from the events emitted so far (none unless [`Generator::record_truth`]
    /// was called first).
    pub fn truth(&self) -> GroundTruth {
        let w = &self.engine.world;
        let planted = &self.engine.planted;
        let mut cases = CaseList::default();
        for m in &w.merchants {
            let days = (m.licence_expiry - planted.today).num_days();
            let note = format!("许可证 {} 到期（{days} 天后）", m.licence_expiry);
            if (0..=LICENCE_URGENT_DAYS).contains(&days) {
                cases.merchant(LICENCE_EXPIRING_7D, &m.id, true, note);
            } else if (LICENCE_URGENT_DAYS + 1..=LICENCE_WARN_DAYS).contains(&days) {
                cases.merchant(LICENCE_EXPIRING_30D, &m.id, true, note.clone());
                if days <= 2 * LICENCE_URGENT_DAYS {
                    cases.merchant(LICENCE_EXPIRING_7D, &m.id, false, note);
                }
            } else if (LICENCE_WARN_DAYS + 1..=LICENCE_WARN_DAYS + 5).contains(&days) {
                cases.merchant(LICENCE_EXPIRING_30D, &m.id, false, note);
            }
        }
        let samples = self.samples();
        sampling::cases(&samples, &w.merchants, &w.markets, planted, &mut cases);
        let (complaints, bursts) = complaints::complaints(&self.config, &w.merchants, planted);
        complaints::cases(
            &complaints,
            &bursts,
            &w.merchants,
            planted.today,
            &mut cases,
        );
        if let Some(o) = &self.observer {
            o.cases(planted.today, &mut cases);
        }
        GroundTruth {
            generator_seed: self.seed,
            cases: cases.finish(),
        }
    }

    /// Shows a progress bar on stderr (for the command line; off by default).
    pub fn progress(&mut self, on: bool) -> &mut Self {
        self.progress = on.then(|| {
            let bar = ProgressBar::new(self.expected);
            if let Ok(style) = ProgressStyle::with_template(
                "{bar:40} {pos}/{len} ledger events, {per_sec}, eta {eta}",
            ) {
                bar.set_style(style);
            }
            bar.set_position(self.emitted);
            bar
        });
        self
    }

    /// Events yielded so far.
    pub fn emitted(&self) -> u64 {
        self.emitted
    }

    /// Batches open right now: the generator's working set.
    pub fn open_batches(&self) -> usize {
        self.engine.open_batches()
    }

    fn finish(&mut self) {
        if let Some(bar) = self.progress.take() {
            bar.set_position(self.emitted);
            bar.finish();
        }
    }
}

impl Iterator for Generator {
    type Item = LedgerEvent;

    fn next(&mut self) -> Option<LedgerEvent> {
        if self.limit.is_some_and(|l| self.emitted >= l) {
            self.finish();
            return None;
        }
        let Some(event) = self.engine.next_event() else {
            self.finish();
            return None;
        };
        self.emitted += 1;
        if let Some(o) = &mut self.observer {
            o.observe(&event);
        }
        if self.emitted >= self.next_draw {
            self.next_draw += PROGRESS_EVERY;
            if let Some(bar) = &self.progress {
                bar.set_position(self.emitted);
            }
        }
        Some(event)
    }
}
