//! What anyone may read without an account: the public record of a shop
//! behind its QR code (一店一码).

use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use crate::errors::{ApiError, ErrorResponse};
use crate::extract::{Json, Path};
use crate::store::feedback::RatingSummary;
use crate::store::ledger::PublicShop;
use crate::AppState;

/// The shop's public record with its consumer ratings in aggregate.
#[derive(Debug, Serialize, ToSchema)]
pub struct PublicShopView {
    #[serde(flatten)]
    pub shop: PublicShop,
    /// Ratings over the last 12 months.
    pub ratings: RatingSummary,
}

/// A shop's licence, latest inspection result and published findings (for
/// example a lab-confirmed test failure), as JSON for the consumer page.
#[utoipa::path(
    get, path = "/v1/public/shops/{shop_code}", tag = "public",
    params(("shop_code" = crate::openapi::wire::Code, Path, description = "the code in the shop's QR")),
    responses((status = 200, body = PublicShopView), (status = 400, body = ErrorResponse), (status = 404, body = ErrorResponse), (status = 422, description = "code_check_mismatch", body = ErrorResponse))
)]
pub async fn shop(
    State(state): State<AppState>,
    Path(code): Path<String>,
) -> Result<Json<PublicShopView>, ApiError> {
    let code = shian_core::codes::parse_code(&code, "shop_code").map_err(ApiError::from)?;
    let shop = state
        .store
        .public_shop(code.clone())
        .await?
        .ok_or_else(|| ApiError::not_found("商户 shop"))?;
    let merchant = crate::feedback::shop(&state, &code).await?;
    let ratings = crate::feedback::ratings::summary(&state, &merchant.id).await?;
    Ok(Json(PublicShopView { shop, ratings }))
}
