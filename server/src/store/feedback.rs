//! Consumer feedback in the store (issue 12, item 4): ratings of a shop,
//! complaints against it and what inspectors did with them. A separate
//! trait from [`super::Store`]'s others (like [`super::field::FieldStore`]);
//! `Store` requires it.
//!
//! Nothing about the sender is stored: no address, no user agent, no cookie,
//! not even the time of day (a rating keeps its date, a complaint the date
//! it was received), so a row cannot be matched against an access log.
//! Complaint decisions are events (DESIGN.md: nothing updated in place):
//! one row per action, the status read from them.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use shian_core::complaints::{CloseResult, ComplaintAction, ComplaintCategory, ComplaintStatus};
use utoipa::ToSchema;

use super::field::NewChange;
use super::{Page, StoreError, StoreFuture};

/// One value of a rating: 好, 中 or 差 (as Lishui's shop codes ask).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RatingValue {
    /// 好.
    Good,
    /// 中.
    Fair,
    /// 差.
    Poor,
}

impl RatingValue {
    pub const ALL: [RatingValue; 3] = [RatingValue::Good, RatingValue::Fair, RatingValue::Poor];

    pub fn as_str(self) -> &'static str {
        match self {
            RatingValue::Good => "good",
            RatingValue::Fair => "fair",
            RatingValue::Poor => "poor",
        }
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            RatingValue::Good => "好",
            RatingValue::Fair => "中",
            RatingValue::Poor => "差",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// A consumer's rating of a shop on the three dimensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Rating {
    /// 卫生.
    pub hygiene: RatingValue,
    /// 新鲜.
    pub freshness: RatingValue,
    /// 价格诚信 (明码标价、足斤足两).
    pub price_honesty: RatingValue,
}

/// A rating to store.
#[derive(Debug, Clone)]
pub struct NewRating {
    pub merchant_id: String,
    pub rating: Rating,
    /// The date in China (no time of day: see the module doc).
    pub rated_on: NaiveDate,
}

/// How many ratings gave each value on one dimension.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct RatingCounts {
    pub good: u64,
    pub fair: u64,
    pub poor: u64,
}

impl RatingCounts {
    pub fn add(&mut self, v: RatingValue, n: u64) {
        match v {
            RatingValue::Good => self.good += n,
            RatingValue::Fair => self.fair += n,
            RatingValue::Poor => self.poor += n,
        }
    }
}

/// A shop's ratings in aggregate over a window.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct RatingSummary {
    /// Ratings given on or after this date (China) count.
    #[schema(value_type = String, format = Date)]
    pub since: NaiveDate,
    /// The window in days (365: the last 12 months).
    pub window_days: u32,
    /// Ratings in the window.
    pub total: u64,
    pub hygiene: RatingCounts,
    pub freshness: RatingCounts,
    pub price_honesty: RatingCounts,
}

/// A photo already made safe by `crate::photo::clean`, stored in the field
/// attachments table under its hash.
#[derive(Debug, Clone)]
pub struct CleanAttachment {
    pub sha256: String,
    pub content_type: &'static str,
    pub data: Vec<u8>,
}

/// A complaint to store, with the change that routes it to its district.
#[derive(Debug, Clone)]
pub struct NewComplaint {
    pub id: String,
    pub merchant_id: String,
    pub category: ComplaintCategory,
    /// The product complained about, when named (core's `check_product`).
    pub product: Option<String>,
    pub text: String,
    pub photo: Option<CleanAttachment>,
    pub received_on: NaiveDate,
    /// `complaint.received` for the inspectors of the shop's region.
    pub change: NewChange,
}

/// A stored complaint with its decisions.
#[derive(Debug, Clone)]
pub struct StoredComplaint {
    pub id: String,
    pub merchant_id: String,
    pub merchant_name: String,
    pub region_code: String,
    pub category: ComplaintCategory,
    pub product: Option<String>,
    pub text: String,
    pub photo_sha256: Option<String>,
    pub received_on: NaiveDate,
    pub status: ComplaintStatus,
    /// When it was accepted or refused.
    pub decided_on: Option<NaiveDate>,
    /// The refusal's reason.
    pub refusal_reason: Option<String>,
    pub closed_on: Option<NaiveDate>,
    pub result: Option<CloseResult>,
    pub close_note: Option<String>,
}

/// Which complaints to list.
#[derive(Debug, Clone, Default)]
pub struct ComplaintFilter {
    /// A GB/T 2260 prefix: the region and everything under it.
    pub region: Option<String>,
    pub status: Option<ComplaintStatus>,
    pub limit: u32,
    pub offset: u32,
}

/// One inspector action on a complaint, decided by the feedback op service.
#[derive(Debug, Clone)]
pub struct NewComplaintAction {
    pub complaint_id: String,
    pub action: ComplaintAction,
    /// The refusal reason, or the close result's wire form.
    pub detail: Option<String>,
    pub note: Option<String>,
    /// The day the inspector decided (China), from the phone's record.
    pub decided_on: NaiveDate,
    pub user_id: String,
}

/// What the feedback op service writes inside the push transaction.
#[derive(Debug, Clone)]
pub enum FeedbackWrite {
    Action(NewComplaintAction),
    Publish(NewChange),
}

/// What the feedback ops read and write inside the push transaction.
pub trait FeedbackTx {
    /// A complaint as it stands now.
    fn complaint_for_op(&self, id: &str) -> Result<Option<StoredComplaint>, StoreError>;
    /// Persists the writes, all or none.
    fn persist_feedback(&mut self, writes: &[FeedbackWrite]) -> Result<(), StoreError>;
}

pub trait FeedbackStore {
    fn add_rating(&self, rating: NewRating) -> StoreFuture<'_, ()>;

    /// A merchant's ratings on or after `since`.
    fn rating_summary(
        &self,
        merchant_id: String,
        since: NaiveDate,
    ) -> StoreFuture<'_, RatingSummary>;

    /// Stores a complaint, its photo and its change in one transaction.
    fn add_complaint(&self, complaint: NewComplaint) -> StoreFuture<'_, ()>;

    fn complaint(&self, id: String) -> StoreFuture<'_, Option<StoredComplaint>>;

    /// Complaints, newest first.
    fn list_complaints(&self, filter: ComplaintFilter) -> StoreFuture<'_, Page<StoredComplaint>>;
}
