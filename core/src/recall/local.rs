//! Recalls on the phone: the notices pulled into the local store's inbox
//! and the confirmation queued in the outbox, checked offline first by the
//! same rule the server applies ([`super::check_confirmation`]) when the
//! notice is here. A phone that has not pulled the notice yet queues the
//! confirmation unchecked; the server judges it, and a refusal comes back
//! and is kept among the parked ops with its reason.

use chrono::{DateTime, FixedOffset, Utc};
use serde_json::Value;

use super::confirm::{
    check_confirmation, parse_confirmation, ConfirmError, Confirmation, ConfirmationInput,
    CONFIRM_KIND,
};
use super::{NOTICE_KIND, PROGRESS_KIND, UPDATED_KIND};
use crate::quantity::{Quantity, Sign};
use crate::store::LocalStore;

/// Why a confirmation was not queued.
#[derive(Debug, thiserror::Error)]
pub enum LocalRecallError {
    #[error(transparent)]
    Invalid(#[from] ConfirmError),
    #[error(transparent)]
    Storage(#[from] rusqlite::Error),
}

impl LocalStore {
    /// The latest pulled payload per `id` among `kinds`, in pull order of
    /// their latest change, newest first.
    fn latest_of(&self, kinds: &[&str]) -> rusqlite::Result<Vec<Value>> {
        let mut st = self.conn().prepare_cached(
            "SELECT key, payload FROM inbox WHERE kind IN (SELECT value FROM json_each(?1)) ORDER BY seq",
        )?;
        let kinds = serde_json::to_string(kinds).unwrap_or_else(|_| "[]".into());
        let rows = st.query_map([kinds], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })?;
        let mut out: Vec<(String, Value)> = Vec::new();
        for row in rows {
            let (key, payload) = row?;
            let v: Value = serde_json::from_str(&payload).unwrap_or_default();
            out.retain(|(k, _)| *k != key);
            out.push((key, v));
        }
        Ok(out.into_iter().rev().map(|(_, v)| v).collect())
    }

    /// This shop's recall notices, newest first: per recall the latest of its
    /// `recall.notice` and `recall.updated` (the later one carries the counts
    /// that count and the status).
    pub fn recall_notices(&self) -> rusqlite::Result<Vec<Value>> {
        self.latest_of(&[NOTICE_KIND, UPDATED_KIND])
    }

    /// An inspector's `recall.progress` per recall and district, newest first.
    pub fn recall_progress(&self) -> rusqlite::Result<Vec<Value>> {
        self.latest_of(&[PROGRESS_KIND])
    }

    /// What this shop received of the code in the recall, from its notice
    /// (`None` when the notice is not here).
    fn received_in_notice(
        &self,
        recall_id: &str,
        trace_code: &str,
    ) -> rusqlite::Result<Option<Quantity>> {
        for n in self.recall_notices()? {
            if n["id"] != recall_id {
                continue;
            }
            let batch = n["batches"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|b| b["trace_code"] == trace_code);
            let q = batch.and_then(|b| {
                let v = b["received"]["value"].as_str()?;
                let u = b["received"]["unit"].as_str()?;
                Quantity::parse(v, u, Sign::Positive, "received").ok()
            });
            return Ok(q);
        }
        Ok(None)
    }

    /// Checks a confirmation and queues it as a `recall.confirm` op with
    /// `op_id` (made at `at`, the moment of the count); returns it checked.
    /// Refused, nothing is queued.
    pub fn queue_recall_confirmation(
        &mut self,
        input: &ConfirmationInput,
        op_id: &str,
        at: DateTime<FixedOffset>,
        now: DateTime<Utc>,
    ) -> Result<Confirmation, LocalRecallError> {
        let payload = serde_json::to_value(input).unwrap_or_default();
        let c = parse_confirmation(&payload, op_id, &at.to_rfc3339(), now)?;
        if let Some(received) = self.received_in_notice(&c.recall_id, &c.trace_code)? {
            check_confirmation(&c, received)?;
        }
        let mut wire = payload;
        wire["trace_code"] = Value::from(c.trace_code.clone());
        self.enqueue(op_id, CONFIRM_KIND, &at.to_rfc3339(), &wire)?;
        Ok(c)
    }
}
