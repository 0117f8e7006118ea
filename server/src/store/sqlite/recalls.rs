//! [`RecallStore`] and the `recall.confirm` op's side of the push
//! transaction ([`RecallTx`]) for the SQLite backend (migration component
//! `recalls`).

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::{params, Connection, OptionalExtension, Row};
use shian_core::quantity::{BaseUnit, Quantity};
use shian_core::recall::{
    is_overdue, latest, Confirmation, Deadlines, DistrictProgress, Holder, HolderProgress,
    MerchantNotice, RecallHeader, RecallLevel, RecallStatus, NOTICE_KIND, PROGRESS_KIND,
    UPDATED_KIND,
};

use super::migrate::{self, Migration};
use super::sync::{publish, PushTxn};
use super::timestamps::{parse_ts, ts};
use super::SqliteStore;
use crate::store::recalls::{
    Confirmed, HolderForOp, NewRecall, PublicRecall, RecallFilter, RecallStore, RecallSummary,
    RecallTx, StoredHolder, StoredProposal, StoredRecall,
};
use crate::store::{Page, StoreError, StoreFuture};

const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "recalls, their holders and confirmations",
    sql: r#"
    CREATE TABLE recalls (
        id               TEXT PRIMARY KEY,
        trace_code       TEXT NOT NULL,
        product_name     TEXT NOT NULL,
        level            INTEGER NOT NULL CHECK (level IN (1, 2, 3)),
        reason           TEXT NOT NULL,
        proposal_id      TEXT,
        started_by       TEXT NOT NULL,
        started_at       TEXT NOT NULL,
        start_by         TEXT NOT NULL,
        finish_by        TEXT NOT NULL,
        finish_by_end    TEXT NOT NULL,
        calendar_warning TEXT,
        status           TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'closed')),
        closed_at        TEXT
    );
    CREATE INDEX recalls_by_status ON recalls(status, started_at);
    -- A proposal starts at most one recall.
    CREATE UNIQUE INDEX recalls_by_proposal ON recalls(proposal_id) WHERE proposal_id IS NOT NULL;

    -- One row per (merchant, batch) that must confirm; the latest_* columns
    -- are core's recall::latest over recall_confirmations.
    CREATE TABLE recall_holders (
        recall_id         TEXT NOT NULL REFERENCES recalls(id),
        merchant_id       TEXT NOT NULL,
        trace_code        TEXT NOT NULL,
        seq               INTEGER NOT NULL,
        merchant_name     TEXT,
        parent_trace_code TEXT,
        depth             INTEGER NOT NULL,
        product_name      TEXT NOT NULL,
        received_at       TEXT NOT NULL,
        unit              TEXT NOT NULL,
        received          INTEGER NOT NULL,
        held_at_start     INTEGER NOT NULL,
        region_code       TEXT NOT NULL,
        latest_op_id      TEXT,
        held              INTEGER,
        returned          INTEGER,
        destroyed         INTEGER,
        confirmed_at      TEXT,
        confirmations     INTEGER NOT NULL DEFAULT 0,
        reminded_at       TEXT,
        PRIMARY KEY (recall_id, merchant_id, trace_code)
    );
    CREATE INDEX recall_holders_by_merchant ON recall_holders(merchant_id);
    CREATE INDEX recall_holders_by_code ON recall_holders(trace_code);

    -- Every accepted confirmation (events; never updated).
    CREATE TABLE recall_confirmations (
        op_id        TEXT PRIMARY KEY,
        recall_id    TEXT NOT NULL,
        merchant_id  TEXT NOT NULL,
        trace_code   TEXT NOT NULL,
        held         INTEGER NOT NULL,
        returned     INTEGER NOT NULL,
        destroyed    INTEGER NOT NULL,
        confirmed_at TEXT NOT NULL,
        recorded_at  TEXT NOT NULL
    );
    CREATE INDEX recall_confirmations_by_holder
        ON recall_confirmations(recall_id, merchant_id, trace_code);
    "#,
}];

pub(super) fn open(conn: &mut Connection) -> Result<(), StoreError> {
    migrate::apply(conn, "recalls", MIGRATIONS)?;
    Ok(())
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

fn unit(s: &str) -> Result<BaseUnit, StoreError> {
    BaseUnit::parse(s).ok_or_else(|| corrupt("recall unit", s))
}

const HEADER_COLS: &str = "r.id, r.trace_code, r.product_name, r.level, r.reason, r.status, r.started_at,
     r.start_by, r.finish_by, r.finish_by_end, r.calendar_warning, r.closed_at, r.proposal_id, r.started_by";

type HeaderRow = (RecallHeader, Option<String>, String);

fn header_row(r: &Row<'_>) -> rusqlite::Result<[Option<String>; 14]> {
    let mut out: [Option<String>; 14] = Default::default();
    for (i, slot) in out.iter_mut().enumerate() {
        *slot = if i == 3 {
            r.get::<_, i64>(i).map(|n| Some(n.to_string()))?
        } else {
            r.get(i)?
        };
    }
    Ok(out)
}

fn header(cols: [Option<String>; 14]) -> Result<HeaderRow, StoreError> {
    let [id, code, product, level, reason, status, started, start_by, finish_by, finish_end, warning, closed, proposal, by] =
        cols;
    let text = |v: Option<String>, what: &str| v.ok_or_else(|| corrupt("recall", what));
    let level = text(level, "level")?
        .parse::<i64>()
        .ok()
        .and_then(RecallLevel::from_number)
        .ok_or_else(|| corrupt("recall", "level"))?;
    let status =
        RecallStatus::parse(&text(status, "status")?).ok_or_else(|| corrupt("recall", "status"))?;
    let finish_by = NaiveDate::parse_from_str(&text(finish_by, "finish_by")?, "%Y-%m-%d")
        .map_err(|e| corrupt("recall finish_by", e))?;
    Ok((
        RecallHeader {
            recall_id: text(id, "id")?,
            trace_code: text(code, "trace_code")?,
            product_name: text(product, "product_name")?,
            level,
            reason: text(reason, "reason")?,
            status,
            started_at: parse_ts(&text(started, "started_at")?)?,
            deadlines: Deadlines {
                start_by: parse_ts(&text(start_by, "start_by")?)?,
                finish_by,
                finish_by_end: parse_ts(&text(finish_end, "finish_by_end")?)?,
                calendar_warning: warning,
            },
            closed_at: closed.as_deref().map(parse_ts).transpose()?,
        },
        proposal,
        text(by, "started_by")?,
    ))
}

const HOLDER_COLS: &str = "merchant_id, trace_code, merchant_name, parent_trace_code, depth, product_name,
     received_at, unit, received, held_at_start, region_code, latest_op_id, held, returned, destroyed,
     confirmed_at, confirmations, reminded_at";

fn holder_row(recall_id: &str, r: &Row<'_>) -> Result<StoredHolder, StoreError> {
    let u = unit(&r.get::<_, String>(7)?)?;
    let q = |n: i64| Quantity::new(n, u);
    let latest_op: Option<String> = r.get(11)?;
    let holder = Holder {
        merchant_id: r.get(0)?,
        trace_code: r.get(1)?,
        merchant_name: r.get(2)?,
        parent_trace_code: r.get(3)?,
        depth: r.get(4)?,
        product_name: r.get(5)?,
        received_at: parse_ts(&r.get::<_, String>(6)?)?,
        received: q(r.get(8)?),
        held_at_start: q(r.get(9)?),
    };
    let latest = match latest_op {
        None => None,
        Some(op_id) => Some(Confirmation {
            recall_id: recall_id.to_owned(),
            merchant_id: holder.merchant_id.clone(),
            trace_code: holder.trace_code.clone(),
            held: q(r.get::<_, Option<i64>>(12)?.unwrap_or(0)),
            returned: q(r.get::<_, Option<i64>>(13)?.unwrap_or(0)),
            destroyed: q(r.get::<_, Option<i64>>(14)?.unwrap_or(0)),
            confirmed_at: parse_ts(&r.get::<_, Option<String>>(15)?.unwrap_or_default())?,
            op_id,
        }),
    };
    Ok(StoredHolder {
        holder,
        region_code: r.get(10)?,
        latest,
        confirmations: u64::try_from(r.get::<_, i64>(16)?).unwrap_or(0),
        reminded_at: r
            .get::<_, Option<String>>(17)?
            .as_deref()
            .map(parse_ts)
            .transpose()?,
    })
}

fn read_recall(conn: &Connection, id: &str) -> Result<Option<StoredRecall>, StoreError> {
    let cols = conn
        .prepare_cached(&format!(
            "SELECT {HEADER_COLS} FROM recalls r WHERE r.id = ?1"
        ))?
        .query_row([id], header_row)
        .optional()?;
    let Some(cols) = cols else {
        return Ok(None);
    };
    let (header, proposal_id, started_by) = header(cols)?;
    let mut st = conn.prepare_cached(&format!(
        "SELECT {HOLDER_COLS} FROM recall_holders WHERE recall_id = ?1 ORDER BY seq"
    ))?;
    let mut rows = st.query([id])?;
    let mut holders = Vec::new();
    while let Some(r) = rows.next()? {
        holders.push(holder_row(id, r)?);
    }
    Ok(Some(StoredRecall {
        header,
        proposal_id,
        started_by,
        holders,
    }))
}

fn progress(rec: &StoredRecall, h: &StoredHolder, now: DateTime<Utc>) -> HolderProgress {
    HolderProgress::new(&h.holder, h.latest.as_ref(), &rec.header.deadlines, now)
}

/// `recall.notice` (or `recall.updated`) to one merchant: its batches.
fn publish_to_merchant(
    conn: &Connection,
    rec: &StoredRecall,
    merchant_id: &str,
    kind: &str,
    reminder: bool,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let batches: Vec<HolderProgress> = rec
        .holders
        .iter()
        .filter(|h| h.holder.merchant_id == merchant_id)
        .map(|h| progress(rec, h, now))
        .collect();
    let payload = MerchantNotice::new(&rec.header, merchant_id, &batches, reminder).to_json();
    publish(conn, kind, Some(merchant_id), None, None, &payload)?;
    Ok(())
}

/// `recall.progress` to one district: its holders.
fn publish_to_region(
    conn: &Connection,
    rec: &StoredRecall,
    region_code: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let holders: Vec<HolderProgress> = rec
        .holders
        .iter()
        .filter(|h| h.region_code == region_code)
        .map(|h| progress(rec, h, now))
        .collect();
    let payload = DistrictProgress::new(&rec.header, region_code, &holders).to_json();
    publish(conn, PROGRESS_KIND, None, Some(region_code), None, &payload)?;
    Ok(())
}

/// Every merchant and every district of a recall, each once, in order.
fn merchants_and_regions(rec: &StoredRecall) -> (Vec<String>, Vec<String>) {
    let mut merchants: Vec<String> = Vec::new();
    let mut regions: Vec<String> = Vec::new();
    for h in &rec.holders {
        if !merchants.contains(&h.holder.merchant_id) {
            merchants.push(h.holder.merchant_id.clone());
        }
        if !regions.contains(&h.region_code) {
            regions.push(h.region_code.clone());
        }
    }
    (merchants, regions)
}

fn insert_recall(conn: &Connection, r: &NewRecall) -> Result<(), StoreError> {
    if let Some(pid) = &r.proposal_id {
        let status: Option<String> = conn
            .prepare_cached("SELECT status FROM recall_proposals WHERE id = ?1")?
            .query_row([pid], |row| row.get(0))
            .optional()?;
        match status.as_deref() {
            None => return Err(StoreError::NotFound("召回建议")),
            Some("proposed") => {}
            Some(_) => {
                return Err(StoreError::Conflict {
                    code: "proposal_used".into(),
                    message: "该召回建议已启动过召回".into(),
                })
            }
        }
        conn.prepare_cached("UPDATE recall_proposals SET status = 'recalled' WHERE id = ?1")?
            .execute([pid])?;
    }
    let h = &r.header;
    conn.prepare_cached(
        "INSERT INTO recalls (id, trace_code, product_name, level, reason, proposal_id, started_by, started_at,
             start_by, finish_by, finish_by_end, calendar_warning, status)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, 'active')",
    )?
    .execute(params![
        h.recall_id,
        h.trace_code,
        h.product_name,
        h.level.number(),
        h.reason,
        r.proposal_id,
        r.started_by,
        ts(&h.started_at),
        ts(&h.deadlines.start_by),
        h.deadlines.finish_by.to_string(),
        ts(&h.deadlines.finish_by_end),
        h.deadlines.calendar_warning,
    ])?;
    let mut regions: HashMap<String, String> = HashMap::new();
    let mut region_of = conn.prepare_cached("SELECT region_code FROM merchants WHERE id = ?1")?;
    let mut ins = conn.prepare_cached(
        "INSERT INTO recall_holders (recall_id, merchant_id, trace_code, seq, merchant_name, parent_trace_code,
             depth, product_name, received_at, unit, received, held_at_start, region_code)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
    )?;
    for (seq, holder) in r.holders.iter().enumerate() {
        let region = match regions.get(&holder.merchant_id) {
            Some(r) => r.clone(),
            None => {
                let found: Option<String> = region_of
                    .query_row([&holder.merchant_id], |row| row.get(0))
                    .optional()?;
                let region = found.unwrap_or_default();
                regions.insert(holder.merchant_id.clone(), region.clone());
                region
            }
        };
        ins.execute(params![
            h.recall_id,
            holder.merchant_id,
            holder.trace_code,
            seq as i64,
            holder.merchant_name,
            holder.parent_trace_code,
            holder.depth,
            holder.product_name,
            ts(&holder.received_at),
            holder.received.unit.as_str(),
            holder.received.amount,
            holder.held_at_start.amount,
            region,
        ])?;
    }
    Ok(())
}

fn confirmation_row(r: &Row<'_>) -> rusqlite::Result<(String, i64, i64, i64, String)> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
}

impl RecallTx for PushTxn<'_> {
    fn recall_holder(
        &self,
        recall_id: &str,
        merchant_id: &str,
        trace_code: &str,
    ) -> Result<Option<HolderForOp>, StoreError> {
        let row: Option<(String, i64)> = self
            .0
            .prepare_cached(
                "SELECT unit, received FROM recall_holders WHERE recall_id = ?1 AND merchant_id = ?2 AND trace_code = ?3",
            )?
            .query_row(params![recall_id, merchant_id, trace_code], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?;
        row.map(|(u, n)| {
            Ok(HolderForOp {
                received: Quantity::new(n, unit(&u)?),
            })
        })
        .transpose()
    }

    fn persist_confirmation(
        &mut self,
        c: &Confirmation,
        now: DateTime<Utc>,
    ) -> Result<Confirmed, StoreError> {
        let tx = self.0;
        tx.execute_batch("SAVEPOINT recall_op")?;
        let run = || -> Result<Confirmed, StoreError> {
            tx.prepare_cached(
                "INSERT INTO recall_confirmations (op_id, recall_id, merchant_id, trace_code, held, returned, destroyed,
                     confirmed_at, recorded_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?
            .execute(params![
                c.op_id,
                c.recall_id,
                c.merchant_id,
                c.trace_code,
                c.held.amount,
                c.returned.amount,
                c.destroyed.amount,
                ts(&c.confirmed_at),
                ts(&now),
            ])?;
            // Every confirmation of this holder, and core's choice among them.
            let all: Vec<Confirmation> = {
                let mut st = tx.prepare_cached(
                    "SELECT op_id, held, returned, destroyed, confirmed_at FROM recall_confirmations
                     WHERE recall_id = ?1 AND merchant_id = ?2 AND trace_code = ?3",
                )?;
                let rows = st.query_map(
                    params![c.recall_id, c.merchant_id, c.trace_code],
                    confirmation_row,
                )?;
                let mut out = Vec::new();
                for r in rows {
                    let (op_id, held, returned, destroyed, at) = r?;
                    let u = c.held.unit;
                    out.push(Confirmation {
                        recall_id: c.recall_id.clone(),
                        merchant_id: c.merchant_id.clone(),
                        trace_code: c.trace_code.clone(),
                        held: Quantity::new(held, u),
                        returned: Quantity::new(returned, u),
                        destroyed: Quantity::new(destroyed, u),
                        confirmed_at: parse_ts(&at)?,
                        op_id,
                    });
                }
                out
            };
            let n = all.len() as i64;
            let best = latest(&all).cloned().unwrap_or_else(|| c.clone());
            tx.prepare_cached(
                "UPDATE recall_holders SET latest_op_id = ?4, held = ?5, returned = ?6, destroyed = ?7,
                     confirmed_at = ?8, confirmations = ?9
                 WHERE recall_id = ?1 AND merchant_id = ?2 AND trace_code = ?3",
            )?
            .execute(params![
                c.recall_id,
                c.merchant_id,
                c.trace_code,
                best.op_id,
                best.held.amount,
                best.returned.amount,
                best.destroyed.amount,
                ts(&best.confirmed_at),
                n,
            ])?;
            let pending: i64 = tx
                .prepare_cached(
                    "SELECT COUNT(*) FROM recall_holders WHERE recall_id = ?1 AND latest_op_id IS NULL",
                )?
                .query_row([&c.recall_id], |r| r.get(0))?;
            let closing: bool = pending == 0
                && tx
                    .prepare_cached(
                        "UPDATE recalls SET status = 'closed', closed_at = ?2 WHERE id = ?1 AND status = 'active'",
                    )?
                    .execute(params![c.recall_id, ts(&now)])?
                    == 1;
            let rec = read_recall(tx, &c.recall_id)?
                .ok_or_else(|| corrupt("recall", "vanished inside its transaction"))?;
            if closing {
                let (merchants, regions) = merchants_and_regions(&rec);
                for m in &merchants {
                    publish_to_merchant(tx, &rec, m, UPDATED_KIND, false, now)?;
                }
                for r in &regions {
                    publish_to_region(tx, &rec, r, now)?;
                }
            } else {
                publish_to_merchant(tx, &rec, &c.merchant_id, UPDATED_KIND, false, now)?;
                if let Some(h) = rec.holders.iter().find(|h| {
                    h.holder.merchant_id == c.merchant_id && h.holder.trace_code == c.trace_code
                }) {
                    publish_to_region(tx, &rec, &h.region_code, now)?;
                }
            }
            Ok(Confirmed {
                latest: best,
                status: rec.header.status,
                pending: u64::try_from(pending).unwrap_or(0),
            })
        };
        match run() {
            Ok(done) => {
                tx.execute_batch("RELEASE recall_op")?;
                Ok(done)
            }
            Err(e) => {
                tx.execute_batch("ROLLBACK TO recall_op; RELEASE recall_op")?;
                Err(e)
            }
        }
    }
}

fn proposal_row(r: &Row<'_>) -> Result<StoredProposal, StoreError> {
    Ok(StoredProposal {
        id: r.get(0)?,
        merchant_id: r.get(1)?,
        merchant_name: r.get(2)?,
        trace_code: r.get(3)?,
        sample_id: r.get(4)?,
        reason: r.get(5)?,
        basis: r.get(6)?,
        status: r.get(7)?,
        recall_id: r.get(8)?,
        created_at: parse_ts(&r.get::<_, String>(9)?)?,
    })
}

const PROPOSAL_SQL: &str =
    "SELECT p.id, p.merchant_id, m.name, p.trace_code, p.sample_id, p.reason, p.basis, p.status,
        (SELECT r.id FROM recalls r WHERE r.proposal_id = p.id), p.created_at
     FROM recall_proposals p LEFT JOIN merchants m ON m.id = p.merchant_id";

/// Which holders a public page asks about.
#[derive(Clone, Copy)]
enum PublicBy {
    ShopCode,
    TraceCode,
}

fn public_recalls(
    conn: &Connection,
    by: PublicBy,
    value: &str,
) -> Result<Vec<PublicRecall>, StoreError> {
    let filter = match by {
        PublicBy::ShopCode => "h.merchant_id = (SELECT id FROM merchants WHERE shop_code = ?1)",
        PublicBy::TraceCode => "h.trace_code = ?1",
    };
    let mut st = conn.prepare_cached(&format!(
        "SELECT DISTINCT r.id, r.level, r.product_name, r.trace_code, r.reason, r.started_at
         FROM recall_holders h JOIN recalls r ON r.id = h.recall_id
         WHERE {filter} AND r.status = 'active' ORDER BY r.started_at DESC LIMIT 20"
    ))?;
    let mut rows = st.query([value])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.push(PublicRecall {
            recall_id: r.get(0)?,
            level: RecallLevel::from_number(r.get(1)?).ok_or_else(|| corrupt("recall", "level"))?,
            product_name: r.get(2)?,
            trace_code: r.get(3)?,
            reason: r.get(4)?,
            started_at: parse_ts(&r.get::<_, String>(5)?)?,
        });
    }
    Ok(out)
}

impl RecallStore for SqliteStore {
    fn create_recall(&self, r: NewRecall) -> StoreFuture<'_, ()> {
        Box::pin(self.writer().call(move |conn| -> Result<(), StoreError> {
            let tx = conn.transaction()?;
            insert_recall(&tx, &r)?;
            let rec = read_recall(&tx, &r.header.recall_id)?
                .ok_or_else(|| corrupt("recall", "vanished inside its transaction"))?;
            let now = r.header.started_at;
            let (merchants, regions) = merchants_and_regions(&rec);
            for m in &merchants {
                publish_to_merchant(&tx, &rec, m, NOTICE_KIND, false, now)?;
            }
            for region in &regions {
                publish_to_region(&tx, &rec, region, now)?;
            }
            tx.commit()?;
            Ok(())
        }))
    }

    fn recall(&self, id: String) -> StoreFuture<'_, Option<StoredRecall>> {
        Box::pin(self.readers().call(move |conn| read_recall(conn, &id)))
    }

    fn list_recalls(&self, f: RecallFilter) -> StoreFuture<'_, Page<RecallSummary>> {
        Box::pin(self.readers().call(move |conn| -> Result<_, StoreError> {
            let status = f.status.map(RecallStatus::as_str);
            let total: i64 = conn
                .prepare_cached("SELECT COUNT(*) FROM recalls WHERE ?1 IS NULL OR status = ?1")?
                .query_row([status], |r| r.get(0))?;
            let mut st = conn.prepare_cached(&format!(
                "SELECT {HEADER_COLS},
                    (SELECT COUNT(*) FROM recall_holders h WHERE h.recall_id = r.id),
                    (SELECT COUNT(*) FROM recall_holders h WHERE h.recall_id = r.id AND h.latest_op_id IS NOT NULL),
                    (SELECT COUNT(*) FROM recall_holders h WHERE h.recall_id = r.id AND h.held > 0)
                 FROM recalls r WHERE ?1 IS NULL OR r.status = ?1
                 ORDER BY r.started_at DESC, r.id DESC LIMIT ?2 OFFSET ?3"
            ))?;
            let mut rows = st.query(params![status, f.limit, f.offset])?;
            let mut items = Vec::new();
            let count = |n: i64| u64::try_from(n).unwrap_or(0);
            while let Some(r) = rows.next()? {
                let (header, _, _) = header(header_row(r)?)?;
                items.push(RecallSummary {
                    header,
                    holders: count(r.get(14)?),
                    confirmed: count(r.get(15)?),
                    still_holding: count(r.get(16)?),
                });
            }
            Ok(Page {
                items,
                total: count(total),
                limit: f.limit,
                offset: f.offset,
            })
        }))
    }

    fn recall_proposal(&self, id: String) -> StoreFuture<'_, Option<StoredProposal>> {
        Box::pin(self.readers().call(move |conn| -> Result<_, StoreError> {
            let mut st = conn.prepare_cached(&format!("{PROPOSAL_SQL} WHERE p.id = ?1"))?;
            let mut rows = st.query([&id])?;
            match rows.next()? {
                Some(r) => Ok(Some(proposal_row(r)?)),
                None => Ok(None),
            }
        }))
    }

    fn list_recall_proposals(
        &self,
        open_only: bool,
        limit: u32,
    ) -> StoreFuture<'_, Vec<StoredProposal>> {
        Box::pin(self.readers().call(move |conn| -> Result<_, StoreError> {
            let mut st = conn.prepare_cached(&format!(
                "{PROPOSAL_SQL} WHERE (?1 = 0 OR p.status = 'proposed') ORDER BY p.created_at DESC, p.id LIMIT ?2"
            ))?;
            let mut rows = st.query(params![open_only, limit])?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                out.push(proposal_row(r)?);
            }
            Ok(out)
        }))
    }

    fn remind_overdue(&self, now: DateTime<Utc>) -> StoreFuture<'_, u64> {
        Box::pin(self.writer().call(move |conn| -> Result<u64, StoreError> {
            let tx = conn.transaction()?;
            // Candidates by SQL; core's rule decides.
            let ids: Vec<String> = {
                let mut st = tx.prepare_cached(
                    "SELECT DISTINCT r.id FROM recalls r JOIN recall_holders h ON h.recall_id = r.id
                     WHERE r.status = 'active' AND h.latest_op_id IS NULL AND h.reminded_at IS NULL
                       AND r.start_by < ?1",
                )?;
                let rows = st.query_map([ts(&now)], |r| r.get(0))?;
                rows.collect::<rusqlite::Result<_>>()?
            };
            let mut reminded = 0u64;
            for id in ids {
                let Some(rec) = read_recall(&tx, &id)? else {
                    continue;
                };
                let due: Vec<&StoredHolder> = rec
                    .holders
                    .iter()
                    .filter(|h| {
                        h.reminded_at.is_none()
                            && is_overdue(h.latest.as_ref().map(|c| c.held.amount), &rec.header.deadlines, now)
                            && h.latest.is_none()
                    })
                    .collect();
                let mut merchants: BTreeMap<&str, ()> = BTreeMap::new();
                let mut regions: BTreeMap<&str, ()> = BTreeMap::new();
                for h in &due {
                    tx.prepare_cached(
                        "UPDATE recall_holders SET reminded_at = ?4 WHERE recall_id = ?1 AND merchant_id = ?2 AND trace_code = ?3",
                    )?
                    .execute(params![id, h.holder.merchant_id, h.holder.trace_code, ts(&now)])?;
                    merchants.insert(&h.holder.merchant_id, ());
                    regions.insert(&h.region_code, ());
                    reminded += 1;
                }
                for m in merchants.keys() {
                    publish_to_merchant(&tx, &rec, m, NOTICE_KIND, true, now)?;
                }
                for r in regions.keys() {
                    publish_to_region(&tx, &rec, r, now)?;
                }
            }
            tx.commit()?;
            Ok(reminded)
        }))
    }

    fn active_recalls_of_shop(&self, shop_code: String) -> StoreFuture<'_, Vec<PublicRecall>> {
        Box::pin(
            self.readers()
                .call(move |conn| public_recalls(conn, PublicBy::ShopCode, &shop_code)),
        )
    }

    fn active_recalls_of_code(&self, trace_code: String) -> StoreFuture<'_, Vec<PublicRecall>> {
        Box::pin(
            self.readers()
                .call(move |conn| public_recalls(conn, PublicBy::TraceCode, &trace_code)),
        )
    }
}
