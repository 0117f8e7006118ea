//! Sampling warnings: an abnormal pass rate of a merchant, a market or a
//! category (a one-sided binomial test of its failures against the failure
//! rate of its peers, not a fixed cut), merchants not sampled for years,
//! and merchants sampled too often (seed 004's 多年未抽检 and 多年多次抽检).
//!
//! A sampling is a sample record that is not a lab confirmation of a rapid
//! test (the confirmation is the same sampling judged again); a failure is
//! what core's sample rules count as one (`counts_as_failure`).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Duration, Utc};

use super::stats::binomial_upper_tail;
use super::{
    figures, merchant_subject, newest_links, Candidate, Evidence, Facts, Kind, LinkType,
    MerchantFacts, SampleObservation, Scope, Subject, SubjectType, Thresholds,
};

/// Samplings and failures of one subject.
#[derive(Default)]
struct Tally<'a> {
    samplings: u64,
    failures: Vec<&'a SampleObservation>,
}

impl<'a> Tally<'a> {
    fn add(&mut self, s: &'a SampleObservation) {
        if !s.confirmation {
            self.samplings += 1;
        }
        if s.failed {
            self.failures.push(s);
        }
    }

    fn failed(&self) -> u64 {
        (self.failures.len() as u64).min(self.samplings)
    }
}

/// Pass-rate warnings, and sampled-too-often for merchants.
pub fn detect(
    t: &Thresholds,
    facts: &Facts,
    now: DateTime<Utc>,
    scope: Scope<'_>,
) -> Vec<Candidate> {
    let since = now - Duration::days(t.pass_rate.window_days);
    let window: Vec<&SampleObservation> = facts
        .samples
        .iter()
        .filter(|s| s.at >= since && s.at <= now)
        .collect();
    // What a merchant's write may change: its own, its market's and its
    // sampled categories' rates (after a push only those are tallied; the
    // total is the baseline either way).
    let (only_market, only_categories): (Option<&str>, BTreeSet<_>) = match scope {
        Scope::All => (None, BTreeSet::new()),
        Scope::Merchant(id) => (
            facts
                .merchant_names
                .get(id)
                .and_then(|(_, m)| m.as_deref())
                .or_else(|| {
                    window
                        .iter()
                        .find(|s| s.merchant_id == id)
                        .and_then(|s| s.market_id.as_deref())
                }),
            window
                .iter()
                .filter(|s| s.merchant_id == id)
                .filter_map(|s| s.category)
                .collect(),
        ),
    };
    let all = matches!(scope, Scope::All);
    let wanted = |id: &str| match scope {
        Scope::All => true,
        Scope::Merchant(only) => only == id,
    };
    let mut total = Tally::default();
    let mut merchants: BTreeMap<&str, Tally<'_>> = BTreeMap::new();
    let mut markets: BTreeMap<&str, Tally<'_>> = BTreeMap::new();
    let mut categories: BTreeMap<crate::category::Category, Tally<'_>> = BTreeMap::new();
    for s in &window {
        total.add(s);
        if wanted(&s.merchant_id) {
            merchants.entry(&s.merchant_id).or_default().add(s);
        }
        if let Some(m) = s
            .market_id
            .as_deref()
            .filter(|m| all || only_market == Some(*m))
        {
            markets.entry(m).or_default().add(s);
        }
        if let Some(c) = s.category.filter(|c| all || only_categories.contains(c)) {
            categories.entry(c).or_default().add(s);
        }
    }
    // Each merchant's samplings in the too-often window, in one pass.
    let often_from = now - Duration::days(t.sampling.too_often_window_days);
    let mut often: HashMap<&str, Vec<&SampleObservation>> = HashMap::new();
    for s in facts
        .samples
        .iter()
        .filter(|s| !s.confirmation && s.at >= often_from && s.at <= now && wanted(&s.merchant_id))
    {
        often.entry(&s.merchant_id).or_default().push(s);
    }
    let mut out = Vec::new();
    for (id, tally) in &merchants {
        if matches!(scope, Scope::Merchant(only) if only != *id) {
            continue;
        }
        let (name, market) = facts
            .merchant_names
            .get(*id)
            .cloned()
            .unwrap_or_else(|| ((*id).to_owned(), None));
        let subject = merchant_subject(id, &name, market.as_deref());
        out.extend(pass_rate(t, subject.clone(), tally, &total));
        let own = often.get(*id).map_or(&[][..], Vec::as_slice);
        out.extend(too_often(t, subject, own));
    }
    for (id, tally) in &markets {
        if matches!(scope, Scope::Merchant(_)) && only_market != Some(*id) {
            continue;
        }
        let subject = Subject {
            kind: SubjectType::Market,
            id: (*id).to_owned(),
            market_id: Some((*id).to_owned()),
            name: facts
                .market_names
                .get(*id)
                .cloned()
                .unwrap_or_else(|| (*id).to_owned()),
        };
        out.extend(pass_rate(t, subject, tally, &total));
    }
    for (c, tally) in &categories {
        if matches!(scope, Scope::Merchant(_)) && !only_categories.contains(c) {
            continue;
        }
        let subject = Subject {
            kind: SubjectType::Category,
            id: c.as_str().to_owned(),
            market_id: None,
            name: c.zh().to_owned(),
        };
        out.extend(pass_rate(t, subject, tally, &total));
    }
    out
}

/// The binomial test of one subject against the rest.
fn pass_rate(
    t: &Thresholds,
    subject: Subject,
    s: &Tally<'_>,
    total: &Tally<'_>,
) -> Option<Candidate> {
    let p = &t.pass_rate;
    let (n, f) = (s.samplings, s.failed());
    if n < u64::from(p.min_samples) || f < u64::from(p.min_failures) {
        return None;
    }
    let (rest_n, rest_f) = (total.samplings - n, total.failed().saturating_sub(f));
    let baseline = if rest_n == 0 {
        p.baseline_floor
    } else {
        (rest_f as f64 / rest_n as f64).max(p.baseline_floor)
    };
    let p_value = binomial_upper_tail(f, n, baseline);
    if p_value >= p.alpha {
        return None;
    }
    let kind = Kind::PassRateAbnormal;
    let pass = 1.0 - f as f64 / n as f64;
    Some(Candidate {
        kind,
        title: format!(
            "近{}天抽检{}批、不合格{}批，合格率{:.1}%，显著低于基线{:.1}%（p={:.2e}）",
            p.window_days,
            n,
            f,
            100.0 * pass,
            100.0 * (1.0 - baseline),
            p_value
        ),
        subject,
        severity: t.severity(kind),
        evidence: Evidence {
            figures: figures([
                ("samples", n as f64),
                ("failures", f as f64),
                ("pass_rate", pass),
                ("baseline_failure_rate", baseline),
                ("p_value", p_value),
                ("alpha", p.alpha),
            ]),
            links: newest_links(
                LinkType::Sample,
                s.failures.iter().map(|x| (x.id.as_str(), x.at)),
                t.max_links,
            ),
        },
        latest: s.failures.iter().map(|x| x.at).max()?,
    })
}

/// `samplings`: the merchant's samplings in the too-often window.
fn too_often(
    t: &Thresholds,
    subject: Subject,
    samplings: &[&SampleObservation],
) -> Option<Candidate> {
    let s = &t.sampling;
    if samplings.len() as u32 <= s.too_often_max {
        return None;
    }
    let kind = Kind::SampledTooOften;
    Some(Candidate {
        kind,
        subject,
        severity: t.severity(kind),
        title: format!(
            "近{}天被抽检{}次，超过{}次",
            s.too_often_window_days,
            samplings.len(),
            s.too_often_max
        ),
        evidence: Evidence {
            figures: figures([
                ("samplings", samplings.len() as f64),
                ("max", f64::from(s.too_often_max)),
                ("window_days", s.too_often_window_days as f64),
            ]),
            links: newest_links(
                LinkType::Sample,
                samplings.iter().map(|x| (x.id.as_str(), x.at)),
                t.max_links,
            ),
        },
        latest: samplings.iter().map(|x| x.at).max()?,
    })
}

/// Not sampled for `not_sampled_days` since its last sampling (or its
/// registration, for one never sampled).
pub fn not_sampled(t: &Thresholds, m: &MerchantFacts, now: DateTime<Utc>) -> Option<Candidate> {
    let s = &t.sampling;
    // The last sampling, wherever it falls: registration on the platform
    // is not the start of the business, so it only stands in for a shop
    // never sampled at all.
    let since = m.last_sampled_at.unwrap_or(m.registered_at);
    let days = (now - since).num_days();
    if days < s.not_sampled_days {
        return None;
    }
    let kind = Kind::NotSampled;
    let title = match m.last_sampled_at {
        Some(_) => format!("已{}天未被抽检（上次{}）", days, super::local_date(since)),
        None => format!("登记{}天以来从未被抽检", days),
    };
    Some(Candidate {
        kind,
        subject: merchant_subject(&m.id, &m.name, m.market_id.as_deref()),
        severity: t.severity(kind),
        title,
        evidence: Evidence {
            figures: figures([
                ("days_since_sampled", days as f64),
                ("not_sampled_days", s.not_sampled_days as f64),
            ]),
            links: vec![super::Link::new(LinkType::Merchant, &m.id)],
        },
        latest: since + Duration::days(s.not_sampled_days),
    })
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;
    use crate::category::Category;

    fn sample(id: &str, merchant: &str, failed: bool) -> SampleObservation {
        SampleObservation {
            id: id.into(),
            merchant_id: merchant.into(),
            market_id: Some(format!("mk-{merchant}")),
            category: None,
            at: at(2026, 11, 1),
            failed,
            confirmation: false,
        }
    }

    /// 40 merchants, 10 samplings each, 2 % failing overall.
    fn region() -> Vec<SampleObservation> {
        let mut v = Vec::new();
        for m in 0..40 {
            for i in 0..10 {
                let failed = (m * 10 + i) % 50 == 0;
                v.push(sample(&format!("s{m}-{i}"), &format!("m{m}"), failed));
            }
        }
        v
    }

    fn all(samples: Vec<SampleObservation>, scope: Scope<'_>) -> Vec<Candidate> {
        let facts = Facts {
            samples,
            ..Facts::default()
        };
        detect(Thresholds::builtin(), &facts, at(2026, 12, 1), scope)
    }

    /// The pass-rate candidates (the made regions sample often).
    fn run(samples: Vec<SampleObservation>, scope: Scope<'_>) -> Vec<Candidate> {
        all(samples, scope)
            .into_iter()
            .filter(|c| c.kind == Kind::PassRateAbnormal)
            .collect()
    }

    #[test]
    fn a_merchant_failing_four_of_ten_fires_for_it_and_its_market() {
        let mut v = region();
        for i in 0..4 {
            v.push(sample(&format!("bad-{i}"), "bad", true));
        }
        for i in 4..10 {
            v.push(sample(&format!("bad-{i}"), "bad", false));
        }
        let c = run(v.clone(), Scope::All);
        let subjects: Vec<_> = c
            .iter()
            .map(|c| (c.subject.kind, c.subject.id.as_str()))
            .collect();
        assert_eq!(
            subjects,
            vec![
                (SubjectType::Merchant, "bad"),
                (SubjectType::Market, "mk-bad")
            ]
        );
        assert!(c[0].evidence.figures["p_value"] < 0.01);
        assert_eq!(c[0].evidence.links.len(), 4);
        assert_eq!(run(v, Scope::Merchant("bad")), c);
    }

    #[test]
    fn two_of_ten_against_a_two_percent_baseline_stays_quiet() {
        // P(X ≥ 2 | 10, 0.02) ≈ 0.016: not significant at α = 0.01.
        let mut v = region();
        for i in 0..10 {
            v.push(sample(&format!("x-{i}"), "unlucky", i < 2));
        }
        assert!(run(v, Scope::All).is_empty());
    }

    /// The sampling reality: a merchant is sampled a few times a year
    /// (regulation.md §1: grade A at least once, D three or four times), so
    /// three samplings with two failures must be enough for the test.
    #[test]
    fn two_failures_in_three_samplings_fire_once() {
        let mut v = region();
        for i in 0..3 {
            v.push(sample(&format!("f-{i}"), "falling", i < 2));
        }
        let c = run(v.clone(), Scope::All);
        let merchant: Vec<_> = c
            .iter()
            .filter(|c| c.subject.kind == SubjectType::Merchant)
            .collect();
        assert_eq!(merchant.len(), 1, "{c:#?}");
        assert_eq!(merchant[0].subject.id, "falling");
        // P(X ≥ 2 | 3, 0.02) ≈ 0.0012.
        assert!(merchant[0].evidence.figures["p_value"] < 0.002);
        assert_eq!(merchant[0].evidence.figures["samples"], 3.0);
        assert_eq!(run(v, Scope::Merchant("falling")), c);
    }

    /// The near misses: one failure in three, one in many, two in two
    /// (under the minimum count of samplings).
    #[test]
    fn one_failure_in_three_or_in_many_stays_quiet() {
        let mut v = region();
        for i in 0..3 {
            v.push(sample(&format!("a-{i}"), "unlucky", i == 1));
        }
        for i in 0..12 {
            v.push(sample(&format!("b-{i}"), "often", i == 5));
        }
        for i in 0..2 {
            v.push(sample(&format!("c-{i}"), "twice", true));
        }
        let c = run(v, Scope::All);
        assert!(
            c.iter().all(|c| c.subject.kind != SubjectType::Merchant),
            "{c:#?}"
        );
    }

    #[test]
    fn a_category_failing_against_the_others_fires() {
        let mut v = region();
        for i in 0..12 {
            let mut s = sample(&format!("c-{i}"), &format!("m{}", i % 40), i < 5);
            s.category = Some(Category::Aquatic);
            s.market_id = Some(format!("mk-m{}", i % 40));
            v.push(s);
        }
        let c = run(v, Scope::All);
        assert!(c
            .iter()
            .any(|c| c.subject.kind == SubjectType::Category && c.subject.id == "aquatic"));
    }

    #[test]
    fn a_lab_confirmation_is_not_a_second_sampling() {
        let mut v: Vec<_> = (0..4)
            .map(|i| sample(&format!("r{i}"), "m", false))
            .collect();
        assert!(all(v.clone(), Scope::All).is_empty());
        let mut lab = sample("lab", "m", false);
        lab.confirmation = true;
        v.push(lab);
        assert!(
            all(v.clone(), Scope::All).is_empty(),
            "4 samplings is the maximum"
        );
        v.push(sample("r4", "m", false));
        assert_eq!(kinds(&all(v, Scope::All)), vec![Kind::SampledTooOften]);
    }

    #[test]
    fn not_sampled_for_three_years_fires_and_a_day_less_stays_quiet() {
        let t = Thresholds::builtin();
        let mut m = merchant("m1");
        m.last_sampled_at = Some(at(2023, 12, 2));
        let c = not_sampled(t, &m, at(2026, 12, 1));
        assert_eq!(c.map(|c| c.kind), Some(Kind::NotSampled));
        m.last_sampled_at = Some(at(2023, 12, 3));
        assert!(not_sampled(t, &m, at(2026, 12, 1)).is_none());
        // Never sampled, registered 1,094 days ago: not yet.
        m.last_sampled_at = None;
        m.registered_at = at(2023, 12, 3);
        assert!(not_sampled(t, &m, at(2026, 12, 1)).is_none());
    }

    /// A shop registered on the platform last week was still sampled (or
    /// not) before: its samples, not its registration, say how long ago.
    #[test]
    fn samples_from_before_the_registration_count() {
        let t = Thresholds::builtin();
        let mut m = merchant("m1");
        m.registered_at = at(2026, 11, 20);
        m.last_sampled_at = Some(at(2022, 6, 1));
        let c = not_sampled(t, &m, at(2026, 12, 1));
        assert_eq!(c.map(|c| c.kind), Some(Kind::NotSampled));
    }
}
