//! China's working-day calendar: Monday to Friday, minus the State
//! Council's public holidays, plus the weekend days worked in their place
//! (调休), from `core/data/calendar/cn-holidays-v1.json` (its source is cited
//! in the file). Administrative periods are counted in it: the complaint
//! deadlines of the 12315 rules ([`crate::complaints`]) and the finish
//! deadlines of a food recall ([`crate::recall`]). A date outside the years
//! the file covers is an error ([`CalendarError::NotCovered`]);
//! [`WorkCalendar::add_working_days_or_weekdays`] then counts weekdays only
//! and says so, because a deadline must always be shown.

use std::collections::BTreeSet;
use std::sync::OnceLock;

use chrono::{Datelike, NaiveDate, Weekday};
use serde::Deserialize;

/// A date the working-day calendar cannot answer for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalendarError {
    /// The holiday file has no list for this date's year (the State Council
    /// publishes next year's list each November).
    #[error("节假日数据未覆盖 {date}（只含 {first}–{last} 年），工作日按周一至周五估算 (holiday data does not cover {date})")]
    NotCovered {
        date: NaiveDate,
        first: i32,
        last: i32,
    },
    /// The built-in holiday file does not load (a broken build).
    #[error("节假日数据无效：{0}")]
    InvalidData(String),
}

impl CalendarError {
    /// The stable snake_case code.
    pub fn code(&self) -> &'static str {
        match self {
            CalendarError::NotCovered { .. } => "calendar_not_covered",
            CalendarError::InvalidData(_) => "invalid_calendar",
        }
    }
}

/// The holiday file's shape.
#[derive(Debug, Clone, Deserialize)]
struct CalendarFile {
    id: String,
    version: u32,
    years: Vec<i32>,
    holidays: Vec<NaiveDate>,
    workdays: Vec<NaiveDate>,
}

/// China's working days: Monday to Friday, minus the public holidays, plus
/// the weekend days worked in their place (调休), for the years the data
/// covers.
#[derive(Debug, Clone)]
pub struct WorkCalendar {
    version: u32,
    first: i32,
    last: i32,
    holidays: BTreeSet<NaiveDate>,
    workdays: BTreeSet<NaiveDate>,
}

impl WorkCalendar {
    /// Parses and checks a holiday file: consecutive years, every date
    /// within them, a holiday never also a working day.
    pub fn from_json(json: &str) -> Result<Self, CalendarError> {
        let f: CalendarFile =
            serde_json::from_str(json).map_err(|e| CalendarError::InvalidData(e.to_string()))?;
        let bad = |m: String| Err(CalendarError::InvalidData(m));
        if f.id != "cn-holidays" || f.version == 0 {
            return bad("id 须为 cn-holidays，版本号从 1 开始".into());
        }
        let (Some(&first), Some(&last)) = (f.years.iter().min(), f.years.iter().max()) else {
            return bad("years 不能为空".into());
        };
        if f.years.len() as i64 != i64::from(last) - i64::from(first) + 1 {
            return bad("years 须为连续年份".into());
        }
        let holidays: BTreeSet<NaiveDate> = f.holidays.into_iter().collect();
        let workdays: BTreeSet<NaiveDate> = f.workdays.into_iter().collect();
        if let Some(d) = holidays
            .iter()
            .chain(&workdays)
            .find(|d| d.year() < first || d.year() > last)
        {
            return bad(format!("{d} 不在 years 之内"));
        }
        if let Some(d) = holidays.intersection(&workdays).next() {
            return bad(format!("{d} 既是假日又是工作日"));
        }
        Ok(WorkCalendar {
            version: f.version,
            first,
            last,
            holidays,
            workdays,
        })
    }

    /// The built-in calendar (`core/data/calendar/cn-holidays-v1.json`),
    /// parsed once. Errors only if the embedded file is broken (the test
    /// `builtin_calendar_loads` proves it is not).
    pub fn builtin() -> Result<&'static WorkCalendar, CalendarError> {
        static CAL: OnceLock<Result<WorkCalendar, CalendarError>> = OnceLock::new();
        CAL.get_or_init(|| {
            WorkCalendar::from_json(include_str!("../data/calendar/cn-holidays-v1.json"))
        })
        .as_ref()
        .map_err(Clone::clone)
    }

    /// The data file's version.
    pub fn version(&self) -> u32 {
        self.version
    }

    /// Whether `date` is a working day; an error outside the covered years.
    pub fn is_working_day(&self, date: NaiveDate) -> Result<bool, CalendarError> {
        if date.year() < self.first || date.year() > self.last {
            return Err(CalendarError::NotCovered {
                date,
                first: self.first,
                last: self.last,
            });
        }
        Ok(self.workdays.contains(&date) || (!is_weekend(date) && !self.holidays.contains(&date)))
    }

    /// The `n`-th working day after `start` (`start` itself not counted):
    /// the last day of a period of `n` working days beginning on `start`.
    /// An error when a day it must look at is not covered.
    pub fn add_working_days(&self, start: NaiveDate, n: u32) -> Result<NaiveDate, CalendarError> {
        let mut day = start;
        let mut left = n;
        while left > 0 {
            day = day.succ_opt().ok_or(CalendarError::NotCovered {
                date: day,
                first: self.first,
                last: self.last,
            })?;
            if self.is_working_day(day)? {
                left -= 1;
            }
        }
        Ok(day)
    }

    /// As [`Self::add_working_days`], but past the covered years it counts
    /// Monday to Friday as working days and returns the warning with the
    /// date, so a deadline is always shown (perhaps a few days early or
    /// late) and the reader is told why.
    pub fn add_working_days_or_weekdays(
        &self,
        start: NaiveDate,
        n: u32,
    ) -> (NaiveDate, Option<CalendarError>) {
        let mut day = start;
        let mut left = n;
        let mut warning = None;
        while left > 0 {
            let Some(next) = day.succ_opt() else {
                break;
            };
            day = next;
            let working = match self.is_working_day(day) {
                Ok(w) => w,
                Err(e) => {
                    warning.get_or_insert(e);
                    !is_weekend(day)
                }
            };
            if working {
                left -= 1;
            }
        }
        (day, warning)
    }
}

fn is_weekend(d: NaiveDate) -> bool {
    matches!(d.weekday(), Weekday::Sat | Weekday::Sun)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn cal() -> &'static WorkCalendar {
        WorkCalendar::builtin().unwrap()
    }

    #[test]
    fn builtin_calendar_loads() {
        let c = cal();
        assert_eq!(c.version(), 1);
        // 2026 has 261 weekdays; 19 of its 33 holiday days fall on one
        // and 6 weekend days are worked: 261 − 19 + 6.
        let days = (0..365)
            .map(|i| d("2026-01-01") + chrono::Duration::days(i))
            .filter(|&x| c.is_working_day(x).unwrap())
            .count();
        assert_eq!(days, 248);
    }

    #[test]
    fn weekends_are_skipped() {
        // Thursday 2026-12-03 + 7 working days: Fri 4, Mon 7 … Fri 11, Mon 14.
        assert_eq!(
            cal().add_working_days(d("2026-12-03"), 7).unwrap(),
            d("2026-12-14")
        );
        // Received on a Saturday: counting starts on Monday.
        assert_eq!(
            cal().add_working_days(d("2026-11-28"), 7).unwrap(),
            d("2026-12-08")
        );
    }

    #[test]
    fn holidays_are_skipped() {
        // Wednesday 2026-09-30: 10-01…10-07 are the National Day holiday,
        // Thursday 10-08 and Friday 10-09 work, Saturday 10-10 is a make-up
        // working day, then Mon 12 … Thu 15.
        assert_eq!(
            cal().add_working_days(d("2026-09-30"), 7).unwrap(),
            d("2026-10-15")
        );
        // Before the Spring Festival: Fri 2026-02-13, Sat 14 is a make-up
        // working day (1), 15–23 holiday, Tue 24 (2) … Fri 27 (5), Sat 28
        // make-up (6), Mon 2 March (7).
        assert_eq!(
            cal().add_working_days(d("2026-02-13"), 7).unwrap(),
            d("2026-03-02")
        );
    }

    #[test]
    fn make_up_working_days_count() {
        assert!(cal().is_working_day(d("2026-01-04")).unwrap()); // Sunday
        assert!(cal().is_working_day(d("2026-05-09")).unwrap()); // Saturday
        assert!(!cal().is_working_day(d("2026-05-10")).unwrap()); // Sunday
        assert!(!cal().is_working_day(d("2026-05-04")).unwrap()); // Monday, holiday
                                                                  // Thursday 2026-09-17: Fri 18 (1), Sun 20 make-up (2), Mon 21 (3) …
                                                                  // Thu 24 (6), Fri 25 is the Mid-Autumn holiday, Mon 28 (7).
        assert_eq!(
            cal().add_working_days(d("2026-09-17"), 7).unwrap(),
            d("2026-09-28")
        );
    }

    #[test]
    fn beyond_the_file_is_an_error_or_a_warned_estimate() {
        let e = cal().add_working_days(d("2026-12-28"), 7).unwrap_err();
        assert_eq!(e.code(), "calendar_not_covered");
        assert!(e.to_string().contains("2027-01-01"), "{e}");
        // Mon 28, Tue 29, Wed 30, Thu 31 (3), then 2027 counted Mon–Fri:
        // Fri 1 (4), Mon 4 (5), Tue 5 (6), Wed 6 (7).
        let (by, w) = cal().add_working_days_or_weekdays(d("2026-12-28"), 7);
        assert_eq!(by, d("2027-01-06"));
        assert_eq!(w.map(|w| w.code()), Some("calendar_not_covered"));
        let (by, w) = cal().add_working_days_or_weekdays(d("2026-12-01"), 7);
        assert_eq!((by, w), (d("2026-12-10"), None));
    }

    #[test]
    fn broken_calendars_are_refused() {
        let ok = r#"{"id":"cn-holidays","version":1,"years":[2026],"holidays":["2026-01-01"],"workdays":["2026-01-04"]}"#;
        assert!(WorkCalendar::from_json(ok).is_ok());
        for bad in [
            r#"{"id":"cn-holidays","version":1,"years":[2026],"holidays":["2027-01-01"],"workdays":[]}"#,
            r#"{"id":"cn-holidays","version":1,"years":[2026],"holidays":["2026-01-04"],"workdays":["2026-01-04"]}"#,
            r#"{"id":"cn-holidays","version":1,"years":[2026,2028],"holidays":[],"workdays":[]}"#,
            r#"{"id":"cn-holidays","version":1,"years":[],"holidays":[],"workdays":[]}"#,
            r#"{"id":"other","version":1,"years":[2026],"holidays":[],"workdays":[]}"#,
        ] {
            assert_eq!(
                WorkCalendar::from_json(bad).err().map(|e| e.code()),
                Some("invalid_calendar"),
                "{bad}"
            );
        }
    }
}
