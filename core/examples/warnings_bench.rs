//! The warnings engine at scale (issue 13's benchmark; not a test).
//!
//! ```text
//! cargo run --release -p shian-core --example warnings_bench -- [EVENTS] [SEED]
//! ```
//!
//! Generates `EVENTS` (default 10,000,000) ledger events of the Xiamen city
//! (`GenConfig::xiamen`: 81,000 businesses, about 150,000 entries a day)
//! and folds them, as they stream, into the facts the engine reads — the
//! priced purchases and sales of the 30-day price window, the ledger rules'
//! warnings (sales beyond a batch's stock, after its expiry, purchases
//! without their certificates), trading after a licence's expiry — with
//! made samples (two a year per merchant, 2 % failing) and complaints.
//! Then the full pass (`warnings::evaluate`, every subject) is timed, and
//! the incremental pass the server runs after a push: one merchant, with
//! its market's price window and the region's sample and complaint
//! windows (what `store/sqlite/alerts.rs` loads for it). Peak RSS is the
//! process's VmHWM.

use std::collections::{HashMap, VecDeque};
use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use shian_core::event::LedgerEvent;
use shian_core::generator::{GenConfig, Generator};
use shian_core::quantity::BaseUnit;
use shian_core::rules::LedgerRules;
use shian_core::warnings::{
    self, ComplaintObservation, Fact, Facts, Kind, LedgerWarningFact, MerchantFacts,
    PriceObservation, SampleObservation, Scope, Side, Thresholds,
};

struct Batch {
    category: shian_core::category::Category,
    product: String,
    unit: BaseUnit,
    held: i64,
    expiry: Option<chrono::NaiveDate>,
}

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let events: u64 = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000_000);
    let seed: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(13);
    let t = Thresholds::builtin();
    let rules = LedgerRules::builtin();
    let started = Instant::now();
    let mut gen = Generator::new(GenConfig::xiamen(seed, events));
    let mut merchants: Vec<MerchantFacts> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut names = HashMap::new();
    for m in gen.merchants() {
        index.insert(m.id.clone(), merchants.len());
        names.insert(m.id.clone(), (m.name.clone(), Some(m.market_id.clone())));
        merchants.push(MerchantFacts {
            id: m.id.clone(),
            name: m.name.clone(),
            market_id: Some(m.market_id.clone()),
            registered_at: DateTime::<Utc>::MIN_UTC,
            licence_expiry: Some(m.licence_expiry),
            trading_after_expiry: Vec::new(),
            ledger_warnings: Vec::new(),
            last_sampled_at: None,
            complaints: Vec::new(),
        });
    }
    let market_of: Vec<String> = gen
        .merchants()
        .iter()
        .map(|m| m.market_id.clone())
        .collect();
    let market_names = gen
        .markets()
        .iter()
        .map(|m| (m.id.clone(), m.name.clone()))
        .collect();

    let mut batches: HashMap<String, Batch> = HashMap::new();
    let mut prices: VecDeque<PriceObservation> = VecDeque::new();
    let mut now = DateTime::<Utc>::MIN_UTC;
    let mut first: Option<DateTime<Utc>> = None;
    let window = Duration::days(t.price.window_days);
    let mut n = 0u64;
    for e in gen.by_ref() {
        n += 1;
        let at = e.at().with_timezone(&Utc);
        now = now.max(at);
        first.get_or_insert(at);
        let Some(&mi) = index.get(e.merchant_id()) else {
            continue;
        };
        let m = &mut merchants[mi];
        let id = e.entry_id().to_string();
        let warn = |code: &str, m: &mut MerchantFacts| {
            m.ledger_warnings.push(LedgerWarningFact {
                code: code.into(),
                entry_id: id.clone(),
                at,
            })
        };
        let traded = matches!(e, LedgerEvent::Purchase(_) | LedgerEvent::Sale(_));
        if traded
            && m.licence_expiry.is_some_and(|x| at.date_naive() > x)
            && m.trading_after_expiry.len() < 200
        {
            m.trading_after_expiry.push(Fact { id: id.clone(), at });
        }
        match &e {
            LedgerEvent::Purchase(p) => {
                if !rules.missing_certificates(p).is_empty() {
                    warn("missing_certificate", m);
                }
                if let Some(code) = &p.trace_code {
                    batches.insert(
                        code.clone(),
                        Batch {
                            category: p.product.category,
                            product: p.product.name.clone(),
                            unit: p.quantity.unit,
                            held: p.quantity.amount,
                            expiry: p.expiry_date,
                        },
                    );
                }
                if let Some(price) = p.unit_price_fen {
                    prices.push_back(PriceObservation {
                        entry_id: id.clone(),
                        merchant_id: m.id.clone(),
                        market_id: market_of[mi].clone(),
                        product: p.product.name.clone(),
                        category: p.product.category,
                        unit: p.quantity.unit,
                        side: Side::Purchase,
                        price_fen: price,
                        at,
                    });
                }
            }
            LedgerEvent::Sale(s) => {
                if let Some(b) = batches.get_mut(&s.trace_code) {
                    if s.quantity.amount > b.held {
                        warn("sale_exceeds_stock", m);
                    }
                    if b.expiry.is_some_and(|x| s.sold_at.date_naive() > x) {
                        warn("sold_after_expiry", m);
                    }
                    b.held -= s.quantity.amount;
                    if let Some(price) = s.unit_price_fen {
                        prices.push_back(PriceObservation {
                            entry_id: id.clone(),
                            merchant_id: m.id.clone(),
                            market_id: market_of[mi].clone(),
                            product: b.product.clone(),
                            category: b.category,
                            unit: b.unit,
                            side: Side::Sale,
                            price_fen: price,
                            at,
                        });
                    }
                }
            }
            LedgerEvent::Dispose(d) => {
                if let Some(b) = batches.get_mut(&d.trace_code) {
                    b.held -= d.quantity.amount;
                }
            }
            _ => {}
        }
        while prices.front().is_some_and(|o| o.at < now - window) {
            prices.pop_front();
        }
    }
    let ledger_from = now - Duration::days(t.ledger.window_days);
    for m in &mut merchants {
        m.ledger_warnings.retain(|w| w.at >= ledger_from);
        m.registered_at = first.unwrap_or(now) - Duration::days(3 * 365);
    }
    // Made samples and complaints (the generator makes ledgers only).
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut samples = Vec::new();
    let mut complaints = Vec::new();
    for (i, m) in merchants.iter_mut().enumerate() {
        for k in 0..rng.random_range(0..4u32) {
            let at = now - Duration::days(rng.random_range(0..365));
            m.last_sampled_at = Some(m.last_sampled_at.map_or(at, |l: DateTime<Utc>| l.max(at)));
            samples.push(SampleObservation {
                id: format!("s{i}-{k}"),
                merchant_id: m.id.clone(),
                market_id: m.market_id.clone(),
                category: None,
                at,
                failed: rng.random_ratio(1, 50),
                confirmation: false,
            });
        }
        if rng.random_ratio(1, 20) {
            for k in 0..rng.random_range(1..4u32) {
                let at = now - Duration::days(rng.random_range(0..35));
                let id = format!("c{i}-{k}");
                if at >= now - Duration::days(t.complaints.window_days) {
                    m.complaints.push(Fact { id: id.clone(), at });
                }
                complaints.push(ComplaintObservation {
                    id,
                    merchant_id: m.id.clone(),
                    category: None,
                    product: None,
                    at,
                });
            }
        }
    }
    let facts = Facts {
        merchants,
        prices: prices.into_iter().collect(),
        samples,
        complaints,
        merchant_names: names,
        market_names,
    };
    let folded = started.elapsed();
    println!(
        "facts: {n} events folded in {:.1} s ({:.2} µs/event): {} merchants, {} priced entries in the {}-day window, {} ledger warnings, {} samples, {} complaints",
        folded.as_secs_f64(),
        folded.as_secs_f64() * 1e6 / n.max(1) as f64,
        facts.merchants.len(),
        facts.prices.len(),
        t.price.window_days,
        facts.merchants.iter().map(|m| m.ledger_warnings.len()).sum::<usize>(),
        facts.samples.len(),
        facts.complaints.len(),
    );

    let pass = Instant::now();
    let all = warnings::evaluate(t, &facts, now, Scope::All);
    let full = pass.elapsed();
    let mut by_kind: HashMap<Kind, usize> = HashMap::new();
    for c in &all {
        *by_kind.entry(c.kind).or_default() += 1;
    }
    println!(
        "full pass: {} candidates in {:.3} s",
        all.len(),
        full.as_secs_f64()
    );
    for k in Kind::ALL {
        println!(
            "  {:<26} {}",
            k.as_str(),
            by_kind.get(&k).copied().unwrap_or(0)
        );
    }

    // The incremental pass after a push: one merchant's facts with its
    // market's price window and the region's sample and complaint windows.
    let mut by_market: HashMap<&str, Vec<PriceObservation>> = HashMap::new();
    for o in &facts.prices {
        by_market
            .entry(o.market_id.as_str())
            .or_default()
            .push(o.clone());
    }
    let probes = 200;
    let mut spent = std::time::Duration::ZERO;
    let mut raised = 0;
    for _ in 0..probes {
        let m = &facts.merchants[rng.random_range(0..facts.merchants.len())];
        let one = Facts {
            merchants: vec![m.clone()],
            prices: m
                .market_id
                .as_deref()
                .and_then(|k| by_market.get(k))
                .cloned()
                .unwrap_or_default(),
            samples: facts.samples.clone(),
            complaints: facts.complaints.clone(),
            merchant_names: [(m.id.clone(), (m.name.clone(), m.market_id.clone()))].into(),
            market_names: facts.market_names.clone(),
        };
        let t0 = Instant::now();
        raised += warnings::evaluate(t, &one, now, Scope::Merchant(&m.id)).len();
        spent += t0.elapsed();
    }
    println!(
        "incremental: {:.0} µs per merchant evaluated (mean of {probes}; {raised} candidates), its facts in memory",
        spent.as_secs_f64() * 1e6 / f64::from(probes)
    );
    println!("peak RSS: {:.0} MiB", peak_rss_mib());
}
