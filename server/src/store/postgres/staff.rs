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
    let record =
        serde_json::to_value(w).map_err(|e| StoreError::Corrupt(format!("staff record: {e}")))?;
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

/// Runs a store call to its end on a runtime of its own, for tests of
/// this folder's modules: the setup and checks use the blocking client,
/// which must not run inside a runtime, so a test is a plain `#[test]`
/// that blocks on each store call.
#[cfg(test)]
pub(super) fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a test runtime")
        .block_on(f)
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone};
    use shian_core::warnings::Kind;

    use super::super::testing::{add_market, add_merchant, fresh};
    use super::*;
    use crate::store::StoreError;

    fn worker(id: &str, merchant: &str, name: &str, expires_on: Option<NaiveDate>) -> Worker {
        Worker {
            staff_id: id.into(),
            merchant_id: merchant.into(),
            name: name.into(),
            role: "切配".into(),
            certificate_no: Some("HC-1".into()),
            issued_on: expires_on.map(|d| d - Duration::days(365)),
            expires_on,
            photo: None,
        }
    }

    /// A worker already in the register (as an earlier upsert left it),
    /// written directly: the upserts' own path raises alerts, which are
    /// not on PostgreSQL yet.
    fn seed(c: &mut impl GenericClient, region: &str, w: &Worker) {
        c.execute(
            "INSERT INTO staff (region_code, staff_id, merchant_id, name, role, certificate_no, issued_on,
                 expires_on, photo, recorded_at, recorded_by)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, now(), 'u1')",
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
            ],
        )
        .unwrap();
    }

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn an_unknown_merchant_is_not_found_and_has_no_staff() {
        let Some(db) = fresh() else { return };
        let s = &db.store;
        let w = worker("w1", "ghost", "张三", None);
        let err = block_on(s.upsert_worker(w, "u1".into(), Utc::now())).unwrap_err();
        assert!(matches!(err, StoreError::NotFound("商户")), "{err:?}");
        assert!(block_on(s.staff_of("ghost".into())).unwrap().is_empty());
        let r = Removal {
            staff_id: "w1".into(),
            merchant_id: "ghost".into(),
        };
        assert!(!block_on(s.remove_worker(r, "u1".into(), Utc::now())).unwrap());
    }

    #[test]
    fn another_merchants_id_is_taken_and_the_same_record_is_unchanged() {
        let Some(db) = fresh() else { return };
        let w = worker("w1", "shop1", "张三", Some(day(2030, 1, 1)));
        let mut c = db.store.pool().get().unwrap();
        add_merchant(&mut *c, "shop1", "350203", None);
        // Another district: the id is still taken.
        add_merchant(&mut *c, "shop2", "350206", None);
        seed(&mut *c, "350203", &w);
        let mut other = w.clone();
        other.merchant_id = "shop2".into();
        let now = Utc::now();
        let s = &db.store;
        let taken = block_on(s.upsert_worker(other, "u2".into(), now)).unwrap();
        assert_eq!(taken, Upserted::IdTaken);
        let same = block_on(s.upsert_worker(w.clone(), "u1".into(), now)).unwrap();
        assert_eq!(same, Upserted::Unchanged);
        // Removing it as the other merchant's finds nothing.
        let r = Removal {
            staff_id: "w1".into(),
            merchant_id: "shop2".into(),
        };
        assert!(!block_on(s.remove_worker(r, "u2".into(), now)).unwrap());
        // Nothing written by any: no log rows, no changes, the worker kept.
        let logged: i64 = c
            .query_one("SELECT count(*) FROM staff_log", &[])
            .unwrap()
            .get(0);
        assert_eq!(logged, 0);
        let rosters: i64 = c
            .query_one(
                "SELECT count(*) FROM changes WHERE kind = $1",
                &[&ROSTER_KIND],
            )
            .unwrap()
            .get(0);
        assert_eq!(rosters, 0);
        assert_eq!(block_on(s.staff_of("shop1".into())).unwrap().len(), 1);
    }

    #[test]
    fn lists_are_by_name_and_by_merchant_in_the_market() {
        let Some(db) = fresh() else { return };
        {
            let mut c = db.store.pool().get().unwrap();
            add_market(&mut *c, "mk1", "350203");
            add_merchant(&mut *c, "b-shop", "350203", Some("mk1"));
            add_merchant(&mut *c, "a-shop", "350203", Some("mk1"));
            add_merchant(&mut *c, "elsewhere", "350203", None);
            seed(&mut *c, "350203", &worker("w2", "b-shop", "Zed", None));
            seed(&mut *c, "350203", &worker("w1", "b-shop", "Amy", None));
            seed(&mut *c, "350203", &worker("w3", "a-shop", "Bob", None));
            seed(&mut *c, "350203", &worker("w4", "elsewhere", "Cat", None));
        }
        let s = &db.store;
        let names: Vec<String> = block_on(s.staff_of("b-shop".into()))
            .unwrap()
            .into_iter()
            .map(|w| w.worker.name)
            .collect();
        assert_eq!(names, ["Amy", "Zed"]);
        let market: Vec<(String, String)> = block_on(s.staff_of_market("mk1".into()))
            .unwrap()
            .into_iter()
            .map(|m| (m.merchant_name, m.stored.worker.staff_id))
            .collect();
        assert_eq!(
            market,
            [
                ("a-shop".to_owned(), "w3".to_owned()),
                ("b-shop".into(), "w1".into()),
                ("b-shop".into(), "w2".into())
            ]
        );
        assert!(block_on(s.staff_of_market("no-market".into()))
            .unwrap()
            .is_empty());
    }

    #[test]
    fn an_expired_certificate_is_a_candidate() {
        let Some(db) = fresh() else { return };
        let now = Utc.with_ymd_and_hms(2026, 6, 1, 4, 0, 0).unwrap();
        let mut c = db.store.pool().get().unwrap();
        add_merchant(&mut *c, "shop1", "350203", None);
        add_merchant(&mut *c, "shop2", "350203", None);
        seed(
            &mut *c,
            "350203",
            &worker("w1", "shop1", "张三", Some(day(2026, 5, 1))),
        );
        seed(
            &mut *c,
            "350203",
            &worker("w2", "shop2", "李四", Some(day(2027, 5, 1))),
        );
        let found = alert_candidates(&mut *c, now).unwrap();
        let expired: Vec<_> = found
            .iter()
            .filter(|c| c.kind == Kind::HealthCertExpired)
            .collect();
        assert_eq!(expired.len(), 1, "{found:?}");
        assert!(format!("{:?}", expired[0].subject).contains("shop1"));
    }

    /// The whole write: created, changed, removed, each logged and its
    /// roster published to the merchant, its district and its market.
    #[test]
    fn writes_are_logged_and_publish_the_roster() {
        let Some(db) = fresh() else { return };
        let mut c = db.store.pool().get().unwrap();
        add_market(&mut *c, "mk1", "350203");
        add_merchant(&mut *c, "shop1", "350203", Some("mk1"));
        let s = &db.store;
        let now = Utc::now();
        let w = worker("w1", "shop1", "张三", Some(day(2030, 1, 1)));
        let created = block_on(s.upsert_worker(w.clone(), "u1".into(), now)).unwrap();
        assert_eq!(created, Upserted::Created);
        let mut changed = w.clone();
        changed.role = "收银".into();
        let changed = block_on(s.upsert_worker(changed, "u1".into(), now)).unwrap();
        assert_eq!(changed, Upserted::Changed);
        let r = Removal {
            staff_id: "w1".into(),
            merchant_id: "shop1".into(),
        };
        assert!(block_on(s.remove_worker(r, "u1".into(), now)).unwrap());
        let actions: Vec<String> = c
            .query("SELECT action FROM staff_log ORDER BY id", &[])
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        assert_eq!(actions, ["upsert", "upsert", "remove"]);
        let rosters: i64 = c
            .query_one(
                "SELECT count(*) FROM changes WHERE kind = $1",
                &[&ROSTER_KIND],
            )
            .unwrap()
            .get(0);
        assert_eq!(rosters, 9);
    }
}
