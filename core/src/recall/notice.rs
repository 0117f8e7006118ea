//! What the phones pull about a recall: the wire form of the change kinds
//! (DESIGN.md's sync protocol carries them as JSON payloads; the local
//! store keeps the latest of each `id` in its inbox).
//!
//! * `recall.notice` to a merchant: the recall and the holder's batches in
//!   it, at the start, and once more with `reminder: true` when the holder
//!   is overdue;
//! * `recall.updated` to a merchant: the same shape after one of its
//!   confirmations counted, or when the recall closed;
//! * `recall.progress` to a district's inspectors: the recall and its
//!   holders in that district (`id` is `{recall_id}@{region_code}`), at the
//!   start and after every change there.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::level::{Deadlines, RecallLevel};
use super::progress::{HolderProgress, RecallStatus};

/// A recall as every notice shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecallHeader {
    pub recall_id: String,
    /// The code the recall was started from (the root batch).
    pub trace_code: String,
    pub product_name: String,
    pub level: RecallLevel,
    pub reason: String,
    pub status: RecallStatus,
    pub started_at: DateTime<Utc>,
    pub deadlines: Deadlines,
    pub closed_at: Option<DateTime<Utc>>,
}

/// The payload of `recall.notice` and `recall.updated`.
#[derive(Debug, Clone, Serialize)]
pub struct MerchantNotice<'a> {
    /// The inbox key: the recall's id (one notice per recall per shop).
    pub id: &'a str,
    pub merchant_id: &'a str,
    pub level_zh: &'static str,
    #[serde(flatten)]
    pub recall: &'a RecallHeader,
    /// Sent again because the holder is overdue.
    pub reminder: bool,
    /// This shop's batches of the recalled code, with its latest counts.
    pub batches: &'a [HolderProgress],
}

impl<'a> MerchantNotice<'a> {
    pub fn new(
        recall: &'a RecallHeader,
        merchant_id: &'a str,
        batches: &'a [HolderProgress],
        reminder: bool,
    ) -> Self {
        MerchantNotice {
            id: &recall.recall_id,
            merchant_id,
            level_zh: recall.level.zh(),
            recall,
            reminder,
            batches,
        }
    }

    pub fn to_json(&self) -> serde_json::Value {
        // Plain structs of strings, numbers and dates: serialising cannot fail.
        serde_json::to_value(self).unwrap_or_default()
    }
}

/// The payload of `recall.progress`.
#[derive(Debug, Clone, Serialize)]
pub struct DistrictProgress<'a> {
    /// The inbox key, `{recall_id}@{region_code}`.
    pub id: String,
    pub region_code: &'a str,
    pub level_zh: &'static str,
    #[serde(flatten)]
    pub recall: &'a RecallHeader,
    /// The district's holders; `state: pending` has not confirmed.
    pub holders: &'a [HolderProgress],
}

impl<'a> DistrictProgress<'a> {
    pub fn new(
        recall: &'a RecallHeader,
        region_code: &'a str,
        holders: &'a [HolderProgress],
    ) -> Self {
        DistrictProgress {
            id: format!("{}@{region_code}", recall.recall_id),
            region_code,
            level_zh: recall.level.zh(),
            recall,
            holders,
        }
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }
}
