//! A market's self-inspections in the store (issue 14, item 3): the
//! checks its food-safety officers pushed (`market.self_check`), their
//! findings and the closings of those (`market.follow_up_closed`). Both
//! are events, never updated in place: a finding is closed by its closing
//! row. The rules (periods, findings, status, warnings) are core's
//! `shian_core::self_check` and `shian_core::warnings::self_checks`; this
//! layer keeps what they decide on. `Store` and `PushTx` require these
//! traits.

use chrono::{DateTime, NaiveDate, Utc};
use shian_core::self_check::{Closure, FindingState, Period, SelfCheck};

use super::{StoreError, StoreFuture};

/// What a closing needs of its finding, and whose it is.
#[derive(Debug, Clone)]
pub struct FindingForClose {
    pub market_id: String,
    pub state: FindingState,
}

/// A stored check of a market, as the calendar reads it.
#[derive(Debug, Clone)]
pub struct StoredCheckRef {
    pub check_id: String,
    pub period: Period,
    pub template_id: String,
    /// `compliant`, `basically_compliant` or `non_compliant`.
    pub result: String,
    pub at: DateTime<Utc>,
}

/// A market's checks touching a date range, and since when it is tracked.
#[derive(Debug, Clone)]
pub struct SelfCheckHistory {
    /// The Shanghai date of its first check (`None`: never did one).
    pub tracked_since: Option<NaiveDate>,
    pub checks: Vec<StoredCheckRef>,
}

/// A finding with its closing, if closed.
#[derive(Debug, Clone)]
pub struct StoredFinding {
    pub finding_id: String,
    pub check_id: String,
    pub period: Period,
    pub item_id: String,
    pub item_text: String,
    pub note: String,
    pub follow_up_by: NaiveDate,
    pub found_at: DateTime<Utc>,
    pub found_by: String,
    pub closing: Option<StoredClosing>,
}

/// How a finding was closed.
#[derive(Debug, Clone)]
pub struct StoredClosing {
    pub note: String,
    pub photos: Vec<String>,
    pub closed_at: DateTime<Utc>,
    pub closed_by: String,
}

/// What the self-inspection ops read and write inside the push transaction.
pub trait SelfCheckTx {
    /// Whether a market is registered.
    fn self_check_market_exists(&self, market_id: &str) -> Result<bool, StoreError>;

    /// The market of a stored check (a retried check id is known).
    fn self_check_market(&self, check_id: &str) -> Result<Option<String>, StoreError>;

    /// Keeps an accepted check and its findings, all or none.
    fn persist_self_check(
        &mut self,
        check: &SelfCheck,
        performed_by: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// The finding a closing names.
    fn finding_for_close(&self, finding_id: &str) -> Result<Option<FindingForClose>, StoreError>;

    /// Keeps an accepted closing (one per finding).
    fn persist_follow_up_closed(
        &mut self,
        closure: &Closure,
        closed_by: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
}

pub trait SelfCheckStore {
    /// A market's checks whose period touches `from..=to`, and since when
    /// it is tracked.
    fn self_check_history(
        &self,
        market_id: String,
        from: NaiveDate,
        to: NaiveDate,
    ) -> StoreFuture<'_, SelfCheckHistory>;

    /// A market's findings by follow-up date (then newest check first), at
    /// most `limit`; `closed` picks the closed or the unclosed ones.
    fn self_check_findings(
        &self,
        market_id: String,
        closed: Option<bool>,
        limit: u32,
    ) -> StoreFuture<'_, Vec<StoredFinding>>;

    /// The periodic check: raises `self_check_missed` and
    /// `follow_up_overdue` for every tracked market as of `now` (an open
    /// alert of the same market is updated, never doubled). Returns how
    /// many alerts were new.
    fn check_self_check_alerts(&self, now: DateTime<Utc>) -> StoreFuture<'_, u64>;
}
