//! What anyone may read without an account: the public record of a shop
//! behind its QR code (一店一码).

use axum::extract::State;

use crate::errors::{ApiError, ErrorResponse};
use crate::extract::{Json, Path};
use crate::store::ledger::PublicShop;
use crate::AppState;

/// A shop's licence, latest inspection result and published findings (for
/// example a lab-confirmed test failure), as JSON for the consumer page.
#[utoipa::path(
    get, path = "/v1/public/shops/{shop_code}", tag = "public",
    params(("shop_code" = crate::openapi::wire::Code, Path, description = "the code in the shop's QR")),
    responses((status = 200, body = PublicShop), (status = 400, body = ErrorResponse), (status = 404, body = ErrorResponse), (status = 422, description = "code_check_mismatch", body = ErrorResponse))
)]
pub async fn shop(
    State(state): State<AppState>,
    Path(code): Path<String>,
) -> Result<Json<PublicShop>, ApiError> {
    let code = shian_core::codes::parse_code(&code, "shop_code").map_err(ApiError::from)?;
    state
        .store
        .public_shop(code)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found("商户 shop"))
}
