//! The merchant's `staff.upsert` and `staff.remove` ops, pushed from its
//! phone (made offline if need be) and applied inside the sync push
//! transaction, exactly-once with the op log like `crate::recalls::ops`:
//! `staff.upsert` carries a worker (core's `staff::parse_worker`),
//! `staff.remove` `{staff_id, merchant_id}`.
//!
//! Only the merchant's own account records its staff. A worker that does
//! not parse, one of another merchant, or a staff id that is another
//! merchant's worker is refused with the field at fault; nothing of a
//! refused op is stored. The same record pushed again is accepted as
//! `unchanged` (nothing written), a removal of someone not recorded as
//! `absent`.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use shian_core::error::FieldError;
use shian_core::staff::{parse_removal, parse_worker, REMOVE_KIND, UPSERT_KIND};
use shian_core::sync::protocol::{Op, OpError};

use crate::store::ledger::Caller;
use crate::store::staff::{StaffTx, Upserted};
use crate::store::StoreError;

/// Whether an op kind is a staff op.
pub fn handles(kind: &str) -> bool {
    kind == UPSERT_KIND || kind == REMOVE_KIND
}

fn refuse(code: &str, message: impl Into<String>, field: &str) -> OpError {
    OpError {
        code: code.to_owned(),
        message: message.into(),
        field: Some(field.to_owned()),
        retryable: false,
    }
}

fn invalid(e: FieldError) -> OpError {
    OpError {
        code: e.code,
        message: e.message,
        field: Some(e.field),
        retryable: false,
    }
}

/// Decides one staff op inside the push transaction. The outer `Err` is a
/// storage failure (the push fails and the phone retries); the inner one a
/// refusal, after which nothing of the op is stored.
pub fn apply_op(
    tx: &mut dyn StaffTx,
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
            "只有经营户账号可以登记从业人员",
            "kind",
        )));
    };
    if op.kind == UPSERT_KIND {
        let w = match parse_worker(&op.payload, "payload") {
            Ok(w) => w,
            Err(e) => return Ok(Err(invalid(e))),
        };
        if w.merchant_id != own {
            return Ok(Err(refuse(
                "out_of_scope",
                "不能为其他经营户登记从业人员",
                "payload.merchant_id",
            )));
        }
        let outcome = match tx.upsert_worker_in(&w, &caller.user_id, now)? {
            Upserted::Created => "created",
            Upserted::Changed => "changed",
            Upserted::Unchanged => "unchanged",
            Upserted::IdTaken => {
                return Ok(Err(refuse(
                    "staff_id_taken",
                    "该人员编号已属于其他经营户",
                    "payload.staff_id",
                )))
            }
        };
        return Ok(Ok(json!({
            "staff_id": w.staff_id,
            "merchant_id": w.merchant_id,
            "outcome": outcome,
        })));
    }
    let r = match parse_removal(&op.payload, "payload") {
        Ok(r) => r,
        Err(e) => return Ok(Err(invalid(e))),
    };
    if r.merchant_id != own {
        return Ok(Err(refuse(
            "out_of_scope",
            "不能为其他经营户删除从业人员",
            "payload.merchant_id",
        )));
    }
    let removed = tx.remove_worker_in(&r, &caller.user_id, now)?;
    Ok(Ok(json!({
        "staff_id": r.staff_id,
        "merchant_id": r.merchant_id,
        "outcome": if removed { "removed" } else { "absent" },
    })))
}
