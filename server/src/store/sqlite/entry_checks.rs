//! [`EntryCheckStore`] and the `market.entry_check` op's side of the push
//! transaction ([`EntryCheckTx`]) for the SQLite backend (migration
//! component `entry_checks`), and the entry-check warnings' facts
//! ([`alert_candidates`], for the full pass and the periodic check).

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use rusqlite::{params, Connection, OptionalExtension, Row};
use serde_json::Value;
use shian_core::category::Category;
use shian_core::entry_check::{Decision, EntryCheck, KIND};
use shian_core::quantity::{Quantity, Sign};
use shian_core::warnings::entry::{self, EntryFacts, EntryThresholds, PurchaseFact, RefusalFact};
use shian_core::warnings::Candidate;

use super::migrate::{self, Migration};
use super::sync::{publish_to_market, PushTxn};
use super::timestamps::{parse_ts, ts};
use super::SqliteStore;
use crate::store::entry_checks::{
    CheckFilter, DayCount, EntryCheckStore, EntryCheckTx, LinkCandidate, StoredCheck,
    UncheckedPurchase,
};
use crate::store::local_time::{device_time, local_date, local_midnight};
use crate::store::{Page, StoreError, StoreFuture};

const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "entry checks and their links to purchases",
    sql: r#"
    CREATE TABLE entry_checks (
        check_id          TEXT PRIMARY KEY,
        market_id         TEXT NOT NULL,
        merchant_id       TEXT NOT NULL,
        product_name      TEXT NOT NULL,
        category          TEXT NOT NULL,
        decision          TEXT NOT NULL CHECK (decision IN ('accepted', 'refused')),
        -- The tablet's time as sent, the same in UTC, and its date in
        -- Asia/Shanghai (lists and charts are by local day).
        at                TEXT NOT NULL,
        at_utc            TEXT NOT NULL,
        local_date        TEXT NOT NULL,
        -- The canonical wire form, and the answer the push was given (a
        -- retry with the same check_id answers it again).
        payload           TEXT NOT NULL,
        answer            TEXT NOT NULL,
        -- The seller's purchase these goods were booked as (either may
        -- arrive first); one check per purchase.
        purchase_entry_id TEXT,
        linked_at         TEXT,
        recorded_by       TEXT NOT NULL,
        recorded_at       TEXT NOT NULL
    ) STRICT;
    CREATE UNIQUE INDEX entry_checks_by_purchase ON entry_checks(purchase_entry_id) WHERE purchase_entry_id IS NOT NULL;
    CREATE INDEX entry_checks_by_market ON entry_checks(market_id, local_date);
    CREATE INDEX entry_checks_by_merchant ON entry_checks(merchant_id, at_utc);
    "#,
}];

pub(super) fn open(conn: &mut Connection) -> Result<(), StoreError> {
    migrate::apply(conn, "entry_checks", MIGRATIONS)?;
    Ok(())
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

const CHECK_COLS: &str = "c.payload, m.name, c.purchase_entry_id, c.recorded_by, c.recorded_at";

fn check_row(r: &Row<'_>) -> Result<StoredCheck, StoreError> {
    let payload: String = r.get(0)?;
    let v: Value = serde_json::from_str(&payload).map_err(|e| corrupt("entry check", e))?;
    let check = EntryCheck::parse(&v).map_err(|e| corrupt("entry check", e.message))?;
    Ok(StoredCheck {
        check,
        merchant_name: r.get(1)?,
        purchase_entry_id: r.get(2)?,
        recorded_by: r.get(3)?,
        recorded_at: parse_ts(&r.get::<_, String>(4)?)?,
    })
}

fn read_check(conn: &Connection, id: &str) -> Result<Option<StoredCheck>, StoreError> {
    let mut st = conn.prepare_cached(&format!(
        "SELECT {CHECK_COLS} FROM entry_checks c LEFT JOIN merchants m ON m.id = c.merchant_id WHERE c.check_id = ?1"
    ))?;
    let mut rows = st.query([id])?;
    match rows.next()? {
        Some(r) => Ok(Some(check_row(r)?)),
        None => Ok(None),
    }
}

/// Sends the stored check to its market's tablets.
fn publish_check(conn: &Connection, id: &str) -> Result<(), StoreError> {
    let c = read_check(conn, id)?.ok_or_else(|| corrupt("entry check", "vanished"))?;
    publish_to_market(conn, KIND, &c.check.market_id, &c.to_json())?;
    Ok(())
}

/// Goods bought from another merchant of the same market never entered
/// it (SQL over `e` the purchase's entry and `m` its merchant). The
/// server keeps no batch rows (its graph is in memory): a purchase is its
/// entry's payload.
const FROM_OWN_MARKET: &str = "EXISTS (SELECT 1 FROM merchants s
    WHERE s.id = json_extract(e.payload, '$.supplier.merchant_id') AND s.market_id = m.market_id)";

/// A merchant's purchases (not voided) into its market as `(entry_id,
/// category, received)`, received between `from` and `to`, and whether a
/// check links each; optionally only those no check links.
fn purchases(
    conn: &Connection,
    merchant_id: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    unlinked_only: bool,
) -> Result<Vec<(LinkCandidate, bool)>, StoreError> {
    // A purchase is recorded after it happens (give or take the clock
    // tolerance), so entries recorded before `from` less a day are not in
    // range.
    let mut st = conn.prepare_cached(&format!(
        "SELECT e.entry_id, json_extract(e.payload, '$.product.category'), e.at,
                EXISTS (SELECT 1 FROM entry_checks c WHERE c.purchase_entry_id = e.entry_id)
         FROM entries e JOIN merchants m ON m.id = e.merchant_id
         WHERE e.merchant_id = ?1 AND e.recorded_at >= ?2 AND e.kind = 'ledger.purchase'
           AND e.voided_by IS NULL AND NOT {FROM_OWN_MARKET}",
    ))?;
    let mut rows = st.query(params![merchant_id, ts(&(from - Duration::days(1)))])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let linked: bool = r.get(3)?;
        if unlinked_only && linked {
            continue;
        }
        let cat: Option<String> = r.get(1)?;
        let Some(category) = cat.as_deref().and_then(Category::parse) else {
            continue;
        };
        let Some(at) = device_time(&r.get::<_, String>(2)?) else {
            continue;
        };
        if at >= from && at <= to {
            out.push(((r.get(0)?, category, at), linked));
        }
    }
    Ok(out)
}

/// The entry-check facts of every merchant of `market_id` (every market
/// that keeps entry checks when `None`), optionally of one merchant.
fn facts(
    conn: &Connection,
    market_id: Option<&str>,
    merchant_id: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Vec<EntryFacts>, StoreError> {
    let t = EntryThresholds::builtin();
    let markets: Vec<(String, String)> = {
        let mut st = conn.prepare_cached(
            "SELECT market_id, MIN(at_utc) FROM entry_checks WHERE ?1 IS NULL OR market_id = ?1 GROUP BY market_id",
        )?;
        let rows = st.query_map([market_id], |r| Ok((r.get(0)?, r.get(1)?)))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    let mut out = Vec::new();
    for (market, since) in markets {
        let since = parse_ts(&since)?;
        let merchants: Vec<(String, String)> = {
            let mut st = conn.prepare_cached(
                "SELECT id, name FROM merchants WHERE market_id = ?1 AND (?2 IS NULL OR id = ?2)",
            )?;
            let rows =
                st.query_map(params![market, merchant_id], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect::<rusqlite::Result<_>>()?
        };
        let mut refusals: BTreeMap<String, Vec<RefusalFact>> = BTreeMap::new();
        {
            let mut st = conn.prepare_cached(
                "SELECT check_id, merchant_id, at_utc FROM entry_checks
                 WHERE market_id = ?1 AND decision = 'refused' AND at_utc >= ?2",
            )?;
            let mut rows = st.query(params![market, ts(&(now - t.refused_window()))])?;
            while let Some(r) = rows.next()? {
                refusals.entry(r.get(1)?).or_default().push(RefusalFact {
                    check_id: r.get(0)?,
                    at: parse_ts(&r.get::<_, String>(2)?)?,
                });
            }
        }
        let from = since.max(now - t.lookback());
        for (id, name) in merchants {
            let purchases = purchases(conn, &id, from, now, false)?
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
                merchant_name: name,
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
    conn: &Connection,
    now: DateTime<Utc>,
) -> Result<Vec<Candidate>, StoreError> {
    let t = EntryThresholds::builtin();
    Ok(facts(conn, None, None, now)?
        .iter()
        .flat_map(|f| entry::detect(t, f, now))
        .collect())
}

impl EntryCheckTx for PushTxn<'_> {
    fn merchant_market(&self, merchant_id: &str) -> Result<Option<Option<String>>, StoreError> {
        Ok(self
            .0
            .prepare_cached("SELECT market_id FROM merchants WHERE id = ?1")?
            .query_row([merchant_id], |r| r.get(0))
            .optional()?)
    }

    fn check_answer(&self, check_id: &str) -> Result<Option<(String, Value)>, StoreError> {
        let row: Option<(String, String)> = self
            .0
            .prepare_cached("SELECT market_id, answer FROM entry_checks WHERE check_id = ?1")?
            .query_row([check_id], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        row.map(|(m, a)| {
            Ok((
                m,
                serde_json::from_str(&a).map_err(|e| corrupt("entry check answer", e))?,
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
        Ok(purchases(self.0, merchant_id, from, to, true)?
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
        let mut st = self.0.prepare_cached(
            "SELECT check_id, category, at_utc FROM entry_checks
             WHERE merchant_id = ?1 AND purchase_entry_id IS NULL AND at_utc >= ?2 AND at_utc <= ?3",
        )?;
        let mut rows = st.query(params![merchant_id, ts(&from), ts(&to)])?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            let cat: String = r.get(1)?;
            let category =
                Category::parse(&cat).ok_or_else(|| corrupt("entry check category", &cat))?;
            out.push((r.get(0)?, category, parse_ts(&r.get::<_, String>(2)?)?));
        }
        Ok(out)
    }

    fn persist_entry_check(
        &mut self,
        c: &EntryCheck,
        purchase_entry_id: Option<&str>,
        answer: &Value,
        user_id: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let tx = self.0;
        tx.execute_batch("SAVEPOINT entry_check_op")?;
        let run = || -> Result<(), StoreError> {
            let at = c.at.with_timezone(&Utc);
            tx.prepare_cached(
                "INSERT INTO entry_checks (check_id, market_id, merchant_id, product_name, category, decision, at, at_utc,
                     local_date, payload, answer, purchase_entry_id, linked_at, recorded_by, recorded_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
            )?
            .execute(params![
                c.check_id.to_string(),
                c.market_id,
                c.merchant_id,
                c.product.name,
                c.product.category.as_str(),
                c.decision.as_str(),
                c.at.to_rfc3339(),
                ts(&at),
                local_date(at).to_string(),
                c.to_wire().to_string(),
                answer.to_string(),
                purchase_entry_id,
                purchase_entry_id.map(|_| ts(&now)),
                user_id,
                ts(&now),
            ])?;
            publish_check(tx, &c.check_id.to_string())?;
            if c.decision == Decision::Refused {
                let t = EntryThresholds::builtin();
                let raised: Vec<Candidate> =
                    facts(tx, Some(&c.market_id), Some(&c.merchant_id), now)?
                        .iter()
                        .filter_map(|f| entry::refused(t, f, now))
                        .collect();
                super::alerts::raise(tx, &raised, now)?;
            }
            Ok(())
        };
        match run() {
            Ok(()) => {
                tx.execute_batch("RELEASE entry_check_op")?;
                Ok(())
            }
            Err(e) => {
                tx.execute_batch("ROLLBACK TO entry_check_op; RELEASE entry_check_op")?;
                Err(e)
            }
        }
    }

    fn link_entry_check(
        &mut self,
        check_id: &str,
        entry_id: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let linked = self
            .0
            .prepare_cached(
                "UPDATE entry_checks SET purchase_entry_id = ?2, linked_at = ?3
                 WHERE check_id = ?1 AND purchase_entry_id IS NULL",
            )?
            .execute(params![check_id, entry_id, ts(&now)])?;
        if linked == 1 {
            publish_check(self.0, check_id)?;
        }
        Ok(())
    }
}

fn unchecked(
    conn: &Connection,
    market_id: &str,
    date: NaiveDate,
) -> Result<Vec<UncheckedPurchase>, StoreError> {
    let (from, to) = (
        local_midnight(date),
        local_midnight(date + Duration::days(1)),
    );
    // A purchase is recorded after it happens (give or take the clock
    // tolerance), so entries recorded before the day began are not its.
    let mut st = conn.prepare_cached(&format!(
        "SELECT e.entry_id, e.merchant_id, m.name, json_extract(e.payload, '$.product.name'),
                json_extract(e.payload, '$.product.category'), e.trace_code, e.at,
                json_extract(e.payload, '$.quantity.value'), json_extract(e.payload, '$.quantity.unit')
         FROM merchants m JOIN entries e ON e.merchant_id = m.id
         WHERE m.market_id = ?1 AND e.recorded_at >= ?2 AND e.kind = 'ledger.purchase'
           AND e.voided_by IS NULL AND NOT {FROM_OWN_MARKET}
           AND NOT EXISTS (SELECT 1 FROM entry_checks c WHERE c.purchase_entry_id = e.entry_id)",
    ))?;
    let mut rows = st.query(params![market_id, ts(&(from - Duration::days(1)))])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let Some(at) = device_time(&r.get::<_, String>(6)?) else {
            continue;
        };
        if at < from || at >= to {
            continue;
        }
        let cat: Option<String> = r.get(4)?;
        let (value, unit): (Option<String>, Option<String>) = (r.get(7)?, r.get(8)?);
        let quantity = Quantity::parse(
            value.as_deref().unwrap_or_default(),
            unit.as_deref().unwrap_or_default(),
            Sign::Positive,
            "quantity",
        )
        .map_err(|e| corrupt("purchase quantity", e.message))?;
        out.push(UncheckedPurchase {
            entry_id: r.get(0)?,
            merchant_id: r.get(1)?,
            merchant_name: r.get(2)?,
            product_name: r.get::<_, Option<String>>(3)?.unwrap_or_default(),
            category: cat
                .as_deref()
                .and_then(Category::parse)
                .unwrap_or(Category::Other),
            trace_code: r.get::<_, Option<String>>(5)?.unwrap_or_default(),
            quantity,
            received_at: at,
        });
    }
    out.sort_by_key(|p| std::cmp::Reverse(p.received_at));
    Ok(out)
}

impl EntryCheckStore for SqliteStore {
    fn list_entry_checks(&self, f: CheckFilter) -> StoreFuture<'_, Page<StoredCheck>> {
        Box::pin(self.readers().call(move |conn| -> Result<_, StoreError> {
            let date = f.date.map(|d| d.to_string());
            let decision = f.decision.map(Decision::as_str);
            const WHERE: &str = "WHERE (?1 IS NULL OR c.market_id = ?1) AND (?2 IS NULL OR c.local_date = ?2)
                   AND (?3 IS NULL OR c.merchant_id = ?3) AND (?4 IS NULL OR c.decision = ?4)";
            let total: i64 = conn
                .prepare_cached(&format!("SELECT COUNT(*) FROM entry_checks c {WHERE}"))?
                .query_row(params![f.market_id, date, f.merchant_id, decision], |r| {
                    r.get(0)
                })?;
            let mut st = conn.prepare_cached(&format!(
                "SELECT {CHECK_COLS} FROM entry_checks c LEFT JOIN merchants m ON m.id = c.merchant_id {WHERE}
                 ORDER BY c.at_utc DESC, c.check_id DESC LIMIT ?5 OFFSET ?6"
            ))?;
            let mut rows = st.query(params![
                f.market_id,
                date,
                f.merchant_id,
                decision,
                f.limit,
                f.offset
            ])?;
            let mut items = Vec::new();
            while let Some(r) = rows.next()? {
                items.push(check_row(r)?);
            }
            Ok(Page {
                items,
                total: u64::try_from(total).unwrap_or(0),
                limit: f.limit,
                offset: f.offset,
            })
        }))
    }

    fn entry_check(&self, check_id: String) -> StoreFuture<'_, Option<StoredCheck>> {
        Box::pin(self.readers().call(move |conn| read_check(conn, &check_id)))
    }

    fn entry_check_days(
        &self,
        market_id: String,
        from: NaiveDate,
        to: NaiveDate,
    ) -> StoreFuture<'_, Vec<DayCount>> {
        Box::pin(self.readers().call(move |conn| -> Result<_, StoreError> {
            let mut st = conn.prepare_cached(
                "SELECT local_date, SUM(decision = 'accepted'), SUM(decision = 'refused') FROM entry_checks
                 WHERE market_id = ?1 AND local_date >= ?2 AND local_date <= ?3 GROUP BY local_date",
            )?;
            let mut rows = st.query(params![market_id, from.to_string(), to.to_string()])?;
            let mut counted: BTreeMap<String, (i64, i64)> = BTreeMap::new();
            while let Some(r) = rows.next()? {
                counted.insert(r.get(0)?, (r.get(1)?, r.get(2)?));
            }
            let mut out = Vec::new();
            let mut d = from;
            while d <= to {
                let (a, r) = counted.get(&d.to_string()).copied().unwrap_or((0, 0));
                out.push(DayCount {
                    date: d,
                    accepted: u64::try_from(a).unwrap_or(0),
                    refused: u64::try_from(r).unwrap_or(0),
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
            self.readers()
                .call(move |conn| unchecked(conn, &market_id, date)),
        )
    }

    fn raise_entry_alerts(&self, now: DateTime<Utc>) -> StoreFuture<'_, u64> {
        Box::pin(self.writer().call(move |conn| -> Result<u64, StoreError> {
            let tx = conn.transaction()?;
            let candidates = alert_candidates(&tx, now)?;
            let raised = super::alerts::raise(&tx, &candidates, now)?;
            tx.commit()?;
            Ok(raised)
        }))
    }
}
