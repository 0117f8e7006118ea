//! What the regulator's console reads beyond the other traits: the list of
//! double random draws and the inspector accounts they draw from, and one merchant's recent record (inspections,
//! samples, the batches it received) for its console page. Read-only; the
//! console writes through the services the JSON routes use.

use chrono::{DateTime, Utc};

use super::StoreFuture;

/// A stored draw as listed (its tasks are read with `FieldStore::draw`).
#[derive(Debug, Clone)]
pub struct DrawSummary {
    pub id: String,
    pub name: String,
    pub seed_hash: String,
    pub algorithm: String,
    pub pool_size: u64,
    pub tasks: u64,
    /// The account that ran it (its username, or the id when deleted).
    pub created_by: String,
    pub created_at: DateTime<Utc>,
}

/// One inspection of a merchant.
#[derive(Debug, Clone)]
pub struct InspectionRow {
    pub id: String,
    /// `compliant`, `basically_compliant` or `non_compliant`.
    pub result: String,
    pub template: String,
    /// RFC 3339 as recorded.
    pub finished_at: String,
}

/// One sample taken at a merchant.
#[derive(Debug, Clone)]
pub struct SampleRow {
    pub id: String,
    pub item: String,
    /// `rapid` or `lab`.
    pub method: String,
    pub value: f64,
    pub unit: String,
    pub limit_value: f64,
    /// `pass`, `flagged`, `positive_unconfirmed` or `failed_confirmed`.
    pub outcome: String,
    pub trace_code: Option<String>,
    /// RFC 3339 as recorded.
    pub taken_at: String,
}

/// A batch a merchant received (a live purchase with its trace code).
#[derive(Debug, Clone)]
pub struct BatchRow {
    pub trace_code: String,
    pub product_name: String,
    /// The device's time of the purchase, RFC 3339 as sent.
    pub at: String,
}

/// A merchant's recent record, newest first in each list.
#[derive(Debug, Clone, Default)]
pub struct MerchantRecord {
    pub inspections: Vec<InspectionRow>,
    pub samples: Vec<SampleRow>,
    pub batches: Vec<BatchRow>,
}

/// An inspector account, for the draw form.
#[derive(Debug, Clone)]
pub struct InspectorRow {
    pub id: String,
    pub username: String,
    /// GB/T 2260 codes the account may inspect.
    pub regions: Vec<String>,
}

pub trait ConsoleStore {
    /// The inspector accounts by username, at most `limit`.
    fn list_inspectors(&self, limit: u32) -> StoreFuture<'_, Vec<InspectorRow>>;

    /// The latest `limit` draws, newest first, and how many there are.
    fn list_draws(&self, limit: u32) -> StoreFuture<'_, (Vec<DrawSummary>, u64)>;

    /// The latest `limit` inspections, samples and received batches of a
    /// merchant (empty lists for an unknown id), read in one snapshot.
    fn merchant_record(&self, merchant_id: String, limit: u32) -> StoreFuture<'_, MerchantRecord>;
}
