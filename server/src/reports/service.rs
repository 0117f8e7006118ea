//! What the report routes and pages do, once: validate a report, find one
//! by its receipt, take the reporter's messages and photos, apply a
//! handler's action. The JSON handlers ([`super`]) and the H5 pages
//! (`crate::pages::report`, `crate::pages::reports_handler`) both call these,
//! so the two cannot disagree.

use chrono::{DateTime, FixedOffset, NaiveDate, Utc};
use shian_core::reports::{self as rules, Deadlines, ReportDays, ReportStatus};

use super::receipt::{self, HashError};
use crate::errors::ApiError;
use crate::photo::{self, CleanPhoto, PhotoError};
use crate::store::reports::{ActionRefused, NewReport, NewReportPhoto, ReportAction, StoredReport};
use crate::AppState;

/// Characters of a description (once trimmed): enough to say what, where
/// and when; a novel is not needed.
pub const MIN_DESCRIPTION_CHARS: usize = 10;
pub const MAX_DESCRIPTION_CHARS: usize = 2000;
/// Characters of a message or closing note.
pub const MAX_MESSAGE_CHARS: usize = 2000;
/// Characters of the place.
pub const MAX_LOCATION_CHARS: usize = 200;
/// Photos one report may carry.
pub const MAX_PHOTOS: u32 = 5;

/// A report as sent (JSON or the H5 form).
#[derive(Debug, Clone, Default)]
pub struct ReportInput {
    pub category: String,
    pub description: String,
    pub merchant_ref: Option<String>,
    pub location: Option<String>,
    pub occurred_at: Option<String>,
}

/// A filed report: the receipt (grouped) to show once, and its deadlines.
#[derive(Debug, Clone)]
pub struct Filed {
    pub receipt: String,
    pub deadlines: Deadlines,
}

/// Today in China (UTC+8 all year: no daylight saving since 1991); the
/// day reports are stored under.
pub fn today() -> NaiveDate {
    china_day(Utc::now())
}

fn china_day(t: DateTime<Utc>) -> NaiveDate {
    // 8 h is within ±24 h, so `east_opt` is always Some.
    match FixedOffset::east_opt(8 * 3600) {
        Some(tz) => t.with_timezone(&tz).date_naive(),
        None => t.date_naive(),
    }
}

/// The report's deadlines as of `today` (core's one implementation).
pub fn deadlines_of(r: &StoredReport, today: NaiveDate) -> Deadlines {
    rules::deadlines(
        &ReportDays {
            received_on: r.received_on,
            acknowledged_on: r.acknowledged_on,
            feedback_on: r.feedback_on,
        },
        today,
    )
}

fn internal(e: HashError) -> ApiError {
    ApiError::internal(e)
}

/// A 422 for one field (content rules no JSON Schema of the route states).
fn bad(field: &str, code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::unprocessable(code, message).at(field)
}

/// Free text from a person: trimmed; line breaks and tabs kept, other
/// control characters refused; `min..=max` characters.
pub fn text(input: &str, field: &str, min: usize, max: usize) -> Result<String, ApiError> {
    let t = input.trim();
    let n = t.chars().count();
    if n < min {
        return Err(bad(
            field,
            "too_short",
            format!("请至少写 {min} 个字 (at least {min} characters)"),
        ));
    }
    if n > max {
        return Err(bad(
            field,
            "too_long",
            format!("不能超过 {max} 个字 (at most {max} characters)"),
        ));
    }
    if t.chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(bad(
            field,
            "invalid_characters",
            "含控制字符 (control characters not allowed)",
        ));
    }
    Ok(t.replace("\r\n", "\n"))
}

/// The day something happened: `YYYY-MM-DD` or an RFC 3339 instant (kept
/// as its day in China); not after today.
fn occurred_on(input: &str, today: NaiveDate) -> Result<NaiveDate, ApiError> {
    let s = input.trim();
    let d = match s.parse::<NaiveDate>() {
        Ok(d) => d,
        Err(_) => DateTime::parse_from_rfc3339(s)
            .map(|t| china_day(t.with_timezone(&Utc)))
            .map_err(|_| {
                bad(
                    "occurred_at",
                    "invalid_date",
                    "日期格式应为 YYYY-MM-DD (a date YYYY-MM-DD)",
                )
            })?,
    };
    if d > today {
        return Err(bad(
            "occurred_at",
            "date_in_future",
            "日期不能晚于今天 (must not be after today)",
        ));
    }
    Ok(d)
}

/// A photo's refusal in the error shape.
pub fn photo_error(e: &PhotoError) -> ApiError {
    let status = match e {
        PhotoError::TooLarge { .. } => axum::http::StatusCode::PAYLOAD_TOO_LARGE,
        PhotoError::NotAnImage => axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
        PhotoError::TooManyPixels | PhotoError::Corrupt(_) => {
            axum::http::StatusCode::UNPROCESSABLE_ENTITY
        }
    };
    ApiError::new(status, e.code(), e.to_string()).at("photo")
}

/// Cleans a photo on the blocking pool (decoding is CPU work).
pub async fn clean_photo(bytes: Vec<u8>) -> Result<CleanPhoto, ApiError> {
    tokio::task::spawn_blocking(move || photo::clean(&bytes))
        .await
        .map_err(ApiError::internal)?
        .map_err(|e| photo_error(&e))
}

fn stored_photo(p: CleanPhoto) -> NewReportPhoto {
    NewReportPhoto {
        sha256: p.sha256,
        bytes: p.bytes,
        width: p.width,
        height: p.height,
    }
}

/// Validates and stores a report (with the photos already cleaned); the
/// receipt is made here and leaves only in the answer.
pub async fn file(
    state: &AppState,
    input: ReportInput,
    photos: Vec<CleanPhoto>,
) -> Result<Filed, ApiError> {
    let today = today();
    let category = input.category.trim().to_owned();
    if rules::category_name(&category).is_none() {
        return Err(bad(
            "category",
            "invalid_category",
            "请选择问题类型 (unknown category)",
        ));
    }
    let description = text(
        &input.description,
        "description",
        MIN_DESCRIPTION_CHARS,
        MAX_DESCRIPTION_CHARS,
    )?;
    let location = match input.location.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(l) => Some(text(l, "location", 1, MAX_LOCATION_CHARS)?),
    };
    let (merchant_ref, merchant_id) = match input.merchant_ref.as_deref().map(str::trim) {
        None | Some("") => (None, None),
        Some(r) => {
            let code = shian_core::codes::parse_code(r, "merchant_ref").map_err(|e| {
                // Both a malformed code and a failed check are content
                // rules here: 422.
                bad("merchant_ref", "invalid_shop_code", e.message)
            })?;
            let id = state
                .store
                .merchant_by_shop_code(code.clone())
                .await?
                .map(|m| m.id);
            (Some(code), id)
        }
    };
    let occurred_on = match input.occurred_at.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(s) => Some(occurred_on(s, today)?),
    };
    if photos.len() > MAX_PHOTOS as usize {
        return Err(bad(
            "photo",
            "too_many_photos",
            format!("最多 {MAX_PHOTOS} 张照片 (at most {MAX_PHOTOS} photos)"),
        ));
    }
    let receipt = receipt::new_receipt().map_err(internal)?;
    let receipt_hash = state
        .receipts
        .hash_async(receipt.clone())
        .await
        .map_err(internal)?;
    let id: [u8; 16] = rand::random();
    let report = NewReport {
        id: id.iter().map(|b| format!("{b:02x}")).collect(),
        receipt_hash,
        category,
        description,
        merchant_ref,
        merchant_id,
        location,
        occurred_on,
        received_on: today,
        photos: photos.into_iter().map(stored_photo).collect(),
    };
    state.store.create_report(report).await?;
    let deadlines = rules::deadlines(
        &ReportDays {
            received_on: today,
            acknowledged_on: None,
            feedback_on: None,
        },
        today,
    );
    Ok(Filed {
        receipt: receipt::grouped(&receipt),
        deadlines,
    })
}

/// The receipt's hash, or why what was typed is not a receipt (422). A
/// well-formed receipt always costs one argon2 run, found or not.
pub async fn receipt_hash(state: &AppState, typed: &str) -> Result<Vec<u8>, ApiError> {
    let canonical = receipt::parse(typed)
        .map_err(|e| ApiError::unprocessable(e.code(), e.to_string()).at("receipt"))?;
    state.receipts.hash_async(canonical).await.map_err(internal)
}

fn no_such_receipt() -> ApiError {
    ApiError::not_found("回执码对应的举报")
}

/// The report a receipt opens; 404 when none.
pub async fn find(state: &AppState, typed: &str) -> Result<StoredReport, ApiError> {
    let hash = receipt_hash(state, typed).await?;
    state
        .store
        .report_by_receipt(hash)
        .await?
        .ok_or_else(no_such_receipt)
}

fn closed() -> ApiError {
    ApiError::conflict(
        "report_closed",
        "此举报已办结，不能再补充 (the report is closed)",
    )
}

/// The reporter answers; the report after it.
pub async fn reporter_message(
    state: &AppState,
    typed: &str,
    body: &str,
) -> Result<StoredReport, ApiError> {
    let hash = receipt_hash(state, typed).await?;
    let body = text(body, "body", 1, MAX_MESSAGE_CHARS)?;
    match state
        .store
        .add_reporter_message(hash.clone(), body, today())
        .await?
    {
        None => Err(no_such_receipt()),
        Some(false) => Err(closed()),
        Some(true) => state
            .store
            .report_by_receipt(hash)
            .await?
            .ok_or_else(no_such_receipt),
    }
}

/// The reporter adds a photo; the report after it.
pub async fn reporter_photo(
    state: &AppState,
    typed: &str,
    bytes: Vec<u8>,
) -> Result<StoredReport, ApiError> {
    let hash = receipt_hash(state, typed).await?;
    let photo = clean_photo(bytes).await?;
    match state
        .store
        .add_report_photo(hash.clone(), stored_photo(photo), today(), MAX_PHOTOS)
        .await?
    {
        None => Err(no_such_receipt()),
        Some(false) => Err(ApiError::conflict(
            "photos_not_accepted",
            format!(
                "此举报已办结或已有 {MAX_PHOTOS} 张照片 (closed, or {MAX_PHOTOS} photos already)"
            ),
        )),
        Some(true) => state
            .store
            .report_by_receipt(hash)
            .await?
            .ok_or_else(no_such_receipt),
    }
}

/// A handler's action, as the store decides it.
pub async fn act(
    state: &AppState,
    report_id: &str,
    action: ReportAction,
    by: &str,
) -> Result<StoredReport, ApiError> {
    let action = match action {
        ReportAction::Reply { body } => ReportAction::Reply {
            body: text(&body, "body", 1, MAX_MESSAGE_CHARS)?,
        },
        ReportAction::Close { note } => ReportAction::Close {
            note: text(&note, "note", 1, MAX_MESSAGE_CHARS)?,
        },
        ReportAction::Triage {
            status,
            category,
            priority,
        } => {
            if let Some(c) = &category {
                if rules::category_name(c).is_none() {
                    return Err(bad("category", "invalid_category", "未知的问题类型"));
                }
            }
            if status.is_none() && category.is_none() && priority.is_none() {
                return Err(bad(
                    "status",
                    "nothing_to_change",
                    "请至少修改状态、类型或优先级之一",
                ));
            }
            ReportAction::Triage {
                status,
                category,
                priority,
            }
        }
        other => other,
    };
    match state
        .store
        .act_on_report(report_id.to_owned(), action, by.to_owned(), today())
        .await?
    {
        Ok(r) => Ok(r),
        Err(ActionRefused::NoSuchReport) => Err(ApiError::not_found("举报")),
        Err(ActionRefused::Closed) => Err(closed()),
        Err(ActionRefused::NotAnInspector) => Err(bad(
            "inspector_id",
            "not_an_inspector",
            "该账号不是监管人员 (not an inspector account)",
        )),
        Err(ActionRefused::BadTransition { from, to }) => Err(ApiError::conflict(
            "invalid_transition",
            if to == ReportStatus::Closed {
                "办结须填写办结说明（请用“办结”）(close with a note)".to_owned()
            } else {
                format!(
                    "状态不能从“{}”改为“{}” (status only moves forward)",
                    from.zh(),
                    to.zh()
                )
            },
        )
        .at("status")),
    }
}
