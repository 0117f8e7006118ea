//! A push, decided: the op log that makes every op exactly-once, the scope
//! checks and every op's outcome. The backend runs [`run`] inside its push
//! transaction and [`crate::store::graph::LedgerGraph::write`], and
//! commits; everything stored goes through [`PushTx`].
//!
//! A push is one transaction on the single writer: the graph is locked
//! from the push's first event to its commit and rebuilt from the stored
//! ledger if the push fails, so it never holds what the store does not. A
//! refused op leaves nothing behind while its neighbours stand: core's
//! rules judge a ledger event against the in-memory graph before anything
//! is written, and field ops' writes are persisted all or none. The op log
//! row is written in the same transaction as the op's effect — after a
//! crash either both exist or neither, so a retried op is either
//! `duplicate` with its original outcome or applied afresh.
//!
//! A ledger op whose `op_id` is its event's `entry_id` (what core's client
//! sends) has no op log row: its entry row is its log. The entry is unique
//! by id, written in the same transaction, and its outcome (codes and
//! warnings) is recorded with it, so a retry is found in the graph and
//! answered from the store. This halves the rows an accepted event writes;
//! the op log keeps refusals, field ops and ledger ops of other clients,
//! and the push record keeps which device and account sent each run of
//! entries. Any op whose `op_id` names an existing entry is taken for that
//! entry's op — a duplicate for its merchant, `op_id_taken` for anyone
//! else — so nobody can claim another merchant's op_id before its retry
//! arrives.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use shian_core::error::{ErrorClass, FieldError, LedgerError};
use shian_core::event::{Buyer, LedgerEvent, Supplier};
use shian_core::json::Node;
use shian_core::ledger::LedgerView;
use shian_core::rules::LedgerRules;
use shian_core::store::apply::Applied;
use shian_core::sync::protocol::{encode_cursor, Op, OpError, OpResult, OpStatus};
use shian_core::trace::GraphError;
use uuid::Uuid;

use crate::store::graph::Writing;
use crate::store::ledger::{Caller, Prepared};
use crate::store::sync::{LoggedOp, NewLoggedOp, PushTx};
use crate::store::StoreError;

/// Why a whole push was refused.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error("device registered to another user")]
    DeviceOfAnotherUser,
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Core's rules could not read the store (never for the in-memory graph).
    #[error(transparent)]
    Storage(#[from] shian_core::error::StorageError),
    /// The in-memory graph refused an event the rules accepted (full, or a
    /// bug): the push fails and the graph is rebuilt from the store.
    #[error(transparent)]
    Graph(#[from] GraphError),
    /// A stored entry that does not parse (a retry is answered from it).
    #[error("corrupt: {0}")]
    Corrupt(String),
}

impl From<PushError> for StoreError {
    fn from(e: PushError) -> Self {
        match e {
            PushError::DeviceOfAnotherUser => {
                StoreError::conflict("device_of_another_user", "该设备已登记在其他账号下")
            }
            PushError::Store(e) => e,
            PushError::Storage(e) => e.into(),
            PushError::Graph(e) => e.into(),
            PushError::Corrupt(e) => StoreError::Corrupt(e),
        }
    }
}

/// Reasons that may clear up by themselves (another device has not pushed
/// yet; an operator mends a stored row that does not read back): not
/// logged, so the same op is judged afresh next time.
fn retryable(code: &str) -> bool {
    matches!(code, "unknown_batch" | "unknown_entry" | "entry_unreadable")
}

fn op_error(code: &str, message: impl Into<String>, field: Option<String>) -> OpError {
    OpError {
        code: code.to_owned(),
        message: message.into(),
        field,
        retryable: retryable(code),
    }
}

fn from_ledger(e: LedgerError) -> OpError {
    match e {
        LedgerError::Invalid(f) => op_error(&f.code, f.message, Some(f.field)),
        LedgerError::Rule(r) => {
            let mut e = op_error(&r.code, r.message, r.field);
            e.retryable = retryable(&r.code) && r.class == ErrorClass::NotFound;
            e
        }
        LedgerError::Storage(s) => op_error("storage_error", s.to_string(), None),
    }
}

/// Which merchants are registered, cached for one push.
struct KnownMerchants {
    cache: HashMap<String, bool>,
}

impl KnownMerchants {
    fn exists(&mut self, tx: &mut dyn PushTx, merchant_id: &str) -> Result<bool, StoreError> {
        if let Some(known) = self.cache.get(merchant_id) {
            return Ok(*known);
        }
        let known = tx.merchant_exists(merchant_id)?;
        self.cache.insert(merchant_id.to_owned(), known);
        Ok(known)
    }
}

/// The answer to an op_id another account (or merchant) used first: it
/// reveals nothing of that op's outcome.
fn taken(op_id: String) -> OpResult {
    let e = op_error(
        "op_id_taken",
        "op_id 已被其他账号使用 (op_id used by another account)",
        Some("op_id".into()),
    );
    OpResult {
        op_id,
        status: OpStatus::Rejected,
        error: Some(e),
        result: None,
    }
}

/// Whether an op is logged by its entry: a ledger event whose `entry_id`
/// is its `op_id` (see the module doc).
fn logged_by_entry(named: Option<Uuid>, event: &Option<Result<LedgerEvent, FieldError>>) -> bool {
    matches!((named, event), (Some(id), Some(Ok(e))) if id == e.entry_id())
}

/// What an accepted ledger event answers (and answers again when retried).
fn result_of(applied: &Applied) -> Value {
    json!({
        "entry_id": applied.entry_id,
        "trace_code": applied.trace_code,
        "voucher_code": applied.voucher_code,
        "warnings": applied.warnings,
    })
}

/// The answer an accepted ledger op was given, rebuilt from its entry and
/// that entry's warnings: what a retry of an op logged by its entry
/// answers.
fn recorded_result(tx: &mut dyn PushTx, entry_id: &Uuid) -> Result<Value, PushError> {
    let id = entry_id.to_string();
    let corrupt = |why: String| PushError::Corrupt(format!("entry {id}: {why}"));
    let recorded = tx.recorded_entry(&id)?;
    let payload: Node<'_> =
        serde_json::from_str(&recorded.payload).map_err(|e| corrupt(e.to_string()))?;
    let event =
        LedgerEvent::parse_node(&recorded.kind, &payload).map_err(|e| corrupt(e.to_string()))?;
    Ok(result_of(&Applied::new(&event, recorded.warnings)))
}

/// The answer to an op whose op_id names a recorded entry: that entry's op
/// (whatever this payload says), as if it were in the op log — a duplicate
/// with the entry's outcome for its merchant, `op_id_taken` for anyone
/// else. `None` when the op_id names no entry.
fn answer_from_entry(
    tx: &mut dyn PushTx,
    graph: &Writing<'_>,
    caller: &Caller,
    op_id: &str,
    named: Option<Uuid>,
) -> Result<Option<OpResult>, PushError> {
    let Some(id) = named else { return Ok(None) };
    let Ok(recorded) = graph.graph().entry(&id);
    let Some(entry) = recorded else {
        return Ok(None);
    };
    if caller.role != "merchant"
        || caller.merchant_id.as_deref() != Some(entry.merchant_id.as_str())
    {
        tracing::warn!(op_id = %op_id, user = %caller.user_id, "op_id of another merchant's entry");
        return Ok(Some(taken(op_id.to_owned())));
    }
    let result = recorded_result(tx, &id)?;
    Ok(Some(OpResult {
        op_id: op_id.to_owned(),
        status: OpStatus::Duplicate,
        error: None,
        result: Some(result),
    }))
}

/// The answer to an op the op log already holds: a duplicate with its
/// original outcome.
fn duplicate(op_id: String, logged: &LoggedOp) -> OpResult {
    let outcome: Value = serde_json::from_str(&logged.outcome).unwrap_or_default();
    OpResult {
        op_id,
        status: OpStatus::Duplicate,
        error: if logged.status == "rejected" {
            serde_json::from_value(outcome["error"].clone()).ok()
        } else {
            None
        },
        result: outcome.get("result").cloned(),
    }
}

/// Applies a push inside the backend's transaction: claims the device,
/// then every op. `pulled` is the change-feed position of the device's
/// last pull (the push's `pulled_cursor`), by which a sale of a held batch
/// is judged (`crate::market::holds`). Returns the outcome of every op, in order, and the
/// cursor after the changes this push made; the backend commits.
#[allow(clippy::too_many_arguments)] // the push's context, as the backend holds it
pub fn run(
    tx: &mut dyn PushTx,
    graph: &mut Writing<'_>,
    caller: &Caller,
    device_id: &str,
    pulled: Option<i64>,
    ops: Vec<Prepared>,
    rules: &LedgerRules,
    now: DateTime<Utc>,
) -> Result<(Vec<OpResult>, String), PushError> {
    if !tx.claim_device(device_id, &caller.user_id, now)? {
        return Err(PushError::DeviceOfAnotherUser);
    }
    let entries_before = tx.entries_end()?;
    let mut results = Vec::with_capacity(ops.len());
    let mut rng = rand::rng();
    let mut known = KnownMerchants {
        cache: HashMap::new(),
    };
    let ids: Vec<&str> = ops.iter().map(|o| o.op.op_id.as_str()).collect();
    let mut log = tx.logged_ops(&ids)?;
    for Prepared { op, event, wire } in ops {
        if let Some(l) = log.get(&op.op_id).filter(|l| l.user_id != caller.user_id) {
            // Another account's op: reveal nothing of its outcome.
            tracing::warn!(op_id = %op.op_id, owner = %l.user_id, user = %caller.user_id, "op_id of another account");
            results.push(taken(op.op_id));
            continue;
        }
        if let Some(l) = log.get(&op.op_id) {
            results.push(duplicate(op.op_id.clone(), l));
            continue;
        }
        // The entry the op_id names, if it is a UUID.
        let named = Uuid::parse_str(&op.op_id).ok();
        if let Some(answer) = answer_from_entry(tx, graph, caller, &op.op_id, named)? {
            results.push(answer);
            continue;
        }
        let own = logged_by_entry(named, &event);
        let outcome = apply_op(
            tx, graph, caller, &op, event, wire, rules, now, &mut known, &mut rng, pulled,
        )?;
        let logged = match &outcome {
            // The entry row just written is this op's log.
            Ok(_) if own => None,
            Ok(result) => Some(("accepted", json!({"result": result}))),
            Err(e) if e.retryable => None,
            Err(e) => Some(("rejected", json!({"error": e}))),
        };
        if let Some((status, logged)) = logged {
            let logged = logged.to_string();
            tx.log_op(NewLoggedOp {
                op_id: &op.op_id,
                device_id,
                user_id: &caller.user_id,
                kind: &op.kind,
                status,
                outcome: &logged,
                received_at: now,
            })?;
            // The same op_id twice in one push: the second is a duplicate.
            log.insert(
                op.op_id.clone(),
                LoggedOp {
                    status: status.to_owned(),
                    outcome: logged,
                    user_id: caller.user_id.clone(),
                },
            );
        }
        results.push(match outcome {
            Ok(result) => OpResult {
                op_id: op.op_id,
                status: OpStatus::Accepted,
                error: None,
                result: Some(result),
            },
            Err(e) => OpResult {
                op_id: op.op_id,
                status: OpStatus::Rejected,
                error: Some(e),
                result: None,
            },
        });
    }
    let cursor = tx.feeds_end()?;
    if cursor.entries > entries_before {
        tx.record_push(
            device_id,
            &caller.user_id,
            now,
            entries_before + 1,
            cursor.entries,
        )?;
    }
    Ok((results, encode_cursor(cursor)))
}

/// One op: scope, parse, rules and effect. The outer
/// `Err` is a storage failure (the whole push fails and is retried); the
/// inner one a refusal of this op.
#[allow(clippy::too_many_arguments)] // the push's context, borrowed once per op
fn apply_op(
    tx: &mut dyn PushTx,
    graph: &mut Writing<'_>,
    caller: &Caller,
    op: &Op,
    event: Option<Result<LedgerEvent, FieldError>>,
    wire: Option<String>,
    rules: &LedgerRules,
    now: DateTime<Utc>,
    known: &mut KnownMerchants,
    rng: &mut impl rand::Rng,
    pulled: Option<i64>,
) -> Result<Result<Value, OpError>, PushError> {
    if op.op_id.is_empty() || op.op_id.len() > 64 {
        return Ok(Err(op_error(
            "invalid_op_id",
            "op_id 应为 1–64 个字符",
            Some("op_id".into()),
        )));
    }
    if crate::feedback::handles(&op.kind) {
        // Complaint ops persist their own writes in this transaction.
        return Ok(crate::feedback::apply_op(tx, caller, op, now)?);
    }
    if crate::recalls::handles(&op.kind) {
        // Recall confirmations persist their own writes in this transaction.
        return Ok(crate::recalls::apply_op(tx, caller, op, now)?);
    }
    if crate::staff::handles(&op.kind) {
        // Staff ops persist their own writes in this transaction.
        return Ok(crate::staff::apply_op(tx, caller, op, now)?);
    }
    if crate::market::entry::handles(&op.kind) {
        // Entry checks persist their own writes in this transaction.
        return Ok(crate::market::entry::apply_op(tx, caller, op, rules, now)?);
    }
    if crate::market::holds::handles(&op.kind) {
        // Hold ops persist their own writes (and alert) in this transaction.
        return Ok(crate::market::holds::apply_op(
            tx,
            graph.graph(),
            caller,
            op,
            now,
        )?);
    }
    if crate::market::self_check_ops::handles(&op.kind) {
        // Self-inspection ops persist their own writes in this transaction.
        return Ok(crate::market::self_check_ops::apply_op(
            tx, caller, op, now,
        )?);
    }
    if crate::field::handles(&op.kind) {
        // The field service decides; its writes go in this transaction.
        return Ok(match crate::field::apply_op(&*tx, caller, op, now)? {
            Ok(decision) => {
                tx.persist_field(&decision.writes)?;
                Ok(decision.result)
            }
            Err(refused) => Err(refused),
        });
    }
    let Some(event) = event else {
        return Ok(Err(op_error(
            "unknown_kind",
            format!("不支持的事件类型 '{}'", op.kind),
            Some("kind".into()),
        )));
    };
    let Some(own) = caller
        .merchant_id
        .as_deref()
        .filter(|_| caller.role == "merchant")
    else {
        return Ok(Err(op_error(
            "forbidden_kind",
            "只有经营户账号可以记录台账",
            Some("kind".into()),
        )));
    };
    let mut event = match event {
        Ok(e) => e,
        Err(f) => return Ok(Err(op_error(&f.code, f.message, Some(f.field)))),
    };
    if event.merchant_id() != own {
        return Ok(Err(op_error(
            "out_of_scope",
            "不能为其他经营户记录台账",
            Some("merchant_id".into()),
        )));
    }
    let other = match &event {
        LedgerEvent::Purchase(p) => match &p.supplier {
            Supplier::Merchant { merchant_id } => {
                Some(("supplier.merchant_id", merchant_id.clone()))
            }
            Supplier::External { .. } => None,
        },
        LedgerEvent::Sale(s) => match &s.buyer {
            Buyer::Merchant { merchant_id } => Some(("buyer.merchant_id", merchant_id.clone())),
            _ => None,
        },
        _ => None,
    };
    if let Some((field, id)) = other {
        if !known.exists(tx, &id)? {
            return Ok(Err(op_error(
                "unknown_merchant",
                "对方经营户未在平台登记",
                Some(field.into()),
            )));
        }
    }
    let entry_id = event.entry_id().to_string();
    if graph.unreadable(&entry_id) {
        tracing::warn!(entry = %entry_id, "an op names a stored entry that does not read back");
        return Ok(Err(op_error(
            "entry_unreadable",
            "该记录已存于服务器但无法读取，请联系管理员 (the stored entry does not read back; see /healthz)",
            Some("entry_id".into()),
        )));
    }
    // No savepoint: the rules run before anything is written, so a refused
    // event has written nothing, and a storage failure fails the whole push
    // (and rebuilds the graph). The event's entry row is also its change:
    // pull reads the entries.
    // A sale or disposal of a held batch: core's hold rule, judged before
    // the graph takes the event (see `crate::market::holds`).
    let hold = crate::market::holds::ops::hold_on(tx, &event)?;
    let info = hold
        .as_ref()
        .map(|h| crate::market::holds::ops::info(h, pulled));
    let held = match shian_core::rules::check_hold(&event, info.as_ref()) {
        Ok(w) => w,
        Err(e) => return Ok(Err(from_ledger(e))),
    };
    let applied = match graph.admit(&mut event, rules, now, rng)? {
        Ok(mut warnings) => {
            warnings.extend(held);
            Applied::new(&event, warnings)
        }
        Err(LedgerError::Storage(e)) => return Err(e.into()),
        Err(e) => return Ok(Err(from_ledger(e))),
    };
    // `wire` exists only for an event that lacked no code, which judging
    // therefore left as it was.
    let wire = wire.unwrap_or_else(|| event.to_wire_string());
    tx.record_entry(&event, &wire, &applied.warnings, now)?;
    crate::market::entry::on_entry(tx, &event, now)?;
    if let Some(h) = &hold {
        crate::market::holds::ops::after_admit(
            tx,
            graph.graph(),
            h,
            &event,
            &applied.warnings,
            caller,
            now,
        )?;
    }
    Ok(Ok(result_of(&applied)))
}
