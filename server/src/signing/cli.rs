//! `shian-server keys rotate|retire`: changes the key ring beside the
//! database (`crate::keys`), then publishes the new trust list to every
//! device through the database, so phones learn of it at their next pull
//! whether or not a server is running.

use crate::cli::KeysCommand;
use crate::keys::Keys;
use crate::store::signing::SigningStore;
use crate::store::sqlite::{SqliteOptions, SqliteStore};
use crate::store::Store;

/// Runs a `keys` subcommand; the error is printed by `main`.
pub async fn run(cmd: KeysCommand) -> Result<(), String> {
    let db = match &cmd {
        KeysCommand::Rotate { db } | KeysCommand::Retire { db, .. } => db.clone(),
    };
    let path = db.clone();
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
    let opts = SqliteOptions {
        readers: 1,
        ..SqliteOptions::default()
    };
    let path = db.clone();
    let store = tokio::task::spawn_blocking(move || SqliteStore::open(&path, &opts))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("数据库 (database) {}: {e}", db.display()))?;
    let published = store.publish_trust_list(keys.trusted_keys()).await;
    let _ = store.close().await;
    published.map_err(|e| e.to_string())?;
    println!("trust list published to devices");
    Ok(())
}
