//! Alerts on PostgreSQL (from `sqlite/alerts.rs`): the lifecycle (list,
//! read, assign, resolve), the store of a pass's candidates, the marks of
//! the incremental pass, the facts core's warnings engine reads, the full
//! pass ([`scan`]) and the incremental one ([`refresh_in`]), and the open
//! alerts' weight in the risk grade.
//!
//! Each alert lives under its subject's district (`region_code`): a
//! merchant's, a market's, or [`NATIONAL`] for a subject with neither (a
//! product's complaint hot topic), as the schema's `ALERTS` doc says.
//!
//! Several instances run passes over one database, where SQLite had one
//! writer: every pass takes one advisory lock ([`PASS_LOCK`]) in its
//! transaction, so passes run one after another as on SQLite (two passes
//! at once would both insert the same new alert, and the second would
//! fail on `alerts_open`). The marks are cleared only as read (see
//! [`mark`]), so a push that marks a merchant while a pass runs is not
//! lost.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use postgres::GenericClient;
use shian_core::category::Category;
use shian_core::event::{PURCHASE, SALE};
use shian_core::warnings::{
    self, Candidate, ComplaintObservation, Evidence, Fact, Facts, Kind, LedgerWarningFact,
    MerchantFacts, SampleObservation, Scope, Severity, Subject, SubjectType, Thresholds,
};

use super::district;
use super::price_window::{self, PriceWindows};
use super::store::PgStore;
use crate::store::alerts::{Alert, AlertAction, AlertFilter, AlertStatus, AlertStore, PassOutcome};
use crate::store::local_time::{device_time, local_date, local_midnight};
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
/// transaction. The push calls it for every merchant whose facts it wrote
/// (entries, samples, complaint decisions: `PgTxn::touch`; PostgreSQL has
/// no rowid ranges to mark from), so it must be
/// idempotent within and across transactions: a second mark of the same
/// merchant adds no row. An unknown merchant has no facts to refresh and
/// is not marked.
///
/// A second mark counts up the row's `n` instead of doing nothing: a pass
/// clears only the marks as it read them (same `n`), so a merchant marked
/// again while a pass that read its earlier mark runs (on this instance or
/// another, its new facts perhaps committed too late for that pass) keeps
/// its mark for the next one. Counting up also takes the row's lock, so a
/// pass clearing it waits for this write's commit, and sees its `n`.
pub(super) fn mark(c: &mut impl GenericClient, merchant_id: &str) -> Result<(), StoreError> {
    c.execute(
        "INSERT INTO alert_marks (region_code, merchant_id)
         SELECT region_code, id FROM merchants WHERE id = $1
         ON CONFLICT (region_code, merchant_id) DO UPDATE SET n = alert_marks.n + 1",
        &[&merchant_id],
    )?;
    Ok(())
}

/// The marks as a pass reads them, before its facts: district, merchant
/// and count, columns for `unnest`, in merchant order (SQLite's key order).
#[derive(Debug, Default)]
struct Marked {
    districts: Vec<String>,
    merchants: Vec<String>,
    n: Vec<i64>,
}

fn marked(c: &mut impl GenericClient) -> Result<Marked, StoreError> {
    let mut m = Marked::default();
    for r in c.query(
        "SELECT region_code, merchant_id, n FROM alert_marks ORDER BY merchant_id COLLATE \"C\", region_code",
        &[],
    )? {
        m.districts.push(r.try_get(0)?);
        m.merchants.push(r.try_get(1)?);
        m.n.push(r.try_get(2)?);
    }
    Ok(m)
}

/// Clears the marks the pass read, unless marked again since (see
/// [`mark`]).
fn clear(c: &mut impl GenericClient, m: &Marked) -> Result<(), StoreError> {
    if m.merchants.is_empty() {
        return Ok(());
    }
    c.execute(
        "DELETE FROM alert_marks a USING unnest($1::text[], $2::text[], $3::bigint[]) AS r(region_code, merchant_id, n)
         WHERE a.region_code = r.region_code AND a.merchant_id = r.merchant_id AND a.n = r.n",
        &[&m.districts, &m.merchants, &m.n],
    )?;
    Ok(())
}

// ---------------------------------------------------------------------------
// Facts
// ---------------------------------------------------------------------------

/// The facts of `only` (every merchant when `None`) and the baselines
/// they are judged against, but for the prices: those are the instance's
/// [`PriceWindows`], lent to the evaluation. SQLite's queries, with each
/// merchant's own entries read from its district's feed.
pub(super) fn facts(
    c: &mut impl GenericClient,
    t: &Thresholds,
    now: DateTime<Utc>,
    only: Option<&[String]>,
) -> Result<Facts, StoreError> {
    let mut f = Facts::default();
    let list: Option<Vec<String>> = only.map(<[String]>::to_vec);
    // Each merchant's district, in step with `f.merchants`.
    let mut districts: Vec<String> = Vec::new();
    for r in c.query(
        "SELECT id, name, market_id, created_at, licence_expiry, region_code FROM merchants
         WHERE $1::text[] IS NULL OR id = ANY($1) ORDER BY id COLLATE \"C\"",
        &[&list],
    )? {
        let id: String = r.try_get(0)?;
        let name: String = r.try_get(1)?;
        let market: Option<String> = r.try_get(2)?;
        f.merchant_names
            .insert(id.clone(), (name.clone(), market.clone()));
        districts.push(r.try_get(5)?);
        f.merchants.push(MerchantFacts {
            id,
            name,
            market_id: market,
            registered_at: r.try_get(3)?,
            licence_expiry: r.try_get(4)?,
            trading_after_expiry: Vec::new(),
            ledger_warnings: Vec::new(),
            last_sampled_at: None,
            complaints: Vec::new(),
        });
    }
    for r in c.query("SELECT id, name FROM markets", &[])? {
        f.market_names.insert(r.try_get(0)?, r.try_get(1)?);
    }
    let index: HashMap<String, usize> = f
        .merchants
        .iter()
        .enumerate()
        .map(|(i, m)| (m.id.clone(), i))
        .collect();
    let today = local_date(now);

    // Trading after the licence's expiry: entries recorded since its
    // midnight (the device time decides, in core), the newest first.
    for (m, district) in f.merchants.iter_mut().zip(&districts) {
        let Some(expiry) = m.licence_expiry.filter(|d| *d < today) else {
            continue;
        };
        let from = local_midnight(expiry.succ_opt().unwrap_or(expiry));
        for r in c.query(
            "SELECT entry_id, at FROM entries
             WHERE region_code = $1 AND merchant_id = $2 AND kind IN ($3, $4) AND recorded_at >= $5
             ORDER BY pos DESC LIMIT 200",
            &[district, &m.id, &PURCHASE, &SALE, &from],
        )? {
            let at: String = r.try_get(1)?;
            if let Some(at) = device_time(&at) {
                m.trading_after_expiry.push(Fact {
                    id: r.try_get(0)?,
                    at,
                });
            }
        }
    }
    // Ledger warnings in the window (stamped with the server's clock).
    {
        let cutoff = now - Duration::days(t.ledger.window_days);
        let codes: Vec<&str> = warnings::ledger::CODES.to_vec();
        for r in c.query(
            "SELECT merchant_id, code, entry_id, at FROM warnings
             WHERE at >= $1 AND code = ANY($2) AND ($3::text[] IS NULL OR merchant_id = ANY($3))
             ORDER BY id",
            &[&cutoff, &codes, &list],
        )? {
            let m: String = r.try_get(0)?;
            if let Some(&i) = index.get(&m) {
                f.merchants[i].ledger_warnings.push(LedgerWarningFact {
                    code: r.try_get(1)?,
                    entry_id: r.try_get(2)?,
                    at: r.try_get(3)?,
                });
            }
        }
    }
    // Last sampling of each merchant.
    for r in c.query(
        "SELECT merchant_id, MAX(taken_at) FROM samples WHERE confirms IS NULL GROUP BY merchant_id",
        &[],
    )? {
        let m: String = r.try_get(0)?;
        if let Some(&i) = index.get(&m) {
            f.merchants[i].last_sampled_at = r.try_get(1)?;
        }
    }
    // Samples in the pass-rate window, with the category of the sampled
    // batch where the sample names one (the purchase that made its trace
    // code, through `codes`), else the merchant's main category (as a
    // complaint's).
    {
        let cutoff = now
            - Duration::days(
                t.pass_rate
                    .window_days
                    .max(t.sampling.too_often_window_days),
            );
        for r in c.query(
            "SELECT s.id, s.merchant_id, m.market_id, s.taken_at, s.counts_as_failure, s.confirms IS NOT NULL,
                    COALESCE(p.payload->'product'->>'category', m.categories->>0)
             FROM samples s LEFT JOIN merchants m ON m.id = s.merchant_id
             LEFT JOIN codes k ON k.code = s.trace_code AND k.kind = 'trace'
             LEFT JOIN entries p ON p.region_code = k.region_code AND p.entry_id = k.entry_id AND p.kind = $2
             WHERE s.taken_at >= $1
             ORDER BY s.taken_at, s.id COLLATE \"C\"",
            &[&cutoff, &PURCHASE],
        )? {
            let category: Option<String> = r.try_get(6)?;
            f.samples.push(SampleObservation {
                id: r.try_get(0)?,
                merchant_id: r.try_get(1)?,
                market_id: r.try_get(2)?,
                category: category.as_deref().and_then(Category::parse),
                at: r.try_get(3)?,
                failed: r.try_get(4)?,
                confirmation: r.try_get(5)?,
            });
        }
    }
    // Complaints that weigh: per merchant in its window, and all of them in
    // the hot-topic windows, about the merchant's main category and the
    // product named, if any.
    {
        let w = &t.complaints;
        let days = w.window_days.max(w.hot_window_days + w.hot_baseline_days);
        let since = today - Duration::days(days);
        let mut main: HashMap<String, Option<Category>> = HashMap::new();
        for r in c.query(
            "SELECT id, categories FROM merchants
             WHERE id IN (SELECT DISTINCT merchant_id FROM complaints WHERE received_on >= $1)",
            &[&since],
        )? {
            let cats: Vec<String> = serde_json::from_value(r.try_get(1)?)
                .map_err(|e| corrupt("merchant categories", e))?;
            main.insert(r.try_get(0)?, cats.first().and_then(|c| Category::parse(c)));
        }
        let window_from = now - Duration::days(w.window_days);
        for k in super::feedback::weighing_complaints(c, since)? {
            // The day it was received, from its start: a complaint of today
            // is never in the future of `now` (noon would be before midday).
            let at = local_midnight(k.received_on);
            if let Some(&i) = index.get(&k.merchant_id) {
                if at >= window_from {
                    f.merchants[i].complaints.push(Fact {
                        id: k.id.clone(),
                        at,
                    });
                }
            }
            f.complaints.push(ComplaintObservation {
                id: k.id,
                category: main.get(&k.merchant_id).copied().flatten(),
                merchant_id: k.merchant_id,
                product: k.product,
                at,
            });
        }
    }
    Ok(f)
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

fn open_count(c: &mut impl GenericClient) -> Result<u64, StoreError> {
    let n: i64 = c
        .query_one(
            "SELECT COUNT(*) FROM alerts WHERE status <> 'resolved'",
            &[],
        )?
        .get(0);
    Ok(n as u64)
}

// ---------------------------------------------------------------------------
// The passes
// ---------------------------------------------------------------------------

/// The advisory lock every pass takes in its transaction ("shianalr" in
/// ASCII): the passes of all instances run one after another, as SQLite's
/// writer runs them.
const PASS_LOCK: i64 = 0x7368_6961_6e61_6c72;

/// The full pass, in one transaction (the marks it read cleared:
/// everything was seen). The price windows are read again from the
/// database.
fn scan(
    client: &mut postgres::Client,
    windows: &mut PriceWindows,
    now: DateTime<Utc>,
) -> Result<PassOutcome, StoreError> {
    let t = Thresholds::builtin();
    let mut tx = client.transaction()?;
    super::field::serialise(&mut tx, PASS_LOCK)?;
    // Before the facts: a mark made after this read stays for the next pass.
    let marks = marked(&mut tx)?;
    let started = std::time::Instant::now();
    let mut facts = facts(&mut tx, t, now, None)?;
    windows.reload(&mut tx, t, now)?;
    facts.prices = windows.take_all();
    let read = started.elapsed();
    let mut candidates = warnings::evaluate(t, &facts, now, Scope::All);
    let prices = facts.prices.len();
    windows.give_back_all(std::mem::take(&mut facts.prices));
    candidates.extend(super::staff::alert_candidates(&mut tx, now)?);
    candidates.extend(super::entry_checks::alert_candidates(&mut tx, now)?);
    candidates.extend(super::holds::alert_candidates(&mut tx, now)?);
    let evaluated = started.elapsed();
    let raised = store(&mut tx, t, &candidates, now)?;
    let checks = super::self_checks::alert_candidates(&mut tx, now)?;
    let raised = raised + raise(&mut tx, &checks, now)?;
    tracing::info!(
        read_ms = read.as_millis() as u64,
        evaluate_ms = (evaluated - read).as_millis() as u64,
        store_ms = (started.elapsed() - evaluated).as_millis() as u64,
        prices,
        samples = facts.samples.len(),
        "alerts: full pass steps"
    );
    clear(&mut tx, &marks)?;
    let open = open_count(&mut tx)?;
    tx.commit()?;
    Ok(PassOutcome { raised, open })
}

/// The incremental pass over the marked merchants, in the caller's
/// transaction (its own in [`AlertStore::refresh_alerts`]; a write that
/// marks and refreshes at once, as SQLite's complaint does, calls it in
/// its own): each judged with its market's price window, caught up with
/// the entries stored since the last pass.
pub(super) fn refresh_in(
    c: &mut impl GenericClient,
    windows: &mut PriceWindows,
    now: DateTime<Utc>,
) -> Result<PassOutcome, StoreError> {
    super::field::serialise(c, PASS_LOCK)?;
    let marks = marked(c)?;
    if marks.merchants.is_empty() {
        return Ok(PassOutcome {
            raised: 0,
            open: open_count(c)?,
        });
    }
    let t = Thresholds::builtin();
    let started = std::time::Instant::now();
    let mut facts = facts(c, t, now, Some(&marks.merchants))?;
    windows.catch_up(c, t, now)?;
    let read = started.elapsed();
    let markets: HashMap<String, Option<String>> = facts
        .merchants
        .iter()
        .map(|m| (m.id.clone(), m.market_id.clone()))
        .collect();
    let mut candidates = Vec::new();
    for m in &marks.merchants {
        let market = markets.get(m).cloned().flatten();
        if let Some(market) = &market {
            facts.prices = windows.take(market);
        }
        candidates.extend(warnings::evaluate(t, &facts, now, Scope::Merchant(m)));
        if let Some(market) = &market {
            windows.give_back(market, std::mem::take(&mut facts.prices));
        }
    }
    let raised = store(c, t, &candidates, now)?;
    clear(c, &marks)?;
    tracing::debug!(
        merchants = marks.merchants.len(),
        read_us = read.as_micros() as u64,
        total_us = started.elapsed().as_micros() as u64,
        windows = windows.len(),
        "alerts: incremental pass"
    );
    Ok(PassOutcome {
        raised,
        open: open_count(c)?,
    })
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

    fn scan_alerts(&self, now: DateTime<Utc>) -> StoreFuture<'_, PassOutcome> {
        let windows = Arc::clone(&self.price_windows);
        Box::pin(
            self.pool.call(move |c: &mut postgres::Client| {
                scan(c, &mut price_window::lock(&windows), now)
            }),
        )
    }

    fn refresh_alerts(&self, now: DateTime<Utc>) -> StoreFuture<'_, PassOutcome> {
        let windows = Arc::clone(&self.price_windows);
        Box::pin(self.pool.call(move |c: &mut postgres::Client| {
            let mut tx = c.transaction()?;
            let out = refresh_in(&mut tx, &mut price_window::lock(&windows), now)?;
            tx.commit()?;
            Ok(out)
        }))
    }
}

#[cfg(test)]
mod tests {
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

    /// A mark made again while a pass runs (after the pass read it) stays
    /// for the next pass; one as read is cleared.
    #[test]
    fn a_mark_made_during_a_pass_survives_it() {
        let Some(db) = seeded() else { return };
        let mut c = db.store.pool().get().unwrap();
        add_merchant(&mut *c, "b", "350203", Some("mk1"));
        mark(&mut *c, "a").unwrap();
        mark(&mut *c, "b").unwrap();
        let read = marked(&mut *c).unwrap();
        assert_eq!(read.merchants, ["a", "b"]);
        mark(&mut *c, "a").unwrap();
        clear(&mut *c, &read).unwrap();
        assert_eq!(marked(&mut *c).unwrap().merchants, ["a"]);
        let read = marked(&mut *c).unwrap();
        clear(&mut *c, &read).unwrap();
        assert!(marked(&mut *c).unwrap().merchants.is_empty());
    }

    /// Sets a merchant's licence expiry `days` from today (China's day).
    fn expires_in(c: &mut postgres::Client, merchant: &str, days: i64) {
        let day = local_date(Utc::now()) + Duration::days(days);
        c.execute(
            "UPDATE merchants SET licence_expiry = $2 WHERE id = $1",
            &[&merchant, &day],
        )
        .unwrap();
    }

    /// A purchase of `merchant`'s now, at its district's next position.
    fn bought_now(c: &mut postgres::Client, merchant: &str) -> String {
        let id = uuid::Uuid::now_v7().to_string();
        let mut tx = c.transaction().unwrap();
        let pos: i64 = tx
            .query_one(
                "INSERT INTO ledger_heads (region_code, head) VALUES ('350203', 1)
                 ON CONFLICT (region_code) DO UPDATE SET head = ledger_heads.head + 1 RETURNING head",
                &[],
            )
            .unwrap()
            .get(0);
        let now = Utc::now();
        let payload =
            serde_json::json!({"product": {"name": "冻牛腱", "category": "livestock_meat"}});
        tx.execute(
            "INSERT INTO entries (region_code, entry_id, pos, kind, merchant_id, at, recorded_at, payload)
             VALUES ('350203', $1, $2, $3, $4, $5, $6, $7::text::json)",
            &[&id, &pos, &PURCHASE, &merchant, &now.to_rfc3339(), &now, &payload.to_string()],
        )
        .unwrap();
        tx.commit().unwrap();
        id
    }

    async fn of_kind(db: &Db, kind: Kind) -> Vec<Alert> {
        db.store
            .list_alerts(AlertFilter {
                kind: Some(kind),
                limit: 50,
                ..Default::default()
            })
            .await
            .unwrap()
            .items
    }

    /// The full pass raises what core finds in the stored facts (a licence
    /// a few days from expiry), clears the marks, and a second pass sees
    /// the same alert again rather than raising it twice.
    #[tokio::test(flavor = "multi_thread")]
    async fn the_full_pass_raises_what_core_finds() {
        let Some(db) = sync(seeded) else { return };
        sync(|| {
            let mut c = db.store.pool().get().unwrap();
            add_merchant(&mut *c, "b", "350203", Some("mk1"));
            expires_in(&mut c, "a", 3);
            expires_in(&mut c, "b", 200);
            mark(&mut *c, "b").unwrap();
        });
        let now = Utc::now();
        let first = db.store.scan_alerts(now).await.unwrap();
        assert!(first.raised >= 1, "{first:?}");
        assert_eq!(first.open, first.raised);
        let found = of_kind(&db, Kind::LicenceExpiring7d).await;
        assert_eq!(found.len(), 1, "{found:#?}");
        assert_eq!(found[0].subject.id, "a");
        assert_eq!(found[0].subject.market_id.as_deref(), Some("mk1"));
        assert!(of_kind(&db, Kind::LicenceExpiring30d).await.is_empty());
        let left = sync(|| marked(&mut *db.store.pool().get().unwrap()).unwrap());
        assert!(left.merchants.is_empty());

        let later = now + Duration::seconds(5);
        let again = db.store.scan_alerts(later).await.unwrap();
        assert_eq!(
            again,
            PassOutcome {
                raised: 0,
                open: first.open
            }
        );
        let seen = of_kind(&db, Kind::LicenceExpiring7d).await;
        assert_eq!(seen[0].id, found[0].id);
        assert!(seen[0].last_seen_at > found[0].last_seen_at);
    }

    /// The incremental pass judges the marked merchants only (here: one
    /// trading after its licence expired), clears their marks, and with
    /// no marks raises nothing.
    #[tokio::test(flavor = "multi_thread")]
    async fn the_incremental_pass_judges_the_marked_merchants() {
        let Some(db) = sync(seeded) else { return };
        let entry = sync(|| {
            let mut c = db.store.pool().get().unwrap();
            add_merchant(&mut *c, "b", "350203", Some("mk1"));
            expires_in(&mut c, "a", -10);
            expires_in(&mut c, "b", -10);
            let entry = bought_now(&mut c, "a");
            bought_now(&mut c, "b");
            // What a push by `a` marks.
            mark(&mut *c, "a").unwrap();
            entry
        });
        let now = Utc::now() + Duration::seconds(1);
        let out = db.store.refresh_alerts(now).await.unwrap();
        assert_eq!(out, PassOutcome { raised: 1, open: 1 });
        let found = of_kind(&db, Kind::LicenceExpiredTrading).await;
        assert_eq!(found.len(), 1, "{found:#?}");
        assert_eq!(found[0].subject.id, "a");
        let links: Vec<&str> = found[0]
            .evidence
            .links
            .iter()
            .map(|l| l.id.as_str())
            .collect();
        assert_eq!(links, [entry.as_str()]);
        let none = db.store.refresh_alerts(now).await.unwrap();
        assert_eq!(none, PassOutcome { raised: 0, open: 1 });

        // The full pass finds `b`, never marked.
        let all = db.store.scan_alerts(now).await.unwrap();
        assert!(all.raised >= 1, "{all:?}");
        assert_eq!(of_kind(&db, Kind::LicenceExpiredTrading).await.len(), 2);
    }
}
