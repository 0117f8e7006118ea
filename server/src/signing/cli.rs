//! `shian-server keys rotate|retire`: changes the key ring where the
//! store keeps it (`crate::keys`: files beside a SQLite file, the database
//! for PostgreSQL), then publishes the new trust list to every device
//! through the database, so phones learn of it at their next pull whether
//! or not a server is running.

use crate::cli::KeysCommand;
use crate::keys::Keys;
use crate::store::postgres::PgOptions;
use crate::store::sqlite::SqliteOptions;

/// Runs a `keys` subcommand; the error is printed by `main`.
pub async fn run(cmd: KeysCommand) -> Result<(), String> {
    let db = match &cmd {
        KeysCommand::Rotate { db, .. } | KeysCommand::Retire { db, .. } => db.clone(),
    };
    let sqlite = SqliteOptions {
        readers: 1,
        ..SqliteOptions::default()
    };
    let postgres = PgOptions {
        max_connections: 2,
        ..PgOptions::default()
    };
    let crate::db_target::Opened { store, keys: home } = db
        .open(sqlite, postgres, false)
        .await
        .map_err(|e| format!("数据库 (database) {db}: {e}"))?;
    let changed = tokio::task::spawn_blocking(move || -> Result<Keys, String> {
        match &cmd {
            KeysCommand::Rotate { .. } => {
                let kid = Keys::rotate_at(&home).map_err(|e| e.to_string())?;
                println!("new signing key {kid}");
            }
            KeysCommand::Retire { kid, .. } => {
                Keys::retire_at(&home, kid).map_err(|e| e.to_string())?;
                println!("retired {kid}");
            }
        }
        Keys::open(&home).map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| e.to_string());
    let published = match changed {
        Ok(Ok(keys)) => store
            .publish_trust_list(keys.trusted_keys())
            .await
            .map_err(|e| e.to_string()),
        Ok(Err(e)) | Err(e) => Err(e),
    };
    let _ = store.close().await;
    published?;
    println!("trust list published to devices");
    Ok(())
}
