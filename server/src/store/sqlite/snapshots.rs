//! Saved read models in the SQLite file (`graph_snapshots`,
//! `graph_snapshot_parts`), as on PostgreSQL (`postgres/snapshots.rs`):
//! the newest read when the graph is first built, one saved every so many
//! entries, the last two kept. Saves go through the one writer, so two
//! processes on one file save one at a time; each re-reads the newest
//! position in its transaction.

use rusqlite::{params, Connection, OptionalExtension};
use shian_core::trace::SNAPSHOT_FORMAT;

use super::migrate;
use crate::store::graph::{snapshot_due, GraphSnapshot};
use crate::store::ledger::SnapshotSaved;
use crate::store::migrations::Migration;
use crate::store::StoreError;

/// The largest part of a body (a BLOB holds 1 GB at most).
const PART: usize = 64 << 20;
/// Snapshots kept.
const KEEP: i64 = 2;

const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "saved read models",
    sql: r#"
    CREATE TABLE graph_snapshots (
        id       INTEGER PRIMARY KEY,
        taken_at TEXT    NOT NULL,
        format   INTEGER NOT NULL,
        position INTEGER NOT NULL CHECK (position >= 0),
        meta     TEXT    NOT NULL,   -- SnapshotMeta, JSON
        parts    INTEGER NOT NULL CHECK (parts >= 1),
        bytes    INTEGER NOT NULL CHECK (bytes >= 0)
    ) STRICT;
    CREATE INDEX graph_snapshots_by_position ON graph_snapshots(position DESC, id DESC);
    CREATE TABLE graph_snapshot_parts (
        snapshot_id INTEGER NOT NULL REFERENCES graph_snapshots(id) ON DELETE CASCADE,
        part        INTEGER NOT NULL CHECK (part >= 0),
        body        BLOB    NOT NULL,
        PRIMARY KEY (snapshot_id, part)
    ) STRICT;
    "#,
}];

pub(super) fn open(conn: &mut Connection) -> Result<(), StoreError> {
    migrate::apply(conn, "snapshots", MIGRATIONS)?;
    Ok(())
}

/// The position of the newest snapshot this build can read.
pub(super) fn newest_position(c: &Connection) -> Result<Option<i64>, StoreError> {
    Ok(c.query_row(
        "SELECT position FROM graph_snapshots WHERE format = ?1 ORDER BY position DESC, id DESC LIMIT 1",
        [SNAPSHOT_FORMAT],
        |r| r.get(0),
    )
    .optional()?)
}

/// The newest snapshot this build can read, whole; `None` when there is
/// none or it is not whole (the graph is replayed then).
pub(super) fn newest(c: &Connection) -> Result<Option<GraphSnapshot>, StoreError> {
    let Some((id, meta, parts, bytes)) = c
        .query_row(
            "SELECT id, meta, parts, bytes FROM graph_snapshots WHERE format = ?1 ORDER BY position DESC, id DESC LIMIT 1",
            [SNAPSHOT_FORMAT],
            |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, i64>(2)?, r.get::<_, i64>(3)?)),
        )
        .optional()?
    else {
        return Ok(None);
    };
    let mut body = Vec::with_capacity(usize::try_from(bytes).unwrap_or(0));
    let mut stmt =
        c.prepare("SELECT body FROM graph_snapshot_parts WHERE snapshot_id = ?1 ORDER BY part")?;
    let mut rows = stmt.query([id])?;
    let mut read = 0;
    while let Some(r) = rows.next()? {
        body.extend_from_slice(r.get_ref(0)?.as_blob().map_err(rusqlite::Error::from)?);
        read += 1;
    }
    Ok(GraphSnapshot::stored(id, &meta, (parts, read), bytes, body))
}

/// Saves `snap` unless one less than `min_new` entries before it is
/// stored; keeps the last [`KEEP`].
pub(super) fn save(
    c: &mut Connection,
    snap: &GraphSnapshot,
    min_new: i64,
) -> Result<Option<SnapshotSaved>, StoreError> {
    let position = snap.meta.position();
    let tx = c.transaction()?;
    if !snapshot_due(position, newest_position(&tx)?, min_new) {
        return Ok(None);
    }
    let meta = serde_json::to_string(&snap.meta)
        .map_err(|e| StoreError::Backend(format!("snapshot meta: {e}")))?;
    // Never empty: core's snapshot starts with its header.
    let chunks: Vec<&[u8]> = snap.body.chunks(PART).collect();
    let bytes = i64::try_from(snap.body.len())
        .map_err(|_| StoreError::Backend("snapshot too large".into()))?;
    tx.execute(
        "INSERT INTO graph_snapshots (taken_at, format, position, meta, parts, bytes)
         VALUES (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), ?1, ?2, ?3, ?4, ?5)",
        params![SNAPSHOT_FORMAT, position, meta, chunks.len() as i64, bytes],
    )?;
    let id = tx.last_insert_rowid();
    for (i, chunk) in chunks.iter().enumerate() {
        tx.execute(
            "INSERT INTO graph_snapshot_parts (snapshot_id, part, body) VALUES (?1, ?2, ?3)",
            params![id, i as i64, chunk],
        )?;
    }
    tx.execute(
        "DELETE FROM graph_snapshots WHERE id NOT IN
           (SELECT id FROM graph_snapshots ORDER BY position DESC, id DESC LIMIT ?1)",
        [KEEP],
    )?;
    tx.commit()?;
    Ok(Some(SnapshotSaved { position, bytes }))
}
