//! Recalls on the phone: the merchant sees its recall notices (pulled into
//! the local store) and confirms offline (`recall.confirm`, queued in the
//! outbox and checked first by core's rule when the notice is here); the
//! inspector sees, for the district's active recalls, who has not
//! confirmed. Thin over `shian_core::recall::local`.

use chrono::{FixedOffset, Offset, Utc};
use serde_json::Value;
use shian_core::recall::confirm::WireQuantity;
use shian_core::recall::local::LocalRecallError;
use shian_core::recall::ConfirmationInput;

use crate::error::ShianError;
use crate::ledger::QuantityValue;
use crate::store::ShianStore;

/// One batch of this shop named by a recall, with its latest counted
/// confirmation (none yet: `state` is `pending`).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct RecallBatchRecord {
    pub merchant_id: String,
    pub merchant_name: Option<String>,
    pub trace_code: String,
    pub product_name: String,
    pub received: QuantityValue,
    /// `pending` or `confirmed`.
    pub state: String,
    pub held: Option<QuantityValue>,
    pub returned: Option<QuantityValue>,
    pub destroyed: Option<QuantityValue>,
    pub confirmed_at: Option<String>,
    /// Overdue when the notice was sent.
    pub overdue: bool,
}

/// A recall as the phone holds it.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct RecallNoticeRecord {
    pub recall_id: String,
    /// 1, 2 or 3.
    pub level: u8,
    /// 一级召回 …
    pub level_zh: String,
    pub reason: String,
    /// The recalled (root) batch.
    pub trace_code: String,
    pub product_name: String,
    /// `active` or `closed`.
    pub status: String,
    pub started_at: String,
    pub start_by: String,
    /// The last working day to finish (YYYY-MM-DD).
    pub finish_by: String,
    /// Sent again because a batch is overdue.
    pub reminder: bool,
    /// This shop's batches (merchant) or the district's holders (inspector).
    pub batches: Vec<RecallBatchRecord>,
}

/// A holder of the district that has not confirmed, for the inspector.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct RecallPendingRecord {
    pub recall_id: String,
    pub level_zh: String,
    pub product_name: String,
    pub start_by: String,
    pub merchant_id: String,
    pub merchant_name: Option<String>,
    pub trace_code: String,
    pub received: QuantityValue,
    pub overdue: bool,
}

/// A confirmation typed on the phone.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct RecallConfirmInput {
    pub recall_id: String,
    pub merchant_id: String,
    pub trace_code: String,
    pub held: QuantityValue,
    pub returned: QuantityValue,
    pub destroyed: QuantityValue,
    /// When counted (RFC 3339 with offset); `None`: now.
    pub at: Option<String>,
    /// The op id (pass one to make a retried call idempotent); `None`: new.
    pub op_id: Option<String>,
}

fn qty(v: &Value) -> Option<QuantityValue> {
    Some(QuantityValue {
        value: v["value"].as_str()?.to_owned(),
        unit: v["unit"].as_str()?.to_owned(),
    })
}

fn text(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_owned()
}

fn batch(b: &Value) -> RecallBatchRecord {
    RecallBatchRecord {
        merchant_id: text(&b["merchant_id"]),
        merchant_name: b["merchant_name"].as_str().map(str::to_owned),
        trace_code: text(&b["trace_code"]),
        product_name: text(&b["product_name"]),
        received: qty(&b["received"]).unwrap_or(QuantityValue {
            value: "0".into(),
            unit: "kg".into(),
        }),
        state: text(&b["state"]),
        held: qty(&b["held"]),
        returned: qty(&b["returned"]),
        destroyed: qty(&b["destroyed"]),
        confirmed_at: b["confirmed_at"].as_str().map(str::to_owned),
        overdue: b["overdue"].as_bool().unwrap_or(false),
    }
}

/// A pulled `recall.notice` / `recall.updated` / `recall.progress` payload.
fn notice(n: &Value) -> RecallNoticeRecord {
    let rows = if n["batches"].is_array() {
        &n["batches"]
    } else {
        &n["holders"]
    };
    RecallNoticeRecord {
        recall_id: text(&n["recall_id"]),
        level: n["level"]
            .as_u64()
            .and_then(|l| u8::try_from(l).ok())
            .unwrap_or(0),
        level_zh: text(&n["level_zh"]),
        reason: text(&n["reason"]),
        trace_code: text(&n["trace_code"]),
        product_name: text(&n["product_name"]),
        status: text(&n["status"]),
        started_at: text(&n["started_at"]),
        start_by: text(&n["deadlines"]["start_by"]),
        finish_by: text(&n["deadlines"]["finish_by"]),
        reminder: n["reminder"].as_bool().unwrap_or(false),
        batches: rows.as_array().into_iter().flatten().map(batch).collect(),
    }
}

fn wire(q: &QuantityValue) -> WireQuantity {
    WireQuantity {
        value: q.value.clone(),
        unit: q.unit.clone(),
    }
}

impl From<LocalRecallError> for ShianError {
    fn from(e: LocalRecallError) -> Self {
        match e {
            LocalRecallError::Invalid(c) => ShianError::Validation {
                code: c.code.to_owned(),
                field: c.field,
                message: c.message,
            },
            LocalRecallError::Storage(s) => s.into(),
        }
    }
}

#[uniffi::export]
impl ShianStore {
    /// The recall notices this shop has pulled, newest first, each with the
    /// latest counts the server counted for its batches.
    pub fn recall_notices(&self) -> Result<Vec<RecallNoticeRecord>, ShianError> {
        Ok(self.lock()?.recall_notices()?.iter().map(notice).collect())
    }

    /// The district's active recalls as pulled (inspector), newest first.
    pub fn recall_progress(&self) -> Result<Vec<RecallNoticeRecord>, ShianError> {
        Ok(self
            .lock()?
            .recall_progress()?
            .iter()
            .map(notice)
            .filter(|n| n.status == "active")
            .collect())
    }

    /// Who in the district has not confirmed an active recall (inspector).
    pub fn recall_pending_holders(&self) -> Result<Vec<RecallPendingRecord>, ShianError> {
        let mut out = Vec::new();
        for n in self.recall_progress()? {
            for b in n.batches.into_iter().filter(|b| b.state == "pending") {
                out.push(RecallPendingRecord {
                    recall_id: n.recall_id.clone(),
                    level_zh: n.level_zh.clone(),
                    product_name: n.product_name.clone(),
                    start_by: n.start_by.clone(),
                    merchant_id: b.merchant_id,
                    merchant_name: b.merchant_name,
                    trace_code: b.trace_code,
                    received: b.received,
                    overdue: b.overdue,
                });
            }
        }
        Ok(out)
    }

    /// Confirms what this shop holds, returned and destroyed of a recalled
    /// batch, offline: checked against the notice when it is here (more
    /// than received is `ShianError.Validation` `exceeds_received`, nothing
    /// queued), then queued as `recall.confirm`. Returns the op id.
    pub fn confirm_recall(&self, input: RecallConfirmInput) -> Result<String, ShianError> {
        let now = Utc::now();
        let china = FixedOffset::east_opt(8 * 3600).unwrap_or_else(|| Utc.fix());
        let at = match input.at.as_deref() {
            Some(s) => chrono::DateTime::parse_from_rfc3339(s).map_err(|_| {
                ShianError::invalid(
                    "at",
                    "invalid_timestamp",
                    "at 须为带时区偏移的 RFC 3339 时间",
                )
            })?,
            None => now.with_timezone(&china),
        };
        let op_id = input.op_id.clone().unwrap_or_else(crate::ledger::new_id);
        let c = ConfirmationInput {
            recall_id: input.recall_id,
            merchant_id: input.merchant_id,
            trace_code: input.trace_code,
            held: wire(&input.held),
            returned: wire(&input.returned),
            destroyed: wire(&input.destroyed),
        };
        self.lock()?
            .queue_recall_confirmation(&c, &op_id, at, now)?;
        Ok(op_id)
    }
}
