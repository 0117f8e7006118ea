//! The migration runner's PostgreSQL side: the backend-neutral rules are in
//! [`crate::store::migrations`]; here are the bookkeeping table, the lock
//! and the transaction, and the step that hands the tables to Citus.
//!
//! **The lock**: every migration transaction starts with
//! `pg_advisory_xact_lock(MIGRATION_LOCK)`, a transaction-scoped advisory
//! lock, released by the commit or rollback. Three instances starting at
//! once queue on it; each re-reads the applied version under it, so each
//! migration runs once and is recorded once. Making the bookkeeping table
//! takes the same lock, because two concurrent `CREATE TABLE IF NOT EXISTS`
//! can still collide in PostgreSQL's catalogue.
//!
//! **Why our runner and not refinery**: refinery keeps one version line per
//! database (one `refinery_schema_history` table, versions across all
//! migrations), where Shian's components each number their own and share a
//! database with core's; it has no hook to take an advisory lock in each
//! migration's transaction; and the SQLite backend already has the rules.
//! The runner is about a hundred lines, with its rules tested once for
//! both backends.

use postgres::{Client, Transaction};

use super::schema;
use crate::store::migrations::{self, Migration, MigrationConn, MigrationTx};
use crate::store::StoreError;

/// The advisory lock key of migrations: "shianmig" in ASCII, fixed so that
/// every binary version takes the same lock.
pub const MIGRATION_LOCK: i64 = 0x7368_6961_6e6d_6967;

const BOOKKEEPING: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (
    component  text        NOT NULL,
    version    bigint      NOT NULL,
    name       text        NOT NULL DEFAULT '',
    applied_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (component, version)
)";

fn lock(tx: &mut Transaction<'_>) -> Result<(), StoreError> {
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
    Ok(())
}

fn version_of(
    client: &mut impl postgres::GenericClient,
    component: &str,
) -> Result<i64, StoreError> {
    let row = client.query_one(
        "SELECT COALESCE(MAX(version), 0) FROM schema_migrations WHERE component = $1",
        &[&component],
    )?;
    Ok(row.get(0))
}

impl MigrationConn for Client {
    fn prepare(&mut self) -> Result<(), StoreError> {
        let mut tx = self.transaction()?;
        lock(&mut tx)?;
        tx.batch_execute(BOOKKEEPING)?;
        tx.commit()?;
        Ok(())
    }

    fn version(&mut self, component: &str) -> Result<i64, StoreError> {
        version_of(self, component)
    }

    fn locked(
        &mut self,
        step: &mut dyn FnMut(&mut dyn MigrationTx) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let mut tx = self.transaction()?;
        lock(&mut tx)?;
        // On `Err` the transaction drops, which rolls it back.
        step(&mut tx)?;
        tx.commit()?;
        Ok(())
    }
}

impl MigrationTx for Transaction<'_> {
    fn version(&mut self, component: &str) -> Result<i64, StoreError> {
        version_of(self, component)
    }

    fn execute(&mut self, sql: &str) -> Result<(), StoreError> {
        Ok(self.batch_execute(sql)?)
    }

    fn record(&mut self, component: &str, m: &Migration) -> Result<(), StoreError> {
        postgres::GenericClient::execute(
            self,
            "INSERT INTO schema_migrations (component, version, name) VALUES ($1, $2, $3)",
            &[&component, &m.version, &m.name],
        )?;
        Ok(())
    }
}

/// Applies every component's pending migrations ([`schema::COMPONENTS`],
/// in order), then, on Citus, distributes what is not distributed yet.
/// Returns each component's version.
pub fn migrate(client: &mut Client) -> Result<Vec<(&'static str, i64)>, StoreError> {
    let mut versions = Vec::with_capacity(schema::COMPONENTS.len());
    for (component, steps) in schema::COMPONENTS {
        versions.push((*component, migrations::apply(client, component, steps)?));
    }
    distribute_on_citus(client)?;
    Ok(versions)
}

/// On a Citus coordinator, makes each table of [`schema::REFERENCE`] a
/// reference table and each of [`schema::DISTRIBUTED`] a distributed one
/// (in co-location groups), skipping those Citus already knows; on plain
/// PostgreSQL does nothing. Under the migration lock, so that instances
/// starting together do it once. Returns how many tables it handed over.
///
/// Not run against Citus here (Citus is not installable on the project's
/// machines): only the plain-PostgreSQL path is tested; see
/// `docs/scale-out.md`.
pub fn distribute_on_citus(client: &mut Client) -> Result<usize, StoreError> {
    let mut tx = client.transaction()?;
    let citus: bool = tx
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus')",
            &[],
        )?
        .get(0);
    if !citus {
        return Ok(0);
    }
    lock(&mut tx)?;
    let known: Vec<String> = tx
        .query(
            "SELECT logicalrelid::regclass::text FROM pg_dist_partition",
            &[],
        )?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let mut n = 0;
    for (table, call) in schema::citus_calls() {
        if known.iter().any(|k| k == table) {
            continue;
        }
        tx.batch_execute(&call)?;
        n += 1;
    }
    tx.commit()?;
    if n > 0 {
        tracing::info!(tables = n, "distributed tables on Citus");
    }
    Ok(n)
}
