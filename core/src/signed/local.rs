//! The signed codes in a device's local store: the device's own signing
//! key and certificate, the trust list last pulled, and the vouchers
//! already received (a voucher scanned twice is a copy or a replay: the
//! second scan says so).
//!
//! The trust list arrives by pull as change kind [`TRUST_LIST_KIND`] with
//! payload id [`TRUST_LIST_KEY`]; the sync client keeps the latest of each
//! (kind, id) in the `inbox` table, so nothing in sync is special to it.
//! The device's private key stays in this file and never leaves it; only
//! its public key is sent when the device enrols.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::{NaiveDate, Utc};
use ed25519_dalek::SigningKey;
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;

use super::shop::{self, ShopClaims};
use super::trust::{TrustList, TrustListError};
use super::voucher::{self, CertClaims, NewVoucher, VoucherClaims};
use super::{Checked, SignError, Verdict};
use crate::store::schema;
use crate::store::LocalStore;

/// The change kind the server publishes the trust list under.
pub const TRUST_LIST_KIND: &str = "keys.trust_list";
/// The payload id of the trust list (one current list per device).
pub const TRUST_LIST_KEY: &str = "trust_list";

/// The `signed` component's migrations; index + 1 is the version.
pub const MIGRATIONS: &[&str] = &[
    // v1: this device's signing key with its certificate; vouchers received.
    r#"
    CREATE TABLE signed_device_key (
        id          INTEGER PRIMARY KEY CHECK (id = 1),
        secret_key  TEXT NOT NULL,   -- 32-byte Ed25519 seed, base64url
        public_key  TEXT NOT NULL,
        certificate TEXT,            -- base64url, as the server answered it
        created_at  TEXT NOT NULL
    );
    CREATE TABLE signed_received_vouchers (
        voucher_code     TEXT PRIMARY KEY,
        seller_shop_code TEXT NOT NULL,
        cert_id          TEXT NOT NULL,
        received_at      TEXT NOT NULL,
        voucher          TEXT NOT NULL
    );
    "#,
];

/// Brings the `signed` tables to the newest version (called on open).
pub fn migrate(conn: &mut Connection) -> rusqlite::Result<usize> {
    schema::migrate_to(conn, "signed", MIGRATIONS, MIGRATIONS.len())
}

/// Why a local signed-code call failed.
#[derive(Debug, thiserror::Error)]
pub enum LocalSignedError {
    #[error("sqlite: {0}")]
    Storage(#[from] rusqlite::Error),
    #[error("{0}")]
    TrustList(#[from] TrustListError),
    #[error("尚未同步信任列表，请联网同步一次 (no trust list yet: sync once online)")]
    NoTrustList,
    #[error("本机尚无设备证书，请先登记设备 (this device has no certificate: enrol it first)")]
    NoCertificate,
    #[error("{0}")]
    Sign(#[from] SignError),
}

/// A scanned code, recognised by its form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Scanned {
    Shop(Checked<ShopClaims>),
    Voucher(Checked<VoucherClaims>),
    /// Neither a shop URL nor a voucher.
    Unrecognised {
        reason: String,
    },
}

/// Verifies a scanned text (a shop URL or a voucher) with `verifier`.
pub fn verify_scanned(verifier: &super::Verifier, text: &str, today: NaiveDate) -> Scanned {
    let t = text.trim();
    if t.get(..voucher::PREFIX.len())
        .is_some_and(|p| p.eq_ignore_ascii_case(voucher::PREFIX))
    {
        Scanned::Voucher(voucher::verify(verifier, t, today))
    } else if t.contains("/s/") {
        Scanned::Shop(shop::verify_url(verifier, t, today))
    } else {
        Scanned::Unrecognised {
            reason: "既不是店铺码也不是上市凭证 (neither a shop code nor a voucher)".into(),
        }
    }
}

/// A voucher scanned on receipt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Received {
    pub checked: Checked<VoucherClaims>,
    /// When this device first received it, if it had: the scan is a replay.
    pub already_received_at: Option<String>,
}

impl LocalStore {
    /// The trust list last pulled, if any.
    pub fn trust_list(&self) -> Result<Option<TrustList>, LocalSignedError> {
        let text: Option<String> = self
            .conn()
            .query_row(
                "SELECT payload FROM inbox WHERE kind = ?1 AND key = ?2",
                params![TRUST_LIST_KIND, TRUST_LIST_KEY],
                |r| r.get(0),
            )
            .optional()?;
        text.map(|t| TrustList::from_json(&t))
            .transpose()
            .map_err(Into::into)
    }

    pub(crate) fn verifier(&self) -> Result<super::Verifier, LocalSignedError> {
        Ok(self
            .trust_list()?
            .ok_or(LocalSignedError::NoTrustList)?
            .verifier()?)
    }

    /// Verifies a scanned shop URL or voucher against the stored trust list
    /// on `today`, with no network. Does not mark a voucher received.
    pub fn verify_scanned(
        &self,
        text: &str,
        today: NaiveDate,
    ) -> Result<Scanned, LocalSignedError> {
        Ok(verify_scanned(&self.verifier()?, text, today))
    }

    /// Verifies a voucher scanned on receipt of goods and, when genuine and
    /// new, records it as received, in one statement; a voucher received
    /// before (here, or named by a purchase already recorded) answers when.
    pub fn receive_voucher(
        &mut self,
        text: &str,
        today: NaiveDate,
    ) -> Result<Received, LocalSignedError> {
        let checked = voucher::verify(&self.verifier()?, text, today);
        let (Verdict::Genuine, Some(claims)) = (&checked.verdict, &checked.claims) else {
            return Ok(Received {
                checked,
                already_received_at: None,
            });
        };
        let now = Utc::now().to_rfc3339();
        let tx = self.conn_mut().transaction()?;
        let earlier: Option<String> = tx
            .query_row(
                "SELECT received_at FROM signed_received_vouchers WHERE voucher_code = ?1
                 UNION ALL
                 SELECT received_at FROM batches WHERE voucher_code = ?1 AND voided = 0
                 LIMIT 1",
                [&claims.voucher_code],
                |r| r.get(0),
            )
            .optional()?;
        if earlier.is_none() {
            tx.execute(
                "INSERT INTO signed_received_vouchers (voucher_code, seller_shop_code, cert_id, received_at, voucher)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![claims.voucher_code, claims.seller_shop_code, claims.cert_id, now, text.trim()],
            )?;
        }
        tx.commit()?;
        Ok(Received {
            checked,
            already_received_at: earlier,
        })
    }

    /// This device's public key (base64url), made on first call. Send it
    /// with `POST /v1/devices` (`public_key`) to get a certificate.
    pub fn device_public_key(&mut self) -> Result<String, LocalSignedError> {
        if let Some(k) = self.device_key_row()? {
            return Ok(k.1);
        }
        let seed: [u8; 32] = rand::random();
        let public =
            URL_SAFE_NO_PAD.encode(SigningKey::from_bytes(&seed).verifying_key().as_bytes());
        // INSERT OR IGNORE: a second caller racing on the same file keeps the first key.
        self.conn().execute(
            "INSERT OR IGNORE INTO signed_device_key (id, secret_key, public_key, created_at) VALUES (1, ?1, ?2, ?3)",
            params![URL_SAFE_NO_PAD.encode(seed), public, Utc::now().to_rfc3339()],
        )?;
        Ok(self.device_key_row()?.map(|k| k.1).unwrap_or(public))
    }

    /// (signing key, public key b64, certificate b64).
    fn device_key_row(
        &self,
    ) -> Result<Option<(SigningKey, String, Option<String>)>, LocalSignedError> {
        let row: Option<(String, String, Option<String>)> = self
            .conn()
            .query_row(
                "SELECT secret_key, public_key, certificate FROM signed_device_key WHERE id = 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        let Some((secret, public, cert)) = row else {
            return Ok(None);
        };
        let seed: [u8; 32] = URL_SAFE_NO_PAD
            .decode(secret)
            .ok()
            .and_then(|s| s.try_into().ok())
            .ok_or_else(|| {
                SignError::BadCertificate("本机密钥已损坏 (device key damaged)".into())
            })?;
        Ok(Some((SigningKey::from_bytes(&seed), public, cert)))
    }

    /// Keeps the certificate the server answered at enrolment, after
    /// checking it certifies this device's key.
    pub fn install_device_certificate(
        &mut self,
        cert_b64: &str,
    ) -> Result<CertClaims, LocalSignedError> {
        let bytes = URL_SAFE_NO_PAD
            .decode(cert_b64.trim())
            .map_err(|e| SignError::BadCertificate(e.to_string()))?;
        let cert = voucher::parse_cert(&bytes).map_err(SignError::BadCertificate)?;
        let key = self
            .device_key_row()?
            .ok_or(SignError::CertificateKeyMismatch)?
            .0;
        if *cert.device_key() != key.verifying_key() {
            return Err(SignError::CertificateKeyMismatch.into());
        }
        self.conn().execute(
            "UPDATE signed_device_key SET certificate = ?1 WHERE id = 1",
            [URL_SAFE_NO_PAD.encode(bytes)],
        )?;
        Ok(cert.claims)
    }

    /// Signs a voucher on this device, offline, with its certified key.
    pub fn issue_voucher(&self, v: &NewVoucher<'_>) -> Result<String, LocalSignedError> {
        let (key, _, cert) = self
            .device_key_row()?
            .ok_or(LocalSignedError::NoCertificate)?;
        let cert = cert.ok_or(LocalSignedError::NoCertificate)?;
        let bytes = URL_SAFE_NO_PAD
            .decode(cert)
            .map_err(|e| SignError::BadCertificate(e.to_string()))?;
        Ok(voucher::issue(&key, &bytes, v)?)
    }
}
