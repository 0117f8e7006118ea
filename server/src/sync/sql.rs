//! Push and pull over SQLite: the op log that makes every op exactly-once,
//! the change feed that pull pages through, and the scope checks.
//!
//! A push is one transaction on the single writer: each op runs in a
//! savepoint, so a refused op leaves nothing behind while its neighbours
//! stand, and the op log row is written in the same transaction as the
//! op's effect — after a crash either both exist or neither, so a retried
//! op is either `duplicate` with its original outcome or applied afresh.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension};
use serde_json::{json, Value};
use shian_core::error::{ErrorClass, LedgerError};
use shian_core::event::{Buyer, LedgerEvent, Supplier};
use shian_core::rules::LedgerRules;
use shian_core::store::apply;
use shian_core::sync::protocol::{decode_cursor, encode_cursor, Change, Op, OpError, OpResult, OpStatus, PullResponse};

use crate::db::migrate::Migration;

/// The server's sync tables (component `"sync"`).
pub const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "op log and change feed",
    sql: r#"
    CREATE TABLE ops (
        op_id       TEXT PRIMARY KEY,
        device_id   TEXT NOT NULL,
        user_id     TEXT NOT NULL,
        kind        TEXT NOT NULL,
        status      TEXT NOT NULL,       -- accepted | rejected
        outcome     TEXT NOT NULL,       -- {"result":…} or {"error":…}
        received_at TEXT NOT NULL
    );
    -- What pull pages through. A row is addressed to a merchant, to a
    -- region (inspectors), to a user, or to everyone (all three NULL).
    CREATE TABLE changes (
        seq         INTEGER PRIMARY KEY AUTOINCREMENT,
        kind        TEXT NOT NULL,
        merchant_id TEXT,
        region_code TEXT,
        user_id     TEXT,
        payload     TEXT NOT NULL,
        created_at  TEXT NOT NULL
    );
    CREATE INDEX changes_by_merchant ON changes(merchant_id, seq) WHERE merchant_id IS NOT NULL;
    CREATE INDEX changes_by_region ON changes(region_code, seq) WHERE region_code IS NOT NULL;
    CREATE INDEX changes_by_user ON changes(user_id, seq) WHERE user_id IS NOT NULL;
    CREATE INDEX changes_public ON changes(seq) WHERE merchant_id IS NULL AND region_code IS NULL AND user_id IS NULL;
    "#,
}];

/// Who is pushing or pulling, from the verified token.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user_id: String,
    pub role: String,
    pub merchant_id: Option<String>,
    pub regions: Vec<String>,
}

/// Reasons that may clear up by themselves (another device has not pushed
/// yet): not logged, so the same op is judged afresh next time.
fn retryable(code: &str) -> bool {
    matches!(code, "unknown_batch" | "unknown_entry")
}

fn op_error(code: &str, message: impl Into<String>, field: Option<String>) -> OpError {
    OpError { code: code.to_owned(), message: message.into(), field, retryable: retryable(code) }
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
struct KnownMerchants<'c> {
    conn: &'c Connection,
    cache: HashMap<String, bool>,
}

impl KnownMerchants<'_> {
    fn exists(&mut self, merchant_id: &str) -> rusqlite::Result<bool> {
        if let Some(known) = self.cache.get(merchant_id) {
            return Ok(*known);
        }
        let known: bool = self
            .conn
            .prepare_cached("SELECT EXISTS(SELECT 1 FROM merchants WHERE id = ?1)")?
            .query_row([merchant_id], |r| r.get(0))?;
        self.cache.insert(merchant_id.to_owned(), known);
        Ok(known)
    }
}

/// Applies a push. Returns the outcome of every op, in order, and the
/// cursor after the changes this push made.
pub fn push(conn: &mut Connection, caller: &Caller, device_id: &str, ops: &[Op], rules: &LedgerRules, now: DateTime<Utc>) -> rusqlite::Result<(Vec<OpResult>, String)> {
    let tx = conn.transaction()?;
    let mut results = Vec::with_capacity(ops.len());
    let received_at = now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let mut rng = rand::rng();
    {
        let mut known = KnownMerchants { conn: &tx, cache: HashMap::new() };
        for op in ops {
            let logged: Option<(String, String, String)> = tx
                .prepare_cached("SELECT status, outcome, user_id FROM ops WHERE op_id = ?1")?
                .query_row([&op.op_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .optional()?;
            if let Some((_, _, owner)) = logged.as_ref().filter(|l| l.2 != caller.user_id) {
                // Another account's op: reveal nothing of its outcome.
                tracing::warn!(op_id = %op.op_id, owner = %owner, user = %caller.user_id, "op_id of another account");
                let e = op_error("op_id_taken", "op_id 已被其他账号使用 (op_id used by another account)", Some("op_id".into()));
                results.push(OpResult { op_id: op.op_id.clone(), status: OpStatus::Rejected, error: Some(e), result: None });
                continue;
            }
            if let Some((status, outcome, _)) = logged {
                let outcome: Value = serde_json::from_str(&outcome).unwrap_or_default();
                results.push(OpResult {
                    op_id: op.op_id.clone(),
                    status: OpStatus::Duplicate,
                    error: if status == "rejected" { serde_json::from_value(outcome["error"].clone()).ok() } else { None },
                    result: outcome.get("result").cloned(),
                });
                continue;
            }
            let outcome = apply_op(&tx, caller, op, rules, now, &mut known, &mut rng)?;
            let (status, logged) = match &outcome {
                Ok(result) => (OpStatus::Accepted, Some(json!({"result": result}))),
                Err(e) if e.retryable => (OpStatus::Rejected, None),
                Err(e) => (OpStatus::Rejected, Some(json!({"error": e}))),
            };
            if let Some(logged) = logged {
                tx.prepare_cached("INSERT INTO ops (op_id, device_id, user_id, kind, status, outcome, received_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)")?
                    .execute(params![
                        op.op_id,
                        device_id,
                        caller.user_id,
                        op.kind,
                        if status == OpStatus::Accepted { "accepted" } else { "rejected" },
                        logged.to_string(),
                        received_at
                    ])?;
            }
            match outcome {
                Ok(result) => results.push(OpResult { op_id: op.op_id.clone(), status, error: None, result: Some(result) }),
                Err(e) => results.push(OpResult { op_id: op.op_id.clone(), status, error: Some(e), result: None }),
            }
        }
    }
    let seq: i64 = tx.query_row("SELECT COALESCE(MAX(seq), 0) FROM changes", [], |r| r.get(0))?;
    tx.commit()?;
    Ok((results, encode_cursor(seq)))
}

/// One op: scope, parse, rules and effect inside a savepoint. The outer
/// `Err` is a storage failure (the whole push fails and is retried); the
/// inner one a refusal of this op.
fn apply_op(
    tx: &rusqlite::Transaction<'_>,
    caller: &Caller,
    op: &Op,
    rules: &LedgerRules,
    now: DateTime<Utc>,
    known: &mut KnownMerchants<'_>,
    rng: &mut impl rand::Rng,
) -> rusqlite::Result<Result<Value, OpError>> {
    if op.op_id.is_empty() || op.op_id.len() > 64 {
        return Ok(Err(op_error("invalid_op_id", "op_id 应为 1–64 个字符", Some("op_id".into()))));
    }
    if crate::field::handles(&op.kind) {
        return crate::field::apply_op(tx, caller, op, now);
    }
    if !LedgerEvent::is_ledger_kind(&op.kind) {
        return Ok(Err(op_error("unknown_kind", format!("不支持的事件类型 '{}'", op.kind), Some("kind".into()))));
    }
    let Some(own) = caller.merchant_id.as_deref().filter(|_| caller.role == "merchant") else {
        return Ok(Err(op_error("forbidden_kind", "只有经营户账号可以记录台账", Some("kind".into()))));
    };
    let mut event = match LedgerEvent::parse(&op.kind, &op.payload, rules) {
        Ok(e) => e,
        Err(f) => return Ok(Err(op_error(&f.code, f.message, Some(f.field)))),
    };
    if event.merchant_id() != own {
        return Ok(Err(op_error("out_of_scope", "不能为其他经营户记录台账", Some("merchant_id".into()))));
    }
    let other = match &event {
        LedgerEvent::Purchase(p) => match &p.supplier {
            Supplier::Merchant { merchant_id } => Some(("supplier.merchant_id", merchant_id.clone())),
            Supplier::External { .. } => None,
        },
        LedgerEvent::Sale(s) => match &s.buyer {
            Buyer::Merchant { merchant_id } => Some(("buyer.merchant_id", merchant_id.clone())),
            _ => None,
        },
        _ => None,
    };
    if let Some((field, id)) = other {
        if !known.exists(&id)? {
            return Ok(Err(op_error("unknown_merchant", "对方经营户未在平台登记", Some(field.into()))));
        }
    }
    // A savepoint by SQL: the transaction is shared with the merchant cache.
    tx.execute_batch("SAVEPOINT op")?;
    let undo = |tx: &rusqlite::Transaction<'_>| tx.execute_batch("ROLLBACK TO op; RELEASE op");
    let applied = match apply::apply(tx, &mut event, rules, now, true, rng) {
        Ok(a) => a,
        Err(LedgerError::Storage(e)) => {
            undo(tx)?;
            return Err(e);
        }
        Err(e) => {
            undo(tx)?;
            return Ok(Err(from_ledger(e)));
        }
    };
    // Ledger records go back to the merchant's own devices only; inspectors
    // get the registry and tasks of their district, not every sale.
    if let Err(e) = publish(tx, event.kind(), Some(own), None, None, &event.to_wire()) {
        undo(tx)?;
        return Err(e);
    }
    tx.execute_batch("RELEASE op")?;
    Ok(Ok(json!({
        "entry_id": applied.entry_id,
        "trace_code": applied.trace_code,
        "voucher_code": applied.voucher_code,
        "warnings": applied.warnings,
    })))
}

/// Why a pull was refused.
#[derive(Debug, thiserror::Error)]
pub enum PullError {
    #[error("invalid cursor")]
    BadCursor,
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
}

/// One page of the caller's changes after `cursor`.
pub fn pull(conn: &Connection, caller: &Caller, cursor: &str, limit: u32) -> Result<PullResponse, PullError> {
    let after = decode_cursor(cursor).ok_or(PullError::BadCursor)?;
    let limit = limit.clamp(1, shian_core::sync::protocol::MAX_PULL_LIMIT);
    // One more than asked tells whether there is more.
    let fetch = i64::from(limit) + 1;
    // A region covers the codes under it (350000 a province, 350200 a city),
    // as the registry reads it (`validate::region_covers`): match prefixes.
    let prefixes: Vec<&str> = caller.regions.iter().filter_map(|r| region_prefix(r)).collect();
    let regions = serde_json::to_string(&prefixes).unwrap_or_else(|_| "[]".into());
    let mut st = conn.prepare_cached(
        "SELECT seq, kind, payload FROM changes
         WHERE seq > ?1 AND (
               (merchant_id IS NULL AND region_code IS NULL AND user_id IS NULL)
            OR (?2 IS NOT NULL AND merchant_id = ?2)
            OR (?4 AND EXISTS (SELECT 1 FROM json_each(?3) r WHERE substr(changes.region_code, 1, length(r.value)) = r.value))
            OR user_id = ?5)
         ORDER BY seq LIMIT ?6",
    )?;
    // Inspectors see their district; a merchant sees its own records only.
    let is_inspector = caller.role == "inspector";
    let merchant = if caller.role == "merchant" { caller.merchant_id.clone() } else { None };
    let rows = st.query_map(params![after, merchant, regions, is_inspector, caller.user_id, fetch], |r| {
        let payload: String = r.get(2)?;
        Ok(Change { seq: r.get(0)?, kind: r.get(1)?, payload: serde_json::from_str(&payload).unwrap_or(Value::Null) })
    })?;
    let mut changes = rows.collect::<rusqlite::Result<Vec<_>>>()?;
    let has_more = changes.len() as i64 > i64::from(limit);
    changes.truncate(limit as usize);
    let next = changes.last().map(|c| c.seq).unwrap_or(after);
    Ok(PullResponse { changes, cursor: encode_cursor(next), has_more })
}

/// The code prefix a GB/T 2260 scope covers; `None` for a malformed one.
fn region_prefix(scope: &str) -> Option<&str> {
    if scope.len() != 6 || !scope.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(if scope.ends_with("0000") {
        &scope[..2]
    } else if scope.ends_with("00") {
        &scope[..4]
    } else {
        scope
    })
}

/// Appends a change addressed by scope (registry updates, tasks, notices).
pub fn publish(conn: &Connection, kind: &str, merchant_id: Option<&str>, region_code: Option<&str>, user_id: Option<&str>, payload: &Value) -> rusqlite::Result<i64> {
    conn.prepare_cached("INSERT INTO changes (kind, merchant_id, region_code, user_id, payload, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")?
        .execute(params![kind, merchant_id, region_code, user_id, payload.to_string(), Utc::now().to_rfc3339()])?;
    Ok(conn.last_insert_rowid())
}
