//! Applying one pulled change to the local store, and keeping the changes
//! that do not apply here. The server holds every pulled change as a fact;
//! a device that cannot apply one (it does not parse under this build, its
//! rules refuse it, something it needs is not here yet) keeps it with the
//! reason, shows it, and tries it again later: nothing pulled is thrown away.

use chrono::{DateTime, Utc};
use rusqlite::types::Type;
use rusqlite::{params, Connection, Transaction};
use serde::Serialize;

use crate::error::{FieldError, LedgerError};
use crate::event::LedgerEvent;
use crate::rules::LedgerRules;
use crate::store::{apply, LocalStore};
use crate::sync::protocol::Change;

/// The build a change was tried under: a newer app may apply what this one
/// could not, so a change of version retries the kept changes.
pub const CORE_VERSION: &str = env!("CARGO_PKG_VERSION");

/// A pulled change this device could not apply, kept with the reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnappliedChange {
    /// The server's sequence of the change in its feed.
    pub seq: i64,
    pub kind: String,
    /// The payload as received, as JSON text.
    pub payload: String,
    pub reason_code: String,
    pub message: String,
    /// The field at fault, when one is.
    pub field: Option<String>,
    /// The rules version and the build it was last tried under.
    pub rules_version: String,
    pub core_version: String,
    pub attempts: i64,
    pub first_tried_at: String,
    pub last_tried_at: String,
}

/// Why a change did not apply here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    code: String,
    message: String,
    field: Option<String>,
}

impl From<FieldError> for Refusal {
    fn from(e: FieldError) -> Self {
        Refusal {
            field: (!e.field.is_empty()).then_some(e.field),
            code: e.code,
            message: e.message,
        }
    }
}

/// What applying one change did.
pub(crate) enum Outcome {
    Applied,
    /// A ledger entry this device already holds.
    AlreadyHeld,
    Refused(Refusal),
}

/// The one place a pulled ledger event is parsed.
fn parse_ledger(c: &Change) -> Result<LedgerEvent, FieldError> {
    LedgerEvent::parse(&c.kind, &c.payload)
}

/// Applies one change inside the caller's transaction. A refused change
/// writes nothing. A storage failure other than a constraint (disk full,
/// I/O) is an `Err`: the caller's transaction rolls back and the page is
/// pulled again, rather than the change being kept as refused.
pub(crate) fn apply_change(
    tx: &mut Transaction<'_>,
    c: &Change,
    rules: &LedgerRules,
    now: DateTime<Utc>,
) -> rusqlite::Result<Outcome> {
    if LedgerEvent::is_ledger_kind(&c.kind) {
        let mut event = match parse_ledger(c) {
            Ok(e) => e,
            Err(e) => return Ok(Outcome::Refused(e.into())),
        };
        let known: bool = tx
            .prepare_cached("SELECT EXISTS(SELECT 1 FROM entries WHERE entry_id = ?1)")?
            .query_row([event.entry_id().to_string()], |r| r.get(0))?;
        if known {
            return Ok(Outcome::AlreadyHeld);
        }
        // A local refusal must leave nothing half-applied: a savepoint.
        let sp = tx.savepoint()?;
        // The clock check guards what a person types here; a pulled event
        // was judged by the server, and another device's clock may run ahead
        // of this one, so this device's "now" is not held against it (a day
        // of slack).
        let applied = apply::apply(
            &sp,
            &mut event,
            rules,
            now + chrono::Duration::days(1),
            false,
            &mut rand::rng(),
        );
        match applied {
            Ok(_) => {
                sp.commit()?;
                Ok(Outcome::Applied)
            }
            Err(e) => {
                drop(sp);
                refusal(e).map(Outcome::Refused)
            }
        }
    } else if c.kind == "merchant" {
        let Some(id) = c.payload["id"].as_str().filter(|id| !id.is_empty()) else {
            return Ok(Outcome::Refused(Refusal {
                code: "missing_id".into(),
                message: "商户卡缺少编号 (merchant card without an id)".into(),
                field: Some("id".into()),
            }));
        };
        let name = c.payload["name"].as_str().unwrap_or_default();
        tx.prepare_cached(
            "INSERT INTO directory (merchant_id, name, payload) VALUES (?1, ?2, ?3)
             ON CONFLICT(merchant_id) DO UPDATE SET name = excluded.name, payload = excluded.payload",
        )?
        .execute(params![id, name, c.payload.to_string()])?;
        Ok(Outcome::Applied)
    } else {
        // Tasks, checklists, notices: the latest of each id; one without an
        // id is kept under its sequence.
        let key = c.payload["id"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| c.seq.to_string());
        tx.prepare_cached(
            "INSERT INTO inbox (kind, key, seq, payload) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(kind, key) DO UPDATE SET seq = excluded.seq, payload = excluded.payload",
        )?
        .execute(params![c.kind, key, c.seq, c.payload.to_string()])?;
        Ok(Outcome::Applied)
    }
}

/// A local refusal as kept; storage failures that are not about this
/// change's rows go back to the caller.
fn refusal(e: LedgerError) -> rusqlite::Result<Refusal> {
    match e {
        LedgerError::Invalid(f) => Ok(f.into()),
        LedgerError::Rule(r) => Ok(Refusal {
            code: r.code,
            message: r.message,
            field: r.field,
        }),
        LedgerError::Storage(s) if s.constraint => Ok(Refusal {
            code: "local_constraint".into(),
            message: s.message,
            field: None,
        }),
        LedgerError::Storage(s) => Err(s.into_rusqlite()),
    }
}

/// Keeps a refused change, or, when it is kept already (pulled again, or
/// retried), counts the attempt and records the latest reason.
pub(crate) fn keep(
    conn: &Connection,
    c: &Change,
    why: &Refusal,
    rules_version: &str,
    now: DateTime<Utc>,
) -> rusqlite::Result<()> {
    let now = now.to_rfc3339();
    conn.prepare_cached(
        "INSERT INTO unapplied (seq, kind, payload, reason_code, message, field, rules_version, core_version,
             attempts, first_tried_at, last_tried_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 1, ?9, ?9)
         ON CONFLICT(kind, seq) DO UPDATE SET
             reason_code = excluded.reason_code, message = excluded.message, field = excluded.field,
             rules_version = excluded.rules_version, core_version = excluded.core_version,
             attempts = attempts + 1, last_tried_at = excluded.last_tried_at",
    )?
    .execute(params![
        c.seq,
        c.kind,
        c.payload.to_string(),
        why.code,
        why.message,
        why.field,
        rules_version,
        CORE_VERSION,
        now
    ])?;
    Ok(())
}

impl LocalStore {
    /// Pulled changes this device could not apply, in the order pulled.
    pub fn unapplied(&self) -> rusqlite::Result<Vec<UnappliedChange>> {
        let mut st = self.conn().prepare_cached(
            "SELECT seq, kind, payload, reason_code, message, field, rules_version, core_version,
                    attempts, first_tried_at, last_tried_at
             FROM unapplied ORDER BY id",
        )?;
        let rows = st.query_map([], |r| {
            Ok(UnappliedChange {
                seq: r.get(0)?,
                kind: r.get(1)?,
                payload: r.get(2)?,
                reason_code: r.get(3)?,
                message: r.get(4)?,
                field: r.get(5)?,
                rules_version: r.get(6)?,
                core_version: r.get(7)?,
                attempts: r.get(8)?,
                first_tried_at: r.get(9)?,
                last_tried_at: r.get(10)?,
            })
        })?;
        rows.collect()
    }

    /// Tries every kept change again under the current rules, in the order
    /// pulled, each in a transaction of its own: those that apply now leave
    /// the list, the others stay with the attempt counted and the latest
    /// reason. Returns how many left the list (applied now, or found applied
    /// already).
    pub fn retry_unapplied(&mut self) -> rusqlite::Result<usize> {
        let rules = self.rules().clone();
        let kept: Vec<(i64, Change)> = {
            let mut st = self
                .conn()
                .prepare_cached("SELECT id, seq, kind, payload FROM unapplied ORDER BY id")?;
            let rows = st.query_map([], |r| {
                let payload: String = r.get(3)?;
                // Written from a parsed value, so it reads back unless the
                // file is damaged: then that is a storage error.
                let payload = serde_json::from_str(&payload).map_err(|e| {
                    rusqlite::Error::FromSqlConversionFailure(3, Type::Text, Box::new(e))
                })?;
                Ok((
                    r.get(0)?,
                    Change {
                        seq: r.get(1)?,
                        kind: r.get(2)?,
                        payload,
                    },
                ))
            })?;
            rows.collect::<rusqlite::Result<_>>()?
        };
        let mut applied = 0;
        for (id, change) in kept {
            let now = Utc::now();
            let mut tx = self.conn_mut().transaction()?;
            match apply_change(&mut tx, &change, &rules, now)? {
                Outcome::Applied | Outcome::AlreadyHeld => {
                    tx.execute("DELETE FROM unapplied WHERE id = ?1", [id])?;
                    applied += 1;
                }
                Outcome::Refused(why) => keep(&tx, &change, &why, &rules.version, now)?,
            }
            tx.commit()?;
        }
        Ok(applied)
    }

    /// Retries the kept changes when they were last tried under other rules
    /// or another build (called when the store is opened).
    pub(crate) fn retry_unapplied_if_stale(&mut self) -> rusqlite::Result<()> {
        let stale: bool = self.conn().query_row(
            "SELECT EXISTS(SELECT 1 FROM unapplied WHERE rules_version <> ?1 OR core_version <> ?2)",
            params![self.rules().version, CORE_VERSION],
            |r| r.get(0),
        )?;
        if stale {
            self.retry_unapplied()?;
        }
        Ok(())
    }
}
