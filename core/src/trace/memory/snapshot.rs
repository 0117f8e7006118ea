//! A [`MemoryGraph`] as bytes and back: what a server instance saves beside
//! its database so that the next start reads one blob instead of parsing
//! every stored entry again (a replay of 10 M entries parses 10 M JSON
//! payloads; the snapshot is the graph's columns as they lie in memory).
//!
//! The layout is `MAGIC`, the format version, the SHA-256 of the body, and
//! the body in postcard (a compact serde format). The graph's hashes are
//! fixed functions of the codes (`code::hash`, `strings::hash`), so the
//! index tables are kept as they are, not rebuilt. A snapshot of another
//! format version, or whose body does not match its digest, is refused:
//! the caller replays the entries instead, so a bad snapshot costs time,
//! never a wrong trace.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

use super::intern::Interner;
use super::MemoryGraph;
use crate::trace::SupplierRef;

const MAGIC: &[u8; 8] = b"SHIANGR\0";
/// Raised whenever a record or an index of the graph changes shape.
pub const FORMAT: u32 = 1;
const HEADER: usize = MAGIC.len() + 4 + 32;

/// Why a snapshot was not taken back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotError {
    #[error("not a graph snapshot")]
    NotASnapshot,
    #[error("snapshot format {found}, this build reads {FORMAT}")]
    Format { found: u32 },
    #[error("snapshot body does not match its digest")]
    Digest,
    #[error("snapshot does not decode: {0}")]
    Decode(String),
    #[error("graph does not encode: {0}")]
    Encode(String),
}

impl MemoryGraph {
    /// The graph as a snapshot (see the module doc).
    pub fn to_snapshot(&self) -> Result<Vec<u8>, SnapshotError> {
        let body = postcard::to_stdvec(self).map_err(|e| SnapshotError::Encode(e.to_string()))?;
        let mut out = Vec::with_capacity(HEADER + body.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&FORMAT.to_le_bytes());
        out.extend_from_slice(&Sha256::digest(&body));
        out.extend_from_slice(&body);
        Ok(out)
    }

    /// The graph a snapshot holds, if it is one this build made and it is
    /// whole.
    pub fn from_snapshot(bytes: &[u8]) -> Result<MemoryGraph, SnapshotError> {
        if bytes.len() < HEADER || &bytes[..MAGIC.len()] != MAGIC {
            return Err(SnapshotError::NotASnapshot);
        }
        let mut version = [0u8; 4];
        version.copy_from_slice(&bytes[MAGIC.len()..MAGIC.len() + 4]);
        let found = u32::from_le_bytes(version);
        if found != FORMAT {
            return Err(SnapshotError::Format { found });
        }
        let (digest, body) = bytes[MAGIC.len() + 4..].split_at(32);
        if Sha256::digest(body).as_slice() != digest {
            return Err(SnapshotError::Digest);
        }
        postcard::from_bytes(body).map_err(|e| SnapshotError::Decode(e.to_string()))
    }
}

/// The suppliers' interner, kept as its values in id order. `SupplierRef`
/// is untagged for JSON, which a non-self-describing format cannot read
/// back, so each value is written as a tagged row.
pub(super) mod suppliers {
    use super::*;

    #[derive(Serialize, Deserialize)]
    enum Row {
        Merchant(String),
        External(String, Option<String>, Option<String>),
    }

    pub fn serialize<S: Serializer>(i: &Interner<SupplierRef>, s: S) -> Result<S::Ok, S::Error> {
        let rows: Vec<Row> = i
            .items()
            .iter()
            .map(|r| match r {
                SupplierRef::Merchant { merchant_id } => Row::Merchant(merchant_id.clone()),
                SupplierRef::External {
                    name,
                    uscc,
                    region_code,
                } => Row::External(name.clone(), uscc.clone(), region_code.clone()),
            })
            .collect();
        rows.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Interner<SupplierRef>, D::Error> {
        let rows = Vec::<Row>::deserialize(d)?;
        let items = rows
            .into_iter()
            .map(|r| match r {
                Row::Merchant(merchant_id) => SupplierRef::Merchant { merchant_id },
                Row::External(name, uscc, region_code) => SupplierRef::External {
                    name,
                    uscc,
                    region_code,
                },
            })
            .collect();
        Interner::from_items(items)
            .ok_or_else(|| serde::de::Error::custom("a supplier comes twice"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generator::{GenConfig, Generator};

    /// A graph of the generator's Xiamen mix (purchases, sales to
    /// merchants and to the public, disposals, voids) and its snapshot.
    fn graph() -> MemoryGraph {
        let mut g = MemoryGraph::new();
        for e in Generator::new(GenConfig::xiamen(7, 5_000)) {
            g.apply(&e).unwrap();
        }
        g
    }

    fn snapshot() -> Vec<u8> {
        graph().to_snapshot().unwrap()
    }

    #[test]
    fn a_restored_graph_traces_every_batch_as_the_original() {
        let g = graph();
        let back = MemoryGraph::from_snapshot(&g.to_snapshot().unwrap()).unwrap();
        // Everything but the heap bytes, which count spare capacity.
        let counts =
            |s: super::super::MemoryStats| (s.batches, s.movements, s.vouchers, s.merchants);
        assert_eq!(counts(back.stats()), counts(g.stats()));
        let codes: Vec<String> = g.trace_codes().collect();
        assert!(codes.len() > 500, "{} batches", codes.len());
        for c in &codes {
            assert_eq!(
                crate::trace::forward(&back, c),
                crate::trace::forward(&g, c)
            );
            assert_eq!(
                crate::trace::backward(&back, c),
                crate::trace::backward(&g, c)
            );
        }
    }

    #[test]
    fn a_damaged_snapshot_is_refused_never_read() {
        let good = snapshot();
        assert!(MemoryGraph::from_snapshot(&good).is_ok());
        assert_eq!(
            MemoryGraph::from_snapshot(b"{}").err(),
            Some(SnapshotError::NotASnapshot)
        );
        let mut other = good.clone();
        other[MAGIC.len()] = 9;
        assert_eq!(
            MemoryGraph::from_snapshot(&other).err(),
            Some(SnapshotError::Format { found: 9 })
        );
        // Every byte of the body is covered by the digest.
        for at in [HEADER, good.len() / 2, good.len() - 1] {
            let mut flipped = good.clone();
            flipped[at] ^= 0x40;
            assert_eq!(
                MemoryGraph::from_snapshot(&flipped).err(),
                Some(SnapshotError::Digest),
                "byte {at}"
            );
        }
        assert_eq!(
            MemoryGraph::from_snapshot(&good[..good.len() - 1]).err(),
            Some(SnapshotError::Digest)
        );
        assert_eq!(
            MemoryGraph::from_snapshot(&good[..HEADER - 1]).err(),
            Some(SnapshotError::NotASnapshot)
        );
    }
}
