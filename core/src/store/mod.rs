//! The local store: one SQLite file (bundled SQLite, WAL) holding the ledger
//! and the outbox of events waiting to be pushed.
//!
//! An event is written to the outbox in the same transaction as its local
//! effect, before [`LocalStore::record`] returns: an app killed a millisecond
//! later loses nothing, and never holds an effect without its outbox entry.

pub mod apply;
pub mod schema;
pub mod view;

use std::path::Path;

use chrono::Utc;
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use serde_json::Value;

use crate::error::LedgerError;
use crate::event::LedgerEvent;
use crate::ledger::Warning;
use crate::rules::LedgerRules;
pub use apply::Applied;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error(
        "数据文件版本 {found} 比本程序支持的 {known} 新，请升级应用 (schema newer than this app)"
    )]
    SchemaTooNew { found: usize, known: usize },
}

/// An event waiting in the outbox.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutboxOp {
    pub seq: i64,
    pub op_id: String,
    pub kind: String,
    pub at: String,
    pub payload: Value,
    /// `pending` or `parked` (refused by the server, kept and shown).
    pub state: String,
    pub attempts: i64,
    pub last_error: Option<String>,
}

/// Row counts, for status screens and the demo.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub entries: i64,
    pub batches: i64,
    pub movements: i64,
    pub warnings: i64,
    pub outbox_pending: i64,
    pub outbox_parked: i64,
}

/// A device's store (also used in-process by tools and benchmarks).
pub struct LocalStore {
    conn: Connection,
    rules: LedgerRules,
    authoritative: bool,
}

impl LocalStore {
    /// Opens (creating if needed) a store file with this build's rules and
    /// migrates it.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        Self::open_with_rules(path, LedgerRules::builtin())
    }

    /// Opens a store file with the given rules. Pulled changes kept because
    /// they did not apply under other rules, or under another build, are
    /// tried again before this returns.
    pub fn open_with_rules(path: impl AsRef<Path>, rules: LedgerRules) -> Result<Self, StoreError> {
        Self::from_connection(Connection::open(path)?, rules)
    }

    pub fn open_in_memory() -> Result<Self, StoreError> {
        Self::from_connection(Connection::open_in_memory()?, LedgerRules::builtin())
    }

    fn from_connection(mut conn: Connection, rules: LedgerRules) -> Result<Self, StoreError> {
        schema::configure(&conn)?;
        // SQLite's automatic checkpoint runs inside whichever write crosses
        // the threshold (1,000 pages): every ~95 purchases one write paid
        // ~5 ms, the p99 of a device write. A larger threshold bounds the WAL
        // (~16 MB) while the checkpoint after each successful sync does the
        // work between writes.
        conn.pragma_update(None, "wal_autocheckpoint", 4000)?;
        let found = schema::version(&conn, "ledger")?;
        if found > schema::LEDGER.len() {
            return Err(StoreError::SchemaTooNew {
                found,
                known: schema::LEDGER.len(),
            });
        }
        schema::migrate(&mut conn)?;
        crate::signed::local::migrate(&mut conn)?;
        crate::evidence::local::migrate(&mut conn)?;
        let mut store = Self {
            conn,
            rules,
            authoritative: false,
        };
        store.retry_unapplied_if_stale()?;
        Ok(store)
    }

    /// Treats this store as the whole truth (a tool working on a full
    /// ledger, such as the demo generator), so unknown references are errors.
    pub fn set_authoritative(&mut self, authoritative: bool) {
        self.authoritative = authoritative;
    }

    /// Replaces the rules for what comes next; kept pulled changes are tried
    /// under them by [`LocalStore::retry_unapplied`] (or at the next open).
    pub fn set_rules(&mut self, rules: LedgerRules) {
        self.rules = rules;
    }

    pub fn rules(&self) -> &LedgerRules {
        &self.rules
    }

    pub fn conn(&self) -> &Connection {
        &self.conn
    }

    /// Mutable access for the sync client, which applies pulled pages in
    /// transactions of its own.
    pub fn conn_mut(&mut self) -> &mut Connection {
        &mut self.conn
    }

    /// Parses, checks and records a wire event, with its outbox entry, in one
    /// transaction.
    pub fn record(&mut self, kind: &str, payload: &Value) -> Result<Applied, LedgerError> {
        let event = LedgerEvent::parse(kind, payload)?;
        self.record_event(event)
    }

    /// Records a typed event with its outbox entry in one transaction. A
    /// sale or disposal of a batch under a hold this device pulled is judged by
    /// [`crate::rules::check_hold`] (refused, or kept with its warning);
    /// pulled events are not, the server judged them.
    pub fn record_event(&mut self, mut event: LedgerEvent) -> Result<Applied, LedgerError> {
        let now = Utc::now();
        let tx = self.conn.transaction()?;
        let hold = match &event {
            LedgerEvent::Sale(s) => {
                crate::hold::local::active_hold(&tx, &s.merchant_id, &s.trace_code)?
            }
            LedgerEvent::Dispose(d) => {
                crate::hold::local::active_hold(&tx, &d.merchant_id, &d.trace_code)?
            }
            _ => None,
        };
        let held = crate::rules::check_hold(&event, hold.as_ref())?;
        let mut applied = apply::apply(
            &tx,
            &mut event,
            &self.rules,
            now,
            self.authoritative,
            &mut rand::rng(),
        )?;
        if let Some(w) = held {
            let id = event.entry_id().to_string();
            crate::hold::local::keep_warning(&tx, &id, event.merchant_id(), &w, now)?;
            applied.warnings.push(w);
        }
        tx.prepare_cached(
            "INSERT INTO outbox (op_id, kind, at, payload, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?
        .execute(params![
            event.entry_id().to_string(),
            event.kind(),
            event.at().to_rfc3339(),
            event.to_wire_string(),
            now.to_rfc3339(),
        ])?;
        tx.commit()?;
        Ok(applied)
    }

    /// Writes an arbitrary event (inspection, sample …) to the outbox alone:
    /// events whose effects live on the server.
    pub fn enqueue(
        &mut self,
        op_id: &str,
        kind: &str,
        at: &str,
        payload: &Value,
    ) -> Result<(), rusqlite::Error> {
        self.conn
            .prepare_cached("INSERT INTO outbox (op_id, kind, at, payload, created_at) VALUES (?1, ?2, ?3, ?4, ?5)")?
            .execute(params![op_id, kind, at, payload.to_string(), Utc::now().to_rfc3339()])?;
        Ok(())
    }

    /// Outbox entries in order, `pending` first, at most `limit`.
    pub fn outbox(&self, state: &str, limit: u32) -> rusqlite::Result<Vec<OutboxOp>> {
        let mut st = self.conn.prepare_cached(
            "SELECT seq, op_id, kind, at, payload, state, attempts, last_error FROM outbox WHERE state = ?1 ORDER BY seq LIMIT ?2",
        )?;
        let rows = st.query_map(params![state, limit], |r| {
            let payload: String = r.get(4)?;
            Ok(OutboxOp {
                seq: r.get(0)?,
                op_id: r.get(1)?,
                kind: r.get(2)?,
                at: r.get(3)?,
                payload: serde_json::from_str(&payload).unwrap_or(Value::Null),
                state: r.get(5)?,
                attempts: r.get(6)?,
                last_error: r.get(7)?,
            })
        })?;
        rows.collect()
    }

    /// The warnings recorded for a merchant, newest first.
    pub fn warnings(
        &self,
        merchant_id: &str,
        limit: u32,
    ) -> rusqlite::Result<Vec<(String, Warning)>> {
        let mut st = self.conn.prepare_cached(
            "SELECT entry_id, code, message, evidence FROM warnings WHERE merchant_id = ?1 ORDER BY id DESC LIMIT ?2",
        )?;
        let rows = st.query_map(params![merchant_id, limit], |r| {
            let evidence: String = r.get(3)?;
            Ok((
                r.get(0)?,
                Warning {
                    code: r.get(1)?,
                    message: r.get(2)?,
                    evidence: serde_json::from_str(&evidence).unwrap_or(Value::Null),
                },
            ))
        })?;
        rows.collect()
    }

    pub fn counts(&self) -> rusqlite::Result<Counts> {
        self.conn.query_row(
            "SELECT (SELECT COUNT(*) FROM entries), (SELECT COUNT(*) FROM batches), (SELECT COUNT(*) FROM movements),
                    (SELECT COUNT(*) FROM warnings), (SELECT COUNT(*) FROM outbox WHERE state = 'pending'),
                    (SELECT COUNT(*) FROM outbox WHERE state = 'parked')",
            [],
            |r| {
                Ok(Counts {
                    entries: r.get(0)?,
                    batches: r.get(1)?,
                    movements: r.get(2)?,
                    warnings: r.get(3)?,
                    outbox_pending: r.get(4)?,
                    outbox_parked: r.get(5)?,
                })
            },
        )
    }

    /// A value kept in the store's key-value table (sync cursor and the like).
    pub fn meta(&self, key: &str) -> rusqlite::Result<Option<String>> {
        self.conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()
    }

    pub fn set_meta(&self, key: &str, value: &str) -> rusqlite::Result<()> {
        self.conn.execute("INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value", params![key, value])?;
        Ok(())
    }

    /// Records a merchant's display name for traces shown offline.
    pub fn put_directory(
        &self,
        merchant_id: &str,
        name: &str,
        payload: &Value,
    ) -> rusqlite::Result<()> {
        self.conn.execute(
            "INSERT INTO directory (merchant_id, name, payload) VALUES (?1, ?2, ?3)
             ON CONFLICT(merchant_id) DO UPDATE SET name = excluded.name, payload = excluded.payload",
            params![merchant_id, name, payload.to_string()],
        )?;
        Ok(())
    }
}
