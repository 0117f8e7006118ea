//! The `inspection.record` and `sample.record` ops, applied inside the sync
//! push transaction.
//!
//! The phone decided the result offline with core's rules; here the server
//! re-runs exactly the same functions (`check_inspection_record`,
//! `evaluate_sample`, `confirm_rapid_test`) and adds what only it knows: the
//! accounts, the registry (is the merchant in the pusher's district?) and the
//! attachments uploaded so far, read through the store's [`FieldReads`].
//! Every check runs before anything is written: an accepted op answers with
//! the [`FieldWrite`]s the backend then persists in the push transaction
//! (all or none), so a refused op leaves nothing behind while the other ops
//! of the push stand.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use shian_core::inspection::{
    check_inspection_record, check_sample_record, confirm_rapid_test, evaluate_sample,
    CheckedInspection, InspectionError, InspectionRecordPayload, InspectionRules, RecordContext,
    SampleEvaluation, SampleRecord, SampleRecordPayload, SampleRules, TemplateRegistry,
};
use shian_core::sync::protocol::{Op, OpError};

use crate::store::field::{
    FieldDecision, FieldReads, FieldWrite, NewChange, NewInspection, NewPublicFinding,
    NewRecallProposal, NewSample,
};
use crate::store::ledger::Caller;
use crate::store::StoreError;
use crate::validate::region_covers;

/// Why an op did not go through: a refusal for the device, or a storage
/// failure that fails the whole push (which the device simply retries).
pub(crate) enum Fail {
    Refuse(OpError),
    Store(StoreError),
}

impl From<StoreError> for Fail {
    fn from(e: StoreError) -> Self {
        Fail::Store(e)
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
pub(crate) fn finish(r: Step<FieldDecision>) -> Result<Result<FieldDecision, OpError>, StoreError> {
    match r {
        Ok(v) => Ok(Ok(v)),
        Err(Fail::Refuse(e)) => Ok(Err(e)),
        Err(Fail::Store(e)) => Err(e),
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
fn merchant_in_district(
    reads: &dyn FieldReads,
    caller: &Caller,
    merchant_id: &str,
) -> Step<String> {
    let Some(region) = reads.merchant_region(merchant_id)? else {
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

// ---------------------------------------------------------------------------
// inspection.record
// ---------------------------------------------------------------------------

/// Applies an `inspection.record` op.
pub(crate) fn apply_inspection(
    reads: &dyn FieldReads,
    caller: &Caller,
    op: &Op,
    now: DateTime<Utc>,
) -> Step<FieldDecision> {
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
        if !reads.is_inspector(id)? {
            return Err(refuse(
                "unknown_inspector",
                format!("检查人员 {id} 不是平台登记的监管人员账号"),
                Some(&format!("inspectors[{i}]")),
                false,
            ));
        }
    }
    let region = merchant_in_district(reads, caller, &rec.merchant_id)?;
    for (ai, a) in rec.answers.iter().enumerate() {
        for (pi, p) in a.photos.iter().enumerate() {
            if !reads.attachment_exists(p)? {
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
    if reads.inspection_exists(&id)? {
        return Err(refuse(
            "duplicate_inspection",
            "该检查记录编号已存在",
            Some("inspection_id"),
            false,
        ));
    }

    Ok(inspection_writes(caller, checked, id, region, now))
}

/// The writes and the answer of an accepted inspection record.
fn inspection_writes(
    caller: &Caller,
    checked: CheckedInspection,
    id: String,
    region: String,
    now: DateTime<Utc>,
) -> FieldDecision {
    let rec = &checked.record;
    let ev = &checked.evaluation;
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
    let result = json!({
        "inspection_id": id,
        "result": ev.result,
        "violations": ev.violations,
        "follow_up": ev.follow_up,
        "record_path": record_path,
    });
    // The merchant sees its result and deadline; the district's other
    // inspectors see that the shop was inspected.
    let merchant_id = rec.merchant_id.clone();
    let writes = vec![
        FieldWrite::Inspection(NewInspection {
            id,
            checked,
            pushed_by: caller.user_id.clone(),
            recorded_at: now,
        }),
        FieldWrite::Publish(NewChange {
            kind: "inspection.record",
            merchant_id: Some(merchant_id),
            region_code: None,
            user_id: None,
            payload: change.clone(),
        }),
        FieldWrite::Publish(NewChange {
            kind: "inspection.record",
            merchant_id: None,
            region_code: Some(region),
            user_id: None,
            payload: change,
        }),
    ];
    FieldDecision { writes, result }
}

// ---------------------------------------------------------------------------
// sample.record
// ---------------------------------------------------------------------------

/// Applies a `sample.record` op.
pub(crate) fn apply_sample(
    reads: &dyn FieldReads,
    caller: &Caller,
    op: &Op,
    now: DateTime<Utc>,
) -> Step<FieldDecision> {
    require_inspector(caller, "抽检记录")?;
    let payload: SampleRecordPayload = parse_payload(&op.payload)?;
    let rules = builtin(SampleRules::builtin())?;
    let rec = check_sample_record(payload, now, rules)?;
    let region = merchant_in_district(reads, caller, &rec.merchant_id)?;
    let id = rec.sample_id.to_string();
    if reads.sample_exists(&id)? {
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
            let Some(rapid) = reads.sample(&rapid_id.to_string())? else {
                // The rapid test may be on another phone that has not synced.
                return Err(refuse(
                    "unknown_sample",
                    format!("被确证的快检记录 {rapid_id} 尚未同步到平台"),
                    Some("confirms"),
                    true,
                ));
            };
            confirm_rapid_test(&rapid, &rec, rules)?
        }
    };
    Ok(sample_writes(caller, rec, evaluation, id, region, now))
}

/// The writes and the answer of an accepted sample record: the sample, and
/// for a failure that counts its recall proposal and public finding (the
/// failure weighs in the pass-rate warnings, `crate::alerts`),
/// then its publication.
fn sample_writes(
    caller: &Caller,
    rec: SampleRecord,
    ev: SampleEvaluation,
    id: String,
    region: String,
    now: DateTime<Utc>,
) -> FieldDecision {
    let method = match rec.method {
        shian_core::inspection::SampleMethod::Rapid => "rapid",
        shian_core::inspection::SampleMethod::Lab => "lab",
    };
    let outcome = serde_json::to_value(ev.outcome).unwrap_or(Value::Null);
    let outcome_s = outcome.as_str().unwrap_or("unknown").to_owned();
    let mut writes = Vec::new();
    let mut recall_id: Option<String> = None;
    if ev.counts_as_failure {
        let trace_code = ev
            .recall
            .as_ref()
            .and_then(|r| r.trace_code.clone())
            .or_else(|| rec.trace_code.clone());
        if let Some(r) = &ev.recall {
            let rid = uuid::Uuid::now_v7().to_string();
            writes.push(FieldWrite::RecallProposal(NewRecallProposal {
                id: rid.clone(),
                merchant_id: r.merchant_id.clone(),
                trace_code: trace_code.clone(),
                sample_id: id.clone(),
                reason: r.reason.clone(),
                basis: r.basis.clone(),
                created_at: now,
            }));
            recall_id = Some(rid);
        }
        // 抽检结果公开: a confirmed failure shows on the shop's public page.
        writes.push(FieldWrite::PublicFinding(NewPublicFinding {
            id: uuid::Uuid::now_v7().to_string(),
            merchant_id: rec.merchant_id.clone(),
            kind: "sample_failure",
            ref_id: id.clone(),
            title: "监督抽检不合格",
            summary: ev.summary.clone(),
            trace_code,
            published_at: now,
        }));
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
    writes.push(FieldWrite::Publish(NewChange {
        kind: "sample.record",
        merchant_id: Some(rec.merchant_id.clone()),
        region_code: None,
        user_id: None,
        payload: change.clone(),
    }));
    writes.push(FieldWrite::Publish(NewChange {
        kind: "sample.record",
        merchant_id: None,
        region_code: Some(region),
        user_id: None,
        payload: change,
    }));
    let result = json!({
        "sample_id": id,
        "outcome": ev.outcome,
        "counts_as_failure": ev.counts_as_failure,
        "needs_confirmation": ev.needs_confirmation,
        "summary": ev.summary,
        "recall": ev.recall,
        "recall_proposal_id": recall_id,
    });
    // The sample row first: the rows above point at it.
    writes.insert(
        0,
        FieldWrite::Sample(NewSample {
            id,
            record: rec,
            evaluation: ev,
            method,
            outcome: outcome_s,
            pushed_by: caller.user_id.clone(),
            recorded_at: now,
        }),
    );
    FieldDecision { writes, result }
}
