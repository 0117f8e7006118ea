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
