//! Anonymous reports (吹哨人): what a report may be about, the stages its
//! handling goes through, and the deadlines the handler must keep.
//!
//! The deadlines are those of Directive (EU) 2019/1937 on the protection of
//! persons who report breaches of Union law (the EU whistleblowing
//! directive), Art. 9(1):
//!
//! - (b) "acknowledgment of receipt of the report to the reporting person
//!   within seven days of that receipt";
//! - (f) "a reasonable timeframe to provide feedback, not exceeding three
//!   months from the acknowledgment of receipt or, if no acknowledgement was
//!   sent to the reporting person, three months from the expiry of the
//!   seven-day period after the report was made".
//!
//! Issue 12 adopts these as the whistleblower channel's deadlines. They live
//! here as data ([`ACKNOWLEDGE_WITHIN_DAYS`], [`FEEDBACK_WITHIN_MONTHS`]) and
//! in one function, so the server, its pages and the apps show the same
//! dates. Days are calendar days in China's zone: a report is stored with
//! the day it arrived, not its time (see the server's report store).

use chrono::{Months, NaiveDate};
use serde::{Deserialize, Serialize};

/// Art. 9(1)(b): the acknowledgement is due within seven days of receipt.
pub const ACKNOWLEDGE_WITHIN_DAYS: u64 = 7;
/// Art. 9(1)(f): feedback within three months of the acknowledgement (or
/// of the end of the seven days when none was sent).
pub const FEEDBACK_WITHIN_MONTHS: u32 = 3;
/// A deadline this close (in days) is shown as due soon.
pub const ACKNOWLEDGE_WARN_DAYS: i64 = 2;
/// A feedback deadline this close (in days) is shown as due soon.
pub const FEEDBACK_WARN_DAYS: i64 = 14;

/// What a report may be about: `(code, 中文名)`. The codes are the wire
/// form (the app's `WhistleblowerViewModel.Category` sends the same).
pub const CATEGORIES: &[(&str, &str)] = &[
    ("expired_food", "过期变质食品"),
    ("unknown_origin", "来源不明/走私冻品"),
    ("hygiene", "卫生条件差"),
    ("false_label", "标签虚假/篡改日期"),
    ("illegal_additive", "违法添加"),
    ("no_licence", "无证经营"),
    ("other", "其他"),
];

/// The Chinese name of a category code; `None` for an unknown code.
pub fn category_name(code: &str) -> Option<&'static str> {
    CATEGORIES
        .iter()
        .find(|(c, _)| *c == code)
        .map(|(_, zh)| *zh)
}

/// The stages of a report's handling, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportStatus {
    /// Filed; nobody has looked at it yet.
    Received,
    /// A handler has confirmed receipt to the reporter (Art. 9(1)(b)).
    Acknowledged,
    /// Being followed up (possibly by an inspector on site).
    Investigating,
    /// Finished, with a note to the reporter.
    Closed,
}

impl ReportStatus {
    pub const ALL: [ReportStatus; 4] = [
        ReportStatus::Received,
        ReportStatus::Acknowledged,
        ReportStatus::Investigating,
        ReportStatus::Closed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ReportStatus::Received => "received",
            ReportStatus::Acknowledged => "acknowledged",
            ReportStatus::Investigating => "investigating",
            ReportStatus::Closed => "closed",
        }
    }

    pub fn parse(s: &str) -> Option<ReportStatus> {
        ReportStatus::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// 中文 for pages.
    pub fn zh(self) -> &'static str {
        match self {
            ReportStatus::Received => "已收到，待处理",
            ReportStatus::Acknowledged => "已受理",
            ReportStatus::Investigating => "调查中",
            ReportStatus::Closed => "已办结",
        }
    }

    /// Handling only moves forward (a stage may be skipped: a report can
    /// be closed straight away), and a closed report stays closed, so the
    /// dates the deadlines are judged on cannot be rewritten.
    pub fn may_become(self, next: ReportStatus) -> bool {
        self != ReportStatus::Closed && next > self
    }
}

/// How a handler ranks a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    Low,
    Normal,
    High,
    Urgent,
}

impl Priority {
    pub const ALL: [Priority; 4] = [
        Priority::Low,
        Priority::Normal,
        Priority::High,
        Priority::Urgent,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Low => "low",
            Priority::Normal => "normal",
            Priority::High => "high",
            Priority::Urgent => "urgent",
        }
    }

    pub fn parse(s: &str) -> Option<Priority> {
        Priority::ALL.into_iter().find(|x| x.as_str() == s)
    }

    pub fn zh(self) -> &'static str {
        match self {
            Priority::Low => "低",
            Priority::Normal => "一般",
            Priority::High => "高",
            Priority::Urgent => "紧急",
        }
    }
}

/// Where one deadline stands on a given day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeadlineState {
    /// Done on or before the deadline.
    Met,
    /// Done, but after the deadline.
    MetLate,
    /// Not done; more than the warning period left.
    Pending,
    /// Not done; the deadline is within the warning period (or today).
    DueSoon,
    /// Not done and the deadline has passed.
    Overdue,
}

impl DeadlineState {
    pub fn as_str(self) -> &'static str {
        match self {
            DeadlineState::Met => "met",
            DeadlineState::MetLate => "met_late",
            DeadlineState::Pending => "pending",
            DeadlineState::DueSoon => "due_soon",
            DeadlineState::Overdue => "overdue",
        }
    }

    /// 中文 for pages.
    pub fn zh(self) -> &'static str {
        match self {
            DeadlineState::Met => "已按期完成",
            DeadlineState::MetLate => "已完成（逾期）",
            DeadlineState::Pending => "未到期",
            DeadlineState::DueSoon => "即将到期",
            DeadlineState::Overdue => "已逾期",
        }
    }

    /// Whether a handler must be warned.
    pub fn is_warning(self) -> bool {
        matches!(self, DeadlineState::DueSoon | DeadlineState::Overdue)
    }
}

/// One deadline: when it falls and where it stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deadline {
    pub due: NaiveDate,
    pub state: DeadlineState,
}

/// The two deadlines of a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deadlines {
    /// Art. 9(1)(b).
    pub acknowledge: Deadline,
    /// Art. 9(1)(f).
    pub feedback: Deadline,
}

/// The days that matter for a report's deadlines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportDays {
    pub received_on: NaiveDate,
    /// When a handler acknowledged it.
    pub acknowledged_on: Option<NaiveDate>,
    /// When the reporter first got feedback: the first handler message
    /// (beyond the acknowledgement itself) or the closing note.
    pub feedback_on: Option<NaiveDate>,
}

fn state(due: NaiveDate, done: Option<NaiveDate>, today: NaiveDate, warn: i64) -> DeadlineState {
    match done {
        Some(d) if d <= due => DeadlineState::Met,
        Some(_) => DeadlineState::MetLate,
        None if today > due => DeadlineState::Overdue,
        None if (due - today).num_days() <= warn => DeadlineState::DueSoon,
        None => DeadlineState::Pending,
    }
}

/// The report's deadlines as of `today` (Art. 9(1)(b) and (f)).
///
/// The acknowledgement is due seven days after receipt. Feedback is due
/// three months after the acknowledgement; when none was sent, three
/// months after the seven days ran out. A month past the end of a shorter
/// month falls on its last day (30 Nov + 3 months = 28/29 Feb).
pub fn deadlines(days: &ReportDays, today: NaiveDate) -> Deadlines {
    let ack_due = days
        .received_on
        .checked_add_days(chrono::Days::new(ACKNOWLEDGE_WITHIN_DAYS))
        .unwrap_or(NaiveDate::MAX);
    // The acknowledgement counts from the day it was sent only when it was
    // sent within the seven days; a late one does not buy the handler time.
    let feedback_from = match days.acknowledged_on {
        Some(a) if a <= ack_due => a,
        _ => ack_due,
    };
    let feedback_due = feedback_from
        .checked_add_months(Months::new(FEEDBACK_WITHIN_MONTHS))
        .unwrap_or(NaiveDate::MAX);
    Deadlines {
        acknowledge: Deadline {
            due: ack_due,
            state: state(ack_due, days.acknowledged_on, today, ACKNOWLEDGE_WARN_DAYS),
        },
        feedback: Deadline {
            due: feedback_due,
            state: state(feedback_due, days.feedback_on, today, FEEDBACK_WARN_DAYS),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn days(r: &str, a: Option<&str>, f: Option<&str>) -> ReportDays {
        ReportDays {
            received_on: d(r),
            acknowledged_on: a.map(d),
            feedback_on: f.map(d),
        }
    }

    #[test]
    fn acknowledgement_is_due_seven_days_after_receipt() {
        let x = deadlines(&days("2026-12-01", None, None), d("2026-12-02"));
        assert_eq!(x.acknowledge.due, d("2026-12-08"));
        assert_eq!(x.acknowledge.state, DeadlineState::Pending);
        let soon = deadlines(&days("2026-12-01", None, None), d("2026-12-06"));
        assert_eq!(soon.acknowledge.state, DeadlineState::DueSoon);
        let on_the_day = deadlines(&days("2026-12-01", None, None), d("2026-12-08"));
        assert_eq!(on_the_day.acknowledge.state, DeadlineState::DueSoon);
        let late = deadlines(&days("2026-12-01", None, None), d("2026-12-09"));
        assert_eq!(late.acknowledge.state, DeadlineState::Overdue);
    }

    #[test]
    fn feedback_counts_from_the_acknowledgement_or_the_end_of_the_seven_days() {
        let acked = deadlines(
            &days("2026-12-01", Some("2026-12-03"), None),
            d("2026-12-03"),
        );
        assert_eq!(acked.acknowledge.state, DeadlineState::Met);
        assert_eq!(acked.feedback.due, d("2027-03-03"));
        let never = deadlines(&days("2026-12-01", None, None), d("2026-12-03"));
        assert_eq!(never.feedback.due, d("2027-03-08"));
        // A late acknowledgement does not move the feedback deadline on.
        let late = deadlines(
            &days("2026-12-01", Some("2026-12-20"), None),
            d("2026-12-20"),
        );
        assert_eq!(late.acknowledge.state, DeadlineState::MetLate);
        assert_eq!(late.feedback.due, d("2027-03-08"));
    }

    #[test]
    fn feedback_warns_two_weeks_ahead_and_then_is_overdue() {
        let r = days("2026-01-01", Some("2026-01-02"), None);
        assert_eq!(
            deadlines(&r, d("2026-03-18")).feedback.state,
            DeadlineState::Pending
        );
        assert_eq!(
            deadlines(&r, d("2026-03-19")).feedback.state,
            DeadlineState::DueSoon
        );
        assert_eq!(
            deadlines(&r, d("2026-04-03")).feedback.state,
            DeadlineState::Overdue
        );
        let answered = days("2026-01-01", Some("2026-01-02"), Some("2026-02-01"));
        assert_eq!(
            deadlines(&answered, d("2026-06-01")).feedback.state,
            DeadlineState::Met
        );
    }

    #[test]
    fn three_months_from_the_end_of_november_is_the_end_of_february() {
        let x = deadlines(
            &days("2026-11-23", Some("2026-11-30"), None),
            d("2026-11-30"),
        );
        assert_eq!(x.feedback.due, d("2027-02-28"));
    }

    #[test]
    fn handling_moves_forward_only_and_closed_stays_closed() {
        use ReportStatus::*;
        assert!(Received.may_become(Acknowledged));
        assert!(Received.may_become(Closed));
        assert!(Acknowledged.may_become(Investigating));
        assert!(!Investigating.may_become(Acknowledged));
        assert!(!Acknowledged.may_become(Acknowledged));
        assert!(!Closed.may_become(Closed));
        for s in ReportStatus::ALL {
            assert_eq!(ReportStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(category_name("hygiene"), Some("卫生条件差"));
        assert_eq!(category_name("nope"), None);
    }
}
