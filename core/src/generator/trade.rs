//! A batch's movements: sales down the chain (one batch sold to many, in
//! part), the stall's daily retail line, disposals and stock corrections,
//! with the anomalies a regulator looks for.

use rand::Rng;

use super::batches::BatchRef;
use super::clock::{self, CLOSING, DAY, HOUR, MINUTE, WHOLESALE};
use super::engine::{Action, AfterVoid, Engine, Lot, Source, VoidPlan};
use super::registry::Role;
use crate::event::{Adjust, Buyer, Dispose, DisposeMethod, LedgerEvent, Sale};
use crate::quantity::{BaseUnit, Quantity};

/// Who buys from a seller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Counterpart {
    /// A platform merchant of this role (gets a voucher).
    Merchant(Role),
    /// Off the platform: a restaurant, a trader from another city.
    Named,
    /// Consumers: walk-in retail at a wholesaler, the day's retail line at a stall.
    Walk,
}

use Counterpart::{Merchant, Named, Walk};

/// Buyers per seller role: weight and the share of the batch one sale takes.
/// First-hop lots go to second-hop dealers, stalls, supermarkets and
/// kitchens in chunks of a few per cent, so a root batch reaches ~5–40
/// holders (seed 002: one importer's cheese at 45 sellers).
#[rustfmt::skip]
fn buyers(role: Role) -> &'static [(Counterpart, u32, (f64, f64))] {
    match role {
        Role::FirstHop => &[
            (Merchant(Role::Wholesale), 20, (0.08, 0.20)),
            (Merchant(Role::Retail), 28, (0.02, 0.06)),
            (Merchant(Role::Supermarket), 10, (0.03, 0.08)),
            (Merchant(Role::Catering), 14, (0.01, 0.04)),
            (Named, 16, (0.03, 0.10)),
            (Walk, 12, (0.002, 0.01)),
        ],
        Role::Wholesale => &[
            (Merchant(Role::Retail), 38, (0.08, 0.18)),
            (Merchant(Role::Supermarket), 10, (0.08, 0.20)),
            (Merchant(Role::Catering), 24, (0.03, 0.10)),
            (Named, 16, (0.04, 0.12)),
            (Walk, 12, (0.005, 0.02)),
        ],
        Role::Retail => &[(Walk, 82, (0.20, 0.50)), (Merchant(Role::Catering), 10, (0.05, 0.20)), (Named, 8, (0.05, 0.15))],
        Role::Supermarket => &[(Walk, 97, (0.15, 0.35)), (Named, 3, (0.05, 0.10))],
        Role::Catering => &[],
    }
}

/// Of a discounter's sales, the share at about 60 % of the market price.
const DISCOUNT_SHARE: f64 = 0.2;

/// Price markup of a seller over what it paid.
fn markup(role: Role) -> f64 {
    match role {
        Role::FirstHop => 1.08,
        Role::Wholesale => 1.10,
        Role::Retail => 1.30,
        Role::Supermarket => 1.35,
        Role::Catering => 1.0,
    }
}

const SALE_VOID_REASONS: &[&str] = &[
    "销售数量录入错误，作废后重新录入",
    "误选批次，作废后重新录入",
    "单价录入错误，作废后重新录入",
];
const DESTROY_REASONS: &[&str] = &[
    "包装破损，无害化处理",
    "冷库故障解冻变质，销毁",
    "抽检不合格，监督销毁",
];
const RETURN_REASONS: &[&str] = &["质量不符，退回供货商", "规格不符，退货"];
const EXPIRED_REASON: &str = "超过保质期，下架销毁";
const SHRINK_REASONS: &[&str] = &[
    "盘点短少（解冻失水）",
    "盘点短少（称重误差）",
    "盘点短少（破损损耗）",
];
const SURPLUS_REASON: &str = "盘点盘盈（出库少记）";

fn pick_reason(rng: &mut rand_chacha::ChaCha8Rng, reasons: &[&'static str]) -> &'static str {
    reasons
        .get(rng.random_range(0..reasons.len().max(1)))
        .copied()
        .unwrap_or("")
}

/// The copy of a batch's facts a movement needs.
struct Held {
    merchant: u32,
    role: Role,
    product: u16,
    unit: BaseUnit,
    received: i64,
    held: i64,
    trace_code: String,
    expiry: Option<chrono::NaiveDate>,
    /// Mass moves in half kilograms at wholesale, 100 g at retail; counts in ones.
    grain: i64,
}

impl Engine {
    fn held(&mut self, r: BatchRef) -> Option<Held> {
        let b = self.batches.get_mut(r)?;
        let role = self.world.profiles.get(b.merchant as usize)?.role;
        let unit = self.catalogue.products.get(usize::from(b.product))?.unit;
        let grain = match (unit, role) {
            (BaseUnit::Gram, Role::Retail | Role::Supermarket) => 100,
            (BaseUnit::Gram, _) => 500,
            _ => 1,
        };
        Some(Held {
            merchant: b.merchant,
            role,
            product: b.product,
            unit,
            received: b.received,
            held: b.held,
            trace_code: b.trace_code.clone(),
            expiry: b.expiry,
            grain,
        })
    }

    /// When a batch moves next: wholesale within hours before dawn, retail
    /// at closing time, daily for fresh goods, every few days for goods
    /// that keep.
    pub(super) fn next_step_at(&mut self, role: Role, product: u16, t: i64, first: bool) -> i64 {
        let fresh = self
            .catalogue
            .products
            .get(usize::from(product))
            .is_some_and(|p| p.fresh);
        match role {
            Role::FirstHop | Role::Wholesale => {
                let gap = if fresh {
                    self.rng.random_range(15 * MINUTE..2 * HOUR)
                } else {
                    self.rng.random_range(HOUR..8 * HOUR)
                };
                WHOLESALE.fit(t + gap, &mut self.rng)
            }
            Role::Retail | Role::Supermarket | Role::Catering => {
                if first {
                    CLOSING.later_same_or_next_day(t, &mut self.rng)
                } else {
                    let days = if fresh {
                        1
                    } else {
                        self.rng.random_range(1..=3)
                    };
                    CLOSING.on_day(clock::day_start(t) + days * DAY, &mut self.rng)
                }
            }
        }
    }

    /// A batch's next movement.
    pub(super) fn step(&mut self, t: i64, r: BatchRef) -> Option<LedgerEvent> {
        let h = self.held(r)?;
        let profile = self.world.profiles.get(h.merchant as usize);
        let careless = profile.is_some_and(|p| p.careless);
        if profile
            .and_then(|p| p.closes_on)
            .is_some_and(|d| clock::local_date(t) > d)
        {
            // The shop closed when its licence lapsed: its stock moves no more.
            self.batches.close(r);
            return None;
        }
        if h.expiry.is_some_and(|e| clock::local_date(t) > e) && !careless {
            // A careful holder destroys what is past its date.
            return Some(self.dispose(t, r, &h, h.held, DisposeMethod::Destroyed, EXPIRED_REASON));
        }
        let x: f64 = self.rng.random();
        if x < self.shares.dispose {
            let amount = self.part(&h, 0.02, 0.10).min(h.held);
            let (method, reason) = if self.rng.random_bool(0.7) {
                (
                    DisposeMethod::Destroyed,
                    pick_reason(&mut self.rng, DESTROY_REASONS),
                )
            } else {
                (
                    DisposeMethod::Returned,
                    pick_reason(&mut self.rng, RETURN_REASONS),
                )
            };
            return Some(self.dispose(t, r, &h, amount, method, reason));
        }
        if x < self.shares.dispose + self.shares.adjust {
            return Some(self.adjust(t, r, &h));
        }
        self.sale(t, r, &h)
    }

    /// A share of what the batch received, in whole grains.
    fn part(&mut self, h: &Held, lo: f64, hi: f64) -> i64 {
        let raw = (h.received as f64 * self.rng.random_range(lo..hi)) as i64;
        (raw / h.grain).max(1) * h.grain
    }

    /// Queues the batch's next step, or closes it when nothing is left.
    fn carry_on(&mut self, t: i64, r: BatchRef, h: &Held, left: i64) {
        if left > 0 {
            if let Some(b) = self.batches.get_mut(r) {
                b.held = left;
            }
            let at = self.next_step_at(h.role, h.product, t, false);
            self.schedule(at, Action::Step(r));
        } else {
            self.batches.close(r);
        }
    }

    fn dispose(
        &mut self,
        t: i64,
        r: BatchRef,
        h: &Held,
        amount: i64,
        method: DisposeMethod,
        reason: &str,
    ) -> LedgerEvent {
        let event = LedgerEvent::Dispose(Dispose {
            entry_id: self.entry_id(t),
            merchant_id: self.merchant_id(h.merchant),
            trace_code: h.trace_code.clone(),
            quantity: Quantity::new(amount, h.unit),
            method,
            reason: reason.to_owned(),
            at: clock::to_datetime(t),
            witness: None,
            photos: Vec::new(),
        });
        self.carry_on(t, r, h, h.held - amount);
        event
    }

    /// A stock count: mostly shrinkage (thawing, weighing), now and then a
    /// surplus; never below zero.
    fn adjust(&mut self, t: i64, r: BatchRef, h: &Held) -> LedgerEvent {
        let shrink = self.part(h, 0.003, 0.02);
        let (delta, reason) = if self.rng.random_bool(0.8) && shrink < h.held {
            (-shrink, pick_reason(&mut self.rng, SHRINK_REASONS))
        } else {
            (self.part(h, 0.002, 0.01), SURPLUS_REASON)
        };
        let event = LedgerEvent::Adjust(Adjust {
            entry_id: self.entry_id(t),
            merchant_id: self.merchant_id(h.merchant),
            trace_code: h.trace_code.clone(),
            delta: Quantity::new(delta, h.unit),
            reason: reason.to_owned(),
            at: clock::to_datetime(t),
        });
        self.carry_on(t, r, h, h.held + delta);
        event
    }

    /// A platform merchant of `role` dealing in the product's category,
    /// other than the seller.
    fn pick_buyer(&mut self, t: i64, role: Role, product: u16, seller: u32) -> Option<u32> {
        let category = self.catalogue.products.get(usize::from(product))?.category;
        let pool = self
            .world
            .pools
            .get(role as usize)?
            .get(category as usize)?;
        let i = self.rng.random_range(0..pool.len().max(1));
        let m = *pool.get(i)?;
        let m = if m != seller {
            m
        } else {
            pool.get((i + 1) % pool.len())
                .copied()
                .filter(|m| *m != seller)?
        };
        // No one ships to a shop about to close (a voucher can travel two
        // days): the goods go elsewhere, off the platform.
        let closing = self
            .world
            .profiles
            .get(m as usize)
            .and_then(|p| p.closes_on)
            .is_some_and(|d| clock::local_date(t + 3 * DAY) > d);
        (!closing).then_some(m)
    }

    fn sale(&mut self, t: i64, r: BatchRef, h: &Held) -> Option<LedgerEvent> {
        let table = buyers(h.role);
        let total: u32 = table.iter().map(|x| x.1).sum();
        let mut x = self.rng.random_range(0..total.max(1));
        let (counterpart, (lo, hi)) = table
            .iter()
            .find(|(_, w, _)| {
                let hit = x < *w;
                x = x.saturating_sub(*w);
                hit
            })
            .map_or((Walk, (0.2, 0.5)), |(c, _, f)| (*c, *f));
        let buyer = match counterpart {
            Merchant(role) => self.pick_buyer(t, role, h.product, h.merchant),
            _ => None,
        };
        let counterpart = match (counterpart, buyer) {
            // No such merchant at this scale (no kitchens in a frozen market):
            // the goods leave the platform.
            (Merchant(_), None) => Named,
            (c, _) => c,
        };

        let mut amount = self.part(h, lo, hi).min(h.held);
        if h.held - amount < h.grain.max(h.received * 3 / 100) {
            amount = h.held;
        }
        let profile = self.world.profiles.get(h.merchant as usize);
        let smuggler = profile.is_some_and(|p| p.smuggler);
        let p_over = if smuggler {
            self.shares.smuggler_oversell
        } else if profile.is_some_and(|p| p.clean) {
            0.0
        } else {
            self.shares.oversell
        };
        let oversold = self.rng.random_bool(p_over.clamp(0.0, 1.0));
        if oversold {
            // More leaves than came in: goods of unknown origin under this code.
            amount = h.held + self.part(h, 0.10, 0.50);
        }
        let price = self.sale_price(r, h)?;

        if !oversold
            && buyer.is_none()
            && h.held > h.grain
            && self.rng.random_bool(self.shares.void.clamp(0.0, 1.0))
        {
            return Some(self.mistaken_sale(t, r, h, counterpart, price));
        }
        let voucher = buyer.map(|_| crate::codes::new_code(&mut self.rng));
        let event = LedgerEvent::Sale(Sale {
            entry_id: self.entry_id(t),
            merchant_id: self.merchant_id(h.merchant),
            trace_code: h.trace_code.clone(),
            quantity: Quantity::new(amount, h.unit),
            buyer: self.buyer(counterpart, buyer),
            voucher_code: voucher.clone(),
            unit_price_fen: Some(price),
            sold_at: clock::to_datetime(t),
        });
        if let (Some(buyer), Some(code)) = (buyer, voucher) {
            self.ship(t, r, h, buyer, code, amount, price);
        }
        self.carry_on(t, r, h, h.held - amount);
        Some(event)
    }

    fn sale_price(&mut self, r: BatchRef, h: &Held) -> Option<i64> {
        let paid = self.batches.get_mut(r)?.price;
        let market = self.catalogue.market_price(h.product) as f64;
        let profile = self.world.profiles.get(h.merchant as usize);
        let discounter = profile.is_some_and(|p| p.discounter);
        let p_outlier = if profile.is_some_and(|p| p.clean) {
            0.0
        } else {
            self.shares.price_outlier
        };
        let price = if self.rng.random_bool(p_outlier.clamp(0.0, 1.0)) {
            // Clearance or a slip: far under the product's market price.
            market * self.rng.random_range(0.20..0.36)
        } else if discounter && self.rng.random_bool(DISCOUNT_SHARE) {
            // A discount seller: cheap, but nowhere near a smuggler's price.
            market * self.rng.random_range(0.62..0.70)
        } else {
            paid as f64 * markup(h.role) * self.rng.random_range(0.96..1.04)
        };
        Some((price.round() as i64).max(1))
    }

    fn buyer(&mut self, counterpart: Counterpart, merchant: Option<u32>) -> Buyer {
        match (counterpart, merchant) {
            (Merchant(_), Some(m)) => Buyer::Merchant {
                merchant_id: self.merchant_id(m),
            },
            (Walk, _) => Buyer::Retail,
            _ => {
                let i = self
                    .rng
                    .random_range(0..self.world.outside_buyers.len().max(1));
                Buyer::Named {
                    name: self
                        .world
                        .outside_buyers
                        .get(i)
                        .cloned()
                        .unwrap_or_else(|| "散客".to_owned()),
                }
            }
        }
    }

    /// The buyer scans the voucher hours later (within the hour inside one
    /// market, now and then days later) and records the same quantity; the
    /// certificate copy comes along.
    #[allow(clippy::too_many_arguments)]
    fn ship(
        &mut self,
        t: i64,
        r: BatchRef,
        h: &Held,
        buyer: u32,
        code: String,
        amount: i64,
        price: i64,
    ) {
        let Some(b) = self.batches.get_mut(r) else {
            return;
        };
        let (certs, production, expiry) = (b.certs.clone(), b.production, b.expiry);
        let p_drop = if self
            .world
            .profiles
            .get(buyer as usize)
            .is_some_and(|p| p.clean)
        {
            0.0
        } else {
            self.shares.certificate_dropped
        };
        let certs = if self.rng.random_bool(p_drop.clamp(0.0, 1.0)) {
            Vec::new()
        } else {
            certs
        };
        let buyer_role = self
            .world
            .profiles
            .get(buyer as usize)
            .map_or(Role::Retail, |p| p.role);
        let delay = if self
            .rng
            .random_bool(self.shares.slow_delivery.clamp(0.0, 1.0))
        {
            self.rng.random_range(12 * HOUR..48 * HOUR)
        } else if buyer_role == Role::Wholesale {
            self.rng.random_range(20 * MINUTE..2 * HOUR)
        } else {
            self.rng.random_range(HOUR..5 * HOUR)
        };
        let lot = Lot {
            merchant: buyer,
            product: h.product,
            amount,
            price,
            source: Source::Voucher {
                seller: h.merchant,
                code,
            },
            certs,
            production,
            expiry,
        };
        self.schedule(t + delay, Action::Receive(Box::new(lot)));
    }

    /// A retail or off-platform sale written with the wrong quantity and
    /// voided minutes later; the batch sells on once the correction is in.
    fn mistaken_sale(
        &mut self,
        t: i64,
        r: BatchRef,
        h: &Held,
        counterpart: Counterpart,
        price: i64,
    ) -> LedgerEvent {
        let wrong = (self.rng.random_range(1..=h.held / h.grain) * h.grain).min(h.held);
        let entry_id = self.entry_id(t);
        let event = LedgerEvent::Sale(Sale {
            entry_id,
            merchant_id: self.merchant_id(h.merchant),
            trace_code: h.trace_code.clone(),
            quantity: Quantity::new(wrong, h.unit),
            buyer: self.buyer(counterpart, None),
            voucher_code: None,
            unit_price_fen: Some(price),
            sold_at: clock::to_datetime(t),
        });
        if let Some(b) = self.batches.get_mut(r) {
            b.held -= wrong;
        }
        let reason = pick_reason(&mut self.rng, SALE_VOID_REASONS);
        let plan = VoidPlan {
            merchant: h.merchant,
            entry: entry_id,
            reason,
            then: AfterVoid::Resume {
                batch: r,
                restore: wrong,
            },
        };
        let at = t + self.rng.random_range(5..40) * MINUTE;
        self.schedule(at, Action::Void(Box::new(plan)));
        event
    }
}
