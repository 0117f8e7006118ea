//! [`SelfCheckStore`] and [`SelfCheckTx`] for the SQLite backend: the
//! `self_checks` component (checks, findings, closings, which templates
//! went out), the changes sent to the market's tablets, and the facts of
//! the self-inspection warnings.

use std::collections::HashMap;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use rusqlite::{params, Connection, OptionalExtension, Row, TransactionBehavior};
use serde_json::json;
use shian_core::self_check::{
    china_date, templates, Cadence, Closure, FindingState, Period, SelfCheck, CLOSE_KIND,
    RECORD_KIND, TEMPLATE_KIND,
};
use shian_core::warnings::self_checks::{detect, MarketSelfChecks, OpenFinding, SelfCheckConfig};
use shian_core::warnings::Candidate;

use super::migrate::{self, Migration};
use super::sync::{publish, publish_to_market, PushTxn};
use super::timestamps::{parse_ts, ts};
use super::SqliteStore;
use crate::store::self_checks::{
    FindingForClose, SelfCheckHistory, SelfCheckStore, SelfCheckTx, StoredCheckRef, StoredClosing,
    StoredFinding,
};
use crate::store::{StoreError, StoreFuture};

const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "self-inspections, findings, closings",
    sql: r#"
    CREATE TABLE self_checks (
        id               TEXT PRIMARY KEY,
        market_id        TEXT NOT NULL,
        template_id      TEXT NOT NULL,
        template_version INTEGER NOT NULL,
        cadence          TEXT NOT NULL,
        period           TEXT NOT NULL,
        -- The period's first and last Shanghai dates, for range reads.
        first_day        TEXT NOT NULL,
        last_day         TEXT NOT NULL,
        result           TEXT NOT NULL,
        answers          TEXT NOT NULL,
        evaluation       TEXT NOT NULL,
        performed_by     TEXT NOT NULL,
        at               TEXT NOT NULL,
        recorded_at      TEXT NOT NULL
    ) STRICT;
    CREATE INDEX self_checks_by_market ON self_checks(market_id, last_day);

    CREATE TABLE self_check_findings (
        id           TEXT PRIMARY KEY,
        check_id     TEXT NOT NULL REFERENCES self_checks(id),
        market_id    TEXT NOT NULL,
        item_id      TEXT NOT NULL,
        item_text    TEXT NOT NULL,
        note         TEXT NOT NULL,
        follow_up_by TEXT NOT NULL
    ) STRICT;
    CREATE INDEX self_check_findings_by_market ON self_check_findings(market_id, follow_up_by);

    -- A finding's closing: one per finding, never edited.
    CREATE TABLE self_check_closings (
        finding_id TEXT PRIMARY KEY REFERENCES self_check_findings(id),
        note       TEXT NOT NULL,
        photos     TEXT NOT NULL,
        closed_by  TEXT NOT NULL,
        closed_at  TEXT NOT NULL,
        recorded_at TEXT NOT NULL
    ) STRICT;

    -- Which self-inspection templates went out on the change feed.
    CREATE TABLE published_self_check_templates (
        template_id TEXT NOT NULL,
        version     INTEGER NOT NULL,
        seq         INTEGER NOT NULL,
        PRIMARY KEY (template_id, version)
    ) STRICT;
    "#,
}];

/// Migrates the component and publishes the templates not yet on the
/// change feed (kind `self_check_template`, addressed to everyone as the
/// inspectors' `checklist` are, so every operator tablet has them), in an
/// IMMEDIATE transaction so two processes opening the file publish once.
pub(super) fn open(conn: &mut Connection) -> Result<(), StoreError> {
    migrate::apply(conn, "self_checks", MIGRATIONS)?;
    let registry =
        templates().map_err(|e| StoreError::Corrupt(format!("self-check templates: {e}")))?;
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    for t in registry.list() {
        let done: Option<i64> = tx
            .query_row(
                "SELECT seq FROM published_self_check_templates WHERE template_id = ?1 AND version = ?2",
                params![t.id, t.version],
                |r| r.get(0),
            )
            .optional()?;
        if done.is_some() {
            continue;
        }
        let payload = serde_json::to_value(t).map_err(|e| corrupt("template", e))?;
        let seq = publish(&tx, TEMPLATE_KIND, None, None, None, &payload)?;
        tx.execute(
            "INSERT INTO published_self_check_templates (template_id, version, seq) VALUES (?1, ?2, ?3)",
            params![t.id, t.version, seq],
        )?;
    }
    tx.commit()?;
    Ok(())
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

fn day(s: &str) -> Result<NaiveDate, StoreError> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|e| corrupt("date", e))
}

fn period(cadence: &str, p: &str) -> Result<Period, StoreError> {
    let c = Cadence::parse(cadence).ok_or_else(|| corrupt("cadence", cadence))?;
    Period::parse(c, p).map_err(|e| corrupt("period", e))
}

impl SelfCheckTx for PushTxn<'_> {
    fn self_check_market_exists(&self, market_id: &str) -> Result<bool, StoreError> {
        Ok(self
            .0
            .prepare_cached("SELECT 1 FROM markets WHERE id = ?1")?
            .query_row([market_id], |_| Ok(()))
            .optional()?
            .is_some())
    }

    fn self_check_market(&self, check_id: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .0
            .prepare_cached("SELECT market_id FROM self_checks WHERE id = ?1")?
            .query_row([check_id], |r| r.get(0))
            .optional()?)
    }

    fn persist_self_check(
        &mut self,
        c: &SelfCheck,
        performed_by: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let tx = self.0;
        // The push transaction also keeps other ops: a savepoint makes
        // this check's rows all or none.
        tx.execute_batch("SAVEPOINT self_check_op")?;
        let run = || -> Result<(), StoreError> {
            let check_id = c.check_id.to_string();
            let answers = serde_json::to_string(&c.answers).map_err(|e| corrupt("answers", e))?;
            let evaluation =
                serde_json::to_string(&c.evaluation).map_err(|e| corrupt("evaluation", e))?;
            tx.prepare_cached(
                "INSERT INTO self_checks (id, market_id, template_id, template_version, cadence, period,
                     first_day, last_day, result, answers, evaluation, performed_by, at, recorded_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
            )?
            .execute(params![
                check_id,
                c.market_id,
                c.template_id,
                c.template_version,
                c.cadence.as_str(),
                c.period.to_string(),
                c.period.first_day().to_string(),
                c.period.last_day().to_string(),
                c.evaluation.result.as_str(),
                answers,
                evaluation,
                performed_by,
                ts(&c.at.with_timezone(&Utc)),
                ts(&now),
            ])?;
            for f in &c.findings {
                tx.prepare_cached(
                    "INSERT INTO self_check_findings (id, check_id, market_id, item_id, item_text, note, follow_up_by)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )?
                .execute(params![
                    f.finding_id,
                    check_id,
                    c.market_id,
                    f.item_id,
                    f.item_text,
                    f.note,
                    f.follow_up_by.to_string(),
                ])?;
            }
            // The market's other tablets learn of it with their next pull.
            let change = json!({
                "check_id": check_id,
                "market_id": c.market_id,
                "template_id": c.template_id,
                "template_version": c.template_version,
                "cadence": c.cadence,
                "period": c.period,
                "result": c.evaluation.result,
                "findings": c.findings,
                "performed_by": performed_by,
                "at": c.at.to_rfc3339(),
            });
            publish_to_market(tx, RECORD_KIND, &c.market_id, &change)?;
            Ok(())
        };
        match run() {
            Ok(()) => {
                tx.execute_batch("RELEASE self_check_op")?;
                Ok(())
            }
            Err(e) => {
                tx.execute_batch("ROLLBACK TO self_check_op; RELEASE self_check_op")?;
                Err(e)
            }
        }
    }

    fn finding_for_close(&self, finding_id: &str) -> Result<Option<FindingForClose>, StoreError> {
        let row: Option<(String, String, bool)> = self
            .0
            .prepare_cached(
                "SELECT f.market_id, c.at, EXISTS (SELECT 1 FROM self_check_closings x WHERE x.finding_id = f.id)
                 FROM self_check_findings f JOIN self_checks c ON c.id = f.check_id WHERE f.id = ?1",
            )?
            .query_row([finding_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .optional()?;
        row.map(|(market_id, at, closed)| {
            Ok(FindingForClose {
                market_id,
                state: FindingState {
                    check_at: parse_ts(&at)?,
                    closed,
                },
            })
        })
        .transpose()
    }

    fn persist_follow_up_closed(
        &mut self,
        c: &Closure,
        closed_by: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let tx = self.0;
        tx.execute_batch("SAVEPOINT follow_up_op")?;
        let run = || -> Result<(), StoreError> {
            let photos = serde_json::to_string(&c.photos).map_err(|e| corrupt("photos", e))?;
            tx.prepare_cached(
                "INSERT INTO self_check_closings (finding_id, note, photos, closed_by, closed_at, recorded_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![
                c.finding_id,
                c.note,
                photos,
                closed_by,
                ts(&c.at.with_timezone(&Utc)),
                ts(&now)
            ])?;
            let market: String = tx
                .prepare_cached("SELECT market_id FROM self_check_findings WHERE id = ?1")?
                .query_row([&c.finding_id], |r| r.get(0))?;
            let change = json!({
                "finding_id": c.finding_id,
                "note": c.note,
                "photos": c.photos,
                "closed_by": closed_by,
                "at": c.at.to_rfc3339(),
            });
            publish_to_market(tx, CLOSE_KIND, &market, &change)?;
            Ok(())
        };
        match run() {
            Ok(()) => {
                tx.execute_batch("RELEASE follow_up_op")?;
                Ok(())
            }
            Err(e) => {
                tx.execute_batch("ROLLBACK TO follow_up_op; RELEASE follow_up_op")?;
                Err(e)
            }
        }
    }
}

fn check_ref(r: &Row<'_>) -> Result<StoredCheckRef, StoreError> {
    let cadence: String = r.get(1)?;
    let p: String = r.get(2)?;
    Ok(StoredCheckRef {
        check_id: r.get(0)?,
        period: period(&cadence, &p)?,
        template_id: r.get(3)?,
        result: r.get(4)?,
        at: parse_ts(&r.get::<_, String>(5)?)?,
    })
}

fn first_check_day(conn: &Connection, market_id: &str) -> Result<Option<NaiveDate>, StoreError> {
    let first: Option<String> = conn
        .prepare_cached("SELECT MIN(at) FROM self_checks WHERE market_id = ?1")?
        .query_row([market_id], |r| r.get(0))?;
    first.map(|at| parse_ts(&at).map(china_date)).transpose()
}

fn finding_row(r: &Row<'_>) -> Result<StoredFinding, StoreError> {
    let cadence: String = r.get(2)?;
    let p: String = r.get(3)?;
    let closing = match r.get::<_, Option<String>>(10)? {
        None => None,
        Some(note) => Some(StoredClosing {
            note,
            photos: serde_json::from_str(&r.get::<_, String>(11)?)
                .map_err(|e| corrupt("photos", e))?,
            closed_by: r.get(12)?,
            closed_at: parse_ts(&r.get::<_, String>(13)?)?,
        }),
    };
    Ok(StoredFinding {
        finding_id: r.get(0)?,
        check_id: r.get(1)?,
        period: period(&cadence, &p)?,
        item_id: r.get(4)?,
        item_text: r.get(5)?,
        note: r.get(6)?,
        follow_up_by: day(&r.get::<_, String>(7)?)?,
        found_at: parse_ts(&r.get::<_, String>(8)?)?,
        found_by: r.get(9)?,
        closing,
    })
}

/// The self-inspection warnings of every tracked market as of `now` (for
/// the full pass in `alerts::scan` and the periodic check).
pub(super) fn alert_candidates(
    conn: &Connection,
    now: DateTime<Utc>,
) -> Result<Vec<Candidate>, StoreError> {
    let cfg = SelfCheckConfig::builtin();
    // Every period ending in the window, and a month's more for the month
    // that began before it.
    let since = china_date(now - Duration::days(cfg.missed.window_days + 31)).to_string();
    let mut markets: Vec<MarketSelfChecks> = {
        let mut st = conn.prepare_cached(
            "SELECT c.market_id, COALESCE(m.name, c.market_id), MIN(c.at)
             FROM self_checks c LEFT JOIN markets m ON m.id = c.market_id
             GROUP BY c.market_id ORDER BY c.market_id",
        )?;
        let mut rows = st.query([])?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            out.push(MarketSelfChecks {
                market_id: r.get(0)?,
                market_name: r.get(1)?,
                tracked_since: Some(china_date(parse_ts(&r.get::<_, String>(2)?)?)),
                done: Vec::new(),
                open_findings: Vec::new(),
            });
        }
        out
    };
    let index: HashMap<String, usize> = markets
        .iter()
        .enumerate()
        .map(|(i, m)| (m.market_id.clone(), i))
        .collect();
    {
        let mut st = conn.prepare_cached(
            "SELECT DISTINCT market_id, cadence, period FROM self_checks WHERE last_day >= ?1",
        )?;
        let mut rows = st.query([&since])?;
        while let Some(r) = rows.next()? {
            let market: String = r.get(0)?;
            let p = period(&r.get::<_, String>(1)?, &r.get::<_, String>(2)?)?;
            if let Some(&i) = index.get(&market) {
                markets[i].done.push(p);
            }
        }
    }
    {
        let mut st = conn.prepare_cached(
            "SELECT f.market_id, f.id, f.follow_up_by FROM self_check_findings f
             WHERE NOT EXISTS (SELECT 1 FROM self_check_closings x WHERE x.finding_id = f.id)",
        )?;
        let mut rows = st.query([])?;
        while let Some(r) = rows.next()? {
            let market: String = r.get(0)?;
            if let Some(&i) = index.get(&market) {
                markets[i].open_findings.push(OpenFinding {
                    finding_id: r.get(1)?,
                    follow_up_by: day(&r.get::<_, String>(2)?)?,
                });
            }
        }
    }
    Ok(markets.iter().flat_map(|m| detect(cfg, m, now)).collect())
}

const FINDING_SQL: &str =
    "SELECT f.id, f.check_id, c.cadence, c.period, f.item_id, f.item_text, f.note, f.follow_up_by,
        c.at, c.performed_by, x.note, x.photos, x.closed_by, x.closed_at
     FROM self_check_findings f JOIN self_checks c ON c.id = f.check_id
     LEFT JOIN self_check_closings x ON x.finding_id = f.id";

impl SelfCheckStore for SqliteStore {
    fn self_check_history(
        &self,
        market_id: String,
        from: NaiveDate,
        to: NaiveDate,
    ) -> StoreFuture<'_, SelfCheckHistory> {
        Box::pin(self.readers().call(move |conn| -> Result<_, StoreError> {
            let tracked_since = first_check_day(conn, &market_id)?;
            let mut st = conn.prepare_cached(
                "SELECT id, cadence, period, template_id, result, at FROM self_checks
                 WHERE market_id = ?1 AND last_day >= ?2 AND first_day <= ?3 ORDER BY at, id",
            )?;
            let mut rows = st.query(params![market_id, from.to_string(), to.to_string()])?;
            let mut checks = Vec::new();
            while let Some(r) = rows.next()? {
                checks.push(check_ref(r)?);
            }
            Ok(SelfCheckHistory {
                tracked_since,
                checks,
            })
        }))
    }

    fn self_check_findings(
        &self,
        market_id: String,
        closed: Option<bool>,
        limit: u32,
    ) -> StoreFuture<'_, Vec<StoredFinding>> {
        Box::pin(self.readers().call(move |conn| -> Result<_, StoreError> {
            let mut st = conn.prepare_cached(&format!(
                "{FINDING_SQL} WHERE f.market_id = ?1
                   AND (?2 IS NULL OR (?2 = 1) = (x.finding_id IS NOT NULL))
                 ORDER BY f.follow_up_by, c.at DESC, f.id LIMIT ?3"
            ))?;
            let mut rows = st.query(params![market_id, closed, limit])?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                out.push(finding_row(r)?);
            }
            Ok(out)
        }))
    }

    fn check_self_check_alerts(&self, now: DateTime<Utc>) -> StoreFuture<'_, u64> {
        Box::pin(self.writer().call(move |conn| -> Result<u64, StoreError> {
            let tx = conn.transaction()?;
            let candidates = alert_candidates(&tx, now)?;
            let raised = super::alerts::raise(&tx, &candidates, now)?;
            tx.commit()?;
            Ok(raised)
        }))
    }
}
