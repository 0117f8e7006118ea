//! [`FeedbackStore`] for the SQLite backend (component `"feedback"`), the
//! feedback ops' side of the push transaction ([`FeedbackTx`]) and the
//! complaint counts the risk grade reads.

use std::collections::HashMap;

use chrono::NaiveDate;
use rusqlite::{params, Connection, OptionalExtension, Row};
use shian_core::complaints::{
    counts_in_risk_grade, CloseResult, ComplaintCategory, ComplaintStatus,
};

use super::migrate::{self, Migration};
use super::sync::{publish, PushTxn};
use super::timestamps::ts;
use super::SqliteStore;
use crate::store::feedback::{
    ComplaintFilter, FeedbackStore, FeedbackTx, FeedbackWrite, NewComplaint, NewRating,
    RatingSummary, RatingValue, StoredComplaint,
};
use crate::store::field::NewChange;
use crate::store::{Page, StoreError, StoreFuture};

/// The feedback tables. No column names the sender, and dates carry no
/// time of day (see `store::feedback`).
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "ratings, complaints, complaint actions",
        sql: r#"
    CREATE TABLE ratings (
        id            INTEGER PRIMARY KEY,
        merchant_id   TEXT NOT NULL,
        hygiene       TEXT NOT NULL CHECK (hygiene IN ('good', 'fair', 'poor')),
        freshness     TEXT NOT NULL CHECK (freshness IN ('good', 'fair', 'poor')),
        price_honesty TEXT NOT NULL CHECK (price_honesty IN ('good', 'fair', 'poor')),
        rated_on      TEXT NOT NULL
    );
    CREATE INDEX ratings_by_merchant ON ratings(merchant_id, rated_on);

    -- The photo, when there is one, is a row of the field `attachments`
    -- table (content-addressed, already stripped of metadata).
    CREATE TABLE complaints (
        id           TEXT PRIMARY KEY,
        merchant_id  TEXT NOT NULL,
        category     TEXT NOT NULL,
        text         TEXT NOT NULL,
        photo_sha256 TEXT,
        received_on  TEXT NOT NULL
    );
    CREATE INDEX complaints_by_merchant ON complaints(merchant_id, received_on);

    -- One row per inspector action: accept or refuse once, close once.
    CREATE TABLE complaint_actions (
        complaint_id TEXT NOT NULL REFERENCES complaints(id),
        action       TEXT NOT NULL CHECK (action IN ('accept', 'refuse', 'close')),
        detail       TEXT,
        note         TEXT,
        decided_on   TEXT NOT NULL,
        user_id      TEXT NOT NULL,
        recorded_at  TEXT NOT NULL,
        PRIMARY KEY (complaint_id, action)
    );
    "#,
    },
    Migration {
        version: 2,
        name: "the product a complaint names (the hot-topic warnings group by it)",
        sql: "ALTER TABLE complaints ADD COLUMN product TEXT;",
    },
];

/// Migrates the feedback tables (after the field tables: photos go into
/// their `attachments`).
pub(super) fn open(conn: &mut Connection) -> Result<(), StoreError> {
    migrate::apply(conn, "feedback", MIGRATIONS)?;
    Ok(())
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

fn date(s: &str) -> Result<NaiveDate, StoreError> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|e| corrupt("feedback date", e))
}

fn opt_date(s: Option<String>) -> Result<Option<NaiveDate>, StoreError> {
    s.as_deref().map(date).transpose()
}

/// The columns [`complaint_row`] reads, joined with its decision and close.
const COMPLAINT_SELECT: &str =
    "SELECT c.id, c.merchant_id, m.name, m.region_code, c.category, c.text, c.photo_sha256,
        c.received_on, d.action, d.decided_on, d.detail, x.decided_on, x.detail, x.note, c.product
     FROM complaints c
     JOIN merchants m ON m.id = c.merchant_id
     LEFT JOIN complaint_actions d ON d.complaint_id = c.id AND d.action IN ('accept', 'refuse')
     LEFT JOIN complaint_actions x ON x.complaint_id = c.id AND x.action = 'close'";

/// A row's text, typed later (a bad value is a corrupt row, not a panic).
type RawComplaint = (
    [String; 6],
    Option<String>,
    String,
    [Option<String>; 6],
    Option<String>,
);

fn raw(r: &Row<'_>) -> rusqlite::Result<RawComplaint> {
    Ok((
        [
            r.get(0)?,
            r.get(1)?,
            r.get(2)?,
            r.get(3)?,
            r.get(4)?,
            r.get(5)?,
        ],
        r.get(6)?,
        r.get(7)?,
        [
            r.get(8)?,
            r.get(9)?,
            r.get(10)?,
            r.get(11)?,
            r.get(12)?,
            r.get(13)?,
        ],
        r.get(14)?,
    ))
}

fn complaint_row(raw: RawComplaint) -> Result<StoredComplaint, StoreError> {
    let (
        [id, merchant_id, merchant_name, region_code, category, text],
        photo,
        received,
        acts,
        product,
    ) = raw;
    let [decision, decided_on, reason, closed_on, result, close_note] = acts;
    let status = match (decision.as_deref(), closed_on.is_some()) {
        (_, true) => ComplaintStatus::Closed,
        (Some("accept"), false) => ComplaintStatus::Accepted,
        (Some("refuse"), false) => ComplaintStatus::Refused,
        _ => ComplaintStatus::Received,
    };
    let result = result
        .as_deref()
        .map(|r| CloseResult::parse(r).ok_or_else(|| corrupt("complaint result", r)))
        .transpose()?;
    Ok(StoredComplaint {
        category: ComplaintCategory::parse(&category)
            .ok_or_else(|| corrupt("complaint category", &category))?,
        id,
        merchant_id,
        merchant_name,
        region_code,
        product,
        text,
        photo_sha256: photo,
        received_on: date(&received)?,
        status,
        decided_on: opt_date(decided_on)?,
        refusal_reason: reason.filter(|_| status == ComplaintStatus::Refused),
        closed_on: opt_date(closed_on)?,
        result,
        close_note,
    })
}

fn read_complaint(conn: &Connection, id: &str) -> Result<Option<StoredComplaint>, StoreError> {
    conn.prepare_cached(&format!("{COMPLAINT_SELECT} WHERE c.id = ?1"))?
        .query_row([id], raw)
        .optional()?
        .map(complaint_row)
        .transpose()
}

/// The status condition of the list, in the terms of [`COMPLAINT_SELECT`].
fn status_sql(s: Option<ComplaintStatus>) -> &'static str {
    match s {
        None => "1",
        Some(ComplaintStatus::Received) => "d.action IS NULL AND x.action IS NULL",
        Some(ComplaintStatus::Accepted) => "d.action = 'accept' AND x.action IS NULL",
        Some(ComplaintStatus::Refused) => "d.action = 'refuse'",
        Some(ComplaintStatus::Closed) => "x.action IS NOT NULL",
    }
}

fn list(conn: &Connection, f: &ComplaintFilter) -> Result<Page<StoredComplaint>, StoreError> {
    let region = f.region.clone().unwrap_or_default();
    let filter = format!(
        "WHERE substr(m.region_code, 1, length(?1)) = ?1 AND {}",
        status_sql(f.status)
    );
    let total: i64 = conn.query_row(
        &format!("SELECT COUNT(*) FROM ({COMPLAINT_SELECT} {filter})"),
        [&region],
        |r| r.get(0),
    )?;
    let mut st = conn.prepare(&format!(
        "{COMPLAINT_SELECT} {filter} ORDER BY c.received_on DESC, c.rowid DESC LIMIT ?2 OFFSET ?3"
    ))?;
    let rows = st.query_map(params![region, f.limit, f.offset], raw)?;
    let items = rows
        .map(|r| complaint_row(r?))
        .collect::<Result<Vec<_>, StoreError>>()?;
    Ok(Page {
        items,
        total: u64::try_from(total).unwrap_or(0),
        limit: f.limit,
        offset: f.offset,
    })
}

fn summary(
    conn: &Connection,
    merchant_id: &str,
    since: NaiveDate,
) -> Result<RatingSummary, StoreError> {
    let mut s = RatingSummary {
        since,
        ..RatingSummary::default()
    };
    let since = since.to_string();
    s.total = conn.query_row(
        "SELECT COUNT(*) FROM ratings WHERE merchant_id = ?1 AND rated_on >= ?2",
        params![merchant_id, since],
        |r| r.get::<_, i64>(0),
    )? as u64;
    for (column, counts) in [
        ("hygiene", &mut s.hygiene),
        ("freshness", &mut s.freshness),
        ("price_honesty", &mut s.price_honesty),
    ] {
        // `column` is one of the three names above, never input.
        let mut st = conn.prepare_cached(&format!(
            "SELECT {column}, COUNT(*) FROM ratings WHERE merchant_id = ?1 AND rated_on >= ?2 GROUP BY {column}"
        ))?;
        let mut rows = st.query(params![merchant_id, since])?;
        while let Some(r) = rows.next()? {
            let v: String = r.get(0)?;
            let n: i64 = r.get(1)?;
            let v = RatingValue::parse(&v).ok_or_else(|| corrupt("rating value", &v))?;
            counts.add(v, u64::try_from(n).unwrap_or(0));
        }
    }
    Ok(s)
}

fn publish_change(conn: &Connection, c: &NewChange) -> Result<(), StoreError> {
    publish(
        conn,
        c.kind,
        c.merchant_id.as_deref(),
        c.region_code.as_deref(),
        c.user_id.as_deref(),
        &c.payload,
    )?;
    Ok(())
}

/// Per merchant, its complaints received on or after `since` that weigh in
/// the risk grade (core's [`counts_in_risk_grade`]). Read by the risk
/// facts (`field.rs`).
pub(super) fn complaint_counts(
    conn: &Connection,
    since: NaiveDate,
) -> Result<HashMap<String, u16>, StoreError> {
    let mut st = conn.prepare(&format!("{COMPLAINT_SELECT} WHERE c.received_on >= ?1"))?;
    let rows = st.query_map([since.to_string()], raw)?;
    let mut out: HashMap<String, u16> = HashMap::new();
    for r in rows {
        let c = complaint_row(r?)?;
        if counts_in_risk_grade(c.status, c.result) {
            let n = out.entry(c.merchant_id).or_default();
            *n = n.saturating_add(1);
        }
    }
    Ok(out)
}

/// A complaint that weighs, as the warnings engine reads it.
pub(super) struct Weighing {
    pub id: String,
    pub merchant_id: String,
    pub received_on: NaiveDate,
    pub product: Option<String>,
}

/// Complaints received since `since` that weigh (as in the risk grade),
/// for the warnings engine.
pub(super) fn weighing_complaints(
    conn: &Connection,
    since: NaiveDate,
) -> Result<Vec<Weighing>, StoreError> {
    let mut st = conn.prepare(&format!("{COMPLAINT_SELECT} WHERE c.received_on >= ?1"))?;
    let rows = st.query_map([since.to_string()], raw)?;
    let mut out = Vec::new();
    for r in rows {
        let c = complaint_row(r?)?;
        if counts_in_risk_grade(c.status, c.result) {
            out.push(Weighing {
                id: c.id,
                merchant_id: c.merchant_id,
                received_on: c.received_on,
                product: c.product,
            });
        }
    }
    Ok(out)
}

impl FeedbackTx for PushTxn<'_> {
    fn complaint_for_op(&self, id: &str) -> Result<Option<StoredComplaint>, StoreError> {
        read_complaint(self.0, id)
    }

    fn persist_feedback(&mut self, writes: &[FeedbackWrite]) -> Result<(), StoreError> {
        let tx = self.0;
        tx.execute_batch("SAVEPOINT feedback_op")?;
        let run = || -> Result<(), StoreError> {
            for w in writes {
                match w {
                    FeedbackWrite::Action(a) => {
                        tx.prepare_cached(
                            "INSERT INTO complaint_actions (complaint_id, action, detail, note, decided_on, user_id, recorded_at)
                             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                        )?
                        .execute(params![
                            a.complaint_id,
                            a.action.as_str(),
                            a.detail,
                            a.note,
                            a.decided_on.to_string(),
                            a.user_id,
                            ts(&crate::store::now()),
                        ])?;
                    }
                    FeedbackWrite::Publish(c) => publish_change(tx, c)?,
                }
            }
            Ok(())
        };
        match run() {
            Ok(()) => {
                tx.execute_batch("RELEASE feedback_op")?;
                Ok(())
            }
            Err(e) => {
                tx.execute_batch("ROLLBACK TO feedback_op; RELEASE feedback_op")?;
                Err(e)
            }
        }
    }
}

impl FeedbackStore for SqliteStore {
    fn add_rating(&self, r: NewRating) -> StoreFuture<'_, ()> {
        Box::pin(self.writer().call(move |conn| -> Result<(), StoreError> {
            conn.prepare_cached(
                "INSERT INTO ratings (merchant_id, hygiene, freshness, price_honesty, rated_on) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![
                r.merchant_id,
                r.rating.hygiene.as_str(),
                r.rating.freshness.as_str(),
                r.rating.price_honesty.as_str(),
                r.rated_on.to_string(),
            ])?;
            Ok(())
        }))
    }

    fn rating_summary(
        &self,
        merchant_id: String,
        since: NaiveDate,
    ) -> StoreFuture<'_, RatingSummary> {
        Box::pin(
            self.readers()
                .call(move |conn| summary(conn, &merchant_id, since)),
        )
    }

    fn add_complaint(&self, c: NewComplaint) -> StoreFuture<'_, ()> {
        let windows = self.price_windows();
        Box::pin(self.writer().call(move |conn| -> Result<(), StoreError> {
            let tx = conn.transaction()?;
            if let Some(p) = &c.photo {
                tx.execute(
                    "INSERT OR IGNORE INTO attachments (sha256, size, content_type, data, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                    // The day only, as the complaint keeps: no time to match a log by.
                    params![p.sha256, p.data.len() as i64, p.content_type, p.data, format!("{}T00:00:00.000Z", c.received_on)],
                )?;
            }
            tx.execute(
                "INSERT INTO complaints (id, merchant_id, category, text, photo_sha256, received_on, product) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    c.id,
                    c.merchant_id,
                    c.category.as_str(),
                    c.text,
                    c.photo.as_ref().map(|p| p.sha256.as_str()),
                    c.received_on.to_string(),
                    c.product,
                ],
            )?;
            publish_change(&tx, &c.change)?;
            // Its merchant's warnings, in the same transaction.
            super::alerts::mark(&tx, &c.merchant_id)?;
            super::alerts::refresh_in(&tx, &mut super::lock(&windows), crate::store::now())?;
            tx.commit()?;
            Ok(())
        }))
    }

    fn complaint(&self, id: String) -> StoreFuture<'_, Option<StoredComplaint>> {
        Box::pin(self.readers().call(move |conn| read_complaint(conn, &id)))
    }

    fn list_complaints(&self, filter: ComplaintFilter) -> StoreFuture<'_, Page<StoredComplaint>> {
        Box::pin(self.readers().call(move |conn| list(conn, &filter)))
    }
}
