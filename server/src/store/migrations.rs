//! The migration runner, backend-neutral: the rules of versioned,
//! per-component schema migrations, with each backend supplying only its
//! connection's three operations ([`MigrationConn`], [`MigrationTx`]).
//!
//! The rules (the same as SQLite's runner, `store/sqlite/migrate.rs`, which
//! came first):
//! * one database holds several components (`"server"`, core's
//!   `"ledger"`, `"sync"`, `"field"`…), each numbering its migrations
//!   1, 2, 3… without gaps; `schema_migrations(component, version, name,
//!   applied_at)` records what is applied, so components evolve apart;
//! * each migration runs in its own transaction, which first takes the
//!   backend's migration lock and re-reads the applied version: two
//!   processes starting on one database at once (three server instances,
//!   or a server and the `admin` CLI) apply each migration exactly once,
//!   the later one finding it done;
//! * a migration that fails rolls back whole, leaving the previous version;
//! * a database migrated by a newer binary (a version this binary does not
//!   know) is refused rather than misread.
//!
//! Why here and not in a backend folder: so that the rules exist once. The
//! PostgreSQL backend implements the two traits (`store/postgres/migrate.rs`,
//! with `pg_advisory_xact_lock` as the lock), and so does SQLite's
//! (`store/sqlite/migrate.rs`, with an IMMEDIATE transaction — the file's
//! write lock — as the lock): both backends run one tool. No SQL here: the
//! backend's traits hold it.

use crate::store::StoreError;

/// One step of a component's schema.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// 1, 2, 3… without gaps.
    pub version: i64,
    /// Short description, recorded beside the version.
    pub name: &'static str,
    /// The backend's SQL (several statements), run inside the migration's
    /// transaction.
    pub sql: &'static str,
}

/// What the runner needs of a backend's connection.
pub trait MigrationConn {
    /// Makes the bookkeeping table when it is missing. Must be safe when
    /// several processes do it at once (under the migration lock, say).
    fn prepare(&mut self) -> Result<(), StoreError>;

    /// The highest applied version of `component` (0 when none), read
    /// outside any migration transaction.
    fn version(&mut self, component: &str) -> Result<i64, StoreError>;

    /// Runs `step` in one transaction that holds the backend's migration
    /// lock from its start: commits when `step` returns `Ok`, rolls back
    /// when it returns `Err` (and returns that error).
    fn locked(
        &mut self,
        step: &mut dyn FnMut(&mut dyn MigrationTx) -> Result<(), StoreError>,
    ) -> Result<(), StoreError>;
}

/// A migration transaction, under the migration lock.
pub trait MigrationTx {
    /// The applied version of `component` as this transaction sees it.
    fn version(&mut self, component: &str) -> Result<i64, StoreError>;
    /// Runs a migration's SQL.
    fn execute(&mut self, sql: &str) -> Result<(), StoreError>;
    /// Records `migration` as applied to `component`.
    fn record(&mut self, component: &str, migration: &Migration) -> Result<(), StoreError>;
}

/// Applies the pending migrations of `component`, each in its own locked
/// transaction; returns the version reached (the number of migrations
/// this binary knows).
pub fn apply(
    conn: &mut dyn MigrationConn,
    component: &str,
    migrations: &[Migration],
) -> Result<i64, StoreError> {
    let err = |version: i64, message: String| StoreError::Migration {
        component: component.to_owned(),
        version,
        message,
    };
    for (i, m) in migrations.iter().enumerate() {
        if m.version != i as i64 + 1 {
            return Err(err(
                m.version,
                format!(
                    "versions must be 1, 2, 3… (found {} at position {})",
                    m.version,
                    i + 1
                ),
            ));
        }
    }
    conn.prepare()?;
    let known = migrations.len() as i64;
    let refuse_newer = |applied: i64| {
        err(
            applied,
            format!("database is at version {applied}, this binary knows only {known}; upgrade the binary"),
        )
    };
    let applied = conn.version(component)?;
    if applied > known {
        return Err(refuse_newer(applied));
    }
    for m in migrations.iter().filter(|m| m.version > applied) {
        let mut ran = false;
        conn.locked(&mut |tx| {
            // Another process may have applied it (or newer ones) between
            // our read and our lock.
            let now = tx.version(component)?;
            if now > known {
                return Err(refuse_newer(now));
            }
            if now >= m.version {
                return Ok(());
            }
            tx.execute(m.sql)
                .map_err(|e| err(m.version, e.to_string()))?;
            tx.record(component, m)?;
            ran = true;
            Ok(())
        })?;
        if ran {
            tracing::info!(
                component,
                version = m.version,
                name = m.name,
                "applied migration"
            );
        }
    }
    Ok(known)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    /// A backend held in memory: the "database" is the applied versions and
    /// a log of the statements run; a transaction works on a copy that
    /// replaces the original only on commit.
    #[derive(Default, Clone)]
    struct Fake {
        applied: BTreeMap<String, Vec<i64>>,
        ran: Vec<String>,
        prepared: bool,
        /// Versions of `"c"` that "another process" applies between the
        /// runner's first read and its lock.
        race: Vec<i64>,
    }

    impl MigrationConn for Fake {
        fn prepare(&mut self) -> Result<(), StoreError> {
            self.prepared = true;
            Ok(())
        }

        fn version(&mut self, component: &str) -> Result<i64, StoreError> {
            assert!(self.prepared, "read before prepare");
            MigrationTx::version(self, component)
        }

        fn locked(
            &mut self,
            step: &mut dyn FnMut(&mut dyn MigrationTx) -> Result<(), StoreError>,
        ) -> Result<(), StoreError> {
            for v in std::mem::take(&mut self.race) {
                self.applied.entry("c".into()).or_default().push(v);
            }
            let mut tx = self.clone();
            step(&mut tx)?;
            *self = tx;
            Ok(())
        }
    }

    impl MigrationTx for Fake {
        fn version(&mut self, component: &str) -> Result<i64, StoreError> {
            Ok(self
                .applied
                .get(component)
                .and_then(|v| v.iter().max().copied())
                .unwrap_or(0))
        }

        fn execute(&mut self, sql: &str) -> Result<(), StoreError> {
            if sql == "fail" {
                return Err(StoreError::Backend("syntax error".into()));
            }
            self.ran.push(sql.to_owned());
            Ok(())
        }

        fn record(&mut self, component: &str, m: &Migration) -> Result<(), StoreError> {
            self.applied
                .entry(component.to_owned())
                .or_default()
                .push(m.version);
            Ok(())
        }
    }

    const STEPS: &[Migration] = &[
        Migration {
            version: 1,
            name: "one",
            sql: "a",
        },
        Migration {
            version: 2,
            name: "two",
            sql: "b",
        },
        Migration {
            version: 3,
            name: "three",
            sql: "c",
        },
    ];

    #[test]
    fn applies_in_order_once_per_component() {
        let mut db = Fake::default();
        assert_eq!(apply(&mut db, "c", STEPS).unwrap(), 3);
        assert_eq!(apply(&mut db, "c", STEPS).unwrap(), 3);
        assert_eq!(apply(&mut db, "d", &STEPS[..1]).unwrap(), 1);
        assert_eq!(db.ran, ["a", "b", "c", "a"]);
        assert_eq!(db.applied["c"], [1, 2, 3]);
        assert_eq!(db.applied["d"], [1]);
    }

    /// What another process applied while we waited for the lock is not
    /// applied again: the version is read again under the lock.
    #[test]
    fn re_reads_the_version_under_the_lock() {
        let mut db = Fake {
            race: vec![1, 2],
            ..Fake::default()
        };
        apply(&mut db, "c", STEPS).unwrap();
        assert_eq!(db.ran, ["c"]);
        assert_eq!(db.applied["c"], [1, 2, 3]);
    }

    #[test]
    fn refuses_a_newer_database_and_gaps() {
        let mut db = Fake::default();
        db.applied.insert("c".into(), vec![1, 2, 3, 4]);
        let e = apply(&mut db, "c", STEPS).unwrap_err();
        assert!(matches!(e, StoreError::Migration { version: 4, .. }), "{e}");
        // Newer versions that land while we wait for the lock, too.
        let mut db = Fake {
            race: vec![1, 2, 3, 4],
            ..Fake::default()
        };
        assert!(apply(&mut db, "c", STEPS).is_err());
        let gap = [STEPS[0], STEPS[2]];
        let e = apply(&mut Fake::default(), "c", &gap).unwrap_err();
        assert!(e.to_string().contains("1, 2, 3"), "{e}");
    }

    /// A failing step rolls back whole: the version stays where it was and
    /// the error names the component and version.
    #[test]
    fn a_failed_step_leaves_the_previous_version() {
        let steps = [
            STEPS[0],
            Migration {
                version: 2,
                name: "broken",
                sql: "fail",
            },
        ];
        let mut db = Fake::default();
        let e = apply(&mut db, "c", &steps).unwrap_err();
        match e {
            StoreError::Migration {
                component,
                version,
                message,
            } => {
                assert_eq!((component.as_str(), version), ("c", 2));
                assert!(message.contains("syntax error"), "{message}");
            }
            other => panic!("{other}"),
        }
        assert_eq!(db.applied["c"], [1]);
        assert_eq!(db.ran, ["a"]);
    }
}
