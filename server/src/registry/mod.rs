//! The registry: markets and merchants (DESIGN.md, "HTTP API").
//!
//! A merchant gets a UUIDv7 id and a `shop_code`: 16 symbols, unguessable
//! (≈74 random bits, so shop pages cannot be enumerated), URL-safe and with a
//! check character (a mistyped code is caught). Merchants are validated the
//! same way whether they come one by one as JSON or by the hundred as CSV
//! ([`import`]): both go through [`build_merchant`].

pub mod import;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::Auth;
use crate::errors::{ApiError, ErrorResponse};
use crate::extract::{Json, Path, Query};
use crate::store::{Created, Market, Merchant, MerchantFilter, Page, Role};
use crate::validate::{self, FieldError};
use crate::{idempotency, AppState};

/// The OpenAPI description of the `Idempotency-Key` header parameter.
const IDEMPOTENCY_KEY_DOC: &str = "Optional. A fresh key (1–255 visible ASCII characters; the \
    draft's quoted form `\"…\"` is accepted) makes retries safe: a retry with the same key and \
    body answers the first response (status and body, with `Idempotent-Replayed: true`) and \
    creates nothing more; the same key with another body or on another operation is 422 \
    `idempotency_key_reused`. Keys are per account and kept 24 h; refusals are not stored. \
    Without a key a retry is a new request.";

/// Who may manage the registry.
const REGISTRARS: &[Role] = &[Role::Admin, Role::Analyst];

/// Longest list page.
pub const MAX_PAGE: u32 = 500;
const DEFAULT_PAGE: u32 = 50;

fn page_bounds(limit: Option<u32>, offset: Option<u32>) -> Result<(u32, u32), ApiError> {
    let limit = limit.unwrap_or(DEFAULT_PAGE);
    if limit == 0 || limit > MAX_PAGE {
        return Err(ApiError::invalid(
            "limit",
            "invalid_query",
            format!("limit 应在 1–{MAX_PAGE} 之间 (1..{MAX_PAGE})"),
        ));
    }
    Ok((limit, offset.unwrap_or(0)))
}

// ---------------------------------------------------------------------------
// Markets
// ---------------------------------------------------------------------------

/// `Serialize` gives the body's fingerprint for an idempotency key.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMarketRequest {
    #[schema(value_type = crate::openapi::wire::Name)]
    pub name: String,
    /// GB/T 2260 six-digit code.
    #[schema(value_type = crate::openapi::wire::RegionCode)]
    pub region_code: String,
    #[schema(value_type = Option<crate::openapi::wire::Text200>)]
    pub address: Option<String>,
}

/// Register a market.
///
/// Without an `Idempotency-Key` a retried request registers a second market.
#[utoipa::path(
    post, path = "/v1/markets", tag = "registry", request_body = NewMarketRequest, security(("bearer" = [])),
    params(("Idempotency-Key" = Option<crate::openapi::wire::IdempotencyKey>, Header, description = IDEMPOTENCY_KEY_DOC)),
    responses(
        (status = 201, body = Market),
        (status = 400, description = "invalid field or invalid_idempotency_key", body = ErrorResponse),
        (status = 401, body = ErrorResponse),
        (status = 403, body = ErrorResponse),
        (status = 422, description = "idempotency_key_reused", body = ErrorResponse),
    )
)]
pub async fn create_market(
    State(state): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    Json(req): Json<NewMarketRequest>,
) -> Result<Response, ApiError> {
    auth.require(REGISTRARS)?;
    let key = idempotency::header_key(&headers)?
        .map(|k| idempotency::for_request(&auth, k, "POST /v1/markets", &req))
        .transpose()?;
    let market = Market {
        id: uuid::Uuid::now_v7().to_string(),
        name: validate::validate_name(&req.name, "name")?,
        region_code: validate::validate_region_code(&req.region_code, "region_code")?,
        address: validate::validate_optional_text(req.address.as_deref(), "address", 200)?,
        created_at: crate::store::now(),
    };
    let created = match key {
        Some(key) => state.store.create_market_idempotent(market, key).await?,
        None => Created::New(state.store.create_market(market).await?),
    };
    created_response(created)
}

/// 201 with the new record, or the first response to a retried key.
fn created_response<T: Serialize>(created: Created<T>) -> Result<Response, ApiError> {
    match created {
        Created::New(record) => Ok((StatusCode::CREATED, Json(record)).into_response()),
        Created::Replayed(stored) => idempotency::replay(stored),
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// 1..=500, default 50.
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    #[param(minimum = 0, maximum = 4294967295_u32)]
    pub offset: Option<u32>,
}

/// List markets.
#[utoipa::path(
    get, path = "/v1/markets", tag = "registry", params(PageQuery), security(("bearer" = [])),
    responses((status = 200, body = Page<Market>), (status = 401, body = ErrorResponse), (status = 403, body = ErrorResponse))
)]
pub async fn list_markets(
    State(state): State<AppState>,
    auth: Auth,
    Query(q): Query<PageQuery>,
) -> Result<Json<Page<Market>>, ApiError> {
    auth.require(REGISTRARS)?;
    let (limit, offset) = page_bounds(q.limit, q.offset)?;
    Ok(Json(state.store.list_markets(limit, offset).await?))
}

// ---------------------------------------------------------------------------
// Merchants
// ---------------------------------------------------------------------------

/// A merchant as entered, before validation; shared by JSON and CSV.
#[derive(Debug, Default, Clone)]
pub struct MerchantInput {
    pub name: String,
    pub uscc: String,
    pub acknowledge_uscc_mismatch: bool,
    pub licence_no: Option<String>,
    pub licence_expiry: Option<String>,
    pub business_type: Option<String>,
    pub categories: Vec<String>,
    pub stall: Option<String>,
    pub contact: Option<String>,
    pub region_code: Option<String>,
}

/// Validates every field (collecting all errors, so a spreadsheet row is
/// reported whole) and makes the merchant with a fresh id and shop code.
pub fn build_merchant(
    input: &MerchantInput,
    market: Option<&Market>,
) -> Result<Merchant, Vec<FieldError>> {
    let mut e = Errors::default();
    let blank = |s: &Option<String>| {
        s.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };

    let name = e.take(validate::validate_name(&input.name, "name"));
    let uscc = e.take(validate::validate_uscc(
        &input.uscc,
        "uscc",
        input.acknowledge_uscc_mismatch,
    ));
    let (licence_in, expiry_in) = (blank(&input.licence_no), blank(&input.licence_expiry));
    let licence_no = licence_in
        .as_deref()
        .and_then(|l| e.take(validate::validate_licence(l, "licence_no")));
    let licence_expiry = expiry_in
        .as_deref()
        .and_then(|d| e.take(validate::parse_date(d, "licence_expiry")));
    match (&licence_in, &expiry_in) {
        (Some(_), None) => e.push(
            "licence_expiry",
            "required",
            "填写许可证号时须填写有效期 (expiry required with a licence)",
        ),
        (None, Some(_)) => e.push(
            "licence_no",
            "required",
            "填写有效期时须填写许可证号 (licence number required with an expiry)",
        ),
        _ => {}
    }
    let region_code = match (blank(&input.region_code), market) {
        (Some(code), _) => e.take(validate::validate_region_code(&code, "region_code")),
        (None, Some(m)) => Some(m.region_code.clone()),
        (None, None) => {
            e.push(
                "region_code",
                "required",
                "须填写行政区划代码或所属市场 (region_code or market_id required)",
            );
            None
        }
    };
    let categories = e.take(validate::parse_categories(
        input.categories.iter().map(String::as_str),
        "categories",
    ));
    let business_type = e
        .take(validate::validate_optional_text(
            input.business_type.as_deref(),
            "business_type",
            50,
        ))
        .flatten();
    let stall = e
        .take(validate::validate_optional_text(
            input.stall.as_deref(),
            "stall",
            50,
        ))
        .flatten();
    let contact = e
        .take(validate::validate_optional_text(
            input.contact.as_deref(),
            "contact",
            100,
        ))
        .flatten();

    match (name, uscc, region_code, categories) {
        (Some(name), Some(uscc), Some(region_code), Some(categories)) if e.0.is_empty() => {
            Ok(Merchant {
                id: uuid::Uuid::now_v7().to_string(),
                market_id: market.map(|m| m.id.clone()),
                name,
                uscc: uscc.code,
                uscc_acknowledged: uscc.check_mismatch_acknowledged,
                licence_no,
                licence_expiry,
                business_type,
                categories,
                stall,
                contact,
                region_code,
                shop_code: validate::new_code(&mut rand::rng()),
                created_at: crate::store::now(),
            })
        }
        _ => Err(e.0),
    }
}

/// Collects every field error of one input.
#[derive(Default)]
struct Errors(Vec<FieldError>);

impl Errors {
    fn take<T>(&mut self, r: Result<T, FieldError>) -> Option<T> {
        r.map_err(|err| self.0.push(err)).ok()
    }
    fn push(&mut self, field: &str, code: &str, message: &str) {
        self.0.push(FieldError::new(field, code, message));
    }
}

/// Looks a market up for a merchant; an unknown id is a 422 on `market_id`.
pub async fn market_for(
    state: &AppState,
    market_id: Option<&str>,
) -> Result<Option<Market>, ApiError> {
    let Some(id) = market_id.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    let id = validate::validate_id(id, "market_id")?;
    match state.store.market(id).await? {
        Some(m) => Ok(Some(m)),
        None => Err(
            ApiError::unprocessable("unknown_market", "市场不存在 (no such market)")
                .at("market_id"),
        ),
    }
}

/// `Serialize` gives the body's fingerprint for an idempotency key.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMerchantRequest {
    #[schema(value_type = Option<crate::openapi::wire::IdFilter>)]
    pub market_id: Option<String>,
    /// 1..=100 characters.
    #[schema(value_type = crate::openapi::wire::Name)]
    pub name: String,
    /// 统一社会信用代码, 18 characters; full-width and lower case are folded.
    #[schema(value_type = crate::openapi::wire::Uscc)]
    pub uscc: String,
    /// Accept a USCC whose check characters do not match (a few lawful early
    /// codes fail the check); refused with `uscc_check_mismatch` otherwise.
    #[serde(default)]
    pub acknowledge_uscc_mismatch: bool,
    /// `JY` or `SC` + 14 digits; needs `licence_expiry`.
    #[schema(value_type = Option<crate::openapi::wire::LicenceNoOrBlank>)]
    pub licence_no: Option<String>,
    /// `YYYY-MM-DD`.
    #[schema(value_type = Option<crate::openapi::wire::DateOrBlank>)]
    pub licence_expiry: Option<String>,
    #[schema(value_type = Option<crate::openapi::wire::Text50>)]
    pub business_type: Option<String>,
    /// Category codes (`aquatic`) or names (`水产品`).
    #[serde(default)]
    #[schema(value_type = Vec<crate::openapi::wire::Category>)]
    pub categories: Vec<String>,
    #[schema(value_type = Option<crate::openapi::wire::Text50>)]
    pub stall: Option<String>,
    #[schema(value_type = Option<crate::openapi::wire::Text100>)]
    pub contact: Option<String>,
    /// GB/T 2260; defaults to the market's.
    #[schema(value_type = Option<crate::openapi::wire::RegionCodeOrBlank>)]
    pub region_code: Option<String>,
}

/// Turns a validation failure into the first error, listing all under `errors`.
fn field_errors(errors: Vec<FieldError>) -> ApiError {
    let all = serde_json::to_value(&errors).unwrap_or_default();
    let first = errors
        .into_iter()
        .next()
        .unwrap_or_else(|| FieldError::new("", "invalid", "输入无效 (invalid input)"));
    let more = all.as_array().is_some_and(|a| a.len() > 1);
    let e = ApiError::from(first);
    if more {
        e.with_extra("errors", all)
    } else {
        e
    }
}

/// Register a merchant.
///
/// The merchant, its sync feed rows and its directory entry are stored in
/// one transaction. Without an `Idempotency-Key` a retried request is a new
/// registration: 409 `duplicate_licence` when it has a licence number, a
/// second merchant when it has none.
#[utoipa::path(
    post, path = "/v1/merchants", tag = "registry", request_body = NewMerchantRequest, security(("bearer" = [])),
    params(("Idempotency-Key" = Option<crate::openapi::wire::IdempotencyKey>, Header, description = IDEMPOTENCY_KEY_DOC)),
    responses(
        (status = 201, body = Merchant),
        (status = 400, description = "invalid field or invalid_idempotency_key", body = ErrorResponse),
        (status = 409, description = "duplicate_licence, duplicate_shop_code (retry)", body = ErrorResponse),
        (status = 422, description = "uscc_check_mismatch, unknown_market, idempotency_key_reused", body = ErrorResponse),
    )
)]
pub async fn create_merchant(
    State(state): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    Json(req): Json<NewMerchantRequest>,
) -> Result<Response, ApiError> {
    auth.require(REGISTRARS)?;
    let key = idempotency::header_key(&headers)?
        .map(|k| idempotency::for_request(&auth, k, "POST /v1/merchants", &req))
        .transpose()?;
    let market = market_for(&state, req.market_id.as_deref()).await?;
    let input = MerchantInput {
        name: req.name,
        uscc: req.uscc,
        acknowledge_uscc_mismatch: req.acknowledge_uscc_mismatch,
        licence_no: req.licence_no,
        licence_expiry: req.licence_expiry,
        business_type: req.business_type,
        categories: req.categories,
        stall: req.stall,
        contact: req.contact,
        region_code: req.region_code,
    };
    let merchant = build_merchant(&input, market.as_ref()).map_err(field_errors)?;
    let created = match key {
        Some(key) => {
            state
                .store
                .create_merchant_idempotent(merchant, key)
                .await?
        }
        None => Created::New(state.store.create_merchant(merchant).await?),
    };
    // A code scanned before it was registered is no longer "unknown".
    state.page_cache.forget_all();
    created_response(created)
}

/// One merchant.
#[utoipa::path(
    get, path = "/v1/merchants/{id}", tag = "registry", params(("id" = crate::openapi::wire::Id, Path, description = "merchant id")), security(("bearer" = [])),
    responses((status = 200, body = Merchant), (status = 403, body = ErrorResponse), (status = 404, body = ErrorResponse))
)]
pub async fn get_merchant(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<Json<Merchant>, ApiError> {
    let id = validate::validate_id(&id, "id")?;
    let merchant = state
        .store
        .merchant(id)
        .await?
        .ok_or_else(|| ApiError::not_found("商户"))?;
    if !auth.can_see_merchant(&merchant) {
        return Err(ApiError::forbidden());
    }
    Ok(Json(merchant))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct MerchantQuery {
    #[param(value_type = Option<crate::openapi::wire::IdFilter>)]
    pub market_id: Option<String>,
    /// GB/T 2260; a province or city code matches everything under it.
    #[param(value_type = Option<crate::openapi::wire::RegionFilter>)]
    pub region: Option<String>,
    /// Part of the name or stall, or an exact USCC or licence number.
    #[param(max_length = 100)]
    pub q: Option<String>,
    /// 1..=500, default 50.
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    #[param(minimum = 0, maximum = 4294967295_u32)]
    pub offset: Option<u32>,
}

/// Search merchants (admins and analysts: all; a market operator: its own
/// market's, 403 for another's).
#[utoipa::path(
    get, path = "/v1/merchants", tag = "registry", params(MerchantQuery), security(("bearer" = [])),
    responses((status = 200, body = Page<Merchant>), (status = 400, body = ErrorResponse), (status = 403, body = ErrorResponse))
)]
pub async fn list_merchants(
    State(state): State<AppState>,
    auth: Auth,
    Query(q): Query<MerchantQuery>,
) -> Result<Json<Page<Merchant>>, ApiError> {
    auth.require(&[Role::Admin, Role::Analyst, Role::MarketOperator])?;
    let (limit, offset) = page_bounds(q.limit, q.offset)?;
    let market_id = q
        .market_id
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(|s| validate::validate_id(s, "market_id"))
        .transpose()?;
    let market_id = auth.market_filter(market_id)?;
    let region = q
        .region
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(|s| validate::validate_region_code(s, "region"))
        .transpose()?;
    let search = q.q.filter(|s| !s.trim().is_empty());
    if search.as_ref().is_some_and(|s| s.chars().count() > 100) {
        return Err(ApiError::invalid(
            "q",
            "too_long",
            "搜索词过长 (query too long)",
        ));
    }
    let filter = MerchantFilter {
        market_id,
        region,
        q: search,
        limit,
        offset,
    };
    Ok(Json(state.store.list_merchants(filter).await?))
}
