//! Benchmark (not a test) of issue 5's rules at the scale of the seeds:
//! grading 840,000 merchants with their history (Fuzhou, seed 004) and a
//! double random draw over 100,000 merchants.
//!
//! `cargo run --release -p shian-tests --bin bench_field [-- --merchants 840000 --pool 100000]`
//!
//! The facts are made from a seeded RNG with the shapes of a city register:
//! mostly food sellers, some catering, a few categories each, a handful of
//! inspections a year, rare confirmed failures, some complaints and ledger
//! warnings. Times are wall-clock medians of several runs; memory is the
//! process's peak resident set.

use std::time::Instant;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use shian_core::category::Category;
use shian_core::inspection::{
    draw, BusinessType, CategorySet, DrawInput, DrawMerchant, DrawQuota, LedgerFacts,
    LedgerWarningKind, MerchantFacts, RiskAssessment, RiskGrader,
};

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The process's peak resident set, in MiB.
fn peak_rss_mib() -> f64 {
    shian_tests::memory().1 as f64 / (1024.0 * 1024.0)
}

fn facts(rng: &mut ChaCha8Rng) -> MerchantFacts {
    let mut categories = CategorySet::default();
    for _ in 0..rng.random_range(1..4) {
        categories.insert(Category::ALL[rng.random_range(0..Category::ALL.len())]);
    }
    let inspections = rng.random_range(0..4u16);
    let non_compliant = if rng.random_ratio(1, 20) { 1 } else { 0 };
    MerchantFacts {
        business_type: if rng.random_ratio(1, 4) {
            BusinessType::Catering
        } else {
            BusinessType::FoodSales
        },
        area_m2: rng.random_range(5..2_000),
        prepackaged_lines: rng.random_range(0..500),
        on_site_lines: rng.random_range(0..30),
        suppliers: rng.random_range(1..60),
        daily_meals: rng.random_range(0..800),
        categories,
        new_operator: rng.random_ratio(1, 15),
        inspections_non_compliant: non_compliant,
        inspections_basically_compliant: inspections / 2,
        inspections_compliant: inspections - inspections / 2,
        confirmed_test_failures: if rng.random_ratio(1, 100) { 1 } else { 0 },
        complaints: if rng.random_ratio(1, 10) {
            rng.random_range(1..5)
        } else {
            0
        },
        ledger: ledger_facts(rng),
        inspections_this_year: rng.random_range(0..3),
        ..MerchantFacts::default()
    }
}

/// A year of ledger by kind (what the v2 risk rules weigh): one merchant in
/// eight has warnings, spread over the kinds.
fn ledger_facts(rng: &mut ChaCha8Rng) -> LedgerFacts {
    let purchases = rng.random_range(20..2_000);
    let sales = rng.random_range(20..4_000);
    let mut ledger = LedgerFacts {
        entries: purchases + sales,
        purchases,
        sales,
        ..LedgerFacts::default()
    };
    if rng.random_ratio(1, 8) {
        for kind in LedgerWarningKind::ALL {
            if rng.random_ratio(1, 3) {
                ledger.set_warnings(kind, rng.random_range(1..20));
            }
        }
    }
    ledger
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let merchants = arg("--merchants", 840_000);
    let pool_size = arg("--pool", 100_000);
    let runs = arg("--runs", 5);
    let mut rng = ChaCha8Rng::seed_from_u64(4);

    let t = Instant::now();
    let all: Vec<MerchantFacts> = (0..merchants).map(|_| facts(&mut rng)).collect();
    let made = t.elapsed().as_secs_f64();
    let grader = RiskGrader::builtin()?;
    let mut out: Vec<RiskAssessment> = Vec::new();
    let mut times = Vec::new();
    for _ in 0..runs {
        let t = Instant::now();
        grader.grade_all(&all, &mut out);
        times.push(t.elapsed().as_secs_f64());
    }
    let mut by_grade = std::collections::BTreeMap::new();
    for a in &out {
        *by_grade.entry(format!("{:?}", a.grade)).or_insert(0u64) += 1;
    }
    let grade_rss = peak_rss_mib();

    let pool: Vec<DrawMerchant> = out
        .iter()
        .take(pool_size)
        .enumerate()
        .map(|(i, a)| DrawMerchant {
            id: format!("m{i:07}"),
            grade: a.grade,
            region: format!("3501{:02}", 2 + i % 11),
            categories: vec![Category::ALL[i % Category::ALL.len()]],
            last_inspectors: vec![format!("i{:03}", i % 120)],
        })
        .collect();
    let inspectors: Vec<String> = (0..120).map(|i| format!("i{i:03}")).collect();
    let count = (pool.len() / 20) as u64; // about 5 % a year (research/regulation.md §3)
    let mut draw_times = Vec::new();
    let mut tasks = 0;
    for run in 0..runs {
        let input = DrawInput {
            seed: format!("2026-11-22 福州市 第{run}批"),
            pool: pool.clone(),
            inspectors: inspectors.clone(),
            conflicts: Vec::new(),
            region_codes: None,
            categories: None,
            quota: DrawQuota::Count(count),
        };
        let t = Instant::now();
        let output = draw(&input)?;
        draw_times.push(t.elapsed().as_secs_f64());
        tasks = output.tasks.len();
    }

    println!("| what | scale | median | runs | peak RSS |");
    println!("|---|---|---|---|---|");
    println!(
        "| risk grading (static + dynamic, A–D, inspections due) | {merchants} merchants | {:.1} ms ({:.0} ns/merchant) | {runs} | {grade_rss:.0} MiB (facts {:.0} MiB) |",
        median(times.clone()) * 1e3,
        median(times) * 1e9 / merchants as f64,
        (merchants * std::mem::size_of::<MerchantFacts>()) as f64 / 1048576.0,
    );
    println!("| double random draw, 2 inspectors each | {} of {} merchants, 120 inspectors | {:.1} ms | {runs} | {:.0} MiB |", tasks, pool.len(), median(draw_times) * 1e3, peak_rss_mib());
    println!("\ngrades: {by_grade:?}; facts generated in {made:.2} s");
    Ok(())
}
