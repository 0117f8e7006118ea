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
fn publish_if_changed(
    c: &mut impl GenericClient,
    keys: Vec<TrustedKey>,
) -> Result<bool, StoreError> {
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
        Box::pin(self.pool.call(revoked))
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

#[cfg(test)]
mod tests {
    use chrono::{Duration, NaiveDate};
    use shian_core::signed::KeyStatus;

    use super::super::testing::{add_merchant, add_user, fresh};
    use super::*;
    use tokio::task::block_in_place;

    fn device(id: &str, user: &str) -> Device {
        Device {
            id: id.into(),
            user_id: user.into(),
            name: "phone".into(),
            created_at: Utc::now(),
            last_seen: None,
        }
    }

    fn cert(cert_id: &str, device_id: &str, created_at: DateTime<Utc>) -> DeviceCertificate {
        DeviceCertificate {
            cert_id: cert_id.into(),
            device_id: device_id.into(),
            merchant_id: "shop1".into(),
            public_key: "pk".into(),
            certificate: "cert".into(),
            kid: "ed25519-k1".into(),
            valid_from: NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
            valid_until: NaiveDate::from_ymd_opt(2027, 1, 1).unwrap(),
            created_at,
        }
    }

    fn key() -> TrustedKey {
        TrustedKey {
            kid: "ed25519-k1".into(),
            alg: "Ed25519".into(),
            public_key: "pub".into(),
            status: KeyStatus::Active,
            signs: true,
            valid_from: NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
            valid_until: None,
        }
    }

    /// The trust lists published so far, newest first.
    fn trust_lists(db: &super::super::testing::Db) -> Vec<Value> {
        block_in_place(|| {
            let mut c = db.store.pool().get().unwrap();
            c.query(
                "SELECT payload FROM changes WHERE kind = $1 ORDER BY seq DESC",
                &[&TRUST_LIST_KIND],
            )
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect()
        })
    }

    fn code(e: StoreError) -> String {
        match e {
            StoreError::Conflict { code, .. } => code,
            e => panic!("expected a conflict, got {e:?}"),
        }
    }

    /// A device goes in with its certificate; an unknown account, a device
    /// again and a certificate id again are SQLite's errors, and a refused
    /// certificate leaves no device behind.
    #[tokio::test(flavor = "multi_thread")]
    async fn certified_devices_and_their_refusals() {
        let Some(db) = block_in_place(fresh) else {
            return;
        };
        block_in_place(|| {
            let mut c = db.store.pool().get().unwrap();
            add_merchant(&mut *c, "shop1", "350203", None);
            add_user(&mut *c, "u1", "merchant", Some("shop1"), &[], &[]);
        });
        let s = &db.store;
        let t0 = DateTime::parse_from_rfc3339("2026-02-01T10:00:00.5Z")
            .unwrap()
            .with_timezone(&Utc);
        let d = s
            .create_certified_device(device("d1", "u1"), cert("c1", "d1", t0))
            .await
            .unwrap();
        assert_eq!(d.id, "d1");
        let e = s
            .create_certified_device(device("d9", "nobody"), cert("c9", "d9", t0))
            .await
            .unwrap_err();
        assert!(matches!(e, StoreError::NotFound("用户")), "{e:?}");
        let e = s
            .create_certified_device(device("d1", "u1"), cert("c2", "d1", t0))
            .await
            .unwrap_err();
        assert_eq!(code(e), "duplicate_device");
        let e = s
            .create_certified_device(device("d2", "u1"), cert("c1", "d2", t0))
            .await
            .unwrap_err();
        assert_eq!(code(e), "duplicate_certificate");
        assert!(s.device_certificates("d2".into()).await.unwrap().is_empty());
        block_in_place(|| {
            let mut c = db.store.pool().get().unwrap();
            let n: i64 = c
                .query_one("SELECT count(*) FROM devices WHERE id = 'd2'", &[])
                .unwrap()
                .get(0);
            assert_eq!(n, 0, "the device of a refused certificate is rolled back");

            // A second certificate of d1, older: the list is oldest first.
            c.execute(
            "INSERT INTO device_certificates (cert_id, device_id, merchant_id, public_key, certificate, kid, valid_from, valid_until, created_at)
             VALUES ('c0', 'd1', 'shop1', 'pk0', 'cert0', 'ed25519-k1', '2025-01-01', '2026-01-01', $1)",
            &[&(t0 - Duration::days(1))],
        )
        .unwrap();
        });
        let certs = s.device_certificates("d1".into()).await.unwrap();
        let ids: Vec<&str> = certs.iter().map(|c| c.cert_id.as_str()).collect();
        assert_eq!(ids, ["c0", "c1"]);
        assert_eq!(certs[1], cert("c1", "d1", t0));
    }

    /// Revoking publishes the trust list once, keeps the first time on a
    /// second revocation, and answers `None` for an unknown device.
    #[tokio::test(flavor = "multi_thread")]
    async fn revocation_and_the_trust_list() {
        let Some(db) = block_in_place(fresh) else {
            return;
        };
        block_in_place(|| {
            let mut c = db.store.pool().get().unwrap();
            add_merchant(&mut *c, "shop1", "350203", None);
            add_user(&mut *c, "u1", "merchant", Some("shop1"), &[], &[]);
        });
        let s = &db.store;
        let t0 = DateTime::parse_from_rfc3339("2026-02-01T10:00:00.5Z")
            .unwrap()
            .with_timezone(&Utc);
        s.create_certified_device(device("d1", "u1"), cert("c1", "d1", t0))
            .await
            .unwrap();
        assert!(s.publish_trust_list(vec![key()]).await.unwrap());
        assert!(!s.publish_trust_list(vec![key()]).await.unwrap());
        assert_eq!(trust_lists(&db).len(), 1);

        assert_eq!(
            s.revoke_device("nope".into(), t0, vec![key()])
                .await
                .unwrap(),
            None
        );
        let at = DateTime::parse_from_rfc3339("2026-03-01T08:00:00.123Z")
            .unwrap()
            .with_timezone(&Utc);
        let r = s
            .revoke_device("d1".into(), at, vec![key()])
            .await
            .unwrap()
            .unwrap();
        assert_eq!(r.cert_ids, ["c1"]);
        assert_eq!(trust_lists(&db).len(), 2);
        let revoked = s.revoked_devices().await.unwrap();
        assert_eq!(
            revoked,
            [RevokedDevice {
                cert_id: "c1".into(),
                device_id: Some("d1".into()),
                revoked_at: "2026-03-01T08:00:00.123Z".into(),
            }]
        );
        // Again, later: the first time stays and the list is unchanged.
        s.revoke_device("d1".into(), at + Duration::days(1), vec![key()])
            .await
            .unwrap()
            .unwrap();
        assert_eq!(s.revoked_devices().await.unwrap(), revoked);
        assert_eq!(trust_lists(&db).len(), 2);
        // The published list carries the revocation and the core's id.
        let last = &trust_lists(&db)[0];
        assert_eq!(last["id"], TRUST_LIST_KEY);
        assert_eq!(last["revoked_devices"][0]["cert_id"], "c1");
    }
}
