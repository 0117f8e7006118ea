//! Which store a command opens (the one place that names both backends,
//! beside the store layer, which names neither): a SQLite file (the default, zero set-up)
//! or a PostgreSQL database (`postgres://…`, for several instances, a
//! province or a country). One `--db` / `SHIAN_DB` names either.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::keys::KeyHome;
use crate::store::postgres::pool::{is_postgres_url, redact};
use crate::store::postgres::{PgOptions, PgStore};
use crate::store::sqlite::{SqliteOptions, SqliteStore};
use crate::store::{Store, StoreError};

/// A store's address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DbTarget {
    /// A SQLite file (created with its folder on first start).
    Sqlite(PathBuf),
    /// A `postgres://user[:password]@host:port/db` URL.
    Postgres(String),
}

impl std::str::FromStr for DbTarget {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(if is_postgres_url(s) {
            DbTarget::Postgres(s.to_owned())
        } else {
            DbTarget::Sqlite(PathBuf::from(s))
        })
    }
}

/// For logs: the path, or the URL without its password.
impl std::fmt::Display for DbTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DbTarget::Sqlite(p) => write!(f, "{}", p.display()),
            DbTarget::Postgres(url) => f.write_str(&redact(url)),
        }
    }
}

impl DbTarget {
    /// The folder the server keeps its files in beside the store: the
    /// SQLite file's folder, or `data_dir` for PostgreSQL (the demo's
    /// ground truth; the keys are in the database).
    pub fn files_dir(&self, data_dir: &Path) -> PathBuf {
        match self {
            DbTarget::Sqlite(p) => match p.parent() {
                Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
                _ => PathBuf::from("."),
            },
            DbTarget::Postgres(_) => data_dir.to_path_buf(),
        }
    }

    /// Opens and migrates the store, and says where its keys are: in
    /// `keys/` beside a SQLite file (out of the file's copies), in the
    /// database on PostgreSQL (every instance shares them). With
    /// `serving`, builds its ledger graph before the first request rather
    /// than in it (a corrupt entry stops the start here); the CLI's short
    /// jobs never replay the ledger. Blocking work runs on the blocking
    /// pool.
    pub async fn open(
        &self,
        sqlite: SqliteOptions,
        postgres: PgOptions,
        serving: bool,
    ) -> Result<Opened, StoreError> {
        let blocking = |e: tokio::task::JoinError| StoreError::Panicked(e.to_string());
        match self.clone() {
            DbTarget::Sqlite(path) => {
                let keys = KeyHome::Files(path.clone());
                let store = tokio::task::spawn_blocking(move || SqliteStore::open(&path, &sqlite))
                    .await
                    .map_err(blocking)??;
                if serving {
                    store.graph().await?;
                }
                Ok(Opened {
                    store: Arc::new(store),
                    keys,
                })
            }
            DbTarget::Postgres(url) => {
                let store = tokio::task::spawn_blocking(move || PgStore::open(&url, &postgres))
                    .await
                    .map_err(blocking)??;
                if serving {
                    store.graph().await?;
                }
                Ok(Opened {
                    keys: KeyHome::Vault(Arc::new(store.vault())),
                    store: Arc::new(store),
                })
            }
        }
    }
}

/// A store [`DbTarget::open`] opened, and where its keys are.
pub struct Opened {
    pub store: Arc<dyn Store>,
    pub keys: KeyHome,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_is_postgres_and_anything_else_a_file() {
        let pg: DbTarget = "postgres://shian:pw@db:5432/shian".parse().unwrap();
        assert!(matches!(pg, DbTarget::Postgres(_)));
        assert_eq!(pg.to_string(), "postgres://shian:***@db:5432/shian");
        let file: DbTarget = "./data/shian.db".parse().unwrap();
        assert_eq!(file, DbTarget::Sqlite("./data/shian.db".into()));
        assert_eq!(file.files_dir(Path::new("x")), PathBuf::from("./data"));
        assert_eq!(pg.files_dir(Path::new("x")), PathBuf::from("x"));
    }
}
