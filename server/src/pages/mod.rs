//! The public pages a person opens in a browser: the landing page at `/`,
//! a shop's page behind its QR code (`/s/{shop_code}`, 一店一码) and a
//! product's chain of custody (`/t/{trace_code}`).
//!
//! Server-rendered with askama (templates in `server/templates/`, compiled
//! into the binary, HTML-escaped by default), zh-CN, readable with no
//! JavaScript on a phone in sunlight. Data comes only through the
//! [`crate::store::Store`] trait and the functions the JSON API uses, so a page
//! and its JSON twin cannot disagree.

mod landing;
mod product;
pub mod public_trace;
mod render;
pub mod report;
pub mod reports_handler;
mod shop;

use axum::routing::get;
use axum::Router;

use crate::AppState;

/// The page routes (merged into [`crate::app`] beside the API).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(landing::landing))
        .route("/go", get(landing::go))
        .route("/s/{shop_code}", get(shop::shop_page))
        .route("/t/{trace_code}", get(product::product_page))
        .merge(report::router())
        .merge(reports_handler::router())
}
