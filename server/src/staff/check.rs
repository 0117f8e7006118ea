//! The periodic health-certificate check: every `interval`, every
//! merchant's certificates are judged as of now, so one that expired at
//! midnight (Asia/Shanghai) raises `health_cert_expired` with no write to
//! notice it (the store keeps one open warning per merchant and kind).
//! Started by `serve` when the interval is not zero; tests call the
//! store's `check_staff` with the moment they need instead of waiting.

use std::sync::Arc;
use std::time::Duration;

use crate::store::Store;

/// Spawns the check; it runs until the process ends.
pub fn spawn(store: Arc<dyn Store>, interval: Duration) {
    crate::tick::every(interval, move || {
        let store = Arc::clone(&store);
        async move {
            match store.check_staff(crate::store::now()).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(raised = n, "health certificate warnings raised"),
                Err(e) => tracing::warn!(error = %e, "health certificate check"),
            }
        }
    });
}
