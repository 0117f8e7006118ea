//! The knobs of a generated market, with the two scales of the seeds.

use chrono::{Duration, NaiveDate, Utc};

use crate::category::Category;

/// How merchants are grouped into markets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// One cold-store market holding every merchant (seed 000's 万吨冻库市场).
    ColdStoreMarket,
    /// A city: wholesale markets, farmers' markets and business districts in
    /// every district of Xiamen (seed 002).
    City,
}

/// Relative numbers of each business type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BusinessMix {
    pub wholesale: u32,
    pub retail: u32,
    pub catering: u32,
    pub supermarket: u32,
}

/// Everything that shapes a generated ledger. Fields are public so callers
/// can tweak a scale (fewer days for a fast test, more merchants for a
/// benchmark); the same config and seed always give the same events.
#[derive(Debug, Clone)]
pub struct GenConfig {
    pub seed: u64,
    pub layout: Layout,
    /// Trade only cold-chain goods (a frozen-food market).
    pub cold_chain_only: bool,
    pub merchants: u32,
    pub mix: BusinessMix,
    /// Share of wholesalers that buy from outside suppliers (一级批发); the
    /// rest buy from them (二级批发).
    pub first_hop_share: f64,
    /// How often each category is traded (and dealt in by merchants).
    pub category_weights: Vec<(Category, u32)>,
    /// Last simulated day (Asia/Shanghai). Yesterday by default, so every
    /// time is in the past and passes the ledger's future-time rule.
    pub end_date: NaiveDate,
    /// Simulated days ending on `end_date`.
    pub days: u32,
    /// Stop after this many events (the Xiamen scale runs to a size).
    pub target_entries: Option<u64>,
    /// Ledger entries a day the market should produce in steady state.
    pub transactions_per_day: u64,
    /// Events one delivery from outside sets off down its chain (measured:
    /// the generator divides `transactions_per_day` by it to schedule
    /// deliveries).
    pub events_per_delivery: f64,

    /// How often each kind of trouble happens (the warnings' ground truth).
    pub shares: Shares,
}

/// Shares of anomalies, each a probability per delivery, per merchant or per
/// batch step as its doc says. The defaults aim at the mix a regulator sees
/// in seeds 000 and 002: ~3 % of purchases missing a certificate, ~1 % of
/// sales beyond stock, ~0.5 % of sales past the expiry date, ~0.5 % of
/// prices far under their product's market price.
#[derive(Debug, Clone, PartialEq)]
pub struct Shares {
    /// Deliveries booked without the certificate their category needs. With
    /// the smugglers' lots and the copies that inherit the gap downstream,
    /// about 3 % of purchases raise `missing_certificate` (索证索票 gaps).
    pub missing_certificate: f64,
    /// Downstream purchases whose certificate copy was not kept.
    pub certificate_dropped: f64,
    /// First-hop dealers in meat and imported cold-chain food who smuggle
    /// (seed 000: smuggled beef still traded in the market).
    pub smuggler: f64,
    /// Of a smuggler's deliveries, the share booked from a person without
    /// papers at a fraction of the market price.
    pub smuggled_lot: f64,
    /// Sales beyond what the batch holds, by anyone (entry slips).
    pub oversell: f64,
    /// Sales beyond the batch by smugglers: a documented batch used as cover
    /// for goods of unknown origin (来源不明). Together with
    /// `oversell` about 1 % of sales exceed stock.
    pub smuggler_oversell: f64,
    /// Deliveries arriving a few days before their expiry date (old cold
    /// store stock). About 0.5 % of sales end up past the date.
    pub old_stock: f64,
    /// Merchants who keep selling stock past its date where the others
    /// destroy it: the holders Fuzhou's "expired food on sale" warning finds.
    pub careless: f64,
    /// Sales at a fifth to a third of the product's market price for other reasons
    /// (clearance, entry slips); the smuggled lots add the rest of the
    /// ~0.5 % price outliers.
    pub price_outlier: f64,
    /// Vouchers whose goods travel a day or two (a cold-chain truck to
    /// another district) before the buyer scans them; those still on the
    /// road when the period ends stay unredeemed, in transit.
    pub slow_delivery: f64,
    /// Entries voided minutes later (wrong quantity) and recorded again.
    pub void: f64,
    /// Batch steps that dispose of part of a batch (breakage, returns).
    pub dispose: f64,
    /// Batch steps that record a stock-count correction.
    pub adjust: f64,
}

impl Default for Shares {
    fn default() -> Self {
        Self {
            missing_certificate: 0.015,
            certificate_dropped: 0.014,
            smuggler: 0.04,
            smuggled_lot: 0.5,
            oversell: 0.009,
            smuggler_oversell: 0.3,
            old_stock: 0.05,
            careless: 0.3,
            price_outlier: 0.002,
            slow_delivery: 0.02,
            void: 0.002,
            dispose: 0.002,
            adjust: 0.003,
        }
    }
}

/// Yesterday in Asia/Shanghai.
fn yesterday() -> NaiveDate {
    (Utc::now() + Duration::hours(8)).date_naive() - Duration::days(1)
}

impl GenConfig {
    /// Seed 000: one frozen-food market of 478 merchants over about 90 days,
    /// first-hop dealers buying from outside suppliers, second-hop dealers
    /// and stalls buying from them, and retail buyers and out-of-town
    /// traders off the platform.
    pub fn frozen_market(seed: u64) -> GenConfig {
        GenConfig {
            seed,
            layout: Layout::ColdStoreMarket,
            cold_chain_only: true,
            merchants: 478,
            mix: BusinessMix {
                wholesale: 70,
                retail: 30,
                catering: 0,
                supermarket: 0,
            },
            first_hop_share: 0.45,
            category_weights: vec![
                (Category::LivestockMeat, 28),
                (Category::ImportedColdChain, 24),
                (Category::Poultry, 18),
                (Category::Aquatic, 18),
                (Category::Frozen, 12),
            ],
            end_date: yesterday(),
            days: 90,
            target_entries: None,
            // 478 stalls writing about ten ledger lines a day each.
            transactions_per_day: 5_000,
            // Measured in steady state (after a ~2-week ramp).
            events_per_delivery: 130.0,
            shares: Shares::default(),
        }
    }

    /// Seed 002: Xiamen, 81,000 food businesses across the city and about
    /// 150,000 ledger entries a day, run until `target_entries` events.
    pub fn xiamen(seed: u64, target_entries: u64) -> GenConfig {
        let per_day = 150_000;
        GenConfig {
            seed,
            layout: Layout::City,
            cold_chain_only: false,
            merchants: 81_000,
            mix: BusinessMix {
                wholesale: 8,
                retail: 45,
                catering: 35,
                supermarket: 12,
            },
            first_hop_share: 0.4,
            category_weights: vec![
                (Category::Vegetable, 20),
                (Category::LivestockMeat, 14),
                (Category::Aquatic, 12),
                (Category::Fruit, 10),
                (Category::Poultry, 8),
                (Category::Prepackaged, 8),
                (Category::Frozen, 6),
                (Category::GrainOil, 5),
                (Category::Egg, 5),
                (Category::ImportedColdChain, 4),
                (Category::Dairy, 4),
                (Category::Other, 4),
            ],
            end_date: yesterday(),
            // The chains take about two weeks to fill (a ramp worth some five
            // days of steady trade): start eight days early, so the target
            // is reached two or three days before the end of yesterday.
            days: u32::try_from(target_entries.div_ceil(per_day))
                .unwrap_or(u32::MAX)
                .saturating_add(8),
            target_entries: Some(target_entries),
            transactions_per_day: per_day,
            // Measured in steady state (after the ramp).
            events_per_delivery: 178.0,
            // Much of a city's trade is bulk produce without a printed date,
            // so more of its dated lots must be old for ~0.5 % of sales to
            // fall past the date.
            shares: Shares {
                old_stock: 0.12,
                ..Shares::default()
            },
        }
    }

    /// The number of events a run is expected to yield (for progress bars).
    pub fn expected_entries(&self) -> u64 {
        self.target_entries.unwrap_or(
            self.transactions_per_day
                .saturating_mul(u64::from(self.days)),
        )
    }
}
