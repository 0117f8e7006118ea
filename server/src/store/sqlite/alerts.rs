//! [`AlertStore`] for the SQLite backend: the `alerts` tables (component
//! `"alerts"`), the facts core's warnings engine reads, filled from the
//! registry, the ledger, samples and complaints, and the marks that make
//! the incremental pass cannot-be-lost.
//!
//! Incremental evaluation is a follow-up write, not part of the push
//! transaction: the push marks the merchants it touched (`alert_marks`, in
//! its own transaction, so a mark exists exactly when its push does), and
//! the push handler runs [`refresh`] right after the commit, before it
//! answers. A crash between the two leaves the marks, which the next
//! refresh or the full pass at start drains. This keeps the single
//! writer's push transaction as short as it was (the evaluation reads the
//! sample and complaint windows), and pushes that arrive together are
//! evaluated once. A complaint (rare, not on the ingest path) is evaluated
//! in its own transaction.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use rusqlite::{params, params_from_iter, Connection, OptionalExtension, Row};
use shian_core::category::Category;
use shian_core::event::{PURCHASE, SALE};
use shian_core::warnings::{
    self, Candidate, ComplaintObservation, Evidence, Fact, Facts, Kind, LedgerWarningFact,
    MerchantFacts, SampleObservation, Scope, Severity, Subject, SubjectType, Thresholds,
};

use super::migrate::Migration;
use super::price_window::PriceWindows;
use super::timestamps::{parse_ts, ts};
use super::{lock, SqliteStore};
use crate::store::alerts::{Alert, AlertAction, AlertFilter, AlertStatus, AlertStore, PassOutcome};
use crate::store::local_time::device_time;
use crate::store::{Page, StoreError, StoreFuture};

/// The alert tables. Migration 1 replaces the field component's first
/// `alerts` table (one row per confirmed test failure, written and never
/// read; every column of it is a copy of its `samples` row, so nothing is
/// lost): a confirmed failure now weighs in the pass-rate warnings, and
/// there is one alerts table, this one.
pub const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "alerts with identity and lifecycle, marks for the incremental pass",
    sql: r#"
    DROP TABLE IF EXISTS alerts;
    CREATE TABLE alerts (
        id             TEXT PRIMARY KEY,
        kind           TEXT NOT NULL,
        subject_type   TEXT NOT NULL CHECK (subject_type IN ('merchant', 'market', 'category', 'product')),
        subject_id     TEXT NOT NULL,
        subject_name   TEXT NOT NULL,
        -- The subject's market (a merchant's, or the market itself).
        market_id      TEXT,
        -- The subject's id when it is a merchant (the list filters on it).
        merchant_id    TEXT,
        severity       TEXT NOT NULL CHECK (severity IN ('low', 'medium', 'high')),
        title          TEXT NOT NULL,
        evidence       TEXT NOT NULL,
        status         TEXT NOT NULL CHECK (status IN ('new', 'assigned', 'resolved')),
        assigned_to    TEXT,
        note           TEXT,
        rules_version  TEXT NOT NULL,
        -- The newest fact behind it: after a resolution only newer facts
        -- raise the same alert again.
        latest_fact_at TEXT NOT NULL,
        first_seen_at  TEXT NOT NULL,
        last_seen_at   TEXT NOT NULL,
        resolved_at    TEXT
    );
    CREATE UNIQUE INDEX alerts_open ON alerts(kind, subject_type, subject_id) WHERE status <> 'resolved';
    CREATE INDEX alerts_resolved ON alerts(kind, subject_type, subject_id, resolved_at) WHERE status = 'resolved';
    CREATE INDEX alerts_by_status ON alerts(status, last_seen_at);
    CREATE INDEX alerts_by_merchant ON alerts(merchant_id) WHERE merchant_id IS NOT NULL;
    CREATE INDEX alerts_by_market ON alerts(market_id) WHERE market_id IS NOT NULL;
    -- Merchants whose facts changed since the last pass.
    CREATE TABLE alert_marks (merchant_id TEXT PRIMARY KEY) WITHOUT ROWID;
    "#,
}];

/// Applies [`MIGRATIONS`] (after the field tables, whose first `alerts`
/// table migration 1 replaces).
pub(super) fn open(conn: &mut Connection) -> Result<(), StoreError> {
    super::migrate::apply(conn, "alerts", MIGRATIONS)?;
    Ok(())
}

// ---------------------------------------------------------------------------
// Marks
// ---------------------------------------------------------------------------

/// Where the tables a push writes ended before it (rowids).
#[derive(Debug, Clone, Copy)]
pub(super) struct Marks([i64; 4]);

/// The ends of the tables whose new rows change a merchant's facts.
pub(super) fn ends(conn: &Connection) -> Result<Marks, StoreError> {
    Ok(Marks(conn.query_row(
        "SELECT (SELECT COALESCE(MAX(rowid), 0) FROM entries), (SELECT COALESCE(MAX(rowid), 0) FROM samples),
                (SELECT COALESCE(MAX(rowid), 0) FROM complaints), (SELECT COALESCE(MAX(rowid), 0) FROM complaint_actions)",
        [],
        |r| Ok([r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?]),
    )?))
}

/// Marks the merchants of the rows written after `before` (in the writing
/// transaction).
pub(super) fn mark_since(conn: &Connection, before: Marks) -> Result<(), StoreError> {
    let [e, s, c, a] = before.0;
    conn.prepare_cached(
        "INSERT OR IGNORE INTO alert_marks (merchant_id)
         SELECT merchant_id FROM entries WHERE rowid > ?1
         UNION SELECT merchant_id FROM samples WHERE rowid > ?2
         UNION SELECT merchant_id FROM complaints WHERE rowid > ?3
         UNION SELECT c.merchant_id FROM complaint_actions a JOIN complaints c ON c.id = a.complaint_id WHERE a.rowid > ?4",
    )?
    .execute(params![e, s, c, a])?;
    Ok(())
}

/// Marks one merchant (in the writing transaction).
pub(super) fn mark(conn: &Connection, merchant_id: &str) -> Result<(), StoreError> {
    conn.prepare_cached("INSERT OR IGNORE INTO alert_marks (merchant_id) VALUES (?1)")?
        .execute([merchant_id])?;
    Ok(())
}

// ---------------------------------------------------------------------------
// Facts
// ---------------------------------------------------------------------------

fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

/// The ids as a JSON array for `json_each`.
fn id_list(ids: &[String]) -> String {
    serde_json::to_string(ids).unwrap_or_else(|_| "[]".into())
}

/// The facts of `only` (every merchant when `None`) and the baselines
/// they are judged against, but for the prices: those are the writer's
/// [`PriceWindows`], lent to the evaluation.
pub(super) fn facts(
    conn: &Connection,
    t: &Thresholds,
    now: DateTime<Utc>,
    only: Option<&[String]>,
) -> Result<Facts, StoreError> {
    let mut f = Facts::default();
    let list = only.map(id_list);
    let filter = if list.is_some() {
        "WHERE id IN (SELECT value FROM json_each(?1))"
    } else {
        "WHERE ?1 IS NULL"
    };
    {
        let mut st = conn.prepare(&format!(
            "SELECT id, name, market_id, created_at, licence_expiry, categories FROM merchants {filter} ORDER BY id"
        ))?;
        let mut rows = st.query([&list])?;
        while let Some(r) = rows.next()? {
            let id: String = r.get(0)?;
            let name: String = r.get(1)?;
            let market: Option<String> = r.get(2)?;
            let expiry: Option<String> = r.get(4)?;
            let expiry = expiry
                .map(|s| {
                    NaiveDate::parse_from_str(&s, "%Y-%m-%d")
                        .map_err(|e| corrupt("licence_expiry", e))
                })
                .transpose()?;
            f.merchant_names
                .insert(id.clone(), (name.clone(), market.clone()));
            f.merchants.push(MerchantFacts {
                id,
                name,
                market_id: market,
                registered_at: parse_ts(&r.get::<_, String>(3)?)?,
                licence_expiry: expiry,
                trading_after_expiry: Vec::new(),
                ledger_warnings: Vec::new(),
                last_sampled_at: None,
                complaints: Vec::new(),
            });
        }
    }
    {
        let mut st = conn.prepare_cached("SELECT id, name FROM markets")?;
        let rows = st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
        for r in rows {
            let (id, name) = r?;
            f.market_names.insert(id, name);
        }
    }
    let index: HashMap<String, usize> = f
        .merchants
        .iter()
        .enumerate()
        .map(|(i, m)| (m.id.clone(), i))
        .collect();
    let today = warnings_today(now);

    // Trading after the licence's expiry: entries recorded since its
    // midnight (the device time decides, in core).
    {
        let mut st = conn.prepare_cached(
            "SELECT entry_id, at FROM entries WHERE merchant_id = ?1 AND kind IN (?2, ?3) AND recorded_at >= ?4 ORDER BY rowid DESC LIMIT 200",
        )?;
        for m in f.merchants.iter_mut() {
            let Some(expiry) = m.licence_expiry.filter(|d| *d < today) else {
                continue;
            };
            let from = ts(&midnight(expiry.succ_opt().unwrap_or(expiry)));
            let rows = st.query_map(params![m.id, PURCHASE, SALE, from], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })?;
            for r in rows {
                let (id, at) = r?;
                if let Some(at) = device_time(&at) {
                    m.trading_after_expiry.push(Fact { id, at });
                }
            }
        }
    }
    // Ledger warnings in the window (stamped with the server's clock).
    {
        let cutoff = ts(&(now - Duration::days(t.ledger.window_days)));
        let codes = serde_json::to_string(&warnings::ledger::CODES).unwrap_or_default();
        let sql = format!(
            "SELECT merchant_id, code, entry_id, at FROM warnings WHERE at >= ?1 AND code IN (SELECT value FROM json_each(?2)) {}",
            if list.is_some() { "AND merchant_id IN (SELECT value FROM json_each(?3))" } else { "AND ?3 IS NULL" }
        );
        let mut st = conn.prepare_cached(&sql)?;
        let mut rows = st.query(params![cutoff, codes, list])?;
        while let Some(r) = rows.next()? {
            let m: String = r.get(0)?;
            if let Some(&i) = index.get(&m) {
                f.merchants[i].ledger_warnings.push(LedgerWarningFact {
                    code: r.get(1)?,
                    entry_id: r.get(2)?,
                    at: parse_ts(&r.get::<_, String>(3)?)?,
                });
            }
        }
    }
    // Last sampling of each merchant.
    {
        let mut st = conn.prepare_cached("SELECT merchant_id, MAX(taken_at) FROM samples WHERE confirms IS NULL GROUP BY merchant_id")?;
        let mut rows = st.query([])?;
        while let Some(r) = rows.next()? {
            let m: String = r.get(0)?;
            if let Some(&i) = index.get(&m) {
                f.merchants[i].last_sampled_at = Some(parse_ts(&r.get::<_, String>(1)?)?);
            }
        }
    }
    // Samples in the pass-rate window, with the category of the sampled
    // batch where the sample names one, else the merchant's main category
    // (as a complaint's).
    {
        let cutoff = ts(&(now
            - Duration::days(
                t.pass_rate
                    .window_days
                    .max(t.sampling.too_often_window_days),
            )));
        let mut st = conn.prepare_cached(
            "SELECT s.id, s.merchant_id, m.market_id, s.taken_at, s.counts_as_failure, s.confirms IS NOT NULL,
                    COALESCE((SELECT json_extract(p.payload, '$.product.category') FROM entries p WHERE p.trace_code = s.trace_code AND p.kind = 'ledger.purchase' LIMIT 1),
                             json_extract(m.categories, '$[0]'))
             FROM samples s LEFT JOIN merchants m ON m.id = s.merchant_id
             WHERE s.taken_at >= ?1",
        )?;
        let rows = st.query_map(params![cutoff], |r: &Row<'_>| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Option<String>>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, bool>(4)?,
                r.get::<_, bool>(5)?,
                r.get::<_, Option<String>>(6)?,
            ))
        })?;
        for r in rows {
            let (id, merchant_id, market_id, at, failed, confirmation, category) = r?;
            f.samples.push(SampleObservation {
                id,
                merchant_id,
                market_id,
                category: category.as_deref().and_then(Category::parse),
                at: parse_ts(&at)?,
                failed,
                confirmation,
            });
        }
    }
    // Complaints that weigh: per merchant in its window, and all of them in
    // the hot-topic windows, about the merchant's main category and the
    // product named, if any.
    {
        let c = &t.complaints;
        let days = c.window_days.max(c.hot_window_days + c.hot_baseline_days);
        let since = warnings_today(now) - Duration::days(days);
        let mut main: HashMap<String, Option<Category>> = HashMap::new();
        {
            let mut st = conn.prepare_cached(
                "SELECT id, categories FROM merchants WHERE id IN (SELECT DISTINCT merchant_id FROM complaints WHERE received_on >= ?1)",
            )?;
            let rows = st.query_map([since.to_string()], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })?;
            for r in rows {
                let (id, cats) = r?;
                let cats: Vec<String> =
                    serde_json::from_str(&cats).map_err(|e| corrupt("merchant categories", e))?;
                main.insert(id, cats.first().and_then(|c| Category::parse(c)));
            }
        }
        let window_from = now - Duration::days(c.window_days);
        for c in super::feedback::weighing_complaints(conn, since)? {
            // The day it was received, from its start: a complaint of today
            // is never in the future of `now` (noon would be before midday).
            let at = midnight(c.received_on);
            if let Some(&i) = index.get(&c.merchant_id) {
                if at >= window_from {
                    f.merchants[i].complaints.push(Fact {
                        id: c.id.clone(),
                        at,
                    });
                }
            }
            f.complaints.push(ComplaintObservation {
                id: c.id,
                category: main.get(&c.merchant_id).copied().flatten(),
                merchant_id: c.merchant_id,
                product: c.product,
                at,
            });
        }
    }
    Ok(f)
}

fn warnings_today(now: DateTime<Utc>) -> NaiveDate {
    now.with_timezone(&china()).date_naive()
}

fn china() -> chrono::FixedOffset {
    use chrono::Offset;
    chrono::FixedOffset::east_opt(8 * 3600).unwrap_or_else(|| Utc.fix())
}

/// Midnight of a date in China, as UTC.
fn midnight(d: NaiveDate) -> DateTime<Utc> {
    use chrono::TimeZone;
    d.and_hms_opt(0, 0, 0)
        .and_then(|d| china().from_local_datetime(&d).single())
        .map_or_else(
            || d.and_time(chrono::NaiveTime::MIN).and_utc(),
            |d| d.with_timezone(&Utc),
        )
}

// ---------------------------------------------------------------------------
// Storing candidates
// ---------------------------------------------------------------------------

fn to_json<T: serde::Serialize>(v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(|e| corrupt("alert", e))
}

/// Raises `candidates` in the caller's transaction, as a pass would: for
/// the warnings an event decides at once (a hold placed, an entry check
/// refused) from a core detector, in the write that stores the event.
/// Returns how many were new.
pub(super) fn raise(
    conn: &Connection,
    candidates: &[Candidate],
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    store(conn, Thresholds::builtin(), candidates, now)
}

/// Stores what a pass raised: the open alert of the same identity is seen
/// again (updated), a resolved one is raised again only by newer facts,
/// anything else is new. Returns how many were new.
fn store(
    conn: &Connection,
    t: &Thresholds,
    candidates: &[Candidate],
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let now_s = ts(&now);
    let mut raised = 0;
    let mut seen: HashSet<(Kind, SubjectType, &str)> = HashSet::new();
    for c in candidates {
        // One candidate per identity per pass (core gives no duplicates;
        // this keeps a second one from updating the first).
        if !seen.insert((c.kind, c.subject.kind, c.subject.id.as_str())) {
            continue;
        }
        let (kind, st, sid) = (
            c.kind.as_str(),
            c.subject.kind.as_str(),
            c.subject.id.as_str(),
        );
        let evidence = to_json(&c.evidence)?;
        let merchant = (c.subject.kind == SubjectType::Merchant).then_some(sid);
        let updated = conn
            .prepare_cached(
                "UPDATE alerts SET subject_name = ?4, market_id = ?5, severity = ?6, title = ?7, evidence = ?8,
                        rules_version = ?9, latest_fact_at = ?10, last_seen_at = ?11
                 WHERE kind = ?1 AND subject_type = ?2 AND subject_id = ?3 AND status <> 'resolved'",
            )?
            .execute(params![
                kind,
                st,
                sid,
                c.subject.name,
                c.subject.market_id,
                c.severity.as_str(),
                c.title,
                evidence,
                t.version,
                ts(&c.latest),
                now_s
            ])?;
        if updated > 0 {
            continue;
        }
        let resolved: Option<String> = conn
            .prepare_cached(
                "SELECT MAX(resolved_at) FROM alerts WHERE kind = ?1 AND subject_type = ?2 AND subject_id = ?3 AND status = 'resolved'",
            )?
            .query_row(params![kind, st, sid], |r| r.get(0))?;
        if let Some(r) = resolved {
            if parse_ts(&r)? >= c.latest {
                continue;
            }
        }
        conn.prepare_cached(
            "INSERT INTO alerts (id, kind, subject_type, subject_id, subject_name, market_id, merchant_id, severity, title,
                 evidence, status, rules_version, latest_fact_at, first_seen_at, last_seen_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 'new', ?11, ?12, ?13, ?13)",
        )?
        .execute(params![
            uuid::Uuid::now_v7().to_string(),
            kind,
            st,
            sid,
            c.subject.name,
            c.subject.market_id,
            merchant,
            c.severity.as_str(),
            c.title,
            evidence,
            t.version,
            ts(&c.latest),
            now_s
        ])?;
        raised += 1;
    }
    Ok(raised)
}

fn open_count(conn: &Connection) -> Result<u64, StoreError> {
    Ok(conn.query_row(
        "SELECT COUNT(*) FROM alerts WHERE status <> 'resolved'",
        [],
        |r| r.get::<_, i64>(0),
    )? as u64)
}

/// The full pass, in one transaction (marks cleared: everything was seen).
/// The price windows are read again from the file.
pub(super) fn scan(
    conn: &mut Connection,
    windows: &mut PriceWindows,
    now: DateTime<Utc>,
) -> Result<PassOutcome, StoreError> {
    let t = Thresholds::builtin();
    let tx = conn.transaction()?;
    let started = std::time::Instant::now();
    let mut facts = facts(&tx, t, now, None)?;
    windows.reload(&tx, t, now)?;
    facts.prices = windows.take_all();
    let read = started.elapsed();
    let mut candidates = warnings::evaluate(t, &facts, now, Scope::All);
    let prices = facts.prices.len();
    windows.give_back_all(std::mem::take(&mut facts.prices));
    candidates.extend(super::staff::alert_candidates(&tx, now)?);
    candidates.extend(super::entry_checks::alert_candidates(&tx, now)?);
    candidates.extend(super::holds::alert_candidates(&tx, now)?);
    let evaluated = started.elapsed();
    let raised = store(&tx, t, &candidates, now)?;
    let raised = raised + raise(&tx, &super::self_checks::alert_candidates(&tx, now)?, now)?;
    tracing::info!(
        read_ms = read.as_millis() as u64,
        evaluate_ms = (evaluated - read).as_millis() as u64,
        store_ms = (started.elapsed() - evaluated).as_millis() as u64,
        prices,
        samples = facts.samples.len(),
        "alerts: full pass steps"
    );
    tx.execute("DELETE FROM alert_marks", [])?;
    let open = open_count(&tx)?;
    tx.commit()?;
    Ok(PassOutcome { raised, open })
}

/// The incremental pass over the marked merchants, in the caller's
/// transaction: each judged with its market's price window, caught up
/// with the entries stored since the last pass.
pub(super) fn refresh_in(
    conn: &Connection,
    windows: &mut PriceWindows,
    now: DateTime<Utc>,
) -> Result<PassOutcome, StoreError> {
    let marked: Vec<String> = {
        let mut st = conn.prepare_cached("SELECT merchant_id FROM alert_marks")?;
        let rows = st.query_map([], |r| r.get(0))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    if marked.is_empty() {
        return Ok(PassOutcome {
            raised: 0,
            open: open_count(conn)?,
        });
    }
    let t = Thresholds::builtin();
    let started = std::time::Instant::now();
    let mut facts = facts(conn, t, now, Some(&marked))?;
    windows.catch_up(conn, t, now)?;
    let read = started.elapsed();
    let markets: HashMap<String, Option<String>> = facts
        .merchants
        .iter()
        .map(|m| (m.id.clone(), m.market_id.clone()))
        .collect();
    let mut candidates = Vec::new();
    for m in &marked {
        let market = markets.get(m).cloned().flatten();
        if let Some(market) = &market {
            facts.prices = windows.take(market);
        }
        candidates.extend(warnings::evaluate(t, &facts, now, Scope::Merchant(m)));
        if let Some(market) = &market {
            windows.give_back(market, std::mem::take(&mut facts.prices));
        }
    }
    let raised = store(conn, t, &candidates, now)?;
    conn.execute("DELETE FROM alert_marks", [])?;
    tracing::debug!(
        merchants = marked.len(),
        read_us = read.as_micros() as u64,
        total_us = started.elapsed().as_micros() as u64,
        windows = windows.len(),
        "alerts: incremental pass"
    );
    Ok(PassOutcome {
        raised,
        open: open_count(conn)?,
    })
}

// ---------------------------------------------------------------------------
// Reading and acting
// ---------------------------------------------------------------------------

const SELECT: &str = "SELECT id, kind, subject_type, subject_id, subject_name, market_id, severity, title, evidence, status,
        assigned_to, note, rules_version, first_seen_at, last_seen_at, resolved_at FROM alerts";

fn row(r: &Row<'_>) -> rusqlite::Result<[Option<String>; 16]> {
    let mut v: [Option<String>; 16] = Default::default();
    for (i, slot) in v.iter_mut().enumerate() {
        *slot = r.get(i)?;
    }
    Ok(v)
}

fn alert(v: [Option<String>; 16]) -> Result<Alert, StoreError> {
    let [id, kind, st, sid, name, market, severity, title, evidence, status, assigned, note, version, first, last, resolved] =
        v;
    let need = |s: Option<String>, what: &str| {
        s.ok_or_else(|| corrupt("alert", format!("{what} is NULL")))
    };
    let kind = need(kind, "kind")?;
    let st = need(st, "subject_type")?;
    let severity = need(severity, "severity")?;
    let status = need(status, "status")?;
    let evidence: Evidence = serde_json::from_str(&need(evidence, "evidence")?)
        .map_err(|e| corrupt("alert evidence", e))?;
    Ok(Alert {
        id: need(id, "id")?,
        kind: Kind::parse(&kind).ok_or_else(|| corrupt("alert kind", &kind))?,
        subject: Subject {
            kind: SubjectType::parse(&st).ok_or_else(|| corrupt("alert subject_type", &st))?,
            id: need(sid, "subject_id")?,
            market_id: market,
            name: need(name, "subject_name")?,
        },
        severity: Severity::parse(&severity).ok_or_else(|| corrupt("alert severity", &severity))?,
        title: need(title, "title")?,
        evidence,
        status: AlertStatus::parse(&status).ok_or_else(|| corrupt("alert status", &status))?,
        assigned_to: assigned,
        note,
        rules_version: need(version, "rules_version")?,
        first_seen_at: parse_ts(&need(first, "first_seen_at")?)?,
        last_seen_at: parse_ts(&need(last, "last_seen_at")?)?,
        resolved_at: resolved.as_deref().map(parse_ts).transpose()?,
    })
}

fn read(conn: &Connection, id: &str) -> Result<Option<Alert>, StoreError> {
    conn.prepare_cached(&format!("{SELECT} WHERE id = ?1"))?
        .query_row([id], row)
        .optional()?
        .map(alert)
        .transpose()
}

fn list(conn: &Connection, f: &AlertFilter) -> Result<Page<Alert>, StoreError> {
    let filter = "WHERE (?1 IS NULL OR status = ?1) AND (?2 IS NULL OR kind = ?2) AND (?3 IS NULL OR market_id = ?3)
                  AND (?4 IS NULL OR merchant_id = ?4)";
    let args = params![
        f.status.map(AlertStatus::as_str),
        f.kind.map(Kind::as_str),
        f.market_id,
        f.merchant_id
    ];
    let total: i64 = conn.query_row(
        &format!("SELECT COUNT(*) FROM alerts {filter}"),
        args,
        |r| r.get(0),
    )?;
    let mut st = conn.prepare_cached(&format!(
        "{SELECT} {filter}
         ORDER BY status = 'resolved', CASE severity WHEN 'high' THEN 0 WHEN 'medium' THEN 1 ELSE 2 END, last_seen_at DESC, id
         LIMIT ?5 OFFSET ?6"
    ))?;
    let rows = st.query_map(
        params![
            f.status.map(AlertStatus::as_str),
            f.kind.map(Kind::as_str),
            f.market_id,
            f.merchant_id,
            f.limit,
            f.offset
        ],
        row,
    )?;
    let items = rows
        .map(|r| r.map_err(StoreError::from).and_then(alert))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Page {
        items,
        total: total as u64,
        limit: f.limit,
        offset: f.offset,
    })
}

fn act(
    conn: &mut Connection,
    id: &str,
    action: &AlertAction,
    now: DateTime<Utc>,
) -> Result<Alert, StoreError> {
    let tx = conn.transaction()?;
    let Some(current) = read(&tx, id)? else {
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
            let exists: bool = tx.query_row(
                "SELECT EXISTS(SELECT 1 FROM users WHERE id = ?1 AND role IN ('admin', 'analyst', 'inspector'))",
                [user_id],
                |r| r.get(0),
            )?;
            if !exists {
                return Err(StoreError::NotFound("用户"));
            }
            tx.execute(
                "UPDATE alerts SET status = 'assigned', assigned_to = ?2 WHERE id = ?1",
                params![id, user_id],
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
                "UPDATE alerts SET status = 'resolved', note = ?2, resolved_at = ?3 WHERE id = ?1",
                params![id, note, ts(&now)],
            )?;
        }
    }
    let done = read(&tx, id)?.ok_or(StoreError::NotFound("预警"))?;
    tx.commit()?;
    Ok(done)
}

/// Per merchant, its open alerts of the kinds that weigh in the risk grade
/// on their own (`Kind::weighs_in_risk_grade`, risk-v3's `open_alert`).
pub(super) fn open_risk(
    conn: &Connection,
    only: Option<&str>,
) -> Result<HashMap<String, u16>, StoreError> {
    let kinds: Vec<&str> = Kind::ALL
        .into_iter()
        .filter(|k| k.weighs_in_risk_grade())
        .map(Kind::as_str)
        .collect();
    let kinds = serde_json::to_string(&kinds).unwrap_or_default();
    let mut st = conn.prepare_cached(
        "SELECT merchant_id, COUNT(*) FROM alerts
         WHERE status <> 'resolved' AND merchant_id IS NOT NULL AND (?2 IS NULL OR merchant_id = ?2)
           AND kind IN (SELECT value FROM json_each(?1))
         GROUP BY merchant_id",
    )?;
    let rows = st.query_map(
        params_from_iter([Some(kinds), only.map(str::to_owned)]),
        |r| {
            Ok((
                r.get::<_, String>(0)?,
                u16::try_from(r.get::<_, i64>(1)?).unwrap_or(u16::MAX),
            ))
        },
    )?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

impl AlertStore for SqliteStore {
    fn list_alerts(&self, filter: AlertFilter) -> StoreFuture<'_, Page<Alert>> {
        Box::pin(self.readers().call(move |conn| list(conn, &filter)))
    }

    fn alert(&self, id: String) -> StoreFuture<'_, Option<Alert>> {
        Box::pin(self.readers().call(move |conn| read(conn, &id)))
    }

    fn act_on_alert(
        &self,
        id: String,
        action: AlertAction,
        now: DateTime<Utc>,
    ) -> StoreFuture<'_, Alert> {
        Box::pin(self.writer().call(move |conn| act(conn, &id, &action, now)))
    }

    fn scan_alerts(&self, now: DateTime<Utc>) -> StoreFuture<'_, PassOutcome> {
        let windows = self.price_windows();
        Box::pin(
            self.writer()
                .call(move |conn| scan(conn, &mut lock(&windows), now)),
        )
    }

    fn refresh_alerts(&self, now: DateTime<Utc>) -> StoreFuture<'_, PassOutcome> {
        let windows = self.price_windows();
        Box::pin(self.writer().call(move |conn| {
            let tx = conn.transaction()?;
            let out = refresh_in(&tx, &mut lock(&windows), now)?;
            tx.commit()?;
            Ok(out)
        }))
    }
}
