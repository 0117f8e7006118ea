//! [`ReportStore`] on PostgreSQL, as `sqlite/reports.rs` keeps reports:
//! the tables of component `reports` (reference tables: few rows, looked
//! up by a receipt that names no district).
//!
//! No column holds anything about the sender (address, agent, account) or
//! the receipt itself (only its slow hash); days are `date`s, not instants
//! (see [`crate::store::reports`] for why). Messages and photos are
//! numbered by a count, not a time.
//!
//! SQLite's one writer numbers a day's arrivals and a report's messages
//! and photos one at a time; here writers run at once, so each write takes
//! the lock that makes its `MAX(…) + 1` safe: creating a report locks the
//! table against other creations (reports are few; reads go on), and a
//! write to a report locks the report's row first, which also keeps its
//! status as read until the write commits.

use chrono::NaiveDate;
use postgres::{GenericClient, Row};
use serde_json::json;
use shian_core::reports::{Priority, ReportStatus};

use super::feed::{publish, Audience};
use super::store::PgStore;
use crate::store::reports::{
    ActionRefused, Author, NewReport, NewReportPhoto, PhotoMeta, ReportAction, ReportFilter,
    ReportMessage, ReportStore, StoredReport,
};
use crate::store::{StoreError, StoreFuture};

fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("report {what}: {e}"))
}

/// A day as the change feed's payloads carry it (`YYYY-MM-DD`, as SQLite's).
fn day(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

const COLUMNS: &str = "r.id, r.category, r.description, r.merchant_ref, r.merchant_id, m.name, r.location, r.occurred_on, r.received_on, r.status, r.priority, r.acknowledged_on, r.feedback_on, r.closed_on, r.close_note, r.assigned_to, r.task_id";

fn report_row(r: &Row) -> Result<StoredReport, StoreError> {
    let status: String = r.try_get(9)?;
    let priority: String = r.try_get(10)?;
    Ok(StoredReport {
        id: r.try_get(0)?,
        category: r.try_get(1)?,
        description: r.try_get(2)?,
        merchant_ref: r.try_get(3)?,
        merchant_id: r.try_get(4)?,
        merchant_name: r.try_get(5)?,
        location: r.try_get(6)?,
        occurred_on: r.try_get(7)?,
        received_on: r.try_get(8)?,
        status: ReportStatus::parse(&status).ok_or_else(|| corrupt("status", &status))?,
        priority: Priority::parse(&priority).ok_or_else(|| corrupt("priority", &priority))?,
        acknowledged_on: r.try_get(11)?,
        feedback_on: r.try_get(12)?,
        closed_on: r.try_get(13)?,
        close_note: r.try_get(14)?,
        assigned_to: r.try_get(15)?,
        task_id: r.try_get(16)?,
        messages: Vec::new(),
        photos: Vec::new(),
    })
}

/// Which report [`read_one`] reads.
enum Key<'a> {
    Id(&'a str),
    Receipt(&'a [u8]),
}

/// The report with its messages and photos.
fn read_one(c: &mut impl GenericClient, key: Key<'_>) -> Result<Option<StoredReport>, StoreError> {
    let select =
        format!("SELECT {COLUMNS} FROM reports r LEFT JOIN merchants m ON m.id = r.merchant_id");
    let row = match key {
        Key::Id(id) => c.query_opt(&format!("{select} WHERE r.id = $1"), &[&id])?,
        Key::Receipt(hash) => {
            c.query_opt(&format!("{select} WHERE r.receipt_hash = $1"), &[&hash])?
        }
    };
    let Some(row) = row else {
        return Ok(None);
    };
    let mut report = report_row(&row)?;
    report.messages = c
        .query(
            "SELECT seq, author, body, sent_on FROM report_messages WHERE report_id = $1 ORDER BY seq",
            &[&report.id],
        )?
        .iter()
        .map(|r| {
            let author: String = r.try_get(1)?;
            Ok(ReportMessage {
                seq: i64::from(r.try_get::<_, i32>(0)?),
                author: if author == "handler" {
                    Author::Handler
                } else {
                    Author::Reporter
                },
                body: r.try_get(2)?,
                sent_on: r.try_get(3)?,
            })
        })
        .collect::<Result<_, postgres::Error>>()?;
    report.photos = c
        .query(
            "SELECT seq, sha256, length(data), width, height FROM report_photos WHERE report_id = $1 ORDER BY seq",
            &[&report.id],
        )?
        .iter()
        .map(|r| {
            Ok(PhotoMeta {
                seq: i64::from(r.try_get::<_, i32>(0)?),
                sha256: r.try_get(1)?,
                size: u64::try_from(r.try_get::<_, i32>(2)?).unwrap_or(0),
                width: u32::try_from(r.try_get::<_, i32>(3)?).unwrap_or(0),
                height: u32::try_from(r.try_get::<_, i32>(4)?).unwrap_or(0),
            })
        })
        .collect::<Result<_, postgres::Error>>()?;
    Ok(Some(report))
}

/// The report a receipt hash names, with its status, its row locked until
/// the transaction ends.
fn lock_by_hash(
    c: &mut impl GenericClient,
    hash: &[u8],
) -> Result<Option<(String, ReportStatus)>, StoreError> {
    let Some(r) = c.query_opt(
        "SELECT id, status FROM reports WHERE receipt_hash = $1 FOR UPDATE",
        &[&hash],
    )?
    else {
        return Ok(None);
    };
    let status: String = r.try_get(1)?;
    match ReportStatus::parse(&status) {
        Some(s) => Ok(Some((r.try_get(0)?, s))),
        None => Err(corrupt("status", &status)),
    }
}

/// Appends a message (the report's row is locked, so the number is free).
fn add_message(
    c: &mut impl GenericClient,
    report_id: &str,
    author: Author,
    handler: Option<&str>,
    body: &str,
    on: NaiveDate,
) -> Result<(), StoreError> {
    c.execute(
        "INSERT INTO report_messages (report_id, seq, author, handler, body, sent_on)
         VALUES ($1, (SELECT COALESCE(MAX(seq), 0) + 1 FROM report_messages WHERE report_id = $1), $2, $3, $4, $5)",
        &[&report_id, &author.as_str(), &handler, &body, &on],
    )?;
    Ok(())
}

fn insert_photo(
    c: &mut impl GenericClient,
    report_id: &str,
    seq: i32,
    p: &NewReportPhoto,
    on: NaiveDate,
) -> Result<(), StoreError> {
    let width = i32::try_from(p.width).map_err(|e| corrupt("photo width", e))?;
    let height = i32::try_from(p.height).map_err(|e| corrupt("photo height", e))?;
    c.execute(
        "INSERT INTO report_photos (report_id, seq, sha256, data, width, height, added_on)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        &[&report_id, &seq, &p.sha256, &p.bytes, &width, &height, &on],
    )?;
    Ok(())
}

fn create(c: &mut impl GenericClient, r: &NewReport) -> Result<(), StoreError> {
    let mut tx = c.transaction()?;
    // Creations one at a time: the day's arrival number and the receipt's
    // check hold until commit. SHARE ROW EXCLUSIVE conflicts with itself
    // and with no reader.
    tx.batch_execute("LOCK TABLE reports IN SHARE ROW EXCLUSIVE MODE")?;
    if tx
        .query_opt(
            "SELECT 1 FROM reports WHERE receipt_hash = $1",
            &[&r.receipt_hash],
        )?
        .is_some()
    {
        return Err(StoreError::conflict("receipt_taken", "回执码重复，请重试"));
    }
    tx.execute(
        "INSERT INTO reports (id, receipt_hash, category, description, merchant_ref, merchant_id, location,
                              occurred_on, received_on, arrival, status, priority)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9,
                 (SELECT COALESCE(MAX(arrival), 0) + 1 FROM reports WHERE received_on = $9),
                 'received', 'normal')",
        &[
            &r.id,
            &r.receipt_hash,
            &r.category,
            &r.description,
            &r.merchant_ref,
            &r.merchant_id,
            &r.location,
            &r.occurred_on,
            &r.received_on,
        ],
    )?;
    for (seq, p) in (1..).zip(&r.photos) {
        insert_photo(&mut tx, &r.id, seq, p, r.received_on)?;
    }
    tx.commit()?;
    Ok(())
}

fn add_reporter_message(
    c: &mut impl GenericClient,
    hash: &[u8],
    body: &str,
    on: NaiveDate,
) -> Result<Option<bool>, StoreError> {
    let mut tx = c.transaction()?;
    let Some((id, status)) = lock_by_hash(&mut tx, hash)? else {
        return Ok(None);
    };
    if status == ReportStatus::Closed {
        return Ok(Some(false));
    }
    add_message(&mut tx, &id, Author::Reporter, None, body, on)?;
    tx.commit()?;
    Ok(Some(true))
}

fn add_photo(
    c: &mut impl GenericClient,
    hash: &[u8],
    photo: &NewReportPhoto,
    on: NaiveDate,
    max: u32,
) -> Result<Option<bool>, StoreError> {
    let mut tx = c.transaction()?;
    let Some((id, status)) = lock_by_hash(&mut tx, hash)? else {
        return Ok(None);
    };
    let count: i64 = tx
        .query_one(
            "SELECT COUNT(*) FROM report_photos WHERE report_id = $1",
            &[&id],
        )?
        .try_get(0)?;
    if status == ReportStatus::Closed || count >= i64::from(max) {
        return Ok(Some(false));
    }
    let seq = i32::try_from(count + 1).map_err(|e| corrupt("photo count", e))?;
    insert_photo(&mut tx, &id, seq, photo, on)?;
    tx.commit()?;
    Ok(Some(true))
}

fn list(
    c: &mut impl GenericClient,
    f: &ReportFilter,
) -> Result<(Vec<StoredReport>, u64), StoreError> {
    let status = f.status.map(ReportStatus::as_str);
    let total: i64 = c
        .query_one(
            "SELECT COUNT(*) FROM reports WHERE $1::text IS NULL OR status = $1",
            &[&status],
        )?
        .try_get(0)?;
    let rows = c.query(
        &format!(
            "SELECT {COLUMNS} FROM reports r LEFT JOIN merchants m ON m.id = r.merchant_id
             WHERE $1::text IS NULL OR r.status = $1
             ORDER BY r.received_on DESC, r.arrival DESC LIMIT $2 OFFSET $3"
        ),
        &[&status, &i64::from(f.limit), &i64::from(f.offset)],
    )?;
    let reports = rows.iter().map(report_row).collect::<Result<_, _>>()?;
    Ok((reports, u64::try_from(total).unwrap_or(0)))
}

/// A change for one account's devices (an inspector's tasks).
fn to_user(user_id: &str) -> Audience<'_> {
    Audience {
        user_id: Some(user_id),
        ..Audience::default()
    }
}

/// A handler's action, in one transaction under the report's row lock.
fn act(
    c: &mut impl GenericClient,
    id: &str,
    action: &ReportAction,
    by: &str,
    on: NaiveDate,
) -> Result<Result<StoredReport, ActionRefused>, StoreError> {
    let mut tx = c.transaction()?;
    if tx
        .query_opt("SELECT 1 FROM reports WHERE id = $1 FOR UPDATE", &[&id])?
        .is_none()
    {
        return Ok(Err(ActionRefused::NoSuchReport));
    }
    let Some(current) = read_one(&mut tx, Key::Id(id))? else {
        return Ok(Err(ActionRefused::NoSuchReport));
    };
    if current.status == ReportStatus::Closed {
        return Ok(Err(ActionRefused::Closed));
    }
    match action {
        ReportAction::Triage {
            status,
            category,
            priority,
        } => {
            if let Some(to) = *status {
                // Closing goes through `Close`, which needs the note.
                if !current.status.may_become(to) || to == ReportStatus::Closed {
                    return Ok(Err(ActionRefused::BadTransition {
                        from: current.status,
                        to,
                    }));
                }
                tx.execute(
                    "UPDATE reports SET status = $2, acknowledged_on = COALESCE(acknowledged_on, $3) WHERE id = $1",
                    &[&id, &to.as_str(), &on],
                )?;
            }
            if let Some(c) = category {
                tx.execute("UPDATE reports SET category = $2 WHERE id = $1", &[&id, c])?;
            }
            if let Some(p) = priority {
                tx.execute(
                    "UPDATE reports SET priority = $2 WHERE id = $1",
                    &[&id, &p.as_str()],
                )?;
            }
        }
        ReportAction::Reply { body } => {
            add_message(&mut tx, id, Author::Handler, Some(by), body, on)?;
            tx.execute(
                // A reply acknowledges receipt too, if nothing did before.
                "UPDATE reports SET feedback_on = COALESCE(feedback_on, $2), acknowledged_on = COALESCE(acknowledged_on, $2),
                        status = CASE status WHEN 'received' THEN 'acknowledged' ELSE status END
                 WHERE id = $1",
                &[&id, &on],
            )?;
        }
        ReportAction::Assign { inspector_id } => {
            let role: Option<String> = tx
                .query_opt("SELECT role FROM users WHERE id = $1", &[inspector_id])?
                .map(|r| r.try_get(0))
                .transpose()?;
            if role.as_deref() != Some("inspector") {
                return Ok(Err(ActionRefused::NotAnInspector));
            }
            // One task per report: assigning again hands the same task on
            // (its inbox key stays), and the previous inspector is told.
            let task_id = current
                .task_id
                .clone()
                .unwrap_or_else(|| format!("report-{id}"));
            let region = match &current.merchant_id {
                Some(m) => super::district::of_merchant(&mut tx, m)?,
                None => None,
            };
            // Handing it to an inspector is investigating it.
            let status = current.status.max(ReportStatus::Investigating);
            tx.execute(
                "UPDATE reports SET assigned_to = $2, task_id = $3, status = $4, acknowledged_on = COALESCE(acknowledged_on, $5) WHERE id = $1",
                &[&id, inspector_id, &task_id, &status.as_str(), &on],
            )?;
            // The changes' sequencer last (see `feed.rs`).
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
                "assigned_on": day(on),
            });

            publish(&mut tx, "task", to_user(inspector_id), &payload)?;
            if let Some(prev) = current.assigned_to.as_deref().filter(|p| p != inspector_id) {
                let withdrawn = json!({"id": task_id, "task_id": task_id, "source": "report", "withdrawn": true, "inspectors": [inspector_id]});
                publish(&mut tx, "task", to_user(prev), &withdrawn)?;
            }
        }
        ReportAction::Close { note } => {
            add_message(&mut tx, id, Author::Handler, Some(by), note, on)?;
            tx.execute(
                "UPDATE reports SET status = 'closed', closed_on = $2, close_note = $3,
                        acknowledged_on = COALESCE(acknowledged_on, $2), feedback_on = COALESCE(feedback_on, $2)
                 WHERE id = $1",
                &[&id, &on, note],
            )?;
        }
    }
    let after = read_one(&mut tx, Key::Id(id))?.ok_or(StoreError::NotFound("举报"))?;
    tx.commit()?;
    Ok(Ok(after))
}

impl ReportStore for PgStore {
    fn create_report(&self, report: NewReport) -> StoreFuture<'_, ()> {
        Box::pin(self.pool.call(move |c| create(c, &report)))
    }

    fn report_by_receipt(&self, receipt_hash: Vec<u8>) -> StoreFuture<'_, Option<StoredReport>> {
        Box::pin(
            self.pool
                .call(move |c| read_one(c, Key::Receipt(&receipt_hash))),
        )
    }

    fn report(&self, id: String) -> StoreFuture<'_, Option<StoredReport>> {
        Box::pin(self.pool.call(move |c| read_one(c, Key::Id(&id))))
    }

    fn add_reporter_message(
        &self,
        receipt_hash: Vec<u8>,
        body: String,
        on: NaiveDate,
    ) -> StoreFuture<'_, Option<bool>> {
        Box::pin(
            self.pool
                .call(move |c| add_reporter_message(c, &receipt_hash, &body, on)),
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
            self.pool
                .call(move |c| add_photo(c, &receipt_hash, &photo, on, max)),
        )
    }

    fn report_photo(&self, report_id: String, seq: i64) -> StoreFuture<'_, Option<Vec<u8>>> {
        Box::pin(self.pool.call(move |c| {
            // A number past the column's range names no photo.
            let Ok(seq) = i32::try_from(seq) else {
                return Ok(None);
            };
            Ok(c.query_opt(
                "SELECT data FROM report_photos WHERE report_id = $1 AND seq = $2",
                &[&report_id, &seq],
            )?
            .map(|r| r.try_get(0))
            .transpose()?)
        }))
    }

    fn list_reports(&self, filter: ReportFilter) -> StoreFuture<'_, (Vec<StoredReport>, u64)> {
        Box::pin(self.pool.call(move |c| list(c, &filter)))
    }

    fn act_on_report(
        &self,
        report_id: String,
        action: ReportAction,
        by: String,
        on: NaiveDate,
    ) -> StoreFuture<'_, Result<StoredReport, ActionRefused>> {
        Box::pin(
            self.pool
                .call(move |c| act(c, &report_id, &action, &by, on)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::super::staff::block_on;
    use super::super::testing::{add_market, add_merchant, add_user, fresh};
    use super::*;

    fn d(day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 6, day).unwrap()
    }

    fn photo(n: u8) -> NewReportPhoto {
        NewReportPhoto {
            sha256: format!("sha{n}"),
            bytes: vec![n; 3 + usize::from(n)],
            width: 16,
            height: 9,
        }
    }

    fn new_report(id: &str, hash: &[u8], on: NaiveDate) -> NewReport {
        NewReport {
            id: id.into(),
            receipt_hash: hash.to_vec(),
            category: "hygiene".into(),
            description: format!("{id} 的描述"),
            merchant_ref: None,
            merchant_id: None,
            location: None,
            occurred_on: None,
            received_on: on,
            photos: Vec::new(),
        }
    }

    fn list(
        s: &PgStore,
        status: Option<ReportStatus>,
        limit: u32,
        offset: u32,
    ) -> (Vec<String>, u64) {
        let (rows, total) = block_on(s.list_reports(ReportFilter {
            status,
            limit,
            offset,
        }))
        .unwrap();
        (rows.into_iter().map(|r| r.id).collect(), total)
    }

    #[test]
    fn reports_are_filed_found_by_receipt_and_listed_newest_first() {
        let Some(db) = fresh() else { return };
        {
            let mut c = db.store.pool().get().unwrap();
            add_market(&mut *c, "mk1", "350203");
            add_merchant(&mut *c, "shop1", "350203", Some("mk1"));
        }
        let s = &db.store;
        let mut first = new_report("r1", b"hash-1", d(2));
        first.merchant_ref = Some("S-shop1".into());
        first.merchant_id = Some("shop1".into());
        first.location = Some("B 区".into());
        first.occurred_on = Some(d(1));
        first.photos = vec![photo(1), photo(2)];
        block_on(s.create_report(first)).unwrap();
        block_on(s.create_report(new_report("r2", b"hash-2", d(2)))).unwrap();
        block_on(s.create_report(new_report("r3", b"hash-3", d(1)))).unwrap();
        block_on(s.create_report(new_report("r4", b"hash-4", d(3)))).unwrap();
        let taken = block_on(s.create_report(new_report("r5", b"hash-1", d(3))));
        assert!(
            matches!(&taken, Err(StoreError::Conflict { code, .. }) if code == "receipt_taken"),
            "{taken:?}"
        );

        let r = block_on(s.report_by_receipt(b"hash-1".to_vec()))
            .unwrap()
            .unwrap();
        assert_eq!(r.id, "r1");
        assert_eq!(r.merchant_name.as_deref(), Some("shop1"));
        assert_eq!((r.occurred_on, r.received_on), (Some(d(1)), d(2)));
        assert_eq!(
            (r.status, r.priority),
            (ReportStatus::Received, Priority::Normal)
        );
        let photos: Vec<(i64, &str, u64, u32, u32)> = r
            .photos
            .iter()
            .map(|p| (p.seq, p.sha256.as_str(), p.size, p.width, p.height))
            .collect();
        assert_eq!(photos, [(1, "sha1", 4, 16, 9), (2, "sha2", 5, 16, 9)]);
        assert!(block_on(s.report_by_receipt(b"nope".to_vec()))
            .unwrap()
            .is_none());
        assert_eq!(block_on(s.report("r2".into())).unwrap().unwrap().id, "r2");
        assert!(block_on(s.report("nope".into())).unwrap().is_none());
        assert_eq!(
            block_on(s.report_photo("r1".into(), 2)).unwrap(),
            Some(vec![2; 5])
        );
        assert_eq!(block_on(s.report_photo("r1".into(), 3)).unwrap(), None);
        assert_eq!(
            block_on(s.report_photo("r1".into(), i64::MAX)).unwrap(),
            None
        );

        // By day, then by arrival within the day.
        assert_eq!(
            list(s, None, 10, 0),
            (vec!["r4".into(), "r2".into(), "r1".into(), "r3".into()], 4)
        );
        assert_eq!(list(s, None, 2, 1), (vec!["r2".into(), "r1".into()], 4));
        assert_eq!(list(s, Some(ReportStatus::Closed), 10, 0), (vec![], 0));
    }

    #[test]
    fn the_reporter_writes_and_sends_photos_until_closed() {
        let Some(db) = fresh() else { return };
        let s = &db.store;
        block_on(s.create_report(new_report("r1", b"h1", d(2)))).unwrap();
        let msg = |body: &str| {
            block_on(s.add_reporter_message(b"h1".to_vec(), body.into(), d(3))).unwrap()
        };
        assert_eq!(msg("补充一"), Some(true));
        assert_eq!(msg("补充二"), Some(true));
        assert_eq!(
            block_on(s.add_reporter_message(b"ghost".to_vec(), "x".into(), d(3))).unwrap(),
            None
        );
        let add = |n| block_on(s.add_report_photo(b"h1".to_vec(), photo(n), d(3), 2)).unwrap();
        assert_eq!(add(1), Some(true));
        assert_eq!(add(2), Some(true));
        assert_eq!(add(3), Some(false), "at most two");
        assert_eq!(
            block_on(s.add_report_photo(b"ghost".to_vec(), photo(1), d(3), 2)).unwrap(),
            None
        );

        let closed = block_on(s.act_on_report(
            "r1".into(),
            ReportAction::Close {
                note: "已查处".into(),
            },
            "ana".into(),
            d(4),
        ))
        .unwrap()
        .unwrap();
        assert_eq!(closed.status, ReportStatus::Closed);
        assert_eq!(
            (closed.closed_on, closed.acknowledged_on, closed.feedback_on),
            (Some(d(4)), Some(d(4)), Some(d(4)))
        );
        assert_eq!(closed.close_note.as_deref(), Some("已查处"));
        let messages: Vec<(i64, Author, &str, NaiveDate)> = closed
            .messages
            .iter()
            .map(|m| (m.seq, m.author, m.body.as_str(), m.sent_on))
            .collect();
        assert_eq!(
            messages,
            [
                (1, Author::Reporter, "补充一", d(3)),
                (2, Author::Reporter, "补充二", d(3)),
                (3, Author::Handler, "已查处", d(4)),
            ]
        );
        assert_eq!(msg("还在吗"), Some(false));
        assert_eq!(
            block_on(s.add_report_photo(b"h1".to_vec(), photo(1), d(5), 9)).unwrap(),
            Some(false)
        );
        let again = block_on(s.act_on_report(
            "r1".into(),
            ReportAction::Reply { body: "x".into() },
            "ana".into(),
            d(5),
        ))
        .unwrap();
        assert_eq!(again.unwrap_err(), ActionRefused::Closed);

        // The reporter's messages name no account; the handler's do.
        let mut c = db.store.pool().get().unwrap();
        let handlers: Vec<Option<String>> = c
            .query("SELECT handler FROM report_messages ORDER BY seq", &[])
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        assert_eq!(handlers, [None, None, Some("ana".to_owned())]);
    }

    #[test]
    fn handlers_triage_reply_and_assign() {
        let Some(db) = fresh() else { return };
        {
            let mut c = db.store.pool().get().unwrap();
            add_market(&mut *c, "mk1", "350203");
            add_merchant(&mut *c, "shop1", "350203", Some("mk1"));
            add_user(&mut *c, "insp1", "inspector", None, &["3502"], &[]);
            add_user(&mut *c, "insp2", "inspector", None, &["3502"], &[]);
            add_user(&mut *c, "ana", "analyst", None, &[], &[]);
        }
        let s = &db.store;
        let mut r = new_report("r1", b"h1", d(2));
        r.merchant_id = Some("shop1".into());
        r.merchant_ref = Some("S-shop1".into());
        r.occurred_on = Some(d(1));
        block_on(s.create_report(r)).unwrap();
        let act = |action: ReportAction, on: u32| {
            block_on(s.act_on_report("r1".into(), action, "ana".into(), d(on))).unwrap()
        };
        let triage = |status, priority| ReportAction::Triage {
            status,
            category: None,
            priority,
        };

        assert_eq!(
            block_on(s.act_on_report("nope".into(), triage(None, None), "ana".into(), d(2)))
                .unwrap()
                .unwrap_err(),
            ActionRefused::NoSuchReport
        );
        let closing = act(triage(Some(ReportStatus::Closed), None), 2).unwrap_err();
        assert_eq!(
            closing,
            ActionRefused::BadTransition {
                from: ReportStatus::Received,
                to: ReportStatus::Closed
            }
        );
        let t = act(
            ReportAction::Triage {
                status: None,
                category: Some("unknown_origin".into()),
                priority: Some(Priority::High),
            },
            2,
        )
        .unwrap();
        assert_eq!(
            (t.category.as_str(), t.priority),
            ("unknown_origin", Priority::High)
        );
        assert_eq!(
            (t.status, t.acknowledged_on),
            (ReportStatus::Received, None)
        );

        let replied = act(
            ReportAction::Reply {
                body: "已收到".into(),
            },
            3,
        )
        .unwrap();
        assert_eq!(replied.status, ReportStatus::Acknowledged);
        assert_eq!(
            (replied.acknowledged_on, replied.feedback_on),
            (Some(d(3)), Some(d(3)))
        );
        assert_eq!(replied.messages.len(), 1);
        assert_eq!(replied.messages[0].author, Author::Handler);

        assert_eq!(
            act(
                ReportAction::Assign {
                    inspector_id: "ana".into()
                },
                4
            )
            .unwrap_err(),
            ActionRefused::NotAnInspector
        );
        let assigned = act(
            ReportAction::Assign {
                inspector_id: "insp1".into(),
            },
            4,
        )
        .unwrap();
        assert_eq!(assigned.status, ReportStatus::Investigating);
        assert_eq!(assigned.assigned_to.as_deref(), Some("insp1"));
        assert_eq!(assigned.task_id.as_deref(), Some("report-r1"));
        assert_eq!(assigned.acknowledged_on, Some(d(3)), "kept");
        let back = act(triage(Some(ReportStatus::Received), None), 4).unwrap_err();
        assert!(
            matches!(back, ActionRefused::BadTransition { .. }),
            "{back:?}"
        );
        let again = act(
            ReportAction::Assign {
                inspector_id: "insp2".into(),
            },
            5,
        )
        .unwrap();
        assert_eq!(again.task_id.as_deref(), Some("report-r1"));

        let mut c = db.store.pool().get().unwrap();
        let tasks: Vec<(Option<String>, serde_json::Value)> = c
            .query(
                "SELECT user_id, payload FROM changes WHERE kind = 'task' ORDER BY seq",
                &[],
            )
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        assert_eq!(tasks.len(), 3);
        assert_eq!(tasks[0].0.as_deref(), Some("insp1"));
        let p = &tasks[0].1;
        assert_eq!(p["id"], "report-r1");
        assert_eq!(p["source"], "report");
        assert_eq!(p["region_code"], "350203");
        assert_eq!(p["merchant_name"], "shop1");
        assert_eq!(p["occurred_on"], "2026-06-01");
        assert_eq!(p["assigned_on"], "2026-06-04");
        assert_eq!(p["priority"], "high");
        assert_eq!(p["inspectors"], serde_json::json!(["insp1"]));
        assert_eq!(tasks[1].0.as_deref(), Some("insp2"));
        assert_eq!(
            tasks[2].0.as_deref(),
            Some("insp1"),
            "the previous one is told"
        );
        assert_eq!(tasks[2].1["withdrawn"], true);
        assert_eq!(tasks[2].1["inspectors"], serde_json::json!(["insp2"]));
    }

    /// What the tables can hold: nothing about the sender.
    #[test]
    fn the_tables_have_no_column_for_the_sender() {
        let Some(db) = fresh() else { return };
        let mut c = db.store.pool().get().unwrap();
        let columns: Vec<String> = c
            .query(
                "SELECT table_name || '.' || column_name FROM information_schema.columns
                 WHERE table_name IN ('reports', 'report_messages', 'report_photos')
                 ORDER BY table_name, ordinal_position",
                &[],
            )
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        // Every column, so that a new one is a decision made here: none
        // holds an address, an agent, an account of the reporter, the
        // receipt, or an instant.
        let expected = [
            "report_messages.report_id",
            "report_messages.seq",
            "report_messages.author",
            "report_messages.handler",
            "report_messages.body",
            "report_messages.sent_on",
            "report_photos.report_id",
            "report_photos.seq",
            "report_photos.sha256",
            "report_photos.data",
            "report_photos.width",
            "report_photos.height",
            "report_photos.added_on",
            "reports.id",
            "reports.receipt_hash",
            "reports.category",
            "reports.description",
            "reports.merchant_ref",
            "reports.merchant_id",
            "reports.location",
            "reports.occurred_on",
            "reports.received_on",
            "reports.arrival",
            "reports.status",
            "reports.priority",
            "reports.acknowledged_on",
            "reports.feedback_on",
            "reports.closed_on",
            "reports.close_note",
            "reports.assigned_to",
            "reports.task_id",
        ];
        assert_eq!(columns, expected);
        let dated: Vec<String> = c
            .query(
                "SELECT table_name || '.' || column_name FROM information_schema.columns
                 WHERE table_name IN ('reports', 'report_messages', 'report_photos')
                   AND data_type NOT IN ('text', 'bytea', 'integer', 'date')",
                &[],
            )
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        assert!(dated.is_empty(), "no instants: {dated:?}");
    }
}
