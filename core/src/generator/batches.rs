//! The open batches: the only trading state the generator keeps. A batch
//! leaves as soon as it is sold out, so memory follows the stock on the
//! shelves, not the length of the ledger.

use chrono::NaiveDate;

use crate::category::{Certificate, CertificateKind};

/// A certificate kept as its kind and serial, formatted when written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cert {
    pub kind: CertificateKind,
    pub serial: u64,
}

impl Cert {
    /// Numbers shaped like the paper ones: 动物检疫合格证明 A + 16 digits,
    /// 入境货物检验检疫证明 15 digits, the others a prefix and 12 digits.
    pub fn to_certificate(self) -> Certificate {
        let number = match self.kind {
            CertificateKind::Quarantine => format!("A{:016}", self.serial % 10_000_000_000_000_000),
            CertificateKind::ImportInspection => {
                format!("{:015}", self.serial % 1_000_000_000_000_000)
            }
            CertificateKind::Origin => format!("CD{:012}", self.serial % 1_000_000_000_000),
            CertificateKind::Commitment => format!("HGZ{:012}", self.serial % 1_000_000_000_000),
            CertificateKind::TestReport => format!("JC{:012}", self.serial % 1_000_000_000_000),
        };
        Certificate {
            kind: self.kind,
            number,
        }
    }
}

/// What a merchant holds of one purchase.
#[derive(Debug, Clone)]
pub(crate) struct Batch {
    pub merchant: u32,
    pub product: u16,
    pub trace_code: String,
    pub received: i64,
    /// What the generator believes is on hand (the store agrees unless the
    /// batch was oversold, after which it is closed).
    pub held: i64,
    /// Unit price paid, in fen.
    pub price: i64,
    pub certs: Vec<Cert>,
    pub production: Option<NaiveDate>,
    pub expiry: Option<NaiveDate>,
}

/// A handle that goes stale when its batch closes and the slot is reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BatchRef {
    idx: u32,
    generation: u32,
}

struct Slot {
    generation: u32,
    batch: Option<Batch>,
}

/// Open batches in reusable slots.
#[derive(Default)]
pub(crate) struct Batches {
    slots: Vec<Slot>,
    free: Vec<u32>,
}

impl Batches {
    pub fn open(&mut self, batch: Batch) -> BatchRef {
        match self.free.pop() {
            Some(idx) => {
                let slot = &mut self.slots[idx as usize];
                slot.batch = Some(batch);
                BatchRef {
                    idx,
                    generation: slot.generation,
                }
            }
            None => {
                self.slots.push(Slot {
                    generation: 0,
                    batch: Some(batch),
                });
                BatchRef {
                    idx: (self.slots.len() - 1) as u32,
                    generation: 0,
                }
            }
        }
    }

    pub fn get_mut(&mut self, r: BatchRef) -> Option<&mut Batch> {
        self.slots
            .get_mut(r.idx as usize)
            .filter(|s| s.generation == r.generation)
            .and_then(|s| s.batch.as_mut())
    }

    pub fn close(&mut self, r: BatchRef) {
        if let Some(slot) = self
            .slots
            .get_mut(r.idx as usize)
            .filter(|s| s.generation == r.generation && s.batch.is_some())
        {
            slot.batch = None;
            slot.generation = slot.generation.wrapping_add(1);
            self.free.push(r.idx);
        }
    }

    /// Batches open now.
    pub fn count(&self) -> usize {
        self.slots.len() - self.free.len()
    }
}
