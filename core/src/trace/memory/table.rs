//! An open-addressing hash table of `u32` ids whose keys live elsewhere (in
//! the graph's columns). Storing 4 bytes per slot instead of key + value is
//! what keeps the index of ten million codes at ~8 bytes each instead of ~40
//! for a `HashMap<u128, u32>`.

const EMPTY: u32 = u32::MAX;

#[derive(serde::Serialize, serde::Deserialize)]
pub(super) struct IdTable {
    slots: Vec<u32>,
    len: usize,
}

impl IdTable {
    pub(super) fn new() -> Self {
        Self {
            slots: vec![EMPTY; 16],
            len: 0,
        }
    }

    fn mask(&self) -> usize {
        self.slots.len() - 1
    }

    /// The id whose key `eq` accepts, probing from `hash`.
    pub(super) fn find(&self, hash: u64, mut eq: impl FnMut(u32) -> bool) -> Option<u32> {
        let mask = self.mask();
        // Truncating the hash to the table size is the point.
        let mut i = hash as usize & mask;
        loop {
            match self.slots.get(i).copied() {
                Some(EMPTY) | None => return None,
                Some(id) if eq(id) => return Some(id),
                Some(_) => i = (i + 1) & mask,
            }
        }
    }

    /// Adds an id known to be absent. `rehash` gives the hash of any stored
    /// id, for growing. Load stays at most ¾, so probes stay short.
    pub(super) fn insert(&mut self, hash: u64, id: u32, rehash: impl Fn(u32) -> u64) {
        if (self.len + 1) * 4 > self.slots.len() * 3 {
            let grown = vec![EMPTY; self.slots.len() * 2];
            let old = std::mem::replace(&mut self.slots, grown);
            for stored in old.into_iter().filter(|&s| s != EMPTY) {
                self.place(rehash(stored), stored);
            }
        }
        self.place(hash, id);
        self.len += 1;
    }

    fn place(&mut self, hash: u64, id: u32) {
        let mask = self.mask();
        let mut i = hash as usize & mask;
        // The load bound guarantees an empty slot.
        while let Some(slot) = self.slots.get_mut(i) {
            if *slot == EMPTY {
                *slot = id;
                return;
            }
            i = (i + 1) & mask;
        }
    }

    pub(super) fn heap_bytes(&self) -> usize {
        self.slots.capacity() * std::mem::size_of::<u32>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_what_was_inserted_across_growth() {
        let keys: Vec<u64> = (0..10_000u64)
            .map(|i| i.wrapping_mul(0x9E37_79B9_7F4A_7C15))
            .collect();
        let mut t = IdTable::new();
        for (id, k) in keys.iter().enumerate() {
            t.insert(*k % 1000, id as u32, |s| keys[s as usize] % 1000);
        }
        for (id, k) in keys.iter().enumerate() {
            assert_eq!(
                t.find(*k % 1000, |s| keys[s as usize] == *k),
                Some(id as u32)
            );
        }
        assert_eq!(t.find(7, |_| false), None);
    }
}
