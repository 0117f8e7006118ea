//! [`StaffStore`] and the staff ops' side of the push transaction
//! ([`StaffTx`]) for the SQLite backend (migration component `staff`), and
//! the health-certificate warnings' facts ([`alert_candidates`] for the
//! full pass, the periodic check and each write).

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::{params, Connection, OptionalExtension, Row};
use serde_json::{json, Value};
use shian_core::event::SALE;
use shian_core::staff::{Removal, Worker, ROSTER_KIND};
use shian_core::warnings::staff::{detect, StaffFacts, StaffRules};
use shian_core::warnings::Candidate;

use super::migrate::{self, Migration};
use super::sync::{publish, publish_to_market, PushTxn};
use super::timestamps::{parse_ts, ts};
use super::SqliteStore;
use crate::store::staff::{MarketWorker, StaffStore, StaffTx, StoredWorker, Upserted};
use crate::store::{StoreError, StoreFuture};

const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "staff register and its log",
    sql: r#"
    -- The current record of each worker.
    CREATE TABLE staff (
        staff_id       TEXT PRIMARY KEY,
        merchant_id    TEXT NOT NULL REFERENCES merchants(id),
        name           TEXT NOT NULL,
        role           TEXT NOT NULL,
        certificate_no TEXT,
        issued_on      TEXT,
        expires_on     TEXT,
        photo          TEXT,
        recorded_at    TEXT NOT NULL,
        recorded_by    TEXT NOT NULL
    );
    CREATE INDEX staff_by_merchant ON staff(merchant_id, name);
    CREATE INDEX staff_by_expiry ON staff(expires_on) WHERE expires_on IS NOT NULL;

    -- Every accepted change (events; never updated).
    CREATE TABLE staff_log (
        id          INTEGER PRIMARY KEY,
        staff_id    TEXT NOT NULL,
        merchant_id TEXT NOT NULL,
        action      TEXT NOT NULL CHECK (action IN ('upsert', 'remove')),
        record      TEXT NOT NULL,
        recorded_at TEXT NOT NULL,
        recorded_by TEXT NOT NULL
    );
    CREATE INDEX staff_log_by_merchant ON staff_log(merchant_id, id);
    "#,
}];

pub(super) fn open(conn: &mut Connection) -> Result<(), StoreError> {
    migrate::apply(conn, "staff", MIGRATIONS)?;
    Ok(())
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

fn date(s: Option<String>) -> Result<Option<NaiveDate>, StoreError> {
    s.map(|s| NaiveDate::parse_from_str(&s, "%Y-%m-%d").map_err(|e| corrupt("staff date", e)))
        .transpose()
}

const COLS: &str =
    "s.staff_id, s.merchant_id, s.name, s.role, s.certificate_no, s.issued_on, s.expires_on,
     s.photo, s.recorded_at, s.recorded_by";

fn worker_row(r: &Row<'_>) -> Result<StoredWorker, StoreError> {
    Ok(StoredWorker {
        worker: Worker {
            staff_id: r.get(0)?,
            merchant_id: r.get(1)?,
            name: r.get(2)?,
            role: r.get(3)?,
            certificate_no: r.get(4)?,
            issued_on: date(r.get(5)?)?,
            expires_on: date(r.get(6)?)?,
            photo: r.get(7)?,
        },
        recorded_at: parse_ts(&r.get::<_, String>(8)?)?,
        recorded_by: r.get(9)?,
    })
}

fn staff_of(conn: &Connection, merchant_id: &str) -> Result<Vec<StoredWorker>, StoreError> {
    let mut st = conn.prepare_cached(&format!(
        "SELECT {COLS} FROM staff s WHERE s.merchant_id = ?1 ORDER BY s.name, s.staff_id"
    ))?;
    let mut rows = st.query([merchant_id])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.push(worker_row(r)?);
    }
    Ok(out)
}

/// The merchant's name, market and district, if registered.
fn merchant_of(
    conn: &Connection,
    merchant_id: &str,
) -> Result<Option<(String, Option<String>, String)>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT name, market_id, region_code FROM merchants WHERE id = ?1")?
        .query_row([merchant_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?)
}

fn log(
    conn: &Connection,
    w: &Worker,
    action: &str,
    user_id: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let record = serde_json::to_string(w).map_err(|e| corrupt("staff record", e))?;
    conn.prepare_cached(
        "INSERT INTO staff_log (staff_id, merchant_id, action, record, recorded_at, recorded_by)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        w.staff_id,
        w.merchant_id,
        action,
        record,
        ts(&now),
        user_id
    ])?;
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
    conn: &Connection,
    merchant_id: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let Some((name, market_id, region)) = merchant_of(conn, merchant_id)? else {
        return Err(StoreError::NotFound("商户"));
    };
    let workers = staff_of(conn, merchant_id)?;
    let payload = roster(merchant_id, &workers);
    publish(conn, ROSTER_KIND, Some(merchant_id), None, None, &payload)?;
    publish(conn, ROSTER_KIND, None, Some(&region), None, &payload)?;
    if let Some(market) = market_id.as_deref() {
        publish_to_market(conn, ROSTER_KIND, market, &payload)?;
    }
    let (first, last) = sales_of(conn, merchant_id)?;
    let facts = StaffFacts {
        merchant_id: merchant_id.to_owned(),
        name,
        market_id,
        workers: workers
            .into_iter()
            .map(|w| (w.worker, w.recorded_at))
            .collect(),
        first_sale_at: first,
        last_sale_at: last,
    };
    super::alerts::raise(conn, &detect(StaffRules::builtin(), &facts, now), now)?;
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

/// A merchant's first and last sale (device time: a month of sales loaded
/// at once keeps its own days).
fn sales_of(conn: &Connection, merchant_id: &str) -> Result<SaleSpan, StoreError> {
    let (first, last): (Option<String>, Option<String>) = conn
        .prepare_cached(
            "SELECT MIN(at), MAX(at) FROM entries WHERE merchant_id = ?1 AND kind = ?2 AND voided_by IS NULL",
        )?
        .query_row(params![merchant_id, SALE], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok((sale_time(first), sale_time(last)))
}

fn upsert(
    conn: &Connection,
    w: &Worker,
    user_id: &str,
    now: DateTime<Utc>,
) -> Result<Upserted, StoreError> {
    let current: Option<StoredWorker> = {
        let mut st =
            conn.prepare_cached(&format!("SELECT {COLS} FROM staff s WHERE s.staff_id = ?1"))?;
        let mut rows = st.query([&w.staff_id])?;
        match rows.next()? {
            Some(r) => Some(worker_row(r)?),
            None => None,
        }
    };
    let outcome = match &current {
        Some(c) if c.worker.merchant_id != w.merchant_id => return Ok(Upserted::IdTaken),
        Some(c) if c.worker == *w => return Ok(Upserted::Unchanged),
        Some(_) => Upserted::Changed,
        None => Upserted::Created,
    };
    if merchant_of(conn, &w.merchant_id)?.is_none() {
        return Err(StoreError::NotFound("商户"));
    }
    conn.prepare_cached(
        "INSERT INTO staff (staff_id, merchant_id, name, role, certificate_no, issued_on, expires_on, photo,
             recorded_at, recorded_by)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
         ON CONFLICT(staff_id) DO UPDATE SET name = excluded.name, role = excluded.role,
             certificate_no = excluded.certificate_no, issued_on = excluded.issued_on,
             expires_on = excluded.expires_on, photo = excluded.photo,
             recorded_at = excluded.recorded_at, recorded_by = excluded.recorded_by",
    )?
    .execute(params![
        w.staff_id,
        w.merchant_id,
        w.name,
        w.role,
        w.certificate_no,
        w.issued_on.map(|d| d.to_string()),
        w.expires_on.map(|d| d.to_string()),
        w.photo,
        ts(&now),
        user_id,
    ])?;
    log(conn, w, "upsert", user_id, now)?;
    after_change(conn, &w.merchant_id, now)?;
    Ok(outcome)
}

fn remove(
    conn: &Connection,
    r: &Removal,
    user_id: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let current: Option<StoredWorker> = {
        let mut st = conn.prepare_cached(&format!(
            "SELECT {COLS} FROM staff s WHERE s.staff_id = ?1 AND s.merchant_id = ?2"
        ))?;
        let mut rows = st.query([&r.staff_id, &r.merchant_id])?;
        match rows.next()? {
            Some(row) => Some(worker_row(row)?),
            None => None,
        }
    };
    let Some(current) = current else {
        return Ok(false);
    };
    conn.prepare_cached("DELETE FROM staff WHERE staff_id = ?1")?
        .execute([&r.staff_id])?;
    log(conn, &current.worker, "remove", user_id, now)?;
    after_change(conn, &r.merchant_id, now)?;
    Ok(true)
}

/// Every merchant's health-certificate candidates as of `now` (the full
/// pass in `alerts::scan` and the periodic check).
pub(super) fn alert_candidates(
    conn: &Connection,
    now: DateTime<Utc>,
) -> Result<Vec<Candidate>, StoreError> {
    let mut workers: HashMap<String, Vec<(Worker, DateTime<Utc>)>> = HashMap::new();
    {
        let mut st = conn.prepare_cached(&format!("SELECT {COLS} FROM staff s"))?;
        let mut rows = st.query([])?;
        while let Some(r) = rows.next()? {
            let w = worker_row(r)?;
            workers
                .entry(w.worker.merchant_id.clone())
                .or_default()
                .push((w.worker, w.recorded_at));
        }
    }
    let rules = StaffRules::builtin();
    let mut out = Vec::new();
    let mut st = conn.prepare_cached("SELECT id, name, market_id FROM merchants")?;
    let rows = st.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, Option<String>>(2)?,
        ))
    })?;
    for row in rows {
        let (id, name, market_id) = row?;
        let workers = workers.remove(&id).unwrap_or_default();
        // Only a merchant that recorded nobody needs its sales (read by its
        // index: a scan of the whole ledger would hold the writer).
        let (first, last) = if workers.is_empty() {
            sales_of(conn, &id)?
        } else {
            (None, None)
        };
        let facts = StaffFacts {
            workers,
            merchant_id: id,
            name,
            market_id,
            first_sale_at: first,
            last_sale_at: last,
        };
        out.extend(detect(rules, &facts, now));
    }
    Ok(out)
}

impl StaffTx for PushTxn<'_> {
    fn upsert_worker_in(
        &mut self,
        w: &Worker,
        user_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Upserted, StoreError> {
        upsert(self.0, w, user_id, now)
    }

    fn remove_worker_in(
        &mut self,
        r: &Removal,
        user_id: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        remove(self.0, r, user_id, now)
    }
}

impl StaffStore for SqliteStore {
    fn upsert_worker(
        &self,
        w: Worker,
        user_id: String,
        now: DateTime<Utc>,
    ) -> StoreFuture<'_, Upserted> {
        Box::pin(
            self.writer()
                .call(move |conn| -> Result<Upserted, StoreError> {
                    let tx = conn.transaction()?;
                    let done = upsert(&tx, &w, &user_id, now)?;
                    tx.commit()?;
                    Ok(done)
                }),
        )
    }

    fn remove_worker(
        &self,
        r: Removal,
        user_id: String,
        now: DateTime<Utc>,
    ) -> StoreFuture<'_, bool> {
        Box::pin(self.writer().call(move |conn| -> Result<bool, StoreError> {
            let tx = conn.transaction()?;
            let done = remove(&tx, &r, &user_id, now)?;
            tx.commit()?;
            Ok(done)
        }))
    }

    fn staff_of(&self, merchant_id: String) -> StoreFuture<'_, Vec<StoredWorker>> {
        Box::pin(
            self.readers()
                .call(move |conn| staff_of(conn, &merchant_id)),
        )
    }

    fn staff_of_market(&self, market_id: String) -> StoreFuture<'_, Vec<MarketWorker>> {
        Box::pin(self.readers().call(move |conn| -> Result<_, StoreError> {
            let mut st = conn.prepare_cached(&format!(
                "SELECT {COLS}, m.name, m.stall FROM staff s JOIN merchants m ON m.id = s.merchant_id
                 WHERE m.market_id = ?1 ORDER BY m.name, m.id, s.name, s.staff_id"
            ))?;
            let mut rows = st.query([&market_id])?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                out.push(MarketWorker {
                    stored: worker_row(r)?,
                    merchant_name: r.get(10)?,
                    stall: r.get(11)?,
                });
            }
            Ok(out)
        }))
    }

    fn check_staff(&self, now: DateTime<Utc>) -> StoreFuture<'_, u64> {
        Box::pin(async move {
            // Judged on a reader's snapshot, raised by the writer: the
            // store's identity rule (kind + merchant) keeps a warning seen
            // again from being raised twice.
            let candidates = self
                .readers()
                .call(move |conn| alert_candidates(conn, now))
                .await?;
            self.writer()
                .call(move |conn| -> Result<u64, StoreError> {
                    let tx = conn.transaction()?;
                    let raised = super::alerts::raise(&tx, &candidates, now)?;
                    tx.commit()?;
                    Ok(raised)
                })
                .await
        })
    }
}
