//! From the answers to the result (自动评定检查结果).
//!
//! The rule (《食品生产经营日常监督检查管理办法》, CFDA Order 23, and its
//! notice 食药监食监一〔2016〕58号, 结果判定; regulation.md §2):
//!
//! * no item failed → 符合 (`compliant`);
//! * up to 8 general items failed, no key item → 基本符合
//!   (`basically_compliant`): written order to correct by a deadline
//!   (书面责令限期改正);
//! * more than 8 general items, or any key item → 不符合 (`non_compliant`):
//!   where there is a latent risk the operator stops at once (立即停止食品经营
//!   活动); refusing is punished under 《食品安全法》第一百二十六条第一款 and leads
//!   to a case (立案调查).
//!
//! The threshold and the deadline live in [`InspectionRules`], a versioned
//! JSON file (`core/data/rules/inspection-v1.json`), because provinces refine
//! them. The phone runs this function offline and the server re-runs it on the
//! pushed record: one implementation, one verdict.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::OnceLock;

use chrono::{DateTime, Days, FixedOffset, NaiveDate};
use serde::{Deserialize, Serialize};

use super::checklist::{AnswerType, ItemKind, Template};
use super::china_offset;
use super::error::{config_error, InspectionError};

/// The three results of a routine inspection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InspectionResult {
    /// 符合
    Compliant,
    /// 基本符合
    BasicallyCompliant,
    /// 不符合
    NonCompliant,
}

impl InspectionResult {
    /// 符合 / 基本符合 / 不符合.
    pub fn label_zh(self) -> &'static str {
        match self {
            InspectionResult::Compliant => "符合",
            InspectionResult::BasicallyCompliant => "基本符合",
            InspectionResult::NonCompliant => "不符合",
        }
    }

    /// The snake_case wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            InspectionResult::Compliant => "compliant",
            InspectionResult::BasicallyCompliant => "basically_compliant",
            InspectionResult::NonCompliant => "non_compliant",
        }
    }
}

impl fmt::Display for InspectionResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label_zh())
    }
}

/// Versioned thresholds of the inspection rules (`inspection-v1.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InspectionRules {
    /// `"inspection"`.
    pub id: String,
    pub version: u32,
    /// The regulation the numbers come from.
    #[serde(default)]
    pub source: String,
    /// Most failed general items that still give 基本符合: 8 (Order 23 /
    /// 食药监食监一〔2016〕58号). One more is 不符合.
    pub max_general_failures_basically_compliant: u32,
    /// Days from the end of the inspection to the correction deadline
    /// (责令限期改正). No national figure was found (regulation.md §2): 15 is a
    /// platform default that provinces override.
    pub rectification_days: u32,
    /// At least two law-enforcement officers per inspection (Order 23; the
    /// inspected party may refuse fewer: 告知页).
    pub min_inspectors: usize,
    /// Device clocks are wrong: a timestamp may be at most this far ahead of the
    /// receiving clock (300 s).
    pub max_future_skew_seconds: i64,
    /// Per-template refinements (e.g. a province's catering table).
    #[serde(default)]
    pub template_overrides: BTreeMap<String, TemplateOverride>,
}

/// Per-template override of [`InspectionRules`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateOverride {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_general_failures_basically_compliant: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rectification_days: Option<u32>,
}

impl InspectionRules {
    /// Parses and validates a rules file.
    pub fn from_json(json: &str) -> Result<Self, InspectionError> {
        let r: InspectionRules = serde_json::from_str(json)
            .map_err(|e| config_error("inspection", "", e.to_string()))?;
        r.validate()?;
        Ok(r)
    }

    /// The built-in rules (`core/data/rules/inspection-v1.json`), parsed once.
    pub fn builtin() -> Result<&'static InspectionRules, InspectionError> {
        static RULES: OnceLock<Result<InspectionRules, InspectionError>> = OnceLock::new();
        RULES
            .get_or_init(|| {
                InspectionRules::from_json(include_str!("../../data/rules/inspection-v1.json"))
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    fn validate(&self) -> Result<(), InspectionError> {
        if self.id != "inspection" {
            return Err(config_error("inspection", "id", "必须为 inspection"));
        }
        if self.version == 0 {
            return Err(config_error("inspection", "version", "版本号从 1 开始"));
        }
        if self.min_inspectors < 2 {
            return Err(config_error(
                "inspection",
                "min_inspectors",
                "法定检查人员不少于 2 人",
            ));
        }
        if self.rectification_days == 0 || self.rectification_days > 365 {
            return Err(config_error(
                "inspection",
                "rectification_days",
                "整改期限须为 1–365 日",
            ));
        }
        if !(0..=86_400).contains(&self.max_future_skew_seconds) {
            return Err(config_error(
                "inspection",
                "max_future_skew_seconds",
                "须为 0–86400 秒",
            ));
        }
        for (id, o) in &self.template_overrides {
            if o.rectification_days.is_some_and(|d| d == 0 || d > 365) {
                return Err(config_error(
                    "inspection",
                    format!("template_overrides.{id}.rectification_days"),
                    "整改期限须为 1–365 日",
                ));
            }
        }
        Ok(())
    }

    /// The general-item threshold for one template.
    pub fn max_general_failures_for(&self, template_id: &str) -> u32 {
        self.template_overrides
            .get(template_id)
            .and_then(|o| o.max_general_failures_basically_compliant)
            .unwrap_or(self.max_general_failures_basically_compliant)
    }

    /// The correction period for one template.
    pub fn rectification_days_for(&self, template_id: &str) -> u32 {
        self.template_overrides
            .get(template_id)
            .and_then(|o| o.rectification_days)
            .unwrap_or(self.rectification_days)
    }
}

/// One answer on the checklist, as the phone records it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Answer {
    pub item_id: String,
    /// The inspector's judgement: 是 (true) / 否 (false).
    pub compliant: bool,
    /// 合理缺项: the item does not apply to this business. Only for items with
    /// `allow_not_applicable`. (An addition to the answer shape:
    /// the 2016 tables have a 合理缺项 column.)
    #[serde(default, skip_serializing_if = "is_false")]
    pub not_applicable: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The measured value of a number item.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    /// SHA-256 hex digests of uploaded photos.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub photos: Vec<String>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// A failed item on the record, with the provision it violates (自动定性).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Violation {
    pub item_id: String,
    pub kind: ItemKind,
    pub section: String,
    pub text: String,
    pub basis: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    /// The limits of a number item, e.g. `0～8 ℃`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<String>,
    /// The value was outside the limits (even if the inspector ticked 是).
    #[serde(default, skip_serializing_if = "is_false")]
    pub out_of_limits: bool,
}

/// What happens next (结果处理).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum FollowUp {
    /// 符合: nothing to do (通过).
    None,
    /// 基本符合: 书面责令限期改正 by `deadline` (Asia/Shanghai date).
    RectifyByDeadline {
        deadline: NaiveDate,
        text: String,
        basis: String,
    },
    /// 不符合: 立即停止经营 where there is a latent risk, and 立案调查.
    StopAndInvestigate { text: String, basis: String },
}

impl FollowUp {
    /// The short label for the record (结果处理).
    pub fn label_zh(&self) -> &'static str {
        match self {
            FollowUp::None => "通过",
            FollowUp::RectifyByDeadline { .. } => "书面限期整改",
            FollowUp::StopAndInvestigate { .. } => "立即停止食品经营活动，立案调查",
        }
    }
}

/// The evaluated checklist.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    pub result: InspectionResult,
    /// Items answered (not 合理缺项).
    pub checked_items: u32,
    pub not_applicable_items: u32,
    pub failed_key: u32,
    pub failed_general: u32,
    pub violations: Vec<Violation>,
    pub follow_up: FollowUp,
    /// `inspection` rules version used.
    pub rules_version: u32,
}

/// The pure decision from the counts: any failed key item or more than
/// `max_general` failed general items is 不符合; some failed general items is
/// 基本符合; nothing failed is 符合.
pub fn classify(failed_key: u32, failed_general: u32, max_general: u32) -> InspectionResult {
    if failed_key > 0 || failed_general > max_general {
        InspectionResult::NonCompliant
    } else if failed_general > 0 {
        InspectionResult::BasicallyCompliant
    } else {
        InspectionResult::Compliant
    }
}

/// Longest note kept on an answer (characters).
pub const MAX_NOTE_CHARS: usize = 2000;
/// Most photos on one answer.
pub const MAX_PHOTOS_PER_ANSWER: usize = 20;

/// Whether `s` is a SHA-256 digest in lowercase hex (how attachments are named).
pub fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Evaluates `answers` against `template`.
///
/// Every template item needs exactly one answer; unknown or repeated item ids,
/// a number item without its value, a photo item without a photo, a malformed
/// photo hash, or 合理缺项 on an item that does not allow it are errors naming
/// the field (`answers[3].item_id`). A number outside its limits fails the item.
/// `finished_at` dates the correction deadline (China Standard Time).
pub fn evaluate(
    template: &Template,
    answers: &[Answer],
    finished_at: DateTime<FixedOffset>,
    rules: &InspectionRules,
) -> Result<Evaluation, InspectionError> {
    let index: HashMap<&str, usize> = template
        .items
        .iter()
        .enumerate()
        .map(|(i, it)| (it.id.as_str(), i))
        .collect();
    let mut answered: Vec<Option<usize>> = vec![None; template.items.len()];

    for (ai, a) in answers.iter().enumerate() {
        let Some(&ii) = index.get(a.item_id.as_str()) else {
            return Err(InspectionError::UnknownItem {
                field: format!("answers[{ai}].item_id"),
                item_id: a.item_id.clone(),
            });
        };
        if answered[ii].is_some() {
            return Err(InspectionError::DuplicateAnswer {
                field: format!("answers[{ai}].item_id"),
                item_id: a.item_id.clone(),
            });
        }
        answered[ii] = Some(ai);
        check_answer(ai, a, &template.items[ii])?;
    }
    if let Some(missing) = answered.iter().position(Option::is_none) {
        let item = &template.items[missing];
        return Err(InspectionError::MissingAnswer {
            item_id: item.id.clone(),
            text: item.text.clone(),
        });
    }

    let mut ev = Evaluation {
        result: InspectionResult::Compliant,
        checked_items: 0,
        not_applicable_items: 0,
        failed_key: 0,
        failed_general: 0,
        violations: Vec::new(),
        follow_up: FollowUp::None,
        rules_version: rules.version,
    };
    // Template order, so the record lists violations as the table does.
    for (item, ai) in template.items.iter().zip(answered.iter()) {
        let Some(ai) = *ai else { continue };
        let a = &answers[ai];
        if a.not_applicable {
            ev.not_applicable_items += 1;
            continue;
        }
        ev.checked_items += 1;
        let out_of_limits = a.value.is_some_and(|v| !item.answer.within_limits(v));
        if a.compliant && !out_of_limits {
            continue;
        }
        match item.kind {
            ItemKind::Key => ev.failed_key += 1,
            ItemKind::General => ev.failed_general += 1,
        }
        ev.violations.push(Violation {
            item_id: item.id.clone(),
            kind: item.kind,
            section: item.section.clone(),
            text: item.text.clone(),
            basis: item.basis.clone(),
            note: a.note.clone(),
            value: a.value,
            limits: item.answer.limits_zh(),
            out_of_limits,
        });
    }

    ev.result = classify(
        ev.failed_key,
        ev.failed_general,
        rules.max_general_failures_for(&template.id),
    );
    ev.follow_up = follow_up(
        ev.result,
        finished_at,
        rules.rectification_days_for(&template.id),
    )?;
    Ok(ev)
}

fn check_answer(
    ai: usize,
    a: &Answer,
    item: &super::checklist::ChecklistItem,
) -> Result<(), InspectionError> {
    if a.not_applicable && !item.allow_not_applicable {
        return Err(InspectionError::NotApplicableNotAllowed {
            field: format!("answers[{ai}].not_applicable"),
            item_id: item.id.clone(),
        });
    }
    if let Some(note) = &a.note {
        if note.chars().count() > MAX_NOTE_CHARS {
            return Err(InspectionError::InvalidField {
                field: format!("answers[{ai}].note"),
                reason: format!("说明不能超过 {MAX_NOTE_CHARS} 字"),
            });
        }
    }
    if let Some(v) = a.value {
        if !v.is_finite() {
            return Err(InspectionError::InvalidField {
                field: format!("answers[{ai}].value"),
                reason: "测量值必须是有限数字".into(),
            });
        }
    }
    if a.photos.len() > MAX_PHOTOS_PER_ANSWER {
        return Err(InspectionError::InvalidField {
            field: format!("answers[{ai}].photos"),
            reason: format!("每项最多 {MAX_PHOTOS_PER_ANSWER} 张照片"),
        });
    }
    for (pi, p) in a.photos.iter().enumerate() {
        if !is_sha256_hex(p) {
            return Err(InspectionError::InvalidPhotoHash {
                field: format!("answers[{ai}].photos[{pi}]"),
            });
        }
    }
    if a.not_applicable {
        return Ok(());
    }
    match item.answer {
        AnswerType::Number { .. } if a.value.is_none() => Err(InspectionError::MissingValue {
            field: format!("answers[{ai}].value"),
            item_id: item.id.clone(),
        }),
        AnswerType::Photo if a.photos.is_empty() => Err(InspectionError::MissingPhoto {
            field: format!("answers[{ai}].photos"),
            item_id: item.id.clone(),
        }),
        _ => Ok(()),
    }
}

/// 结果处理 for a result.
fn follow_up(
    result: InspectionResult,
    finished_at: DateTime<FixedOffset>,
    days: u32,
) -> Result<FollowUp, InspectionError> {
    Ok(match result {
        InspectionResult::Compliant => FollowUp::None,
        InspectionResult::BasicallyCompliant => {
            let deadline = rectification_deadline(finished_at, days)?;
            FollowUp::RectifyByDeadline {
                deadline,
                text: format!(
                    "责令限期改正：请于{}前对上述问题完成整改，并将整改情况报告监管部门；监管部门可跟踪检查，逾期不改正的依法处理。",
                    deadline.format("%Y年%m月%d日")
                ),
                basis: "《食品生产经营日常监督检查管理办法》；《食品安全法》第一百二十六条".into(),
            }
        }
        InspectionResult::NonCompliant => FollowUp::StopAndInvestigate {
            text: "发现食品安全风险隐患：责令立即停止食品经营活动，依法立案调查；拒不停止的，依照《食品安全法》第一百二十六条第一款处理。".into(),
            basis: "《食品生产经营日常监督检查管理办法》；《食品安全法》第一百二十六条第一款".into(),
        },
    })
}

/// `finished_at` as a China Standard Time date, plus `days`.
pub fn rectification_deadline(
    finished_at: DateTime<FixedOffset>,
    days: u32,
) -> Result<NaiveDate, InspectionError> {
    finished_at
        .with_timezone(&china_offset())
        .date_naive()
        .checked_add_days(Days::new(u64::from(days)))
        .ok_or_else(|| InspectionError::InvalidField {
            field: "finished_at".into(),
            reason: "整改期限超出日期范围".into(),
        })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::inspection::checklist::{ChecklistItem, TemplateRegistry};

    pub(crate) fn rules() -> &'static InspectionRules {
        match InspectionRules::builtin() {
            Ok(r) => r,
            Err(e) => panic!("{e}"),
        }
    }

    pub(crate) fn sales() -> &'static Template {
        match TemplateRegistry::builtin()
            .ok()
            .and_then(|r| r.get("food_sales_daily", 1))
        {
            Some(t) => t,
            None => panic!("no sales template"),
        }
    }

    /// All items answered compliant, with in-range values and a photo.
    pub(crate) fn all_ok(t: &Template) -> Vec<Answer> {
        t.items.iter().map(ok_answer).collect()
    }

    pub(crate) const PHOTO: &str =
        "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    fn ok_answer(i: &ChecklistItem) -> Answer {
        let (value, photos) = match &i.answer {
            AnswerType::Number { min, max, .. } => (Some(min.or(*max).unwrap_or(0.0)), vec![]),
            AnswerType::Photo => (None, vec![PHOTO.to_string()]),
            AnswerType::YesNo => (None, vec![]),
        };
        Answer {
            item_id: i.id.clone(),
            compliant: true,
            not_applicable: false,
            note: None,
            value,
            photos,
        }
    }

    fn fail_general(t: &Template, answers: &mut [Answer], n: usize) {
        let ids: Vec<&str> = t
            .items
            .iter()
            .filter(|i| i.kind == ItemKind::General)
            .map(|i| i.id.as_str())
            .take(n)
            .collect();
        assert_eq!(ids.len(), n);
        for a in answers.iter_mut() {
            if ids.contains(&a.item_id.as_str()) {
                a.compliant = false;
            }
        }
    }

    pub(crate) fn at(s: &str) -> DateTime<FixedOffset> {
        match DateTime::parse_from_rfc3339(s) {
            Ok(d) => d,
            Err(e) => panic!("{e}"),
        }
    }

    fn eval(answers: &[Answer]) -> Result<Evaluation, InspectionError> {
        evaluate(sales(), answers, at("2024-05-20T10:00:00+08:00"), rules())
    }

    #[test]
    fn nothing_failed_is_compliant() {
        let ev = eval(&all_ok(sales())).ok();
        let ev = ev.as_ref();
        assert_eq!(ev.map(|e| e.result), Some(InspectionResult::Compliant));
        assert_eq!(ev.map(|e| e.follow_up.clone()), Some(FollowUp::None));
        assert_eq!(ev.map(|e| e.checked_items), Some(30));
    }

    #[test]
    fn eight_general_failures_are_basically_compliant_with_deadline() {
        let mut a = all_ok(sales());
        fail_general(sales(), &mut a, 8);
        let ev = eval(&a);
        let Ok(ev) = ev else { panic!("{ev:?}") };
        assert_eq!(ev.result, InspectionResult::BasicallyCompliant);
        assert_eq!(ev.failed_general, 8);
        assert_eq!(ev.violations.len(), 8);
        assert!(ev.violations.iter().all(|v| v.basis.starts_with('《')));
        match ev.follow_up {
            FollowUp::RectifyByDeadline {
                deadline, ref text, ..
            } => {
                assert_eq!(
                    deadline,
                    NaiveDate::from_ymd_opt(2024, 6, 4).unwrap_or_default()
                );
                assert!(text.contains("2024年06月04日"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn one_general_failure_is_basically_compliant() {
        let mut a = all_ok(sales());
        fail_general(sales(), &mut a, 1);
        assert_eq!(
            eval(&a).map(|e| e.result).ok(),
            Some(InspectionResult::BasicallyCompliant)
        );
    }

    #[test]
    fn nine_general_failures_are_non_compliant() {
        let mut a = all_ok(sales());
        fail_general(sales(), &mut a, 9);
        let ev = eval(&a);
        let Ok(ev) = ev else { panic!("{ev:?}") };
        assert_eq!(ev.result, InspectionResult::NonCompliant);
        assert!(matches!(ev.follow_up, FollowUp::StopAndInvestigate { .. }));
    }

    #[test]
    fn one_key_failure_is_non_compliant() {
        let mut a = all_ok(sales());
        let key = sales()
            .items
            .iter()
            .position(|i| i.kind == ItemKind::Key)
            .unwrap_or(0);
        a[key].compliant = false;
        a[key].note = Some("许可证已过期".into());
        let ev = eval(&a);
        let Ok(ev) = ev else { panic!("{ev:?}") };
        assert_eq!(
            (ev.result, ev.failed_key, ev.failed_general),
            (InspectionResult::NonCompliant, 1, 0)
        );
        assert_eq!(ev.violations[0].note.as_deref(), Some("许可证已过期"));
    }

    #[test]
    fn number_outside_limits_fails_even_if_ticked() {
        let mut a = all_ok(sales());
        let i = sales()
            .items
            .iter()
            .position(|i| i.id == "2.3")
            .unwrap_or(0);
        a[i].value = Some(8.0);
        assert_eq!(
            eval(&a).map(|e| e.result).ok(),
            Some(InspectionResult::Compliant)
        );
        a[i].value = Some(8.5);
        let ev = eval(&a);
        let Ok(ev) = ev else { panic!("{ev:?}") };
        assert_eq!(ev.result, InspectionResult::BasicallyCompliant);
        assert!(ev.violations[0].out_of_limits);
        assert_eq!(ev.violations[0].limits.as_deref(), Some("0～8 ℃"));
    }

    #[test]
    fn missing_answer_names_the_item() {
        let mut a = all_ok(sales());
        let removed = a.remove(5);
        let e = eval(&a).err();
        assert_eq!(e.as_ref().map(|e| e.code()), Some("missing_answer"));
        assert_eq!(e.as_ref().and_then(|e| e.field()), Some("answers"));
        assert!(
            matches!(e, Some(InspectionError::MissingAnswer { ref item_id, .. }) if *item_id == removed.item_id)
        );
    }

    #[test]
    fn unknown_and_duplicate_items_are_rejected() {
        let mut a = all_ok(sales());
        a[3].item_id = "99.9".into();
        let e = eval(&a).err();
        assert_eq!(e.as_ref().map(|e| e.code()), Some("unknown_item"));
        assert_eq!(
            e.as_ref().and_then(|e| e.field()),
            Some("answers[3].item_id")
        );

        let mut a = all_ok(sales());
        let dup = a[0].clone();
        a.push(dup);
        let e = eval(&a).err();
        assert_eq!(
            e.as_ref().and_then(|e| e.field()),
            Some("answers[30].item_id")
        );
        assert_eq!(e.map(|e| e.code()), Some("duplicate_answer"));
    }

    #[test]
    fn value_photo_and_not_applicable_rules() {
        let t = sales();
        let num = t.items.iter().position(|i| i.id == "2.3").unwrap_or(0);
        let photo = t
            .items
            .iter()
            .position(|i| matches!(i.answer, AnswerType::Photo))
            .unwrap_or(0);
        let key_no_na = t.items.iter().position(|i| i.id == "1.1").unwrap_or(0);

        let mut a = all_ok(t);
        a[num].value = None;
        let e = eval(&a).err();
        assert_eq!(e.as_ref().map(|e| e.code()), Some("missing_value"));
        assert_eq!(
            e.as_ref().and_then(|e| e.field()).map(str::to_string),
            Some(format!("answers[{num}].value"))
        );
        a[num].not_applicable = true; // 2.3 allows 合理缺项
        let ev = eval(&a);
        assert_eq!(ev.as_ref().map(|e| e.not_applicable_items).ok(), Some(1));

        let mut a = all_ok(t);
        a[photo].photos.clear();
        assert_eq!(eval(&a).err().map(|e| e.code()), Some("missing_photo"));
        a[photo].photos.push("ABC".into());
        assert_eq!(eval(&a).err().map(|e| e.code()), Some("invalid_photo_hash"));

        let mut a = all_ok(t);
        a[key_no_na].not_applicable = true;
        assert_eq!(
            eval(&a).err().map(|e| e.code()),
            Some("not_applicable_not_allowed")
        );
    }

    #[test]
    fn not_applicable_failed_item_does_not_count() {
        let mut a = all_ok(sales());
        let i = sales()
            .items
            .iter()
            .position(|i| i.id == "3.6")
            .unwrap_or(0);
        a[i].compliant = false;
        a[i].not_applicable = true;
        assert_eq!(
            eval(&a).map(|e| e.result).ok(),
            Some(InspectionResult::Compliant)
        );
    }

    #[test]
    fn classify_boundaries_and_override() {
        assert_eq!(classify(0, 0, 8), InspectionResult::Compliant);
        assert_eq!(classify(0, 8, 8), InspectionResult::BasicallyCompliant);
        assert_eq!(classify(0, 9, 8), InspectionResult::NonCompliant);
        assert_eq!(classify(1, 0, 8), InspectionResult::NonCompliant);
        let mut r = rules().clone();
        r.template_overrides.insert(
            "food_sales_daily".into(),
            TemplateOverride {
                max_general_failures_basically_compliant: Some(5),
                rectification_days: Some(7),
            },
        );
        let mut a = all_ok(sales());
        fail_general(sales(), &mut a, 6);
        let ev = evaluate(sales(), &a, at("2024-05-20T23:30:00Z"), &r);
        assert_eq!(
            ev.map(|e| e.result).ok(),
            Some(InspectionResult::NonCompliant)
        );
        // 23:30 UTC is already the 21st in Beijing: deadline counts from the 21st.
        assert_eq!(
            rectification_deadline(at("2024-05-20T23:30:00Z"), 7).ok(),
            NaiveDate::from_ymd_opt(2024, 5, 28)
        );
    }

    #[test]
    fn rules_file_is_validated() {
        assert_eq!(rules().max_general_failures_basically_compliant, 8);
        assert!(InspectionRules::from_json("{}").is_err());
        let mut r = rules().clone();
        r.min_inspectors = 1;
        let json = serde_json::to_string(&r).unwrap_or_default();
        assert_eq!(
            InspectionRules::from_json(&json).err().map(|e| e.code()),
            Some("invalid_config")
        );
    }
}
