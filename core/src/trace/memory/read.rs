//! The graph seen through [`TraceGraph`]: batch and voucher handles are
//! indexes, and strings are built only for the rows of an answer.

use chrono::{DateTime, Utc};

use super::records::{BatchRec, Kind, NONE};
use super::{code, MemoryGraph};
use crate::quantity::Quantity;
use crate::trace::{
    BatchNode, Movement, MovementKind, SupplierRef, TraceError, TraceGraph, VoucherSale,
};

fn time(ms: i64) -> Result<DateTime<Utc>, TraceError> {
    DateTime::from_timestamp_millis(ms)
        .ok_or_else(|| TraceError::Storage(format!("time out of range: {ms} ms")))
}

fn broken(what: &str, i: u32) -> TraceError {
    TraceError::Storage(format!("{what} {i} missing from the in-memory graph"))
}

impl MemoryGraph {
    fn merchant_id(&self, m: u32) -> Result<String, TraceError> {
        self.merchants
            .get(m)
            .map(str::to_owned)
            .ok_or_else(|| broken("merchant", m))
    }

    fn rec(&self, b: u32) -> Result<&BatchRec, TraceError> {
        self.batches
            .get(b as usize)
            .ok_or_else(|| broken("batch", b))
    }

    fn live(&self, b: u32) -> bool {
        self.batches.get(b as usize).is_some_and(BatchRec::live)
    }
}

impl TraceGraph for MemoryGraph {
    type Batch = u32;
    type Voucher = u32;

    fn find(&self, trace_code: &str) -> Result<Option<u32>, TraceError> {
        Ok(code::pack(trace_code)
            .and_then(|c| self.find_batch(c))
            .filter(|&b| self.live(b)))
    }

    fn batch(&self, &b: &u32) -> Result<BatchNode, TraceError> {
        let r = self.rec(b)?;
        let voucher_code = match r.voucher {
            NONE => None,
            v => Some(code::unpack(
                self.vouchers
                    .get(v as usize)
                    .ok_or_else(|| broken("voucher", v))?
                    .code,
            )),
        };
        Ok(BatchNode {
            trace_code: code::unpack(r.code),
            merchant_id: self.merchant_id(r.merchant)?,
            merchant_name: self.merchants.name(r.merchant).map(str::to_owned),
            product_name: self
                .products
                .get(r.product())
                .map(str::to_owned)
                .ok_or_else(|| broken("product", r.product()))?,
            received: Quantity::new(r.received, r.unit()),
            voucher_code,
            received_at: time(r.received_at)?,
        })
    }

    fn movements(&self, &b: &u32) -> Result<Vec<Movement<u32>>, TraceError> {
        let mut out = Vec::new();
        let mut missing = None;
        self.moves.for_each(b, |m| {
            if m.voided() {
                return;
            }
            let kind = match m.kind() {
                Kind::SaleMerchant => MovementKind::SaleMerchant { voucher: m.aux },
                Kind::SaleRetail => MovementKind::SaleRetail,
                Kind::Destroyed => MovementKind::Destroyed,
                Kind::Returned => MovementKind::Returned,
                Kind::Adjust => MovementKind::Adjust,
                Kind::SaleNamed => match self.buyer_names.get(m.aux) {
                    Some(name) => MovementKind::SaleNamed {
                        buyer_name: name.to_owned(),
                    },
                    None => {
                        missing = Some(m.aux);
                        return;
                    }
                },
            };
            out.push(Movement {
                amount: m.amount,
                kind,
            });
        });
        match missing {
            Some(i) => Err(broken("buyer name", i)),
            None => Ok(out),
        }
    }

    fn redeemed_by(&self, &v: &u32) -> Result<Vec<u32>, TraceError> {
        let Some(rec) = self.vouchers.get(v as usize) else {
            return Err(broken("voucher", v));
        };
        let mut batches: Vec<u32> = rec
            .first_redeemer()
            .filter(|&b| self.live(b))
            .into_iter()
            .collect();
        if rec.more_redeemers() {
            batches.extend(
                self.extra_redeemers
                    .get(&v)
                    .into_iter()
                    .flatten()
                    .filter(|&&b| self.live(b)),
            );
        }
        Ok(batches)
    }

    fn received_with(&self, &b: &u32) -> Result<Option<u32>, TraceError> {
        Ok(Some(self.rec(b)?.voucher).filter(|&v| v != NONE))
    }

    fn voucher_sale(&self, &v: &u32) -> Result<Option<VoucherSale<u32>>, TraceError> {
        let rec = self
            .vouchers
            .get(v as usize)
            .ok_or_else(|| broken("voucher", v))?;
        let Some(from) = rec.live_from() else {
            return Ok(None);
        };
        Ok(Some(VoucherSale {
            voucher_code: code::unpack(rec.code),
            from_trace_code: code::unpack(self.rec(from)?.code),
            from: Some(from).filter(|&b| self.live(b)),
            seller_merchant_id: self.merchant_id(rec.seller)?,
            buyer_merchant_id: self.merchant_id(rec.buyer)?,
            amount: rec.amount,
            sold_at: time(rec.sold_at)?,
        }))
    }

    fn supplier(&self, &b: &u32) -> Result<SupplierRef, TraceError> {
        let s = self.rec(b)?.supplier;
        self.suppliers
            .get(s)
            .cloned()
            .ok_or_else(|| broken("supplier", s))
    }

    fn merchant_name(&self, merchant_id: &str) -> Result<Option<String>, TraceError> {
        Ok(self
            .merchants
            .id(merchant_id)
            .and_then(|m| self.merchants.name(m))
            .map(str::to_owned))
    }
}
