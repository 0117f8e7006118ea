//! The log's checkpoints in a device's local store: the last checkpoint the
//! device accepted for each log, and every checkpoint it refused with the
//! reason and the one it held then — a fork's two signed notes are the
//! proof, so a refusal is kept, never dropped, and shown.

use chrono::Utc;
use rusqlite::{params, OptionalExtension};

use super::checkpoint::Checkpoint;
use super::keeper::{accept_checkpoint, Accepted, Refused};
use super::tree::LogHash;
use crate::signed::local::LocalSignedError;
use crate::store::schema;
use crate::store::LocalStore;

/// The `evidence` component's migrations; index + 1 is the version.
pub const MIGRATIONS: &[&str] = &[
    // v1: the held checkpoint of each log; refused checkpoints with reasons.
    r#"
    CREATE TABLE evidence_checkpoints (
        origin  TEXT PRIMARY KEY,
        size    INTEGER NOT NULL,
        root    TEXT NOT NULL,      -- 64 hex digits
        note    TEXT NOT NULL,      -- the signed note as received
        held_at TEXT NOT NULL
    );
    CREATE TABLE evidence_refusals (
        id         INTEGER PRIMARY KEY,
        outcome    TEXT NOT NULL,   -- signature | other_log | older | forked | inconsistent
        detail     TEXT NOT NULL,
        note       TEXT NOT NULL,   -- the refused note
        held_note  TEXT,            -- what was held then, if anything
        refused_at TEXT NOT NULL
    );
    "#,
];

/// Brings the `evidence` tables to the newest version (called on open).
pub fn migrate(conn: &mut rusqlite::Connection) -> rusqlite::Result<usize> {
    schema::migrate_to(conn, "evidence", MIGRATIONS, MIGRATIONS.len())
}

/// Why a checkpoint could not be judged at all.
#[derive(Debug, thiserror::Error)]
pub enum LocalEvidenceError {
    #[error("sqlite: {0}")]
    Storage(#[from] rusqlite::Error),
    #[error("{0}")]
    Signed(#[from] LocalSignedError),
    #[error("本机持有的检查点已损坏 (the held checkpoint does not read back): {0}")]
    Corrupt(String),
}

/// What became of a checkpoint shown to the device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Held {
    /// Held from now on (first, or proven to extend the held one).
    Now(Checkpoint),
    /// The one already held.
    Same,
    /// Refused and kept in `evidence_refusals`; the held one stays.
    Refused {
        outcome: &'static str,
        detail: String,
    },
}

/// A refused checkpoint, as kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub outcome: String,
    pub detail: String,
    pub note: String,
    pub held_note: Option<String>,
    pub refused_at: String,
}

fn outcome(r: &Refused) -> &'static str {
    match r {
        Refused::OtherLog { .. } => "other_log",
        Refused::Older { .. } => "older",
        Refused::Forked { .. } => "forked",
        Refused::Inconsistent { .. } => "inconsistent",
    }
}

impl LocalStore {
    /// The checkpoint held for the log `origin`, with its note.
    pub fn held_checkpoint(
        &self,
        origin: &str,
    ) -> Result<Option<(Checkpoint, String)>, LocalEvidenceError> {
        let row: Option<(i64, String, String)> = self
            .conn()
            .query_row(
                "SELECT size, root, note FROM evidence_checkpoints WHERE origin = ?1",
                params![origin],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        row.map(|(size, root, note)| {
            let size =
                u64::try_from(size).map_err(|e| LocalEvidenceError::Corrupt(e.to_string()))?;
            let root: LogHash = root
                .parse()
                .map_err(|e: super::tree::BadHash| LocalEvidenceError::Corrupt(e.to_string()))?;
            Ok((
                Checkpoint {
                    origin: origin.to_owned(),
                    size,
                    root,
                },
                note,
            ))
        })
        .transpose()
    }

    /// Judges the signed checkpoint `note` (with `proof`, the consistency
    /// proof from the held size) against the stored trust list and the
    /// checkpoint held for its log, and holds it or keeps the refusal.
    pub fn hold_checkpoint(
        &mut self,
        note: &str,
        proof: &[LogHash],
    ) -> Result<Held, LocalEvidenceError> {
        let verifier = self.verifier()?;
        let opened = match Checkpoint::open(note, &verifier, &[], &[]) {
            Ok(o) => o,
            Err(e) => return self.refuse("signature", &e.to_string(), note, None),
        };
        let shown = opened.checkpoint;
        let held = self.held_checkpoint(&shown.origin)?;
        match accept_checkpoint(held.as_ref().map(|(c, _)| c), &shown, proof) {
            Ok(Accepted::Same) => Ok(Held::Same),
            Ok(Accepted::First | Accepted::Extended { .. }) => {
                let size = i64::try_from(shown.size)
                    .map_err(|e| LocalEvidenceError::Corrupt(e.to_string()))?;
                self.conn().execute(
                    "INSERT INTO evidence_checkpoints (origin, size, root, note, held_at)
                     VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (origin) DO UPDATE SET size = excluded.size,
                         root = excluded.root, note = excluded.note, held_at = excluded.held_at",
                    params![
                        shown.origin,
                        size,
                        shown.root.to_hex(),
                        note,
                        Utc::now().to_rfc3339()
                    ],
                )?;
                Ok(Held::Now(shown))
            }
            Err(r) => {
                let held_note = held.map(|(_, n)| n);
                self.refuse(outcome(&r), &r.to_string(), note, held_note.as_deref())
            }
        }
    }

    fn refuse(
        &self,
        outcome: &'static str,
        detail: &str,
        note: &str,
        held_note: Option<&str>,
    ) -> Result<Held, LocalEvidenceError> {
        self.conn().execute(
            "INSERT INTO evidence_refusals (outcome, detail, note, held_note, refused_at)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![outcome, detail, note, held_note, Utc::now().to_rfc3339()],
        )?;
        Ok(Held::Refused {
            outcome,
            detail: detail.to_owned(),
        })
    }

    /// Every checkpoint refused, oldest first.
    pub fn checkpoint_refusals(&self) -> Result<Vec<Refusal>, LocalEvidenceError> {
        let mut stmt = self.conn().prepare(
            "SELECT outcome, detail, note, held_note, refused_at FROM evidence_refusals ORDER BY id",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(Refusal {
                outcome: r.get(0)?,
                detail: r.get(1)?,
                note: r.get(2)?,
                held_note: r.get(3)?,
                refused_at: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::checkpoint::{trusted_key, CheckpointSigner};
    use crate::evidence::testing::log;
    use crate::evidence::MemoryLog;
    use crate::signed::local::{TRUST_LIST_KEY, TRUST_LIST_KIND};
    use crate::signed::{KeyStatus, TrustList};
    use ed25519_dalek::SigningKey;

    const ORIGIN: &str = "shian.test/log/350203";

    fn note(log: &MemoryLog, size: u64, key: &SigningKey) -> String {
        Checkpoint {
            origin: ORIGIN.into(),
            size,
            root: log.root(size).unwrap(),
        }
        .sign(&CheckpointSigner::new(ORIGIN, key))
        .unwrap()
    }

    #[test]
    fn a_device_holds_a_growing_log_keeps_every_refusal_and_remembers_after_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("device.db");
        let server = SigningKey::from_bytes(&[7; 32]);
        let mut store = LocalStore::open(&path).unwrap();
        let honest = log(40, None);
        // Before the first sync there is no trust list to judge with.
        assert!(matches!(
            store.hold_checkpoint(&note(&honest, 5, &server), &[]),
            Err(LocalEvidenceError::Signed(LocalSignedError::NoTrustList))
        ));
        let trust = TrustList {
            keys: vec![trusted_key(&server, KeyStatus::Active)],
            revoked_devices: Vec::new(),
        };
        store
            .conn()
            .execute(
                "INSERT INTO inbox (kind, key, seq, payload) VALUES (?1, ?2, 1, ?3)",
                params![
                    TRUST_LIST_KIND,
                    TRUST_LIST_KEY,
                    serde_json::to_string(&trust).unwrap()
                ],
            )
            .unwrap();

        let first = note(&honest, 5, &server);
        assert!(matches!(store.hold_checkpoint(&first, &[]).unwrap(), Held::Now(c) if c.size == 5));
        assert_eq!(store.hold_checkpoint(&first, &[]).unwrap(), Held::Same);
        let grown = note(&honest, 20, &server);
        let proof = honest.consistency(5, 20).unwrap();
        assert!(
            matches!(store.hold_checkpoint(&grown, &proof).unwrap(), Held::Now(c) if c.size == 20)
        );

        // A rewritten entry 3, a fork at 20, a rollback, a stranger's key.
        let rewritten = log(40, Some(3));
        let lie = note(&rewritten, 30, &server);
        let lie_proof = rewritten.consistency(20, 30).unwrap();
        let fork = note(&rewritten, 20, &server);
        let stranger = note(&honest, 30, &SigningKey::from_bytes(&[8; 32]));
        let older = note(&honest, 5, &server);
        let outcomes: Vec<Held> = [
            (&lie, &lie_proof[..]),
            (&fork, &[][..]),
            (&older, &[][..]),
            (&stranger, &[][..]),
        ]
        .iter()
        .map(|(n, p)| store.hold_checkpoint(n, p).unwrap())
        .collect();
        let names: Vec<&str> = outcomes
            .iter()
            .map(|h| match h {
                Held::Refused { outcome, .. } => *outcome,
                other => panic!("accepted a lie: {other:?}"),
            })
            .collect();
        assert_eq!(names, ["inconsistent", "forked", "older", "signature"]);
        drop(store);

        let store = LocalStore::open(&path).unwrap();
        let (held, held_note) = store.held_checkpoint(ORIGIN).unwrap().unwrap();
        assert_eq!(held.size, 20);
        assert_eq!(held_note, grown);
        let refusals = store.checkpoint_refusals().unwrap();
        assert_eq!(refusals.len(), 4);
        // The fork's two signed notes, together: the proof.
        assert_eq!(refusals[1].outcome, "forked");
        assert_eq!(refusals[1].note, fork);
        assert_eq!(refusals[1].held_note.as_deref(), Some(grown.as_str()));
        assert_eq!(refusals[3].held_note, None);
    }
}
