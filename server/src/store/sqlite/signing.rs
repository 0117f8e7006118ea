//! Device certificates, their revocation and the published trust list, in
//! SQLite (component `signing`).

use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::{params, Connection, OptionalExtension, Row};
use serde_json::Value;
use shian_core::signed::local::TRUST_LIST_KEY;
use shian_core::signed::{RevokedDevice, TrustList, TrustedKey};

use super::migrate::{self, Migration};
use super::timestamps::ts;
use super::{constraint, ts_col, SqliteStore, FOREIGN_KEY, PRIMARY_KEY, UNIQUE};
use crate::store::signing::{DeviceCertificate, Revoked, SigningStore, TRUST_LIST_KIND};
use crate::store::{Device, StoreError, StoreFuture};

pub(super) const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "device certificates and their revocation",
    sql: r#"
    CREATE TABLE device_certificates (
        cert_id     TEXT PRIMARY KEY,
        device_id   TEXT NOT NULL REFERENCES devices(id),
        merchant_id TEXT NOT NULL,
        public_key  TEXT NOT NULL,
        certificate TEXT NOT NULL,
        kid         TEXT NOT NULL,
        valid_from  TEXT NOT NULL,
        valid_until TEXT NOT NULL,
        created_at  TEXT NOT NULL,
        revoked_at  TEXT
    );
    CREATE INDEX device_certificates_by_device ON device_certificates(device_id);
    CREATE INDEX device_certificates_revoked ON device_certificates(revoked_at) WHERE revoked_at IS NOT NULL;
    "#,
}];

pub(super) fn open(conn: &mut Connection) -> Result<(), StoreError> {
    migrate::apply(conn, "signing", MIGRATIONS)?;
    Ok(())
}

fn date_col(r: &Row<'_>, i: usize) -> rusqlite::Result<NaiveDate> {
    let s: String = r.get(i)?;
    s.parse().map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, Box::new(e))
    })
}

fn certificate(r: &Row<'_>) -> rusqlite::Result<DeviceCertificate> {
    Ok(DeviceCertificate {
        cert_id: r.get(0)?,
        device_id: r.get(1)?,
        merchant_id: r.get(2)?,
        public_key: r.get(3)?,
        certificate: r.get(4)?,
        kid: r.get(5)?,
        valid_from: date_col(r, 6)?,
        valid_until: date_col(r, 7)?,
        created_at: ts_col(r, 8)?,
    })
}

fn revoked(conn: &Connection) -> rusqlite::Result<Vec<RevokedDevice>> {
    let mut st = conn.prepare_cached(
        "SELECT cert_id, device_id, revoked_at FROM device_certificates
         WHERE revoked_at IS NOT NULL ORDER BY revoked_at, cert_id",
    )?;
    let rows = st.query_map([], |r| {
        Ok(RevokedDevice {
            cert_id: r.get(0)?,
            device_id: r.get(1)?,
            revoked_at: r.get(2)?,
        })
    })?;
    rows.collect()
}

/// Publishes the trust list of `keys` and the revoked certificates unless
/// the latest published one is equal; inside the caller's transaction.
fn publish_if_changed(conn: &Connection, keys: Vec<TrustedKey>) -> Result<bool, StoreError> {
    let list = TrustList {
        keys,
        revoked_devices: revoked(conn)?,
    };
    let mut payload =
        serde_json::to_value(&list).map_err(|e| StoreError::Backend(e.to_string()))?;
    // Core's inbox keeps the latest change of each (kind, payload id).
    payload["id"] = Value::from(TRUST_LIST_KEY);
    let last: Option<String> = conn
        .prepare_cached("SELECT payload FROM changes WHERE kind = ?1 ORDER BY seq DESC LIMIT 1")?
        .query_row([TRUST_LIST_KIND], |r| r.get(0))
        .optional()?;
    if last.and_then(|t| serde_json::from_str::<Value>(&t).ok()) == Some(payload.clone()) {
        return Ok(false);
    }
    super::sync::publish(conn, TRUST_LIST_KIND, None, None, None, &payload)?;
    Ok(true)
}

impl SigningStore for SqliteStore {
    fn create_certified_device(&self, d: Device, c: DeviceCertificate) -> StoreFuture<'_, Device> {
        Box::pin(self.writer().call(move |conn| {
            let tx = conn.transaction()?;
            tx.execute(
                "INSERT INTO devices (id, user_id, name, created_at, last_seen) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![d.id, d.user_id, d.name, ts(&d.created_at), d.last_seen.as_ref().map(ts)],
            )
            .map_err(|e| match constraint(&e) {
                Some(FOREIGN_KEY) => StoreError::NotFound("用户"),
                Some(PRIMARY_KEY) => StoreError::conflict("duplicate_device", "设备已登记 (device exists)"),
                _ => e.into(),
            })?;
            tx.execute(
                "INSERT INTO device_certificates (cert_id, device_id, merchant_id, public_key, certificate, kid, valid_from, valid_until, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![c.cert_id, c.device_id, c.merchant_id, c.public_key, c.certificate, c.kid,
                        c.valid_from.to_string(), c.valid_until.to_string(), ts(&c.created_at)],
            )
            .map_err(|e| match constraint(&e) {
                Some(PRIMARY_KEY) | Some(UNIQUE) => {
                    StoreError::conflict("duplicate_certificate", "证书编号冲突，请重试 (retry)")
                }
                _ => e.into(),
            })?;
            tx.commit()?;
            Ok(d)
        }))
    }

    fn device_certificates(&self, device_id: String) -> StoreFuture<'_, Vec<DeviceCertificate>> {
        Box::pin(self.readers().call(move |conn| {
            let mut st = conn.prepare_cached(
                "SELECT cert_id, device_id, merchant_id, public_key, certificate, kid, valid_from, valid_until, created_at
                 FROM device_certificates WHERE device_id = ?1 ORDER BY created_at, cert_id",
            )?;
            let rows = st.query_map([&device_id], certificate)?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        }))
    }

    fn revoke_device(
        &self,
        device_id: String,
        at: DateTime<Utc>,
        keys: Vec<TrustedKey>,
    ) -> StoreFuture<'_, Option<Revoked>> {
        Box::pin(self.writer().call(move |conn| {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let exists: bool = tx.query_row(
                "SELECT EXISTS(SELECT 1 FROM devices WHERE id = ?1)",
                [&device_id],
                |r| r.get(0),
            )?;
            if !exists {
                return Ok(None);
            }
            tx.execute(
                "UPDATE device_certificates SET revoked_at = ?2 WHERE device_id = ?1 AND revoked_at IS NULL",
                params![device_id, ts(&at)],
            )?;
            let cert_ids = {
                let mut st = tx.prepare_cached(
                    "SELECT cert_id FROM device_certificates WHERE device_id = ?1 ORDER BY cert_id",
                )?;
                let rows = st.query_map([&device_id], |r| r.get(0))?;
                rows.collect::<rusqlite::Result<Vec<String>>>()?
            };
            publish_if_changed(&tx, keys)?;
            tx.commit()?;
            Ok(Some(Revoked {
                device_id,
                cert_ids,
                revoked_at: at,
            }))
        }))
    }

    fn revoked_devices(&self) -> StoreFuture<'_, Vec<RevokedDevice>> {
        Box::pin(self.readers().call(|conn| Ok(revoked(conn)?)))
    }

    fn publish_trust_list(&self, keys: Vec<TrustedKey>) -> StoreFuture<'_, bool> {
        Box::pin(self.writer().call(move |conn| {
            // IMMEDIATE: servers starting at once and the CLI read the last
            // list and write the next without upgrading a read lock.
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let published = publish_if_changed(&tx, keys)?;
            tx.commit()?;
            Ok(published)
        }))
    }
}
