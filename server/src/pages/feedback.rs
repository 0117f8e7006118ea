//! The feedback on the shop page (issue 12, item 4; the JSON side and the
//! rules are in `crate::feedback`): the rating aggregate and the two forms,
//! which work with no JavaScript. A rating form POST answers 303 back to the
//! shop page (to a URL of its own, so a cached copy of the page is not
//! shown), a complaint form POST (multipart, for the photo) a page saying
//! what was received and by when the district must decide. Bad input gets
//! an HTML page with the reason and the status the JSON route would answer.

use askama::Template;
use axum::body::Bytes;
use axum::extract::multipart::MultipartRejection;
use axum::extract::rejection::PathRejection;
use axum::extract::{Multipart, Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use shian_core::complaints::ComplaintCategory;

use super::render::page;
use crate::errors::ApiError;
use crate::feedback::complaints::{file, TEXT_LIMITS};
use crate::feedback::ratings::{rate, summary};
use crate::store::feedback::{Rating, RatingCounts, RatingValue};
use crate::AppState;

/// One dimension's counts on the page.
pub struct RatingRow {
    pub label: &'static str,
    pub counts: RatingCounts,
}

/// A form choice: its wire value and zh-CN label.
pub struct Choice {
    pub value: &'static str,
    pub label: &'static str,
}

/// What `shop_feedback.html` shows (the shop page's `feedback` field).
pub struct ShopFeedback {
    pub shop_code: String,
    pub total: u64,
    pub window_days: u32,
    pub since: String,
    pub rows: Vec<RatingRow>,
    /// (form field, label).
    pub dimensions: Vec<Choice>,
    pub values: Vec<Choice>,
    pub categories: Vec<Choice>,
    pub text_min: usize,
    pub text_max: usize,
    /// The named product's limit (core's `PRODUCT_MAX_CHARS`).
    pub product_max: usize,
}

const DIMENSIONS: [(&str, &str); 3] = [
    ("hygiene", "卫生"),
    ("freshness", "新鲜"),
    ("price_honesty", "价格诚信"),
];

/// The feedback block of the shop with this (already checked) code; an
/// empty aggregate when the code names no registered merchant.
pub async fn shop_feedback(state: &AppState, shop_code: &str) -> Result<ShopFeedback, ApiError> {
    let merchant = state
        .store
        .merchant_by_shop_code(shop_code.to_owned())
        .await?;
    let s = match merchant {
        Some(m) => summary(state, &m.id).await?,
        None => Default::default(),
    };
    Ok(ShopFeedback {
        shop_code: shop_code.to_owned(),
        total: s.total,
        window_days: crate::feedback::RATING_WINDOW_DAYS,
        since: s.since.to_string(),
        rows: vec![
            RatingRow {
                label: DIMENSIONS[0].1,
                counts: s.hygiene,
            },
            RatingRow {
                label: DIMENSIONS[1].1,
                counts: s.freshness,
            },
            RatingRow {
                label: DIMENSIONS[2].1,
                counts: s.price_honesty,
            },
        ],
        dimensions: DIMENSIONS
            .iter()
            .map(|&(value, label)| Choice { value, label })
            .collect(),
        values: RatingValue::ALL
            .iter()
            .map(|v| Choice {
                value: v.as_str(),
                label: v.label_zh(),
            })
            .collect(),
        categories: ComplaintCategory::ALL
            .iter()
            .map(|c| Choice {
                value: c.as_str(),
                label: c.label_zh(),
            })
            .collect(),
        text_min: TEXT_LIMITS.0,
        text_max: TEXT_LIMITS.1,
        product_max: shian_core::complaints::PRODUCT_MAX_CHARS,
    })
}

#[derive(Template)]
#[template(path = "feedback_error.html")]
struct ErrorPage<'a> {
    message: &'a str,
    back: Option<String>,
}

/// An API error as a page: same status and message, a link back.
fn error_page(e: &ApiError, shop_code: Option<&str>) -> Response {
    if e.status == StatusCode::TOO_MANY_REQUESTS || e.status.is_server_error() {
        return e.clone().into_response();
    }
    page(
        e.status,
        &ErrorPage {
            message: &e.message,
            back: shop_code.map(|c| format!("/s/{c}#feedback")),
        },
    )
}

#[derive(Template)]
#[template(path = "complaint_received.html")]
struct ReceivedPage<'a> {
    shop_name: &'a str,
    shop_code: &'a str,
    category: &'static str,
    text: &'a str,
    received_on: String,
    accept_by: String,
    warning: Option<String>,
}

/// The value of a rating field in a urlencoded form.
fn form_value(pairs: &[(String, String)], field: &str) -> Result<RatingValue, ApiError> {
    let v = pairs
        .iter()
        .find(|(k, _)| k == field)
        .map(|(_, v)| v.as_str());
    v.and_then(RatingValue::parse).ok_or_else(|| {
        ApiError::invalid(
            field,
            "invalid_field",
            "请为卫生、新鲜、价格诚信各选一项：好、中或差",
        )
    })
}

/// `POST /s/{shop_code}/ratings` (form): 303 back to the shop page.
pub async fn rating_form(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    body: Bytes,
) -> Response {
    let typed = path.map(|Path(p)| p).unwrap_or_default();
    let shop = match crate::feedback::shop(&state, &typed).await {
        Ok(s) => s,
        Err(e) => return error_page(&e, None),
    };
    let pairs: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
    let rating = (|| {
        Ok::<_, ApiError>(Rating {
            hygiene: form_value(&pairs, "hygiene")?,
            freshness: form_value(&pairs, "freshness")?,
            price_honesty: form_value(&pairs, "price_honesty")?,
        })
    })();
    let result = match rating {
        Ok(r) => rate(&state, &shop, r).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => {
            let to = format!("/s/{}?rated=1#feedback", shop.shop_code);
            match HeaderValue::from_str(&to) {
                Ok(loc) => (StatusCode::SEE_OTHER, [(header::LOCATION, loc)]).into_response(),
                Err(e) => ApiError::internal(e).into_response(),
            }
        }
        Err(e) => error_page(&e, Some(&shop.shop_code)),
    }
}

/// The fields of the complaint form, read from its multipart body.
#[derive(Default)]
struct ComplaintForm {
    category: Option<String>,
    product: Option<String>,
    text: Option<String>,
    photo: Option<Vec<u8>>,
}

async fn read_form(mut m: Multipart) -> Result<ComplaintForm, ApiError> {
    let mut f = ComplaintForm::default();
    let too_big = |e: axum::extract::multipart::MultipartError| {
        ApiError::new(
            e.status(),
            "invalid_form",
            format!("表单读取失败：{}", e.body_text()),
        )
    };
    while let Some(field) = m.next_field().await.map_err(too_big)? {
        let name = field.name().unwrap_or_default().to_owned();
        let bytes = field.bytes().await.map_err(too_big)?;
        match name.as_str() {
            "category" => f.category = Some(String::from_utf8_lossy(&bytes).into_owned()),
            "text" => f.text = Some(String::from_utf8_lossy(&bytes).into_owned()),
            "product" => f.product = Some(String::from_utf8_lossy(&bytes).into_owned()),
            // A file input left empty sends an empty part.
            "photo" if !bytes.is_empty() => f.photo = Some(bytes.to_vec()),
            _ => {}
        }
    }
    Ok(f)
}

/// `POST /s/{shop_code}/complaints` (multipart form): 201 with a page of
/// what was received.
pub async fn complaint_form(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    multipart: Result<Multipart, MultipartRejection>,
) -> Response {
    let typed = path.map(|Path(p)| p).unwrap_or_default();
    let shop = match crate::feedback::shop(&state, &typed).await {
        Ok(s) => s,
        Err(e) => return error_page(&e, None),
    };
    let back = Some(shop.shop_code.as_str());
    let form = match multipart {
        Ok(m) => read_form(m).await,
        Err(e) => {
            tracing::debug!(error = %e, "complaint form is not multipart");
            Err(ApiError::unsupported_media_type("multipart/form-data"))
        }
    };
    let form = match form {
        Ok(f) => f,
        Err(e) => return error_page(&e, back),
    };
    let Some(category) = form.category.as_deref().and_then(ComplaintCategory::parse) else {
        return error_page(
            &ApiError::invalid("category", "invalid_field", "请选择投诉类别"),
            back,
        );
    };
    let text = form.text.unwrap_or_default();
    let filed = file(
        &state,
        &shop,
        category,
        form.product.as_deref(),
        &text,
        form.photo.as_deref(),
    );
    match filed.await {
        Ok(filed) => page(
            StatusCode::CREATED,
            &ReceivedPage {
                shop_name: &shop.name,
                shop_code: &shop.shop_code,
                category: filed.category.label_zh(),
                text: &filed.text,
                received_on: filed.receipt.received_on.to_string(),
                accept_by: filed.receipt.accept_by.to_string(),
                warning: filed.receipt.calendar_warning,
            },
        ),
        Err(e) => error_page(&e, back),
    }
}
