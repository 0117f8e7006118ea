//! The `market.entry_check` op, applied inside the sync push transaction
//! (exactly-once with the op log, and by `check_id`), and the hook that
//! links a purchase arriving after its check.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use shian_core::entry_check::{judge, nearest, EntryCheck, KIND};
use shian_core::error::FieldError;
use shian_core::event::LedgerEvent;
use shian_core::rules::LedgerRules;
use shian_core::sync::protocol::{Op, OpError};
use shian_core::warnings::entry::EntryThresholds;

use crate::store::entry_checks::EntryCheckTx;
use crate::store::ledger::Caller;
use crate::store::StoreError;

/// Whether an op kind is an entry check.
pub fn handles(kind: &str) -> bool {
    kind == KIND
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

/// Decides one `market.entry_check` by the ledger rules the push runs
/// under (the certificate groups of `serve --rules`). The outer `Err` is a storage failure
/// (the push fails and the tablet retries); the inner one a refusal, after
/// which nothing of the op is stored.
pub fn apply_op(
    tx: &mut dyn EntryCheckTx,
    caller: &Caller,
    op: &Op,
    rules: &LedgerRules,
    now: DateTime<Utc>,
) -> Result<Result<Value, OpError>, StoreError> {
    if caller.role != "market_operator" {
        return Ok(Err(refuse(
            "forbidden_kind",
            "只有市场开办者或食品安全员账号可以记录入场查验",
            "kind",
        )));
    }
    let check = match EntryCheck::parse(&op.payload) {
        Ok(c) => c,
        Err(e) => return Ok(Err(invalid(e))),
    };
    if !caller.markets.contains(&check.market_id) {
        return Ok(Err(refuse(
            "out_of_scope",
            "不能为其他市场记录入场查验",
            "market_id",
        )));
    }
    let check_id = check.check_id.to_string();
    if let Some((market, answer)) = tx.check_answer(&check_id)? {
        // The same check again (a retry from another op): its first answer.
        if market == check.market_id {
            return Ok(Ok(answer));
        }
        return Ok(Err(refuse(
            "check_id_taken",
            "check_id 已被其他市场的查验使用",
            "check_id",
        )));
    }
    match tx.merchant_market(&check.merchant_id)? {
        None => {
            return Ok(Err(refuse(
                "unknown_merchant",
                "经营户未在平台登记",
                "merchant_id",
            )))
        }
        Some(m) if m.as_deref() != Some(check.market_id.as_str()) => {
            return Ok(Err(refuse(
                "merchant_not_in_market",
                "该经营户不在本市场",
                "merchant_id",
            )))
        }
        Some(_) => {}
    }
    if let Err(e) = judge(&check, rules, now) {
        return Ok(Err(invalid(e)));
    }
    let window = EntryThresholds::builtin().link_window();
    let at = check.at.with_timezone(&Utc);
    let purchases = tx.unlinked_purchases(&check.merchant_id, at - window, at + window)?;
    let link = nearest((check.product.category, at), &purchases, window).map(str::to_owned);
    let answer = json!({
        "check_id": check_id,
        "decision": check.decision.as_str(),
        "purchase_entry_id": link,
    });
    tx.persist_entry_check(&check, link.as_deref(), &answer, &caller.user_id, now)?;
    Ok(Ok(answer))
}

/// After a ledger event is stored in a push: a purchase of a market's
/// merchant links to the nearest unlinked check of the same goods (core's
/// `entry_check::nearest`), when the check arrived first.
pub fn on_entry<T: EntryCheckTx + ?Sized>(
    tx: &mut T,
    event: &LedgerEvent,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let LedgerEvent::Purchase(p) = event else {
        return Ok(());
    };
    let Some(Some(_market)) = tx.merchant_market(&p.merchant_id)? else {
        return Ok(());
    };
    let window = EntryThresholds::builtin().link_window();
    let at = p.received_at.with_timezone(&Utc);
    let checks = tx.unlinked_checks(&p.merchant_id, at - window, at + window)?;
    if let Some(id) = nearest((p.product.category, at), &checks, window) {
        let id = id.to_owned();
        tx.link_entry_check(&id, &p.entry_id.to_string(), now)?;
    }
    Ok(())
}
