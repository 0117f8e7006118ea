//! QR images of what a phone scans: a shop's code (the stall sign, 一店一码)
//! and a voucher (上市凭证, shown to the buyer who receives the goods).
//!
//! Drawn by the `qrcode` crate at error-correction level M (15 % of the
//! code may be lost: a sign in a wet market gets splashed and scratched,
//! and M keeps a shop URL at version 4, large modules for a phone in poor
//! light), with the standard 4-module quiet zone. The PNG is at least
//! [`PNG_MIN_PX`] wide so it prints sharp at 4 cm; the SVG scales freely.
//!
//! What a shop QR encodes is decided in ONE place, [`shop_qr_target`], which
//! the sign page and the image routes share.

use std::io::Cursor;

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use qrcode::{EcLevel, QrCode};

use crate::auth::Auth;
use crate::errors::{ApiError, ErrorResponse};
use crate::extract::Path;
use crate::store::{Merchant, Role};
use crate::{validate, AppState, Config};

/// Smallest PNG side in pixels: 4 cm at 300 dpi is 472 px, and a whole
/// number of pixels per module rounds up from here.
pub const PNG_MIN_PX: u32 = 600;

/// SVG pixels per module (the viewBox scales; this only sets the default
/// size a browser shows it at).
const SVG_MODULE_PX: u32 = 8;

/// The quiet zone `qrcode` draws: 4 modules each side (ISO/IEC 18004).
const QUIET_MODULES: u32 = 4;

/// An image may be kept by the browser that asked (it is behind a login)
/// for an hour: the code in it changes only when the shop's code or the
/// server's public address does.
const IMAGE_CACHE: &str = "private, max-age=3600";

#[derive(Debug, thiserror::Error)]
pub enum QrError {
    /// The text does not fit in a QR code (cannot happen for a URL of a
    /// valid public address and a 16-symbol code).
    #[error("QR 编码失败 (cannot encode): {0}")]
    Encode(#[from] qrcode::types::QrError),
    #[error("PNG 编码失败 (cannot write PNG): {0}")]
    Png(#[from] image::ImageError),
}

impl From<QrError> for ApiError {
    fn from(e: QrError) -> Self {
        ApiError::internal(e)
    }
}

fn encode(text: &str) -> Result<QrCode, QrError> {
    Ok(QrCode::with_error_correction_level(
        text.as_bytes(),
        EcLevel::M,
    )?)
}

/// `text` as a standalone SVG document.
pub fn svg(text: &str) -> Result<String, QrError> {
    Ok(encode(text)?
        .render::<qrcode::render::svg::Color<'_>>()
        .module_dimensions(SVG_MODULE_PX, SVG_MODULE_PX)
        .quiet_zone(true)
        .build())
}

/// `text` as an `<svg>` element to embed in HTML (the XML prolog dropped).
pub fn svg_inline(text: &str) -> Result<String, QrError> {
    let doc = svg(text)?;
    Ok(match doc.find("<svg") {
        Some(start) => doc[start..].to_owned(),
        None => doc,
    })
}

/// `text` as a greyscale PNG at least [`PNG_MIN_PX`] wide.
pub fn png(text: &str) -> Result<Vec<u8>, QrError> {
    let code = encode(text)?;
    let modules = u32::try_from(code.width()).unwrap_or(u32::MAX / 2) + 2 * QUIET_MODULES;
    let px = PNG_MIN_PX.div_ceil(modules.max(1));
    let img = code
        .render::<image::Luma<u8>>()
        .module_dimensions(px, px)
        .quiet_zone(true)
        .build();
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png)?;
    Ok(out.into_inner())
}

/// The address this server is reached at by the public: `--public-url` /
/// `SHIAN_PUBLIC_URL` when set (behind a proxy the Host header names an
/// internal address), else from the request's Host.
pub fn public_base(config: &Config, headers: &HeaderMap) -> String {
    match &config.public_url {
        Some(url) => url.clone(),
        None => crate::field::record::public_base(headers),
    }
}

/// What a shop's QR code opens: its page, signed by the server's active key
/// (`{base}/s/{shop_code}?sig=…`, [`crate::signing::signed_shop_url`]), so
/// an inspector's or a buyer's app tells a genuine sign from a copy offline
/// while a phone camera simply opens the page. The one place that decides
/// it: the sign and the image routes call it.
pub fn shop_qr_target(state: &AppState, base: &str, merchant: &Merchant) -> String {
    crate::signing::signed_shop_url(&state.keys, base, merchant)
}

/// What a voucher's QR code holds: the voucher code, which the buyer's app
/// checks offline (its check symbol) and records with the goods received.
pub fn voucher_qr_target(voucher_code: &str) -> String {
    voucher_code.to_owned()
}

/// An image response with its type, cache header and a file name for
/// "save as".
fn image_response(content_type: &'static str, filename: String, body: Vec<u8>) -> Response {
    let disposition = HeaderValue::from_str(&format!("inline; filename=\"{filename}\""))
        .unwrap_or(HeaderValue::from_static("inline"));
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CACHE_CONTROL, HeaderValue::from_static(IMAGE_CACHE)),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        body,
    )
        .into_response()
}

/// The image kinds a QR route answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Svg,
    Png,
}

impl Format {
    /// `text` drawn in this format, as a response named `stem.ext`.
    pub fn respond(self, text: &str, stem: &str) -> Result<Response, QrError> {
        Ok(match self {
            Format::Svg => image_response(
                "image/svg+xml",
                format!("{stem}.svg"),
                svg(text)?.into_bytes(),
            ),
            Format::Png => image_response("image/png", format!("{stem}.png"), png(text)?),
        })
    }
}

/// The merchant whose shop QR `auth` may draw: admins any, a merchant
/// account its own (403 for anyone else, before the lookup, so the answer
/// says nothing about other ids).
pub(crate) async fn merchant_for_qr(
    state: &AppState,
    auth: &Auth,
    id: &str,
) -> Result<Merchant, ApiError> {
    let id = validate::validate_id(id, "id")?;
    let allowed = match auth.role {
        Role::Admin => true,
        Role::Merchant => auth.scope.merchant_id.as_deref() == Some(id.as_str()),
        Role::Analyst | Role::Inspector | Role::MarketOperator => false,
    };
    if !allowed {
        return Err(ApiError::forbidden());
    }
    state
        .store
        .merchant(id)
        .await?
        .ok_or_else(|| ApiError::not_found("商户"))
}

async fn merchant_qr(
    state: AppState,
    auth: Auth,
    headers: HeaderMap,
    id: String,
    format: Format,
) -> Result<Response, ApiError> {
    let merchant = merchant_for_qr(&state, &auth, &id).await?;
    let target = shop_qr_target(&state, &public_base(&state.config, &headers), &merchant);
    Ok(format.respond(&target, &format!("shop-{}", merchant.shop_code))?)
}

/// The shop's QR code (what its stall sign carries) as SVG: admins, or the
/// merchant's own account.
#[utoipa::path(
    get, path = "/v1/merchants/{id}/qr.svg", tag = "registry", security(("bearer" = [])),
    params(("id" = crate::openapi::wire::Id, Path, description = "merchant id")),
    responses(
        (status = 200, description = "QR code (error correction M, 4-module quiet zone) of the shop page URL", content_type = "image/svg+xml"),
        (status = 400, body = ErrorResponse), (status = 401, body = ErrorResponse),
        (status = 403, body = ErrorResponse), (status = 404, body = ErrorResponse),
    )
)]
pub async fn merchant_qr_svg(
    State(state): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    merchant_qr(state, auth, headers, id, Format::Svg).await
}

/// The shop's QR code as a PNG at least 600 px wide (4 cm at 300 dpi):
/// admins, or the merchant's own account.
#[utoipa::path(
    get, path = "/v1/merchants/{id}/qr.png", tag = "registry", security(("bearer" = [])),
    params(("id" = crate::openapi::wire::Id, Path, description = "merchant id")),
    responses(
        (status = 200, description = "QR code (error correction M, 4-module quiet zone) of the shop page URL", content_type = "image/png"),
        (status = 400, body = ErrorResponse), (status = 401, body = ErrorResponse),
        (status = 403, body = ErrorResponse), (status = 404, body = ErrorResponse),
    )
)]
pub async fn merchant_qr_png(
    State(state): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    merchant_qr(state, auth, headers, id, Format::Png).await
}

/// A voucher's QR for its seller (merchant accounts of the seller) and
/// admins: 404 when the server holds no live sale with that voucher.
async fn voucher_qr(
    state: AppState,
    auth: Auth,
    code: String,
    format: Format,
) -> Result<Response, ApiError> {
    let code = shian_core::codes::parse_code(&code, "voucher_code").map_err(ApiError::from)?;
    if !matches!(auth.role, Role::Admin | Role::Merchant) {
        return Err(ApiError::forbidden());
    }
    let seller = state
        .store
        .voucher_seller(code.clone())
        .await?
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "unknown_voucher",
                format!("上市凭证 {code} 不存在 (no such voucher)"),
            )
            .at("voucher_code")
        })?;
    if auth.role == Role::Merchant && auth.scope.merchant_id.as_deref() != Some(seller.as_str()) {
        return Err(ApiError::forbidden());
    }
    Ok(format.respond(&voucher_qr_target(&code), &format!("voucher-{code}"))?)
}

/// A voucher (上市凭证) as a QR code in SVG, for the seller to show or print
/// on the delivery note.
#[utoipa::path(
    get, path = "/v1/vouchers/{voucher_code}/qr.svg", tag = "trace", security(("bearer" = [])),
    params(("voucher_code" = crate::openapi::wire::Code, Path, description = "the voucher's code")),
    responses(
        (status = 200, description = "QR code (error correction M) of the voucher code", content_type = "image/svg+xml"),
        (status = 400, body = ErrorResponse), (status = 401, body = ErrorResponse),
        (status = 403, body = ErrorResponse), (status = 404, body = ErrorResponse),
        (status = 422, description = "code_check_mismatch", body = ErrorResponse),
    )
)]
pub async fn voucher_qr_svg(
    State(state): State<AppState>,
    auth: Auth,
    Path(voucher_code): Path<String>,
) -> Result<Response, ApiError> {
    voucher_qr(state, auth, voucher_code, Format::Svg).await
}

/// A voucher (上市凭证) as a QR code in PNG, at least 600 px wide.
#[utoipa::path(
    get, path = "/v1/vouchers/{voucher_code}/qr.png", tag = "trace", security(("bearer" = [])),
    params(("voucher_code" = crate::openapi::wire::Code, Path, description = "the voucher's code")),
    responses(
        (status = 200, description = "QR code (error correction M) of the voucher code", content_type = "image/png"),
        (status = 400, body = ErrorResponse), (status = 401, body = ErrorResponse),
        (status = 403, body = ErrorResponse), (status = 404, body = ErrorResponse),
        (status = 422, description = "code_check_mismatch", body = ErrorResponse),
    )
)]
pub async fn voucher_qr_png(
    State(state): State<AppState>,
    auth: Auth,
    Path(voucher_code): Path<String>,
) -> Result<Response, ApiError> {
    voucher_qr(state, auth, voucher_code, Format::Png).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_png_prints_at_4_cm_and_the_svg_is_one_document() {
        let url = "https://shian.example.cn/s/7K3M9QX2HD4RT8WB";
        let png = png(url).unwrap();
        let img = image::load_from_memory(&png).unwrap();
        assert!(img.width() >= PNG_MIN_PX && img.width() == img.height());
        let svg = svg_inline(url).unwrap();
        assert!(svg.starts_with("<svg") && !svg.contains("<?xml"));
    }
}
