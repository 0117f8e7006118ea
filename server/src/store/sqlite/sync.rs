//! Push and pull over SQLite: the op log that makes every op exactly-once,
//! the two feeds that pull pages through (the ledger's own `entries`, and
//! `changes` for everything else), and the scope checks.
//!
//! A push is one transaction on the single writer, run inside
//! [`crate::store::graph::LedgerGraph::write`]: the graph is locked from the
//! push's first event to its commit and rebuilt from the file if the push
//! fails, so it never holds what the file does not. A refused op leaves
//! nothing behind while its neighbours stand: core's rules judge a ledger
//! event against the in-memory graph ([`crate::store::graph::LedgerGraph`]) before anything is
//! written, and field ops write in a savepoint. The op log row is written in
//! the same transaction as the op's effect — after a crash either both exist
//! or neither, so a retried op is either `duplicate` with its original
//! outcome or applied afresh.
//!
//! A ledger op whose `op_id` is its event's `entry_id` (what core's client
//! sends) has no op log row: its entry row is its log. The entry is unique
//! by id, written in the same transaction, and its outcome (codes and
//! warnings) is recorded with it, so a retry is found in the graph and
//! answered from the file. This halves the rows an accepted event writes;
//! the op log keeps refusals, field ops and ledger ops of other clients,
//! and `pushes` keeps which device and account sent each run of entries.
//! Any op whose `op_id` names an existing entry is taken for that entry's
//! op — a duplicate for its merchant, `op_id_taken` for anyone else — so
//! nobody can claim another merchant's op_id before its retry arrives.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension};
use serde_json::{json, Value};
use shian_core::error::{ErrorClass, FieldError, LedgerError};
use shian_core::event::{Buyer, LedgerEvent, Supplier};
use shian_core::json::Node;
use shian_core::ledger::{LedgerView, Warning};
use shian_core::rules::LedgerRules;
use shian_core::store::apply::{self, Applied};
use shian_core::sync::protocol::{
    decode_cursor, encode_cursor, Change, Cursor, Op, OpError, OpResult, OpStatus, PullResponse,
};
use shian_core::trace::GraphError;

use uuid::Uuid;

use super::field_ops;
use super::migrate::Migration;
use crate::store::graph::Writing;
use crate::store::ledger::{Caller, Prepared, PullError};
use crate::store::StoreError;

/// The server's sync tables (component `"sync"`).
pub const MIGRATIONS: &[Migration] = &[
    Migration {
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
    },
    Migration {
        version: 2,
        name: "the ledger is its own feed",
        // Pull reads a merchant's entries straight from `entries` (the rowid is
        // the server's acceptance order), so ingest no longer copies every
        // payload into `changes`: one row per event instead of two. An index on
        // `merchant_id` alone is ordered by (merchant_id, rowid), which is the
        // feed's order, and grows at its end as a merchant records.
        sql: r#"
    CREATE INDEX entries_feed ON entries(merchant_id);
    DELETE FROM changes WHERE kind LIKE 'ledger.%';
    "#,
    },
    Migration {
        version: 3,
        name: "ledger state in memory",
        // The server judges events against its in-memory graph
        // (store/graph.rs), rebuilt from `entries` on start, and writes only the
        // entry: the derived tables would go stale, so they are emptied, and the
        // device's by-date index has no reader here.
        sql: r#"
    DELETE FROM movements;
    DELETE FROM batches;
    DROP INDEX IF EXISTS entries_by_merchant;
    "#,
    },
    Migration {
        version: 4,
        name: "an entry is its own op log row",
        // A retried ledger op is answered from its entry and that entry's
        // warnings (see the module doc): find the warnings by entry.
        sql: "CREATE INDEX warnings_by_entry ON warnings(entry_id);",
    },
    Migration {
        version: 5,
        name: "who pushed which entries",
        // The op-log rows that v4 no longer writes held each accepted event's
        // device and account. A push's entries are one run of rowids (a single
        // writer, one transaction), so one row per push keeps the same facts:
        // the entry at rowid r came from the push with first_entry <= r <=
        // last_entry.
        sql: r#"
    CREATE TABLE pushes (
        id          INTEGER PRIMARY KEY,
        device_id   TEXT NOT NULL,
        user_id     TEXT NOT NULL,
        received_at TEXT NOT NULL,
        first_entry INTEGER NOT NULL,
        last_entry  INTEGER NOT NULL
    );
    CREATE INDEX pushes_by_last_entry ON pushes(last_entry);
    "#,
    },
];

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

/// What the op log says of an op already seen: its status, the outcome
/// JSON and the account that sent it.
type Logged = (String, String, String);

/// The op log rows of a push's op_ids, in one query rather than one per op.
fn logged_ops(tx: &Connection, ops: &[Prepared]) -> rusqlite::Result<HashMap<String, Logged>> {
    let ids = serde_json::to_string(&ops.iter().map(|o| o.op.op_id.as_str()).collect::<Vec<_>>())
        .unwrap_or_else(|_| "[]".into());
    let mut st = tx.prepare_cached("SELECT op_id, status, outcome, user_id FROM ops WHERE op_id IN (SELECT value FROM json_each(?1))")?;
    let rows = st.query_map([ids], |r| {
        Ok((r.get::<_, String>(0)?, (r.get(1)?, r.get(2)?, r.get(3)?)))
    })?;
    rows.collect()
}

/// Why a whole push was refused.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error("device registered to another user")]
    DeviceOfAnotherUser,
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Core's rules could not read the store (never for the in-memory graph).
    #[error(transparent)]
    Storage(#[from] shian_core::error::StorageError),
    /// The in-memory graph refused an event the rules accepted (full, or a
    /// bug): the push fails and the graph is rebuilt from the file.
    #[error(transparent)]
    Graph(#[from] GraphError),
    /// A stored entry that does not parse (a retry is answered from it).
    #[error("corrupt: {0}")]
    Corrupt(String),
}

/// Registers the device under the caller on first use and marks it seen.
fn claim_device(
    tx: &Connection,
    device_id: &str,
    user_id: &str,
    now: &str,
) -> Result<(), PushError> {
    let owner: Option<String> = tx
        .prepare_cached("SELECT user_id FROM devices WHERE id = ?1")?
        .query_row([device_id], |r| r.get(0))
        .optional()?;
    match owner {
        Some(o) if o != user_id => Err(PushError::DeviceOfAnotherUser),
        Some(_) => {
            tx.prepare_cached("UPDATE devices SET last_seen = ?2 WHERE id = ?1")?
                .execute(params![device_id, now])?;
            Ok(())
        }
        None => {
            tx.prepare_cached("INSERT INTO devices (id, user_id, name, created_at, last_seen) VALUES (?1, ?2, ?1, ?3, ?3)")?
                .execute(params![device_id, user_id, now])?;
            Ok(())
        }
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

/// The answer an accepted ledger op was given, rebuilt from its entry row
/// and that entry's warnings: what a retry of an op logged by its entry
/// answers.
fn recorded_result(tx: &Connection, entry_id: &Uuid) -> Result<Value, PushError> {
    let id = entry_id.to_string();
    let corrupt = |why: String| PushError::Corrupt(format!("entry {id}: {why}"));
    let (kind, payload): (String, String) = tx
        .prepare_cached("SELECT kind, payload FROM entries WHERE entry_id = ?1")?
        .query_row([&id], |r| Ok((r.get(0)?, r.get(1)?)))?;
    let payload: Node<'_> = serde_json::from_str(&payload).map_err(|e| corrupt(e.to_string()))?;
    let event = LedgerEvent::parse_node(&kind, &payload).map_err(|e| corrupt(e.to_string()))?;
    let mut st = tx.prepare_cached(
        "SELECT code, message, evidence FROM warnings WHERE entry_id = ?1 ORDER BY id",
    )?;
    let rows = st.query_map([&id], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
        ))
    })?;
    let mut warnings = Vec::new();
    for row in rows {
        let (code, message, evidence) = row?;
        let evidence =
            serde_json::from_str(&evidence).map_err(|e| corrupt(format!("warning {code}: {e}")))?;
        warnings.push(Warning {
            code,
            message,
            evidence,
        });
    }
    Ok(result_of(&Applied::new(&event, warnings)))
}

/// The answer to an op whose op_id names a recorded entry: that entry's op
/// (whatever this payload says), as if it were in the op log — a duplicate
/// with the entry's outcome for its merchant, `op_id_taken` for anyone
/// else. `None` when the op_id names no entry.
fn answer_from_entry(
    tx: &Connection,
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

/// Applies a push: claims the device, then every op, in one transaction.
/// Returns the outcome of every op, in order, and the cursor after the
/// changes this push made.
pub fn push(
    conn: &mut Connection,
    graph: &mut Writing<'_>,
    caller: &Caller,
    device_id: &str,
    ops: Vec<Prepared>,
    rules: &LedgerRules,
    now: DateTime<Utc>,
) -> Result<(Vec<OpResult>, String), PushError> {
    let tx = conn.transaction()?;
    claim_device(&tx, device_id, &caller.user_id, &crate::store::ts(&now))?;
    let entries_before: i64 =
        tx.query_row("SELECT COALESCE(MAX(rowid), 0) FROM entries", [], |r| {
            r.get(0)
        })?;
    let mut results = Vec::with_capacity(ops.len());
    let received_at = now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let mut rng = rand::rng();
    {
        let mut known = KnownMerchants {
            conn: &tx,
            cache: HashMap::new(),
        };
        let mut log = logged_ops(&tx, &ops)?;
        for Prepared { op, event, wire } in ops {
            if let Some((_, _, owner)) = log.get(&op.op_id).filter(|l| l.2 != caller.user_id) {
                // Another account's op: reveal nothing of its outcome.
                tracing::warn!(op_id = %op.op_id, owner = %owner, user = %caller.user_id, "op_id of another account");
                results.push(taken(op.op_id));
                continue;
            }
            if let Some((status, outcome, _)) = log.get(&op.op_id) {
                let outcome: Value = serde_json::from_str(outcome).unwrap_or_default();
                results.push(OpResult {
                    op_id: op.op_id.clone(),
                    status: OpStatus::Duplicate,
                    error: if status == "rejected" {
                        serde_json::from_value(outcome["error"].clone()).ok()
                    } else {
                        None
                    },
                    result: outcome.get("result").cloned(),
                });
                continue;
            }
            // The entry the op_id names, if it is a UUID.
            let named = Uuid::parse_str(&op.op_id).ok();
            if let Some(answer) = answer_from_entry(&tx, graph, caller, &op.op_id, named)? {
                results.push(answer);
                continue;
            }
            let own = logged_by_entry(named, &event);
            let outcome = apply_op(
                &tx, graph, caller, &op, event, wire, rules, now, &mut known, &mut rng,
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
                tx.prepare_cached("INSERT INTO ops (op_id, device_id, user_id, kind, status, outcome, received_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)")?
                    .execute(params![op.op_id, device_id, caller.user_id, op.kind, status, logged, received_at])?;
                // The same op_id twice in one push: the second is a duplicate.
                log.insert(
                    op.op_id.clone(),
                    (status.to_owned(), logged, caller.user_id.clone()),
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
    }
    let cursor = tx.query_row("SELECT (SELECT COALESCE(MAX(seq), 0) FROM changes), (SELECT COALESCE(MAX(rowid), 0) FROM entries)", [], |r| {
        Ok(Cursor { changes: r.get(0)?, entries: r.get(1)? })
    })?;
    if cursor.entries > entries_before {
        tx.prepare_cached("INSERT INTO pushes (device_id, user_id, received_at, first_entry, last_entry) VALUES (?1, ?2, ?3, ?4, ?5)")?
            .execute(params![device_id, caller.user_id, received_at, entries_before + 1, cursor.entries])?;
    }
    tx.commit()?;
    Ok((results, encode_cursor(cursor)))
}

/// One op: scope, parse, rules and effect. The outer
/// `Err` is a storage failure (the whole push fails and is retried); the
/// inner one a refusal of this op.
#[allow(clippy::too_many_arguments)] // the push's context, borrowed once per op
fn apply_op(
    tx: &rusqlite::Transaction<'_>,
    graph: &mut Writing<'_>,
    caller: &Caller,
    op: &Op,
    event: Option<Result<LedgerEvent, FieldError>>,
    wire: Option<String>,
    rules: &LedgerRules,
    now: DateTime<Utc>,
    known: &mut KnownMerchants<'_>,
    rng: &mut impl rand::Rng,
) -> Result<Result<Value, OpError>, PushError> {
    if op.op_id.is_empty() || op.op_id.len() > 64 {
        return Ok(Err(op_error(
            "invalid_op_id",
            "op_id 应为 1–64 个字符",
            Some("op_id".into()),
        )));
    }
    if crate::field::handles(&op.kind) {
        // The field service decides; its writes go in this transaction.
        return Ok(
            match crate::field::apply_op(&field_ops::TxReads(tx), caller, op, now)? {
                Ok(decision) => {
                    field_ops::persist(tx, &decision.writes)?;
                    Ok(decision.result)
                }
                Err(refused) => Err(refused),
            },
        );
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
        if !known.exists(&id)? {
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
    // pull reads `entries`.
    let applied = match graph.admit(&mut event, rules, now, rng)? {
        Ok(warnings) => Applied::new(&event, warnings),
        Err(LedgerError::Storage(e)) => return Err(e.into()),
        Err(e) => return Ok(Err(from_ledger(e))),
    };
    // `wire` exists only for an event that lacked no code, which judging
    // therefore left as it was.
    let wire = wire.unwrap_or_else(|| event.to_wire_string());
    apply::record(tx, &event, &wire, &applied.warnings, now)?;
    Ok(Ok(result_of(&applied)))
}

/// One page of the caller's changes after `cursor`: first the change feed
/// (registry cards, tasks, notices: few), then, for a merchant, its own
/// ledger entries in the order the server accepted them.
pub fn pull(
    conn: &Connection,
    caller: &Caller,
    cursor: &str,
    limit: u32,
) -> Result<PullResponse, PullError> {
    let after = decode_cursor(cursor).ok_or(PullError::BadCursor)?;
    let limit = limit.clamp(1, shian_core::sync::protocol::MAX_PULL_LIMIT) as usize;
    // A region covers the codes under it (350000 a province, 350200 a city),
    // as the registry reads it (`validate::region_covers`): match prefixes.
    let prefixes: Vec<&str> = caller
        .regions
        .iter()
        .filter_map(|r| region_prefix(r))
        .collect();
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
    let merchant = if caller.role == "merchant" {
        caller.merchant_id.clone()
    } else {
        None
    };
    let change = |r: &rusqlite::Row<'_>| -> rusqlite::Result<Change> {
        let payload: String = r.get(2)?;
        Ok(Change {
            seq: r.get(0)?,
            kind: r.get(1)?,
            payload: serde_json::from_str(&payload).unwrap_or(Value::Null),
        })
    };
    // One more than asked tells whether there is more.
    let fetch = limit as i64 + 1;
    let mut changes = st
        .query_map(
            params![
                after.changes,
                merchant,
                regions,
                is_inspector,
                caller.user_id,
                fetch
            ],
            change,
        )?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut next = after;
    let mut has_more = changes.len() > limit;
    changes.truncate(limit);
    if let Some(last) = changes.last() {
        next.changes = last.seq;
    }
    // Ledger records go back to the merchant's own devices only; inspectors
    // get the registry and tasks of their district, not every sale.
    if let (Some(own), false) = (merchant.as_deref(), has_more) {
        let room = limit - changes.len();
        let mut st = conn.prepare_cached("SELECT rowid, kind, payload FROM entries WHERE merchant_id = ?1 AND rowid > ?2 ORDER BY rowid LIMIT ?3")?;
        let mut entries = st
            .query_map(params![own, after.entries, room as i64 + 1], change)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        has_more = entries.len() > room;
        entries.truncate(room);
        if let Some(last) = entries.last() {
            next.entries = last.seq;
        }
        changes.append(&mut entries);
    }
    Ok(PullResponse {
        changes,
        cursor: encode_cursor(next),
        has_more,
    })
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
pub fn publish(
    conn: &Connection,
    kind: &str,
    merchant_id: Option<&str>,
    region_code: Option<&str>,
    user_id: Option<&str>,
    payload: &Value,
) -> rusqlite::Result<i64> {
    conn.prepare_cached("INSERT INTO changes (kind, merchant_id, region_code, user_id, payload, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")?
        .execute(params![kind, merchant_id, region_code, user_id, payload.to_string(), Utc::now().to_rfc3339()])?;
    Ok(conn.last_insert_rowid())
}
