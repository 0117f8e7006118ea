//! Entry checks (入场查验) on the market operator's tablet: record a check
//! offline (judged by core's rule first — the ledger's certificate groups,
//! a failed rapid test — then queued as `market.entry_check`), list a
//! day's checks from the local store (pulled and still queued), and sync
//! with the store's `sync_now`. Thin over `shian_core::entry_check`.

use chrono::{FixedOffset, NaiveDate, Offset, Utc};
use serde_json::{json, Value};
use shian_core::entry_check::LocalEntryError;

use crate::error::ShianError;
use crate::ledger::{CertificateInput, QuantityValue};
use crate::store::ShianStore;

/// A rapid test done at the gate (快速检测).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct RapidTestInput {
    /// What was tested for, e.g. 有机磷农药残留.
    pub item: String,
    /// `pass` or `fail`.
    pub result: String,
    /// The reading, e.g. 抑制率 32%.
    pub value: Option<String>,
}

/// An entry check typed on the tablet. `check_id` None: a new UUIDv7;
/// `at` None: now.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct EntryCheckInput {
    pub check_id: Option<String>,
    pub market_id: String,
    /// The seller whose goods enter.
    pub merchant_id: String,
    pub product_name: String,
    /// A ledger category (`livestock_meat`, `vegetable`, …).
    pub category: String,
    pub quantity: QuantityValue,
    pub certificates_seen: Vec<CertificateInput>,
    pub rapid_test: Option<RapidTestInput>,
    /// `accepted` or `refused`.
    pub decision: String,
    /// Required when refused.
    pub reason: Option<String>,
    pub at: Option<String>,
}

/// A check as the tablet holds it.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct EntryCheckRecord {
    pub check_id: String,
    pub market_id: String,
    pub merchant_id: String,
    pub merchant_name: Option<String>,
    pub product_name: String,
    pub category: String,
    pub quantity: QuantityValue,
    pub certificates_seen: Vec<CertificateInput>,
    pub rapid_test: Option<RapidTestInput>,
    pub decision: String,
    pub reason: Option<String>,
    pub at: String,
    /// The seller's purchase the server linked it to, once known.
    pub purchase_entry_id: Option<String>,
    /// Sent and acknowledged by the server (pulled back); false while it
    /// waits in the outbox.
    pub synced: bool,
}

fn china() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).unwrap_or_else(|| Utc.fix())
}

fn text(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_owned()
}

fn opt(v: &Value) -> Option<String> {
    v.as_str().map(str::to_owned)
}

fn record(v: &Value) -> EntryCheckRecord {
    EntryCheckRecord {
        check_id: text(&v["check_id"]),
        market_id: text(&v["market_id"]),
        merchant_id: text(&v["merchant_id"]),
        merchant_name: opt(&v["merchant_name"]),
        product_name: text(&v["product"]["name"]),
        category: text(&v["product"]["category"]),
        quantity: QuantityValue {
            value: text(&v["quantity"]["value"]),
            unit: text(&v["quantity"]["unit"]),
        },
        certificates_seen: v["certificates_seen"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| CertificateInput {
                kind: text(&c["kind"]),
                number: text(&c["number"]),
            })
            .collect(),
        rapid_test: v["rapid_test"].is_object().then(|| RapidTestInput {
            item: text(&v["rapid_test"]["item"]),
            result: text(&v["rapid_test"]["result"]),
            value: opt(&v["rapid_test"]["value"]),
        }),
        decision: text(&v["decision"]),
        reason: opt(&v["reason"]),
        at: text(&v["at"]),
        purchase_entry_id: opt(&v["purchase_entry_id"]),
        synced: v["synced"].as_bool().unwrap_or(false),
    }
}

impl From<LocalEntryError> for ShianError {
    fn from(e: LocalEntryError) -> Self {
        match e {
            LocalEntryError::Invalid(f) => f.into(),
            LocalEntryError::Storage(s) => s.into(),
        }
    }
}

#[uniffi::export]
impl ShianStore {
    /// Records an entry check offline: refused with the field at fault
    /// (`ShianError.Validation`, e.g. `quantity.value`, `reason`,
    /// `certificates_seen` `missing_certificate`) and nothing queued, or
    /// queued as `market.entry_check` for the next sync. Returns the
    /// check id.
    pub fn record_entry_check(&self, input: EntryCheckInput) -> Result<String, ShianError> {
        let now = Utc::now();
        let check_id = input.check_id.clone().unwrap_or_else(crate::ledger::new_id);
        let at = input
            .at
            .clone()
            .unwrap_or_else(|| now.with_timezone(&china()).to_rfc3339());
        let mut payload = json!({
            "check_id": check_id,
            "market_id": input.market_id,
            "merchant_id": input.merchant_id,
            "product": {"name": input.product_name, "category": input.category},
            "quantity": {"value": input.quantity.value, "unit": input.quantity.unit},
            "certificates_seen": input.certificates_seen.iter()
                .map(|c| json!({"kind": c.kind, "number": c.number}))
                .collect::<Vec<_>>(),
            "decision": input.decision,
            "at": at,
        });
        if let Some(t) = &input.rapid_test {
            payload["rapid_test"] = json!({"item": t.item, "result": t.result, "value": t.value});
        }
        if let Some(r) = &input.reason {
            payload["reason"] = json!(r);
        }
        let check = self.lock()?.queue_entry_check(&payload, &check_id, now)?;
        Ok(check.check_id.to_string())
    }

    /// Today's checks (Asia/Shanghai) on this tablet, newest first.
    pub fn entry_checks_today(&self) -> Result<Vec<EntryCheckRecord>, ShianError> {
        self.entry_checks_on(Utc::now().with_timezone(&china()).date_naive().to_string())
    }

    /// A day's checks (`YYYY-MM-DD`, Asia/Shanghai) on this tablet, newest
    /// first: those pulled from the server and those still queued.
    pub fn entry_checks_on(&self, date: String) -> Result<Vec<EntryCheckRecord>, ShianError> {
        let day = NaiveDate::parse_from_str(date.trim(), "%Y-%m-%d")
            .map_err(|_| ShianError::invalid("date", "invalid_date", "日期格式应为 YYYY-MM-DD"))?;
        Ok(self
            .lock()?
            .entry_checks_on(day)?
            .iter()
            .map(record)
            .collect())
    }
}
