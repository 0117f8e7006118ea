//! The periods self-inspections are due in, once for every caller.
//!
//! 日管控 is daily, 周排查 weekly and 月调度 monthly (《企业落实食品安全主体
//! 责任监督管理规定》, SAMR Order No. 60 of 2022). A market's day is the
//! calendar day in China (Asia/Shanghai, UTC+8 without daylight saving, as
//! every date on a Shian record), a week is the ISO 8601 week (Monday to
//! Sunday, `2026-W48`) and a month the calendar month (`2026-11`). A period
//! is the half-open interval `[start, end)`: a check at 23:59:59 Shanghai
//! counts for its day, and the day is over (and a check missing) at 00:00.

use std::fmt;

use chrono::{DateTime, Datelike, Days, FixedOffset, Months, NaiveDate, TimeZone, Utc, Weekday};
use serde::{Deserialize, Serialize};

use crate::inspection::china_offset;

/// How often a self-inspection is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cadence {
    /// 日管控
    Daily,
    /// 周排查
    Weekly,
    /// 月调度
    Monthly,
}

impl Cadence {
    pub const ALL: [Cadence; 3] = [Cadence::Daily, Cadence::Weekly, Cadence::Monthly];

    pub fn as_str(self) -> &'static str {
        match self {
            Cadence::Daily => "daily",
            Cadence::Weekly => "weekly",
            Cadence::Monthly => "monthly",
        }
    }

    pub fn parse(s: &str) -> Option<Cadence> {
        Cadence::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// 日管控 / 周排查 / 月调度.
    pub fn label_zh(self) -> &'static str {
        match self {
            Cadence::Daily => "日管控",
            Cadence::Weekly => "周排查",
            Cadence::Monthly => "月调度",
        }
    }
}

/// Who does a self-inspection (the people Order 60 names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Performer {
    /// 食品安全员
    FoodSafetyOfficer,
    /// 食品安全总监
    FoodSafetyDirector,
}

impl Performer {
    pub fn label_zh(self) -> &'static str {
        match self {
            Performer::FoodSafetyOfficer => "食品安全员",
            Performer::FoodSafetyDirector => "食品安全总监",
        }
    }
}

/// One period a self-inspection is due in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Period {
    /// A calendar day in China (`2026-11-30`).
    Day(NaiveDate),
    /// An ISO week, by its Monday (`2026-W48`).
    Week(NaiveDate),
    /// A calendar month, by its first day (`2026-11`).
    Month(NaiveDate),
}

/// Why a period does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PeriodError(pub String);

/// 00:00 of a Shanghai date, as UTC.
pub fn day_start(d: NaiveDate) -> DateTime<Utc> {
    let local = d.and_time(chrono::NaiveTime::MIN);
    // A fixed offset maps every local time to exactly one instant.
    china_offset()
        .from_local_datetime(&local)
        .single()
        .map_or_else(|| local.and_utc(), |t| t.with_timezone(&Utc))
}

/// The Shanghai date of an instant.
pub fn china_date(t: DateTime<Utc>) -> NaiveDate {
    t.with_timezone(&china_offset()).date_naive()
}

/// The Shanghai date of a timestamp with any offset.
pub fn china_date_of(t: DateTime<FixedOffset>) -> NaiveDate {
    china_date(t.with_timezone(&Utc))
}

impl Period {
    /// The period of `cadence` that contains the Shanghai date `d`.
    pub fn containing(cadence: Cadence, d: NaiveDate) -> Period {
        match cadence {
            Cadence::Daily => Period::Day(d),
            Cadence::Weekly => {
                Period::Week(d - Days::new(u64::from(d.weekday().num_days_from_monday())))
            }
            Cadence::Monthly => Period::Month(d.with_day(1).unwrap_or(d)),
        }
    }

    /// The period of `cadence` that an instant falls in (Asia/Shanghai).
    pub fn at(cadence: Cadence, t: DateTime<Utc>) -> Period {
        Period::containing(cadence, china_date(t))
    }

    pub fn cadence(self) -> Cadence {
        match self {
            Period::Day(_) => Cadence::Daily,
            Period::Week(_) => Cadence::Weekly,
            Period::Month(_) => Cadence::Monthly,
        }
    }

    /// Its first day.
    pub fn first_day(self) -> NaiveDate {
        match self {
            Period::Day(d) | Period::Week(d) | Period::Month(d) => d,
        }
    }

    /// The first day of the next period.
    fn next_first_day(self) -> NaiveDate {
        match self {
            Period::Day(d) => d + Days::new(1),
            Period::Week(d) => d + Days::new(7),
            Period::Month(d) => d + Months::new(1),
        }
    }

    /// Its last day.
    pub fn last_day(self) -> NaiveDate {
        self.next_first_day() - Days::new(1)
    }

    /// The next period of the same cadence.
    pub fn next(self) -> Period {
        Period::containing(self.cadence(), self.next_first_day())
    }

    /// When it starts (00:00 Shanghai of its first day), as UTC.
    pub fn start(self) -> DateTime<Utc> {
        day_start(self.first_day())
    }

    /// When it is over (00:00 Shanghai after its last day), as UTC.
    pub fn end(self) -> DateTime<Utc> {
        day_start(self.next_first_day())
    }

    /// Whether an instant falls in it.
    pub fn contains(self, t: DateTime<Utc>) -> bool {
        self.start() <= t && t < self.end()
    }

    /// Whether it is over at `now`.
    pub fn ended_by(self, now: DateTime<Utc>) -> bool {
        self.end() <= now
    }

    /// Parses the wire form for `cadence`: `2026-11-30` (daily), `2026-W48`
    /// (weekly, ISO week 1–53 that exists in that year), `2026-11`
    /// (monthly).
    pub fn parse(cadence: Cadence, s: &str) -> Result<Period, PeriodError> {
        let bad = |want: &str| PeriodError(format!("{} 的周期应为 {want}", cadence.label_zh()));
        match cadence {
            Cadence::Daily => NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .ok()
                .filter(|d| d.format("%Y-%m-%d").to_string() == s)
                .map(Period::Day)
                .ok_or_else(|| bad("日期，如 2026-11-30")),
            Cadence::Weekly => {
                let (y, w) = s
                    .split_once("-W")
                    .ok_or_else(|| bad("ISO 周，如 2026-W48"))?;
                let ok = y.len() == 4 && w.len() == 2;
                let (Ok(y), Ok(w)) = (y.parse::<i32>(), w.parse::<u32>()) else {
                    return Err(bad("ISO 周，如 2026-W48"));
                };
                NaiveDate::from_isoywd_opt(y, w, Weekday::Mon)
                    .filter(|_| ok)
                    .map(Period::Week)
                    .ok_or_else(|| bad("ISO 周，如 2026-W48（该年存在的周次）"))
            }
            Cadence::Monthly => {
                let (y, m) = s.split_once('-').ok_or_else(|| bad("月份，如 2026-11"))?;
                let ok = y.len() == 4 && m.len() == 2;
                let (Ok(y), Ok(m)) = (y.parse::<i32>(), m.parse::<u32>()) else {
                    return Err(bad("月份，如 2026-11"));
                };
                NaiveDate::from_ymd_opt(y, m, 1)
                    .filter(|_| ok)
                    .map(Period::Month)
                    .ok_or_else(|| bad("月份，如 2026-11"))
            }
        }
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Period::Day(d) => write!(f, "{}", d.format("%Y-%m-%d")),
            Period::Week(d) => {
                let w = d.iso_week();
                write!(f, "{:04}-W{:02}", w.year(), w.week())
            }
            Period::Month(d) => write!(f, "{}", d.format("%Y-%m")),
        }
    }
}

/// On the wire a period is its text (`2026-11-30`, `2026-W48`, `2026-11`).
impl Serialize for Period {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
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

    #[test]
    fn the_day_is_shanghai_s_and_ends_at_midnight() {
        let day = Period::Day(date("2026-11-30"));
        assert!(day.contains(t("2026-11-30T23:59:59+08:00")));
        assert!(day.contains(t("2026-11-29T16:00:00Z")), "00:00 Shanghai");
        assert!(!day.contains(t("2026-12-01T00:00:00+08:00")));
        assert!(!day.contains(t("2026-11-29T15:59:59Z")));
        assert!(!day.ended_by(t("2026-11-30T23:59:59+08:00")));
        assert!(day.ended_by(t("2026-12-01T00:00:00+08:00")));
        // 20:00 UTC on the 30th is already the 1st in Shanghai.
        assert_eq!(
            Period::at(Cadence::Daily, t("2026-11-30T20:00:00Z")),
            Period::Day(date("2026-12-01"))
        );
    }

    #[test]
    fn weeks_are_iso_weeks() {
        // 2026-11-23 is a Monday, in ISO week 48.
        let w = Period::containing(Cadence::Weekly, date("2026-11-29"));
        assert_eq!(w, Period::Week(date("2026-11-23")));
        assert_eq!(w.to_string(), "2026-W48");
        assert_eq!(w.last_day(), date("2026-11-29"));
        assert_eq!(w.next().to_string(), "2026-W49");
        assert_eq!(Period::parse(Cadence::Weekly, "2026-W48"), Ok(w));
        // 2027-01-01 (a Friday) belongs to 2026-W53; 2026 has 53 weeks.
        let y = Period::containing(Cadence::Weekly, date("2027-01-01"));
        assert_eq!(y.to_string(), "2026-W53");
        assert!(Period::parse(Cadence::Weekly, "2026-W53").is_ok());
        assert!(Period::parse(Cadence::Weekly, "2027-W53").is_err());
        for bad in ["2026-W00", "2026-W5", "2026W48", "26-W48", "2026-11-30"] {
            assert!(Period::parse(Cadence::Weekly, bad).is_err(), "{bad}");
        }
        assert!(w.ended_by(t("2026-11-30T00:00:00+08:00")));
        assert!(!w.ended_by(t("2026-11-29T23:59:59+08:00")));
    }

    #[test]
    fn months_are_calendar_months() {
        let m = Period::containing(Cadence::Monthly, date("2026-02-17"));
        assert_eq!(m.to_string(), "2026-02");
        assert_eq!(m.last_day(), date("2026-02-28"));
        assert_eq!(m.next().to_string(), "2026-03");
        assert_eq!(
            Period::containing(Cadence::Monthly, date("2026-12-31")).next(),
            Period::Month(date("2027-01-01"))
        );
        assert_eq!(
            Period::parse(Cadence::Monthly, "2026-11").map(|p| p.to_string()),
            Ok("2026-11".into())
        );
        for bad in ["2026-13", "2026-1", "2026-11-01", "2026", ""] {
            assert!(Period::parse(Cadence::Monthly, bad).is_err(), "{bad}");
        }
        assert!(m.ended_by(t("2026-03-01T00:00:00+08:00")));
        assert!(!m.ended_by(t("2026-02-28T23:59:59+08:00")));
    }

    #[test]
    fn daily_periods_parse_strictly() {
        assert_eq!(
            Period::parse(Cadence::Daily, "2026-11-30"),
            Ok(Period::Day(date("2026-11-30")))
        );
        for bad in [
            "2026-11-31",
            "2026-1-3",
            "2026-W48",
            "20261130",
            " 2026-11-30",
        ] {
            assert!(Period::parse(Cadence::Daily, bad).is_err(), "{bad}");
        }
    }
}
