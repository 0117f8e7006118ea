//! [`PgStore`]: the [`crate::store::Store`] on PostgreSQL. Each sub-trait
//! is implemented in the file named for it (`registry.rs`, `sync.rs`,
//! `field.rs`, …), over the tables of [`super::schema`]; this file holds
//! the store itself and how it opens.
//!
//! Every call runs on a pooled connection on a blocking thread
//! ([`PgPool::call`]); every write that spans rows is one transaction
//! (`client.transaction()`, committed at its end, rolled back when dropped
//! on an error).

use std::sync::Arc;

use super::pool::{PgOptions, PgPool};
use crate::store::graph::LedgerGraph;
use crate::store::StoreError;

/// The store on one PostgreSQL database, shared by every instance that
/// opens it.
pub struct PgStore {
    pub(super) pool: PgPool,
    /// The read model: batches, balances and the trace graph, followed
    /// from the database's committed entries (see `ledger.rs`); built on
    /// first use.
    pub(super) graph: tokio::sync::OnceCell<Arc<LedgerGraph>>,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore").field("pool", &self.pool).finish()
    }
}

impl PgStore {
    /// Connects to `url` and applies every pending migration (under the
    /// migration lock, so instances starting together apply each once).
    /// Blocking: call it before serving or from a blocking thread.
    pub fn open(url: &str, options: &PgOptions) -> Result<PgStore, StoreError> {
        let pool = PgPool::open(url, options)?;
        {
            let mut conn = pool.get()?;
            super::migrate::migrate(&mut conn)?;
        }
        Ok(PgStore {
            pool,
            graph: tokio::sync::OnceCell::new(),
        })
    }

    /// The pool: `store.pool().call(|client| …).await`.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}
