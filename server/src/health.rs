//! `GET /healthz`: is the server able to read and write its database?
//! Load balancers and the fault tests poll it.

use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

use crate::errors::{ApiError, ErrorResponse};
use crate::extract::Json;
use crate::store::graph::Started;
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
    /// How the state was built when this instance started.
    pub start: LedgerStart,
}

/// How an instance's ledger state was built: from every stored entry, or
/// from a saved snapshot and the entries after it.
#[derive(Debug, Serialize, ToSchema)]
pub struct LedgerStart {
    #[schema(pattern = "^(replay|snapshot)$")]
    pub from: &'static str,
    /// The entries the snapshot held (0 for a replay).
    pub snapshot_position: i64,
    /// Entries read after the snapshot (0 for a replay).
    pub read_after: i64,
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
            start: match state.store.ledger_started() {
                Some(Started::Snapshot { at, read }) => LedgerStart {
                    from: "snapshot",
                    snapshot_position: at,
                    read_after: read,
                },
                Some(Started::Replay) | None => LedgerStart {
                    from: "replay",
                    snapshot_position: 0,
                    read_after: 0,
                },
            },
        }),
    }))
}
