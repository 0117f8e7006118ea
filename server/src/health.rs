//! `GET /healthz`: is the server able to read and write its database?
//! Load balancers and the fault tests poll it.

use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

use crate::errors::{ApiError, ErrorResponse};
use crate::extract::Json;
use crate::store::StoreError;
use crate::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok`.
    pub status: &'static str,
    /// The store backend (`sqlite`).
    pub store: &'static str,
    pub version: &'static str,
    /// What an operator should look at although the server serves (stored
    /// ledger rows skipped when the graph was rebuilt); empty when none.
    pub alerts: Vec<String>,
    /// How far this instance's in-memory ledger state is behind the store
    /// (other instances' commits); absent before it is built.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ledger: Option<LedgerLag>,
}

/// The ledger state's lag, as last looked (see `crate::follow`).
#[derive(Debug, Serialize, ToSchema)]
pub struct LedgerLag {
    /// The position of the last ledger entry this instance holds.
    pub position: i64,
    /// Entries other instances had committed that it had not yet read when
    /// it last looked.
    pub behind: i64,
    /// Milliseconds since that look.
    pub checked_ms: u64,
}

/// Health check: a read through the pool, a round trip through the writer
/// and a ledger graph equal to the file (503 `ledger_graph_failed` with the
/// reason when it could not be kept so).
#[utoipa::path(
    get, path = "/healthz", tag = "ops",
    responses((status = 200, body = Health), (status = 503, description = "database not answering, or the ledger graph failed", body = ErrorResponse))
)]
pub async fn healthz(State(state): State<AppState>) -> Result<Json<Health>, ApiError> {
    let alerts = state.store.health().await.map_err(|e| {
        tracing::warn!(error = %e, "health check failed");
        match e {
            StoreError::GraphFailed(why) => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "ledger_graph_failed",
                format!("台账内存状态与数据库不一致，需重启 (ledger graph failed): {why}"),
            ),
            _ => ApiError::unavailable("数据库不可用 (database unavailable)"),
        }
    })?;
    Ok(Json(Health {
        status: "ok",
        store: state.store.backend(),
        version: env!("CARGO_PKG_VERSION"),
        alerts,
        ledger: state.store.ledger_lag().map(|l| LedgerLag {
            position: l.position,
            behind: l.entries,
            checked_ms: u64::try_from(l.checked.as_millis()).unwrap_or(u64::MAX),
        }),
    }))
}
