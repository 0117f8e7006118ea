//! `shian-server keys rotate|retire`: changes the key ring beside the
//! database (`crate::keys`), then publishes the new trust list to every
//! device through the database, so phones learn of it at their next pull
//! whether or not a server is running.

use crate::cli::KeysCommand;
use crate::keys::Keys;
use crate::store::postgres::PgOptions;
use crate::store::sqlite::SqliteOptions;

/// Runs a `keys` subcommand; the error is printed by `main`.
pub async fn run(cmd: KeysCommand) -> Result<(), String> {
    let (db, data_dir) = match &cmd {
        KeysCommand::Rotate { db, data_dir } | KeysCommand::Retire { db, data_dir, .. } => {
            (db.clone(), data_dir.clone())
        }
    };
    let path = db.key_home(&data_dir);
    let keys = tokio::task::spawn_blocking(move || -> Result<Keys, String> {
        match &cmd {
            KeysCommand::Rotate { .. } => {
                let kid = Keys::rotate(&path).map_err(|e| e.to_string())?;
                println!("new signing key {kid}");
            }
            KeysCommand::Retire { kid, .. } => {
                Keys::retire(&path, kid).map_err(|e| e.to_string())?;
                println!("retired {kid}");
            }
        }
        Keys::load_or_create(&path).map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| e.to_string())??;
    let sqlite = SqliteOptions {
        readers: 1,
        ..SqliteOptions::default()
    };
    let postgres = PgOptions {
        max_connections: 2,
        ..PgOptions::default()
    };
    let store = db
        .open(sqlite, postgres, false)
        .await
        .map_err(|e| format!("数据库 (database) {db}: {e}"))?;
    let published = store.publish_trust_list(keys.trusted_keys()).await;
    let _ = store.close().await;
    published.map_err(|e| e.to_string())?;
    println!("trust list published to devices");
    Ok(())
}
