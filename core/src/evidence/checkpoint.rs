//! Signed checkpoints (C2SP `tlog-checkpoint` in a C2SP `signed-note`):
//!
//! ```text
//! shian.example/log/350203
//! 1204
//! 3Kl…base64 root…=
//!
//! — shian.example/log/350203 AbCdEf…base64(key id ‖ Ed25519 signature)…
//! — bureau.fj.example/witness Gh…
//! ```
//!
//! The first lines name the log (its *origin*), its size and its root; the
//! signature lines follow a blank line. The server signs with the Ed25519
//! keys of the trust list that phones already sync for signed codes, under
//! the origin as the note's key name, so a device needs no new key to check
//! a checkpoint. A witness (another Shian server, a provincial bureau, a
//! court) adds a line of its own under its own name after checking the new
//! checkpoint is consistent with the last one it signed; a device may demand
//! the witnesses it knows.

use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use signed_note::{Note, NoteError, VerifierList};
use tlog_tiles::tlog::Hash;

use super::tree::LogHash;
use crate::signed::{KeyStatus, Verifier};

/// A tree head: which log, how many leaves, and the root over them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub origin: String,
    pub size: u64,
    pub root: LogHash,
}

/// Why a checkpoint was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    #[error("检查点格式错误 (malformed checkpoint): {0}")]
    Malformed(String),
    #[error("检查点不是由信任列表中的服务器密钥签名的 (no signature by a trusted server key)")]
    UnknownKey,
    #[error("检查点由已停用的服务器密钥 {kid} 签名 (signed by the retired key {kid})")]
    RetiredKey { kid: String },
    #[error("检查点签名无效 (a signature does not match): {name}")]
    BadSignature { name: String },
    #[error("检查点缺少见证方 {name} 的签名 (the witness {name} has not cosigned it)")]
    Unwitnessed { name: String },
}

/// A key that signs notes under `name`: the note format's key id is the
/// first 4 bytes of SHA-256(name ‖ "\n" ‖ 0x01 ‖ public key) (C2SP
/// signed-note, Ed25519).
#[derive(Clone)]
struct NoteKey {
    name: String,
    id: u32,
    public: VerifyingKey,
}

impl NoteKey {
    fn new(name: &str, public: VerifyingKey) -> NoteKey {
        let encoded = [&[1u8][..], public.as_bytes()].concat();
        NoteKey {
            name: name.to_owned(),
            id: signed_note::key_id(name, &encoded),
            public,
        }
    }
}

impl signed_note::Verifier for NoteKey {
    fn name(&self) -> &str {
        &self.name
    }

    fn key_id(&self) -> u32 {
        self.id
    }

    fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        Signature::from_slice(sig).is_ok_and(|s| self.public.verify_strict(msg, &s).is_ok())
    }
}

/// Signs checkpoints with one Ed25519 key under one name: the server's key
/// under the log's origin, or a witness's key under the witness's name.
pub struct CheckpointSigner<'a> {
    note: NoteKey,
    key: &'a SigningKey,
}

impl<'a> CheckpointSigner<'a> {
    pub fn new(name: &str, key: &'a SigningKey) -> CheckpointSigner<'a> {
        CheckpointSigner {
            note: NoteKey::new(name, key.verifying_key()),
            key,
        }
    }
}

impl signed_note::Signer for CheckpointSigner<'_> {
    fn name(&self) -> &str {
        &self.note.name
    }

    fn key_id(&self) -> u32 {
        self.note.id
    }

    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, ed25519_dalek::SignatureError> {
        Ok(self.key.sign(msg).to_bytes().to_vec())
    }
}

/// A witness a device (or a bureau's checker) knows: its name and key.
#[derive(Debug, Clone)]
pub struct WitnessKey {
    pub name: String,
    pub public_key: VerifyingKey,
}

/// A checkpoint whose server signature verified, and the witnesses whose
/// cosignatures verified beside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cosigned {
    pub checkpoint: Checkpoint,
    /// The trust list's `kid` of the server key that signed it.
    pub kid: String,
    pub witnesses: Vec<String>,
}

fn malformed(e: impl std::fmt::Display) -> CheckpointError {
    CheckpointError::Malformed(e.to_string())
}

impl Checkpoint {
    /// The C2SP checkpoint text (origin, size, base64 root), unsigned.
    pub fn body(&self) -> Result<Vec<u8>, CheckpointError> {
        tlog_tiles::Checkpoint::new(&self.origin, self.size, Hash(self.root.0), "")
            .map(|c| c.to_bytes())
            .map_err(malformed)
    }

    /// The checkpoint as a note signed by `signer` (the server's key under
    /// the origin).
    pub fn sign(&self, signer: &CheckpointSigner<'_>) -> Result<String, CheckpointError> {
        let mut note = Note::new(&self.body()?, &[]).map_err(malformed)?;
        note.add_sigs(&[signer]).map_err(malformed)?;
        String::from_utf8(note.to_bytes()).map_err(malformed)
    }

    /// Reads a signed checkpoint. It must carry a valid signature by an
    /// active server key of `trust` under its own origin, and one by every
    /// witness in `required`; cosignatures of other `known` witnesses are
    /// checked and named, anything else is ignored.
    pub fn open(
        note: &str,
        trust: &Verifier,
        known: &[WitnessKey],
        required: &[&str],
    ) -> Result<Cosigned, CheckpointError> {
        let parsed = Note::from_bytes(note.as_bytes()).map_err(malformed)?;
        let head = tlog_tiles::Checkpoint::from_bytes(parsed.text()).map_err(malformed)?;
        let origin = head.origin().to_owned();
        let server: Vec<(String, NoteKey, KeyStatus)> = trust
            .keys
            .iter()
            .map(|k| (k.kid.clone(), NoteKey::new(&origin, k.key), k.status))
            .collect();
        let mut list: Vec<Box<dyn signed_note::Verifier>> = Vec::new();
        for (_, key, status) in &server {
            if *status == KeyStatus::Active {
                list.push(Box::new(key.clone()));
            }
        }
        for w in known {
            list.push(Box::new(NoteKey::new(&w.name, w.public_key)));
        }
        let (verified, unverified) = match parsed.verify(&VerifierList::new(list)) {
            Ok(sigs) => sigs,
            Err(NoteError::InvalidSignature { name, .. }) => {
                return Err(CheckpointError::BadSignature { name })
            }
            Err(NoteError::UnverifiedNote) => (Vec::new(), parsed_signatures(&parsed)),
            Err(e) => return Err(malformed(e)),
        };
        // The trust list's kid of a server key of `status` that made one of
        // `sigs`.
        let kid_of = |sigs: &[signed_note::Signature], status: KeyStatus| {
            sigs.iter().find_map(|s| {
                server
                    .iter()
                    .find(|(_, k, st)| *st == status && k.name == s.name() && k.id == s.id())
                    .map(|(kid, ..)| kid.clone())
            })
        };
        let Some(kid) = kid_of(&verified, KeyStatus::Active) else {
            // Name the retired key when that is what signed it.
            return Err(match kid_of(&unverified, KeyStatus::Retired) {
                Some(kid) => CheckpointError::RetiredKey { kid },
                None => CheckpointError::UnknownKey,
            });
        };
        let witnesses: Vec<String> = verified
            .iter()
            .filter(|s| known.iter().any(|w| w.name == s.name()))
            .map(|s| s.name().to_owned())
            .collect();
        if let Some(missing) = required.iter().find(|r| !witnesses.iter().any(|w| w == *r)) {
            return Err(CheckpointError::Unwitnessed {
                name: (*missing).to_owned(),
            });
        }
        Ok(Cosigned {
            checkpoint: Checkpoint {
                origin,
                size: head.size(),
                root: LogHash(head.hash().0),
            },
            kid,
            witnesses,
        })
    }

    /// `note` with a witness's cosignature added (the checks a witness makes
    /// before it signs are [`super::accept_checkpoint`]'s).
    pub fn cosign(note: &str, witness: &CheckpointSigner<'_>) -> Result<String, CheckpointError> {
        let mut parsed = Note::from_bytes(note.as_bytes()).map_err(malformed)?;
        parsed.add_sigs(&[witness]).map_err(malformed)?;
        String::from_utf8(parsed.to_bytes()).map_err(malformed)
    }
}

/// A note's signature lines (`Note` keeps them private): read back from its
/// encoding, the lines after the blank line. Used to name a retired signer
/// when no signature verified.
fn parsed_signatures(note: &Note) -> Vec<signed_note::Signature> {
    let bytes = note.to_bytes();
    let text = String::from_utf8_lossy(&bytes);
    text.rsplit_once("\n\n")
        .map(|(_, sigs)| {
            sigs.lines()
                .filter_map(|l| signed_note::Signature::from_bytes(l.as_bytes()).ok())
                .collect()
        })
        .unwrap_or_default()
}

/// A trust-list entry for `key` (tests of this module and of `local`).
#[cfg(test)]
pub(crate) fn trusted_key(key: &SigningKey, status: KeyStatus) -> crate::signed::TrustedKey {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;

    let public = key.verifying_key();
    crate::signed::TrustedKey {
        kid: crate::signed::trust::key_id(&public),
        alg: "Ed25519".into(),
        public_key: URL_SAFE_NO_PAD.encode(public.as_bytes()),
        status,
        signs: status == KeyStatus::Active,
        valid_from: chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
        valid_until: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signed::TrustList;

    const ORIGIN: &str = "shian.test/log/350203";

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    fn trust(keys: &[(&SigningKey, KeyStatus)]) -> Verifier {
        TrustList {
            keys: keys.iter().map(|(k, s)| trusted_key(k, *s)).collect(),
            revoked_devices: Vec::new(),
        }
        .verifier()
        .unwrap()
    }

    fn head(size: u64) -> Checkpoint {
        Checkpoint {
            origin: ORIGIN.into(),
            size,
            root: LogHash::of_leaf(&size.to_be_bytes()),
        }
    }

    #[test]
    fn a_signed_checkpoint_opens_with_the_trust_list_and_reads_as_c2sp() {
        let server = key(1);
        let note = head(1204)
            .sign(&CheckpointSigner::new(ORIGIN, &server))
            .unwrap();
        let lines: Vec<&str> = note.lines().collect();
        assert_eq!(lines[0], ORIGIN);
        assert_eq!(lines[1], "1204");
        assert_eq!(lines[3], "");
        assert!(lines[4].starts_with(&format!("— {ORIGIN} ")), "{note}");
        let opened =
            Checkpoint::open(&note, &trust(&[(&server, KeyStatus::Active)]), &[], &[]).unwrap();
        assert_eq!(opened.checkpoint, head(1204));
        assert_eq!(
            opened.kid,
            crate::signed::trust::key_id(&server.verifying_key())
        );
    }

    #[test]
    fn an_unknown_retired_or_forged_signature_is_refused() {
        let (server, other) = (key(1), key(2));
        let note = head(10)
            .sign(&CheckpointSigner::new(ORIGIN, &other))
            .unwrap();
        assert_eq!(
            Checkpoint::open(&note, &trust(&[(&server, KeyStatus::Active)]), &[], &[]),
            Err(CheckpointError::UnknownKey)
        );
        let retired = trust(&[(&other, KeyStatus::Retired), (&server, KeyStatus::Active)]);
        assert!(matches!(
            Checkpoint::open(&note, &retired, &[], &[]),
            Err(CheckpointError::RetiredKey { .. })
        ));
        // The size changed after signing.
        let note = head(10)
            .sign(&CheckpointSigner::new(ORIGIN, &server))
            .unwrap();
        let forged = note.replacen("\n10\n", "\n11\n", 1);
        assert_eq!(
            Checkpoint::open(&forged, &trust(&[(&server, KeyStatus::Active)]), &[], &[]),
            Err(CheckpointError::BadSignature {
                name: ORIGIN.into()
            })
        );
        // Signed by the right key under another log's name.
        let elsewhere = head(10)
            .sign(&CheckpointSigner::new("shian.test/log/350206", &server))
            .unwrap();
        assert_eq!(
            Checkpoint::open(
                &elsewhere,
                &trust(&[(&server, KeyStatus::Active)]),
                &[],
                &[]
            ),
            Err(CheckpointError::UnknownKey)
        );
        for bad in ["", "x", "shian\n10\n", &note[..note.len() - 3]] {
            assert!(
                Checkpoint::open(bad, &trust(&[(&server, KeyStatus::Active)]), &[], &[]).is_err(),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn a_witness_cosigns_and_a_device_can_require_it() {
        let (server, bureau) = (key(1), key(9));
        let name = "bureau.fj.test/witness";
        let witness = WitnessKey {
            name: name.into(),
            public_key: bureau.verifying_key(),
        };
        let trust = trust(&[(&server, KeyStatus::Active)]);
        let note = head(10)
            .sign(&CheckpointSigner::new(ORIGIN, &server))
            .unwrap();
        assert_eq!(
            Checkpoint::open(&note, &trust, std::slice::from_ref(&witness), &[name]),
            Err(CheckpointError::Unwitnessed { name: name.into() })
        );
        let cosigned = Checkpoint::cosign(&note, &CheckpointSigner::new(name, &bureau)).unwrap();
        let opened =
            Checkpoint::open(&cosigned, &trust, std::slice::from_ref(&witness), &[name]).unwrap();
        assert_eq!(opened.witnesses, vec![name.to_owned()]);
        // A witness signature alone is not the server's.
        let alone = head(10)
            .sign(&CheckpointSigner::new(name, &bureau))
            .unwrap();
        assert_eq!(
            Checkpoint::open(&alone, &trust, std::slice::from_ref(&witness), &[]),
            Err(CheckpointError::UnknownKey)
        );
    }
}
