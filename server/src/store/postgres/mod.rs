//! The PostgreSQL backend (and, through it, Citus and YugabyteDB): the
//! store for a province or a country, with several stateless server
//! instances over one database.
//!
//! **The foundation:**
//! * [`pool`]: a pool of connections opened from a `postgres://` URL, and
//!   [`PgPool::call`], which runs a closure on a pooled connection on a
//!   blocking thread;
//! * [`error`]: PostgreSQL's errors sorted into unique and foreign-key
//!   violations, retryable failures (a lost connection, a deadlock) and the
//!   rest, and mapped onto [`crate::store::StoreError`];
//! * [`migrate`]: the migration runner's PostgreSQL side — the same
//!   per-component `schema_migrations` and rules as SQLite's
//!   ([`crate::store::migrations`]), with an advisory lock in each
//!   migration's transaction so that instances starting at once apply each
//!   migration once — and the hand-over of the tables to Citus;
//! * [`schema`]: every table, typed for PostgreSQL and shaped for Citus —
//!   the distribution column (`region_code`, the district), reference
//!   tables, the change feeds' sequencers, the code directory for
//!   cross-district vouchers, the shared keys. `server/tests/citus_ready.rs`
//!   checks it against Citus's rules on a live PostgreSQL 15.
//!
//! **The store** ([`PgStore`], [`PgTxn`]): every sub-trait of
//! [`crate::store::Store`], a file each as in `sqlite/`; the push judged by
//! core's rules under its district's row lock; the pull over the sequenced
//! feeds; the keys and secrets in [`vault`]. `serve --db postgres://…`
//! opens it, and the server's suites run on it with `SHIAN_TEST_DB=postgres`
//! (`scripts/test-all.sh` names which).
//!
//! **Why the synchronous client** (`postgres`, the blocking wrapper of
//! tokio-postgres, with r2d2's pool): core's rules
//! (`shian_core::ledger::LedgerView`, `shian_core::store::apply::judge`) are
//! synchronous and run inside the push transaction, between its reads and
//! its writes. This backend runs each transaction on a blocking thread
//! (`spawn_blocking`), as the SQLite backend runs its own on its writer
//! thread, so the rules read the database directly with no async bridge.
//!
//! SQL for PostgreSQL lives only in this folder (`server/tests/layers.rs`).

pub mod district;
pub mod error;
pub mod feed;
pub mod migrate;
pub mod pool;
pub mod schema;
mod store;
#[doc(hidden)]
pub mod testing;
mod txn;

// The store's methods, a file per sub-trait (as `sqlite/`).
mod alerts;
mod console;
mod entry_checks;
mod entry_rows;
mod exports;
mod feedback;
mod field;
mod field_ops;
mod holds;
mod ledger;
mod price_window;
mod public;
mod recalls;
mod registry;
mod reports;
mod self_checks;
mod signing;
mod snapshots;
mod staff;
mod sync;
pub mod vault;

pub use error::PgError;
pub use pool::{PgOptions, PgPool};
pub use store::PgStore;
pub use txn::PgTxn;
pub use vault::PgVault;
