//! The tamper-evident log on the device (core `evidence`): open a signed
//! checkpoint with the synced trust list, judge it against the one the
//! device holds, and check that a fact is in the log — all offline. Thin:
//! every check is core's; hashes cross the boundary as 64 hex digits.

use crate::error::ShianError;
use crate::signed::verifier_from_json;
use shian_core::evidence::{
    self, accept_checkpoint, fact_leaf, Accepted, Checkpoint, CheckpointError, LogHash, Refused,
};

/// A checkpoint whose signature verified: the log's name, its size, its
/// root (hex), the server key that signed it and the witnesses that
/// cosigned it.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct LogCheckpoint {
    pub origin: String,
    pub size: u64,
    pub root: String,
    pub kid: String,
    pub witnesses: Vec<String>,
}

/// What the device should do with a checkpoint it was shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum CheckpointOutcome {
    /// Nothing was held: hold this one.
    First,
    /// The one already held.
    Same,
    /// A larger log proven to extend the held one: hold this one.
    Extended,
    /// Another log's checkpoint.
    OtherLog,
    /// Older than the held one: the log was rolled back.
    Older,
    /// Same size as the held one, another root: the log forked. Keep both
    /// signed checkpoints: together they prove it.
    Forked,
    /// Not proven to extend the held one: the log was rewritten.
    Inconsistent,
}

/// [`CheckpointOutcome`] with its reason in zh-CN and English.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct CheckpointVerdict {
    pub outcome: CheckpointOutcome,
    /// Whether to hold the new checkpoint from now on.
    pub accepted: bool,
    pub detail: String,
}

fn hash(text: &str, field: &str) -> Result<LogHash, ShianError> {
    text.trim().parse().map_err(|e: evidence::tree::BadHash| {
        ShianError::invalid(field, "invalid_hash", e.to_string())
    })
}

fn hashes(list: &[String], field: &str) -> Result<Vec<LogHash>, ShianError> {
    list.iter()
        .enumerate()
        .map(|(i, h)| hash(h, &format!("{field}[{i}]")))
        .collect()
}

fn core_checkpoint(c: &LogCheckpoint, field: &str) -> Result<Checkpoint, ShianError> {
    Ok(Checkpoint {
        origin: c.origin.clone(),
        size: c.size,
        root: hash(&c.root, &format!("{field}.root"))?,
    })
}

/// Opens a signed checkpoint (`GET /v1/log/checkpoint`) with a trust list
/// given as JSON. A note no active trusted key signed, a retired key, a
/// changed line or a malformed note is `Validation` on field `checkpoint`
/// with code `checkpoint_unknown_key`, `checkpoint_retired_key`,
/// `checkpoint_bad_signature` or `checkpoint_malformed`.
#[uniffi::export]
pub fn open_checkpoint(
    trust_list_json: String,
    checkpoint: String,
) -> Result<LogCheckpoint, ShianError> {
    let verifier = verifier_from_json(&trust_list_json)?;
    let opened = Checkpoint::open(&checkpoint, &verifier, &[], &[]).map_err(|e| {
        let code = match e {
            CheckpointError::Malformed(_) => "checkpoint_malformed",
            CheckpointError::UnknownKey => "checkpoint_unknown_key",
            CheckpointError::RetiredKey { .. } => "checkpoint_retired_key",
            CheckpointError::BadSignature { .. } => "checkpoint_bad_signature",
            CheckpointError::Unwitnessed { .. } => "checkpoint_unwitnessed",
        };
        ShianError::invalid("checkpoint", code, e.to_string())
    })?;
    Ok(LogCheckpoint {
        origin: opened.checkpoint.origin,
        size: opened.checkpoint.size,
        root: opened.checkpoint.root.to_hex(),
        kid: opened.kid,
        witnesses: opened.witnesses,
    })
}

/// Judges an opened checkpoint against the one the device holds, with the
/// consistency proof from the held size (`GET /v1/log/consistency`).
#[uniffi::export]
pub fn judge_checkpoint(
    held: Option<LogCheckpoint>,
    shown: LogCheckpoint,
    proof: Vec<String>,
) -> Result<CheckpointVerdict, ShianError> {
    let held = held.map(|h| core_checkpoint(&h, "held")).transpose()?;
    let shown_core = core_checkpoint(&shown, "shown")?;
    let proof = hashes(&proof, "proof")?;
    Ok(
        match accept_checkpoint(held.as_ref(), &shown_core, &proof) {
            Ok(a) => CheckpointVerdict {
                outcome: match a {
                    Accepted::First => CheckpointOutcome::First,
                    Accepted::Same => CheckpointOutcome::Same,
                    Accepted::Extended { .. } => CheckpointOutcome::Extended,
                },
                accepted: true,
                detail: String::new(),
            },
            Err(r) => CheckpointVerdict {
                outcome: match r {
                    Refused::OtherLog { .. } => CheckpointOutcome::OtherLog,
                    Refused::Older { .. } => CheckpointOutcome::Older,
                    Refused::Forked { .. } => CheckpointOutcome::Forked,
                    Refused::Inconsistent { .. } => CheckpointOutcome::Inconsistent,
                },
                accepted: false,
                detail: r.to_string(),
            },
        },
    )
}

/// Whether the fact of `kind` and `id` with body `body_json`, as the device
/// recorded it, is leaf `index` of the log `checkpoint` signed, by the
/// audit path `proof` (`GET /v1/log/inclusion`). `Ok(false)`: the server's
/// answer does not show the fact in its log (changed, dropped, or another
/// tree's proof).
#[uniffi::export]
pub fn verify_fact_inclusion(
    kind: String,
    id: String,
    body_json: String,
    index: u64,
    checkpoint: LogCheckpoint,
    proof: Vec<String>,
) -> Result<bool, ShianError> {
    let body: serde_json::Value = serde_json::from_str(&body_json)
        .map_err(|e| ShianError::invalid("body_json", "invalid_json", e.to_string()))?;
    let leaf = fact_leaf(&kind, &id, &body)
        .map_err(|e| ShianError::invalid("kind", "invalid_fact", e.to_string()))?;
    let head = core_checkpoint(&checkpoint, "checkpoint")?;
    let proof = hashes(&proof, "proof")?;
    Ok(evidence::verify_inclusion(
        &LogHash::of_leaf(&leaf),
        index,
        head.size,
        &proof,
        &head.root,
    )
    .is_ok())
}
