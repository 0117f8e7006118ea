//! Complaints: a consumer complains about a shop (category, text, the
//! product if they name one, an optional photo), anonymously. Each complaint is routed to the shop's
//! district: stored with a `complaint.received` change addressed to the
//! merchant's region, which that region's inspectors pull, carrying the
//! 12315 deadline to accept or refuse it (core's `complaints::deadlines`).
//! No contact is asked for (see core's `complaints` module doc for why).
//!
//! Analysts list complaints with their deadlines and overdue flags at
//! `GET /v1/complaints`.
//!
//! Change kinds on the sync feed (pulled by inspectors whose regions cover
//! the shop's `region_code`; never by the merchant):
//!
//! * `complaint.received` `{complaint_id, merchant_id, merchant_name,
//!   region_code, category, category_zh, product, text, photo_sha256, received_on,
//!   accept_by, accept_within_working_days, handle_within_working_days,
//!   calendar_warning}`; the photo is read with `GET /v1/attachments/{sha256}`;
//! * `complaint.updated` `{complaint_id, status, decided_on, accept_by,
//!   handle_by, accept_overdue, handle_overdue, calendar_warning}` after an
//!   inspector's op (`crate::feedback::ops`).

use std::borrow::Cow;

use axum::extract::State;
use axum::http::StatusCode;
use base64::Engine as _;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::json;
use shian_core::complaints::{
    self, CloseResult, ComplaintCategory, ComplaintDates, ComplaintStatus, WorkCalendar,
    ACCEPT_WITHIN_WORKING_DAYS, HANDLE_WITHIN_WORKING_DAYS, PRODUCT_MAX_CHARS, TEXT_MAX_CHARS,
    TEXT_MIN_CHARS,
};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::{RefOr, Schema};
use utoipa::{IntoParams, PartialSchema, ToSchema};

use crate::auth::Auth;
use crate::errors::{ApiError, ErrorResponse};
use crate::extract::{Json, Path, Query};
use crate::field::risk::ANALYSTS;
use crate::photo::{self, PhotoError};
use crate::store::feedback::{CleanAttachment, ComplaintFilter, NewComplaint, StoredComplaint};
use crate::store::field::NewChange;
use crate::store::Merchant;
use crate::{validate, AppState};

/// The change kind that routes a complaint to its district's inspectors.
pub const RECEIVED_KIND: &str = "complaint.received";

/// [`ComplaintCategory`] in the OpenAPI: its wire values.
pub struct CategoryWire;

impl PartialSchema for CategoryWire {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some("投诉类别"))
            .enum_values(Some(ComplaintCategory::ALL.map(|c| c.as_str())))
            .into()
    }
}

impl ToSchema for CategoryWire {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("ComplaintCategory")
    }
}

/// [`ComplaintStatus`] in the OpenAPI.
pub struct StatusWire;

impl PartialSchema for StatusWire {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(ComplaintStatus::ALL.map(|c| c.as_str())))
            .into()
    }
}

impl ToSchema for StatusWire {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("ComplaintStatus")
    }
}

/// The complaint text's schema: what core's `check_text` accepts.
pub struct TextWire;

impl PartialSchema for TextWire {
    fn schema() -> RefOr<Schema> {
        use crate::openapi::wire::{CTRL, WS};
        // Control characters but tab, line feed and carriage return.
        let ctrl_inside = r"\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F";
        let (min, max) = (TEXT_MIN_CHARS - 2, TEXT_MAX_CHARS - 2);
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some(
                "5–1000 characters once trimmed; no control characters but tab and line breaks",
            ))
            .pattern(Some(format!(
                "^[{WS}]*[^{WS}{CTRL}][^{ctrl_inside}]{{{min},{max}}}[^{WS}{CTRL}][{WS}]*$"
            )))
            .into()
    }
}

impl ToSchema for TextWire {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("ComplaintText")
    }
}

/// The named product's schema: what core's `check_product` accepts (blank
/// is no product).
pub struct ProductWire;

impl PartialSchema for ProductWire {
    fn schema() -> RefOr<Schema> {
        use crate::openapi::wire::{CTRL, WS};
        let inner = PRODUCT_MAX_CHARS - 2;
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some(
                "the product complained about, as on the label or the price tag: \
                 at most 100 characters once trimmed, no control characters; blank is none \
                 (a bad one is 400 invalid_product)",
            ))
            .pattern(Some(format!(
                "^[{WS}]*(?:[^{WS}{CTRL}](?:[^{CTRL}]{{0,{inner}}}[^{WS}{CTRL}])?)?[{WS}]*$"
            )))
            .into()
    }
}

impl ToSchema for ProductWire {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("ComplaintProduct")
    }
}

/// Canonical standard base64 (padded), as [`BASE64`] decodes it.
pub const BASE64_PATTERN: &str = "^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$";

/// Standard padded base64; bits past the last byte are ignored (a JSON
/// Schema pattern cannot state that they must be zero).
const BASE64: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    base64::engine::GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
);

/// The photo's schema: base64 of the image bytes.
pub struct PhotoWire;

impl PartialSchema for PhotoWire {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some(
                "JPEG, PNG or WebP, standard padded base64; at most 5 MiB decoded; \
                 a photo that is not one is 422 not_an_image",
            ))
            .pattern(Some(BASE64_PATTERN))
            .into()
    }
}

impl ToSchema for PhotoWire {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("ComplaintPhoto")
    }
}

/// A complaint as sent by a consumer.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ComplaintRequest {
    #[schema(value_type = CategoryWire)]
    pub category: ComplaintCategory,
    /// 5–1000 characters once trimmed, no control characters but line
    /// breaks and tabs.
    #[schema(value_type = TextWire)]
    pub text: String,
    /// The product complained about (optional; the hot-topic warnings
    /// group complaints by it).
    #[serde(default)]
    #[schema(value_type = Option<ProductWire>)]
    pub product: Option<String>,
    /// A JPEG, PNG or WebP photo, standard padded base64 (at most 5 MiB
    /// decoded, and within the request body limit). Decoded and
    /// re-encoded: EXIF and all metadata are dropped.
    #[serde(default)]
    #[schema(value_type = Option<PhotoWire>)]
    pub photo: Option<String>,
}

/// What a consumer is told after filing.
#[derive(Debug, Serialize, ToSchema)]
pub struct ComplaintReceipt {
    pub complaint_id: String,
    #[schema(value_type = String, format = Date)]
    pub received_on: NaiveDate,
    /// Last day for the district to accept or refuse it (7 working days).
    #[schema(value_type = String, format = Date)]
    pub accept_by: NaiveDate,
    /// Set when the holiday calendar did not cover the dates (the deadline
    /// then counts Monday–Friday only).
    pub calendar_warning: Option<String>,
    /// SHA-256 of the stored (cleaned) photo.
    pub photo_sha256: Option<String>,
}

/// A complaint filed: what the pages and the JSON answer show.
pub(crate) struct Filed {
    pub receipt: ComplaintReceipt,
    pub category: ComplaintCategory,
    pub text: String,
}

fn calendar() -> Result<&'static WorkCalendar, ApiError> {
    WorkCalendar::builtin().map_err(ApiError::internal)
}

/// A photo refusal in the error shape, at `field`: 413 when too large,
/// otherwise 422 (bytes well-formed as base64 or a form part that are no
/// usable image break a rule no schema can state).
pub(crate) fn photo_error(e: &PhotoError, field: &str) -> ApiError {
    let status = match e {
        PhotoError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        PhotoError::NotAnImage | PhotoError::TooManyPixels | PhotoError::Corrupt(_) => {
            StatusCode::UNPROCESSABLE_ENTITY
        }
    };
    ApiError::new(status, e.code(), e.to_string()).at(field)
}

/// A complaint ready to store, with its 12315 acceptance deadline.
pub(crate) struct Routed {
    pub complaint: NewComplaint,
    pub accept_by: NaiveDate,
    pub calendar_warning: Option<String>,
}

/// The complaint row and the `complaint.received` change that routes it to
/// the inspectors of the shop's district, with its deadline counted from
/// `received_on` (the form: today; the demo: its planted dates). `text`
/// and `product` are already checked.
pub(crate) fn route(
    id: String,
    shop: &Merchant,
    category: ComplaintCategory,
    product: Option<String>,
    text: String,
    photo: Option<CleanAttachment>,
    received_on: NaiveDate,
) -> Result<Routed, ApiError> {
    let (accept_by, warning) =
        calendar()?.add_working_days_or_weekdays(received_on, ACCEPT_WITHIN_WORKING_DAYS);
    let warning = warning.map(|w| w.to_string());
    let photo_sha256 = photo.as_ref().map(|p| p.sha256.clone());
    let payload = json!({
        "complaint_id": id,
        "merchant_id": shop.id,
        "merchant_name": shop.name,
        "region_code": shop.region_code,
        "category": category.as_str(),
        "category_zh": category.label_zh(),
        "product": product,
        "text": text,
        "photo_sha256": photo_sha256,
        "received_on": received_on,
        "accept_by": accept_by,
        "accept_within_working_days": ACCEPT_WITHIN_WORKING_DAYS,
        "handle_within_working_days": HANDLE_WITHIN_WORKING_DAYS,
        "calendar_warning": warning,
    });
    Ok(Routed {
        complaint: NewComplaint {
            id,
            merchant_id: shop.id.clone(),
            category,
            product,
            text,
            photo,
            received_on,
            change: NewChange {
                kind: RECEIVED_KIND,
                // Not the merchant's feed: the district decides first.
                merchant_id: None,
                region_code: Some(shop.region_code.clone()),
                user_id: None,
                payload,
            },
        },
        accept_by,
        calendar_warning: warning,
    })
}

/// Checks and stores a complaint against `shop`: every check before
/// anything is written, then the complaint, its photo and its change in one
/// transaction.
pub(crate) async fn file(
    state: &AppState,
    shop: &Merchant,
    category: ComplaintCategory,
    product: Option<&str>,
    text: &str,
    photo: Option<&[u8]>,
) -> Result<Filed, ApiError> {
    let text =
        complaints::check_text(text).map_err(|m| ApiError::invalid("text", "invalid_text", m))?;
    let product = complaints::check_product(product.unwrap_or_default())
        .map_err(|m| ApiError::invalid("product", "invalid_product", m))?;
    let photo = match photo {
        Some(bytes) => {
            // Decoding is CPU work; keep it off the async workers.
            let bytes = bytes.to_vec();
            let clean = tokio::task::spawn_blocking(move || photo::clean(&bytes))
                .await
                .map_err(ApiError::internal)?
                .map_err(|e| photo_error(&e, "photo"))?;
            Some(CleanAttachment {
                sha256: clean.sha256,
                content_type: clean.media_type,
                data: clean.bytes,
            })
        }
        None => None,
    };
    // Random (v4), not time-ordered (v7): the id must not tell when it came.
    let id = uuid::Builder::from_random_bytes(rand::random())
        .into_uuid()
        .to_string();
    let routed = route(
        id,
        shop,
        category,
        product,
        text.clone(),
        photo,
        super::today(),
    )?;
    let (id, received_on, accept_by, warning) = (
        routed.complaint.id.clone(),
        routed.complaint.received_on,
        routed.accept_by,
        routed.calendar_warning.clone(),
    );
    let photo_sha256 = routed.complaint.photo.as_ref().map(|p| p.sha256.clone());
    state.store.add_complaint(routed.complaint).await?;
    // The complaint marked its merchant for the warnings; this evaluates
    // it. SQLite's store already ran the pass in the complaint's own
    // transaction, so here it finds no mark left (cheap); PostgreSQL's
    // store only marks, and the pass runs here, after the commit, as after
    // a sync push: the complaint stands even if the pass fails, and the
    // mark stays for the next one.
    crate::alerts::after_write(state).await;
    // The complaint weighs in the shop's grade: its page is rendered anew.
    state.page_cache.forget_shop(&shop.shop_code);
    Ok(Filed {
        receipt: ComplaintReceipt {
            complaint_id: id,
            received_on,
            accept_by,
            calendar_warning: warning,
            photo_sha256,
        },
        category,
        text,
    })
}

/// Files an anonymous complaint about a shop (anyone, no account; limited
/// per client address). It reaches the inspectors of the shop's district
/// by sync (`complaint.received`).
#[utoipa::path(
    post, path = "/v1/public/shops/{shop_code}/complaints", tag = "public",
    params(("shop_code" = crate::openapi::wire::Code, Path, description = "the code in the shop's QR")),
    request_body = ComplaintRequest,
    responses(
        (status = 201, body = ComplaintReceipt),
        (status = 400, body = ErrorResponse), (status = 404, body = ErrorResponse),
        (status = 413, description = "payload_too_large or photo_too_large", body = ErrorResponse),
        (status = 415, description = "unsupported_media_type", body = ErrorResponse),
        (status = 422, description = "code_check_mismatch, not_an_image, photo_corrupt or photo_dimensions_too_large", body = ErrorResponse),
        (status = 429, description = "rate_limited, with Retry-After", body = ErrorResponse),
    )
)]
pub async fn post_complaint(
    State(state): State<AppState>,
    Path(code): Path<String>,
    Json(req): Json<ComplaintRequest>,
) -> Result<(StatusCode, Json<ComplaintReceipt>), ApiError> {
    let shop = super::shop(&state, &code).await?;
    let photo = req
        .photo
        .as_deref()
        .map(|p| {
            BASE64.decode(p).map_err(|e| {
                ApiError::invalid("photo", "invalid_base64", format!("照片须为 base64：{e}"))
            })
        })
        .transpose()?;
    let filed = file(
        &state,
        &shop,
        req.category,
        req.product.as_deref(),
        &req.text,
        photo.as_deref(),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(filed.receipt)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ComplaintQuery {
    /// GB/T 2260; a province or city code covers everything under it.
    #[param(value_type = Option<crate::openapi::wire::RegionFilter>)]
    pub region: Option<String>,
    #[param(value_type = Option<StatusWire>)]
    pub status: Option<String>,
    /// 1..=1000, default 100.
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
    #[param(minimum = 0, maximum = 4294967295_u32)]
    pub offset: Option<u32>,
}

/// A complaint with its deadlines, as analysts and inspectors see it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ComplaintView {
    pub id: String,
    pub merchant_id: String,
    pub merchant_name: String,
    pub region_code: String,
    #[schema(value_type = CategoryWire)]
    pub category: ComplaintCategory,
    /// The product complained about, when named.
    pub product: Option<String>,
    pub text: String,
    pub photo_sha256: Option<String>,
    #[schema(value_type = StatusWire)]
    pub status: ComplaintStatus,
    #[schema(value_type = String, format = Date)]
    pub received_on: NaiveDate,
    #[schema(value_type = Option<String>, format = Date)]
    pub decided_on: Option<NaiveDate>,
    pub refusal_reason: Option<String>,
    #[schema(value_type = Option<String>, format = Date)]
    pub closed_on: Option<NaiveDate>,
    /// `rectified`, `case_opened`, `mediated` or `unfounded`.
    #[schema(value_type = Option<String>)]
    pub result: Option<CloseResult>,
    pub close_note: Option<String>,
    /// Last day to accept or refuse (7 working days after receipt).
    #[schema(value_type = String, format = Date)]
    pub accept_by: NaiveDate,
    /// Last day to finish, once accepted (45 working days after acceptance).
    #[schema(value_type = Option<String>, format = Date)]
    pub handle_by: Option<NaiveDate>,
    /// Decided after `accept_by`, or still undecided past it.
    pub accept_overdue: bool,
    /// Not closed by `handle_by`.
    pub handle_overdue: bool,
    pub calendar_warning: Option<String>,
}

/// A stored complaint with its deadlines as of `today`.
pub(crate) fn view(cal: &WorkCalendar, c: StoredComplaint, today: NaiveDate) -> ComplaintView {
    let d = complaints::deadlines(
        cal,
        ComplaintDates {
            received_on: c.received_on,
            decided_on: c.decided_on,
            status: c.status,
            closed_on: c.closed_on,
        },
        today,
    );
    ComplaintView {
        id: c.id,
        merchant_id: c.merchant_id,
        merchant_name: c.merchant_name,
        region_code: c.region_code,
        category: c.category,
        product: c.product,
        text: c.text,
        photo_sha256: c.photo_sha256,
        status: c.status,
        received_on: c.received_on,
        decided_on: c.decided_on,
        refusal_reason: c.refusal_reason,
        closed_on: c.closed_on,
        result: c.result,
        close_note: c.close_note,
        accept_by: d.accept_by,
        handle_by: d.handle_by,
        accept_overdue: d.accept_overdue,
        handle_overdue: d.handle_overdue,
        calendar_warning: d.warning,
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ComplaintList {
    pub complaints: Vec<ComplaintView>,
    /// Complaints matching the filters (before paging).
    pub total: u64,
    /// How many of the listed ones are overdue (either deadline).
    pub overdue: u64,
    /// The holiday calendar's version the deadlines come from.
    pub calendar_version: u32,
}

/// Complaints, newest first, with their 12315 deadlines and overdue flags
/// (analysts and admins).
#[utoipa::path(
    get, path = "/v1/complaints", tag = "public", params(ComplaintQuery), security(("bearer" = [])),
    responses(
        (status = 200, body = ComplaintList),
        (status = 400, body = ErrorResponse), (status = 401, body = ErrorResponse), (status = 403, body = ErrorResponse),
    )
)]
pub async fn list_complaints(
    State(state): State<AppState>,
    auth: Auth,
    Query(q): Query<ComplaintQuery>,
) -> Result<Json<ComplaintList>, ApiError> {
    auth.require(ANALYSTS)?;
    let limit = crate::paging::limit(q.limit)?;
    let region = q
        .region
        .as_deref()
        .filter(|s| !s.trim().is_empty())
        .map(|s| validate::validate_region_code(s, "region"))
        .transpose()?;
    let status = match q.status.as_deref().filter(|s| !s.trim().is_empty()) {
        None => None,
        Some(s) => Some(ComplaintStatus::parse(s.trim()).ok_or_else(|| {
            ApiError::invalid(
                "status",
                "invalid_query",
                "status 应为 received、accepted、refused 或 closed",
            )
        })?),
    };
    let page = state
        .store
        .list_complaints(ComplaintFilter {
            region,
            status,
            limit,
            offset: q.offset.unwrap_or(0),
        })
        .await?;
    let cal = calendar()?;
    let today = super::today();
    let complaints: Vec<ComplaintView> = page
        .items
        .into_iter()
        .map(|c| view(cal, c, today))
        .collect();
    Ok(Json(ComplaintList {
        overdue: complaints
            .iter()
            .filter(|c| c.accept_overdue || c.handle_overdue)
            .count() as u64,
        complaints,
        total: page.total,
        calendar_version: cal.version(),
    }))
}

/// The text limits, for the form's `minlength`/`maxlength`.
pub(crate) const TEXT_LIMITS: (usize, usize) = (TEXT_MIN_CHARS, TEXT_MAX_CHARS);
