//! Field inspection rules (issue 5): checklists, on-device evaluation, the
//! `inspection.record` and `sample.record` events, the printable record, risk
//! grades and the double random draw.
//!
//! Everything here is pure (no I/O, no clock: `now` is a parameter), so the
//! phone offline and the server re-checking a pushed event reach the same
//! verdict with the same code (Xiamen's 自动定性、自动评定、自动开具文书). The
//! numbers the rules use are versioned data in `core/data/`:
//!
//! * `checklists/*.json`: checklist templates ([`checklist`]);
//! * `rules/inspection-v1.json`: result thresholds ([`evaluate`]);
//! * `rules/sample-v1.json`: rapid-test thresholds ([`sample`]);
//! * `rules/risk-v1.json`: risk grading weights and cut-offs ([`risk`]).

pub mod checklist;
pub mod draw;
pub mod error;
pub mod evaluate;
pub mod record;
pub mod risk;
pub mod sample;

pub use checklist::{
    parse_template, AnswerType, ChecklistItem, ItemKind, Template, TemplateRegistry,
};
pub use draw::{draw, DrawConflict, DrawInput, DrawMerchant, DrawOutput, DrawQuota, DrawTask};
pub use error::{ErrorBody, InspectionError};
pub use evaluate::{
    classify, evaluate, Answer, Evaluation, FollowUp, InspectionResult, InspectionRules,
    TemplateOverride, Violation,
};
pub use record::{
    check_inspection_record, parse_inspection_record, render_record_html, CheckedInspection,
    InspectionRecord, InspectionRecordPayload, Location, RecordContext, RecordPrintInfo,
};
pub use risk::{
    BusinessType, CategorySet, FactFlag, FlagSet, LedgerBase, LedgerFacts, LedgerRates,
    LedgerWarningKind, LedgerWeight, MerchantFacts, RiskAssessment, RiskGrade, RiskGrader,
    RiskRules,
};
pub use sample::{
    check_sample_record, confirm_rapid_test, evaluate_sample, parse_sample_record, RecallProposal,
    SampleEvaluation, SampleMethod, SampleOutcome, SampleRecord, SampleRecordPayload, SampleRules,
};

use chrono::{DateTime, FixedOffset, Offset, Utc};

/// China Standard Time (UTC+8, no daylight saving): dates on records and
/// deadlines are local dates in China (DESIGN.md: Asia/Shanghai on screens).
pub(crate) fn china_offset() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).unwrap_or_else(|| Utc.fix())
}

/// Parses an RFC 3339 timestamp that carries its offset (`Z` or `±hh:mm`);
/// anything else is `invalid_timestamp` on `field`.
pub(crate) fn parse_timestamp(
    field: &str,
    s: &str,
) -> Result<DateTime<FixedOffset>, InspectionError> {
    DateTime::parse_from_rfc3339(s.trim()).map_err(|_| InspectionError::InvalidTimestamp {
        field: field.to_string(),
        value: s.chars().take(64).collect(),
    })
}

/// Rejects a timestamp more than `max_skew_seconds` ahead of `now`.
pub(crate) fn not_in_future(
    field: &str,
    t: DateTime<FixedOffset>,
    now: DateTime<Utc>,
    max_skew_seconds: i64,
) -> Result<(), InspectionError> {
    if t.with_timezone(&Utc) - now > chrono::TimeDelta::seconds(max_skew_seconds) {
        return Err(InspectionError::TimestampInFuture {
            field: field.to_string(),
            max_skew_seconds,
        });
    }
    Ok(())
}

/// Checks a free-text id field (merchant, user): non-empty, at most 128
/// characters, no control characters.
pub(crate) fn check_id(field: &str, s: &str) -> Result<(), InspectionError> {
    if s.trim().is_empty() {
        return Err(InspectionError::MissingField {
            field: field.to_string(),
        });
    }
    if s.chars().count() > 128 || s.chars().any(char::is_control) {
        return Err(InspectionError::InvalidField {
            field: field.to_string(),
            reason: "编号不能超过 128 个字符且不能包含控制字符".into(),
        });
    }
    Ok(())
}

/// Parses a UUID field; the nil UUID is not an id.
pub(crate) fn parse_uuid(field: &str, s: &str) -> Result<uuid::Uuid, InspectionError> {
    match uuid::Uuid::parse_str(s.trim()) {
        Ok(u) if !u.is_nil() => Ok(u),
        _ => Err(InspectionError::InvalidUuid {
            field: field.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_need_an_offset() {
        assert!(parse_timestamp("t", "2024-05-20T10:00:00+08:00").is_ok());
        assert!(parse_timestamp("t", "2024-05-20T02:00:00Z").is_ok());
        for bad in [
            "2024-05-20T10:00:00",
            "2024-05-20",
            "yesterday",
            "",
            "2024-13-01T00:00:00Z",
        ] {
            let e = parse_timestamp("started_at", bad).err();
            assert_eq!(
                e.as_ref().map(|e| e.code()),
                Some("invalid_timestamp"),
                "{bad}"
            );
            assert_eq!(e.as_ref().and_then(|e| e.field()), Some("started_at"));
        }
    }

    #[test]
    fn future_skew_is_five_minutes() {
        let now = parse_timestamp("t", "2024-05-20T10:00:00+08:00").map(|d| d.with_timezone(&Utc));
        let Ok(now) = now else { panic!() };
        let ok = parse_timestamp("t", "2024-05-20T10:05:00+08:00");
        let late = parse_timestamp("t", "2024-05-20T10:05:01+08:00");
        let (Ok(ok), Ok(late)) = (ok, late) else {
            panic!()
        };
        assert!(not_in_future("finished_at", ok, now, 300).is_ok());
        assert_eq!(
            not_in_future("finished_at", late, now, 300)
                .err()
                .map(|e| e.code()),
            Some("timestamp_in_future")
        );
    }
}
