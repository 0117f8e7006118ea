//! The read model saved and taken back (issue 15): an instance starts from
//! the newest saved graph and reads only the entries committed after it,
//! instead of parsing every stored entry again. The graph's bytes are
//! core's ([`MemoryGraph::to_snapshot`], digest-checked); beside them a
//! snapshot keeps where the graph stood in each feed and the rows it had
//! skipped, so that the graph taken back is the one saved, alerts included.
//!
//! A snapshot is only a shortcut: one that does not fit the store (a mark
//! past where a feed ends, as after the database was restored from an
//! older backup), that does not decode, or that another build wrote, is
//! passed over with a warning and the graph is replayed.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicI64};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, RwLock};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use shian_core::trace::MemoryGraph;

use super::{Faults, GraphReport, LedgerGraph, LedgerSource, Marks, Positions, Skipped};
use crate::store::StoreError;

/// A saved graph.
pub struct GraphSnapshot {
    pub meta: SnapshotMeta,
    /// Core's snapshot of the graph itself.
    pub body: Vec<u8>,
}

/// Where a saved graph stood, and what it had skipped (stored as JSON
/// beside the body).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotMeta {
    /// The last position read in each feed of entries.
    pub entries: BTreeMap<String, i64>,
    /// The last directory row read.
    pub names: i64,
    /// The alerts of rows skipped, and those rows' entry ids.
    pub skipped_alerts: Vec<String>,
    pub skipped_entries: Vec<String>,
}

impl SnapshotMeta {
    /// The sum of the feeds' marks: how many entries the graph had read.
    pub fn position(&self) -> i64 {
        self.entries.values().sum()
    }

    fn fits(&self, ends: &Positions) -> bool {
        self.names <= ends.names && self.entries.iter().all(|(f, &p)| p <= ends.entries.get(f))
    }
}

/// How this instance's graph was built when it started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Started {
    /// Every stored entry was read.
    Replay,
    /// From a snapshot at `at` entries, then `read` entries after it.
    Snapshot { at: i64, read: i64 },
}

impl GraphSnapshot {
    /// A stored snapshot read back: its meta (JSON) and its body, of which
    /// `read` parts came where `parts` parts of `bytes` bytes were stored.
    /// `None`, with a warning, when the meta does not read or the body is
    /// not whole: the graph is replayed then.
    pub fn stored(
        id: i64,
        meta: &str,
        (parts, read): (i64, i64),
        bytes: i64,
        body: Vec<u8>,
    ) -> Option<GraphSnapshot> {
        let meta: SnapshotMeta = match serde_json::from_str(meta) {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(snapshot = id, error = %e, "graph snapshot's meta does not read: replaying");
                return None;
            }
        };
        if read != parts || i64::try_from(body.len()).ok() != Some(bytes) {
            tracing::warn!(
                snapshot = id,
                parts = read,
                "graph snapshot is not whole: replaying"
            );
            return None;
        }
        Some(GraphSnapshot { meta, body })
    }
}

/// Whether a graph at `position` is to be saved, the newest saved being
/// at `newest`: once `min_new` entries came after it.
pub fn due(position: i64, newest: Option<i64>, min_new: i64) -> bool {
    position - newest.unwrap_or(0) >= min_new
}

impl LedgerGraph {
    /// The graph as it stands, to be saved. It waits for a write in
    /// progress (so it holds committed entries only) and keeps writes
    /// waiting while it encodes (a 10 M-entry graph is 574 MiB: README,
    /// "PostgreSQL and several instances"), which is why servers save one
    /// every so many entries rather than on every tick.
    pub fn snapshot(&self) -> Result<GraphSnapshot, StoreError> {
        let graph = self.read()?;
        let at = self.positions();
        let skipped = self.skipped();
        let body = graph
            .to_snapshot()
            .map_err(|e| StoreError::Backend(format!("ledger graph snapshot: {e}")))?;
        drop(graph);
        Ok(GraphSnapshot {
            meta: SnapshotMeta {
                entries: at.entries.iter().map(|(f, p)| (f.to_owned(), p)).collect(),
                names: at.names,
                skipped_alerts: skipped.alerts.clone(),
                skipped_entries: skipped.entries.iter().cloned().collect(),
            },
            body,
        })
    }

    /// The graph from `saved` caught up with `source`, or, when there is
    /// none or it cannot be used, rebuilt from every stored entry.
    pub fn load_from(
        source: &(impl LedgerSource + ?Sized),
        saved: Option<GraphSnapshot>,
        faults: Faults,
        report: &'static dyn GraphReport,
    ) -> Result<Self, StoreError> {
        if let Some(saved) = saved {
            match Self::restore_from(source, saved, faults, report) {
                Ok(Some(g)) => return Ok(g),
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "ledger graph snapshot passed over: replaying the entries")
                }
            }
        }
        Self::load(source, faults, report)
    }

    fn restore_from(
        source: &(impl LedgerSource + ?Sized),
        saved: GraphSnapshot,
        faults: Faults,
        report: &'static dyn GraphReport,
    ) -> Result<Option<Self>, StoreError> {
        let started = Instant::now();
        let ends = source.ends()?;
        let meta = saved.meta;
        if !meta.fits(&ends) {
            tracing::warn!(
                snapshot = ?meta.entries,
                store = ?ends.entries,
                "ledger graph snapshot is ahead of the store (restored from a backup?): replaying the entries"
            );
            return Ok(None);
        }
        let graph = MemoryGraph::from_snapshot(&saved.body)
            .map_err(|e| StoreError::Corrupt(format!("ledger graph snapshot: {e}")))?;
        let mut entries = Marks::default();
        for (feed, &p) in &meta.entries {
            entries.raise(feed, p);
        }
        let at = meta.position();
        let skipped = Skipped {
            alerts: meta.skipped_alerts,
            entries: meta.skipped_entries.into_iter().collect(),
        };
        report.rows_skipped(skipped.alerts.len());
        let g = LedgerGraph::assemble(
            graph,
            skipped,
            Positions {
                entries,
                names: meta.names,
            },
            faults,
            report,
            Started::Replay,
        );
        let read = g.follow(source)?;
        let read = i64::try_from(read).unwrap_or(i64::MAX);
        g.set_started(Started::Snapshot { at, read });
        tracing::info!(
            snapshot_entries = at,
            read_after = read,
            ms = started.elapsed().as_millis() as u64,
            "ledger graph started from a snapshot"
        );
        Ok(Some(g))
    }

    /// A graph with its state, as a replay or a snapshot gives it.
    pub(super) fn assemble(
        graph: MemoryGraph,
        skipped: Skipped,
        at: Positions,
        faults: Faults,
        report: &'static dyn GraphReport,
        started: Started,
    ) -> Self {
        LedgerGraph {
            graph: RwLock::new(graph),
            failed: OnceLock::new(),
            skipped: Mutex::new(Arc::new(skipped)),
            entries_at: Mutex::new(at.entries),
            names_at: AtomicI64::new(at.names),
            looked: Mutex::new((0, Instant::now())),
            faults,
            panic_armed: AtomicBool::new(faults.panic_after_admit),
            report,
            started: Mutex::new(started),
        }
    }

    fn set_started(&self, s: Started) {
        *self.started.lock().unwrap_or_else(PoisonError::into_inner) = s;
    }

    /// How the graph was built when this instance started.
    pub fn started(&self) -> Started {
        *self.started.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
