//! The background follower: every `interval`, this instance's in-memory
//! ledger state reads what other instances behind the same load balancer
//! committed (issue 15), so that its lag stays small between requests and
//! `/healthz` and `/metrics` show it. Traces and recalls catch up on their
//! own before they answer; this only keeps the catch-up short. Started by
//! `serve` when the interval is not zero.

use std::sync::Arc;
use std::time::Duration;

use crate::store::Store;

/// Spawns the follower; it runs until the process ends.
pub fn spawn(store: Arc<dyn Store>, interval: Duration) {
    crate::tick::every(interval, move || {
        let store = Arc::clone(&store);
        async move {
            match store.follow_ledger().await {
                Ok(Some(lag)) if lag.entries > 0 => {
                    tracing::debug!(
                        read = lag.entries,
                        position = lag.position,
                        "ledger graph followed the store"
                    )
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "ledger follower"),
            }
        }
    });
}
