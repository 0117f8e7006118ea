//! `GET /v1/markets/{id}/holds` and `GET /v1/holds/{id}`: the holds of a
//! market for its operators and the regulator; one hold also for the
//! merchant it stops.

use std::borrow::Cow;

use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use shian_core::hold::HoldStatus;
use utoipa::openapi::{ObjectBuilder, RefOr, Schema, Type};
use utoipa::{IntoParams, PartialSchema, ToSchema};

use crate::auth::Auth;
use crate::errors::{ApiError, ErrorResponse};
use crate::extract::{Json, Path, Query};
use crate::store::holds::{HoldFilter, StoredHold};
use crate::store::{Role, Store};
use crate::validate;
use crate::AppState;

/// The largest list offset (the OpenAPI's `int32`).
const MAX_OFFSET: u32 = 2_147_483_647;

/// Who reads a market's holds.
const READERS: &[Role] = &[Role::Admin, Role::Analyst, Role::MarketOperator];

/// A hold's status in the OpenAPI.
pub struct StatusWire;

impl PartialSchema for StatusWire {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(["active", "released", "destroyed"]))
            .into()
    }
}

impl ToSchema for StatusWire {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("HoldStatus")
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct HoldQuery {
    #[param(value_type = Option<StatusWire>)]
    pub status: Option<String>,
    /// 1..=1000, default 100.
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
    #[param(minimum = 0, maximum = 2147483647)]
    pub offset: Option<u32>,
}

/// A hold as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct HoldView {
    pub id: String,
    pub market_id: String,
    pub merchant_id: String,
    pub merchant_name: String,
    pub trace_code: String,
    pub product_name: String,
    /// `unknown_origin`, `rapid_test_failed`, `recall` or `other`.
    pub reason: String,
    pub reason_zh: String,
    pub note: Option<String>,
    pub status: String,
    /// When the goods were held (the tablet's clock).
    pub placed_at: String,
    pub placed_by: String,
    pub recorded_at: String,
    /// On hand when held, and now (`null` when the ledger no longer has it).
    pub on_hand_at_hold: String,
    pub on_hand_now: Option<String>,
    /// Whole days from the hold to its end (or to now).
    pub days_held: i64,
    pub ended_at: Option<String>,
    pub ended_by: Option<String>,
    pub ended_note: Option<String>,
    pub dispose_entry_id: Option<String>,
    pub witness: Option<String>,
    /// Attachment ids (`GET /v1/attachments/{sha256}`).
    pub photos: Vec<String>,
}

impl HoldView {
    pub fn new(h: StoredHold, on_hand_now: Option<String>, now: DateTime<Utc>) -> Self {
        let until = h.ended_at.unwrap_or(now);
        HoldView {
            days_held: (until - h.hold.placed_at.with_timezone(&Utc))
                .num_days()
                .max(0),
            id: h.hold.hold_id,
            market_id: h.hold.market_id,
            merchant_id: h.hold.merchant_id,
            merchant_name: h.merchant_name,
            trace_code: h.hold.trace_code,
            product_name: h.product_name,
            reason: h.hold.reason.as_str().to_owned(),
            reason_zh: h.hold.reason.zh().to_owned(),
            note: h.hold.note,
            status: h.status.as_str().to_owned(),
            placed_at: h.hold.placed_at.to_rfc3339(),
            placed_by: h.hold.placed_by,
            recorded_at: h.recorded_at.to_rfc3339(),
            on_hand_at_hold: h.on_hand_at_hold_zh,
            on_hand_now,
            ended_at: h.ended_at.map(|t| t.to_rfc3339()),
            ended_by: h.ended_by,
            ended_note: h.ended_note,
            dispose_entry_id: h.dispose_entry_id,
            witness: h.witness,
            photos: h.photos,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HoldList {
    pub holds: Vec<HoldView>,
    pub total: u64,
}

/// The holds of a market's list with what each batch holds now.
pub async fn views(store: &dyn Store, holds: Vec<StoredHold>) -> Result<Vec<HoldView>, ApiError> {
    let now = crate::store::now();
    let mut out = Vec::with_capacity(holds.len());
    for h in holds {
        let on_hand = store
            .batch_on_hand(h.hold.trace_code.clone())
            .await?
            .map(|(_, zh)| zh);
        out.push(HoldView::new(h, on_hand, now));
    }
    Ok(out)
}

pub fn parse_status(s: Option<&str>) -> Result<Option<HoldStatus>, ApiError> {
    match s.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => HoldStatus::parse(s).map(Some).ok_or_else(|| {
            ApiError::invalid(
                "status",
                "invalid_query",
                "status 应为 active、released 或 destroyed",
            )
        }),
    }
}

/// A market's holds, newest first: an operator its own market's, the
/// regulator (admin, analyst) any market's.
#[utoipa::path(
    get, path = "/v1/markets/{id}/holds", tag = "holds", params(
        ("id" = crate::openapi::wire::Id, Path, description = "the market's id"),
        HoldQuery,
    ), security(("bearer" = [])),
    responses(
        (status = 200, description = "{holds:[{id, merchant_id, merchant_name, trace_code, product_name, reason, status, placed_at, on_hand_at_hold, on_hand_now, days_held, …}], total}", body = HoldList),
        (status = 400, body = ErrorResponse), (status = 401, body = ErrorResponse),
        (status = 403, description = "not an operator of this market, nor admin or analyst", body = ErrorResponse),
        (status = 404, description = "no such market", body = ErrorResponse),
    )
)]
pub async fn list_market_holds(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    Query(q): Query<HoldQuery>,
) -> Result<Json<HoldList>, ApiError> {
    auth.require(READERS)?;
    let id = validate::validate_id(&id, "id")?;
    let market_id = auth.market_filter(Some(id))?;
    let limit = crate::paging::limit(q.limit)?;
    let offset = q.offset.unwrap_or(0);
    if offset > MAX_OFFSET {
        return Err(ApiError::invalid(
            "offset",
            "invalid_query",
            format!("offset 应在 0–{MAX_OFFSET} 之间"),
        ));
    }
    let status = parse_status(q.status.as_deref())?;
    if let Some(m) = &market_id {
        state
            .store
            .market(m.clone())
            .await?
            .ok_or_else(|| ApiError::not_found("市场"))?;
    }
    let page = state
        .store
        .list_holds(HoldFilter {
            market_id,
            status,
            limit,
            offset,
        })
        .await?;
    Ok(Json(HoldList {
        total: page.total,
        holds: views(state.store.as_ref(), page.items).await?,
    }))
}

/// One hold, for an operator of its market, the regulator, or the merchant
/// it stops.
#[utoipa::path(
    get, path = "/v1/holds/{id}", tag = "holds", security(("bearer" = [])),
    params(("id" = crate::openapi::wire::Uuid, Path, description = "the hold's id")),
    responses(
        (status = 200, body = HoldView),
        (status = 400, body = ErrorResponse), (status = 401, body = ErrorResponse), (status = 403, body = ErrorResponse),
        (status = 404, description = "no such hold, or not one the caller may see", body = ErrorResponse),
    )
)]
pub async fn get_hold(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<Json<HoldView>, ApiError> {
    auth.require(&[
        Role::Admin,
        Role::Analyst,
        Role::MarketOperator,
        Role::Merchant,
    ])?;
    let id = uuid::Uuid::parse_str(id.trim())
        .map_err(|_| ApiError::invalid("id", "invalid_field", "暂扣单编号应为 UUID"))?
        .to_string();
    let h = state
        .store
        .hold(id)
        .await?
        .filter(|h| {
            auth.sees_every_market()
                || auth.runs_market(Some(&h.hold.market_id))
                || (auth.role == Role::Merchant
                    && auth.scope.merchant_id.as_deref() == Some(h.hold.merchant_id.as_str()))
        })
        .ok_or_else(|| ApiError::not_found("暂扣单"))?;
    let mut views = views(state.store.as_ref(), vec![h]).await?;
    views
        .pop()
        .map(Json)
        .ok_or_else(|| ApiError::not_found("暂扣单"))
}
