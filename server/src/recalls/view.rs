//! A recall as the API and the console show it: core's progress per holder
//! and in total, computed as of the moment asked (so `overdue` is always
//! current, whether or not the periodic reminder ran).

use chrono::{DateTime, Utc};
use serde::Serialize;
use shian_core::recall::{HolderProgress, Progress, RecallHeader};

use crate::store::recalls::{PublicRecall, RecallSummary, StoredRecall};

/// One holder with where it is.
#[derive(Debug, Clone, Serialize)]
pub struct HolderView {
    #[serde(flatten)]
    pub progress: HolderProgress,
    pub region_code: String,
    /// Confirmations received (the latest by count time is the one shown).
    pub confirmations: u64,
    pub reminded_at: Option<DateTime<Utc>>,
}

/// `GET /v1/recalls/{id}`.
#[derive(Debug, Clone, Serialize)]
pub struct RecallView {
    pub id: String,
    pub level_zh: &'static str,
    #[serde(flatten)]
    pub header: RecallHeader,
    pub proposal_id: Option<String>,
    pub started_by: String,
    /// Past a deadline with work left (a holder overdue).
    pub overdue: bool,
    pub progress: Progress,
    pub holders: Vec<HolderView>,
}

impl RecallView {
    pub fn new(r: StoredRecall, now: DateTime<Utc>) -> Self {
        let holders: Vec<HolderView> = r
            .holders
            .into_iter()
            .map(|h| HolderView {
                progress: HolderProgress::new(
                    &h.holder,
                    h.latest.as_ref(),
                    &r.header.deadlines,
                    now,
                ),
                region_code: h.region_code,
                confirmations: h.confirmations,
                reminded_at: h.reminded_at,
            })
            .collect();
        let rows: Vec<HolderProgress> = holders.iter().map(|h| h.progress.clone()).collect();
        let progress = Progress::of(&rows);
        RecallView {
            id: r.header.recall_id.clone(),
            level_zh: r.header.level.zh(),
            overdue: progress.overdue > 0,
            header: r.header,
            proposal_id: r.proposal_id,
            started_by: r.started_by,
            progress,
            holders,
        }
    }
}

/// A recall in `GET /v1/recalls`.
#[derive(Debug, Clone, Serialize)]
pub struct RecallListItem {
    pub id: String,
    pub level_zh: &'static str,
    #[serde(flatten)]
    pub header: RecallHeader,
    pub holders: u64,
    pub confirmed: u64,
    pub pending: u64,
    /// Whether a holder is overdue now (core's rule: silent past the start
    /// deadline, or still holding goods past the finish deadline).
    pub overdue: bool,
}

impl RecallListItem {
    pub fn new(s: RecallSummary, now: DateTime<Utc>) -> Self {
        let pending = s.holders.saturating_sub(s.confirmed);
        let d = &s.header.deadlines;
        let overdue = (pending > 0 && shian_core::recall::is_overdue(None, d, now))
            || (s.still_holding > 0 && shian_core::recall::is_overdue(Some(1), d, now));
        RecallListItem {
            id: s.header.recall_id.clone(),
            level_zh: s.header.level.zh(),
            header: s.header,
            holders: s.holders,
            confirmed: s.confirmed,
            pending,
            overdue,
        }
    }
}

/// The body of `GET /v1/recalls`.
#[derive(Debug, Clone, Serialize)]
pub struct RecallList {
    pub recalls: Vec<RecallListItem>,
    pub total: u64,
}

/// An active recall on a public page (the shop's, the product's): a red
/// banner telling the buyer to stop eating it and take it back.
#[derive(Debug, Clone)]
pub struct RecallBanner {
    pub level_zh: &'static str,
    pub product_name: String,
    pub reason: String,
    /// When it started, China time, for people.
    pub started: String,
}

impl RecallBanner {
    pub fn new(r: PublicRecall, started: String) -> Self {
        RecallBanner {
            level_zh: r.level.zh(),
            product_name: r.product_name,
            reason: r.reason,
            started,
        }
    }
}
