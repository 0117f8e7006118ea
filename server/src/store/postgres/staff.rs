//! [`StaffStore`] and the staff ops' side of the push transaction
//! ([`StaffTx`]) on PostgreSQL, as `sqlite/staff.rs` does them, and the
//! health-certificate warnings' facts ([`alert_candidates`] for the full
//! pass, the periodic check and each write).
//!
//! The register and its log are stored under the merchant's district. A
//! staff id is unique across the country on SQLite (its primary key); here
//! the key is `(region_code, staff_id)`, so an upsert first looks the id
//! up in every district to answer [`Upserted::IdTaken`] as SQLite does.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use postgres::{GenericClient, Row};
use serde_json::{json, Value};
use shian_core::event::SALE;
use shian_core::staff::{Removal, Worker, ROSTER_KIND};
use shian_core::warnings::staff::{detect, StaffFacts, StaffRules};
use shian_core::warnings::Candidate;

use super::feed::{publish, publish_to_market, Audience};
use super::store::PgStore;
use super::txn::PgTxn;
use crate::store::staff::{MarketWorker, StaffStore, StaffTx, StoredWorker, Upserted};
use crate::store::{StoreError, StoreFuture};

const COLS: &str =
    "s.staff_id, s.merchant_id, s.name, s.role, s.certificate_no, s.issued_on, s.expires_on,
     s.photo, s.recorded_at, s.recorded_by";

fn worker_row(r: &Row) -> Result<StoredWorker, StoreError> {
    Ok(StoredWorker {
        worker: Worker {
            staff_id: r.try_get(0)?,
            merchant_id: r.try_get(1)?,
            name: r.try_get(2)?,
            role: r.try_get(3)?,
            certificate_no: r.try_get(4)?,
            issued_on: r.try_get::<_, Option<NaiveDate>>(5)?,
            expires_on: r.try_get::<_, Option<NaiveDate>>(6)?,
            photo: r.try_get(7)?,
        },
        recorded_at: r.try_get(8)?,
        recorded_by: r.try_get(9)?,
    })
}

fn staff_of(
    c: &mut impl GenericClient,
    region: &str,
    merchant_id: &str,
) -> Result<Vec<StoredWorker>, StoreError> {
    c.query(
        &format!(
            "SELECT {COLS} FROM staff s WHERE s.region_code = $1 AND s.merchant_id = $2
             ORDER BY s.name COLLATE \"C\", s.staff_id COLLATE \"C\""
        ),
        &[&region, &merchant_id],
    )?
    .iter()
    .map(worker_row)
    .collect()
}

/// The merchant's name, market and district, if registered.
type MerchantInfo = (String, Option<String>, String);

fn merchant_of(
    c: &mut impl GenericClient,
    merchant_id: &str,
) -> Result<Option<MerchantInfo>, StoreError> {
    Ok(c.query_opt(
        "SELECT name, market_id, region_code FROM merchants WHERE id = $1",
        &[&merchant_id],
    )?
    .map(|r| (r.get(0), r.get(1), r.get(2))))
}

fn log(
    c: &mut impl GenericClient,
    region: &str,
    w: &Worker,
    action: &str,
    user_id: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let record = serde_json::to_value(w)
        .map_err(|e| StoreError::Corrupt(format!("staff record: {e}")))?;
    c.execute(
        "INSERT INTO staff_log (region_code, staff_id, merchant_id, action, record, recorded_at, recorded_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        &[
            &region,
            &w.staff_id,
            &w.merchant_id,
            &action,
            &record,
            &now,
            &user_id,
        ],
    )?;
    Ok(())
}

/// The roster as sent by sync (`staff.roster`).
fn roster(merchant_id: &str, workers: &[StoredWorker]) -> Value {
    json!({
        "id": merchant_id,
        "merchant_id": merchant_id,
        "staff": workers.iter().map(|w| &w.worker).collect::<Vec<_>>(),
    })
}

/// After a change: the roster to the merchant's devices, its district's
/// inspectors and its market's operators, and the merchant's warnings.
fn after_change(
    c: &mut impl GenericClient,
    merchant_id: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let Some((name, market_id, region)) = merchant_of(c, merchant_id)? else {
        return Err(StoreError::NotFound("商户"));
    };
    let workers = staff_of(c, &region, merchant_id)?;
    let payload = roster(merchant_id, &workers);
    let (first, last) = sales_of(c, &region, merchant_id)?;
    let facts = StaffFacts {
        merchant_id: merchant_id.to_owned(),
        name,
        market_id: market_id.clone(),
        workers: workers
            .into_iter()
            .map(|w| (w.worker, w.recorded_at))
            .collect(),
        first_sale_at: first,
        last_sale_at: last,
    };
    super::alerts::raise(c, &detect(StaffRules::builtin(), &facts, now), now)?;
    // The changes' sequencer last: it is held until the commit.
    let to_merchant = Audience {
        merchant_id: Some(merchant_id),
        ..Audience::default()
    };
    publish(c, ROSTER_KIND, to_merchant, &payload)?;
    let to_region = Audience {
        region_code: Some(&region),
        ..Audience::default()
    };
    publish(c, ROSTER_KIND, to_region, &payload)?;
    if let Some(market) = market_id.as_deref() {
        publish_to_market(c, ROSTER_KIND, market, &payload)?;
    }
    Ok(())
}

/// A sale's device time as UTC (the ledger keeps it as sent, with its
/// offset).
fn sale_time(s: Option<String>) -> Option<DateTime<Utc>> {
    s.and_then(|s| DateTime::parse_from_rfc3339(&s).ok())
        .map(|t| t.with_timezone(&Utc))
}

/// A merchant's first and last sale, if it sold.
type SaleSpan = (Option<DateTime<Utc>>, Option<DateTime<Utc>>);

/// A merchant's first and last sale (device time, compared as text byte by
/// byte as SQLite does: a month of sales loaded at once keeps its own
/// days).
fn sales_of(
    c: &mut impl GenericClient,
    region: &str,
    merchant_id: &str,
) -> Result<SaleSpan, StoreError> {
    let r = c.query_one(
        "SELECT MIN(at COLLATE \"C\"), MAX(at COLLATE \"C\") FROM entries
         WHERE region_code = $1 AND merchant_id = $2 AND kind = $3 AND voided_by IS NULL",
        &[&region, &merchant_id, &SALE],
    )?;
    Ok((sale_time(r.try_get(0)?), sale_time(r.try_get(1)?)))
}

fn upsert(
    c: &mut impl GenericClient,
    w: &Worker,
    user_id: &str,
    now: DateTime<Utc>,
) -> Result<Upserted, StoreError> {
    // By id alone: the id is the country's (SQLite's primary key), whatever
    // district holds it.
    let current = c
        .query_opt(
            &format!("SELECT {COLS} FROM staff s WHERE s.staff_id = $1 LIMIT 1"),
            &[&w.staff_id],
        )?
        .map(|r| worker_row(&r))
        .transpose()?;
    let outcome = match &current {
        Some(c) if c.worker.merchant_id != w.merchant_id => return Ok(Upserted::IdTaken),
        Some(c) if c.worker == *w => return Ok(Upserted::Unchanged),
        Some(_) => Upserted::Changed,
        None => Upserted::Created,
    };
    let Some((_, _, region)) = merchant_of(c, &w.merchant_id)? else {
        return Err(StoreError::NotFound("商户"));
    };
    c.execute(
        "INSERT INTO staff (region_code, staff_id, merchant_id, name, role, certificate_no, issued_on,
             expires_on, photo, recorded_at, recorded_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
         ON CONFLICT (region_code, staff_id) DO UPDATE SET name = excluded.name, role = excluded.role,
             certificate_no = excluded.certificate_no, issued_on = excluded.issued_on,
             expires_on = excluded.expires_on, photo = excluded.photo,
             recorded_at = excluded.recorded_at, recorded_by = excluded.recorded_by",
        &[
            &region,
            &w.staff_id,
            &w.merchant_id,
            &w.name,
            &w.role,
            &w.certificate_no,
            &w.issued_on,
            &w.expires_on,
            &w.photo,
            &now,
            &user_id,
        ],
    )?;
    log(c, &region, w, "upsert", user_id, now)?;
    after_change(c, &w.merchant_id, now)?;
    Ok(outcome)
}

fn remove(
    c: &mut impl GenericClient,
    r: &Removal,
    user_id: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    // An unknown merchant has no workers: nothing to remove, as on SQLite.
    let Some((_, _, region)) = merchant_of(c, &r.merchant_id)? else {
        return Ok(false);
    };
    let current = c
        .query_opt(
            &format!(
                "SELECT {COLS} FROM staff s
                 WHERE s.region_code = $1 AND s.staff_id = $2 AND s.merchant_id = $3"
            ),
            &[&region, &r.staff_id, &r.merchant_id],
        )?
        .map(|row| worker_row(&row))
        .transpose()?;
    let Some(current) = current else {
        return Ok(false);
    };
    c.execute(
        "DELETE FROM staff WHERE region_code = $1 AND staff_id = $2",
        &[&region, &r.staff_id],
    )?;
    log(c, &region, &current.worker, "remove", user_id, now)?;
    after_change(c, &r.merchant_id, now)?;
    Ok(true)
}

/// Every merchant's health-certificate candidates as of `now` (the full
/// pass in `alerts::scan` and the periodic check).
pub(super) fn alert_candidates(
    c: &mut impl GenericClient,
    now: DateTime<Utc>,
) -> Result<Vec<Candidate>, StoreError> {
    let mut workers: HashMap<String, Vec<(Worker, DateTime<Utc>)>> = HashMap::new();
    for r in c.query(&format!("SELECT {COLS} FROM staff s"), &[])? {
        let w = worker_row(&r)?;
        workers
            .entry(w.worker.merchant_id.clone())
            .or_default()
            .push((w.worker, w.recorded_at));
    }
    let rules = StaffRules::builtin();
    let mut out = Vec::new();
    let merchants = c.query(
        "SELECT id, name, market_id, region_code FROM merchants ORDER BY id COLLATE \"C\"",
        &[],
    )?;
    for row in merchants {
        let id: String = row.try_get(0)?;
        let region: String = row.try_get(3)?;
        let workers = workers.remove(&id).unwrap_or_default();
        // Only a merchant that recorded nobody needs its sales (read by its
        // index, not a scan of the whole ledger).
        let (first, last) = if workers.is_empty() {
            sales_of(c, &region, &id)?
        } else {
            (None, None)
        };
        let facts = StaffFacts {
            workers,
            merchant_id: id,
            name: row.try_get(1)?,
            market_id: row.try_get(2)?,
            first_sale_at: first,
            last_sale_at: last,
        };
        out.extend(detect(rules, &facts, now));
    }
    Ok(out)
}

impl StaffTx for PgTxn<'_, '_> {
    fn upsert_worker_in(
        &mut self,
        w: &Worker,
        user_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Upserted, StoreError> {
        self.try_with(|tx| upsert(tx, w, user_id, now))
    }

    fn remove_worker_in(
        &mut self,
        r: &Removal,
        user_id: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.try_with(|tx| remove(tx, r, user_id, now))
    }
}

impl StaffStore for PgStore {
    fn upsert_worker(
        &self,
        w: Worker,
        user_id: String,
        now: DateTime<Utc>,
    ) -> StoreFuture<'_, Upserted> {
        Box::pin(self.pool.call(move |client| {
            let mut tx = client.transaction()?;
            let done = upsert(&mut tx, &w, &user_id, now)?;
            tx.commit()?;
            Ok(done)
        }))
    }

    fn remove_worker(
        &self,
        r: Removal,
        user_id: String,
        now: DateTime<Utc>,
    ) -> StoreFuture<'_, bool> {
        Box::pin(self.pool.call(move |client| {
            let mut tx = client.transaction()?;
            let done = remove(&mut tx, &r, &user_id, now)?;
            tx.commit()?;
            Ok(done)
        }))
    }

    fn staff_of(&self, merchant_id: String) -> StoreFuture<'_, Vec<StoredWorker>> {
        Box::pin(self.pool.call(move |client| {
            // An unknown merchant has no workers (SQLite answers an empty
            // list too).
            match super::district::of_merchant(client, &merchant_id)? {
                Some(region) => staff_of(client, &region, &merchant_id),
                None => Ok(Vec::new()),
            }
        }))
    }

    fn staff_of_market(&self, market_id: String) -> StoreFuture<'_, Vec<MarketWorker>> {
        Box::pin(self.pool.call(move |client| {
            let Some(region) = super::district::of_market(client, &market_id)? else {
                return Ok(Vec::new());
            };
            client
                .query(
                    &format!(
                        "SELECT {COLS}, m.name, m.stall FROM staff s JOIN merchants m ON m.id = s.merchant_id
                         WHERE s.region_code = $1 AND m.market_id = $2
                         ORDER BY m.name COLLATE \"C\", m.id COLLATE \"C\", s.name COLLATE \"C\",
                             s.staff_id COLLATE \"C\""
                    ),
                    &[&region, &market_id],
                )?
                .iter()
                .map(|r| {
                    Ok(MarketWorker {
                        stored: worker_row(r)?,
                        merchant_name: r.try_get(10)?,
                        stall: r.try_get(11)?,
                    })
                })
                .collect()
        }))
    }

    fn check_staff(&self, now: DateTime<Utc>) -> StoreFuture<'_, u64> {
        Box::pin(self.pool.call(move |client| {
            // One transaction: the candidates are judged on the snapshot
            // they are raised in; the alerts' identity rule (kind +
            // merchant) keeps a warning seen again from being raised twice.
            let mut tx = client.transaction()?;
            let candidates = alert_candidates(&mut tx, now)?;
            let raised = super::alerts::raise(&mut tx, &candidates, now)?;
            tx.commit()?;
            Ok(raised)
        }))
    }
}
