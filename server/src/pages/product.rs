//! `GET /t/{trace_code}`: a product's chain of custody back to its origin,
//! with a red banner when a published finding (a failed test, a recall)
//! names a batch on the chain. Renders [`super::public_trace::build`], the
//! record behind the JSON twin.

use askama::Template;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use shian_core::error::FieldError;
use shian_core::trace::TraceError;

use super::error::PageError;
use super::public_trace::{build, PublicTrace};
use super::render::{local_time, local_time_str, local_today, mistyped, page, unknown};
use crate::errors::ApiError;
use crate::AppState;

#[derive(Template)]
#[template(path = "product.html")]
struct ProductPage {
    trace_code: String,
    product_name: String,
    category: Option<&'static str>,
    production_date: Option<String>,
    expiry_date: Option<String>,
    /// The expiry date is past (China's date).
    expired: bool,
    received_at: String,
    chain: Vec<StepView>,
    end: String,
    findings: Vec<FindingView>,
    /// Active recalls naming this batch.
    recalls: Vec<crate::recalls::view::RecallBanner>,
    generated: String,
}

struct StepView {
    merchant_name: Option<String>,
    shop_code: Option<String>,
    product_name: String,
    received: String,
    received_at: String,
    sold_at: Option<String>,
}

struct FindingView {
    title: String,
    summary: String,
    date: String,
}

/// The last line of the chain, for a person.
fn end_text(t: &PublicTrace) -> String {
    match t.chain_end.as_str() {
        "origin" => match &t.origin_supplier {
            Some(name) => format!("源头：{name}（首次进货的供货方）"),
            None => "源头：首次进货".to_owned(),
        },
        "unlinked_merchant_supplier" => {
            "再往上：从平台经营户进货但未扫描随货凭证，链条在此中断。".to_owned()
        }
        "voucher_not_found" | "upstream_batch_missing" => {
            "再往上：上家的销售记录不在本平台，链条在此中断。".to_owned()
        }
        "depth_limit" => "链条很长，只显示到这里。".to_owned(),
        _ => "链条数据异常，已提示监管部门核查。".to_owned(),
    }
}

pub(super) async fn product_page(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, PageError> {
    let typed = path.map(|Path(p)| p).unwrap_or_default();
    let code = match shian_core::codes::parse_code(&typed, "trace_code") {
        Ok(c) => c,
        Err(e) => return Ok(mistyped(&typed, &e)),
    };
    let t = match build(&state, code).await? {
        Ok(t) => t,
        Err(TraceError::NotFound { .. }) => return Ok(unknown(&typed, "追溯码")),
        Err(TraceError::InvalidCode { reason, .. }) => {
            return Ok(mistyped(
                &typed,
                &FieldError::new("trace_code", "invalid_code", reason),
            ))
        }
        Err(TraceError::Storage(detail)) => return Err(ApiError::internal(detail).into()),
    };
    let expired = t
        .expiry_date
        .as_deref()
        .and_then(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
        .is_some_and(|d| d < local_today());
    let recalls = state
        .store
        .active_recalls_of_code(t.trace_code.clone())
        .await
        .map_err(ApiError::from)?
        .into_iter()
        .map(|r| {
            let started = local_time(r.started_at);
            crate::recalls::view::RecallBanner::new(r, started)
        })
        .collect();
    let view = ProductPage {
        recalls,
        end: end_text(&t),
        category: t
            .category
            .as_deref()
            .and_then(shian_core::category::Category::parse)
            .map(|c| c.zh()),
        production_date: t.production_date.clone(),
        expiry_date: t.expiry_date.clone(),
        expired,
        trace_code: t.trace_code,
        product_name: t.product_name,
        received_at: local_time(t.received_at),
        chain: t
            .chain
            .into_iter()
            .map(|s| StepView {
                merchant_name: s.merchant_name,
                shop_code: s.shop_code,
                product_name: s.product_name,
                received: s.received.zh,
                received_at: local_time(s.received_at),
                sold_at: s.sold_at.map(local_time),
            })
            .collect(),
        findings: t
            .findings
            .into_iter()
            .map(|f| FindingView {
                title: f.title,
                summary: f.summary,
                date: local_time_str(&f.published_at),
            })
            .collect(),
        generated: local_time(chrono::Utc::now()),
    };
    Ok(page(StatusCode::OK, &view))
}
