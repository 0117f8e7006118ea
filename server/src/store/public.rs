//! What the public pages read besides the shop record itself: a batch's
//! category and dates for the product page, batches by GTIN for GS1 Digital
//! Link (`/01/{gtin}/10/{lot}`), the seller behind a voucher for its QR,
//! and where the writes that change the pages stand ([`PagesStamp`]).
//! A separate trait from [`super::Store`]'s registry and accounts (like
//! [`super::ledger::LedgerStore`]); `Store` requires it.

use serde::Serialize;

use super::StoreFuture;

/// What the purchase that made a batch recorded about its product, beyond
/// what the trace carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchDetails {
    /// The category's wire code (`frozen`, `vegetable`, …).
    pub category: String,
    /// As recorded (8, 12, 13 or 14 digits).
    pub gtin: Option<String>,
    /// `YYYY-MM-DD`.
    pub production_date: Option<String>,
    /// `YYYY-MM-DD`.
    pub expiry_date: Option<String>,
}

/// A live batch of a product with a GTIN: one line of the `/01/{gtin}` page.
#[derive(Debug, Clone, Serialize)]
pub struct GtinBatch {
    pub trace_code: String,
    pub product_name: String,
    pub merchant_name: Option<String>,
    pub shop_code: Option<String>,
    /// RFC 3339, the device's time of the purchase.
    pub received_at: String,
}

/// Where the writes that change what public pages say stand in the store,
/// whichever instance made them: every such write appends to the changes
/// feed (field ops, recalls, registrations, staff, complaints) but a
/// consumer's rating, which adds a row of its own table. Both only grow,
/// so a stamp that differs from the last one read means a write since
/// (`crate::page_cache::PageCache::follow`). Ledger movements are in
/// neither, as they forget no page on their own instance either.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PagesStamp {
    /// The changes feed's last sequence number.
    pub changes: i64,
    /// The ratings' last id.
    pub ratings: i64,
}

pub trait PublicStore {
    /// The live (not voided) purchase that made batch `trace_code`.
    fn batch_details(&self, trace_code: String) -> StoreFuture<'_, Option<BatchDetails>>;

    /// Live batches whose product carries one of `gtins` (the forms one
    /// GTIN may be recorded in), newest first, at most `limit`; with `lot`,
    /// only the batch with that trace code.
    fn batches_by_gtin(
        &self,
        gtins: Vec<String>,
        lot: Option<String>,
        limit: u32,
    ) -> StoreFuture<'_, Vec<GtinBatch>>;

    /// The merchant whose live sale issued the voucher, when the server
    /// holds it.
    fn voucher_seller(&self, voucher_code: String) -> StoreFuture<'_, Option<String>>;

    /// Where the writes that change public pages stand (the background
    /// follower reads it every `--follow-ms`, so it is two index reads).
    fn pages_stamp(&self) -> StoreFuture<'_, PagesStamp>;
}

/// A recent test of the shop's goods (快检 or 实验室检测), as a consumer
/// may see it: what was tested, how, and the outcome; not who sampled.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PublicTest {
    /// The test item as recorded (`毒死蜱`, `pesticide_enzyme_inhibition`…).
    pub item: String,
    /// `rapid` (快检, screens only) or `lab` (实验室检测, confirms).
    pub method: String,
    /// `pass`, `flagged`, `positive_unconfirmed` or `failed_confirmed`.
    pub outcome: String,
    /// The batch tested, when the sample named one.
    pub trace_code: Option<String>,
    pub taken_at: String,
}

/// A supplier of the shop, by name, from its purchase entries: an
/// off-platform farm or trader as named on the entry, or a platform
/// merchant by its shop name (with its shop code, so the page links it).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PublicSupplier {
    pub name: String,
    /// Platform merchants only: opens their shop page.
    pub shop_code: Option<String>,
    /// Live purchases from this supplier.
    pub purchases: u32,
    /// RFC 3339, the latest of them (device time).
    pub last_received_at: String,
}

/// The shop's risk grade (A–D) as of `as_of`, computed as the console does.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PublicRisk {
    #[schema(pattern = "^[ABCD]$")]
    pub grade: String,
    /// `YYYY-MM-DD`, China's date.
    pub as_of: String,
    /// The days of facts the dynamic part counts.
    pub period_days: u32,
}
