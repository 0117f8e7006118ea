//! The signing side of the store (issue 12): device certificates, their
//! revocation, and the trust list published to every device by sync.
//! Its own trait beside [`super::Store`]'s accounts so each backend file
//! stays small; `Store` requires it.

use chrono::{DateTime, NaiveDate, Utc};
use shian_core::signed::{RevokedDevice, TrustedKey};

use super::{Device, StoreFuture};

/// The change kind the trust list is published under (core's
/// `signed::local::TRUST_LIST_KIND`), addressed to every device.
pub const TRUST_LIST_KIND: &str = shian_core::signed::local::TRUST_LIST_KIND;

/// A certificate the server signed for a merchant's device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceCertificate {
    /// 16 hex digits.
    pub cert_id: String,
    pub device_id: String,
    pub merchant_id: String,
    /// The device's public key, base64url.
    pub public_key: String,
    /// The 122 certificate bytes, base64url, as sent to the device.
    pub certificate: String,
    /// The server key that signed it.
    pub kid: String,
    pub valid_from: NaiveDate,
    pub valid_until: NaiveDate,
    pub created_at: DateTime<Utc>,
}

/// What revoking a device did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revoked {
    pub device_id: String,
    /// The device's certificates now revoked (empty: it had none).
    pub cert_ids: Vec<String>,
    pub revoked_at: DateTime<Utc>,
}

pub trait SigningStore {
    /// Registers a device with the certificate issued for its key, in one
    /// transaction; `Conflict("duplicate_device")` as `create_device`.
    fn create_certified_device(
        &self,
        device: Device,
        certificate: DeviceCertificate,
    ) -> StoreFuture<'_, Device>;

    /// The certificates of a device, oldest first.
    fn device_certificates(&self, device_id: String) -> StoreFuture<'_, Vec<DeviceCertificate>>;

    /// Revokes every certificate of a device and publishes the new trust
    /// list (with `keys`) to every device, in one transaction. `None` when
    /// the device does not exist. Revoking again keeps the first time.
    fn revoke_device(
        &self,
        device_id: String,
        at: DateTime<Utc>,
        keys: Vec<TrustedKey>,
    ) -> StoreFuture<'_, Option<Revoked>>;

    /// Every revoked certificate, in the order revoked.
    fn revoked_devices(&self) -> StoreFuture<'_, Vec<RevokedDevice>>;

    /// Publishes the trust list made of `keys` and the revoked certificates
    /// unless the last one published is the same; `true` when it published.
    /// Called at start and after a key rotation or retirement, so a fresh
    /// device's first pull holds the current list.
    fn publish_trust_list(&self, keys: Vec<TrustedKey>) -> StoreFuture<'_, bool>;
}
