//! Consumer complaints (消费投诉) against a shop: their categories, their
//! states, the handling deadlines of the 12315 rules, and which of them
//! weigh in the shop's risk grade. The server and the apps call this one
//! implementation.
//!
//! **Deadlines.** 《市场监督管理投诉举报处理暂行办法》(国家市场监督管理总局令
//! 第20号, 2019-11-30, in force 2020-01-01; amended by 总局令第61号, 2022):
//!
//! * 第十五条: the department decides to accept (受理) or refuse (不予受理)
//!   a complaint within **7 working days** of receiving it (自收到投诉之日起
//!   七个工作日内). Confidence in the article number and the figure: high.
//! * 第三十四条: mediation ends within **45 working days** of acceptance
//!   (自投诉受理之日起四十五个工作日内终结调解; time spent on tests and
//!   appraisals is not counted). Confidence in the figure: high; in the
//!   article number: medium (recalled, not checked against an official
//!   text here).
//! * 第十条 (recalled, medium confidence): a complaint is handled by the
//!   county-level department where the operator does business, which is why
//!   the server routes each complaint to the shop's district.
//!
//! Periods are counted as administrative periods are: the day of receipt
//! (or acceptance) is not counted, the period ends at the close of its last
//! working day. Working days skip weekends and the State Council's public
//! holidays, and count the weekend days it names as working days (调休),
//! from `core/data/calendar/cn-holidays-v1.json` (its source is cited in the
//! file). A date outside the years the file covers is an error
//! ([`CalendarError::NotCovered`]); [`WorkCalendar::add_working_days_or_weekdays`]
//! then counts weekdays only and says so, because a complaint must never be
//! refused for an out-of-date calendar.
//!
//! **Anonymous.** The 办法's 第九条 asks a complainant for a name and contact
//! details so the department can mediate and tell them the outcome. Shian
//! takes complaints anonymously by default and collects no contact: a
//! consumer at a stall fears being known to the stall-holder, and data not
//! collected cannot leak (个人信息保护法: collect the minimum). A consumer who
//! wants mediation or compensation calls 12315 directly; here a complaint is
//! a signal for the district, handled to the same deadlines as a service
//! standard.
//!
//! **Risk grade.** The risk-grading measures (《食品生产经营风险分级管理办法
//! （试行）》, 2016; regulation.md §1) grade on dynamic factors and adjust a
//! grade on what supervision learns; Fuzhou's model (seed 004) flags
//! "频繁被投诉举报主体". A complaint counts ([`counts_in_risk_grade`]) while
//! it is undecided or accepted, and after it is closed unless it was found
//! untrue: a refused or unfounded complaint weighs nothing, so a rival
//! cannot raise a shop's grade by complaining about it. The points per
//! complaint and their cap are the risk rules' `dynamic.complaint`
//! (`core/data/rules/risk-v2.json`: 2 points each, at most 10).

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

pub use crate::calendar::{CalendarError, WorkCalendar};

/// Working days to accept or refuse a complaint (第十五条).
pub const ACCEPT_WITHIN_WORKING_DAYS: u32 = 7;

/// Working days to finish handling (mediating) an accepted complaint
/// (第三十四条).
pub const HANDLE_WITHIN_WORKING_DAYS: u32 = 45;

/// Shortest complaint text, in characters once trimmed: "有异物" is a
/// complaint, "差" is not.
pub const TEXT_MIN_CHARS: usize = 5;

/// Longest complaint text, in characters: about a page on a phone, room for
/// what happened, when and what was bought.
pub const TEXT_MAX_CHARS: usize = 1000;

/// Longest product name a complaint may give, in characters: the ledger's
/// own limit on a product name (`core/data/ledger/rules-v1.json`
/// `max_name_chars`), so a complaint can name anything a ledger can book.
pub const PRODUCT_MAX_CHARS: usize = 100;

/// Longest reason or note an inspector gives, in characters.
pub const NOTE_MAX_CHARS: usize = 500;

/// What a complaint is about: the food-safety headings of the 12315
/// classification and of the seed reports' complaint data (过期变质, 异物,
/// 卫生, 来源不明, 标签), plus the two market-order matters consumers raise
/// at stalls (计量, 价格).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ComplaintCategory {
    /// 变质或超过保质期的食品.
    ExpiredOrSpoiled,
    /// 食品中有异物.
    ForeignMatter,
    /// 食用后身体不适.
    Illness,
    /// 经营场所卫生差.
    Hygiene,
    /// 来源不明、无票证或无证经营.
    UnknownOrigin,
    /// 标签标识不符或虚假宣传.
    Labelling,
    /// 缺斤短两.
    ShortWeight,
    /// 价格欺诈或不明码标价.
    Price,
    /// 其他.
    Other,
}

impl ComplaintCategory {
    pub const ALL: [ComplaintCategory; 9] = [
        ComplaintCategory::ExpiredOrSpoiled,
        ComplaintCategory::ForeignMatter,
        ComplaintCategory::Illness,
        ComplaintCategory::Hygiene,
        ComplaintCategory::UnknownOrigin,
        ComplaintCategory::Labelling,
        ComplaintCategory::ShortWeight,
        ComplaintCategory::Price,
        ComplaintCategory::Other,
    ];

    /// The wire form.
    pub fn as_str(self) -> &'static str {
        match self {
            ComplaintCategory::ExpiredOrSpoiled => "expired_or_spoiled",
            ComplaintCategory::ForeignMatter => "foreign_matter",
            ComplaintCategory::Illness => "illness",
            ComplaintCategory::Hygiene => "hygiene",
            ComplaintCategory::UnknownOrigin => "unknown_origin",
            ComplaintCategory::Labelling => "labelling",
            ComplaintCategory::ShortWeight => "short_weight",
            ComplaintCategory::Price => "price",
            ComplaintCategory::Other => "other",
        }
    }

    /// The zh-CN label a consumer picks from.
    pub fn label_zh(self) -> &'static str {
        match self {
            ComplaintCategory::ExpiredOrSpoiled => "变质或超过保质期",
            ComplaintCategory::ForeignMatter => "食品中有异物",
            ComplaintCategory::Illness => "食用后身体不适",
            ComplaintCategory::Hygiene => "经营场所卫生差",
            ComplaintCategory::UnknownOrigin => "来源不明或无票证",
            ComplaintCategory::Labelling => "标签不符或虚假宣传",
            ComplaintCategory::ShortWeight => "缺斤短两",
            ComplaintCategory::Price => "价格欺诈或未明码标价",
            ComplaintCategory::Other => "其他",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// Where a complaint stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ComplaintStatus {
    /// Received, not yet decided.
    Received,
    /// 受理: being handled.
    Accepted,
    /// 不予受理, with a reason.
    Refused,
    /// Handled, with a result.
    Closed,
}

impl ComplaintStatus {
    pub const ALL: [ComplaintStatus; 4] = [
        ComplaintStatus::Received,
        ComplaintStatus::Accepted,
        ComplaintStatus::Refused,
        ComplaintStatus::Closed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ComplaintStatus::Received => "received",
            ComplaintStatus::Accepted => "accepted",
            ComplaintStatus::Refused => "refused",
            ComplaintStatus::Closed => "closed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// How a handled complaint ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CloseResult {
    /// 经核查属实，已责令整改.
    Rectified,
    /// 经核查属实，已立案查处.
    CaseOpened,
    /// 调解达成协议.
    Mediated,
    /// 经核查不属实.
    Unfounded,
}

impl CloseResult {
    pub fn as_str(self) -> &'static str {
        match self {
            CloseResult::Rectified => "rectified",
            CloseResult::CaseOpened => "case_opened",
            CloseResult::Mediated => "mediated",
            CloseResult::Unfounded => "unfounded",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            CloseResult::Rectified,
            CloseResult::CaseOpened,
            CloseResult::Mediated,
            CloseResult::Unfounded,
        ]
        .into_iter()
        .find(|c| c.as_str() == s)
    }
}

/// Whether a complaint weighs in its shop's risk grade (see the module
/// doc): undecided, accepted, or closed as anything but unfounded.
pub fn counts_in_risk_grade(status: ComplaintStatus, result: Option<CloseResult>) -> bool {
    match status {
        ComplaintStatus::Received | ComplaintStatus::Accepted => true,
        ComplaintStatus::Refused => false,
        ComplaintStatus::Closed => result != Some(CloseResult::Unfounded),
    }
}

/// A complaint's next state after an inspector's action, or `None` when
/// the action does not apply (accept or refuse only a received complaint,
/// close only an accepted one).
pub fn next_status(current: ComplaintStatus, action: ComplaintAction) -> Option<ComplaintStatus> {
    match (current, action) {
        (ComplaintStatus::Received, ComplaintAction::Accept) => Some(ComplaintStatus::Accepted),
        (ComplaintStatus::Received, ComplaintAction::Refuse) => Some(ComplaintStatus::Refused),
        (ComplaintStatus::Accepted, ComplaintAction::Close) => Some(ComplaintStatus::Closed),
        _ => None,
    }
}

/// What an inspector does with a complaint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ComplaintAction {
    Accept,
    Refuse,
    Close,
}

impl ComplaintAction {
    pub fn as_str(self) -> &'static str {
        match self {
            ComplaintAction::Accept => "accept",
            ComplaintAction::Refuse => "refuse",
            ComplaintAction::Close => "close",
        }
    }
}

// ------------------------------------------------------------ deadlines

/// A complaint's deadlines and whether they were kept, as of `today`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ComplaintDeadlines {
    /// Last day to accept or refuse (第十五条).
    pub accept_by: NaiveDate,
    /// Last day to finish handling, once accepted (第三十四条).
    pub handle_by: Option<NaiveDate>,
    /// The accept-or-refuse decision came (or is still missing) after
    /// `accept_by`.
    pub accept_overdue: bool,
    /// Accepted and not closed by `handle_by` (or closed after it).
    pub handle_overdue: bool,
    /// Why a date may be off: the calendar did not cover it.
    pub warning: Option<String>,
}

/// What the deadlines of one complaint are computed from (dates in China).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ComplaintDates {
    pub received_on: NaiveDate,
    /// When it was accepted or refused.
    pub decided_on: Option<NaiveDate>,
    pub status: ComplaintStatus,
    pub closed_on: Option<NaiveDate>,
}

/// The deadlines of a complaint as of `today`.
pub fn deadlines(
    cal: &WorkCalendar,
    dates: ComplaintDates,
    today: NaiveDate,
) -> ComplaintDeadlines {
    let (accept_by, w1) =
        cal.add_working_days_or_weekdays(dates.received_on, ACCEPT_WITHIN_WORKING_DAYS);
    let accept_overdue = dates.decided_on.unwrap_or(today) > accept_by;
    let accepted = matches!(
        dates.status,
        ComplaintStatus::Accepted | ComplaintStatus::Closed
    );
    let (handle_by, w2) = match dates.decided_on.filter(|_| accepted) {
        Some(d) => {
            let (by, w) = cal.add_working_days_or_weekdays(d, HANDLE_WITHIN_WORKING_DAYS);
            (Some(by), w)
        }
        None => (None, None),
    };
    let handle_overdue = handle_by.is_some_and(|by| dates.closed_on.unwrap_or(today) > by);
    ComplaintDeadlines {
        accept_by,
        handle_by,
        accept_overdue,
        handle_overdue,
        warning: w1.or(w2).map(|e| e.to_string()),
    }
}

/// Checks a complaint's text: trimmed, [`TEXT_MIN_CHARS`]–[`TEXT_MAX_CHARS`]
/// characters, no control characters but line breaks and tabs. Returns the
/// trimmed text or the zh-CN reason.
pub fn check_text(text: &str) -> Result<String, String> {
    let t = text.trim();
    let n = t.chars().count();
    if n < TEXT_MIN_CHARS {
        return Err(format!("投诉内容至少 {TEXT_MIN_CHARS} 个字"));
    }
    if n > TEXT_MAX_CHARS {
        return Err(format!("投诉内容最多 {TEXT_MAX_CHARS} 个字"));
    }
    if t.chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err("投诉内容含有控制字符".into());
    }
    Ok(t.to_owned())
}

/// Checks the product a complaint names (optional, as the consumer typed
/// it): trimmed, at most [`PRODUCT_MAX_CHARS`], no control characters at
/// all (a name is one line). Blank is no product. The hot-topic warnings
/// group complaints by it (`warnings::product_key`).
pub fn check_product(product: &str) -> Result<Option<String>, String> {
    let t = product.trim();
    if t.is_empty() {
        return Ok(None);
    }
    if t.chars().count() > PRODUCT_MAX_CHARS {
        return Err(format!("商品名称最多 {PRODUCT_MAX_CHARS} 个字"));
    }
    if t.chars().any(char::is_control) {
        return Err("商品名称含有控制字符".into());
    }
    Ok(Some(t.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_named_product_is_trimmed_checked_or_none_when_blank() {
        assert_eq!(check_product(" 冻牛腱 "), Ok(Some("冻牛腱".into())));
        assert_eq!(check_product("  \t "), Ok(None));
        assert!(check_product("冻牛腱\n冻猪蹄").is_err());
        assert!(check_product("冻\u{7}牛腱").is_err());
        assert!(check_product(&"牛".repeat(PRODUCT_MAX_CHARS)).is_ok());
        assert!(check_product(&"牛".repeat(PRODUCT_MAX_CHARS + 1)).is_err());
    }

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn cal() -> &'static WorkCalendar {
        WorkCalendar::builtin().unwrap()
    }

    #[test]
    fn deadlines_and_overdue_flags() {
        let received = d("2026-12-01"); // Tuesday
        let open = ComplaintDates {
            received_on: received,
            decided_on: None,
            status: ComplaintStatus::Received,
            closed_on: None,
        };
        let on_time = deadlines(cal(), open, d("2026-12-10"));
        assert_eq!(on_time.accept_by, d("2026-12-10"));
        assert!(!on_time.accept_overdue);
        assert_eq!(on_time.handle_by, None);
        assert!(deadlines(cal(), open, d("2026-12-11")).accept_overdue);

        let late = ComplaintDates {
            decided_on: Some(d("2026-12-11")),
            status: ComplaintStatus::Accepted,
            ..open
        };
        let l = deadlines(cal(), late, d("2026-12-11"));
        assert!(l.accept_overdue);
        assert!(!l.handle_overdue);
        assert!(l.handle_by.is_some());
        let refused = ComplaintDates {
            decided_on: Some(d("2026-12-09")),
            status: ComplaintStatus::Refused,
            ..open
        };
        let r = deadlines(cal(), refused, d("2026-12-30"));
        assert!(!r.accept_overdue);
        assert_eq!(r.handle_by, None);
    }

    #[test]
    fn what_counts_in_the_risk_grade() {
        use ComplaintStatus::*;
        assert!(counts_in_risk_grade(Received, None));
        assert!(counts_in_risk_grade(Accepted, None));
        assert!(!counts_in_risk_grade(Refused, None));
        assert!(counts_in_risk_grade(Closed, Some(CloseResult::Rectified)));
        assert!(!counts_in_risk_grade(Closed, Some(CloseResult::Unfounded)));
    }

    #[test]
    fn transitions() {
        use ComplaintAction::*;
        use ComplaintStatus::*;
        assert_eq!(next_status(Received, Accept), Some(Accepted));
        assert_eq!(next_status(Received, Refuse), Some(Refused));
        assert_eq!(next_status(Received, Close), None);
        assert_eq!(next_status(Accepted, Close), Some(Closed));
        assert_eq!(next_status(Accepted, Accept), None);
        assert_eq!(next_status(Refused, Close), None);
        assert_eq!(next_status(Closed, Close), None);
    }

    #[test]
    fn text_limits() {
        assert!(check_text("  差  ").is_err());
        assert_eq!(check_text("  有异物，很脏  ").unwrap(), "有异物，很脏");
        assert!(check_text(&"脏".repeat(TEXT_MAX_CHARS)).is_ok());
        assert!(check_text(&"脏".repeat(TEXT_MAX_CHARS + 1)).is_err());
        assert!(check_text("有异物\u{0}很脏").is_err());
        assert!(check_text("有异物\n很脏").is_ok());
    }

    #[test]
    fn categories_round_trip() {
        for c in ComplaintCategory::ALL {
            assert_eq!(ComplaintCategory::parse(c.as_str()), Some(c));
            assert!(!c.label_zh().is_empty());
        }
        assert_eq!(ComplaintCategory::parse("Hygiene"), None);
    }
}
