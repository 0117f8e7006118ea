//! The ledger kinds' ground truth, read off the events as they are emitted
//! (not from the generator's intentions): a merchant is a positive of
//! `sales_beyond_purchases` when one of its sales really took more than the
//! batch held, and so on. A voided entry counts for nothing, as in the
//! ledger. Near misses are merchants that came within a hair: a sale of
//! exactly the stock left, a sale on the expiry day itself, a price at
//! 50–70 % of the median.

use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDate;
use uuid::Uuid;

use super::truth::{
    CaseList, EXPIRED_STOCK_ON_SALE, LICENCE_EXPIRED_TRADING, MISSING_CERTIFICATE,
    PRICE_BELOW_MARKET, PRICE_SHARE_OF_MEDIAN, SALES_BEYOND_PURCHASES,
};
use crate::category::Category;
use crate::event::LedgerEvent;
use crate::quantity::BaseUnit;
use crate::rules::LedgerRules;

/// Near misses kept per kind where the data offer many (the positives are
/// all kept).
const NEAR_MISSES_PER_KIND: usize = 8;

struct Batch {
    category: Category,
    unit: BaseUnit,
    held: i64,
    expiry: Option<NaiveDate>,
}

/// What one entry says about its merchant.
enum Fact {
    Purchase {
        merchant: u32,
        date: NaiveDate,
        missing: bool,
        needs_papers: bool,
    },
    Sale {
        merchant: u32,
        date: NaiveDate,
        trace_code: String,
        quantity: i64,
        beyond: bool,
        emptied: bool,
        after_expiry: bool,
        on_expiry_day: bool,
        /// (category, unit, unit price in fen)
        price: Option<(Category, BaseUnit, i64)>,
    },
}

/// Watches emitted events.
pub(crate) struct Observer {
    rules: LedgerRules,
    /// Merchant id → index, market index, licence expiry.
    merchants: HashMap<String, (u32, usize, NaiveDate)>,
    ids: Vec<String>,
    discounters: Vec<u32>,
    batches: HashMap<String, Batch>,
    facts: HashMap<Uuid, Fact>,
}

impl Observer {
    pub fn new(
        merchants: impl Iterator<Item = (String, usize, NaiveDate)>,
        discounters: Vec<u32>,
    ) -> Self {
        let mut map = HashMap::new();
        let mut ids = Vec::new();
        for (i, (id, market, expiry)) in merchants.enumerate() {
            map.insert(id.clone(), (i as u32, market, expiry));
            ids.push(id);
        }
        Observer {
            rules: LedgerRules::builtin(),
            merchants: map,
            ids,
            discounters,
            batches: HashMap::new(),
            facts: HashMap::new(),
        }
    }

    fn merchant(&self, id: &str) -> Option<u32> {
        self.merchants.get(id).map(|m| m.0)
    }

    pub fn observe(&mut self, e: &LedgerEvent) {
        match e {
            LedgerEvent::Purchase(p) => {
                let Some(m) = self.merchant(&p.merchant_id) else {
                    return;
                };
                if let Some(code) = &p.trace_code {
                    self.batches.insert(
                        code.clone(),
                        Batch {
                            category: p.product.category,
                            unit: p.quantity.unit,
                            held: p.quantity.amount,
                            expiry: p.expiry_date,
                        },
                    );
                }
                let fact = Fact::Purchase {
                    merchant: m,
                    date: p.received_at.date_naive(),
                    missing: !self.rules.missing_certificates(p).is_empty(),
                    needs_papers: self
                        .rules
                        .required_certificates
                        .contains_key(&p.product.category),
                };
                self.facts.insert(p.entry_id, fact);
            }
            LedgerEvent::Sale(x) => {
                let Some(m) = self.merchant(&x.merchant_id) else {
                    return;
                };
                let Some(b) = self.batches.get_mut(&x.trace_code) else {
                    return;
                };
                let date = x.sold_at.date_naive();
                let q = x.quantity.amount;
                let fact = Fact::Sale {
                    merchant: m,
                    date,
                    trace_code: x.trace_code.clone(),
                    quantity: q,
                    beyond: q > b.held,
                    emptied: q == b.held,
                    after_expiry: b.expiry.is_some_and(|d| date > d),
                    on_expiry_day: b.expiry == Some(date),
                    price: x.unit_price_fen.map(|p| (b.category, b.unit, p)),
                };
                b.held -= q;
                self.facts.insert(x.entry_id, fact);
            }
            LedgerEvent::Void(v) => {
                if let Some(Fact::Sale {
                    trace_code,
                    quantity,
                    ..
                }) = self.facts.remove(&v.voided_entry_id)
                {
                    if let Some(b) = self.batches.get_mut(&trace_code) {
                        b.held += quantity;
                    }
                }
            }
            LedgerEvent::Adjust(a) => {
                if let Some(b) = self.batches.get_mut(&a.trace_code) {
                    b.held += a.delta.amount;
                }
            }
            LedgerEvent::Dispose(d) => {
                if let Some(b) = self.batches.get_mut(&d.trace_code) {
                    b.held -= d.quantity.amount;
                }
            }
        }
    }

    /// The ledger kinds' cases, and licence_expired_trading's (the lapsed
    /// licences as of `today`).
    pub fn cases(&self, today: NaiveDate, out: &mut CaseList) {
        #[derive(Default)]
        struct Tally {
            beyond: u32,
            emptied: u32,
            after_expiry: u32,
            on_expiry_day: u32,
            missing: u32,
            papered: u32,
            last_entry: Option<NaiveDate>,
            /// Lowest share of the median, with the price and the median.
            lowest: Option<(f64, i64, i64)>,
        }
        let mut tally: BTreeMap<u32, Tally> = BTreeMap::new();
        let mut prices: HashMap<(usize, Category, BaseUnit), Vec<i64>> = HashMap::new();
        let market_of = |m: u32| {
            self.ids
                .get(m as usize)
                .and_then(|id| self.merchants.get(id))
                .map_or(0, |x| x.1)
        };
        for f in self.facts.values() {
            if let Fact::Sale {
                merchant,
                price: Some((c, u, p)),
                ..
            } = f
            {
                prices
                    .entry((market_of(*merchant), *c, *u))
                    .or_default()
                    .push(*p);
            }
        }
        let medians: HashMap<(usize, Category, BaseUnit), i64> = prices
            .into_iter()
            .map(|(k, mut v)| {
                v.sort_unstable();
                (k, v[v.len() / 2])
            })
            .collect();
        for f in self.facts.values() {
            match f {
                Fact::Purchase {
                    merchant,
                    date,
                    missing,
                    needs_papers,
                } => {
                    let t = tally.entry(*merchant).or_default();
                    t.missing += u32::from(*missing);
                    t.papered += u32::from(*needs_papers && !*missing);
                    t.last_entry = t.last_entry.max(Some(*date));
                }
                Fact::Sale {
                    merchant,
                    date,
                    beyond,
                    emptied,
                    after_expiry,
                    on_expiry_day,
                    price,
                    ..
                } => {
                    let t = tally.entry(*merchant).or_default();
                    t.beyond += u32::from(*beyond);
                    t.emptied += u32::from(*emptied);
                    t.after_expiry += u32::from(*after_expiry);
                    t.on_expiry_day += u32::from(*on_expiry_day);
                    t.last_entry = t.last_entry.max(Some(*date));
                    if let Some((c, u, p)) = price {
                        let median = medians
                            .get(&(market_of(*merchant), *c, *u))
                            .copied()
                            .unwrap_or(0);
                        if median > 0 {
                            let share = *p as f64 / median as f64;
                            if t.lowest.is_none_or(|l| share < l.0) {
                                t.lowest = Some((share, *p, median));
                            }
                        }
                    }
                }
            }
        }

        let id = |m: &u32| self.ids.get(*m as usize).cloned().unwrap_or_default();
        let near = |kind: &str, list: Vec<(u32, String)>, out: &mut CaseList| {
            for (m, note) in list.into_iter().take(NEAR_MISSES_PER_KIND) {
                out.merchant(kind, &id(&m), false, note);
            }
        };
        let mut near_beyond = Vec::new();
        let mut near_expiry = Vec::new();
        let mut near_papers = Vec::new();
        let mut near_price = Vec::new();
        for (m, t) in &tally {
            if t.beyond > 0 {
                out.merchant(
                    SALES_BEYOND_PURCHASES,
                    &id(m),
                    true,
                    format!("{} 笔销售超过批次库存", t.beyond),
                );
            } else if t.emptied > 0 {
                near_beyond.push((*m, format!("{} 笔销售恰好售完批次库存，未超出", t.emptied)));
            }
            if t.after_expiry > 0 {
                out.merchant(
                    EXPIRED_STOCK_ON_SALE,
                    &id(m),
                    true,
                    format!("{} 笔销售晚于保质期", t.after_expiry),
                );
            } else if t.on_expiry_day > 0 {
                near_expiry.push((
                    *m,
                    format!("{} 笔销售在保质期最后一天，未过期", t.on_expiry_day),
                ));
            }
            if t.missing > 0 {
                out.merchant(
                    MISSING_CERTIFICATE,
                    &id(m),
                    true,
                    format!("{} 笔进货缺少所需票证", t.missing),
                );
            } else if t.papered >= 3 {
                near_papers.push((*m, format!("{} 笔需票证的进货，票证齐全", t.papered)));
            }
            if let Some((share, price, median)) = t.lowest {
                let note = format!(
                    "最低售价 {price} 分，为品类中位价 {median} 分的 {:.0}%",
                    share * 100.0
                );
                if share < PRICE_SHARE_OF_MEDIAN {
                    out.merchant(PRICE_BELOW_MARKET, &id(m), true, note);
                } else if (0.5..0.7).contains(&share) {
                    // Discount sellers first: they are the planted near misses.
                    let rank = if self.discounters.contains(m) { 0 } else { 1 };
                    near_price.push((rank, *m, note));
                }
            }
        }
        near(SALES_BEYOND_PURCHASES, near_beyond, out);
        near(EXPIRED_STOCK_ON_SALE, near_expiry, out);
        near(MISSING_CERTIFICATE, near_papers, out);
        near_price.sort();
        near(
            PRICE_BELOW_MARKET,
            near_price.into_iter().map(|(_, m, n)| (m, n)).collect(),
            out,
        );

        // Lapsed licences: trading after the expiry, or not.
        let mut lapsed: Vec<(&String, &(u32, usize, NaiveDate))> =
            self.merchants.iter().filter(|(_, x)| x.2 < today).collect();
        lapsed.sort();
        for (mid, (m, _, expiry)) in lapsed {
            let last = tally.get(m).and_then(|t| t.last_entry);
            match last {
                Some(d) if d > *expiry => out.merchant(
                    LICENCE_EXPIRED_TRADING,
                    mid,
                    true,
                    format!("许可证 {expiry} 到期，{d} 仍有台账记录"),
                ),
                _ => out.merchant(
                    LICENCE_EXPIRED_TRADING,
                    mid,
                    false,
                    format!("许可证 {expiry} 到期，此后无台账记录（已停业）"),
                ),
            }
        }
    }
}
