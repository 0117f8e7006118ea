//! `/console/search?q=`: one box for what a regulator has in hand: a
//! merchant's name (any part of it, or of its stall), its USCC or licence
//! number (exact), a shop code (opens that merchant) or a trace code (opens
//! the trace view). Merchants come from the registry's own filter
//! (`MerchantFilter::q`, bound parameters, a LIMIT), each with its grade.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde::Deserialize;

use super::overview::grade_colour;
use super::{error_page, html, Analyst};
use crate::store::MerchantFilter;
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/console/search", get(page))
}

/// The most merchants listed for one search.
const LIMIT: u32 = 50;
/// The longest search text kept (a name is at most 100 characters).
const MAX_Q: usize = 100;

struct Hit {
    id: String,
    name: String,
    uscc: String,
    stall: String,
    market_id: Option<String>,
    grade: &'static str,
    colour: &'static str,
}

#[derive(Template)]
#[template(path = "console/search.html")]
struct SearchPage {
    nav: &'static str,
    csrf: String,
    q: String,
    searched: bool,
    hits: Vec<Hit>,
    total: u64,
}

#[derive(Debug, Default, Deserialize)]
struct SearchQuery {
    #[serde(default)]
    q: String,
}

fn see_other(location: &str) -> Response {
    match HeaderValue::from_str(location) {
        Ok(v) => (StatusCode::SEE_OTHER, [(header::LOCATION, v)]).into_response(),
        Err(e) => crate::errors::ApiError::internal(e).into_response(),
    }
}

async fn page(
    State(state): State<AppState>,
    analyst: Analyst,
    q: Result<Query<SearchQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let raw = q.map(|Query(q)| q.q).unwrap_or_default();
    let q: String = raw.trim().chars().take(MAX_Q).collect();
    if q.is_empty() {
        return html(
            StatusCode::OK,
            &SearchPage {
                nav: "search",
                csrf: analyst.csrf,
                q,
                searched: false,
                hits: Vec::new(),
                total: 0,
            },
        );
    }
    // A 16-character code with a valid check character: a shop code opens
    // its merchant, anything else is taken for a trace code.
    if let Ok(code) = shian_core::codes::parse_code(&q, "q") {
        return match state.store.merchant_by_shop_code(code.clone()).await {
            Ok(Some(m)) => see_other(&format!("/console/merchants/{}", m.id)),
            Ok(None) => see_other(&format!("/console/trace?code={code}")),
            Err(e) => error_page(e.into()),
        };
    }
    let found = match state
        .store
        .list_merchants(MerchantFilter {
            q: Some(q.clone()),
            limit: LIMIT,
            ..MerchantFilter::default()
        })
        .await
    {
        Ok(p) => p,
        Err(e) => return error_page(e.into()),
    };
    let mut hits = Vec::with_capacity(found.items.len());
    for m in found.items {
        let grade = match crate::field::risk::graded_one(&state, &m.id).await {
            Ok(a) => a.map(|a| a.grade),
            Err(e) => return error_page(e),
        };
        hits.push(Hit {
            grade: grade.map_or("?", |g| g.as_str()),
            colour: grade.map_or("#999999", grade_colour),
            id: m.id,
            name: m.name,
            uscc: m.uscc,
            stall: m.stall.unwrap_or_default(),
            market_id: m.market_id,
        });
    }
    html(
        StatusCode::OK,
        &SearchPage {
            nav: "search",
            csrf: analyst.csrf,
            q,
            searched: true,
            hits,
            total: found.total,
        },
    )
}
