//! Purchases: lots from outside suppliers reaching first-hop dealers, and
//! vouchers scanned by their buyers.

use chrono::Duration;
use rand::Rng;

use super::batches::{Batch, Cert};
use super::clock::{self, MINUTE};
use super::engine::{Action, AfterVoid, Engine, Lot, Source, VoidPlan};
use super::registry::Role;
use crate::category::{Category, CertificateKind};
use crate::codes;
use crate::event::{LedgerEvent, Product, Purchase, Supplier};
use crate::quantity::{BaseUnit, Quantity};

/// Why a purchase entry is voided and written again.
const PURCHASE_VOID_REASONS: &[&str] = &[
    "进货数量录入错误，作废后重新录入",
    "进货数量多录一位，作废后重新录入",
    "进货数量少录一位，作废后重新录入",
];

impl Engine {
    /// A lot from outside for a first-hop dealer, sometimes first written
    /// with a slip and voided minutes later.
    pub(super) fn delivery(&mut self, t: i64) -> Option<LedgerEvent> {
        let merchant = self.pick_first_hop()?;
        let lot = self.outside_lot(merchant, t)?;
        if !self.rng.random_bool(self.shares.void.clamp(0.0, 1.0)) {
            return Some(self.receive(t, lot));
        }
        let mut wrong = lot.clone();
        let reason_idx = self.rng.random_range(0..PURCHASE_VOID_REASONS.len());
        wrong.amount = if reason_idx == 2 {
            (lot.amount / 10).max(1)
        } else {
            lot.amount.saturating_mul(10)
        };
        let event = self.write_purchase(t, wrong, false);
        let plan = VoidPlan {
            merchant,
            entry: event.entry_id(),
            reason: PURCHASE_VOID_REASONS[reason_idx],
            then: AfterVoid::Rerecord(Box::new(lot)),
        };
        let at = t + self.rng.random_range(10..60) * MINUTE;
        self.schedule(at, Action::Void(Box::new(plan)));
        Some(event)
    }

    /// Writes a purchase and opens its batch at a merchant who sells on.
    pub(super) fn receive(&mut self, t: i64, lot: Lot) -> LedgerEvent {
        self.write_purchase(t, lot, true)
    }

    fn pick_first_hop(&mut self) -> Option<u32> {
        let total = self.world.first_hop.last()?.0;
        let x = self.rng.random_range(0.0..total);
        let i = self.world.first_hop.partition_point(|(cum, _)| *cum <= x);
        self.world
            .first_hop
            .get(i)
            .or(self.world.first_hop.last())
            .map(|(_, m)| *m)
    }

    fn outside_lot(&mut self, merchant: u32, t: i64) -> Option<Lot> {
        let profile = self.world.profiles.get(merchant as usize);
        let smuggler = profile.is_some_and(|p| p.smuggler);
        let p_missing = if profile.is_some_and(|p| p.clean) {
            0.0
        } else {
            self.shares.missing_certificate
        };
        let categories = &self.world.merchants.get(merchant as usize)?.categories;
        let smuggled = smuggler
            && self
                .rng
                .random_bool(self.shares.smuggled_lot.clamp(0.0, 1.0));
        let eligible: Vec<Category> = categories
            .iter()
            .copied()
            .filter(|c| {
                !smuggled || matches!(c, Category::ImportedColdChain | Category::LivestockMeat)
            })
            .collect();
        let category = *eligible.get(self.rng.random_range(0..eligible.len().max(1)))?;
        let product = self.pick_product(category)?;
        let spec = self.catalogue.products.get(usize::from(product))?;
        let (unit, (lo, hi), list_price, shelf_days) =
            (spec.unit, spec.lot, spec.price_fen, spec.shelf_days);
        let raw = self.rng.random_range(lo..=hi.max(lo));
        // Outside lots come in round figures: tens of kilograms, tens of boxes.
        let amount = match unit {
            BaseUnit::Gram => (raw / 10).max(1) * 10_000,
            _ => (raw / 10).max(1) * 10,
        };
        let price = if smuggled {
            // Seed 000: smuggled beef at about a third of the market price.
            let market = self.catalogue.market_price(product);
            ((market as f64) * self.rng.random_range(0.28..0.38)).round() as i64
        } else {
            ((list_price as f64) * self.rng.random_range(0.92..1.08)).round() as i64
        };
        let certs = if smuggled || self.rng.random_bool(p_missing.clamp(0.0, 1.0)) {
            Vec::new()
        } else {
            self.papers(category)
        };
        let received = clock::local_date(t);
        let (production, expiry) = match shelf_days {
            Some(shelf) => {
                let shelf = i64::from(shelf);
                if self.rng.random_bool(self.shares.old_stock.clamp(0.0, 1.0)) {
                    // Old cold-store stock: days left, not months, so part of it
                    // is sold (or destroyed) after its date down the chain.
                    let expiry = received + Duration::days(self.rng.random_range(1..=8));
                    (Some(expiry - Duration::days(shelf - 1)), Some(expiry))
                } else {
                    let production =
                        received - Duration::days(self.rng.random_range(0..=shelf * 2 / 5));
                    (
                        Some(production),
                        Some(production + Duration::days(shelf - 1)),
                    )
                }
            }
            // Bulk produce: harvested or slaughtered the day before or that day.
            None => (
                Some(received - Duration::days(self.rng.random_range(0..=1))),
                None,
            ),
        };
        let source = if smuggled {
            Source::Shadow(
                self.rng
                    .random_range(0..self.world.shadow_suppliers.len().max(1)),
            )
        } else {
            Source::Outside(
                self.rng
                    .random_range(0..self.world.suppliers[category as usize].len().max(1)),
            )
        };
        Some(Lot {
            merchant,
            product,
            amount,
            price: price.max(1),
            source,
            certs,
            production,
            expiry,
        })
    }

    fn pick_product(&mut self, category: Category) -> Option<u16> {
        let list = self.catalogue.by_category.get(category as usize)?;
        let total: u32 = list
            .iter()
            .filter_map(|p| self.catalogue.products.get(usize::from(*p)))
            .map(|p| p.weight)
            .sum();
        let mut x = self.rng.random_range(0..total.max(1));
        for p in list {
            let w = self
                .catalogue
                .products
                .get(usize::from(*p))
                .map_or(0, |s| s.weight);
            if x < w {
                return Some(*p);
            }
            x -= w;
        }
        list.first().copied()
    }

    /// The certificates the rules ask for (one per group), and for other
    /// categories sometimes a test report.
    fn papers(&mut self, category: Category) -> Vec<Cert> {
        let mut certs = Vec::new();
        if let Some(groups) = self.required.get(&category) {
            for group in groups {
                if let Some(kind) = group.get(self.rng.random_range(0..group.len().max(1))) {
                    certs.push(Cert {
                        kind: *kind,
                        serial: self.rng.random(),
                    });
                }
            }
        } else if self.rng.random_bool(0.3) {
            certs.push(Cert {
                kind: CertificateKind::TestReport,
                serial: self.rng.random(),
            });
        }
        certs
    }

    /// Writes the purchase; with `open`, a merchant who sells on gets the
    /// batch and its first step.
    fn write_purchase(&mut self, t: i64, lot: Lot, open: bool) -> LedgerEvent {
        let trace_code = codes::new_code(&mut self.rng);
        let entry_id = self.entry_id(t);
        let spec = &self.catalogue.products[usize::from(lot.product)];
        let (supplier, voucher_code) = match &lot.source {
            Source::Outside(i) => match self.world.suppliers[spec.category as usize].get(*i) {
                Some(s) => (
                    Supplier::External {
                        name: s.name.clone(),
                        uscc: Some(s.uscc.clone()),
                        region_code: Some(s.region_code.to_owned()),
                    },
                    None,
                ),
                None => (
                    Supplier::External {
                        name: "外地供货商".to_owned(),
                        uscc: None,
                        region_code: None,
                    },
                    None,
                ),
            },
            Source::Shadow(i) => (
                Supplier::External {
                    name: self
                        .world
                        .shadow_suppliers
                        .get(*i)
                        .cloned()
                        .unwrap_or_else(|| "个人供货".to_owned()),
                    uscc: None,
                    region_code: None,
                },
                None,
            ),
            Source::Voucher { seller, code } => (
                Supplier::Merchant {
                    merchant_id: self.merchant_id(*seller),
                },
                Some(code.clone()),
            ),
        };
        let event = LedgerEvent::Purchase(Purchase {
            entry_id,
            merchant_id: self.merchant_id(lot.merchant),
            product: Product {
                name: spec.name.to_owned(),
                category: spec.category,
                gtin: spec.gtin.clone(),
            },
            quantity: Quantity::new(lot.amount, spec.unit),
            supplier,
            voucher_code,
            trace_code: Some(trace_code.clone()),
            certificates: lot.certs.iter().map(|c| c.to_certificate()).collect(),
            production_date: lot.production,
            expiry_date: lot.expiry,
            unit_price_fen: Some(lot.price),
            received_at: clock::to_datetime(t),
        });
        let role = self
            .world
            .profiles
            .get(lot.merchant as usize)
            .map_or(Role::Catering, |p| p.role);
        if open && role != Role::Catering {
            let batch = self.batches.open(Batch {
                merchant: lot.merchant,
                product: lot.product,
                trace_code,
                received: lot.amount,
                held: lot.amount,
                price: lot.price,
                certs: lot.certs,
                production: lot.production,
                expiry: lot.expiry,
            });
            let at = self.next_step_at(role, lot.product, t, true);
            self.schedule(at, Action::Step(batch));
        }
        event
    }
}
