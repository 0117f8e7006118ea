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
//! graph are derived state, rebuilt from the stored entries when the server
//! starts. The graph is the same whatever the backend: each backend reads
//! its rows for it through [`LedgerSource`].
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
//! **Several instances over one store** (issue 15). Each server process
//! holds its own graph, so each follows the store: the graph remembers the
//! position of the last entry (and directory row) it holds, and reads what
//! other instances committed since — inside every write's transaction
//! before it judges anything ([`Writing::catch_up`]: on SQLite that
//! transaction holds the file's write lock, so the graph then equals the
//! file), before every trace and recall ([`LedgerGraph::follow`], on a read
//! connection: committed rows only), and in the background, which keeps
//! the lag that `/healthz` and the metrics report small. Positions must
//! grow in commit order: SQLite's rowid does, under its one writer at a
//! time; a backend with concurrent writers needs a sequencer. A backend
//! may keep several feeds of entries, each numbered in its own commit
//! order ([`Marks`]): PostgreSQL numbers each district's entries under
//! that district's sequencer row, so pushes of two districts never wait
//! for each other, and the graph remembers how far it read each.
//!
//! Stored rows are read back under the wire format's fixed limits (core's
//! `event::WIRE_V1`), not today's rules. A row that still does not read
//! back (edited, or from a bug) is skipped with an alert (`/healthz`,
//! metrics, the log): one row must not keep the server from starting.

use std::collections::{BTreeMap, HashSet};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

use std::sync::{Arc, Mutex, OnceLock, PoisonError, RwLock, RwLockReadGuard};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use rand::Rng;
use shian_core::error::LedgerError;
use shian_core::event::LedgerEvent;
use shian_core::json::Node;
use shian_core::ledger::LedgerView;
use shian_core::ledger::Warning;
use shian_core::rules::LedgerRules;
use shian_core::store::apply;
use shian_core::trace::{GraphError, MemoryGraph};

use super::error::panic_message;
use super::StoreError;

mod snapshot;

pub use snapshot::{due as snapshot_due, GraphSnapshot, SnapshotMeta, Started};

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
    /// Every catch-up that has entries to read first waits
    /// [`SLOW_CATCH_UP`]: an instance far behind the store, on demand.
    SlowCatchUp,
}

/// How long [`Fault::SlowCatchUp`] holds each catch-up back.
pub const SLOW_CATCH_UP: Duration = Duration::from_secs(2);

/// The fault points a store was opened with: none by default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Faults {
    pub panic_after_admit: bool,
    pub fail_rebuild: bool,
    pub slow_catch_up: bool,
}

impl FromIterator<Fault> for Faults {
    fn from_iter<I: IntoIterator<Item = Fault>>(iter: I) -> Self {
        let mut f = Faults::default();
        for fault in iter {
            match fault {
                Fault::PanicAfterAdmit => f.panic_after_admit = true,
                Fault::FailRebuild => f.fail_rebuild = true,
                Fault::SlowCatchUp => f.slow_catch_up = true,
            }
        }
        f
    }
}

/// How a store holds its read model: the same on every backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadModelOptions {
    /// How long a trace, recall or hold waits for the read model to catch
    /// up with what is committed before it answers 503
    /// `read_model_catching_up` (see [`within`]).
    pub catch_up_wait: Duration,
    /// Test-only fault points; none by default.
    pub faults: Faults,
}

/// The default [`ReadModelOptions::catch_up_wait`]. Design's bar is a
/// batch traced to every holder "within seconds"; the background follower
/// keeps an instance 0.2 s behind under full ingest (docs/scale-out.md §9),
/// so 2 s is ten times the lag seen and well inside a load balancer's
/// patience (HAProxy's and nginx's default server timeouts: 50 s, 60 s).
pub const DEFAULT_CATCH_UP_WAIT: Duration = Duration::from_millis(DEFAULT_CATCH_UP_WAIT_MS as u64);

/// [`DEFAULT_CATCH_UP_WAIT`] in milliseconds (`serve --trace-wait-ms`).
pub const DEFAULT_CATCH_UP_WAIT_MS: u32 = 2_000;

impl Default for ReadModelOptions {
    fn default() -> Self {
        ReadModelOptions {
            catch_up_wait: DEFAULT_CATCH_UP_WAIT,
            faults: Faults::default(),
        }
    }
}

/// Waits at most `wait` (`None`: without bound) for `catch_up` (a [`LedgerGraph::follow`] on a
/// blocking thread). Past it, the caller is told to come back
/// ([`StoreError::CatchingUp`]) rather than kept waiting or answered from a
/// model that lacks what it may have just written; the catch-up itself is
/// not cancelled (it runs on its own thread to the end), so the retry finds
/// it done.
pub async fn within(
    wait: Option<Duration>,
    catch_up: impl std::future::Future<Output = Result<usize, StoreError>>,
) -> Result<(), StoreError> {
    let Some(wait) = wait else {
        return catch_up.await.map(drop);
    };
    match tokio::time::timeout(wait, catch_up).await {
        Ok(read) => read.map(drop),
        Err(_) => Err(StoreError::CatchingUp { waited: wait }),
    }
}

/// What the graph is rebuilt from and follows, and the one thing a failed
/// write needs of the backend: each backend implements it over its
/// connection.
pub trait LedgerSource {
    /// Calls `f` with every stored entry after the marks, each feed's in
    /// acceptance order (a feed with no mark: every entry of it).
    fn each_entry_after(
        &self,
        after: &Marks,
        f: &mut dyn FnMut(StoredEntry<'_>),
    ) -> Result<(), StoreError>;

    /// Calls `f` with every registered merchant's directory position, id
    /// and name after `position` (`0`: all of them). A renamed merchant
    /// must come again at a new position.
    fn each_merchant_name_after(
        &self,
        position: i64,
        f: &mut dyn FnMut(i64, &str, &str) -> Result<(), StoreError>,
    ) -> Result<(), StoreError>;

    /// Where the entries and the directory end now, as this connection
    /// sees them.
    fn ends(&self) -> Result<Positions, StoreError>;

    /// Rolls back a transaction that a failed write left open, so that the
    /// rebuild reads what is committed.
    fn roll_back_open(&mut self);
}

/// How far the graph has read the store: the last entry's position in
/// each feed of entries, and the last directory row's (0: none).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Positions {
    pub entries: Marks,
    pub names: i64,
}

/// The last position read in each feed of entries, by feed. SQLite has one
/// feed ([`Marks::one`], the rowid); PostgreSQL one per district, keyed by
/// its region code. Feeds are gapless or not, as the backend numbers them;
/// the graph only needs each to grow in commit order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Marks(BTreeMap<String, i64>);

impl Marks {
    /// The key of a backend's single feed.
    pub const ONE: &'static str = "";

    /// A backend's single feed at `position`.
    pub fn one(position: i64) -> Marks {
        let mut m = Marks::default();
        m.raise(Marks::ONE, position);
        m
    }

    /// The last position read in `feed` (0: none).
    pub fn get(&self, feed: &str) -> i64 {
        self.0.get(feed).copied().unwrap_or(0)
    }

    /// Moves `feed`'s mark to `position` if that is further.
    pub fn raise(&mut self, feed: &str, position: i64) {
        match self.0.get_mut(feed) {
            Some(at) => *at = (*at).max(position),
            None if position > 0 => {
                self.0.insert(feed.to_owned(), position);
            }
            None => {}
        }
    }

    /// Every mark of `other` that is further than this one's.
    pub fn raise_all(&mut self, other: &Marks) {
        for (feed, &position) in &other.0 {
            self.raise(feed, position);
        }
    }

    /// The feeds and their marks.
    pub fn iter(&self) -> impl Iterator<Item = (&str, i64)> {
        self.0.iter().map(|(k, &v)| (k.as_str(), v))
    }

    /// The sum of the marks: with gapless feeds, how many entries they hold.
    pub fn total(&self) -> i64 {
        self.0.values().sum()
    }

    /// How many positions `ends` has beyond these marks, over all feeds.
    pub fn behind(&self, ends: &Marks) -> i64 {
        ends.iter().map(|(f, e)| (e - self.get(f)).max(0)).sum()
    }
}

/// How far behind the store a graph was when it last looked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lag {
    /// The position of the last entry the graph holds.
    pub position: i64,
    /// Entries committed to the store that the graph had not yet read when
    /// it last looked (it read them then).
    pub entries: i64,
    /// How long ago that look was.
    pub checked: std::time::Duration,
}

/// One stored ledger row as the rebuild reads it.
pub struct StoredEntry<'a> {
    /// The feed it is in ([`Marks::ONE`] for a backend with one).
    pub feed: &'a str,
    /// Its place in its feed's acceptance order (SQLite's rowid).
    pub position: i64,
    /// Its kind and payload (JSON), or why they could not be read.
    pub row: Result<(&'a str, &'a str), String>,
    /// Its entry id, if that reads: a skipped row's id stays taken.
    pub entry_id: Option<&'a str>,
}

/// Where the graph reports what an operator watches (the server's
/// metrics): given by the backend that opens it, so the store layer names
/// no other module.
pub trait GraphReport: Send + Sync {
    /// The graph could not be made equal to the stored ledger.
    fn graph_failed(&self);
    /// How many stored rows the last rebuild skipped.
    fn rows_skipped(&self, n: usize);
    /// The graph looked at the store: its position and the entries it had
    /// still to read then.
    fn followed(&self, position: i64, behind: i64);
}

/// The shared graph.
pub struct LedgerGraph {
    graph: RwLock<MemoryGraph>,
    /// Why the graph could not be made equal to the file, once that
    /// happened: from then on writes and traces are refused.
    failed: OnceLock<String>,
    /// The rows the last rebuild skipped.
    skipped: Mutex<Arc<Skipped>>,
    /// How far the graph has read the store; changed only under the
    /// graph's write lock.
    entries_at: Mutex<Marks>,
    names_at: AtomicI64,
    /// The last look at the store: entries behind, and when.
    looked: Mutex<(i64, Instant)>,
    faults: Faults,
    /// Whether [`Fault::PanicAfterAdmit`] is still to fire (it fires once).
    panic_armed: AtomicBool,
    report: &'static dyn GraphReport,
    /// How the graph was built when this instance started (`/healthz`).
    started: Mutex<Started>,
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
    /// Rebuilds the graph from the stored entries.
    pub fn load(
        source: &(impl LedgerSource + ?Sized),
        faults: Faults,
        report: &'static dyn GraphReport,
    ) -> Result<Self, StoreError> {
        let (graph, skipped, at) = replay(source, report)?;
        Ok(LedgerGraph::assemble(
            graph,
            skipped,
            at,
            faults,
            report,
            Started::Replay,
        ))
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
    pub fn write<C: LedgerSource, T>(
        &self,
        conn: &mut C,
        f: impl FnOnce(&mut C, &mut Writing<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.check()?;
        let mut guard = self.graph.write().unwrap_or_else(PoisonError::into_inner);
        let mut w = Writing {
            graph: &mut guard,
            owner: self,
            changed: false,
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
    fn restore(&self, conn: &mut impl LedgerSource, graph: &mut MemoryGraph, failure: &StoreError) {
        tracing::warn!(error = %failure, "a write failed after changing the ledger graph: rebuilding the graph from the file");
        // `f`'s transaction is rolled back when it is dropped; one left open
        // by hand (`BEGIN`) must not be read as the file.
        conn.roll_back_open();
        let rebuilt = if self.faults.fail_rebuild {
            Err(StoreError::Corrupt("fault point: the rebuild fails".into()))
        } else {
            replay(conn, self.report)
        };
        match rebuilt {
            Ok((fresh, skipped, at)) => {
                *graph = fresh;
                *self.skipped.lock().unwrap_or_else(PoisonError::into_inner) = Arc::new(skipped);
                self.set_positions(at);
            }
            Err(e) => {
                let why = format!(
                    "the ledger graph could not be rebuilt from the file after a failed write ({failure}): {e}"
                );
                tracing::error!(reason = %why, "ledger graph failed: writes and traces are refused until a restart");
                self.report.graph_failed();
                let _ = self.failed.set(why);
            }
        }
    }

    /// Where the graph stands in the store.
    fn positions(&self) -> Positions {
        Positions {
            entries: self.entry_marks().clone(),
            names: self.names_at.load(Ordering::Acquire),
        }
    }

    fn entry_marks(&self) -> std::sync::MutexGuard<'_, Marks> {
        self.entries_at
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn set_positions(&self, at: Positions) {
        *self.entry_marks() = at.entries;
        self.names_at.store(at.names, Ordering::Release);
    }

    fn looked(&self, behind: i64) {
        *self.looked.lock().unwrap_or_else(PoisonError::into_inner) = (behind, Instant::now());
        self.report.followed(self.entry_marks().total(), behind);
    }

    /// Catches the graph up with what `source` sees — a read connection,
    /// so committed rows only — and returns how many entries it read. Cheap
    /// when nothing is new: one read of where the store ends, and no lock.
    /// Called before every trace and recall and in the background; a write
    /// in progress is waited for (it holds the lock through its commit).
    pub fn follow(&self, source: &(impl LedgerSource + ?Sized)) -> Result<usize, StoreError> {
        self.check()?;
        let ends = source.ends()?;
        let at = self.positions();
        let behind = at.entries.behind(&ends.entries);
        if behind == 0 && ends.names <= at.names {
            self.looked(0);
            return Ok(0);
        }
        if self.faults.slow_catch_up {
            std::thread::sleep(SLOW_CATCH_UP);
        }
        let mut guard = self.graph.write().unwrap_or_else(PoisonError::into_inner);
        let read = self.catch_up(source, &mut guard)?;
        drop(guard);
        self.looked(behind);
        Ok(read)
    }

    /// How far behind the store the graph was when it last looked.
    pub fn lag(&self) -> Lag {
        let (entries, at) = *self.looked.lock().unwrap_or_else(PoisonError::into_inner);
        Lag {
            position: self.entry_marks().total(),
            entries,
            checked: at.elapsed(),
        }
    }

    /// Adds the entries and names stored after the graph's positions. An
    /// entry the graph already holds (this instance's own, when a write
    /// did not advance the position) is passed over; one that does not read
    /// back is skipped with an alert, as at a rebuild. Positions move with
    /// each row, so a panic half way leaves them true to the graph.
    fn catch_up(
        &self,
        source: &(impl LedgerSource + ?Sized),
        graph: &mut MemoryGraph,
    ) -> Result<usize, StoreError> {
        let at = self.positions();
        let mut read = 0usize;
        let mut skipped: Vec<(i64, String, Option<String>)> = Vec::new();
        source.each_entry_after(&at.entries, &mut |entry| {
            let (feed, position) = (entry.feed, entry.position);
            let added = entry.row.and_then(|(kind, payload)| {
                let node: Node<'_> = serde_json::from_str(payload).map_err(|e| e.to_string())?;
                let event = LedgerEvent::parse_node(kind, &node).map_err(|e| e.to_string())?;
                let known = match LedgerView::entry(&*graph, &event.entry_id()) {
                    Ok(e) => e.is_some(),
                    Err(never) => match never {},
                };
                if known {
                    return Ok(());
                }
                graph.apply(&event).map_err(|e| e.to_string())
            });
            match added {
                Ok(()) => read += 1,
                Err(why) => skipped.push((position, why, entry.entry_id.map(str::to_owned))),
            }
            self.entry_marks().raise(feed, position);
        })?;
        if !skipped.is_empty() {
            let mut now = Skipped::clone(&self.skipped());
            for (position, why, id) in skipped {
                tracing::error!(rowid = position, reason = %why, "a ledger row another instance stored does not read back: skipped");
                now.alerts
                    .push(format!("entries row {position} skipped: {why}"));
                now.entries.extend(id);
            }
            self.report.rows_skipped(now.alerts.len());
            *self.skipped.lock().unwrap_or_else(PoisonError::into_inner) = Arc::new(now);
        }
        source.each_merchant_name_after(at.names, &mut |position, id, name| {
            graph.set_merchant_name(id, name)?;
            self.names_at.store(position, Ordering::Release);
            Ok(())
        })?;
        if read > 0 {
            tracing::debug!(entries = read, "ledger graph caught up with the store");
        }
        Ok(read)
    }
}

/// Stored rows a rebuild skipped: alerts for the operator, and their entry
/// ids, which are taken (in the file) though the graph does not know them.
#[derive(Debug, Default, Clone)]
struct Skipped {
    alerts: Vec<String>,
    entries: HashSet<String>,
}

/// The graph as a write inside [`LedgerGraph::write`] sees it.
pub struct Writing<'g> {
    graph: &'g mut MemoryGraph,
    owner: &'g LedgerGraph,
    /// Whether an event was added: only then does a failure rebuild.
    changed: bool,
}

impl Writing<'_> {
    /// The graph as it stands, the write's own earlier events included.
    pub fn graph(&self) -> &MemoryGraph {
        self.graph
    }

    /// Whether the entry id is a stored row the graph skipped (it does not
    /// read back): an event with it would collide with that row in the file.
    pub fn unreadable(&self, entry_id: &str) -> bool {
        self.owner.skipped().entries.contains(entry_id)
    }

    /// Adds what other instances stored since the graph last looked. Call
    /// it inside the write's transaction, once that holds the store's write
    /// lock and before judging anything, so the rules see every committed
    /// fact (a voucher sold through another instance, a batch it emptied).
    pub fn catch_up(&mut self, source: &(impl LedgerSource + ?Sized)) -> Result<(), StoreError> {
        self.owner.catch_up(source, self.graph)?;
        Ok(())
    }

    /// The write's own entries end at `marks` (read inside its
    /// transaction, before the commit): the graph holds everything up to
    /// there in those feeds, so the next catch-up starts after it. Pass
    /// only the feeds the write held locked: another feed's end read now
    /// may be past what the catch-up read.
    pub fn advance_to(&mut self, marks: &Marks) {
        self.owner.entry_marks().raise_all(marks);
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
        if self.owner.panic_armed.swap(false, Ordering::Relaxed) {
            panic!("fault point: panic after admit");
        }
        Ok(Ok(warnings))
    }
}

/// Every entry in acceptance order, then the merchants' names; and an
/// alert for each row skipped; and where the store ended.
fn replay(
    source: &(impl LedgerSource + ?Sized),
    report: &dyn GraphReport,
) -> Result<(MemoryGraph, Skipped, Positions), StoreError> {
    let started = Instant::now();
    let mut graph = MemoryGraph::new();
    let mut skipped = Skipped::default();
    let mut at = Positions::default();
    let mut n = 0u64;
    source.each_entry_after(&Marks::default(), &mut |entry| {
        let position = entry.position;
        at.entries.raise(entry.feed, position);
        let added = entry.row.and_then(|(kind, payload)| {
            let node: Node<'_> = serde_json::from_str(payload).map_err(|e| e.to_string())?;
            let event = LedgerEvent::parse_node(kind, &node).map_err(|e| e.to_string())?;
            graph.apply(&event).map_err(|e| e.to_string())
        });
        match added {
            Ok(()) => n += 1,
            Err(why) => {
                tracing::error!(rowid = position, reason = %why, "a stored ledger row does not read back: skipped (the rest of the ledger is served)");
                skipped
                    .alerts
                    .push(format!("entries row {position} skipped: {why}"));
                if let Some(id) = entry.entry_id {
                    skipped.entries.insert(id.to_owned());
                }
            }
        }
    })?;
    source.each_merchant_name_after(0, &mut |position, id, name| {
        at.names = at.names.max(position);
        Ok(graph.set_merchant_name(id, name)?)
    })?;
    graph.compact();
    report.rows_skipped(skipped.alerts.len());
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
    Ok((graph, skipped, at))
}

#[cfg(test)]
impl LedgerGraph {
    /// Whether a reader would have to wait for the graph now (a test of the
    /// backend shows that none gets at it before a write commits).
    pub(crate) fn reader_would_wait(&self) -> bool {
        self.graph.try_read().is_err()
    }
}
