//! Consumers' ratings and complaints about a shop (issue 12, item 4).
//!
//! * [`ratings`]: `POST /v1/public/shops/{shop_code}/ratings` and the
//!   aggregate shown on the shop page and its JSON twin;
//! * [`complaints`]: `POST /v1/public/shops/{shop_code}/complaints`, routed
//!   to the shop's district by sync (`complaint.received`, addressed to the
//!   merchant's region) with core's 12315 deadlines, and the analysts' list
//!   `GET /v1/complaints`;
//! * [`ops`]: the inspectors' `complaint.accept`, `complaint.refuse` and
//!   `complaint.close` sync ops, decided inside the push transaction.
//!
//! The shop page's feedback block and its no-JavaScript forms are a page
//! module (`crate::pages::feedback`). The four public POST routes share one
//! limit per client address (`crate::api_router`), kept in memory only:
//! nothing about the sender is stored.

pub mod complaints;
pub mod ops;
pub mod ratings;

use chrono::{DateTime, NaiveDate, Utc};

use crate::errors::ApiError;
use crate::store::Merchant;
use crate::AppState;

pub use ops::{apply_op, handles};

/// The window of the rating aggregate: the last 12 months.
pub const RATING_WINDOW_DAYS: u32 = 365;

/// The date in China of an instant (UTC+8 all year).
pub(crate) fn china_date(t: DateTime<Utc>) -> NaiveDate {
    (t + chrono::Duration::hours(8)).date_naive()
}

/// Today in China: ratings and complaints are dated there.
pub(crate) fn today() -> NaiveDate {
    china_date(Utc::now())
}

/// The registered shop behind a typed code: 400/422 when mistyped (the
/// check character tells), 404 when well-formed but unknown.
pub(crate) async fn shop(state: &AppState, typed: &str) -> Result<Merchant, ApiError> {
    let code = shian_core::codes::parse_code(typed, "shop_code").map_err(ApiError::from)?;
    state
        .store
        .merchant_by_shop_code(code)
        .await?
        .ok_or_else(|| ApiError::not_found("商户 shop"))
}
