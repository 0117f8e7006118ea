//! Anonymous reports (吹哨人, issue 12 item 5): the reporter's routes and the
//! analysts' handling routes, in JSON.
//!
//! Reporter: `POST /v1/reports` answers `201 {receipt}`, the one key to the
//! report, shown once and stored only as a slow hash ([`receipt`]); with it
//! `GET /v1/reports/{receipt}` (status, messages, deadlines),
//! `POST /v1/reports/{receipt}/messages` and `…/photos`. These routes are
//! limited per client address in memory only ([`crate::rate_limit`]), log at
//! most method, route template and status ([`crate::metrics::track`]), and
//! store nothing about the sender: no address, agent, forwarded-for header or
//! receipt, and days rather than times (see [`crate::store::reports`]).
//! A receipt sits in these paths: a reverse proxy in front must not log
//! them (the H5 follow-up page sends it in a form body instead).
//!
//! Handlers (analysts, admins): `GET /v1/reports` (list with deadline
//! flags), `GET /v1/handler/reports/{id}`, and `POST …/{id}/triage`,
//! `/reply`, `/assign` (an inspection task reaches the inspector's phone by
//! sync: change kind `task` with `source: "report"`, addressed to that
//! inspector), `/close`. Deadlines are core's ([`shian_core::reports`]).

pub mod receipt;
pub mod service;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use shian_core::reports::{self as rules, DeadlineState, Deadlines, Priority, ReportStatus};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::{RefOr, Schema};
use utoipa::{IntoParams, PartialSchema, ToSchema};

use crate::auth::Auth;
use crate::errors::{ApiError, ErrorResponse};
use crate::extract::{Json, Path, Query};
use crate::store::reports::{Author, ReportAction, ReportFilter, StoredReport};
use crate::store::Role;
use crate::AppState;

/// Who may handle reports.
pub const HANDLERS: &[Role] = &[Role::Admin, Role::Analyst];

/// A category code (`shian_core::reports::CATEGORIES`).
pub struct CategoryCode;

impl PartialSchema for CategoryCode {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some("问题类型 (report category)"))
            .enum_values(Some(rules::CATEGORIES.iter().map(|(c, _)| *c)))
            .into()
    }
}

impl ToSchema for CategoryCode {
    fn name() -> std::borrow::Cow<'static, str> {
        std::borrow::Cow::Borrowed("ReportCategory")
    }
}

/// A report as the reporter sends it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportIn {
    #[schema(value_type = CategoryCode)]
    pub category: String,
    /// 10–2000 characters once trimmed; line breaks kept, other control
    /// characters refused (422).
    pub description: String,
    /// The shop's 16-symbol code (from its QR), if known; a malformed code
    /// or a failed check symbol is 422 `invalid_shop_code`.
    #[schema(max_length = 100)]
    pub merchant_ref: Option<String>,
    /// Where, in words (market, stall), at most 200 characters.
    pub location: Option<String>,
    /// `YYYY-MM-DD` or an RFC 3339 instant (stored as its day in China);
    /// not after today (422).
    #[schema(max_length = 100)]
    pub occurred_at: Option<String>,
}

/// One deadline with its state.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeadlineOut {
    #[schema(value_type = String, format = Date)]
    pub due: NaiveDate,
    /// `met`, `met_late`, `pending`, `due_soon` or `overdue`.
    pub state: &'static str,
    /// Whether to warn (`due_soon` or `overdue`).
    pub warn: bool,
}

/// The two deadlines of Directive (EU) 2019/1937 Art. 9(1)(b) and (f).
#[derive(Debug, Serialize, ToSchema)]
pub struct DeadlinesOut {
    /// Acknowledge receipt within 7 days.
    pub acknowledge: DeadlineOut,
    /// Feedback within 3 months of the acknowledgement.
    pub feedback: DeadlineOut,
}

impl From<Deadlines> for DeadlinesOut {
    fn from(d: Deadlines) -> Self {
        let one = |x: rules::Deadline| DeadlineOut {
            due: x.due,
            state: x.state.as_str(),
            warn: x.state.is_warning(),
        };
        DeadlinesOut {
            acknowledge: one(d.acknowledge),
            feedback: one(d.feedback),
        }
    }
}

/// What `POST /v1/reports` answers: the receipt, shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReportFiled {
    /// `XXXXX-XXXXX-XXXXX-XXXXX`: keep it; it is the only way back to the
    /// report and cannot be recovered.
    pub receipt: String,
    pub deadlines: DeadlinesOut,
}

/// One message of the conversation.
#[derive(Debug, Serialize, ToSchema)]
pub struct MessageOut {
    pub seq: i64,
    /// `reporter` or `handler`.
    pub from: &'static str,
    pub body: String,
    #[schema(value_type = String, format = Date)]
    pub sent_on: NaiveDate,
}

/// The report as its reporter sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReporterView {
    /// `received`, `acknowledged`, `investigating` or `closed`.
    pub status: &'static str,
    pub category: String,
    pub description: String,
    #[schema(value_type = String, format = Date)]
    pub received_on: NaiveDate,
    pub messages: Vec<MessageOut>,
    pub photos: u32,
    pub deadlines: DeadlinesOut,
}

fn messages(r: &StoredReport) -> Vec<MessageOut> {
    r.messages
        .iter()
        .map(|m| MessageOut {
            seq: m.seq,
            from: m.author.as_str(),
            body: m.body.clone(),
            sent_on: m.sent_on,
        })
        .collect()
}

impl ReporterView {
    pub fn of(r: &StoredReport) -> ReporterView {
        ReporterView {
            status: r.status.as_str(),
            category: r.category.clone(),
            description: r.description.clone(),
            received_on: r.received_on,
            messages: messages(r),
            photos: r.photos.len() as u32,
            deadlines: service::deadlines_of(r, service::today()).into(),
        }
    }
}

/// A photo of a report (the bytes at `GET /v1/handler/reports/{id}/photos/{seq}`).
#[derive(Debug, Serialize, ToSchema)]
pub struct PhotoOut {
    pub seq: i64,
    pub sha256: String,
    pub size: u64,
    pub width: u32,
    pub height: u32,
}

/// The report as a handler sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct HandlerView {
    pub id: String,
    pub status: &'static str,
    pub priority: &'static str,
    pub category: String,
    pub description: String,
    pub merchant_ref: Option<String>,
    pub merchant_id: Option<String>,
    pub merchant_name: Option<String>,
    pub location: Option<String>,
    #[schema(value_type = Option<String>, format = Date)]
    pub occurred_on: Option<NaiveDate>,
    #[schema(value_type = String, format = Date)]
    pub received_on: NaiveDate,
    #[schema(value_type = Option<String>, format = Date)]
    pub acknowledged_on: Option<NaiveDate>,
    #[schema(value_type = Option<String>, format = Date)]
    pub closed_on: Option<NaiveDate>,
    pub close_note: Option<String>,
    pub assigned_to: Option<String>,
    pub task_id: Option<String>,
    pub deadlines: DeadlinesOut,
    /// Present in `GET /v1/handler/reports/{id}`, empty in the list.
    pub messages: Vec<MessageOut>,
    pub photos: Vec<PhotoOut>,
}

impl HandlerView {
    pub fn of(r: &StoredReport) -> HandlerView {
        HandlerView {
            id: r.id.clone(),
            status: r.status.as_str(),
            priority: r.priority.as_str(),
            category: r.category.clone(),
            description: r.description.clone(),
            merchant_ref: r.merchant_ref.clone(),
            merchant_id: r.merchant_id.clone(),
            merchant_name: r.merchant_name.clone(),
            location: r.location.clone(),
            occurred_on: r.occurred_on,
            received_on: r.received_on,
            acknowledged_on: r.acknowledged_on,
            closed_on: r.closed_on,
            close_note: r.close_note.clone(),
            assigned_to: r.assigned_to.clone(),
            task_id: r.task_id.clone(),
            deadlines: service::deadlines_of(r, service::today()).into(),
            messages: messages(r),
            photos: r
                .photos
                .iter()
                .map(|p| PhotoOut {
                    seq: p.seq,
                    sha256: p.sha256.clone(),
                    size: p.size,
                    width: p.width,
                    height: p.height,
                })
                .collect(),
        }
    }
}

/// The receipt in a path: what a person typed (folded like codes: lower
/// case, spaces, hyphens, full width). A malformed receipt is 422
/// `invalid_receipt`, a failed check symbol 422 `receipt_check_mismatch`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ReceiptPath {
    #[param(max_length = 64)]
    pub receipt: String,
}

const RECEIPT_ERRORS: &str =
    "invalid_receipt, receipt_check_mismatch (a typo: the check symbol does not match)";

/// File an anonymous report; the answer holds the receipt, once.
#[utoipa::path(
    post, path = "/v1/reports", tag = "reports",
    request_body = ReportIn,
    responses(
        (status = 201, body = ReportFiled),
        (status = 400, description = "malformed JSON", body = ErrorResponse),
        (status = 422, description = "invalid_category, too_short, too_long, invalid_characters, invalid_shop_code, invalid_date, date_in_future", body = ErrorResponse),
        (status = 429, description = "rate_limited (per client address, in memory)", body = ErrorResponse),
    )
)]
pub async fn create_report(
    State(state): State<AppState>,
    Json(r): Json<ReportIn>,
) -> Result<Response, ApiError> {
    let filed = service::file(
        &state,
        service::ReportInput {
            category: r.category,
            description: r.description,
            merchant_ref: r.merchant_ref,
            location: r.location,
            occurred_at: r.occurred_at,
        },
        Vec::new(),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        [(header::CACHE_CONTROL, "no-store")],
        Json(ReportFiled {
            receipt: filed.receipt,
            deadlines: filed.deadlines.into(),
        }),
    )
        .into_response())
}

/// The report a receipt opens: status, messages, deadlines.
#[utoipa::path(
    get, path = "/v1/reports/{receipt}", tag = "reports", params(ReceiptPath),
    responses(
        (status = 200, body = ReporterView),
        (status = 404, description = "no report has this receipt", body = ErrorResponse),
        (status = 422, description = RECEIPT_ERRORS, body = ErrorResponse),
        (status = 429, description = "rate_limited", body = ErrorResponse),
    )
)]
pub async fn get_report(
    State(state): State<AppState>,
    Path(p): Path<ReceiptPath>,
) -> Result<Response, ApiError> {
    let r = service::find(&state, &p.receipt).await?;
    Ok(no_store(Json(ReporterView::of(&r))))
}

fn no_store(body: impl IntoResponse) -> Response {
    ([(header::CACHE_CONTROL, "no-store")], body).into_response()
}

/// A message.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MessageIn {
    /// 1–2000 characters once trimmed (422 otherwise).
    pub body: String,
}

/// The reporter answers the handler.
#[utoipa::path(
    post, path = "/v1/reports/{receipt}/messages", tag = "reports", params(ReceiptPath),
    request_body = MessageIn,
    responses(
        (status = 201, body = ReporterView),
        (status = 400, description = "malformed JSON", body = ErrorResponse),
        (status = 404, body = ErrorResponse),
        (status = 409, description = "report_closed", body = ErrorResponse),
        (status = 422, description = "invalid_receipt, receipt_check_mismatch, too_short, too_long, invalid_characters", body = ErrorResponse),
        (status = 429, body = ErrorResponse),
    )
)]
pub async fn post_message(
    State(state): State<AppState>,
    Path(p): Path<ReceiptPath>,
    Json(m): Json<MessageIn>,
) -> Result<Response, ApiError> {
    let r = service::reporter_message(&state, &p.receipt, &m.body).await?;
    Ok((StatusCode::CREATED, no_store(Json(ReporterView::of(&r)))).into_response())
}

/// Reads at most `limit` bytes of a body; more is 413.
pub async fn read_photo(body: Body) -> Result<Vec<u8>, ApiError> {
    axum::body::to_bytes(body, crate::photo::MAX_PHOTO_BYTES)
        .await
        .map(|b| b.to_vec())
        .map_err(|_| ApiError::payload_too_large(crate::photo::MAX_PHOTO_BYTES))
}

/// Adds a photo: JPEG, PNG or WebP, at most 5 MiB, re-encoded on the
/// server so that EXIF (GPS, camera serial) and every other metadata block
/// is gone before it is stored.
#[utoipa::path(
    post, path = "/v1/reports/{receipt}/photos", tag = "reports", params(ReceiptPath),
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "the image bytes (JPEG, PNG or WebP), at most 5 MiB"),
    responses(
        (status = 201, body = ReporterView),
        (status = 404, body = ErrorResponse),
        (status = 409, description = "photos_not_accepted: closed, or 5 photos already", body = ErrorResponse),
        (status = 413, description = "photo_too_large", body = ErrorResponse),
        (status = 415, description = "not_an_image", body = ErrorResponse),
        (status = 422, description = "invalid_receipt, receipt_check_mismatch, photo_dimensions_too_large, photo_corrupt", body = ErrorResponse),
        (status = 429, body = ErrorResponse),
    )
)]
pub async fn post_photo(
    State(state): State<AppState>,
    Path(p): Path<ReceiptPath>,
    body: Body,
) -> Result<Response, ApiError> {
    let bytes = read_photo(body).await?;
    let r = service::reporter_photo(&state, &p.receipt, bytes).await?;
    Ok((StatusCode::CREATED, no_store(Json(ReporterView::of(&r)))).into_response())
}

// ---------------------------------------------------------------------------
// Handlers' side
// ---------------------------------------------------------------------------

/// Status filter and page of the list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// `received`, `acknowledged`, `investigating` or `closed`.
    pub status: Option<StatusWire>,
    /// 1..=500, default 100.
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    #[param(minimum = 0, maximum = 4294967295_u32)]
    pub offset: Option<u32>,
}

/// A report's status on the wire.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StatusWire {
    Received,
    Acknowledged,
    Investigating,
    Closed,
}

impl From<StatusWire> for ReportStatus {
    fn from(s: StatusWire) -> Self {
        match s {
            StatusWire::Received => ReportStatus::Received,
            StatusWire::Acknowledged => ReportStatus::Acknowledged,
            StatusWire::Investigating => ReportStatus::Investigating,
            StatusWire::Closed => ReportStatus::Closed,
        }
    }
}

/// A priority on the wire.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PriorityWire {
    Low,
    Normal,
    High,
    Urgent,
}

impl From<PriorityWire> for Priority {
    fn from(p: PriorityWire) -> Self {
        match p {
            PriorityWire::Low => Priority::Low,
            PriorityWire::Normal => Priority::Normal,
            PriorityWire::High => Priority::High,
            PriorityWire::Urgent => Priority::Urgent,
        }
    }
}

/// A page of reports.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReportList {
    pub reports: Vec<HandlerView>,
    pub total: u64,
    /// Reports of this page with a deadline due soon or overdue.
    pub warnings: u64,
}

/// Reports for handlers, newest first, with their deadline flags.
#[utoipa::path(
    get, path = "/v1/reports", tag = "reports", params(ListQuery), security(("bearer" = [])),
    responses(
        (status = 200, body = ReportList),
        (status = 400, body = ErrorResponse), (status = 401, body = ErrorResponse), (status = 403, body = ErrorResponse),
    )
)]
pub async fn list_reports(
    State(state): State<AppState>,
    auth: Auth,
    Query(q): Query<ListQuery>,
) -> Result<Json<ReportList>, ApiError> {
    auth.require(HANDLERS)?;
    let list = list(&state, q.status.map(Into::into), q.limit, q.offset).await?;
    Ok(Json(list))
}

/// The list as [`list_reports`] answers it (pages use it too).
pub async fn list(
    state: &AppState,
    status: Option<ReportStatus>,
    limit: Option<u32>,
    offset: Option<u32>,
) -> Result<ReportList, ApiError> {
    let limit = limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::invalid(
            "limit",
            "invalid_limit",
            "limit 应在 1 到 500 之间",
        ));
    }
    let (rows, total) = state
        .store
        .list_reports(ReportFilter {
            status,
            limit,
            offset: offset.unwrap_or(0),
        })
        .await?;
    let reports: Vec<HandlerView> = rows.iter().map(HandlerView::of).collect();
    let warnings = reports
        .iter()
        .filter(|r| r.deadlines.acknowledge.warn || r.deadlines.feedback.warn)
        .count() as u64;
    Ok(ReportList {
        reports,
        total,
        warnings,
    })
}

/// A report's id (not its receipt: handlers never see that).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct IdPath {
    #[param(pattern = "^[0-9a-f]{32}$")]
    pub id: String,
}

/// One report with its messages and photos.
#[utoipa::path(
    get, path = "/v1/handler/reports/{id}", tag = "reports", params(IdPath), security(("bearer" = [])),
    responses(
        (status = 200, body = HandlerView),
        (status = 401, body = ErrorResponse), (status = 403, body = ErrorResponse), (status = 404, body = ErrorResponse),
    )
)]
pub async fn get_handled(
    State(state): State<AppState>,
    auth: Auth,
    Path(p): Path<IdPath>,
) -> Result<Json<HandlerView>, ApiError> {
    auth.require(HANDLERS)?;
    let r = state
        .store
        .report(p.id)
        .await?
        .ok_or_else(|| ApiError::not_found("举报"))?;
    Ok(Json(HandlerView::of(&r)))
}

/// A photo's number within its report.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct PhotoPath {
    #[param(pattern = "^[0-9a-f]{32}$")]
    pub id: String,
    #[param(minimum = 1, maximum = 9223372036854775807_i64)]
    pub seq: i64,
}

/// A report's photo (cleaned JPEG).
#[utoipa::path(
    get, path = "/v1/handler/reports/{id}/photos/{seq}", tag = "reports", params(PhotoPath), security(("bearer" = [])),
    responses(
        (status = 200, description = "the JPEG", content_type = "image/jpeg"),
        (status = 400, body = ErrorResponse), (status = 401, body = ErrorResponse), (status = 403, body = ErrorResponse), (status = 404, body = ErrorResponse),
    )
)]
pub async fn get_photo(
    State(state): State<AppState>,
    auth: Auth,
    Path(p): Path<PhotoPath>,
) -> Result<Response, ApiError> {
    auth.require(HANDLERS)?;
    photo_response(&state, p.id, p.seq).await
}

/// The photo's bytes as `image/jpeg` (they were re-encoded as JPEG).
pub async fn photo_response(state: &AppState, id: String, seq: i64) -> Result<Response, ApiError> {
    let bytes = state
        .store
        .report_photo(id, seq)
        .await?
        .ok_or_else(|| ApiError::not_found("照片"))?;
    Ok((
        [
            (header::CONTENT_TYPE, "image/jpeg"),
            (header::CACHE_CONTROL, "private, no-store"),
        ],
        bytes,
    )
        .into_response())
}

/// Triage: move the status on, set the category or priority.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TriageIn {
    /// Forward only (`received` → `acknowledged` → `investigating`); closing
    /// is `/close` (409 `invalid_transition` otherwise).
    pub status: Option<StatusWire>,
    #[schema(value_type = Option<CategoryCode>)]
    pub category: Option<String>,
    pub priority: Option<PriorityWire>,
}

/// An inspector to hand the report to.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignIn {
    #[schema(max_length = 64)]
    pub inspector_id: String,
}

/// The closing note (sent to the reporter as a message too).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CloseIn {
    /// 1–2000 characters once trimmed.
    pub note: String,
}

async fn act(
    state: &AppState,
    auth: &Auth,
    id: &str,
    action: ReportAction,
) -> Result<Json<HandlerView>, ApiError> {
    auth.require(HANDLERS)?;
    let r = service::act(state, id, action, &auth.user_id).await?;
    Ok(Json(HandlerView::of(&r)))
}

/// Triage a report.
#[utoipa::path(
    post, path = "/v1/handler/reports/{id}/triage", tag = "reports", params(IdPath), security(("bearer" = [])),
    request_body = TriageIn,
    responses(
        (status = 200, body = HandlerView),
        (status = 400, body = ErrorResponse), (status = 401, body = ErrorResponse), (status = 403, body = ErrorResponse), (status = 404, body = ErrorResponse),
        (status = 409, description = "invalid_transition, report_closed", body = ErrorResponse),
        (status = 422, description = "invalid_category, nothing_to_change", body = ErrorResponse),
    )
)]
pub async fn triage(
    State(state): State<AppState>,
    auth: Auth,
    Path(p): Path<IdPath>,
    Json(t): Json<TriageIn>,
) -> Result<Json<HandlerView>, ApiError> {
    let action = ReportAction::Triage {
        status: t.status.map(Into::into),
        category: t.category,
        priority: t.priority.map(Into::into),
    };
    act(&state, &auth, &p.id, action).await
}

/// Reply to the reporter (feedback, Art. 9(1)(f)).
#[utoipa::path(
    post, path = "/v1/handler/reports/{id}/reply", tag = "reports", params(IdPath), security(("bearer" = [])),
    request_body = MessageIn,
    responses(
        (status = 200, body = HandlerView),
        (status = 400, body = ErrorResponse), (status = 401, body = ErrorResponse), (status = 403, body = ErrorResponse), (status = 404, body = ErrorResponse),
        (status = 409, description = "report_closed", body = ErrorResponse),
        (status = 422, description = "too_short, too_long, invalid_characters", body = ErrorResponse),
    )
)]
pub async fn reply(
    State(state): State<AppState>,
    auth: Auth,
    Path(p): Path<IdPath>,
    Json(m): Json<MessageIn>,
) -> Result<Json<HandlerView>, ApiError> {
    act(&state, &auth, &p.id, ReportAction::Reply { body: m.body }).await
}

/// Hand the report to an inspector: a `task` change reaches that
/// inspector's phone by sync.
#[utoipa::path(
    post, path = "/v1/handler/reports/{id}/assign", tag = "reports", params(IdPath), security(("bearer" = [])),
    request_body = AssignIn,
    responses(
        (status = 200, body = HandlerView),
        (status = 400, body = ErrorResponse), (status = 401, body = ErrorResponse), (status = 403, body = ErrorResponse), (status = 404, body = ErrorResponse),
        (status = 409, description = "report_closed", body = ErrorResponse),
        (status = 422, description = "not_an_inspector", body = ErrorResponse),
    )
)]
pub async fn assign(
    State(state): State<AppState>,
    auth: Auth,
    Path(p): Path<IdPath>,
    Json(a): Json<AssignIn>,
) -> Result<Json<HandlerView>, ApiError> {
    act(
        &state,
        &auth,
        &p.id,
        ReportAction::Assign {
            inspector_id: a.inspector_id,
        },
    )
    .await
}

/// Close the report with a note to the reporter.
#[utoipa::path(
    post, path = "/v1/handler/reports/{id}/close", tag = "reports", params(IdPath), security(("bearer" = [])),
    request_body = CloseIn,
    responses(
        (status = 200, body = HandlerView),
        (status = 400, body = ErrorResponse), (status = 401, body = ErrorResponse), (status = 403, body = ErrorResponse), (status = 404, body = ErrorResponse),
        (status = 409, description = "report_closed", body = ErrorResponse),
        (status = 422, description = "too_short, too_long, invalid_characters", body = ErrorResponse),
    )
)]
pub async fn close(
    State(state): State<AppState>,
    auth: Auth,
    Path(p): Path<IdPath>,
    Json(c): Json<CloseIn>,
) -> Result<Json<HandlerView>, ApiError> {
    act(&state, &auth, &p.id, ReportAction::Close { note: c.note }).await
}

/// Who wrote a message, in Chinese, for pages.
pub fn author_zh(a: Author) -> &'static str {
    match a {
        Author::Reporter => "举报人",
        Author::Handler => "处理人员",
    }
}

/// The state's Chinese, for pages.
pub fn state_zh(s: &str) -> &'static str {
    [
        DeadlineState::Met,
        DeadlineState::MetLate,
        DeadlineState::Pending,
        DeadlineState::DueSoon,
        DeadlineState::Overdue,
    ]
    .into_iter()
    .find(|x| x.as_str() == s)
    .map_or("", DeadlineState::zh)
}
