//! The server's ledger state in memory: core's [`MemoryGraph`], shared by
//! the single writer (which judges every pushed event against it and then
//! adds it) and the readers (traces).
//!
//! Why: judged against SQLite, every event cost a few indexed reads and 3–4
//! indexed writes (the batch or movement row, its trace-code and voucher
//! index entries, the balance update), and the random trace codes put each
//! of those on a page of its own — ingest topped out near SQLite's own rate
//! for those rows, 29k events/s on 2 cores (bench-ingest). Now the entry row
//! is the only durable write of an event; batches, balances and the trace
//! graph are derived state, rebuilt from the stored entries (read through
//! the backend's [`LedgerSource`]) when the server starts.
//!
//! The writer adds an event to the graph before its transaction commits, so
//! if that transaction then fails the graph holds events the file does not:
//! [`LedgerGraph::reload`] rebuilds it from the file (and the push fails,
//! to be retried by the device). A failure before any event was added (a
//! busy file, a device of another account) costs no rebuild. Readers may see an event a few
//! milliseconds before it is durable; they never see one that is lost
//! without the graph being rebuilt.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Instant;

use chrono::{DateTime, Utc};
use rand::Rng;
use shian_core::error::LedgerError;
use shian_core::event::LedgerEvent;
use shian_core::json::Node;
use shian_core::ledger::Warning;
use shian_core::rules::LedgerRules;
use shian_core::store::apply;
use shian_core::trace::{GraphError, MemoryGraph};

use super::StoreError;

impl From<GraphError> for StoreError {
    fn from(e: GraphError) -> Self {
        StoreError::Corrupt(format!("ledger graph: {e}"))
    }
}

/// What the graph is rebuilt from, read by each backend its own way.
pub trait LedgerSource {
    /// Calls `f` with every ledger entry in acceptance order: its position
    /// in that order, kind and payload (JSON).
    fn each_entry(
        &self,
        f: &mut dyn FnMut(i64, &str, &str) -> Result<(), StoreError>,
    ) -> Result<(), StoreError>;

    /// Calls `f` with every registered merchant's id and name.
    fn each_merchant_name(
        &self,
        f: &mut dyn FnMut(&str, &str) -> Result<(), StoreError>,
    ) -> Result<(), StoreError>;
}

/// The shared graph. Locks are held per event by the writer and per trace
/// by readers, never across I/O.
pub struct LedgerGraph {
    graph: RwLock<MemoryGraph>,
    /// Write locks taken so far: a failed write rebuilds the graph only if
    /// it changed it.
    writes: AtomicU64,
}

impl std::fmt::Debug for LedgerGraph {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // `try_read`: formatting must never wait for (or deadlock on) a
        // writer holding the lock.
        let stats = self.graph.try_read().ok().map(|g| g.stats());
        f.debug_struct("LedgerGraph")
            .field("stats", &stats)
            .finish()
    }
}

impl LedgerGraph {
    /// Rebuilds the graph from the stored entries.
    pub fn load(source: &dyn LedgerSource, rules: &LedgerRules) -> Result<Self, StoreError> {
        Ok(LedgerGraph {
            graph: RwLock::new(replay(source, rules)?),
            writes: AtomicU64::new(0),
        })
    }

    /// Replaces the graph with one rebuilt from the file: after a push
    /// whose transaction failed had already added its events.
    pub fn reload(&self, source: &dyn LedgerSource, rules: &LedgerRules) -> Result<(), StoreError> {
        let fresh = replay(source, rules)?;
        *self.write() = fresh;
        Ok(())
    }

    /// A poisoned lock still holds a consistent graph: every change to it
    /// is a single `apply` that either completes or panics before writing.
    pub fn read(&self) -> RwLockReadGuard<'_, MemoryGraph> {
        self.graph.read().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn write(&self) -> RwLockWriteGuard<'_, MemoryGraph> {
        self.writes.fetch_add(1, Ordering::Relaxed);
        self.graph.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// Judges an event with core's rules against the graph and, if they
    /// accept it, adds it, under one write lock (so nothing else is judged
    /// in between). The inner `Err` is the rules' refusal; the outer one a
    /// graph that could not take an accepted event (full, or a bug).
    pub fn admit(
        &self,
        event: &mut LedgerEvent,
        rules: &LedgerRules,
        now: DateTime<Utc>,
        rng: &mut impl Rng,
    ) -> Result<Result<Vec<Warning>, LedgerError>, GraphError> {
        let mut g = self.write();
        let warnings = match apply::judge(event, &*g, rules, now, rng) {
            Ok(w) => w,
            Err(e) => return Ok(Err(e)),
        };
        g.apply(event)?;
        Ok(Ok(warnings))
    }

    /// How many write locks have been taken: compare before and after a
    /// write to know whether it may have changed the graph.
    pub fn writes(&self) -> u64 {
        self.writes.load(Ordering::Relaxed)
    }
}

/// Every entry in acceptance order, then the merchants' names.
fn replay(source: &dyn LedgerSource, rules: &LedgerRules) -> Result<MemoryGraph, StoreError> {
    let started = Instant::now();
    let mut graph = MemoryGraph::new();
    let mut n = 0u64;
    source.each_entry(&mut |rowid, kind, payload| {
        let corrupt = |why: String| StoreError::Corrupt(format!("entries row {rowid}: {why}"));
        let node: Node<'_> = serde_json::from_str(payload).map_err(|e| corrupt(e.to_string()))?;
        let event =
            LedgerEvent::parse_node(kind, &node, rules).map_err(|e| corrupt(e.to_string()))?;
        graph.apply(&event).map_err(|e| corrupt(e.to_string()))?;
        n += 1;
        Ok(())
    })?;
    source.each_merchant_name(&mut |id, name| Ok(graph.set_merchant_name(id, name)?))?;
    graph.compact();
    let stats = graph.stats();
    tracing::info!(
        entries = n,
        batches = stats.batches,
        movements = stats.movements,
        heap_mib = stats.heap_bytes >> 20,
        ms = started.elapsed().as_millis() as u64,
        "ledger graph rebuilt from entries"
    );
    Ok(graph)
}
