//! [`LedgerStore`] for the SQLite backend.

use std::sync::OnceLock;

use chrono::Utc;
use rusqlite::{params, OptionalExtension};
use shian_core::rules::LedgerRules;
use shian_core::sync::protocol::{Op, OpResult, PullResponse};

use super::ledger::{split_pull, LedgerStore};
use super::sqlite::SqliteStore;
use super::{ts, StoreError, StoreFuture};
use crate::sync::{sql, Caller, PullError};

/// The ledger rules this server enforces (core's built-in set).
fn rules() -> &'static LedgerRules {
    static RULES: OnceLock<LedgerRules> = OnceLock::new();
    RULES.get_or_init(LedgerRules::builtin)
}

impl LedgerStore for SqliteStore {
    fn claim_device(&self, device_id: String, user_id: String) -> StoreFuture<'_, ()> {
        Box::pin(self.writer().call(move |conn| {
            let now = ts(&Utc::now());
            let owner: Option<String> =
                conn.query_row("SELECT user_id FROM devices WHERE id = ?1", [&device_id], |r| r.get(0)).optional()?;
            match owner {
                Some(o) if o != user_id => Err(StoreError::conflict("device_of_another_user", "该设备已登记在其他账号下")),
                Some(_) => {
                    conn.execute("UPDATE devices SET last_seen = ?2 WHERE id = ?1", params![device_id, now])?;
                    Ok(())
                }
                None => {
                    conn.execute(
                        "INSERT INTO devices (id, user_id, name, created_at, last_seen) VALUES (?1, ?2, ?1, ?3, ?3)",
                        params![device_id, user_id, now],
                    )?;
                    Ok(())
                }
            }
        }))
    }

    fn sync_push(&self, caller: Caller, device_id: String, ops: Vec<Op>) -> StoreFuture<'_, (Vec<OpResult>, String)> {
        Box::pin(self.writer().call(move |conn| -> Result<_, StoreError> {
            Ok(sql::push(conn, &caller, &device_id, &ops, rules(), Utc::now())?)
        }))
    }

    fn sync_pull(&self, caller: Caller, cursor: String, limit: u32) -> StoreFuture<'_, Result<PullResponse, PullError>> {
        Box::pin(self.readers().call(move |conn| split_pull(sql::pull(conn, &caller, &cursor, limit))))
    }
}
