//! The sync tables on SQLite and the two sides of sync that the sync
//! service (`crate::sync::push`, `crate::sync::pull`) drives: the push
//! transaction ([`PushTx`]: the op log `ops`, `devices`, core's `entries`
//! and `warnings`, `pushes`, the change feed `changes`) and the two feeds a
//! pull pages through ([`PullReads`]). The decisions (scope, outcomes,
//! cursors) are the service's; what is here is how SQLite stores them.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension};
use serde_json::Value;
use shian_core::event::LedgerEvent;
use shian_core::ledger::Warning;
use shian_core::rules::LedgerRules;
use shian_core::store::apply;
use shian_core::sync::protocol::{Change, Cursor, OpResult};

use super::field_ops;
use super::migrate::Migration;
use super::timestamps::ts;
use crate::store::field::FieldWrite;
use crate::store::graph::{LedgerSource, Writing};
use crate::store::ledger::{Caller, Prepared};
use crate::store::sync::{FeedScope, LoggedOp, NewLoggedOp, PullReads, PushTx, RecordedEntry};
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
    Migration {
        version: 6,
        name: "changes addressed to a market",
        // A market operator's tablet pulls what is addressed to its markets
        // (entry-check lists, holds, self-inspection plans), as an
        // inspector's pulls its regions. A public row has all four NULL.
        sql: r#"
    ALTER TABLE changes ADD COLUMN market_id TEXT;
    CREATE INDEX changes_by_market ON changes(market_id, seq) WHERE market_id IS NOT NULL;
    DROP INDEX changes_public;
    CREATE INDEX changes_public ON changes(seq) WHERE merchant_id IS NULL AND region_code IS NULL AND user_id IS NULL AND market_id IS NULL;
    "#,
    },
];

/// Applies a push in one transaction on `conn`: the sync service decides
/// every op, this transaction stores it, and commits.
#[allow(clippy::too_many_arguments)] // the push's context, passed through
pub fn push(
    conn: &mut Connection,
    graph: &mut Writing<'_>,
    caller: &Caller,
    device_id: &str,
    pulled: Option<i64>,
    ops: Vec<Prepared>,
    rules: &LedgerRules,
    now: DateTime<Utc>,
) -> Result<(Vec<OpResult>, String), StoreError> {
    let tx = conn.transaction()?;
    // The write lock is held from here (IMMEDIATE): what other instances
    // committed is in the graph before anything is judged.
    graph.catch_up(&*tx)?;
    let before = super::alerts::ends(&tx)?;
    let answer = crate::sync::push::run(
        &mut PushTxn(&tx),
        graph,
        caller,
        device_id,
        pulled,
        ops,
        rules,
        now,
    )?;
    // The merchants this push touched, for the alerts' incremental pass.
    super::alerts::mark_since(&tx, before)?;
    graph.advance_to(&tx.ends()?.entries);
    tx.commit()?;
    Ok(answer)
}

/// The push transaction (its field reads are in `field_ops.rs`).
pub(super) struct PushTxn<'c>(pub &'c Connection);

impl PushTx for PushTxn<'_> {
    fn claim_device(
        &mut self,
        device_id: &str,
        user_id: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let now = ts(&now);
        let owner: Option<String> = self
            .0
            .prepare_cached("SELECT user_id FROM devices WHERE id = ?1")?
            .query_row([device_id], |r| r.get(0))
            .optional()?;
        match owner {
            Some(o) if o != user_id => Ok(false),
            Some(_) => {
                self.0
                    .prepare_cached("UPDATE devices SET last_seen = ?2 WHERE id = ?1")?
                    .execute(params![device_id, now])?;
                Ok(true)
            }
            None => {
                self.0.prepare_cached("INSERT INTO devices (id, user_id, name, created_at, last_seen) VALUES (?1, ?2, ?1, ?3, ?3)")?
                    .execute(params![device_id, user_id, now])?;
                Ok(true)
            }
        }
    }

    /// One query rather than one per op: the ids as a JSON array.
    fn logged_ops(&mut self, op_ids: &[&str]) -> Result<HashMap<String, LoggedOp>, StoreError> {
        let ids = serde_json::to_string(op_ids).unwrap_or_else(|_| "[]".into());
        let mut st = self.0.prepare_cached("SELECT op_id, status, outcome, user_id FROM ops WHERE op_id IN (SELECT value FROM json_each(?1))")?;
        let rows = st.query_map([ids], |r| {
            Ok((
                r.get::<_, String>(0)?,
                LoggedOp {
                    status: r.get(1)?,
                    outcome: r.get(2)?,
                    user_id: r.get(3)?,
                },
            ))
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn log_op(&mut self, o: NewLoggedOp<'_>) -> Result<(), StoreError> {
        self.0.prepare_cached("INSERT INTO ops (op_id, device_id, user_id, kind, status, outcome, received_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)")?
            .execute(params![o.op_id, o.device_id, o.user_id, o.kind, o.status, o.outcome, ts(&o.received_at)])?;
        Ok(())
    }

    fn merchant_exists(&mut self, merchant_id: &str) -> Result<bool, StoreError> {
        Ok(self
            .0
            .prepare_cached("SELECT EXISTS(SELECT 1 FROM merchants WHERE id = ?1)")?
            .query_row([merchant_id], |r| r.get(0))?)
    }

    fn recorded_entry(&mut self, entry_id: &str) -> Result<RecordedEntry, StoreError> {
        let (kind, payload): (String, String) = self
            .0
            .prepare_cached("SELECT kind, payload FROM entries WHERE entry_id = ?1")?
            .query_row([entry_id], |r| Ok((r.get(0)?, r.get(1)?)))?;
        let mut st = self.0.prepare_cached(
            "SELECT code, message, evidence FROM warnings WHERE entry_id = ?1 ORDER BY id",
        )?;
        let rows = st.query_map([entry_id], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
            ))
        })?;
        let mut warnings = Vec::new();
        for row in rows {
            let (code, message, evidence) = row?;
            let evidence = serde_json::from_str(&evidence).map_err(|e| {
                StoreError::Corrupt(format!("entry {entry_id}: warning {code}: {e}"))
            })?;
            warnings.push(Warning {
                code,
                message,
                evidence,
            });
        }
        Ok(RecordedEntry {
            kind,
            payload,
            warnings,
        })
    }

    fn record_entry(
        &mut self,
        event: &LedgerEvent,
        wire: &str,
        warnings: &[Warning],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        apply::record(self.0, event, wire, warnings, now)?;
        Ok(())
    }

    fn persist_field(&mut self, writes: &[FieldWrite]) -> Result<(), StoreError> {
        field_ops::persist(self.0, writes)
    }

    fn entries_end(&mut self) -> Result<i64, StoreError> {
        Ok(self
            .0
            .query_row("SELECT COALESCE(MAX(rowid), 0) FROM entries", [], |r| {
                r.get(0)
            })?)
    }

    fn feeds_end(&mut self) -> Result<Cursor, StoreError> {
        Ok(self.0.query_row("SELECT (SELECT COALESCE(MAX(seq), 0) FROM changes), (SELECT COALESCE(MAX(rowid), 0) FROM entries)", [], |r| {
            Ok(Cursor { changes: r.get(0)?, entries: r.get(1)? })
        })?)
    }

    fn record_push(
        &mut self,
        device_id: &str,
        user_id: &str,
        received_at: DateTime<Utc>,
        first: i64,
        last: i64,
    ) -> Result<(), StoreError> {
        self.0.prepare_cached("INSERT INTO pushes (device_id, user_id, received_at, first_entry, last_entry) VALUES (?1, ?2, ?3, ?4, ?5)")?
            .execute(params![device_id, user_id, ts(&received_at), first, last])?;
        Ok(())
    }
}

/// A change row: its payload is JSON text.
fn change(r: &rusqlite::Row<'_>) -> rusqlite::Result<Change> {
    let payload: String = r.get(2)?;
    Ok(Change {
        seq: r.get(0)?,
        kind: r.get(1)?,
        payload: serde_json::from_str(&payload).unwrap_or(Value::Null),
    })
}

/// The feeds as a read connection sees them.
impl PullReads for Connection {
    fn changes_after(
        &self,
        seq: i64,
        scope: &FeedScope,
        limit: usize,
    ) -> Result<Vec<Change>, StoreError> {
        // The inspector's region prefixes and the operator's markets as JSON
        // arrays, matched in SQL.
        let regions = serde_json::to_string(scope.inspector_prefixes.as_deref().unwrap_or(&[]))
            .unwrap_or_else(|_| "[]".into());
        let markets = serde_json::to_string(&scope.market_ids).unwrap_or_else(|_| "[]".into());
        let mut st = self.prepare_cached(
            "SELECT seq, kind, payload FROM changes
             WHERE seq > ?1 AND (
                   (merchant_id IS NULL AND region_code IS NULL AND user_id IS NULL AND market_id IS NULL)
                OR (?2 IS NOT NULL AND merchant_id = ?2)
                OR (?4 AND EXISTS (SELECT 1 FROM json_each(?3) r WHERE substr(changes.region_code, 1, length(r.value)) = r.value))
                OR user_id = ?5
                OR market_id IN (SELECT value FROM json_each(?7)))
             ORDER BY seq LIMIT ?6",
        )?;
        let rows = st.query_map(
            params![
                seq,
                scope.merchant_id,
                regions,
                scope.inspector_prefixes.is_some(),
                scope.user_id,
                limit as i64,
                markets
            ],
            change,
        )?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// The rowid is the server's acceptance order.
    fn entries_after(
        &self,
        merchant_id: &str,
        position: i64,
        limit: usize,
    ) -> Result<Vec<Change>, StoreError> {
        let mut st = self.prepare_cached("SELECT rowid, kind, payload FROM entries WHERE merchant_id = ?1 AND rowid > ?2 ORDER BY rowid LIMIT ?3")?;
        let rows = st.query_map(params![merchant_id, position, limit as i64], change)?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }
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

/// Appends a change addressed to a market's operator and officers (their
/// tablets pull it; nobody else does).
pub fn publish_to_market(
    conn: &Connection,
    kind: &str,
    market_id: &str,
    payload: &Value,
) -> rusqlite::Result<i64> {
    conn.prepare_cached(
        "INSERT INTO changes (kind, market_id, payload, created_at) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![
        kind,
        market_id,
        payload.to_string(),
        Utc::now().to_rfc3339()
    ])?;
    Ok(conn.last_insert_rowid())
}
