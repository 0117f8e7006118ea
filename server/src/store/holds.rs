//! Holds (暂扣) in the store (issue 14, item 4): a hold an operator placed,
//! how it ended (released, or the goods destroyed by a `ledger.dispose`),
//! and the changes that take it to the merchant's devices and the market's
//! tablets. The rules are core's (`shian_core::hold`, `rules::check_hold`);
//! the decisions are `crate::market::holds`; this layer keeps what they
//! decide. A separate trait from [`super::Store`]'s others; `Store`
//! requires [`HoldStore`], the push transaction [`HoldsTx`].

use chrono::{DateTime, Utc};
use shian_core::hold::{Hold, HoldChange, HoldStatus};
use shian_core::warnings::holds::{HeldFact, HeldSaleFact};

use super::{Page, StoreError, StoreFuture};

/// A merchant as a hold needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MerchantBrief {
    pub id: String,
    pub name: String,
    pub market_id: Option<String>,
}

/// A stored hold with how it stands.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredHold {
    pub hold: Hold,
    pub status: HoldStatus,
    /// The `hold.placed` change's sequence in the merchant's feed: a device
    /// whose pull cursor is at or past it had the hold.
    pub change_seq: i64,
    pub recorded_at: DateTime<Utc>,
    pub merchant_name: String,
    pub product_name: String,
    /// On hand when the hold was placed, in the batch's base unit, and as
    /// shown (`120 千克`).
    pub on_hand_at_hold: i64,
    pub on_hand_at_hold_zh: String,
    pub ended_at: Option<DateTime<Utc>>,
    pub ended_by: Option<String>,
    pub ended_note: Option<String>,
    /// The `ledger.dispose` that destroyed the goods, with its witness and
    /// photos (attachment ids).
    pub dispose_entry_id: Option<String>,
    pub witness: Option<String>,
    pub photos: Vec<String>,
}

impl StoredHold {
    /// The change devices receive for the hold as it stands now.
    pub fn change(&self) -> HoldChange {
        let mut c = self.hold.change();
        c.status = self.status;
        c.ended_note = self.ended_note.clone();
        c.ended_at = self.ended_at.map(|t| t.to_rfc3339());
        c.dispose_entry_id = self.dispose_entry_id.clone();
        c
    }
}

/// How a hold ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HoldEnd {
    Released {
        note: String,
        by: String,
    },
    Destroyed {
        dispose_entry_id: String,
        merchant_user_id: String,
        witness: Option<String>,
        photos: Vec<String>,
        reason: String,
    },
}

/// Which holds a list shows.
#[derive(Debug, Clone, Default)]
pub struct HoldFilter {
    /// `None`: every market (admin, analyst).
    pub market_id: Option<String>,
    pub status: Option<HoldStatus>,
    pub limit: u32,
    pub offset: u32,
}

/// The holds' reads and writes inside the sync push transaction.
pub trait HoldsTx {
    /// A registered merchant's name and market.
    fn merchant_brief(&self, merchant_id: &str) -> Result<Option<MerchantBrief>, StoreError>;

    /// A hold by id.
    fn hold_by_id(&self, hold_id: &str) -> Result<Option<StoredHold>, StoreError>;

    /// The hold in force on a merchant's batch, if any.
    fn active_hold(
        &self,
        merchant_id: &str,
        trace_code: &str,
    ) -> Result<Option<StoredHold>, StoreError>;

    /// Stores a placed hold, publishes `hold.placed` to the merchant's
    /// devices and the market's tablets and raises `batch_held` with
    /// `fact`, all in the push's transaction.
    fn persist_hold(
        &mut self,
        hold: &Hold,
        fact: &HeldFact,
        now: DateTime<Utc>,
    ) -> Result<StoredHold, StoreError>;

    /// Ends an active hold and publishes `hold.released` (status
    /// `released` or `destroyed`) to the same devices.
    fn end_hold(
        &mut self,
        hold_id: &str,
        end: &HoldEnd,
        now: DateTime<Utc>,
    ) -> Result<StoredHold, StoreError>;

    /// Raises `held_batch_sold` for a recorded sale of a held batch.
    fn raise_held_sale(
        &mut self,
        fact: &HeldSaleFact,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
}

/// The holds' reads for the API and the console.
pub trait HoldStore {
    /// Holds by market and status, newest first.
    fn list_holds(&self, filter: HoldFilter) -> StoreFuture<'_, Page<StoredHold>>;

    /// One hold.
    fn hold(&self, hold_id: String) -> StoreFuture<'_, Option<StoredHold>>;

    /// A market's newest purchases of meat or imported cold-chain food
    /// booked from a person without a credit code ("散户…（无票）", "个人供货…": how
    /// seed 000's smuggled beef enters the books), `(merchant_id,
    /// trace_code, product_name)`: what an operator looks at first for
    /// goods of unknown origin, and the demo's hold.
    fn paperless_meat_purchases(
        &self,
        market_id: String,
        limit: u32,
    ) -> StoreFuture<'_, Vec<(String, String, String)>>;

    /// What a batch holds now, in its base unit and as shown (`None` for a
    /// batch the ledger does not know).
    fn batch_on_hand(&self, trace_code: String) -> StoreFuture<'_, Option<(i64, String)>>;
}
