//! [`FieldStore`] for the SQLite backend.

use std::collections::HashMap;

use chrono::{DateTime, Datelike, Duration, FixedOffset, NaiveDate, Offset, TimeZone, Utc};
use rusqlite::{params, params_from_iter, Connection, OptionalExtension};
use shian_core::category::Category;
use shian_core::event::{PURCHASE, SALE};
use shian_core::inspection::{
    BusinessType, CategorySet, CheckedInspection, Evaluation, InspectionRecord, InspectionResult,
    LedgerFacts, LedgerWarningKind, MerchantFacts, RiskGrade, TemplateRegistry,
};

use super::field_schema as schema;
use super::migrate;
use super::sync::publish;
use super::timestamps::{parse_ts, ts};
use super::SqliteStore;
use crate::store::field::{
    Attachment, FieldStore, NewAttachment, NewDraw, RiskFactsRow, StatsGroup, StatsRow, StoredDraw,
    StoredDrawTask, StoredInspection,
};
use crate::store::{StoreError, StoreFuture};

/// Migrates the field tables and publishes checklist templates not yet on
/// the change feed. Called by [`SqliteStore::open`] after the sync tables
/// exist (the publication goes into their `changes`).
pub(super) fn open(conn: &mut Connection) -> Result<(), StoreError> {
    migrate::apply(conn, "field", schema::MIGRATIONS)?;
    let templates = TemplateRegistry::builtin()
        .map_err(|e| StoreError::Corrupt(format!("built-in checklists: {e}")))?;
    let n = schema::publish_checklists(conn, templates)?;
    if n > 0 {
        tracing::info!(templates = n, "published checklist templates");
    }
    Ok(())
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

fn china() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).unwrap_or_else(|| Utc.fix())
}

/// 1 January of `now`'s year in China, as UTC: "inspections this year" are
/// counted in the calendar year regulators plan by.
fn year_start(now: DateTime<Utc>) -> DateTime<Utc> {
    let year = now.with_timezone(&china()).year();
    NaiveDate::from_ymd_opt(year, 1, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .and_then(|d| china().from_local_datetime(&d).single())
        .map_or(now, |d| d.with_timezone(&Utc))
}

/// The registry's free-text business type mapped to the grading table:
/// catering (餐饮) has its own static table, everything else sells food.
fn business_type(s: Option<&str>) -> BusinessType {
    match s {
        Some(t)
            if t.contains("catering")
                || t.contains("餐饮")
                || t.contains("食堂")
                || t.contains("饭店") =>
        {
            BusinessType::Catering
        }
        _ => BusinessType::FoodSales,
    }
}

fn sat16(n: i64) -> u16 {
    u16::try_from(n.max(0)).unwrap_or(u16::MAX)
}

fn read_inspection(conn: &Connection, id: &str) -> Result<Option<StoredInspection>, StoreError> {
    let row: Option<(String, String, String, String, String)> = conn
        .query_row(
            "SELECT merchant_id, payload, evaluation, pushed_by, recorded_at FROM inspections WHERE id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .optional()?;
    let Some((merchant_id, payload, evaluation, pushed_by, recorded_at)) = row else {
        return Ok(None);
    };
    let record: InspectionRecord =
        serde_json::from_str(&payload).map_err(|e| corrupt("inspection payload", e))?;
    let evaluation: Evaluation =
        serde_json::from_str(&evaluation).map_err(|e| corrupt("inspection evaluation", e))?;
    let mut names = Vec::with_capacity(record.inspectors.len());
    {
        let mut st = conn.prepare_cached("SELECT username FROM users WHERE id = ?1")?;
        for i in &record.inspectors {
            let name: Option<String> = st.query_row([i], |r| r.get(0)).optional()?;
            names.push(name.unwrap_or_else(|| i.clone()));
        }
    }
    Ok(Some(StoredInspection {
        id: id.to_owned(),
        merchant_id,
        checked: CheckedInspection { record, evaluation },
        inspector_names: names,
        pushed_by,
        recorded_at: parse_ts(&recorded_at)?,
    }))
}

/// Per merchant, its ledger since `cutoff`: every warning (the v1 count)
/// and entries and warnings by kind (the v2 rates). Both tables are stamped
/// with the server's clock when the entry was accepted (`recorded_at`, and
/// the warning's `at` is the same instant), so the window is the same for
/// the rate's numerator and its base, and a device's wrong clock cannot move
/// an entry out of it. Warnings of voided entries still count, so voiding
/// cannot wash a warning away (a typo corrected once weighs little in a
/// rate).
fn read_ledger_facts(
    conn: &Connection,
    cutoff: &str,
    only: Option<&str>,
) -> Result<HashMap<String, (u16, LedgerFacts)>, StoreError> {
    let one = only_clause(only);
    let mut out: HashMap<String, (u16, LedgerFacts)> = HashMap::new();
    let sat32 = |n: i64| u32::try_from(n.max(0)).unwrap_or(u32::MAX);
    {
        let mut st = conn.prepare_cached(&format!(
            "SELECT merchant_id, kind, COUNT(*) FROM entries WHERE recorded_at >= ?1 {one} GROUP BY merchant_id, kind"
        ))?;
        let mut rows = st.query(params_from_iter(only_params(cutoff, only)))?;
        while let Some(r) = rows.next()? {
            let kind: String = r.get(1)?;
            let n = sat32(r.get(2)?);
            let (_, l) = out.entry(r.get(0)?).or_default();
            l.entries = l.entries.saturating_add(n);
            match kind.as_str() {
                PURCHASE => l.purchases = n,
                SALE => l.sales = n,
                _ => {}
            }
        }
    }
    let mut st = conn.prepare_cached(&format!(
        "SELECT merchant_id, code, COUNT(*) FROM warnings WHERE at >= ?1 {one} GROUP BY merchant_id, code"
    ))?;
    let mut rows = st.query(params_from_iter(only_params(cutoff, only)))?;
    while let Some(r) = rows.next()? {
        let code: String = r.get(1)?;
        let n = sat16(r.get(2)?);
        let (total, l) = out.entry(r.get(0)?).or_default();
        *total = total.saturating_add(n);
        if let Some(kind) = LedgerWarningKind::from_code(&code) {
            l.set_warnings(kind, n);
        }
    }
    Ok(out)
}

/// `AND merchant_id = ?2` when the facts of one merchant are read (the
/// per-merchant indexes then answer), nothing for all of them.
fn only_clause(only: Option<&str>) -> &'static str {
    if only.is_some() {
        "AND merchant_id = ?2"
    } else {
        ""
    }
}

/// The parameters of a query filtered by [`only_clause`].
fn only_params<'a>(first: &'a str, only: Option<&'a str>) -> Vec<&'a str> {
    std::iter::once(first).chain(only).collect()
}

/// The grading facts of every merchant, or with `only` of that one.
fn read_risk_facts(
    conn: &Connection,
    now: DateTime<Utc>,
    period_days: u32,
    only: Option<&str>,
) -> Result<Vec<RiskFactsRow>, StoreError> {
    let cutoff = ts(&(now - Duration::days(i64::from(period_days))));
    let year = ts(&year_start(now));
    let one = only_clause(only);

    let mut results: HashMap<String, [u16; 3]> = HashMap::new();
    {
        let mut st = conn.prepare_cached(&format!(
            "SELECT merchant_id, result, COUNT(*) FROM inspections WHERE finished_at >= ?1 {one} GROUP BY merchant_id, result"
        ))?;
        let mut rows = st.query(params_from_iter(only_params(&cutoff, only)))?;
        while let Some(r) = rows.next()? {
            let m: String = r.get(0)?;
            let result: String = r.get(1)?;
            let n: i64 = r.get(2)?;
            let slot = match result.as_str() {
                "compliant" => 0,
                "basically_compliant" => 1,
                _ => 2,
            };
            results.entry(m).or_default()[slot] = sat16(n);
        }
    }
    let count_by = |sql: &str, arg: &str| -> Result<HashMap<String, u16>, StoreError> {
        let mut out = HashMap::new();
        let mut st = conn.prepare_cached(&sql.replace("{one}", one))?;
        let mut rows = st.query(params_from_iter(only_params(arg, only)))?;
        while let Some(r) = rows.next()? {
            out.insert(r.get::<_, String>(0)?, sat16(r.get(1)?));
        }
        Ok(out)
    };
    let this_year = count_by(
        "SELECT merchant_id, COUNT(*) FROM inspections WHERE finished_at >= ?1 {one} GROUP BY merchant_id",
        &year,
    )?;
    let ever = count_by(
        "SELECT merchant_id, COUNT(*) FROM inspections WHERE ?1 = ?1 {one} GROUP BY merchant_id",
        "",
    )?;
    let failures = count_by(
        "SELECT merchant_id, COUNT(*) FROM samples WHERE counts_as_failure = 1 AND taken_at >= ?1 {one} GROUP BY merchant_id",
        &cutoff,
    )?;
    let ledger = read_ledger_facts(conn, &cutoff, only)?;
    let open_alerts = super::alerts::open_risk(conn, only)?;
    // Complaints carry the date they were received in China, not a time.
    let complaints = super::feedback::complaint_counts(
        conn,
        (now - Duration::days(i64::from(period_days)))
            .with_timezone(&china())
            .date_naive(),
    )?;
    let mut last: HashMap<String, Vec<String>> = HashMap::new();
    {
        let mut st = conn.prepare_cached(&format!(
            "SELECT merchant_id, inspectors FROM (
                 SELECT merchant_id, inspectors,
                        ROW_NUMBER() OVER (PARTITION BY merchant_id ORDER BY finished_at DESC, id DESC) AS rn
                 FROM inspections WHERE ?1 = ?1 {one})
             WHERE rn = 1"
        ))?;
        let mut rows = st.query(params_from_iter(only_params("", only)))?;
        while let Some(r) = rows.next()? {
            let m: String = r.get(0)?;
            let list: String = r.get(1)?;
            let list: Vec<String> =
                serde_json::from_str(&list).map_err(|e| corrupt("inspection inspectors", e))?;
            last.insert(m, list);
        }
    }

    let mut out = Vec::new();
    let mut st = conn.prepare_cached(&format!(
        "SELECT id, name, region_code, market_id, business_type, categories FROM merchants WHERE ?1 = ?1 {} ORDER BY id",
        only.map_or("", |_| "AND id = ?2")
    ))?;
    let mut rows = st.query(params_from_iter(only_params("", only)))?;
    while let Some(r) = rows.next()? {
        let id: String = r.get(0)?;
        let bt: Option<String> = r.get(4)?;
        let cats: String = r.get(5)?;
        let cats: Vec<String> =
            serde_json::from_str(&cats).map_err(|e| corrupt("merchant categories", e))?;
        let categories: Vec<Category> = cats.iter().filter_map(|c| Category::parse(c)).collect();
        let [compliant, basically, non] = results.get(&id).copied().unwrap_or_default();
        let facts = MerchantFacts {
            business_type: business_type(bt.as_deref()),
            categories: categories.iter().copied().collect::<CategorySet>(),
            // The 2016 rules scale the static score for an operator with no
            // dynamic evaluation yet: here, one never inspected.
            new_operator: !ever.contains_key(&id),
            inspections_compliant: compliant,
            inspections_basically_compliant: basically,
            inspections_non_compliant: non,
            confirmed_test_failures: failures.get(&id).copied().unwrap_or(0),
            complaints: complaints.get(&id).copied().unwrap_or(0),
            ledger_warnings: ledger.get(&id).map_or(0, |(total, _)| *total),
            ledger: ledger.get(&id).map(|(_, l)| *l).unwrap_or_default(),
            inspections_this_year: this_year.get(&id).copied().unwrap_or(0),
            open_alerts: open_alerts.get(&id).copied().unwrap_or(0),
            ..MerchantFacts::default()
        };
        out.push(RiskFactsRow {
            last_inspectors: last.remove(&id).unwrap_or_default(),
            merchant_id: id,
            name: r.get(1)?,
            region_code: r.get(2)?,
            market_id: r.get(3)?,
            categories,
            facts,
        });
    }
    Ok(out)
}

fn write_draw(conn: &mut Connection, d: &NewDraw) -> Result<(), StoreError> {
    let tx = conn.transaction()?;
    let created = ts(&d.created_at);
    tx.execute(
        "INSERT INTO draws (id, name, seed, seed_hash, algorithm, pool_size, params, created_by, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            d.id,
            d.name,
            d.seed,
            d.seed_hash,
            d.algorithm,
            i64::try_from(d.pool_size).unwrap_or(i64::MAX),
            d.params.to_string(),
            d.created_by,
            created
        ],
    )?;
    {
        let mut ins = tx.prepare_cached(
            "INSERT INTO draw_tasks (id, draw_id, position, merchant_id, grade, inspector_a, inspector_b)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?;
        let mut merchant =
            tx.prepare_cached("SELECT name, region_code FROM merchants WHERE id = ?1")?;
        for (pos, (task_id, t)) in d.tasks.iter().enumerate() {
            let [a, b] = &t.inspectors;
            ins.execute(params![
                task_id,
                d.id,
                pos as i64,
                t.merchant_id,
                t.grade.as_str(),
                a,
                b
            ])?;
            let (name, region): (String, String) = merchant
                .query_row([&t.merchant_id], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?
                .unwrap_or_else(|| (t.merchant_id.clone(), String::new()));
            let payload = serde_json::json!({
                "task_id": task_id,
                "draw_id": d.id,
                "draw_name": d.name,
                "merchant_id": t.merchant_id,
                "merchant_name": name,
                "region_code": region,
                "grade": t.grade,
                "inspectors": t.inspectors,
                "assigned_at": created,
            });
            // A task reaches the phones of its two inspectors, wherever
            // their district is.
            publish(&tx, "task", None, None, Some(a), &payload)?;
            publish(&tx, "task", None, None, Some(b), &payload)?;
        }
    }
    tx.commit()?;
    Ok(())
}

fn read_draw(conn: &Connection, id: &str) -> Result<Option<StoredDraw>, StoreError> {
    type Row = (String, String, String, String, i64, String, String);
    let row: Option<Row> = conn
        .query_row(
            "SELECT name, seed, seed_hash, algorithm, pool_size, params, created_at FROM draws WHERE id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?)),
        )
        .optional()?;
    let Some((name, seed, seed_hash, algorithm, pool_size, params, created_at)) = row else {
        return Ok(None);
    };
    let mut st = conn.prepare(
        "SELECT t.id, t.merchant_id, COALESCE(m.name, t.merchant_id), t.grade, t.inspector_a, t.inspector_b
         FROM draw_tasks t LEFT JOIN merchants m ON m.id = t.merchant_id
         WHERE t.draw_id = ?1 ORDER BY t.position",
    )?;
    let mut rows = st.query([id])?;
    let mut tasks = Vec::new();
    while let Some(r) = rows.next()? {
        let g: String = r.get(3)?;
        let grade = RiskGrade::ALL
            .into_iter()
            .find(|x| x.as_str() == g)
            .ok_or_else(|| corrupt("draw task grade", &g))?;
        tasks.push(StoredDrawTask {
            task_id: r.get(0)?,
            merchant_id: r.get(1)?,
            merchant_name: r.get(2)?,
            grade,
            inspectors: vec![r.get(4)?, r.get(5)?],
        });
    }
    Ok(Some(StoredDraw {
        id: id.to_owned(),
        name,
        seed,
        seed_hash,
        algorithm,
        pool_size: u64::try_from(pool_size).unwrap_or(0),
        params: serde_json::from_str(&params).map_err(|e| corrupt("draw params", e))?,
        tasks,
        created_at: parse_ts(&created_at)?,
    }))
}

fn result_label(key: &str) -> &'static str {
    match key {
        "compliant" => InspectionResult::Compliant.label_zh(),
        "basically_compliant" => InspectionResult::BasicallyCompliant.label_zh(),
        "non_compliant" => InspectionResult::NonCompliant.label_zh(),
        _ => "未知",
    }
}

fn read_stats(
    conn: &Connection,
    group: StatsGroup,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> Result<Vec<StatsRow>, StoreError> {
    const COUNTS: &str = "COUNT(*), SUM(i.result = 'compliant'), SUM(i.result = 'basically_compliant'), SUM(i.result = 'non_compliant')";
    const WHERE: &str =
        "(?1 IS NULL OR i.finished_at >= ?1) AND (?2 IS NULL OR i.finished_at < ?2)";
    let sql = match group {
        StatsGroup::Result => format!(
            "SELECT i.result, i.result, {COUNTS} FROM inspections i WHERE {WHERE} GROUP BY i.result ORDER BY 3 DESC, 1"
        ),
        StatsGroup::Month => format!(
            "SELECT strftime('%Y-%m', i.finished_at, '+8 hours') AS k, NULL, {COUNTS} FROM inspections i WHERE {WHERE} GROUP BY k ORDER BY k"
        ),
        StatsGroup::Inspector => format!(
            "SELECT j.value, COALESCE(MAX(u.username), j.value), {COUNTS}
             FROM inspections i JOIN json_each(i.inspectors) j LEFT JOIN users u ON u.id = j.value
             WHERE {WHERE} GROUP BY j.value ORDER BY 3 DESC, 1"
        ),
        StatsGroup::Market => format!(
            "SELECT COALESCE(m.market_id, ''), COALESCE(MAX(k.name), '未归属市场'), {COUNTS}
             FROM inspections i LEFT JOIN merchants m ON m.id = i.merchant_id LEFT JOIN markets k ON k.id = m.market_id
             WHERE {WHERE} GROUP BY COALESCE(m.market_id, '') ORDER BY 3 DESC, 1"
        ),
        StatsGroup::Item => format!(
            "SELECT i.template || '/' || json_extract(v.value, '$.item_id') AS k, MAX(json_extract(v.value, '$.text')), {COUNTS}
             FROM inspections i JOIN json_each(i.violations) v
             WHERE {WHERE} GROUP BY k ORDER BY 3 DESC, 1"
        ),
    };
    let (from, to) = (from.map(|t| ts(&t)), to.map(|t| ts(&t)));
    let mut st = conn.prepare(&sql)?;
    let mut rows = st.query(params![from, to])?;
    let mut out = Vec::new();
    let n = |v: Option<i64>| u64::try_from(v.unwrap_or(0)).unwrap_or(0);
    while let Some(r) = rows.next()? {
        let key: Option<String> = r.get(0)?;
        let key = key.unwrap_or_default();
        let label: Option<String> = r.get(1)?;
        let label = match group {
            StatsGroup::Result => result_label(&key).to_owned(),
            StatsGroup::Month => match key.split_once('-') {
                Some((y, m)) => format!("{y}年{m}月"),
                None => key.clone(),
            },
            _ => label.unwrap_or_else(|| key.clone()),
        };
        out.push(StatsRow {
            key,
            label,
            count: n(r.get(2)?),
            compliant: n(r.get(3)?),
            basically_compliant: n(r.get(4)?),
            non_compliant: n(r.get(5)?),
        });
    }
    Ok(out)
}

impl FieldStore for SqliteStore {
    fn inspection(&self, id: String) -> StoreFuture<'_, Option<StoredInspection>> {
        Box::pin(self.readers().call(move |conn| read_inspection(conn, &id)))
    }

    fn put_attachment(&self, a: NewAttachment) -> StoreFuture<'_, bool> {
        Box::pin(self.writer().call(move |conn| -> Result<bool, StoreError> {
            let tx = conn.transaction()?;
            let created = tx.execute(
                "INSERT OR IGNORE INTO attachments (sha256, size, content_type, data, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![a.sha256, a.data.len() as i64, a.content_type, a.data, ts(&Utc::now())],
            )? == 1;
            tx.execute(
                "INSERT OR IGNORE INTO attachment_owners (sha256, user_id) VALUES (?1, ?2)",
                params![a.sha256, a.user_id],
            )?;
            tx.commit()?;
            Ok(created)
        }))
    }

    fn attachment(&self, sha256: String) -> StoreFuture<'_, Option<Attachment>> {
        Box::pin(
            self.readers()
                .call(move |conn| -> Result<Option<Attachment>, StoreError> {
                    let row: Option<(String, Vec<u8>, String)> = conn
                .query_row(
                    "SELECT content_type, data, created_at FROM attachments WHERE sha256 = ?1",
                    [&sha256],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()?;
                    row.map(|(content_type, data, created_at)| {
                        Ok(Attachment {
                            sha256: sha256.clone(),
                            content_type,
                            data,
                            created_at: parse_ts(&created_at)?,
                        })
                    })
                    .transpose()
                }),
        )
    }

    fn attachment_owned_by(&self, sha256: String, user_id: String) -> StoreFuture<'_, bool> {
        Box::pin(
            self.readers()
                .call(move |conn| -> Result<bool, StoreError> {
                    Ok(conn.query_row(
                "SELECT EXISTS(SELECT 1 FROM attachment_owners WHERE sha256 = ?1 AND user_id = ?2)",
                params![sha256, user_id],
                |r| r.get(0),
            )?)
                }),
        )
    }

    fn risk_facts(
        &self,
        now: DateTime<Utc>,
        period_days: u32,
    ) -> StoreFuture<'_, Vec<RiskFactsRow>> {
        Box::pin(
            self.readers()
                .call(move |conn| read_risk_facts(conn, now, period_days, None)),
        )
    }

    fn merchant_risk_facts(
        &self,
        merchant_id: String,
        now: DateTime<Utc>,
        period_days: u32,
    ) -> StoreFuture<'_, Option<RiskFactsRow>> {
        Box::pin(self.readers().call(move |conn| {
            Ok(read_risk_facts(conn, now, period_days, Some(&merchant_id))?.pop())
        }))
    }

    fn existing_inspectors(&self, ids: Vec<String>) -> StoreFuture<'_, Vec<(String, String)>> {
        Box::pin(self.readers().call(move |conn| -> Result<Vec<(String, String)>, StoreError> {
            let list = serde_json::to_string(&ids).map_err(|e| corrupt("ids", e))?;
            let mut st = conn.prepare(
                "SELECT id, username FROM users WHERE role = 'inspector' AND id IN (SELECT value FROM json_each(?1))",
            )?;
            let rows = st.query_map([list], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        }))
    }

    fn create_draw(&self, draw: NewDraw) -> StoreFuture<'_, ()> {
        Box::pin(self.writer().call(move |conn| write_draw(conn, &draw)))
    }

    fn draw(&self, id: String) -> StoreFuture<'_, Option<StoredDraw>> {
        Box::pin(self.readers().call(move |conn| read_draw(conn, &id)))
    }

    fn inspection_stats(
        &self,
        group: StatsGroup,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
    ) -> StoreFuture<'_, Vec<StatsRow>> {
        Box::pin(
            self.readers()
                .call(move |conn| read_stats(conn, group, from, to)),
        )
    }
}
