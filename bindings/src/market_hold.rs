//! Holds (暂扣) on the device, thin over `shian_core::hold::local`. The
//! operator's tablet places and releases holds offline (queued as
//! `market.hold` / `market.hold_release`, checked as the server checks
//! them); every device shows the holds it pulled (a merchant its own, a
//! tablet its market's). On the merchant's phone a sale of a held batch is
//! refused by `record_sale` itself, offline: `ShianError.Conflict` with
//! code `batch_held` and a zh-CN message naming the hold (core's
//! `rules::check_hold`); a sale older than the hold is recorded with the
//! warning `held_batch_sold`.

use serde_json::json;
use shian_core::hold::local::LocalHoldError;
use shian_core::hold::HoldChange;

use crate::error::ShianError;
use crate::store::ShianStore;

/// A hold as the device holds it.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct HoldRecord {
    pub hold_id: String,
    pub market_id: String,
    pub merchant_id: String,
    pub trace_code: String,
    /// `unknown_origin`, `rapid_test_failed`, `recall` or `other`.
    pub reason: String,
    /// 来源不明 …
    pub reason_zh: String,
    pub note: Option<String>,
    pub placed_at: String,
    /// `active`, `released` or `destroyed`.
    pub status: String,
    pub ended_note: Option<String>,
    pub ended_at: Option<String>,
    pub dispose_entry_id: Option<String>,
}

impl From<HoldChange> for HoldRecord {
    fn from(c: HoldChange) -> Self {
        HoldRecord {
            hold_id: c.id,
            market_id: c.market_id,
            merchant_id: c.merchant_id,
            trace_code: c.trace_code,
            reason: c.reason.as_str().to_owned(),
            reason_zh: c.reason.zh().to_owned(),
            note: c.note,
            placed_at: c.placed_at,
            status: c.status.as_str().to_owned(),
            ended_note: c.ended_note,
            ended_at: c.ended_at,
            dispose_entry_id: c.dispose_entry_id,
        }
    }
}

/// A hold typed on the operator's tablet.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct HoldInput {
    /// A UUID made here (`new_id()` when absent): the hold's id and op id.
    pub hold_id: Option<String>,
    pub market_id: String,
    pub merchant_id: String,
    pub trace_code: String,
    /// `unknown_origin`, `rapid_test_failed`, `recall` or `other`.
    pub reason: String,
    pub note: Option<String>,
    /// When the goods were held (RFC 3339; now when absent).
    pub at: Option<String>,
}

impl From<LocalHoldError> for ShianError {
    fn from(e: LocalHoldError) -> Self {
        match e {
            LocalHoldError::Invalid(f) => f.into(),
            LocalHoldError::Storage(s) => s.into(),
        }
    }
}

fn at_or_now(at: Option<&str>) -> Result<chrono::DateTime<chrono::FixedOffset>, ShianError> {
    match at {
        Some(s) => chrono::DateTime::parse_from_rfc3339(s).map_err(|_| {
            ShianError::invalid("at", "invalid_time", "at 须为带时区偏移的 RFC 3339 时间")
        }),
        None => Ok(chrono::Utc::now().fixed_offset()),
    }
}

#[uniffi::export]
impl ShianStore {
    /// The holds this device pulled, newest first, each as it stands now.
    pub fn holds(&self) -> Result<Vec<HoldRecord>, ShianError> {
        Ok(self
            .lock()?
            .holds()?
            .into_iter()
            .map(HoldRecord::from)
            .collect())
    }

    /// Places a hold from the operator's tablet, offline: checked here as
    /// the server checks its fields (a bad reason or trace code is
    /// `ShianError.Validation` at `payload.*`), then queued; the scope
    /// (the market's merchant, a batch it holds) is the server's, and a
    /// refusal comes back among the parked ops. Returns the hold id.
    pub fn place_hold(&self, input: HoldInput) -> Result<String, ShianError> {
        let at = at_or_now(input.at.as_deref())?;
        let payload = json!({
            "hold_id": input.hold_id.unwrap_or_else(crate::ledger::new_id),
            "market_id": input.market_id,
            "merchant_id": input.merchant_id,
            "trace_code": input.trace_code,
            "reason": input.reason,
            "note": input.note,
        });
        Ok(self.lock()?.place_hold(&payload, "", at)?.hold_id)
    }

    /// Releases a hold with the reason (required), offline; the op id.
    pub fn release_hold(&self, hold_id: String, note: String) -> Result<String, ShianError> {
        let payload = json!({"hold_id": hold_id, "note": note});
        Ok(self
            .lock()?
            .release_hold(&payload, chrono::Utc::now().fixed_offset())?)
    }
}
