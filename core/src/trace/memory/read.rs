//! The graph seen through [`TraceGraph`]: records turned back into the
//! engine's owned values.

use chrono::{DateTime, Utc};

use super::records::{BatchRec, Kind, MovRec, NONE};
use super::{code, MemoryGraph};
use crate::quantity::Quantity;
use crate::trace::{BatchNode, Movement, MovementKind, SupplierRef, TraceError, TraceGraph, VoucherSale};

fn time(ms: i64) -> Result<DateTime<Utc>, TraceError> {
    DateTime::from_timestamp_millis(ms).ok_or_else(|| TraceError::Storage(format!("time out of range: {ms} ms")))
}

fn broken(what: &str, i: u32) -> TraceError {
    TraceError::Storage(format!("{what} {i} missing from the in-memory graph"))
}

impl MemoryGraph {
    fn merchant_id(&self, m: u32) -> Result<String, TraceError> {
        self.merchants.get(m).map(str::to_owned).ok_or_else(|| broken("merchant", m))
    }

    fn node(&self, b: u32) -> Result<BatchNode, TraceError> {
        let r: &BatchRec = self.batches.get(b as usize).ok_or_else(|| broken("batch", b))?;
        let voucher_code = match r.voucher {
            NONE => None,
            v => Some(code::unpack(self.vouchers.get(v as usize).ok_or_else(|| broken("voucher", v))?.code)),
        };
        Ok(BatchNode {
            trace_code: code::unpack(r.code),
            merchant_id: self.merchant_id(r.merchant)?,
            merchant_name: self.merchant_names.get(r.merchant as usize).and_then(|n| n.as_deref()).map(str::to_owned),
            product_name: self.products.get(r.product()).map(str::to_owned).ok_or_else(|| broken("product", r.product()))?,
            received: Quantity::new(r.received, r.unit()),
            voucher_code,
            received_at: time(r.received_at)?,
        })
    }

    fn live_batch(&self, trace_code: &str) -> Option<u32> {
        code::pack(trace_code).and_then(|c| self.find_batch(c)).filter(|&b| self.batches.get(b as usize).is_some_and(BatchRec::live))
    }

    fn movement(&self, m: &MovRec) -> Result<Movement, TraceError> {
        let kind = match m.kind() {
            Kind::SaleRetail => MovementKind::SaleRetail,
            Kind::Destroyed => MovementKind::Destroyed,
            Kind::Returned => MovementKind::Returned,
            Kind::Adjust => MovementKind::Adjust,
            Kind::SaleNamed => {
                MovementKind::SaleNamed { buyer_name: self.buyer_names.get(m.aux).map(str::to_owned).ok_or_else(|| broken("buyer name", m.aux))? }
            }
            Kind::SaleMerchant => {
                let v = self.vouchers.get(m.aux as usize).ok_or_else(|| broken("voucher", m.aux))?;
                MovementKind::SaleMerchant { voucher_code: code::unpack(v.code) }
            }
        };
        Ok(Movement { amount: m.amount, kind })
    }
}

impl TraceGraph for MemoryGraph {
    fn batch(&self, trace_code: &str) -> Result<Option<BatchNode>, TraceError> {
        self.live_batch(trace_code).map(|b| self.node(b)).transpose()
    }

    fn movements(&self, trace_code: &str) -> Result<Vec<Movement>, TraceError> {
        let Some(b) = code::pack(trace_code).and_then(|c| self.find_batch(c)) else { return Ok(Vec::new()) };
        let mut recs = Vec::new();
        self.moves.of_batch(b, &mut recs);
        recs.iter().filter(|m| !m.voided()).map(|m| self.movement(m)).collect()
    }

    fn redeemed_by(&self, voucher_code: &str) -> Result<Vec<BatchNode>, TraceError> {
        let Some(v) = code::pack(voucher_code).and_then(|c| self.find_voucher(c)) else { return Ok(Vec::new()) };
        let Some(rec) = self.vouchers.get(v as usize) else { return Ok(Vec::new()) };
        let mut batches: Vec<u32> = rec.first_redeemer().into_iter().collect();
        if rec.more_redeemers() {
            batches.extend(self.extra_redeemers.get(&v).into_iter().flatten());
        }
        batches.into_iter().filter(|&b| self.batches.get(b as usize).is_some_and(BatchRec::live)).map(|b| self.node(b)).collect()
    }

    fn voucher_sale(&self, voucher_code: &str) -> Result<Option<VoucherSale>, TraceError> {
        let Some(v) = code::pack(voucher_code).and_then(|c| self.find_voucher(c)).and_then(|v| self.vouchers.get(v as usize)) else {
            return Ok(None);
        };
        let Some(from) = v.live_from() else { return Ok(None) };
        Ok(Some(VoucherSale {
            voucher_code: voucher_code.to_owned(),
            from_trace_code: code::unpack(self.batches.get(from as usize).ok_or_else(|| broken("batch", from))?.code),
            seller_merchant_id: self.merchant_id(v.seller)?,
            buyer_merchant_id: self.merchant_id(v.buyer)?,
            amount: v.amount,
            sold_at: time(v.sold_at)?,
        }))
    }

    fn supplier(&self, trace_code: &str) -> Result<Option<SupplierRef>, TraceError> {
        self.live_batch(trace_code)
            .and_then(|b| self.batches.get(b as usize))
            .map(|r| self.suppliers.get(r.supplier).cloned().ok_or_else(|| broken("supplier", r.supplier)))
            .transpose()
    }

    fn merchant_name(&self, merchant_id: &str) -> Result<Option<String>, TraceError> {
        Ok(self
            .merchants
            .id(merchant_id)
            .and_then(|m| self.merchant_names.get(m as usize))
            .and_then(|n| n.as_deref())
            .map(str::to_owned))
    }
}
