//! Ratings: a consumer rates a shop's hygiene, freshness and price honesty
//! 好/中/差, as Lishui's shop codes ask. Only the three values and the day
//! are kept; the shop page shows the counts over the last 12 months.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::Duration;

use super::RATING_WINDOW_DAYS;
use crate::errors::{ApiError, ErrorResponse};
use crate::extract::{Json, Path};
use crate::store::feedback::{NewRating, Rating, RatingSummary};
use crate::store::Merchant;
use crate::AppState;

/// Stores one rating of `shop`, dated today in China, and forgets the
/// cached shop page so the rater sees the new aggregate.
pub(crate) async fn rate(
    state: &AppState,
    shop: &Merchant,
    rating: Rating,
) -> Result<(), ApiError> {
    state
        .store
        .add_rating(NewRating {
            merchant_id: shop.id.clone(),
            rating,
            rated_on: super::today(),
        })
        .await?;
    state.page_cache.forget_shop(&shop.shop_code);
    Ok(())
}

/// The merchant's ratings over the last [`RATING_WINDOW_DAYS`] days,
/// today included.
pub(crate) async fn summary(
    state: &AppState,
    merchant_id: &str,
) -> Result<RatingSummary, ApiError> {
    let since = super::today() - Duration::days(i64::from(RATING_WINDOW_DAYS) - 1);
    let mut s = state
        .store
        .rating_summary(merchant_id.to_owned(), since)
        .await?;
    s.window_days = RATING_WINDOW_DAYS;
    Ok(s)
}

/// Rates a shop (anyone, no account; limited per client address). Answers
/// the shop's new aggregate.
#[utoipa::path(
    post, path = "/v1/public/shops/{shop_code}/ratings", tag = "public",
    params(("shop_code" = crate::openapi::wire::Code, Path, description = "the code in the shop's QR")),
    request_body = Rating,
    responses(
        (status = 201, body = RatingSummary),
        (status = 400, body = ErrorResponse), (status = 404, body = ErrorResponse),
        (status = 413, body = ErrorResponse), (status = 415, body = ErrorResponse),
        (status = 422, description = "code_check_mismatch", body = ErrorResponse),
        (status = 429, description = "rate_limited, with Retry-After", body = ErrorResponse),
    )
)]
pub async fn post_rating(
    State(state): State<AppState>,
    Path(code): Path<String>,
    Json(rating): Json<Rating>,
) -> Result<(StatusCode, Json<RatingSummary>), ApiError> {
    let shop = super::shop(&state, &code).await?;
    rate(&state, &shop, rating).await?;
    Ok((StatusCode::CREATED, Json(summary(&state, &shop.id).await?)))
}
