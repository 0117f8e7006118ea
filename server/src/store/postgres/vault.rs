//! The server's secrets in the database ([`KeyVault`] over the `KEYS`
//! tables of [`super::schema`]): every instance over one database signs
//! with the same keys and accepts the same login tokens, and a rotation by
//! any of them or by the CLI reaches the rest (their refreshers read the
//! ring's version every second).
//!
//! Races are settled by primary keys, as the file vault settles them by
//! links that do not clobber: a secret is inserted `ON CONFLICT DO
//! NOTHING` and read back (the loser reads the winner's); two ring changes
//! both insert version n + 1, the key lets one in, the other's whole
//! transaction (its new key with it) rolls back and it tries n + 2.

use chrono::{DateTime, Utc};
use postgres::GenericClient;

use super::error::PgError;
use super::pool::PgPool;
use crate::store::vault::{KeyVault, RingChange, RingKey, SecretName, VaultKey, VaultRing};
use crate::store::StoreError;

/// The vault over a pool (a clone of the store's: the refresher's one
/// query a second takes a connection for a moment).
pub struct PgVault {
    pool: PgPool,
}

impl PgVault {
    pub fn new(pool: PgPool) -> PgVault {
        PgVault { pool }
    }
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("key vault {what}: {e}"))
}

fn version_i64(v: u64) -> Result<i64, StoreError> {
    i64::try_from(v).map_err(|e| corrupt("ring version", e))
}

fn latest(c: &mut impl GenericClient) -> Result<u64, StoreError> {
    let v: i64 = c
        .query_one("SELECT COALESCE(MAX(version), 0) FROM key_rings", &[])?
        .try_get(0)?;
    u64::try_from(v).map_err(|e| corrupt("ring version", e))
}

impl KeyVault for PgVault {
    fn secret(&self, name: SecretName, fresh: &[u8]) -> Result<Vec<u8>, StoreError> {
        let mut c = self.pool.get()?;
        c.execute(
            "INSERT INTO server_secrets (name, secret, created_at) VALUES ($1, $2, now())
             ON CONFLICT (name) DO NOTHING",
            &[&name.as_str(), &fresh],
        )?;
        Ok(c.query_one(
            "SELECT secret FROM server_secrets WHERE name = $1",
            &[&name.as_str()],
        )?
        .try_get(0)?)
    }

    fn ring_version(&self) -> Result<u64, StoreError> {
        latest(&mut *self.pool.get()?)
    }

    fn ring(&self) -> Result<Option<(VaultRing, Vec<VaultKey>)>, StoreError> {
        let mut c = self.pool.get()?;
        // One snapshot for the ring and its keys.
        let mut tx = c
            .build_transaction()
            .isolation_level(postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()?;
        let version = latest(&mut tx)?;
        if version == 0 {
            return Ok(None);
        }
        let v = version_i64(version)?;
        let current: String = tx
            .query_one(
                "SELECT current_kid FROM key_rings WHERE version = $1",
                &[&v],
            )?
            .try_get(0)?;
        let rows = tx.query(
            "SELECT k.kid, k.retired_at, s.secret_key, s.created_at
             FROM key_ring_keys k JOIN signing_keys s ON s.kid = k.kid
             WHERE k.version = $1 ORDER BY k.position",
            &[&v],
        )?;
        let mut ring = VaultRing {
            version,
            current,
            keys: Vec::with_capacity(rows.len()),
        };
        let mut keys = Vec::with_capacity(rows.len());
        for r in &rows {
            let kid: String = r.try_get(0)?;
            let seed: Vec<u8> = r.try_get(2)?;
            let seed: [u8; 32] = seed
                .try_into()
                .map_err(|_| corrupt(&kid, "secret_key is not 32 bytes"))?;
            ring.keys.push(RingKey {
                kid: kid.clone(),
                retired_at: r.try_get(1)?,
            });
            keys.push(VaultKey {
                kid,
                seed,
                created_at: r.try_get(3)?,
            });
        }
        tx.commit()?;
        Ok(Some((ring, keys)))
    }

    fn write_ring(
        &self,
        ring: &VaultRing,
        change: RingChange,
        new_key: Option<&VaultKey>,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut c = self.pool.get()?;
        let mut tx = c.transaction()?;
        if let Some(k) = new_key {
            let public = ed25519_dalek::SigningKey::from_bytes(&k.seed).verifying_key();
            tx.execute(
                "INSERT INTO signing_keys (kid, alg, secret_key, public_key, created_at)
                 VALUES ($1, 'Ed25519', $2, $3, $4) ON CONFLICT (kid) DO NOTHING",
                &[
                    &k.kid,
                    &k.seed.as_slice(),
                    &public.as_bytes().as_slice(),
                    &k.created_at,
                ],
            )?;
        }
        let v = version_i64(ring.version)?;
        let taken = tx.execute(
            "INSERT INTO key_rings (version, current_kid, change, created_at)
             VALUES ($1, $2, $3, $4)",
            &[&v, &ring.current, &change.as_str(), &at],
        );
        if let Err(e) = taken {
            return match PgError::from(e) {
                // Another writer has this version: drop ours whole (the
                // transaction rolls back as it drops).
                PgError::Unique { .. } => Ok(false),
                e => Err(e.into()),
            };
        }
        for (i, k) in ring.keys.iter().enumerate() {
            let position = i32::try_from(i).map_err(|e| corrupt("ring position", e))?;
            tx.execute(
                "INSERT INTO key_ring_keys (version, position, kid, retired_at)
                 VALUES ($1, $2, $3, $4)",
                &[&v, &position, &k.kid, &k.retired_at],
            )?;
        }
        tx.commit()?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::postgres::testing::fresh;

    fn key(n: u8) -> VaultKey {
        let seed = [n; 32];
        VaultKey {
            kid: shian_core::signed::trust::key_id(
                &ed25519_dalek::SigningKey::from_bytes(&seed).verifying_key(),
            ),
            seed,
            created_at: Utc::now(),
        }
    }

    fn first_ring(k: &VaultKey) -> VaultRing {
        VaultRing {
            version: 1,
            current: k.kid.clone(),
            keys: vec![RingKey {
                kid: k.kid.clone(),
                retired_at: None,
            }],
        }
    }

    /// Of two first rings written at once, one lands; the loser's key is
    /// not stored (its transaction rolled back whole), and a secret is
    /// the first one stored.
    #[test]
    fn the_loser_of_a_ring_version_stores_nothing() {
        let Some(db) = fresh() else { return };
        let vault = PgVault::new(db.store.pool().clone());
        let (a, b) = (key(1), key(2));
        assert!(vault
            .write_ring(&first_ring(&a), RingChange::First, Some(&a), Utc::now())
            .unwrap());
        assert!(!vault
            .write_ring(&first_ring(&b), RingChange::First, Some(&b), Utc::now())
            .unwrap());
        let (ring, keys) = vault.ring().unwrap().unwrap();
        assert_eq!(ring, first_ring(&a));
        // (timestamptz keeps microseconds: compare the key itself.)
        assert_eq!(keys.len(), 1);
        assert_eq!((&keys[0].kid, keys[0].seed), (&a.kid, a.seed));
        let mut c = db.store.pool().get().unwrap();
        let stored: i64 = c
            .query_one("SELECT count(*) FROM signing_keys", &[])
            .unwrap()
            .get(0);
        assert_eq!(stored, 1, "no orphan key");

        assert_eq!(vault.secret(SecretName::Jwt, &[7; 32]).unwrap(), [7; 32]);
        assert_eq!(vault.secret(SecretName::Jwt, &[8; 32]).unwrap(), [7; 32]);
        assert_eq!(
            vault.secret(SecretName::Receipt, &[9; 32]).unwrap(),
            [9; 32]
        );
    }
}
