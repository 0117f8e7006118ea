//! Who carries which planted case: chosen once from the registry with a
//! stream of its own (so trading does not shift when a plant changes), in
//! disjoint groups, so one merchant is never two planted stories at once.
//!
//! Licences are planted in the registry itself (every other licence runs at
//! least 45 days past the end of the run, so only these are near a
//! boundary); the merchants whose licence lapsed either trade on
//! (unlicensed trading, `licence_expired_trading`) or close on that day (its
//! near miss). Samples and complaints are made from these groups by
//! [`super::sampling`] and [`super::complaints`] (and the ledger by the
//! engine, through the profiles set here).

use chrono::{Duration, NaiveDate};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::config::GenConfig;
use super::registry::{Role, World};
use crate::category::Category;

/// The planting stream's seed salt.
const PLANT_STREAM: u64 = 0x504c_414e_545f_5354;

/// Planted licences, in days from "today" (the day after the run's end).
const LICENCE_7D: [i64; 4] = [2, 3, 5, 6];
/// Positives of the 30-day kind that are near misses of the 7-day one.
const LICENCE_10D: [i64; 2] = [10, 12];
const LICENCE_30D: [i64; 4] = [15, 20, 24, 27];
/// One, two and three days past the 30-day horizon.
const LICENCE_31D: [i64; 3] = [31, 32, 33];
/// Lapsed licences: days before today.
const LAPSED_DAYS: [i64; 4] = [12, 15, 18, 20];
const CLOSED_DAYS: [i64; 2] = [14, 19];

/// Counts of the sampling and complaint plants at any scale.
pub(crate) const FALLING_PASS_RATE: usize = 6;
pub(crate) const PASS_RATE_NEAR: usize = 4;
pub(crate) const NOT_SAMPLED: usize = 5;
pub(crate) const NOT_SAMPLED_NEAR: usize = 3;
pub(crate) const TOO_OFTEN: usize = 4;
pub(crate) const TOO_OFTEN_NEAR: usize = 3;
pub(crate) const DISCOUNTERS: usize = 3;

/// A licence planted on a merchant.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PlantedLicence {
    pub merchant: u32,
    pub expiry: NaiveDate,
}

/// The groups, as merchant indexes.
#[derive(Debug, Clone, Default)]
pub(crate) struct Planted {
    /// The day after the run's last day: when the scan runs.
    pub today: NaiveDate,
    pub licences: Vec<PlantedLicence>,
    /// Lapsed licence, trading on.
    pub unlicensed: Vec<u32>,
    /// Lapsed licence, closed that day (near miss).
    pub closed: Vec<u32>,
    /// Sell part of their goods at about 60 % of the market price (the price
    /// near miss).
    pub discounters: Vec<u32>,
    pub falling: Vec<u32>,
    /// The category most falling merchants deal in (a category-level case).
    pub falling_category: Option<Category>,
    pub pass_rate_near: Vec<u32>,
    pub not_sampled: Vec<u32>,
    pub not_sampled_near: Vec<u32>,
    pub too_often: Vec<u32>,
    pub too_often_near: Vec<u32>,
    /// Merchants a complaint plan may use: not in any group above.
    pub free: Vec<u32>,
}

/// Picks from a shuffled order, never the same merchant twice.
struct Picker {
    order: Vec<u32>,
    taken: Vec<bool>,
}

impl Picker {
    fn take(&mut self, n: usize, ok: impl Fn(u32) -> bool) -> Vec<u32> {
        let mut out = Vec::with_capacity(n);
        for &m in &self.order {
            if out.len() == n {
                break;
            }
            if !self.taken[m as usize] && ok(m) {
                self.taken[m as usize] = true;
                out.push(m);
            }
        }
        out
    }
}

/// Chooses the groups and writes the planted licences and profiles into
/// `world`.
pub(crate) fn plant(config: &GenConfig, world: &mut World) -> Planted {
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed ^ PLANT_STREAM);
    let n = world.merchants.len();
    let mut order: Vec<u32> = (0..n as u32).collect();
    order.shuffle(&mut rng);
    let mut pick = Picker {
        order,
        taken: vec![false; n],
    };
    let today = config.end_date + Duration::days(1);
    let role = |m: u32| world.profiles[m as usize].role;
    let honest = |m: u32| {
        let p = &world.profiles[m as usize];
        !p.smuggler && !p.careless
    };
    let seller = |m: u32| matches!(role(m), Role::FirstHop | Role::Wholesale | Role::Retail);
    let only = |m: u32, c: Category| world.merchants[m as usize].categories == [c];

    let mut planted = Planted {
        today,
        ..Planted::default()
    };
    let mut licence = |pick: &mut Picker, days: &[i64], ok: &dyn Fn(u32) -> bool| {
        let ms = pick.take(days.len(), ok);
        for (m, d) in ms.iter().zip(days) {
            planted.licences.push(PlantedLicence {
                merchant: *m,
                expiry: today + Duration::days(*d),
            });
        }
        ms
    };
    licence(&mut pick, &LICENCE_7D, &|_| true);
    licence(&mut pick, &LICENCE_10D, &|_| true);
    licence(&mut pick, &LICENCE_30D, &|_| true);
    licence(&mut pick, &LICENCE_31D, &|_| true);
    let lapsed: Vec<i64> = LAPSED_DAYS.iter().map(|d| -d).collect();
    let unlicensed = licence(&mut pick, &lapsed, &|m| {
        matches!(role(m), Role::Wholesale | Role::Retail)
    });
    let closed_days: Vec<i64> = CLOSED_DAYS.iter().map(|d| -d).collect();
    let closed = licence(&mut pick, &closed_days, &|m| role(m) == Role::Retail);

    planted.discounters = pick.take(DISCOUNTERS, |m| {
        honest(m) && matches!(role(m), Role::FirstHop | Role::Wholesale)
    });
    // The falling pass rate: a cluster in the market's main category (meat
    // with veterinary-drug residues, say), each dealing in that category
    // alone, so a category-level count cannot depend on how an engine
    // splits a merchant's samples, and no other category moves (one planted
    // merchant in a small category brings it just short of α: a case no
    // engine should be judged on). Others only when the cluster runs short.
    let cluster = config.category_weights.first().map(|c| c.0);
    if let Some(c) = cluster {
        planted.falling = pick.take(FALLING_PASS_RATE, |m| only(m, c) && seller(m));
        planted.falling_category = Some(c);
    }
    let rest = FALLING_PASS_RATE.saturating_sub(planted.falling.len());
    let others = pick.take(rest, |m| {
        world.merchants[m as usize].categories.len() == 1
            && Some(world.merchants[m as usize].categories[0]) != cluster
    });
    planted.falling.extend(others);
    planted.pass_rate_near = pick.take(PASS_RATE_NEAR, |m| {
        world.merchants[m as usize].categories.len() == 1
    });
    planted.not_sampled = pick.take(NOT_SAMPLED, |_| true);
    planted.not_sampled_near = pick.take(NOT_SAMPLED_NEAR, |_| true);
    // Low risk: no smuggling, no careless stock keeping.
    planted.too_often = pick.take(TOO_OFTEN, honest);
    planted.too_often_near = pick.take(TOO_OFTEN_NEAR, honest);
    planted.free = pick.take(n, |_| true);

    for l in &planted.licences {
        world.merchants[l.merchant as usize].licence_expiry = l.expiry;
    }
    for m in &closed {
        let p = &mut world.profiles[*m as usize];
        p.closes_on = Some(world.merchants[*m as usize].licence_expiry);
    }
    for m in &planted.discounters {
        world.profiles[*m as usize].discounter = true;
    }
    for m in planted.too_often.iter().chain(&planted.too_often_near) {
        world.profiles[*m as usize].clean = true;
    }
    planted.unlicensed = unlicensed;
    planted.closed = closed;
    planted
}
