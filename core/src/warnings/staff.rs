//! Health-certificate warnings (issue 14 item 5): `health_cert_expired` (a
//! worker's certificate expired) and `health_cert_missing` (a merchant that
//! sells food with no worker recorded, past its grace, or a worker recorded
//! without a certificate). Thresholds and their basis in
//! `core/data/warnings/staff-v1.json` ([`StaffRules`]); the validity rule is
//! [`crate::staff::validity`], once. Pure: facts in, candidates out, one per
//! kind and merchant.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;

use super::{
    figures, local_midnight, merchant_subject, Candidate, Evidence, Kind, Link, LinkType, Severity,
};
use crate::staff::{masked_name, validity, Validity, Worker};

const BUILTIN: &str = include_str!("../../data/warnings/staff-v1.json");

/// `staff-v1.json`.
#[derive(Debug, Clone, Deserialize)]
pub struct StaffRules {
    pub version: String,
    pub source_zh: String,
    /// Certificates expiring within this many days are listed as expiring.
    pub expiring_days: i64,
    pub expiring_basis_zh: String,
    pub missing: Missing,
    pub severity: BTreeMap<Kind, Severity>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Missing {
    /// A merchant with a sale in this many days sells food.
    pub active_days: i64,
    /// Days after its first sale before a merchant with no worker recorded
    /// is warned.
    pub grace_days: i64,
    pub basis_zh: String,
}

/// Why the file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum StaffRulesError {
    #[error("健康证预警配置 (staff-v1): {0}")]
    Parse(#[from] serde_json::Error),
    #[error("健康证预警配置 (staff-v1): {0}")]
    Invalid(&'static str),
}

impl StaffRules {
    /// The rules shipped with this build.
    pub fn builtin() -> &'static StaffRules {
        static R: std::sync::OnceLock<StaffRules> = std::sync::OnceLock::new();
        // Cannot fail: the file is embedded at compile time and the test
        // `builtin_rules_parse` parses and validates it.
        R.get_or_init(|| StaffRules::from_json(BUILTIN).expect("staff-v1.json is valid"))
    }

    pub fn from_json(text: &str) -> Result<StaffRules, StaffRulesError> {
        let r: StaffRules = serde_json::from_str(text)?;
        if r.expiring_days < 0 || r.missing.active_days <= 0 || r.missing.grace_days < 0 {
            return Err(StaffRulesError::Invalid("天数不能为负"));
        }
        if [Kind::HealthCertExpired, Kind::HealthCertMissing]
            .iter()
            .any(|k| !r.severity.contains_key(k))
        {
            return Err(StaffRulesError::Invalid("每种预警都要有严重程度"));
        }
        Ok(r)
    }

    fn severity(&self, kind: Kind) -> Severity {
        self.severity
            .get(&kind)
            .copied()
            .unwrap_or(Severity::Medium)
    }
}

/// A merchant's workers and the sales that say it handles food.
#[derive(Debug, Clone, PartialEq)]
pub struct StaffFacts {
    pub merchant_id: String,
    pub name: String,
    pub market_id: Option<String>,
    /// Each worker with when it was last recorded.
    pub workers: Vec<(Worker, DateTime<Utc>)>,
    pub first_sale_at: Option<DateTime<Utc>>,
    pub last_sale_at: Option<DateTime<Utc>>,
}

/// The candidates a merchant's facts raise as of `now`.
pub fn detect(r: &StaffRules, m: &StaffFacts, now: DateTime<Utc>) -> Vec<Candidate> {
    let subject = || merchant_subject(&m.merchant_id, &m.name, m.market_id.as_deref());
    let link = || vec![Link::new(LinkType::Merchant, &m.merchant_id)];
    let mut out = Vec::new();
    let expired: Vec<(&Worker, chrono::NaiveDate)> = m
        .workers
        .iter()
        .filter_map(|(w, _)| match validity(w, now, 0) {
            Validity::Expired { expires_on } => Some((w, expires_on)),
            _ => None,
        })
        .collect();
    if let Some(newest) = expired.iter().map(|(_, e)| *e).max() {
        let kind = Kind::HealthCertExpired;
        let names: Vec<String> = expired.iter().map(|(w, _)| masked_name(&w.name)).collect();
        let earliest = expired.iter().map(|(_, e)| *e).min().unwrap_or(newest);
        out.push(Candidate {
            kind,
            subject: subject(),
            severity: r.severity(kind),
            title: format!(
                "{} 名从业人员健康证已过期（{}；最早 {earliest}）",
                expired.len(),
                names.join("、")
            ),
            evidence: Evidence {
                figures: figures([
                    ("expired", expired.len() as f64),
                    ("workers", m.workers.len() as f64),
                    (
                        "days_expired",
                        (super::local_date(now) - earliest).num_days() as f64,
                    ),
                ]),
                links: link(),
            },
            // The fact is the midnight the newest of them expired at.
            latest: local_midnight(newest + Duration::days(1)),
        });
    }
    let kind = Kind::HealthCertMissing;
    let without: Vec<&(Worker, DateTime<Utc>)> = m
        .workers
        .iter()
        .filter(|(w, _)| w.certificate_no.is_none())
        .collect();
    if !without.is_empty() {
        let names: Vec<String> = without.iter().map(|(w, _)| masked_name(&w.name)).collect();
        out.push(Candidate {
            kind,
            subject: subject(),
            severity: r.severity(kind),
            title: format!(
                "{} 名从业人员未登记健康证（{}）",
                without.len(),
                names.join("、")
            ),
            evidence: Evidence {
                figures: figures([
                    ("without_certificate", without.len() as f64),
                    ("workers", m.workers.len() as f64),
                ]),
                links: link(),
            },
            latest: without.iter().map(|(_, at)| *at).max().unwrap_or(now),
        });
    } else if m.workers.is_empty() {
        let active = m
            .last_sale_at
            .is_some_and(|t| now - t <= Duration::days(r.missing.active_days));
        let due = m
            .first_sale_at
            .map(|t| t + Duration::days(r.missing.grace_days))
            .filter(|due| *due <= now);
        if let (true, Some(due)) = (active, due) {
            out.push(Candidate {
                kind,
                subject: subject(),
                severity: r.severity(kind),
                title: "经营食品但未登记任何从业人员健康证".to_owned(),
                evidence: Evidence {
                    figures: figures([
                        ("workers", 0.0),
                        ("grace_days", r.missing.grace_days as f64),
                    ]),
                    links: link(),
                },
                // The fact is the grace having run out.
                latest: due,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use chrono::{NaiveDate, TimeZone};

    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn sh(y: i32, m: u32, day: u32, h: u32) -> DateTime<Utc> {
        super::super::china()
            .with_ymd_and_hms(y, m, day, h, 0, 0)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn worker(id: &str, expires: Option<&str>) -> (Worker, DateTime<Utc>) {
        (
            Worker {
                staff_id: id.into(),
                merchant_id: "m1".into(),
                name: format!("王{id}"),
                role: "从业人员".into(),
                certificate_no: expires.map(|_| format!("JK-{id}")),
                issued_on: expires.map(|_| d("2025-01-01")),
                expires_on: expires.map(d),
                photo: None,
            },
            sh(2026, 11, 1, 9),
        )
    }

    fn facts(workers: Vec<(Worker, DateTime<Utc>)>) -> StaffFacts {
        StaffFacts {
            merchant_id: "m1".into(),
            name: "m1 商户".into(),
            market_id: Some("mk1".into()),
            workers,
            first_sale_at: Some(sh(2026, 1, 1, 9)),
            last_sale_at: Some(sh(2026, 11, 30, 9)),
        }
    }

    fn kinds(c: &[Candidate]) -> Vec<Kind> {
        c.iter().map(|c| c.kind).collect()
    }

    #[test]
    fn builtin_rules_parse() {
        let r = StaffRules::from_json(BUILTIN).unwrap();
        assert_eq!(r.version, "staff-v1");
        assert_eq!(r.expiring_days, 30);
    }

    #[test]
    fn an_expired_certificate_fires_at_midnight_and_not_on_its_last_day() {
        let r = StaffRules::builtin();
        let f = facts(vec![
            worker("a", Some("2026-12-01")),
            worker("b", Some("2027-06-01")),
        ]);
        assert!(
            detect(r, &f, sh(2026, 12, 1, 23)).is_empty(),
            "the last day is valid"
        );
        let c = detect(r, &f, sh(2026, 12, 2, 0));
        assert_eq!(kinds(&c), vec![Kind::HealthCertExpired]);
        assert_eq!(c[0].severity, Severity::High);
        assert_eq!(c[0].evidence.figures["expired"], 1.0);
        assert_eq!(c[0].latest, sh(2026, 12, 2, 0));
        // The title names the worker by initial only.
        assert!(
            c[0].title.contains("王*") && !c[0].title.contains("王a"),
            "{}",
            c[0].title
        );
    }

    #[test]
    fn two_expired_workers_are_one_warning() {
        let r = StaffRules::builtin();
        let f = facts(vec![
            worker("a", Some("2026-11-01")),
            worker("b", Some("2026-11-20")),
        ]);
        let c = detect(r, &f, sh(2026, 12, 2, 9));
        assert_eq!(kinds(&c), vec![Kind::HealthCertExpired]);
        assert_eq!(c[0].evidence.figures["expired"], 2.0);
        // The same facts later give the same identity and fact time (the
        // store sees it again rather than raising a second).
        assert_eq!(detect(r, &f, sh(2026, 12, 9, 9))[0].latest, c[0].latest);
    }

    #[test]
    fn a_worker_without_a_certificate_is_missing() {
        let r = StaffRules::builtin();
        let f = facts(vec![worker("a", None), worker("b", Some("2027-06-01"))]);
        let c = detect(r, &f, sh(2026, 12, 2, 9));
        assert_eq!(kinds(&c), vec![Kind::HealthCertMissing]);
        assert_eq!(c[0].evidence.figures["without_certificate"], 1.0);
    }

    #[test]
    fn no_worker_fires_after_the_grace_only_for_a_merchant_that_sells() {
        let r = StaffRules::builtin();
        let now = sh(2026, 12, 2, 9);
        let mut f = facts(vec![]);
        assert_eq!(kinds(&detect(r, &f, now)), vec![Kind::HealthCertMissing]);
        // Near miss: the first sale 13 days ago is within the grace.
        f.first_sale_at = Some(now - Duration::days(13));
        assert!(detect(r, &f, now).is_empty());
        // Near miss: no sale in the last 30 days (not trading).
        f.first_sale_at = Some(sh(2026, 1, 1, 9));
        f.last_sale_at = Some(now - Duration::days(31));
        assert!(detect(r, &f, now).is_empty());
        // Never sold: nothing.
        f.first_sale_at = None;
        f.last_sale_at = None;
        assert!(detect(r, &f, now).is_empty());
    }

    #[test]
    fn valid_certificates_stay_quiet() {
        let r = StaffRules::builtin();
        let f = facts(vec![worker("a", Some("2026-12-02"))]);
        assert!(detect(r, &f, sh(2026, 12, 2, 23)).is_empty());
    }
}
