//! [`FeedbackStore`] on PostgreSQL (from `sqlite/feedback.rs`), the
//! feedback ops' side of the push transaction ([`FeedbackTx`]) and the
//! complaint counts the risk grade and the warnings read.
//!
//! Ratings, complaints and their actions are stored under their merchant's
//! district. A complaint id is the country's (a random UUID, SQLite's
//! primary key), so reads by id alone look in every district; an action
//! goes under its complaint's district. Dates are `date`: no time of day,
//! as on SQLite (see `store::feedback`).

use std::collections::HashMap;

use chrono::NaiveDate;
use postgres::{GenericClient, Row};
use shian_core::complaints::{
    counts_in_risk_grade, CloseResult, ComplaintCategory, ComplaintStatus,
};

use super::district;
use super::feed::{publish, Audience};
use super::store::PgStore;
use super::txn::PgTxn;
use crate::store::feedback::{
    ComplaintFilter, FeedbackStore, FeedbackTx, FeedbackWrite, NewComplaint, NewRating,
    RatingSummary, RatingValue, StoredComplaint,
};
use crate::store::field::NewChange;
use crate::store::{Page, StoreError, StoreFuture};

fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

/// The columns [`complaint_row`] reads, joined with its decision and close
/// (each action in its complaint's district, so the joins stay in a shard).
const COMPLAINT_SELECT: &str =
    "SELECT c.id, c.merchant_id, m.name, m.region_code, c.category, c.text, c.photo_sha256,
        c.received_on, d.action, d.decided_on, d.detail, x.decided_on, x.detail, x.note, c.product
     FROM complaints c
     JOIN merchants m ON m.id = c.merchant_id
     LEFT JOIN complaint_actions d ON d.region_code = c.region_code AND d.complaint_id = c.id
         AND d.action IN ('accept', 'refuse')
     LEFT JOIN complaint_actions x ON x.region_code = c.region_code AND x.complaint_id = c.id
         AND x.action = 'close'";

fn complaint_row(r: &Row) -> Result<StoredComplaint, StoreError> {
    let category: String = r.try_get(4)?;
    let decision: Option<String> = r.try_get(8)?;
    let closed_on: Option<NaiveDate> = r.try_get(11)?;
    let result: Option<String> = r.try_get(12)?;
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
    let reason: Option<String> = r.try_get(10)?;
    Ok(StoredComplaint {
        category: ComplaintCategory::parse(&category)
            .ok_or_else(|| corrupt("complaint category", &category))?,
        id: r.try_get(0)?,
        merchant_id: r.try_get(1)?,
        merchant_name: r.try_get(2)?,
        region_code: r.try_get(3)?,
        product: r.try_get(14)?,
        text: r.try_get(5)?,
        photo_sha256: r.try_get(6)?,
        received_on: r.try_get(7)?,
        status,
        decided_on: r.try_get(9)?,
        refusal_reason: reason.filter(|_| status == ComplaintStatus::Refused),
        closed_on,
        result,
        close_note: r.try_get(13)?,
    })
}

fn read_complaint(
    c: &mut impl GenericClient,
    id: &str,
) -> Result<Option<StoredComplaint>, StoreError> {
    c.query_opt(&format!("{COMPLAINT_SELECT} WHERE c.id = $1"), &[&id])?
        .map(|r| complaint_row(&r))
        .transpose()
}

/// The status condition of the list, in the terms of [`COMPLAINT_SELECT`].
fn status_sql(s: Option<ComplaintStatus>) -> &'static str {
    match s {
        None => "true",
        Some(ComplaintStatus::Received) => "d.action IS NULL AND x.action IS NULL",
        Some(ComplaintStatus::Accepted) => "d.action = 'accept' AND x.action IS NULL",
        Some(ComplaintStatus::Refused) => "d.action = 'refuse'",
        Some(ComplaintStatus::Closed) => "x.action IS NOT NULL",
    }
}

/// Newest first: by the day received, then by arrival (`seq`, SQLite's
/// rowid), so that pages do not overlap.
fn list(
    c: &mut impl GenericClient,
    f: &ComplaintFilter,
) -> Result<Page<StoredComplaint>, StoreError> {
    let region = f.region.clone().unwrap_or_default();
    // The prefix as given (SQLite's `substr(…) = ?1`): an empty one is
    // every region.
    let filter = format!(
        "WHERE starts_with(m.region_code, $1) AND {}",
        status_sql(f.status)
    );
    let total: i64 = c
        .query_one(
            &format!("SELECT COUNT(*) FROM ({COMPLAINT_SELECT} {filter}) AS listed"),
            &[&region],
        )?
        .try_get(0)?;
    let items = c
        .query(
            &format!(
                "{COMPLAINT_SELECT} {filter} ORDER BY c.received_on DESC, c.seq DESC LIMIT $2 OFFSET $3"
            ),
            &[&region, &i64::from(f.limit), &i64::from(f.offset)],
        )?
        .iter()
        .map(complaint_row)
        .collect::<Result<Vec<_>, StoreError>>()?;
    Ok(Page {
        items,
        total: u64::try_from(total).unwrap_or(0),
        limit: f.limit,
        offset: f.offset,
    })
}

/// A merchant's ratings on or after `since`: one grouped read (at most 27
/// rows, one per combination of values), so the total and the three
/// dimensions come from the same snapshot.
fn summary(
    c: &mut impl GenericClient,
    merchant_id: &str,
    since: NaiveDate,
) -> Result<RatingSummary, StoreError> {
    let mut s = RatingSummary {
        since,
        ..RatingSummary::default()
    };
    let rows = c.query(
        "SELECT hygiene, freshness, price_honesty, COUNT(*) FROM ratings
         WHERE region_code = (SELECT region_code FROM merchants WHERE id = $1)
           AND merchant_id = $1 AND rated_on >= $2
         GROUP BY hygiene, freshness, price_honesty",
        &[&merchant_id, &since],
    )?;
    for r in rows {
        let n = u64::try_from(r.try_get::<_, i64>(3)?).unwrap_or(0);
        s.total += n;
        for (i, counts) in [
            (0, &mut s.hygiene),
            (1, &mut s.freshness),
            (2, &mut s.price_honesty),
        ] {
            let v: String = r.try_get(i)?;
            let v = RatingValue::parse(&v).ok_or_else(|| corrupt("rating value", &v))?;
            counts.add(v, n);
        }
    }
    Ok(s)
}

fn publish_change(c: &mut impl GenericClient, ch: &NewChange) -> Result<(), StoreError> {
    publish(
        c,
        ch.kind,
        Audience {
            merchant_id: ch.merchant_id.as_deref(),
            region_code: ch.region_code.as_deref(),
            user_id: ch.user_id.as_deref(),
            market_id: None,
        },
        &ch.payload,
    )?;
    Ok(())
}

/// The complaints received on or after `since`, in the order they came
/// (SQLite reads them in rowid order), with their status.
fn received_since(
    c: &mut impl GenericClient,
    since: NaiveDate,
) -> Result<Vec<StoredComplaint>, StoreError> {
    c.query(
        &format!("{COMPLAINT_SELECT} WHERE c.received_on >= $1 ORDER BY c.seq"),
        &[&since],
    )?
    .iter()
    .map(complaint_row)
    .collect()
}

/// Per merchant, its complaints received on or after `since` that weigh in
/// the risk grade (core's [`counts_in_risk_grade`]). Read by the risk
/// facts (`field.rs`).
pub(super) fn complaint_counts(
    c: &mut impl GenericClient,
    since: NaiveDate,
) -> Result<HashMap<String, u16>, StoreError> {
    let mut out: HashMap<String, u16> = HashMap::new();
    for k in received_since(c, since)? {
        if counts_in_risk_grade(k.status, k.result) {
            let n = out.entry(k.merchant_id).or_default();
            *n = n.saturating_add(1);
        }
    }
    Ok(out)
}

/// A complaint that weighs, as the warnings engine reads it (`alerts.rs`).
pub(super) struct Weighing {
    pub id: String,
    pub merchant_id: String,
    pub received_on: NaiveDate,
    pub product: Option<String>,
}

/// Complaints received since `since` that weigh (as in the risk grade),
/// for the warnings engine (`alerts.rs`).
pub(super) fn weighing_complaints(
    c: &mut impl GenericClient,
    since: NaiveDate,
) -> Result<Vec<Weighing>, StoreError> {
    Ok(received_since(c, since)?
        .into_iter()
        .filter(|k| counts_in_risk_grade(k.status, k.result))
        .map(|k| Weighing {
            id: k.id,
            merchant_id: k.merchant_id,
            received_on: k.received_on,
            product: k.product,
        })
        .collect())
}

/// Writes a feedback op's rows in a savepoint: all of them or none (the
/// savepoint is rolled back when dropped on an error), and the push
/// transaction goes on either way, as SQLite's `feedback_op` savepoint.
/// Returns the merchants whose complaints were decided on (their alerts'
/// facts changed).
fn persist(
    c: &mut impl GenericClient,
    writes: &[FeedbackWrite],
) -> Result<Vec<String>, StoreError> {
    let mut sp = c.transaction()?;
    let mut decided = Vec::new();
    for w in writes {
        match w {
            FeedbackWrite::Action(a) => {
                // Under its complaint's district; the op service found the
                // complaint before deciding, so none is the same refusal
                // as SQLite's foreign key would make.
                let row = sp
                    .query_opt(
                        "SELECT region_code, merchant_id FROM complaints WHERE id = $1",
                        &[&a.complaint_id],
                    )?
                    .ok_or(StoreError::NotFound("投诉"))?;
                let region: String = row.try_get(0)?;
                decided.push(row.try_get(1)?);
                sp.execute(
                    "INSERT INTO complaint_actions (region_code, complaint_id, action, detail, note, decided_on, user_id, recorded_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                    &[
                        &region,
                        &a.complaint_id,
                        &a.action.as_str(),
                        &a.detail,
                        &a.note,
                        &a.decided_on,
                        &a.user_id,
                        &crate::store::now(),
                    ],
                )?;
            }
            FeedbackWrite::Publish(ch) => publish_change(&mut sp, ch)?,
        }
    }
    sp.commit()?;
    Ok(decided)
}

impl FeedbackTx for PgTxn<'_, '_> {
    fn complaint_for_op(&self, id: &str) -> Result<Option<StoredComplaint>, StoreError> {
        self.try_with(|tx| read_complaint(tx, id))
    }

    fn persist_feedback(&mut self, writes: &[FeedbackWrite]) -> Result<(), StoreError> {
        for m in self.try_with(|tx| persist(tx, writes))? {
            self.touch(&m);
        }
        Ok(())
    }
}

/// The district of the merchant a rating or complaint is about. The
/// feedback service found the shop before storing, so an unknown one here
/// is the same refusal as elsewhere.
fn region(c: &mut impl GenericClient, merchant_id: &str) -> Result<String, StoreError> {
    district::of_merchant(c, merchant_id)?.ok_or(StoreError::NotFound("商户"))
}

/// Stores a complaint, its photo and its change, and marks its merchant for
/// the warnings, in one transaction. The warnings' incremental pass is not
/// run here (SQLite runs it in this transaction): the complaint's service
/// runs it after the commit (`crate::alerts::after_write`), as a push does,
/// so the complaint is stored even if the pass fails, and the mark stays
/// for the next pass.
fn add_complaint(c: &mut postgres::Client, n: &NewComplaint) -> Result<(), StoreError> {
    let mut tx = c.transaction()?;
    let region = region(&mut tx, &n.merchant_id)?;
    if let Some(p) = &n.photo {
        let size = i64::try_from(p.data.len()).map_err(|e| corrupt("photo size", e))?;
        // The day only, as the complaint keeps: no time to match a log by.
        let day = n.received_on.and_time(chrono::NaiveTime::MIN).and_utc();
        tx.execute(
            "INSERT INTO attachments (sha256, size, content_type, data, created_at)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (sha256) DO NOTHING",
            &[&p.sha256, &size, &p.content_type, &p.data, &day],
        )?;
    }
    tx.execute(
        "INSERT INTO complaints (region_code, id, merchant_id, category, text, photo_sha256, received_on, product)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        &[
            &region,
            &n.id,
            &n.merchant_id,
            &n.category.as_str(),
            &n.text,
            &n.photo.as_ref().map(|p| p.sha256.as_str()),
            &n.received_on,
            &n.product,
        ],
    )?;
    super::alerts::mark(&mut tx, &n.merchant_id)?;
    // The changes' sequencer last: it is held to the commit.
    publish_change(&mut tx, &n.change)?;
    tx.commit()?;
    Ok(())
}

impl FeedbackStore for PgStore {
    fn add_rating(&self, r: NewRating) -> StoreFuture<'_, ()> {
        Box::pin(self.pool.call(move |c| {
            let region = region(c, &r.merchant_id)?;
            c.execute(
                "INSERT INTO ratings (region_code, merchant_id, hygiene, freshness, price_honesty, rated_on)
                 VALUES ($1, $2, $3, $4, $5, $6)",
                &[
                    &region,
                    &r.merchant_id,
                    &r.rating.hygiene.as_str(),
                    &r.rating.freshness.as_str(),
                    &r.rating.price_honesty.as_str(),
                    &r.rated_on,
                ],
            )?;
            Ok(())
        }))
    }

    fn rating_summary(
        &self,
        merchant_id: String,
        since: NaiveDate,
    ) -> StoreFuture<'_, RatingSummary> {
        Box::pin(self.pool.call(move |c| summary(c, &merchant_id, since)))
    }

    fn add_complaint(&self, n: NewComplaint) -> StoreFuture<'_, ()> {
        Box::pin(self.pool.call(move |c| add_complaint(c, &n)))
    }

    fn complaint(&self, id: String) -> StoreFuture<'_, Option<StoredComplaint>> {
        Box::pin(self.pool.call(move |c| read_complaint(c, &id)))
    }

    fn list_complaints(&self, filter: ComplaintFilter) -> StoreFuture<'_, Page<StoredComplaint>> {
        Box::pin(self.pool.call(move |c| list(c, &filter)))
    }
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};
    use serde_json::json;
    use shian_core::complaints::ComplaintAction;

    use super::super::staff::block_on;
    use super::super::testing::{add_merchant, fresh};
    use super::*;
    use crate::store::feedback::{CleanAttachment, NewComplaintAction, Rating};

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn count(c: &mut impl GenericClient, sql: &str) -> i64 {
        c.query_one(sql, &[]).unwrap().get(0)
    }

    fn complaint(id: &str, merchant: &str, on: &str, photo: Option<&str>) -> NewComplaint {
        NewComplaint {
            id: id.into(),
            merchant_id: merchant.into(),
            category: ComplaintCategory::Hygiene,
            product: Some("冻虾仁".into()),
            text: format!("投诉 {id}"),
            photo: photo.map(|sha| CleanAttachment {
                sha256: sha.into(),
                content_type: "image/jpeg",
                data: vec![1, 2, 3],
            }),
            received_on: day(on),
            change: NewChange {
                kind: "complaint.received",
                merchant_id: None,
                region_code: Some("350203".into()),
                user_id: None,
                payload: json!({"complaint_id": id}),
            },
        }
    }

    fn action(id: &str, action: ComplaintAction, detail: Option<&str>) -> FeedbackWrite {
        FeedbackWrite::Action(NewComplaintAction {
            complaint_id: id.into(),
            action,
            detail: detail.map(Into::into),
            note: Some("已核实".into()),
            decided_on: day("2026-06-03"),
            user_id: "i1".into(),
        })
    }

    fn updated(id: &str) -> FeedbackWrite {
        FeedbackWrite::Publish(NewChange {
            kind: "complaint.updated",
            merchant_id: None,
            region_code: Some("350203".into()),
            user_id: None,
            payload: json!({"complaint_id": id}),
        })
    }

    /// Ratings go under the merchant's district and are summed per value
    /// from `since` on; an unknown shop has none and cannot be rated.
    #[test]
    fn ratings_are_summed_from_a_day_on() {
        let Some(db) = fresh() else { return };
        let mut c = db.store.pool().get().unwrap();
        add_merchant(&mut *c, "m1", "350203", None);
        add_merchant(&mut *c, "m2", "350206", None);
        let s = &db.store;
        let rate = |m: &str, h, f, p, on: &str| {
            block_on(s.add_rating(NewRating {
                merchant_id: m.into(),
                rating: Rating {
                    hygiene: h,
                    freshness: f,
                    price_honesty: p,
                },
                rated_on: day(on),
            }))
        };
        use RatingValue::{Fair, Good, Poor};
        rate("m1", Good, Good, Poor, "2026-06-01").unwrap();
        rate("m1", Good, Fair, Poor, "2026-06-02").unwrap();
        rate("m1", Poor, Poor, Poor, "2025-01-01").unwrap();
        rate("m2", Poor, Poor, Poor, "2026-06-02").unwrap();
        let e = rate("ghost", Good, Good, Good, "2026-06-02").unwrap_err();
        assert!(matches!(e, StoreError::NotFound("商户")), "{e:?}");
        assert_eq!(
            count(
                &mut *c,
                "SELECT count(*) FROM ratings WHERE region_code = '350203'"
            ),
            3
        );
        let got = block_on(s.rating_summary("m1".into(), day("2026-01-01"))).unwrap();
        assert_eq!(got.since, day("2026-01-01"));
        assert_eq!(got.total, 2);
        assert_eq!(
            (got.hygiene.good, got.hygiene.fair, got.hygiene.poor),
            (2, 0, 0)
        );
        assert_eq!(
            (got.freshness.good, got.freshness.fair, got.freshness.poor),
            (1, 1, 0)
        );
        assert_eq!(got.price_honesty.poor, 2);
        let all = block_on(s.rating_summary("m1".into(), day("2000-01-01"))).unwrap();
        assert_eq!((all.total, all.hygiene.poor), (3, 1));
        let none = block_on(s.rating_summary("ghost".into(), day("2000-01-01"))).unwrap();
        assert_eq!(none.total, 0);
    }

    /// A complaint is stored with its photo (once per hash), its change and
    /// its merchant's mark, all in its merchant's district; read back by id.
    #[test]
    fn a_complaint_is_stored_with_its_photo_change_and_mark() {
        let Some(db) = fresh() else { return };
        let mut c = db.store.pool().get().unwrap();
        add_merchant(&mut *c, "m1", "350203", None);
        let s = &db.store;
        let sha = "a".repeat(64);
        block_on(s.add_complaint(complaint("c1", "m1", "2026-06-01", Some(&sha)))).unwrap();
        block_on(s.add_complaint(complaint("c2", "m1", "2026-06-01", Some(&sha)))).unwrap();
        assert_eq!(count(&mut *c, "SELECT count(*) FROM attachments"), 1);
        let at: DateTime<Utc> = c
            .query_one("SELECT created_at FROM attachments", &[])
            .unwrap()
            .get(0);
        assert_eq!(at.to_rfc3339(), "2026-06-01T00:00:00+00:00");
        assert_eq!(
            count(
                &mut *c,
                "SELECT count(*) FROM changes WHERE kind = 'complaint.received' AND region_code = '350203'"
            ),
            2
        );
        assert_eq!(
            count(
                &mut *c,
                "SELECT count(*) FROM alert_marks WHERE region_code = '350203' AND merchant_id = 'm1'"
            ),
            1
        );
        let got = block_on(s.complaint("c1".into())).unwrap().unwrap();
        assert_eq!(got.merchant_name, "m1");
        assert_eq!(got.region_code, "350203");
        assert_eq!(got.category, ComplaintCategory::Hygiene);
        assert_eq!(got.product.as_deref(), Some("冻虾仁"));
        assert_eq!(got.photo_sha256.as_deref(), Some(sha.as_str()));
        assert_eq!(got.received_on, day("2026-06-01"));
        assert_eq!(got.status, ComplaintStatus::Received);
        assert!(got.decided_on.is_none() && got.closed_on.is_none());
        assert!(block_on(s.complaint("c3".into())).unwrap().is_none());
        // An unknown shop: nothing stored, nothing published.
        let e =
            block_on(s.add_complaint(complaint("c3", "ghost", "2026-06-01", None))).unwrap_err();
        assert!(matches!(e, StoreError::NotFound("商户")), "{e:?}");
        assert_eq!(count(&mut *c, "SELECT count(*) FROM complaints"), 2);
        assert_eq!(
            count(
                &mut *c,
                "SELECT count(*) FROM changes WHERE kind LIKE 'complaint.%'"
            ),
            2
        );
    }

    /// Actions are stored under the complaint's district and read as its
    /// status; a write that fails leaves none of the op's rows, and the
    /// push transaction goes on.
    #[test]
    fn actions_decide_the_status_all_or_none() {
        let Some(db) = fresh() else { return };
        let mut c = db.store.pool().get().unwrap();
        add_merchant(&mut *c, "m1", "350203", None);
        let s = &db.store;
        for id in ["c1", "c2", "c3"] {
            block_on(s.add_complaint(complaint(id, "m1", "2026-06-01", None))).unwrap();
        }
        let mut tx = c.transaction().unwrap();
        let mut t = PgTxn::new(&mut tx);
        t.persist_feedback(&[action("c1", ComplaintAction::Accept, None), updated("c1")])
            .unwrap();
        let c1 = t.complaint_for_op("c1").unwrap().unwrap();
        assert_eq!(c1.status, ComplaintStatus::Accepted);
        assert_eq!(c1.decided_on, Some(day("2026-06-03")));
        t.persist_feedback(&[
            action("c1", ComplaintAction::Close, Some("unfounded")),
            updated("c1"),
        ])
        .unwrap();
        t.persist_feedback(&[action("c2", ComplaintAction::Refuse, Some("不属于本部门"))])
            .unwrap();
        // A second accept of c1 is refused by the key; an unknown
        // complaint is not found: neither op leaves anything.
        let e = t
            .persist_feedback(&[updated("c3"), action("c1", ComplaintAction::Accept, None)])
            .unwrap_err();
        assert!(
            matches!(&e, StoreError::Conflict { code, .. } if code == "unique_violation"),
            "{e:?}"
        );
        let e = t
            .persist_feedback(&[updated("c9"), action("c9", ComplaintAction::Accept, None)])
            .unwrap_err();
        assert!(matches!(e, StoreError::NotFound("投诉")), "{e:?}");
        assert!(t.complaint_for_op("c9").unwrap().is_none());
        drop(t);
        tx.commit().unwrap();
        assert_eq!(
            count(
                &mut *c,
                "SELECT count(*) FROM complaint_actions WHERE region_code = '350203'"
            ),
            3
        );
        assert_eq!(
            count(
                &mut *c,
                "SELECT count(*) FROM changes WHERE kind = 'complaint.updated'"
            ),
            2
        );
        let c1 = block_on(s.complaint("c1".into())).unwrap().unwrap();
        assert_eq!(c1.status, ComplaintStatus::Closed);
        assert_eq!(c1.result, Some(CloseResult::Unfounded));
        assert_eq!(c1.close_note.as_deref(), Some("已核实"));
        assert!(c1.refusal_reason.is_none());
        let c2 = block_on(s.complaint("c2".into())).unwrap().unwrap();
        assert_eq!(c2.status, ComplaintStatus::Refused);
        assert_eq!(c2.refusal_reason.as_deref(), Some("不属于本部门"));

        // What weighs: c3 (received); not c2 (refused) nor c1 (unfounded).
        let counts = complaint_counts(&mut *c, day("2026-01-01")).unwrap();
        assert_eq!(counts.get("m1"), Some(&1));
        let weighing = weighing_complaints(&mut *c, day("2026-01-01")).unwrap();
        let ids: Vec<&str> = weighing.iter().map(|w| w.id.as_str()).collect();
        assert_eq!(ids, ["c3"]);
        assert_eq!(weighing[0].merchant_id, "m1");
        assert_eq!(weighing[0].received_on, day("2026-06-01"));
        assert_eq!(weighing[0].product.as_deref(), Some("冻虾仁"));
        assert!(complaint_counts(&mut *c, day("2026-06-02"))
            .unwrap()
            .is_empty());
    }

    /// Newest first by day, then by arrival; paged without overlap;
    /// filtered by region prefix and status, with the total.
    #[test]
    fn lists_are_newest_first_filtered_and_paged() {
        let Some(db) = fresh() else { return };
        let mut c = db.store.pool().get().unwrap();
        add_merchant(&mut *c, "m1", "350203", None);
        add_merchant(&mut *c, "m2", "350206", None);
        add_merchant(&mut *c, "m3", "330102", None);
        let s = &db.store;
        for (id, m, on) in [
            ("a", "m1", "2026-06-01"),
            ("b", "m2", "2026-06-02"),
            ("c", "m1", "2026-06-02"),
            ("d", "m3", "2026-05-01"),
            ("e", "m1", "2026-06-01"),
        ] {
            block_on(s.add_complaint(complaint(id, m, on, None))).unwrap();
        }
        {
            let mut tx = c.transaction().unwrap();
            let mut t = PgTxn::new(&mut tx);
            t.persist_feedback(&[action("c", ComplaintAction::Accept, None)])
                .unwrap();
            drop(t);
            tx.commit().unwrap();
        }
        let list = |region: Option<&str>, status, limit, offset| {
            let page = block_on(s.list_complaints(ComplaintFilter {
                region: region.map(Into::into),
                status,
                limit,
                offset,
            }))
            .unwrap();
            let ids: Vec<String> = page.items.iter().map(|c| c.id.clone()).collect();
            (ids, page.total)
        };
        assert_eq!(
            list(None, None, 10, 0),
            (
                vec!["c".into(), "b".into(), "e".into(), "a".into(), "d".into()],
                5
            )
        );
        assert_eq!(list(None, None, 2, 2), (vec!["e".into(), "a".into()], 5));
        assert_eq!(list(None, None, 2, 6), (vec![], 5));
        assert_eq!(
            list(Some("3502"), None, 10, 0),
            (vec!["c".into(), "b".into(), "e".into(), "a".into()], 4)
        );
        assert_eq!(
            list(Some("350203"), Some(ComplaintStatus::Received), 10, 0),
            (vec!["e".into(), "a".into()], 2)
        );
        assert_eq!(
            list(Some(""), Some(ComplaintStatus::Accepted), 10, 0),
            (vec!["c".into()], 1)
        );
        assert_eq!(
            list(None, Some(ComplaintStatus::Closed), 10, 0),
            (vec![], 0)
        );
    }
}
