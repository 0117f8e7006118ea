//! `GET /v1/trace/{trace_code}/forward` and `/backward`: core's trace engine
//! over the server's ledger.

use axum::extract::State;
use axum::http::StatusCode;
use shian_core::trace::{BackwardTrace, ForwardTrace, TraceError};

use crate::auth::Auth;
use crate::errors::{ApiError, ErrorResponse};
use crate::extract::{Json, Path};
use crate::store::Role;
use crate::AppState;

/// Who may trace: regulators and inspectors (a recall needs every holder,
/// across districts).
const TRACERS: &[Role] = &[Role::Admin, Role::Analyst, Role::Inspector];

fn trace_error(e: TraceError) -> ApiError {
    match e {
        TraceError::NotFound { trace_code } => ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_trace_code",
            format!("追溯码 {trace_code} 对应的批次不存在"),
        )
        .at("trace_code"),
        TraceError::InvalidCode { reason, .. } => {
            ApiError::invalid("trace_code", "invalid_code", reason)
        }
        TraceError::Storage(detail) => ApiError::internal(detail),
    }
}

fn canonical(code: &str) -> Result<String, ApiError> {
    shian_core::codes::parse_code(code, "trace_code").map_err(ApiError::from)
}

/// Every downstream holder of a batch at any depth, with what each received,
/// sold at retail, disposed and still holds, and vouchers in transit.
#[utoipa::path(
    get, path = "/v1/trace/{trace_code}/forward", tag = "trace", security(("bearer" = [])),
    params(("trace_code" = crate::openapi::wire::Code, Path, description = "16-character trace code")),
    responses(
        (status = 200, description = "{trace_code, root, holders:[{merchant_id, merchant_name, trace_code, received:{value,unit}, depth, …}], retail_sold, held, in_transit, totals}", body = Object),
        (status = 400, body = ErrorResponse), (status = 401, body = ErrorResponse), (status = 403, body = ErrorResponse), (status = 404, body = ErrorResponse),
        (status = 422, description = "code_check_mismatch", body = ErrorResponse),
    )
)]
pub async fn forward(
    State(state): State<AppState>,
    auth: Auth,
    Path(code): Path<String>,
) -> Result<Json<ForwardTrace>, ApiError> {
    auth.require(TRACERS)?;
    let code = canonical(&code)?;
    state
        .store
        .trace_forward(code)
        .await?
        .map(Json)
        .map_err(trace_error)
}

/// The chain of custody of a batch back to its origin.
#[utoipa::path(
    get, path = "/v1/trace/{trace_code}/backward", tag = "trace", security(("bearer" = [])),
    params(("trace_code" = crate::openapi::wire::Code, Path, description = "16-character trace code")),
    responses(
        (status = 200, description = "{trace_code, chain:[…], end}", body = Object),
        (status = 400, body = ErrorResponse), (status = 401, body = ErrorResponse), (status = 403, body = ErrorResponse), (status = 404, body = ErrorResponse),
        (status = 422, description = "code_check_mismatch", body = ErrorResponse),
    )
)]
pub async fn backward(
    State(state): State<AppState>,
    auth: Auth,
    Path(code): Path<String>,
) -> Result<Json<BackwardTrace>, ApiError> {
    auth.require(TRACERS)?;
    let code = canonical(&code)?;
    state
        .store
        .trace_backward(code)
        .await?
        .map(Json)
        .map_err(trace_error)
}
