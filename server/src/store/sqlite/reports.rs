//! [`ReportStore`] for the SQLite backend: tables of component `reports`.
//!
//! No column holds anything about the sender (address, agent, account) or
//! the receipt itself; days are `YYYY-MM-DD` text (see
//! [`crate::store::reports`] for why not instants).

use chrono::NaiveDate;
use rusqlite::{params, Connection, OptionalExtension, Row};
use serde_json::json;
use shian_core::reports::{Priority, ReportStatus};

use super::migrate::{self, Migration};
use super::sync::publish;
use super::SqliteStore;
use crate::store::reports::{
    ActionRefused, Author, NewReport, NewReportPhoto, PhotoMeta, ReportAction, ReportFilter,
    ReportMessage, ReportStore, StoredReport,
};
use crate::store::{StoreError, StoreFuture};

/// The schema of component `reports`.
pub const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "anonymous reports, their messages and photos",
    sql: r#"
    CREATE TABLE reports (
        id              TEXT PRIMARY KEY,
        -- argon2id of the receipt under the server's secret salt.
        receipt_hash    BLOB NOT NULL UNIQUE,
        category        TEXT NOT NULL,
        description     TEXT NOT NULL,
        merchant_ref    TEXT,
        merchant_id     TEXT,
        location        TEXT,
        occurred_on     TEXT,
        received_on     TEXT NOT NULL,
        -- Order of arrival within a day, without a time.
        arrival         INTEGER NOT NULL,
        status          TEXT NOT NULL CHECK (status IN ('received','acknowledged','investigating','closed')),
        priority        TEXT NOT NULL CHECK (priority IN ('low','normal','high','urgent')),
        acknowledged_on TEXT,
        feedback_on     TEXT,
        closed_on       TEXT,
        close_note      TEXT,
        assigned_to     TEXT,
        task_id         TEXT
    ) STRICT;
    CREATE INDEX reports_by_status ON reports (status, received_on);
    CREATE TABLE report_messages (
        report_id TEXT NOT NULL REFERENCES reports(id),
        seq       INTEGER NOT NULL,
        author    TEXT NOT NULL CHECK (author IN ('reporter','handler')),
        -- The handler's account (handlers are accountable; reporters are not).
        handler   TEXT,
        body      TEXT NOT NULL,
        sent_on   TEXT NOT NULL,
        PRIMARY KEY (report_id, seq)
    ) STRICT;
    CREATE TABLE report_photos (
        report_id TEXT NOT NULL REFERENCES reports(id),
        seq       INTEGER NOT NULL,
        sha256    TEXT NOT NULL,
        data      BLOB NOT NULL,
        width     INTEGER NOT NULL,
        height    INTEGER NOT NULL,
        added_on  TEXT NOT NULL,
        PRIMARY KEY (report_id, seq)
    ) STRICT;
    "#,
}];

/// Migrates the report tables (called by [`SqliteStore::open`]).
pub(super) fn open(conn: &mut Connection) -> Result<(), StoreError> {
    migrate::apply(conn, "reports", MIGRATIONS)?;
    Ok(())
}

fn day(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

fn conversion(i: usize, what: String) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        i,
        rusqlite::types::Type::Text,
        Box::<dyn std::error::Error + Send + Sync>::from(what),
    )
}

fn day_col(r: &Row<'_>, i: usize) -> rusqlite::Result<NaiveDate> {
    let s: String = r.get(i)?;
    s.parse().map_err(|_| conversion(i, format!("day '{s}'")))
}

fn opt_day_col(r: &Row<'_>, i: usize) -> rusqlite::Result<Option<NaiveDate>> {
    let s: Option<String> = r.get(i)?;
    s.map(|s| s.parse().map_err(|_| conversion(i, format!("day '{s}'"))))
        .transpose()
}

const COLUMNS: &str = "r.id, r.category, r.description, r.merchant_ref, r.merchant_id, m.name, r.location, r.occurred_on, r.received_on, r.status, r.priority, r.acknowledged_on, r.feedback_on, r.closed_on, r.close_note, r.assigned_to, r.task_id";

fn report_row(r: &Row<'_>) -> rusqlite::Result<StoredReport> {
    let status: String = r.get(9)?;
    let priority: String = r.get(10)?;
    Ok(StoredReport {
        id: r.get(0)?,
        category: r.get(1)?,
        description: r.get(2)?,
        merchant_ref: r.get(3)?,
        merchant_id: r.get(4)?,
        merchant_name: r.get(5)?,
        location: r.get(6)?,
        occurred_on: opt_day_col(r, 7)?,
        received_on: day_col(r, 8)?,
        status: ReportStatus::parse(&status).ok_or_else(|| conversion(9, status.clone()))?,
        priority: Priority::parse(&priority).ok_or_else(|| conversion(10, priority.clone()))?,
        acknowledged_on: opt_day_col(r, 11)?,
        feedback_on: opt_day_col(r, 12)?,
        closed_on: opt_day_col(r, 13)?,
        close_note: r.get(14)?,
        assigned_to: r.get(15)?,
        task_id: r.get(16)?,
        messages: Vec::new(),
        photos: Vec::new(),
    })
}

/// The report with its messages and photos, by a `WHERE` on `r`.
fn read_one(
    conn: &Connection,
    condition: &str,
    key: &dyn rusqlite::ToSql,
) -> Result<Option<StoredReport>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM reports r LEFT JOIN merchants m ON m.id = r.merchant_id WHERE {condition}"
    );
    let Some(mut report) = conn.query_row(&sql, [key], report_row).optional()? else {
        return Ok(None);
    };
    let mut st = conn.prepare_cached(
        "SELECT seq, author, body, sent_on FROM report_messages WHERE report_id = ?1 ORDER BY seq",
    )?;
    report.messages = st
        .query_map([&report.id], |r| {
            let author: String = r.get(1)?;
            Ok(ReportMessage {
                seq: r.get(0)?,
                author: if author == "handler" {
                    Author::Handler
                } else {
                    Author::Reporter
                },
                body: r.get(2)?,
                sent_on: day_col(r, 3)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut st = conn.prepare_cached(
        "SELECT seq, sha256, length(data), width, height FROM report_photos WHERE report_id = ?1 ORDER BY seq",
    )?;
    report.photos = st
        .query_map([&report.id], |r| {
            Ok(PhotoMeta {
                seq: r.get(0)?,
                sha256: r.get(1)?,
                size: r.get::<_, i64>(2)?.max(0) as u64,
                width: r.get::<_, i64>(3)?.clamp(0, i64::from(u32::MAX)) as u32,
                height: r.get::<_, i64>(4)?.clamp(0, i64::from(u32::MAX)) as u32,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(Some(report))
}

fn by_hash(conn: &Connection, hash: &[u8]) -> Result<Option<(String, ReportStatus)>, StoreError> {
    let row: Option<(String, String)> = conn
        .query_row(
            "SELECT id, status FROM reports WHERE receipt_hash = ?1",
            [hash],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    row.map(|(id, s)| match ReportStatus::parse(&s) {
        Some(status) => Ok((id, status)),
        None => Err(StoreError::Corrupt(format!("report status '{s}'"))),
    })
    .transpose()
}

fn add_message(
    tx: &Connection,
    report_id: &str,
    author: Author,
    handler: Option<&str>,
    body: &str,
    on: NaiveDate,
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO report_messages (report_id, seq, author, handler, body, sent_on)
         VALUES (?1, (SELECT COALESCE(MAX(seq), 0) + 1 FROM report_messages WHERE report_id = ?1), ?2, ?3, ?4, ?5)",
        params![report_id, author.as_str(), handler, body, day(on)],
    )?;
    Ok(())
}

fn insert_photo(
    tx: &Connection,
    report_id: &str,
    seq: i64,
    p: &NewReportPhoto,
    on: NaiveDate,
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO report_photos (report_id, seq, sha256, data, width, height, added_on)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            report_id,
            seq,
            p.sha256,
            p.bytes,
            i64::from(p.width),
            i64::from(p.height),
            day(on)
        ],
    )?;
    Ok(())
}

fn act(
    conn: &mut Connection,
    id: &str,
    action: &ReportAction,
    by: &str,
    on: NaiveDate,
) -> Result<Result<StoredReport, ActionRefused>, StoreError> {
    let tx = conn.transaction()?;
    let Some(current) = read_one(&tx, "r.id = ?1", &id)? else {
        return Ok(Err(ActionRefused::NoSuchReport));
    };
    if current.status == ReportStatus::Closed {
        return Ok(Err(ActionRefused::Closed));
    }
    let today = day(on);
    match action {
        ReportAction::Triage {
            status,
            category,
            priority,
        } => {
            if let Some(to) = *status {
                if !current.status.may_become(to) {
                    return Ok(Err(ActionRefused::BadTransition {
                        from: current.status,
                        to,
                    }));
                }
                if to == ReportStatus::Closed {
                    // Closing goes through `Close`, which needs the note.
                    return Ok(Err(ActionRefused::BadTransition {
                        from: current.status,
                        to,
                    }));
                }
                tx.execute(
                    "UPDATE reports SET status = ?2, acknowledged_on = COALESCE(acknowledged_on, ?3) WHERE id = ?1",
                    params![id, to.as_str(), today],
                )?;
            }
            if let Some(c) = category {
                tx.execute(
                    "UPDATE reports SET category = ?2 WHERE id = ?1",
                    params![id, c],
                )?;
            }
            if let Some(p) = priority {
                tx.execute(
                    "UPDATE reports SET priority = ?2 WHERE id = ?1",
                    params![id, p.as_str()],
                )?;
            }
        }
        ReportAction::Reply { body } => {
            add_message(&tx, id, Author::Handler, Some(by), body, on)?;
            tx.execute(
                // A reply acknowledges receipt too, if nothing did before.
                "UPDATE reports SET feedback_on = COALESCE(feedback_on, ?2), acknowledged_on = COALESCE(acknowledged_on, ?2),
                        status = CASE status WHEN 'received' THEN 'acknowledged' ELSE status END
                 WHERE id = ?1",
                params![id, today],
            )?;
        }
        ReportAction::Assign { inspector_id } => {
            let role: Option<String> = tx
                .query_row(
                    "SELECT role FROM users WHERE id = ?1",
                    [inspector_id],
                    |r| r.get(0),
                )
                .optional()?;
            if role.as_deref() != Some("inspector") {
                return Ok(Err(ActionRefused::NotAnInspector));
            }
            // One task per report: assigning again hands the same task on
            // (its inbox key stays), and the previous inspector is told.
            let task_id = current
                .task_id
                .clone()
                .unwrap_or_else(|| format!("report-{id}"));
            let region: Option<String> = match &current.merchant_id {
                Some(m) => tx
                    .query_row(
                        "SELECT region_code FROM merchants WHERE id = ?1",
                        [m],
                        |r| r.get(0),
                    )
                    .optional()?,
                None => None,
            };
            let payload = json!({
                "id": task_id,
                "task_id": task_id,
                "source": "report",
                "report_id": id,
                "category": current.category,
                "description": current.description,
                "merchant_ref": current.merchant_ref,
                "merchant_id": current.merchant_id,
                "merchant_name": current.merchant_name,
                "region_code": region,
                "location": current.location,
                "occurred_on": current.occurred_on.map(day),
                "priority": current.priority.as_str(),
                "inspectors": [inspector_id],
                "assigned_on": today,
            });
            publish(&tx, "task", None, None, Some(inspector_id), &payload)?;
            if let Some(prev) = current.assigned_to.as_deref().filter(|p| p != inspector_id) {
                let withdrawn = json!({"id": task_id, "task_id": task_id, "source": "report", "withdrawn": true, "inspectors": [inspector_id]});
                publish(&tx, "task", None, None, Some(prev), &withdrawn)?;
            }
            // Handing it to an inspector is investigating it.
            let status = if current.status < ReportStatus::Investigating {
                ReportStatus::Investigating
            } else {
                current.status
            };
            tx.execute(
                "UPDATE reports SET assigned_to = ?2, task_id = ?3, status = ?4, acknowledged_on = COALESCE(acknowledged_on, ?5) WHERE id = ?1",
                params![id, inspector_id, task_id, status.as_str(), today],
            )?;
        }
        ReportAction::Close { note } => {
            add_message(&tx, id, Author::Handler, Some(by), note, on)?;
            tx.execute(
                "UPDATE reports SET status = 'closed', closed_on = ?2, close_note = ?3,
                        acknowledged_on = COALESCE(acknowledged_on, ?2), feedback_on = COALESCE(feedback_on, ?2)
                 WHERE id = ?1",
                params![id, today, note],
            )?;
        }
    }
    let after = read_one(&tx, "r.id = ?1", &id)?.ok_or(StoreError::NotFound("举报"))?;
    tx.commit()?;
    Ok(Ok(after))
}

impl ReportStore for SqliteStore {
    fn create_report(&self, r: NewReport) -> StoreFuture<'_, ()> {
        Box::pin(self.writer().call(move |conn| -> Result<(), StoreError> {
            let tx = conn.transaction()?;
            let taken: bool = tx
                .query_row(
                    "SELECT 1 FROM reports WHERE receipt_hash = ?1",
                    [&r.receipt_hash],
                    |_| Ok(true),
                )
                .optional()?
                .unwrap_or(false);
            if taken {
                return Err(StoreError::conflict("receipt_taken", "回执码重复，请重试"));
            }
            let received = day(r.received_on);
            tx.execute(
                "INSERT INTO reports (id, receipt_hash, category, description, merchant_ref, merchant_id, location,
                                      occurred_on, received_on, arrival, status, priority)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9,
                         (SELECT COALESCE(MAX(arrival), 0) + 1 FROM reports WHERE received_on = ?9),
                         'received', 'normal')",
                params![
                    r.id,
                    r.receipt_hash,
                    r.category,
                    r.description,
                    r.merchant_ref,
                    r.merchant_id,
                    r.location,
                    r.occurred_on.map(day),
                    received
                ],
            )?;
            for (i, p) in r.photos.iter().enumerate() {
                insert_photo(&tx, &r.id, i as i64 + 1, p, r.received_on)?;
            }
            tx.commit()?;
            Ok(())
        }))
    }

    fn report_by_receipt(&self, receipt_hash: Vec<u8>) -> StoreFuture<'_, Option<StoredReport>> {
        Box::pin(
            self.readers()
                .call(move |conn| read_one(conn, "r.receipt_hash = ?1", &receipt_hash)),
        )
    }

    fn report(&self, id: String) -> StoreFuture<'_, Option<StoredReport>> {
        Box::pin(
            self.readers()
                .call(move |conn| read_one(conn, "r.id = ?1", &id)),
        )
    }

    fn add_reporter_message(
        &self,
        receipt_hash: Vec<u8>,
        body: String,
        on: NaiveDate,
    ) -> StoreFuture<'_, Option<bool>> {
        Box::pin(
            self.writer()
                .call(move |conn| -> Result<Option<bool>, StoreError> {
                    let tx = conn.transaction()?;
                    let Some((id, status)) = by_hash(&tx, &receipt_hash)? else {
                        return Ok(None);
                    };
                    if status == ReportStatus::Closed {
                        return Ok(Some(false));
                    }
                    add_message(&tx, &id, Author::Reporter, None, &body, on)?;
                    tx.commit()?;
                    Ok(Some(true))
                }),
        )
    }

    fn add_report_photo(
        &self,
        receipt_hash: Vec<u8>,
        photo: NewReportPhoto,
        on: NaiveDate,
        max: u32,
    ) -> StoreFuture<'_, Option<bool>> {
        Box::pin(
            self.writer()
                .call(move |conn| -> Result<Option<bool>, StoreError> {
                    let tx = conn.transaction()?;
                    let Some((id, status)) = by_hash(&tx, &receipt_hash)? else {
                        return Ok(None);
                    };
                    let count: i64 = tx.query_row(
                        "SELECT COUNT(*) FROM report_photos WHERE report_id = ?1",
                        [&id],
                        |r| r.get(0),
                    )?;
                    if status == ReportStatus::Closed || count >= i64::from(max) {
                        return Ok(Some(false));
                    }
                    insert_photo(&tx, &id, count + 1, &photo, on)?;
                    tx.commit()?;
                    Ok(Some(true))
                }),
        )
    }

    fn report_photo(&self, report_id: String, seq: i64) -> StoreFuture<'_, Option<Vec<u8>>> {
        Box::pin(self.readers().call(move |conn| {
            Ok(conn
                .query_row(
                    "SELECT data FROM report_photos WHERE report_id = ?1 AND seq = ?2",
                    params![report_id, seq],
                    |r| r.get(0),
                )
                .optional()?)
        }))
    }

    fn list_reports(&self, f: ReportFilter) -> StoreFuture<'_, (Vec<StoredReport>, u64)> {
        Box::pin(self.readers().call(
            move |conn| -> Result<(Vec<StoredReport>, u64), StoreError> {
                let status = f.status.map(ReportStatus::as_str);
                let total: i64 = conn.query_row(
                    "SELECT COUNT(*) FROM reports WHERE ?1 IS NULL OR status = ?1",
                    [status],
                    |r| r.get(0),
                )?;
                let sql = format!(
                    "SELECT {COLUMNS} FROM reports r LEFT JOIN merchants m ON m.id = r.merchant_id
                     WHERE ?1 IS NULL OR r.status = ?1
                     ORDER BY r.received_on DESC, r.arrival DESC LIMIT ?2 OFFSET ?3"
                );
                let mut st = conn.prepare_cached(&sql)?;
                let rows = st
                    .query_map(
                        params![status, i64::from(f.limit), i64::from(f.offset)],
                        report_row,
                    )?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                Ok((rows, total.max(0) as u64))
            },
        ))
    }

    fn act_on_report(
        &self,
        report_id: String,
        action: ReportAction,
        by: String,
        on: NaiveDate,
    ) -> StoreFuture<'_, Result<StoredReport, ActionRefused>> {
        Box::pin(
            self.writer()
                .call(move |conn| act(conn, &report_id, &action, &by, on)),
        )
    }
}
