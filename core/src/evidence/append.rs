//! Appending to a log kept in a database, without reading it back per
//! leaf. A log of `n` leaves is its stored hashes (each leaf's hash, then
//! every subtree it completes, in `tlog`'s numbering: about two a leaf); an
//! append needs only the roots of the perfect subtrees along the tree's
//! right edge — one per set bit of `n`, so at most 64 — and so does the
//! root. A store reads those once per transaction ([`Appender::edge`]),
//! appends every fact of the push in memory, and writes the new stored
//! hashes ([`Appender::take_written`]) with the facts, in one transaction.

use std::collections::HashMap;

use tlog_tiles::tlog::{self, Hash, HashReader};

use super::tree::{LogError, LogHash};

/// The right edge of a log and the hashes appended since it was read.
#[derive(Debug, Clone)]
pub struct Appender {
    size: u64,
    known: HashMap<u64, Hash>,
    written: Vec<(u64, LogHash)>,
}

impl HashReader for Appender {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, tlog::Error> {
        indexes
            .iter()
            .map(|i| {
                self.known
                    .get(i)
                    .copied()
                    .ok_or(tlog::Error::IndexesNotInTree)
            })
            .collect()
    }
}

impl Appender {
    /// The stored-hash indexes of the right edge of a log of `size` leaves:
    /// what to read before appending to it.
    pub fn edge(size: u64) -> Vec<u64> {
        (0..64u8)
            .rev()
            .filter(|level| size >> level & 1 == 1)
            .map(|level| tlog::stored_hash_index(level, (size >> level) - 1))
            .collect()
    }

    /// An appender over a log of `size` leaves whose right edge is `edge`
    /// (each index of [`Appender::edge`] with its hash, in any order).
    pub fn new(
        size: u64,
        edge: impl IntoIterator<Item = (u64, LogHash)>,
    ) -> Result<Self, LogError> {
        let known: HashMap<u64, Hash> = edge.into_iter().map(|(i, h)| (i, Hash(h.0))).collect();
        if let Some(missing) = Self::edge(size)
            .into_iter()
            .find(|i| !known.contains_key(i))
        {
            return Err(LogError::Tree(format!(
                "stored hash {missing} of the right edge of {size} leaves is missing"
            )));
        }
        Ok(Appender {
            size,
            known,
            written: Vec::new(),
        })
    }

    /// Leaves in the log, with those appended.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends the leaf whose data is `leaf`; returns its index.
    pub fn append(&mut self, leaf: &[u8]) -> Result<u64, LogError> {
        let index = self.size;
        let hashes =
            tlog::stored_hashes(index, leaf, self).map_err(|e| LogError::Tree(e.to_string()))?;
        let first = tlog::stored_hash_index(0, index);
        for (k, h) in (first..).zip(hashes) {
            self.known.insert(k, h);
            self.written.push((k, LogHash(h.0)));
        }
        self.size += 1;
        Ok(index)
    }

    /// The root of the log as it now stands.
    pub fn root(&self) -> Result<LogHash, LogError> {
        if self.size == 0 {
            return Ok(LogHash::empty_root());
        }
        tlog::tree_hash(self.size, self)
            .map(|h| LogHash(h.0))
            .map_err(|e| LogError::Tree(e.to_string()))
    }

    /// The stored hashes appended since the last call, to write: (index, hash).
    pub fn take_written(&mut self) -> Vec<(u64, LogHash)> {
        std::mem::take(&mut self.written)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::MemoryLog;
    use std::collections::BTreeMap;

    /// A store's table of stored hashes, written only through appenders
    /// that each read the right edge afresh, as one transaction per push
    /// would: it ends equal to the in-memory log, with the same roots.
    #[test]
    fn pushes_of_any_size_build_the_same_tree_from_the_right_edge_alone() {
        let mut table: BTreeMap<u64, LogHash> = BTreeMap::new();
        let mut log = MemoryLog::new();
        let mut size = 0u64;
        let mut leaf = 0u32;
        for push in [1usize, 1, 2, 5, 1, 16, 3, 31, 64, 7, 100] {
            let edge: Vec<(u64, LogHash)> = Appender::edge(size)
                .into_iter()
                .map(|i| (i, table[&i]))
                .collect();
            let mut app = Appender::new(size, edge).unwrap();
            for _ in 0..push {
                let data = leaf.to_be_bytes();
                assert_eq!(app.append(&data).unwrap(), log.append(&data).unwrap());
                leaf += 1;
            }
            size = app.size();
            assert_eq!(app.root().unwrap(), log.root(size).unwrap(), "size {size}");
            for (i, h) in app.take_written() {
                assert!(
                    table.insert(i, h).is_none(),
                    "stored hash {i} written twice"
                );
            }
            assert!(app.take_written().is_empty());
        }
        assert_eq!(table.len() as u64, tlog::stored_hash_count(size));
        // Hash for hash the in-memory log's, so the table serves the same
        // proofs.
        let stored: Vec<u64> = table.keys().copied().collect();
        assert_eq!(stored, (0..table.len() as u64).collect::<Vec<_>>(), "dense");
        let theirs = log.read_hashes(&stored).unwrap();
        let ours: Vec<Hash> = table.values().map(|h| Hash(h.0)).collect();
        assert_eq!(ours, theirs);
    }

    #[test]
    fn a_missing_edge_hash_is_refused_not_guessed() {
        let mut log = MemoryLog::new();
        for i in 0..6u32 {
            log.append(&i.to_be_bytes()).unwrap();
        }
        assert_eq!(Appender::edge(6).len(), 2);
        assert!(Appender::new(6, Vec::new()).is_err());
        assert!(Appender::new(0, Vec::new()).is_ok());
    }
}
