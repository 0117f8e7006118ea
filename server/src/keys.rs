//! Secrets made on first start and kept beside the database.
//!
//! `data/shian.db` → `data/keys/jwt.secret` (32 random bytes, the HS256 key of
//! login tokens) and `data/keys/signing-ed25519.key` (the Ed25519 key that
//! signs shop codes and vouchers, with its key id). They are never in the
//! repository and are readable by their owner only (0600 in a 0700
//! directory). A key is written whole to a temporary file in the same
//! directory, synced, and then linked into place without clobbering, so two
//! processes starting at once on one data directory can neither read a
//! half-written secret nor overwrite each other's: the loser of the link
//! reads the winner's file.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tempfile::NamedTempFile;
use utoipa::ToSchema;

/// Why the keys could not be loaded or made.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("key file {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("key file {path} is malformed: {reason}")]
    Malformed { path: PathBuf, reason: String },
}

/// The on-disk form of the signing key.
#[derive(Serialize, Deserialize)]
struct SigningKeyFile {
    kid: String,
    alg: String,
    /// The 32-byte seed, base64url.
    secret_key: String,
    created_at: String,
}

/// The server's secrets.
pub struct Keys {
    jwt_secret: Vec<u8>,
    signing: SigningKey,
    kid: String,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print secrets, even in debug logs.
        f.debug_struct("Keys")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// One public key of `/.well-known/shian-keys.json`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PublicKey {
    pub kid: String,
    /// Always `Ed25519`.
    pub alg: String,
    /// The 32-byte public key, base64url without padding.
    pub public_key: String,
}

/// The key set devices download to verify codes offline.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct KeySet {
    pub keys: Vec<PublicKey>,
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
/// Derived, so it cannot disagree with the key it names.
pub fn key_id(public: &VerifyingKey) -> String {
    let digest = Sha256::digest(public.as_bytes());
    format!("ed25519-{}", URL_SAFE_NO_PAD.encode(&digest[..12]))
}

impl Keys {
    /// Loads the keys beside `db_path`, making any that are missing.
    pub fn load_or_create(db_path: &Path) -> Result<Keys, KeyError> {
        let dir = keys_dir(db_path);
        fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).map_err(io_err(&dir))?;
        }

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

        let sign_path = dir.join("signing-ed25519.key");
        let seed: [u8; 32] = rand::random();
        let fresh = SigningKey::from_bytes(&seed);
        let file = SigningKeyFile {
            kid: key_id(&fresh.verifying_key()),
            alg: "Ed25519".into(),
            secret_key: URL_SAFE_NO_PAD.encode(seed),
            created_at: chrono::Utc::now().to_rfc3339(),
        };
        let text = serde_json::to_vec_pretty(&file).map_err(|e| KeyError::Malformed {
            path: sign_path.clone(),
            reason: e.to_string(),
        })?;
        if create_secret_file(&sign_path, &text)? {
            tracing::info!(path = %sign_path.display(), kid = %file.kid, "created Ed25519 signing key");
        }
        let (signing, kid) = read_signing_key(&sign_path)?;
        Ok(Keys {
            jwt_secret,
            signing,
            kid,
        })
    }

    /// Keys held in memory only (tests, benchmarks).
    pub fn ephemeral() -> Keys {
        let signing = SigningKey::from_bytes(&rand::random());
        let kid = key_id(&signing.verifying_key());
        Keys {
            jwt_secret: rand::random::<[u8; 32]>().to_vec(),
            signing,
            kid,
        }
    }

    /// The HS256 key of login tokens.
    pub fn jwt_secret(&self) -> &[u8] {
        &self.jwt_secret
    }

    /// The id of the current signing key.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// Signs `message` with the current key; returns the key id with the
    /// signature so a verifier knows which public key to use.
    pub fn sign(&self, message: &[u8]) -> (&str, Signature) {
        (&self.kid, self.signing.sign(message))
    }

    /// The current public key.
    pub fn verifying_key(&self) -> VerifyingKey {
        self.signing.verifying_key()
    }

    /// What `/.well-known/shian-keys.json` serves. Rotation will add the
    /// retired keys that still verify old codes.
    pub fn key_set(&self) -> KeySet {
        KeySet {
            keys: vec![PublicKey {
                kid: self.kid.clone(),
                alg: "Ed25519".into(),
                public_key: URL_SAFE_NO_PAD.encode(self.verifying_key().as_bytes()),
            }],
        }
    }
}

/// Public keys for offline verification of shop codes and vouchers.
#[utoipa::path(get, path = "/.well-known/shian-keys.json", tag = "keys", responses((status = 200, body = KeySet)))]
pub async fn well_known(
    axum::extract::State(state): axum::extract::State<crate::AppState>,
) -> axum::Json<KeySet> {
    axum::Json(state.keys.key_set())
}

fn read_signing_key(path: &Path) -> Result<(SigningKey, String), KeyError> {
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
    Ok((key, file.kid))
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
}
