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
//! graph are derived state, rebuilt from `entries` when the server starts.
//!
//! The graph is never ahead of the file nor different from it: a write
//! that changes it ([`LedgerGraph::write`]: a push, the demo's load) holds
//! the graph's write lock from its first change through its commit, so a
//! reader never sees an event whose transaction has not committed (readers
//! wait for a push's transaction: milliseconds). A push must see its own
//! earlier events while judging the later ones, so the graph does change
//! before the commit; if the write then fails — an error or a panic — the
//! graph is rebuilt from the file before the lock is released. If even
//! that fails, the graph is marked failed: writes and traces answer 503
//! and `/healthz` fails with the reason until the server is restarted,
//! rather than answer from a state the file does not hold.
//!
//! Stored rows are read back under the wire format's fixed limits (core's
//! `event::WIRE_V1`), not today's rules. A row that still does not read
//! back (edited, or from a bug) is skipped with an alert (`/healthz`,
//! metrics, the log): one row must not keep the server from starting.

use std::collections::HashSet;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, RwLock, RwLockReadGuard};
use std::time::Instant;

use chrono::{DateTime, Utc};
use rand::Rng;
use rusqlite::Connection;
use shian_core::error::LedgerError;
use shian_core::event::LedgerEvent;
use shian_core::json::Node;
use shian_core::ledger::Warning;
use shian_core::rules::LedgerRules;
use shian_core::store::apply;
use shian_core::trace::{GraphError, MemoryGraph};

use super::writer::panic_message;
use super::StoreError;
use crate::metrics;

impl From<GraphError> for StoreError {
    fn from(e: GraphError) -> Self {
        StoreError::Corrupt(format!("ledger graph: {e}"))
    }
}

/// A test-only fault point (`serve --debug-fault NAME`, hidden): what the
/// integration tests use to make the push path fail where nothing else
/// can make it fail on demand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Fault {
    /// The first event the graph admits is followed by a panic, before its
    /// transaction commits.
    PanicAfterAdmit,
    /// Every rebuild of the graph after a failed write fails.
    FailRebuild,
}

/// The fault points a store was opened with: none by default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Faults {
    pub panic_after_admit: bool,
    pub fail_rebuild: bool,
}

impl FromIterator<Fault> for Faults {
    fn from_iter<I: IntoIterator<Item = Fault>>(iter: I) -> Self {
        let mut f = Faults::default();
        for fault in iter {
            match fault {
                Fault::PanicAfterAdmit => f.panic_after_admit = true,
                Fault::FailRebuild => f.fail_rebuild = true,
            }
        }
        f
    }
}

/// The shared graph.
pub struct LedgerGraph {
    graph: RwLock<MemoryGraph>,
    /// Why the graph could not be made equal to the file, once that
    /// happened: from then on writes and traces are refused.
    failed: OnceLock<String>,
    /// The rows the last rebuild skipped.
    skipped: Mutex<Arc<Skipped>>,
    faults: Faults,
    /// Whether [`Fault::PanicAfterAdmit`] is still to fire (it fires once).
    panic_armed: AtomicBool,
}

impl std::fmt::Debug for LedgerGraph {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // `try_read`: formatting must never wait for (or deadlock on) a
        // writer holding the lock.
        let stats = self.graph.try_read().ok().map(|g| g.stats());
        f.debug_struct("LedgerGraph")
            .field("stats", &stats)
            .field("failed", &self.failed.get())
            .finish()
    }
}

impl LedgerGraph {
    /// Rebuilds the graph from the file's entries.
    pub fn load(conn: &Connection, faults: Faults) -> Result<Self, StoreError> {
        let (graph, skipped) = replay(conn)?;
        Ok(LedgerGraph {
            graph: RwLock::new(graph),
            failed: OnceLock::new(),
            skipped: Mutex::new(Arc::new(skipped)),
            faults,
            panic_armed: AtomicBool::new(faults.panic_after_admit),
        })
    }

    /// Refuses once the graph could not be made equal to the file.
    pub fn check(&self) -> Result<(), StoreError> {
        match self.failed.get() {
            Some(why) => Err(StoreError::GraphFailed(why.clone())),
            None => Ok(()),
        }
    }

    /// The graph for a trace: it waits for a write in progress (so it sees
    /// committed events only) and is refused once the graph failed. A
    /// poisoned lock still holds a consistent graph: writes catch their
    /// panics while holding the lock (see [`LedgerGraph::write`]).
    pub fn read(&self) -> Result<RwLockReadGuard<'_, MemoryGraph>, StoreError> {
        self.check()?;
        Ok(self.graph.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// What an operator should look at although the server serves: the
    /// stored rows the last rebuild skipped.
    pub fn alerts(&self) -> Vec<String> {
        self.skipped().alerts.clone()
    }

    fn skipped(&self) -> Arc<Skipped> {
        Arc::clone(&self.skipped.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Sets merchants' display names, after the registry write committed
    /// (a name only labels holders in traces; the file keeps it too).
    pub fn set_merchant_names<'a>(
        &self,
        names: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<(), StoreError> {
        let mut g = self.graph.write().unwrap_or_else(PoisonError::into_inner);
        for (id, name) in names {
            g.set_merchant_name(id, name)?;
        }
        Ok(())
    }

    /// Runs a write that changes the graph as one unit with its
    /// transaction, which `f` opens and commits on `conn`: the write lock is
    /// held throughout, and if `f` fails or panics after changing the graph,
    /// the graph is rebuilt from the file (`f`'s transaction rolled back)
    /// before the lock is released. A panic is caught here, where the graph
    /// is changed, and answered as [`StoreError::Panicked`].
    pub fn write<T>(
        &self,
        conn: &mut Connection,
        f: impl FnOnce(&mut Connection, &mut Writing<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.check()?;
        let mut guard = self.graph.write().unwrap_or_else(PoisonError::into_inner);
        let mut w = Writing {
            graph: &mut guard,
            skipped: self.skipped(),
            changed: false,
            panic_armed: &self.panic_armed,
        };
        let outcome = catch_unwind(AssertUnwindSafe(|| f(conn, &mut w)));
        let changed = w.changed;
        let result =
            outcome.unwrap_or_else(|p| Err(StoreError::Panicked(panic_message(p.as_ref()))));
        if let (Err(failure), true) = (&result, changed) {
            self.restore(conn, &mut guard, failure);
        }
        result
    }

    /// Makes the graph equal to the file again after a failed write, or
    /// marks it failed.
    fn restore(&self, conn: &mut Connection, graph: &mut MemoryGraph, failure: &StoreError) {
        tracing::warn!(error = %failure, "a write failed after changing the ledger graph: rebuilding the graph from the file");
        // `f`'s transaction is rolled back when it is dropped; one left open
        // by hand (`BEGIN`) must not be read as the file.
        if !conn.is_autocommit() {
            if let Err(e) = conn.execute_batch("ROLLBACK") {
                tracing::error!(error = %e, "rollback before the rebuild failed");
            }
        }
        let rebuilt = if self.faults.fail_rebuild {
            Err(StoreError::Corrupt("fault point: the rebuild fails".into()))
        } else {
            replay(conn)
        };
        match rebuilt {
            Ok((fresh, skipped)) => {
                *graph = fresh;
                *self.skipped.lock().unwrap_or_else(PoisonError::into_inner) = Arc::new(skipped);
            }
            Err(e) => {
                let why = format!(
                    "the ledger graph could not be rebuilt from the file after a failed write ({failure}): {e}"
                );
                tracing::error!(reason = %why, "ledger graph failed: writes and traces are refused until a restart");
                metrics::ledger_graph_failed().set(1);
                let _ = self.failed.set(why);
            }
        }
    }
}

/// Stored rows a rebuild skipped: alerts for the operator, and their entry
/// ids, which are taken (in the file) though the graph does not know them.
#[derive(Debug, Default)]
struct Skipped {
    alerts: Vec<String>,
    entries: HashSet<String>,
}

/// The graph as a write inside [`LedgerGraph::write`] sees it.
pub struct Writing<'g> {
    graph: &'g mut MemoryGraph,
    skipped: Arc<Skipped>,
    /// Whether an event was added: only then does a failure rebuild.
    changed: bool,
    panic_armed: &'g AtomicBool,
}

impl Writing<'_> {
    /// The graph as it stands, the write's own earlier events included.
    pub fn graph(&self) -> &MemoryGraph {
        self.graph
    }

    /// Whether the entry id is a stored row the graph skipped (it does not
    /// read back): an event with it would collide with that row in the file.
    pub fn unreadable(&self, entry_id: &str) -> bool {
        self.skipped.entries.contains(entry_id)
    }

    /// Judges an event with core's rules against the graph and, if they
    /// accept it, adds it. The inner `Err` is the rules' refusal; the outer
    /// one a graph that could not take an accepted event (full, or a bug),
    /// which leaves the graph as it was (core's `apply` adds an event whole
    /// or not at all).
    pub fn admit(
        &mut self,
        event: &mut LedgerEvent,
        rules: &LedgerRules,
        now: DateTime<Utc>,
        rng: &mut impl Rng,
    ) -> Result<Result<Vec<Warning>, LedgerError>, GraphError> {
        let warnings = match apply::judge(event, &*self.graph, rules, now, rng) {
            Ok(w) => w,
            Err(e) => return Ok(Err(e)),
        };
        self.graph.apply(event)?;
        self.changed = true;
        if self.panic_armed.swap(false, Ordering::Relaxed) {
            panic!("fault point: panic after admit");
        }
        Ok(Ok(warnings))
    }
}

/// Every entry in acceptance (rowid) order, then the merchants' names; and
/// an alert for each row skipped.
fn replay(conn: &Connection) -> Result<(MemoryGraph, Skipped), StoreError> {
    let started = Instant::now();
    let mut graph = MemoryGraph::new();
    let mut skipped = Skipped::default();
    let mut st =
        conn.prepare("SELECT rowid, kind, payload, entry_id FROM entries ORDER BY rowid")?;
    let mut rows = st.query([])?;
    let mut n = 0u64;
    while let Some(r) = rows.next()? {
        let rowid: i64 = r.get(0)?;
        let added = r
            .get::<_, String>(1)
            .and_then(|kind| Ok((kind, r.get::<_, String>(2)?)))
            .map_err(|e| e.to_string())
            .and_then(|(kind, payload)| {
                let node: Node<'_> = serde_json::from_str(&payload).map_err(|e| e.to_string())?;
                let event = LedgerEvent::parse_node(&kind, &node).map_err(|e| e.to_string())?;
                graph.apply(&event).map_err(|e| e.to_string())
            });
        match added {
            Ok(()) => n += 1,
            Err(why) => {
                tracing::error!(rowid, reason = %why, "a stored ledger row does not read back: skipped (the rest of the ledger is served)");
                skipped
                    .alerts
                    .push(format!("entries row {rowid} skipped: {why}"));
                if let Ok(id) = r.get::<_, String>(3) {
                    skipped.entries.insert(id);
                }
            }
        }
    }
    let mut st = conn.prepare("SELECT merchant_id, name FROM directory")?;
    let mut rows = st.query([])?;
    while let Some(r) = rows.next()? {
        graph.set_merchant_name(&r.get::<_, String>(0)?, &r.get::<_, String>(1)?)?;
    }
    graph.compact();
    metrics::ledger_rows_skipped().set(skipped.alerts.len() as i64);
    let stats = graph.stats();
    tracing::info!(
        entries = n,
        skipped = skipped.alerts.len(),
        batches = stats.batches,
        movements = stats.movements,
        heap_mib = stats.heap_bytes >> 20,
        ms = started.elapsed().as_millis() as u64,
        "ledger graph rebuilt from entries"
    );
    Ok((graph, skipped))
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use shian_core::event::PURCHASE;
    use shian_core::ledger::LedgerView;

    use super::*;

    /// Item 3, shown on the structure: between a write's first change to
    /// the graph and the end of its transaction no reader can get at the
    /// graph, and after the transaction fails the graph equals the file.
    #[test]
    fn a_reader_cannot_see_a_write_before_it_commits() {
        let mut conn = Connection::open_in_memory().unwrap();
        shian_core::store::schema::migrate(&mut conn).unwrap();
        let lg = LedgerGraph::load(&conn, Faults::default()).unwrap();
        let payload = json!({
            "entry_id": "0190a0c0-0000-7000-8000-000000000001",
            "merchant_id": "m-1",
            "product": {"name": "菠菜", "category": "vegetable"},
            "quantity": {"value": "20", "unit": "kg"},
            "supplier": {"name": "同安蔬菜合作社"},
            "received_at": Utc::now().to_rfc3339(),
        });
        let mut event = LedgerEvent::parse(PURCHASE, &payload).unwrap();
        let mut reader_blocked = None;
        let written: Result<(), StoreError> = lg.write(&mut conn, |conn, w| {
            let tx = conn.transaction()?;
            let now = Utc::now();
            let warnings = w
                .admit(&mut event, crate::sync::rules(), now, &mut rand::rng())?
                .map_err(|e| StoreError::Corrupt(e.to_string()))?;
            apply::record(&tx, &event, &event.to_wire_string(), &warnings, now)?;
            // A trace on another thread, while the event is in the graph
            // and its transaction open.
            reader_blocked = Some(std::thread::scope(|s| {
                s.spawn(|| lg.graph.try_read().is_err()).join()
            }));
            // The commit fails: the transaction is dropped.
            Err(StoreError::Corrupt("the commit fails".into()))
        });
        assert!(
            matches!(written, Err(StoreError::Corrupt(_))),
            "{written:?}"
        );
        assert!(
            matches!(reader_blocked, Some(Ok(true))),
            "a reader got at the graph before the commit"
        );
        let entry = lg.read().unwrap().entry(&event.entry_id());
        assert!(matches!(entry, Ok(None)), "the graph equals the file");
        let in_file: i64 = conn
            .query_row("SELECT COUNT(*) FROM entries", [], |r| r.get(0))
            .unwrap();
        assert_eq!(in_file, 0);
        assert!(lg.check().is_ok(), "a rebuilt graph is sound");
    }
}
