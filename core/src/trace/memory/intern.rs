//! Interned suppliers: a batch stores a `u32` instead of a copy of its
//! supplier (a farm's name, credit code and region), which only the
//! backward trace reads.

use std::collections::HashMap;
use std::hash::Hash;

use super::GraphError;

pub(super) struct Interner<T> {
    ids: HashMap<T, u32>,
    items: Vec<T>,
}

impl<T: Hash + Eq + Clone> Interner<T> {
    pub(super) fn new() -> Self {
        Self {
            ids: HashMap::new(),
            items: Vec::new(),
        }
    }

    pub(super) fn intern(&mut self, value: &T) -> Result<u32, GraphError> {
        if let Some(&id) = self.ids.get(value) {
            return Ok(id);
        }
        let id = u32::try_from(self.items.len()).map_err(|_| GraphError::Full)?;
        self.items.push(value.clone());
        self.ids.insert(value.clone(), id);
        Ok(id)
    }

    pub(super) fn len(&self) -> usize {
        self.items.len()
    }

    /// The values in id order (what a snapshot keeps: the map is rebuilt).
    pub(super) fn items(&self) -> &[T] {
        &self.items
    }

    /// An interner holding `items` as ids 0, 1, …; `None` if a value comes
    /// twice (it could not have been interned so).
    pub(super) fn from_items(items: Vec<T>) -> Option<Self> {
        let mut ids = HashMap::with_capacity(items.len());
        for (i, v) in items.iter().enumerate() {
            let id = u32::try_from(i).ok()?;
            if ids.insert(v.clone(), id).is_some() {
                return None;
            }
        }
        Some(Self { ids, items })
    }

    pub(super) fn get(&self, id: u32) -> Option<&T> {
        self.items.get(id as usize)
    }

    /// An estimate: two copies of each value, its heap text (`text_len`),
    /// and the map's slot.
    pub(super) fn heap_bytes(&self, text_len: impl Fn(&T) -> usize) -> usize {
        let per = 2 * std::mem::size_of::<T>() + std::mem::size_of::<u32>() + 8;
        self.items.iter().map(|v| per + 2 * text_len(v)).sum()
    }
}
