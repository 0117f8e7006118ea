//! The trust list: which server keys vouch for codes, and which device
//! certificates are revoked. The server publishes it at
//! `/.well-known/shian-keys.json` and to every device by sync (change kind
//! `keys.trust_list`); a device verifies against the copy it last pulled,
//! with no network (as EU DCC verifiers use their last downloaded list of
//! signing certificates).

use std::collections::HashSet;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::NaiveDate;
use ed25519_dalek::VerifyingKey;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Whether a server key still vouches for what it signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyStatus {
    /// Verifies; the one with `signs: true` signs new codes.
    Active,
    /// Withdrawn (`shian-server keys retire`): what it signed no longer
    /// verifies.
    Retired,
}

/// One server public key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrustedKey {
    /// `ed25519-` + base64url of the first 12 bytes of SHA-256(public key).
    pub kid: String,
    /// Always `Ed25519`.
    pub alg: String,
    /// The 32-byte public key, base64url without padding.
    pub public_key: String,
    pub status: KeyStatus,
    /// The key that signs new codes now (exactly one active key).
    #[serde(default)]
    pub signs: bool,
    /// First day it signed; a code dated earlier is forged.
    pub valid_from: NaiveDate,
    /// Last day what it signed is good, when the key has an end.
    #[serde(default)]
    pub valid_until: Option<NaiveDate>,
}

/// A revoked device certificate: vouchers it signed no longer verify.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevokedDevice {
    /// 16 hex digits: the certificate's id.
    pub cert_id: String,
    /// The server's device id, for people reading the list.
    #[serde(default)]
    pub device_id: Option<String>,
    /// RFC 3339.
    pub revoked_at: String,
}

/// What verification trusts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrustList {
    pub keys: Vec<TrustedKey>,
    #[serde(default)]
    pub revoked_devices: Vec<RevokedDevice>,
}

/// Why a trust list cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrustListError {
    #[error("信任列表格式错误 (trust list is not valid JSON): {0}")]
    Json(String),
    #[error("信任列表中的密钥 {kid} 无效 (key is not a valid Ed25519 public key)")]
    BadKey { kid: String },
    #[error("信任列表中的密钥编号 {kid} 与密钥不符 (kid does not match its key)")]
    KidMismatch { kid: String },
    #[error("信任列表中的证书编号 {0} 无效 (revoked cert_id is not 16 hex digits)")]
    BadCertId(String),
}

/// The key id of a public key (the server's `keys::key_id` is this).
pub fn key_id(public: &VerifyingKey) -> String {
    let digest = Sha256::digest(public.as_bytes());
    format!("ed25519-{}", URL_SAFE_NO_PAD.encode(&digest[..12]))
}

/// Bytes of the key tag a signed payload carries instead of the whole kid.
pub const KID_TAG_LEN: usize = 4;

/// The first 4 bytes of SHA-256(public key): the start of the kid's digest,
/// so a payload names its key in 4 bytes. Two keys sharing a tag are both
/// tried, as EU DCC verifiers try every certificate of a colliding kid.
pub fn kid_tag(public: &VerifyingKey) -> [u8; KID_TAG_LEN] {
    let digest = Sha256::digest(public.as_bytes());
    let mut tag = [0u8; KID_TAG_LEN];
    tag.copy_from_slice(&digest[..KID_TAG_LEN]);
    tag
}

/// A server key ready to verify.
#[derive(Debug, Clone)]
pub(crate) struct ReadyKey {
    pub kid: String,
    pub tag: [u8; KID_TAG_LEN],
    pub key: VerifyingKey,
    pub status: KeyStatus,
    pub valid_from: NaiveDate,
    pub valid_until: Option<NaiveDate>,
}

/// A trust list decoded once for many verifications (a scanning screen
/// keeps one).
#[derive(Debug, Clone)]
pub struct Verifier {
    pub(crate) keys: Vec<ReadyKey>,
    pub(crate) revoked: HashSet<[u8; 8]>,
}

impl TrustList {
    pub fn from_json(text: &str) -> Result<TrustList, TrustListError> {
        serde_json::from_str(text).map_err(|e| TrustListError::Json(e.to_string()))
    }

    /// Decodes every key and revoked id; a bad entry refuses the whole list
    /// (a list that half-parses would verify codes it should not).
    pub fn verifier(&self) -> Result<Verifier, TrustListError> {
        let mut keys = Vec::with_capacity(self.keys.len());
        for k in &self.keys {
            let bad = || TrustListError::BadKey { kid: k.kid.clone() };
            let bytes: [u8; 32] = URL_SAFE_NO_PAD
                .decode(k.public_key.trim())
                .map_err(|_| bad())?
                .try_into()
                .map_err(|_| bad())?;
            let key = VerifyingKey::from_bytes(&bytes).map_err(|_| bad())?;
            if key.is_weak() || k.alg != "Ed25519" {
                return Err(bad());
            }
            if key_id(&key) != k.kid {
                return Err(TrustListError::KidMismatch { kid: k.kid.clone() });
            }
            keys.push(ReadyKey {
                kid: k.kid.clone(),
                tag: kid_tag(&key),
                key,
                status: k.status,
                valid_from: k.valid_from,
                valid_until: k.valid_until,
            });
        }
        let mut revoked = HashSet::new();
        for r in &self.revoked_devices {
            revoked.insert(
                parse_cert_id(&r.cert_id)
                    .ok_or_else(|| TrustListError::BadCertId(r.cert_id.clone()))?,
            );
        }
        Ok(Verifier { keys, revoked })
    }
}

/// A certificate id as the trust list writes it: 16 lower-case hex digits.
pub fn cert_id_hex(id: &[u8; 8]) -> String {
    id.iter().map(|b| format!("{b:02x}")).collect()
}

pub(crate) fn parse_cert_id(s: &str) -> Option<[u8; 8]> {
    let s = s.trim();
    if s.len() != 16 || !s.is_ascii() {
        return None;
    }
    let mut out = [0u8; 8];
    for (i, slot) in out.iter_mut().enumerate() {
        *slot = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

impl Verifier {
    /// The keys a tag may name.
    pub(crate) fn candidates(&self, tag: &[u8]) -> impl Iterator<Item = &ReadyKey> + '_ {
        let tag: Option<[u8; KID_TAG_LEN]> = tag.try_into().ok();
        self.keys.iter().filter(move |k| Some(k.tag) == tag)
    }
}
