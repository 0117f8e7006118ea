//! What anyone may read without an account: the public record of a shop
//! behind its QR code (一店一码).

use axum::extract::State;
use serde::Serialize;
use shian_core::inspection::RiskGrader;
use utoipa::ToSchema;

use crate::errors::{ApiError, ErrorResponse};
use crate::extract::{Json, Path};
use crate::store::feedback::RatingSummary;
use crate::store::ledger::PublicShop;
use crate::store::public::PublicRisk;
use crate::AppState;

/// Today in China (UTC+8 all year, no daylight saving since 1991): the
/// date a grade computed now is "as of".
fn china_today() -> chrono::NaiveDate {
    let offset = chrono::FixedOffset::east_opt(8 * 3600)
        // 8 h is within ±24 h, so `east_opt` is Some; UTC is never taken.
        .unwrap_or_else(|| chrono::Offset::fix(&chrono::Utc));
    chrono::Utc::now().with_timezone(&offset).date_naive()
}

/// The public record of the shop with (canonical) `shop_code`, graded as
/// of now: what the shop page renders and its JSON twin answers, so the two
/// cannot disagree. `None` when no shop has the code.
pub(crate) async fn shop_record(
    state: &AppState,
    shop_code: String,
) -> Result<Option<PublicShop>, ApiError> {
    let Some(merchant) = state.store.merchant_by_shop_code(shop_code.clone()).await? else {
        return Ok(None);
    };
    let Some(mut shop) = state.store.public_shop(shop_code).await? else {
        return Ok(None);
    };
    let period_days = RiskGrader::builtin()
        .map_err(ApiError::internal)?
        .rules()
        .dynamic
        .period_days;
    shop.risk = crate::field::risk::graded_one(state, &merchant.id)
        .await?
        .map(|a| PublicRisk {
            grade: a.grade.as_str().to_owned(),
            as_of: china_today().to_string(),
            period_days,
        });
    Ok(Some(shop))
}

/// The shop's public record with its consumer ratings in aggregate.
#[derive(Debug, Serialize, ToSchema)]
pub struct PublicShopView {
    #[serde(flatten)]
    pub shop: PublicShop,
    /// Ratings over the last 12 months.
    pub ratings: RatingSummary,
}

/// A shop's licence, risk grade, latest inspections, recent tests, its
/// suppliers by name and published findings (for example a lab-confirmed
/// test failure), as JSON for the consumer page.
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
    let shop = shop_record(&state, code.clone())
        .await?
        .ok_or_else(|| ApiError::not_found("商户 shop"))?;
    let merchant = crate::feedback::shop(&state, &code).await?;
    let ratings = crate::feedback::ratings::summary(&state, &merchant.id).await?;
    Ok(Json(PublicShopView { shop, ratings }))
}
