//! Recalls on PostgreSQL, as `sqlite/recalls.rs` keeps them: a
//! regulator's recall with the holders the forward trace found when it
//! started (the trace itself is the service's, over the ledger graph), the
//! confirmations merchants push (inside the push transaction, through
//! [`RecallTx`]), the one overdue reminder, and the public pages' banners.
//!
//! **Where the rows live.** A recall crosses districts: a batch is sold on
//! from one district to the next, so one recall names holders in many.
//! * The recall's header (`recalls`) is national — a reference table, a
//!   copy on every node — rather than stored under the issuing district:
//!   the issuer may be a city's, a province's or the country's regulator
//!   (no one district is "its own"), every holder's shard joins its rows to
//!   the header locally, and the banners of any district's public pages
//!   read it without leaving their node. It is written twice in its life
//!   (started, closed), so the cost of a reference table's write (every
//!   node) is paid rarely.
//! * Each holder row (`recall_holders`) and its confirmations
//!   (`recall_confirmations`) are stored under the **holder merchant's**
//!   district, where that merchant's push confirms them: a confirmation
//!   touches one shard plus the header.
//!
//! **Several instances at once.** SQLite has one writer; here two
//! instances may confirm the last two holders of a recall together, or
//! remind the same holders together. Every write to a recall's holders
//! (a confirmation, a reminder) first locks the recall's header row
//! (`FOR UPDATE`), so they take turns per recall and each reads what the
//! one before it committed: the recall closes exactly once and a holder is
//! reminded once.

use std::collections::BTreeSet;

use chrono::{DateTime, NaiveDate, Utc};
use postgres::{GenericClient, Row};
use shian_core::quantity::{BaseUnit, Quantity};
use shian_core::recall::{
    is_overdue, latest, Confirmation, Deadlines, DistrictProgress, Holder, HolderProgress,
    MerchantNotice, RecallHeader, RecallLevel, RecallStatus, NOTICE_KIND, PROGRESS_KIND,
    UPDATED_KIND,
};

use super::feed::{publish, Audience};
use super::ledger::ts;
use super::store::PgStore;
use super::txn::PgTxn;
use crate::store::recalls::{
    Confirmed, HolderForOp, NewRecall, PublicRecall, RecallFilter, RecallStore, RecallSummary,
    RecallTx, StoredHolder, StoredProposal, StoredRecall,
};
use crate::store::{Page, StoreError, StoreFuture};

fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

fn unit(s: &str) -> Result<BaseUnit, StoreError> {
    BaseUnit::parse(s).ok_or_else(|| corrupt("recall unit", s))
}

/// A time as SQLite keeps it (milliseconds): what the notices and the API
/// read back from a `timestamptz` is then the same on both backends.
fn ms(t: &DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(t.timestamp_millis()).unwrap_or(*t)
}

/// A stored count (never negative) as the API's `u64`.
fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

fn level(n: i32) -> Result<RecallLevel, StoreError> {
    RecallLevel::from_number(i64::from(n)).ok_or_else(|| corrupt("recall", "level"))
}

const HEADER_COLS: &str = "r.id, r.trace_code, r.product_name, r.level, r.reason, r.status, r.started_at,
     r.start_by, r.finish_by, r.finish_by_end, r.calendar_warning, r.closed_at, r.proposal_id, r.started_by";

/// A recall's header, its proposal and who started it, from the first
/// columns of `r` ([`HEADER_COLS`]).
fn header(r: &Row) -> Result<(RecallHeader, Option<String>, String), StoreError> {
    let status: String = r.try_get(5)?;
    let finish_by: NaiveDate = r.try_get(8)?;
    Ok((
        RecallHeader {
            recall_id: r.try_get(0)?,
            trace_code: r.try_get(1)?,
            product_name: r.try_get(2)?,
            level: level(r.try_get(3)?)?,
            reason: r.try_get(4)?,
            status: RecallStatus::parse(&status).ok_or_else(|| corrupt("recall", "status"))?,
            started_at: r.try_get(6)?,
            deadlines: Deadlines {
                start_by: r.try_get(7)?,
                finish_by,
                finish_by_end: r.try_get(9)?,
                calendar_warning: r.try_get(10)?,
            },
            closed_at: r.try_get(11)?,
        },
        r.try_get(12)?,
        r.try_get(13)?,
    ))
}

const HOLDER_COLS: &str = "merchant_id, trace_code, merchant_name, parent_trace_code, depth, product_name,
     received_at, unit, received, held_at_start, region_code, latest_op_id, held, returned, destroyed,
     confirmed_at, confirmations, reminded_at";

fn holder_row(recall_id: &str, r: &Row) -> Result<StoredHolder, StoreError> {
    let u = unit(&r.try_get::<_, String>(7)?)?;
    let q = |n: i64| Quantity::new(n, u);
    let depth: i32 = r.try_get(4)?;
    let received_at: String = r.try_get(6)?;
    let holder = Holder {
        merchant_id: r.try_get(0)?,
        trace_code: r.try_get(1)?,
        merchant_name: r.try_get(2)?,
        parent_trace_code: r.try_get(3)?,
        depth: u32::try_from(depth).map_err(|e| corrupt("recall holder depth", e))?,
        product_name: r.try_get(5)?,
        received_at: DateTime::parse_from_rfc3339(&received_at)
            .map_err(|e| corrupt("recall holder received_at", e))?
            .with_timezone(&Utc),
        received: q(r.try_get(8)?),
        held_at_start: q(r.try_get(9)?),
    };
    let latest_op: Option<String> = r.try_get(11)?;
    let latest = match latest_op {
        None => None,
        Some(op_id) => Some(Confirmation {
            recall_id: recall_id.to_owned(),
            merchant_id: holder.merchant_id.clone(),
            trace_code: holder.trace_code.clone(),
            held: q(r.try_get::<_, Option<i64>>(12)?.unwrap_or(0)),
            returned: q(r.try_get::<_, Option<i64>>(13)?.unwrap_or(0)),
            destroyed: q(r.try_get::<_, Option<i64>>(14)?.unwrap_or(0)),
            confirmed_at: r
                .try_get::<_, Option<DateTime<Utc>>>(15)?
                .ok_or_else(|| corrupt("recall holder", "confirmed without a time"))?,
            op_id,
        }),
    };
    Ok(StoredHolder {
        holder,
        region_code: r.try_get(10)?,
        latest,
        confirmations: count(i64::from(r.try_get::<_, i32>(16)?)),
        reminded_at: r.try_get(17)?,
    })
}

/// A recall with every holder, in the trace's order (`seq`).
fn read_recall(c: &mut impl GenericClient, id: &str) -> Result<Option<StoredRecall>, StoreError> {
    let Some(row) = c.query_opt(
        &format!("SELECT {HEADER_COLS} FROM recalls r WHERE r.id = $1"),
        &[&id],
    )?
    else {
        return Ok(None);
    };
    let (header, proposal_id, started_by) = header(&row)?;
    let holders = c
        .query(
            &format!("SELECT {HOLDER_COLS} FROM recall_holders WHERE recall_id = $1 ORDER BY seq"),
            &[&id],
        )?
        .iter()
        .map(|r| holder_row(id, r))
        .collect::<Result<_, _>>()?;
    Ok(Some(StoredRecall {
        header,
        proposal_id,
        started_by,
        holders,
    }))
}

/// Locks a recall's header row until the transaction ends (see the module
/// doc); whether the recall exists.
fn lock_recall(c: &mut impl GenericClient, id: &str) -> Result<bool, StoreError> {
    Ok(
        c.query_opt("SELECT 1 FROM recalls WHERE id = $1 FOR UPDATE", &[&id])?
            .is_some(),
    )
}

fn progress(rec: &StoredRecall, h: &StoredHolder, now: DateTime<Utc>) -> HolderProgress {
    HolderProgress::new(&h.holder, h.latest.as_ref(), &rec.header.deadlines, now)
}

/// `recall.notice` (or `recall.updated`) to one merchant: its batches.
fn publish_to_merchant(
    c: &mut impl GenericClient,
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
    let to = Audience {
        merchant_id: Some(merchant_id),
        ..Audience::default()
    };
    publish(c, kind, to, &payload)?;
    Ok(())
}

/// `recall.progress` to one district: its holders.
fn publish_to_region(
    c: &mut impl GenericClient,
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
    let to = Audience {
        region_code: Some(region_code),
        ..Audience::default()
    };
    publish(c, PROGRESS_KIND, to, &payload)?;
    Ok(())
}

/// Every merchant and every district of a recall, each once, in the
/// holders' order.
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

/// Marks the proposal used (if the recall answers one) and stores the
/// recall and its holders, each holder under its merchant's district.
fn insert_recall(c: &mut impl GenericClient, r: &NewRecall) -> Result<(), StoreError> {
    if let Some(pid) = &r.proposal_id {
        // Conditional, under the row's lock: of two starts from one
        // proposal at once, the second finds it used (SQLite's writer
        // decides the same by taking them in turn).
        let marked = c.execute(
            "UPDATE recall_proposals SET status = 'recalled' WHERE id = $1 AND status = 'proposed'",
            &[pid],
        )?;
        if marked == 0 {
            let known = c
                .query_opt("SELECT 1 FROM recall_proposals WHERE id = $1", &[pid])?
                .is_some();
            return Err(if known {
                StoreError::Conflict {
                    code: "proposal_used".into(),
                    message: "该召回建议已启动过召回".into(),
                }
            } else {
                StoreError::NotFound("召回建议")
            });
        }
    }
    let h = &r.header;
    c.execute(
        "INSERT INTO recalls (id, trace_code, product_name, level, reason, proposal_id, started_by, started_at,
             start_by, finish_by, finish_by_end, calendar_warning, status)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 'active')",
        &[
            &h.recall_id,
            &h.trace_code,
            &h.product_name,
            &i32::from(h.level.number()),
            &h.reason,
            &r.proposal_id,
            &r.started_by,
            &ms(&h.started_at),
            &ms(&h.deadlines.start_by),
            &h.deadlines.finish_by,
            &ms(&h.deadlines.finish_by_end),
            &h.deadlines.calendar_warning,
        ],
    )?;
    let mut regions: std::collections::HashMap<String, String> = Default::default();
    for (seq, holder) in r.holders.iter().enumerate() {
        let region = match regions.get(&holder.merchant_id) {
            Some(d) => d.clone(),
            None => {
                // As SQLite: an unregistered holder (none is: the trace
                // names merchants of the ledger) is stored under no district.
                let d = super::district::of_merchant(c, &holder.merchant_id)?.unwrap_or_default();
                regions.insert(holder.merchant_id.clone(), d.clone());
                d
            }
        };
        let seq = i32::try_from(seq).map_err(|e| corrupt("recall holder seq", e))?;
        let depth = i32::try_from(holder.depth).map_err(|e| corrupt("recall holder depth", e))?;
        c.execute(
            "INSERT INTO recall_holders (region_code, recall_id, merchant_id, trace_code, seq, merchant_name,
                 parent_trace_code, depth, product_name, received_at, unit, received, held_at_start)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
            &[
                &region,
                &h.recall_id,
                &holder.merchant_id,
                &holder.trace_code,
                &seq,
                &holder.merchant_name,
                &holder.parent_trace_code,
                &depth,
                &holder.product_name,
                &ts(&holder.received_at),
                &holder.received.unit.as_str(),
                &holder.received.amount,
                &holder.held_at_start.amount,
            ],
        )?;
    }
    Ok(())
}

/// Keeps one confirmation and re-makes its holder, closing the recall when
/// no holder is pending, with the notices (see
/// [`RecallTx::persist_confirmation`]). Runs under the recall's lock.
fn confirm(
    tx: &mut impl GenericClient,
    c: &Confirmation,
    now: DateTime<Utc>,
) -> Result<Confirmed, StoreError> {
    if !lock_recall(tx, &c.recall_id)? {
        return Err(corrupt("recall", "confirmed but not stored"));
    }
    let region: String = tx
        .query_opt(
            "SELECT region_code FROM recall_holders WHERE recall_id = $1 AND merchant_id = $2 AND trace_code = $3",
            &[&c.recall_id, &c.merchant_id, &c.trace_code],
        )?
        .ok_or_else(|| corrupt("recall holder", "confirmed but not stored"))?
        .try_get(0)?;
    tx.execute(
        "INSERT INTO recall_confirmations (region_code, op_id, recall_id, merchant_id, trace_code, held, returned,
             destroyed, confirmed_at, recorded_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        &[
            &region,
            &c.op_id,
            &c.recall_id,
            &c.merchant_id,
            &c.trace_code,
            &c.held.amount,
            &c.returned.amount,
            &c.destroyed.amount,
            &ms(&c.confirmed_at),
            &ms(&now),
        ],
    )?;
    // Every confirmation of this holder, and core's choice among them (a
    // total order: the rows' order is moot).
    let u = c.held.unit;
    let all: Vec<Confirmation> = tx
        .query(
            "SELECT op_id, held, returned, destroyed, confirmed_at FROM recall_confirmations
             WHERE region_code = $1 AND recall_id = $2 AND merchant_id = $3 AND trace_code = $4",
            &[&region, &c.recall_id, &c.merchant_id, &c.trace_code],
        )?
        .iter()
        .map(|r| {
            Ok(Confirmation {
                recall_id: c.recall_id.clone(),
                merchant_id: c.merchant_id.clone(),
                trace_code: c.trace_code.clone(),
                held: Quantity::new(r.try_get(1)?, u),
                returned: Quantity::new(r.try_get(2)?, u),
                destroyed: Quantity::new(r.try_get(3)?, u),
                confirmed_at: r.try_get(4)?,
                op_id: r.try_get(0)?,
            })
        })
        .collect::<Result<_, StoreError>>()?;
    let n = i32::try_from(all.len()).map_err(|e| corrupt("recall confirmations", e))?;
    let best = latest(&all).cloned().unwrap_or_else(|| c.clone());
    tx.execute(
        "UPDATE recall_holders SET latest_op_id = $5, held = $6, returned = $7, destroyed = $8,
             confirmed_at = $9, confirmations = $10
         WHERE region_code = $1 AND recall_id = $2 AND merchant_id = $3 AND trace_code = $4",
        &[
            &region,
            &c.recall_id,
            &c.merchant_id,
            &c.trace_code,
            &best.op_id,
            &best.held.amount,
            &best.returned.amount,
            &best.destroyed.amount,
            &ms(&best.confirmed_at),
            &n,
        ],
    )?;
    let pending: i64 = tx
        .query_one(
            "SELECT COUNT(*) FROM recall_holders WHERE recall_id = $1 AND latest_op_id IS NULL",
            &[&c.recall_id],
        )?
        .try_get(0)?;
    let closing = pending == 0
        && tx.execute(
            "UPDATE recalls SET status = 'closed', closed_at = $2 WHERE id = $1 AND status = 'active'",
            &[&c.recall_id, &ms(&now)],
        )? == 1;
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
        if let Some(h) = rec
            .holders
            .iter()
            .find(|h| h.holder.merchant_id == c.merchant_id && h.holder.trace_code == c.trace_code)
        {
            publish_to_region(tx, &rec, &h.region_code, now)?;
        }
    }
    Ok(Confirmed {
        latest: best,
        status: rec.header.status,
        pending: count(pending),
    })
}

impl RecallTx for PgTxn<'_, '_> {
    fn recall_holder(
        &self,
        recall_id: &str,
        merchant_id: &str,
        trace_code: &str,
    ) -> Result<Option<HolderForOp>, StoreError> {
        self.try_with(|tx| {
            // The merchant's district first, so that the read goes to one
            // shard (the holder row is stored under it).
            tx.query_opt(
                "SELECT h.unit, h.received FROM recall_holders h
                 WHERE h.region_code = (SELECT region_code FROM merchants WHERE id = $2)
                   AND h.recall_id = $1 AND h.merchant_id = $2 AND h.trace_code = $3",
                &[&recall_id, &merchant_id, &trace_code],
            )?
            .map(|r| {
                Ok(HolderForOp {
                    received: Quantity::new(r.try_get(1)?, unit(&r.try_get::<_, String>(0)?)?),
                })
            })
            .transpose()
        })
    }

    /// All or nothing inside the push: under a savepoint, so that a failure
    /// leaves none of the op's writes in the push transaction.
    fn persist_confirmation(
        &mut self,
        c: &Confirmation,
        now: DateTime<Utc>,
    ) -> Result<Confirmed, StoreError> {
        self.try_with(|tx| {
            let mut op = tx.savepoint("recall_op")?;
            // Dropped uncommitted on an error: rolled back to the savepoint.
            let done = confirm(&mut op, c, now)?;
            op.commit()?;
            Ok(done)
        })
    }
}

fn proposal_row(r: &Row) -> Result<StoredProposal, StoreError> {
    Ok(StoredProposal {
        id: r.try_get(0)?,
        merchant_id: r.try_get(1)?,
        merchant_name: r.try_get(2)?,
        trace_code: r.try_get(3)?,
        sample_id: r.try_get(4)?,
        reason: r.try_get(5)?,
        basis: r.try_get(6)?,
        status: r.try_get(7)?,
        recall_id: r.try_get(8)?,
        created_at: r.try_get(9)?,
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

/// The active recalls naming a shop's or a batch's holders, newest first,
/// at most 20 (SQLite's).
fn public_recalls(
    c: &mut impl GenericClient,
    by: PublicBy,
    value: &str,
) -> Result<Vec<PublicRecall>, StoreError> {
    let filter = match by {
        // The shop's district and id: one shard.
        PublicBy::ShopCode => {
            "(h.region_code, h.merchant_id) =
                 (SELECT region_code, id FROM merchants WHERE shop_code = $1)"
        }
        PublicBy::TraceCode => "h.trace_code = $1",
    };
    c.query(
        &format!(
            "SELECT DISTINCT r.id, r.level, r.product_name, r.trace_code, r.reason, r.started_at
             FROM recall_holders h JOIN recalls r ON r.id = h.recall_id
             WHERE {filter} AND r.status = 'active' ORDER BY r.started_at DESC LIMIT 20"
        ),
        &[&value],
    )?
    .iter()
    .map(|r| {
        Ok(PublicRecall {
            recall_id: r.try_get(0)?,
            level: level(r.try_get(1)?)?,
            product_name: r.try_get(2)?,
            trace_code: r.try_get(3)?,
            reason: r.try_get(4)?,
            started_at: r.try_get(5)?,
        })
    })
    .collect()
}

/// Sends the overdue reminders (see [`RecallStore::remind_overdue`]) in
/// one transaction; how many holders were reminded.
fn remind(c: &mut postgres::Client, now: DateTime<Utc>) -> Result<u64, StoreError> {
    let mut tx = c.transaction()?;
    // Candidates by SQL; core's rule decides, under each recall's lock.
    let ids: Vec<String> = tx
        .query(
            "SELECT DISTINCT r.id FROM recalls r JOIN recall_holders h ON h.recall_id = r.id
             WHERE r.status = 'active' AND h.latest_op_id IS NULL AND h.reminded_at IS NULL
               AND r.start_by < $1
             ORDER BY r.id",
            &[&ms(&now)],
        )?
        .iter()
        .map(|r| r.try_get(0))
        .collect::<Result<_, _>>()?;
    let mut reminded = 0u64;
    for id in ids {
        // Locked, then read: another instance's reminder or a confirmation
        // committed meanwhile is seen, and its holders are not reminded.
        if !lock_recall(&mut tx, &id)? {
            continue;
        }
        let Some(rec) = read_recall(&mut tx, &id)? else {
            continue;
        };
        let due: Vec<&StoredHolder> = rec
            .holders
            .iter()
            .filter(|h| {
                h.reminded_at.is_none()
                    && is_overdue(
                        h.latest.as_ref().map(|c| c.held.amount),
                        &rec.header.deadlines,
                        now,
                    )
                    && h.latest.is_none()
            })
            .collect();
        let mut merchants: BTreeSet<&str> = BTreeSet::new();
        let mut regions: BTreeSet<&str> = BTreeSet::new();
        for h in &due {
            tx.execute(
                "UPDATE recall_holders SET reminded_at = $5
                 WHERE region_code = $1 AND recall_id = $2 AND merchant_id = $3 AND trace_code = $4",
                &[
                    &h.region_code,
                    &id,
                    &h.holder.merchant_id,
                    &h.holder.trace_code,
                    &ms(&now),
                ],
            )?;
            merchants.insert(&h.holder.merchant_id);
            regions.insert(&h.region_code);
            reminded += 1;
        }
        for m in &merchants {
            publish_to_merchant(&mut tx, &rec, m, NOTICE_KIND, true, now)?;
        }
        for r in &regions {
            publish_to_region(&mut tx, &rec, r, now)?;
        }
    }
    tx.commit()?;
    Ok(reminded)
}

impl RecallStore for PgStore {
    fn create_recall(&self, r: NewRecall) -> StoreFuture<'_, ()> {
        Box::pin(self.pool.call(move |c| {
            let mut tx = c.transaction()?;
            insert_recall(&mut tx, &r)?;
            let rec = read_recall(&mut tx, &r.header.recall_id)?
                .ok_or_else(|| corrupt("recall", "vanished inside its transaction"))?;
            let now = r.header.started_at;
            let (merchants, regions) = merchants_and_regions(&rec);
            for m in &merchants {
                publish_to_merchant(&mut tx, &rec, m, NOTICE_KIND, false, now)?;
            }
            for region in &regions {
                publish_to_region(&mut tx, &rec, region, now)?;
            }
            tx.commit()?;
            Ok(())
        }))
    }

    fn recall(&self, id: String) -> StoreFuture<'_, Option<StoredRecall>> {
        Box::pin(self.pool.call(move |c| read_recall(c, &id)))
    }

    fn list_recalls(&self, f: RecallFilter) -> StoreFuture<'_, Page<RecallSummary>> {
        Box::pin(self.pool.call(move |c| {
            let status = f.status.map(RecallStatus::as_str);
            let total: i64 = c
                .query_one(
                    "SELECT COUNT(*) FROM recalls WHERE $1::text IS NULL OR status = $1",
                    &[&status],
                )?
                .try_get(0)?;
            let items = c
                .query(
                    &format!(
                        "SELECT {HEADER_COLS},
                            (SELECT COUNT(*) FROM recall_holders h WHERE h.recall_id = r.id),
                            (SELECT COUNT(*) FROM recall_holders h WHERE h.recall_id = r.id AND h.latest_op_id IS NOT NULL),
                            (SELECT COUNT(*) FROM recall_holders h WHERE h.recall_id = r.id AND h.held > 0)
                         FROM recalls r WHERE $1::text IS NULL OR r.status = $1
                         ORDER BY r.started_at DESC, r.id COLLATE \"C\" DESC LIMIT $2 OFFSET $3"
                    ),
                    &[&status, &i64::from(f.limit), &i64::from(f.offset)],
                )?
                .iter()
                .map(|r| {
                    let (header, _, _) = header(r)?;
                    Ok(RecallSummary {
                        header,
                        holders: count(r.try_get(14)?),
                        confirmed: count(r.try_get(15)?),
                        still_holding: count(r.try_get(16)?),
                    })
                })
                .collect::<Result<_, StoreError>>()?;
            Ok(Page {
                items,
                total: count(total),
                limit: f.limit,
                offset: f.offset,
            })
        }))
    }

    fn recall_proposal(&self, id: String) -> StoreFuture<'_, Option<StoredProposal>> {
        Box::pin(self.pool.call(move |c| {
            c.query_opt(&format!("{PROPOSAL_SQL} WHERE p.id = $1"), &[&id])?
                .map(|r| proposal_row(&r))
                .transpose()
        }))
    }

    fn list_recall_proposals(
        &self,
        open_only: bool,
        limit: u32,
    ) -> StoreFuture<'_, Vec<StoredProposal>> {
        Box::pin(self.pool.call(move |c| {
            c.query(
                &format!(
                    "{PROPOSAL_SQL} WHERE (NOT $1 OR p.status = 'proposed')
                     ORDER BY p.created_at DESC, p.id COLLATE \"C\" LIMIT $2"
                ),
                &[&open_only, &i64::from(limit)],
            )?
            .iter()
            .map(proposal_row)
            .collect()
        }))
    }

    fn remind_overdue(&self, now: DateTime<Utc>) -> StoreFuture<'_, u64> {
        Box::pin(self.pool.call(move |c| remind(c, now)))
    }

    fn active_recalls_of_shop(&self, shop_code: String) -> StoreFuture<'_, Vec<PublicRecall>> {
        Box::pin(
            self.pool
                .call(move |c| public_recalls(c, PublicBy::ShopCode, &shop_code)),
        )
    }

    fn active_recalls_of_code(&self, trace_code: String) -> StoreFuture<'_, Vec<PublicRecall>> {
        Box::pin(
            self.pool
                .call(move |c| public_recalls(c, PublicBy::TraceCode, &trace_code)),
        )
    }
}

#[cfg(test)]
mod tests {
    use chrono::Duration;
    use serde_json::{json, Value};
    use shian_core::sync::protocol::{Op, OpStatus};

    use super::super::staff::block_on;
    use super::super::testing::{add_market, add_merchant, add_user, fresh, Db};
    use super::*;
    use crate::store::ledger::{Caller, LedgerStore, Prepared};

    fn code() -> String {
        shian_core::codes::new_code(&mut rand::rng())
    }

    /// The batches of one recall: m1's root, m2's and far's bought of it.
    struct Codes {
        root: String,
        m2: String,
        far: String,
    }

    fn codes() -> Codes {
        Codes {
            root: code(),
            m2: code(),
            far: code(),
        }
    }

    /// Whole milliseconds, as both backends keep a time.
    fn now() -> DateTime<Utc> {
        ms(&Utc::now())
    }

    /// Two shops of market `mk` in 350203 and one in 350206, each with its
    /// account (`u-` + shop).
    fn setup(db: &Db) {
        let mut c = db.store.pool().get().unwrap();
        add_market(&mut *c, "mk", "350203");
        add_merchant(&mut *c, "m1", "350203", Some("mk"));
        add_merchant(&mut *c, "m2", "350203", Some("mk"));
        add_merchant(&mut *c, "far", "350206", None);
        for m in ["m1", "m2", "far"] {
            add_user(&mut *c, &format!("u-{m}"), "merchant", Some(m), &[], &[]);
        }
    }

    fn holder(merchant: &str, trace: &str, parent: Option<&str>, kg: i64) -> Holder {
        Holder {
            merchant_id: merchant.into(),
            merchant_name: Some(merchant.into()),
            trace_code: trace.into(),
            parent_trace_code: parent.map(str::to_owned),
            depth: u32::from(parent.is_some()),
            product_name: "进口奶酪".into(),
            received_at: now() - Duration::hours(5),
            received: Quantity::new(kg * 1000, BaseUnit::Gram),
            held_at_start: Quantity::new(kg * 500, BaseUnit::Gram),
        }
    }

    /// A recall of `root` (m1's) naming m1's root, m2's and far's batches,
    /// started `started_ago` before now with a start deadline an hour
    /// after its start.
    fn recall(id: &str, k: &Codes, proposal: Option<&str>, started_ago: Duration) -> NewRecall {
        let root = k.root.as_str();
        let started = now() - started_ago;
        NewRecall {
            header: RecallHeader {
                recall_id: id.into(),
                trace_code: root.into(),
                product_name: "进口奶酪".into(),
                level: RecallLevel::One,
                reason: "检出李斯特菌".into(),
                status: RecallStatus::Active,
                started_at: started,
                deadlines: Deadlines {
                    start_by: started + Duration::hours(1),
                    finish_by: (started + Duration::days(3)).date_naive(),
                    finish_by_end: started + Duration::days(3),
                    calendar_warning: None,
                },
                closed_at: None,
            },
            proposal_id: proposal.map(str::to_owned),
            started_by: "analyst".into(),
            holders: vec![
                holder("m1", root, None, 100),
                holder("m2", &k.m2, Some(root), 30),
                holder("far", &k.far, Some(root), 20),
            ],
        }
    }

    /// The payloads published of `kind`, in feed order, with their
    /// merchant and district.
    fn changes(db: &Db, kind: &str) -> Vec<(Option<String>, Option<String>, Value)> {
        let mut c = db.store.pool().get().unwrap();
        c.query(
            "SELECT merchant_id, region_code, payload FROM changes WHERE kind = $1 ORDER BY seq",
            &[&kind],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect()
    }

    fn confirmation(
        recall: &str,
        merchant: &str,
        trace: &str,
        held: i64,
        op: &str,
    ) -> Confirmation {
        let g = |n: i64| Quantity::new(n, BaseUnit::Gram);
        Confirmation {
            recall_id: recall.into(),
            merchant_id: merchant.into(),
            trace_code: trace.into(),
            held: g(held),
            returned: g(0),
            destroyed: g(1000),
            confirmed_at: now() - Duration::minutes(1),
            op_id: op.into(),
        }
    }

    /// Confirms in a push transaction of its own, committed.
    fn persist(db: &Db, c: &Confirmation) -> Confirmed {
        let mut conn = db.store.pool().get().unwrap();
        let mut tx = conn.transaction().unwrap();
        let done = {
            let mut t = PgTxn::new(&mut tx);
            assert!(t
                .recall_holder(&c.recall_id, &c.merchant_id, &c.trace_code)
                .unwrap()
                .is_some());
            t.persist_confirmation(c, now()).unwrap()
        };
        tx.commit().unwrap();
        done
    }

    /// A recall is stored with its holders, each under its merchant's
    /// district; each holder merchant is sent its notice and each district
    /// the progress; its proposal is used once.
    #[test]
    fn a_recall_is_stored_with_its_holders_and_announced() {
        let Some(db) = fresh() else { return };
        setup(&db);
        let k = codes();
        let root = k.root.clone();
        db.store
            .pool()
            .get()
            .unwrap()
            .execute(
                "INSERT INTO recall_proposals (region_code, id, merchant_id, trace_code, sample_id, reason, basis, created_at)
                 VALUES ('350203', 'p1', 'm1', $1, 's1', '不合格', 'GB 29921', now())",
                &[&root],
            )
            .unwrap();
        let s = &db.store;
        let open = block_on(s.list_recall_proposals(true, 10)).unwrap();
        assert_eq!(open.len(), 1);
        assert_eq!(open[0].merchant_name.as_deref(), Some("m1"));
        block_on(s.create_recall(recall("r1", &k, Some("p1"), Duration::zero()))).unwrap();

        let rec = block_on(s.recall("r1".into())).unwrap().unwrap();
        assert_eq!(rec.proposal_id.as_deref(), Some("p1"));
        assert_eq!(rec.header.status, RecallStatus::Active);
        let held: Vec<(&str, &str, u32)> = rec
            .holders
            .iter()
            .map(|h| {
                (
                    h.holder.merchant_id.as_str(),
                    h.region_code.as_str(),
                    h.holder.depth,
                )
            })
            .collect();
        assert_eq!(
            held,
            [
                ("m1", "350203", 0),
                ("m2", "350203", 1),
                ("far", "350206", 1)
            ]
        );
        assert_eq!(rec.holders[1].holder.received.amount, 30_000);
        assert!(rec.holders.iter().all(|h| h.latest.is_none()));

        let notices = changes(&db, NOTICE_KIND);
        let to: Vec<Option<&str>> = notices.iter().map(|(m, _, _)| m.as_deref()).collect();
        assert_eq!(to, [Some("m1"), Some("m2"), Some("far")]);
        assert_eq!(notices[0].2["reminder"], false);
        assert_eq!(notices[1].2["batches"].as_array().unwrap().len(), 1);
        let progress = changes(&db, PROGRESS_KIND);
        let districts: Vec<Option<&str>> = progress.iter().map(|(_, d, _)| d.as_deref()).collect();
        assert_eq!(districts, [Some("350203"), Some("350206")]);
        assert_eq!(progress[0].2["holders"].as_array().unwrap().len(), 2);

        // The proposal is used: listed as recalled, refused a second time.
        let p = block_on(s.recall_proposal("p1".into())).unwrap().unwrap();
        assert_eq!(
            (p.status.as_str(), p.recall_id.as_deref()),
            ("recalled", Some("r1"))
        );
        assert!(block_on(s.list_recall_proposals(true, 10))
            .unwrap()
            .is_empty());
        assert_eq!(
            block_on(s.list_recall_proposals(false, 10)).unwrap().len(),
            1
        );
        let again = block_on(s.create_recall(recall("r2", &k, Some("p1"), Duration::zero())));
        assert!(
            matches!(&again, Err(StoreError::Conflict { code, .. }) if code == "proposal_used"),
            "{again:?}"
        );
        let unknown = block_on(s.create_recall(recall("r3", &k, Some("nope"), Duration::zero())));
        assert!(
            matches!(unknown, Err(StoreError::NotFound("召回建议"))),
            "{unknown:?}"
        );
        // Neither refused start left anything.
        let page = block_on(s.list_recalls(RecallFilter {
            status: None,
            limit: 10,
            offset: 0,
        }))
        .unwrap();
        assert_eq!(page.total, 1);
        assert_eq!(page.items[0].holders, 3);
        assert!(block_on(s.recall("r2".into())).unwrap().is_none());
    }

    /// A confirmation re-makes its holder (the latest count wins whatever
    /// the order), tells the merchant and its district; the last one closes
    /// the recall and tells every holder and district.
    #[test]
    fn confirmations_count_the_latest_and_the_last_closes_the_recall() {
        let Some(db) = fresh() else { return };
        setup(&db);
        let k = codes();
        let root = k.root.clone();
        let s = &db.store;
        block_on(s.create_recall(recall("r1", &k, None, Duration::zero()))).unwrap();
        let m2 = k.m2.clone();

        let later = confirmation("r1", "m2", &m2, 5000, "op-b");
        let mut earlier = confirmation("r1", "m2", &m2, 9000, "op-a");
        earlier.confirmed_at = later.confirmed_at - Duration::minutes(5);
        let first = persist(&db, &later);
        assert_eq!((first.pending, first.status), (2, RecallStatus::Active));
        // The earlier count arriving after does not replace the later one.
        let second = persist(&db, &earlier);
        assert_eq!(second.latest.op_id, "op-b");
        assert_eq!(second.latest.held.amount, 5000);
        let rec = block_on(s.recall("r1".into())).unwrap().unwrap();
        assert_eq!(rec.holders[1].confirmations, 2);
        assert_eq!(rec.holders[1].latest.as_ref().unwrap().op_id, "op-b");
        let updated = changes(&db, UPDATED_KIND);
        assert_eq!(updated.len(), 2);
        assert!(updated.iter().all(|(m, _, _)| m.as_deref() == Some("m2")));
        let progress = changes(&db, PROGRESS_KIND);
        assert_eq!(progress.len(), 2 + 2, "the start's two, then 350203 twice");
        assert_eq!(progress[3].1.as_deref(), Some("350203"));

        // A holder not in the recall: none.
        let conn = &mut db.store.pool().get().unwrap();
        let mut tx = conn.transaction().unwrap();
        assert!(PgTxn::new(&mut tx)
            .recall_holder("r1", "m2", &root)
            .unwrap()
            .is_none());
        drop(tx);

        persist(&db, &confirmation("r1", "m1", &root, 0, "op-c"));
        let last = persist(&db, &confirmation("r1", "far", &k.far, 0, "op-d"));
        assert_eq!((last.pending, last.status), (0, RecallStatus::Closed));
        let rec = block_on(s.recall("r1".into())).unwrap().unwrap();
        assert!(rec.header.closed_at.is_some());
        // The closing: every holder (3) and every district (2) told.
        assert_eq!(changes(&db, UPDATED_KIND).len(), 2 + 1 + 3);
        assert_eq!(changes(&db, PROGRESS_KIND).len(), 4 + 1 + 2);
        let page = block_on(s.list_recalls(RecallFilter {
            status: Some(RecallStatus::Closed),
            limit: 10,
            offset: 0,
        }))
        .unwrap();
        assert_eq!(page.total, 1);
        assert_eq!(
            (page.items[0].confirmed, page.items[0].still_holding),
            (3, 1)
        );
        // Closed: no banner any more.
        assert!(block_on(s.active_recalls_of_code(root.clone()))
            .unwrap()
            .is_empty());
    }

    /// A `recall.confirm` op pushed twice (the phone did not hear the first
    /// answer): the retry answers the first result and keeps nothing more.
    #[test]
    fn a_retried_confirmation_answers_its_first_result() {
        let Some(db) = fresh() else { return };
        setup(&db);
        let k = codes();
        let s = &db.store;
        block_on(s.create_recall(recall("r1", &k, None, Duration::zero()))).unwrap();
        let op_id = uuid::Uuid::now_v7().to_string();
        let at = Utc::now().to_rfc3339();
        let op = || Prepared {
            op: Op {
                op_id: op_id.clone(),
                kind: "recall.confirm".into(),
                at: at.clone(),
                payload: json!({
                    "recall_id": "r1", "merchant_id": "far", "trace_code": k.far.clone(),
                    "held": {"value": "0", "unit": "kg"},
                    "returned": {"value": "15", "unit": "kg"},
                    "destroyed": {"value": "5", "unit": "kg"},
                }),
            },
            event: None,
            wire: None,
        };
        let caller = Caller {
            user_id: "u-far".into(),
            role: "merchant".into(),
            merchant_id: Some("far".into()),
            regions: vec![],
            markets: vec![],
        };
        let (first, _) = block_on(s.sync_push(caller.clone(), "d-far".into(), vec![op()])).unwrap();
        assert_eq!(first[0].status, OpStatus::Accepted, "{first:?}");
        let answer = first[0].result.clone().unwrap();
        assert_eq!(answer["pending_holders"], 2);
        assert_eq!(answer["returned"]["value"], "15");
        let (again, _) = block_on(s.sync_push(caller, "d-far".into(), vec![op()])).unwrap();
        assert_eq!(again[0].status, OpStatus::Duplicate, "{again:?}");
        assert_eq!(again[0].result.as_ref(), Some(&answer));
        let mut c = db.store.pool().get().unwrap();
        let kept: i64 = c
            .query_one(
                "SELECT count(*) FROM recall_confirmations WHERE region_code = '350206'",
                &[],
            )
            .unwrap()
            .get(0);
        assert_eq!(kept, 1);
        assert_eq!(changes(&db, UPDATED_KIND).len(), 1);
    }

    /// Past the start deadline, every holder that has not confirmed is
    /// reminded once, with its district's progress; a second pass sends
    /// nothing.
    #[test]
    fn the_silent_are_reminded_once() {
        let Some(db) = fresh() else { return };
        setup(&db);
        let (late, fresh_code) = (codes(), codes());
        let s = &db.store;
        block_on(s.create_recall(recall("late", &late, None, Duration::hours(2)))).unwrap();
        block_on(s.create_recall(recall("new", &fresh_code, None, Duration::zero()))).unwrap();
        persist(&db, &confirmation("late", "m1", &late.root, 0, "op-1"));
        let before = changes(&db, NOTICE_KIND).len();
        let progress_before = changes(&db, PROGRESS_KIND).len();

        assert_eq!(block_on(s.remind_overdue(now())).unwrap(), 2, "m2 and far");
        let notices = changes(&db, NOTICE_KIND);
        let reminders: Vec<(&str, &Value)> = notices[before..]
            .iter()
            .map(|(m, _, p)| (m.as_deref().unwrap(), p))
            .collect();
        assert_eq!(reminders.len(), 2);
        assert!(reminders
            .iter()
            .all(|(_, p)| p["reminder"] == true && p["id"] == "late"));
        let mut to: Vec<&str> = reminders.iter().map(|(m, _)| *m).collect();
        to.sort_unstable();
        assert_eq!(to, ["far", "m2"]);
        assert_eq!(changes(&db, PROGRESS_KIND).len(), progress_before + 2);
        let rec = block_on(s.recall("late".into())).unwrap().unwrap();
        let marked: Vec<bool> = rec
            .holders
            .iter()
            .map(|h| h.reminded_at.is_some())
            .collect();
        assert_eq!(marked, [false, true, true]);

        assert_eq!(block_on(s.remind_overdue(now())).unwrap(), 0);
        assert_eq!(changes(&db, NOTICE_KIND).len(), before + 2);
    }

    /// The public pages' banners: the active recalls naming a shop's
    /// batches or a code, newest first; a shop or code outside, none.
    #[test]
    fn banners_name_the_active_recalls_of_a_shop_or_a_code() {
        let Some(db) = fresh() else { return };
        setup(&db);
        let (a, b) = (codes(), codes());
        let s = &db.store;
        block_on(s.create_recall(recall("ra", &a, None, Duration::hours(1)))).unwrap();
        block_on(s.create_recall(recall("rb", &b, None, Duration::zero()))).unwrap();
        let of_far = block_on(s.active_recalls_of_shop("S-far".into())).unwrap();
        let ids: Vec<&str> = of_far.iter().map(|r| r.recall_id.as_str()).collect();
        assert_eq!(ids, ["rb", "ra"], "newest first");
        assert_eq!(of_far[0].level, RecallLevel::One);
        assert_eq!(of_far[0].trace_code, b.root);
        let of_code = block_on(s.active_recalls_of_code(a.m2.clone())).unwrap();
        assert_eq!(of_code.len(), 1);
        assert_eq!(of_code[0].recall_id, "ra");
        assert_eq!(of_code[0].reason, "检出李斯特菌");
        assert!(block_on(s.active_recalls_of_shop("S-nobody".into()))
            .unwrap()
            .is_empty());
        assert!(block_on(s.active_recalls_of_code(code()))
            .unwrap()
            .is_empty());
        // Paging of the list: newest first.
        let page = block_on(s.list_recalls(RecallFilter {
            status: Some(RecallStatus::Active),
            limit: 1,
            offset: 1,
        }))
        .unwrap();
        assert_eq!(page.total, 2);
        assert_eq!(page.items[0].header.recall_id, "ra");
    }
}
