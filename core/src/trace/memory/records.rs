//! The fixed-size records of the graph. A forward trace visits batches at
//! random, so each batch, voucher and movement is one record that arrives in
//! one or two cache lines, rather than a row spread over many columns.

use chrono::NaiveDate;

use crate::category::Category;
use crate::quantity::BaseUnit;

/// "No such record" in a `u32` reference.
pub(super) const NONE: u32 = u32::MAX;
/// References packed beside flags use the low 28 bits (268 million).
pub(super) const INDEX_BITS: u32 = 28;
pub(super) const INDEX_MASK: u32 = (1 << INDEX_BITS) - 1;
const UNIT_SHIFT: u32 = INDEX_BITS;
const KNOWN: u32 = 1 << 30;
const VOIDED: u32 = 1 << 31;
const MORE_REDEEMERS: u32 = 1 << 31;

fn unit_bits(unit: BaseUnit) -> u32 {
    match unit {
        BaseUnit::Gram => 0,
        BaseUnit::Piece => 1,
        BaseUnit::Bag => 2,
        BaseUnit::Box => 3,
    }
}

/// A batch: 48 bytes.
#[derive(Clone, Copy, serde::Serialize, serde::Deserialize)]
pub(super) struct BatchRec {
    pub code: u128,
    pub received: i64,
    /// Milliseconds since the epoch, UTC.
    pub received_at: i64,
    pub merchant: u32,
    pub supplier: u32,
    /// The upstream voucher it was received with, or `NONE`.
    pub voucher: u32,
    /// product (28 bits) | unit (2 bits) | known (its purchase arrived) | voided
    meta: u32,
}

impl BatchRec {
    /// A batch named by a movement before its purchase arrived.
    pub fn placeholder(code: u128) -> Self {
        Self {
            code,
            received: 0,
            received_at: 0,
            merchant: NONE,
            supplier: NONE,
            voucher: NONE,
            meta: 0,
        }
    }

    pub fn fill(&mut self, product: u32, unit: BaseUnit, voided: bool) {
        self.meta =
            product | unit_bits(unit) << UNIT_SHIFT | KNOWN | if voided { VOIDED } else { 0 };
    }

    pub fn product(&self) -> u32 {
        self.meta & INDEX_MASK
    }

    pub fn unit(&self) -> BaseUnit {
        match (self.meta >> UNIT_SHIFT) & 0b11 {
            0 => BaseUnit::Gram,
            1 => BaseUnit::Piece,
            2 => BaseUnit::Bag,
            _ => BaseUnit::Box,
        }
    }

    pub fn known(&self) -> bool {
        self.meta & KNOWN != 0
    }

    /// Recorded and not voided: what a trace may show.
    pub fn live(&self) -> bool {
        self.known() && self.meta & VOIDED == 0
    }

    pub fn voided(&self) -> bool {
        self.meta & VOIDED != 0
    }

    pub fn void(&mut self) {
        self.meta |= VOIDED;
    }
}

/// What the ledger rules need of a batch beyond what a trace reads (kept
/// apart from [`BatchRec`] so a trace's records stay in one cache line):
/// the running balance, the category and the expiry date.
#[derive(Clone, Copy, Default, serde::Serialize, serde::Deserialize)]
pub(super) struct Stock {
    /// Sold (to anyone) plus disposed, not voided.
    pub out: i64,
    /// Sum of stock corrections not voided.
    pub adjusted: i64,
    /// Movements not voided.
    pub active: u32,
    pub category: Option<Category>,
    pub expiry: Option<NaiveDate>,
}

impl Stock {
    /// Counts a movement in (`sign` 1) or out again when it is voided (-1).
    pub fn count(&mut self, kind: Kind, amount: i64, sign: i64) {
        if kind == Kind::Adjust {
            self.adjusted += sign * amount;
        } else {
            self.out += sign * amount;
        }
        self.active = self.active.saturating_add_signed(sign as i32);
    }
}

/// A voucher, made by whichever of its sale and its redeeming purchase
/// arrives first: 48 bytes.
#[derive(Clone, Copy, serde::Serialize, serde::Deserialize)]
pub(super) struct VoucherRec {
    pub code: u128,
    pub sold_at: i64,
    pub amount: i64,
    pub seller: u32,
    pub buyer: u32,
    /// The first batch that received it | `MORE_REDEEMERS` when later ones
    /// are kept aside; `NONE` when none has.
    redeemer: u32,
    /// The seller's batch (28 bits) | voided; `NONE` until the sale arrives.
    from: u32,
}

impl VoucherRec {
    pub fn placeholder(code: u128) -> Self {
        Self {
            code,
            sold_at: 0,
            amount: 0,
            seller: NONE,
            buyer: NONE,
            redeemer: NONE,
            from: NONE,
        }
    }

    pub fn first_redeemer(&self) -> Option<u32> {
        (self.redeemer != NONE).then_some(self.redeemer & INDEX_MASK)
    }

    pub fn more_redeemers(&self) -> bool {
        self.redeemer != NONE && self.redeemer & MORE_REDEEMERS != 0
    }

    /// Records a redeeming batch; `false` when it is not the first (the
    /// caller keeps it aside).
    pub fn redeem(&mut self, batch: u32) -> bool {
        if self.redeemer == NONE {
            self.redeemer = batch;
            true
        } else {
            self.redeemer |= MORE_REDEEMERS;
            false
        }
    }

    /// Whether a sale issued it (voided or not: a code is never reissued).
    pub fn issued(&self) -> bool {
        self.from != NONE
    }

    pub fn issue(
        &mut self,
        from: u32,
        seller: u32,
        buyer: u32,
        amount: i64,
        sold_at: i64,
        voided: bool,
    ) {
        *self = Self {
            from: from | if voided { VOIDED } else { 0 },
            seller,
            buyer,
            amount,
            sold_at,
            ..*self
        };
    }

    /// The seller's batch, while the sale stands.
    pub fn live_from(&self) -> Option<u32> {
        (self.issued() && self.from & VOIDED == 0).then_some(self.from & INDEX_MASK)
    }

    pub fn void(&mut self) {
        if self.issued() {
            self.from |= VOIDED;
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Kind {
    SaleMerchant,
    SaleNamed,
    SaleRetail,
    Destroyed,
    Returned,
    Adjust,
}

/// A movement: 16 bytes.
#[derive(Clone, Copy, serde::Serialize, serde::Deserialize)]
pub(super) struct MovRec {
    pub amount: i64,
    /// The voucher of a sale to a merchant, the buyer name of a named sale.
    pub aux: u32,
    /// kind (3 bits) | voided
    meta: u32,
}

impl MovRec {
    pub fn new(kind: Kind, amount: i64, aux: u32, voided: bool) -> Self {
        let k = match kind {
            Kind::SaleMerchant => 0,
            Kind::SaleNamed => 1,
            Kind::SaleRetail => 2,
            Kind::Destroyed => 3,
            Kind::Returned => 4,
            Kind::Adjust => 5,
        };
        Self {
            amount,
            aux,
            meta: k | if voided { VOIDED } else { 0 },
        }
    }

    pub fn kind(&self) -> Kind {
        match self.meta & 0b111 {
            0 => Kind::SaleMerchant,
            1 => Kind::SaleNamed,
            2 => Kind::SaleRetail,
            3 => Kind::Destroyed,
            4 => Kind::Returned,
            _ => Kind::Adjust,
        }
    }

    pub fn voided(&self) -> bool {
        self.meta & VOIDED != 0
    }

    pub fn void(&mut self) {
        self.meta |= VOIDED;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_stay_small_and_flags_round_trip() {
        assert_eq!(std::mem::size_of::<BatchRec>(), 48);
        assert_eq!(std::mem::size_of::<VoucherRec>(), 48);
        assert_eq!(std::mem::size_of::<MovRec>(), 16);
        let mut b = BatchRec::placeholder(7);
        assert!(!b.known() && !b.live());
        b.fill(INDEX_MASK, BaseUnit::Box, false);
        assert_eq!(
            (b.product(), b.unit(), b.live()),
            (INDEX_MASK, BaseUnit::Box, true)
        );
        b.void();
        assert!(b.known() && !b.live());
        let mut v = VoucherRec::placeholder(9);
        assert_eq!(
            (v.issued(), v.live_from(), v.first_redeemer()),
            (false, None, None)
        );
        assert!(v.redeem(5) && !v.redeem(6));
        assert_eq!((v.first_redeemer(), v.more_redeemers()), (Some(5), true));
        v.issue(INDEX_MASK, 1, 2, 3, 4, false);
        assert_eq!(v.live_from(), Some(INDEX_MASK));
        v.void();
        assert_eq!((v.issued(), v.live_from()), (true, None));
        let mut m = MovRec::new(Kind::Adjust, -5, NONE, false);
        assert_eq!((m.kind(), m.voided()), (Kind::Adjust, false));
        m.void();
        assert_eq!((m.kind(), m.voided()), (Kind::Adjust, true));
    }
}
