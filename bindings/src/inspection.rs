//! Field inspection as records: checklist templates, answers, the evaluation
//! core computes offline (the same code the server re-runs), and the printed
//! record.

use shian_core::inspection::{
    Answer, AnswerType, ChecklistItem, Evaluation, FollowUp, InspectionRecordPayload, ItemKind,
    Location, RecordPrintInfo, Template, Violation,
};

use crate::error::ShianError;

/// One line of a checklist.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct ChecklistItemRecord {
    pub id: String,
    /// `key` (重点项) or `general` (一般项).
    pub kind: String,
    pub section: String,
    pub text: String,
    pub basis: String,
    /// `yes_no`, `number` or `photo`.
    pub answer_type: String,
    /// Limits and unit of a `number` item.
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub unit: Option<String>,
    /// The limits as text, e.g. `0～8 ℃`.
    pub limits_zh: Option<String>,
    /// May be answered 合理缺项 (not applicable).
    pub allow_not_applicable: bool,
}

impl From<&ChecklistItem> for ChecklistItemRecord {
    fn from(i: &ChecklistItem) -> Self {
        let (answer_type, min, max, unit) = match &i.answer {
            AnswerType::YesNo => ("yes_no", None, None, None),
            AnswerType::Number { min, max, unit } => ("number", *min, *max, Some(unit.clone())),
            AnswerType::Photo => ("photo", None, None, None),
        };
        Self {
            id: i.id.clone(),
            kind: kind_str(i.kind).to_owned(),
            section: i.section.clone(),
            text: i.text.clone(),
            basis: i.basis.clone(),
            answer_type: answer_type.to_owned(),
            min,
            max,
            unit,
            limits_zh: i.answer.limits_zh(),
            allow_not_applicable: i.allow_not_applicable,
        }
    }
}

fn kind_str(k: ItemKind) -> &'static str {
    match k {
        ItemKind::Key => "key",
        ItemKind::General => "general",
    }
}

/// A versioned checklist template (监督检查要点表).
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct ChecklistRecord {
    pub id: String,
    pub version: u32,
    pub title: String,
    pub business_type: String,
    pub source: String,
    pub items: Vec<ChecklistItemRecord>,
}

impl From<&Template> for ChecklistRecord {
    fn from(t: &Template) -> Self {
        Self {
            id: t.id.clone(),
            version: t.version,
            title: t.title.clone(),
            business_type: t.business_type.clone(),
            source: t.source.clone(),
            items: t.items.iter().map(Into::into).collect(),
        }
    }
}

/// One answer on the checklist.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct AnswerInput {
    pub item_id: String,
    /// 是 (true) / 否 (false).
    pub compliant: bool,
    /// 合理缺项.
    pub not_applicable: bool,
    pub note: Option<String>,
    /// The measured value of a number item.
    pub value: Option<f64>,
    /// SHA-256 hex digests of uploaded photos.
    pub photos: Vec<String>,
}

impl From<&AnswerInput> for Answer {
    fn from(a: &AnswerInput) -> Self {
        Answer {
            item_id: a.item_id.clone(),
            compliant: a.compliant,
            not_applicable: a.not_applicable,
            note: a.note.clone(),
            value: a.value,
            photos: a.photos.clone(),
        }
    }
}

/// An `inspection.record` event. `inspection_id` None: a new UUIDv7.
/// `result` is what the inspector confirms (`compliant`,
/// `basically_compliant`, `non_compliant`); it must equal what the rules
/// compute from the answers (take it from `evaluate_answers`).
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct InspectionInput {
    pub inspection_id: Option<String>,
    pub merchant_id: String,
    pub template_id: String,
    pub template_version: u32,
    /// User ids of the inspectors (at least two).
    pub inspectors: Vec<String>,
    pub answers: Vec<AnswerInput>,
    pub result: String,
    /// RFC 3339 with offset.
    pub started_at: String,
    pub finished_at: String,
    pub lat: Option<f64>,
    pub lng: Option<f64>,
}

impl InspectionInput {
    /// The wire payload, with the id filled in.
    pub(crate) fn to_payload(&self) -> Result<InspectionRecordPayload, ShianError> {
        let result = serde_json::from_value(serde_json::Value::String(self.result.clone()))
            .map_err(|_| {
                ShianError::invalid(
                    "result",
                    "invalid_enum",
                    "检查结果应为 compliant、basically_compliant 或 non_compliant",
                )
            })?;
        let location = match (self.lat, self.lng) {
            (Some(lat), Some(lng)) => Some(Location { lat, lng }),
            (None, None) => None,
            _ => {
                return Err(ShianError::invalid(
                    "location",
                    "invalid_field",
                    "经纬度须同时填写",
                ))
            }
        };
        Ok(InspectionRecordPayload {
            inspection_id: self
                .inspection_id
                .clone()
                .unwrap_or_else(crate::ledger::new_id),
            merchant_id: self.merchant_id.clone(),
            template_id: self.template_id.clone(),
            template_version: self.template_version,
            inspectors: self.inspectors.clone(),
            answers: self.answers.iter().map(Into::into).collect(),
            result,
            started_at: self.started_at.clone(),
            finished_at: self.finished_at.clone(),
            location,
        })
    }
}

/// A failed item with the provision it violates (自动定性).
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct ViolationRecord {
    pub item_id: String,
    /// `key` or `general`.
    pub kind: String,
    pub section: String,
    pub text: String,
    pub basis: String,
    pub note: Option<String>,
    pub value: Option<f64>,
    pub limits: Option<String>,
    pub out_of_limits: bool,
}

impl From<&Violation> for ViolationRecord {
    fn from(v: &Violation) -> Self {
        Self {
            item_id: v.item_id.clone(),
            kind: kind_str(v.kind).to_owned(),
            section: v.section.clone(),
            text: v.text.clone(),
            basis: v.basis.clone(),
            note: v.note.clone(),
            value: v.value,
            limits: v.limits.clone(),
            out_of_limits: v.out_of_limits,
        }
    }
}

/// The result core computes from the answers (自动评定), with what follows.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct InspectionOutcome {
    /// Set when the outcome is of a whole record (check or record).
    pub inspection_id: Option<String>,
    /// `compliant`, `basically_compliant` or `non_compliant`.
    pub result: String,
    /// 符合 / 基本符合 / 不符合.
    pub result_zh: String,
    pub checked_items: u32,
    pub not_applicable_items: u32,
    pub failed_key: u32,
    pub failed_general: u32,
    pub violations: Vec<ViolationRecord>,
    /// `none`, `rectify_by_deadline` or `stop_and_investigate`.
    pub follow_up: String,
    /// 通过 / 书面限期整改 / 立即停止食品经营活动，立案调查.
    pub follow_up_zh: String,
    pub follow_up_text: Option<String>,
    pub follow_up_basis: Option<String>,
    /// `YYYY-MM-DD` (Asia/Shanghai) for `rectify_by_deadline`.
    pub deadline: Option<String>,
    pub rules_version: u32,
    /// The whole evaluation as JSON.
    pub evaluation_json: String,
}

impl InspectionOutcome {
    pub(crate) fn new(inspection_id: Option<String>, ev: &Evaluation) -> Self {
        let (follow_up, text, basis, deadline) = match &ev.follow_up {
            FollowUp::None => ("none", None, None, None),
            FollowUp::RectifyByDeadline {
                deadline,
                text,
                basis,
            } => (
                "rectify_by_deadline",
                Some(text.clone()),
                Some(basis.clone()),
                Some(deadline.to_string()),
            ),
            FollowUp::StopAndInvestigate { text, basis } => (
                "stop_and_investigate",
                Some(text.clone()),
                Some(basis.clone()),
                None,
            ),
        };
        Self {
            inspection_id,
            result: ev.result.as_str().to_owned(),
            result_zh: ev.result.label_zh().to_owned(),
            checked_items: ev.checked_items,
            not_applicable_items: ev.not_applicable_items,
            failed_key: ev.failed_key,
            failed_general: ev.failed_general,
            violations: ev.violations.iter().map(Into::into).collect(),
            follow_up: follow_up.to_owned(),
            follow_up_zh: ev.follow_up.label_zh().to_owned(),
            follow_up_text: text,
            follow_up_basis: basis,
            deadline,
            rules_version: ev.rules_version,
            evaluation_json: serde_json::to_string(ev).unwrap_or_default(),
        }
    }
}

/// What the printed record shows besides the record itself.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct PrintInfo {
    /// e.g. `××市市场监督管理局`.
    pub authority: Option<String>,
    pub merchant_name: String,
    pub merchant_licence: Option<String>,
    pub merchant_address: Option<String>,
    pub representative: Option<String>,
    /// In the order of the record's inspectors.
    pub inspector_names: Vec<String>,
    /// The record online (printed).
    pub record_url: String,
    /// An inline `<svg>` QR of `record_url`; left out unless inert.
    pub qr_svg: Option<String>,
}

impl From<PrintInfo> for RecordPrintInfo {
    fn from(p: PrintInfo) -> Self {
        RecordPrintInfo {
            authority: p.authority,
            merchant_name: p.merchant_name,
            merchant_licence: p.merchant_licence,
            merchant_address: p.merchant_address,
            representative: p.representative,
            inspector_names: p.inspector_names,
            record_url: p.record_url,
            qr_svg: p.qr_svg,
        }
    }
}
