//! [`SelfCheckStore`] and [`SelfCheckTx`] on PostgreSQL, as
//! `sqlite/self_checks.rs` does them: checks, findings, closings, which
//! templates went out, the changes sent to the market's tablets, and the
//! facts of the self-inspection warnings.
//!
//! Everything is stored under the market's district. Check and finding
//! ids are the country's (SQLite's primary keys), so reads by id alone
//! look in every district.

use std::collections::HashMap;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use postgres::{GenericClient, Row};
use serde_json::{json, Value};
use shian_core::self_check::{
    china_date, templates, Cadence, Closure, FindingState, Period, SelfCheck, CLOSE_KIND,
    RECORD_KIND, TEMPLATE_KIND,
};
use shian_core::warnings::self_checks::{detect, MarketSelfChecks, OpenFinding, SelfCheckConfig};
use shian_core::warnings::Candidate;

use super::feed::{publish, publish_to_market, Audience};
use super::store::PgStore;
use super::txn::PgTxn;
use crate::store::self_checks::{
    FindingForClose, SelfCheckHistory, SelfCheckStore, SelfCheckTx, StoredCheckRef, StoredClosing,
    StoredFinding,
};
use crate::store::{StoreError, StoreFuture};

fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

fn period(cadence: &str, p: &str) -> Result<Period, StoreError> {
    let c = Cadence::parse(cadence).ok_or_else(|| corrupt("cadence", cadence))?;
    Period::parse(c, p).map_err(|e| corrupt("period", e))
}

fn to_json(what: &str, v: &impl serde::Serialize) -> Result<Value, StoreError> {
    serde_json::to_value(v).map_err(|e| corrupt(what, e))
}

/// Publishes the templates not yet on the changes feed (kind
/// `self_check_template`, addressed to everyone, so every operator tablet
/// has them), as SQLite's `open` does: to be called by the store's open
/// after the migrations. The transaction locks the bookkeeping table, so
/// instances starting at once publish each template once.
// Called by the store's open (`store.rs`) once it publishes them.
#[cfg_attr(not(test), allow(dead_code))]
pub(super) fn publish_templates(c: &mut impl GenericClient) -> Result<(), StoreError> {
    let registry =
        templates().map_err(|e| StoreError::Corrupt(format!("self-check templates: {e}")))?;
    let mut tx = c.transaction()?;
    tx.batch_execute("LOCK TABLE published_self_check_templates IN EXCLUSIVE MODE")?;
    for t in registry.list() {
        let version = i32::try_from(t.version).map_err(|e| corrupt("template version", e))?;
        let done = tx.query_opt(
            "SELECT seq FROM published_self_check_templates WHERE template_id = $1 AND version = $2",
            &[&t.id, &version],
        )?;
        if done.is_some() {
            continue;
        }
        let payload = to_json("template", t)?;
        let seq = publish(&mut tx, TEMPLATE_KIND, Audience::default(), &payload)?;
        tx.execute(
            "INSERT INTO published_self_check_templates (template_id, version, seq) VALUES ($1, $2, $3)",
            &[&t.id, &version, &seq],
        )?;
    }
    tx.commit()?;
    Ok(())
}

fn persist_check(
    tx: &mut impl GenericClient,
    c: &SelfCheck,
    performed_by: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let region =
        super::district::of_market(tx, &c.market_id)?.ok_or(StoreError::NotFound("市场"))?;
    let check_id = c.check_id.to_string();
    let template_version =
        i32::try_from(c.template_version).map_err(|e| corrupt("template version", e))?;
    tx.execute(
        "INSERT INTO self_checks (region_code, id, market_id, template_id, template_version, cadence,
             period, first_day, last_day, result, answers, evaluation, performed_by, at, recorded_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
        &[
            &region,
            &check_id,
            &c.market_id,
            &c.template_id,
            &template_version,
            &c.cadence.as_str(),
            &c.period.to_string(),
            &c.period.first_day(),
            &c.period.last_day(),
            &c.evaluation.result.as_str(),
            &to_json("answers", &c.answers)?,
            &to_json("evaluation", &c.evaluation)?,
            &performed_by,
            &c.at.with_timezone(&Utc),
            &now,
        ],
    )?;
    for f in &c.findings {
        tx.execute(
            "INSERT INTO self_check_findings (region_code, id, check_id, market_id, item_id, item_text,
                 note, follow_up_by)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            &[
                &region,
                &f.finding_id,
                &check_id,
                &c.market_id,
                &f.item_id,
                &f.item_text,
                &f.note,
                &f.follow_up_by,
            ],
        )?;
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
}

fn persist_closing(
    tx: &mut impl GenericClient,
    c: &Closure,
    closed_by: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let Some(finding) = tx.query_opt(
        "SELECT region_code, market_id FROM self_check_findings WHERE id = $1",
        &[&c.finding_id],
    )?
    else {
        // What the closing's foreign key answers on SQLite.
        return Err(StoreError::conflict(
            "foreign_key_violation",
            format!("no finding {}", c.finding_id),
        ));
    };
    let (region, market): (String, String) = (finding.try_get(0)?, finding.try_get(1)?);
    tx.execute(
        "INSERT INTO self_check_closings (region_code, finding_id, note, photos, closed_by, closed_at,
             recorded_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        &[
            &region,
            &c.finding_id,
            &c.note,
            &to_json("photos", &c.photos)?,
            &closed_by,
            &c.at.with_timezone(&Utc),
            &now,
        ],
    )?;
    let change = json!({
        "finding_id": c.finding_id,
        "note": c.note,
        "photos": c.photos,
        "closed_by": closed_by,
        "at": c.at.to_rfc3339(),
    });
    publish_to_market(tx, CLOSE_KIND, &market, &change)?;
    Ok(())
}

impl SelfCheckTx for PgTxn<'_, '_> {
    fn self_check_market_exists(&self, market_id: &str) -> Result<bool, StoreError> {
        self.with(|tx| {
            Ok(tx
                .query_opt("SELECT 1 FROM markets WHERE id = $1", &[&market_id])?
                .is_some())
        })
    }

    fn self_check_market(&self, check_id: &str) -> Result<Option<String>, StoreError> {
        self.with(|tx| {
            Ok(tx
                .query_opt(
                    "SELECT market_id FROM self_checks WHERE id = $1",
                    &[&check_id],
                )?
                .map(|r| r.get(0)))
        })
    }

    fn persist_self_check(
        &mut self,
        c: &SelfCheck,
        performed_by: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.try_with(|tx| {
            // The push transaction also keeps other ops: a savepoint makes
            // this check's rows all or none.
            let mut sp = tx.transaction()?;
            persist_check(&mut sp, c, performed_by, now)?;
            sp.commit()?;
            Ok(())
        })
    }

    fn finding_for_close(&self, finding_id: &str) -> Result<Option<FindingForClose>, StoreError> {
        let row = self.with(|tx| {
            tx.query_opt(
                "SELECT f.market_id, c.at, EXISTS (SELECT 1 FROM self_check_closings x
                        WHERE x.region_code = f.region_code AND x.finding_id = f.id)
                 FROM self_check_findings f
                 JOIN self_checks c ON c.region_code = f.region_code AND c.id = f.check_id
                 WHERE f.id = $1",
                &[&finding_id],
            )
        })?;
        row.map(|r| {
            Ok(FindingForClose {
                market_id: r.try_get(0)?,
                state: FindingState {
                    check_at: r.try_get(1)?,
                    closed: r.try_get(2)?,
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
        self.try_with(|tx| {
            let mut sp = tx.transaction()?;
            persist_closing(&mut sp, c, closed_by, now)?;
            sp.commit()?;
            Ok(())
        })
    }
}

fn check_ref(r: &Row) -> Result<StoredCheckRef, StoreError> {
    let cadence: String = r.try_get(1)?;
    let p: String = r.try_get(2)?;
    Ok(StoredCheckRef {
        check_id: r.try_get(0)?,
        period: period(&cadence, &p)?,
        template_id: r.try_get(3)?,
        result: r.try_get(4)?,
        at: r.try_get(5)?,
    })
}

fn finding_row(r: &Row) -> Result<StoredFinding, StoreError> {
    let cadence: String = r.try_get(2)?;
    let p: String = r.try_get(3)?;
    let closing = match r.try_get::<_, Option<String>>(10)? {
        None => None,
        Some(note) => Some(StoredClosing {
            note,
            photos: serde_json::from_value(r.try_get::<_, Value>(11)?)
                .map_err(|e| corrupt("photos", e))?,
            closed_by: r.try_get(12)?,
            closed_at: r.try_get(13)?,
        }),
    };
    Ok(StoredFinding {
        finding_id: r.try_get(0)?,
        check_id: r.try_get(1)?,
        period: period(&cadence, &p)?,
        item_id: r.try_get(4)?,
        item_text: r.try_get(5)?,
        note: r.try_get(6)?,
        follow_up_by: r.try_get(7)?,
        found_at: r.try_get(8)?,
        found_by: r.try_get(9)?,
        closing,
    })
}

/// The self-inspection warnings of every tracked market as of `now` (for
/// the full pass in `alerts::scan` and the periodic check).
pub(super) fn alert_candidates(
    c: &mut impl GenericClient,
    now: DateTime<Utc>,
) -> Result<Vec<Candidate>, StoreError> {
    let cfg = SelfCheckConfig::builtin();
    // Every period ending in the window, and a month's more for the month
    // that began before it.
    let since = china_date(now - Duration::days(cfg.missed.window_days + 31));
    let mut markets = Vec::new();
    for r in c.query(
        "SELECT c.market_id, COALESCE(m.name, c.market_id), MIN(c.at)
         FROM self_checks c LEFT JOIN markets m ON m.id = c.market_id
         GROUP BY c.market_id, m.name ORDER BY c.market_id COLLATE \"C\"",
        &[],
    )? {
        markets.push(MarketSelfChecks {
            market_id: r.try_get(0)?,
            market_name: r.try_get(1)?,
            tracked_since: Some(china_date(r.try_get(2)?)),
            done: Vec::new(),
            open_findings: Vec::new(),
        });
    }
    let index: HashMap<String, usize> = markets
        .iter()
        .enumerate()
        .map(|(i, m)| (m.market_id.clone(), i))
        .collect();
    for r in c.query(
        "SELECT DISTINCT market_id, cadence, period FROM self_checks WHERE last_day >= $1",
        &[&since],
    )? {
        let market: String = r.try_get(0)?;
        let p = period(r.try_get(1)?, r.try_get(2)?)?;
        if let Some(&i) = index.get(&market) {
            markets[i].done.push(p);
        }
    }
    for r in c.query(
        "SELECT f.market_id, f.id, f.follow_up_by FROM self_check_findings f
         WHERE NOT EXISTS (SELECT 1 FROM self_check_closings x
                           WHERE x.region_code = f.region_code AND x.finding_id = f.id)",
        &[],
    )? {
        let market: String = r.try_get(0)?;
        if let Some(&i) = index.get(&market) {
            markets[i].open_findings.push(OpenFinding {
                finding_id: r.try_get(1)?,
                follow_up_by: r.try_get(2)?,
            });
        }
    }
    Ok(markets.iter().flat_map(|m| detect(cfg, m, now)).collect())
}

const FINDING_SQL: &str =
    "SELECT f.id, f.check_id, c.cadence, c.period, f.item_id, f.item_text, f.note, f.follow_up_by,
        c.at, c.performed_by, x.note, x.photos, x.closed_by, x.closed_at
     FROM self_check_findings f JOIN self_checks c ON c.region_code = f.region_code AND c.id = f.check_id
     LEFT JOIN self_check_closings x ON x.region_code = f.region_code AND x.finding_id = f.id";

impl SelfCheckStore for PgStore {
    fn self_check_history(
        &self,
        market_id: String,
        from: NaiveDate,
        to: NaiveDate,
    ) -> StoreFuture<'_, SelfCheckHistory> {
        Box::pin(self.pool.call(move |client| {
            let first: Option<DateTime<Utc>> = client
                .query_one(
                    "SELECT MIN(at) FROM self_checks WHERE market_id = $1",
                    &[&market_id],
                )?
                .try_get(0)?;
            let checks = client
                .query(
                    "SELECT id, cadence, period, template_id, result, at FROM self_checks
                     WHERE market_id = $1 AND last_day >= $2 AND first_day <= $3
                     ORDER BY at, id COLLATE \"C\"",
                    &[&market_id, &from, &to],
                )?
                .iter()
                .map(check_ref)
                .collect::<Result<_, _>>()?;
            Ok(SelfCheckHistory {
                tracked_since: first.map(china_date),
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
        Box::pin(self.pool.call(move |client| {
            client
                .query(
                    &format!(
                        "{FINDING_SQL} WHERE f.market_id = $1
                           AND ($2::boolean IS NULL OR $2 = (x.finding_id IS NOT NULL))
                         ORDER BY f.follow_up_by, c.at DESC, f.id COLLATE \"C\" LIMIT $3"
                    ),
                    &[&market_id, &closed, &i64::from(limit)],
                )?
                .iter()
                .map(finding_row)
                .collect()
        }))
    }

    fn check_self_check_alerts(&self, now: DateTime<Utc>) -> StoreFuture<'_, u64> {
        Box::pin(self.pool.call(move |client| {
            let mut tx = client.transaction()?;
            let candidates = alert_candidates(&mut tx, now)?;
            let raised = super::alerts::raise(&mut tx, &candidates, now)?;
            tx.commit()?;
            Ok(raised)
        }))
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use shian_core::inspection::checklist::AnswerType;
    use shian_core::self_check::{check_self_check, parse_closure};
    use shian_core::warnings::Kind;

    use super::super::staff::block_on;
    use super::super::testing::{add_market, fresh};
    use super::*;

    const AT: &str = "2026-06-01T09:00:00+08:00";
    const CHECK: &str = "0190a0b0-0000-7000-8000-000000000001";
    const DAILY: &str = "market_daily_control";

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 6, 1, 2, 0, 0).unwrap()
    }

    /// A daily check of `mk1` with the cold store (item 1.1) failed and
    /// followed up by `follow_up_by`.
    fn daily(follow_up_by: &str) -> SelfCheck {
        let t = templates().unwrap().latest(DAILY).unwrap().clone();
        let answers: Vec<Value> = t
            .items
            .iter()
            .map(|i| {
                let mut a = match &i.answer {
                    AnswerType::Number { min, max, .. } => {
                        json!({"item_id": i.id, "compliant": true, "value": min.or(*max).unwrap_or(0.0)})
                    }
                    AnswerType::Photo => {
                        json!({"item_id": i.id, "compliant": true, "photos": ["b".repeat(64)]})
                    }
                    _ => json!({"item_id": i.id, "compliant": true}),
                };
                if i.id == "1.1" {
                    a["compliant"] = json!(false);
                }
                a
            })
            .collect();
        let payload = json!({
            "check_id": CHECK, "market_id": "mk1", "template_id": DAILY, "template_version": 1,
            "period": "2026-06-01", "answers": answers,
            "findings": [{"item_id": "1.1", "note": "冷库温度超标", "follow_up_by": follow_up_by}],
        });
        check_self_check(&payload, AT, now()).unwrap()
    }

    fn finding() -> String {
        format!("{CHECK}:1.1")
    }

    fn closure(finding_id: &str) -> Closure {
        let p = json!({"finding_id": finding_id, "note": "已整改", "photos": ["c".repeat(64)]});
        parse_closure(&p, AT, now()).unwrap()
    }

    fn is_conflict(r: &Result<(), StoreError>, want: &str) -> bool {
        matches!(r, Err(StoreError::Conflict { code, .. }) if code == want)
    }

    #[test]
    fn a_check_and_its_closing_are_kept_once_and_published() {
        let Some(db) = fresh() else { return };
        let mut c = db.store.pool().get().unwrap();
        add_market(&mut *c, "mk1", "350203");
        {
            let mut tx = c.transaction().unwrap();
            let mut t = PgTxn::new(&mut tx);
            assert!(t.self_check_market_exists("mk1").unwrap());
            assert!(!t.self_check_market_exists("ghost").unwrap());
            assert!(t.self_check_market(CHECK).unwrap().is_none());
            t.persist_self_check(&daily("2026-06-03"), "officer", now())
                .unwrap();
            // A retry is refused whole, and the push goes on.
            let again = t.persist_self_check(&daily("2026-06-03"), "officer", now());
            assert!(is_conflict(&again, "unique_violation"), "{again:?}");
            assert_eq!(t.self_check_market(CHECK).unwrap().as_deref(), Some("mk1"));
            let f = t.finding_for_close(&finding()).unwrap().unwrap();
            assert_eq!(f.market_id, "mk1");
            assert!(!f.state.closed);
            assert_eq!(f.state.check_at, DateTime::parse_from_rfc3339(AT).unwrap());
            t.persist_follow_up_closed(&closure(&finding()), "officer", now())
                .unwrap();
            assert!(
                t.finding_for_close(&finding())
                    .unwrap()
                    .unwrap()
                    .state
                    .closed
            );
            let twice = t.persist_follow_up_closed(&closure(&finding()), "officer", now());
            assert!(is_conflict(&twice, "unique_violation"), "{twice:?}");
            let unknown = t.persist_follow_up_closed(
                &closure("0190a0b0-0000-7000-8000-00000000dead:1.1"),
                "officer",
                now(),
            );
            assert!(
                is_conflict(&unknown, "foreign_key_violation"),
                "{unknown:?}"
            );
            assert!(t
                .finding_for_close("0190a0b0-0000-7000-8000-00000000dead:1.1")
                .unwrap()
                .is_none());
            tx.commit().unwrap();
        }
        for kind in [RECORD_KIND, CLOSE_KIND] {
            let n: i64 = c
                .query_one(
                    "SELECT count(*) FROM changes WHERE kind = $1 AND market_id = 'mk1'",
                    &[&kind],
                )
                .unwrap()
                .get(0);
            assert_eq!(n, 1, "{kind}");
        }
        let s = &db.store;
        let day = NaiveDate::from_ymd_opt(2026, 6, 1).unwrap();
        let h = block_on(s.self_check_history("mk1".into(), day, day)).unwrap();
        assert_eq!(h.tracked_since, Some(day));
        assert_eq!(h.checks.len(), 1);
        assert_eq!(h.checks[0].period.to_string(), "2026-06-01");
        let later = day + Duration::days(1);
        let none = block_on(s.self_check_history("mk1".into(), later, later)).unwrap();
        assert!(none.checks.is_empty());
        assert_eq!(none.tracked_since, Some(day));
        let other = block_on(s.self_check_history("mk2".into(), day, day)).unwrap();
        assert_eq!(other.tracked_since, None);
        let closed = block_on(s.self_check_findings("mk1".into(), Some(true), 10)).unwrap();
        assert_eq!(closed.len(), 1);
        let closing = closed[0].closing.as_ref().unwrap();
        assert_eq!(closing.photos, ["c".repeat(64)]);
        assert_eq!(closed[0].note, "冷库温度超标");
        let open = block_on(s.self_check_findings("mk1".into(), Some(false), 10)).unwrap();
        assert!(open.is_empty());
        let all = block_on(s.self_check_findings("mk1".into(), None, 10)).unwrap();
        assert_eq!(all.len(), 1);
    }

    #[test]
    fn an_open_finding_past_its_date_is_overdue() {
        let Some(db) = fresh() else { return };
        let mut c = db.store.pool().get().unwrap();
        add_market(&mut *c, "mk1", "350203");
        {
            let mut tx = c.transaction().unwrap();
            let mut t = PgTxn::new(&mut tx);
            t.persist_self_check(&daily("2026-06-02"), "officer", now())
                .unwrap();
            tx.commit().unwrap();
        }
        let kinds = |c: &mut postgres::Client, at| -> Vec<Kind> {
            alert_candidates(c, at)
                .unwrap()
                .into_iter()
                .map(|c| c.kind)
                .collect()
        };
        assert!(!kinds(&mut c, now()).contains(&Kind::FollowUpOverdue));
        let later = now() + Duration::days(3);
        assert!(kinds(&mut c, later).contains(&Kind::FollowUpOverdue));
    }

    #[test]
    fn templates_are_published_once() {
        let Some(db) = fresh() else { return };
        let mut c = db.store.pool().get().unwrap();
        publish_templates(&mut *c).unwrap();
        publish_templates(&mut *c).unwrap();
        let n: i64 = c
            .query_one(
                "SELECT count(*) FROM changes WHERE kind = $1",
                &[&TEMPLATE_KIND],
            )
            .unwrap()
            .get(0);
        let want = templates().unwrap().list().len();
        assert!(want > 0);
        assert_eq!(n, want as i64);
    }
}
