//! Secrets made on first start and kept beside the database, and the
//! server's signing keys with their ids and rotation.
//!
//! `data/shian.db` → `data/keys/jwt.secret` (32 random bytes, the HS256 key
//! of login tokens) and `data/keys/signing-ed25519.key` (the first Ed25519
//! key that signs shop codes and device certificates, with its key id).
//! They are never in the repository and are readable by their owner only
//! (0600 in a 0700 directory). A key is written whole to a temporary file
//! in the same directory, synced, and then linked into place without
//! clobbering, so two processes starting at once on one data directory can
//! neither read a half-written secret nor overwrite each other's: the loser
//! of the link reads the winner's file.
//!
//! **Rotation.** `shian-server keys rotate` makes another key file,
//! `signing-{kid}.key`, and `keys retire <kid>` withdraws one. Which keys
//! exist, which one signs and which are retired is the *key ring*: files
//! `signing-keys.{n}.json`, each written once the same crash-safe way and
//! never changed; the highest `n` is the ring in force, the lower ones are
//! the history of changes. Two rotations at once both try to link
//! `n + 1`: the loser reads the winner's ring and tries `n + 2`, so no
//! change is lost. With no ring file (a data directory that never rotated)
//! the one key signs. A running server looks for a newer ring each time it
//! signs or lists keys ([`Keys::refresh`]), so a rotation by the CLI takes
//! effect without a restart.
//!
//! **In the database.** On a store whose instances share only the database
//! (PostgreSQL) the same secrets, keys and ring versions live in it
//! ([`crate::store::vault`], and [`vault`] here): see [`KeyHome`].

mod vault;

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::{DateTime, NaiveDate, Utc};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use shian_core::signed::{KeyStatus, TrustedKey};
use tempfile::NamedTempFile;
use utoipa::ToSchema;

use crate::store::vault::KeyVault;

/// Why the keys could not be loaded, made or changed.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("key file {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("key file {path} is malformed: {reason}")]
    Malformed { path: PathBuf, reason: String },
    #[error("没有编号为 {0} 的签名密钥 (no signing key with this kid)")]
    UnknownKid(String),
    #[error(
        "{0} 是当前签名密钥，请先轮换再停用 (the signing key cannot be retired: rotate first)"
    )]
    RetireCurrent(String),
    #[error("密钥环一直被并发修改 (the key ring kept changing under us)")]
    Contended,
    #[error("key vault: {0}")]
    Vault(#[from] crate::store::StoreError),
}

/// Where a server's keys are kept.
#[derive(Clone)]
pub enum KeyHome {
    /// In `keys/` beside this database file.
    Files(PathBuf),
    /// In the database every instance shares.
    Vault(Arc<dyn KeyVault>),
}

/// The on-disk form of a signing key.
#[derive(Serialize, Deserialize)]
struct SigningKeyFile {
    kid: String,
    alg: String,
    /// The 32-byte seed, base64url.
    secret_key: String,
    created_at: String,
}

/// The on-disk key ring (`signing-keys.{n}.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct RingFile {
    /// The kid that signs.
    current: String,
    keys: Vec<RingEntry>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct RingEntry {
    kid: String,
    /// The key's file name in the keys directory.
    file: String,
    #[serde(default)]
    retired_at: Option<DateTime<Utc>>,
}

/// The first key's file; the ring's first entry when there is no ring.
const FIRST_KEY_FILE: &str = "signing-ed25519.key";

/// One signing key held in memory.
#[derive(Clone)]
struct HeldKey {
    kid: String,
    signing: SigningKey,
    created_at: DateTime<Utc>,
    retired_at: Option<DateTime<Utc>>,
}

/// The ring in force: its version (`n`, 0 without a ring file), the keys
/// and the index of the one that signs.
#[derive(Clone)]
struct Ring {
    version: u64,
    keys: Vec<HeldKey>,
    current: usize,
}

impl Ring {
    fn current(&self) -> &HeldKey {
        // `current` is an index into `keys`, checked when the ring is read.
        &self.keys[self.current]
    }
}

/// Where a loaded [`Keys`] looks for a newer ring.
enum Source {
    /// Held in memory only (tests, benchmarks).
    Memory,
    /// The keys directory.
    Dir(PathBuf),
    /// The database ([`Keys::follow_vault`]).
    Vault(Arc<dyn KeyVault>),
}

/// The server's secrets.
pub struct Keys {
    jwt_secret: Vec<u8>,
    source: Source,
    ring: RwLock<Arc<Ring>>,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print secrets, even in debug logs.
        f.debug_struct("Keys")
            .field("kid", &self.kid())
            .finish_non_exhaustive()
    }
}

/// One public key of `/.well-known/shian-keys.json` (the wire form of
/// core's `signed::TrustedKey`; `server/tests/signed_codes.rs` parses the
/// answer with core).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PublicKey {
    /// `ed25519-` + base64url of the first 12 bytes of SHA-256(public key).
    #[schema(pattern = "^ed25519-[A-Za-z0-9_-]{16}$")]
    pub kid: String,
    /// Always `Ed25519`.
    #[schema(example = "Ed25519")]
    pub alg: String,
    /// The 32-byte public key, base64url without padding.
    #[schema(pattern = "^[A-Za-z0-9_-]{43}$")]
    pub public_key: String,
    /// `active` keys verify; `retired` ones no longer do.
    #[schema(value_type = String, pattern = "^(active|retired)$")]
    pub status: KeyStatus,
    /// The one key that signs new codes.
    pub signs: bool,
    /// The day it was made: what it signed is dated no earlier.
    pub valid_from: NaiveDate,
    /// Always null: keys end by retirement.
    #[schema(nullable)]
    pub valid_until: Option<NaiveDate>,
}

/// A revoked device certificate.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RevokedDeviceDoc {
    #[schema(pattern = "^[0-9a-f]{16}$")]
    pub cert_id: String,
    pub device_id: Option<String>,
    pub revoked_at: DateTime<Utc>,
}

/// The trust list devices use to verify codes offline (also synced as
/// change kind `keys.trust_list`, payload id `trust_list`).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct KeySet {
    pub keys: Vec<PublicKey>,
    pub revoked_devices: Vec<RevokedDeviceDoc>,
}

/// `keys/` beside the database file.
pub fn keys_dir(db_path: &Path) -> PathBuf {
    db_path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| Path::new("."))
        .join("keys")
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> KeyError + '_ {
    move |source| KeyError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Makes the file `path` holding `bytes` unless it exists; `Ok(false)`
/// when another start made it first (read theirs, then).
///
/// The bytes go to a temporary file beside `path` (same directory, so the
/// link is on one file system), are synced, and the file is linked to
/// `path` with `persist_noclobber`: `path` appears complete or not at all.
/// `tempfile` makes its files with mode 0600 on Unix.
fn create_secret_file(path: &Path, bytes: &[u8]) -> Result<bool, KeyError> {
    if path.exists() {
        return Ok(false);
    }
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    let mut tmp = NamedTempFile::with_prefix_in(".key-", dir).map_err(io_err(path))?;
    tmp.write_all(bytes)
        .and_then(|()| tmp.as_file().sync_all())
        .map_err(io_err(path))?;
    match tmp.persist_noclobber(path) {
        Ok(_) => {
            // The new name must survive a crash too.
            fs::File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(io_err(dir))?;
            Ok(true)
        }
        // The temporary file is removed when the error drops it.
        Err(e) if e.error.kind() == io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(io_err(path)(e.error)),
    }
}

/// The key id: the first 12 bytes of SHA-256 over the public key, base64url.
/// Derived, so it cannot disagree with the key it names (core's
/// `signed::trust::key_id`, which verifiers use).
pub fn key_id(public: &VerifyingKey) -> String {
    shian_core::signed::trust::key_id(public)
}

/// A new key file's bytes and its kid.
fn new_key_file() -> Result<(Vec<u8>, String), serde_json::Error> {
    let seed: [u8; 32] = rand::random();
    let kid = key_id(&SigningKey::from_bytes(&seed).verifying_key());
    let file = SigningKeyFile {
        kid: kid.clone(),
        alg: "Ed25519".into(),
        secret_key: URL_SAFE_NO_PAD.encode(seed),
        created_at: Utc::now().to_rfc3339(),
    };
    Ok((serde_json::to_vec_pretty(&file)?, kid))
}

fn ring_path(dir: &Path, n: u64) -> PathBuf {
    dir.join(format!("signing-keys.{n}.json"))
}

/// The highest ring version in `dir` (0: none).
fn latest_ring_version(dir: &Path) -> Result<u64, KeyError> {
    let mut best = 0;
    for entry in fs::read_dir(dir).map_err(io_err(dir))? {
        let name = entry.map_err(io_err(dir))?.file_name();
        let n = name
            .to_str()
            .and_then(|s| s.strip_prefix("signing-keys."))
            .and_then(|s| s.strip_suffix(".json"))
            .and_then(|s| s.parse::<u64>().ok());
        best = best.max(n.unwrap_or(0));
    }
    Ok(best)
}

/// The ring file of version `n`, or the implied one-key ring for 0.
fn read_ring_file(dir: &Path, n: u64) -> Result<RingFile, KeyError> {
    if n == 0 {
        let (_, kid, _) = read_signing_key(&dir.join(FIRST_KEY_FILE))?;
        return Ok(RingFile {
            current: kid.clone(),
            keys: vec![RingEntry {
                kid,
                file: FIRST_KEY_FILE.into(),
                retired_at: None,
            }],
        });
    }
    let path = ring_path(dir, n);
    let text = fs::read(&path).map_err(io_err(&path))?;
    serde_json::from_slice(&text).map_err(|e| KeyError::Malformed {
        path,
        reason: e.to_string(),
    })
}

fn load_ring(dir: &Path, n: u64) -> Result<Ring, KeyError> {
    let file = read_ring_file(dir, n)?;
    let mut keys = Vec::with_capacity(file.keys.len());
    for e in &file.keys {
        let path = dir.join(&e.file);
        let (signing, kid, created_at) = read_signing_key(&path)?;
        if kid != e.kid {
            return Err(KeyError::Malformed {
                path,
                reason: format!("ring names {} but the file holds {kid}", e.kid),
            });
        }
        keys.push(HeldKey {
            kid,
            signing,
            created_at,
            retired_at: e.retired_at,
        });
    }
    let current = keys
        .iter()
        .position(|k| k.kid == file.current && k.retired_at.is_none())
        .ok_or_else(|| KeyError::Malformed {
            path: ring_path(dir, n),
            reason: format!(
                "current key {} is not an active key of the ring",
                file.current
            ),
        })?;
    Ok(Ring {
        version: n,
        keys,
        current,
    })
}

/// Writes the ring `change` makes of the latest one as the next version;
/// when another process wrote that version first, reads theirs and tries
/// again. Returns the ring written.
fn change_ring(
    dir: &Path,
    change: impl Fn(&mut RingFile) -> Result<(), KeyError>,
) -> Result<RingFile, KeyError> {
    for _ in 0..100 {
        let n = latest_ring_version(dir)?;
        let mut ring = read_ring_file(dir, n)?;
        change(&mut ring)?;
        let bytes = serde_json::to_vec_pretty(&ring).map_err(|e| KeyError::Malformed {
            path: ring_path(dir, n + 1),
            reason: e.to_string(),
        })?;
        if create_secret_file(&ring_path(dir, n + 1), &bytes)? {
            return Ok(ring);
        }
    }
    Err(KeyError::Contended)
}

fn prepare_dir(dir: &Path) -> Result<(), KeyError> {
    fs::create_dir_all(dir).map_err(io_err(dir))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(io_err(dir))?;
    }
    Ok(())
}

impl Keys {
    /// Loads the keys `home` keeps, making any that are missing.
    pub fn open(home: &KeyHome) -> Result<Keys, KeyError> {
        match home {
            KeyHome::Files(db_path) => Keys::load_or_create(db_path),
            KeyHome::Vault(v) => Keys::load_from_vault(Arc::clone(v)),
        }
    }

    /// [`Keys::rotate`] wherever `home` keeps the keys.
    pub fn rotate_at(home: &KeyHome) -> Result<String, KeyError> {
        match home {
            KeyHome::Files(db_path) => Keys::rotate(db_path),
            KeyHome::Vault(v) => Keys::rotate_in(v.as_ref()),
        }
    }

    /// [`Keys::retire`] wherever `home` keeps the keys.
    pub fn retire_at(home: &KeyHome, kid: &str) -> Result<(), KeyError> {
        match home {
            KeyHome::Files(db_path) => Keys::retire(db_path, kid),
            KeyHome::Vault(v) => Keys::retire_in(v.as_ref(), kid),
        }
    }

    /// Loads the keys beside `db_path`, making any that are missing.
    pub fn load_or_create(db_path: &Path) -> Result<Keys, KeyError> {
        let dir = keys_dir(db_path);
        prepare_dir(&dir)?;

        let jwt_path = dir.join("jwt.secret");
        let secret: [u8; 32] = rand::random();
        if create_secret_file(&jwt_path, &secret)? {
            tracing::info!(path = %jwt_path.display(), "created JWT secret");
        }
        let jwt_secret = fs::read(&jwt_path).map_err(io_err(&jwt_path))?;
        if jwt_secret.len() < 32 {
            return Err(KeyError::Malformed {
                path: jwt_path,
                reason: "shorter than 32 bytes".into(),
            });
        }

        let sign_path = dir.join(FIRST_KEY_FILE);
        let (text, kid) = new_key_file().map_err(|e| KeyError::Malformed {
            path: sign_path.clone(),
            reason: e.to_string(),
        })?;
        if create_secret_file(&sign_path, &text)? {
            tracing::info!(path = %sign_path.display(), kid = %kid, "created Ed25519 signing key");
        }
        let ring = load_ring(&dir, latest_ring_version(&dir)?)?;
        Ok(Keys {
            jwt_secret,
            source: Source::Dir(dir),
            ring: RwLock::new(Arc::new(ring)),
        })
    }

    /// Keys held in memory only (tests, benchmarks).
    pub fn ephemeral() -> Keys {
        let signing = SigningKey::from_bytes(&rand::random());
        let kid = key_id(&signing.verifying_key());
        Keys {
            jwt_secret: rand::random::<[u8; 32]>().to_vec(),
            source: Source::Memory,
            ring: RwLock::new(Arc::new(Ring {
                version: 0,
                keys: vec![HeldKey {
                    kid,
                    signing,
                    created_at: Utc::now(),
                    retired_at: None,
                }],
                current: 0,
            })),
        }
    }

    /// Makes a new signing key in the keys directory beside `db_path` and
    /// makes it the one that signs; the others keep verifying. Returns its kid.
    pub fn rotate(db_path: &Path) -> Result<String, KeyError> {
        let dir = keys_dir(db_path);
        prepare_dir(&dir)?;
        // The first key exists before any ring can name it.
        Keys::load_or_create(db_path)?;
        let (text, kid) = new_key_file().map_err(|e| KeyError::Malformed {
            path: dir.clone(),
            reason: e.to_string(),
        })?;
        let file = format!("signing-{kid}.key");
        create_secret_file(&dir.join(&file), &text)?;
        change_ring(&dir, |ring| {
            ring.keys.push(RingEntry {
                kid: kid.clone(),
                file: file.clone(),
                retired_at: None,
            });
            ring.current = kid.clone();
            Ok(())
        })?;
        tracing::info!(kid = %kid, "rotated: new signing key");
        Ok(kid)
    }

    /// Withdraws a key: what it signed no longer verifies. The key that
    /// signs cannot be retired (rotate first); retiring a retired key
    /// changes nothing.
    pub fn retire(db_path: &Path, kid: &str) -> Result<(), KeyError> {
        let dir = keys_dir(db_path);
        Keys::load_or_create(db_path)?;
        let ring = read_ring_file(&dir, latest_ring_version(&dir)?)?;
        match ring.keys.iter().find(|k| k.kid == kid) {
            None => return Err(KeyError::UnknownKid(kid.to_owned())),
            Some(k) if k.retired_at.is_some() => return Ok(()),
            Some(_) => {}
        }
        change_ring(&dir, |ring| {
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

    /// Reads a newer ring if one was written since (by `keys rotate` or
    /// `retire` in another process). A ring that cannot be read keeps the
    /// one in force and is logged: signing with a known key beats failing.
    ///
    /// Keys in a vault are not read here, in a request: their refresher
    /// reads them ([`Keys::follow_vault`]).
    pub fn refresh(&self) {
        let Source::Dir(dir) = &self.source else {
            return;
        };
        let held = self.ring_now().version;
        let newer = match latest_ring_version(dir) {
            Ok(n) if n > held => n,
            Ok(_) => return,
            Err(e) => {
                tracing::warn!(error = %e, "reading the key ring");
                return;
            }
        };
        match load_ring(dir, newer) {
            Ok(ring) => self.adopt(ring),
            Err(e) => tracing::warn!(error = %e, "reading the key ring"),
        }
    }

    /// Puts `ring` in force unless a newer one already is.
    fn adopt(&self, ring: Ring) {
        if let Ok(mut slot) = self.ring.write() {
            if slot.version < ring.version {
                *slot = Arc::new(ring);
            }
        }
    }

    fn ring_now(&self) -> Arc<Ring> {
        match self.ring.read() {
            Ok(r) => r.clone(),
            // A writer panicked mid-swap of an Arc: the value is whole.
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// The HS256 key of login tokens.
    pub fn jwt_secret(&self) -> &[u8] {
        &self.jwt_secret
    }

    /// The id of the key that signs.
    pub fn kid(&self) -> String {
        self.ring_now().current().kid.clone()
    }

    /// The key that signs, with its id, after looking for a newer ring.
    pub fn signer(&self) -> (SigningKey, String) {
        self.refresh();
        let ring = self.ring_now();
        let k = ring.current();
        (k.signing.clone(), k.kid.clone())
    }

    /// Signs `message` with the current key; returns the key id with the
    /// signature so a verifier knows which public key to use.
    pub fn sign(&self, message: &[u8]) -> (String, Signature) {
        let (key, kid) = self.signer();
        (kid, key.sign(message))
    }

    /// The current public key.
    pub fn verifying_key(&self) -> VerifyingKey {
        self.ring_now().current().signing.verifying_key()
    }

    /// Every key of the ring as the trust list names it, after looking for
    /// a newer ring.
    pub fn trusted_keys(&self) -> Vec<TrustedKey> {
        self.refresh();
        let ring = self.ring_now();
        ring.keys
            .iter()
            .enumerate()
            .map(|(i, k)| TrustedKey {
                kid: k.kid.clone(),
                alg: "Ed25519".into(),
                public_key: URL_SAFE_NO_PAD.encode(k.signing.verifying_key().as_bytes()),
                status: if k.retired_at.is_some() {
                    KeyStatus::Retired
                } else {
                    KeyStatus::Active
                },
                signs: i == ring.current,
                valid_from: k.created_at.date_naive(),
                valid_until: None,
            })
            .collect()
    }
}

fn read_signing_key(path: &Path) -> Result<(SigningKey, String, DateTime<Utc>), KeyError> {
    let malformed = |reason: String| KeyError::Malformed {
        path: path.to_owned(),
        reason,
    };
    let text = fs::read(path).map_err(io_err(path))?;
    let file: SigningKeyFile =
        serde_json::from_slice(&text).map_err(|e| malformed(e.to_string()))?;
    if file.alg != "Ed25519" {
        return Err(malformed(format!("alg {} (expected Ed25519)", file.alg)));
    }
    let seed = URL_SAFE_NO_PAD
        .decode(file.secret_key.trim())
        .map_err(|e| malformed(e.to_string()))?;
    let seed: [u8; 32] = seed
        .try_into()
        .map_err(|_| malformed("secret_key is not 32 bytes".into()))?;
    let key = SigningKey::from_bytes(&seed);
    if key_id(&key.verifying_key()) != file.kid {
        return Err(malformed("kid does not match the key".into()));
    }
    let created_at = DateTime::parse_from_rfc3339(&file.created_at)
        .map_err(|e| malformed(format!("created_at: {e}")))?
        .with_timezone(&Utc);
    Ok((key, file.kid, created_at))
}

/// The report receipts' salt wherever `home` keeps the keys.
pub fn receipt_salt_at(home: &KeyHome) -> Result<Vec<u8>, KeyError> {
    match home {
        KeyHome::Files(db_path) => receipt_salt(db_path),
        KeyHome::Vault(v) => vault::receipt_salt_in(v.as_ref()),
    }
}

/// The server-wide secret salt of report receipts (`keys/receipt.salt`, 32
/// random bytes, made on first start like the other keys): receipts are
/// stored only as argon2id under it (`crate::reports::receipt`). Kept out
/// of the database so that a copy of the database alone does not let
/// anyone test guesses against the stored hashes.
pub fn receipt_salt(db_path: &Path) -> Result<Vec<u8>, KeyError> {
    let dir = keys_dir(db_path);
    fs::create_dir_all(&dir).map_err(io_err(&dir))?;
    let path = dir.join("receipt.salt");
    let fresh: [u8; 32] = rand::random();
    if create_secret_file(&path, &fresh)? {
        tracing::info!(path = %path.display(), "created the report receipt salt");
    }
    let salt = fs::read(&path).map_err(io_err(&path))?;
    if salt.len() < 16 {
        return Err(KeyError::Malformed {
            path,
            reason: "shorter than 16 bytes".into(),
        });
    }
    Ok(salt)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::Verifier;

    #[test]
    fn made_once_then_reused() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("shian.db");
        let a = Keys::load_or_create(&db).unwrap();
        let b = Keys::load_or_create(&db).unwrap();
        assert_eq!(a.kid(), b.kid());
        assert_eq!(a.jwt_secret(), b.jwt_secret());
        let (_, sig) = a.sign(b"shop");
        assert!(b.verifying_key().verify(b"shop", &sig).is_ok());
        assert!(dir.path().join("keys/jwt.secret").exists());
    }

    /// Rotations at once each add their key: the ring loses none.
    #[test]
    fn racing_rotations_all_land() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("shian.db");
        let first = Keys::load_or_create(&db).unwrap().kid();
        let kids: Vec<String> = std::thread::scope(|s| {
            let runs: Vec<_> = (0..4)
                .map(|_| s.spawn(|| Keys::rotate(&db).unwrap()))
                .collect();
            runs.into_iter().map(|r| r.join().unwrap()).collect()
        });
        let keys = Keys::load_or_create(&db).unwrap();
        let listed: Vec<String> = keys.trusted_keys().into_iter().map(|k| k.kid).collect();
        assert_eq!(listed.len(), 5);
        assert!(listed.contains(&first));
        for kid in &kids {
            assert!(listed.contains(kid), "{kid} lost");
        }
        assert!(kids.contains(&keys.kid()), "one of the new keys signs");
        // Retiring the signer is refused; an older key retires.
        assert!(matches!(
            Keys::retire(&db, &keys.kid()),
            Err(KeyError::RetireCurrent(_))
        ));
        Keys::retire(&db, &first).unwrap();
        let statuses: Vec<_> = Keys::load_or_create(&db).unwrap().trusted_keys();
        let retired: Vec<_> = statuses
            .iter()
            .filter(|k| k.status == KeyStatus::Retired)
            .collect();
        assert_eq!(retired.len(), 1);
        assert_eq!(retired[0].kid, first);
    }
}
