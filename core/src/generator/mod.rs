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
mod config;
mod engine;
mod names;
mod purchase;
mod registry;
mod trade;

#[cfg(test)]
mod tests;

use indicatif::{ProgressBar, ProgressStyle};

pub use config::{BusinessMix, GenConfig, Layout, Shares};
pub use registry::{GenMarket, GenMerchant};

use crate::event::LedgerEvent;
use engine::Engine;

/// How often the progress bar is redrawn, in events: cheap at 10⁷ events.
const PROGRESS_EVERY: u64 = 10_000;

/// Yields a market's ledger events in time order.
pub struct Generator {
    engine: Engine,
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
        if self.emitted >= self.next_draw {
            self.next_draw += PROGRESS_EVERY;
            if let Some(bar) = &self.progress {
                bar.set_position(self.emitted);
            }
        }
        Some(event)
    }
}
