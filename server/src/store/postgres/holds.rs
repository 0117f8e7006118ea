//! Holds (暂扣) on PostgreSQL, as `sqlite/holds.rs` keeps them: the push
//! transaction's hold writes (each with its changes and its alert in the
//! same transaction), the reads of the API and the console, and the
//! `batch_held` candidates of the alerts' full pass.
//!
//! A hold is stored under its merchant's district; a hold id is the
//! country's (SQLite's primary key), so reads by id alone look in every
//! district.

use chrono::{DateTime, FixedOffset, Utc};
use postgres::{GenericClient, Row};
use serde_json::Value;
use shian_core::hold::{
    Hold, HoldReason, HoldStatus, PLACED_CHANGE as PLACED, RELEASED_CHANGE as RELEASED,
};
use shian_core::ledger::LedgerView;
use shian_core::quantity::Quantity;
use shian_core::warnings::holds::{self, HeldFact, HeldSaleFact, HoldThresholds};

use super::feed::{publish, publish_to_market, Audience};
use super::store::PgStore;
use super::txn::PgTxn;
use crate::store::holds::{HoldEnd, HoldFilter, HoldStore, HoldsTx, MerchantBrief, StoredHold};
use crate::store::{Page, StoreError, StoreFuture};

fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("hold {what}: {e}"))
}

const COLS: &str =
    "hold_id, market_id, merchant_id, merchant_name, trace_code, product_name, reason, note,
     placed_at, placed_by, recorded_at, change_seq, on_hand, on_hand_zh, status, ended_at, ended_by,
     ended_note, dispose_entry_id, witness, photos";

fn hold_row(r: &Row) -> Result<StoredHold, StoreError> {
    let reason: String = r.try_get(6)?;
    let placed_at: String = r.try_get(8)?;
    let status: String = r.try_get(14)?;
    let photos: Value = r.try_get(20)?;
    Ok(StoredHold {
        hold: Hold {
            hold_id: r.try_get(0)?,
            market_id: r.try_get(1)?,
            merchant_id: r.try_get(2)?,
            trace_code: r.try_get(4)?,
            reason: HoldReason::parse(&reason).ok_or_else(|| corrupt("reason", &reason))?,
            note: r.try_get(7)?,
            placed_at: DateTime::<FixedOffset>::parse_from_rfc3339(&placed_at)
                .map_err(|e| corrupt("placed_at", e))?,
            placed_by: r.try_get(9)?,
        },
        status: HoldStatus::parse(&status).ok_or_else(|| corrupt("status", &status))?,
        change_seq: r.try_get(11)?,
        recorded_at: r.try_get(10)?,
        merchant_name: r.try_get(3)?,
        product_name: r.try_get(5)?,
        on_hand_at_hold: r.try_get(12)?,
        on_hand_at_hold_zh: r.try_get(13)?,
        ended_at: r.try_get(15)?,
        ended_by: r.try_get(16)?,
        ended_note: r.try_get(17)?,
        dispose_entry_id: r.try_get(18)?,
        witness: r.try_get(19)?,
        photos: serde_json::from_value(photos).map_err(|e| corrupt("photos", e))?,
    })
}

fn read_hold(c: &mut impl GenericClient, hold_id: &str) -> Result<Option<StoredHold>, StoreError> {
    c.query_opt(
        &format!("SELECT {COLS} FROM holds WHERE hold_id = $1"),
        &[&hold_id],
    )?
    .map(|r| hold_row(&r))
    .transpose()
}

/// Sends the hold as it stands to the merchant's devices and the market's
/// tablets; returns the merchant feed's sequence.
fn announce(c: &mut impl GenericClient, kind: &str, h: &StoredHold) -> Result<i64, StoreError> {
    let payload: Value = serde_json::to_value(h.change()).map_err(|e| corrupt("change", e))?;
    let to_merchant = Audience {
        merchant_id: Some(&h.hold.merchant_id),
        ..Audience::default()
    };
    let seq = publish(c, kind, to_merchant, &payload)?;
    publish_to_market(c, kind, &h.hold.market_id, &payload)?;
    Ok(seq)
}

/// An account's username (its id when it has none).
fn username(c: &mut impl GenericClient, user_id: &str) -> Result<String, StoreError> {
    Ok(
        c.query_opt("SELECT username FROM users WHERE id = $1", &[&user_id])?
            .map_or_else(|| user_id.to_owned(), |r| r.get(0)),
    )
}

fn persist(
    c: &mut impl GenericClient,
    hold: &Hold,
    fact: &HeldFact,
    now: DateTime<Utc>,
) -> Result<StoredHold, StoreError> {
    let region =
        super::district::of_merchant(c, &hold.merchant_id)?.ok_or(StoreError::NotFound("商户"))?;
    let mut stored = StoredHold {
        hold: hold.clone(),
        status: HoldStatus::Active,
        change_seq: 0,
        recorded_at: now,
        merchant_name: fact.merchant_name.clone(),
        product_name: fact.product_name.clone(),
        on_hand_at_hold: fact.on_hand as i64,
        on_hand_at_hold_zh: fact.on_hand_zh.clone(),
        ended_at: None,
        ended_by: None,
        ended_note: None,
        dispose_entry_id: None,
        witness: None,
        photos: Vec::new(),
    };
    let mut fact = fact.clone();
    fact.placed_by = username(c, &hold.placed_by)?;
    super::alerts::raise(
        c,
        &holds::batch_held(HoldThresholds::builtin(), &[fact]),
        now,
    )?;
    // The changes' sequencer as late as it can be: the hold's row carries
    // the number.
    stored.change_seq = announce(c, PLACED, &stored)?;
    c.execute(
        "INSERT INTO holds (region_code, hold_id, market_id, merchant_id, merchant_name, trace_code,
             product_name, reason, note, placed_at, placed_by, recorded_at, change_seq, on_hand, on_hand_zh)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
        &[
            &region,
            &hold.hold_id,
            &hold.market_id,
            &hold.merchant_id,
            &stored.merchant_name,
            &hold.trace_code,
            &stored.product_name,
            &hold.reason.as_str(),
            &hold.note,
            &hold.placed_at.to_rfc3339(),
            &hold.placed_by,
            &now,
            &stored.change_seq,
            &stored.on_hand_at_hold,
            &stored.on_hand_at_hold_zh,
        ],
    )?;
    Ok(stored)
}

fn end(
    c: &mut impl GenericClient,
    hold_id: &str,
    end: &HoldEnd,
    now: DateTime<Utc>,
) -> Result<StoredHold, StoreError> {
    let changed = match end {
        HoldEnd::Released { note, by } => c.execute(
            "UPDATE holds SET status = 'released', ended_at = $2, ended_by = $3, ended_note = $4
             WHERE hold_id = $1 AND status = 'active'",
            &[&hold_id, &now, by, note],
        )?,
        HoldEnd::Destroyed {
            dispose_entry_id,
            merchant_user_id,
            witness,
            photos,
            reason,
        } => c.execute(
            "UPDATE holds SET status = 'destroyed', ended_at = $2, ended_by = $3, ended_note = $4,
                 dispose_entry_id = $5, witness = $6, photos = $7
             WHERE hold_id = $1 AND status = 'active'",
            &[
                &hold_id,
                &now,
                merchant_user_id,
                reason,
                dispose_entry_id,
                witness,
                &serde_json::to_value(photos).map_err(|e| corrupt("photos", e))?,
            ],
        )?,
    };
    if changed == 0 {
        return Err(corrupt(hold_id, "not active when ended"));
    }
    let stored = read_hold(c, hold_id)?.ok_or_else(|| corrupt(hold_id, "vanished when ended"))?;
    announce(c, RELEASED, &stored)?;
    Ok(stored)
}

impl HoldsTx for PgTxn<'_, '_> {
    fn merchant_brief(&self, merchant_id: &str) -> Result<Option<MerchantBrief>, StoreError> {
        self.with(|tx| {
            Ok(tx
                .query_opt(
                    "SELECT id, name, market_id FROM merchants WHERE id = $1",
                    &[&merchant_id],
                )?
                .map(|r| MerchantBrief {
                    id: r.get(0),
                    name: r.get(1),
                    market_id: r.get(2),
                }))
        })
    }

    fn hold_by_id(&self, hold_id: &str) -> Result<Option<StoredHold>, StoreError> {
        self.try_with(|tx| read_hold(tx, hold_id))
    }

    fn active_hold(
        &self,
        merchant_id: &str,
        trace_code: &str,
    ) -> Result<Option<StoredHold>, StoreError> {
        self.try_with(|tx| {
            tx.query_opt(
                &format!(
                    "SELECT {COLS} FROM holds h WHERE h.region_code =
                         (SELECT region_code FROM merchants WHERE id = $1)
                       AND h.merchant_id = $1 AND h.trace_code = $2 AND h.status = 'active'"
                ),
                &[&merchant_id, &trace_code],
            )?
            .map(|r| hold_row(&r))
            .transpose()
        })
    }

    fn persist_hold(
        &mut self,
        hold: &Hold,
        fact: &HeldFact,
        now: DateTime<Utc>,
    ) -> Result<StoredHold, StoreError> {
        self.try_with(|tx| persist(tx, hold, fact, now))
    }

    fn end_hold(
        &mut self,
        hold_id: &str,
        how: &HoldEnd,
        now: DateTime<Utc>,
    ) -> Result<StoredHold, StoreError> {
        self.try_with(|tx| end(tx, hold_id, how, now))
    }

    fn raise_held_sale(
        &mut self,
        fact: &HeldSaleFact,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.try_with(|tx| {
            super::alerts::raise(
                tx,
                &holds::held_batch_sold(HoldThresholds::builtin(), std::slice::from_ref(fact)),
                now,
            )?;
            Ok(())
        })
    }
}

/// The `batch_held` warnings of every hold in force, for the alerts' full
/// pass (a resolved one comes back only for a newer hold).
pub(super) fn alert_candidates(
    c: &mut impl GenericClient,
    _now: DateTime<Utc>,
) -> Result<Vec<shian_core::warnings::Candidate>, StoreError> {
    let rows = c.query(
        &format!(
            "SELECT {COLS} FROM holds WHERE status = 'active' ORDER BY recorded_at, hold_id COLLATE \"C\""
        ),
        &[],
    )?;
    let mut facts = Vec::new();
    for r in rows {
        let h = hold_row(&r)?;
        let placed_by = username(c, &h.hold.placed_by)?;
        facts.push(HeldFact {
            hold_id: h.hold.hold_id,
            merchant_id: h.hold.merchant_id,
            merchant_name: h.merchant_name,
            market_id: Some(h.hold.market_id),
            trace_code: h.hold.trace_code,
            product_name: h.product_name,
            on_hand: h.on_hand_at_hold as f64,
            on_hand_zh: h.on_hand_at_hold_zh,
            reason: h.hold.reason,
            placed_by,
            placed_at: h.hold.placed_at.with_timezone(&Utc),
            purchase_entry_id: None,
        });
    }
    Ok(holds::batch_held(HoldThresholds::builtin(), &facts))
}

impl HoldStore for PgStore {
    fn list_holds(&self, f: HoldFilter) -> StoreFuture<'_, Page<StoredHold>> {
        Box::pin(self.pool.call(move |client| {
            let status = f.status.map(HoldStatus::as_str);
            const WHERE: &str =
                "WHERE ($1::text IS NULL OR market_id = $1) AND ($2::text IS NULL OR status = $2)";
            let total: i64 = client
                .query_one(
                    &format!("SELECT COUNT(*) FROM holds {WHERE}"),
                    &[&f.market_id, &status],
                )?
                .try_get(0)?;
            let items = client
                .query(
                    &format!(
                        "SELECT {COLS} FROM holds {WHERE}
                         ORDER BY recorded_at DESC, hold_id COLLATE \"C\" LIMIT $3 OFFSET $4"
                    ),
                    &[
                        &f.market_id,
                        &status,
                        &i64::from(f.limit),
                        &i64::from(f.offset),
                    ],
                )?
                .iter()
                .map(hold_row)
                .collect::<Result<_, _>>()?;
            Ok(Page {
                items,
                total: u64::try_from(total).unwrap_or(0),
                limit: f.limit,
                offset: f.offset,
            })
        }))
    }

    fn hold(&self, hold_id: String) -> StoreFuture<'_, Option<StoredHold>> {
        Box::pin(self.pool.call(move |client| read_hold(client, &hold_id)))
    }

    fn paperless_meat_purchases(
        &self,
        market_id: String,
        limit: u32,
    ) -> StoreFuture<'_, Vec<(String, String, String)>> {
        Box::pin(self.pool.call(move |client| {
            // A market's merchants are all in its district: `pos` orders
            // their entries as SQLite's rowid does.
            let rows = client.query(
                "SELECT e.merchant_id, e.trace_code, e.payload->'product'->>'name'
                 FROM entries e JOIN merchants m ON m.id = e.merchant_id AND m.region_code = e.region_code
                 WHERE m.market_id = $1 AND e.kind = 'ledger.purchase' AND e.voided_by IS NULL
                   AND e.trace_code IS NOT NULL
                   AND e.payload->'product'->>'category' IN ('livestock_meat', 'imported_cold_chain')
                   AND e.payload->'supplier'->>'merchant_id' IS NULL
                   AND e.payload->'supplier'->>'uscc' IS NULL
                   AND (e.payload->'supplier'->>'name' LIKE '散户%'
                        OR e.payload->'supplier'->>'name' LIKE '个人%')
                 ORDER BY e.pos DESC LIMIT $2",
                &[&market_id, &i64::from(limit)],
            )?;
            rows.iter()
                .map(|r| {
                    Ok((
                        r.try_get(0)?,
                        r.try_get(1)?,
                        r.try_get::<_, Option<String>>(2)?.unwrap_or_default(),
                    ))
                })
                .collect()
        }))
    }

    fn batch_on_hand(&self, trace_code: String) -> StoreFuture<'_, Option<(i64, String)>> {
        Box::pin(async move {
            let graph = self.followed_graph().await?;
            let g = graph.read()?;
            let Ok(batch) = g.batch(&trace_code);
            Ok(batch.map(|b| (b.held(), Quantity::new(b.held(), b.unit).display_zh())))
        })
    }
}
