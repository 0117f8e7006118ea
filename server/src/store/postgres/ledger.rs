//! [`LedgerStore`] on PostgreSQL, and the read model each instance keeps:
//! the ledger graph, rebuilt from the committed entries and following them
//! ([`LedgerSource`] for [`Shared`]).
//!
//! The entries are in one feed per district, each numbered by its
//! sequencer row in commit order (`sync.rs`); the graph remembers how far
//! it read each ([`Marks`], keyed by region code). Whoever reads a
//! district's head from `ledger_heads` has every entry up to it committed,
//! because the head is written in the transaction that wrote them, under
//! that row's lock. Names come in the order of `directory.seq`, taken from
//! the changes sequencer for the same reason.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use postgres::fallible_iterator::FallibleIterator;
use postgres::{Client, GenericClient};
use shian_core::event::LedgerEvent;
use shian_core::sync::protocol::{OpResult, PullResponse};
use shian_core::trace::{self, BackwardTrace, ForwardTrace, TraceError};

use super::entry_rows::EntryRows;
use super::store::PgStore;
use super::sync::{self as sql, lock_head, store_head, Shared};
use super::txn::FeedHead;
use crate::metrics::MetricsReport;
use crate::store::graph::{
    self, Lag, LedgerGraph, LedgerSource, Marks, Positions, Started, StoredEntry,
};
use crate::store::ledger::{
    split_pull, Caller, ExportCursor, ExportGroup, ExportPage, ExportWindow, LedgerCounts,
    LedgerStore, Prepared, PublicFinding, PublicInspection, PublicShop, PullError, Showcase,
    SnapshotSaved,
};
use crate::store::{StoreError, StoreFuture};
use crate::sync::rules;

/// A time as the store gives it out in text (as SQLite stores it: RFC
/// 3339, UTC, milliseconds), so both backends answer the same.
pub(super) fn ts(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

impl PgStore {
    /// The read model, rebuilt from the database the first time it is
    /// asked for.
    pub async fn graph(&self) -> Result<Arc<LedgerGraph>, StoreError> {
        let faults = self.read_model.faults;
        self.graph
            .get_or_try_init(|| {
                self.pool.call(move |c| {
                    // A snapshot that does not read is passed over: the
                    // entries are the truth, the snapshot a shortcut.
                    let saved = super::snapshots::newest(c).unwrap_or_else(|e| {
                        tracing::warn!(error = %e, "graph snapshot not read: replaying");
                        None
                    });
                    LedgerGraph::load_from(&Shared::new(c), saved, faults, &MetricsReport)
                        .map(Arc::new)
                })
            })
            .await
            .cloned()
    }

    /// The read model caught up with every committed entry: what traces,
    /// recalls, holds and the public pages read.
    pub(super) async fn followed_graph(&self) -> Result<Arc<LedgerGraph>, StoreError> {
        self.follow_within(Some(self.read_model.catch_up_wait))
            .await
    }

    /// The graph caught up with the store, waiting at most `wait` (`None`:
    /// as long as it takes, for the background follower).
    pub(super) async fn follow_within(
        &self,
        wait: Option<Duration>,
    ) -> Result<Arc<LedgerGraph>, StoreError> {
        let graph = self.graph().await?;
        let g = Arc::clone(&graph);
        let catch_up = self.pool.call(move |c| g.follow(&Shared::new(c)));
        graph::within(wait, catch_up).await?;
        Ok(graph)
    }
}

impl<C: GenericClient> LedgerSource for Shared<'_, C> {
    /// Each district whose head is past its mark, its entries up to the
    /// head read then (all committed), streamed.
    fn each_entry_after(
        &self,
        after: &Marks,
        f: &mut dyn FnMut(StoredEntry<'_>),
    ) -> Result<(), StoreError> {
        self.with(|c| {
            let heads: Vec<(String, i64)> = c
                .query(
                    "SELECT region_code, head FROM ledger_heads ORDER BY region_code",
                    &[],
                )?
                .iter()
                .map(|r| (r.get(0), r.get(1)))
                .collect();
            for (district, head) in heads {
                let from = after.get(&district);
                if head <= from {
                    continue;
                }
                let params: [&(dyn postgres::types::ToSql + Sync); 3] = [&district, &from, &head];
                let mut rows = c.query_raw(
                    "SELECT pos, kind, payload::text, entry_id FROM entries
                     WHERE region_code = $1 AND pos > $2 AND pos <= $3 ORDER BY pos",
                    params,
                )?;
                while let Some(r) = rows.next()? {
                    let row = r
                        .try_get::<_, String>(1)
                        .and_then(|k| Ok((k, r.try_get::<_, String>(2)?)))
                        .map_err(|e| e.to_string());
                    let entry_id: Option<String> = r.try_get(3).ok();
                    f(StoredEntry {
                        feed: &district,
                        position: r.get(0),
                        row: row
                            .as_ref()
                            .map(|(k, p)| (k.as_str(), p.as_str()))
                            .map_err(Clone::clone),
                        entry_id: entry_id.as_deref(),
                    });
                }
            }
            Ok(())
        })
    }

    fn each_merchant_name_after(
        &self,
        position: i64,
        f: &mut dyn FnMut(i64, &str, &str) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        self.with(|c| {
            let params: [&(dyn postgres::types::ToSql + Sync); 1] = [&position];
            let mut rows = c.query_raw(
                "SELECT seq, merchant_id, name FROM directory WHERE seq > $1 ORDER BY seq",
                params,
            )?;
            while let Some(r) = rows.next()? {
                f(r.get(0), r.get::<_, &str>(1), r.get::<_, &str>(2))?;
            }
            Ok(())
        })
    }

    fn ends(&self) -> Result<Positions, StoreError> {
        self.with(|c| {
            let mut entries = Marks::default();
            for r in c.query("SELECT region_code, head FROM ledger_heads", &[])? {
                entries.raise(r.get::<_, &str>(0), r.get(1));
            }
            let names: i64 = c
                .query_one("SELECT COALESCE(MAX(seq), 0) FROM directory", &[])?
                .get(0);
            Ok(Positions { entries, names })
        })
    }

    /// Nothing is ever left open by hand here: a transaction is a guard
    /// that rolls back when dropped.
    fn roll_back_open(&mut self) {}
}

impl LedgerStore for PgStore {
    fn sync_push_pulled(
        &self,
        caller: Caller,
        device_id: String,
        pulled: Option<i64>,
        ops: Vec<Prepared>,
    ) -> StoreFuture<'_, (Vec<OpResult>, String)> {
        Box::pin(async move {
            let graph = self.graph().await?;
            self.pool
                .call(move |c| {
                    graph.write(&mut Shared::new(c), |conn, w| {
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
        Box::pin(self.pool.call(move |c| {
            split_pull(crate::sync::pull::page(
                &Shared::new(c),
                &caller,
                &cursor,
                limit,
            ))
        }))
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
            self.pool
                .call(move |c| {
                    // The cheap look first: encoding holds writes off.
                    let position = graph.lag().position;
                    let newest = super::snapshots::newest_position(c)?;
                    if !crate::store::graph::snapshot_due(position, newest, min_new) {
                        return Ok(None);
                    }
                    let snap = graph.snapshot()?;
                    super::snapshots::save(c, &snap, min_new)
                })
                .await
        })
    }

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
            self.pool
                .call(move |c| -> Result<_, StoreError> {
                    let refused = load_events(c, &graph, events)?;
                    let mut counts = counts(c, &graph)?;
                    counts.refused = refused;
                    Ok(counts)
                })
                .await
        })
    }

    fn ledger_counts(&self) -> StoreFuture<'_, LedgerCounts> {
        Box::pin(async move {
            let graph = self.followed_graph().await?;
            self.pool.call(move |c| counts(c, &graph)).await
        })
    }

    fn public_shop(&self, shop_code: String) -> StoreFuture<'_, Option<PublicShop>> {
        Box::pin(self.pool.call(move |c| public_shop(c, &shop_code)))
    }

    fn holder_findings(
        &self,
        merchant_id: String,
    ) -> StoreFuture<'_, Option<(String, Vec<PublicFinding>)>> {
        Box::pin(self.pool.call(move |c| {
            let code: Option<String> = c
                .query_opt(
                    "SELECT shop_code FROM merchants WHERE id = $1",
                    &[&merchant_id],
                )?
                .map(|r| r.get(0));
            match code {
                Some(code) => Ok(Some((code, findings(c, &merchant_id)?))),
                None => Ok(None),
            }
        }))
    }

    fn export_page(
        &self,
        groups: Arc<[ExportGroup]>,
        window: ExportWindow,
        cursor: ExportCursor,
        limit: u32,
    ) -> StoreFuture<'_, ExportPage> {
        Box::pin(
            self.pool
                .call(move |c| super::exports::page(c, &groups, window, cursor, limit)),
        )
    }

    fn export_count(
        &self,
        groups: Arc<[ExportGroup]>,
        window: ExportWindow,
    ) -> StoreFuture<'_, u64> {
        Box::pin(
            self.pool
                .call(move |c| super::exports::count(c, &groups, window)),
        )
    }

    fn showcase_batch(&self) -> StoreFuture<'_, Option<Showcase>> {
        Box::pin(async move {
            crate::store::ledger::showcase(&*self.followed_graph().await?.read()?)
                .map_err(|e| StoreError::Corrupt(e.to_string()))
        })
    }
}

fn public_shop(c: &mut Client, shop_code: &str) -> Result<Option<PublicShop>, StoreError> {
    let Some(r) = c.query_opt(
        "SELECT m.id, m.name, m.licence_no, m.licence_expiry::text, k.name, m.stall, m.region_code
         FROM merchants m LEFT JOIN markets k ON k.id = m.market_id WHERE m.shop_code = $1",
        &[&shop_code],
    )?
    else {
        return Ok(None);
    };
    let merchant_id: String = r.get(0);
    let mut shop = PublicShop {
        shop_code: shop_code.to_owned(),
        name: r.get(1),
        licence_no: r.get(2),
        licence_expiry: r.get(3),
        market: r.get(4),
        stall: r.get(5),
        region_code: r.get(6),
        latest_inspection: None,
        inspections: Vec::new(),
        findings: Vec::new(),
        tests: Vec::new(),
        suppliers: Vec::new(),
        risk: None,
    };
    shop.latest_inspection = c
        .query_opt(
            "SELECT id, result, finished_at FROM inspections
             WHERE region_code = $2 AND merchant_id = $1 ORDER BY finished_at DESC LIMIT 1",
            &[&merchant_id, &shop.region_code],
        )?
        .map(|r| PublicInspection {
            id: r.get(0),
            result: r.get(1),
            finished_at: ts(&r.get(2)),
        });
    shop.findings = findings(c, &merchant_id)?;
    super::public::complete_shop(c, &merchant_id, &mut shop)?;
    Ok(Some(shop))
}

/// The merchant's latest 20 published findings, newest first.
fn findings(c: &mut Client, merchant_id: &str) -> Result<Vec<PublicFinding>, StoreError> {
    Ok(c.query(
        "SELECT kind, title, summary, trace_code, published_at FROM public_findings
             WHERE merchant_id = $1 ORDER BY published_at DESC LIMIT 20",
        &[&merchant_id],
    )?
    .iter()
    .map(|r| PublicFinding {
        kind: r.get(0),
        title: r.get(1),
        summary: r.get(2),
        trace_code: r.get(3),
        published_at: ts(&r.get(4)),
    })
    .collect())
}

/// The demo's ledger through the push path's rules and writes, in large
/// transactions: each chunk locks the districts of its merchants (in
/// order, so two loads cannot deadlock), catches the graph up, judges and
/// records. Returns how many events the rules refused.
fn load_events(
    c: &mut Client,
    graph: &LedgerGraph,
    events: Box<dyn Iterator<Item = LedgerEvent> + Send>,
) -> Result<i64, StoreError> {
    /// Events per transaction, as SQLite's load.
    const CHUNK: usize = 20_000;
    let mut rng = rand::rng();
    let mut refused = 0;
    let mut events = events.peekable();
    while events.peek().is_some() {
        let chunk: Vec<LedgerEvent> = events.by_ref().take(CHUNK).collect();
        refused += graph.write(&mut Shared::new(c), |conn, w| {
            let mut tx = conn.get_mut().transaction()?;
            let merchants: std::collections::BTreeSet<&str> =
                chunk.iter().map(|e| e.merchant_id()).collect();
            let mut districts = std::collections::BTreeMap::new();
            for m in merchants {
                if let Some(d) = super::district::of_merchant(&mut tx, m)? {
                    districts.insert(m.to_owned(), d);
                }
            }
            let mut feeds = std::collections::BTreeMap::new();
            for d in districts
                .values()
                .collect::<std::collections::BTreeSet<_>>()
            {
                let head = lock_head(&mut tx, d)?;
                feeds.insert(
                    d.clone(),
                    FeedHead {
                        district: d.clone(),
                        taken: head,
                        head,
                    },
                );
            }
            w.catch_up(&Shared::new(&mut tx))?;
            let mut rows = EntryRows::default();
            let mut refused = 0;
            for mut event in chunk {
                let Some(feed) = districts
                    .get(event.merchant_id())
                    .and_then(|d| feeds.get_mut(d))
                else {
                    tracing::warn!(
                        merchant = event.merchant_id(),
                        "demo event of an unknown merchant refused"
                    );
                    refused += 1;
                    continue;
                };
                let now = Utc::now();
                match w.admit(&mut event, rules(), now, &mut rng)? {
                    Ok(warnings) => rows.record(
                        &mut tx,
                        feed,
                        &event,
                        &event.to_wire_string(),
                        &warnings,
                        now,
                    )?,
                    Err(e) => {
                        tracing::warn!(error = %e, kind = event.kind(), "demo event refused");
                        refused += 1;
                    }
                }
            }
            rows.flush(&mut tx)?;
            let mut marks = Marks::default();
            for feed in feeds.values() {
                store_head(&mut tx, feed)?;
                marks.raise(&feed.district, feed.head);
            }
            w.advance_to(&marks);
            tx.commit()?;
            Ok(refused)
        })?;
    }
    Ok(refused)
}

fn counts(c: &mut Client, graph: &LedgerGraph) -> Result<LedgerCounts, StoreError> {
    let entries: i64 = c.query_one("SELECT count(*) FROM entries", &[])?.get(0);
    let stats = graph.read()?.stats();
    let warnings = c
        .query(
            "SELECT code, count(*) FROM warnings GROUP BY code ORDER BY 2 DESC, 1",
            &[],
        )?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    Ok(LedgerCounts {
        entries,
        batches: stats.batches as i64,
        movements: stats.movements as i64,
        refused: 0,
        warnings,
    })
}
