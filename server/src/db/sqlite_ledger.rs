//! [`LedgerStore`] for the SQLite backend.

use std::sync::OnceLock;

use chrono::Utc;
use rusqlite::OptionalExtension;
use shian_core::rules::LedgerRules;
use shian_core::sync::protocol::{Op, OpResult, PullResponse};

use shian_core::event::LedgerEvent;
use shian_core::trace::{self, BackwardTrace, ForwardTrace, SqlGraph, TraceError};

use super::ledger::{split_pull, LedgerCounts, LedgerStore, PublicFinding, PublicInspection, PublicShop, Showcase};
use super::sqlite::SqliteStore;
use super::{StoreError, StoreFuture};
use crate::sync::{sql, Caller, PullError};

/// The ledger rules this server enforces (core's built-in set).
fn rules() -> &'static LedgerRules {
    static RULES: OnceLock<LedgerRules> = OnceLock::new();
    RULES.get_or_init(LedgerRules::builtin)
}

impl LedgerStore for SqliteStore {
    fn sync_push(&self, caller: Caller, device_id: String, ops: Vec<Op>) -> StoreFuture<'_, (Vec<OpResult>, String)> {
        // Parsing is pure work: do it here, on the request's task, and keep
        // the single writer for the rules and the writes.
        let ops = sql::prepare(ops, rules());
        Box::pin(self.writer().call(move |conn| -> Result<_, StoreError> {
            sql::push(conn, &caller, &device_id, ops, rules(), Utc::now()).map_err(|e| match e {
                sql::PushError::DeviceOfAnotherUser => StoreError::conflict("device_of_another_user", "该设备已登记在其他账号下"),
                sql::PushError::Sqlite(e) => e.into(),
            })
        }))
    }

    fn sync_pull(&self, caller: Caller, cursor: String, limit: u32) -> StoreFuture<'_, Result<PullResponse, PullError>> {
        Box::pin(self.readers().call(move |conn| split_pull(sql::pull(conn, &caller, &cursor, limit))))
    }

    fn trace_forward(&self, trace_code: String) -> StoreFuture<'_, Result<ForwardTrace, TraceError>> {
        Box::pin(self.readers().call(move |conn| -> Result<_, StoreError> { Ok(trace::forward(&SqlGraph::new(conn), &trace_code)) }))
    }

    fn trace_backward(&self, trace_code: String) -> StoreFuture<'_, Result<BackwardTrace, TraceError>> {
        Box::pin(self.readers().call(move |conn| -> Result<_, StoreError> { Ok(trace::backward(&SqlGraph::new(conn), &trace_code)) }))
    }

    fn load_ledger(&self, events: Box<dyn Iterator<Item = LedgerEvent> + Send>) -> StoreFuture<'_, LedgerCounts> {
        Box::pin(self.writer().call(move |conn| -> Result<_, StoreError> {
            /// Events per transaction: large enough to amortise the commit,
            /// small enough not to hold the writer for long.
            const CHUNK: usize = 20_000;
            let mut rng = rand::rng();
            let mut refused = 0;
            let mut events = events.peekable();
            while events.peek().is_some() {
                let tx = conn.transaction()?;
                for mut event in events.by_ref().take(CHUNK) {
                    tx.execute_batch("SAVEPOINT demo")?;
                    let now = Utc::now();
                    match shian_core::store::apply::apply(&tx, &mut event, rules(), now, true, &mut rng) {
                        Ok(_) => tx.execute_batch("RELEASE demo")?,
                        Err(e) => {
                            tracing::warn!(error = %e, kind = event.kind(), "demo event refused");
                            refused += 1;
                            tx.execute_batch("ROLLBACK TO demo; RELEASE demo")?;
                        }
                    }
                }
                tx.commit()?;
            }
            let mut counts = counts(conn)?;
            counts.refused = refused;
            Ok(counts)
        }))
    }

    fn ledger_counts(&self) -> StoreFuture<'_, LedgerCounts> {
        Box::pin(self.readers().call(|conn| counts(conn)))
    }

    fn public_shop(&self, shop_code: String) -> StoreFuture<'_, Option<PublicShop>> {
        Box::pin(self.readers().call(move |conn| public_shop(conn, &shop_code)))
    }

    fn showcase_batch(&self) -> StoreFuture<'_, Option<Showcase>> {
        Box::pin(self.readers().call(|conn| -> Result<_, StoreError> {
            Ok(conn
                .query_row(
                    "SELECT b.trace_code, b.merchant_id, MIN(m.buyer_merchant_id), COUNT(*) AS n
                     FROM batches b JOIN movements m ON m.trace_code = b.trace_code AND m.kind = 'sale_merchant' AND m.voided = 0
                     WHERE b.voucher_code IS NULL AND b.voided = 0
                     GROUP BY b.trace_code ORDER BY n DESC, b.trace_code LIMIT 1",
                    [],
                    |r| Ok(Showcase { trace_code: r.get(0)?, merchant_id: r.get(1)?, buyer_merchant_id: r.get(2)? }),
                )
                .optional()?)
        }))
    }
}

fn public_shop(conn: &rusqlite::Connection, shop_code: &str) -> Result<Option<PublicShop>, StoreError> {
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
                        findings: Vec::new(),
                    },
                ))
            },
        )
        .optional()?;
    let Some((merchant_id, mut shop)) = shop else { return Ok(None) };
    shop.latest_inspection = conn
        .query_row(
            "SELECT id, result, finished_at FROM inspections WHERE merchant_id = ?1 ORDER BY finished_at DESC LIMIT 1",
            [&merchant_id],
            |r| Ok(PublicInspection { id: r.get(0)?, result: r.get(1)?, finished_at: r.get(2)? }),
        )
        .optional()?;
    let mut st = conn.prepare_cached(
        "SELECT kind, title, summary, trace_code, published_at FROM public_findings WHERE merchant_id = ?1 ORDER BY published_at DESC LIMIT 20",
    )?;
    shop.findings = st
        .query_map([&merchant_id], |r| {
            Ok(PublicFinding { kind: r.get(0)?, title: r.get(1)?, summary: r.get(2)?, trace_code: r.get(3)?, published_at: r.get(4)? })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(Some(shop))
}

fn counts(conn: &rusqlite::Connection) -> Result<LedgerCounts, StoreError> {
    let (entries, batches, movements) = conn.query_row(
        "SELECT (SELECT COUNT(*) FROM entries), (SELECT COUNT(*) FROM batches), (SELECT COUNT(*) FROM movements)",
        [],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?;
    let mut st = conn.prepare_cached("SELECT code, COUNT(*) FROM warnings GROUP BY code ORDER BY 2 DESC")?;
    let warnings = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(LedgerCounts { entries, batches, movements, refused: 0, warnings })
}
