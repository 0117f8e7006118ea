//! [`FieldStore`] on PostgreSQL (from `sqlite/field.rs`), and the one-time
//! publication of checklist templates (from `sqlite/field_schema.rs`; the
//! tables themselves are in [`super::schema::FIELD`]).
//!
//! Inspections, samples and findings are distributed by their merchant's
//! district; draws and their tasks are reference tables; attachments are
//! distributed by their hash. Text orderings name `COLLATE "C"` so that
//! rows come back in SQLite's (bytewise) order whatever the database's
//! collation.

use std::collections::HashMap;

use chrono::{DateTime, Datelike, Duration, FixedOffset, NaiveDate, Offset, TimeZone, Utc};
use postgres::GenericClient;
use shian_core::category::Category;
use shian_core::event::{PURCHASE, SALE};
use shian_core::inspection::{
    BusinessType, CategorySet, CheckedInspection, Evaluation, InspectionRecord, InspectionResult,
    LedgerFacts, LedgerWarningKind, MerchantFacts, RiskGrade, TemplateRegistry,
};

use super::feed::{publish, Audience};
use super::store::PgStore;
use crate::store::field::{
    Attachment, FieldStore, NewAttachment, NewDraw, RiskFactsRow, StatsGroup, StatsRow, StoredDraw,
    StoredDrawTask, StoredInspection,
};
use crate::store::{StoreError, StoreFuture};

// Called by the store's opening (`store.rs`) once it seeds the feed; until
// then only the tests do.
#[cfg_attr(not(test), allow(dead_code))]
/// The advisory lock of checklist publication: "shianchk" in ASCII.
const CHECKLIST_LOCK: i64 = 0x7368_6961_6e63_686b;

/// Takes the transaction-scoped advisory lock `key`, released by the
/// commit or rollback: PostgreSQL's stand-in for SQLite's IMMEDIATE
/// transactions where a writer reads what was published last and
/// publishes the next (instances starting at once then publish once).
pub(super) fn serialise(c: &mut impl GenericClient, key: i64) -> Result<(), StoreError> {
    c.execute("SELECT pg_advisory_xact_lock($1)", &[&key])?;
    Ok(())
}

/// An instant as SQLite stores it and as payloads carry it (RFC 3339,
/// UTC, milliseconds), so both backends publish the same text.
pub(super) fn rfc3339(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[cfg_attr(not(test), allow(dead_code))]
/// Publishes the built-in checklist templates not yet on the changes feed;
/// what SQLite's `field::open` does after its migrations. For the store's
/// opening, after [`super::migrate::migrate`].
pub(super) fn seed_checklists(c: &mut impl GenericClient) -> Result<(), StoreError> {
    let templates = TemplateRegistry::builtin()
        .map_err(|e| StoreError::Corrupt(format!("built-in checklists: {e}")))?;
    let n = publish_checklists(c, templates)?;
    if n > 0 {
        tracing::info!(templates = n, "published checklist templates");
    }
    Ok(())
}

#[cfg_attr(not(test), allow(dead_code))]
/// Publishes every known checklist template that has not been published yet
/// (kind `checklist`, addressed to everyone) so that phones get it with their
/// next pull; returns how many. Under [`CHECKLIST_LOCK`]: instances and the
/// admin CLI opening the database at once publish each template once.
pub(super) fn publish_checklists(
    c: &mut impl GenericClient,
    templates: &TemplateRegistry,
) -> Result<usize, StoreError> {
    let mut tx = c.transaction()?;
    serialise(&mut tx, CHECKLIST_LOCK)?;
    let mut published = 0;
    for t in templates.list() {
        let version = i32::try_from(t.version)
            .map_err(|e| StoreError::Corrupt(format!("checklist version: {e}")))?;
        let done = tx
            .query_opt(
                "SELECT seq FROM published_checklists WHERE template_id = $1 AND version = $2",
                &[&t.id, &version],
            )?
            .is_some();
        if done {
            continue;
        }
        let payload = serde_json::to_value(t).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let seq = publish(&mut tx, "checklist", Audience::default(), &payload)?;
        tx.execute(
            "INSERT INTO published_checklists (template_id, version, seq) VALUES ($1, $2, $3)",
            &[&t.id, &version, &seq],
        )?;
        published += 1;
    }
    tx.commit()?;
    Ok(published)
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

fn sat32(n: i64) -> u32 {
    u32::try_from(n.max(0)).unwrap_or(u32::MAX)
}

fn read_inspection(
    c: &mut impl GenericClient,
    id: &str,
) -> Result<Option<StoredInspection>, StoreError> {
    let Some(row) = c.query_opt(
        "SELECT merchant_id, payload::text, evaluation::text, pushed_by, recorded_at FROM inspections WHERE id = $1",
        &[&id],
    )?
    else {
        return Ok(None);
    };
    let record: InspectionRecord =
        serde_json::from_str(row.get(1)).map_err(|e| corrupt("inspection payload", e))?;
    let evaluation: Evaluation =
        serde_json::from_str(row.get(2)).map_err(|e| corrupt("inspection evaluation", e))?;
    let st = c.prepare("SELECT username FROM users WHERE id = $1")?;
    let mut names = Vec::with_capacity(record.inspectors.len());
    for i in &record.inspectors {
        let name: Option<String> = c.query_opt(&st, &[i])?.map(|r| r.get(0));
        names.push(name.unwrap_or_else(|| i.clone()));
    }
    Ok(Some(StoredInspection {
        id: id.to_owned(),
        merchant_id: row.get(0),
        checked: CheckedInspection { record, evaluation },
        inspector_names: names,
        pushed_by: row.get(3),
        recorded_at: row.get(4),
    }))
}

/// Per merchant, its ledger since `cutoff`: every warning (the v1 count)
/// and entries and warnings by kind (the v2 rates), over the server's
/// clock on both sides (see SQLite's `read_ledger_facts` for why).
fn read_ledger_facts(
    c: &mut impl GenericClient,
    cutoff: DateTime<Utc>,
    only: Option<&str>,
) -> Result<HashMap<String, (u16, LedgerFacts)>, StoreError> {
    let mut out: HashMap<String, (u16, LedgerFacts)> = HashMap::new();
    for r in c.query(
        "SELECT merchant_id, kind, count(*) FROM entries
         WHERE recorded_at >= $1 AND ($2::text IS NULL OR merchant_id = $2) GROUP BY merchant_id, kind",
        &[&cutoff, &only],
    )? {
        let kind: &str = r.get(1);
        let n = sat32(r.get(2));
        let (_, l) = out.entry(r.get(0)).or_default();
        l.entries = l.entries.saturating_add(n);
        match kind {
            PURCHASE => l.purchases = n,
            SALE => l.sales = n,
            _ => {}
        }
    }
    for r in c.query(
        "SELECT merchant_id, code, count(*) FROM warnings
         WHERE at >= $1 AND ($2::text IS NULL OR merchant_id = $2) GROUP BY merchant_id, code",
        &[&cutoff, &only],
    )? {
        let code: &str = r.get(1);
        let n = sat16(r.get(2));
        let (total, l) = out.entry(r.get(0)).or_default();
        *total = total.saturating_add(n);
        if let Some(kind) = LedgerWarningKind::from_code(code) {
            l.set_warnings(kind, n);
        }
    }
    Ok(out)
}

/// Rows of `sql` (its `$1` an optional instant, its `$2` the optional
/// merchant) as merchant id → count.
fn count_by(
    c: &mut impl GenericClient,
    sql: &str,
    since: Option<DateTime<Utc>>,
    only: Option<&str>,
) -> Result<HashMap<String, u16>, StoreError> {
    Ok(c.query(sql, &[&since, &only])?
        .iter()
        .map(|r| (r.get(0), sat16(r.get(1))))
        .collect())
}

/// The grading facts of every merchant, or with `only` of that one.
fn read_risk_facts(
    c: &mut impl GenericClient,
    now: DateTime<Utc>,
    period_days: u32,
    only: Option<&str>,
) -> Result<Vec<RiskFactsRow>, StoreError> {
    let cutoff = now - Duration::days(i64::from(period_days));

    let mut results: HashMap<String, [u16; 3]> = HashMap::new();
    for r in c.query(
        "SELECT merchant_id, result, count(*) FROM inspections
         WHERE finished_at >= $1 AND ($2::text IS NULL OR merchant_id = $2) GROUP BY merchant_id, result",
        &[&cutoff, &only],
    )? {
        let slot = match r.get::<_, &str>(1) {
            "compliant" => 0,
            "basically_compliant" => 1,
            _ => 2,
        };
        results.entry(r.get(0)).or_default()[slot] = sat16(r.get(2));
    }
    const INSPECTIONS: &str = "SELECT merchant_id, count(*) FROM inspections
         WHERE ($1::timestamptz IS NULL OR finished_at >= $1) AND ($2::text IS NULL OR merchant_id = $2)
         GROUP BY merchant_id";
    let this_year = count_by(c, INSPECTIONS, Some(year_start(now)), only)?;
    let ever = count_by(c, INSPECTIONS, None, only)?;
    let failures = count_by(
        c,
        "SELECT merchant_id, count(*) FROM samples
         WHERE counts_as_failure AND taken_at >= $1 AND ($2::text IS NULL OR merchant_id = $2)
         GROUP BY merchant_id",
        Some(cutoff),
        only,
    )?;
    let ledger = read_ledger_facts(c, cutoff, only)?;
    let open_alerts = super::alerts::open_risk(c, only)?;
    // Complaints carry the date they were received in China, not a time.
    let complaints =
        super::feedback::complaint_counts(c, cutoff.with_timezone(&china()).date_naive())?;
    let mut last: HashMap<String, Vec<String>> = HashMap::new();
    for r in c.query(
        "SELECT DISTINCT ON (merchant_id) merchant_id, inspectors FROM inspections
         WHERE ($1::text IS NULL OR merchant_id = $1)
         ORDER BY merchant_id, finished_at DESC, id COLLATE \"C\" DESC",
        &[&only],
    )? {
        let list: Vec<String> =
            serde_json::from_value(r.get(1)).map_err(|e| corrupt("inspection inspectors", e))?;
        last.insert(r.get(0), list);
    }

    let mut out = Vec::new();
    for r in c.query(
        "SELECT id, name, region_code, market_id, business_type, categories FROM merchants
         WHERE ($1::text IS NULL OR id = $1) ORDER BY id COLLATE \"C\"",
        &[&only],
    )? {
        let id: String = r.get(0);
        let bt: Option<&str> = r.get(4);
        let cats: Vec<String> =
            serde_json::from_value(r.get(5)).map_err(|e| corrupt("merchant categories", e))?;
        let categories: Vec<Category> = cats.iter().filter_map(|c| Category::parse(c)).collect();
        let [compliant, basically, non] = results.get(&id).copied().unwrap_or_default();
        let facts = MerchantFacts {
            business_type: business_type(bt),
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
            name: r.get(1),
            region_code: r.get(2),
            market_id: r.get(3),
            categories,
            facts,
        });
    }
    Ok(out)
}

fn write_draw(c: &mut impl GenericClient, d: &NewDraw) -> Result<(), StoreError> {
    let mut tx = c.transaction()?;
    let pool_size = i32::try_from(d.pool_size).unwrap_or(i32::MAX);
    tx.execute(
        "INSERT INTO draws (id, name, seed, seed_hash, algorithm, pool_size, params, created_by, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        &[&d.id, &d.name, &d.seed, &d.seed_hash, &d.algorithm, &pool_size, &d.params, &d.created_by, &d.created_at],
    )?;
    let ins = tx.prepare(
        "INSERT INTO draw_tasks (id, draw_id, position, merchant_id, grade, inspector_a, inspector_b)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )?;
    let merchant = tx.prepare("SELECT name, region_code FROM merchants WHERE id = $1")?;
    let assigned_at = rfc3339(&d.created_at);
    for (pos, (task_id, t)) in d.tasks.iter().enumerate() {
        let [a, b] = &t.inspectors;
        let pos = i32::try_from(pos).map_err(|e| corrupt("draw size", e))?;
        tx.execute(
            &ins,
            &[
                &task_id,
                &d.id,
                &pos,
                &t.merchant_id,
                &t.grade.as_str(),
                a,
                b,
            ],
        )?;
        let (name, region): (String, String) = tx
            .query_opt(&merchant, &[&t.merchant_id])?
            .map(|r| (r.get(0), r.get(1)))
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
            "assigned_at": assigned_at,
        });
        // A task reaches the phones of its two inspectors, wherever their
        // district is.
        for user in [a, b] {
            let to = Audience {
                user_id: Some(user),
                ..Audience::default()
            };
            publish(&mut tx, "task", to, &payload)?;
        }
    }
    tx.commit()?;
    Ok(())
}

fn read_draw(c: &mut impl GenericClient, id: &str) -> Result<Option<StoredDraw>, StoreError> {
    let Some(row) = c.query_opt(
        "SELECT name, seed, seed_hash, algorithm, pool_size, params, created_at FROM draws WHERE id = $1",
        &[&id],
    )?
    else {
        return Ok(None);
    };
    let mut tasks = Vec::new();
    for r in c.query(
        "SELECT t.id, t.merchant_id, COALESCE(m.name, t.merchant_id), t.grade, t.inspector_a, t.inspector_b
         FROM draw_tasks t LEFT JOIN merchants m ON m.id = t.merchant_id
         WHERE t.draw_id = $1 ORDER BY t.position",
        &[&id],
    )? {
        let g: &str = r.get(3);
        let grade = RiskGrade::ALL
            .into_iter()
            .find(|x| x.as_str() == g)
            .ok_or_else(|| corrupt("draw task grade", g))?;
        tasks.push(StoredDrawTask {
            task_id: r.get(0),
            merchant_id: r.get(1),
            merchant_name: r.get(2),
            grade,
            inspectors: vec![r.get(4), r.get(5)],
        });
    }
    Ok(Some(StoredDraw {
        id: id.to_owned(),
        name: row.get(0),
        seed: row.get(1),
        seed_hash: row.get(2),
        algorithm: row.get(3),
        pool_size: u64::try_from(row.get::<_, i32>(4)).unwrap_or(0),
        params: row.get(5),
        tasks,
        created_at: row.get(6),
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

/// The SQL of [`FieldStore::inspection_stats`] for `group`: key, label and
/// the four counts, most inspections first, then by key bytewise (months
/// in order).
fn stats_sql(group: StatsGroup) -> String {
    const COUNTS: &str = "count(*), count(*) FILTER (WHERE i.result = 'compliant'), count(*) FILTER (WHERE i.result = 'basically_compliant'), count(*) FILTER (WHERE i.result = 'non_compliant')";
    const WHERE: &str = "($1::timestamptz IS NULL OR i.finished_at >= $1) AND ($2::timestamptz IS NULL OR i.finished_at < $2)";
    match group {
        StatsGroup::Result => format!(
            "SELECT i.result, i.result, {COUNTS} FROM inspections i WHERE {WHERE}
             GROUP BY i.result ORDER BY count(*) DESC, i.result COLLATE \"C\""
        ),
        // A month in China (UTC+8), as SQLite's strftime(…, '+8 hours').
        StatsGroup::Month => format!(
            "SELECT to_char((i.finished_at AT TIME ZONE 'UTC') + interval '8 hours', 'YYYY-MM') AS k, NULL::text, {COUNTS}
             FROM inspections i WHERE {WHERE} GROUP BY k ORDER BY k"
        ),
        StatsGroup::Inspector => format!(
            "SELECT j.value, COALESCE(MAX(u.username), j.value), {COUNTS}
             FROM inspections i CROSS JOIN LATERAL jsonb_array_elements_text(i.inspectors) AS j(value)
             LEFT JOIN users u ON u.id = j.value
             WHERE {WHERE} GROUP BY j.value ORDER BY count(*) DESC, j.value COLLATE \"C\""
        ),
        StatsGroup::Market => format!(
            "SELECT COALESCE(m.market_id, ''), COALESCE(MAX(k.name), '未归属市场'), {COUNTS}
             FROM inspections i LEFT JOIN merchants m ON m.id = i.merchant_id LEFT JOIN markets k ON k.id = m.market_id
             WHERE {WHERE} GROUP BY COALESCE(m.market_id, '')
             ORDER BY count(*) DESC, COALESCE(m.market_id, '') COLLATE \"C\""
        ),
        StatsGroup::Item => format!(
            "SELECT i.template || '/' || (v.value ->> 'item_id') AS k, MAX(v.value ->> 'text'), {COUNTS}
             FROM inspections i CROSS JOIN LATERAL jsonb_array_elements(i.violations) AS v(value)
             WHERE {WHERE} GROUP BY k
             ORDER BY count(*) DESC, (i.template || '/' || (v.value ->> 'item_id')) COLLATE \"C\""
        ),
    }
}

fn read_stats(
    c: &mut impl GenericClient,
    group: StatsGroup,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> Result<Vec<StatsRow>, StoreError> {
    let n = |v: i64| u64::try_from(v).unwrap_or(0);
    let rows = c.query(&stats_sql(group), &[&from, &to])?;
    Ok(rows
        .iter()
        .map(|r| {
            let key: String = r.get::<_, Option<String>>(0).unwrap_or_default();
            let label: Option<String> = r.get(1);
            let label = match group {
                StatsGroup::Result => result_label(&key).to_owned(),
                StatsGroup::Month => match key.split_once('-') {
                    Some((y, m)) => format!("{y}年{m}月"),
                    None => key.clone(),
                },
                _ => label.unwrap_or_else(|| key.clone()),
            };
            StatsRow {
                count: n(r.get(2)),
                compliant: n(r.get(3)),
                basically_compliant: n(r.get(4)),
                non_compliant: n(r.get(5)),
                key,
                label,
            }
        })
        .collect())
}

impl FieldStore for PgStore {
    fn inspection(&self, id: String) -> StoreFuture<'_, Option<StoredInspection>> {
        Box::pin(self.pool.call(move |c| read_inspection(c, &id)))
    }

    fn put_attachment(&self, a: NewAttachment) -> StoreFuture<'_, bool> {
        Box::pin(self.pool.call(move |c| {
            let mut tx = c.transaction()?;
            let size = i64::try_from(a.data.len()).unwrap_or(i64::MAX);
            let created = tx.execute(
                "INSERT INTO attachments (sha256, size, content_type, data, created_at) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (sha256) DO NOTHING",
                &[&a.sha256, &size, &a.content_type, &a.data, &Utc::now()],
            )? == 1;
            tx.execute(
                "INSERT INTO attachment_owners (sha256, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                &[&a.sha256, &a.user_id],
            )?;
            tx.commit()?;
            Ok(created)
        }))
    }

    fn attachment(&self, sha256: String) -> StoreFuture<'_, Option<Attachment>> {
        Box::pin(self.pool.call(move |c| {
            Ok(c.query_opt(
                "SELECT content_type, data, created_at FROM attachments WHERE sha256 = $1",
                &[&sha256],
            )?
            .map(|r| Attachment {
                sha256: sha256.clone(),
                content_type: r.get(0),
                data: r.get(1),
                created_at: r.get(2),
            }))
        }))
    }

    fn attachment_owned_by(&self, sha256: String, user_id: String) -> StoreFuture<'_, bool> {
        Box::pin(self.pool.call(move |c| {
            Ok(c.query_one(
                "SELECT EXISTS(SELECT 1 FROM attachment_owners WHERE sha256 = $1 AND user_id = $2)",
                &[&sha256, &user_id],
            )?
            .get(0))
        }))
    }

    fn risk_facts(
        &self,
        now: DateTime<Utc>,
        period_days: u32,
    ) -> StoreFuture<'_, Vec<RiskFactsRow>> {
        Box::pin(
            self.pool
                .call(move |c| read_risk_facts(c, now, period_days, None)),
        )
    }

    fn merchant_risk_facts(
        &self,
        merchant_id: String,
        now: DateTime<Utc>,
        period_days: u32,
    ) -> StoreFuture<'_, Option<RiskFactsRow>> {
        Box::pin(
            self.pool
                .call(move |c| Ok(read_risk_facts(c, now, period_days, Some(&merchant_id))?.pop())),
        )
    }

    fn existing_inspectors(&self, ids: Vec<String>) -> StoreFuture<'_, Vec<(String, String)>> {
        Box::pin(self.pool.call(move |c| {
            Ok(c.query(
                "SELECT id, username FROM users WHERE role = 'inspector' AND id = ANY($1) ORDER BY id COLLATE \"C\"",
                &[&ids],
            )?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect())
        }))
    }

    fn create_draw(&self, draw: NewDraw) -> StoreFuture<'_, ()> {
        Box::pin(self.pool.call(move |c| write_draw(c, &draw)))
    }

    fn draw(&self, id: String) -> StoreFuture<'_, Option<StoredDraw>> {
        Box::pin(self.pool.call(move |c| read_draw(c, &id)))
    }

    fn inspection_stats(
        &self,
        group: StatsGroup,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
    ) -> StoreFuture<'_, Vec<StatsRow>> {
        Box::pin(self.pool.call(move |c| read_stats(c, group, from, to)))
    }
}

#[cfg(test)]
mod tests {
    use shian_core::inspection::DrawTask;

    use super::super::testing::{add_market, add_merchant, add_user, fresh, Db};
    use super::*;
    use tokio::task::block_in_place;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    /// An inspection row as the push writes it, with only what the
    /// statistics and the grading read filled in meaningfully.
    fn add_inspection(
        db: &Db,
        id: &str,
        merchant: &str,
        result: &str,
        inspectors: &[&str],
        finished: &str,
    ) {
        block_in_place(|| {
            let mut c = db.store.pool().get().unwrap();
            let violations = serde_json::json!([{"item_id": "1.1", "text": "无证"}]);
            c.execute(
            "INSERT INTO inspections (region_code, id, merchant_id, template, template_version, result, violations, inspectors,
                 started_at, finished_at, payload, evaluation, pushed_by, recorded_at)
             SELECT region_code, $1, $2, 'market', 1, $3, $4, $5, $6, $6, '{}', '{}', 'u', $6 FROM merchants WHERE id = $2",
            &[&id, &merchant, &result, &violations, &serde_json::json!(inspectors), &at(finished)],
        )
        .unwrap();
        });
    }

    fn changes(db: &Db, kind: &str) -> Vec<(Option<String>, serde_json::Value)> {
        block_in_place(|| {
            let mut c = db.store.pool().get().unwrap();
            c.query(
                "SELECT user_id, payload FROM changes WHERE kind = $1 ORDER BY seq",
                &[&kind],
            )
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect()
        })
    }

    /// The same hash twice is stored once, each uploader owns it, and
    /// the bytes come back as sent.
    #[tokio::test(flavor = "multi_thread")]
    async fn attachments_are_stored_once_and_owned_by_each_uploader() {
        let Some(db) = block_in_place(fresh) else {
            return;
        };
        let s = &db.store;
        let sha = "a".repeat(64);
        let new = |user: &str| NewAttachment {
            sha256: sha.clone(),
            content_type: "image/jpeg".into(),
            data: vec![0, 1, 2, 255],
            user_id: user.into(),
        };
        assert!(s.put_attachment(new("u1")).await.unwrap());
        assert!(!s.put_attachment(new("u2")).await.unwrap());
        let a = s.attachment(sha.clone()).await.unwrap().unwrap();
        assert_eq!(
            (a.content_type.as_str(), a.data),
            ("image/jpeg", vec![0, 1, 2, 255])
        );
        assert!(s
            .attachment_owned_by(sha.clone(), "u2".into())
            .await
            .unwrap());
        assert!(!s
            .attachment_owned_by(sha.clone(), "u3".into())
            .await
            .unwrap());
        assert!(s.attachment("b".repeat(64)).await.unwrap().is_none());
    }

    /// A draw comes back with its tasks in draw order, and each task went
    /// to both of its inspectors.
    #[tokio::test(flavor = "multi_thread")]
    async fn a_draw_is_stored_and_its_tasks_published_to_both_inspectors() {
        let Some(db) = block_in_place(fresh) else {
            return;
        };
        block_in_place(|| {
            let mut c = db.store.pool().get().unwrap();
            add_merchant(&mut *c, "zz", "350203", None);
            add_merchant(&mut *c, "aa", "350206", None);
        });
        let s = &db.store;
        let created = at("2026-03-01T02:00:00.250Z");
        let task = |m: &str, g: RiskGrade| DrawTask {
            merchant_id: m.into(),
            grade: g,
            inspectors: ["i1".into(), "i2".into()],
        };
        s.create_draw(NewDraw {
            id: "d1".into(),
            name: "三月".into(),
            seed: "seed".into(),
            seed_hash: "hash".into(),
            algorithm: "v1".into(),
            pool_size: 2,
            params: serde_json::json!({"quota": 2}),
            tasks: vec![
                ("t1".into(), task("zz", RiskGrade::C)),
                ("t2".into(), task("aa", RiskGrade::A)),
            ],
            created_by: "analyst".into(),
            created_at: created,
        })
        .await
        .unwrap();
        let d = s.draw("d1".into()).await.unwrap().unwrap();
        assert_eq!((d.pool_size, d.created_at), (2, created));
        assert_eq!(d.params, serde_json::json!({"quota": 2}));
        let order: Vec<(&str, &str, RiskGrade)> = d
            .tasks
            .iter()
            .map(|t| (t.task_id.as_str(), t.merchant_name.as_str(), t.grade))
            .collect();
        assert_eq!(
            order,
            [("t1", "zz", RiskGrade::C), ("t2", "aa", RiskGrade::A)]
        );
        let sent = changes(&db, "task");
        let to: Vec<Option<&str>> = sent.iter().map(|(u, _)| u.as_deref()).collect();
        assert_eq!(to, [Some("i1"), Some("i2"), Some("i1"), Some("i2")]);
        assert_eq!(sent[0].1["region_code"], "350203");
        assert_eq!(sent[0].1["assigned_at"], "2026-03-01T02:00:00.250Z");
        assert!(s.draw("nope".into()).await.unwrap().is_none());
    }

    /// The built-in checklists are published once, however often the
    /// store opens.
    #[test]
    fn checklists_are_published_once() {
        let Some(db) = fresh() else { return };
        let mut c = db.store.pool().get().unwrap();
        let templates = TemplateRegistry::builtin().unwrap();
        assert!(!templates.list().is_empty());
        // Opening the store published them; again publishes nothing.
        assert_eq!(publish_checklists(&mut *c, templates).unwrap(), 0);
        seed_checklists(&mut *c).unwrap();
        drop(c);
        assert_eq!(changes(&db, "checklist").len(), templates.list().len());
    }

    /// Statistics group, count, label and order as SQLite's, within
    /// `[from, to)`; months are China's.
    #[tokio::test(flavor = "multi_thread")]
    async fn inspection_statistics() {
        let Some(db) = block_in_place(fresh) else {
            return;
        };
        block_in_place(|| {
            let mut c = db.store.pool().get().unwrap();
            add_market(&mut *c, "mk", "350203");
            add_merchant(&mut *c, "m1", "350203", Some("mk"));
            add_merchant(&mut *c, "m2", "350206", None);
            add_user(&mut *c, "i1", "inspector", None, &["350203"], &[]);
        });
        add_inspection(
            &db,
            "x1",
            "m1",
            "compliant",
            &["i1", "i2"],
            "2026-01-31T17:00:00Z",
        );
        add_inspection(
            &db,
            "x2",
            "m1",
            "non_compliant",
            &["i1"],
            "2026-02-10T00:00:00Z",
        );
        add_inspection(
            &db,
            "x3",
            "m2",
            "compliant",
            &["i2"],
            "2026-02-11T00:00:00Z",
        );
        add_inspection(
            &db,
            "x4",
            "m2",
            "compliant",
            &["i2"],
            "2026-05-01T00:00:00Z",
        );
        let s = &db.store;
        let to = Some(at("2026-04-01T00:00:00Z"));
        let stats = |g| s.inspection_stats(g, None, to);

        let rows = stats(StatsGroup::Result).await.unwrap();
        assert_eq!(rows[0].key, "compliant");
        assert_eq!((rows[0].count, rows[0].compliant), (2, 2));
        assert_eq!(rows[0].label, InspectionResult::Compliant.label_zh());
        assert_eq!(
            (rows[1].key.as_str(), rows[1].non_compliant),
            ("non_compliant", 1)
        );

        // 17:00 UTC on 31 January is 1 February in China.
        let rows = stats(StatsGroup::Month).await.unwrap();
        let months: Vec<(&str, &str, u64)> = rows
            .iter()
            .map(|r| (r.key.as_str(), r.label.as_str(), r.count))
            .collect();
        assert_eq!(months, [("2026-02", "2026年02月", 3)]);

        let rows = stats(StatsGroup::Inspector).await.unwrap();
        let by: Vec<(&str, &str, u64)> = rows
            .iter()
            .map(|r| (r.key.as_str(), r.label.as_str(), r.count))
            .collect();
        assert_eq!(by, [("i1", "i1", 2), ("i2", "i2", 2)]);

        let rows = stats(StatsGroup::Market).await.unwrap();
        let by: Vec<(&str, &str, u64)> = rows
            .iter()
            .map(|r| (r.key.as_str(), r.label.as_str(), r.count))
            .collect();
        assert_eq!(by, [("mk", "mk", 2), ("", "未归属市场", 1)]);

        let rows = stats(StatsGroup::Item).await.unwrap();
        assert_eq!(
            (rows[0].key.as_str(), rows[0].label.as_str(), rows[0].count),
            ("market/1.1", "无证", 3)
        );

        let from = Some(at("2026-02-11T00:00:00Z"));
        let rows = s
            .inspection_stats(StatsGroup::Result, from, None)
            .await
            .unwrap();
        assert_eq!(rows.iter().map(|r| r.count).sum::<u64>(), 2);
    }

    /// Inspectors are found by id among inspector accounts only.
    #[tokio::test(flavor = "multi_thread")]
    async fn existing_inspectors_are_inspector_accounts() {
        let Some(db) = block_in_place(fresh) else {
            return;
        };
        block_in_place(|| {
            let mut c = db.store.pool().get().unwrap();
            add_merchant(&mut *c, "m1", "350203", None);
            add_user(&mut *c, "i2", "inspector", None, &[], &[]);
            add_user(&mut *c, "i1", "inspector", None, &[], &[]);
            add_user(&mut *c, "u1", "merchant", Some("m1"), &[], &[]);
        });
        let found = db
            .store
            .existing_inspectors(vec!["i2".into(), "u1".into(), "i1".into(), "x".into()])
            .await
            .unwrap();
        assert_eq!(
            found,
            [("i1".into(), "i1".into()), ("i2".into(), "i2".into())]
        );
    }

    /// The counts the grade reads that this file makes (the alerts' and
    /// complaints' come from their modules): results in the period, this
    /// year's and ever, confirmed failures, the last inspectors.
    #[test]
    fn risk_fact_counts() {
        let Some(db) = fresh() else { return };
        {
            let mut c = db.store.pool().get().unwrap();
            add_merchant(&mut *c, "m1", "350203", None);
        }
        add_inspection(&db, "x1", "m1", "compliant", &["a"], "2025-06-01T00:00:00Z");
        add_inspection(
            &db,
            "x2",
            "m1",
            "non_compliant",
            &["b", "c"],
            "2026-02-01T00:00:00Z",
        );
        let mut c = db.store.pool().get().unwrap();
        let now = at("2026-03-01T00:00:00Z");
        const SQL: &str = "SELECT merchant_id, count(*) FROM inspections
             WHERE ($1::timestamptz IS NULL OR finished_at >= $1) AND ($2::text IS NULL OR merchant_id = $2)
             GROUP BY merchant_id";
        assert_eq!(count_by(&mut *c, SQL, None, Some("m1")).unwrap()["m1"], 2);
        assert_eq!(
            count_by(&mut *c, SQL, Some(year_start(now)), None).unwrap()["m1"],
            1
        );
        assert!(count_by(&mut *c, SQL, None, Some("m2")).unwrap().is_empty());
        let rows = read_risk_facts(&mut *c, now, 90, Some("m1")).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].facts.inspections_non_compliant, 1);
        assert_eq!(rows[0].last_inspectors, ["b", "c"]);
        assert!(!rows[0].facts.new_operator);
    }
}
