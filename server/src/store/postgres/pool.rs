//! A pool of PostgreSQL connections, and the one way the backend uses
//! them: [`PgPool::call`] runs a closure on a pooled connection on a
//! blocking thread (`tokio::task::spawn_blocking`), as the SQLite backend
//! runs its closures on its writer thread and read pool.
//!
//! Why blocking threads and the synchronous client: core's ledger rules
//! (`shian_core::ledger::LedgerView`, `shian_core::store::apply::judge`)
//! are synchronous and run *inside* the push transaction, between its
//! reads and its writes; with the synchronous `postgres` client they call
//! the database directly, with no async bridge inside the rules.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use postgres::{Client, Config, NoTls};
use r2d2_postgres::PostgresConnectionManager;

use super::error::PgError;
use crate::store::error::panic_message;
use crate::store::graph::ReadModelOptions;
use crate::store::StoreError;

/// Tuning of the pool.
#[derive(Debug, Clone)]
pub struct PgOptions {
    /// Connections kept at most (each a PostgreSQL backend process).
    pub max_connections: u32,
    /// How long a call waits for a free connection before it fails as
    /// unavailable (a 503, not a hang).
    pub checkout_timeout: Duration,
    /// How long opening a connection may take.
    pub connect_timeout: Duration,
    /// The read model's catch-up wait and fault points.
    pub read_model: ReadModelOptions,
}

impl Default for PgOptions {
    fn default() -> Self {
        PgOptions {
            max_connections: 16,
            checkout_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(5),
            read_model: ReadModelOptions::default(),
        }
    }
}

type Pool = r2d2::Pool<PostgresConnectionManager<NoTls>>;

/// A pool of connections to one database. Clones share it.
#[derive(Clone)]
pub struct PgPool {
    pool: Arc<Held>,
    /// The URL without its password, for logs and errors.
    shown: String,
}

/// The pool, dropped off the async runtime: a synchronous `postgres`
/// connection closes itself with a `block_on` of its own runtime, which
/// panics on a thread that drives tokio tasks — where the last handle to
/// the pool is usually dropped (server shutdown, a test's `block_on`).
struct Held(Option<Pool>);

impl Drop for Held {
    fn drop(&mut self) {
        let Some(pool) = self.0.take() else { return };
        if tokio::runtime::Handle::try_current().is_ok() {
            // A plain thread has no runtime; if it cannot be made, the
            // connections are leaked rather than panicking in a drop.
            if let Err(e) = std::thread::Builder::new()
                .name("pg-pool-drop".into())
                .spawn(move || drop(pool))
            {
                tracing::warn!(error = %e, "postgres: pool left open at drop");
            }
        }
    }
}

impl std::ops::Deref for Held {
    type Target = Pool;
    fn deref(&self) -> &Pool {
        // `Some` from construction until `drop` takes it.
        self.0.as_ref().expect("pool present until dropped")
    }
}

impl std::fmt::Debug for PgPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgPool").field("url", &self.shown).finish()
    }
}

/// Whether `db` names a PostgreSQL database rather than a SQLite file.
pub fn is_postgres_url(db: &str) -> bool {
    db.starts_with("postgres://") || db.starts_with("postgresql://")
}

/// `url` with the password (if any) replaced, for logs.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    match rest.split_once('@') {
        Some((user, host)) if user.contains(':') => {
            let name = user.split(':').next().unwrap_or("");
            format!("{scheme}://{name}:***@{host}")
        }
        _ => url.to_owned(),
    }
}

impl PgPool {
    /// Opens a pool on a `postgres://user[:password]@host:port/db` URL and
    /// makes its first connection, so that a wrong URL or an unreachable
    /// database fails here, at start, rather than on the first request.
    /// Blocking: call it from a blocking context (or [`PgPool::connect`]).
    /// Plain TCP only for now (no TLS): the database is on a private
    /// network or loopback.
    pub fn open(url: &str, options: &PgOptions) -> Result<PgPool, PgError> {
        if !is_postgres_url(url) {
            return Err(PgError::Url(format!(
                "{}: not a postgres:// URL",
                redact(url)
            )));
        }
        let mut config =
            Config::from_str(url).map_err(|e| PgError::Url(format!("{}: {e}", redact(url))))?;
        config.connect_timeout(options.connect_timeout);
        config.application_name("shian-server");
        let manager = PostgresConnectionManager::new(config, NoTls);
        let pool = r2d2::Pool::builder()
            .max_size(options.max_connections.max(1))
            .min_idle(Some(1))
            .connection_timeout(options.checkout_timeout)
            // r2d2 logs connection errors itself; keep them in tracing.
            .error_handler(Box::new(LogErrors))
            .build(manager)?;
        Ok(PgPool {
            pool: Arc::new(Held(Some(pool))),
            shown: redact(url),
        })
    }

    /// [`PgPool::open`] on a blocking thread.
    pub async fn connect(url: &str, options: PgOptions) -> Result<PgPool, StoreError> {
        let url = url.to_owned();
        tokio::task::spawn_blocking(move || PgPool::open(&url, &options))
            .await
            .map_err(|e| StoreError::Panicked(e.to_string()))?
            .map_err(StoreError::from)
    }

    /// Runs `f` on a pooled connection on a blocking thread. A panic in
    /// `f` is caught and answered as [`StoreError::Panicked`]; the
    /// connection goes back to the pool (an open transaction on it is
    /// rolled back when its guard drops), or is discarded by the pool when
    /// it is broken.
    pub async fn call<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Client) -> Result<T, StoreError> + Send + 'static,
    {
        let pool = Pool::clone(&self.pool);
        let job = tokio::task::spawn_blocking(move || {
            let mut conn = pool.get().map_err(PgError::from)?;
            f(&mut conn)
        });
        match job.await {
            Ok(r) => r,
            Err(e) if e.is_panic() => Err(StoreError::Panicked(panic_message(&*e.into_panic()))),
            Err(e) => Err(StoreError::Panicked(e.to_string())),
        }
    }

    /// A connection for blocking code (the migrations at start, tests).
    pub fn get(&self) -> Result<r2d2::PooledConnection<PostgresConnectionManager<NoTls>>, PgError> {
        Ok(self.pool.get()?)
    }
}

#[derive(Debug)]
struct LogErrors;

impl r2d2::HandleError<postgres::Error> for LogErrors {
    fn handle_error(&self, error: postgres::Error) {
        tracing::warn!(error = %error, "postgres: connection failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert!(is_postgres_url("postgres://shian@127.0.0.1:5432/shian"));
        assert!(is_postgres_url("postgresql://h/db"));
        assert!(!is_postgres_url("data/shian.db"));
        assert_eq!(
            redact("postgres://shian:secret@db:5432/shian"),
            "postgres://shian:***@db:5432/shian"
        );
        assert_eq!(
            redact("postgres://shian@db/shian"),
            "postgres://shian@db/shian"
        );
        assert!(matches!(
            PgPool::open("data/shian.db", &PgOptions::default()),
            Err(PgError::Url(_))
        ));
    }

    /// Nothing listens on the port: the pool fails at open, as unavailable
    /// (retryable), and the store error is Busy (a 503).
    #[test]
    fn an_unreachable_database_is_unavailable() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let options = PgOptions {
            checkout_timeout: Duration::from_millis(300),
            ..PgOptions::default()
        };
        let e = PgPool::open(
            &format!("postgres://shian@127.0.0.1:{port}/shian"),
            &options,
        )
        .unwrap_err();
        assert!(e.is_retryable(), "{e}");
        assert!(matches!(StoreError::from(e), StoreError::Busy));
    }
}
