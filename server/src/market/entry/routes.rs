//! `GET /v1/markets/{id}/entry-checks` and `GET /v1/entry-checks/{id}`:
//! a market's operators read their own market's checks, analysts and
//! admins every market's (`Auth::market_filter`); anyone else is 403.

use std::borrow::Cow;

use axum::extract::State;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use shian_core::entry_check::Decision;
use utoipa::openapi::{ObjectBuilder, RefOr, Schema, Type};
use utoipa::{IntoParams, PartialSchema, ToSchema};

use crate::auth::Auth;
use crate::errors::{ApiError, ErrorResponse};
use crate::extract::{Json, Path, Query};
use crate::store::entry_checks::CheckFilter;
use crate::store::Role;
use crate::validate;
use crate::AppState;

/// Who reads entry checks.
const READERS: &[Role] = &[Role::Admin, Role::Analyst, Role::MarketOperator];

/// The largest list offset (the OpenAPI's `int32`).
const MAX_OFFSET: u32 = 2_147_483_647;

/// An entry check's decision in the OpenAPI.
pub struct DecisionWire;

impl PartialSchema for DecisionWire {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(Decision::ALL.map(Decision::as_str)))
            .description(Some("accepted 准入, refused 拒收"))
            .into()
    }
}

impl ToSchema for DecisionWire {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("EntryDecision")
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CheckQuery {
    /// The checks of one day (Asia/Shanghai), `YYYY-MM-DD`.
    #[param(value_type = Option<crate::openapi::wire::DateOrBlank>)]
    pub date: Option<String>,
    /// One seller's checks.
    #[param(value_type = Option<crate::openapi::wire::IdFilter>)]
    pub merchant_id: Option<String>,
    #[param(value_type = Option<DecisionWire>)]
    pub decision: Option<String>,
    /// 1..=1000, default 100.
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
    #[param(minimum = 0, maximum = 2147483647)]
    pub offset: Option<u32>,
}

/// A page of checks.
#[derive(Debug, Serialize)]
pub struct CheckList {
    pub checks: Vec<Value>,
    pub total: u64,
    pub limit: u32,
    pub offset: u32,
}

fn blank(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// A market's entry checks, newest first.
#[utoipa::path(
    get, path = "/v1/markets/{id}/entry-checks", tag = "market", params(
        ("id" = crate::openapi::wire::Id, Path, description = "the market's id"),
        CheckQuery,
    ), security(("bearer" = [])),
    responses(
        (status = 200, description = "{checks:[{check_id, market_id, merchant_id, merchant_name, product:{name, category}, quantity:{value, unit}, certificates_seen:[{kind, number}], rapid_test?, decision, reason?, at, purchase_entry_id, recorded_by, recorded_at}], total, limit, offset}", body = Object),
        (status = 400, description = "invalid_query (date, merchant_id, decision, limit, offset) or invalid id", body = ErrorResponse),
        (status = 401, body = ErrorResponse),
        (status = 403, description = "not an admin, analyst or an operator of this market", body = ErrorResponse),
        (status = 404, description = "no such market", body = ErrorResponse),
    )
)]
pub async fn list_entry_checks(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    Query(q): Query<CheckQuery>,
) -> Result<Json<CheckList>, ApiError> {
    auth.require(READERS)?;
    let id = validate::validate_id(&id, "id")?;
    let market_id = auth.market_filter(Some(id.clone()))?.unwrap_or(id);
    let limit = crate::paging::limit(q.limit)?;
    let offset = q.offset.unwrap_or(0);
    if offset > MAX_OFFSET {
        return Err(ApiError::invalid(
            "offset",
            "invalid_query",
            format!("offset 应在 0–{MAX_OFFSET} 之间"),
        ));
    }
    let date = blank(&q.date)
        .map(|d| {
            NaiveDate::parse_from_str(d, "%Y-%m-%d")
                .map_err(|_| ApiError::invalid("date", "invalid_query", "date 应为 YYYY-MM-DD"))
        })
        .transpose()?;
    let merchant_id = blank(&q.merchant_id)
        .map(|m| validate::validate_id(m, "merchant_id"))
        .transpose()?;
    let decision = blank(&q.decision)
        .map(|d| {
            Decision::parse(d).ok_or_else(|| {
                ApiError::invalid(
                    "decision",
                    "invalid_query",
                    "decision 应为 accepted 或 refused",
                )
            })
        })
        .transpose()?;
    if state.store.market(market_id.clone()).await?.is_none() {
        return Err(ApiError::not_found("市场"));
    }
    let page = state
        .store
        .list_entry_checks(CheckFilter {
            market_id: Some(market_id),
            date,
            merchant_id,
            decision,
            limit,
            offset,
        })
        .await?;
    Ok(Json(CheckList {
        checks: page.items.iter().map(|c| c.to_json()).collect(),
        total: page.total,
        limit,
        offset,
    }))
}

/// One entry check, with the purchase it links to.
#[utoipa::path(
    get, path = "/v1/entry-checks/{id}", tag = "market", security(("bearer" = [])),
    params(("id" = crate::openapi::wire::Uuid, Path, description = "the check's check_id")),
    responses(
        (status = 200, description = "{check_id, market_id, merchant_id, merchant_name, product, quantity, certificates_seen, rapid_test?, decision, reason?, at, purchase_entry_id, recorded_by, recorded_at}", body = Object),
        (status = 400, description = "invalid_field: id is not a UUID", body = ErrorResponse),
        (status = 401, body = ErrorResponse),
        (status = 403, description = "not an admin, analyst or an operator of the check's market", body = ErrorResponse),
        (status = 404, body = ErrorResponse),
    )
)]
pub async fn get_entry_check(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    auth.require(READERS)?;
    let id = uuid::Uuid::parse_str(id.trim())
        .map_err(|_| ApiError::invalid("id", "invalid_field", "查验编号应为 UUID"))?
        .to_string();
    let c = state
        .store
        .entry_check(id)
        .await?
        .ok_or_else(|| ApiError::not_found("入场查验"))?;
    if !(auth.sees_every_market() || auth.runs_market(Some(&c.check.market_id))) {
        return Err(ApiError::forbidden());
    }
    Ok(Json(c.to_json()))
}
