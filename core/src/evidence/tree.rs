//! The Merkle tree of RFC 9162 §2.1: a leaf hashes as SHA-256(0x00 ‖ data),
//! a node as SHA-256(0x01 ‖ left ‖ right), the empty tree as SHA-256().
//! Proofs are the audit path (§2.1.3) and the consistency proof (§2.1.4),
//! as `tlog_tiles` builds and runs them.
//!
//! The two checks take everything from the caller — a proof is hostile
//! input — and refuse what cannot be a proof (an index outside the tree, a
//! proof longer than any tree of 2⁶⁴ leaves needs) before running it, so
//! that the library's internal assertions are never reached from outside.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};
use tlog_tiles::tlog::{self, Hash, HashReader};

/// The most hashes a proof of a tree below 2⁶⁴ leaves holds: 64 for an audit
/// path, and for a consistency proof one more than its path down the tree
/// (RFC 9162 §2.1.4.1). Anything longer is refused before it is run.
pub const MAX_PROOF_HASHES: usize = 2 * 64;

/// A SHA-256 hash in the tree: a leaf, a node or a root. Written as 64
/// lower-case hex digits in JSON and on screens.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LogHash(pub [u8; 32]);

impl LogHash {
    /// The root of the empty tree: SHA-256 of nothing (RFC 9162 §2.1.1).
    pub fn empty_root() -> LogHash {
        LogHash(Sha256::digest([]).into())
    }

    /// The hash of a leaf whose data is `leaf` (RFC 9162 §2.1.1).
    pub fn of_leaf(leaf: &[u8]) -> LogHash {
        LogHash(tlog::record_hash(leaf).0)
    }

    /// The hash of an interior node.
    pub fn of_node(left: LogHash, right: LogHash) -> LogHash {
        LogHash(tlog::node_hash(Hash(left.0), Hash(right.0)).0)
    }

    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn raw(self) -> Hash {
        Hash(self.0)
    }
}

impl fmt::Display for LogHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for LogHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LogHash({})", self.to_hex())
    }
}

/// Why text is not a [`LogHash`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("哈希须为 64 位十六进制数字 (a hash is 64 hex digits): {0:?}")]
pub struct BadHash(pub String);

impl FromStr for LogHash {
    type Err = BadHash;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || BadHash(s.chars().take(80).collect());
        if s.len() != 64 {
            return Err(bad());
        }
        let mut out = [0u8; 32];
        for (i, pair) in s.as_bytes().chunks(2).enumerate() {
            let text = std::str::from_utf8(pair).map_err(|_| bad())?;
            if !text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
                return Err(bad());
            }
            out[i] = u8::from_str_radix(text, 16).map_err(|_| bad())?;
        }
        Ok(LogHash(out))
    }
}

impl Serialize for LogHash {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for LogHash {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Why a proof was refused. Every refusal means the same to the person
/// holding it: the server's answer does not show what it claims.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    #[error("第 {index} 条不在 {size} 条的日志树中 (leaf {index} is outside a tree of {size})")]
    OutsideTree { index: u64, size: u64 },
    #[error("较早的树 ({from} 条) 不能大于较晚的树 ({to} 条) (the earlier tree is larger than the later one)")]
    FromAfterTo { from: u64, to: u64 },
    #[error("证明含 {len} 个哈希，超过任何日志所需 (a proof of {len} hashes is longer than any tree needs)")]
    TooLong { len: usize },
    #[error("证明与签名的树根不符 (the proof does not lead to the signed root)")]
    Mismatch,
}

/// Checks that `leaf` (a leaf hash) is leaf number `index` (from 0) of the
/// tree of `size` leaves whose root is `root`.
pub fn verify_inclusion(
    leaf: &LogHash,
    index: u64,
    size: u64,
    proof: &[LogHash],
    root: &LogHash,
) -> Result<(), ProofError> {
    if index >= size {
        return Err(ProofError::OutsideTree { index, size });
    }
    if proof.len() > 64 {
        return Err(ProofError::TooLong { len: proof.len() });
    }
    let path: Vec<Hash> = proof.iter().map(|h| h.raw()).collect();
    // `index < size` holds, so the library's assertion cannot fire.
    tlog::check_record(&path, size, root.raw(), index, leaf.raw()).map_err(|_| ProofError::Mismatch)
}

/// Checks that the tree of `to` leaves with root `to_root` begins with the
/// tree of `from` leaves with root `from_root`: nothing the earlier tree
/// held was changed or dropped, only leaves added.
pub fn verify_consistency(
    from: u64,
    from_root: &LogHash,
    to: u64,
    to_root: &LogHash,
    proof: &[LogHash],
) -> Result<(), ProofError> {
    if from > to {
        return Err(ProofError::FromAfterTo { from, to });
    }
    if proof.len() > MAX_PROOF_HASHES {
        return Err(ProofError::TooLong { len: proof.len() });
    }
    if from == 0 {
        // Every tree extends the empty one; there is nothing to prove.
        return if proof.is_empty() && *from_root == LogHash::empty_root() {
            Ok(())
        } else {
            Err(ProofError::Mismatch)
        };
    }
    let path: Vec<Hash> = proof.iter().map(|h| h.raw()).collect();
    // `1 <= from <= to` holds, so the library's assertions cannot fire.
    tlog::check_tree(&path, to, to_root.raw(), from, from_root.raw())
        .map_err(|_| ProofError::Mismatch)
}

/// Why the in-memory log could not answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LogError {
    #[error("日志只有 {size} 条 (the log holds {size} leaves; asked about {asked})")]
    Beyond { size: u64, asked: u64 },
    #[error("日志计算失败 (log arithmetic failed): {0}")]
    Tree(String),
}

/// A log held in memory: the tree's stored hashes in the order Go's
/// `tlog` numbers them (each leaf's hash, then every subtree it completes).
/// What tests, the benchmark and a bundle's checker build proofs from; the
/// server keeps the same hashes in a table and reads them the same way.
#[derive(Debug, Clone, Default)]
pub struct MemoryLog {
    stored: Vec<Hash>,
    size: u64,
}

impl HashReader for MemoryLog {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, tlog::Error> {
        indexes
            .iter()
            .map(|&i| {
                usize::try_from(i)
                    .ok()
                    .and_then(|i| self.stored.get(i).copied())
                    .ok_or(tlog::Error::IndexesNotInTree)
            })
            .collect()
    }
}

impl MemoryLog {
    pub fn new() -> MemoryLog {
        MemoryLog::default()
    }

    /// Leaves in the log.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends the leaf whose data is `leaf`; returns its index.
    pub fn append(&mut self, leaf: &[u8]) -> Result<u64, LogError> {
        self.append_hash(LogHash::of_leaf(leaf))
    }

    /// Appends a leaf by its hash; returns its index.
    pub fn append_hash(&mut self, leaf: LogHash) -> Result<u64, LogError> {
        let added = tlog::stored_hashes_for_record_hash(self.size, leaf.raw(), self)
            .map_err(|e| LogError::Tree(e.to_string()))?;
        self.stored.extend(added);
        self.size += 1;
        Ok(self.size - 1)
    }

    /// The root of the first `size` leaves.
    pub fn root(&self, size: u64) -> Result<LogHash, LogError> {
        self.within(size)?;
        if size == 0 {
            return Ok(LogHash::empty_root());
        }
        tlog::tree_hash(size, self)
            .map(|h| LogHash(h.0))
            .map_err(|e| LogError::Tree(e.to_string()))
    }

    /// The audit path of leaf `index` in the tree of the first `size`.
    pub fn inclusion(&self, index: u64, size: u64) -> Result<Vec<LogHash>, LogError> {
        self.within(size)?;
        if index >= size {
            return Err(LogError::Beyond { size, asked: index });
        }
        tlog::prove_record(size, index, self)
            .map(|p| p.into_iter().map(|h| LogHash(h.0)).collect())
            .map_err(|e| LogError::Tree(e.to_string()))
    }

    /// The consistency proof from the tree of `from` leaves to that of `to`.
    pub fn consistency(&self, from: u64, to: u64) -> Result<Vec<LogHash>, LogError> {
        self.within(to)?;
        if from > to {
            return Err(LogError::Beyond {
                size: to,
                asked: from,
            });
        }
        if from == 0 {
            return Ok(Vec::new());
        }
        tlog::prove_tree(to, from, self)
            .map(|p| p.into_iter().map(|h| LogHash(h.0)).collect())
            .map_err(|e| LogError::Tree(e.to_string()))
    }

    fn within(&self, size: u64) -> Result<(), LogError> {
        if size > self.size {
            return Err(LogError::Beyond {
                size: self.size,
                asked: size,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn h(hex: &str) -> LogHash {
        hex.parse().unwrap()
    }

    /// The inputs of Certificate Transparency's reference tests
    /// (transparency-dev/merkle `testonly`, from RFC 6962's reference code).
    fn ct_leaves() -> Vec<Vec<u8>> {
        [
            "",
            "00",
            "10",
            "2021",
            "3031",
            "40414243",
            "5051525354555657",
            "606162636465666768696a6b6c6d6e6f",
        ]
        .iter()
        .map(|x| {
            (0..x.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&x[i..i + 2], 16).unwrap())
                .collect()
        })
        .collect()
    }

    fn ct_log() -> MemoryLog {
        let mut log = MemoryLog::new();
        for leaf in ct_leaves() {
            log.append(&leaf).unwrap();
        }
        log
    }

    #[test]
    fn roots_match_the_reference_vectors() {
        let roots = [
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
            "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
            "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
            "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
            "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
        ];
        let log = ct_log();
        for (size, want) in roots.iter().enumerate() {
            assert_eq!(log.root(size as u64).unwrap(), h(want), "size {size}");
        }
        assert_eq!(
            LogHash::of_leaf(&[0]),
            h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7")
        );
    }

    #[test]
    fn proofs_match_the_reference_vectors() {
        let log = ct_log();
        let root8 = log.root(8).unwrap();
        let path0 = [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ]
        .map(h);
        let path5 = [
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ]
        .map(h);
        assert_eq!(log.inclusion(0, 8).unwrap(), path0);
        assert_eq!(log.inclusion(5, 8).unwrap(), path5);
        let leaves = ct_leaves();
        verify_inclusion(&LogHash::of_leaf(&leaves[0]), 0, 8, &path0, &root8).unwrap();
        verify_inclusion(&LogHash::of_leaf(&leaves[5]), 5, 8, &path5, &root8).unwrap();

        let six_to_eight = [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ]
        .map(h);
        let two_to_five = [
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ]
        .map(h);
        assert_eq!(log.consistency(6, 8).unwrap(), six_to_eight);
        assert_eq!(log.consistency(2, 5).unwrap(), two_to_five);
        assert_eq!(log.consistency(1, 8).unwrap(), path0);
        for (from, to, proof) in [(6, 8, &six_to_eight[..]), (2, 5, &two_to_five[..])] {
            verify_consistency(
                from,
                &log.root(from).unwrap(),
                to,
                &log.root(to).unwrap(),
                proof,
            )
            .unwrap();
        }
    }

    #[test]
    fn every_proof_of_every_small_tree_verifies_and_a_changed_one_does_not() {
        let mut log = MemoryLog::new();
        for i in 0..40u32 {
            log.append(&i.to_be_bytes()).unwrap();
        }
        let other = LogHash::of_leaf(b"not in the log");
        for size in 1..=40u64 {
            let root = log.root(size).unwrap();
            for index in 0..size {
                let leaf = LogHash::of_leaf(&(index as u32).to_be_bytes());
                let path = log.inclusion(index, size).unwrap();
                verify_inclusion(&leaf, index, size, &path, &root).unwrap();
                assert_eq!(
                    verify_inclusion(&other, index, size, &path, &root),
                    Err(ProofError::Mismatch)
                );
                if size > 1 {
                    let moved = (index + 1) % size;
                    assert!(verify_inclusion(&leaf, moved, size, &path, &root).is_err());
                }
            }
            for from in 0..=size {
                let proof = log.consistency(from, size).unwrap();
                verify_consistency(from, &log.root(from).unwrap(), size, &root, &proof).unwrap();
            }
        }
    }

    #[test]
    fn a_truncated_padded_or_misplaced_proof_is_refused() {
        let log = ct_log();
        let root = log.root(8).unwrap();
        let leaf = LogHash::of_leaf(&ct_leaves()[3]);
        let path = log.inclusion(3, 8).unwrap();
        assert_eq!(
            verify_inclusion(&leaf, 3, 8, &path[..2], &root),
            Err(ProofError::Mismatch)
        );
        let mut padded = path.clone();
        padded.push(root);
        assert_eq!(
            verify_inclusion(&leaf, 3, 8, &padded, &root),
            Err(ProofError::Mismatch)
        );
        // The same path against another tree size's root.
        let root7 = log.root(7).unwrap();
        assert!(verify_inclusion(&leaf, 3, 7, &path, &root7).is_err());
        assert_eq!(
            verify_inclusion(&leaf, 8, 8, &path, &root),
            Err(ProofError::OutsideTree { index: 8, size: 8 })
        );
        assert_eq!(
            verify_inclusion(&leaf, 0, 0, &[], &root),
            Err(ProofError::OutsideTree { index: 0, size: 0 })
        );
        let proof = log.consistency(3, 8).unwrap();
        let (r3, r8) = (log.root(3).unwrap(), log.root(8).unwrap());
        assert_eq!(
            verify_consistency(3, &r3, 8, &r8, &proof[..proof.len() - 1]),
            Err(ProofError::Mismatch)
        );
        assert_eq!(
            verify_consistency(8, &r8, 3, &r3, &proof),
            Err(ProofError::FromAfterTo { from: 8, to: 3 })
        );
        // Same size, another root: a fork, not an extension.
        assert_eq!(
            verify_consistency(8, &r8, 8, &r3, &[]),
            Err(ProofError::Mismatch)
        );
        assert_eq!(
            verify_consistency(0, &r3, 8, &r8, &[]),
            Err(ProofError::Mismatch)
        );
        assert_eq!(
            verify_inclusion(&leaf, 3, 8, &vec![root; 65], &root),
            Err(ProofError::TooLong { len: 65 })
        );
    }

    #[test]
    fn a_rewritten_leaf_breaks_consistency_with_the_earlier_root() {
        let mut honest = MemoryLog::new();
        let mut rewritten = MemoryLog::new();
        for i in 0..20u32 {
            honest.append(&i.to_be_bytes()).unwrap();
            let data = if i == 7 { 999u32 } else { i };
            rewritten.append(&data.to_be_bytes()).unwrap();
        }
        let held = honest.root(12).unwrap();
        let proof = rewritten.consistency(12, 20).unwrap();
        assert_eq!(
            verify_consistency(12, &held, 20, &rewritten.root(20).unwrap(), &proof),
            Err(ProofError::Mismatch)
        );
    }

    #[test]
    fn hashes_read_and_refuse_like_the_wire_says() {
        let x = LogHash::of_leaf(b"x");
        assert_eq!(x.to_hex().parse::<LogHash>().unwrap(), x);
        assert_eq!(
            serde_json::from_str::<LogHash>(&serde_json::to_string(&x).unwrap()).unwrap(),
            x
        );
        for bad in ["", "zz", &"A".repeat(64), &"0".repeat(63), &"é".repeat(32)] {
            assert!(bad.parse::<LogHash>().is_err(), "{bad:?}");
        }
    }

    proptest! {
        /// Whatever a lying server sends, the checks answer, never panic,
        /// and never accept a proof the honest log did not make.
        #[test]
        fn hostile_proofs_are_refused_without_a_panic(
            index in 0u64..70,
            size in 0u64..70,
            from in 0u64..70,
            hashes in proptest::collection::vec(any::<[u8; 32]>(), 0..140),
        ) {
            let proof: Vec<LogHash> = hashes.into_iter().map(LogHash).collect();
            let leaf = LogHash::of_leaf(b"leaf");
            let root = LogHash::of_leaf(b"root");
            prop_assert!(verify_inclusion(&leaf, index, size, &proof, &root).is_err());
            prop_assert!(verify_consistency(from, &leaf, size, &root, &proof).is_err());
        }
    }
}
