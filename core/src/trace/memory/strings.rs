//! Interned strings (merchant ids, product and buyer names) in one arena: a
//! record stores a `u32`, and reading one back touches two dense arrays
//! instead of a map and a heap allocation per string.

use super::table::IdTable;
use super::{code, GraphError};

#[derive(serde::Serialize, serde::Deserialize)]
pub(super) struct Strings {
    text: String,
    /// (start, length) in `text`, by id.
    spans: Vec<(u32, u32)>,
    index: IdTable,
}

/// FNV-1a, finished by the code hash's mixer.
pub(super) fn hash(s: &str) -> u64 {
    let h = s.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    code::hash(u128::from(h))
}

fn slice<'a>(text: &'a str, spans: &[(u32, u32)], id: u32) -> Option<&'a str> {
    let &(start, len) = spans.get(id as usize)?;
    text.get(start as usize..start as usize + len as usize)
}

impl Strings {
    pub fn new() -> Self {
        Self {
            text: String::new(),
            spans: Vec::new(),
            index: IdTable::new(),
        }
    }

    pub fn get(&self, id: u32) -> Option<&str> {
        slice(&self.text, &self.spans, id)
    }

    pub fn id(&self, s: &str) -> Option<u32> {
        self.index.find(hash(s), |i| self.get(i) == Some(s))
    }

    pub fn intern(&mut self, s: &str) -> Result<u32, GraphError> {
        if let Some(id) = self.id(s) {
            return Ok(id);
        }
        let id = u32::try_from(self.spans.len()).map_err(|_| GraphError::Full)?;
        let start = u32::try_from(self.text.len()).map_err(|_| GraphError::Full)?;
        let len = u32::try_from(s.len()).map_err(|_| GraphError::Full)?;
        start.checked_add(len).ok_or(GraphError::Full)?;
        self.text.push_str(s);
        self.spans.push((start, len));
        let (text, spans) = (&self.text, &self.spans);
        self.index.insert(hash(s), id, |i| {
            hash(slice(text, spans, i).unwrap_or_default())
        });
        Ok(id)
    }

    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// Whether one more string of at most `bytes` fits.
    pub fn room(&self, bytes: usize) -> bool {
        let max = u32::MAX as usize;
        self.spans.len() < max && self.text.len() + bytes <= max
    }

    pub fn heap_bytes(&self) -> usize {
        self.text.capacity() + self.spans.capacity() * 8 + self.index.heap_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interning_is_idempotent_and_reads_back() {
        let mut s = Strings::new();
        let words: Vec<String> = (0..500).map(|i| format!("商户{i}")).collect();
        let ids: Vec<u32> = words.iter().map(|w| s.intern(w).unwrap()).collect();
        for (w, id) in words.iter().zip(&ids) {
            assert_eq!(s.intern(w).unwrap(), *id);
            assert_eq!((s.get(*id), s.id(w)), (Some(w.as_str()), Some(*id)));
        }
        assert_eq!((s.id("nobody"), s.get(500)), (None, None));
    }
}
