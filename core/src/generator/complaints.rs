//! Consumers' complaints over the last 60 days, shaped for the complaint
//! warnings. Every complaint is against a merchant dealing in one food
//! category, so a category's count does not depend on how an engine splits
//! a merchant's categories. By the position of the category in the
//! config's weights (the frozen market: meat, imported cold-chain, poultry,
//! aquatic, frozen), last 30 days / the 30 before:
//!
//! | # | last 30 / before | bursts against one merchant | hot topic? |
//! |---|---|---|---|
//! | 0 | 13 / 10 | 6 (frequent), 4 (near miss) | no: not doubled |
//! | 1 | 8 / 7 | 5 (frequent), 2 + 3 over 53 days (near miss) | no |
//! | 2 | 7 / 3 | 4 (near miss) | near miss: doubled, under 8 |
//! | 3 | 14 / 5 | 5 (frequent) | **yes** |
//! | 4 | 10 / 6 | 7 (frequent) | near miss: 8 or more, not doubled |
//!
//! The rest go one each to other merchants of the category. Complaints of
//! the last window are 2–27 days old and of the one before 34–57, clear of
//! either window's edge whether an engine counts from today or yesterday.

use std::collections::BTreeMap;

use chrono::{Duration, NaiveDate};
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use uuid::{Builder, Uuid};

use super::config::GenConfig;
use super::plants::Planted;
use super::registry::GenMerchant;
use super::truth::{
    CaseList, SubjectType, COMPLAINTS_FREQUENT, COMPLAINT_HOT_TOPIC, COMPLAINT_WINDOW_DAYS,
    FREQUENT_COMPLAINTS, HOT_TOPIC_FACTOR, HOT_TOPIC_MIN,
};
use crate::category::Category;
use crate::complaints::ComplaintCategory;

const COMPLAINT_STREAM: u64 = 0x434f_4d50_4c41_494e;

/// One complaint, as the public form would file it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenComplaint {
    pub complaint_id: Uuid,
    pub merchant_id: String,
    pub category: ComplaintCategory,
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
}

/// (burst, planted) per category position; see the module doc.
const DESIGNS: [Design; 5] = [
    Design {
        last: 13,
        before: 10,
        bursts: &[(Burst::Recent(6), true), (Burst::Recent(4), false)],
    },
    Design {
        last: 8,
        before: 7,
        bursts: &[(Burst::Recent(5), true), (Burst::Spread, false)],
    },
    Design {
        last: 7,
        before: 3,
        bursts: &[(Burst::Recent(4), false)],
    },
    Design {
        last: 14,
        before: 5,
        bursts: &[(Burst::Recent(5), true)],
    },
    Design {
        last: 10,
        before: 6,
        bursts: &[(Burst::Recent(7), true)],
    },
];

const SPREAD_DAYS: [i64; 5] = [3, 10, 40, 48, 55];

fn text(rng: &mut ChaCha8Rng, category: ComplaintCategory, food: Category) -> String {
    let food = food.zh();
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
    let mut free = planted.free.clone();
    let mut out = Vec::new();
    let mut bursts = Vec::new();
    let mut add = |rng: &mut ChaCha8Rng, m: u32, ago: i64, food: Category, hot: bool| {
        let category = kind_for(rng, hot);
        out.push(GenComplaint {
            complaint_id: Builder::from_random_bytes(rng.random()).into_uuid(),
            merchant_id: merchants[m as usize].id.clone(),
            category,
            text: text(rng, category, food),
            received_on: planted.today - Duration::days(ago),
        });
    };
    for (pos, design) in DESIGNS.iter().enumerate() {
        let Some(&(food, _)) = config.category_weights.get(pos) else {
            break;
        };
        let hot = design.last >= HOT_TOPIC_MIN && design.last >= HOT_TOPIC_FACTOR * design.before;
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
                if d <= COMPLAINT_WINDOW_DAYS {
                    last += 1;
                } else {
                    before += 1;
                }
                add(&mut rng, m, d, food, hot);
            }
        }
        for _ in last..design.last {
            let Some(m) = pool.next() else { break };
            let d = rng.random_range(2..=27);
            add(&mut rng, m, d, food, hot);
        }
        for _ in before..design.before {
            let Some(m) = pool.next() else { break };
            let d = rng.random_range(34..=57);
            add(&mut rng, m, d, food, hot);
        }
    }
    out.sort_by_key(|c| (c.received_on, c.complaint_id));
    (out, bursts)
}

/// The complaint kinds' cases, counted from the complaints themselves.
pub(crate) fn cases(
    complaints: &[GenComplaint],
    bursts: &[(u32, bool)],
    merchants: &[GenMerchant],
    today: NaiveDate,
    out: &mut CaseList,
) {
    let index: BTreeMap<&str, usize> = merchants
        .iter()
        .enumerate()
        .map(|(i, m)| (m.id.as_str(), i))
        .collect();
    let mut days: BTreeMap<usize, Vec<i64>> = BTreeMap::new();
    let mut by_category: BTreeMap<Category, (usize, usize)> = BTreeMap::new();
    for c in complaints {
        let Some(&i) = index.get(c.merchant_id.as_str()) else {
            continue;
        };
        let ago = (today - c.received_on).num_days();
        days.entry(i).or_default().push(ago);
        for cat in &merchants[i].categories {
            let e = by_category.entry(*cat).or_default();
            if (1..=COMPLAINT_WINDOW_DAYS).contains(&ago) {
                e.0 += 1;
            } else if (COMPLAINT_WINDOW_DAYS + 1..=2 * COMPLAINT_WINDOW_DAYS).contains(&ago) {
                e.1 += 1;
            }
        }
    }
    for (i, mut d) in days {
        d.sort_unstable();
        // The most complaints in any 30 days.
        let most = (0..d.len())
            .map(|a| {
                d[a..]
                    .iter()
                    .take_while(|x| **x - d[a] < COMPLAINT_WINDOW_DAYS)
                    .count()
            })
            .max()
            .unwrap_or(0);
        let note = format!("共 {} 件投诉，任意 30 天内最多 {most} 件", d.len());
        if most >= FREQUENT_COMPLAINTS {
            out.merchant(COMPLAINTS_FREQUENT, &merchants[i].id, true, note);
        } else if bursts.iter().any(|(m, _)| *m as usize == i) {
            out.merchant(COMPLAINTS_FREQUENT, &merchants[i].id, false, note);
        }
    }
    for (cat, (last, before)) in by_category {
        let hot = last >= HOT_TOPIC_MIN && last >= HOT_TOPIC_FACTOR * before;
        out.push(
            COMPLAINT_HOT_TOPIC,
            SubjectType::Category,
            cat.as_str(),
            hot,
            format!("近 30 天 {last} 件，此前 30 天 {before} 件"),
        );
    }
}
