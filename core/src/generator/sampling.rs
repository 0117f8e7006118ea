//! A sampling history over the last four years (监督抽检, laboratory
//! results), shaped for the pass-rate and sampling-frequency warnings:
//!
//! * every other merchant is sampled about once a year (gaps of 250–450
//!   days, the latest within the last year) and fails 3 % of samples (the
//!   baseline); a failure in the last 12 months is followed within weeks
//!   by a re-sample that passes (跟踪抽检), so one failure among two or
//!   three recent samples stays within chance (binomial p ≥ 0.05);
//! * falling pass rate: three samples in the last 12 months, two or three
//!   of them failed (p < 0.003 against 3 %); they all deal in the market's
//!   main category alone, which makes that category's rate fall too;
//!   near miss: three samples, one failed (p ≈ 0.09);
//! * not sampled: the last sample 3.2–3.8 years ago; near miss: 2.7–2.9
//!   years ago;
//! * sampled too often: 6–8 samples in the last 12 months, all passed, of
//!   merchants that neither smuggle nor keep expired stock; near miss:
//!   exactly 4.
//!
//! The truth of the pass-rate kind is the reference test itself
//! ([`binomial_tail`] of the last 12 months' failures against the failure
//! rate of the samples before them, with the engine's α and minimum counts
//! from the warnings config) for each merchant, market
//! and category, so a market or category that the planted merchants drag
//! down is a positive too, with its p-value in the note.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, FixedOffset, NaiveDate};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};
use uuid::{Builder, Uuid};

use super::clock::{self, HOUR};
use super::plants::Planted;
use super::registry::{GenMarket, GenMerchant};
use super::truth::{
    binomial_tail, thresholds, CaseList, SubjectType, BASELINE_FAILURE_RATE, MAX_SAMPLES_A_YEAR,
    NOT_SAMPLED, NOT_SAMPLED_DAYS, PASS_RATE_ABNORMAL, SAMPLED_TOO_OFTEN,
};
use crate::category::Category;

const SAMPLE_STREAM: u64 = 0x5341_4d50_4c45_5f53;
/// How far back the history goes.
const HISTORY_DAYS: i64 = 4 * 365;

/// One laboratory result, ready to be sent as a `sample.record` op.
#[derive(Debug, Clone, PartialEq)]
pub struct GenSample {
    pub sample_id: Uuid,
    pub merchant_id: String,
    pub item: &'static str,
    pub unit: &'static str,
    pub limit: f64,
    pub value: f64,
    pub taken_at: DateTime<FixedOffset>,
}

impl GenSample {
    pub fn failed(&self) -> bool {
        self.value > self.limit
    }

    /// The `sample.record` payload (core's `SampleRecordPayload`).
    pub fn payload(&self) -> Value {
        json!({
            "sample_id": self.sample_id.to_string(),
            "merchant_id": self.merchant_id,
            "item": self.item,
            "method": "lab",
            "value": self.value,
            "unit": self.unit,
            "limit": self.limit,
            "taken_at": self.taken_at.to_rfc3339(),
        })
    }
}

/// What a category's samples are tested for: (item, unit, limit). Limits
/// from GB 31650 (veterinary drugs) and GB 2762 (contaminants).
fn test_of(c: Category) -> (&'static str, &'static str, f64) {
    match c {
        Category::LivestockMeat | Category::Poultry => ("恩诺沙星", "μg/kg", 100.0),
        Category::Aquatic => ("镉", "mg/kg", 0.1),
        Category::ImportedColdChain | Category::Frozen => ("铅", "mg/kg", 0.2),
        Category::Vegetable | Category::Fruit => ("毒死蜱", "mg/kg", 0.02),
        _ => ("铅", "mg/kg", 0.2),
    }
}

/// Days before today, with the outcome.
type Plan = Vec<(i64, bool)>;

fn background(rng: &mut ChaCha8Rng, from: i64) -> Plan {
    let mut plan = Vec::new();
    let mut ago = from + rng.random_range(0..300);
    while ago < HISTORY_DAYS {
        plan.push((ago, rng.random_bool(BASELINE_FAILURE_RATE)));
        ago += rng.random_range(250..450);
    }
    plan
}

/// Older history only, all passed: the latest exactly `from` days ago.
fn passed_history(rng: &mut ChaCha8Rng, from: i64) -> Plan {
    let mut plan = Vec::new();
    let mut ago = from;
    while ago < HISTORY_DAYS {
        plan.push((ago, false));
        ago += rng.random_range(250..450);
    }
    plan
}

/// Samples spread over the last 12 months (5–350 days ago).
fn recent(rng: &mut ChaCha8Rng, n: usize) -> Vec<i64> {
    let span = 345 / n.max(1) as i64;
    (0..n as i64)
        .map(|i| 5 + i * span + rng.random_range(0..span.max(1)))
        .collect()
}

/// Every merchant's samples, in time order.
pub(crate) fn samples(seed: u64, merchants: &[GenMerchant], planted: &Planted) -> Vec<GenSample> {
    let window = thresholds().pass_rate.window_days;
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ SAMPLE_STREAM);
    let mut out = Vec::new();
    for (i, m) in merchants.iter().enumerate() {
        let i = i as u32;
        let mut plan: Plan = if planted.falling.contains(&i) {
            let fails = if rng.random_bool(0.5) { 3 } else { 2 };
            let mut p = passed_history(&mut rng, 400);
            // The latest ones fail.
            for (k, d) in recent(&mut rng, 3).into_iter().enumerate() {
                p.push((d, k < fails));
            }
            p
        } else if planted.pass_rate_near.contains(&i) {
            let mut p = passed_history(&mut rng, 400);
            for (k, d) in recent(&mut rng, 3).into_iter().enumerate() {
                p.push((d, k == 1));
            }
            p
        } else if planted.not_sampled.contains(&i) {
            {
                let from = rng.random_range(1170..1390);
                passed_history(&mut rng, from)
            }
        } else if planted.not_sampled_near.contains(&i) {
            {
                let from = rng.random_range(985..1060);
                passed_history(&mut rng, from)
            }
        } else if planted.too_often.contains(&i) {
            let n = rng.random_range(6..=8);
            let mut p = passed_history(&mut rng, 760);
            p.extend(recent(&mut rng, n).into_iter().map(|d| (d, false)));
            p
        } else if planted.too_often_near.contains(&i) {
            let mut p = passed_history(&mut rng, 760);
            p.extend(
                recent(&mut rng, MAX_SAMPLES_A_YEAR)
                    .into_iter()
                    .map(|d| (d, false)),
            );
            p
        } else {
            let mut p = background(&mut rng, 20);
            let follow_ups: Vec<i64> = p
                .iter()
                .filter(|(d, failed)| *failed && *d < window)
                .map(|(d, _)| *d)
                .collect();
            for d in follow_ups {
                // The re-sample weeks later, passed; at least two days ago.
                p.push(((d - rng.random_range(20..40)).max(2), false));
            }
            // Never two failures in the window by chance.
            let mut seen = false;
            for (d, failed) in p.iter_mut() {
                if *failed && *d < window {
                    *failed = !seen;
                    seen = true;
                }
            }
            p
        };
        plan.sort_by_key(|x| std::cmp::Reverse(x.0));
        let main = m.categories.first().copied().unwrap_or(Category::Other);
        let (item, unit, limit) = test_of(main);
        for (ago, failed) in plan {
            let value = if failed {
                limit * rng.random_range(1.6..6.0)
            } else {
                limit * rng.random_range(0.0..0.5)
            };
            let date = planted.today - Duration::days(ago);
            let t = clock::midnight(date) + rng.random_range(9 * HOUR..16 * HOUR);
            out.push(GenSample {
                sample_id: Builder::from_random_bytes(rng.random()).into_uuid(),
                merchant_id: m.id.clone(),
                item,
                unit,
                limit,
                value: (value * 1000.0).round() / 1000.0,
                taken_at: clock::to_datetime(t),
            });
        }
    }
    out.sort_by_key(|s| s.taken_at);
    out
}

#[derive(Default)]
struct Counts {
    n: u64,
    k: u64,
}

/// The sampling kinds' cases.
pub(crate) fn cases(
    samples: &[GenSample],
    merchants: &[GenMerchant],
    markets: &[GenMarket],
    planted: &Planted,
    out: &mut CaseList,
) {
    let today = planted.today;
    let rule = &thresholds().pass_rate;
    let ago = |s: &GenSample| (today - s.taken_at.date_naive()).num_days();
    let index: BTreeMap<&str, usize> = merchants
        .iter()
        .enumerate()
        .map(|(i, m)| (m.id.as_str(), i))
        .collect();
    // The baseline: every sample before the window.
    let (old_n, old_k) = samples
        .iter()
        .filter(|s| ago(s) >= rule.window_days)
        .fold((0u64, 0u64), |(n, k), s| (n + 1, k + u64::from(s.failed())));
    let baseline = if old_n > 0 {
        old_k as f64 / old_n as f64
    } else {
        BASELINE_FAILURE_RATE
    };
    let mut by_merchant: BTreeMap<usize, Counts> = BTreeMap::new();
    let mut by_market: BTreeMap<&str, Counts> = BTreeMap::new();
    let mut by_category: BTreeMap<Category, Counts> = BTreeMap::new();
    let mut last: BTreeMap<usize, NaiveDate> = BTreeMap::new();
    for s in samples {
        let Some(&i) = index.get(s.merchant_id.as_str()) else {
            continue;
        };
        let e = last.entry(i).or_insert(s.taken_at.date_naive());
        *e = (*e).max(s.taken_at.date_naive());
        if ago(s) >= rule.window_days {
            continue;
        }
        let f = u64::from(s.failed());
        let m = &merchants[i];
        for c in [
            by_merchant.entry(i).or_default(),
            by_market.entry(m.market_id.as_str()).or_default(),
        ] {
            c.n += 1;
            c.k += f;
        }
        // The category tested: the merchant's main one (`test_of`), as the
        // engine counts a sample naming no batch.
        if let Some(cat) = m.categories.first() {
            let c = by_category.entry(*cat).or_default();
            c.n += 1;
            c.k += f;
        }
    }
    let verdict = |c: &Counts| {
        let p = binomial_tail(c.n, c.k, baseline);
        let enough = c.n >= u64::from(rule.min_samples) && c.k >= u64::from(rule.min_failures);
        (
            enough && p < rule.alpha,
            format!(
                "近12个月抽检 {} 批次，不合格 {} 批次；基线不合格率 {:.1}%，单侧二项检验 p = {:.2e}",
                c.n,
                c.k,
                baseline * 100.0,
                p
            ),
        )
    };
    for (i, c) in &by_merchant {
        let (significant, note) = verdict(c);
        let near = planted.pass_rate_near.contains(&(*i as u32));
        if significant || near {
            out.merchant(PASS_RATE_ABNORMAL, &merchants[*i].id, significant, note);
        }
    }
    for mk in markets {
        let c = by_market
            .get(mk.id.as_str())
            .unwrap_or(&Counts { n: 0, k: 0 });
        let (significant, note) = verdict(c);
        out.push(
            PASS_RATE_ABNORMAL,
            SubjectType::Market,
            &mk.id,
            significant,
            note,
        );
    }
    for (cat, c) in &by_category {
        let (significant, note) = verdict(c);
        out.push(
            PASS_RATE_ABNORMAL,
            SubjectType::Category,
            cat.as_str(),
            significant,
            note,
        );
    }

    for (i, m) in merchants.iter().enumerate() {
        let i32_ = i as u32;
        let Some(d) = last.get(&i) else {
            out.merchant(NOT_SAMPLED, &m.id, true, "从未抽检".to_owned());
            continue;
        };
        let gap = (today - *d).num_days();
        let note = format!("最近一次抽检 {d}（{gap} 天前）");
        if gap > NOT_SAMPLED_DAYS {
            out.merchant(NOT_SAMPLED, &m.id, true, note);
        } else if planted.not_sampled_near.contains(&i32_) {
            out.merchant(NOT_SAMPLED, &m.id, false, note);
        }
        let n = by_merchant.get(&i).map_or(0, |c| c.n) as usize;
        let note = format!("近12个月抽检 {n} 次");
        if n > MAX_SAMPLES_A_YEAR {
            out.merchant(SAMPLED_TOO_OFTEN, &m.id, true, note);
        } else if planted.too_often_near.contains(&i32_) {
            out.merchant(SAMPLED_TOO_OFTEN, &m.id, false, note);
        }
    }
}
