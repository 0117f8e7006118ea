//! Alerts (预警) in the server: core's warnings engine
//! (`shian_core::warnings`) run over the store's facts, as they arrive and
//! as a full pass, and the analysts' routes over what it raised.
//!
//! - **Incremental**: every push marks the merchants it touched in its own
//!   transaction (entries, samples, complaints and complaint decisions);
//!   the push handler then evaluates the marked merchants ([`after_write`])
//!   before it answers — the merchant's own facts, its market's price
//!   window and pass rate, and the categories it was sampled or complained
//!   about in. A complaint from the public is evaluated in the
//!   transaction that stores it. A crash between a push and its
//!   evaluation leaves the marks for the next pass (see
//!   `store/sqlite/alerts.rs`).
//! - **Full pass**: `POST /v1/alerts/scan` and `serve` at start.
//! - **Lifecycle**: new → assigned → resolved with a note; a step after
//!   resolution, or resolving an alert nobody was assigned, is 409.
//!
//! Identity is (kind, subject type, subject id) while open; see
//! [`crate::store::alerts`].

pub mod routes;

use std::collections::HashMap;

use chrono::Utc;
use shian_core::warnings::SubjectType;

use crate::store::alerts::{AlertFilter, AlertStatus, PassOutcome};
use crate::store::StoreError;
use crate::AppState;

/// Evaluates the merchants the last writes marked. A failure is logged and
/// not answered: the write it follows is committed, and its marks stay for
/// the next pass.
pub async fn after_write(state: &AppState) {
    if let Err(e) = state.store.refresh_alerts(crate::store::now()).await {
        tracing::warn!(error = %e, "alerts: incremental pass failed; the marks stay for the next pass");
    }
}

/// The full pass, timed.
pub async fn scan(state: &AppState) -> Result<(PassOutcome, u64), StoreError> {
    let started = std::time::Instant::now();
    let out = state.store.scan_alerts(Utc::now()).await?;
    let ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    tracing::info!(
        raised = out.raised,
        open = out.open,
        elapsed_ms = ms,
        "alerts: full pass"
    );
    Ok((out, ms))
}

/// How many open alerts a map reads at most per status: more than a
/// market's stalls could carry.
const MAX_OPEN: u32 = 5000;

/// Open (new or assigned) alerts per merchant of the market, and their
/// total: the warning marks of the operator's and the analyst's stall maps.
pub async fn open_per_merchant(
    state: &AppState,
    market_id: &str,
) -> Result<(HashMap<String, u16>, u64), StoreError> {
    let mut per: HashMap<String, u16> = HashMap::new();
    let mut total = 0;
    for status in [AlertStatus::New, AlertStatus::Assigned] {
        let page = state
            .store
            .list_alerts(AlertFilter {
                status: Some(status),
                kind: None,
                market_id: Some(market_id.to_owned()),
                merchant_id: None,
                limit: MAX_OPEN,
                offset: 0,
            })
            .await?;
        total += page.total;
        for a in page.items {
            if a.subject.kind == SubjectType::Merchant {
                let n = per.entry(a.subject.id).or_default();
                *n = n.saturating_add(1);
            }
        }
    }
    Ok((per, total))
}
