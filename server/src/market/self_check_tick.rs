//! The periodic self-inspection check: every `interval`, each tracked
//! market's missed periods (a day, ISO week or month over in
//! Asia/Shanghai without its check) and overdue follow-ups raise their
//! warnings (one open alert per kind and market, updated, never doubled).
//! Started by `serve` when `--market-check-secs` is not zero; the tests
//! call the store's `check_self_check_alerts` with their own `now`.

use std::sync::Arc;
use std::time::Duration;

use crate::store::Store;

/// Spawns the check; it runs until the process ends.
pub fn spawn(store: Arc<dyn Store>, interval: Duration) {
    crate::tick::every(interval, move || {
        let store = Arc::clone(&store);
        async move {
            match store.check_self_check_alerts(crate::store::now()).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(raised = n, "self-inspection alerts"),
                Err(e) => tracing::warn!(error = %e, "self-inspection check"),
            }
        }
    });
}
