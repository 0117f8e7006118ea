//! Evidence an outsider can check (issue 16): every accepted fact is a leaf
//! of an append-only Merkle tree (RFC 9162, Certificate Transparency's log),
//! the server signs the tree's size and root as a C2SP checkpoint, and
//! anyone holding a checkpoint checks with about log₂ n hashes that a fact
//! is in the tree ([`verify_inclusion`]) and that a later tree still holds
//! every earlier fact unchanged ([`verify_consistency`]). Whoever runs the
//! database can then no longer rewrite or drop a fact unnoticed: the
//! changed fact's leaf no longer leads to the signed root, and a rewritten
//! tree is not consistent with the checkpoints devices already hold.
//!
//! This module is the verifier's side, shared by the server, the phones
//! (through the binding) and `verify-evidence`, with no network:
//!
//! - [`tree`]: leaf and node hashes, an in-memory log for building proofs,
//!   and the two proof checks, which refuse hostile input with an error
//!   rather than a panic (the immudb lesson: its SDKs before 1.4.1 accepted
//!   a falsified proof — so the verifier is what the tests attack);
//! - [`fact`]: the bytes a fact is logged as (RFC 8785 canonical JSON), so
//!   the same fact read back from either database gives the same leaf;
//! - [`checkpoint`]: signing and opening checkpoints with the server keys of
//!   the trust list the devices already sync, plus witness cosignatures;
//! - [`append`]: appending to a log kept in a database from its right edge
//!   alone (≤ 64 hashes read per transaction);
//! - [`bundle`]: an evidence bundle (facts, proofs, checkpoints, keys in
//!   one file) and its offline check, with what it proves and what not;
//! - [`keeper`]: what a device does with a new checkpoint given the one it
//!   holds — refuse one that is older, forked or not proven consistent.
//!
//! The Merkle arithmetic is `tlog_tiles` (Cloudflare's port of Go's
//! `golang.org/x/mod/sumdb/tlog`, which implements RFC 6962's proofs; RFC
//! 9162 keeps the same tree and proofs); the note format is `signed_note`.
//! Both are checked here against the Certificate Transparency reference
//! vectors.

pub mod append;
pub mod bundle;
pub mod checkpoint;
pub mod fact;
pub mod keeper;
pub mod local;
pub mod tree;

pub use append::Appender;
pub use bundle::{verify_bundle, Bundle, BundleError, BundledFact, Report, BUNDLE_FORMAT};
pub use checkpoint::{Checkpoint, CheckpointError, CheckpointSigner, Cosigned, WitnessKey};
pub use fact::{fact_leaf, FactError};
pub use keeper::{accept_checkpoint, Accepted, Refused};
pub use tree::{verify_consistency, verify_inclusion, LogHash, MemoryLog, ProofError};

#[cfg(test)]
pub(crate) mod testing {
    use super::MemoryLog;

    /// A log of `n` leaves, leaf `i` holding `i` — or, at `changed`, a
    /// rewritten value: the honest log and a lying server's.
    pub(crate) fn log(n: u32, changed: Option<u32>) -> MemoryLog {
        let mut log = MemoryLog::new();
        for i in 0..n {
            let data = if Some(i) == changed { u32::MAX } else { i };
            // An in-memory append of a 4-byte leaf.
            log.append(&data.to_be_bytes()).unwrap();
        }
        log
    }
}
