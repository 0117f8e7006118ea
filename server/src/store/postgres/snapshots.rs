//! Saved read models on PostgreSQL (`graph_snapshots`, `graph_snapshot_parts`):
//! the newest read at start, one saved every so many entries by whichever
//! instance gets there first.
//!
//! **One saver at a time:** a save takes a transaction-scoped advisory
//! lock with `pg_try_advisory_xact_lock`; an instance that does not get it
//! skips this round (another is saving). Under the lock it re-reads the
//! newest snapshot's position, so three instances crossing the threshold
//! at once save one snapshot, not three. The last two are kept: the
//! newest, and one to fall back to.

use postgres::{Client, GenericClient};
use shian_core::trace::SNAPSHOT_FORMAT;

use crate::store::graph::{snapshot_due, GraphSnapshot};
use crate::store::ledger::SnapshotSaved;
use crate::store::StoreError;

/// The advisory lock of saves: "shiansnp" in ASCII.
const SAVE_LOCK: i64 = 0x7368_6961_6e73_6e70;
/// The largest part of a body.
const PART: usize = 64 << 20;
/// Snapshots kept.
const KEEP: i64 = 2;

/// The position of the newest snapshot this build can read.
pub(super) fn newest_position(c: &mut impl GenericClient) -> Result<Option<i64>, StoreError> {
    Ok(c.query_opt(
        "SELECT position FROM graph_snapshots WHERE format = $1 ORDER BY position DESC, id DESC LIMIT 1",
        &[&(SNAPSHOT_FORMAT as i32)],
    )?
    .map(|r| r.get(0)))
}

/// The newest snapshot this build can read, whole; `None` when there is
/// none (or its row does not read: the graph is replayed then).
pub(super) fn newest(c: &mut Client) -> Result<Option<GraphSnapshot>, StoreError> {
    let Some(row) = c.query_opt(
        "SELECT id, meta::text, parts, bytes FROM graph_snapshots WHERE format = $1 ORDER BY position DESC, id DESC LIMIT 1",
        &[&(SNAPSHOT_FORMAT as i32)],
    )?
    else {
        return Ok(None);
    };
    let (id, meta, parts, bytes): (i64, String, i32, i64) =
        (row.get(0), row.get(1), row.get(2), row.get(3));
    let mut body = Vec::with_capacity(usize::try_from(bytes).unwrap_or(0));
    let mut read = 0;
    for r in c.query(
        "SELECT body FROM graph_snapshot_parts WHERE snapshot_id = $1 ORDER BY part",
        &[&id],
    )? {
        body.extend_from_slice(r.get::<_, &[u8]>(0));
        read += 1;
    }
    Ok(GraphSnapshot::stored(
        id,
        &meta,
        (i64::from(parts), read),
        bytes,
        body,
    ))
}

/// Saves `snap` unless another instance is saving or has saved one less
/// than `min_new` entries before it; keeps the last [`KEEP`].
pub(super) fn save(
    c: &mut Client,
    snap: &GraphSnapshot,
    min_new: i64,
) -> Result<Option<SnapshotSaved>, StoreError> {
    let position = snap.meta.position();
    let mut tx = c.transaction()?;
    let locked: bool = tx
        .query_one("SELECT pg_try_advisory_xact_lock($1)", &[&SAVE_LOCK])?
        .get(0);
    if !locked {
        return Ok(None);
    }
    if !snapshot_due(position, newest_position(&mut tx)?, min_new) {
        return Ok(None);
    }
    let meta = serde_json::to_value(&snap.meta)
        .map_err(|e| StoreError::Backend(format!("snapshot meta: {e}")))?;
    // Never empty: core's snapshot starts with its header.
    let chunks: Vec<&[u8]> = snap.body.chunks(PART).collect();
    let parts = i32::try_from(chunks.len())
        .map_err(|_| StoreError::Backend("snapshot too large".into()))?;
    let bytes = i64::try_from(snap.body.len())
        .map_err(|_| StoreError::Backend("snapshot too large".into()))?;
    let id: i64 = tx
        .query_one(
            "INSERT INTO graph_snapshots (taken_at, format, position, meta, parts, bytes)
             VALUES (now(), $1, $2, $3, $4, $5) RETURNING id",
            &[&(SNAPSHOT_FORMAT as i32), &position, &meta, &parts, &bytes],
        )?
        .get(0);
    for (i, chunk) in chunks.iter().enumerate() {
        let part =
            i32::try_from(i).map_err(|_| StoreError::Backend("snapshot too large".into()))?;
        tx.execute(
            "INSERT INTO graph_snapshot_parts (snapshot_id, part, body) VALUES ($1, $2, $3)",
            &[&id, &part, chunk],
        )?;
    }
    tx.execute(
        "DELETE FROM graph_snapshots WHERE id NOT IN
           (SELECT id FROM graph_snapshots ORDER BY position DESC, id DESC LIMIT $1)",
        &[&KEEP],
    )?;
    tx.commit()?;
    Ok(Some(SnapshotSaved { position, bytes }))
}
