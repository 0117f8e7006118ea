//! Complaint warnings (seed 004: 频繁被投诉举报主体, 热点投诉问题): a
//! merchant complained about often, and a category or product (a
//! complaint that names one, by [`product_key`]) whose complaints rise
//! over the window before (a one-sided Poisson test of the recent count
//! against the rate before it, with a minimum count). The windows, the
//! minimums and α are the config's `complaints`; the demo generator plants
//! and judges its truth with the same numbers.
//! Only complaints that weigh in the risk grade count (undecided, accepted,
//! or closed as founded): an unfounded one says nothing of the shop.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, Utc};

use super::stats::poisson_upper_tail;
use super::{
    figures, merchant_subject, newest_links, product_key, Candidate, ComplaintObservation,
    Evidence, Facts, Kind, LinkType, MerchantFacts, Scope, Subject, SubjectType, Thresholds,
};

pub fn frequent(t: &Thresholds, m: &MerchantFacts, now: DateTime<Utc>) -> Option<Candidate> {
    let c = &t.complaints;
    let since = now - Duration::days(c.window_days);
    let recent: Vec<_> = m
        .complaints
        .iter()
        .filter(|f| f.at >= since && f.at <= now)
        .collect();
    if (recent.len() as u32) < c.frequent_min {
        return None;
    }
    let kind = Kind::ComplaintsFrequent;
    Some(Candidate {
        kind,
        subject: merchant_subject(&m.id, &m.name, m.market_id.as_deref()),
        severity: t.severity(kind),
        title: format!("近{}天被投诉{}次", c.window_days, recent.len()),
        evidence: Evidence {
            figures: figures([
                ("complaints", recent.len() as f64),
                ("window_days", c.window_days as f64),
                ("min", f64::from(c.frequent_min)),
            ]),
            links: newest_links(
                LinkType::Complaint,
                recent.iter().map(|f| (f.id.as_str(), f.at)),
                t.max_links,
            ),
        },
        latest: recent.iter().map(|f| f.at).max()?,
    })
}

/// The topics complaints are grouped by.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Topic {
    Category(crate::category::Category),
    Product(String),
}

pub fn hot_topics(
    t: &Thresholds,
    facts: &Facts,
    now: DateTime<Utc>,
    scope: Scope<'_>,
) -> Vec<Candidate> {
    let c = &t.complaints;
    let recent_from = now - Duration::days(c.hot_window_days);
    let base_from = recent_from - Duration::days(c.hot_baseline_days);
    let mut topics: BTreeMap<Topic, (Vec<&ComplaintObservation>, u64)> = BTreeMap::new();
    let mut touched: BTreeSet<Topic> = BTreeSet::new();
    for o in facts
        .complaints
        .iter()
        .filter(|o| o.at >= base_from && o.at <= now)
    {
        let mut of = Vec::new();
        if let Some(cat) = o.category {
            of.push(Topic::Category(cat));
        }
        if let Some(p) = o
            .product
            .as_deref()
            .map(product_key)
            .filter(|p| !p.is_empty())
        {
            of.push(Topic::Product(p));
        }
        for topic in of {
            if matches!(scope, Scope::Merchant(id) if id == o.merchant_id) {
                touched.insert(topic.clone());
            }
            let slot = topics.entry(topic).or_default();
            if o.at >= recent_from {
                slot.0.push(o);
            } else {
                slot.1 += 1;
            }
        }
    }
    let mut out = Vec::new();
    for (topic, (recent, before)) in topics {
        if matches!(scope, Scope::Merchant(_)) && !touched.contains(&topic) {
            continue;
        }
        let count = recent.len() as u64;
        if count < u64::from(c.hot_min_count) {
            continue;
        }
        let expected = (before as f64 * c.hot_window_days as f64 / c.hot_baseline_days as f64)
            .max(c.hot_min_expected);
        let p_value = poisson_upper_tail(count, expected);
        if p_value >= c.hot_alpha {
            continue;
        }
        let subject = match &topic {
            Topic::Category(cat) => Subject {
                kind: SubjectType::Category,
                id: cat.as_str().to_owned(),
                market_id: None,
                name: cat.zh().to_owned(),
            },
            Topic::Product(p) => Subject {
                kind: SubjectType::Product,
                id: p.clone(),
                market_id: None,
                name: p.clone(),
            },
        };
        let kind = Kind::ComplaintHotTopic;
        out.push(Candidate {
            kind,
            title: format!(
                "“{}”近{}天投诉{}件，前{}天仅{}件（p={:.2e}）",
                subject.name, c.hot_window_days, count, c.hot_baseline_days, before, p_value
            ),
            subject,
            severity: t.severity(kind),
            evidence: Evidence {
                figures: figures([
                    ("recent", count as f64),
                    ("before", before as f64),
                    ("expected", expected),
                    ("p_value", p_value),
                    ("alpha", c.hot_alpha),
                ]),
                links: newest_links(
                    LinkType::Complaint,
                    recent.iter().map(|o| (o.id.as_str(), o.at)),
                    t.max_links,
                ),
            },
            latest: recent.iter().map(|o| o.at).max().unwrap_or(now),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;
    use crate::category::Category;

    /// `days` days before 2026-12-01.
    fn ago(days: i64) -> DateTime<Utc> {
        at(2026, 12, 1) - Duration::days(days)
    }

    #[test]
    fn five_complaints_in_30_days_fire_and_four_stay_quiet() {
        let t = Thresholds::builtin();
        let now = at(2026, 12, 1);
        let mut m = merchant("m1");
        m.complaints = [3, 9, 15, 26]
            .iter()
            .enumerate()
            .map(|(i, d)| fact(&format!("c{i}"), ago(*d)))
            .collect();
        assert!(frequent(t, &m, now).is_none(), "four is the near miss");
        // One more, but 31 days ago: still four in the window.
        m.complaints.push(fact("old", ago(31)));
        assert!(frequent(t, &m, now).is_none());
        m.complaints.push(fact("c5", ago(1)));
        let c = frequent(t, &m, now).unwrap();
        assert_eq!(c.kind, Kind::ComplaintsFrequent);
        assert_eq!(c.evidence.links.len(), 5);
        assert_eq!(c.latest, ago(1));
    }

    fn complaint(id: &str, merchant: &str, at: DateTime<Utc>) -> ComplaintObservation {
        ComplaintObservation {
            id: id.into(),
            merchant_id: merchant.into(),
            category: Some(Category::Aquatic),
            product: None,
            at,
        }
    }

    fn about(id: &str, product: &str, at: DateTime<Utc>) -> ComplaintObservation {
        ComplaintObservation {
            product: Some(product.into()),
            ..complaint(id, &format!("m-{id}"), at)
        }
    }

    fn run(v: Vec<ComplaintObservation>, scope: Scope<'_>) -> Vec<Candidate> {
        let facts = Facts {
            complaints: v,
            ..Facts::default()
        };
        hot_topics(Thresholds::builtin(), &facts, at(2026, 12, 1), scope)
    }

    /// `recent` complaints 2–27 days ago and `before` 34–57 days ago (the
    /// generator's spread), from different merchants.
    fn spread(prefix: &str, recent: usize, before: usize) -> Vec<ComplaintObservation> {
        let mut v = Vec::new();
        for i in 0..recent {
            let d = 2 + (i as i64 * 5) % 26;
            v.push(complaint(
                &format!("{prefix}r{i}"),
                &format!("m{i}"),
                ago(d),
            ));
        }
        for i in 0..before {
            let d = 34 + (i as i64 * 5) % 24;
            v.push(complaint(
                &format!("{prefix}b{i}"),
                &format!("m{i}"),
                ago(d),
            ));
        }
        v
    }

    /// The generator's planted hot topic: 14 in the last 30 days against 5
    /// in the 30 before (P(X ≥ 14 | λ = 5) ≈ 0.0007).
    #[test]
    fn a_month_rising_well_above_the_month_before_fires_once() {
        let v = spread("", 14, 5);
        let c = run(v.clone(), Scope::All);
        assert_eq!(kinds(&c), vec![Kind::ComplaintHotTopic], "{c:#?}");
        assert_eq!(c[0].subject.kind, SubjectType::Category);
        assert_eq!(c[0].subject.id, "aquatic");
        assert_eq!(c[0].evidence.figures["recent"], 14.0);
        assert_eq!(c[0].evidence.links.len(), 14);
        assert_eq!(run(v.clone(), Scope::Merchant("m2")), c);
        assert!(run(v, Scope::Merchant("elsewhere")).is_empty());
    }

    /// The near misses: a rise chance explains (10 against 6: p ≈ 0.08),
    /// a doubling under the minimum count (7 against 3), a steady topic.
    #[test]
    fn a_rise_chance_explains_or_under_the_minimum_stays_quiet() {
        assert!(run(spread("", 10, 6), Scope::All).is_empty());
        assert!(run(spread("", 7, 3), Scope::All).is_empty());
        assert!(run(spread("", 13, 10), Scope::All).is_empty());
    }

    /// Complaints naming a product: the product rises on its own while its
    /// category (busy with other complaints) does not.
    #[test]
    fn a_product_rising_fires_for_the_product_and_its_near_miss_stays_quiet() {
        let mut v = spread("", 30, 30);
        for i in 0..9 {
            v.push(about(&format!("hot{i}"), "冻虾仁", ago(3 + i)));
        }
        v.push(about("hot-before", "冻虾仁 ", ago(40)));
        // 8 against 6: at the minimum count, not a significant rise.
        for i in 0..8 {
            v.push(about(&format!("near{i}"), "巴沙鱼柳", ago(4 + i)));
        }
        for i in 0..6 {
            v.push(about(&format!("near-b{i}"), "巴沙鱼柳", ago(35 + i)));
        }
        let c = run(v.clone(), Scope::All);
        let subjects: Vec<_> = c
            .iter()
            .map(|c| (c.subject.kind, c.subject.id.as_str()))
            .collect();
        assert_eq!(subjects, vec![(SubjectType::Product, "冻虾仁")], "{c:#?}");
        assert_eq!(c[0].evidence.figures["recent"], 9.0);
        assert_eq!(c[0].evidence.figures["before"], 1.0);
        assert_eq!(run(v, Scope::Merchant("m-hot3")), c);
    }
}
