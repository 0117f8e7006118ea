use std::collections::HashMap;
use std::time::Instant;

use chrono::Utc;

use super::*;
use crate::category::Category;
use crate::codes;
use crate::event::{Buyer, LedgerEvent};
use crate::quantity::BaseUnit;
use crate::rules::LedgerRules;
use crate::store::LocalStore;

/// A short frozen market: the seed-000 shape over fewer days, so tests stay fast.
fn short_frozen(seed: u64, days: u32) -> GenConfig {
    let mut c = GenConfig::frozen_market(seed);
    c.days = days;
    c
}

struct BatchFacts {
    category: Category,
    unit: BaseUnit,
    held: i64,
    expiry: Option<chrono::NaiveDate>,
    vouchers: Vec<String>,
}

/// What a regulator would count in a generated ledger.
#[derive(Default, Debug)]
struct Stats {
    events: u64,
    purchases: u64,
    purchases_missing_certificate: u64,
    sales: u64,
    sales_to_merchants: u64,
    sales_beyond_stock: u64,
    sales_after_expiry: u64,
    priced: u64,
    price_outliers: u64,
    voids: u64,
    disposals: u64,
    adjustments: u64,
    vouchers_unredeemed: u64,
    holders_median: usize,
    holders_p10: usize,
    holders_p90: usize,
    roots: usize,
}

impl Stats {
    fn collect(events: impl Iterator<Item = LedgerEvent>) -> Stats {
        let rules = LedgerRules::builtin();
        let now = Utc::now();
        let mut s = Stats::default();
        let mut batches: HashMap<String, BatchFacts> = HashMap::new();
        let mut voucher_to: HashMap<String, Option<(String, i64)>> = HashMap::new();
        let mut voucher_qty: HashMap<String, i64> = HashMap::new();
        let mut roots = Vec::new();
        let mut prices: HashMap<(Category, BaseUnit), Vec<i64>> = HashMap::new();
        let mut sale_qty: HashMap<uuid::Uuid, (String, i64)> = HashMap::new();
        let mut last = None;
        for e in events {
            s.events += 1;
            let at = e.at();
            if let Some(l) = last {
                assert!(l <= at, "events in time order");
            }
            assert!(at.to_utc() < now, "every time in the past");
            assert_eq!(at.offset().local_minus_utc(), 8 * 3600, "+08:00");
            last = Some(at);
            match e {
                LedgerEvent::Purchase(p) => {
                    s.purchases += 1;
                    if !rules.missing_certificates(&p).is_empty() {
                        s.purchases_missing_certificate += 1;
                    }
                    let code = p
                        .trace_code
                        .clone()
                        .expect("every purchase carries its trace code");
                    match &p.voucher_code {
                        Some(v) => {
                            let q = voucher_qty
                                .get(v)
                                .copied()
                                .expect("voucher issued before it is scanned");
                            assert_eq!(
                                q, p.quantity.amount,
                                "buyer records the voucher's quantity"
                            );
                            let slot = voucher_to.get_mut(v).expect("voucher known");
                            assert!(slot.is_none(), "voucher scanned once");
                            *slot = Some((code.clone(), q));
                        }
                        None => roots.push(code.clone()),
                    }
                    if let Some(price) = p.unit_price_fen {
                        prices
                            .entry((p.product.category, p.quantity.unit))
                            .or_default()
                            .push(price);
                    }
                    batches.insert(
                        code,
                        BatchFacts {
                            category: p.product.category,
                            unit: p.quantity.unit,
                            held: p.quantity.amount,
                            expiry: p.expiry_date,
                            vouchers: Vec::new(),
                        },
                    );
                }
                LedgerEvent::Sale(x) => {
                    s.sales += 1;
                    let b = batches
                        .get_mut(&x.trace_code)
                        .expect("sale from a known batch");
                    assert_eq!(
                        b.unit, x.quantity.unit,
                        "count and mass never mix in a batch"
                    );
                    if x.quantity.amount > b.held {
                        s.sales_beyond_stock += 1;
                    }
                    if b.expiry.is_some_and(|d| x.sold_at.date_naive() > d) {
                        s.sales_after_expiry += 1;
                    }
                    b.held -= x.quantity.amount;
                    if let Some(price) = x.unit_price_fen {
                        prices.entry((b.category, b.unit)).or_default().push(price);
                    }
                    sale_qty.insert(x.entry_id, (x.trace_code.clone(), x.quantity.amount));
                    if let Buyer::Merchant { .. } = x.buyer {
                        s.sales_to_merchants += 1;
                        let v = x
                            .voucher_code
                            .clone()
                            .expect("every sale to a merchant carries a voucher");
                        b.vouchers.push(v.clone());
                        voucher_qty.insert(v.clone(), x.quantity.amount);
                        voucher_to.insert(v, None);
                    } else {
                        assert!(x.voucher_code.is_none());
                    }
                }
                LedgerEvent::Void(v) => {
                    s.voids += 1;
                    assert!(!v.reason.is_empty());
                    if let Some((code, q)) = sale_qty.get(&v.voided_entry_id) {
                        if let Some(b) = batches.get_mut(code) {
                            b.held += q;
                        }
                    }
                }
                LedgerEvent::Adjust(a) => {
                    s.adjustments += 1;
                    if let Some(b) = batches.get_mut(&a.trace_code) {
                        b.held += a.delta.amount;
                    }
                }
                LedgerEvent::Dispose(d) => {
                    s.disposals += 1;
                    if let Some(b) = batches.get_mut(&d.trace_code) {
                        b.held -= d.quantity.amount;
                    }
                }
            }
        }
        s.vouchers_unredeemed = voucher_to.values().filter(|v| v.is_none()).count() as u64;
        for v in prices.values_mut() {
            v.sort_unstable();
            let median = v[v.len() / 2];
            s.priced += v.len() as u64;
            s.price_outliers += v.iter().filter(|p| **p * 10 < median * 4).count() as u64;
        }
        // Downstream holders of each root batch, at any depth.
        let mut holders: Vec<usize> = roots
            .iter()
            .map(|root| {
                let mut stack = vec![root.clone()];
                let mut n = 0;
                while let Some(code) = stack.pop() {
                    for v in batches
                        .get(&code)
                        .map(|b| b.vouchers.as_slice())
                        .unwrap_or_default()
                    {
                        if let Some(Some((child, _))) = voucher_to.get(v) {
                            n += 1;
                            stack.push(child.clone());
                        }
                    }
                }
                n
            })
            .collect();
        holders.sort_unstable();
        s.roots = holders.len();
        if !holders.is_empty() {
            s.holders_median = holders[holders.len() / 2];
            s.holders_p10 = holders[holders.len() / 10];
            s.holders_p90 = holders[holders.len() * 9 / 10];
        }
        s
    }

    fn share(n: u64, of: u64) -> f64 {
        n as f64 / of.max(1) as f64
    }

    fn report(&self) -> String {
        format!(
            "{} events: {} purchases ({:.2}% missing certificate), {} sales ({:.1}% to merchants, {:.2}% beyond stock, {:.2}% past expiry), \
             {:.2}% of {} prices < 40% of median, {} voids, {} disposals, {} adjustments, {} vouchers in transit; \
             {} roots, downstream holders p10/median/p90 = {}/{}/{}",
            self.events,
            self.purchases,
            100.0 * Self::share(self.purchases_missing_certificate, self.purchases),
            self.sales,
            100.0 * Self::share(self.sales_to_merchants, self.sales),
            100.0 * Self::share(self.sales_beyond_stock, self.sales),
            100.0 * Self::share(self.sales_after_expiry, self.sales),
            100.0 * Self::share(self.price_outliers, self.priced),
            self.priced,
            self.voids,
            self.disposals,
            self.adjustments,
            self.vouchers_unredeemed,
            self.roots,
            self.holders_p10,
            self.holders_median,
            self.holders_p90,
        )
    }
}

#[test]
fn same_seed_same_events_other_seed_other_events() {
    let config = short_frozen(42, 20);
    let a: Vec<LedgerEvent> = Generator::new(config.clone()).take(5_000).collect();
    let b: Vec<LedgerEvent> = Generator::new(config.clone()).take(5_000).collect();
    assert_eq!(a.len(), 5_000);
    assert_eq!(a, b);
    let mut other = config;
    other.seed = 43;
    let c: Vec<LedgerEvent> = Generator::new(other).take(5_000).collect();
    assert_ne!(a, c);
}

#[test]
fn registry_codes_are_valid() {
    for config in [GenConfig::frozen_market(1), GenConfig::xiamen(1, 1)] {
        let g = Generator::new(config);
        let markets = g.markets();
        assert!(!markets.is_empty());
        for m in markets {
            codes::validate_region_code(&m.region_code, "region_code").expect("market region");
            assert!(!m.name.is_empty() && !m.address.is_empty());
        }
        let mut expiring = 0;
        for m in g.merchants() {
            let uscc =
                codes::validate_uscc(&m.uscc, "uscc", false).expect("both check characters valid");
            assert!(!uscc.check_mismatch_acknowledged);
            codes::validate_licence(&m.licence_no, "licence_no").expect("JY + 14 digits");
            codes::validate_region_code(&m.region_code, "region_code").expect("GB/T 2260");
            codes::validate_id(&m.id, "id").expect("id");
            assert!(markets.iter().any(|k| k.id == m.market_id));
            assert!(["wholesale", "retail", "catering", "supermarket"].contains(&m.business_type));
            assert!(!m.categories.is_empty() && !m.name.is_empty() && !m.stall.is_empty());
            if m.licence_expiry <= Utc::now().date_naive() + chrono::Duration::days(30) {
                expiring += 1;
            }
        }
        assert!(expiring > 0, "some licences come up for renewal");
    }
    let xiamen = Generator::new(GenConfig::xiamen(1, 1));
    assert_eq!(xiamen.merchants().len(), 81_000);
    assert!(xiamen.markets().len() > 100);
    let frozen = Generator::new(GenConfig::frozen_market(1));
    assert_eq!((frozen.merchants().len(), frozen.markets().len()), (478, 1));
    println!(
        "e.g. {:?}\n     {:?}",
        frozen.markets()[0],
        &frozen.merchants()[..3]
    );
}

#[test]
fn events_survive_the_wire() {
    for e in Generator::new(GenConfig::xiamen(5, 20_000)) {
        let parsed = LedgerEvent::parse(e.kind(), &e.to_wire()).expect("generated events parse");
        assert_eq!(parsed, e);
    }
}

#[test]
fn frozen_market_through_the_store_is_accepted_with_the_expected_warnings() {
    let mut store = LocalStore::open_in_memory().expect("store");
    store.set_authoritative(true);
    let mut n = 0u64;
    for e in Generator::new(short_frozen(7, 21)) {
        let kind = e.kind();
        if let Err(err) = store.record_event(e) {
            panic!("{kind} refused after {n} events: {err:?}");
        }
        n += 1;
    }
    let mut warnings: HashMap<String, i64> = HashMap::new();
    let mut st = store
        .conn()
        .prepare("SELECT code, COUNT(*) FROM warnings GROUP BY code")
        .expect("query");
    let rows = st
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
        .expect("rows");
    for row in rows {
        let (code, count) = row.expect("row");
        warnings.insert(code, count);
    }
    let kinds = |k: &str| -> i64 {
        store
            .conn()
            .query_row("SELECT COUNT(*) FROM entries WHERE kind = ?1", [k], |r| {
                r.get(0)
            })
            .expect("count")
    };
    let (purchases, sales) = (kinds("ledger.purchase"), kinds("ledger.sale"));
    println!("{n} events, {purchases} purchases, {sales} sales, warnings {warnings:?}");
    let share = |code: &str, of: i64| warnings.get(code).copied().unwrap_or(0) as f64 / of as f64;
    assert!(
        (0.01..0.06).contains(&share("missing_certificate", purchases)),
        "~3% of purchases"
    );
    assert!(
        (0.003..0.03).contains(&share("sale_exceeds_stock", sales)),
        "~1% of sales"
    );
    assert!(
        (0.0005..0.02).contains(&share("sold_after_expiry", sales)),
        "~0.5% of sales"
    );
    assert!(
        !warnings.contains_key("voucher_not_yet_known"),
        "every voucher is issued before it is scanned"
    );
}

#[test]
fn frozen_market_shape() {
    let s = Stats::collect(Generator::new(short_frozen(3, 30)));
    println!("frozen market, 30 days: {}", s.report());
    assert!(
        (5..=40).contains(&s.holders_median),
        "a root batch reaches ~5–40 holders"
    );
    assert!(s.voids > 0 && s.disposals > 0 && s.adjustments > 0);
    assert!(s.sales_beyond_stock > 0 && s.sales_after_expiry > 0 && s.price_outliers > 0);
    let outliers = Stats::share(s.price_outliers, s.priced);
    assert!(
        (0.001..0.02).contains(&outliers),
        "~0.5% of prices far under the median"
    );
}

#[test]
fn xiamen_runs_to_its_target_and_reports_its_speed() {
    let target = 300_000;
    let mut g = Generator::new(GenConfig::xiamen(9, target));
    let started = Instant::now();
    let n = g.by_ref().map(std::hint::black_box).count() as u64;
    let secs = started.elapsed().as_secs_f64();
    assert_eq!((n, g.emitted()), (target, target));
    println!(
        "xiamen: {n} events in {secs:.2} s = {:.0} events/s",
        n as f64 / secs
    );
}

#[test]
fn a_run_streams_keeping_only_open_batches() {
    // Over the frozen market's 90 days the working set levels off once the
    // chains are full: it does not grow with the ledger.
    let mut g = Generator::new(GenConfig::frozen_market(11));
    let (mut n, mut at_half, mut peak) = (0u64, 0, 0);
    while g.next().is_some() {
        n += 1;
        if n % 1_000 == 0 {
            peak = peak.max(g.open_batches());
            if n == 200_000 {
                at_half = peak;
            }
        }
    }
    println!(
        "frozen market: {n} events, peak open batches {at_half} by event 200,000, {peak} overall"
    );
    assert!(n > 350_000);
    assert!(peak < at_half * 3 / 2, "the working set levels off");
    assert!((peak as u64) < n / 20);
}
