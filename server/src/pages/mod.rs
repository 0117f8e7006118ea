//! The public pages a person opens in a browser: the landing page at `/`,
//! a shop's page behind its QR code (`/s/{shop_code}`, 一店一码), a
//! product's chain of custody (`/t/{trace_code}`) and its GS1 Digital Link
//! (`/01/{gtin}/10/{lot}`); and, behind a browser login
//! ([`session::Session`]), the printable stall sign (`/signs/{merchant_id}`)
//! the regulator's console (`/console`, [`console`]) and the market's own
//! pages for its operator and food-safety officers (`/market`, [`market`]).
//!
//! Server-rendered with askama (templates in `server/templates/`, compiled
//! into the binary, HTML-escaped by default), zh-CN, readable with no
//! JavaScript on a phone in sunlight. Data comes only through the
//! [`crate::store::Store`] trait and the functions the JSON API uses, so a page
//! and its JSON twin cannot disagree. A failure behind a page is an HTML
//! page too ([`error::PageError`]).

pub mod console;
mod error;
pub mod feedback;
mod gs1;
mod landing;
pub mod market;
mod product;
pub mod public_trace;
mod render;
pub mod report;
pub mod reports_handler;
pub mod session;
mod shop;
mod sign;

use axum::routing::{get, post};
use axum::Router;

use crate::{rate_limit, AppState, Config};

/// The page routes (merged into [`crate::app`] beside the API). `config`
/// sets the login form's per-client-address limit (the API login's).
pub fn router(config: &Config) -> Router<AppState> {
    let login = get(session::login_form).merge(post(session::login_submit).route_layer(
        rate_limit::per_client_address(
            config.login_rate_burst,
            config.login_rate_period,
            &config.clients,
        ),
    ));
    Router::new()
        .route("/", get(landing::landing))
        .route("/go", get(landing::go))
        .route("/s/{shop_code}", get(shop::shop_page))
        .route("/t/{trace_code}", get(product::product_page))
        .route("/01/{gtin}", get(gs1::gtin_only))
        .route("/01/{gtin}/10/{lot}", get(gs1::gtin_lot))
        .route("/login", login)
        .route("/logout", post(session::logout))
        .route("/signs", get(sign::own_sign))
        .route("/signs/{merchant_id}", get(sign::sign_page))
        .route("/signs/{merchant_id}/qr.png", get(sign::sign_png))
        .merge(report::router())
        .merge(reports_handler::router())
        .merge(console::router())
        .merge(market::router())
}
