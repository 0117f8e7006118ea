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

use chrono::{DateTime, Utc};

use super::pool::{PgOptions, PgPool};
use super::registry;
use crate::store::graph::LedgerGraph;
use crate::store::graph::ReadModelOptions;
use crate::store::*;

/// The store on one PostgreSQL database, shared by every instance that
/// opens it.
pub struct PgStore {
    pub(super) pool: PgPool,
    /// The read model: batches, balances and the trace graph, followed
    /// from the database's committed entries (see `ledger.rs`); built on
    /// first use.
    pub(super) graph: tokio::sync::OnceCell<Arc<LedgerGraph>>,
    /// The markets' price windows of the incremental alerts pass, kept by
    /// this instance and caught up from the database (`price_window.rs`).
    pub(super) price_windows: Arc<std::sync::Mutex<super::price_window::PriceWindows>>,
    pub(super) read_model: ReadModelOptions,
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
            // What SQLite's open puts on the feed once.
            super::self_checks::publish_templates(&mut *conn)?;
            super::field::seed_checklists(&mut *conn)?;
        }
        Ok(PgStore {
            pool,
            graph: tokio::sync::OnceCell::new(),
            price_windows: Arc::default(),
            read_model: options.read_model,
        })
    }

    /// The pool: `store.pool().call(|client| …).await`.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The server's keys and secrets, kept in this database so that every
    /// instance over it shares them (`crate::keys`, docs/scale-out.md §6).
    pub fn vault(&self) -> super::vault::PgVault {
        super::vault::PgVault::new(self.pool.clone())
    }
}

/// The `Store` trait's own methods: the registry's in `registry.rs`, each
/// a blocking function on a pooled connection.
impl Store for PgStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    fn health(&self) -> StoreFuture<'_, Vec<String>> {
        Box::pin(async move {
            self.pool
                .call(|c| {
                    c.query_one("SELECT count(*) FROM schema_migrations", &[])?;
                    Ok(())
                })
                .await?;
            match self.graph.get() {
                Some(g) => g.check().map(|()| g.alerts()),
                None => Ok(Vec::new()),
            }
        })
    }

    /// Connections close as the pool is dropped; a call in flight keeps
    /// its own until it ends.
    fn close(&self) -> StoreFuture<'_, ()> {
        Box::pin(async { Ok(()) })
    }

    fn create_user(&self, u: NewUser) -> StoreFuture<'_, User> {
        Box::pin(self.pool.call(move |c| registry::create_user(c, u)))
    }

    fn user(&self, id: String) -> StoreFuture<'_, Option<User>> {
        Box::pin(self.pool.call(move |c| registry::user(c, id)))
    }

    fn user_credentials(&self, username: String) -> StoreFuture<'_, Option<UserCredentials>> {
        Box::pin(
            self.pool
                .call(move |c| registry::user_credentials(c, username)),
        )
    }

    fn begin_login_attempt(
        &self,
        user_id: String,
        now: DateTime<Utc>,
        max_failures: u32,
        lock_for: chrono::Duration,
    ) -> StoreFuture<'_, LoginAttempt> {
        Box::pin(
            self.pool.call(move |c| {
                registry::begin_login_attempt(c, user_id, now, max_failures, lock_for)
            }),
        )
    }

    fn record_login_success(&self, user_id: String) -> StoreFuture<'_, ()> {
        Box::pin(
            self.pool
                .call(move |c| registry::record_login_success(c, user_id)),
        )
    }

    fn create_device(&self, d: Device) -> StoreFuture<'_, Device> {
        Box::pin(self.pool.call(move |c| registry::create_device(c, d)))
    }

    fn device(&self, id: String) -> StoreFuture<'_, Option<Device>> {
        Box::pin(self.pool.call(move |c| registry::device(c, id)))
    }

    fn touch_device(&self, id: String, at: DateTime<Utc>) -> StoreFuture<'_, ()> {
        Box::pin(self.pool.call(move |c| registry::touch_device(c, id, at)))
    }

    fn create_market(&self, m: Market) -> StoreFuture<'_, Market> {
        Box::pin(self.pool.call(move |c| registry::create_market(c, m)))
    }

    fn create_market_idempotent(
        &self,
        m: Market,
        key: IdempotencyKey,
    ) -> StoreFuture<'_, Created<Market>> {
        Box::pin(
            self.pool
                .call(move |c| registry::create_market_idempotent(c, m, key)),
        )
    }

    fn market(&self, id: String) -> StoreFuture<'_, Option<Market>> {
        Box::pin(self.pool.call(move |c| registry::market(c, id)))
    }

    fn list_markets(&self, limit: u32, offset: u32) -> StoreFuture<'_, Page<Market>> {
        Box::pin(
            self.pool
                .call(move |c| registry::list_markets(c, limit, offset)),
        )
    }

    fn create_merchant(&self, m: Merchant) -> StoreFuture<'_, Merchant> {
        Box::pin(async move {
            let created = self
                .pool
                .call(move |c| registry::create_merchant(c, m))
                .await?;
            self.name_in_graph(&created.id, &created.name)?;
            Ok(created)
        })
    }

    fn create_merchant_idempotent(
        &self,
        m: Merchant,
        key: IdempotencyKey,
    ) -> StoreFuture<'_, Created<Merchant>> {
        Box::pin(async move {
            let created = self
                .pool
                .call(move |c| registry::create_merchant_idempotent(c, m, key))
                .await?;
            if let Created::New(m) = &created {
                self.name_in_graph(&m.id, &m.name)?;
            }
            Ok(created)
        })
    }

    fn merchant(&self, id: String) -> StoreFuture<'_, Option<Merchant>> {
        Box::pin(self.pool.call(move |c| registry::merchant(c, id)))
    }

    fn merchant_by_shop_code(&self, shop_code: String) -> StoreFuture<'_, Option<Merchant>> {
        Box::pin(
            self.pool
                .call(move |c| registry::merchant_by_shop_code(c, shop_code)),
        )
    }

    fn list_merchants(&self, f: MerchantFilter) -> StoreFuture<'_, Page<Merchant>> {
        Box::pin(self.pool.call(move |c| registry::list_merchants(c, f)))
    }

    fn existing_licences(&self, licences: Vec<String>) -> StoreFuture<'_, Vec<String>> {
        Box::pin(
            self.pool
                .call(move |c| registry::existing_licences(c, licences)),
        )
    }

    fn import_merchants(&self, merchants: Vec<Merchant>) -> StoreFuture<'_, usize> {
        Box::pin(async move {
            let names: Vec<(String, String)> = merchants
                .iter()
                .map(|m| (m.id.clone(), m.name.clone()))
                .collect();
            let n = self
                .pool
                .call(move |c| registry::import_merchants(c, merchants))
                .await?;
            if let Some(g) = self.graph.get() {
                g.set_merchant_names(names.iter().map(|(i, n)| (i.as_str(), n.as_str())))?;
            }
            Ok(n)
        })
    }
}

impl PgStore {
    /// A new merchant's name in this instance's read model at once (other
    /// instances read it from `directory` when they next follow).
    fn name_in_graph(&self, id: &str, name: &str) -> Result<(), StoreError> {
        match self.graph.get() {
            Some(g) => g.set_merchant_names([(id, name)]),
            None => Ok(()),
        }
    }
}
