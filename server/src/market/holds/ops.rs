//! The operator's hold ops, applied inside the sync push transaction
//! (exactly-once with the op log, like the recall ops), and what a held
//! batch does to the merchant's ledger ops there. The rules are core's
//! (`shian_core::hold`, `rules::check_hold`).
//!
//! Scope: only an operator of the hold's market places or releases it, on
//! a merchant of that market and a live batch that merchant holds (the
//! ledger graph says whose a trace code is); anything else is refused with
//! a snake_case code and the field, and nothing of it is stored.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use shian_core::error::FieldError;
use shian_core::event::{DisposeMethod, LedgerEvent};
use shian_core::hold::{parse_hold, parse_release, HoldInfo, HoldStatus, PLACE_KIND, RELEASE_KIND};
use shian_core::ledger::{LedgerView, Warning};
use shian_core::quantity::Quantity;
use shian_core::sync::protocol::{Op, OpError};
use shian_core::trace::{MemoryGraph, TraceGraph};
use shian_core::warnings::holds::{HeldFact, HeldSaleFact};

use crate::store::holds::{HoldEnd, HoldsTx, StoredHold};
use crate::store::ledger::Caller;
use crate::store::StoreError;

/// Whether an op kind is a hold op.
pub fn handles(kind: &str) -> bool {
    kind == PLACE_KIND || kind == RELEASE_KIND
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
    refuse(&e.code, e.message, &e.field)
}

/// Decides one hold op. The outer `Err` is a storage failure (the push
/// fails and the tablet retries); the inner one a refusal.
pub fn apply_op(
    tx: &mut dyn HoldsTx,
    graph: &MemoryGraph,
    caller: &Caller,
    op: &Op,
    now: DateTime<Utc>,
) -> Result<Result<Value, OpError>, StoreError> {
    if caller.role != "market_operator" {
        return Ok(Err(refuse(
            "forbidden_kind",
            "只有市场开办者（食品安全员）账号可以暂扣或解除暂扣",
            "kind",
        )));
    }
    if op.kind == PLACE_KIND {
        place(tx, graph, caller, op, now)
    } else {
        release(tx, caller, op, now)
    }
}

fn place(
    tx: &mut dyn HoldsTx,
    graph: &MemoryGraph,
    caller: &Caller,
    op: &Op,
    now: DateTime<Utc>,
) -> Result<Result<Value, OpError>, StoreError> {
    let hold = match parse_hold(&op.payload, &op.at, &caller.user_id, now) {
        Ok(h) => h,
        Err(e) => return Ok(Err(invalid(e))),
    };
    if !caller.markets.contains(&hold.market_id) {
        return Ok(Err(refuse(
            "out_of_scope",
            "只能暂扣本市场经营户的货品",
            "payload.market_id",
        )));
    }
    let merchant = match tx.merchant_brief(&hold.merchant_id)? {
        Some(m) if m.market_id.as_deref() == Some(hold.market_id.as_str()) => m,
        Some(_) => {
            return Ok(Err(refuse(
                "out_of_scope",
                "该经营户不在本市场",
                "payload.merchant_id",
            )))
        }
        None => {
            return Ok(Err(refuse(
                "unknown_merchant",
                "经营户未在平台登记",
                "payload.merchant_id",
            )))
        }
    };
    let Ok(batch) = LedgerView::batch(graph, &hold.trace_code);
    let Some(batch) = batch.filter(|b| b.merchant_id == hold.merchant_id && !b.voided) else {
        return Ok(Err(refuse(
            "not_merchants_batch",
            "该经营户的台账中没有这一追溯码的批次",
            "payload.trace_code",
        )));
    };
    if tx.hold_by_id(&hold.hold_id)?.is_some() {
        return Ok(Err(refuse(
            "hold_exists",
            "该暂扣单编号已被使用",
            "payload.hold_id",
        )));
    }
    if let Some(h) = tx.active_hold(&hold.merchant_id, &hold.trace_code)? {
        return Ok(Err(refuse(
            "already_held",
            format!("该批次已被暂扣（暂扣单 {}）", h.hold.hold_id),
            "payload.trace_code",
        )));
    }
    let product_name = TraceGraph::find(graph, &hold.trace_code)
        .ok()
        .flatten()
        .and_then(|b| TraceGraph::batch(graph, &b).ok())
        .map(|n| n.product_name)
        .unwrap_or_default();
    let on_hand = batch.held();
    let fact = HeldFact {
        hold_id: hold.hold_id.clone(),
        merchant_id: merchant.id.clone(),
        merchant_name: merchant.name.clone(),
        market_id: merchant.market_id.clone(),
        trace_code: hold.trace_code.clone(),
        product_name,
        on_hand: on_hand as f64,
        on_hand_zh: Quantity::new(on_hand, batch.unit).display_zh(),
        reason: hold.reason,
        placed_by: caller.user_id.clone(),
        placed_at: hold.placed_at.with_timezone(&Utc),
        purchase_entry_id: None,
    };
    let stored = tx.persist_hold(&hold, &fact, now)?;
    Ok(Ok(json!({
        "hold_id": stored.hold.hold_id,
        "status": stored.status.as_str(),
        "merchant_id": stored.hold.merchant_id,
        "trace_code": stored.hold.trace_code,
        "on_hand": stored.on_hand_at_hold_zh,
    })))
}

fn release(
    tx: &mut dyn HoldsTx,
    caller: &Caller,
    op: &Op,
    now: DateTime<Utc>,
) -> Result<Result<Value, OpError>, StoreError> {
    let r = match parse_release(&op.payload) {
        Ok(r) => r,
        Err(e) => return Ok(Err(invalid(e))),
    };
    // Another market's hold is answered as unknown: it reveals nothing.
    let Some(h) = tx
        .hold_by_id(&r.hold_id)?
        .filter(|h| caller.markets.contains(&h.hold.market_id))
    else {
        return Ok(Err(refuse(
            "unknown_hold",
            "暂扣单不存在",
            "payload.hold_id",
        )));
    };
    if h.status != HoldStatus::Active {
        return Ok(Err(refuse(
            "hold_not_active",
            format!("该暂扣已结束（{}）", h.status.as_str()),
            "payload.hold_id",
        )));
    }
    let end = HoldEnd::Released {
        note: r.note,
        by: caller.user_id.clone(),
    };
    let ended = tx.end_hold(&h.hold.hold_id, &end, now)?;
    Ok(Ok(json!({
        "hold_id": ended.hold.hold_id,
        "status": ended.status.as_str(),
    })))
}

/// The hold in force on the batch a sale or disposal moves, if any.
pub fn hold_on(tx: &dyn HoldsTx, event: &LedgerEvent) -> Result<Option<StoredHold>, StoreError> {
    match event {
        LedgerEvent::Sale(s) => tx.active_hold(&s.merchant_id, &s.trace_code),
        LedgerEvent::Dispose(d) => tx.active_hold(&d.merchant_id, &d.trace_code),
        _ => Ok(None),
    }
}

/// What the rules are told of a hold: whether the pushing device had it,
/// by its pull cursor's change position (`None`: it sent none).
pub fn info(h: &StoredHold, pulled: Option<i64>) -> HoldInfo {
    h.hold.info(pulled.is_some_and(|p| p >= h.change_seq))
}

/// After a ledger event of a held batch was admitted and stored: a sale
/// kept with `held_batch_sold` raises that alert; a destruction that
/// leaves nothing of the batch on hand ends the hold as destroyed (a part
/// destroyed leaves the rest held).
pub fn after_admit(
    tx: &mut dyn HoldsTx,
    graph: &MemoryGraph,
    h: &StoredHold,
    event: &LedgerEvent,
    warnings: &[Warning],
    caller: &Caller,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    match event {
        LedgerEvent::Sale(s) if warnings.iter().any(|w| w.code == "held_batch_sold") => {
            let fact = HeldSaleFact {
                hold_id: h.hold.hold_id.clone(),
                merchant_id: s.merchant_id.clone(),
                merchant_name: h.merchant_name.clone(),
                market_id: Some(h.hold.market_id.clone()),
                trace_code: s.trace_code.clone(),
                sale_entry_id: s.entry_id.to_string(),
                sold_zh: s.quantity.display_zh(),
                sold_at: s.sold_at.with_timezone(&Utc),
            };
            tx.raise_held_sale(&fact, now)
        }
        LedgerEvent::Dispose(d) if d.method == DisposeMethod::Destroyed => {
            let Ok(batch) = LedgerView::batch(graph, &d.trace_code);
            if batch.is_some_and(|b| b.held() > 0) {
                return Ok(());
            }
            let end = HoldEnd::Destroyed {
                dispose_entry_id: d.entry_id.to_string(),
                merchant_user_id: caller.user_id.clone(),
                witness: d.witness.clone(),
                photos: d.photos.clone(),
                reason: d.reason.clone(),
            };
            tx.end_hold(&h.hold.hold_id, &end, now).map(|_| ())
        }
        _ => Ok(()),
    }
}
