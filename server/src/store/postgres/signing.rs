//! [`SigningStore`] on PostgreSQL (from `sqlite/signing.rs`): device
//! certificates, their revocation and the published trust list.
//!
//! `device_certificates` is a reference table (every node verifies
//! devices); the trust list goes out on the changes feed to everyone.
//! Where SQLite takes an IMMEDIATE transaction so that two writers do not
//! both read the last trust list and publish the next, this backend takes
//! a transaction-scoped advisory lock ([`super::field::serialise`]): every
//! instance's revocation and start-up publication queue on it.

use chrono::{DateTime, Utc};
use postgres::{GenericClient, Row};
use serde_json::Value;
use shian_core::signed::local::TRUST_LIST_KEY;
use shian_core::signed::{RevokedDevice, TrustList, TrustedKey};

use super::error::PgError;
use super::feed::{publish, Audience};
use super::field::{rfc3339, serialise};
use super::store::PgStore;
use crate::store::signing::{DeviceCertificate, Revoked, SigningStore, TRUST_LIST_KIND};
use crate::store::{Device, StoreError, StoreFuture};

/// The advisory lock of trust-list publication: "shiantrl" in ASCII.
const TRUST_LIST_LOCK: i64 = 0x7368_6961_6e74_726c;

fn certificate(r: &Row) -> DeviceCertificate {
    DeviceCertificate {
        cert_id: r.get(0),
        device_id: r.get(1),
        merchant_id: r.get(2),
        public_key: r.get(3),
        certificate: r.get(4),
        kid: r.get(5),
        valid_from: r.get(6),
        valid_until: r.get(7),
        created_at: r.get(8),
    }
}

fn revoked(c: &mut impl GenericClient) -> Result<Vec<RevokedDevice>, StoreError> {
    let rows = c.query(
        "SELECT cert_id, device_id, revoked_at FROM device_certificates
         WHERE revoked_at IS NOT NULL ORDER BY revoked_at, cert_id",
        &[],
    )?;
    Ok(rows
        .iter()
        .map(|r| RevokedDevice {
            cert_id: r.get(0),
            device_id: r.get(1),
            revoked_at: rfc3339(&r.get::<_, DateTime<Utc>>(2)),
        })
        .collect())
}

/// Publishes the trust list of `keys` and the revoked certificates unless
/// the latest published one is equal; inside the caller's transaction,
/// which holds [`TRUST_LIST_LOCK`].
fn publish_if_changed(c: &mut impl GenericClient, keys: Vec<TrustedKey>) -> Result<bool, StoreError> {
    let list = TrustList {
        keys,
        revoked_devices: revoked(c)?,
    };
    let mut payload =
        serde_json::to_value(&list).map_err(|e| StoreError::Backend(e.to_string()))?;
    // Core's inbox keeps the latest change of each (kind, payload id).
    payload["id"] = Value::from(TRUST_LIST_KEY);
    let last: Option<Value> = c
        .query_opt(
            "SELECT payload FROM changes WHERE kind = $1 ORDER BY seq DESC LIMIT 1",
            &[&TRUST_LIST_KIND],
        )?
        .map(|r| r.get(0));
    if last.as_ref() == Some(&payload) {
        return Ok(false);
    }
    publish(c, TRUST_LIST_KIND, Audience::default(), &payload)?;
    Ok(true)
}

impl SigningStore for PgStore {
    fn create_certified_device(&self, d: Device, c: DeviceCertificate) -> StoreFuture<'_, Device> {
        Box::pin(self.pool.call(move |client| {
            let mut tx = client.transaction()?;
            tx.execute(
                "INSERT INTO devices (id, user_id, name, created_at, last_seen) VALUES ($1, $2, $3, $4, $5)",
                &[&d.id, &d.user_id, &d.name, &d.created_at, &d.last_seen],
            )
            .map_err(|e| match PgError::from(e) {
                PgError::ForeignKey { .. } => StoreError::NotFound("用户"),
                PgError::Unique { .. } => {
                    StoreError::conflict("duplicate_device", "设备已登记 (device exists)")
                }
                e => e.into(),
            })?;
            tx.execute(
                "INSERT INTO device_certificates (cert_id, device_id, merchant_id, public_key, certificate, kid, valid_from, valid_until, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                &[&c.cert_id, &c.device_id, &c.merchant_id, &c.public_key, &c.certificate, &c.kid,
                  &c.valid_from, &c.valid_until, &c.created_at],
            )
            .map_err(|e| match PgError::from(e) {
                PgError::Unique { .. } => {
                    StoreError::conflict("duplicate_certificate", "证书编号冲突，请重试 (retry)")
                }
                e => e.into(),
            })?;
            tx.commit()?;
            Ok(d)
        }))
    }

    fn device_certificates(&self, device_id: String) -> StoreFuture<'_, Vec<DeviceCertificate>> {
        Box::pin(self.pool.call(move |client| {
            let rows = client.query(
                "SELECT cert_id, device_id, merchant_id, public_key, certificate, kid, valid_from, valid_until, created_at
                 FROM device_certificates WHERE device_id = $1 ORDER BY created_at, cert_id",
                &[&device_id],
            )?;
            Ok(rows.iter().map(certificate).collect())
        }))
    }

    fn revoke_device(
        &self,
        device_id: String,
        at: DateTime<Utc>,
        keys: Vec<TrustedKey>,
    ) -> StoreFuture<'_, Option<Revoked>> {
        Box::pin(self.pool.call(move |client| {
            let mut tx = client.transaction()?;
            serialise(&mut tx, TRUST_LIST_LOCK)?;
            let exists: bool = tx
                .query_one(
                    "SELECT EXISTS(SELECT 1 FROM devices WHERE id = $1)",
                    &[&device_id],
                )?
                .get(0);
            if !exists {
                return Ok(None);
            }
            tx.execute(
                "UPDATE device_certificates SET revoked_at = $2 WHERE device_id = $1 AND revoked_at IS NULL",
                &[&device_id, &at],
            )?;
            let cert_ids = tx
                .query(
                    "SELECT cert_id FROM device_certificates WHERE device_id = $1 ORDER BY cert_id",
                    &[&device_id],
                )?
                .iter()
                .map(|r| r.get(0))
                .collect();
            publish_if_changed(&mut tx, keys)?;
            tx.commit()?;
            Ok(Some(Revoked {
                device_id,
                cert_ids,
                revoked_at: at,
            }))
        }))
    }

    fn revoked_devices(&self) -> StoreFuture<'_, Vec<RevokedDevice>> {
        Box::pin(self.pool.call(|client| revoked(client)))
    }

    fn publish_trust_list(&self, keys: Vec<TrustedKey>) -> StoreFuture<'_, bool> {
        Box::pin(self.pool.call(move |client| {
            let mut tx = client.transaction()?;
            // Servers starting at once and the CLI read the last list and
            // write the next one after another.
            serialise(&mut tx, TRUST_LIST_LOCK)?;
            let published = publish_if_changed(&mut tx, keys)?;
            tx.commit()?;
            Ok(published)
        }))
    }
}
