//! The field ops' side of the push transaction on PostgreSQL (from
//! `sqlite/field_ops.rs`): the reads the field service decides with
//! ([`FieldReads`]) and the persistence of the [`FieldWrite`]s it decides
//! on, each row under its merchant's district.

use chrono::Utc;
use postgres::GenericClient;
use shian_core::inspection::SampleRecord;

use super::district;
use super::feed::{publish, Audience};
use super::txn::PgTxn;
use crate::store::field::{FieldReads, FieldWrite};
use crate::store::StoreError;

/// Whether `sql` (one `$1`, answering one boolean) holds for `arg`.
fn holds(txn: &PgTxn<'_, '_>, sql: &str, arg: &str) -> Result<bool, StoreError> {
    txn.with(|tx| Ok(tx.query_one(sql, &[&arg])?.get(0)))
}

/// The push transaction, read by the field service.
impl FieldReads for PgTxn<'_, '_> {
    fn is_inspector(&self, user_id: &str) -> Result<bool, StoreError> {
        holds(
            self,
            "SELECT EXISTS(SELECT 1 FROM users WHERE id = $1 AND role = 'inspector')",
            user_id,
        )
    }

    fn merchant_region(&self, merchant_id: &str) -> Result<Option<String>, StoreError> {
        self.try_with(|tx| district::of_merchant(tx, merchant_id))
    }

    fn attachment_exists(&self, sha256: &str) -> Result<bool, StoreError> {
        holds(
            self,
            "SELECT EXISTS(SELECT 1 FROM attachments WHERE sha256 = $1)",
            sha256,
        )
    }

    fn inspection_exists(&self, id: &str) -> Result<bool, StoreError> {
        holds(
            self,
            "SELECT EXISTS(SELECT 1 FROM inspections WHERE id = $1)",
            id,
        )
    }

    fn sample_exists(&self, id: &str) -> Result<bool, StoreError> {
        holds(
            self,
            "SELECT EXISTS(SELECT 1 FROM samples WHERE id = $1)",
            id,
        )
    }

    fn sample(&self, id: &str) -> Result<Option<SampleRecord>, StoreError> {
        let stored: Option<String> = self.with(|tx| {
            Ok(tx
                .query_opt("SELECT payload::text FROM samples WHERE id = $1", &[&id])?
                .map(|r| r.get(0)))
        })?;
        stored
            .map(|s| {
                serde_json::from_str(&s)
                    .map_err(|e| StoreError::Corrupt(format!("sample {id} payload: {e}")))
            })
            .transpose()
    }
}

#[cfg_attr(not(test), allow(dead_code))]
fn to_json<T: serde::Serialize>(v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(|e| StoreError::Corrupt(format!("field record: {e}")))
}

#[cfg_attr(not(test), allow(dead_code))]
fn to_value<T: serde::Serialize>(v: &T) -> Result<serde_json::Value, StoreError> {
    serde_json::to_value(v).map_err(|e| StoreError::Corrupt(format!("field record: {e}")))
}

/// The district a field row is stored under: its merchant's. The field
/// service has checked the merchant is registered before deciding, so an
/// unknown one here is the same refusal as elsewhere.
#[cfg_attr(not(test), allow(dead_code))]
fn region(c: &mut impl GenericClient, merchant_id: &str) -> Result<String, StoreError> {
    district::of_merchant(c, merchant_id)?.ok_or(StoreError::NotFound("商户"))
}

// Called by the push transaction (`sync.rs`) once it is ported; until then
// only the tests do.
#[cfg_attr(not(test), allow(dead_code))]
/// Persists a field op's writes in a savepoint: all of them or none (the
/// savepoint is rolled back when dropped on an error).
pub(super) fn persist(c: &mut impl GenericClient, writes: &[FieldWrite]) -> Result<(), StoreError> {
    let mut sp = c.transaction()?;
    for w in writes {
        write(&mut sp, w)?;
    }
    sp.commit()?;
    Ok(())
}

#[cfg_attr(not(test), allow(dead_code))]
fn write(tx: &mut impl GenericClient, w: &FieldWrite) -> Result<(), StoreError> {
    match w {
        FieldWrite::Inspection(i) => {
            let rec = &i.checked.record;
            let ev = &i.checked.evaluation;
            let region = region(tx, &rec.merchant_id)?;
            let version = i32::try_from(rec.template_version)
                .map_err(|e| StoreError::Corrupt(format!("template version: {e}")))?;
            tx.execute(
                "INSERT INTO inspections (region_code, id, merchant_id, template, template_version, result, violations, inspectors,
                     started_at, finished_at, payload, evaluation, pushed_by, recorded_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::text::json, $12::text::json, $13, $14)",
                &[
                    &region,
                    &i.id,
                    &rec.merchant_id,
                    &rec.template_id,
                    &version,
                    &ev.result.as_str(),
                    &to_value(&ev.violations)?,
                    &to_value(&rec.inspectors)?,
                    &rec.started_at.with_timezone(&Utc),
                    &rec.finished_at.with_timezone(&Utc),
                    &to_json(rec)?,
                    &to_json(ev)?,
                    &i.pushed_by,
                    &i.recorded_at,
                ],
            )?;
        }
        FieldWrite::Sample(s) => {
            let rec = &s.record;
            let ev = &s.evaluation;
            let region = region(tx, &rec.merchant_id)?;
            tx.execute(
                "INSERT INTO samples (region_code, id, merchant_id, trace_code, item, method, value, unit, limit_value, taken_at, confirms,
                     outcome, counts_as_failure, payload, evaluation, pushed_by, recorded_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14::text::json, $15::text::json, $16, $17)",
                &[
                    &region,
                    &s.id,
                    &rec.merchant_id,
                    &rec.trace_code,
                    &rec.item,
                    &s.method,
                    &rec.value,
                    &rec.unit,
                    &rec.limit,
                    &rec.taken_at.with_timezone(&Utc),
                    &rec.confirms.map(|c| c.to_string()),
                    &s.outcome,
                    &ev.counts_as_failure,
                    &to_json(rec)?,
                    &to_json(ev)?,
                    &s.pushed_by,
                    &s.recorded_at,
                ],
            )?;
        }
        FieldWrite::RecallProposal(r) => {
            let region = region(tx, &r.merchant_id)?;
            tx.execute(
                "INSERT INTO recall_proposals (region_code, id, merchant_id, trace_code, sample_id, reason, basis, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                &[&region, &r.id, &r.merchant_id, &r.trace_code, &r.sample_id, &r.reason, &r.basis, &r.created_at],
            )?;
        }
        FieldWrite::PublicFinding(f) => {
            let region = region(tx, &f.merchant_id)?;
            tx.execute(
                "INSERT INTO public_findings (region_code, id, merchant_id, kind, ref_id, title, summary, trace_code, published_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                &[&region, &f.id, &f.merchant_id, &f.kind, &f.ref_id, &f.title, &f.summary, &f.trace_code, &f.published_at],
            )?;
        }
        FieldWrite::Publish(c) => {
            publish(
                tx,
                c.kind,
                Audience {
                    merchant_id: c.merchant_id.as_deref(),
                    region_code: c.region_code.as_deref(),
                    user_id: c.user_id.as_deref(),
                    market_id: None,
                },
                &c.payload,
            )?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::store::field::{NewChange, NewPublicFinding, NewRecallProposal};

    use super::super::testing::{add_merchant, add_user, fresh};
    use super::*;

    fn proposal(merchant: &str) -> FieldWrite {
        FieldWrite::RecallProposal(NewRecallProposal {
            id: format!("rp-{merchant}"),
            merchant_id: merchant.into(),
            trace_code: Some("T1".into()),
            sample_id: "s1".into(),
            reason: "超标".into(),
            basis: "GB 2763".into(),
            created_at: Utc::now(),
        })
    }

    fn finding(merchant: &str) -> FieldWrite {
        FieldWrite::PublicFinding(NewPublicFinding {
            id: format!("pf-{merchant}"),
            merchant_id: merchant.into(),
            kind: "sample",
            ref_id: "s1".into(),
            title: "抽检不合格",
            summary: "农残超标".into(),
            trace_code: None,
            published_at: Utc::now(),
        })
    }

    fn count(c: &mut impl GenericClient, sql: &str) -> i64 {
        c.query_one(sql, &[]).unwrap().get(0)
    }

    /// The writes go in under the merchant's district, the change is
    /// published to its audience; with an unknown merchant among them,
    /// none of them stays, and the push transaction goes on.
    #[test]
    fn persist_writes_all_or_none() {
        let Some(db) = fresh() else { return };
        let mut c = db.store.pool().get().unwrap();
        add_merchant(&mut *c, "m1", "350203", None);
        let mut tx = c.transaction().unwrap();
        let change = FieldWrite::Publish(NewChange {
            kind: "inspection",
            merchant_id: None,
            region_code: Some("350203".into()),
            user_id: None,
            payload: serde_json::json!({"id": "x"}),
        });
        persist(&mut tx, &[proposal("m1"), finding("m1"), change.clone()]).unwrap();
        let e = persist(&mut tx, &[change, finding("m2"), proposal("m2")]).unwrap_err();
        assert!(matches!(e, StoreError::NotFound("商户")), "{e:?}");
        tx.commit().unwrap();
        assert_eq!(
            count(&mut *c, "SELECT count(*) FROM recall_proposals WHERE region_code = '350203' AND merchant_id = 'm1'"),
            1
        );
        assert_eq!(count(&mut *c, "SELECT count(*) FROM public_findings"), 1);
        assert_eq!(
            count(
                &mut *c,
                "SELECT count(*) FROM changes WHERE kind = 'inspection' AND region_code = '350203'"
            ),
            1
        );
    }

    /// What the field service reads inside the push.
    #[test]
    fn field_reads_in_the_push_transaction() {
        let Some(db) = fresh() else { return };
        let mut c = db.store.pool().get().unwrap();
        add_merchant(&mut *c, "m1", "350203", None);
        add_user(&mut *c, "i1", "inspector", None, &["350203"], &[]);
        add_user(&mut *c, "u1", "merchant", Some("m1"), &[], &[]);
        let mut tx = c.transaction().unwrap();
        let txn = PgTxn::new(&mut tx);
        assert!(txn.is_inspector("i1").unwrap());
        assert!(!txn.is_inspector("u1").unwrap());
        assert!(!txn.is_inspector("nobody").unwrap());
        assert_eq!(
            txn.merchant_region("m1").unwrap().as_deref(),
            Some("350203")
        );
        assert_eq!(txn.merchant_region("m2").unwrap(), None);
        assert!(!txn.attachment_exists(&"a".repeat(64)).unwrap());
        assert!(!txn.inspection_exists("x").unwrap());
        assert!(!txn.sample_exists("s").unwrap());
        assert!(txn.sample("s").unwrap().is_none());
    }
}
