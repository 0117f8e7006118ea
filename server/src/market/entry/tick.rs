//! The periodic entry-check warnings: every `interval`, purchases of a
//! market's merchants whose grace ran out with no check raise
//! `entry_check_missing` (time alone makes them due, so no push does).
//! Started by `serve` beside the recall overdue check, on its interval
//! (`--recall-check-secs`); the tests call the store's
//! `raise_entry_alerts` themselves instead of waiting.

use std::sync::Arc;
use std::time::Duration;

use crate::store::Store;

/// Spawns the check; it runs until the process ends.
pub fn spawn(store: Arc<dyn Store>, interval: Duration) {
    crate::tick::every(interval, move || {
        let store = Arc::clone(&store);
        async move {
            match store.raise_entry_alerts(crate::store::now()).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(raised = n, "entry-check warnings raised"),
                Err(e) => tracing::warn!(error = %e, "entry-check warnings"),
            }
        }
    });
}
