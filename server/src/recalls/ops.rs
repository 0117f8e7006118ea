//! The merchant's `recall.confirm` op, pushed from the phone (made offline
//! if need be) and applied inside the sync push transaction, exactly-once
//! with the op log like the complaint ops in `crate::feedback::ops`:
//! `{recall_id, merchant_id, trace_code, held, returned, destroyed}`, the
//! op's `at` the moment of the count.
//!
//! Only the merchant's own account confirms for it. A recall or holder that
//! does not exist, or a count beyond what the holder received (core's
//! `recall::check_confirmation`), is refused; the refusal is kept in the op
//! log with its reason (and on the phone, among its parked ops). Which of
//! several confirmations counts is core's `recall::latest`, re-made by the
//! store over every confirmation kept.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use shian_core::recall::{check_confirmation, parse_confirmation, ConfirmError, CONFIRM_KIND};
use shian_core::sync::protocol::{Op, OpError};

use crate::store::ledger::Caller;
use crate::store::recalls::RecallTx;
use crate::store::StoreError;

/// Whether an op kind is a recall op.
pub fn handles(kind: &str) -> bool {
    kind == CONFIRM_KIND
}

fn refuse(code: &str, message: impl Into<String>, field: Option<&str>) -> OpError {
    OpError {
        code: code.to_owned(),
        message: message.into(),
        field: field.map(str::to_owned),
        retryable: false,
    }
}

fn refused(e: ConfirmError) -> OpError {
    OpError {
        code: e.code.to_owned(),
        message: e.message,
        field: e.field,
        retryable: false,
    }
}

/// Decides one `recall.confirm` inside the push transaction. The outer
/// `Err` is a storage failure (the push fails and the phone retries); the
/// inner one a refusal, after which nothing of the op is stored.
pub fn apply_op(
    tx: &mut dyn RecallTx,
    caller: &Caller,
    op: &Op,
    now: DateTime<Utc>,
) -> Result<Result<Value, OpError>, StoreError> {
    let Some(own) = caller
        .merchant_id
        .as_deref()
        .filter(|_| caller.role == "merchant")
    else {
        return Ok(Err(refuse(
            "forbidden_kind",
            "只有经营户账号可以确认召回",
            Some("kind"),
        )));
    };
    let c = match parse_confirmation(&op.payload, &op.op_id, &op.at, now) {
        Ok(c) => c,
        Err(e) => return Ok(Err(refused(e))),
    };
    if c.merchant_id != own {
        return Ok(Err(refuse(
            "out_of_scope",
            "不能为其他经营户确认召回",
            Some("payload.merchant_id"),
        )));
    }
    let Some(holder) = tx.recall_holder(&c.recall_id, &c.merchant_id, &c.trace_code)? else {
        return Ok(Err(refuse(
            "unknown_recall_holder",
            "该召回不存在，或未涉及本户的这一批次",
            Some("payload.recall_id"),
        )));
    };
    if let Err(e) = check_confirmation(&c, holder.received) {
        return Ok(Err(refused(e)));
    }
    let done = tx.persist_confirmation(&c, now)?;
    Ok(Ok(json!({
        "recall_id": c.recall_id,
        "trace_code": c.trace_code,
        "counted_op_id": done.latest.op_id,
        "held": done.latest.held.to_wire(),
        "returned": done.latest.returned.to_wire(),
        "destroyed": done.latest.destroyed.to_wire(),
        "confirmed_at": done.latest.confirmed_at,
        "recall_status": done.status.as_str(),
        "pending_holders": done.pending,
    })))
}
