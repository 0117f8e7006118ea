//! The background follower: every `interval`, this instance reads what
//! other instances behind the same load balancer committed (issue 15). Its
//! in-memory ledger state catches up, so that its lag stays small between
//! requests and `/healthz` and `/metrics` show it (traces and recalls
//! catch up on their own before they answer; this only keeps the catch-up
//! short). And its public page cache forgets what it kept when the writes
//! that change those pages moved in the store ([`PageCache::follow`]), so a
//! recall or a new grade written through another instance shows here
//! within a tick rather than the cache's TTL. Started by `serve` when the
//! interval is not zero.

use std::sync::Arc;
use std::time::Duration;

use crate::page_cache::PageCache;
use crate::store::Store;

/// Spawns the follower; it runs until the process ends.
pub fn spawn(store: Arc<dyn Store>, pages: PageCache, interval: Duration) {
    crate::tick::every(interval, move || {
        let store = Arc::clone(&store);
        let pages = pages.clone();
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
            match store.pages_stamp().await {
                Ok(now) => {
                    if pages.follow(now) {
                        tracing::debug!(?now, "public pages forgotten after a write in the store");
                    }
                }
                // The next tick looks again; the TTL bounds a page's age
                // meanwhile.
                Err(e) => tracing::warn!(error = %e, "page cache follower"),
            }
        }
    });
}
