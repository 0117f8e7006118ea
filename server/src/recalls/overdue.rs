//! The periodic overdue check: every `interval`, holders silent past their
//! recall's start deadline get their one reminder (the store marks them so
//! it is sent once). Started by `serve` when the interval is not zero; the
//! tests call the store's `remind_overdue` themselves instead of waiting.

use std::sync::Arc;
use std::time::Duration;

use crate::store::Store;

/// Spawns the check; it runs until the process ends.
pub fn spawn(store: Arc<dyn Store>, interval: Duration) {
    crate::tick::every(interval, move || {
        let store = Arc::clone(&store);
        async move {
            match store.remind_overdue(crate::store::now()).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(reminded = n, "recall holders reminded"),
                Err(e) => tracing::warn!(error = %e, "recall overdue check"),
            }
        }
    });
}
