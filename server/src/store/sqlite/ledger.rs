//! [`LedgerStore`] for the SQLite backend.

use chrono::Utc;
use rusqlite::OptionalExtension;
use shian_core::sync::protocol::{OpResult, PullResponse};

use shian_core::event::LedgerEvent;
use shian_core::store::apply;
use shian_core::trace::{self, BackwardTrace, ForwardTrace, TraceError};

use super::sync as sql;
use super::SqliteStore;
use crate::store::graph::{Lag, LedgerGraph, LedgerSource, Marks, Positions, Started, StoredEntry};
use crate::store::ledger::{
    split_pull, ExportCursor, ExportGroup, ExportPage, ExportWindow, LedgerCounts, LedgerStore,
    PublicFinding, PublicInspection, PublicShop, Showcase,
};
use crate::store::ledger::{Caller, Prepared, PullError, SnapshotSaved};
use crate::store::{StoreError, StoreFuture};
use crate::sync::rules;

impl LedgerStore for SqliteStore {
    fn sync_push_pulled(
        &self,
        caller: Caller,
        device_id: String,
        pulled: Option<i64>,
        ops: Vec<Prepared>,
    ) -> StoreFuture<'_, (Vec<OpResult>, String)> {
        Box::pin(async move {
            let graph = self.graph().await?;
            self.writer()
                .call(move |conn| {
                    graph.write(conn, |conn, w| {
                        sql::push(
                            conn,
                            w,
                            &caller,
                            &device_id,
                            pulled,
                            ops,
                            rules(),
                            Utc::now(),
                        )
                    })
                })
                .await
        })
    }

    fn sync_pull(
        &self,
        caller: Caller,
        cursor: String,
        limit: u32,
    ) -> StoreFuture<'_, Result<PullResponse, PullError>> {
        Box::pin(
            self.readers().call(move |conn| {
                split_pull(crate::sync::pull::page(conn, &caller, &cursor, limit))
            }),
        )
    }

    fn follow_ledger(&self) -> StoreFuture<'_, Option<Lag>> {
        Box::pin(async move {
            if self.graph.get().is_none() {
                return Ok(None);
            }
            // The background look is not bounded: it is what catches up.
            Ok(Some(self.follow_within(None).await?.lag()))
        })
    }

    fn ledger_lag(&self) -> Option<Lag> {
        self.graph.get().map(|g| g.lag())
    }

    fn ledger_started(&self) -> Option<Started> {
        self.graph.get().map(|g| g.started())
    }

    fn save_ledger_snapshot(&self, min_new: i64) -> StoreFuture<'_, Option<SnapshotSaved>> {
        Box::pin(async move {
            let Some(graph) = self.graph.get().cloned() else {
                return Ok(None);
            };
            // The cheap look first, on a reader: encoding holds writes off.
            let position = graph.lag().position;
            let newest = self
                .readers()
                .call(super::snapshots::newest_position)
                .await?;
            if !crate::store::graph::snapshot_due(position, newest, min_new) {
                return Ok(None);
            }
            let snap = tokio::task::spawn_blocking(move || graph.snapshot())
                .await
                .map_err(|e| StoreError::Backend(format!("snapshot task: {e}")))??;
            self.writer
                .call(move |c| super::snapshots::save(c, &snap, min_new))
                .await
        })
    }

    // Traces read the in-memory graph (microseconds) on the request's task,
    // after one read on the pool that catches it up with other instances.
    fn trace_forward(
        &self,
        trace_code: String,
    ) -> StoreFuture<'_, Result<ForwardTrace, TraceError>> {
        Box::pin(async move {
            Ok(trace::forward(
                &*self.followed_graph().await?.read()?,
                &trace_code,
            ))
        })
    }

    fn trace_backward(
        &self,
        trace_code: String,
    ) -> StoreFuture<'_, Result<BackwardTrace, TraceError>> {
        Box::pin(async move {
            Ok(trace::backward(
                &*self.followed_graph().await?.read()?,
                &trace_code,
            ))
        })
    }

    fn load_ledger(
        &self,
        events: Box<dyn Iterator<Item = LedgerEvent> + Send>,
    ) -> StoreFuture<'_, LedgerCounts> {
        Box::pin(async move {
            let graph = self.graph().await?;
            self.writer()
                .call(move |conn| -> Result<_, StoreError> {
                    let refused = load_events(conn, &graph, events)?;
                    let mut counts = counts(conn, &graph)?;
                    counts.refused = refused;
                    Ok(counts)
                })
                .await
        })
    }

    fn ledger_counts(&self) -> StoreFuture<'_, LedgerCounts> {
        Box::pin(async move {
            let graph = self.followed_graph().await?;
            self.readers().call(move |conn| counts(conn, &graph)).await
        })
    }

    fn public_shop(&self, shop_code: String) -> StoreFuture<'_, Option<PublicShop>> {
        Box::pin(
            self.readers()
                .call(move |conn| public_shop(conn, &shop_code)),
        )
    }

    fn holder_findings(
        &self,
        merchant_id: String,
    ) -> StoreFuture<'_, Option<(String, Vec<PublicFinding>)>> {
        Box::pin(self.readers().call(move |conn| {
            let code: Option<String> = conn
                .prepare_cached("SELECT shop_code FROM merchants WHERE id = ?1")?
                .query_row([&merchant_id], |r| r.get(0))
                .optional()?;
            match code {
                Some(code) => Ok(Some((code, findings(conn, &merchant_id)?))),
                None => Ok(None),
            }
        }))
    }

    fn export_page(
        &self,
        groups: std::sync::Arc<[ExportGroup]>,
        window: ExportWindow,
        cursor: ExportCursor,
        limit: u32,
    ) -> StoreFuture<'_, ExportPage> {
        Box::pin(
            self.readers()
                .call(move |conn| super::exports::page(conn, &groups, window, cursor, limit)),
        )
    }

    fn export_count(
        &self,
        groups: std::sync::Arc<[ExportGroup]>,
        window: ExportWindow,
    ) -> StoreFuture<'_, u64> {
        Box::pin(
            self.readers()
                .call(move |conn| super::exports::count(conn, &groups, window)),
        )
    }

    fn showcase_batch(&self) -> StoreFuture<'_, Option<Showcase>> {
        Box::pin(async move {
            crate::store::ledger::showcase(&*self.followed_graph().await?.read()?)
                .map_err(|e| StoreError::Corrupt(e.to_string()))
        })
    }
}

fn public_shop(
    conn: &rusqlite::Connection,
    shop_code: &str,
) -> Result<Option<PublicShop>, StoreError> {
    let shop = conn
        .query_row(
            "SELECT m.id, m.name, m.licence_no, m.licence_expiry, k.name, m.stall, m.region_code
             FROM merchants m LEFT JOIN markets k ON k.id = m.market_id WHERE m.shop_code = ?1",
            [shop_code],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    PublicShop {
                        shop_code: shop_code.to_owned(),
                        name: r.get(1)?,
                        licence_no: r.get(2)?,
                        licence_expiry: r.get(3)?,
                        market: r.get(4)?,
                        stall: r.get(5)?,
                        region_code: r.get(6)?,
                        latest_inspection: None,
                        inspections: Vec::new(),
                        findings: Vec::new(),
                        tests: Vec::new(),
                        suppliers: Vec::new(),
                        risk: None,
                    },
                ))
            },
        )
        .optional()?;
    let Some((merchant_id, mut shop)) = shop else {
        return Ok(None);
    };
    shop.latest_inspection = conn
        .query_row(
            "SELECT id, result, finished_at FROM inspections WHERE merchant_id = ?1 ORDER BY finished_at DESC LIMIT 1",
            [&merchant_id],
            |r| Ok(PublicInspection { id: r.get(0)?, result: r.get(1)?, finished_at: r.get(2)? }),
        )
        .optional()?;
    shop.findings = findings(conn, &merchant_id)?;
    super::public::complete_shop(conn, &merchant_id, &mut shop)?;
    Ok(Some(shop))
}

/// The merchant's latest 20 published findings, newest first.
fn findings(
    conn: &rusqlite::Connection,
    merchant_id: &str,
) -> Result<Vec<PublicFinding>, StoreError> {
    let mut st = conn.prepare_cached(
        "SELECT kind, title, summary, trace_code, published_at FROM public_findings WHERE merchant_id = ?1 ORDER BY published_at DESC LIMIT 20",
    )?;
    let rows = st
        .query_map([merchant_id], |r| {
            Ok(PublicFinding {
                kind: r.get(0)?,
                title: r.get(1)?,
                summary: r.get(2)?,
                trace_code: r.get(3)?,
                published_at: r.get(4)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// The file's entries in acceptance (rowid) order and the directory's
/// names: what the ledger graph is rebuilt from and follows. Rowids grow in
/// commit order, since one connection at a time holds the file's write
/// lock; a directory row is replaced (a new rowid), never updated.
impl LedgerSource for rusqlite::Connection {
    fn each_entry_after(
        &self,
        after: &Marks,
        f: &mut dyn FnMut(StoredEntry<'_>),
    ) -> Result<(), StoreError> {
        let mut st = self.prepare_cached(
            "SELECT rowid, kind, payload, entry_id FROM entries WHERE rowid > ?1 ORDER BY rowid",
        )?;
        let mut rows = st.query([after.get(Marks::ONE)])?;
        while let Some(r) = rows.next()? {
            let position: i64 = r.get(0)?;
            let row = r
                .get::<_, String>(1)
                .and_then(|kind| Ok((kind, r.get::<_, String>(2)?)))
                .map_err(|e| e.to_string());
            f(StoredEntry {
                feed: Marks::ONE,
                position,
                row: row
                    .as_ref()
                    .map(|(k, p)| (k.as_str(), p.as_str()))
                    .map_err(Clone::clone),
                entry_id: r.get_ref(3).ok().and_then(|v| v.as_str().ok()),
            });
        }
        Ok(())
    }

    fn each_merchant_name_after(
        &self,
        position: i64,
        f: &mut dyn FnMut(i64, &str, &str) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let mut st = self.prepare_cached(
            "SELECT rowid, merchant_id, name FROM directory WHERE rowid > ?1 ORDER BY rowid",
        )?;
        let mut rows = st.query([position])?;
        while let Some(r) = rows.next()? {
            f(r.get(0)?, &r.get::<_, String>(1)?, &r.get::<_, String>(2)?)?;
        }
        Ok(())
    }

    fn ends(&self) -> Result<Positions, StoreError> {
        Ok(self
            .prepare_cached(
                "SELECT (SELECT IFNULL(MAX(rowid), 0) FROM entries), (SELECT IFNULL(MAX(rowid), 0) FROM directory)",
            )?
            .query_row([], |r| {
                Ok(Positions {
                    entries: Marks::one(r.get(0)?),
                    names: r.get(1)?,
                })
            })?)
    }

    fn roll_back_open(&mut self) {
        if !self.is_autocommit() {
            if let Err(e) = self.execute_batch("ROLLBACK") {
                tracing::error!(error = %e, "rollback before the rebuild failed");
            }
        }
    }
}

/// The demo's ledger through the push path's rules and writes (judged on
/// the graph, the entry row written), in large transactions. Returns how
/// many events the rules refused.
fn load_events(
    conn: &mut rusqlite::Connection,
    graph: &LedgerGraph,
    events: Box<dyn Iterator<Item = LedgerEvent> + Send>,
) -> Result<i64, StoreError> {
    /// Events per transaction: large enough to amortise the commit, small
    /// enough not to hold the writer for long.
    const CHUNK: usize = 20_000;
    let mut rng = rand::rng();
    let mut refused = 0;
    let mut events = events.peekable();
    while events.peek().is_some() {
        refused += graph.write(conn, |conn, w| {
            let mut refused = 0;
            let tx = conn.transaction()?;
            w.catch_up(&*tx)?;
            for mut event in events.by_ref().take(CHUNK) {
                let now = Utc::now();
                match w.admit(&mut event, rules(), now, &mut rng)? {
                    Ok(warnings) => {
                        apply::record(&tx, &event, &event.to_wire_string(), &warnings, now)?
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, kind = event.kind(), "demo event refused");
                        refused += 1;
                    }
                }
            }
            w.advance_to(&tx.ends()?.entries);
            tx.commit()?;
            Ok(refused)
        })?;
    }
    Ok(refused)
}

fn counts(conn: &rusqlite::Connection, graph: &LedgerGraph) -> Result<LedgerCounts, StoreError> {
    let entries = conn.query_row("SELECT COUNT(*) FROM entries", [], |r| r.get(0))?;
    let stats = graph.read()?.stats();
    let (batches, movements) = (stats.batches as i64, stats.movements as i64);
    let mut st =
        conn.prepare_cached("SELECT code, COUNT(*) FROM warnings GROUP BY code ORDER BY 2 DESC")?;
    let warnings = st
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(LedgerCounts {
        entries,
        batches,
        movements,
        refused: 0,
        warnings,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use shian_core::event::PURCHASE;
    use shian_core::ledger::LedgerView;

    use rusqlite::Connection;
    use shian_core::store::apply;

    use super::*;
    use crate::store::graph::{Faults, GraphReport, LedgerGraph};

    struct Quiet;
    impl GraphReport for Quiet {
        fn graph_failed(&self) {}
        fn rows_skipped(&self, _: usize) {}
        fn followed(&self, _: i64, _: i64) {}
    }

    /// Item 3, shown on the structure: between a write's first change to
    /// the graph and the end of its transaction no reader can get at the
    /// graph, and after the transaction fails the graph equals the file.
    #[test]
    fn a_reader_cannot_see_a_write_before_it_commits() {
        let mut conn = Connection::open_in_memory().unwrap();
        shian_core::store::schema::migrate(&mut conn).unwrap();
        let lg = LedgerGraph::load(&conn, Faults::default(), &Quiet).unwrap();
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
                s.spawn(|| lg.reader_would_wait()).join()
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
