//! Staff health certificates on the phone: the merchant records its
//! food-handling workers offline (`staff.upsert` / `staff.remove`, checked
//! by core's `staff::parse_worker` and queued in the outbox) and sees its
//! register with each certificate's validity at once; the inspector, with
//! the merchant's roster pulled (`staff.roster`), gets the checklist's
//! health-certificate item pre-filled from it. Thin over `shian_core::staff`.

use chrono::{FixedOffset, Offset, Utc};
use serde_json::json;
use shian_core::staff::{
    days_left, masked_name, prefill_answer, validity, LocalStaffError, Worker,
};
use shian_core::warnings::staff::StaffRules;

use crate::error::ShianError;
use crate::inspection::AnswerInput;
use crate::store::ShianStore;

/// A worker typed on the phone.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct WorkerInput {
    /// A new worker's id from `new_id()`; the same id changes the record.
    pub staff_id: String,
    pub merchant_id: String,
    pub name: String,
    /// 负责人, 从业人员, 配送, 食品安全管理员 …
    pub role: String,
    /// With both dates, or none of the three.
    pub certificate_no: Option<String>,
    /// YYYY-MM-DD.
    pub issued_on: Option<String>,
    /// YYYY-MM-DD, the last valid day.
    pub expires_on: Option<String>,
    /// SHA-256 of the certificate's photo (uploaded as an attachment).
    pub photo: Option<String>,
    /// The op id (pass one to make a retried call idempotent); `None`: new.
    pub op_id: Option<String>,
}

/// A worker as the phone shows it, with its validity as of now.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct WorkerRecord {
    pub staff_id: String,
    pub merchant_id: String,
    pub name: String,
    /// What the public sees of the name (`王*`).
    pub public_name: String,
    pub role: String,
    pub certificate_no: Option<String>,
    pub issued_on: Option<String>,
    pub expires_on: Option<String>,
    pub photo: Option<String>,
    /// `valid`, `expiring` (within 30 days), `expired` or `missing`.
    pub status: String,
    /// `有效期至 …`, `健康证已过期` …
    pub status_zh: String,
    /// Days to the last valid day (negative: expired).
    pub days_left: Option<i64>,
}

fn record(w: &Worker) -> WorkerRecord {
    let now = Utc::now();
    let v = validity(w, now, StaffRules::builtin().expiring_days);
    WorkerRecord {
        staff_id: w.staff_id.clone(),
        merchant_id: w.merchant_id.clone(),
        name: w.name.clone(),
        public_name: masked_name(&w.name),
        role: w.role.clone(),
        certificate_no: w.certificate_no.clone(),
        issued_on: w.issued_on.map(|d| d.to_string()),
        expires_on: w.expires_on.map(|d| d.to_string()),
        photo: w.photo.clone(),
        status: v.as_str().to_owned(),
        status_zh: v.label_zh(),
        days_left: v.expires_on().map(|e| days_left(e, now)),
    }
}

impl From<LocalStaffError> for ShianError {
    fn from(e: LocalStaffError) -> Self {
        match e {
            LocalStaffError::Invalid(f) => f.into(),
            LocalStaffError::Storage(s) => s.into(),
        }
    }
}

fn now_in_china() -> String {
    let china = FixedOffset::east_opt(8 * 3600).unwrap_or_else(|| Utc.fix());
    Utc::now().with_timezone(&china).to_rfc3339()
}

#[uniffi::export]
impl ShianStore {
    /// Records (adds or changes) a worker offline: checked as the server
    /// will (a refusal is `ShianError.Validation` with the field, e.g.
    /// `payload.expires_on` `expiry_before_issue`; nothing queued), then
    /// queued as `staff.upsert`. Returns the op id.
    pub fn record_worker(&self, input: WorkerInput) -> Result<String, ShianError> {
        let op_id = input.op_id.clone().unwrap_or_else(crate::ledger::new_id);
        let payload = json!({
            "staff_id": input.staff_id,
            "merchant_id": input.merchant_id,
            "name": input.name,
            "role": input.role,
            "certificate_no": input.certificate_no,
            "issued_on": input.issued_on,
            "expires_on": input.expires_on,
            "photo": input.photo,
        });
        self.lock()?
            .queue_staff_upsert(&payload, &op_id, &now_in_china())?;
        Ok(op_id)
    }

    /// Removes a worker (left the shop) offline: queued as `staff.remove`.
    /// Returns the op id.
    pub fn remove_worker(
        &self,
        merchant_id: String,
        staff_id: String,
        op_id: Option<String>,
    ) -> Result<String, ShianError> {
        let op_id = op_id.unwrap_or_else(crate::ledger::new_id);
        let payload = json!({"staff_id": staff_id, "merchant_id": merchant_id});
        self.lock()?
            .queue_staff_removal(&payload, &op_id, &now_in_china())?;
        Ok(op_id)
    }

    /// A merchant's register as this phone knows it: the last pulled roster
    /// with this phone's unsent changes laid over it, by name.
    pub fn staff_roster(&self, merchant_id: String) -> Result<Vec<WorkerRecord>, ShianError> {
        Ok(self
            .lock()?
            .staff_roster(&merchant_id)?
            .iter()
            .map(record)
            .collect())
    }

    /// The inspector's answer to the template's health-certificate item
    /// (《食品安全法》第四十五条), pre-filled from the merchant's pulled roster:
    /// compliant when every recorded worker holds a valid certificate,
    /// failed with the expired or missing ones named in the note. `None`
    /// when the template has no such item. The inspector may change it.
    pub fn health_item_prefill(
        &self,
        merchant_id: String,
        template_id: String,
        version: u32,
    ) -> Result<Option<AnswerInput>, ShianError> {
        let templates = self.templates()?;
        let Some(t) = templates.get(&template_id, version) else {
            return Err(ShianError::invalid(
                "template_id",
                "unknown_template",
                format!("没有检查表 {template_id} v{version}"),
            ));
        };
        let workers = self.lock()?.staff_roster(&merchant_id)?;
        Ok(
            prefill_answer(t, &workers, Utc::now()).map(|a| AnswerInput {
                item_id: a.item_id,
                compliant: a.compliant,
                not_applicable: a.not_applicable,
                note: a.note,
                value: a.value,
                photos: a.photos,
            }),
        )
    }
}
