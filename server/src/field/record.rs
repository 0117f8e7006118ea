//! `GET /v1/inspections/{id}/record`: the printable 监督检查结果记录表.
//!
//! The HTML is made by core's `render_record_html`, the function a phone
//! uses to show and print the record offline, so the paper copy handed to
//! the merchant and the one served here are the same document. The server
//! adds the names it knows (merchant, licence, inspectors) and a QR code of
//! this page's URL so the paper copy can be checked against the original.

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use shian_core::inspection::{render_record_html, RecordPrintInfo, TemplateRegistry};

use crate::auth::Auth;
use crate::errors::{ApiError, ErrorResponse};
use crate::extract::Path;
use crate::store::Role;
use crate::AppState;

/// The public base URL of this server: `SHIAN_PUBLIC_URL` when set (behind a
/// proxy or a load balancer the Host header names the internal address),
/// else the request's Host.
pub(crate) fn public_base(headers: &HeaderMap) -> String {
    if let Ok(base) = std::env::var("SHIAN_PUBLIC_URL") {
        let base = base.trim().trim_end_matches('/');
        if base.starts_with("http://") || base.starts_with("https://") {
            return base.to_owned();
        }
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.len() <= 255
                && h.bytes().all(|b| {
                    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']')
                })
        })
        .unwrap_or("localhost");
    let https = headers
        .get("x-forwarded-proto")
        .and_then(|h| h.to_str().ok())
        .is_some_and(|p| p.eq_ignore_ascii_case("https"));
    format!("{}://{host}", if https { "https" } else { "http" })
}

/// A QR code of `text` as an inline `<svg>` (the XML prolog removed: it is
/// embedded in HTML). `None` when the text is too long for a QR code.
pub(crate) fn qr_svg(text: &str) -> Option<String> {
    let code = qrcode::QrCode::new(text.as_bytes()).ok()?;
    let svg = code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(160, 160)
        .quiet_zone(true)
        .build();
    let start = svg.find("<svg")?;
    Some(svg[start..].to_owned())
}

/// The printable inspection record (zh-CN HTML), for analysts and admins,
/// the inspectors on the record, and the inspected merchant.
#[utoipa::path(
    get, path = "/v1/inspections/{id}/record", tag = "field", security(("bearer" = [])),
    params(("id" = crate::openapi::wire::Uuid, Path, description = "inspection id (UUID)")),
    responses(
        (status = 200, description = "监督检查结果记录表, self-contained HTML", content_type = "text/html"),
        (status = 400, body = ErrorResponse), (status = 401, body = ErrorResponse),
        (status = 403, body = ErrorResponse), (status = 404, body = ErrorResponse),
    )
)]
pub async fn inspection_record(
    State(state): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = uuid::Uuid::parse_str(id.trim())
        .map_err(|_| ApiError::invalid("id", "invalid_id", "检查记录编号应为 UUID"))?
        .to_string();
    let stored = state
        .store
        .inspection(id.clone())
        .await?
        .ok_or_else(|| ApiError::not_found("检查记录"))?;
    let allowed = match auth.role {
        Role::Admin | Role::Analyst => true,
        Role::Inspector => stored.checked.record.inspectors.contains(&auth.user_id),
        Role::Merchant => auth.scope.merchant_id.as_deref() == Some(stored.merchant_id.as_str()),
        // The market's own people see the results of its merchants' checks.
        Role::MarketOperator => match state.store.merchant(stored.merchant_id.clone()).await? {
            Some(m) => auth.can_see_merchant(&m),
            None => false,
        },
    };
    if !allowed {
        return Err(ApiError::forbidden());
    }
    let merchant = state.store.merchant(stored.merchant_id.clone()).await?;
    let market = match merchant.as_ref().and_then(|m| m.market_id.clone()) {
        Some(mid) => state.store.market(mid).await?,
        None => None,
    };
    let rec = &stored.checked.record;
    let template = TemplateRegistry::builtin()
        .map_err(ApiError::internal)?
        .get(&rec.template_id, rec.template_version)
        .ok_or_else(|| {
            ApiError::internal(format!(
                "template {} v{} of a stored record is unknown",
                rec.template_id, rec.template_version
            ))
        })?;

    let address = {
        let mut parts: Vec<String> = Vec::new();
        if let Some(m) = &market {
            parts.push(m.name.clone());
            if let Some(a) = &m.address {
                parts.push(a.clone());
            }
        }
        if let Some(stall) = merchant.as_ref().and_then(|m| m.stall.clone()) {
            parts.push(format!("摊位 {stall}"));
        }
        (!parts.is_empty()).then(|| parts.join("，"))
    };
    let record_url = format!("{}/v1/inspections/{id}/record", public_base(&headers));
    let info = RecordPrintInfo {
        authority: None,
        merchant_name: merchant
            .as_ref()
            .map_or_else(|| stored.merchant_id.clone(), |m| m.name.clone()),
        merchant_licence: merchant.as_ref().and_then(|m| m.licence_no.clone()),
        merchant_address: address,
        representative: merchant.as_ref().and_then(|m| m.contact.clone()),
        inspector_names: stored.inspector_names.clone(),
        qr_svg: qr_svg(&record_url),
        record_url,
    };
    let html = render_record_html(template, &stored.checked, &info);
    let mut res = html.into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    // Self-contained page: inline CSS and SVG only, nothing else may load.
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; img-src data:"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-cache"),
    );
    Ok(res)
}
