//! The inspectors' complaint ops, pushed from the phone and applied inside
//! the sync push transaction (exactly-once with the op log, like the field
//! ops in `crate::field::ops`):
//!
//! * `complaint.accept` `{complaint_id, decided_at, note?}` (受理);
//! * `complaint.refuse` `{complaint_id, decided_at, reason}` (不予受理);
//! * `complaint.close` `{complaint_id, decided_at, result, note?}`, result
//!   one of `rectified`, `case_opened`, `mediated`, `unfounded`.
//!
//! Only an inspector of the shop's district may act; accept or refuse only
//! a received complaint, close only an accepted one (core's
//! `next_status`). `decided_at` is when the inspector decided on the phone
//! (RFC 3339 with offset): not before the complaint was received, not in
//! the future. The answer and the `complaint.updated` change to the region
//! carry the deadlines and whether the decision was late.

use chrono::{DateTime, FixedOffset, Utc};
use serde::Deserialize;
use serde_json::{json, Value};
use shian_core::complaints::{
    next_status, CloseResult, ComplaintAction, WorkCalendar, NOTE_MAX_CHARS,
};
use shian_core::sync::protocol::{Op, OpError};

use super::china_date;
use super::complaints::view;
use crate::store::feedback::{FeedbackTx, FeedbackWrite, NewComplaintAction};
use crate::store::field::NewChange;
use crate::store::ledger::Caller;
use crate::store::StoreError;
use crate::validate::region_covers;

/// The change kind that tells the district's inspectors a complaint moved.
pub const UPDATED_KIND: &str = "complaint.updated";

/// How far a phone's clock may run ahead of the server's.
const MAX_SKEW_SECS: i64 = 300;

/// Whether an op kind is a complaint op.
pub fn handles(kind: &str) -> bool {
    matches!(
        kind,
        "complaint.accept" | "complaint.refuse" | "complaint.close"
    )
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ActionPayload {
    complaint_id: String,
    decided_at: String,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    result: Option<String>,
    #[serde(default)]
    note: Option<String>,
}

fn refuse(code: &str, message: impl Into<String>, field: Option<&str>) -> OpError {
    OpError {
        code: code.to_owned(),
        message: message.into(),
        field: field.map(str::to_owned),
        retryable: false,
    }
}

/// An optional text of at most [`NOTE_MAX_CHARS`], trimmed; blank is none.
fn note(s: Option<&str>, field: &str) -> Result<Option<String>, OpError> {
    let Some(t) = s.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    if t.chars().count() > NOTE_MAX_CHARS || t.chars().any(|c| c.is_control() && c != '\n') {
        return Err(refuse(
            "invalid_field",
            format!("{field} 最多 {NOTE_MAX_CHARS} 个字，且不能含控制字符"),
            Some(&format!("payload.{field}")),
        ));
    }
    Ok(Some(t.to_owned()))
}

/// Decides one complaint op inside the push transaction. The outer `Err`
/// is a storage failure (the whole push fails and the phone retries); the
/// inner one a refusal, after which nothing of the op is stored.
pub fn apply_op(
    tx: &mut dyn FeedbackTx,
    caller: &Caller,
    op: &Op,
    now: DateTime<Utc>,
) -> Result<Result<Value, OpError>, StoreError> {
    let action = match op.kind.as_str() {
        "complaint.accept" => ComplaintAction::Accept,
        "complaint.refuse" => ComplaintAction::Refuse,
        "complaint.close" => ComplaintAction::Close,
        other => {
            return Ok(Err(refuse(
                "unknown_kind",
                format!("不支持的事件类型 '{other}'"),
                Some("kind"),
            )))
        }
    };
    if caller.role != "inspector" {
        return Ok(Err(refuse(
            "forbidden_kind",
            "只有监管人员账号可以处理投诉",
            Some("kind"),
        )));
    }
    let p: ActionPayload = match serde_json::from_value(op.payload.clone()) {
        Ok(p) => p,
        Err(e) => {
            return Ok(Err(refuse(
                "invalid_payload",
                format!("事件内容格式错误：{e}"),
                Some("payload"),
            )))
        }
    };
    let Some(c) = tx.complaint_for_op(&p.complaint_id)? else {
        return Ok(Err(refuse(
            "unknown_complaint",
            "投诉不存在",
            Some("payload.complaint_id"),
        )));
    };
    if !caller
        .regions
        .iter()
        .any(|r| region_covers(r, &c.region_code))
    {
        // Same answer as an unknown id: another district's complaints are
        // not the caller's to see.
        return Ok(Err(refuse(
            "unknown_complaint",
            "投诉不存在",
            Some("payload.complaint_id"),
        )));
    }
    let Ok(decided_at) = DateTime::<FixedOffset>::parse_from_rfc3339(&p.decided_at) else {
        return Ok(Err(refuse(
            "invalid_timestamp",
            "decided_at 须为带时区偏移的 RFC 3339 时间",
            Some("payload.decided_at"),
        )));
    };
    let decided_utc = decided_at.with_timezone(&Utc);
    if (decided_utc - now).num_seconds() > MAX_SKEW_SECS {
        return Ok(Err(refuse(
            "timestamp_in_future",
            "decided_at 晚于当前时间",
            Some("payload.decided_at"),
        )));
    }
    let decided_on = china_date(decided_utc);
    if decided_on < c.received_on {
        return Ok(Err(refuse(
            "decided_before_received",
            format!("decided_at 早于投诉收到的日期 {}", c.received_on),
            Some("payload.decided_at"),
        )));
    }
    let Some(status) = next_status(c.status, action) else {
        return Ok(Err(refuse(
            "invalid_transition",
            format!(
                "投诉当前状态为 {}，不能执行 {}",
                c.status.as_str(),
                action.as_str()
            ),
            Some("kind"),
        )));
    };
    let detail = match action {
        ComplaintAction::Accept => None,
        ComplaintAction::Refuse => match note(p.reason.as_deref(), "reason") {
            Ok(Some(r)) => Some(r),
            Ok(None) => {
                return Ok(Err(refuse(
                    "missing_field",
                    "不予受理须说明理由 (reason)",
                    Some("payload.reason"),
                )))
            }
            Err(e) => return Ok(Err(e)),
        },
        ComplaintAction::Close => match p.result.as_deref().and_then(CloseResult::parse) {
            Some(r) => Some(r.as_str().to_owned()),
            None => {
                return Ok(Err(refuse(
                    "invalid_field",
                    "result 须为 rectified、case_opened、mediated 或 unfounded",
                    Some("payload.result"),
                )))
            }
        },
    };
    let note = match note(p.note.as_deref(), "note") {
        Ok(n) => n,
        Err(e) => return Ok(Err(e)),
    };
    // The complaint as it will stand, for the deadlines in the answer.
    let mut after = c.clone();
    after.status = status;
    match action {
        ComplaintAction::Accept | ComplaintAction::Refuse => after.decided_on = Some(decided_on),
        ComplaintAction::Close => {
            after.closed_on = Some(decided_on);
            after.result = detail.as_deref().and_then(CloseResult::parse);
        }
    }
    let Ok(cal) = WorkCalendar::builtin() else {
        tracing::error!("built-in holiday calendar does not load");
        return Ok(Err(OpError {
            retryable: true,
            ..refuse("internal_error", "服务器节假日配置错误，请稍后重试", None)
        }));
    };
    let v = view(cal, after, super::today());
    let result = json!({
        "complaint_id": v.id,
        "status": v.status.as_str(),
        "decided_on": decided_on,
        "accept_by": v.accept_by,
        "handle_by": v.handle_by,
        "accept_overdue": v.accept_overdue,
        "handle_overdue": v.handle_overdue,
        "calendar_warning": v.calendar_warning,
    });
    tx.persist_feedback(&[
        FeedbackWrite::Action(NewComplaintAction {
            complaint_id: c.id.clone(),
            action,
            detail,
            note,
            decided_on,
            user_id: caller.user_id.clone(),
        }),
        FeedbackWrite::Publish(NewChange {
            kind: UPDATED_KIND,
            merchant_id: None,
            region_code: Some(c.region_code.clone()),
            user_id: None,
            payload: result.clone(),
        }),
    ])?;
    Ok(Ok(result))
}
