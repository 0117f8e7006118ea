//! `GET /healthz`: is the server able to read and write its database?
//! Load balancers and the fault tests poll it.

use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use crate::errors::{ApiError, ErrorResponse};
use crate::extract::Json;
use crate::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok`.
    pub status: &'static str,
    /// The store backend (`sqlite`).
    pub store: &'static str,
    pub version: &'static str,
}

/// Health check: a read through the pool and a round trip through the writer.
#[utoipa::path(
    get, path = "/healthz", tag = "ops",
    responses((status = 200, body = Health), (status = 503, description = "database not answering", body = ErrorResponse))
)]
pub async fn healthz(State(state): State<AppState>) -> Result<Json<Health>, ApiError> {
    state.store.health().await.map_err(|e| {
        tracing::warn!(error = %e, "health check failed");
        ApiError::unavailable("数据库不可用 (database unavailable)")
    })?;
    Ok(Json(Health {
        status: "ok",
        store: state.store.backend(),
        version: env!("CARGO_PKG_VERSION"),
    }))
}
