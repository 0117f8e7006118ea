//! Where the server's secrets live when several instances share one
//! database (issue 15): the login tokens' key, the report receipts' salt,
//! the Ed25519 signing keys and the key ring's history. A backend whose
//! instances share nothing but the database (PostgreSQL) keeps them in it,
//! so an instance needs no folder of its own and a rotation by any
//! instance or by the CLI reaches all of them. The SQLite backend has no
//! vault: its keys stay in files beside its one file (`crate::keys`).
//!
//! The calls are blocking (the synchronous client): the server makes them
//! at start, from the CLI and from its refresher, each on a blocking
//! thread, never inside a request.

use chrono::{DateTime, Utc};

use super::StoreError;

/// A shared secret's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretName {
    /// The HS256 key of login tokens.
    Jwt,
    /// The salt of report receipts' argon2id hashes.
    Receipt,
}

impl SecretName {
    pub fn as_str(self) -> &'static str {
        match self {
            SecretName::Jwt => "jwt",
            SecretName::Receipt => "receipt",
        }
    }
}

/// One Ed25519 signing key, made once and never changed.
#[derive(Clone, PartialEq, Eq)]
pub struct VaultKey {
    pub kid: String,
    /// The 32-byte seed.
    pub seed: [u8; 32],
    pub created_at: DateTime<Utc>,
}

impl std::fmt::Debug for VaultKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print a seed, even in a test's failure.
        f.debug_struct("VaultKey")
            .field("kid", &self.kid)
            .field("created_at", &self.created_at)
            .finish_non_exhaustive()
    }
}

/// A key of a ring: which one, and since when it no longer verifies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RingKey {
    pub kid: String,
    pub retired_at: Option<DateTime<Utc>>,
}

/// Why a ring version was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RingChange {
    First,
    Rotate,
    Retire,
}

impl RingChange {
    pub fn as_str(self) -> &'static str {
        match self {
            RingChange::First => "first",
            RingChange::Rotate => "rotate",
            RingChange::Retire => "retire",
        }
    }
}

/// One version of the key ring: the highest is in force.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VaultRing {
    /// 1, 2, 3…
    pub version: u64,
    /// The kid that signs.
    pub current: String,
    pub keys: Vec<RingKey>,
}

/// The secrets a shared database keeps.
pub trait KeyVault: Send + Sync {
    /// The secret `name`; made from `fresh` when none exists yet. Of
    /// instances starting at once the first to store wins and every one
    /// reads the winner's.
    fn secret(&self, name: SecretName, fresh: &[u8]) -> Result<Vec<u8>, StoreError>;

    /// The version of the ring in force (0: none yet). Cheap: the
    /// refresher asks it every second.
    fn ring_version(&self) -> Result<u64, StoreError>;

    /// The ring in force with the seeds of its keys, or `None` before the
    /// first start.
    fn ring(&self) -> Result<Option<(VaultRing, Vec<VaultKey>)>, StoreError>;

    /// Writes `ring` (version = the one in force + 1) with `new_key`, the
    /// key it adds if any, in one transaction. `Ok(false)` when another
    /// writer took that version first: nothing of this call is stored, and
    /// the caller reads the winner's ring and tries again.
    fn write_ring(
        &self,
        ring: &VaultRing,
        change: RingChange,
        new_key: Option<&VaultKey>,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
}
