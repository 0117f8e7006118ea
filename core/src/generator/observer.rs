//! The ledger kinds' ground truth, read off the events as they are emitted
//! (not from the generator's intentions): a merchant is a positive of
//! `sales_beyond_purchases` when one of its sales really took more than the
//! batch held, and so on. A voided entry counts for nothing, as in the
//! ledger. Near misses are merchants that came within a hair: a sale of
//! exactly the stock left, a sale on the expiry day itself, a price within
//! 20 points above the share of the median that flags one.
//!
//! Prices: the reference rule is the warnings config's `price` (one rule
//! for the engine and the truth), over every priced entry of the run: an
//! entry is an outlier when under both `max_share_of_median` × the median
//! and median − `mad_k`·1.4826·MAD of its product's prices (as booked,
//! [`product_key`]; same market, unit and side), or of its category's when
//! the other merchants' entries of the product are too few.

use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDate;
use uuid::Uuid;

use super::truth::{
    thresholds, CaseList, EXPIRED_STOCK_ON_SALE, LICENCE_EXPIRED_TRADING, MISSING_CERTIFICATE,
    PRICE_BELOW_MARKET, SALES_BEYOND_PURCHASES,
};
use crate::category::Category;
use crate::event::LedgerEvent;
use crate::quantity::BaseUnit;
use crate::rules::LedgerRules;
use crate::warnings::stats::{median_mad, MAD_TO_SIGMA};
use crate::warnings::{product_key, Side};

/// Near misses kept per kind where the data offer many (the positives are
/// all kept).
const NEAR_MISSES_PER_KIND: usize = 8;

struct Batch {
    category: Category,
    /// The product key, as the price groups use it.
    product: String,
    unit: BaseUnit,
    held: i64,
    expiry: Option<NaiveDate>,
}

/// A priced entry: what its price is compared with.
struct Priced {
    product: String,
    category: Category,
    unit: BaseUnit,
    side: Side,
    price: i64,
}

/// What one entry says about its merchant.
enum Fact {
    Purchase {
        merchant: u32,
        date: NaiveDate,
        missing: bool,
        needs_papers: bool,
        price: Option<Priced>,
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
        price: Option<Priced>,
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
                let product = product_key(&p.product.name);
                if let Some(code) = &p.trace_code {
                    self.batches.insert(
                        code.clone(),
                        Batch {
                            category: p.product.category,
                            product: product.clone(),
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
                    price: p.unit_price_fen.map(|price| Priced {
                        product,
                        category: p.product.category,
                        unit: p.quantity.unit,
                        side: Side::Purchase,
                        price,
                    }),
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
                    price: x.unit_price_fen.map(|price| Priced {
                        product: b.product.clone(),
                        category: b.category,
                        unit: b.unit,
                        side: Side::Sale,
                        price,
                    }),
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
            /// Entries under the price rule.
            outliers: u32,
            /// Lowest share of its baseline's median: (share, price, median).
            lowest: Option<(f64, i64, f64)>,
        }
        impl Tally {
            fn judge(&mut self, verdict: Option<Verdict>) {
                if let Some(v) = verdict {
                    self.outliers += u32::from(v.outlier);
                    if self.lowest.is_none_or(|l| v.share < l.0) {
                        self.lowest = Some((v.share, v.price, v.median));
                    }
                }
            }
        }
        let mut tally: BTreeMap<u32, Tally> = BTreeMap::new();
        let market_of = |m: u32| {
            self.ids
                .get(m as usize)
                .and_then(|id| self.merchants.get(id))
                .map_or(0, |x| x.1)
        };
        let prices = PriceGroups::new(self.facts.values().filter_map(|f| match f {
            Fact::Purchase {
                merchant,
                price: Some(p),
                ..
            }
            | Fact::Sale {
                merchant,
                price: Some(p),
                ..
            } => Some((*merchant, market_of(*merchant), p)),
            _ => None,
        }));
        for f in self.facts.values() {
            match f {
                Fact::Purchase {
                    merchant,
                    date,
                    missing,
                    needs_papers,
                    price,
                } => {
                    let t = tally.entry(*merchant).or_default();
                    t.missing += u32::from(*missing);
                    t.papered += u32::from(*needs_papers && !*missing);
                    t.last_entry = t.last_entry.max(Some(*date));
                    if let Some(p) = price {
                        t.judge(prices.judge(*merchant, market_of(*merchant), p));
                    }
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
                    if let Some(p) = price {
                        t.judge(prices.judge(*merchant, market_of(*merchant), p));
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
                    "{} 笔价格明显偏低；最低 {price} 分，为基线中位价 {median:.0} 分的 {:.0}%",
                    t.outliers,
                    share * 100.0
                );
                let rule = &thresholds().price;
                if t.outliers as usize >= rule.min_outlying_entries.max(1) {
                    out.merchant(PRICE_BELOW_MARKET, &id(m), true, note);
                } else if share < rule.max_share_of_median + 0.2 {
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

/// One entry's price against its baseline.
struct Verdict {
    outlier: bool,
    share: f64,
    price: i64,
    median: f64,
}

/// (market, product key or "", category, unit, side): the product groups
/// and, with an empty product, the category groups.
type GroupKey = (usize, String, Category, BaseUnit, Side);

/// Every priced entry's group: median, MAD and entries per merchant.
struct PriceGroups {
    groups: HashMap<GroupKey, (f64, f64, HashMap<u32, usize>)>,
}

impl PriceGroups {
    fn new<'a>(entries: impl Iterator<Item = (u32, usize, &'a Priced)>) -> Self {
        let mut raw: HashMap<GroupKey, (Vec<f64>, HashMap<u32, usize>)> = HashMap::new();
        for (merchant, market, p) in entries {
            for product in [p.product.clone(), String::new()] {
                let g = raw
                    .entry((market, product, p.category, p.unit, p.side))
                    .or_default();
                g.0.push(p.price as f64);
                *g.1.entry(merchant).or_default() += 1;
            }
        }
        PriceGroups {
            groups: raw
                .into_iter()
                .filter_map(|(k, (prices, by))| {
                    median_mad(&prices).map(|(median, mad)| (k, (median, mad, by)))
                })
                .collect(),
        }
    }

    /// The entry against its product's group, or its category's when the
    /// other merchants' entries of the product are too few for a baseline.
    fn judge(&self, merchant: u32, market: usize, p: &Priced) -> Option<Verdict> {
        let rule = &thresholds().price;
        let usable = |key: GroupKey| {
            self.groups.get(&key).filter(|(_, _, by)| {
                let own = by.get(&merchant).copied().unwrap_or(0);
                let others: usize = by.values().sum::<usize>() - own;
                let merchants = by.len() - usize::from(own > 0);
                others >= rule.min_baseline_entries && merchants >= rule.min_merchants
            })
        };
        let (median, mad, _) = usable((market, p.product.clone(), p.category, p.unit, p.side))
            .or_else(|| {
                rule.category_fallback
                    .then(|| usable((market, String::new(), p.category, p.unit, p.side)))
                    .flatten()
            })?;
        if *median <= 0.0 {
            return None;
        }
        let price = p.price as f64;
        let threshold =
            (median - rule.mad_k * MAD_TO_SIGMA * mad).min(rule.max_share_of_median * median);
        Some(Verdict {
            outlier: price < threshold,
            share: price / median,
            price: p.price,
            median: *median,
        })
    }
}
