//! Staff health certificates (从业人员健康证, issue 14 item 5): the merchant's
//! register of its food-handling workers, by the push ops `staff.upsert` /
//! `staff.remove` from its device ([`ops`]) and by
//! `PUT|DELETE /v1/merchants/{id}/staff/{staff_id}` and
//! `GET /v1/merchants/{id}/staff`; the periodic check that raises a
//! certificate's expiry at midnight ([`check`]); the demo's staff
//! ([`demo`]). The rules are core's `shian_core::staff`.
//!
//! Who: every route answers the merchant itself, the operators of its
//! market, the inspectors of its district, analysts and admins (read);
//! writes are the merchant's own, its market's operators' and admins'
//! (inspectors and analysts supervise the register, they do not keep it).
//! Anyone else: 403. A photo of the certificate is uploaded through
//! `PUT /v1/attachments/{sha256}` and named by its hash in `photo`.
//!
//! Change kind sent by sync: `staff.roster` `{id, merchant_id, staff:
//! [{staff_id, merchant_id, name, role, certificate_no?, issued_on?,
//! expires_on?, photo?}]}` — the merchant's whole register after each
//! change, to the merchant's devices, its district's inspectors (the
//! checklist's health-certificate item) and its market's operator
//! tablets. Warnings: `health_cert_expired`, `health_cert_missing`
//! (core's `warnings::staff`, config `staff-v1.json`), raised in the write
//! that changes the register, by the periodic check and by the full pass.

pub mod check;
pub mod demo;
pub mod ops;

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use serde_json::Value;
use shian_core::staff::{
    days_left, parse_removal, parse_worker, validity, Worker, CERT_NO_MAX_CHARS, CERT_NO_MIN_CHARS,
    CONSISTENCY_CODES, NAME_MAX_CHARS, ROLE_MAX_CHARS,
};
use shian_core::warnings::staff::StaffRules;
use std::borrow::Cow;

use utoipa::openapi::schema::{KnownFormat, SchemaFormat, SchemaType};
use utoipa::openapi::{ObjectBuilder, RefOr, Schema, Type};
use utoipa::{PartialSchema, ToSchema};

use crate::auth::Auth;
use crate::errors::{ApiError, ErrorResponse};
use crate::extract::{Json, Path};
use crate::store::staff::{StoredWorker, Upserted};
use crate::store::{Merchant, Role};
use crate::AppState;

pub use ops::{apply_op, handles};

/// Who keeps a register (besides reading it).
const KEEPERS: &[Role] = &[Role::Merchant, Role::MarketOperator, Role::Admin];

/// A worker as `PUT` takes it (the ids are the path's), in the OpenAPI:
/// core's `parse_worker` reads the body.
pub struct StaffBody;

impl PartialSchema for StaffBody {
    fn schema() -> RefOr<Schema> {
        use crate::openapi::wire::{text_pattern, DATE_PATTERN, SHA256_PATTERN};
        let text = |max: usize, what: &str| {
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some(text_pattern(max, true)))
                .description(Some(what.to_owned()))
        };
        let nullable = |pattern: &str, what: &str| {
            ObjectBuilder::new()
                .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
                .pattern(Some(pattern.to_owned()))
                .description(Some(what.to_owned()))
        };
        let date = SchemaFormat::KnownFormat(KnownFormat::Date);
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .property("name", text(NAME_MAX_CHARS, "full name, 1–32 characters once trimmed (the public sees its first character and *)"))
            .required("name")
            .property("role", text(ROLE_MAX_CHARS, "负责人, 从业人员, 配送, 食品安全管理员 or another role, 1–16 characters"))
            .required("role")
            .property(
                "certificate_no",
                nullable(
                    &format!("^[A-Za-z0-9-]{{{CERT_NO_MIN_CHARS},{CERT_NO_MAX_CHARS}}}$"),
                    "health certificate number; with issued_on and expires_on, or none of the three",
                ),
            )
            .property("issued_on", nullable(DATE_PATTERN, "YYYY-MM-DD").format(Some(date.clone())))
            .property(
                "expires_on",
                nullable(
                    DATE_PATTERN,
                    "YYYY-MM-DD, the last valid day (Asia/Shanghai), after issued_on and at most five years later",
                )
                .format(Some(date)),
            )
            .property(
                "photo",
                nullable(SHA256_PATTERN, "SHA-256 of the certificate's photo uploaded to /v1/attachments"),
            )
            .into()
    }
}

impl ToSchema for StaffBody {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("StaffBody")
    }
}

/// A worker with its validity as of now.
#[derive(Debug, Serialize, ToSchema)]
pub struct WorkerView {
    pub staff_id: String,
    pub merchant_id: String,
    pub name: String,
    pub role: String,
    pub certificate_no: Option<String>,
    #[schema(value_type = Option<String>, format = Date)]
    pub issued_on: Option<NaiveDate>,
    #[schema(value_type = Option<String>, format = Date)]
    pub expires_on: Option<NaiveDate>,
    pub photo: Option<String>,
    /// `valid`, `expiring` (within `expiring_days`), `expired` or `missing`.
    pub status: &'static str,
    /// Days to the expiry day (0: today is the last valid day; negative:
    /// expired).
    pub days_left: Option<i64>,
    pub recorded_at: DateTime<Utc>,
}

impl WorkerView {
    pub fn new(s: StoredWorker, now: DateTime<Utc>) -> WorkerView {
        let rules = StaffRules::builtin();
        let v = validity(&s.worker, now, rules.expiring_days);
        let w = s.worker;
        WorkerView {
            days_left: v.expires_on().map(|e| days_left(e, now)),
            status: v.as_str(),
            staff_id: w.staff_id,
            merchant_id: w.merchant_id,
            name: w.name,
            role: w.role,
            certificate_no: w.certificate_no,
            issued_on: w.issued_on,
            expires_on: w.expires_on,
            photo: w.photo,
            recorded_at: s.recorded_at,
        }
    }
}

/// A merchant's register.
#[derive(Debug, Serialize, ToSchema)]
pub struct StaffList {
    pub merchant_id: String,
    /// The notice window of `expiring` (staff-v1.json).
    pub expiring_days: i64,
    pub staff: Vec<WorkerView>,
}

/// What a write answers.
#[derive(Debug, Serialize, ToSchema)]
pub struct StaffWritten {
    /// `created`, `changed`, `unchanged` (the same record again) or, for a
    /// removal, `removed` / `absent`.
    pub outcome: &'static str,
    pub worker: Option<WorkerView>,
}

/// A worker's refusal: 422 for what no pattern states, else 400.
pub(crate) fn refused(e: shian_core::error::FieldError) -> ApiError {
    if CONSISTENCY_CODES.contains(&e.code.as_str()) {
        ApiError::unprocessable(e.code, e.message).at(e.field)
    } else {
        ApiError::from(e)
    }
}

/// The merchant the path names, if the caller may see it.
async fn merchant(state: &AppState, auth: &Auth, id: &str) -> Result<Merchant, ApiError> {
    let id = crate::validate::validate_id(id, "id")?;
    let m = state
        .store
        .merchant(id)
        .await?
        .ok_or_else(|| ApiError::not_found("商户"))?;
    if !auth.can_see_merchant(&m) {
        return Err(ApiError::forbidden());
    }
    Ok(m)
}

/// The merchant, if the caller keeps its register.
async fn kept(state: &AppState, auth: &Auth, id: &str) -> Result<Merchant, ApiError> {
    auth.require(KEEPERS)?;
    merchant(state, auth, id).await
}

/// Records a worker, checked by the service; shared by the API and the
/// demo.
pub async fn record(
    state: &AppState,
    user_id: &str,
    worker: Worker,
) -> Result<(Upserted, Option<StoredWorker>), ApiError> {
    let now = crate::store::now();
    let merchant_id = worker.merchant_id.clone();
    let staff_id = worker.staff_id.clone();
    let done = state
        .store
        .upsert_worker(worker, user_id.to_owned(), now)
        .await?;
    if done == Upserted::IdTaken {
        return Err(
            ApiError::conflict("staff_id_taken", "该人员编号已属于其他经营户").at("staff_id"),
        );
    }
    let stored = state
        .store
        .staff_of(merchant_id)
        .await?
        .into_iter()
        .find(|w| w.worker.staff_id == staff_id);
    Ok((done, stored))
}

/// A merchant's workers with their certificates' validity, by name.
#[utoipa::path(
    get, path = "/v1/merchants/{id}/staff", tag = "staff", security(("bearer" = [])),
    params(("id" = crate::openapi::wire::Id, Path, description = "merchant id")),
    responses(
        (status = 200, body = StaffList),
        (status = 400, body = ErrorResponse), (status = 401, body = ErrorResponse),
        (status = 403, description = "not the merchant, an operator of its market, an inspector of its district, an analyst or an admin", body = ErrorResponse),
        (status = 404, body = ErrorResponse),
    )
)]
pub async fn list_staff(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<Json<StaffList>, ApiError> {
    let m = merchant(&state, &auth, &id).await?;
    let now = crate::store::now();
    let staff = state.store.staff_of(m.id.clone()).await?;
    Ok(Json(StaffList {
        merchant_id: m.id,
        expiring_days: StaffRules::builtin().expiring_days,
        staff: staff.into_iter().map(|s| WorkerView::new(s, now)).collect(),
    }))
}

/// Records (adds or changes) a worker. Idempotent: the same record again
/// changes nothing (`unchanged`).
#[utoipa::path(
    put, path = "/v1/merchants/{id}/staff/{staff_id}", tag = "staff", security(("bearer" = [])),
    params(
        ("id" = crate::openapi::wire::Id, Path, description = "merchant id"),
        ("staff_id" = crate::openapi::wire::Id, Path, description = "the worker's id (a UUID made by the device)"),
    ),
    request_body = StaffBody,
    responses(
        (status = 201, description = "created", body = StaffWritten),
        (status = 200, description = "changed or unchanged", body = StaffWritten),
        (status = 400, description = "invalid_json, empty_text, text_too_long, invalid_text, wrong_type, invalid_certificate_no, invalid_date, invalid_hash, invalid_id", body = ErrorResponse),
        (status = 401, body = ErrorResponse),
        (status = 403, description = "not the merchant, an operator of its market or an admin", body = ErrorResponse),
        (status = 404, body = ErrorResponse),
        (status = 409, description = "staff_id_taken: the id is another merchant's worker", body = ErrorResponse),
        (status = 413, body = ErrorResponse), (status = 415, body = ErrorResponse),
        (status = 422, description = "expiry_before_issue, validity_too_long (over five years), certificate_incomplete (a number needs both dates, dates need a number)", body = ErrorResponse),
    )
)]
pub async fn put_staff(
    State(state): State<AppState>,
    auth: Auth,
    Path((id, staff_id)): Path<(String, String)>,
    Json(body): Json<Value>,
) -> Result<(StatusCode, Json<StaffWritten>), ApiError> {
    let m = kept(&state, &auth, &id).await?;
    let staff_id = crate::validate::validate_id(&staff_id, "staff_id")?;
    let mut body = body;
    if let Some(o) = body.as_object_mut() {
        o.insert("staff_id".into(), Value::from(staff_id));
        o.insert("merchant_id".into(), Value::from(m.id.clone()));
    }
    let worker = parse_worker(&body, "").map_err(refused)?;
    let (done, stored) = record(&state, &auth.user_id, worker).await?;
    state.page_cache.forget_shop(&m.shop_code);
    let now = crate::store::now();
    let (status, outcome) = match done {
        Upserted::Created => (StatusCode::CREATED, "created"),
        Upserted::Changed => (StatusCode::OK, "changed"),
        _ => (StatusCode::OK, "unchanged"),
    };
    Ok((
        status,
        Json(StaffWritten {
            outcome,
            worker: stored.map(|s| WorkerView::new(s, now)),
        }),
    ))
}

/// Removes a worker (left the shop). Idempotent: removing one not (or no
/// longer) recorded answers `absent`.
#[utoipa::path(
    delete, path = "/v1/merchants/{id}/staff/{staff_id}", tag = "staff", security(("bearer" = [])),
    params(
        ("id" = crate::openapi::wire::Id, Path, description = "merchant id"),
        ("staff_id" = crate::openapi::wire::Id, Path, description = "the worker's id"),
    ),
    responses(
        (status = 200, description = "removed or absent", body = StaffWritten),
        (status = 400, body = ErrorResponse), (status = 401, body = ErrorResponse),
        (status = 403, description = "not the merchant, an operator of its market or an admin", body = ErrorResponse),
        (status = 404, body = ErrorResponse),
    )
)]
pub async fn delete_staff(
    State(state): State<AppState>,
    auth: Auth,
    Path((id, staff_id)): Path<(String, String)>,
) -> Result<Json<StaffWritten>, ApiError> {
    let m = kept(&state, &auth, &id).await?;
    let staff_id = crate::validate::validate_id(&staff_id, "staff_id")?;
    let removal = parse_removal(
        &serde_json::json!({"staff_id": staff_id, "merchant_id": m.id}),
        "",
    )
    .map_err(refused)?;
    let removed = state
        .store
        .remove_worker(removal, auth.user_id.clone(), crate::store::now())
        .await?;
    state.page_cache.forget_shop(&m.shop_code);
    Ok(Json(StaffWritten {
        outcome: if removed { "removed" } else { "absent" },
        worker: None,
    }))
}
