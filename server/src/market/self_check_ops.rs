//! The self-inspection ops pushed from a market's tablets (made offline
//! if need be) and applied inside the sync push transaction, exactly-once
//! with the op log like `recall.confirm`:
//!
//! * `market.self_check` `{check_id, market_id, template_id,
//!   template_version, period, answers[], findings[{item_id, note,
//!   follow_up_by}]}`: checked by core's `self_check::check_self_check`
//!   (the same template evaluation as an inspector's `inspection.record`),
//!   kept with its findings (finding id `{check_id}:{item_id}`). A second
//!   check of the same period is kept too; the period counts as done
//!   once. A check id already stored for the market answers with
//!   `already_recorded: true` and stores nothing.
//! * `market.follow_up_closed` `{finding_id, note, photos?}`: closes an
//!   open finding of the caller's market once.
//!
//! Only a market operator of that market (its `scope.markets`) pushes
//! them; a refusal stores nothing of the op.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use shian_core::self_check::{
    check_closure, check_self_check, parse_closure, SelfCheckError, CLOSE_KIND, RECORD_KIND,
};
use shian_core::sync::protocol::{Op, OpError};

use crate::store::ledger::Caller;
use crate::store::self_checks::SelfCheckTx;
use crate::store::StoreError;

/// Whether an op kind is a self-inspection op.
pub fn handles(kind: &str) -> bool {
    kind == RECORD_KIND || kind == CLOSE_KIND
}

fn refuse(code: &str, message: impl Into<String>, field: &str) -> OpError {
    OpError {
        code: code.to_owned(),
        message: message.into(),
        field: Some(field.to_owned()),
        retryable: false,
    }
}

fn refused(e: SelfCheckError) -> OpError {
    OpError {
        code: e.code.to_owned(),
        message: e.message,
        field: e.field,
        retryable: false,
    }
}

/// Decides one self-inspection op inside the push transaction. The outer
/// `Err` is a storage failure (the push fails and the tablet retries); the
/// inner one a refusal, after which nothing of the op is stored.
pub fn apply_op(
    tx: &mut dyn SelfCheckTx,
    caller: &Caller,
    op: &Op,
    now: DateTime<Utc>,
) -> Result<Result<Value, OpError>, StoreError> {
    if caller.role != "market_operator" {
        return Ok(Err(refuse(
            "forbidden_kind",
            "只有市场开办者和食品安全员账号可以记录市场自查",
            "kind",
        )));
    }
    if op.kind == RECORD_KIND {
        record(tx, caller, op, now)
    } else {
        close(tx, caller, op, now)
    }
}

fn record(
    tx: &mut dyn SelfCheckTx,
    caller: &Caller,
    op: &Op,
    now: DateTime<Utc>,
) -> Result<Result<Value, OpError>, StoreError> {
    let c = match check_self_check(&op.payload, &op.at, now) {
        Ok(c) => c,
        Err(e) => return Ok(Err(refused(e))),
    };
    if !caller.markets.contains(&c.market_id) {
        return Ok(Err(refuse(
            "out_of_scope",
            "不能为其他市场记录自查",
            "payload.market_id",
        )));
    }
    if !tx.self_check_market_exists(&c.market_id)? {
        return Ok(Err(refuse(
            "unknown_market",
            "市场未在平台登记",
            "payload.market_id",
        )));
    }
    let check_id = c.check_id.to_string();
    match tx.self_check_market(&check_id)? {
        Some(m) if m == c.market_id => {
            return Ok(Ok(json!({
                "check_id": check_id,
                "already_recorded": true,
            })))
        }
        Some(_) => {
            return Ok(Err(refuse(
                "check_id_taken",
                "该自查编号已被使用",
                "payload.check_id",
            )))
        }
        None => {}
    }
    tx.persist_self_check(&c, &caller.user_id, now)?;
    Ok(Ok(json!({
        "check_id": check_id,
        "cadence": c.cadence,
        "period": c.period,
        "result": c.evaluation.result,
        "failed_key": c.evaluation.failed_key,
        "failed_general": c.evaluation.failed_general,
        "findings": c.findings.iter().map(|f| json!({
            "finding_id": f.finding_id,
            "item_id": f.item_id,
            "follow_up_by": f.follow_up_by,
        })).collect::<Vec<_>>(),
    })))
}

fn close(
    tx: &mut dyn SelfCheckTx,
    caller: &Caller,
    op: &Op,
    now: DateTime<Utc>,
) -> Result<Result<Value, OpError>, StoreError> {
    let c = match parse_closure(&op.payload, &op.at, now) {
        Ok(c) => c,
        Err(e) => return Ok(Err(refused(e))),
    };
    // Another market's finding is answered as unknown: its existence is
    // that market's business.
    let finding = tx
        .finding_for_close(&c.finding_id)?
        .filter(|f| caller.markets.contains(&f.market_id));
    let Some(finding) = finding else {
        return Ok(Err(refuse(
            "unknown_finding",
            "本市场没有这一自查问题",
            "payload.finding_id",
        )));
    };
    if let Err(e) = check_closure(&c, &finding.state) {
        return Ok(Err(refused(e)));
    }
    tx.persist_follow_up_closed(&c, &caller.user_id, now)?;
    Ok(Ok(json!({
        "finding_id": c.finding_id,
        "status": "closed",
        "closed_at": c.at.to_rfc3339(),
    })))
}
