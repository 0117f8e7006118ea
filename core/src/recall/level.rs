//! Recall levels and their deadlines. 《食品召回管理办法》(2015) grades a
//! recall by the harm (regulation.md §8): level 1 (serious harm or death)
//! starts within 24 hours and finishes within 10 working days, level 2
//! (general harm) 48 hours and 20, level 3 (false label claims) 72 hours and
//! 30. The figures are data (`core/data/recall/levels-v1.json`, which cites
//! the article) so an amended rule is a new file, not new code.
//!
//! The start deadline runs in hours from the moment the recall is started
//! (the regulator knows the risk). The finish period is counted as
//! administrative periods are: from the notice date (China), that day not
//! counted, to the close of its last working day on the holiday calendar
//! ([`crate::calendar`]).

use std::sync::OnceLock;

use chrono::{DateTime, Duration, FixedOffset, NaiveDate, Offset, TimeZone, Utc};
use serde::{Deserialize, Serialize};

use crate::calendar::{CalendarError, WorkCalendar};

/// 一级, 二级 or 三级召回.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
pub enum RecallLevel {
    One,
    Two,
    Three,
}

impl RecallLevel {
    pub const ALL: [RecallLevel; 3] = [RecallLevel::One, RecallLevel::Two, RecallLevel::Three];

    pub fn number(self) -> u8 {
        match self {
            RecallLevel::One => 1,
            RecallLevel::Two => 2,
            RecallLevel::Three => 3,
        }
    }

    pub fn from_number(n: i64) -> Option<Self> {
        match n {
            1 => Some(RecallLevel::One),
            2 => Some(RecallLevel::Two),
            3 => Some(RecallLevel::Three),
            _ => None,
        }
    }

    pub fn zh(self) -> &'static str {
        match self {
            RecallLevel::One => "一级召回",
            RecallLevel::Two => "二级召回",
            RecallLevel::Three => "三级召回",
        }
    }
}

impl From<RecallLevel> for u8 {
    fn from(l: RecallLevel) -> u8 {
        l.number()
    }
}

impl TryFrom<u8> for RecallLevel {
    type Error = String;
    fn try_from(n: u8) -> Result<Self, String> {
        RecallLevel::from_number(i64::from(n))
            .ok_or_else(|| format!("召回级别须为 1、2 或 3，收到 {n}"))
    }
}

/// One level's row of the rules file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LevelRule {
    pub level: u8,
    pub name_zh: String,
    pub trigger_zh: String,
    pub start_within_hours: u32,
    pub finish_within_working_days: u32,
}

/// The recall rules: one row per level, with the source they come from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecallRules {
    pub id: String,
    pub version: u32,
    pub source: String,
    pub levels: Vec<LevelRule>,
}

/// A recall's deadlines.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Deadlines {
    /// Every holder must have acted (stopped selling and answered) by then.
    pub start_by: DateTime<Utc>,
    /// The last working day (China) to finish the recall.
    pub finish_by: NaiveDate,
    /// The end of `finish_by` in China, as an instant.
    pub finish_by_end: DateTime<Utc>,
    /// Set when the holiday calendar did not cover the period and weekdays
    /// were counted instead.
    pub calendar_warning: Option<String>,
}

fn china() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).unwrap_or_else(|| Utc.fix())
}

impl RecallRules {
    /// Parses and checks a rules file: exactly the levels 1, 2 and 3, each
    /// with a positive start and finish period.
    pub fn from_json(json: &str) -> Result<Self, String> {
        let r: RecallRules = serde_json::from_str(json).map_err(|e| e.to_string())?;
        if r.id != "recall-levels" || r.version == 0 {
            return Err("id 须为 recall-levels，版本号从 1 开始".into());
        }
        let mut seen: Vec<u8> = r.levels.iter().map(|l| l.level).collect();
        seen.sort_unstable();
        if seen != [1, 2, 3] {
            return Err("levels 须恰好含 1、2、3 级".into());
        }
        if r.levels
            .iter()
            .any(|l| l.start_within_hours == 0 || l.finish_within_working_days == 0)
        {
            return Err("期限须为正数".into());
        }
        Ok(r)
    }

    /// The built-in rules, parsed once (`builtin_rules_load` proves the
    /// embedded file is sound).
    pub fn builtin() -> Result<&'static RecallRules, String> {
        static RULES: OnceLock<Result<RecallRules, String>> = OnceLock::new();
        RULES
            .get_or_init(|| {
                RecallRules::from_json(include_str!("../../data/recall/levels-v1.json"))
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    pub fn rule(&self, level: RecallLevel) -> Option<&LevelRule> {
        self.levels.iter().find(|l| l.level == level.number())
    }

    /// The deadlines of a recall of `level` started at `started_at`.
    pub fn deadlines(
        &self,
        level: RecallLevel,
        started_at: DateTime<Utc>,
        cal: &WorkCalendar,
    ) -> Option<Deadlines> {
        let rule = self.rule(level)?;
        let start_by = started_at + Duration::hours(i64::from(rule.start_within_hours));
        let notice_day = started_at.with_timezone(&china()).date_naive();
        let (finish_by, warning) =
            cal.add_working_days_or_weekdays(notice_day, rule.finish_within_working_days);
        Some(Deadlines {
            start_by,
            finish_by,
            finish_by_end: end_of_day(finish_by),
            calendar_warning: warning.as_ref().map(CalendarError::to_string),
        })
    }
}

/// Midnight after `day` in China, as UTC.
fn end_of_day(day: NaiveDate) -> DateTime<Utc> {
    let next = day.succ_opt().unwrap_or(day);
    next.and_hms_opt(0, 0, 0)
        .and_then(|d| china().from_local_datetime(&d).single())
        .map_or_else(|| DateTime::<Utc>::MAX_UTC, |d| d.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn builtin_rules_load() {
        let r = RecallRules::builtin().unwrap();
        let hours: Vec<u32> = RecallLevel::ALL
            .iter()
            .map(|l| r.rule(*l).unwrap().start_within_hours)
            .collect();
        let days: Vec<u32> = RecallLevel::ALL
            .iter()
            .map(|l| r.rule(*l).unwrap().finish_within_working_days)
            .collect();
        assert_eq!(hours, [24, 48, 72]);
        assert_eq!(days, [10, 20, 30]);
    }

    #[test]
    fn deadlines_count_hours_then_working_days_from_the_notice_date() {
        let r = RecallRules::builtin().unwrap();
        let cal = WorkCalendar::builtin().unwrap();
        // Tuesday 2026-12-01 10:00 in China.
        let started = at("2026-12-01T10:00:00+08:00");
        let d = r.deadlines(RecallLevel::One, started, cal).unwrap();
        assert_eq!(d.start_by, at("2026-12-02T10:00:00+08:00"));
        // Wed 2 (1) … Fri 4 (3), Mon 7 … Fri 11 (8), Mon 14 (9), Tue 15 (10).
        assert_eq!(d.finish_by, NaiveDate::from_ymd_opt(2026, 12, 15).unwrap());
        assert_eq!(d.finish_by_end, at("2026-12-16T00:00:00+08:00"));
        assert_eq!(d.calendar_warning, None);
        let d2 = r.deadlines(RecallLevel::Two, started, cal).unwrap();
        assert_eq!(d2.start_by, at("2026-12-03T10:00:00+08:00"));
        // 20 working days: Dec 2 … Tue 29.
        assert_eq!(d2.finish_by, NaiveDate::from_ymd_opt(2026, 12, 29).unwrap());
        assert_eq!(d2.calendar_warning, None);
        let d3 = r.deadlines(RecallLevel::Three, started, cal).unwrap();
        assert_eq!(d3.start_by, at("2026-12-04T10:00:00+08:00"));
        // 30 reach past the calendar's 2026: weekdays are counted, and it says so.
        assert!(d3.calendar_warning.is_some());
        assert!(d3.finish_by > d2.finish_by);
    }

    #[test]
    fn a_level_is_one_two_or_three() {
        assert_eq!(
            serde_json::from_str::<RecallLevel>("2").unwrap(),
            RecallLevel::Two
        );
        assert!(serde_json::from_str::<RecallLevel>("4").is_err());
        assert!(serde_json::from_str::<RecallLevel>("0").is_err());
        assert_eq!(serde_json::to_string(&RecallLevel::Three).unwrap(), "3");
    }

    #[test]
    fn broken_rules_are_refused() {
        let ok = include_str!("../../data/recall/levels-v1.json");
        assert!(RecallRules::from_json(ok).is_ok());
        let missing = ok.replace("\"level\": 3", "\"level\": 2");
        assert!(RecallRules::from_json(&missing).is_err());
        let zero = ok.replace("\"start_within_hours\": 24", "\"start_within_hours\": 0");
        assert!(RecallRules::from_json(&zero).is_err());
    }
}
