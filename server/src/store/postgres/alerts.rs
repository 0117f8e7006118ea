//! Alerts on PostgreSQL (from `sqlite/alerts.rs`): the lifecycle (list,
//! read, assign, resolve), the store of a pass's candidates, the marks of
//! the incremental pass and the open alerts' weight in the risk grade.
//!
//! Each alert lives under its subject's district (`region_code`): a
//! merchant's, a market's, or [`NATIONAL`] for a subject with neither (a
//! product's complaint hot topic), as the schema's `ALERTS` doc says.
//!
//! Not yet here: the passes over the facts (`scan_alerts`,
//! `refresh_alerts`), which need the facts' queries and the price windows;
//! they answer `Backend("not yet on PostgreSQL: …")`.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use postgres::GenericClient;
use shian_core::warnings::{Candidate, Evidence, Kind, Severity, Subject, SubjectType, Thresholds};

use super::district;
use super::store::PgStore;
use crate::store::alerts::{Alert, AlertAction, AlertFilter, AlertStatus, AlertStore, PassOutcome};
use crate::store::{Page, StoreError, StoreFuture};

/// The district of a subject with no merchant and no market.
const NATIONAL: &str = "000000";

fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

/// The district an alert on `s` is stored under. A merchant or market
/// unknown to the registry still gets its alert (SQLite has no foreign
/// key there either), under [`NATIONAL`].
fn subject_district(c: &mut impl GenericClient, s: &Subject) -> Result<String, StoreError> {
    let found = match (s.kind, s.market_id.as_deref()) {
        (SubjectType::Merchant, _) => district::of_merchant(c, &s.id)?,
        (SubjectType::Market, _) => district::of_market(c, &s.id)?,
        (_, Some(market)) => district::of_market(c, market)?,
        (_, None) => None,
    };
    Ok(found.unwrap_or_else(|| NATIONAL.to_owned()))
}

// ---------------------------------------------------------------------------
// Marks
// ---------------------------------------------------------------------------

/// Marks one merchant for the next incremental pass, in the writing
/// transaction. The push calls it for every merchant whose entries it
/// wrote (PostgreSQL has no rowid ranges to mark from), so it must be
/// idempotent within and across transactions: a second mark of the same
/// merchant is a no-op. An unknown merchant has no facts to refresh and
/// is not marked.
pub(super) fn mark(c: &mut impl GenericClient, merchant_id: &str) -> Result<(), StoreError> {
    c.execute(
        "INSERT INTO alert_marks (region_code, merchant_id)
         SELECT region_code, id FROM merchants WHERE id = $1
         ON CONFLICT (region_code, merchant_id) DO NOTHING",
        &[&merchant_id],
    )?;
    Ok(())
}

// ---------------------------------------------------------------------------
// Storing candidates
// ---------------------------------------------------------------------------

fn to_json<T: serde::Serialize>(v: &T) -> Result<serde_json::Value, StoreError> {
    serde_json::to_value(v).map_err(|e| corrupt("alert", e))
}

/// Raises `candidates` in the caller's transaction, as a pass would: for
/// the warnings an event decides at once (a hold placed, an entry check
/// refused), in the write that stores the event. Returns how many were new.
pub(super) fn raise(
    c: &mut impl GenericClient,
    candidates: &[Candidate],
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    store(c, Thresholds::builtin(), candidates, now)
}

/// Stores what a pass raised: the open alert of the same identity is seen
/// again (updated), a resolved one is raised again only by newer facts,
/// anything else is new. Returns how many were new.
fn store(
    c: &mut impl GenericClient,
    t: &Thresholds,
    candidates: &[Candidate],
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let mut raised = 0;
    let mut seen: HashSet<(Kind, SubjectType, &str)> = HashSet::new();
    for cand in candidates {
        // One candidate per identity per pass (core gives no duplicates;
        // this keeps a second one from updating the first).
        if !seen.insert((cand.kind, cand.subject.kind, cand.subject.id.as_str())) {
            continue;
        }
        let region = subject_district(c, &cand.subject)?;
        let (kind, st, sid) = (
            cand.kind.as_str(),
            cand.subject.kind.as_str(),
            cand.subject.id.as_str(),
        );
        let evidence = to_json(&cand.evidence)?;
        let merchant = (cand.subject.kind == SubjectType::Merchant).then_some(sid);
        let updated = c.execute(
            "UPDATE alerts SET subject_name = $5, market_id = $6, severity = $7, title = $8, evidence = $9,
                    rules_version = $10, latest_fact_at = $11, last_seen_at = $12
             WHERE region_code = $1 AND kind = $2 AND subject_type = $3 AND subject_id = $4
               AND status <> 'resolved'",
            &[
                &region,
                &kind,
                &st,
                &sid,
                &cand.subject.name,
                &cand.subject.market_id,
                &cand.severity.as_str(),
                &cand.title,
                &evidence,
                &t.version,
                &cand.latest,
                &now,
            ],
        )?;
        if updated > 0 {
            continue;
        }
        let resolved: Option<DateTime<Utc>> = c
            .query_one(
                "SELECT MAX(resolved_at) FROM alerts
                 WHERE region_code = $1 AND kind = $2 AND subject_type = $3 AND subject_id = $4
                   AND status = 'resolved'",
                &[&region, &kind, &st, &sid],
            )?
            .get(0);
        if resolved.is_some_and(|r| r >= cand.latest) {
            continue;
        }
        c.execute(
            "INSERT INTO alerts (region_code, id, kind, subject_type, subject_id, subject_name, market_id,
                 merchant_id, severity, title, evidence, status, rules_version, latest_fact_at,
                 first_seen_at, last_seen_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'new', $12, $13, $14, $14)",
            &[
                &region,
                &uuid::Uuid::now_v7().to_string(),
                &kind,
                &st,
                &sid,
                &cand.subject.name,
                &cand.subject.market_id,
                &merchant,
                &cand.severity.as_str(),
                &cand.title,
                &evidence,
                &t.version,
                &cand.latest,
                &now,
            ],
        )?;
        raised += 1;
    }
    Ok(raised)
}

// ---------------------------------------------------------------------------
// Reading and the lifecycle
// ---------------------------------------------------------------------------

const SELECT: &str = "SELECT id, kind, subject_type, subject_id, subject_name, market_id, severity, title,
        evidence, status, assigned_to, note, rules_version, first_seen_at, last_seen_at, resolved_at,
        region_code FROM alerts";

fn alert(r: &postgres::Row) -> Result<Alert, StoreError> {
    let kind: String = r.try_get(1)?;
    let st: String = r.try_get(2)?;
    let severity: String = r.try_get(6)?;
    let status: String = r.try_get(9)?;
    let evidence: Evidence =
        serde_json::from_value(r.try_get(8)?).map_err(|e| corrupt("alert evidence", e))?;
    Ok(Alert {
        id: r.try_get(0)?,
        kind: Kind::parse(&kind).ok_or_else(|| corrupt("alert kind", &kind))?,
        subject: Subject {
            kind: SubjectType::parse(&st).ok_or_else(|| corrupt("alert subject_type", &st))?,
            id: r.try_get(3)?,
            market_id: r.try_get(5)?,
            name: r.try_get(4)?,
        },
        severity: Severity::parse(&severity).ok_or_else(|| corrupt("alert severity", &severity))?,
        title: r.try_get(7)?,
        evidence,
        status: AlertStatus::parse(&status).ok_or_else(|| corrupt("alert status", &status))?,
        assigned_to: r.try_get(10)?,
        note: r.try_get(11)?,
        rules_version: r.try_get(12)?,
        first_seen_at: r.try_get(13)?,
        last_seen_at: r.try_get(14)?,
        resolved_at: r.try_get(15)?,
    })
}

/// One alert by id (ids are unique everywhere: UUIDv7) with its district
/// for the writes that follow; `lock` takes its row lock (`FOR UPDATE`).
fn read(
    c: &mut impl GenericClient,
    id: &str,
    lock: bool,
) -> Result<Option<(String, Alert)>, StoreError> {
    let lock = if lock { " FOR UPDATE" } else { "" };
    c.query_opt(&format!("{SELECT} WHERE id = $1{lock}"), &[&id])?
        .map(|r| Ok((r.try_get(16)?, alert(&r)?)))
        .transpose()
}

fn list(c: &mut impl GenericClient, f: &AlertFilter) -> Result<Page<Alert>, StoreError> {
    let filter = "WHERE ($1::text IS NULL OR status = $1) AND ($2::text IS NULL OR kind = $2)
                  AND ($3::text IS NULL OR market_id = $3) AND ($4::text IS NULL OR merchant_id = $4)";
    let (status, kind) = (f.status.map(AlertStatus::as_str), f.kind.map(Kind::as_str));
    let total: i64 = c
        .query_one(
            &format!("SELECT COUNT(*) FROM alerts {filter}"),
            &[&status, &kind, &f.market_id, &f.merchant_id],
        )?
        .get(0);
    let rows = c.query(
        &format!(
            "{SELECT} {filter}
             ORDER BY status = 'resolved', CASE severity WHEN 'high' THEN 0 WHEN 'medium' THEN 1 ELSE 2 END,
                      last_seen_at DESC, id
             LIMIT $5 OFFSET $6"
        ),
        &[
            &status,
            &kind,
            &f.market_id,
            &f.merchant_id,
            &i64::from(f.limit),
            &i64::from(f.offset),
        ],
    )?;
    Ok(Page {
        items: rows.iter().map(alert).collect::<Result<_, _>>()?,
        total: total as u64,
        limit: f.limit,
        offset: f.offset,
    })
}

fn act(
    client: &mut postgres::Client,
    id: &str,
    action: &AlertAction,
    now: DateTime<Utc>,
) -> Result<Alert, StoreError> {
    let mut tx = client.transaction()?;
    // The row stays locked until the step commits, so two analysts' steps
    // on one alert are judged one after the other (SQLite's one writer).
    let Some((region, current)) = read(&mut tx, id, true)? else {
        return Err(StoreError::NotFound("预警"));
    };
    if current.status == AlertStatus::Resolved {
        return Err(StoreError::conflict(
            "alert_resolved",
            "该预警已处理完毕，不能再指派或处理",
        ));
    }
    match action {
        AlertAction::Assign { user_id } => {
            let exists: bool = tx
                .query_one(
                    "SELECT EXISTS(SELECT 1 FROM users WHERE id = $1 AND role IN ('admin', 'analyst', 'inspector'))",
                    &[&user_id],
                )?
                .get(0);
            if !exists {
                return Err(StoreError::NotFound("用户"));
            }
            tx.execute(
                "UPDATE alerts SET status = 'assigned', assigned_to = $3 WHERE region_code = $1 AND id = $2",
                &[&region, &id, &user_id],
            )?;
        }
        AlertAction::Resolve { .. } if current.status == AlertStatus::New => {
            return Err(StoreError::conflict(
                "alert_not_assigned",
                "该预警尚未指派，请先指派给处理人",
            ));
        }
        AlertAction::Resolve { note } => {
            tx.execute(
                "UPDATE alerts SET status = 'resolved', note = $3, resolved_at = $4
                 WHERE region_code = $1 AND id = $2",
                &[&region, &id, &note, &now],
            )?;
        }
    }
    let done = read(&mut tx, id, false)?
        .map(|(_, a)| a)
        .ok_or(StoreError::NotFound("预警"))?;
    tx.commit()?;
    Ok(done)
}

/// Per merchant, its open alerts of the kinds that weigh in the risk grade
/// on their own (`Kind::weighs_in_risk_grade`, risk-v3's `open_alert`).
pub(super) fn open_risk(
    c: &mut impl GenericClient,
    only: Option<&str>,
) -> Result<HashMap<String, u16>, StoreError> {
    let kinds: Vec<&str> = Kind::ALL
        .into_iter()
        .filter(|k| k.weighs_in_risk_grade())
        .map(Kind::as_str)
        .collect();
    let rows = c.query(
        "SELECT merchant_id, COUNT(*) FROM alerts
         WHERE status <> 'resolved' AND merchant_id IS NOT NULL
           AND ($2::text IS NULL OR merchant_id = $2) AND kind = ANY($1)
         GROUP BY merchant_id",
        &[&kinds, &only],
    )?;
    rows.iter()
        .map(|r| {
            let n: i64 = r.try_get(1)?;
            Ok((r.try_get(0)?, u16::try_from(n).unwrap_or(u16::MAX)))
        })
        .collect()
}

/// The error of a pass not yet ported.
fn not_yet(name: &str) -> StoreError {
    StoreError::Backend(format!("not yet on PostgreSQL: {name}"))
}

impl AlertStore for PgStore {
    fn list_alerts(&self, filter: AlertFilter) -> StoreFuture<'_, Page<Alert>> {
        Box::pin(
            self.pool
                .call(move |c: &mut postgres::Client| list(c, &filter)),
        )
    }

    fn alert(&self, id: String) -> StoreFuture<'_, Option<Alert>> {
        Box::pin(
            self.pool
                .call(move |c: &mut postgres::Client| Ok(read(c, &id, false)?.map(|(_, a)| a))),
        )
    }

    fn act_on_alert(
        &self,
        id: String,
        action: AlertAction,
        now: DateTime<Utc>,
    ) -> StoreFuture<'_, Alert> {
        Box::pin(
            self.pool
                .call(move |c: &mut postgres::Client| act(c, &id, &action, now)),
        )
    }

    fn scan_alerts(&self, _now: DateTime<Utc>) -> StoreFuture<'_, PassOutcome> {
        Box::pin(async { Err(not_yet("scan_alerts")) })
    }

    fn refresh_alerts(&self, _now: DateTime<Utc>) -> StoreFuture<'_, PassOutcome> {
        Box::pin(async { Err(not_yet("refresh_alerts")) })
    }
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;
    use crate::store::postgres::testing::{add_market, add_merchant, add_user, fresh, Db};

    fn candidate(kind: Kind, merchant: &str, latest: DateTime<Utc>) -> Candidate {
        Candidate {
            kind,
            subject: Subject {
                kind: SubjectType::Merchant,
                id: merchant.into(),
                market_id: Some("mk1".into()),
                name: format!("{merchant} 店"),
            },
            severity: Severity::High,
            title: "预警".into(),
            evidence: Evidence::default(),
            latest,
        }
    }

    /// Runs blocking database work (the synchronous client, the fresh
    /// database) off the test's async worker.
    fn sync<T>(f: impl FnOnce() -> T) -> T {
        tokio::task::block_in_place(f)
    }

    /// Raises in one transaction, as an event's write does.
    fn raise_now(db: &Db, cands: &[Candidate], now: DateTime<Utc>) -> u64 {
        sync(|| raise_in(db, cands, now))
    }

    fn raise_in(db: &Db, cands: &[Candidate], now: DateTime<Utc>) -> u64 {
        let mut c = db.store.pool().get().unwrap();
        let mut tx = c.transaction().unwrap();
        let n = raise(&mut tx, cands, now).unwrap();
        tx.commit().unwrap();
        n
    }

    fn seeded() -> Option<Db> {
        let db = fresh()?;
        let mut c = db.store.pool().get().unwrap();
        add_market(&mut *c, "mk1", "350203");
        add_merchant(&mut *c, "a", "350203", Some("mk1"));
        add_user(&mut *c, "an", "analyst", None, &["350203"], &[]);
        add_user(&mut *c, "shop", "merchant", Some("a"), &[], &[]);
        drop(c);
        Some(db)
    }

    /// The same identity seen again updates the open alert; after a
    /// resolution only newer facts raise it again; the lifecycle's errors
    /// are SQLite's.
    #[tokio::test(flavor = "multi_thread")]
    async fn raise_assign_resolve_and_raise_again() {
        let Some(db) = sync(seeded) else { return };
        // Whole seconds: both backends keep less than nanoseconds (SQLite
        // milliseconds, PostgreSQL microseconds).
        let t0 = DateTime::from_timestamp(Utc::now().timestamp(), 0).unwrap();
        let k = Kind::LicenceExpiredTrading;
        assert_eq!(raise_now(&db, &[candidate(k, "a", t0)], t0), 1);
        assert_eq!(
            raise_now(&db, &[candidate(k, "a", t0)], t0 + Duration::seconds(1)),
            0
        );
        let page = db
            .store
            .list_alerts(AlertFilter {
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(page.total, 1);
        let a = &page.items[0];
        assert_eq!(a.status, AlertStatus::New);
        assert_eq!(a.subject.id, "a");
        assert!(a.last_seen_at > a.first_seen_at);
        let region: String = sync(|| {
            let mut c = db.store.pool().get().unwrap();
            c.query_one("SELECT region_code FROM alerts", &[])
                .unwrap()
                .get(0)
        });
        assert_eq!(region, "350203");

        let id = a.id.clone();
        let resolve = |note: &str| AlertAction::Resolve { note: note.into() };
        let err = db.store.act_on_alert(id.clone(), resolve("x"), t0).await;
        assert!(
            matches!(err, Err(StoreError::Conflict { code, .. }) if code == "alert_not_assigned")
        );
        let err = db
            .store
            .act_on_alert(
                id.clone(),
                AlertAction::Assign {
                    user_id: "shop".into(),
                },
                t0,
            )
            .await;
        assert!(matches!(err, Err(StoreError::NotFound("用户"))));
        let err = db.store.act_on_alert("nope".into(), resolve("x"), t0).await;
        assert!(matches!(err, Err(StoreError::NotFound("预警"))));
        let assigned = db
            .store
            .act_on_alert(
                id.clone(),
                AlertAction::Assign {
                    user_id: "an".into(),
                },
                t0,
            )
            .await
            .unwrap();
        assert_eq!(assigned.status, AlertStatus::Assigned);
        assert_eq!(assigned.assigned_to.as_deref(), Some("an"));
        let t1 = t0 + Duration::seconds(10);
        let done = db
            .store
            .act_on_alert(id.clone(), resolve("已整改"), t1)
            .await
            .unwrap();
        assert_eq!(done.status, AlertStatus::Resolved);
        assert_eq!(done.note.as_deref(), Some("已整改"));
        let err = db
            .store
            .act_on_alert(id.clone(), resolve("again"), t1)
            .await;
        assert!(matches!(err, Err(StoreError::Conflict { code, .. }) if code == "alert_resolved"));

        // Facts no newer than the resolution raise nothing; newer ones do.
        assert_eq!(raise_now(&db, &[candidate(k, "a", t1)], t1), 0);
        let t2 = t1 + Duration::seconds(1);
        assert_eq!(raise_now(&db, &[candidate(k, "a", t2)], t2), 1);
        let open = db
            .store
            .list_alerts(AlertFilter {
                status: Some(AlertStatus::New),
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(open.total, 1);
        assert_ne!(open.items[0].id, id);
        assert!(db.store.alert(id).await.unwrap().is_some());
        assert!(db.store.alert("nope".into()).await.unwrap().is_none());
    }

    /// Only open alerts of the kinds that weigh in the grade count, per
    /// merchant; the filter by merchant and paging hold.
    #[tokio::test(flavor = "multi_thread")]
    async fn open_risk_counts_weighing_kinds_only() {
        let Some(db) = sync(seeded) else { return };
        sync(|| {
            let mut c = db.store.pool().get().unwrap();
            add_merchant(&mut *c, "b", "350203", Some("mk1"));
        });
        let t = Utc::now();
        let weighing: Vec<Kind> = Kind::ALL
            .into_iter()
            .filter(|k| k.weighs_in_risk_grade())
            .collect();
        let other = Kind::ALL
            .into_iter()
            .find(|k| !k.weighs_in_risk_grade())
            .unwrap();
        let mut cands: Vec<Candidate> = weighing.iter().map(|k| candidate(*k, "a", t)).collect();
        cands.push(candidate(other, "a", t));
        cands.push(candidate(weighing[0], "b", t));
        assert_eq!(raise_now(&db, &cands, t), cands.len() as u64);
        let (all, only) = sync(|| {
            let mut c = db.store.pool().get().unwrap();
            (
                open_risk(&mut *c, None).unwrap(),
                open_risk(&mut *c, Some("b")).unwrap(),
            )
        });
        assert_eq!(all.get("a"), Some(&(weighing.len() as u16)));
        assert_eq!(all.get("b"), Some(&1));
        assert_eq!(only.len(), 1);
        let page = db
            .store
            .list_alerts(AlertFilter {
                merchant_id: Some("a".into()),
                limit: 1,
                offset: 1,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(page.total, weighing.len() as u64 + 1);
        assert_eq!(page.items.len(), 1);
    }

    /// Marking is idempotent (the push marks each merchant it wrote for)
    /// and an unknown merchant is not marked.
    #[test]
    fn mark_is_idempotent() {
        let Some(db) = seeded() else { return };
        let mut c = db.store.pool().get().unwrap();
        let mut tx = c.transaction().unwrap();
        mark(&mut tx, "a").unwrap();
        mark(&mut tx, "a").unwrap();
        mark(&mut tx, "ghost").unwrap();
        tx.commit().unwrap();
        mark(&mut *c, "a").unwrap();
        let rows = c
            .query("SELECT region_code, merchant_id FROM alert_marks", &[])
            .unwrap();
        let got: Vec<(String, String)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
        assert_eq!(got, vec![("350203".to_owned(), "a".to_owned())]);
    }
}
