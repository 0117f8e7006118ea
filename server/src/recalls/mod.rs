//! Recalls (issue 13, item 3): `POST /v1/recalls` from a trace code or a
//! recall proposal of a lab-confirmed failed sample, `GET /v1/recalls`,
//! `GET /v1/recalls/{id}`; the merchants' `recall.confirm` op ([`ops`]);
//! the periodic overdue reminder ([`overdue`]).
//!
//! Change kinds sent by sync (payloads in core's `recall::notice`):
//! `recall.notice` to every holder's devices when the recall starts (and
//! once more with `reminder: true` when overdue), `recall.updated` to a
//! holder after its confirmation counted and to every holder when the
//! recall closes, `recall.progress` to each holder district's inspectors.

pub mod demo;
pub mod ops;
pub mod overdue;
pub mod service;
pub mod view;

use std::borrow::Cow;

use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use shian_core::recall::{RecallLevel, RecallStatus, REASON_MAX_CHARS};
use utoipa::openapi::{ObjectBuilder, RefOr, Schema, Type};
use utoipa::{IntoParams, PartialSchema, ToSchema};

use crate::auth::Auth;
use crate::errors::{ApiError, ErrorResponse};
use crate::extract::{Json, Path, Query};
use crate::store::recalls::RecallFilter;
use crate::store::{Role, StoreError};
use crate::AppState;

pub use ops::{apply_op, handles};
use service::{StartError, StartRecall};
use view::{RecallList, RecallListItem, RecallView};

/// The largest list offset (the OpenAPI's `int32`).
const MAX_OFFSET: u32 = 2_147_483_647;

/// Who starts recalls.
const STARTERS: &[Role] = &[Role::Admin, Role::Analyst];
/// Who reads them (an inspector follows up on the holders of its district).
const READERS: &[Role] = &[Role::Admin, Role::Analyst, Role::Inspector];

/// A recall level in the OpenAPI: 1, 2 or 3.
pub struct LevelWire;

impl PartialSchema for LevelWire {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .enum_values(Some(RecallLevel::ALL.map(RecallLevel::number)))
            .description(Some(
                "1 一级 (serious harm: start within 24 h, finish within 10 working days), 2 二级 (48 h / 20), 3 三级 (72 h / 30)",
            ))
            .into()
    }
}

impl ToSchema for LevelWire {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("RecallLevel")
    }
}

/// A recall status in the OpenAPI.
pub struct StatusWire;

impl PartialSchema for StatusWire {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(["active", "closed"]))
            .into()
    }
}

impl ToSchema for StatusWire {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("RecallStatus")
    }
}

/// Start a recall from a trace code or from a recall proposal (exactly one).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecallRequest {
    /// The batch to recall (its forward trace names the holders).
    #[schema(value_type = Option<crate::openapi::wire::Code>)]
    pub trace_code: Option<String>,
    /// A recall proposal of a lab-confirmed failed sample (its batch).
    #[schema(value_type = Option<crate::openapi::wire::Uuid>)]
    pub proposal_id: Option<String>,
    #[schema(value_type = LevelWire)]
    pub level: i64,
    #[schema(value_type = crate::openapi::wire::Text256)]
    pub reason: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RecallQuery {
    #[param(value_type = Option<StatusWire>)]
    pub status: Option<String>,
    /// 1..=1000, default 100.
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
    #[param(minimum = 0, maximum = 2147483647)]
    pub offset: Option<u32>,
}

fn check_reason(s: &str) -> Result<String, ApiError> {
    let t = s.trim();
    if t.is_empty() || t.chars().count() > REASON_MAX_CHARS || t.chars().any(char::is_control) {
        return Err(ApiError::invalid(
            "reason",
            "invalid_field",
            format!("reason 应为 1–{REASON_MAX_CHARS} 个字符且不含控制字符"),
        ));
    }
    Ok(t.to_owned())
}

fn start_error(e: StartError, field: &str) -> ApiError {
    match e {
        StartError::UnknownCode(code) => ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_trace_code",
            format!("追溯码 {code} 对应的批次不存在"),
        )
        .at(field),
        StartError::InvalidCode(reason) => ApiError::invalid(field, "invalid_code", reason),
        StartError::Rules(m) => ApiError::internal(m),
        StartError::Store(StoreError::NotFound(_)) => {
            ApiError::new(StatusCode::NOT_FOUND, "unknown_proposal", "召回建议不存在")
                .at("proposal_id")
        }
        StartError::Store(e) => ApiError::from(e),
    }
}

/// Starts a recall: the forward trace of the batch names every holder with
/// what it received; each gets a `recall.notice` at its next pull, each
/// district's inspectors a `recall.progress`; all stored in one transaction.
/// From a `proposal_id`, the proposal's batch is recalled and the proposal
/// is marked used.
#[utoipa::path(
    post, path = "/v1/recalls", tag = "recalls", request_body = RecallRequest, security(("bearer" = [])),
    responses(
        (status = 201, description = "the recall as GET /v1/recalls/{id} answers it", body = Object),
        (status = 400, description = "invalid_json, invalid_field (one of trace_code and proposal_id), invalid_level, invalid_code", body = ErrorResponse),
        (status = 401, body = ErrorResponse), (status = 403, body = ErrorResponse),
        (status = 404, description = "unknown_trace_code or unknown_proposal", body = ErrorResponse),
        (status = 409, description = "proposal_used: a recall was already started from this proposal", body = ErrorResponse),
        (status = 413, body = ErrorResponse), (status = 415, body = ErrorResponse),
        (status = 422, description = "code_check_mismatch, or proposal_without_batch", body = ErrorResponse),
    )
)]
pub async fn create_recall(
    State(state): State<AppState>,
    auth: Auth,
    Json(req): Json<RecallRequest>,
) -> Result<(StatusCode, Json<RecallView>), ApiError> {
    auth.require(STARTERS)?;
    let view = start(&state, &auth.user_id, req).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// The checks and the start, shared by the API and the console's form.
pub async fn start(
    state: &AppState,
    user_id: &str,
    req: RecallRequest,
) -> Result<RecallView, ApiError> {
    let level = RecallLevel::from_number(req.level)
        .ok_or_else(|| ApiError::invalid("level", "invalid_level", "召回级别须为 1、2 或 3"))?;
    let reason = check_reason(&req.reason)?;
    let blank = |s: &Option<String>| {
        s.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let (trace_code, proposal_id, field) = match (blank(&req.trace_code), blank(&req.proposal_id)) {
        (Some(code), None) => (
            shian_core::codes::parse_code(&code, "trace_code").map_err(ApiError::from)?,
            None,
            "trace_code",
        ),
        (None, Some(pid)) => {
            let pid = uuid::Uuid::parse_str(&pid)
                .map_err(|_| {
                    ApiError::invalid("proposal_id", "invalid_field", "proposal_id 应为 UUID")
                })?
                .to_string();
            let p = state
                .store
                .recall_proposal(pid.clone())
                .await?
                .ok_or_else(|| {
                    ApiError::new(StatusCode::NOT_FOUND, "unknown_proposal", "召回建议不存在")
                        .at("proposal_id")
                })?;
            if p.status != "proposed" {
                return Err(
                    ApiError::conflict("proposal_used", "该召回建议已启动过召回").at("proposal_id"),
                );
            }
            let Some(code) = p.trace_code else {
                return Err(ApiError::unprocessable(
                    "proposal_without_batch",
                    "该召回建议未指明批次，请按追溯码启动召回",
                )
                .at("proposal_id"));
            };
            (code, Some(pid), "proposal_id")
        }
        _ => {
            return Err(ApiError::invalid(
                "trace_code",
                "invalid_field",
                "trace_code 与 proposal_id 须且只能填写一项",
            ))
        }
    };
    let stored = service::start(
        state.store.as_ref(),
        StartRecall {
            trace_code,
            level,
            reason,
            proposal_id,
            started_by: user_id.to_owned(),
        },
        crate::store::now(),
    )
    .await
    .map_err(|e| start_error(e, field))?;
    // The holders' shop pages and every product page on the chain now show
    // the recall's red banner: from this request on, not when the public
    // pages' cache expires.
    state.page_cache.forget_all();
    Ok(RecallView::new(stored, crate::store::now()))
}

/// Recalls, newest first, with their holders confirmed and pending.
#[utoipa::path(
    get, path = "/v1/recalls", tag = "recalls", params(RecallQuery), security(("bearer" = [])),
    responses(
        (status = 200, description = "{recalls:[{id, trace_code, product_name, level, reason, status, started_at, deadlines, holders, confirmed, pending, overdue}], total}", body = Object),
        (status = 400, body = ErrorResponse), (status = 401, body = ErrorResponse), (status = 403, body = ErrorResponse),
    )
)]
pub async fn list_recalls(
    State(state): State<AppState>,
    auth: Auth,
    Query(q): Query<RecallQuery>,
) -> Result<Json<RecallList>, ApiError> {
    auth.require(READERS)?;
    let limit = crate::paging::limit(q.limit)?;
    let offset = q.offset.unwrap_or(0);
    if offset > MAX_OFFSET {
        return Err(ApiError::invalid(
            "offset",
            "invalid_query",
            format!("offset 应在 0–{MAX_OFFSET} 之间"),
        ));
    }
    let status = match q.status.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => Some(RecallStatus::parse(s).ok_or_else(|| {
            ApiError::invalid("status", "invalid_query", "status 应为 active 或 closed")
        })?),
    };
    let page = state
        .store
        .list_recalls(RecallFilter {
            status,
            limit,
            offset,
        })
        .await?;
    let now = crate::store::now();
    Ok(Json(RecallList {
        recalls: page
            .items
            .into_iter()
            .map(|s| RecallListItem::new(s, now))
            .collect(),
        total: page.total,
    }))
}

/// One recall: deadlines, every holder with what it received and its latest
/// confirmed counts (held, returned, destroyed, confirmed_at), overdue
/// holders, totals per unit.
#[utoipa::path(
    get, path = "/v1/recalls/{id}", tag = "recalls", security(("bearer" = [])),
    params(("id" = crate::openapi::wire::Uuid, Path, description = "the recall's id")),
    responses(
        (status = 200, description = "{id, trace_code, product_name, level, reason, status, deadlines:{start_by, finish_by, finish_by_end, calendar_warning}, overdue, progress:{holders, confirmed, pending, overdue, totals}, holders:[{merchant_id, trace_code, received, held, returned, destroyed, confirmed_at, state, overdue, …}]}", body = Object),
        (status = 400, body = ErrorResponse), (status = 401, body = ErrorResponse), (status = 403, body = ErrorResponse), (status = 404, body = ErrorResponse),
    )
)]
pub async fn get_recall(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<Json<RecallView>, ApiError> {
    auth.require(READERS)?;
    let id = uuid::Uuid::parse_str(id.trim())
        .map_err(|_| ApiError::invalid("id", "invalid_field", "召回编号应为 UUID"))?
        .to_string();
    let r = state
        .store
        .recall(id)
        .await?
        .ok_or_else(|| ApiError::not_found("召回"))?;
    Ok(Json(RecallView::new(r, crate::store::now())))
}
