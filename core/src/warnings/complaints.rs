//! Complaint warnings (seed 004: 频繁被投诉举报主体, 热点投诉问题): a
//! merchant complained about often, and a category or product whose
//! complaints rise over the previous weeks (a one-sided Poisson test of the
//! recent count against the rate before it, with a minimum count).
//! Only complaints that weigh in the risk grade count (undecided, accepted,
//! or closed as founded): an unfounded one says nothing of the shop.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, Utc};

use super::stats::poisson_upper_tail;
use super::{
    figures, merchant_subject, newest_links, Candidate, ComplaintObservation, Evidence, Facts,
    Kind, LinkType, MerchantFacts, Scope, Subject, SubjectType, Thresholds,
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
        if let Some(p) = &o.product {
            of.push(Topic::Product(p.clone()));
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

    #[test]
    fn three_complaints_in_30_days_fire_and_two_stay_quiet() {
        let t = Thresholds::builtin();
        let now = at(2026, 12, 1);
        let mut m = merchant("m1");
        m.complaints = vec![fact("c1", at(2026, 11, 5)), fact("c2", at(2026, 11, 20))];
        assert!(frequent(t, &m, now).is_none());
        // One more, but 31 days ago: still two in the window.
        m.complaints.push(fact("c0", at(2026, 10, 31)));
        assert!(frequent(t, &m, now).is_none());
        m.complaints.push(fact("c3", at(2026, 11, 30)));
        let c = frequent(t, &m, now).unwrap();
        assert_eq!(c.kind, Kind::ComplaintsFrequent);
        assert_eq!(c.evidence.links.len(), 3);
        assert_eq!(c.latest, at(2026, 11, 30));
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

    fn run(v: Vec<ComplaintObservation>, scope: Scope<'_>) -> Vec<Candidate> {
        let facts = Facts {
            complaints: v,
            ..Facts::default()
        };
        hot_topics(Thresholds::builtin(), &facts, at(2026, 12, 1), scope)
    }

    /// Four complaints about aquatic products in the 28 days before.
    fn baseline() -> Vec<ComplaintObservation> {
        (0..4)
            .map(|i| complaint(&format!("b{i}"), "m1", at(2026, 11, 1 + i * 5)))
            .collect()
    }

    #[test]
    fn a_burst_of_six_in_a_week_fires_for_the_category() {
        let mut v = baseline();
        for i in 0..6 {
            v.push(complaint(
                &format!("r{i}"),
                &format!("m{i}"),
                at(2026, 11, 26 + i % 5),
            ));
        }
        let c = run(v.clone(), Scope::All);
        assert_eq!(kinds(&c), vec![Kind::ComplaintHotTopic]);
        assert_eq!(c[0].subject.kind, SubjectType::Category);
        assert_eq!(c[0].subject.id, "aquatic");
        assert_eq!(run(v.clone(), Scope::Merchant("m2")), c);
        assert!(run(v, Scope::Merchant("elsewhere")).is_empty());
    }

    #[test]
    fn four_in_a_week_is_under_the_minimum_count() {
        let mut v = Vec::new();
        for i in 0..4 {
            v.push(complaint(&format!("r{i}"), "m1", at(2026, 11, 27 + i)));
        }
        assert!(run(v, Scope::All).is_empty());
    }

    #[test]
    fn a_steady_topic_does_not_fire() {
        // 24 in the 28 days before (6 a week), 6 this week: no rise.
        let mut v: Vec<_> = (0..24)
            .map(|i| {
                complaint(
                    &format!("b{i}"),
                    "m1",
                    at(2026, 11, 1) + Duration::hours(i * 26),
                )
            })
            .collect();
        for i in 0..6 {
            v.push(complaint(&format!("r{i}"), "m1", at(2026, 11, 26 + i % 5)));
        }
        assert!(run(v, Scope::All).is_empty());
    }
}
