//! Movements by batch. Those up to the last rebuild sit in a CSR (offsets +
//! records stored inline, in arrival order), so a batch's movements are one
//! contiguous run; newer ones sit in a per-batch chain until the tail reaches
//! an eighth of all movements and the CSR is rebuilt by a counting sort, so
//! adding a movement costs amortised O(1).

use std::collections::HashMap;

use super::records::{Kind, MovRec, NONE};
use super::GraphError;

/// The tail is folded in once it exceeds this, or an eighth of all movements.
/// Tests rebuild all the time, so that every test crosses the CSR and the tail.
const REBUILD_MIN: usize = if cfg!(test) { 3 } else { 1 << 16 };
/// Movement ids are tagged with this bit in the entry index.
pub(super) const ID_LIMIT: u32 = 1 << 31;

enum Place {
    Tail(usize),
    Csr(usize),
}

#[derive(Default, serde::Serialize, serde::Deserialize)]
pub(super) struct Movements {
    /// By movement id (arrival order): the entry id, for voids.
    entry: Vec<u128>,
    /// By movement id: its batch.
    batch: Vec<u32>,
    /// Records of batch b: `csr_recs[csr_off[b]..csr_off[b + 1]]`; every
    /// movement id below `csr_recs.len()` is in the CSR.
    csr_off: Vec<u32>,
    csr_recs: Vec<MovRec>,
    csr_ids: Vec<u32>,
    /// Movement `csr_recs.len() + i` is `tail_recs[i]`.
    tail_recs: Vec<MovRec>,
    tail_prev: Vec<u32>,
    tail_last: HashMap<u32, u32>,
}

impl Movements {
    pub fn len(&self) -> usize {
        self.entry.len()
    }

    pub fn entry(&self, id: u32) -> Option<u128> {
        self.entry.get(id as usize).copied()
    }

    /// Adds a movement of `batch`; `batches` is how many batches exist.
    pub fn push(
        &mut self,
        entry: u128,
        batch: u32,
        rec: MovRec,
        batches: usize,
    ) -> Result<u32, GraphError> {
        let id = u32::try_from(self.len())
            .ok()
            .filter(|&id| id < ID_LIMIT)
            .ok_or(GraphError::Full)?;
        self.entry.push(entry);
        self.batch.push(batch);
        let pos = self.tail_recs.len() as u32;
        self.tail_recs.push(rec);
        self.tail_prev
            .push(self.tail_last.insert(batch, pos).unwrap_or(NONE));
        if self.tail_recs.len() > REBUILD_MIN.max(self.len() / 8) {
            self.rebuild(batches);
        }
        Ok(id)
    }

    /// Where movement `id` sits: in the tail, or at a position of the CSR.
    fn locate(&self, id: u32) -> Option<Place> {
        match (id as usize).checked_sub(self.csr_recs.len()) {
            Some(t) => Some(Place::Tail(t)),
            None => {
                let b = *self.batch.get(id as usize)? as usize;
                let (s, e) = (
                    *self.csr_off.get(b)? as usize,
                    *self.csr_off.get(b + 1)? as usize,
                );
                Some(Place::Csr(
                    s + self.csr_ids.get(s..e)?.iter().position(|&x| x == id)?,
                ))
            }
        }
    }

    /// Movement `id` and its batch.
    pub fn get(&self, id: u32) -> Option<(u32, MovRec)> {
        let rec = match self.locate(id)? {
            Place::Tail(t) => self.tail_recs.get(t)?,
            Place::Csr(p) => self.csr_recs.get(p)?,
        };
        Some((*self.batch.get(id as usize)?, *rec))
    }

    /// Marks a movement voided and returns it.
    pub fn void(&mut self, id: u32) -> Option<MovRec> {
        let rec = match self.locate(id)? {
            Place::Tail(t) => self.tail_recs.get_mut(t)?,
            Place::Csr(p) => self.csr_recs.get_mut(p)?,
        };
        rec.void();
        Some(*rec)
    }

    /// Visits the movements of a batch in arrival order (voided ones
    /// included): its CSR run, then its tail chain.
    pub fn for_each(&self, b: u32, mut f: impl FnMut(&MovRec)) {
        let i = b as usize;
        if let (Some(&s), Some(&e)) = (self.csr_off.get(i), self.csr_off.get(i + 1)) {
            self.csr_recs
                .get(s as usize..e as usize)
                .unwrap_or_default()
                .iter()
                .for_each(&mut f);
        }
        if self.tail_recs.is_empty() {
            return;
        }
        let mut chain = Vec::new();
        let mut pos = self.tail_last.get(&b).copied().unwrap_or(NONE);
        while let (Some(rec), Some(&prev)) = (
            self.tail_recs.get(pos as usize),
            self.tail_prev.get(pos as usize),
        ) {
            chain.push(rec);
            pos = prev;
        }
        chain.into_iter().rev().for_each(f);
    }

    /// Folds the tail into the CSR by a counting sort: each batch's run is
    /// its old run followed by its tail records in arrival order.
    pub fn rebuild(&mut self, batches: usize) {
        let csr = self.csr_recs.len();
        let old_runs = self.csr_off.len().saturating_sub(1);
        let mut off = vec![0u32; batches + 1];
        for b in 0..old_runs.min(batches) {
            off[b + 1] = self.csr_off[b + 1] - self.csr_off[b];
        }
        for id in csr..self.len() {
            if let Some(c) = self
                .batch
                .get(id)
                .and_then(|&b| off.get_mut(b as usize + 1))
            {
                *c += 1;
            }
        }
        for b in 0..batches {
            off[b + 1] += off[b];
        }
        let filler = MovRec::new(Kind::Adjust, 0, NONE, false);
        let mut recs = vec![filler; self.len()];
        let mut ids = vec![0u32; self.len()];
        let mut next = off.clone();
        for (b, at) in next.iter_mut().enumerate().take(old_runs) {
            let (s, e) = (self.csr_off[b] as usize, self.csr_off[b + 1] as usize);
            let start = *at as usize;
            recs[start..start + (e - s)].copy_from_slice(&self.csr_recs[s..e]);
            ids[start..start + (e - s)].copy_from_slice(&self.csr_ids[s..e]);
            *at += (e - s) as u32;
        }
        for (t, rec) in self.tail_recs.iter().enumerate() {
            let id = csr + t;
            if let Some(at) = self.batch.get(id).and_then(|&b| next.get_mut(b as usize)) {
                recs[*at as usize] = *rec;
                ids[*at as usize] = id as u32;
                *at += 1;
            }
        }
        self.csr_off = off;
        self.csr_recs = recs;
        self.csr_ids = ids;
        self.tail_recs = Vec::new();
        self.tail_prev = Vec::new();
        self.tail_last = HashMap::new();
    }

    pub fn shrink(&mut self) {
        self.entry.shrink_to_fit();
        self.batch.shrink_to_fit();
    }

    pub fn heap_bytes(&self) -> usize {
        let rec = std::mem::size_of::<MovRec>();
        self.entry.capacity() * 16
            + (self.batch.capacity()
                + self.csr_off.capacity()
                + self.csr_ids.capacity()
                + self.tail_prev.capacity())
                * 4
            + (self.csr_recs.capacity() + self.tail_recs.capacity()) * rec
            + self.tail_last.capacity() * 8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn amounts(m: &Movements, b: u32) -> Vec<(i64, bool)> {
        let mut out = Vec::new();
        m.for_each(b, |r| out.push((r.amount, r.voided())));
        out
    }

    #[test]
    fn runs_keep_arrival_order_across_rebuilds_and_voids_find_their_record() {
        let mut m = Movements::default();
        let mut expected: Vec<Vec<(i64, bool)>> = vec![Vec::new(); 5];
        for i in 0..200u32 {
            let b = (i * 7 + i / 3) % 5;
            let id = m
                .push(
                    u128::from(i) + 1,
                    b,
                    MovRec::new(Kind::SaleRetail, i64::from(i), NONE, false),
                    5,
                )
                .unwrap();
            assert_eq!(id, i);
            expected[b as usize].push((i64::from(i), false));
            if i % 9 == 0 {
                let victim = i / 2;
                let vb = (victim * 7 + victim / 3) % 5;
                assert_eq!(m.void(victim).map(|r| r.amount), Some(i64::from(victim)));
                for e in expected[vb as usize]
                    .iter_mut()
                    .filter(|e| e.0 == i64::from(victim))
                {
                    e.1 = true;
                }
            }
        }
        for b in 0..5 {
            assert_eq!(amounts(&m, b), expected[b as usize], "batch {b}");
        }
        m.rebuild(6);
        assert_eq!(amounts(&m, 3), expected[3]);
        assert!(amounts(&m, 5).is_empty());
        assert_eq!(m.void(10_000).map(|r| r.amount), None);
    }
}
