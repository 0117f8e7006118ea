//! Rapid tests and supervisory sampling: the `sample.record` event and its
//! evaluation.
//!
//! A rapid test (快速检测) screens; only a laboratory method confirms. The
//! enzyme-inhibition pesticide test (GB/T 5009.199-2003) reads ≥ 50 %
//! inhibition as positive, to be confirmed by GC/LC (regulation.md §7); readings
//! of 40–50 % miss about a quarter of real positives, so they are flagged for a
//! re-test. A rapid positive alone never starts a penalty (re-test rights,
//! 《食品安全法》第八十八条): only a lab result over its limit — on its own
//! (监督抽检) or confirming a rapid test (`confirms`) — counts as a failure and
//! proposes a recall of the batch (《食品安全法》第六十三条; 《食品召回管理办法》).
//! Thresholds are in `core/data/rules/sample-v1.json`.

use std::sync::OnceLock;

use chrono::{DateTime, FixedOffset, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::error::{config_error, InspectionError};
use super::{check_id, not_in_future, parse_timestamp, parse_uuid};

/// Rapid screening or laboratory method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SampleMethod {
    /// 快速检测 (enzyme inhibition, test strips): screens only.
    Rapid,
    /// 实验室检测 (GC, LC-MS/MS, …): confirms.
    Lab,
}

/// The outcome of a sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SampleOutcome {
    /// 合格 / 阴性.
    Pass,
    /// 预警: in the enzyme test's 40–50 % band; re-test advised.
    Flagged,
    /// 快检阳性，待确证: not a failure yet.
    PositiveUnconfirmed,
    /// 实验室检测不合格: a failure; recall proposed.
    FailedConfirmed,
}

impl SampleOutcome {
    /// zh-CN label.
    pub fn label_zh(self) -> &'static str {
        match self {
            SampleOutcome::Pass => "合格",
            SampleOutcome::Flagged => "预警",
            SampleOutcome::PositiveUnconfirmed => "快检阳性（待确证）",
            SampleOutcome::FailedConfirmed => "不合格（已确证）",
        }
    }
}

/// The enzyme-inhibition rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnzymeInhibitionRule {
    /// `item` values that mean this test.
    pub item_codes: Vec<String>,
    /// `"%"`.
    pub unit: String,
    /// 50 (GB/T 5009.199-2003).
    pub positive_at_or_above_percent: f64,
    /// 40 (pre-screen proposed by the false-negative study, regulation.md §7).
    pub flag_at_or_above_percent: f64,
}

/// Versioned sample rules (`sample-v1.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SampleRules {
    /// `"sample"`.
    pub id: String,
    pub version: u32,
    #[serde(default)]
    pub source: String,
    pub enzyme_inhibition: EnzymeInhibitionRule,
    pub max_future_skew_seconds: i64,
}

impl SampleRules {
    /// Parses and validates a rules file.
    pub fn from_json(json: &str) -> Result<Self, InspectionError> {
        let r: SampleRules =
            serde_json::from_str(json).map_err(|e| config_error("sample", "", e.to_string()))?;
        let ei = &r.enzyme_inhibition;
        if r.id != "sample" || r.version == 0 {
            return Err(config_error("sample", "id", "须为 sample，版本号从 1 开始"));
        }
        let ok = |x: f64| x.is_finite() && (0.0..=100.0).contains(&x);
        if !ok(ei.positive_at_or_above_percent)
            || !ok(ei.flag_at_or_above_percent)
            || ei.flag_at_or_above_percent > ei.positive_at_or_above_percent
        {
            return Err(config_error(
                "sample",
                "enzyme_inhibition",
                "须 0 ≤ 预警阈值 ≤ 阳性阈值 ≤ 100",
            ));
        }
        if ei.item_codes.is_empty() {
            return Err(config_error(
                "sample",
                "enzyme_inhibition.item_codes",
                "不能为空",
            ));
        }
        if !(0..=86_400).contains(&r.max_future_skew_seconds) {
            return Err(config_error(
                "sample",
                "max_future_skew_seconds",
                "须为 0–86400 秒",
            ));
        }
        Ok(r)
    }

    /// The built-in rules, parsed once.
    pub fn builtin() -> Result<&'static SampleRules, InspectionError> {
        static RULES: OnceLock<Result<SampleRules, InspectionError>> = OnceLock::new();
        RULES
            .get_or_init(|| SampleRules::from_json(include_str!("../../data/rules/sample-v1.json")))
            .as_ref()
            .map_err(Clone::clone)
    }

    fn is_enzyme_item(&self, item: &str) -> bool {
        self.enzyme_inhibition
            .item_codes
            .iter()
            .any(|c| c == item.trim())
    }
}

/// The `sample.record` payload as it arrives.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SampleRecordPayload {
    pub sample_id: String,
    pub merchant_id: String,
    /// The batch sampled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_code: Option<String>,
    /// What was tested, e.g. `pesticide_enzyme_inhibition`, `克伦特罗`, `毒死蜱`.
    pub item: String,
    pub method: SampleMethod,
    pub value: f64,
    pub unit: String,
    /// The maximum allowed (value ≤ limit passes). For the enzyme test the
    /// configured thresholds decide; `limit` is kept as recorded.
    pub limit: f64,
    pub taken_at: String,
    /// For a lab result: the `sample_id` of the rapid test it confirms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirms: Option<String>,
}

/// A validated sample record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SampleRecord {
    pub sample_id: Uuid,
    pub merchant_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_code: Option<String>,
    pub item: String,
    pub method: SampleMethod,
    pub value: f64,
    pub unit: String,
    pub limit: f64,
    pub taken_at: DateTime<FixedOffset>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirms: Option<Uuid>,
}

/// A proposed recall of the sampled batch (an analyst decides the level:
/// 《食品召回管理办法》 levels depend on the harm).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecallProposal {
    pub merchant_id: String,
    /// The batch; `None` when the sample named none (the server must find it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_code: Option<String>,
    /// The lab sample that failed.
    pub sample_id: Uuid,
    pub reason: String,
    pub basis: String,
}

/// The evaluated sample.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SampleEvaluation {
    pub outcome: SampleOutcome,
    /// Only a lab-confirmed failure is a failure (warnings, risk grade, public
    /// record).
    pub counts_as_failure: bool,
    /// A rapid positive waiting for a lab result.
    pub needs_confirmation: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recall: Option<RecallProposal>,
    /// zh-CN one-liner for the screen.
    pub summary: String,
    /// `sample` rules version used.
    pub rules_version: u32,
}

/// Parses and checks a `sample.record` payload from JSON.
pub fn parse_sample_record(
    json: &str,
    now: DateTime<Utc>,
    rules: &SampleRules,
) -> Result<SampleRecord, InspectionError> {
    let p: SampleRecordPayload =
        serde_json::from_str(json).map_err(|e| InspectionError::InvalidJson {
            message: e.to_string(),
        })?;
    check_sample_record(p, now, rules)
}

/// Checks a `sample.record` payload.
pub fn check_sample_record(
    p: SampleRecordPayload,
    now: DateTime<Utc>,
    rules: &SampleRules,
) -> Result<SampleRecord, InspectionError> {
    let sample_id = parse_uuid("sample_id", &p.sample_id)?;
    check_id("merchant_id", &p.merchant_id)?;
    if let Some(tc) = &p.trace_code {
        let ok = !tc.is_empty()
            && tc.len() <= 64
            && tc
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !ok {
            return Err(InspectionError::InvalidField {
                field: "trace_code".into(),
                reason: "追溯码格式无效".into(),
            });
        }
    }
    check_id("item", &p.item)?;
    check_id("unit", &p.unit)?;
    if !p.value.is_finite() || p.value < 0.0 {
        return Err(InspectionError::InvalidField {
            field: "value".into(),
            reason: "检测值须为非负有限数".into(),
        });
    }
    if !p.limit.is_finite() || p.limit < 0.0 {
        return Err(InspectionError::InvalidField {
            field: "limit".into(),
            reason: "限量值须为非负有限数".into(),
        });
    }
    let taken_at = parse_timestamp("taken_at", &p.taken_at)?;
    not_in_future("taken_at", taken_at, now, rules.max_future_skew_seconds)?;

    if rules.is_enzyme_item(&p.item) {
        if p.method != SampleMethod::Rapid {
            return Err(InspectionError::InvalidField {
                field: "method".into(),
                reason: "酶抑制率法属于快速检测，不能作为实验室确证方法".into(),
            });
        }
        if p.unit.trim() != rules.enzyme_inhibition.unit {
            return Err(InspectionError::InvalidField {
                field: "unit".into(),
                reason: format!("酶抑制率的单位须为 {}", rules.enzyme_inhibition.unit),
            });
        }
        if p.value > 100.0 {
            return Err(InspectionError::InvalidField {
                field: "value".into(),
                reason: "抑制率不能超过 100%".into(),
            });
        }
    }
    let confirms = match &p.confirms {
        None => None,
        Some(c) => {
            if p.method != SampleMethod::Lab {
                return Err(InspectionError::InvalidField {
                    field: "confirms".into(),
                    reason: "只有实验室检测结果可以确证快检结果".into(),
                });
            }
            let u = parse_uuid("confirms", c)?;
            if u == sample_id {
                return Err(InspectionError::InvalidField {
                    field: "confirms".into(),
                    reason: "不能确证自身".into(),
                });
            }
            Some(u)
        }
    };
    Ok(SampleRecord {
        sample_id,
        merchant_id: p.merchant_id,
        trace_code: p.trace_code,
        item: p.item.trim().to_string(),
        method: p.method,
        value: p.value,
        unit: p.unit.trim().to_string(),
        limit: p.limit,
        taken_at,
        confirms,
    })
}

/// Evaluates one sample on its own.
pub fn evaluate_sample(rec: &SampleRecord, rules: &SampleRules) -> SampleEvaluation {
    let mk = |outcome: SampleOutcome, summary: String, recall: Option<RecallProposal>| {
        SampleEvaluation {
            outcome,
            counts_as_failure: outcome == SampleOutcome::FailedConfirmed,
            needs_confirmation: outcome == SampleOutcome::PositiveUnconfirmed,
            recall,
            summary,
            rules_version: rules.version,
        }
    };
    let ei = &rules.enzyme_inhibition;
    if rec.method == SampleMethod::Rapid && rules.is_enzyme_item(&rec.item) {
        let v = rec.value;
        return if v >= ei.positive_at_or_above_percent {
            mk(
                SampleOutcome::PositiveUnconfirmed,
                format!(
                    "抑制率 {v}% ≥ {}%，快检阳性：暂停销售该批次并送实验室（气相/液相色谱法）确证",
                    ei.positive_at_or_above_percent
                ),
                None,
            )
        } else if v >= ei.flag_at_or_above_percent {
            mk(
                SampleOutcome::Flagged,
                format!(
                    "抑制率 {v}% 处于 {}%–{}% 预警区间（假阴性风险较高），建议复检或送实验室检测",
                    ei.flag_at_or_above_percent, ei.positive_at_or_above_percent
                ),
                None,
            )
        } else {
            mk(
                SampleOutcome::Pass,
                format!("抑制率 {v}% < {}%，阴性", ei.flag_at_or_above_percent),
                None,
            )
        };
    }
    let over = rec.value > rec.limit;
    match (rec.method, over) {
        (_, false) => mk(
            SampleOutcome::Pass,
            format!(
                "{}：{} {}，不超过限量 {} {}，合格",
                rec.item, rec.value, rec.unit, rec.limit, rec.unit
            ),
            None,
        ),
        (SampleMethod::Rapid, true) => mk(
            SampleOutcome::PositiveUnconfirmed,
            format!(
                "{}：快检 {} {} 超过 {} {}，快检阳性：暂停销售该批次并送实验室确证",
                rec.item, rec.value, rec.unit, rec.limit, rec.unit
            ),
            None,
        ),
        (SampleMethod::Lab, true) => {
            let reason = format!(
                "{}：实验室检测值 {} {} 超过限量 {} {}，不合格",
                rec.item, rec.value, rec.unit, rec.limit, rec.unit
            );
            let recall = RecallProposal {
                merchant_id: rec.merchant_id.clone(),
                trace_code: rec.trace_code.clone(),
                sample_id: rec.sample_id,
                reason: format!("{reason}；建议对该批次启动召回并公开抽检结果"),
                basis: "《食品安全法》第六十三条；《食品召回管理办法》".into(),
            };
            mk(SampleOutcome::FailedConfirmed, reason, Some(recall))
        }
    }
}

/// Evaluates a lab result that confirms a rapid test: the link must hold
/// (`lab.confirms` is the rapid test's id, same merchant, same batch if both
/// name one). A failed lab result is a confirmed failure of the rapid test's
/// batch; a passed one clears the rapid positive.
pub fn confirm_rapid_test(
    rapid: &SampleRecord,
    lab: &SampleRecord,
    rules: &SampleRules,
) -> Result<SampleEvaluation, InspectionError> {
    let mismatch = |field: &str, reason: &str| InspectionError::ConfirmationMismatch {
        field: field.to_string(),
        reason: reason.to_string(),
    };
    if lab.method != SampleMethod::Lab {
        return Err(mismatch("method", "确证结果必须是实验室检测"));
    }
    if rapid.method != SampleMethod::Rapid {
        return Err(mismatch("confirms", "被确证的记录不是快速检测"));
    }
    if lab.confirms != Some(rapid.sample_id) {
        return Err(mismatch("confirms", "确证记录未指向该快检记录"));
    }
    if lab.merchant_id != rapid.merchant_id {
        return Err(mismatch("merchant_id", "经营者不一致"));
    }
    if let (Some(a), Some(b)) = (&lab.trace_code, &rapid.trace_code) {
        if a != b {
            return Err(mismatch("trace_code", "批次追溯码不一致"));
        }
    }
    let mut ev = evaluate_sample(lab, rules);
    if let Some(r) = ev.recall.as_mut() {
        if r.trace_code.is_none() {
            r.trace_code = rapid.trace_code.clone();
        }
    }
    ev.summary = match ev.outcome {
        SampleOutcome::FailedConfirmed => format!("快检阳性经实验室确证：{}", ev.summary),
        _ => format!("快检结果未获实验室确证，按合格处理：{}", ev.summary),
    };
    Ok(ev)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> &'static SampleRules {
        match SampleRules::builtin() {
            Ok(r) => r,
            Err(e) => panic!("{e}"),
        }
    }

    fn now() -> DateTime<Utc> {
        match DateTime::parse_from_rfc3339("2024-05-20T10:00:00+08:00") {
            Ok(d) => d.with_timezone(&Utc),
            Err(e) => panic!("{e}"),
        }
    }

    fn rapid(value: f64) -> SampleRecordPayload {
        SampleRecordPayload {
            sample_id: "01900000-0000-7000-8000-00000000000a".into(),
            merchant_id: "m-1".into(),
            trace_code: Some("7K3M9QX2HD4RT8WB".into()),
            item: "pesticide_enzyme_inhibition".into(),
            method: SampleMethod::Rapid,
            value,
            unit: "%".into(),
            limit: 50.0,
            taken_at: "2024-05-20T09:30:00+08:00".into(),
            confirms: None,
        }
    }

    fn lab(value: f64) -> SampleRecordPayload {
        SampleRecordPayload {
            sample_id: "01900000-0000-7000-8000-00000000000b".into(),
            merchant_id: "m-1".into(),
            trace_code: None,
            item: "毒死蜱".into(),
            method: SampleMethod::Lab,
            value,
            unit: "mg/kg".into(),
            limit: 0.02,
            taken_at: "2024-05-20T09:40:00+08:00".into(),
            confirms: Some("01900000-0000-7000-8000-00000000000a".into()),
        }
    }

    fn rec(p: SampleRecordPayload) -> SampleRecord {
        match check_sample_record(p, now(), rules()) {
            Ok(r) => r,
            Err(e) => panic!("{e}"),
        }
    }

    fn outcome(v: f64) -> SampleOutcome {
        evaluate_sample(&rec(rapid(v)), rules()).outcome
    }

    #[test]
    fn enzyme_boundaries() {
        assert_eq!(outcome(0.0), SampleOutcome::Pass);
        assert_eq!(outcome(39.9), SampleOutcome::Pass);
        assert_eq!(outcome(40.0), SampleOutcome::Flagged);
        assert_eq!(outcome(49.9), SampleOutcome::Flagged);
        assert_eq!(outcome(50.0), SampleOutcome::PositiveUnconfirmed);
        assert_eq!(outcome(100.0), SampleOutcome::PositiveUnconfirmed);
        let ev = evaluate_sample(&rec(rapid(50.0)), rules());
        assert!(ev.needs_confirmation && !ev.counts_as_failure && ev.recall.is_none());
    }

    #[test]
    fn thresholds_are_configurable() {
        let mut r = rules().clone();
        r.enzyme_inhibition.positive_at_or_above_percent = 45.0;
        let ev = evaluate_sample(&rec(rapid(46.0)), &r);
        assert_eq!(ev.outcome, SampleOutcome::PositiveUnconfirmed);
        let mut bad = serde_json::to_value(rules()).unwrap_or_default();
        bad["enzyme_inhibition"]["flag_at_or_above_percent"] = serde_json::json!(60.0);
        assert!(SampleRules::from_json(&bad.to_string()).is_err());
    }

    #[test]
    fn lab_confirmation_fails_the_batch_and_proposes_recall() {
        let r = rec(rapid(62.0));
        let l = rec(lab(0.3));
        let ev = confirm_rapid_test(&r, &l, rules());
        let Ok(ev) = ev else { panic!("{ev:?}") };
        assert_eq!(ev.outcome, SampleOutcome::FailedConfirmed);
        assert!(ev.counts_as_failure);
        let recall = ev.recall.as_ref();
        // The lab record named no batch: the rapid test's batch is recalled.
        assert_eq!(
            recall.and_then(|r| r.trace_code.as_deref()),
            Some("7K3M9QX2HD4RT8WB")
        );
        assert_eq!(recall.map(|r| r.sample_id), Some(l.sample_id));

        let ok = confirm_rapid_test(&r, &rec(lab(0.02)), rules());
        assert_eq!(
            ok.as_ref().map(|e| e.outcome).ok(),
            Some(SampleOutcome::Pass)
        );
        assert_eq!(ok.map(|e| e.counts_as_failure).ok(), Some(false));
    }

    #[test]
    fn confirmation_link_is_checked() {
        let r = rec(rapid(62.0));
        let mut p = lab(0.3);
        p.confirms = Some("01900000-0000-7000-8000-0000000000ff".into());
        assert_eq!(
            confirm_rapid_test(&r, &rec(p), rules())
                .err()
                .map(|e| e.code()),
            Some("confirmation_mismatch")
        );
        let mut p = lab(0.3);
        p.merchant_id = "m-2".into();
        assert_eq!(
            confirm_rapid_test(&r, &rec(p), rules())
                .err()
                .and_then(|e| e.field().map(str::to_string)),
            Some("merchant_id".into())
        );
        let mut p = lab(0.3);
        p.trace_code = Some("OTHERBATCH000000".into());
        assert!(confirm_rapid_test(&r, &rec(p), rules()).is_err());
    }

    #[test]
    fn only_lab_failures_count() {
        let mut p = rapid(0.0);
        p.item = "克伦特罗".into();
        p.unit = "μg/kg".into();
        p.value = 3.0;
        p.limit = 0.5;
        let ev = evaluate_sample(&rec(p), rules());
        assert_eq!(ev.outcome, SampleOutcome::PositiveUnconfirmed);
        assert!(!ev.counts_as_failure);

        let mut p = lab(0.3);
        p.confirms = None; // supervisory sampling on its own
        p.trace_code = Some("7K3M9QX2HD4RT8WB".into());
        let ev = evaluate_sample(&rec(p), rules());
        assert_eq!(ev.outcome, SampleOutcome::FailedConfirmed);
        assert!(ev.recall.is_some());
        // value == limit passes (limits are maxima).
        let ev = evaluate_sample(&rec(lab(0.02)), rules());
        assert_eq!(ev.outcome, SampleOutcome::Pass);
    }

    #[test]
    fn payload_validation() {
        let err = |p: SampleRecordPayload| {
            check_sample_record(p, now(), rules())
                .err()
                .map(|e| (e.code(), e.field().map(str::to_string)))
        };
        let mut p = rapid(10.0);
        p.method = SampleMethod::Lab;
        assert_eq!(err(p), Some(("invalid_field", Some("method".into()))));
        let mut p = rapid(10.0);
        p.confirms = Some("01900000-0000-7000-8000-00000000000b".into());
        assert_eq!(err(p), Some(("invalid_field", Some("confirms".into()))));
        assert_eq!(
            err(rapid(100.5)),
            Some(("invalid_field", Some("value".into())))
        );
        assert_eq!(
            err(rapid(-1.0)),
            Some(("invalid_field", Some("value".into())))
        );
        let mut p = rapid(10.0);
        p.taken_at = "2024-05-20T10:05:01+08:00".into();
        assert_eq!(
            err(p),
            Some(("timestamp_in_future", Some("taken_at".into())))
        );
        let mut p = rapid(10.0);
        p.taken_at = "20/05/2024".into();
        assert_eq!(err(p), Some(("invalid_timestamp", Some("taken_at".into()))));
        let mut p = lab(1.0);
        p.confirms = Some(p.sample_id.clone());
        assert_eq!(err(p), Some(("invalid_field", Some("confirms".into()))));
        assert!(parse_sample_record("[]", now(), rules()).is_err());
    }
}
