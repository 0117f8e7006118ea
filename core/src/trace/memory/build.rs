//! Adding facts to the graph: purchases, movements and voids, from events
//! ([`MemoryGraph::apply`]) or ledger rows ([`MemoryGraph::load`]).

use std::borrow::Cow;

use chrono::NaiveDate;
use uuid::Uuid;

use super::moves::ID_LIMIT;
use super::records::{BatchRec, Kind, MovRec, Stock, VoucherRec, INDEX_MASK, NONE};
use super::{code, GraphError, MemoryGraph};
use crate::category::Category;
use crate::quantity::Quantity;
use crate::trace::SupplierRef;

/// A purchase as the graph keeps it.
pub(super) struct PurchaseIn<'a> {
    pub entry: u128,
    pub trace_code: u128,
    pub merchant: &'a str,
    pub product: &'a str,
    pub received: Quantity,
    pub voucher: Option<u128>,
    pub supplier: SupplierRef,
    pub received_at_ms: i64,
    pub voided: bool,
    pub category: Category,
    pub expiry: Option<NaiveDate>,
}

/// A movement as the graph keeps it.
pub(super) struct MovementIn<'a> {
    pub entry: u128,
    pub trace_code: u128,
    pub amount: i64,
    pub kind: KindIn<'a>,
    pub voided: bool,
}

pub(super) enum KindIn<'a> {
    SaleMerchant {
        voucher: u128,
        seller: &'a str,
        buyer: Cow<'a, str>,
        sold_at_ms: i64,
    },
    SaleNamed {
        buyer_name: Cow<'a, str>,
    },
    Plain(Kind),
}

impl PurchaseIn<'_> {
    /// An upper bound on the text the purchase interns.
    fn text_bytes(&self) -> usize {
        self.merchant.len() + self.product.len() + self.supplier.text_len()
    }
}

impl KindIn<'_> {
    /// An upper bound on the text the movement interns.
    fn text_bytes(&self) -> usize {
        match self {
            KindIn::SaleMerchant { seller, buyer, .. } => seller.len() + buyer.len(),
            KindIn::SaleNamed { buyer_name } => buyer_name.len(),
            KindIn::Plain(_) => 0,
        }
    }
}

impl MemoryGraph {
    /// Whether whatever one event adds fits (a batch, a voucher, a movement,
    /// two merchants, a product, a supplier, a buyer name, `text` bytes of
    /// strings in each arena): checked before anything changes, so that an
    /// event is added whole or not at all — a graph full halfway through an
    /// event would hold half of it.
    fn room(&self, text: usize) -> Result<(), GraphError> {
        let index = INDEX_MASK as usize;
        let fits = self.batches.len() < index
            && self.vouchers.len() < index
            && self.moves.len() < ID_LIMIT as usize
            && self.merchants.room(2, text)
            && self.products.len() < index
            && self.products.room(text)
            && self.buyer_names.room(text)
            && self.suppliers.len() < u32::MAX as usize;
        if fits {
            Ok(())
        } else {
            Err(GraphError::Full)
        }
    }

    pub(super) fn merchant(&mut self, id: &str) -> Result<u32, GraphError> {
        self.merchants.intern(id)
    }

    pub(super) fn find_batch(&self, code: u128) -> Option<u32> {
        let batches = &self.batches;
        self.batch_index.find(code::hash(code), |b| {
            batches.get(b as usize).is_some_and(|r| r.code == code)
        })
    }

    fn batch_slot(&mut self, code: u128) -> Result<u32, GraphError> {
        if let Some(b) = self.find_batch(code) {
            return Ok(b);
        }
        let b = u32::try_from(self.batches.len())
            .ok()
            .filter(|&b| b <= INDEX_MASK)
            .ok_or(GraphError::Full)?;
        self.batches.push(BatchRec::placeholder(code));
        self.batch_entry.push(0);
        self.stock.push(Stock::default());
        let batches = &self.batches;
        self.batch_index.insert(code::hash(code), b, |s| {
            code::hash(batches.get(s as usize).map_or(0, |r| r.code))
        });
        Ok(b)
    }

    pub(super) fn find_voucher(&self, code: u128) -> Option<u32> {
        let vouchers = &self.vouchers;
        self.voucher_index.find(code::hash(code), |v| {
            vouchers.get(v as usize).is_some_and(|r| r.code == code)
        })
    }

    fn voucher_slot(&mut self, code: u128) -> Result<u32, GraphError> {
        if let Some(v) = self.find_voucher(code) {
            return Ok(v);
        }
        let v = u32::try_from(self.vouchers.len())
            .ok()
            .filter(|&v| v <= INDEX_MASK)
            .ok_or(GraphError::Full)?;
        self.vouchers.push(VoucherRec::placeholder(code));
        let vouchers = &self.vouchers;
        self.voucher_index.insert(code::hash(code), v, |s| {
            code::hash(vouchers.get(s as usize).map_or(0, |r| r.code))
        });
        Ok(v)
    }

    fn entry_id_of(&self, r: u32) -> Option<u128> {
        if r & ID_LIMIT != 0 {
            self.moves.entry(r & !ID_LIMIT)
        } else {
            self.batch_entry.get(r as usize).copied()
        }
    }

    pub(super) fn find_entry(&self, entry: u128) -> Option<u32> {
        self.entry_index
            .find(code::hash(entry), |r| self.entry_id_of(r) == Some(entry))
    }

    /// Indexes an entry the caller has checked is new.
    fn index_entry(&mut self, entry: u128, r: u32) {
        let (moves, batches) = (&self.moves, &self.batch_entry);
        self.entry_index.insert(code::hash(entry), r, |s| {
            let id = if s & ID_LIMIT != 0 {
                moves.entry(s & !ID_LIMIT)
            } else {
                batches.get(s as usize).copied()
            };
            code::hash(id.unwrap_or_default())
        });
    }

    pub(super) fn add_purchase(&mut self, p: PurchaseIn<'_>) -> Result<(), GraphError> {
        if self.find_entry(p.entry).is_some() {
            return Err(GraphError::DuplicateEntry(
                Uuid::from_u128(p.entry).to_string(),
            ));
        }
        if self
            .find_batch(p.trace_code)
            .and_then(|b| self.batches.get(b as usize))
            .is_some_and(BatchRec::known)
        {
            return Err(GraphError::DuplicateTraceCode(code::unpack(p.trace_code)));
        }
        self.room(p.text_bytes())?;
        // Nothing fails from here on: the event is added whole.
        let b = self.batch_slot(p.trace_code)?;
        let merchant = self.merchant(p.merchant)?;
        let product = self.products.intern(p.product)?;
        if product > INDEX_MASK {
            return Err(GraphError::Full);
        }
        let supplier = self.suppliers.intern(&p.supplier)?;
        let voucher = match p.voucher {
            Some(code) => {
                let v = self.voucher_slot(code)?;
                if !self
                    .vouchers
                    .get_mut(v as usize)
                    .is_some_and(|rec| rec.redeem(b))
                {
                    self.extra_redeemers.entry(v).or_default().push(b);
                }
                v
            }
            None => NONE,
        };
        if let (Some(rec), Some(entry)) = (
            self.batches.get_mut(b as usize),
            self.batch_entry.get_mut(b as usize),
        ) {
            rec.received = p.received.amount;
            rec.received_at = p.received_at_ms;
            rec.merchant = merchant;
            rec.supplier = supplier;
            rec.voucher = voucher;
            rec.fill(product, p.received.unit, p.voided);
            *entry = p.entry;
        }
        if let Some(stock) = self.stock.get_mut(b as usize) {
            stock.category = Some(p.category);
            stock.expiry = p.expiry;
        }
        self.index_entry(p.entry, b);
        Ok(())
    }

    pub(super) fn insert_movement(&mut self, m: MovementIn<'_>) -> Result<(), GraphError> {
        if self.find_entry(m.entry).is_some() {
            return Err(GraphError::DuplicateEntry(
                Uuid::from_u128(m.entry).to_string(),
            ));
        }
        if let KindIn::SaleMerchant { voucher, .. } = &m.kind {
            if self
                .find_voucher(*voucher)
                .and_then(|v| self.vouchers.get(v as usize))
                .is_some_and(VoucherRec::issued)
            {
                return Err(GraphError::DuplicateVoucher(code::unpack(*voucher)));
            }
        }
        self.room(m.kind.text_bytes())?;
        // Nothing fails from here on: the event is added whole.
        let batch = self.batch_slot(m.trace_code)?;
        let (kind, aux) = match m.kind {
            KindIn::SaleMerchant {
                voucher,
                seller,
                buyer,
                sold_at_ms,
            } => {
                let v = self.voucher_slot(voucher)?;
                let (seller, buyer) = (self.merchant(seller)?, self.merchant(&buyer)?);
                if let Some(rec) = self.vouchers.get_mut(v as usize) {
                    rec.issue(batch, seller, buyer, m.amount, sold_at_ms, m.voided);
                }
                (Kind::SaleMerchant, v)
            }
            KindIn::SaleNamed { buyer_name } => {
                (Kind::SaleNamed, self.buyer_names.intern(&buyer_name)?)
            }
            KindIn::Plain(kind) => (kind, NONE),
        };
        let id = self.moves.push(
            m.entry,
            batch,
            MovRec::new(kind, m.amount, aux, m.voided),
            self.batches.len(),
        )?;
        if !m.voided {
            if let Some(stock) = self.stock.get_mut(batch as usize) {
                stock.count(kind, m.amount, 1);
            }
        }
        self.index_entry(m.entry, id | ID_LIMIT);
        Ok(())
    }

    /// Records a void entry (so that its id is taken and it cannot itself be
    /// voided) and voids its target.
    pub(super) fn add_void(
        &mut self,
        entry: u128,
        merchant: &str,
        target: u128,
    ) -> Result<(), GraphError> {
        if self.find_entry(entry).is_some() || self.voids.contains_key(&entry) {
            return Err(GraphError::DuplicateEntry(
                Uuid::from_u128(entry).to_string(),
            ));
        }
        self.room(merchant.len())?;
        let merchant = self.merchant(merchant)?;
        self.voids.insert(entry, merchant);
        self.void(target);
        Ok(())
    }

    /// Marks an entry voided; unknown entries are ignored (as in SQL).
    pub(super) fn void(&mut self, entry: u128) {
        let Some(r) = self.find_entry(entry) else {
            return;
        };
        if r & ID_LIMIT == 0 {
            if let Some(b) = self.batches.get_mut(r as usize) {
                b.void();
            }
            return;
        }
        let id = r & !ID_LIMIT;
        let Some((batch, before)) = self.moves.get(id).filter(|(_, m)| !m.voided()) else {
            return;
        };
        if let Some(stock) = self.stock.get_mut(batch as usize) {
            stock.count(before.kind(), before.amount, -1);
        }
        if let Some(rec) = self.moves.void(id) {
            if rec.kind() == Kind::SaleMerchant {
                if let Some(v) = self.vouchers.get_mut(rec.aux as usize) {
                    v.void();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;
    use uuid::Uuid;

    use crate::codes;
    use crate::event::{Buyer, LedgerEvent};
    use crate::generator::{GenConfig, Generator};
    use crate::trace::{GraphError, MemoryGraph, MemoryStats};

    /// What a refused event must leave as it was: every count, placeholders
    /// included (the heap may differ by spare capacity only).
    fn counts(g: &MemoryGraph) -> (usize, usize, usize, usize, usize) {
        let MemoryStats {
            batches,
            movements,
            vouchers,
            merchants,
            ..
        } = g.stats();
        (
            batches,
            movements,
            vouchers,
            merchants,
            g.trace_codes().count(),
        )
    }

    /// `apply` adds an event whole or not at all: an event refused partway
    /// (a voucher issued twice, from a batch the graph has not seen; a trace
    /// code used twice by a purchase of a new merchant) changes nothing.
    #[test]
    fn a_refused_event_changes_nothing() {
        let mut g = MemoryGraph::new();
        let events: Vec<LedgerEvent> = Generator::new(GenConfig::frozen_market(3))
            .take(3_000)
            .collect();
        for e in &events {
            g.apply(e).unwrap();
        }
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let sale = events
            .iter()
            .find_map(|e| match e {
                LedgerEvent::Sale(s) if s.voucher_code.is_some() => Some(s.clone()),
                _ => None,
            })
            .expect("a sale to a merchant");
        let mut twice = sale.clone();
        twice.entry_id = Uuid::now_v7();
        twice.trace_code = codes::new_code(&mut rng);
        twice.buyer = Buyer::Merchant {
            merchant_id: "m-nobody-yet".into(),
        };
        let before = counts(&g);
        assert!(matches!(
            g.apply(&LedgerEvent::Sale(twice)),
            Err(GraphError::DuplicateVoucher(_))
        ));
        assert_eq!(counts(&g), before);
        let purchase = events
            .iter()
            .find_map(|e| match e {
                LedgerEvent::Purchase(p) => Some(p.clone()),
                _ => None,
            })
            .expect("a purchase");
        let mut again = purchase;
        again.entry_id = Uuid::now_v7();
        again.merchant_id = "m-new-merchant".into();
        again.product.name = "从未见过的产品".into();
        assert!(matches!(
            g.apply(&LedgerEvent::Purchase(again)),
            Err(GraphError::DuplicateTraceCode(_))
        ));
        assert_eq!(counts(&g), before);
        assert!(matches!(
            g.apply(&events[0]),
            Err(GraphError::DuplicateEntry(_))
        ));
        assert_eq!(counts(&g), before);
    }
}
