//! [`EntryCheckStore`] and the `market.entry_check` op's side of the push
//! transaction ([`EntryCheckTx`]) on PostgreSQL, as `sqlite/entry_checks.rs`
//! does them, and the entry-check warnings' facts ([`alert_candidates`],
//! for the full pass and the periodic check).
//!
//! A check is stored under its merchant's district (a merchant in a market
//! is in the market's). A check id is the country's (SQLite's primary key),
//! so reads by id alone look in every district.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use postgres::{GenericClient, Row};
use serde_json::Value;
use shian_core::category::Category;
use shian_core::entry_check::{Decision, EntryCheck, KIND};
use shian_core::quantity::{Quantity, Sign};
use shian_core::warnings::entry::{self, EntryFacts, EntryThresholds, PurchaseFact, RefusalFact};
use shian_core::warnings::Candidate;

use super::feed::publish_to_market;
use super::store::PgStore;
use super::txn::PgTxn;
use crate::store::entry_checks::{
    CheckFilter, DayCount, EntryCheckStore, EntryCheckTx, LinkCandidate, StoredCheck,
    UncheckedPurchase,
};
use crate::store::local_time::{device_time, local_date, local_midnight};
use crate::store::{Page, StoreError, StoreFuture};

fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

const CHECK_COLS: &str =
    "c.payload::text, m.name, c.purchase_entry_id, c.recorded_by, c.recorded_at";

fn check_row(r: &Row) -> Result<StoredCheck, StoreError> {
    let payload: String = r.try_get(0)?;
    let v: Value = serde_json::from_str(&payload).map_err(|e| corrupt("entry check", e))?;
    let check = EntryCheck::parse(&v).map_err(|e| corrupt("entry check", e.message))?;
    Ok(StoredCheck {
        check,
        merchant_name: r.try_get(1)?,
        purchase_entry_id: r.try_get(2)?,
        recorded_by: r.try_get(3)?,
        recorded_at: r.try_get(4)?,
    })
}

fn read_check(c: &mut impl GenericClient, id: &str) -> Result<Option<StoredCheck>, StoreError> {
    c.query_opt(
        &format!(
            "SELECT {CHECK_COLS} FROM entry_checks c LEFT JOIN merchants m ON m.id = c.merchant_id
             WHERE c.check_id = $1"
        ),
        &[&id],
    )?
    .map(|r| check_row(&r))
    .transpose()
}

/// Sends the stored check to its market's tablets.
fn publish_check(c: &mut impl GenericClient, id: &str) -> Result<(), StoreError> {
    let stored = read_check(c, id)?.ok_or_else(|| corrupt("entry check", "vanished"))?;
    publish_to_market(c, KIND, &stored.check.market_id, &stored.to_json())?;
    Ok(())
}

/// Goods bought from another merchant of the same market never entered
/// it (SQL over `e` the purchase's entry and `m` its merchant). A purchase
/// is its entry's payload.
const FROM_OWN_MARKET: &str = "EXISTS (SELECT 1 FROM merchants s
    WHERE s.id = e.payload->'supplier'->>'merchant_id' AND s.market_id = m.market_id)";

/// No check links the purchase `e`.
const LINKED: &str = "EXISTS (SELECT 1 FROM entry_checks c
    WHERE c.region_code = e.region_code AND c.purchase_entry_id = e.entry_id)";

/// A merchant's purchases (not voided) into its market as `(entry_id,
/// category, received)`, received between `from` and `to`, and whether a
/// check links each; optionally only those no check links.
fn purchases(
    c: &mut impl GenericClient,
    merchant_id: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    unlinked_only: bool,
) -> Result<Vec<(LinkCandidate, bool)>, StoreError> {
    // A purchase is recorded after it happens (give or take the clock
    // tolerance), so entries recorded before `from` less a day are not in
    // range.
    let rows = c.query(
        &format!(
            "SELECT e.entry_id, e.payload->'product'->>'category', e.at, {LINKED}
             FROM entries e JOIN merchants m ON m.id = e.merchant_id
             WHERE e.region_code = m.region_code AND e.merchant_id = $1 AND e.recorded_at >= $2
               AND e.kind = 'ledger.purchase' AND e.voided_by IS NULL AND NOT {FROM_OWN_MARKET}"
        ),
        &[&merchant_id, &(from - Duration::days(1))],
    )?;
    let mut out = Vec::new();
    for r in rows {
        let linked: bool = r.try_get(3)?;
        if unlinked_only && linked {
            continue;
        }
        let cat: Option<String> = r.try_get(1)?;
        let Some(category) = cat.as_deref().and_then(Category::parse) else {
            continue;
        };
        let Some(at) = device_time(r.try_get(2)?) else {
            continue;
        };
        if at >= from && at <= to {
            out.push(((r.try_get(0)?, category, at), linked));
        }
    }
    Ok(out)
}

/// The entry-check facts of every merchant of `market_id` (every market
/// that keeps entry checks when `None`), optionally of one merchant.
fn facts(
    c: &mut impl GenericClient,
    market_id: Option<&str>,
    merchant_id: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Vec<EntryFacts>, StoreError> {
    let t = EntryThresholds::builtin();
    let markets = c.query(
        "SELECT market_id, MIN(at_utc) FROM entry_checks
         WHERE $1::text IS NULL OR market_id = $1 GROUP BY market_id ORDER BY market_id COLLATE \"C\"",
        &[&market_id],
    )?;
    let mut out = Vec::new();
    for row in markets {
        let market: String = row.try_get(0)?;
        let since: DateTime<Utc> = row.try_get(1)?;
        let merchants = c.query(
            "SELECT id, name FROM merchants WHERE market_id = $1 AND ($2::text IS NULL OR id = $2)
             ORDER BY id COLLATE \"C\"",
            &[&market, &merchant_id],
        )?;
        let mut refusals: BTreeMap<String, Vec<RefusalFact>> = BTreeMap::new();
        for r in c.query(
            "SELECT check_id, merchant_id, at_utc FROM entry_checks
             WHERE market_id = $1 AND decision = 'refused' AND at_utc >= $2",
            &[&market, &(now - t.refused_window())],
        )? {
            refusals
                .entry(r.try_get(1)?)
                .or_default()
                .push(RefusalFact {
                    check_id: r.try_get(0)?,
                    at: r.try_get(2)?,
                });
        }
        let from = since.max(now - t.lookback());
        for m in merchants {
            let id: String = m.try_get(0)?;
            let purchases = purchases(c, &id, from, now, false)?
                .into_iter()
                .map(|((entry_id, _, at), checked)| PurchaseFact {
                    entry_id,
                    at,
                    checked,
                })
                .collect();
            out.push(EntryFacts {
                refusals: refusals.remove(&id).unwrap_or_default(),
                merchant_id: id,
                merchant_name: m.try_get(1)?,
                market_id: market.clone(),
                checks_since: Some(since),
                purchases,
            });
        }
    }
    Ok(out)
}

/// The entry-check warnings the stored facts raise now: the full pass's
/// and the periodic check's share.
pub(super) fn alert_candidates(
    c: &mut impl GenericClient,
    now: DateTime<Utc>,
) -> Result<Vec<Candidate>, StoreError> {
    let t = EntryThresholds::builtin();
    Ok(facts(c, None, None, now)?
        .iter()
        .flat_map(|f| entry::detect(t, f, now))
        .collect())
}

/// Stores the check, sends it, raises a refusal's warnings: the body of
/// [`EntryCheckTx::persist_entry_check`], run inside a savepoint.
fn persist(
    tx: &mut impl GenericClient,
    c: &EntryCheck,
    purchase_entry_id: Option<&str>,
    answer: &Value,
    user_id: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let region = match super::district::of_merchant(tx, &c.merchant_id)? {
        Some(r) => r,
        None => {
            super::district::of_market(tx, &c.market_id)?.ok_or(StoreError::NotFound("商户"))?
        }
    };
    let at = c.at.with_timezone(&Utc);
    let check_id = c.check_id.to_string();
    let payload = c.to_wire().to_string();
    let answer = answer.to_string();
    tx.execute(
        "INSERT INTO entry_checks (region_code, check_id, market_id, merchant_id, product_name, category,
             decision, at, at_utc, local_date, payload, answer, purchase_entry_id, linked_at,
             recorded_by, recorded_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::text::json, $12::text::json, $13, $14,
             $15, $16)",
        &[
            &region,
            &check_id,
            &c.market_id,
            &c.merchant_id,
            &c.product.name,
            &c.product.category.as_str(),
            &c.decision.as_str(),
            &c.at.to_rfc3339(),
            &at,
            &local_date(at),
            &payload,
            &answer,
            &purchase_entry_id,
            &purchase_entry_id.map(|_| now),
            &user_id,
            &now,
        ],
    )?;
    if c.decision == Decision::Refused {
        let t = EntryThresholds::builtin();
        let raised: Vec<Candidate> = facts(tx, Some(&c.market_id), Some(&c.merchant_id), now)?
            .iter()
            .filter_map(|f| entry::refused(t, f, now))
            .collect();
        super::alerts::raise(tx, &raised, now)?;
    }
    // The changes' sequencer last: it is held until the commit.
    publish_check(tx, &check_id)
}

impl EntryCheckTx for PgTxn<'_, '_> {
    fn merchant_market(&self, merchant_id: &str) -> Result<Option<Option<String>>, StoreError> {
        // Once per purchase in a push: the kept entry rows are not read.
        self.read(|tx| {
            Ok(tx
                .query_opt(
                    "SELECT market_id FROM merchants WHERE id = $1",
                    &[&merchant_id],
                )?
                .map(|r| r.get(0)))
        })
    }

    fn check_answer(&self, check_id: &str) -> Result<Option<(String, Value)>, StoreError> {
        let row = self.with(|tx| {
            tx.query_opt(
                "SELECT market_id, answer::text FROM entry_checks WHERE check_id = $1",
                &[&check_id],
            )
        })?;
        row.map(|r| {
            let answer: String = r.try_get(1)?;
            Ok((
                r.try_get(0)?,
                serde_json::from_str(&answer).map_err(|e| corrupt("entry check answer", e))?,
            ))
        })
        .transpose()
    }

    fn unlinked_purchases(
        &self,
        merchant_id: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<LinkCandidate>, StoreError> {
        Ok(self
            .try_with(|tx| purchases(tx, merchant_id, from, to, true))?
            .into_iter()
            .map(|(c, _)| c)
            .collect())
    }

    fn unlinked_checks(
        &self,
        merchant_id: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<LinkCandidate>, StoreError> {
        // Once per purchase of a market's merchant: no kept row is read.
        let rows = self.read(|tx| {
            tx.query(
                "SELECT check_id, category, at_utc FROM entry_checks
                 WHERE merchant_id = $1 AND purchase_entry_id IS NULL AND at_utc >= $2 AND at_utc <= $3",
                &[&merchant_id, &from, &to],
            )
        })?;
        rows.iter()
            .map(|r| {
                let cat: String = r.try_get(1)?;
                let category =
                    Category::parse(&cat).ok_or_else(|| corrupt("entry check category", &cat))?;
                Ok((r.try_get(0)?, category, r.try_get(2)?))
            })
            .collect()
    }

    fn persist_entry_check(
        &mut self,
        c: &EntryCheck,
        purchase_entry_id: Option<&str>,
        answer: &Value,
        user_id: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.try_with(|tx| {
            // A savepoint (SQLite's `entry_check_op`): a refused insert
            // (a check id or purchase taken) leaves the push usable.
            let mut sp = tx.transaction()?;
            persist(&mut sp, c, purchase_entry_id, answer, user_id, now)?;
            sp.commit()?;
            Ok(())
        })
    }

    fn link_entry_check(
        &mut self,
        check_id: &str,
        entry_id: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.try_with(|tx| {
            let linked = tx.execute(
                "UPDATE entry_checks SET purchase_entry_id = $2, linked_at = $3
                 WHERE check_id = $1 AND purchase_entry_id IS NULL",
                &[&check_id, &entry_id, &now],
            )?;
            if linked == 1 {
                publish_check(tx, check_id)?;
            }
            Ok(())
        })
    }
}

fn unchecked(
    c: &mut impl GenericClient,
    market_id: &str,
    date: NaiveDate,
) -> Result<Vec<UncheckedPurchase>, StoreError> {
    let (from, to) = (
        local_midnight(date),
        local_midnight(date + Duration::days(1)),
    );
    // A purchase is recorded after it happens (give or take the clock
    // tolerance), so entries recorded before the day began are not its.
    let rows = c.query(
        &format!(
            "SELECT e.entry_id, e.merchant_id, m.name, e.payload->'product'->>'name',
                    e.payload->'product'->>'category', e.trace_code, e.at,
                    e.payload->'quantity'->>'value', e.payload->'quantity'->>'unit'
             FROM merchants m JOIN entries e ON e.region_code = m.region_code AND e.merchant_id = m.id
             WHERE m.market_id = $1 AND e.recorded_at >= $2 AND e.kind = 'ledger.purchase'
               AND e.voided_by IS NULL AND NOT {FROM_OWN_MARKET} AND NOT {LINKED}"
        ),
        &[&market_id, &(from - Duration::days(1))],
    )?;
    let mut out = Vec::new();
    for r in rows {
        let Some(at) = device_time(r.try_get(6)?) else {
            continue;
        };
        if at < from || at >= to {
            continue;
        }
        let cat: Option<String> = r.try_get(4)?;
        let (value, unit): (Option<String>, Option<String>) = (r.try_get(7)?, r.try_get(8)?);
        let quantity = Quantity::parse(
            value.as_deref().unwrap_or_default(),
            unit.as_deref().unwrap_or_default(),
            Sign::Positive,
            "quantity",
        )
        .map_err(|e| corrupt("purchase quantity", e.message))?;
        out.push(UncheckedPurchase {
            entry_id: r.try_get(0)?,
            merchant_id: r.try_get(1)?,
            merchant_name: r.try_get(2)?,
            product_name: r.try_get::<_, Option<String>>(3)?.unwrap_or_default(),
            category: cat
                .as_deref()
                .and_then(Category::parse)
                .unwrap_or(Category::Other),
            trace_code: r.try_get::<_, Option<String>>(5)?.unwrap_or_default(),
            quantity,
            received_at: at,
        });
    }
    out.sort_by_key(|p| std::cmp::Reverse(p.received_at));
    Ok(out)
}

/// A count from SQL as the API's `u64` (never negative).
fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

impl EntryCheckStore for PgStore {
    fn list_entry_checks(&self, f: CheckFilter) -> StoreFuture<'_, Page<StoredCheck>> {
        Box::pin(self.pool.call(move |client| {
            let decision = f.decision.map(Decision::as_str);
            const WHERE: &str = "WHERE ($1::text IS NULL OR c.market_id = $1)
                   AND ($2::date IS NULL OR c.local_date = $2)
                   AND ($3::text IS NULL OR c.merchant_id = $3) AND ($4::text IS NULL OR c.decision = $4)";
            let total: i64 = client
                .query_one(
                    &format!("SELECT COUNT(*) FROM entry_checks c {WHERE}"),
                    &[&f.market_id, &f.date, &f.merchant_id, &decision],
                )?
                .try_get(0)?;
            let items = client
                .query(
                    &format!(
                        "SELECT {CHECK_COLS} FROM entry_checks c LEFT JOIN merchants m ON m.id = c.merchant_id
                         {WHERE} ORDER BY c.at_utc DESC, c.check_id COLLATE \"C\" DESC LIMIT $5 OFFSET $6"
                    ),
                    &[
                        &f.market_id,
                        &f.date,
                        &f.merchant_id,
                        &decision,
                        &i64::from(f.limit),
                        &i64::from(f.offset),
                    ],
                )?
                .iter()
                .map(check_row)
                .collect::<Result<_, _>>()?;
            Ok(Page {
                items,
                total: count(total),
                limit: f.limit,
                offset: f.offset,
            })
        }))
    }

    fn entry_check(&self, check_id: String) -> StoreFuture<'_, Option<StoredCheck>> {
        Box::pin(self.pool.call(move |client| read_check(client, &check_id)))
    }

    fn entry_check_days(
        &self,
        market_id: String,
        from: NaiveDate,
        to: NaiveDate,
    ) -> StoreFuture<'_, Vec<DayCount>> {
        Box::pin(self.pool.call(move |client| {
            let mut counted: BTreeMap<NaiveDate, (i64, i64)> = BTreeMap::new();
            for r in client.query(
                "SELECT local_date, count(*) FILTER (WHERE decision = 'accepted'),
                        count(*) FILTER (WHERE decision = 'refused')
                 FROM entry_checks WHERE market_id = $1 AND local_date >= $2 AND local_date <= $3
                 GROUP BY local_date",
                &[&market_id, &from, &to],
            )? {
                counted.insert(r.try_get(0)?, (r.try_get(1)?, r.try_get(2)?));
            }
            let mut out = Vec::new();
            let mut d = from;
            while d <= to {
                let (a, r) = counted.get(&d).copied().unwrap_or((0, 0));
                out.push(DayCount {
                    date: d,
                    accepted: count(a),
                    refused: count(r),
                });
                d += Duration::days(1);
            }
            Ok(out)
        }))
    }

    fn unchecked_purchases(
        &self,
        market_id: String,
        date: NaiveDate,
    ) -> StoreFuture<'_, Vec<UncheckedPurchase>> {
        Box::pin(
            self.pool
                .call(move |client| unchecked(client, &market_id, date)),
        )
    }

    fn raise_entry_alerts(&self, now: DateTime<Utc>) -> StoreFuture<'_, u64> {
        Box::pin(self.pool.call(move |client| {
            let mut tx = client.transaction()?;
            let candidates = alert_candidates(&mut tx, now)?;
            let raised = super::alerts::raise(&mut tx, &candidates, now)?;
            tx.commit()?;
            Ok(raised)
        }))
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use serde_json::json;

    use super::super::staff::block_on;
    use super::super::testing::{add_market, add_merchant, fresh};
    use super::*;

    const AT: &str = "2026-06-01T09:00:00+08:00";

    fn check(id: &str, decision: &str) -> EntryCheck {
        let mut v = json!({
            "check_id": id, "market_id": "mk1", "merchant_id": "shop1",
            "product": {"name": "冷鲜猪肉", "category": "livestock_meat"},
            "quantity": {"value": "120.5", "unit": "kg"},
            "certificates_seen": [{"kind": "quarantine", "number": "3502-001"}],
            "decision": decision, "at": AT,
        });
        if decision == "refused" {
            v["reason"] = json!("无检疫证明");
        }
        EntryCheck::parse(&v).unwrap()
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 6, 1, 2, 0, 0).unwrap()
    }

    /// A market `mk1` with `shop1` and `shop2`, and `outside` in no market.
    fn market(c: &mut impl GenericClient) {
        add_market(c, "mk1", "350203");
        add_merchant(c, "shop1", "350203", Some("mk1"));
        add_merchant(c, "shop2", "350203", Some("mk1"));
        add_merchant(c, "outside", "350203", None);
    }

    /// A purchase of `shop1` in its ledger, from `supplier` (a merchant id,
    /// or a name).
    fn purchase(c: &mut impl GenericClient, pos: i64, id: &str, supplier: Value) {
        let payload = json!({
            "entry_id": id, "merchant_id": "shop1",
            "product": {"name": "货品", "category": "livestock_meat"},
            "quantity": {"value": "100", "unit": "kg"},
            "supplier": supplier,
        })
        .to_string();
        c.execute(
            "INSERT INTO entries (region_code, entry_id, pos, kind, merchant_id, at, recorded_at, trace_code, payload)
             VALUES ('350203', $1, $2, 'ledger.purchase', 'shop1', $3, $4, 'T-' || $1, $5::text::json)",
            &[&id, &pos, &AT, &now(), &payload],
        )
        .unwrap();
    }

    const C1: &str = "6f1c2b1e-8a4e-4f3a-9f1e-1d2c3b4a5e61";
    const C2: &str = "6f1c2b1e-8a4e-4f3a-9f1e-1d2c3b4a5e62";

    #[test]
    fn a_check_is_stored_answered_linked_and_published() {
        let Some(db) = fresh() else { return };
        let mut c = db.store.pool().get().unwrap();
        market(&mut *c);
        let answer = json!({"status": "accepted", "n": 1});
        let (from, to) = (now() - Duration::hours(2), now());
        {
            let mut tx = c.transaction().unwrap();
            let mut t = PgTxn::new(&mut tx);
            assert_eq!(
                t.merchant_market("shop1").unwrap(),
                Some(Some("mk1".into()))
            );
            assert_eq!(t.merchant_market("outside").unwrap(), Some(None));
            assert_eq!(t.merchant_market("ghost").unwrap(), None);
            assert!(t.check_answer(C1).unwrap().is_none());
            t.persist_entry_check(&check(C1, "accepted"), None, &answer, "op", now())
                .unwrap();
            // A retry of the same check is refused, and the push goes on.
            let again = t.persist_entry_check(&check(C1, "accepted"), None, &answer, "op", now());
            assert!(
                matches!(&again, Err(StoreError::Conflict { code, .. }) if code == "unique_violation"),
                "{again:?}"
            );
            assert_eq!(t.check_answer(C1).unwrap(), Some(("mk1".into(), answer)));
            let open: Vec<String> = t
                .unlinked_checks("shop1", from, to)
                .unwrap()
                .into_iter()
                .map(|(id, _, _)| id)
                .collect();
            assert_eq!(open, [C1]);
            t.link_entry_check(C1, "e1", now()).unwrap();
            // Linked once: a second link changes nothing, publishes nothing.
            t.link_entry_check(C1, "e2", now()).unwrap();
            assert!(t.unlinked_checks("shop1", from, to).unwrap().is_empty());
            tx.commit().unwrap();
        }
        let published: i64 = c
            .query_one(
                "SELECT count(*) FROM changes WHERE kind = $1 AND market_id = 'mk1'",
                &[&KIND],
            )
            .unwrap()
            .get(0);
        assert_eq!(published, 2);
        // The wire form is kept byte for byte.
        let stored: String = c
            .query_one("SELECT payload::text FROM entry_checks", &[])
            .unwrap()
            .get(0);
        assert_eq!(stored, check(C1, "accepted").to_wire().to_string());

        let s = &db.store;
        let all = block_on(s.list_entry_checks(CheckFilter {
            market_id: Some("mk1".into()),
            limit: 10,
            ..CheckFilter::default()
        }))
        .unwrap();
        assert_eq!(all.total, 1);
        assert_eq!(all.items[0].purchase_entry_id.as_deref(), Some("e1"));
        assert_eq!(all.items[0].merchant_name.as_deref(), Some("shop1"));
        let refused = block_on(s.list_entry_checks(CheckFilter {
            decision: Some(Decision::Refused),
            limit: 10,
            ..CheckFilter::default()
        }))
        .unwrap();
        assert_eq!(refused.total, 0);
        let day = local_date(now());
        let days = block_on(s.entry_check_days(
            "mk1".into(),
            day - Duration::days(1),
            day + Duration::days(1),
        ))
        .unwrap();
        let accepted: Vec<u64> = days.iter().map(|d| d.accepted).collect();
        assert_eq!(accepted, [0, 1, 0]);
        assert!(block_on(s.entry_check(C1.into())).unwrap().is_some());
        assert!(block_on(s.entry_check(C2.into())).unwrap().is_none());
    }

    #[test]
    fn unchecked_purchases_leave_out_the_markets_own_and_the_linked() {
        let Some(db) = fresh() else { return };
        let mut c = db.store.pool().get().unwrap();
        market(&mut *c);
        purchase(&mut *c, 1, "e-out", json!({"name": "同安屠宰场"}));
        purchase(
            &mut *c,
            2,
            "e-own",
            json!({"name": "shop2", "merchant_id": "shop2"}),
        );
        purchase(&mut *c, 3, "e-linked", json!({"name": "同安屠宰场"}));
        {
            let mut tx = c.transaction().unwrap();
            let mut t = PgTxn::new(&mut tx);
            t.persist_entry_check(
                &check(C2, "accepted"),
                Some("e-linked"),
                &json!({}),
                "op",
                now(),
            )
            .unwrap();
            let unlinked: Vec<String> = t
                .unlinked_purchases("shop1", now() - Duration::hours(2), now())
                .unwrap()
                .into_iter()
                .map(|(id, _, _)| id)
                .collect();
            assert_eq!(unlinked, ["e-out"]);
            tx.commit().unwrap();
        }
        let s = &db.store;
        let found = block_on(s.unchecked_purchases("mk1".into(), local_date(now()))).unwrap();
        let ids: Vec<&str> = found.iter().map(|p| p.entry_id.as_str()).collect();
        assert_eq!(ids, ["e-out"]);
        assert_eq!(found[0].merchant_name, "shop1");
        assert_eq!(found[0].trace_code, "T-e-out");
        let next_day = local_date(now()) + Duration::days(1);
        assert!(block_on(s.unchecked_purchases("mk1".into(), next_day))
            .unwrap()
            .is_empty());
    }

    /// A refusal is kept and listed as one, and its warnings judged in the
    /// same savepoint.
    #[test]
    fn a_refusal_is_kept_and_listed() {
        let Some(db) = fresh() else { return };
        let mut c = db.store.pool().get().unwrap();
        market(&mut *c);
        {
            let mut tx = c.transaction().unwrap();
            let mut t = PgTxn::new(&mut tx);
            t.persist_entry_check(&check(C1, "refused"), None, &json!({}), "op", now())
                .unwrap();
            tx.commit().unwrap();
        }
        let page = block_on(db.store.list_entry_checks(CheckFilter {
            decision: Some(Decision::Refused),
            limit: 10,
            ..CheckFilter::default()
        }))
        .unwrap();
        assert_eq!(page.total, 1);
        let day = local_date(now());
        let days = block_on(db.store.entry_check_days("mk1".into(), day, day)).unwrap();
        assert_eq!((days[0].accepted, days[0].refused), (0, 1));
        block_on(db.store.raise_entry_alerts(now())).unwrap();
    }
}
