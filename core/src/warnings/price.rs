//! Prices far below the market (seed 000: smuggled frozen beef sold at a
//! third of the market price). Per (market, category, unit, purchase or
//! sale) over a rolling window, the baseline is the median and the median
//! absolute deviation of the other merchants' prices (leave-one-out for a
//! merchant holding a twentieth of the window or more, so it cannot pull
//! its own baseline down; a smaller one is judged against the whole
//! window's, computed once, which its few prices cannot move far). A
//! merchant's median price below both `median − k·1.4826·MAD` and
//! `share × median` raises the warning; both gates, because a market
//! selling at one price has MAD 0, and a loose market a wide one.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};

use super::stats::{median, median_mad, MAD_TO_SIGMA};
use super::{
    figures, Candidate, Evidence, Facts, Kind, Link, LinkType, PriceObservation, Scope, Side,
    Subject, SubjectType, Thresholds,
};
use crate::category::Category;

/// (market, category, unit by its wire name, side).
type Key<'a> = (&'a str, Category, &'static str, Side);

pub fn detect(
    t: &Thresholds,
    facts: &Facts,
    now: DateTime<Utc>,
    scope: Scope<'_>,
) -> Vec<Candidate> {
    let p = &t.price;
    let since = now - Duration::days(p.window_days);
    let mut groups: BTreeMap<Key<'_>, Vec<&PriceObservation>> = BTreeMap::new();
    for o in facts.prices.iter().filter(|o| o.at >= since && o.at <= now) {
        groups
            .entry((o.market_id.as_str(), o.category, o.unit.as_str(), o.side))
            .or_default()
            .push(o);
    }
    let mut out = Vec::new();
    for ((market, category, _, side), obs) in groups {
        let unit = obs[0].unit;
        let mut by_merchant: BTreeMap<&str, Vec<&PriceObservation>> = BTreeMap::new();
        for o in &obs {
            by_merchant
                .entry(o.merchant_id.as_str())
                .or_default()
                .push(o);
        }
        let merchants = by_merchant.len();
        let mut all: Vec<f64> = obs.iter().map(|o| o.price_fen as f64).collect();
        let Some(overall) = median(&mut all) else {
            continue;
        };
        let whole = median_mad(&all);
        for (m, own) in &by_merchant {
            let m = *m;
            if let Scope::Merchant(only) = scope {
                if m != only {
                    continue;
                }
            }
            if own.len() < p.min_own_observations
                || obs.len() - own.len() < p.min_observations
                || merchants - 1 < p.min_merchants
            {
                continue;
            }
            let Some(own_median) =
                median(&mut own.iter().map(|o| o.price_fen as f64).collect::<Vec<_>>())
            else {
                continue;
            };
            // Without the merchant's k prices the median of the others is at
            // most the ((n + k) / 2)-th of all (`all` is sorted): a merchant
            // not below that share of it cannot be flagged, and only the
            // few that are need the others' baseline computed.
            let upper = all[((all.len() + own.len()) / 2 + 1).min(all.len() - 1)];
            if own_median >= overall || own_median >= p.max_share_of_median * upper {
                continue;
            }
            // The others' median and MAD: exactly (leave-one-out) for a
            // merchant holding a twentieth of the window's prices or more;
            // for a smaller one the whole window's, which its few prices
            // cannot move far (the median and the MAD tolerate up to half
            // the data being outliers), and which is computed once.
            let (base, mad) = if own.len() * 20 >= obs.len() {
                let others: Vec<f64> = obs
                    .iter()
                    .filter(|o| o.merchant_id != m)
                    .map(|o| o.price_fen as f64)
                    .collect();
                match median_mad(&others) {
                    Some(x) => x,
                    None => continue,
                }
            } else {
                match whole {
                    Some(x) => x,
                    None => continue,
                }
            };
            let robust = base - p.mad_k * MAD_TO_SIGMA * mad;
            let share = base * p.max_share_of_median;
            let threshold = robust.min(share);
            if own_median >= threshold || base <= 0.0 {
                continue;
            }
            let (name, market_of) = facts
                .merchant_names
                .get(m)
                .cloned()
                .unwrap_or_else(|| (m.to_owned(), Some(market.to_owned())));
            let mut cheapest = own.clone();
            cheapest.sort_by(|a, b| a.price_fen.cmp(&b.price_fen).then(b.at.cmp(&a.at)));
            let links = cheapest
                .iter()
                .filter(|o| (o.price_fen as f64) < threshold)
                .take(t.max_links)
                .map(|o| Link::new(LinkType::Entry, &o.entry_id))
                .collect();
            let latest = own.iter().map(|o| o.at).max().unwrap_or(now);
            let verb = match side {
                Side::Purchase => "进货",
                Side::Sale => "销售",
            };
            let kind = Kind::PriceBelowMarket;
            out.push(Candidate {
                kind,
                subject: Subject {
                    kind: SubjectType::Merchant,
                    id: m.to_owned(),
                    market_id: market_of.or_else(|| Some(market.to_owned())),
                    name,
                },
                severity: t.severity(kind),
                title: format!(
                    "{}{}价中位每{}{:.0}分，仅为本市场中位{:.0}分的{:.0}%",
                    category.zh(),
                    verb,
                    unit.zh(),
                    own_median,
                    base,
                    100.0 * own_median / base
                ),
                evidence: Evidence {
                    figures: figures([
                        ("merchant_median_fen", own_median),
                        ("market_median_fen", base),
                        ("market_mad_fen", mad),
                        ("threshold_fen", threshold),
                        ("share_of_median", own_median / base),
                        ("merchant_observations", own.len() as f64),
                        ("market_observations", (obs.len() - own.len()) as f64),
                        ("market_merchants", (merchants - 1) as f64),
                    ]),
                    links,
                },
                latest,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;
    use crate::quantity::BaseUnit;

    fn obs(entry: &str, merchant: &str, price: i64) -> PriceObservation {
        PriceObservation {
            entry_id: entry.into(),
            merchant_id: merchant.into(),
            market_id: "mk1".into(),
            category: Category::Frozen,
            unit: BaseUnit::Box,
            side: Side::Sale,
            price_fen: price,
            at: at(2026, 11, 25),
        }
    }

    /// Five honest merchants around 30,000 fen a box, three sales each.
    fn market() -> Vec<PriceObservation> {
        let mut v = Vec::new();
        for m in 0..5 {
            for (i, p) in [29_000, 30_000, 31_000].into_iter().enumerate() {
                v.push(obs(&format!("h{m}-{i}"), &format!("h{m}"), p + m * 200));
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

    #[test]
    fn a_third_of_the_market_price_fires() {
        let mut v = market();
        v.push(obs("s1", "smuggler", 10_000));
        v.push(obs("s2", "smuggler", 10_500));
        let c = run(v, Scope::All);
        assert_eq!(kinds(&c), vec![Kind::PriceBelowMarket]);
        assert_eq!(c[0].subject.id, "smuggler");
        assert_eq!(c[0].evidence.links.len(), 2);
        assert!(c[0].evidence.figures["share_of_median"] < 0.4);
        // Incrementally, for that merchant alone, the same candidate.
        let mut v = market();
        v.push(obs("s1", "smuggler", 10_000));
        v.push(obs("s2", "smuggler", 10_500));
        assert_eq!(run(v, Scope::Merchant("smuggler")), c);
    }

    #[test]
    fn just_above_the_share_of_the_median_stays_quiet() {
        // 61 % of the median: below median − 3·1.4826·MAD, not below 60 %.
        let mut v = market();
        v.push(obs("s1", "cheap", 18_800));
        v.push(obs("s2", "cheap", 18_800));
        assert!(run(v, Scope::All).is_empty());
    }

    #[test]
    fn one_cheap_sale_or_a_thin_market_stays_quiet() {
        let mut v = market();
        v.push(obs("s1", "clearance", 10_000));
        assert!(run(v, Scope::All).is_empty(), "one sale is not a pattern");
        let mut thin: Vec<_> = market().into_iter().take(6).collect();
        thin.push(obs("s1", "smuggler", 10_000));
        thin.push(obs("s2", "smuggler", 10_000));
        assert!(
            run(thin, Scope::All).is_empty(),
            "six prices are no baseline"
        );
    }

    #[test]
    fn old_prices_are_outside_the_window() {
        let mut v = market();
        let mut a = obs("s1", "smuggler", 10_000);
        a.at = at(2026, 10, 1);
        let mut b = a.clone();
        b.entry_id = "s2".into();
        v.extend([a, b]);
        assert!(run(v, Scope::All).is_empty());
    }
}
