//! Entry-check warnings (入场查验, 总局令第81号: the market operator checks a
//! seller's farm produce as it enters; see [`crate::entry_check`]):
//!
//! * `entry_check_missing` — a purchase booked by one of the market's
//!   merchants with no entry check of the same goods (core's
//!   [`crate::entry_check::same_goods`]) within the grace after it arrived.
//!   Counted only from the market's first entry check on the platform
//!   (before it the operator kept its checks elsewhere) and within the
//!   lookback. A later check links the purchase, so it no longer counts:
//!   the open warning stays (its lifecycle is the operator's and the
//!   analyst's) but the purchase never raises it again.
//! * `entry_refused` — goods refused at the gate, raised at once with the
//!   refusals of the window as evidence, to the operator and the district.
//!
//! Thresholds in `core/data/warnings/entry-v1.json`, each with its basis.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;

use super::{
    figures, merchant_subject, newest_links, Candidate, Evidence, Kind, LinkType, Severity,
};

const BUILTIN: &str = include_str!("../../data/warnings/entry-v1.json");

/// The entry-check thresholds (`entry-v1.json`).
#[derive(Debug, Clone, Deserialize)]
pub struct EntryThresholds {
    pub version: String,
    pub source_zh: String,
    /// A purchase without a check this long after it arrived is missing one.
    pub grace_hours: i64,
    pub grace_basis: String,
    /// A check and a purchase this close in time are the same goods.
    pub link_window_hours: i64,
    pub link_basis: String,
    /// Purchases older than this are not looked at.
    pub lookback_days: i64,
    /// Refusals of this window are the evidence of `entry_refused`.
    pub refused_window_days: i64,
    pub max_links: usize,
    pub severity: BTreeMap<Kind, Severity>,
}

impl EntryThresholds {
    pub fn builtin() -> &'static EntryThresholds {
        static T: std::sync::OnceLock<EntryThresholds> = std::sync::OnceLock::new();
        // Cannot fail: the file is embedded at compile time and the test
        // `builtin_entry_thresholds_parse` parses and checks it.
        T.get_or_init(|| serde_json::from_str(BUILTIN).expect("entry-v1.json is valid"))
    }

    pub fn grace(&self) -> Duration {
        Duration::hours(self.grace_hours)
    }

    pub fn link_window(&self) -> Duration {
        Duration::hours(self.link_window_hours)
    }

    pub fn lookback(&self) -> Duration {
        Duration::days(self.lookback_days)
    }

    pub fn refused_window(&self) -> Duration {
        Duration::days(self.refused_window_days)
    }

    fn severity(&self, kind: Kind) -> Severity {
        self.severity
            .get(&kind)
            .copied()
            .unwrap_or(Severity::Medium)
    }
}

/// A purchase booked by a market's merchant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PurchaseFact {
    pub entry_id: String,
    /// When the goods arrived (the purchase's `received_at`).
    pub at: DateTime<Utc>,
    /// Whether an entry check is linked to it.
    pub checked: bool,
}

/// A refusal at the gate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusalFact {
    pub check_id: String,
    pub at: DateTime<Utc>,
}

/// One merchant of a market and its entry-check facts.
#[derive(Debug, Clone, PartialEq)]
pub struct EntryFacts {
    pub merchant_id: String,
    pub merchant_name: String,
    pub market_id: String,
    /// The market's first entry check on the platform (`None`: it keeps
    /// none here, and nothing is missing).
    pub checks_since: Option<DateTime<Utc>>,
    pub purchases: Vec<PurchaseFact>,
    pub refusals: Vec<RefusalFact>,
}

/// `entry_check_missing` for one merchant, if any purchase is due.
pub fn missing(t: &EntryThresholds, f: &EntryFacts, now: DateTime<Utc>) -> Option<Candidate> {
    let since = f.checks_since?;
    let due: Vec<&PurchaseFact> = f
        .purchases
        .iter()
        .filter(|p| {
            !p.checked && p.at >= since && p.at >= now - t.lookback() && p.at + t.grace() <= now
        })
        .collect();
    // The fact is the grace running out with no check.
    let latest = due.iter().map(|p| p.at + t.grace()).max()?;
    let kind = Kind::EntryCheckMissing;
    Some(Candidate {
        kind,
        subject: merchant_subject(&f.merchant_id, &f.merchant_name, Some(&f.market_id)),
        severity: t.severity(kind),
        title: format!("{}笔进货超过{}小时无入场查验记录", due.len(), t.grace_hours),
        evidence: Evidence {
            figures: figures([
                ("purchases_unchecked", due.len() as f64),
                ("grace_hours", t.grace_hours as f64),
            ]),
            links: newest_links(
                LinkType::Entry,
                due.iter().map(|p| (p.entry_id.as_str(), p.at)),
                t.max_links,
            ),
        },
        latest,
    })
}

/// `entry_refused` for one merchant, if goods were refused in the window.
pub fn refused(t: &EntryThresholds, f: &EntryFacts, now: DateTime<Utc>) -> Option<Candidate> {
    let recent: Vec<&RefusalFact> = f
        .refusals
        .iter()
        .filter(|r| r.at >= now - t.refused_window())
        .collect();
    let latest = recent.iter().map(|r| r.at).max()?;
    let kind = Kind::EntryRefused;
    Some(Candidate {
        kind,
        subject: merchant_subject(&f.merchant_id, &f.merchant_name, Some(&f.market_id)),
        severity: t.severity(kind),
        title: format!(
            "近{}天入场查验拒收{}次",
            t.refused_window_days,
            recent.len()
        ),
        evidence: Evidence {
            figures: figures([
                ("refusals", recent.len() as f64),
                ("window_days", t.refused_window_days as f64),
            ]),
            links: newest_links(
                LinkType::EntryCheck,
                recent.iter().map(|r| (r.check_id.as_str(), r.at)),
                t.max_links,
            ),
        },
        latest,
    })
}

/// Both kinds for one merchant.
pub fn detect(t: &EntryThresholds, f: &EntryFacts, now: DateTime<Utc>) -> Vec<Candidate> {
    missing(t, f, now)
        .into_iter()
        .chain(refused(t, f, now))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn facts() -> EntryFacts {
        EntryFacts {
            merchant_id: "m1".into(),
            merchant_name: "鲜肉铺".into(),
            market_id: "mkt".into(),
            checks_since: Some(at("2026-11-01T00:00:00Z")),
            purchases: vec![],
            refusals: vec![],
        }
    }

    fn purchase(id: &str, t: &str, checked: bool) -> PurchaseFact {
        PurchaseFact {
            entry_id: id.into(),
            at: at(t),
            checked,
        }
    }

    #[test]
    fn builtin_entry_thresholds_parse() {
        let t = EntryThresholds::builtin();
        assert_eq!(t.version, "entry-v1");
        assert!(t.grace_hours > 0 && t.link_window_hours > 0);
        for k in [Kind::EntryCheckMissing, Kind::EntryRefused] {
            assert!(t.severity.contains_key(&k), "{k:?}");
            assert!(!k.configured_in_warnings_v1());
        }
    }

    #[test]
    fn an_unchecked_purchase_past_the_grace_fires_and_one_inside_stays_quiet() {
        let t = EntryThresholds::builtin();
        let now = at("2026-12-02T00:00:00Z");
        let mut f = facts();
        // Exactly 24 h ago: the grace has run out.
        f.purchases = vec![purchase("e1", "2026-12-01T00:00:00Z", false)];
        let c = missing(t, &f, now).unwrap();
        assert_eq!(c.kind, Kind::EntryCheckMissing);
        assert_eq!(c.evidence.figures["purchases_unchecked"], 1.0);
        assert_eq!(c.latest, now);
        // One second later it arrived: still inside the grace.
        f.purchases = vec![purchase("e1", "2026-12-01T00:00:01Z", false)];
        assert!(missing(t, &f, now).is_none());
    }

    #[test]
    fn checked_purchases_purchases_before_the_first_check_and_markets_without_checks_stay_quiet() {
        let t = EntryThresholds::builtin();
        let now = at("2026-12-02T00:00:00Z");
        let mut f = facts();
        f.purchases = vec![
            purchase("e1", "2026-11-20T00:00:00Z", true),
            purchase("e0", "2026-10-31T23:59:59Z", false),
        ];
        assert!(missing(t, &f, now).is_none());
        f.purchases
            .push(purchase("e2", "2026-11-20T01:00:00Z", false));
        assert!(missing(t, &f, now).is_some());
        f.checks_since = None;
        assert!(missing(t, &f, now).is_none());
    }

    #[test]
    fn the_same_facts_raise_the_same_candidate_once() {
        let t = EntryThresholds::builtin();
        let mut f = facts();
        f.purchases = vec![
            purchase("e1", "2026-11-20T00:00:00Z", false),
            purchase("e2", "2026-11-21T00:00:00Z", false),
        ];
        f.refusals = vec![RefusalFact {
            check_id: "c1".into(),
            at: at("2026-11-21T02:00:00Z"),
        }];
        let a = detect(t, &f, at("2026-12-01T00:00:00Z"));
        assert_eq!(a.len(), 2, "one per kind, not one per purchase");
        assert_eq!(a, detect(t, &f, at("2026-12-01T00:00:00Z")));
        // A day later: the same warnings (same latest fact).
        let b = detect(t, &f, at("2026-12-02T00:00:00Z"));
        assert_eq!(a[0].latest, b[0].latest);
    }

    #[test]
    fn a_refusal_fires_at_once_and_an_old_one_stays_quiet() {
        let t = EntryThresholds::builtin();
        let mut f = facts();
        f.refusals = vec![RefusalFact {
            check_id: "c1".into(),
            at: at("2026-12-01T00:00:00Z"),
        }];
        let c = refused(t, &f, at("2026-12-01T00:00:00Z")).unwrap();
        assert_eq!(c.severity, Severity::High);
        assert_eq!(c.evidence.links[0].kind, LinkType::EntryCheck);
        let later = at("2026-12-01T00:00:00Z") + t.refused_window() + Duration::seconds(1);
        assert!(refused(t, &f, later).is_none());
    }
}
