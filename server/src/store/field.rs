//! The field-inspection side of the store (issue 5): inspection records,
//! attachments, the facts risk grading reads, double random draws and
//! inspection statistics. A separate trait from [`super::Store`]'s registry
//! and accounts (like [`super::ledger::LedgerStore`]) so each backend file
//! stays small; `Store` requires it.
//!
//! The `inspection.record` and `sample.record` ops themselves are decided
//! by the field service (`crate::field::ops`) inside the sync push
//! transaction: it reads through [`FieldReads`] and answers with
//! [`FieldWrite`]s, which the backend persists in that same transaction (so
//! they stay exactly-once with the op log).

use chrono::{DateTime, Utc};
use serde::Serialize;
use shian_core::category::Category;
use shian_core::inspection::{
    CheckedInspection, DrawTask, MerchantFacts, RiskGrade, SampleEvaluation, SampleRecord,
};

use super::{StoreError, StoreFuture};

/// What a field op reads inside the push transaction before it decides.
pub trait FieldReads {
    /// Whether the account exists and is an inspector's.
    fn is_inspector(&self, user_id: &str) -> Result<bool, StoreError>;
    /// The region of a registered merchant; `None` when it is not registered.
    fn merchant_region(&self, merchant_id: &str) -> Result<Option<String>, StoreError>;
    fn attachment_exists(&self, sha256: &str) -> Result<bool, StoreError>;
    fn inspection_exists(&self, id: &str) -> Result<bool, StoreError>;
    fn sample_exists(&self, id: &str) -> Result<bool, StoreError>;
    /// A stored sample record (what a lab result confirms).
    fn sample(&self, id: &str) -> Result<Option<SampleRecord>, StoreError>;
}

/// One write a field op decided on, persisted by the backend in the push
/// transaction, in order, all or none.
#[derive(Debug, Clone)]
pub enum FieldWrite {
    Inspection(NewInspection),
    Sample(NewSample),
    RecallProposal(NewRecallProposal),
    PublicFinding(NewPublicFinding),
    /// A change-feed item for the devices in its scope.
    Publish(NewChange),
}

/// An accepted inspection record, as checked.
#[derive(Debug, Clone)]
pub struct NewInspection {
    pub id: String,
    pub checked: CheckedInspection,
    pub pushed_by: String,
    pub recorded_at: DateTime<Utc>,
}

/// An accepted sample record with its evaluation.
#[derive(Debug, Clone)]
pub struct NewSample {
    pub id: String,
    pub record: SampleRecord,
    pub evaluation: SampleEvaluation,
    /// `rapid` or `lab`.
    pub method: &'static str,
    /// The evaluation's outcome in its wire form (`pass`, `fail`…).
    pub outcome: String,
    pub pushed_by: String,
    pub recorded_at: DateTime<Utc>,
}

/// A recall an analyst has to decide on.
#[derive(Debug, Clone)]
pub struct NewRecallProposal {
    pub id: String,
    pub merchant_id: String,
    pub trace_code: Option<String>,
    pub sample_id: String,
    pub reason: String,
    pub basis: String,
    pub created_at: DateTime<Utc>,
}

/// A finding disclosed on the shop's public page.
#[derive(Debug, Clone)]
pub struct NewPublicFinding {
    pub id: String,
    pub merchant_id: String,
    pub kind: &'static str,
    pub ref_id: String,
    pub title: &'static str,
    pub summary: String,
    pub trace_code: Option<String>,
    pub published_at: DateTime<Utc>,
}

/// A change-feed item, addressed to a merchant, a region (inspectors), a
/// user, or everyone (all three `None`).
#[derive(Debug, Clone)]
pub struct NewChange {
    pub kind: &'static str,
    pub merchant_id: Option<String>,
    pub region_code: Option<String>,
    pub user_id: Option<String>,
    pub payload: serde_json::Value,
}

/// A stored inspection with what its printed record needs.
#[derive(Debug, Clone)]
pub struct StoredInspection {
    pub id: String,
    pub merchant_id: String,
    /// The record as checked on receipt, with its evaluation.
    pub checked: CheckedInspection,
    /// Usernames in the order of `checked.record.inspectors` (the id when an
    /// account is gone: a record is evidence and outlives accounts).
    pub inspector_names: Vec<String>,
    pub pushed_by: String,
    pub recorded_at: DateTime<Utc>,
}

/// A photo or document to store, content-addressed.
#[derive(Debug, Clone)]
pub struct NewAttachment {
    /// Lowercase hex SHA-256 of `data`, already verified by the caller.
    pub sha256: String,
    pub content_type: String,
    pub data: Vec<u8>,
    pub user_id: String,
}

/// A stored attachment.
#[derive(Debug, Clone)]
pub struct Attachment {
    pub sha256: String,
    pub content_type: String,
    pub data: Vec<u8>,
    pub created_at: DateTime<Utc>,
}

/// A merchant with the facts its risk grade is computed from.
#[derive(Debug, Clone)]
pub struct RiskFactsRow {
    pub merchant_id: String,
    pub name: String,
    pub region_code: String,
    pub market_id: Option<String>,
    pub categories: Vec<Category>,
    pub facts: MerchantFacts,
    /// Who inspected it last time (the draw avoids them where it can).
    pub last_inspectors: Vec<String>,
}

/// A double random draw to store, with its tasks.
#[derive(Debug, Clone)]
pub struct NewDraw {
    pub id: String,
    pub name: String,
    pub seed: String,
    pub seed_hash: String,
    pub algorithm: String,
    pub pool_size: u64,
    /// Everything besides the pool that the draw depended on (filters,
    /// quota, inspectors, conflicts), published with the draw.
    pub params: serde_json::Value,
    /// (task id, task), in draw order.
    pub tasks: Vec<(String, DrawTask)>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
}

/// One task of a stored draw.
#[derive(Debug, Clone, Serialize)]
pub struct StoredDrawTask {
    pub task_id: String,
    pub merchant_id: String,
    pub merchant_name: String,
    pub grade: RiskGrade,
    pub inspectors: Vec<String>,
}

/// A stored draw.
#[derive(Debug, Clone)]
pub struct StoredDraw {
    pub id: String,
    pub name: String,
    pub seed: String,
    pub seed_hash: String,
    pub algorithm: String,
    pub pool_size: u64,
    pub params: serde_json::Value,
    pub tasks: Vec<StoredDrawTask>,
    pub created_at: DateTime<Utc>,
}

/// How inspection statistics are grouped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatsGroup {
    Inspector,
    Month,
    Market,
    Result,
    Item,
}

impl StatsGroup {
    pub fn parse(s: &str) -> Option<StatsGroup> {
        Some(match s {
            "inspector" => StatsGroup::Inspector,
            "month" => StatsGroup::Month,
            "market" => StatsGroup::Market,
            "result" => StatsGroup::Result,
            "item" => StatsGroup::Item,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            StatsGroup::Inspector => "inspector",
            StatsGroup::Month => "month",
            StatsGroup::Market => "market",
            StatsGroup::Result => "result",
            StatsGroup::Item => "item",
        }
    }
}

/// One row of inspection statistics.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct StatsRow {
    pub key: String,
    pub label: String,
    pub count: u64,
    pub compliant: u64,
    pub basically_compliant: u64,
    pub non_compliant: u64,
}

pub trait FieldStore {
    /// One inspection record, if stored.
    fn inspection(&self, id: String) -> StoreFuture<'_, Option<StoredInspection>>;

    /// Stores an attachment unless the same hash is there; `true` when it was
    /// new. Either way the uploader is recorded as one of its owners.
    fn put_attachment(&self, attachment: NewAttachment) -> StoreFuture<'_, bool>;

    fn attachment(&self, sha256: String) -> StoreFuture<'_, Option<Attachment>>;

    /// Whether `user_id` uploaded the attachment (merchants may read back
    /// only their own uploads).
    fn attachment_owned_by(&self, sha256: String, user_id: String) -> StoreFuture<'_, bool>;

    /// Every merchant with its grading facts as of `now` (dynamic counts over
    /// `period_days` before `now`).
    fn risk_facts(
        &self,
        now: DateTime<Utc>,
        period_days: u32,
    ) -> StoreFuture<'_, Vec<RiskFactsRow>>;

    /// [`FieldStore::risk_facts`] of one merchant (`None` when it is not
    /// registered): the same facts, read through the per-merchant indexes,
    /// so a shop page grades its shop without reading every merchant.
    fn merchant_risk_facts(
        &self,
        merchant_id: String,
        now: DateTime<Utc>,
        period_days: u32,
    ) -> StoreFuture<'_, Option<RiskFactsRow>>;

    /// Which of these user ids are inspector accounts, with their usernames.
    fn existing_inspectors(&self, ids: Vec<String>) -> StoreFuture<'_, Vec<(String, String)>>;

    /// Stores a draw and publishes each task to both of its inspectors, in
    /// one transaction.
    fn create_draw(&self, draw: NewDraw) -> StoreFuture<'_, ()>;

    fn draw(&self, id: String) -> StoreFuture<'_, Option<StoredDraw>>;

    /// Inspections finished in `[from, to)` grouped by `group`.
    fn inspection_stats(
        &self,
        group: StatsGroup,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
    ) -> StoreFuture<'_, Vec<StatsRow>>;
}

/// An accepted field op: what to write, and what to answer the device.
#[derive(Debug, Clone)]
pub struct FieldDecision {
    pub writes: Vec<FieldWrite>,
    pub result: serde_json::Value,
}
