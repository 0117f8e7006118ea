//! The sync bookkeeping inside the local store: settling pushed ops,
//! applying pulled pages, and the status an app shows. All of it lives in the
//! store file, so it survives the app being killed at any point.

use chrono::Utc;
use rusqlite::{params, OptionalExtension};
use serde::Serialize;

use crate::store::LocalStore;
use crate::sync::protocol::{Change, Op, OpResult, OpStatus};
use crate::sync::pulled::{self, Outcome};

/// How many times a parked-but-retryable op is offered to the server again.
const MAX_RETRYABLE_ATTEMPTS: i64 = 50;

/// What an app shows about sync.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SyncStatus {
    pub pending: i64,
    pub parked: i64,
    /// Pulled changes this device could not apply, kept and retried.
    pub unapplied: i64,
    pub cursor: String,
    pub last_success_at: Option<String>,
    pub last_attempt_at: Option<String>,
    pub last_error: Option<String>,
    pub consecutive_failures: i64,
}

/// A parked op with the server's reason, for the app to show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ParkedOp {
    pub op_id: String,
    pub kind: String,
    pub reason_code: String,
    pub message: String,
    pub retryable: bool,
}

impl LocalStore {
    /// Offers retryable parked ops to the server again (another device may
    /// have pushed the batch they refer to by now).
    pub fn unpark_retryable(&self) -> rusqlite::Result<usize> {
        self.conn().execute(
            "UPDATE outbox SET state = 'pending' WHERE state = 'parked' AND retryable = 1 AND attempts < ?1",
            [MAX_RETRYABLE_ATTEMPTS],
        )
    }

    /// The next pending ops to push, oldest first.
    pub fn next_ops(&self, limit: usize) -> rusqlite::Result<Vec<Op>> {
        let mut st = self.conn().prepare_cached("SELECT op_id, kind, at, payload FROM outbox WHERE state = 'pending' ORDER BY seq LIMIT ?1")?;
        let rows = st.query_map([limit as i64], |r| {
            let payload: String = r.get(3)?;
            Ok(Op {
                op_id: r.get(0)?,
                kind: r.get(1)?,
                at: r.get(2)?,
                payload: serde_json::from_str(&payload).unwrap_or(serde_json::Value::Null),
            })
        })?;
        rows.collect()
    }

    /// Settles the outcome of a push in one transaction: accepted and
    /// duplicate ops leave the outbox, rejected ones are parked with their
    /// reason — never silently dropped, never blocking the ops behind them.
    pub fn settle(&mut self, results: &[OpResult]) -> rusqlite::Result<(usize, usize, usize)> {
        let tx = self.conn_mut().transaction()?;
        let (mut accepted, mut duplicate, mut rejected) = (0, 0, 0);
        {
            let mut done = tx.prepare_cached("DELETE FROM outbox WHERE op_id = ?1")?;
            let mut park = tx.prepare_cached(
                "UPDATE outbox SET state = 'parked', attempts = attempts + 1, last_error = ?2, retryable = ?3 WHERE op_id = ?1",
            )?;
            for r in results {
                match r.status {
                    OpStatus::Accepted | OpStatus::Duplicate => {
                        if r.status == OpStatus::Accepted {
                            accepted += 1;
                        } else {
                            duplicate += 1;
                        }
                        // A duplicate of an op the server had refused is
                        // still a refusal: keep it visible.
                        match &r.error {
                            Some(e) => park.execute(params![
                                r.op_id,
                                serde_json::to_string(e).unwrap_or_default(),
                                e.retryable
                            ])?,
                            None => done.execute([&r.op_id])?,
                        };
                    }
                    OpStatus::Rejected => {
                        rejected += 1;
                        let e = r.error.clone();
                        let retryable = e.as_ref().map(|e| e.retryable).unwrap_or(false);
                        park.execute(params![
                            r.op_id,
                            e.map(|e| serde_json::to_string(&e).unwrap_or_default()),
                            retryable
                        ])?;
                    }
                }
            }
        }
        tx.commit()?;
        Ok((accepted, duplicate, rejected))
    }

    /// Ops the server refused, with reasons.
    pub fn parked(&self) -> rusqlite::Result<Vec<ParkedOp>> {
        let mut st = self.conn().prepare_cached("SELECT op_id, kind, last_error, retryable FROM outbox WHERE state = 'parked' ORDER BY seq")?;
        let rows = st.query_map([], |r| {
            let err: Option<String> = r.get(2)?;
            let e: serde_json::Value = err
                .and_then(|s| serde_json::from_str(&s).ok())
                .unwrap_or_default();
            Ok(ParkedOp {
                op_id: r.get(0)?,
                kind: r.get(1)?,
                reason_code: e["code"].as_str().unwrap_or("unknown").to_owned(),
                message: e["message"].as_str().unwrap_or_default().to_owned(),
                retryable: r.get(3)?,
            })
        })?;
        rows.collect()
    }

    /// Applies one pulled page and its cursor in one transaction, so a crash
    /// either keeps the whole page or none of it (and pulls it again). A
    /// change that does not apply here is kept in the same transaction
    /// ([`LocalStore::unapplied`]), so the cursor never moves past a change
    /// that is neither applied nor kept. Returns how many changes were new
    /// here.
    pub fn apply_page(&mut self, changes: &[Change], cursor: &str) -> rusqlite::Result<usize> {
        let rules = self.rules().clone();
        let now = Utc::now();
        let mut tx = self.conn_mut().transaction()?;
        let mut new = 0;
        for c in changes {
            match pulled::apply_change(&mut tx, c, &rules, now)? {
                Outcome::Applied => new += 1,
                Outcome::AlreadyHeld => {}
                Outcome::Refused(why) => pulled::keep(&tx, c, &why, &rules.version, now)?,
            }
        }
        tx.execute(
            "INSERT INTO meta (key, value) VALUES ('sync.cursor', ?1) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            [cursor],
        )?;
        tx.commit()?;
        Ok(new)
    }

    /// Items of a non-ledger kind received by sync (tasks, checklists,
    /// recall notices), newest first.
    pub fn inbox(&self, kind: &str) -> rusqlite::Result<Vec<serde_json::Value>> {
        let mut st = self
            .conn()
            .prepare_cached("SELECT payload FROM inbox WHERE kind = ?1 ORDER BY seq DESC")?;
        let rows = st.query_map([kind], |r| r.get::<_, String>(0))?;
        rows.map(|r| r.map(|s| serde_json::from_str(&s).unwrap_or_default()))
            .collect()
    }

    pub fn cursor(&self) -> rusqlite::Result<String> {
        Ok(self.meta("sync.cursor")?.unwrap_or_default())
    }

    /// Records the end of a sync attempt.
    pub fn note_attempt(&self, error: Option<&str>) -> rusqlite::Result<()> {
        let now = Utc::now().to_rfc3339();
        self.set_meta("sync.last_attempt_at", &now)?;
        match error {
            None => {
                // Fold the WAL into the database now, between writes, rather
                // than inside some later write (see `LocalStore::open`).
                self.conn()
                    .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))?;
                self.set_meta("sync.last_success_at", &now)?;
                self.set_meta("sync.consecutive_failures", "0")?;
                self.conn()
                    .execute("DELETE FROM meta WHERE key = 'sync.last_error'", [])?;
            }
            Some(e) => {
                let n = self
                    .meta("sync.consecutive_failures")?
                    .and_then(|s| s.parse::<i64>().ok())
                    .unwrap_or(0);
                self.set_meta("sync.consecutive_failures", &(n + 1).to_string())?;
                self.set_meta("sync.last_error", e)?;
            }
        }
        Ok(())
    }

    pub fn sync_status(&self) -> rusqlite::Result<SyncStatus> {
        // Only the outbox and the kept pulls are counted: a COUNT(*) over the whole ledger grows
        // with history (63 ms at 100,000 events) and status is polled often.
        let (pending, parked, unapplied): (i64, i64, i64) = self.conn().query_row(
            "SELECT COUNT(*) FILTER (WHERE state = 'pending'), COUNT(*) FILTER (WHERE state = 'parked'),
                    (SELECT COUNT(*) FROM unapplied)
             FROM outbox",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?;
        Ok(SyncStatus {
            pending,
            parked,
            unapplied,
            cursor: self.cursor()?,
            last_success_at: self.meta("sync.last_success_at")?,
            last_attempt_at: self.meta("sync.last_attempt_at")?,
            last_error: self.meta("sync.last_error")?,
            consecutive_failures: self
                .conn()
                .query_row(
                    "SELECT value FROM meta WHERE key = 'sync.consecutive_failures'",
                    [],
                    |r| r.get::<_, String>(0),
                )
                .optional()?
                .and_then(|s| s.parse().ok())
                .unwrap_or(0),
        })
    }
}
