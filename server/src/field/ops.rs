//! The `inspection.record` and `sample.record` ops, applied inside the sync
//! push transaction.
//!
//! The phone decided the result offline with core's rules; here the server
//! re-runs exactly the same functions (`check_inspection_record`,
//! `evaluate_sample`, `confirm_rapid_test`) and adds what only it knows: the
//! accounts, the registry (is the merchant in the pusher's district?) and the
//! attachments uploaded so far. Every check runs before the first write, and
//! the writes run in a savepoint, so a refused op leaves nothing behind while
//! the other ops of the push stand.

use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension, Transaction};
use serde_json::{json, Value};
use shian_core::inspection::{
    check_inspection_record, check_sample_record, confirm_rapid_test, evaluate_sample,
    CheckedInspection, InspectionError, InspectionRecordPayload, InspectionRules, RecordContext,
    SampleEvaluation, SampleRecord, SampleRecordPayload, SampleRules, TemplateRegistry,
};
use shian_core::sync::protocol::{Op, OpError};

use crate::store::ledger::Caller;
use crate::store::sqlite::sync::publish;
use crate::store::ts;
use crate::validate::region_covers;

/// Why an op did not go through: a refusal for the device, or a storage
/// failure that fails the whole push (which the device simply retries).
pub(crate) enum Fail {
    Refuse(OpError),
    Sql(rusqlite::Error),
}

impl From<rusqlite::Error> for Fail {
    fn from(e: rusqlite::Error) -> Self {
        Fail::Sql(e)
    }
}

impl From<OpError> for Fail {
    fn from(e: OpError) -> Self {
        Fail::Refuse(e)
    }
}

impl From<InspectionError> for Fail {
    fn from(e: InspectionError) -> Self {
        Fail::Refuse(from_core(&e))
    }
}

type Step<T> = Result<T, Fail>;

/// The shape the push transaction expects back.
pub(crate) fn finish(r: Step<Value>) -> rusqlite::Result<Result<Value, OpError>> {
    match r {
        Ok(v) => Ok(Ok(v)),
        Err(Fail::Refuse(e)) => Ok(Err(e)),
        Err(Fail::Sql(e)) => Err(e),
    }
}

/// A refusal. `retryable` ones are not written to the op log, so the same op
/// is judged afresh on the next push (e.g. its photo was uploaded since).
pub(crate) fn refuse(
    code: &str,
    message: impl Into<String>,
    field: Option<&str>,
    retryable: bool,
) -> Fail {
    Fail::Refuse(OpError {
        code: code.to_owned(),
        message: message.into(),
        field: field.map(str::to_owned),
        retryable,
    })
}

/// Core's rule errors keep their code, zh-CN message and field.
fn from_core(e: &InspectionError) -> OpError {
    OpError {
        code: e.code().to_owned(),
        message: e.to_string(),
        field: e.field().map(str::to_owned),
        retryable: false,
    }
}

/// The rules and templates this server enforces: core's built-in sets. A
/// broken built-in file is a bug of the build, answered as a retryable
/// refusal (nothing logged) rather than a panic.
fn builtin<T: 'static>(r: Result<&'static T, InspectionError>) -> Step<&'static T> {
    r.map_err(|e| {
        tracing::error!(error = %e, "built-in inspection rules do not load");
        refuse(
            "internal_error",
            "服务器检查规则配置错误，请稍后重试",
            None,
            true,
        )
    })
}

fn require_inspector(caller: &Caller, what: &str) -> Step<()> {
    if caller.role == "inspector" {
        Ok(())
    } else {
        Err(refuse(
            "forbidden_kind",
            format!("只有监管人员账号可以提交{what}"),
            Some("kind"),
            false,
        ))
    }
}

fn parse_payload<T: serde::de::DeserializeOwned>(payload: &Value) -> Step<T> {
    serde_json::from_value(payload.clone()).map_err(|e| {
        refuse(
            "invalid_payload",
            format!("事件内容格式错误：{e}"),
            Some("payload"),
            false,
        )
    })
}

/// The merchant must be registered and within one of the caller's regions
/// (an inspector records only in its own district). Returns its region.
fn merchant_in_district(tx: &Transaction<'_>, caller: &Caller, merchant_id: &str) -> Step<String> {
    let region: Option<String> = tx
        .prepare_cached("SELECT region_code FROM merchants WHERE id = ?1")?
        .query_row([merchant_id], |r| r.get(0))
        .optional()?;
    let Some(region) = region else {
        return Err(refuse(
            "unknown_merchant",
            "经营者未在平台登记",
            Some("merchant_id"),
            false,
        ));
    };
    if !caller.regions.iter().any(|r| region_covers(r, &region)) {
        return Err(refuse(
            "out_of_district",
            format!("该经营者（行政区划 {region}）不在您的辖区内"),
            Some("merchant_id"),
            false,
        ));
    }
    Ok(region)
}

/// Runs `write` in a savepoint: all of it or none of it.
fn in_savepoint<T>(tx: &Transaction<'_>, write: impl FnOnce() -> Step<T>) -> Step<T> {
    tx.execute_batch("SAVEPOINT field_op")?;
    match write() {
        Ok(v) => {
            tx.execute_batch("RELEASE field_op")?;
            Ok(v)
        }
        Err(e) => {
            tx.execute_batch("ROLLBACK TO field_op; RELEASE field_op")?;
            Err(e)
        }
    }
}

fn to_json<T: serde::Serialize>(v: &T) -> Step<String> {
    serde_json::to_string(v)
        .map_err(|e| Fail::Sql(rusqlite::Error::ToSqlConversionFailure(Box::new(e))))
}

// ---------------------------------------------------------------------------
// inspection.record
// ---------------------------------------------------------------------------

/// Applies an `inspection.record` op.
pub(crate) fn apply_inspection(
    tx: &Transaction<'_>,
    caller: &Caller,
    op: &Op,
    now: DateTime<Utc>,
) -> Step<Value> {
    require_inspector(caller, "检查记录")?;
    let payload: InspectionRecordPayload = parse_payload(&op.payload)?;
    let templates = builtin(TemplateRegistry::builtin())?;
    let rules = builtin(InspectionRules::builtin())?;
    let ctx = RecordContext {
        pushing_inspector: Some(&caller.user_id),
        now,
        templates,
        rules,
    };
    // Core first: it needs nothing but the payload, and its verdict (e.g.
    // result_mismatch) is what the inspector must see first.
    let checked = check_inspection_record(payload, &ctx)?;
    let rec = &checked.record;

    for (i, id) in rec.inspectors.iter().enumerate() {
        let is_inspector: bool = tx
            .prepare_cached(
                "SELECT EXISTS(SELECT 1 FROM users WHERE id = ?1 AND role = 'inspector')",
            )?
            .query_row([id], |r| r.get(0))?;
        if !is_inspector {
            return Err(refuse(
                "unknown_inspector",
                format!("检查人员 {id} 不是平台登记的监管人员账号"),
                Some(&format!("inspectors[{i}]")),
                false,
            ));
        }
    }
    let region = merchant_in_district(tx, caller, &rec.merchant_id)?;
    for (ai, a) in rec.answers.iter().enumerate() {
        for (pi, p) in a.photos.iter().enumerate() {
            let known: bool = tx
                .prepare_cached("SELECT EXISTS(SELECT 1 FROM attachments WHERE sha256 = ?1)")?
                .query_row([p], |r| r.get(0))?;
            if !known {
                // The photo upload may simply not have happened yet.
                return Err(refuse(
                    "unknown_attachment",
                    format!("照片 {p} 尚未上传，请先上传附件"),
                    Some(&format!("answers[{ai}].photos[{pi}]")),
                    true,
                ));
            }
        }
    }
    let id = rec.inspection_id.to_string();
    let exists: bool = tx
        .prepare_cached("SELECT EXISTS(SELECT 1 FROM inspections WHERE id = ?1)")?
        .query_row([&id], |r| r.get(0))?;
    if exists {
        return Err(refuse(
            "duplicate_inspection",
            "该检查记录编号已存在",
            Some("inspection_id"),
            false,
        ));
    }

    in_savepoint(tx, || {
        store_inspection(tx, caller, &checked, &id, &region, now)
    })
}

fn store_inspection(
    tx: &Transaction<'_>,
    caller: &Caller,
    checked: &CheckedInspection,
    id: &str,
    region: &str,
    now: DateTime<Utc>,
) -> Step<Value> {
    let rec = &checked.record;
    let ev = &checked.evaluation;
    tx.prepare_cached(
        "INSERT INTO inspections (id, merchant_id, template, template_version, result, violations, inspectors,
             started_at, finished_at, payload, evaluation, pushed_by, recorded_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
    )?
    .execute(params![
        id,
        rec.merchant_id,
        rec.template_id,
        rec.template_version,
        ev.result.as_str(),
        to_json(&ev.violations)?,
        to_json(&rec.inspectors)?,
        ts(&rec.started_at.with_timezone(&Utc)),
        ts(&rec.finished_at.with_timezone(&Utc)),
        to_json(rec)?,
        to_json(ev)?,
        caller.user_id,
        ts(&now),
    ])?;
    let record_path = format!("/v1/inspections/{id}/record");
    let change = json!({
        "inspection_id": id,
        "merchant_id": rec.merchant_id,
        "template_id": rec.template_id,
        "template_version": rec.template_version,
        "inspectors": rec.inspectors,
        "started_at": rec.started_at,
        "finished_at": rec.finished_at,
        "result": ev.result,
        "violations": ev.violations,
        "follow_up": ev.follow_up,
        "record_path": record_path,
    });
    // The merchant sees its result and deadline; the district's other
    // inspectors see that the shop was inspected.
    publish(
        tx,
        "inspection.record",
        Some(&rec.merchant_id),
        None,
        None,
        &change,
    )?;
    publish(tx, "inspection.record", None, Some(region), None, &change)?;
    Ok(json!({
        "inspection_id": id,
        "result": ev.result,
        "violations": ev.violations,
        "follow_up": ev.follow_up,
        "record_path": record_path,
    }))
}

// ---------------------------------------------------------------------------
// sample.record
// ---------------------------------------------------------------------------

/// Applies a `sample.record` op.
pub(crate) fn apply_sample(
    tx: &Transaction<'_>,
    caller: &Caller,
    op: &Op,
    now: DateTime<Utc>,
) -> Step<Value> {
    require_inspector(caller, "抽检记录")?;
    let payload: SampleRecordPayload = parse_payload(&op.payload)?;
    let rules = builtin(SampleRules::builtin())?;
    let rec = check_sample_record(payload, now, rules)?;
    let region = merchant_in_district(tx, caller, &rec.merchant_id)?;
    let id = rec.sample_id.to_string();
    let exists: bool = tx
        .prepare_cached("SELECT EXISTS(SELECT 1 FROM samples WHERE id = ?1)")?
        .query_row([&id], |r| r.get(0))?;
    if exists {
        return Err(refuse(
            "duplicate_sample",
            "该抽检记录编号已存在",
            Some("sample_id"),
            false,
        ));
    }
    let evaluation = match rec.confirms {
        None => evaluate_sample(&rec, rules),
        Some(rapid_id) => {
            let stored: Option<String> = tx
                .prepare_cached("SELECT payload FROM samples WHERE id = ?1")?
                .query_row([rapid_id.to_string()], |r| r.get(0))
                .optional()?;
            let Some(stored) = stored else {
                // The rapid test may be on another phone that has not synced.
                return Err(refuse(
                    "unknown_sample",
                    format!("被确证的快检记录 {rapid_id} 尚未同步到平台"),
                    Some("confirms"),
                    true,
                ));
            };
            let rapid: SampleRecord = serde_json::from_str(&stored).map_err(|e| {
                Fail::Sql(rusqlite::Error::FromSqlConversionFailure(
                    0,
                    rusqlite::types::Type::Text,
                    Box::new(e),
                ))
            })?;
            confirm_rapid_test(&rapid, &rec, rules)?
        }
    };
    in_savepoint(tx, || {
        store_sample(tx, caller, &rec, &evaluation, &id, &region, now)
    })
}

fn store_sample(
    tx: &Transaction<'_>,
    caller: &Caller,
    rec: &SampleRecord,
    ev: &SampleEvaluation,
    id: &str,
    region: &str,
    now: DateTime<Utc>,
) -> Step<Value> {
    let now_s = ts(&now);
    let method = match rec.method {
        shian_core::inspection::SampleMethod::Rapid => "rapid",
        shian_core::inspection::SampleMethod::Lab => "lab",
    };
    let outcome = serde_json::to_value(ev.outcome).unwrap_or(Value::Null);
    let outcome_s = outcome.as_str().unwrap_or("unknown").to_owned();
    tx.prepare_cached(
        "INSERT INTO samples (id, merchant_id, trace_code, item, method, value, unit, limit_value, taken_at, confirms,
             outcome, counts_as_failure, payload, evaluation, pushed_by, recorded_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
    )?
    .execute(params![
        id,
        rec.merchant_id,
        rec.trace_code,
        rec.item,
        method,
        rec.value,
        rec.unit,
        rec.limit,
        ts(&rec.taken_at.with_timezone(&Utc)),
        rec.confirms.map(|c| c.to_string()),
        outcome_s,
        ev.counts_as_failure,
        to_json(rec)?,
        to_json(ev)?,
        caller.user_id,
        now_s,
    ])?;

    let mut alert_id: Option<String> = None;
    let mut recall_id: Option<String> = None;
    if ev.counts_as_failure {
        let trace_code = ev
            .recall
            .as_ref()
            .and_then(|r| r.trace_code.clone())
            .or_else(|| rec.trace_code.clone());
        let evidence = json!({
            "sample_id": id,
            "confirms": rec.confirms,
            "item": rec.item,
            "method": method,
            "value": rec.value,
            "unit": rec.unit,
            "limit": rec.limit,
            "trace_code": trace_code,
            "taken_at": rec.taken_at,
        });
        let a = uuid::Uuid::now_v7().to_string();
        tx.prepare_cached(
            "INSERT INTO alerts (id, merchant_id, kind, message, evidence, created_at) VALUES (?1, ?2, 'sample_failure', ?3, ?4, ?5)",
        )?
        .execute(params![a, rec.merchant_id, ev.summary, evidence.to_string(), now_s])?;
        alert_id = Some(a);
        if let Some(r) = &ev.recall {
            let rid = uuid::Uuid::now_v7().to_string();
            tx.prepare_cached(
                "INSERT INTO recall_proposals (id, merchant_id, trace_code, sample_id, reason, basis, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![rid, r.merchant_id, trace_code, id, r.reason, r.basis, now_s])?;
            recall_id = Some(rid);
        }
        // 抽检结果公开: a confirmed failure shows on the shop's public page.
        tx.prepare_cached(
            "INSERT INTO public_findings (id, merchant_id, kind, ref_id, title, summary, trace_code, published_at)
             VALUES (?1, ?2, 'sample_failure', ?3, '监督抽检不合格', ?4, ?5, ?6)",
        )?
        .execute(params![uuid::Uuid::now_v7().to_string(), rec.merchant_id, id, ev.summary, trace_code, now_s])?;
    }

    let change = json!({
        "sample_id": id,
        "merchant_id": rec.merchant_id,
        "trace_code": rec.trace_code,
        "item": rec.item,
        "method": method,
        "value": rec.value,
        "unit": rec.unit,
        "limit": rec.limit,
        "taken_at": rec.taken_at,
        "confirms": rec.confirms,
        "evaluation": ev,
    });
    publish(
        tx,
        "sample.record",
        Some(&rec.merchant_id),
        None,
        None,
        &change,
    )?;
    publish(tx, "sample.record", None, Some(region), None, &change)?;
    Ok(json!({
        "sample_id": id,
        "outcome": ev.outcome,
        "counts_as_failure": ev.counts_as_failure,
        "needs_confirmation": ev.needs_confirmation,
        "summary": ev.summary,
        "recall": ev.recall,
        "alert_id": alert_id,
        "recall_proposal_id": recall_id,
    }))
}
