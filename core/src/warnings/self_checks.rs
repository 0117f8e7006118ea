//! A market's self-inspection warnings (issue 14): `self_check_missed` (a
//! 日管控 not done by the end of its day in Asia/Shanghai, a 周排查 by the
//! end of its ISO week, a 月调度 by the end of its month) and
//! `follow_up_overdue` (a finding still open after its follow-up date).
//! Past `escalation.missed_daily` missed days in `escalation.window_days`
//! the missed warning's severity is `high` and its figures carry
//! `escalated: 1` (the district sees it first in the console's list).
//!
//! Pure: the server passes each market's facts (since when it is tracked,
//! the periods done, the open findings) and a `now`; the periods are
//! core's [`crate::self_check::period`]. One candidate per kind and market,
//! so a market has at most one open warning of each (the alert store's
//! identity is kind + subject). Thresholds: `self-checks-v1.json`.

use std::collections::HashSet;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::Deserialize;

use super::{figures, Candidate, Evidence, Kind, Severity, Subject, SubjectType};
use crate::self_check::{overdue_from, Cadence, Period};

const BUILTIN: &str = include_str!("../../data/warnings/self-checks-v1.json");

/// The thresholds, with the rule each comes from.
#[derive(Debug, Clone, Deserialize)]
pub struct SelfCheckConfig {
    pub version: String,
    pub source_zh: String,
    pub missed: Missed,
    pub escalation: Escalation,
    pub follow_up: FollowUp,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Missed {
    /// Missed periods that ended within this many days are counted.
    pub window_days: i64,
    pub severity: Severity,
    pub basis_zh: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Escalation {
    /// This many missed daily checks …
    pub missed_daily: u32,
    /// … within this many days make the warning `severity`.
    pub window_days: i64,
    pub severity: Severity,
    pub basis_zh: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct FollowUp {
    pub severity: Severity,
    pub basis_zh: String,
}

/// Why the config cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("自查预警阈值: {0}")]
    Parse(#[from] serde_json::Error),
    #[error("自查预警阈值: {0}")]
    Invalid(&'static str),
}

impl SelfCheckConfig {
    pub fn from_json(text: &str) -> Result<SelfCheckConfig, ConfigError> {
        let c: SelfCheckConfig = serde_json::from_str(text)?;
        if c.version.trim().is_empty() {
            return Err(ConfigError::Invalid("version 不能为空"));
        }
        if !(1..=366).contains(&c.missed.window_days) {
            return Err(ConfigError::Invalid("missed.window_days 应为 1–366"));
        }
        if !(1..=c.missed.window_days).contains(&c.escalation.window_days) {
            return Err(ConfigError::Invalid(
                "escalation.window_days 应为 1 至 missed.window_days",
            ));
        }
        if c.escalation.missed_daily == 0
            || i64::from(c.escalation.missed_daily) > c.escalation.window_days
        {
            return Err(ConfigError::Invalid(
                "escalation.missed_daily 应为 1 至 escalation.window_days",
            ));
        }
        Ok(c)
    }

    /// The config shipped with this build.
    pub fn builtin() -> &'static SelfCheckConfig {
        static C: std::sync::OnceLock<SelfCheckConfig> = std::sync::OnceLock::new();
        // Cannot fail: the file is embedded at compile time and the test
        // `builtin_config_parses` parses and validates it.
        C.get_or_init(|| SelfCheckConfig::from_json(BUILTIN).expect("self-checks-v1.json is valid"))
    }
}

/// An open finding of a market.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenFinding {
    pub finding_id: String,
    pub follow_up_by: NaiveDate,
}

/// What the detector reads of one market.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarketSelfChecks {
    pub market_id: String,
    pub market_name: String,
    /// The Shanghai date of its first self-inspection: it is held to the
    /// calendar from then on (`None`: never did one, not tracked).
    pub tracked_since: Option<NaiveDate>,
    /// The periods with at least one check (any cadence), at least those
    /// ending in the window.
    pub done: Vec<Period>,
    pub open_findings: Vec<OpenFinding>,
}

/// The periods of `cadence` that ended in `(since, now]` without a check,
/// from the market's first self-inspection on, oldest first.
pub fn missed_periods(
    cadence: Cadence,
    tracked_since: NaiveDate,
    done: &HashSet<Period>,
    since: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Vec<Period> {
    let from = crate::self_check::china_date(since).max(tracked_since);
    let mut p = Period::containing(cadence, from);
    let mut out = Vec::new();
    while p.ended_by(now) {
        if p.end() > since && p.last_day() >= tracked_since && !done.contains(&p) {
            out.push(p);
        }
        p = p.next();
    }
    out
}

fn market_subject(m: &MarketSelfChecks) -> Subject {
    Subject {
        kind: SubjectType::Market,
        id: m.market_id.clone(),
        market_id: Some(m.market_id.clone()),
        name: m.market_name.clone(),
    }
}

/// The candidates one market's facts raise at `now`.
pub fn detect(c: &SelfCheckConfig, m: &MarketSelfChecks, now: DateTime<Utc>) -> Vec<Candidate> {
    let mut out = Vec::new();
    if let Some(since) = m.tracked_since {
        let done: HashSet<Period> = m.done.iter().copied().collect();
        let window = now - Duration::days(c.missed.window_days);
        let missed: Vec<(Cadence, Vec<Period>)> = Cadence::ALL
            .into_iter()
            .map(|k| (k, missed_periods(k, since, &done, window, now)))
            .collect();
        let count = |k: Cadence| {
            missed
                .iter()
                .find(|(c, _)| *c == k)
                .map_or(0, |(_, v)| v.len())
        };
        let recent_start = now - Duration::days(c.escalation.window_days);
        let recent_daily = missed
            .iter()
            .filter(|(k, _)| *k == Cadence::Daily)
            .flat_map(|(_, v)| v)
            .filter(|p| p.end() > recent_start)
            .count();
        let newest = missed
            .iter()
            .flat_map(|(_, v)| v)
            .max_by_key(|p| (p.end(), p.cadence()));
        if let Some(newest) = newest {
            let escalated = recent_daily >= c.escalation.missed_daily as usize;
            let (daily, weekly, monthly) = (
                count(Cadence::Daily),
                count(Cadence::Weekly),
                count(Cadence::Monthly),
            );
            out.push(Candidate {
                kind: Kind::SelfCheckMissed,
                subject: market_subject(m),
                severity: if escalated {
                    c.escalation.severity
                } else {
                    c.missed.severity
                },
                title: format!(
                    "近{}天缺失日管控{daily}次、周排查{weekly}次、月调度{monthly}次（最近：{newest} {}）{}",
                    c.missed.window_days,
                    newest.cadence().label_zh(),
                    if escalated { "，已升级" } else { "" }
                ),
                evidence: Evidence {
                    figures: figures([
                        ("missed_daily", daily as f64),
                        ("missed_weekly", weekly as f64),
                        ("missed_monthly", monthly as f64),
                        ("window_days", c.missed.window_days as f64),
                        ("missed_daily_recent", recent_daily as f64),
                        ("escalation_window_days", c.escalation.window_days as f64),
                        ("escalation_threshold", f64::from(c.escalation.missed_daily)),
                        ("escalated", if escalated { 1.0 } else { 0.0 }),
                    ]),
                    links: Vec::new(),
                },
                // The fact is the period having ended without its check.
                latest: newest.end(),
            });
        }
    }
    let overdue: Vec<&OpenFinding> = m
        .open_findings
        .iter()
        .filter(|f| overdue_from(f.follow_up_by) <= now)
        .collect();
    if let Some(oldest) = overdue.iter().map(|f| f.follow_up_by).min() {
        let latest = overdue
            .iter()
            .map(|f| overdue_from(f.follow_up_by))
            .max()
            .unwrap_or(now);
        let days = (crate::self_check::china_date(now) - oldest).num_days();
        out.push(Candidate {
            kind: Kind::FollowUpOverdue,
            subject: market_subject(m),
            severity: c.follow_up.severity,
            title: format!(
                "{}个自查问题逾期未整改（最早期限 {oldest}，已逾期{days}天）",
                overdue.len()
            ),
            evidence: Evidence {
                figures: figures([
                    ("overdue", overdue.len() as f64),
                    ("most_days_overdue", days as f64),
                ]),
                links: Vec::new(),
            },
            latest,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        match DateTime::parse_from_rfc3339(s) {
            Ok(t) => t.with_timezone(&Utc),
            Err(e) => panic!("{s}: {e}"),
        }
    }

    fn date(s: &str) -> NaiveDate {
        match NaiveDate::parse_from_str(s, "%Y-%m-%d") {
            Ok(d) => d,
            Err(e) => panic!("{s}: {e}"),
        }
    }

    fn days(from: &str, n: u64) -> Vec<Period> {
        (0..n)
            .map(|i| Period::Day(date(from) + chrono::Days::new(i)))
            .collect()
    }

    fn market(done: Vec<Period>, findings: Vec<OpenFinding>) -> MarketSelfChecks {
        MarketSelfChecks {
            market_id: "mkt-1".into(),
            market_name: "海鲜市场".into(),
            tracked_since: Some(date("2026-11-02")),
            done,
            open_findings: findings,
        }
    }

    fn cfg() -> &'static SelfCheckConfig {
        SelfCheckConfig::builtin()
    }

    /// Weekly and monthly done for the weeks and months in question.
    fn others() -> Vec<Period> {
        let mut v: Vec<Period> = (0..6)
            .map(|w| Period::Week(date("2026-11-02") + chrono::Days::new(7 * w)))
            .collect();
        v.push(Period::Month(date("2026-11-01")));
        v
    }

    #[test]
    fn builtin_config_parses() {
        let c = SelfCheckConfig::from_json(BUILTIN);
        assert!(c.is_ok(), "{c:?}");
        let mut v: serde_json::Value = serde_json::from_str(BUILTIN).unwrap_or_default();
        v["escalation"]["missed_daily"] = serde_json::json!(0);
        assert!(SelfCheckConfig::from_json(&v.to_string()).is_err());
    }

    #[test]
    fn a_day_without_its_check_is_missed_at_midnight_shanghai_not_before() {
        // Checks every day from 2 to 29 November, none on the 30th.
        let mut done = days("2026-11-02", 28);
        done.extend(others());
        let m = market(done, vec![]);
        let before = detect(cfg(), &m, t("2026-11-30T23:59:59+08:00"));
        assert!(before.is_empty(), "{before:?}");
        let after = detect(cfg(), &m, t("2026-12-01T00:00:00+08:00"));
        let [c] = after.as_slice() else {
            panic!("{after:?}")
        };
        assert_eq!(c.kind, Kind::SelfCheckMissed);
        assert_eq!(c.subject.kind, SubjectType::Market);
        assert_eq!(c.severity, Severity::Medium);
        assert_eq!(c.evidence.figures["missed_daily"], 1.0);
        assert_eq!(c.evidence.figures["missed_monthly"], 0.0);
        assert_eq!(c.evidence.figures["escalated"], 0.0);
        assert_eq!(c.latest, t("2026-12-01T00:00:00+08:00"));
        // A check at 23:59 on the 30th makes it done.
        let mut m = m;
        m.done.push(Period::Day(date("2026-11-30")));
        assert!(detect(cfg(), &m, t("2026-12-01T00:00:00+08:00")).is_empty());
    }

    #[test]
    fn weekly_and_monthly_are_missed_after_their_week_and_month() {
        let done = days("2026-11-02", 29);
        let m = market(done, vec![]);
        // Sunday 8 November 23:59: week 45 not over yet.
        let c = detect(cfg(), &m, t("2026-11-08T23:59:59+08:00"));
        assert!(c.is_empty(), "{c:?}");
        let c = detect(cfg(), &m, t("2026-11-09T00:00:00+08:00"));
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].evidence.figures["missed_weekly"], 1.0);
        // 1 December: weeks 45–48 and November missed.
        let c = detect(cfg(), &m, t("2026-12-01T00:00:00+08:00"));
        assert_eq!(c[0].evidence.figures["missed_weekly"], 4.0);
        assert_eq!(c[0].evidence.figures["missed_monthly"], 1.0);
        assert_eq!(c[0].evidence.figures["missed_daily"], 0.0);
    }

    #[test]
    fn past_the_threshold_the_warning_escalates() {
        let mut done = others();
        // Days 2–25 done; 26, 27 missed: two in the last 7 days.
        done.extend(days("2026-11-02", 24));
        let mut m = market(done, vec![]);
        let c = detect(cfg(), &m, t("2026-11-28T00:00:00+08:00"));
        assert_eq!(c[0].severity, Severity::Medium, "near miss: 2 of 3");
        assert_eq!(c[0].evidence.figures["missed_daily_recent"], 2.0);
        // The 28th missed too: three in seven days.
        let c = detect(cfg(), &m, t("2026-11-29T00:00:00+08:00"));
        assert_eq!(c.len(), 1, "one warning, not one per day");
        assert_eq!(c[0].severity, Severity::High);
        assert_eq!(c[0].evidence.figures["escalated"], 1.0);
        // Three misses spread over more than seven days do not escalate.
        m.done = others();
        m.done.extend(days("2026-11-02", 30));
        m.done.retain(|p| {
            !matches!(p, Period::Day(d) if [date("2026-11-05"), date("2026-11-15"), date("2026-11-25")].contains(d))
        });
        let c = detect(cfg(), &m, t("2026-11-30T12:00:00+08:00"));
        assert_eq!(c[0].evidence.figures["missed_daily"], 3.0);
        assert_eq!(c[0].severity, Severity::Medium);
    }

    #[test]
    fn a_market_never_tracked_raises_nothing() {
        let mut m = market(vec![], vec![]);
        m.tracked_since = None;
        assert!(detect(cfg(), &m, t("2026-12-01T00:00:00+08:00")).is_empty());
    }

    #[test]
    fn a_follow_up_is_overdue_after_its_date_ends() {
        let mut done = days("2026-11-02", 29);
        done.extend(others());
        let f = |id: &str, by: &str| OpenFinding {
            finding_id: id.into(),
            follow_up_by: date(by),
        };
        let m = market(done, vec![f("a", "2026-11-20"), f("b", "2026-11-25")]);
        let c = detect(cfg(), &m, t("2026-11-20T23:59:59+08:00"));
        assert!(c.is_empty(), "{c:?}");
        let c = detect(cfg(), &m, t("2026-11-21T00:00:00+08:00"));
        let [o] = c.as_slice() else { panic!("{c:?}") };
        assert_eq!(o.kind, Kind::FollowUpOverdue);
        assert_eq!(o.evidence.figures["overdue"], 1.0);
        let c = detect(cfg(), &m, t("2026-11-27T09:00:00+08:00"));
        assert_eq!(c.len(), 1, "one per market");
        assert_eq!(c[0].evidence.figures["overdue"], 2.0);
        assert_eq!(c[0].evidence.figures["most_days_overdue"], 7.0);
        assert_eq!(c[0].latest, t("2026-11-26T00:00:00+08:00"));
    }
}
