//! Versioned schema migrations, per component.
//!
//! One SQLite file holds several schemas: the server's own tables (component
//! `"server"`) and core's ledger (component `"ledger"`). Each component
//! numbers its migrations 1, 2, 3…; `schema_migrations(component, version)`
//! records what is applied, so components evolve independently. A migration
//! runs in an IMMEDIATE transaction and re-reads the applied version inside
//! it, so a server and an `admin` CLI starting at the same moment cannot
//! apply one twice. A file migrated by a newer binary is refused rather than
//! misread.

use rusqlite::{Connection, OptionalExtension, TransactionBehavior};

pub use crate::store::migrations::Migration;
use crate::store::migrations::{self, MigrationConn, MigrationTx};
use crate::store::StoreError;

const BOOKKEEPING: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (
    component  TEXT    NOT NULL,
    version    INTEGER NOT NULL,
    name       TEXT    NOT NULL DEFAULT '',
    applied_at TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
    PRIMARY KEY (component, version)
)";

/// The highest applied version of `component` (0 when none).
pub fn current_version(conn: &Connection, component: &str) -> Result<i64, StoreError> {
    conn.execute_batch(BOOKKEEPING)?;
    let v: Option<i64> = conn
        .query_row(
            "SELECT MAX(version) FROM schema_migrations WHERE component = ?1",
            [component],
            |r| r.get(0),
        )
        .optional()?
        .flatten();
    Ok(v.unwrap_or(0))
}

/// Applies the pending migrations of `component` with the shared runner
/// (`store::migrations`), each in its own IMMEDIATE transaction; returns
/// the version reached.
pub fn apply(
    conn: &mut Connection,
    component: &str,
    migrations: &[Migration],
) -> Result<i64, StoreError> {
    migrations::apply(conn, component, migrations)
}

/// SQLite's side of the shared runner: the migration lock is the file's
/// write lock, taken at the start of an IMMEDIATE transaction.
impl MigrationConn for Connection {
    fn prepare(&mut self) -> Result<(), StoreError> {
        Ok(self.execute_batch(BOOKKEEPING)?)
    }

    fn version(&mut self, component: &str) -> Result<i64, StoreError> {
        current_version(self, component)
    }

    fn locked(
        &mut self,
        step: &mut dyn FnMut(&mut dyn MigrationTx) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let tx = self.transaction_with_behavior(TransactionBehavior::Immediate)?;
        step(&mut Locked(&tx))?;
        Ok(tx.commit()?)
    }
}

/// A migration transaction on SQLite (rolled back when dropped uncommitted).
struct Locked<'t>(&'t rusqlite::Transaction<'t>);

impl MigrationTx for Locked<'_> {
    fn version(&mut self, component: &str) -> Result<i64, StoreError> {
        current_version(self.0, component)
    }

    fn execute(&mut self, sql: &str) -> Result<(), StoreError> {
        Ok(self.0.execute_batch(sql)?)
    }

    fn record(&mut self, component: &str, m: &Migration) -> Result<(), StoreError> {
        self.0.execute(
            "INSERT INTO schema_migrations (component, version, name) VALUES (?1, ?2, ?3)",
            rusqlite::params![component, m.version, m.name],
        )?;
        Ok(())
    }
}

/// The server's own tables.
pub const SERVER: &[Migration] = &[
    Migration {
        version: 1,
        name: "accounts, devices, markets, merchants",
        sql: r#"
CREATE TABLE markets (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    region_code TEXT NOT NULL,
    address     TEXT,
    created_at  TEXT NOT NULL
) STRICT;

CREATE TABLE merchants (
    id                TEXT PRIMARY KEY,
    market_id         TEXT REFERENCES markets(id),
    name              TEXT NOT NULL,
    uscc              TEXT NOT NULL,
    uscc_acknowledged INTEGER NOT NULL DEFAULT 0,
    licence_no        TEXT,
    licence_expiry    TEXT,
    business_type     TEXT,
    categories        TEXT NOT NULL DEFAULT '[]',
    stall             TEXT,
    contact           TEXT,
    region_code       TEXT NOT NULL,
    shop_code         TEXT NOT NULL UNIQUE,
    created_at        TEXT NOT NULL
) STRICT;
-- A licence covers one business premises: the same number twice is a
-- double registration (e.g. an import run twice).
CREATE UNIQUE INDEX merchants_licence ON merchants(licence_no) WHERE licence_no IS NOT NULL;
CREATE INDEX merchants_market ON merchants(market_id);
CREATE INDEX merchants_region ON merchants(region_code);
CREATE INDEX merchants_uscc ON merchants(uscc);

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    username      TEXT NOT NULL UNIQUE COLLATE NOCASE,
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('admin', 'analyst', 'inspector', 'merchant')),
    merchant_id   TEXT REFERENCES merchants(id),
    regions       TEXT NOT NULL DEFAULT '[]',
    created_at    TEXT NOT NULL,
    failed_logins INTEGER NOT NULL DEFAULT 0,
    locked_until  TEXT
) STRICT;

CREATE TABLE devices (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users(id),
    name       TEXT NOT NULL,
    created_at TEXT NOT NULL,
    last_seen  TEXT
) STRICT;
CREATE INDEX devices_user ON devices(user_id);
"#,
    },
    Migration {
        version: 2,
        name: "idempotency keys",
        sql: r#"
-- The first response to a create sent with an Idempotency-Key, answered
-- again to its retries. Written in the same transaction as what it created.
CREATE TABLE idempotency_keys (
    account     TEXT    NOT NULL,
    key         TEXT    NOT NULL,
    operation   TEXT    NOT NULL,
    fingerprint TEXT    NOT NULL,
    status      INTEGER NOT NULL,
    response    TEXT    NOT NULL,
    created_at  TEXT    NOT NULL,
    PRIMARY KEY (account, key)
) STRICT, WITHOUT ROWID;
CREATE INDEX idempotency_keys_created ON idempotency_keys(created_at);
"#,
    },
    Migration {
        version: 3,
        name: "market-operator accounts and their markets",
        // SQLite cannot widen a CHECK in place: the table is rebuilt. The
        // devices' foreign key to `users` is checked at commit (deferred),
        // after the rows are back under the same name — so it holds; a
        // rename would have rewritten the devices' reference instead.
        sql: r#"
PRAGMA defer_foreign_keys = ON;
CREATE TEMP TABLE users_before_v3 AS SELECT * FROM users;
DROP TABLE users;
CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    username      TEXT NOT NULL UNIQUE COLLATE NOCASE,
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('admin', 'analyst', 'inspector', 'merchant', 'market_operator')),
    merchant_id   TEXT REFERENCES merchants(id),
    regions       TEXT NOT NULL DEFAULT '[]',
    -- market ids a market operator runs, a JSON array
    markets       TEXT NOT NULL DEFAULT '[]',
    created_at    TEXT NOT NULL,
    failed_logins INTEGER NOT NULL DEFAULT 0,
    locked_until  TEXT
) STRICT;
INSERT INTO users (id, username, password_hash, role, merchant_id, regions, created_at, failed_logins, locked_until)
    SELECT id, username, password_hash, role, merchant_id, regions, created_at, failed_logins, locked_until FROM users_before_v3;
DROP TABLE users_before_v3;
"#,
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn applies_once_and_refuses_newer() {
        let mut conn = Connection::open_in_memory().unwrap();
        let known = SERVER.len() as i64;
        assert_eq!(apply(&mut conn, "server", SERVER).unwrap(), known);
        assert_eq!(apply(&mut conn, "server", SERVER).unwrap(), known);
        assert_eq!(current_version(&conn, "server").unwrap(), known);
        assert_eq!(current_version(&conn, "ledger").unwrap(), 0);
        conn.execute(
            "INSERT INTO schema_migrations (component, version) VALUES ('server', ?1)",
            [known + 1],
        )
        .unwrap();
        assert!(matches!(
            apply(&mut conn, "server", SERVER),
            Err(StoreError::Migration { .. })
        ));
    }

    /// v3 rebuilds `users`: an account made under v2, and the device that
    /// references it, come through with their foreign key intact.
    #[test]
    fn v3_keeps_accounts_and_their_devices() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "foreign_keys", "ON").unwrap();
        apply(&mut conn, "server", &SERVER[..2]).unwrap();
        conn.execute_batch(
            "INSERT INTO users (id, username, password_hash, role, regions, created_at, failed_logins)
                 VALUES ('u1', 'wang', 'h', 'inspector', '[\"350203\"]', '2026-11-01T00:00:00Z', 2);
             INSERT INTO devices (id, user_id, name, created_at) VALUES ('d1', 'u1', 'pad', '2026-11-01T00:00:00Z');",
        )
        .unwrap();
        assert_eq!(apply(&mut conn, "server", SERVER).unwrap(), 3);
        let (role, regions, markets, failed): (String, String, String, i64) = conn
            .query_row(
                "SELECT role, regions, markets, failed_logins FROM users WHERE id = 'u1'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .unwrap();
        assert_eq!(
            (role.as_str(), regions.as_str(), markets.as_str(), failed),
            ("inspector", "[\"350203\"]", "[]", 2)
        );
        let broken: i64 = conn
            .query_row("SELECT COUNT(*) FROM pragma_foreign_key_check", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(broken, 0);
        // The wider CHECK takes the new role; a device of a missing user is
        // still refused.
        conn.execute(
            "INSERT INTO users (id, username, password_hash, role, markets, created_at) VALUES ('u2', 'op', 'h', 'market_operator', '[\"m1\"]', '2026-12-01T00:00:00Z')",
            [],
        )
        .unwrap();
        assert!(conn
            .execute("INSERT INTO devices (id, user_id, name, created_at) VALUES ('d2', 'nobody', 'x', 'now')", [])
            .is_err());
    }
}
