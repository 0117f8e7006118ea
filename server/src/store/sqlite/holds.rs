//! Holds (暂扣) in SQLite: the `holds` component's table, the push
//! transaction's hold writes (each with its changes and its alert in the
//! same transaction) and the reads of the API and the console.

use chrono::{DateTime, FixedOffset, Utc};
use rusqlite::{params, Connection, OptionalExtension, Row};
use serde_json::Value;
use shian_core::hold::{
    Hold, HoldReason, HoldStatus, PLACED_CHANGE as PLACED, RELEASED_CHANGE as RELEASED,
};
use shian_core::ledger::LedgerView;
use shian_core::quantity::Quantity;
use shian_core::warnings::holds::{self, HeldFact, HeldSaleFact, HoldThresholds};

use super::migrate::{self, Migration};
use super::sync::{publish, publish_to_market, PushTxn};
use super::timestamps::{parse_ts, ts};
use super::SqliteStore;
use crate::store::holds::{HoldEnd, HoldFilter, HoldStore, HoldsTx, MerchantBrief, StoredHold};
use crate::store::{Page, StoreError, StoreFuture};

const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "holds placed by market operators and how they ended",
    sql: r#"
    CREATE TABLE holds (
        hold_id          TEXT PRIMARY KEY,
        market_id        TEXT NOT NULL,
        merchant_id      TEXT NOT NULL,
        merchant_name    TEXT NOT NULL,
        trace_code       TEXT NOT NULL,
        product_name     TEXT NOT NULL,
        reason           TEXT NOT NULL CHECK (reason IN ('unknown_origin', 'rapid_test_failed', 'recall', 'other')),
        note             TEXT,
        placed_at        TEXT NOT NULL,   -- the tablet's time, RFC 3339 as sent
        placed_by        TEXT NOT NULL,   -- user id
        recorded_at      TEXT NOT NULL,
        change_seq       INTEGER NOT NULL, -- the hold.placed change in the merchant's feed
        on_hand          INTEGER NOT NULL,
        on_hand_zh       TEXT NOT NULL,
        status           TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'released', 'destroyed')),
        ended_at         TEXT,
        ended_by         TEXT,
        ended_note       TEXT,
        dispose_entry_id TEXT,
        witness          TEXT,
        photos           TEXT NOT NULL DEFAULT '[]'
    ) STRICT;
    -- At most one hold in force per batch.
    CREATE UNIQUE INDEX holds_active ON holds(merchant_id, trace_code) WHERE status = 'active';
    CREATE INDEX holds_by_market ON holds(market_id, status, recorded_at);
    "#,
}];

pub(super) fn open(conn: &mut Connection) -> Result<(), StoreError> {
    migrate::apply(conn, "holds", MIGRATIONS)?;
    Ok(())
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("hold {what}: {e}"))
}

const COLS: &str =
    "hold_id, market_id, merchant_id, merchant_name, trace_code, product_name, reason, note,
     placed_at, placed_by, recorded_at, change_seq, on_hand, on_hand_zh, status, ended_at, ended_by,
     ended_note, dispose_entry_id, witness, photos";

/// A row's columns, read as text and numbers before they are checked.
struct RawHold {
    text: [Option<String>; 21],
    change_seq: i64,
    on_hand: i64,
}

fn raw(r: &Row<'_>) -> rusqlite::Result<RawHold> {
    let mut text: [Option<String>; 21] = Default::default();
    for (i, slot) in text.iter_mut().enumerate() {
        if i != 11 && i != 12 {
            *slot = r.get(i)?;
        }
    }
    Ok(RawHold {
        text,
        change_seq: r.get(11)?,
        on_hand: r.get(12)?,
    })
}

fn hold_of(raw: RawHold) -> Result<StoredHold, StoreError> {
    let [id, market, merchant, merchant_name, code, product, reason, note, placed_at, placed_by, recorded, _, _, on_hand_zh, status, ended_at, ended_by, ended_note, dispose, witness, photos] =
        raw.text;
    let need = |v: Option<String>, what: &str| v.ok_or_else(|| corrupt(what, "missing"));
    let reason = need(reason, "reason")?;
    let status = need(status, "status")?;
    let placed_at = need(placed_at, "placed_at")?;
    Ok(StoredHold {
        hold: Hold {
            hold_id: need(id, "id")?,
            market_id: need(market, "market_id")?,
            merchant_id: need(merchant, "merchant_id")?,
            trace_code: need(code, "trace_code")?,
            reason: HoldReason::parse(&reason).ok_or_else(|| corrupt("reason", &reason))?,
            note,
            placed_at: DateTime::<FixedOffset>::parse_from_rfc3339(&placed_at)
                .map_err(|e| corrupt("placed_at", e))?,
            placed_by: need(placed_by, "placed_by")?,
        },
        status: HoldStatus::parse(&status).ok_or_else(|| corrupt("status", &status))?,
        change_seq: raw.change_seq,
        recorded_at: parse_ts(&need(recorded, "recorded_at")?)?,
        merchant_name: need(merchant_name, "merchant_name")?,
        product_name: need(product, "product_name")?,
        on_hand_at_hold: raw.on_hand,
        on_hand_at_hold_zh: need(on_hand_zh, "on_hand_zh")?,
        ended_at: ended_at.as_deref().map(parse_ts).transpose()?,
        ended_by,
        ended_note,
        dispose_entry_id: dispose,
        witness,
        photos: serde_json::from_str(photos.as_deref().unwrap_or("[]"))
            .map_err(|e| corrupt("photos", e))?,
    })
}

fn read_hold(conn: &Connection, hold_id: &str) -> Result<Option<StoredHold>, StoreError> {
    conn.prepare_cached(&format!("SELECT {COLS} FROM holds WHERE hold_id = ?1"))?
        .query_row([hold_id], raw)
        .optional()?
        .map(hold_of)
        .transpose()
}

/// Sends the hold as it stands to the merchant's devices and the market's
/// tablets; returns the merchant feed's sequence.
fn announce(conn: &Connection, kind: &str, h: &StoredHold) -> Result<i64, StoreError> {
    let payload: Value = serde_json::to_value(h.change()).map_err(|e| corrupt("change", e))?;
    let seq = publish(conn, kind, Some(&h.hold.merchant_id), None, None, &payload)?;
    publish_to_market(conn, kind, &h.hold.market_id, &payload)?;
    Ok(seq)
}

fn username(conn: &Connection, user_id: &str) -> Result<String, StoreError> {
    Ok(conn
        .prepare_cached("SELECT username FROM users WHERE id = ?1")?
        .query_row([user_id], |r| r.get(0))
        .optional()?
        .unwrap_or_else(|| user_id.to_owned()))
}

impl HoldsTx for PushTxn<'_> {
    fn merchant_brief(&self, merchant_id: &str) -> Result<Option<MerchantBrief>, StoreError> {
        Ok(self
            .0
            .prepare_cached("SELECT id, name, market_id FROM merchants WHERE id = ?1")?
            .query_row([merchant_id], |r| {
                Ok(MerchantBrief {
                    id: r.get(0)?,
                    name: r.get(1)?,
                    market_id: r.get(2)?,
                })
            })
            .optional()?)
    }

    fn hold_by_id(&self, hold_id: &str) -> Result<Option<StoredHold>, StoreError> {
        read_hold(self.0, hold_id)
    }

    fn active_hold(
        &self,
        merchant_id: &str,
        trace_code: &str,
    ) -> Result<Option<StoredHold>, StoreError> {
        self.0
            .prepare_cached(&format!(
                "SELECT {COLS} FROM holds WHERE merchant_id = ?1 AND trace_code = ?2 AND status = 'active'"
            ))?
            .query_row(params![merchant_id, trace_code], raw)
            .optional()?
            .map(hold_of)
            .transpose()
    }

    fn persist_hold(
        &mut self,
        hold: &Hold,
        fact: &HeldFact,
        now: DateTime<Utc>,
    ) -> Result<StoredHold, StoreError> {
        let tx = self.0;
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
        stored.change_seq = announce(tx, PLACED, &stored)?;
        tx.prepare_cached(
            "INSERT INTO holds (hold_id, market_id, merchant_id, merchant_name, trace_code, product_name, reason, note,
                 placed_at, placed_by, recorded_at, change_seq, on_hand, on_hand_zh)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
        )?
        .execute(params![
            hold.hold_id,
            hold.market_id,
            hold.merchant_id,
            stored.merchant_name,
            hold.trace_code,
            stored.product_name,
            hold.reason.as_str(),
            hold.note,
            hold.placed_at.to_rfc3339(),
            hold.placed_by,
            ts(&now),
            stored.change_seq,
            stored.on_hand_at_hold,
            stored.on_hand_at_hold_zh,
        ])?;
        let mut fact = fact.clone();
        fact.placed_by = username(tx, &hold.placed_by)?;
        super::alerts::raise(
            tx,
            &holds::batch_held(HoldThresholds::builtin(), &[fact]),
            now,
        )?;
        Ok(stored)
    }

    fn end_hold(
        &mut self,
        hold_id: &str,
        end: &HoldEnd,
        now: DateTime<Utc>,
    ) -> Result<StoredHold, StoreError> {
        let tx = self.0;
        let changed = match end {
            HoldEnd::Released { note, by } => tx
                .prepare_cached(
                    "UPDATE holds SET status = 'released', ended_at = ?2, ended_by = ?3, ended_note = ?4
                     WHERE hold_id = ?1 AND status = 'active'",
                )?
                .execute(params![hold_id, ts(&now), by, note])?,
            HoldEnd::Destroyed {
                dispose_entry_id,
                merchant_user_id,
                witness,
                photos,
                reason,
            } => tx
                .prepare_cached(
                    "UPDATE holds SET status = 'destroyed', ended_at = ?2, ended_by = ?3, ended_note = ?4,
                         dispose_entry_id = ?5, witness = ?6, photos = ?7
                     WHERE hold_id = ?1 AND status = 'active'",
                )?
                .execute(params![
                    hold_id,
                    ts(&now),
                    merchant_user_id,
                    reason,
                    dispose_entry_id,
                    witness,
                    serde_json::to_string(photos).map_err(|e| corrupt("photos", e))?,
                ])?,
        };
        if changed == 0 {
            return Err(corrupt(hold_id, "not active when ended"));
        }
        let stored =
            read_hold(tx, hold_id)?.ok_or_else(|| corrupt(hold_id, "vanished when ended"))?;
        announce(tx, RELEASED, &stored)?;
        Ok(stored)
    }

    fn raise_held_sale(
        &mut self,
        fact: &HeldSaleFact,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        super::alerts::raise(
            self.0,
            &holds::held_batch_sold(HoldThresholds::builtin(), std::slice::from_ref(fact)),
            now,
        )?;
        Ok(())
    }
}

/// The `batch_held` warnings of every hold in force, for the alerts' full
/// pass (a resolved one comes back only for a newer hold).
pub(super) fn alert_candidates(
    conn: &Connection,
    _now: DateTime<Utc>,
) -> Result<Vec<shian_core::warnings::Candidate>, StoreError> {
    let mut st = conn.prepare_cached(&format!(
        "SELECT {COLS} FROM holds WHERE status = 'active' ORDER BY recorded_at"
    ))?;
    let rows = st.query_map([], raw)?;
    let mut facts = Vec::new();
    for r in rows {
        let h = hold_of(r?)?;
        let placed_by = username(conn, &h.hold.placed_by)?;
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

impl HoldStore for SqliteStore {
    fn list_holds(&self, f: HoldFilter) -> StoreFuture<'_, Page<StoredHold>> {
        Box::pin(self.readers().call(move |conn| -> Result<_, StoreError> {
            let status = f.status.map(HoldStatus::as_str);
            let total: i64 = conn
                .prepare_cached(
                    "SELECT COUNT(*) FROM holds WHERE (?1 IS NULL OR market_id = ?1) AND (?2 IS NULL OR status = ?2)",
                )?
                .query_row(params![f.market_id, status], |r| r.get(0))?;
            let mut st = conn.prepare_cached(&format!(
                "SELECT {COLS} FROM holds WHERE (?1 IS NULL OR market_id = ?1) AND (?2 IS NULL OR status = ?2)
                 ORDER BY recorded_at DESC, hold_id LIMIT ?3 OFFSET ?4"
            ))?;
            let rows = st.query_map(params![f.market_id, status, f.limit, f.offset], raw)?;
            let mut items = Vec::new();
            for r in rows {
                items.push(hold_of(r?)?);
            }
            Ok(Page {
                items,
                total: u64::try_from(total).unwrap_or(0),
                limit: f.limit,
                offset: f.offset,
            })
        }))
    }

    fn hold(&self, hold_id: String) -> StoreFuture<'_, Option<StoredHold>> {
        Box::pin(self.readers().call(move |conn| read_hold(conn, &hold_id)))
    }

    fn paperless_meat_purchases(
        &self,
        market_id: String,
        limit: u32,
    ) -> StoreFuture<'_, Vec<(String, String, String)>> {
        Box::pin(self.readers().call(move |conn| -> Result<_, StoreError> {
            let mut st = conn.prepare_cached(
                "SELECT e.merchant_id, e.trace_code, json_extract(e.payload, '$.product.name')
                 FROM entries e JOIN merchants m ON m.id = e.merchant_id
                 WHERE m.market_id = ?1 AND e.kind = 'ledger.purchase' AND e.voided_by IS NULL
                   AND e.trace_code IS NOT NULL
                   AND json_extract(e.payload, '$.product.category') IN ('livestock_meat', 'imported_cold_chain')
                   AND json_extract(e.payload, '$.supplier.merchant_id') IS NULL
                   AND json_extract(e.payload, '$.supplier.uscc') IS NULL
                   AND (json_extract(e.payload, '$.supplier.name') LIKE '散户%'
                        OR json_extract(e.payload, '$.supplier.name') LIKE '个人%')
                 ORDER BY e.rowid DESC LIMIT ?2",
            )?;
            let rows = st.query_map(params![market_id, limit], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get::<_, Option<String>>(2)?.unwrap_or_default()))
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
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
