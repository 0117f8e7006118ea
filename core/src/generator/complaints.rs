//! Consumers' complaints over the last 60 days, shaped for the complaint
//! warnings, whose rules are the warnings config's `complaints` (read here,
//! one set of numbers for the engine and the truth). Every complaint is
//! against a merchant dealing in one food category, so a category's count
//! does not depend on how an engine splits a merchant's categories. By the
//! position of the category in the config's weights (the frozen market:
//! meat, imported cold-chain, poultry, aquatic, frozen), last 30 days / the
//! 30 before (the hot-topic windows):
//!
//! | # | last 30 / before | bursts against one merchant | hot topic? | naming a product |
//! |---|---|---|---|---|
//! | 0 | 13 / 10 | 6 (frequent), 4 (near miss) | no: p ≈ 0.21 | 8 / 6 (near miss: p ≈ 0.26) |
//! | 1 | 8 / 7 | 5 (frequent), 2 + 3 over 53 days (near miss) | no | – |
//! | 2 | 7 / 3 | 4 (near miss) | near miss: under 8 | – |
//! | 3 | 14 / 5 | 5 (frequent) | **yes**: p ≈ 0.0007 | 9 / 1 (**yes**) |
//! | 4 | 10 / 6 | 7 (frequent) | near miss: 8 or more, p ≈ 0.08 | – |
//!
//! The rest go one each to other merchants of the category. Complaints of
//! the last window are 2–27 days old and of the one before 34–57, clear of
//! either window's edge whether an engine counts from today or yesterday;
//! a product named is one of the category's in the catalogue.

use std::collections::BTreeMap;

use chrono::{Duration, NaiveDate};
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use uuid::{Builder, Uuid};

use super::catalogue::Catalogue;
use super::config::GenConfig;
use super::plants::Planted;
use super::registry::GenMerchant;
use super::truth::{thresholds, CaseList, SubjectType, COMPLAINTS_FREQUENT, COMPLAINT_HOT_TOPIC};
use crate::complaints::ComplaintCategory;
use crate::warnings::product_key;
use crate::warnings::stats::poisson_upper_tail;

const COMPLAINT_STREAM: u64 = 0x434f_4d50_4c41_494e;

/// One complaint, as the public form would file it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenComplaint {
    pub complaint_id: Uuid,
    pub merchant_id: String,
    pub category: ComplaintCategory,
    /// The product complained about, when the consumer names one.
    pub product: Option<String>,
    pub text: String,
    pub received_on: NaiveDate,
}

/// A burst against one merchant: days ago of each complaint.
enum Burst {
    /// `n` complaints 2–24 days ago.
    Recent(usize),
    /// 2 in the last window, 3 in the one before, never 5 in 30 days.
    Spread,
}

struct Design {
    last: usize,
    before: usize,
    bursts: &'static [(Burst, bool)],
    /// Of `last` and `before`, how many name the category's first product.
    product: (usize, usize),
}

/// (burst, planted) per category position; see the module doc.
const DESIGNS: [Design; 5] = [
    Design {
        last: 13,
        before: 10,
        bursts: &[(Burst::Recent(6), true), (Burst::Recent(4), false)],
        product: (8, 6),
    },
    Design {
        last: 8,
        before: 7,
        bursts: &[(Burst::Recent(5), true), (Burst::Spread, false)],
        product: (0, 0),
    },
    Design {
        last: 7,
        before: 3,
        bursts: &[(Burst::Recent(4), false)],
        product: (0, 0),
    },
    Design {
        last: 14,
        before: 5,
        bursts: &[(Burst::Recent(5), true)],
        product: (9, 1),
    },
    Design {
        last: 10,
        before: 6,
        bursts: &[(Burst::Recent(7), true)],
        product: (0, 0),
    },
];

const SPREAD_DAYS: [i64; 5] = [3, 10, 40, 48, 55];

fn text(rng: &mut ChaCha8Rng, category: ComplaintCategory, food: &str) -> String {
    let options: &[&str] = match category {
        ComplaintCategory::ExpiredOrSpoiled => &[
            "买到的{food}解冻后有异味，疑似变质，希望监管部门核查。",
            "在这家购买的{food}已经过了保质期还在卖，请处理。",
            "{food}颜色发暗、发黏，回家一闻有臭味。",
        ],
        ComplaintCategory::ForeignMatter => &["{food}里面有塑料碎片，差点吃进去。"],
        ComplaintCategory::Hygiene => &["摊位地面积水、苍蝇很多，{food}直接放在地上。"],
        ComplaintCategory::ShortWeight => &["称的{food}回家复秤少了将近二两。"],
        ComplaintCategory::Price => &["{food}没有明码标价，结账时比说好的贵。"],
        _ => &["{food}的标签和实物不符，产地写得不清楚。"],
    };
    options
        .choose(rng)
        .copied()
        .unwrap_or("{food}有问题，请核查。")
        .replace("{food}", food)
}

/// Whether a count is a hot topic against the window before: the
/// engine's rule, from the same config.
fn is_hot(last: usize, before: usize) -> (bool, f64) {
    let c = &thresholds().complaints;
    let expected = (before as f64 * c.hot_window_days as f64 / c.hot_baseline_days as f64)
        .max(c.hot_min_expected);
    let p = poisson_upper_tail(last as u64, expected);
    (
        last as u64 >= u64::from(c.hot_min_count) && p < c.hot_alpha,
        p,
    )
}

fn kind_for(rng: &mut ChaCha8Rng, hot: bool) -> ComplaintCategory {
    if hot && rng.random_bool(0.8) {
        return ComplaintCategory::ExpiredOrSpoiled;
    }
    *[
        ComplaintCategory::ExpiredOrSpoiled,
        ComplaintCategory::ForeignMatter,
        ComplaintCategory::Hygiene,
        ComplaintCategory::ShortWeight,
        ComplaintCategory::Price,
        ComplaintCategory::Labelling,
    ]
    .choose(rng)
    .unwrap_or(&ComplaintCategory::Other)
}

/// The complaints, oldest first, and the designed bursts (merchant index,
/// planted).
pub(crate) fn complaints(
    config: &GenConfig,
    merchants: &[GenMerchant],
    planted: &Planted,
) -> (Vec<GenComplaint>, Vec<(u32, bool)>) {
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed ^ COMPLAINT_STREAM);
    let catalogue = Catalogue::new(config.cold_chain_only);
    let window = thresholds().complaints.window_days;
    let mut free = planted.free.clone();
    let mut out = Vec::new();
    let mut bursts = Vec::new();
    let add = |out: &mut Vec<GenComplaint>,
               rng: &mut ChaCha8Rng,
               m: u32,
               ago: i64,
               food: &str,
               hot: bool| {
        let category = kind_for(rng, hot);
        out.push(GenComplaint {
            complaint_id: Builder::from_random_bytes(rng.random()).into_uuid(),
            merchant_id: merchants[m as usize].id.clone(),
            category,
            product: None,
            text: text(rng, category, food),
            received_on: planted.today - Duration::days(ago),
        });
    };
    for (pos, design) in DESIGNS.iter().enumerate() {
        let Some(&(food, _)) = config.category_weights.get(pos) else {
            break;
        };
        let first = out.len();
        let hot = is_hot(design.last, design.before).0;
        let product = catalogue.by_category[food as usize]
            .first()
            .and_then(|i| catalogue.products.get(usize::from(*i)))
            .map(|p| p.name);
        // Merchants of this category alone, in the planting order.
        let mut pool: Vec<u32> = Vec::new();
        free.retain(|m| {
            let only = merchants[*m as usize].categories == [food];
            if only {
                pool.push(*m);
            }
            !only
        });
        let mut pool = pool.into_iter();
        let (mut last, mut before) = (0usize, 0usize);
        for (burst, is_planted) in design.bursts {
            let Some(m) = pool.next() else { break };
            bursts.push((m, *is_planted));
            let days: Vec<i64> = match burst {
                Burst::Recent(n) => (0..*n).map(|_| rng.random_range(2..=24)).collect(),
                Burst::Spread => SPREAD_DAYS.to_vec(),
            };
            for d in days {
                if d < window {
                    last += 1;
                } else {
                    before += 1;
                }
                add(&mut out, &mut rng, m, d, food.zh(), hot);
            }
        }
        for _ in last..design.last {
            let Some(m) = pool.next() else { break };
            let d = rng.random_range(2..=27);
            add(&mut out, &mut rng, m, d, food.zh(), hot);
        }
        for _ in before..design.before {
            let Some(m) = pool.next() else { break };
            let d = rng.random_range(34..=57);
            add(&mut out, &mut rng, m, d, food.zh(), hot);
        }
        // The product named: by the first of the window's complaints and
        // of the window before's.
        if let Some(name) = product {
            let (mut recent, mut earlier) = design.product;
            for c in &mut out[first..] {
                let ago = (planted.today - c.received_on).num_days();
                let slot = if ago < window {
                    &mut recent
                } else {
                    &mut earlier
                };
                if *slot > 0 {
                    *slot -= 1;
                    c.product = Some(name.to_owned());
                    c.text = text(&mut rng, c.category, name);
                }
            }
        }
    }
    out.sort_by_key(|c| (c.received_on, c.complaint_id));
    (out, bursts)
}

/// The complaint kinds' cases, counted from the complaints themselves with
/// the engine's rules: a merchant's complaints in the last `window_days`,
/// and per category and per product named the Poisson test of the last
/// `hot_window_days` against the `hot_baseline_days` before.
pub(crate) fn cases(
    complaints: &[GenComplaint],
    bursts: &[(u32, bool)],
    merchants: &[GenMerchant],
    today: NaiveDate,
    out: &mut CaseList,
) {
    let rule = &thresholds().complaints;
    let index: BTreeMap<&str, usize> = merchants
        .iter()
        .enumerate()
        .map(|(i, m)| (m.id.as_str(), i))
        .collect();
    let mut recent: BTreeMap<usize, usize> = BTreeMap::new();
    // (subject type, id) → (last window, the one before).
    let mut topics: BTreeMap<(SubjectType, String), (usize, usize)> = BTreeMap::new();
    for c in complaints {
        let Some(&i) = index.get(c.merchant_id.as_str()) else {
            continue;
        };
        let ago = (today - c.received_on).num_days();
        let e = recent.entry(i).or_default();
        if (0..rule.window_days).contains(&ago) {
            *e += 1;
        }
        let mut of: Vec<(SubjectType, String)> = merchants[i]
            .categories
            .iter()
            .map(|cat| (SubjectType::Category, cat.as_str().to_owned()))
            .collect();
        if let Some(p) = &c.product {
            of.push((SubjectType::Product, product_key(p)));
        }
        for key in of {
            let e = topics.entry(key).or_default();
            if (0..rule.hot_window_days).contains(&ago) {
                e.0 += 1;
            } else if (rule.hot_window_days..rule.hot_window_days + rule.hot_baseline_days)
                .contains(&ago)
            {
                e.1 += 1;
            }
        }
    }
    for (i, n) in recent {
        let note = format!("近 {} 天 {n} 件投诉", rule.window_days);
        if n as u64 >= u64::from(rule.frequent_min) {
            out.merchant(COMPLAINTS_FREQUENT, &merchants[i].id, true, note);
        } else if bursts.iter().any(|(m, _)| *m as usize == i) {
            out.merchant(COMPLAINTS_FREQUENT, &merchants[i].id, false, note);
        }
    }
    for ((kind, id), (last, before)) in topics {
        let (hot, p) = is_hot(last, before);
        out.push(
            COMPLAINT_HOT_TOPIC,
            kind,
            &id,
            hot,
            format!(
                "近 {} 天 {last} 件，此前 {} 天 {before} 件；泊松检验 p = {p:.2e}",
                rule.hot_window_days, rule.hot_baseline_days
            ),
        );
    }
}
