//! Merchant ids and display names side by side in one arena, so that the
//! id and the name of a holder arrive in the same cache lines: a trace of
//! a 10-million-entry ledger spends its time waiting for memory, and each
//! holder needs both.

use super::strings::hash;
use super::table::IdTable;
use super::GraphError;

/// Where a merchant's id, then its name, sit in the arena.
#[derive(Clone, Copy, serde::Serialize, serde::Deserialize)]
struct Span {
    start: u32,
    id_len: u32,
    name_len: u32,
}

#[derive(serde::Serialize, serde::Deserialize)]
pub(super) struct Merchants {
    text: String,
    spans: Vec<Span>,
    index: IdTable,
}

fn id_of<'a>(text: &'a str, spans: &[Span], m: u32) -> Option<&'a str> {
    let s = spans.get(m as usize)?;
    text.get(s.start as usize..(s.start + s.id_len) as usize)
}

fn len32(s: &str) -> Result<u32, GraphError> {
    u32::try_from(s.len()).map_err(|_| GraphError::Full)
}

impl Merchants {
    pub fn new() -> Self {
        Self {
            text: String::new(),
            spans: Vec::new(),
            index: IdTable::new(),
        }
    }

    pub fn get(&self, m: u32) -> Option<&str> {
        id_of(&self.text, &self.spans, m)
    }

    pub fn name(&self, m: u32) -> Option<&str> {
        let s = self.spans.get(m as usize)?;
        let from = (s.start + s.id_len) as usize;
        (s.name_len > 0)
            .then(|| self.text.get(from..from + s.name_len as usize))
            .flatten()
    }

    pub fn id(&self, merchant_id: &str) -> Option<u32> {
        self.index
            .find(hash(merchant_id), |m| self.get(m) == Some(merchant_id))
    }

    /// Appends `id` then `name` to the arena.
    fn append(&mut self, id: &str, name: &str) -> Result<Span, GraphError> {
        let span = Span {
            start: len32(&self.text)?,
            id_len: len32(id)?,
            name_len: len32(name)?,
        };
        span.start
            .checked_add(span.id_len)
            .and_then(|e| e.checked_add(span.name_len))
            .ok_or(GraphError::Full)?;
        self.text.push_str(id);
        self.text.push_str(name);
        Ok(span)
    }

    pub fn intern(&mut self, merchant_id: &str) -> Result<u32, GraphError> {
        if let Some(m) = self.id(merchant_id) {
            return Ok(m);
        }
        let m = u32::try_from(self.spans.len()).map_err(|_| GraphError::Full)?;
        let span = self.append(merchant_id, "")?;
        self.spans.push(span);
        let (text, spans) = (&self.text, &self.spans);
        self.index.insert(hash(merchant_id), m, |i| {
            hash(id_of(text, spans, i).unwrap_or_default())
        });
        Ok(m)
    }

    /// Sets a name: the id is copied beside it (names are set once per
    /// merchant, so the old copy is a few bytes left behind).
    pub fn set_name(&mut self, merchant_id: &str, name: &str) -> Result<(), GraphError> {
        let m = self.intern(merchant_id)?;
        let span = self.append(merchant_id, name)?;
        if let Some(s) = self.spans.get_mut(m as usize) {
            *s = span;
        }
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// Whether `items` more merchants of `bytes` in all fit.
    pub fn room(&self, items: usize, bytes: usize) -> bool {
        let max = u32::MAX as usize;
        self.spans.len() + items <= max && self.text.len() + bytes <= max
    }

    pub fn heap_bytes(&self) -> usize {
        self.text.capacity()
            + self.spans.capacity() * std::mem::size_of::<Span>()
            + self.index.heap_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_names_read_back_after_renaming() {
        let mut m = Merchants::new();
        let a = m.intern("m000001").unwrap();
        let b = m.intern("m000002").unwrap();
        assert_eq!((m.get(a), m.name(a)), (Some("m000001"), None));
        m.set_name("m000001", "海鲜批发甲").unwrap();
        m.set_name("m000001", "海鲜批发乙").unwrap();
        m.set_name("m000003", "新商户").unwrap();
        assert_eq!(
            (m.get(a), m.name(a), m.id("m000001")),
            (Some("m000001"), Some("海鲜批发乙"), Some(a))
        );
        assert_eq!((m.get(b), m.name(b)), (Some("m000002"), None));
        assert_eq!(m.id("m000003").and_then(|c| m.name(c)), Some("新商户"));
        assert_eq!(m.len(), 3);
    }
}
