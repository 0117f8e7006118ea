//! Prices far below the market (seed 000: smuggled frozen beef sold at
//! about a third of the market price), judged entry by entry against the
//! entry's own product.
//!
//! A category mixes goods of very different prices (冻牛腱 at ~70 yuan a
//! kilo beside 冻猪蹄 at ~30), so a category's spread hides a smuggler, and
//! a smuggler's few cheap lots among its normal trade do not move its
//! median. So the baseline is per (market, product as booked —
//! [`product_key`], within its category —, unit, purchase or sale) over the
//! rolling window: the
//! median and the median absolute deviation (×1.4826) of the per-entry unit
//! prices of the *other* merchants (leave-one-out for a merchant holding a
//! twentieth of the group's entries or more, so it cannot pull its own
//! baseline down; a smaller one is judged against the whole group's,
//! computed once, which its few prices cannot move far). An entry below
//! both `median − k·1.4826·MAD` and `share × median` is an outlier — both
//! gates, because a product sold at one price has MAD 0, and a loose one a
//! wide MAD. A product with too few other entries or merchants in the
//! window has no baseline of its own and its entries are judged against
//! their category's (the config's `category_fallback`); the warning says
//! which. A merchant with at least `min_outlying_entries` outliers gets one
//! warning (identity is kind + merchant) carrying those entries, cheapest
//! first, with their prices and their baselines.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, Utc};

use super::stats::{median_mad, MAD_TO_SIGMA};
use super::{
    figures, product_key, Candidate, Evidence, Facts, Kind, Link, LinkType, PriceObservation,
    Scope, Side, Subject, SubjectType, Thresholds,
};
use crate::category::Category;

/// The entries of one baseline group, by merchant, with the group's sorted
/// prices and (once asked) its whole median and MAD.
struct Group<'a> {
    by_merchant: BTreeMap<&'a str, Vec<&'a PriceObservation>>,
    sorted: Vec<f64>,
    whole: Option<Option<(f64, f64)>>,
}

impl<'a> Group<'a> {
    fn new(obs: Vec<&'a PriceObservation>) -> Group<'a> {
        let mut by_merchant: BTreeMap<&str, Vec<&PriceObservation>> = BTreeMap::new();
        let mut sorted = Vec::with_capacity(obs.len());
        for o in obs {
            sorted.push(o.price_fen as f64);
            by_merchant
                .entry(o.merchant_id.as_str())
                .or_default()
                .push(o);
        }
        sorted.sort_by(f64::total_cmp);
        Group {
            by_merchant,
            sorted,
            whole: None,
        }
    }

    fn len(&self) -> usize {
        self.sorted.len()
    }

    /// The baseline `merchant`'s entries `own` are judged against, or
    /// `None` when the others are too few. `cheapest` is its lowest price:
    /// when even that cannot be under the share of the others' median, no
    /// baseline is computed.
    fn baseline(&mut self, t: &Thresholds, merchant: &str, cheapest: f64) -> Baseline {
        let p = &t.price;
        let own = self.by_merchant.get(merchant).map_or(0, Vec::len);
        let others = self.len() - own;
        let merchants = self.by_merchant.len() - usize::from(own > 0);
        if others < p.min_baseline_entries || merchants < p.min_merchants || others == 0 {
            return Baseline::None;
        }
        // Without the merchant's k prices the others' median is at most the
        // ((n + k) / 2 + 1)-th of all: a merchant whose cheapest price is
        // not below that share of it has no outlier.
        let upper = self.sorted[((self.len() + own) / 2 + 1).min(self.len() - 1)];
        if cheapest >= p.max_share_of_median * upper {
            return Baseline::Clear;
        }
        let stats = if own * 20 >= self.len() {
            let rest: Vec<f64> = self
                .by_merchant
                .iter()
                .filter(|(m, _)| **m != merchant)
                .flat_map(|(_, v)| v.iter().map(|o| o.price_fen as f64))
                .collect();
            median_mad(&rest)
        } else {
            *self.whole.get_or_insert_with(|| median_mad(&self.sorted))
        };
        match stats {
            Some((median, mad)) if median > 0.0 => {
                let robust = median - p.mad_k * MAD_TO_SIGMA * mad;
                Baseline::Of(Stats {
                    median,
                    mad,
                    threshold: robust.min(p.max_share_of_median * median),
                    entries: others,
                    merchants,
                })
            }
            _ => Baseline::Clear,
        }
    }
}

/// A category's entries, grouped (sorted) on first use.
struct Lazy<'a> {
    gathered: Vec<&'a PriceObservation>,
    group: Option<Group<'a>>,
}

impl<'a> Lazy<'a> {
    fn group(&mut self) -> &mut Group<'a> {
        let gathered = &mut self.gathered;
        self.group
            .get_or_insert_with(|| Group::new(std::mem::take(gathered)))
    }
}

#[derive(Debug, Clone, Copy)]
struct Stats {
    median: f64,
    mad: f64,
    threshold: f64,
    entries: usize,
    merchants: usize,
}

enum Baseline {
    /// Too few other entries or merchants to judge by.
    None,
    /// Judged: nothing of the merchant's can be under it.
    Clear,
    Of(Stats),
}

/// One outlying entry and what it was judged against.
struct Outlier<'a> {
    obs: &'a PriceObservation,
    stats: Stats,
    /// Against its category, for want of a product baseline.
    category: bool,
}

impl Outlier<'_> {
    fn share(&self) -> f64 {
        self.obs.price_fen as f64 / self.stats.median
    }
}

/// (market, category, product key, unit by its wire name, side): a name
/// booked under two categories is two products.
type ProductKey<'a> = (&'a str, Category, &'a str, &'static str, Side);

/// (market, category, unit, side).
type CategoryKey<'a> = (&'a str, Category, &'static str, Side);

/// The entry's product group, its name folded as in `folded`.
fn product_key_of<'a>(
    folded: &'a HashMap<&str, String>,
    o: &'a PriceObservation,
) -> ProductKey<'a> {
    let (market, category, unit, side) = category_key(o);
    let key = folded.get(o.product.as_str()).map_or("", String::as_str);
    (market, category, key, unit, side)
}

/// Whether the entry is in the category group `k`: the fields held in the
/// entry itself first, its market's name (behind a pointer) last.
fn in_category(k: &CategoryKey<'_>, o: &PriceObservation) -> bool {
    k.1 == o.category && k.3 == o.side && k.2 == o.unit.as_str() && k.0 == o.market_id
}

fn category_key(o: &PriceObservation) -> CategoryKey<'_> {
    (o.market_id.as_str(), o.category, o.unit.as_str(), o.side)
}

pub fn detect(
    t: &Thresholds,
    facts: &Facts,
    now: DateTime<Utc>,
    scope: Scope<'_>,
) -> Vec<Candidate> {
    let p = &t.price;
    let since = now - Duration::days(p.window_days);
    let window = || facts.prices.iter().filter(|o| o.at >= since && o.at <= now);
    // The product keys the groups borrow: every name's (the full pass),
    // or the merchant's own products'.
    let mut folded: HashMap<&str, String> = HashMap::new();
    let mut own: Vec<(CategoryKey<'_>, String)>;
    let mut products: BTreeMap<ProductKey<'_>, Vec<&PriceObservation>> = BTreeMap::new();
    let mut categories: BTreeMap<CategoryKey<'_>, Vec<&PriceObservation>> = BTreeMap::new();
    match scope {
        Scope::All => {
            // Names are folded once per name as booked (a market books a
            // few hundred names over a hundred thousand entries).
            for o in window() {
                folded
                    .entry(o.product.as_str())
                    .or_insert_with(|| product_key(&o.product));
            }
            for o in window() {
                products
                    .entry(product_key_of(&folded, o))
                    .or_default()
                    .push(o);
                if p.category_fallback {
                    categories.entry(category_key(o)).or_default().push(o);
                }
            }
        }
        Scope::Merchant(only) => {
            // Only the groups the merchant's own entries fall in matter:
            // the others are neither gathered nor sorted (the incremental
            // pass judges one merchant against its market's whole window,
            // so this loop is its cost: a few comparisons an entry).
            own = window()
                .filter(|o| o.merchant_id == only)
                .map(|o| (category_key(o), product_key(&o.product)))
                .collect();
            if own.is_empty() {
                return Vec::new();
            }
            own.sort_unstable();
            own.dedup();
            let mut cats: Vec<(CategoryKey<'_>, Vec<&PriceObservation>)> = Vec::new();
            for (c, _) in &own {
                if cats.last().is_none_or(|(l, _)| l != c) {
                    cats.push((*c, Vec::new()));
                }
            }
            let mut groups: Vec<Vec<&PriceObservation>> = vec![Vec::new(); own.len()];
            for o in window() {
                let Some(ci) = cats.iter().position(|(k, _)| in_category(k, o)) else {
                    continue;
                };
                if let Some(gi) = own
                    .iter()
                    .position(|(k, key)| *k == cats[ci].0 && super::folds_to(&o.product, key))
                {
                    groups[gi].push(o);
                }
                if p.category_fallback {
                    cats[ci].1.push(o);
                }
            }
            for (((market, category, unit, side), key), group) in own.iter().zip(groups) {
                products.insert((market, *category, key.as_str(), unit, *side), group);
            }
            categories.extend(cats);
        }
    }
    let wanted = |m: &str| match scope {
        Scope::All => true,
        Scope::Merchant(only) => m == only,
    };
    // A category's group is sorted only when one of its products has no
    // baseline of its own.
    let mut categories: BTreeMap<CategoryKey<'_>, Lazy<'_>> = categories
        .into_iter()
        .map(|(k, gathered)| {
            (
                k,
                Lazy {
                    gathered,
                    group: None,
                },
            )
        })
        .collect();
    let mut outliers: BTreeMap<&str, Vec<Outlier<'_>>> = BTreeMap::new();
    for ((market, category, _, unit, side), obs) in products {
        let mut group = Group::new(obs);
        let merchants: Vec<&str> = group
            .by_merchant
            .keys()
            .copied()
            .filter(|m| wanted(m))
            .collect();
        for m in merchants {
            let own = group.by_merchant[m].clone();
            let cheapest = own.iter().map(|o| o.price_fen).min().unwrap_or(0) as f64;
            let (stats, category) = match group.baseline(t, m, cheapest) {
                Baseline::Of(s) => (s, false),
                Baseline::Clear => continue,
                Baseline::None => {
                    let key = (market, category, unit, side);
                    match categories
                        .get_mut(&key)
                        .map(|g| g.group().baseline(t, m, cheapest))
                    {
                        Some(Baseline::Of(s)) => (s, true),
                        _ => continue,
                    }
                }
            };
            outliers.entry(m).or_default().extend(
                own.into_iter()
                    .filter(|o| (o.price_fen as f64) < stats.threshold)
                    .map(|obs| Outlier {
                        obs,
                        stats,
                        category,
                    }),
            );
        }
    }
    let mut out = Vec::new();
    for (m, mut found) in outliers {
        if found.len() < p.min_outlying_entries.max(1) {
            continue;
        }
        found.sort_by(|a, b| {
            a.share()
                .total_cmp(&b.share())
                .then(b.obs.at.cmp(&a.obs.at))
                .then(a.obs.entry_id.cmp(&b.obs.entry_id))
        });
        out.push(candidate(t, facts, m, &found));
    }
    out
}

/// The merchant's warning; `found` is not empty, cheapest share first.
fn candidate(t: &Thresholds, facts: &Facts, m: &str, found: &[Outlier<'_>]) -> Candidate {
    let lowest = &found[0];
    let o = lowest.obs;
    let (name, market_of) = facts
        .merchant_names
        .get(m)
        .cloned()
        .unwrap_or_else(|| (m.to_owned(), Some(o.market_id.clone())));
    let shown = &found[..found.len().min(t.max_links)];
    let mut figs = figures([
        ("outlying_entries", found.len() as f64),
        ("lowest_price_fen", o.price_fen as f64),
        ("lowest_share_of_median", lowest.share()),
        ("baseline_median_fen", lowest.stats.median),
        ("baseline_mad_fen", lowest.stats.mad),
        ("threshold_fen", lowest.stats.threshold),
        ("baseline_entries", lowest.stats.entries as f64),
        ("baseline_merchants", lowest.stats.merchants as f64),
        ("category_baseline", f64::from(u8::from(lowest.category))),
        ("max_share_of_median", t.price.max_share_of_median),
    ]);
    for x in shown {
        let id = &x.obs.entry_id;
        figs.insert(format!("entry.{id}.price_fen"), x.obs.price_fen as f64);
        figs.insert(format!("entry.{id}.baseline_median_fen"), x.stats.median);
    }
    let verb = match o.side {
        Side::Purchase => "进货",
        Side::Sale => "销售",
    };
    let against = if lowest.category {
        format!("本市场{}", o.category.zh())
    } else {
        "本市场同品".to_owned()
    };
    let kind = Kind::PriceBelowMarket;
    Candidate {
        kind,
        subject: Subject {
            kind: SubjectType::Merchant,
            id: m.to_owned(),
            market_id: market_of.or_else(|| Some(o.market_id.clone())),
            name,
        },
        severity: t.severity(kind),
        title: format!(
            "“{}”{}价每{}{}分，仅为{}中位{:.0}分的{:.0}%（近{}天共{}笔明显低于市场价）",
            product_key(&o.product),
            verb,
            o.unit.zh(),
            o.price_fen,
            against,
            lowest.stats.median,
            100.0 * lowest.share(),
            t.price.window_days,
            found.len()
        ),
        evidence: Evidence {
            figures: figs,
            links: shown
                .iter()
                .map(|x| Link::new(LinkType::Entry, &x.obs.entry_id))
                .collect(),
        },
        latest: found.iter().map(|x| x.obs.at).max().unwrap_or(o.at),
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;
    use crate::quantity::BaseUnit;
    use crate::warnings::product_key;

    fn obs(entry: &str, merchant: &str, product: &str, price: i64) -> PriceObservation {
        PriceObservation {
            entry_id: entry.into(),
            merchant_id: merchant.into(),
            market_id: "mk1".into(),
            product: product.into(),
            category: Category::LivestockMeat,
            unit: BaseUnit::Gram,
            side: Side::Sale,
            price_fen: price,
            at: at(2026, 11, 25),
        }
    }

    /// One category, two products far apart in price (seed 000's frozen
    /// market: 冻牛腱 beside 冻猪蹄): five honest merchants sell each, four
    /// sales a product, beef about 7,000 fen and trotters about 3,000 a kilo.
    fn market() -> Vec<PriceObservation> {
        let mut v = Vec::new();
        for m in 0..5 {
            for (i, p) in [6_800, 7_000, 7_100, 7_300].into_iter().enumerate() {
                v.push(obs(
                    &format!("b{m}-{i}"),
                    &format!("h{m}"),
                    "冻牛腱",
                    p + m * 50,
                ));
            }
            for (i, p) in [2_900, 3_000, 3_050, 3_100].into_iter().enumerate() {
                v.push(obs(
                    &format!("t{m}-{i}"),
                    &format!("h{m}"),
                    "冻猪蹄",
                    p + m * 20,
                ));
            }
        }
        v
    }

    fn run(prices: Vec<PriceObservation>, scope: Scope<'_>) -> Vec<Candidate> {
        let facts = Facts {
            prices,
            ..Facts::default()
        };
        detect(Thresholds::builtin(), &facts, at(2026, 12, 1), scope)
    }

    /// A smuggler sells mostly at the market price and a few lots of beef
    /// at a third of it: its median does not move, its entries do.
    #[test]
    fn a_few_lots_at_a_third_of_the_product_price_fire_with_those_entries() {
        let mut v = market();
        for i in 0..6 {
            v.push(obs(&format!("n{i}"), "smuggler", "冻牛腱", 7_000));
        }
        v.push(obs("s1", "smuggler", "冻牛腱", 2_300));
        v.push(obs("s2", "smuggler", "冻牛腱 ", 2_400));
        let c = run(v.clone(), Scope::All);
        assert_eq!(kinds(&c), vec![Kind::PriceBelowMarket], "{c:#?}");
        assert_eq!(c[0].subject.id, "smuggler");
        let links: Vec<_> = c[0].evidence.links.iter().map(|l| l.id.as_str()).collect();
        assert_eq!(
            links,
            vec!["s1", "s2"],
            "the outlying entries, cheapest first"
        );
        let f = &c[0].evidence.figures;
        assert_eq!(f["outlying_entries"], 2.0);
        assert_eq!(f["entry.s1.price_fen"], 2_300.0);
        assert!((6_900.0..7_300.0).contains(&f["entry.s1.baseline_median_fen"]));
        assert!(f["lowest_share_of_median"] < 0.35);
        assert_eq!(f["category_baseline"], 0.0);
        // Incrementally, for that merchant alone, the same candidate.
        assert_eq!(run(v, Scope::Merchant("smuggler")), c);
    }

    /// Trotters are cheap beside beef in the same category: priced as
    /// trotters, they are no outlier.
    #[test]
    fn an_honest_cheap_product_in_a_dear_category_stays_quiet() {
        let mut v = market();
        // A sixth merchant selling beef would pull the category's median up.
        for i in 0..8 {
            v.push(obs(&format!("x{i}"), "beef", "冻牛腱", 7_000));
        }
        for i in 0..3 {
            v.push(obs(&format!("y{i}"), "trotters", "冻猪蹄", 2_950));
        }
        assert!(run(v, Scope::All).is_empty());
    }

    #[test]
    fn a_discount_at_sixty_percent_of_the_product_price_stays_quiet() {
        let mut v = market();
        v.push(obs("d1", "discounter", "冻牛腱", 4_300));
        v.push(obs("d2", "discounter", "冻牛腱", 4_200));
        assert!(run(v, Scope::All).is_empty());
    }

    /// Cheap in two products and on both sides: one warning for the
    /// merchant, every outlying entry in it.
    #[test]
    fn one_warning_per_merchant_across_products_and_sides() {
        let mut v = market();
        for m in 0..5 {
            for (i, p) in [6_400, 6_500, 6_600].into_iter().enumerate() {
                let mut o = obs(&format!("p{m}-{i}"), &format!("h{m}"), "冻牛腱", p);
                o.side = Side::Purchase;
                v.push(o);
            }
        }
        let mut bought = obs("s0", "smuggler", "冻牛腱", 2_000);
        bought.side = Side::Purchase;
        v.push(bought);
        v.push(obs("s1", "smuggler", "冻牛腱", 2_300));
        v.push(obs("s2", "smuggler", "冻猪蹄", 1_000));
        let c = run(v, Scope::All);
        assert_eq!(kinds(&c), vec![Kind::PriceBelowMarket], "{c:#?}");
        let mut links: Vec<_> = c[0].evidence.links.iter().map(|l| l.id.as_str()).collect();
        links.sort_unstable();
        assert_eq!(links, vec!["s0", "s1", "s2"]);
    }

    /// A product too rare for a baseline of its own is judged against its
    /// category (and says so); a category mixing dear and cheap goods has
    /// a MAD too wide to flag anything by.
    #[test]
    fn a_rare_product_falls_back_to_the_category_baseline() {
        let poultry = |entry: &str, merchant: &str, product: &str, price: i64| PriceObservation {
            category: Category::Poultry,
            ..obs(entry, merchant, product, price)
        };
        let mut v = market();
        for m in 0..5 {
            for (i, p) in [3_100, 3_200, 3_300].into_iter().enumerate() {
                v.push(poultry(&format!("w{m}-{i}"), &format!("h{m}"), "冻鸭掌", p));
            }
        }
        v.push(poultry("r1", "odd", "冻鸭舌", 1_000));
        let c = run(v.clone(), Scope::All);
        assert_eq!(kinds(&c), vec![Kind::PriceBelowMarket], "{c:#?}");
        assert_eq!(c[0].evidence.figures["category_baseline"], 1.0);
        assert!(c[0].title.contains("禽"), "{}", c[0].title);
        // At the category's going rate, a rare product is no outlier.
        v.pop();
        v.push(poultry("r1", "odd", "冻鸭舌", 2_900));
        assert!(run(v, Scope::All).is_empty());
        // Beef beside trotters: the category's MAD is too wide to judge by.
        let mut v = market();
        v.push(obs("r1", "odd", "冻牛舌", 1_500));
        assert!(run(v, Scope::All).is_empty());
    }

    #[test]
    fn a_thin_market_or_old_prices_stay_quiet() {
        let thin: Vec<_> = market()
            .into_iter()
            .filter(|o| o.merchant_id == "h0" || o.merchant_id == "h1")
            .collect();
        let mut v = thin;
        v.push(obs("s1", "smuggler", "冻牛腱", 2_300));
        assert!(run(v, Scope::All).is_empty(), "two merchants are no market");
        let mut v = market();
        let mut a = obs("s1", "smuggler", "冻牛腱", 2_300);
        a.at = at(2026, 10, 1);
        v.push(a);
        assert!(run(v, Scope::All).is_empty(), "outside the window");
    }

    #[test]
    fn product_names_fold_width_and_spaces() {
        assert_eq!(product_key("冻牛腱　"), "冻牛腱");
        assert_eq!(product_key(" 进口  冻牛腱 "), "进口 冻牛腱");
        assert_eq!(product_key("ＡＢＣ牛排"), "ABC牛排");
        assert_ne!(product_key("牛腱"), product_key("冻牛腱"));
    }

    /// The one-merchant pass compares names with keys without folding
    /// them: it must agree with the keys.
    #[test]
    fn a_name_folds_to_a_key_exactly_when_its_key_is_that_key() {
        let names = [
            "冻牛腱",
            "冻牛腱　",
            " 冻牛腱",
            "冻 牛腱",
            "冻  牛腱",
            "冻　牛腱 ",
            "冻牛",
            "冻牛腱腱",
            "",
            " ",
            "ＡＢＣ牛排",
            "ABC牛排",
            "abc牛排",
            "进口  冻牛腱 ",
            "进口冻牛腱",
        ];
        for name in names {
            for other in names {
                let key = product_key(other);
                assert_eq!(
                    crate::warnings::folds_to(name, &key),
                    product_key(name) == key,
                    "{name:?} against {key:?}"
                );
            }
        }
    }
}
