//! The field ops' side of the push transaction on SQLite: the reads the
//! field service decides with ([`FieldReads`]) and the persistence of the
//! [`FieldWrite`]s it decides on.

use chrono::Utc;
use rusqlite::{params, Connection, OptionalExtension};
use shian_core::inspection::SampleRecord;

use super::sync::{publish, PushTxn};
use super::timestamps::ts;
use crate::store::field::{FieldReads, FieldWrite};
use crate::store::StoreError;

/// The push transaction, read by the field service.
impl FieldReads for PushTxn<'_> {
    fn is_inspector(&self, user_id: &str) -> Result<bool, StoreError> {
        Ok(self
            .0
            .prepare_cached(
                "SELECT EXISTS(SELECT 1 FROM users WHERE id = ?1 AND role = 'inspector')",
            )?
            .query_row([user_id], |r| r.get(0))?)
    }

    fn merchant_region(&self, merchant_id: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .0
            .prepare_cached("SELECT region_code FROM merchants WHERE id = ?1")?
            .query_row([merchant_id], |r| r.get(0))
            .optional()?)
    }

    fn attachment_exists(&self, sha256: &str) -> Result<bool, StoreError> {
        Ok(self
            .0
            .prepare_cached("SELECT EXISTS(SELECT 1 FROM attachments WHERE sha256 = ?1)")?
            .query_row([sha256], |r| r.get(0))?)
    }

    fn inspection_exists(&self, id: &str) -> Result<bool, StoreError> {
        Ok(self
            .0
            .prepare_cached("SELECT EXISTS(SELECT 1 FROM inspections WHERE id = ?1)")?
            .query_row([id], |r| r.get(0))?)
    }

    fn sample_exists(&self, id: &str) -> Result<bool, StoreError> {
        Ok(self
            .0
            .prepare_cached("SELECT EXISTS(SELECT 1 FROM samples WHERE id = ?1)")?
            .query_row([id], |r| r.get(0))?)
    }

    fn sample(&self, id: &str) -> Result<Option<SampleRecord>, StoreError> {
        let stored: Option<String> = self
            .0
            .prepare_cached("SELECT payload FROM samples WHERE id = ?1")?
            .query_row([id], |r| r.get(0))
            .optional()?;
        stored
            .map(|s| {
                serde_json::from_str(&s)
                    .map_err(|e| StoreError::Corrupt(format!("sample {id} payload: {e}")))
            })
            .transpose()
    }
}

fn to_json<T: serde::Serialize>(v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(|e| StoreError::Corrupt(format!("field record: {e}")))
}

/// Persists a field op's writes in a savepoint: all of them or none.
pub(super) fn persist(tx: &Connection, writes: &[FieldWrite]) -> Result<(), StoreError> {
    tx.execute_batch("SAVEPOINT field_op")?;
    match writes.iter().try_for_each(|w| write(tx, w)) {
        Ok(()) => {
            tx.execute_batch("RELEASE field_op")?;
            Ok(())
        }
        Err(e) => {
            tx.execute_batch("ROLLBACK TO field_op; RELEASE field_op")?;
            Err(e)
        }
    }
}

fn write(tx: &Connection, w: &FieldWrite) -> Result<(), StoreError> {
    match w {
        FieldWrite::Inspection(i) => {
            let rec = &i.checked.record;
            let ev = &i.checked.evaluation;
            tx.prepare_cached(
                "INSERT INTO inspections (id, merchant_id, template, template_version, result, violations, inspectors,
                     started_at, finished_at, payload, evaluation, pushed_by, recorded_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
            )?
            .execute(params![
                i.id,
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
                i.pushed_by,
                ts(&i.recorded_at),
            ])?;
        }
        FieldWrite::Sample(s) => {
            let rec = &s.record;
            let ev = &s.evaluation;
            tx.prepare_cached(
                "INSERT INTO samples (id, merchant_id, trace_code, item, method, value, unit, limit_value, taken_at, confirms,
                     outcome, counts_as_failure, payload, evaluation, pushed_by, recorded_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
            )?
            .execute(params![
                s.id,
                rec.merchant_id,
                rec.trace_code,
                rec.item,
                s.method,
                rec.value,
                rec.unit,
                rec.limit,
                ts(&rec.taken_at.with_timezone(&Utc)),
                rec.confirms.map(|c| c.to_string()),
                s.outcome,
                ev.counts_as_failure,
                to_json(rec)?,
                to_json(ev)?,
                s.pushed_by,
                ts(&s.recorded_at),
            ])?;
        }
        FieldWrite::RecallProposal(r) => {
            tx.prepare_cached(
                "INSERT INTO recall_proposals (id, merchant_id, trace_code, sample_id, reason, basis, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![r.id, r.merchant_id, r.trace_code, r.sample_id, r.reason, r.basis, ts(&r.created_at)])?;
        }
        FieldWrite::PublicFinding(f) => {
            tx.prepare_cached(
                "INSERT INTO public_findings (id, merchant_id, kind, ref_id, title, summary, trace_code, published_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?
            .execute(params![f.id, f.merchant_id, f.kind, f.ref_id, f.title, f.summary, f.trace_code, ts(&f.published_at)])?;
        }
        FieldWrite::Publish(c) => {
            publish(
                tx,
                c.kind,
                c.merchant_id.as_deref(),
                c.region_code.as_deref(),
                c.user_id.as_deref(),
                &c.payload,
            )?;
        }
    }
    Ok(())
}
