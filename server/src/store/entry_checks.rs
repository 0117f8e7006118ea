//! Entry checks (入场查验) in the store: the checks a market's operator
//! pushed, each with the seller's purchase it links to, and what the
//! market's pages and warnings read of them. The rules (what a check must
//! show, which purchase is the same goods, when one is missing) are core's
//! `shian_core::entry_check` and `shian_core::warnings::entry`; this layer
//! keeps what they decide on.

use chrono::{DateTime, NaiveDate, Utc};
use shian_core::category::Category;
use shian_core::entry_check::{Decision, EntryCheck};

use super::{Page, StoreError, StoreFuture};

/// A stored check.
#[derive(Debug, Clone)]
pub struct StoredCheck {
    pub check: EntryCheck,
    pub merchant_name: Option<String>,
    /// The seller's purchase entry these goods were booked as, once known.
    pub purchase_entry_id: Option<String>,
    pub recorded_by: String,
    pub recorded_at: DateTime<Utc>,
}

/// What a list of checks asks for (`market_id` `None`: every market).
#[derive(Debug, Clone, Default)]
pub struct CheckFilter {
    pub market_id: Option<String>,
    /// The check's date in Asia/Shanghai.
    pub date: Option<NaiveDate>,
    pub merchant_id: Option<String>,
    pub decision: Option<Decision>,
    pub limit: u32,
    pub offset: u32,
}

/// A day's checks in a market.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayCount {
    pub date: NaiveDate,
    pub accepted: u64,
    pub refused: u64,
}

/// A purchase of the market's merchants that no check links.
#[derive(Debug, Clone)]
pub struct UncheckedPurchase {
    pub entry_id: String,
    pub merchant_id: String,
    pub merchant_name: String,
    pub product_name: String,
    pub category: Category,
    pub trace_code: String,
    pub quantity: shian_core::quantity::Quantity,
    pub received_at: DateTime<Utc>,
}

/// A candidate for a link: `(id, category, when)`.
pub type LinkCandidate = (String, Category, DateTime<Utc>);

/// What the `market.entry_check` op and the purchase hook read and write
/// inside the push transaction.
pub trait EntryCheckTx {
    /// The market of a registered merchant (`None`: no such merchant;
    /// `Some(None)`: a merchant in no market).
    fn merchant_market(&self, merchant_id: &str) -> Result<Option<Option<String>>, StoreError>;

    /// A stored check's market and the answer its push was given.
    fn check_answer(
        &self,
        check_id: &str,
    ) -> Result<Option<(String, serde_json::Value)>, StoreError>;

    /// The merchant's purchases that no check links, received between
    /// `from` and `to`.
    fn unlinked_purchases(
        &self,
        merchant_id: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<LinkCandidate>, StoreError>;

    /// The merchant's checks that link no purchase, made between `from`
    /// and `to`.
    fn unlinked_checks(
        &self,
        merchant_id: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<LinkCandidate>, StoreError>;

    /// Stores an accepted op's check with its link and the answer, sends it
    /// to the market's tablets (`market.entry_check`) and raises
    /// `entry_refused` for a refusal; all in the push transaction.
    fn persist_entry_check(
        &mut self,
        check: &EntryCheck,
        purchase_entry_id: Option<&str>,
        answer: &serde_json::Value,
        user_id: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Links a stored check to a purchase that arrived after it, and sends
    /// the check again to the market's tablets.
    fn link_entry_check(
        &mut self,
        check_id: &str,
        entry_id: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
}

pub trait EntryCheckStore {
    /// Checks, newest first.
    fn list_entry_checks(&self, filter: CheckFilter) -> StoreFuture<'_, Page<StoredCheck>>;

    fn entry_check(&self, check_id: String) -> StoreFuture<'_, Option<StoredCheck>>;

    /// Accepted and refused per day (Asia/Shanghai) from `from` to `to`
    /// inclusive, every day listed.
    fn entry_check_days(
        &self,
        market_id: String,
        from: NaiveDate,
        to: NaiveDate,
    ) -> StoreFuture<'_, Vec<DayCount>>;

    /// The market's purchases received on `date` (Asia/Shanghai) that no
    /// check links, newest first.
    fn unchecked_purchases(
        &self,
        market_id: String,
        date: NaiveDate,
    ) -> StoreFuture<'_, Vec<UncheckedPurchase>>;

    /// Raises the entry-check warnings every market's facts call for now
    /// (the periodic check). Returns how many were new.
    fn raise_entry_alerts(&self, now: DateTime<Utc>) -> StoreFuture<'_, u64>;
}

impl StoredCheck {
    /// The check as the API answers it and the market's tablets pull it:
    /// its wire form with `id` (its check_id: a tablet's inbox keeps the
    /// latest of each id), `merchant_name`, `purchase_entry_id`,
    /// `recorded_by` and `recorded_at`.
    pub fn to_json(&self) -> serde_json::Value {
        let mut v = self.check.to_wire();
        v["id"] = v["check_id"].clone();
        v["merchant_name"] = serde_json::json!(self.merchant_name);
        v["purchase_entry_id"] = serde_json::json!(self.purchase_entry_id);
        v["recorded_by"] = serde_json::json!(self.recorded_by);
        v["recorded_at"] = serde_json::json!(self
            .recorded_at
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
        v
    }
}
