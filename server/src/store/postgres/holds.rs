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
        // Once per sale in a push: the kept entry rows are not read.
        self.read(|tx| {
            tx.query_opt(
                &format!(
                    "SELECT {COLS} FROM holds h WHERE h.region_code =
                         (SELECT region_code FROM merchants WHERE id = $1)
                       AND h.merchant_id = $1 AND h.trace_code = $2 AND h.status = 'active'"
                ),
                &[&merchant_id, &trace_code],
            )
        })?
        .map(|r| hold_row(&r))
        .transpose()
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

#[cfg(test)]
mod tests {
    use serde_json::json;
    use shian_core::warnings::Kind;

    use super::super::staff::block_on;
    use super::super::testing::{add_market, add_merchant, add_user, fresh};
    use super::*;

    /// A hold in force on `shop1`'s batch `code`, as a placed hold leaves
    /// it (written directly: placing raises an alert, not yet on
    /// PostgreSQL).
    fn seed(c: &mut impl GenericClient, id: &str, code: &str, minutes_ago: i64) {
        let at = Utc::now() - chrono::Duration::minutes(minutes_ago);
        c.execute(
            "INSERT INTO holds (region_code, hold_id, market_id, merchant_id, merchant_name, trace_code,
                 product_name, reason, note, placed_at, placed_by, recorded_at, change_seq, on_hand, on_hand_zh)
             VALUES ('350203', $1, 'mk1', 'shop1', '鲜肉铺', $2, '猪肉', 'unknown_origin', '无票',
                 '2026-06-01T09:00:00+08:00', 'op1', $3, 7, 120000, '120 千克')",
            &[&id, &code, &at],
        )
        .unwrap();
    }

    fn setup(c: &mut impl GenericClient) {
        add_market(c, "mk1", "350203");
        add_merchant(c, "shop1", "350203", Some("mk1"));
        add_user(c, "op1", "market_operator", None, &[], &["mk1"]);
    }

    fn changes(c: &mut impl GenericClient, kind: &str) -> Vec<(Option<String>, Option<String>)> {
        c.query(
            "SELECT merchant_id, market_id FROM changes WHERE kind = $1 ORDER BY seq",
            &[&kind],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
    }

    #[test]
    fn a_hold_is_read_ended_once_and_announced() {
        let Some(db) = fresh() else { return };
        let mut c = db.store.pool().get().unwrap();
        setup(&mut *c);
        seed(&mut *c, "h1", "T1", 5);
        {
            let mut tx = c.transaction().unwrap();
            let mut t = PgTxn::new(&mut tx);
            let brief = t.merchant_brief("shop1").unwrap().unwrap();
            assert_eq!(brief.market_id.as_deref(), Some("mk1"));
            assert!(t.merchant_brief("ghost").unwrap().is_none());
            let h = t.active_hold("shop1", "T1").unwrap().unwrap();
            assert_eq!(h.hold.reason, HoldReason::UnknownOrigin);
            assert_eq!((h.change_seq, h.on_hand_at_hold), (7, 120000));
            assert!(t.active_hold("shop1", "T2").unwrap().is_none());
            assert!(t.active_hold("ghost", "T1").unwrap().is_none());
            let end = HoldEnd::Released {
                note: "来源已查明".into(),
                by: "op1".into(),
            };
            let ended = t.end_hold("h1", &end, Utc::now()).unwrap();
            assert_eq!(ended.status, HoldStatus::Released);
            assert_eq!(ended.ended_note.as_deref(), Some("来源已查明"));
            assert!(t.active_hold("shop1", "T1").unwrap().is_none());
            let again = t.end_hold("h1", &end, Utc::now());
            assert!(matches!(again, Err(StoreError::Corrupt(_))), "{again:?}");
            tx.commit().unwrap();
        }
        assert_eq!(
            changes(&mut *c, RELEASED),
            [(Some("shop1".into()), None), (None, Some("mk1".into()))]
        );
        let s = &db.store;
        let by_status = |status| {
            block_on(s.list_holds(HoldFilter {
                market_id: Some("mk1".into()),
                status: Some(status),
                limit: 10,
                offset: 0,
            }))
            .unwrap()
            .total
        };
        assert_eq!(by_status(HoldStatus::Active), 0);
        assert_eq!(by_status(HoldStatus::Released), 1);
        let h = block_on(s.hold("h1".into())).unwrap().unwrap();
        assert_eq!(h.ended_by.as_deref(), Some("op1"));
        assert!(block_on(s.hold("h2".into())).unwrap().is_none());
    }

    #[test]
    fn destroyed_goods_keep_their_witness_and_photos() {
        let Some(db) = fresh() else { return };
        let mut c = db.store.pool().get().unwrap();
        setup(&mut *c);
        seed(&mut *c, "h1", "T1", 5);
        let photos = vec!["a".repeat(64), "b".repeat(64)];
        let mut tx = c.transaction().unwrap();
        let mut t = PgTxn::new(&mut tx);
        let end = HoldEnd::Destroyed {
            dispose_entry_id: "d1".into(),
            merchant_user_id: "mer1".into(),
            witness: Some("王五".into()),
            photos: photos.clone(),
            reason: "无害化处理".into(),
        };
        t.end_hold("h1", &end, Utc::now()).unwrap();
        let h = t.hold_by_id("h1").unwrap().unwrap();
        assert_eq!(h.status, HoldStatus::Destroyed);
        assert_eq!(h.photos, photos);
        assert_eq!(h.dispose_entry_id.as_deref(), Some("d1"));
        assert_eq!(h.witness.as_deref(), Some("王五"));
    }

    #[test]
    fn lists_are_newest_first_and_candidates_are_the_holds_in_force() {
        let Some(db) = fresh() else { return };
        let mut c = db.store.pool().get().unwrap();
        setup(&mut *c);
        seed(&mut *c, "h-old", "T1", 30);
        seed(&mut *c, "h-new", "T2", 1);
        c.execute(
            "UPDATE holds SET status = 'released' WHERE hold_id = 'h-old'",
            &[],
        )
        .unwrap();
        let found = alert_candidates(&mut *c, Utc::now()).unwrap();
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].kind, Kind::BatchHeld);
        // The one in force: batch T2's.
        assert!(format!("{:?}", found[0]).contains("T2"), "{found:?}");
        let page = block_on(db.store.list_holds(HoldFilter {
            limit: 1,
            offset: 0,
            ..HoldFilter::default()
        }))
        .unwrap();
        assert_eq!(page.total, 2);
        assert_eq!(page.items[0].hold.hold_id, "h-new");
        let second = block_on(db.store.list_holds(HoldFilter {
            limit: 1,
            offset: 1,
            ..HoldFilter::default()
        }))
        .unwrap();
        assert_eq!(second.items[0].hold.hold_id, "h-old");
    }

    #[test]
    fn paperless_meat_is_from_a_person_newest_first() {
        let Some(db) = fresh() else { return };
        let mut c = db.store.pool().get().unwrap();
        setup(&mut *c);
        let rows = [
            (1, "T1", "livestock_meat", json!({"name": "散户老王"})),
            (2, "T2", "vegetables", json!({"name": "散户老李"})),
            (3, "T3", "livestock_meat", json!({"name": "个人供货张三"})),
            (
                4,
                "T4",
                "livestock_meat",
                json!({"name": "散户", "uscc": "91350200MA00000000"}),
            ),
            (5, "T5", "imported_cold_chain", json!({"name": "同安冷库"})),
        ];
        for (pos, code, category, supplier) in rows {
            let payload = json!({
                "product": {"name": format!("货{pos}"), "category": category},
                "supplier": supplier,
            })
            .to_string();
            c.execute(
                "INSERT INTO entries (region_code, entry_id, pos, kind, merchant_id, at, recorded_at, trace_code, payload)
                 VALUES ('350203', $2, $1, 'ledger.purchase', 'shop1', '2026-06-01T09:00:00+08:00', now(), $2,
                     $3::text::json)",
                &[&(pos as i64), &code, &payload],
            )
            .unwrap();
        }
        let s = &db.store;
        let found = block_on(s.paperless_meat_purchases("mk1".into(), 10)).unwrap();
        let codes: Vec<&str> = found.iter().map(|(_, code, _)| code.as_str()).collect();
        assert_eq!(codes, ["T3", "T1"]);
        assert_eq!(found[0], ("shop1".into(), "T3".into(), "货3".into()));
        assert_eq!(
            block_on(s.paperless_meat_purchases("mk1".into(), 1))
                .unwrap()
                .len(),
            1
        );
    }

    /// Placing a hold: stored, announced to the merchant and the market,
    /// its change's sequence kept.
    #[test]
    fn a_placed_hold_is_stored_and_announced() {
        let Some(db) = fresh() else { return };
        let mut c = db.store.pool().get().unwrap();
        setup(&mut *c);
        let hold = Hold {
            hold_id: "h1".into(),
            market_id: "mk1".into(),
            merchant_id: "shop1".into(),
            trace_code: "T1".into(),
            reason: HoldReason::UnknownOrigin,
            note: None,
            placed_at: DateTime::parse_from_rfc3339("2026-06-01T09:00:00+08:00").unwrap(),
            placed_by: "op1".into(),
        };
        let fact = HeldFact {
            hold_id: "h1".into(),
            merchant_id: "shop1".into(),
            merchant_name: "shop1".into(),
            market_id: Some("mk1".into()),
            trace_code: "T1".into(),
            product_name: "猪肉".into(),
            on_hand: 120000.0,
            on_hand_zh: "120 千克".into(),
            reason: HoldReason::UnknownOrigin,
            placed_by: "op1".into(),
            placed_at: Utc::now(),
            purchase_entry_id: None,
        };
        let mut tx = c.transaction().unwrap();
        let mut t = PgTxn::new(&mut tx);
        let stored = t.persist_hold(&hold, &fact, Utc::now()).unwrap();
        let again = t.active_hold("shop1", "T1").unwrap().unwrap();
        assert_eq!(again.change_seq, stored.change_seq);
        tx.commit().unwrap();
        assert_eq!(changes(&mut *c, PLACED).len(), 2);
    }

    /// On hand from the read model.
    #[test]
    fn an_unknown_batch_has_nothing_on_hand() {
        let Some(db) = fresh() else { return };
        assert!(block_on(db.store.batch_on_hand("nope".into()))
            .unwrap()
            .is_none());
    }
}
