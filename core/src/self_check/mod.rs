//! A market's own self-inspections (自查): 日管控、周排查、月调度 as set by
//! 《企业落实食品安全主体责任监督管理规定》 (SAMR Order No. 60 of 2022) and,
//! for markets, 《食用农产品市场销售质量安全监督管理办法》 (SAMR Order
//! No. 81), done by the market's food-safety officer or director on the
//! operator's tablet, offline if need be.
//!
//! The templates are versioned checklist data beside the inspectors'
//! (`core/data/checklists/market_*.v1.json`), evaluated by the one
//! checklist engine ([`crate::inspection::evaluate`]); each carries its
//! [`Cadence`] and [`Performer`]. This module adds what a self-inspection
//! needs beyond an inspection: its period ([`period`]: the day in
//! Asia/Shanghai, the ISO week, the month), its findings with a follow-up
//! date, and the closing of a finding. The tablet and the server run the
//! same checks ([`check_self_check`], [`parse_closure`], [`check_closure`]).
//!
//! Op kinds (device → server, through the outbox like `inspection.record`):
//!
//! * `market.self_check` `{check_id, market_id, template_id,
//!   template_version, period, answers[], findings[{item_id, note,
//!   follow_up_by}]}`, `at` the op's: when the check was done, which must
//!   fall in `period`. Every failed item needs one finding and a finding
//!   needs a failed item; a finding's id is `{check_id}:{item_id}`, so the
//!   tablet knows it offline.
//! * `market.follow_up_closed` `{finding_id, note, photos?}`, `at` the op's.

pub mod period;

use std::collections::{BTreeMap, HashSet};
use std::sync::OnceLock;

use chrono::{DateTime, Days, FixedOffset, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::inspection::{
    evaluate, parse_template, Answer, Evaluation, InspectionError, InspectionRules, Template,
    TemplateRegistry,
};
pub use period::{china_date, china_date_of, day_start, Cadence, Performer, Period, PeriodError};

/// The op kind of a self-inspection.
pub const RECORD_KIND: &str = "market.self_check";
/// The op kind of a closed follow-up.
pub const CLOSE_KIND: &str = "market.follow_up_closed";
/// The change kind a self-inspection template goes out as.
pub const TEMPLATE_KIND: &str = "self_check_template";

/// Longest finding or closing note (characters).
pub const MAX_NOTE_CHARS: usize = 500;
/// Most photos on a closing.
pub const MAX_PHOTOS: usize = 20;
/// Latest follow-up date, in days after the check (design value: a
/// finding left open longer is not being followed up; no national figure
/// was found).
pub const MAX_FOLLOW_UP_DAYS: u64 = 90;
/// Device clocks are wrong: `at` may be at most this far ahead of the
/// receiver's clock (the inspectors' 300 s).
pub const MAX_SKEW_SECS: i64 = 300;

/// The self-inspection templates shipped in the library.
const BUILTIN: &[&str] = &[
    include_str!("../../data/checklists/market_daily_control.v1.json"),
    include_str!("../../data/checklists/market_weekly_review.v1.json"),
    include_str!("../../data/checklists/market_monthly_schedule.v1.json"),
];

/// The self-inspection templates, parsed once. Each has a cadence and a
/// performer (a template without them is an inspector's checklist).
pub fn templates() -> Result<&'static TemplateRegistry, InspectionError> {
    static ALL: OnceLock<Result<TemplateRegistry, InspectionError>> = OnceLock::new();
    ALL.get_or_init(|| {
        let mut v = Vec::with_capacity(BUILTIN.len());
        for json in BUILTIN {
            let t = parse_template(json)?;
            if t.cadence.is_none() || t.performer.is_none() {
                return Err(InspectionError::InvalidTemplate {
                    template_id: t.id.clone(),
                    field: "cadence".into(),
                    reason: "自查模板须有周期（cadence）和执行人（performer）".into(),
                });
            }
            v.push(t);
        }
        TemplateRegistry::new(v)
    })
    .as_ref()
    .map_err(Clone::clone)
}

/// Why a self-inspection op is refused: a stable code, a zh-CN message and
/// the field (`payload.answers[2].item_id`, `at`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SelfCheckError {
    pub code: &'static str,
    pub message: String,
    pub field: Option<String>,
}

impl SelfCheckError {
    pub fn new(code: &'static str, message: impl Into<String>, field: &str) -> Self {
        SelfCheckError {
            code,
            message: message.into(),
            field: Some(field.to_owned()),
        }
    }

    /// The checklist engine's refusal, its field under `payload.`.
    fn from_inspection(e: InspectionError) -> Self {
        SelfCheckError {
            code: e.code(),
            message: e.to_string(),
            field: e.field().map(|f| format!("payload.{f}")),
        }
    }
}

/// A finding as the tablet sends it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FindingInput {
    pub item_id: String,
    pub note: String,
    /// The date (Asia/Shanghai) it is to be put right by.
    pub follow_up_by: String,
}

/// The `market.self_check` payload on the wire.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SelfCheckPayload {
    pub check_id: String,
    pub market_id: String,
    pub template_id: String,
    pub template_version: u32,
    pub period: String,
    pub answers: Vec<Answer>,
    #[serde(default)]
    pub findings: Vec<FindingInput>,
}

/// A finding that needs follow-up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// `{check_id}:{item_id}`.
    pub finding_id: String,
    pub item_id: String,
    /// The item's text, kept so a list reads without the template.
    pub item_text: String,
    pub note: String,
    pub follow_up_by: NaiveDate,
}

/// A checked self-inspection with its evaluation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SelfCheck {
    pub check_id: Uuid,
    pub market_id: String,
    pub template_id: String,
    pub template_version: u32,
    pub cadence: Cadence,
    pub period: Period,
    pub answers: Vec<Answer>,
    pub findings: Vec<Finding>,
    pub at: DateTime<FixedOffset>,
    pub evaluation: Evaluation,
}

/// The finding id of an item of a check (known offline).
pub fn finding_id(check_id: &Uuid, item_id: &str) -> String {
    format!("{check_id}:{item_id}")
}

fn parse_at(at: &str, now: DateTime<Utc>) -> Result<DateTime<FixedOffset>, SelfCheckError> {
    let t = DateTime::parse_from_rfc3339(at.trim()).map_err(|_| {
        SelfCheckError::new(
            "invalid_timestamp",
            "at 须为带时区偏移的 RFC 3339 时间",
            "at",
        )
    })?;
    if (t.with_timezone(&Utc) - now).num_seconds() > MAX_SKEW_SECS {
        return Err(SelfCheckError::new(
            "timestamp_in_future",
            "at 晚于当前时间",
            "at",
        ));
    }
    Ok(t)
}

fn check_note(note: &str, field: &str) -> Result<(), SelfCheckError> {
    if note.trim().is_empty() {
        return Err(SelfCheckError::new("missing_field", "请填写说明", field));
    }
    if note.chars().count() > MAX_NOTE_CHARS || note.chars().any(|c| c.is_control() && c != '\n') {
        return Err(SelfCheckError::new(
            "invalid_field",
            format!("说明不能超过 {MAX_NOTE_CHARS} 个字符且不能包含控制字符"),
            field,
        ));
    }
    Ok(())
}

/// Checks a `market.self_check` op made at `at` against the built-in
/// templates: the template and version exist and are a self-inspection,
/// the period is the template's cadence's and contains `at` (a check is
/// for the day, week or month it is done in), the answers pass the
/// checklist engine, and findings match the failed items one to one with
/// a follow-up date from the check's day to [`MAX_FOLLOW_UP_DAYS`] after.
/// Whether the caller runs the market is the receiver's check.
pub fn check_self_check(
    payload: &serde_json::Value,
    at: &str,
    now: DateTime<Utc>,
) -> Result<SelfCheck, SelfCheckError> {
    let p: SelfCheckPayload = serde_json::from_value(payload.clone()).map_err(|e| {
        SelfCheckError::new(
            "invalid_payload",
            format!("自查记录格式错误：{e}"),
            "payload",
        )
    })?;
    let at = parse_at(at, now)?;
    let check_id = match Uuid::parse_str(p.check_id.trim()) {
        Ok(u) if !u.is_nil() => u,
        _ => {
            return Err(SelfCheckError::new(
                "invalid_uuid",
                "check_id 须为 UUID",
                "payload.check_id",
            ))
        }
    };
    if !crate::inspection::checklist::is_identifier(&p.market_id) {
        return Err(SelfCheckError::new(
            "invalid_field",
            "market_id 格式无效",
            "payload.market_id",
        ));
    }
    let registry = templates().map_err(SelfCheckError::from_inspection)?;
    let template = registry
        .get(&p.template_id, p.template_version)
        .ok_or_else(|| {
            SelfCheckError::new(
                "unknown_template",
                format!(
                    "未知的自查模板 {} 第 {} 版",
                    p.template_id.chars().take(64).collect::<String>(),
                    p.template_version
                ),
                "payload.template_id",
            )
        })?;
    let cadence = template.cadence.ok_or_else(|| {
        SelfCheckError::new("unknown_template", "不是自查模板", "payload.template_id")
    })?;
    let period = Period::parse(cadence, &p.period)
        .map_err(|e| SelfCheckError::new("invalid_period", e.0, "payload.period"))?;
    if !period.contains(at.with_timezone(&Utc)) {
        return Err(SelfCheckError::new(
            "period_mismatch",
            format!(
                "自查时间 {} 不在周期 {period} 内（北京时间）",
                at.to_rfc3339()
            ),
            "payload.period",
        ));
    }
    let rules = InspectionRules::builtin().map_err(SelfCheckError::from_inspection)?;
    let evaluation =
        evaluate(template, &p.answers, at, rules).map_err(SelfCheckError::from_inspection)?;
    let findings = check_findings(template, &check_id, &p.findings, &evaluation, at)?;
    Ok(SelfCheck {
        check_id,
        market_id: p.market_id,
        template_id: p.template_id,
        template_version: p.template_version,
        cadence,
        period,
        answers: p.answers,
        findings,
        at,
        evaluation,
    })
}

fn check_findings(
    template: &Template,
    check_id: &Uuid,
    input: &[FindingInput],
    evaluation: &Evaluation,
    at: DateTime<FixedOffset>,
) -> Result<Vec<Finding>, SelfCheckError> {
    let failed: HashSet<&str> = evaluation
        .violations
        .iter()
        .map(|v| v.item_id.as_str())
        .collect();
    let day = china_date_of(at);
    let latest = day + Days::new(MAX_FOLLOW_UP_DAYS);
    let mut seen = HashSet::with_capacity(input.len());
    let mut out = Vec::with_capacity(input.len());
    for (i, f) in input.iter().enumerate() {
        let field = |name: &str| format!("payload.findings[{i}].{name}");
        let Some(item) = template.item(&f.item_id) else {
            return Err(SelfCheckError::new(
                "unknown_item",
                "模板中没有这一检查项",
                &field("item_id"),
            ));
        };
        if !failed.contains(item.id.as_str()) {
            return Err(SelfCheckError::new(
                "finding_on_passed_item",
                "只能对不符合的检查项登记问题",
                &field("item_id"),
            ));
        }
        if !seen.insert(item.id.as_str()) {
            return Err(SelfCheckError::new(
                "duplicate_finding",
                "同一检查项只能登记一个问题",
                &field("item_id"),
            ));
        }
        check_note(&f.note, &field("note"))?;
        let by = NaiveDate::parse_from_str(&f.follow_up_by, "%Y-%m-%d")
            .ok()
            .filter(|d| d.format("%Y-%m-%d").to_string() == f.follow_up_by)
            .ok_or_else(|| {
                SelfCheckError::new(
                    "invalid_date",
                    "整改期限须为日期，如 2026-12-05",
                    &field("follow_up_by"),
                )
            })?;
        if by < day || by > latest {
            return Err(SelfCheckError::new(
                "follow_up_out_of_range",
                format!("整改期限须在自查当日至其后 {MAX_FOLLOW_UP_DAYS} 日之间"),
                &field("follow_up_by"),
            ));
        }
        out.push(Finding {
            finding_id: finding_id(check_id, &item.id),
            item_id: item.id.clone(),
            item_text: item.text.clone(),
            note: f.note.trim().to_owned(),
            follow_up_by: by,
        });
    }
    if let Some(v) = evaluation
        .violations
        .iter()
        .find(|v| !seen.contains(v.item_id.as_str()))
    {
        return Err(SelfCheckError::new(
            "finding_missing",
            format!("不符合项 {} 须登记问题和整改期限", v.item_id),
            "payload.findings",
        ));
    }
    Ok(out)
}

/// The `market.follow_up_closed` payload on the wire.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClosurePayload {
    pub finding_id: String,
    pub note: String,
    /// SHA-256 hex digests of photos of the correction.
    #[serde(default)]
    pub photos: Vec<String>,
}

/// A checked closing of a finding.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Closure {
    pub finding_id: String,
    pub note: String,
    pub photos: Vec<String>,
    pub at: DateTime<FixedOffset>,
}

/// Parses a `market.follow_up_closed` op made at `at`.
pub fn parse_closure(
    payload: &serde_json::Value,
    at: &str,
    now: DateTime<Utc>,
) -> Result<Closure, SelfCheckError> {
    let p: ClosurePayload = serde_json::from_value(payload.clone()).map_err(|e| {
        SelfCheckError::new(
            "invalid_payload",
            format!("整改关闭记录格式错误：{e}"),
            "payload",
        )
    })?;
    let at = parse_at(at, now)?;
    let valid_id = p.finding_id.split_once(':').is_some_and(|(c, i)| {
        Uuid::parse_str(c).is_ok() && crate::inspection::checklist::is_identifier(i)
    });
    if !valid_id {
        return Err(SelfCheckError::new(
            "invalid_field",
            "finding_id 格式应为 自查编号:检查项编号",
            "payload.finding_id",
        ));
    }
    check_note(&p.note, "payload.note")?;
    if p.photos.len() > MAX_PHOTOS {
        return Err(SelfCheckError::new(
            "too_many_photos",
            format!("照片最多 {MAX_PHOTOS} 张"),
            "payload.photos",
        ));
    }
    if let Some(i) = p
        .photos
        .iter()
        .position(|h| !crate::inspection::evaluate::is_sha256_hex(h))
    {
        return Err(SelfCheckError::new(
            "invalid_photo_hash",
            "照片须以 SHA-256 十六进制小写摘要表示",
            &format!("payload.photos[{i}]"),
        ));
    }
    Ok(Closure {
        finding_id: p.finding_id,
        note: p.note.trim().to_owned(),
        photos: p.photos,
        at,
    })
}

/// What a closing needs to know of its finding.
#[derive(Debug, Clone, PartialEq)]
pub struct FindingState {
    /// When its check was done.
    pub check_at: DateTime<Utc>,
    pub closed: bool,
}

/// A finding is closed once, at or after its check.
pub fn check_closure(c: &Closure, finding: &FindingState) -> Result<(), SelfCheckError> {
    if finding.closed {
        return Err(SelfCheckError::new(
            "follow_up_already_closed",
            "该问题已整改关闭",
            "payload.finding_id",
        ));
    }
    if c.at.with_timezone(&Utc) < finding.check_at {
        return Err(SelfCheckError::new(
            "closed_before_found",
            "关闭时间早于发现问题的自查时间",
            "at",
        ));
    }
    Ok(())
}

/// Where a follow-up stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FollowUpStatus {
    Open,
    Closed,
    /// Open past the end of its follow-up date (Asia/Shanghai).
    Overdue,
}

impl FollowUpStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            FollowUpStatus::Open => "open",
            FollowUpStatus::Closed => "closed",
            FollowUpStatus::Overdue => "overdue",
        }
    }

    pub fn parse(s: &str) -> Option<FollowUpStatus> {
        [
            FollowUpStatus::Open,
            FollowUpStatus::Closed,
            FollowUpStatus::Overdue,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
    }
}

/// When an open follow-up becomes overdue: the end of its date in Shanghai.
pub fn overdue_from(follow_up_by: NaiveDate) -> DateTime<Utc> {
    Period::Day(follow_up_by).end()
}

/// The status of a follow-up at `now`.
pub fn follow_up_status(
    follow_up_by: NaiveDate,
    closed: bool,
    now: DateTime<Utc>,
) -> FollowUpStatus {
    if closed {
        FollowUpStatus::Closed
    } else if overdue_from(follow_up_by) <= now {
        FollowUpStatus::Overdue
    } else {
        FollowUpStatus::Open
    }
}

/// A period's standing in the calendar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PeriodStatus {
    /// At least one check was done in it (a second counts once).
    Done,
    /// Over without a check.
    Missed,
    /// Not over yet (today, this week, this month, or later), no check.
    Pending,
    /// Before the market's self-inspections are tracked (its first check).
    NotDue,
}

impl PeriodStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PeriodStatus::Done => "done",
            PeriodStatus::Missed => "missed",
            PeriodStatus::Pending => "pending",
            PeriodStatus::NotDue => "not_due",
        }
    }
}

/// One period of the calendar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeriodState {
    pub period: Period,
    pub status: PeriodStatus,
    /// The checks done in it, in the order given.
    pub check_ids: Vec<String>,
}

/// The status of one period: done with a check, else missed once over,
/// else pending; not due while it ends before the day tracking started.
pub fn period_status(
    period: Period,
    done: bool,
    tracked_since: Option<NaiveDate>,
    now: DateTime<Utc>,
) -> PeriodStatus {
    if done {
        PeriodStatus::Done
    } else if tracked_since.is_none_or(|d| period.last_day() < d) {
        PeriodStatus::NotDue
    } else if period.ended_by(now) {
        PeriodStatus::Missed
    } else {
        PeriodStatus::Pending
    }
}

/// The periods of `cadence` touching the dates `from..=to`, each with its
/// status and checks. `tracked_since` is the Shanghai date of the market's
/// first self-inspection (a market is held to the calendar from then on);
/// `checks` are `(period, check_id)` of its checks of this cadence.
pub fn calendar(
    cadence: Cadence,
    from: NaiveDate,
    to: NaiveDate,
    tracked_since: Option<NaiveDate>,
    checks: &[(Period, String)],
    now: DateTime<Utc>,
) -> Vec<PeriodState> {
    let mut by_period: BTreeMap<Period, Vec<String>> = BTreeMap::new();
    for (p, id) in checks {
        by_period.entry(*p).or_default().push(id.clone());
    }
    let mut out = Vec::new();
    let mut p = Period::containing(cadence, from);
    while p.first_day() <= to {
        let ids = by_period.remove(&p).unwrap_or_default();
        out.push(PeriodState {
            period: p,
            status: period_status(p, !ids.is_empty(), tracked_since, now),
            check_ids: ids,
        });
        p = p.next();
    }
    out
}

#[cfg(test)]
mod tests;
