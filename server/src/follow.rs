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
//!
//! Beside it, [`spawn_snapshots`] saves the ledger state every so many
//! entries, so that an instance started later reads the snapshot and the
//! entries after it rather than every entry.

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

/// Spawns the snapshot saver: every `interval`, saves the ledger state if
/// `min_new` entries came after the newest saved one.
pub fn spawn_snapshots(store: Arc<dyn Store>, min_new: i64, interval: Duration) {
    crate::tick::every(interval, move || {
        let store = Arc::clone(&store);
        async move {
            match store.save_ledger_snapshot(min_new).await {
                Ok(Some(saved)) => tracing::info!(
                    entries = saved.position,
                    bytes = saved.bytes,
                    "ledger state snapshot saved"
                ),
                Ok(None) => {}
                // The next tick tries again; a start meanwhile reads the
                // older snapshot and more entries.
                Err(e) => tracing::warn!(error = %e, "ledger state snapshot"),
            }
        }
    });
}
