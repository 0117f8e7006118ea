//! The reporter's H5 pages (吹哨人), zh-CN, working without JavaScript:
//!
//! - `GET /report`: the form (category, description, shop code, place,
//!   date, one photo), sent as `multipart/form-data` to `POST /report`;
//! - the answer is the receipt page: the receipt big and grouped, "请立即保存
//!   此回执码", a text-file download (a `data:` link, so the receipt does not
//!   travel again) and print styles; the only way on is a form whose "我已保存"
//!   checkbox is `required`, and the header and footer links are disabled
//!   there (GlobaLeaks users lose receipts exactly at this step);
//! - `GET /report/follow`: type the receipt; `POST /report/follow` shows the
//!   status and messages with forms to answer and add a photo. The receipt
//!   travels only in form bodies, never in a URL (proxies log URLs).
//!
//! Every page is `Cache-Control: no-store` and `Referrer-Policy:
//! no-referrer`. The POST routes are limited per client address in memory
//! ([`crate::rate_limit`]) like the JSON routes, with their own bucket.

use askama::Template;
use axum::extract::{DefaultBodyLimit, Multipart, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;
use shian_core::reports::{self as rules, ReportStatus};

use crate::errors::ApiError;
use crate::photo::{CleanPhoto, MAX_PHOTO_BYTES};
use crate::reports::receipt::GROUP_LEN;
use crate::reports::{author_zh, service};
use crate::store::reports::StoredReport;
use crate::{rate_limit, AppState, Config};

/// The reporter's page routes.
pub fn router() -> Router<AppState> {
    let config = Config::default();
    let limited = Router::new()
        .route("/report", post(submit))
        .route("/report/follow", post(follow))
        .route("/report/follow/message", post(message))
        .route("/report/follow/photo", post(photo))
        // A photo of 5 MiB and the form fields around it.
        .layer(DefaultBodyLimit::max(MAX_PHOTO_BYTES + 64 * 1024))
        .route_layer(rate_limit::per_client_address(
            config.report_rate_burst,
            config.report_rate_period,
            &config.clients,
        ));
    Router::new()
        .route("/report", get(form))
        .route("/report/follow", get(follow_form))
        .merge(limited)
}

/// A page that no cache keeps and that tells no other site where the
/// reader came from.
fn private_page(status: StatusCode, t: &impl Template) -> Response {
    match t.render() {
        Ok(body) => (
            status,
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/html; charset=utf-8"),
                ),
                (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
                (
                    header::REFERRER_POLICY,
                    HeaderValue::from_static("no-referrer"),
                ),
            ],
            body,
        )
            .into_response(),
        Err(e) => ApiError::internal(e).into_response(),
    }
}

#[derive(Template, Default)]
#[template(path = "report_form.html")]
struct FormPage {
    categories: &'static [(&'static str, &'static str)],
    error: Option<String>,
    category: String,
    description: String,
    merchant_ref: String,
    location: String,
    occurred_at: String,
    today: String,
}

impl FormPage {
    fn new() -> FormPage {
        FormPage {
            categories: rules::CATEGORIES,
            today: service::today().to_string(),
            ..FormPage::default()
        }
    }
}

async fn form() -> Response {
    private_page(StatusCode::OK, &FormPage::new())
}

#[derive(Template)]
#[template(path = "report_receipt.html")]
struct ReceiptPage {
    groups: Vec<String>,
    /// The text file's content, percent-encoded for the `data:` link.
    download: String,
    acknowledge_by: String,
    feedback_by: String,
}

/// RFC 3986 unreserved characters stay, every other byte is `%XX`: safe
/// in a `data:` URL and unchanged by HTML escaping.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A form field that failed to read: the request is malformed (400).
fn unreadable(e: impl std::fmt::Display) -> ApiError {
    ApiError::bad_request(
        "invalid_form",
        format!("表单无法读取 (unreadable form): {e}"),
    )
}

/// The fields of the multipart form; a photo is read up to its limit.
async fn read_form(
    mut mp: Multipart,
) -> Result<(service::ReportInput, Option<Vec<u8>>, Option<String>), ApiError> {
    let mut input = service::ReportInput::default();
    let mut photo = None;
    let mut receipt = None;
    while let Some(field) = mp.next_field().await.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::payload_too_large(MAX_PHOTO_BYTES)
        } else {
            unreadable(e)
        }
    })? {
        let name = field.name().unwrap_or_default().to_owned();
        if name == "photo" {
            let bytes = field.bytes().await.map_err(|e| {
                if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::payload_too_large(MAX_PHOTO_BYTES)
                } else {
                    unreadable(e)
                }
            })?;
            // A file input left empty sends an empty part.
            if !bytes.is_empty() {
                photo = Some(bytes.to_vec());
            }
            continue;
        }
        let value = field.text().await.map_err(unreadable)?;
        match name.as_str() {
            "category" => input.category = value,
            "description" => input.description = value,
            "merchant_ref" => input.merchant_ref = Some(value),
            "location" => input.location = Some(value),
            "occurred_at" => input.occurred_at = Some(value),
            "receipt" => receipt = Some(value),
            _ => {}
        }
    }
    Ok((input, photo, receipt))
}

/// The message of an error for a person: the field's own words.
fn say(e: &ApiError) -> String {
    if e.status == StatusCode::PAYLOAD_TOO_LARGE {
        format!(
            "照片过大：最多 {} MB (photo too large)",
            MAX_PHOTO_BYTES / 1024 / 1024
        )
    } else if e.status == StatusCode::NOT_FOUND {
        "查无此回执码：请核对后重试。".to_owned()
    } else {
        e.message.clone()
    }
}

async fn submit(State(state): State<AppState>, mp: Multipart) -> Response {
    let (input, photo, _) = match read_form(mp).await {
        Ok(x) => x,
        Err(e) => return form_error(e, service::ReportInput::default()),
    };
    let kept = input.clone();
    let photos: Vec<CleanPhoto> = match photo {
        None => Vec::new(),
        Some(bytes) => match service::clean_photo(bytes).await {
            Ok(p) => vec![p],
            Err(e) => return form_error(e, kept),
        },
    };
    match service::file(&state, input, photos).await {
        Ok(filed) => {
            let canonical: String = filed.receipt.chars().filter(|c| *c != '-').collect();
            let groups = canonical
                .as_bytes()
                .chunks(GROUP_LEN)
                .map(|g| String::from_utf8_lossy(g).into_owned())
                .collect();
            let text = format!(
                "食安 Shian 匿名举报回执码\r\n\r\n{}\r\n\r\n凭此码在 /report/follow 查看处理进展。丢失后无法找回，请妥善保管，勿告诉他人。\r\n",
                filed.receipt
            );
            private_page(
                StatusCode::OK,
                &ReceiptPage {
                    groups,
                    download: percent_encode(&text),
                    acknowledge_by: filed.deadlines.acknowledge.due.to_string(),
                    feedback_by: filed.deadlines.feedback.due.to_string(),
                },
            )
        }
        Err(e) => form_error(e, kept),
    }
}

/// The form again with what was typed and why it was refused.
fn form_error(e: ApiError, input: service::ReportInput) -> Response {
    if e.status.is_server_error() {
        return e.into_response();
    }
    let page = FormPage {
        error: Some(say(&e)),
        category: input.category,
        description: input.description,
        merchant_ref: input.merchant_ref.unwrap_or_default(),
        location: input.location.unwrap_or_default(),
        occurred_at: input.occurred_at.unwrap_or_default(),
        ..FormPage::new()
    };
    private_page(e.status, &page)
}

#[derive(Template)]
#[template(path = "report_follow.html")]
struct FollowPage {
    error: Option<String>,
    typed: String,
}

async fn follow_form() -> Response {
    private_page(
        StatusCode::OK,
        &FollowPage {
            error: None,
            typed: String::new(),
        },
    )
}

struct MessageView {
    from: &'static str,
    sent_on: String,
    body: String,
}

#[derive(Template)]
#[template(path = "report_status.html")]
struct StatusPage {
    notice: Option<String>,
    error: Option<String>,
    /// Sent back in the answer forms' hidden field, as typed once more.
    receipt: String,
    status: &'static str,
    category: &'static str,
    received_on: String,
    description: String,
    photos: usize,
    messages: Vec<MessageView>,
    open: bool,
    warnings: Vec<String>,
    acknowledge: String,
    feedback: String,
}

fn status_page(
    r: &StoredReport,
    receipt: &str,
    notice: Option<String>,
    error: Option<String>,
) -> StatusPage {
    let d = service::deadlines_of(r, service::today());
    let mut warnings = Vec::new();
    if d.acknowledge.state.is_warning() {
        warnings.push(format!(
            "确认收到的期限 {}：{}",
            d.acknowledge.due,
            d.acknowledge.state.zh()
        ));
    }
    if d.feedback.state.is_warning() {
        warnings.push(format!(
            "答复期限 {}：{}",
            d.feedback.due,
            d.feedback.state.zh()
        ));
    }
    StatusPage {
        notice,
        error,
        receipt: receipt.to_owned(),
        status: r.status.zh(),
        category: rules::category_name(&r.category).unwrap_or("其他"),
        received_on: r.received_on.to_string(),
        description: r.description.clone(),
        photos: r.photos.len(),
        messages: r
            .messages
            .iter()
            .map(|m| MessageView {
                from: author_zh(m.author),
                sent_on: m.sent_on.to_string(),
                body: m.body.clone(),
            })
            .collect(),
        open: r.status != ReportStatus::Closed,
        warnings,
        acknowledge: format!(
            "确认收到 {}（{}）",
            d.acknowledge.due,
            d.acknowledge.state.zh()
        ),
        feedback: format!("答复 {}（{}）", d.feedback.due, d.feedback.state.zh()),
    }
}

#[derive(Debug, Deserialize)]
struct FollowForm {
    #[serde(default)]
    receipt: String,
}

/// The receipt typed wrong (422), unknown (404) or the report shown.
fn lookup_failed(e: ApiError, typed: &str) -> Response {
    if e.status.is_server_error() {
        return e.into_response();
    }
    let typed: String = typed.chars().take(64).collect();
    private_page(
        e.status,
        &FollowPage {
            error: Some(say(&e)),
            typed,
        },
    )
}

async fn follow(
    State(state): State<AppState>,
    form: Result<Form<FollowForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let typed = form.map(|Form(f)| f.receipt).unwrap_or_default();
    match service::find(&state, &typed).await {
        Ok(r) => private_page(StatusCode::OK, &status_page(&r, &typed, None, None)),
        Err(e) => lookup_failed(e, &typed),
    }
}

#[derive(Debug, Deserialize)]
struct MessageForm {
    #[serde(default)]
    receipt: String,
    #[serde(default)]
    body: String,
}

async fn message(
    State(state): State<AppState>,
    form: Result<Form<MessageForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let Ok(Form(f)) = form else {
        return lookup_failed(unreadable("form"), "");
    };
    match service::reporter_message(&state, &f.receipt, &f.body).await {
        Ok(r) => private_page(
            StatusCode::CREATED,
            &status_page(&r, &f.receipt, Some("已发送。".to_owned()), None),
        ),
        Err(e) => refused_on_status_page(&state, e, &f.receipt).await,
    }
}

/// A refused answer or photo: the report again with the reason, when the
/// receipt itself was good.
async fn refused_on_status_page(state: &AppState, e: ApiError, typed: &str) -> Response {
    if e.status == StatusCode::NOT_FOUND || e.field.as_deref() == Some("receipt") {
        return lookup_failed(e, typed);
    }
    match service::find(state, typed).await {
        Ok(r) => private_page(e.status, &status_page(&r, typed, None, Some(say(&e)))),
        Err(e2) => lookup_failed(e2, typed),
    }
}

async fn photo(State(state): State<AppState>, mp: Multipart) -> Response {
    let (_, photo, receipt) = match read_form(mp).await {
        Ok(x) => x,
        Err(e) => return lookup_failed(e, ""),
    };
    let typed = receipt.unwrap_or_default();
    let Some(bytes) = photo else {
        let e = ApiError::unprocessable("photo_missing", "请选择一张照片").at("photo");
        return refused_on_status_page(&state, e, &typed).await;
    };
    match service::reporter_photo(&state, &typed, bytes).await {
        Ok(r) => private_page(
            StatusCode::CREATED,
            &status_page(
                &r,
                &typed,
                Some("照片已上传（已去除元数据）。".to_owned()),
                None,
            ),
        ),
        Err(e) => refused_on_status_page(&state, e, &typed).await,
    }
}
