//! The keys kept in the database ([`KeyVault`]): the same secrets, keys
//! and ring versions as the files, with the same rules — a secret made by
//! the first start and read by the rest, a ring written once per version,
//! two changes at once both landing (the loser reads the winner's ring and
//! writes the next version), the signer never retired.
//!
//! A running server does not read the vault in a request (the client is
//! blocking, and a request must not wait on the database for a key it
//! already holds): its refresher calls [`Keys::follow_vault`] every
//! second on a blocking thread, so a rotation by the CLI or by another
//! instance signs everywhere within a second; until then the old key,
//! still active, signs and verifies.

use std::sync::{Arc, RwLock};

use chrono::Utc;
use ed25519_dalek::SigningKey;

use super::{key_id, HeldKey, KeyError, Keys, Ring, Source};
use crate::store::vault::{KeyVault, RingChange, RingKey, SecretName, VaultKey, VaultRing};
use crate::store::StoreError;

/// How many times a change is tried against rings written meanwhile.
const TRIES: usize = 100;

fn corrupt(reason: String) -> KeyError {
    KeyError::Vault(StoreError::Corrupt(reason))
}

/// A new random signing key.
fn new_key() -> VaultKey {
    let seed: [u8; 32] = rand::random();
    VaultKey {
        kid: key_id(&SigningKey::from_bytes(&seed).verifying_key()),
        seed,
        created_at: Utc::now(),
    }
}

/// The ring in force, made (with its first key) on the first start.
fn ring_or_first(vault: &dyn KeyVault) -> Result<(VaultRing, Vec<VaultKey>), KeyError> {
    for _ in 0..TRIES {
        if let Some(found) = vault.ring()? {
            return Ok(found);
        }
        let first = new_key();
        let ring = VaultRing {
            version: 1,
            current: first.kid.clone(),
            keys: vec![RingKey {
                kid: first.kid.clone(),
                retired_at: None,
            }],
        };
        // Lost to another start: read theirs.
        if vault.write_ring(&ring, RingChange::First, Some(&first), Utc::now())? {
            tracing::info!(kid = %first.kid, "created Ed25519 signing key in the database");
        }
    }
    Err(KeyError::Contended)
}

/// The ring as [`Keys`] holds it, each key checked against its kid.
fn held(ring: VaultRing, keys: Vec<VaultKey>) -> Result<Ring, KeyError> {
    let mut held = Vec::with_capacity(ring.keys.len());
    for (entry, key) in ring.keys.iter().zip(keys) {
        let signing = SigningKey::from_bytes(&key.seed);
        if key.kid != entry.kid || key_id(&signing.verifying_key()) != key.kid {
            return Err(corrupt(format!(
                "ring {}: key {} does not match its kid",
                ring.version, entry.kid
            )));
        }
        held.push(HeldKey {
            kid: key.kid,
            signing,
            created_at: key.created_at,
            retired_at: entry.retired_at,
        });
    }
    let current = held
        .iter()
        .position(|k| k.kid == ring.current && k.retired_at.is_none())
        .ok_or_else(|| {
            corrupt(format!(
                "ring {}: current key {} is not an active key of the ring",
                ring.version, ring.current
            ))
        })?;
    Ok(Ring {
        version: ring.version,
        keys: held,
        current,
    })
}

/// Writes the ring `change` makes of the one in force as the next version,
/// trying again on rings written meanwhile. Returns the ring written.
fn change_ring(
    vault: &dyn KeyVault,
    why: RingChange,
    new_key: Option<&VaultKey>,
    change: impl Fn(&mut VaultRing) -> Result<(), KeyError>,
) -> Result<VaultRing, KeyError> {
    for _ in 0..TRIES {
        let (mut ring, _) = ring_or_first(vault)?;
        change(&mut ring)?;
        ring.version += 1;
        if vault.write_ring(&ring, why, new_key, Utc::now())? {
            return Ok(ring);
        }
    }
    Err(KeyError::Contended)
}

/// The receipt salt, made on the first start.
pub(super) fn receipt_salt_in(vault: &dyn KeyVault) -> Result<Vec<u8>, KeyError> {
    let salt = vault.secret(SecretName::Receipt, &rand::random::<[u8; 32]>())?;
    if salt.len() < 16 {
        return Err(corrupt("the receipt salt is shorter than 16 bytes".into()));
    }
    Ok(salt)
}

impl Keys {
    /// Loads the keys in `vault`, making any that are missing.
    pub fn load_from_vault(vault: Arc<dyn KeyVault>) -> Result<Keys, KeyError> {
        let jwt_secret = vault.secret(SecretName::Jwt, &rand::random::<[u8; 32]>())?;
        if jwt_secret.len() < 32 {
            return Err(corrupt("the JWT secret is shorter than 32 bytes".into()));
        }
        let (ring, keys) = ring_or_first(vault.as_ref())?;
        Ok(Keys {
            jwt_secret,
            ring: RwLock::new(Arc::new(held(ring, keys)?)),
            source: Source::Vault(vault),
        })
    }

    /// Makes a new signing key in `vault` and makes it the one that signs;
    /// the others keep verifying. Returns its kid.
    pub fn rotate_in(vault: &dyn KeyVault) -> Result<String, KeyError> {
        let key = new_key();
        change_ring(vault, RingChange::Rotate, Some(&key), |ring| {
            ring.keys.push(RingKey {
                kid: key.kid.clone(),
                retired_at: None,
            });
            ring.current = key.kid.clone();
            Ok(())
        })?;
        tracing::info!(kid = %key.kid, "rotated: new signing key");
        Ok(key.kid)
    }

    /// Withdraws a key of `vault` as [`Keys::retire`] does one of files.
    pub fn retire_in(vault: &dyn KeyVault, kid: &str) -> Result<(), KeyError> {
        let (ring, _) = ring_or_first(vault)?;
        match ring.keys.iter().find(|k| k.kid == kid) {
            None => return Err(KeyError::UnknownKid(kid.to_owned())),
            Some(k) if k.retired_at.is_some() => return Ok(()),
            Some(_) => {}
        }
        change_ring(vault, RingChange::Retire, None, |ring| {
            if ring.current == kid {
                return Err(KeyError::RetireCurrent(kid.to_owned()));
            }
            let entry = ring
                .keys
                .iter_mut()
                .find(|k| k.kid == kid)
                .ok_or_else(|| KeyError::UnknownKid(kid.to_owned()))?;
            entry.retired_at.get_or_insert_with(Utc::now);
            Ok(())
        })?;
        tracing::info!(kid = %kid, "retired signing key");
        Ok(())
    }

    /// Reads a newer ring from the vault, if one was written since.
    /// Blocking: the server's refresher calls it on a blocking thread. A
    /// ring that cannot be read keeps the one in force and is logged.
    /// `true` when a newer ring is now in force (the caller publishes the
    /// trust list).
    pub fn follow_vault(&self) -> bool {
        let Source::Vault(vault) = &self.source else {
            return false;
        };
        let in_force = self.ring_now().version;
        let read = vault.ring_version().and_then(|newest| {
            if newest > in_force {
                vault.ring()
            } else {
                Ok(None)
            }
        });
        match read
            .map_err(KeyError::from)
            .and_then(|found| found.map(|(ring, keys)| held(ring, keys)).transpose())
        {
            Ok(Some(ring)) => {
                self.adopt(ring);
                true
            }
            Ok(None) => false,
            Err(e) => {
                tracing::warn!(error = %e, "reading the key ring from the database");
                false
            }
        }
    }

    /// Whether a refresher must follow the vault ([`Keys::follow_vault`]).
    pub fn in_vault(&self) -> bool {
        matches!(self.source, Source::Vault(_))
    }
}

#[cfg(test)]
mod tests {
    use ed25519_dalek::Verifier;
    use shian_core::signed::KeyStatus;

    use super::*;
    use crate::store::postgres::testing::fresh;
    use crate::store::postgres::PgStore;

    fn vault_of(store: &PgStore) -> Arc<dyn KeyVault> {
        Arc::new(store.vault())
    }

    /// Starts racing on one fresh database all read the same secrets and
    /// the same first key: none overwrites another's, none is left over.
    #[test]
    fn racing_starts_share_one_set_of_secrets() {
        let Some(db) = fresh() else { return };
        let vault = vault_of(&db.store);
        let barrier = std::sync::Barrier::new(4);
        let loaded: Vec<(Keys, Vec<u8>)> = std::thread::scope(|s| {
            let runs: Vec<_> = (0..4)
                .map(|_| {
                    let (vault, barrier) = (Arc::clone(&vault), &barrier);
                    s.spawn(move || {
                        barrier.wait();
                        let salt = receipt_salt_in(vault.as_ref()).unwrap();
                        (Keys::load_from_vault(vault).unwrap(), salt)
                    })
                })
                .collect();
            runs.into_iter().map(|r| r.join().unwrap()).collect()
        });
        let (first, salt) = &loaded[0];
        for (k, s) in &loaded[1..] {
            assert_eq!(k.jwt_secret(), first.jwt_secret());
            assert_eq!(k.kid(), first.kid());
            assert_eq!(s, salt);
        }
        assert_ne!(first.jwt_secret(), salt.as_slice(), "two secrets, not one");
        let (_, sig) = first.sign(b"shop");
        assert!(loaded[3].0.verifying_key().verify(b"shop", &sig).is_ok());
        // One first ring (no orphan key: `postgres::vault`'s own test).
        assert_eq!(vault.ring_version().unwrap(), 1);
    }

    /// Rotations at once through different connections each add their key;
    /// a loaded server sees them at its next follow, retiring the signer is
    /// refused and an older key retires.
    #[test]
    fn racing_rotations_all_land_and_reach_a_running_server() {
        let Some(db) = fresh() else { return };
        let vault = vault_of(&db.store);
        let running = Keys::load_from_vault(Arc::clone(&vault)).unwrap();
        let first = running.kid();
        assert!(!running.follow_vault(), "nothing newer yet");
        let kids: Vec<String> = std::thread::scope(|s| {
            let runs: Vec<_> = (0..4)
                .map(|_| {
                    let vault = Arc::clone(&vault);
                    s.spawn(move || Keys::rotate_in(vault.as_ref()).unwrap())
                })
                .collect();
            runs.into_iter().map(|r| r.join().unwrap()).collect()
        });
        // Requests do not read the vault: the running server still signs
        // with the first key until its refresher follows.
        assert_eq!(running.signer().1, first);
        assert!(running.follow_vault());
        let listed: Vec<String> = running.trusted_keys().into_iter().map(|k| k.kid).collect();
        assert_eq!(listed.len(), 5);
        assert_eq!(listed[0], first, "the ring keeps its order");
        for kid in &kids {
            assert!(listed.contains(kid), "{kid} lost");
        }
        assert!(kids.contains(&running.kid()), "one of the new keys signs");
        assert!(matches!(
            Keys::retire_in(vault.as_ref(), &running.kid()),
            Err(KeyError::RetireCurrent(_))
        ));
        assert!(matches!(
            Keys::retire_in(vault.as_ref(), "ed25519-AAAAAAAAAAAAAAAA"),
            Err(KeyError::UnknownKid(_))
        ));
        Keys::retire_in(vault.as_ref(), &first).unwrap();
        Keys::retire_in(vault.as_ref(), &first).unwrap();
        assert!(running.follow_vault());
        let retired: Vec<_> = running
            .trusted_keys()
            .into_iter()
            .filter(|k| k.status == KeyStatus::Retired)
            .map(|k| k.kid)
            .collect();
        assert_eq!(retired, [first]);
        assert_eq!(
            vault.ring_version().unwrap(),
            6,
            "first, four rotations, one retirement"
        );
    }
}
