//! The double random draw (双随机、一公开) as a pure, re-runnable function.
//!
//! Objects and inspectors are both drawn at random, results are published
//! (regulation.md §3); every inspection has at least two inspectors, and an
//! inspector with a declared conflict recuses (回避). The seed is published
//! before the draw, so anyone holding the published inputs re-runs this
//! function and gets the same list: the algorithm below is fixed and versioned
//! ([`ALGORITHM`]), and does not depend on `rand`'s internal sampling methods
//! (which may change between releases), only on the ChaCha20 keystream.
//!
//! Algorithm `shian-draw-v1`:
//! 1. Pool: drop merchants outside `region_codes` (GB/T 2260; `350000` matches
//!    the province, `350200` the prefecture, else exact) or without any of
//!    `categories`; sort by id. Inspectors: sorted, de-duplicated.
//! 2. RNG: `ChaCha20Rng::from_seed(SHA-256("shian-draw-v1\0" ‖ seed))`. The
//!    published `seed_hash` is plain `SHA-256(seed)`; the domain prefix keeps
//!    a published hash from revealing the draw before the seed itself is.
//!    `uniform(n)`: draw `u64`s, reject those ≥ 2⁶⁴ − (2⁶⁴ mod n), return `x mod n`.
//! 3. Quotas per grade: `per_grade` as given; for `count`, proportional to
//!    stratum sizes by largest remainder (ties to the higher-risk grade).
//! 4. For A, B, C, D in turn: partial Fisher–Yates on the sorted stratum
//!    (for i in 0..k: swap(i, i + uniform(n − i))); the first k are drawn.
//! 5. For each drawn merchant in order: eligible = inspectors without a conflict
//!    with it; preferred = eligible minus its `last_inspectors`. Two from
//!    preferred if it has two; else its one plus one of the rest of eligible;
//!    else two of eligible. Two from a list: `a = uniform(n)`,
//!    `b = uniform(n − 1)`, `b += 1 if b ≥ a`. The pair is listed sorted.

use std::collections::{BTreeMap, HashSet};

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::error::InspectionError;
use super::risk::RiskGrade;
use crate::category::Category;

/// The algorithm identifier published with every draw.
pub const ALGORITHM: &str = "shian-draw-v1";

/// A merchant in the pool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DrawMerchant {
    pub id: String,
    pub grade: RiskGrade,
    /// GB/T 2260 code of its county.
    #[serde(default)]
    pub region: String,
    /// Ledger categories it trades.
    #[serde(default)]
    pub categories: Vec<Category>,
    /// Who inspected it last time (avoided where possible).
    #[serde(default)]
    pub last_inspectors: Vec<String>,
}

/// A declared conflict: the inspector must not inspect the merchant.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DrawConflict {
    pub inspector: String,
    pub merchant: String,
}

/// How many merchants to draw.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DrawQuota {
    /// In total, spread over the grades in proportion to their sizes.
    Count(u64),
    /// Per grade.
    PerGrade(BTreeMap<RiskGrade, u64>),
}

/// Everything the draw depends on (publish it, with the output).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DrawInput {
    pub seed: String,
    pub pool: Vec<DrawMerchant>,
    pub inspectors: Vec<String>,
    #[serde(default)]
    pub conflicts: Vec<DrawConflict>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region_codes: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub categories: Option<Vec<Category>>,
    /// `{"count": n}` or `{"per_grade": {"A": n, …}}`.
    #[serde(flatten)]
    pub quota: DrawQuota,
}

/// One drawn inspection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DrawTask {
    pub merchant_id: String,
    pub grade: RiskGrade,
    pub inspectors: [String; 2],
}

/// The result of a draw.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DrawOutput {
    pub algorithm: String,
    /// SHA-256 of the seed, lowercase hex.
    pub seed_hash: String,
    /// Merchants in the pool after the filters.
    pub pool_size: u64,
    pub tasks: Vec<DrawTask>,
}

/// Lowercase hex SHA-256 of a string.
pub fn sha256_hex(s: &str) -> String {
    let d = Sha256::digest(s.as_bytes());
    let mut out = String::with_capacity(64);
    for b in d {
        out.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
        out.push(char::from(b"0123456789abcdef"[usize::from(b & 15)]));
    }
    out
}

fn rng_for(seed: &str) -> ChaCha20Rng {
    let mut h = Sha256::new();
    h.update(ALGORITHM.as_bytes());
    h.update([0u8]);
    h.update(seed.as_bytes());
    ChaCha20Rng::from_seed(h.finalize().into())
}

/// Unbiased integer in `0..n` (`n ≥ 1`) by rejection.
fn uniform(rng: &mut ChaCha20Rng, n: usize) -> usize {
    let n = n as u64;
    let rem = (u64::MAX % n + 1) % n; // 2^64 mod n
    loop {
        let x = rng.next_u64();
        if rem == 0 || x < 0u64.wrapping_sub(rem) {
            return (x % n) as usize;
        }
    }
}

fn pick_two(rng: &mut ChaCha20Rng, n: usize) -> (usize, usize) {
    let a = uniform(rng, n);
    let mut b = uniform(rng, n - 1);
    if b >= a {
        b += 1;
    }
    (a, b)
}

/// GB/T 2260 prefix match: `xx0000` a province, `xxxx00` a prefecture.
fn region_matches(filter: &str, region: &str) -> bool {
    let f = filter.trim();
    if f.len() == 6 && f.bytes().all(|b| b.is_ascii_digit()) {
        if let Some(p) = f.strip_suffix("0000") {
            return region.starts_with(p);
        }
        if let Some(p) = f.strip_suffix("00") {
            return region.starts_with(p);
        }
    }
    region == f
}

/// Runs the draw. Same input (in any order) → same output.
pub fn draw(input: &DrawInput) -> Result<DrawOutput, InspectionError> {
    if input.seed.trim().is_empty() {
        return Err(InspectionError::MissingField {
            field: "seed".into(),
        });
    }
    // Pool: filter, sort, reject duplicates.
    let mut pool: Vec<&DrawMerchant> = input
        .pool
        .iter()
        .filter(|m| match &input.region_codes {
            Some(rs) => rs.iter().any(|r| region_matches(r, &m.region)),
            None => true,
        })
        .filter(|m| match &input.categories {
            Some(cs) => m.categories.iter().any(|c| cs.contains(c)),
            None => true,
        })
        .collect();
    pool.sort_by(|a, b| a.id.cmp(&b.id));
    if let Some(w) = pool.windows(2).find(|w| w[0].id == w[1].id) {
        return Err(InspectionError::InvalidField {
            field: "pool".into(),
            reason: format!("检查对象 {} 重复", w[0].id),
        });
    }

    let mut inspectors: Vec<&str> = input
        .inspectors
        .iter()
        .map(String::as_str)
        .filter(|s| !s.trim().is_empty())
        .collect();
    inspectors.sort_unstable();
    inspectors.dedup();
    if inspectors.len() < 2 {
        return Err(InspectionError::NotEnoughInspectors {
            merchant_id: None,
            eligible: inspectors.len(),
        });
    }

    // Strata and quotas.
    let mut strata: [Vec<&DrawMerchant>; 4] = Default::default();
    for m in &pool {
        strata[m.grade as usize].push(m);
    }
    let quotas = quotas(&input.quota, &strata, pool.len())?;

    let conflicts: HashSet<(&str, &str)> = input
        .conflicts
        .iter()
        .map(|c| (c.inspector.as_str(), c.merchant.as_str()))
        .collect();

    let mut rng = rng_for(&input.seed);
    let mut drawn: Vec<&DrawMerchant> = Vec::with_capacity(quotas.iter().sum::<u64>() as usize);
    for (stratum, &k) in strata.iter_mut().zip(quotas.iter()) {
        let n = stratum.len();
        let k = k as usize; // ≤ n, checked in `quotas`
        for i in 0..k {
            let j = i + uniform(&mut rng, n - i);
            stratum.swap(i, j);
        }
        drawn.extend_from_slice(&stratum[..k]);
    }

    let mut tasks = Vec::with_capacity(drawn.len());
    let mut eligible: Vec<&str> = Vec::with_capacity(inspectors.len());
    let mut preferred: Vec<&str> = Vec::with_capacity(inspectors.len());
    let mut rest: Vec<&str> = Vec::with_capacity(inspectors.len());
    for m in drawn {
        eligible.clear();
        preferred.clear();
        rest.clear();
        for &i in &inspectors {
            if conflicts.contains(&(i, m.id.as_str())) {
                continue;
            }
            eligible.push(i);
            if m.last_inspectors.iter().any(|l| l == i) {
                rest.push(i);
            } else {
                preferred.push(i);
            }
        }
        if eligible.len() < 2 {
            return Err(InspectionError::NotEnoughInspectors {
                merchant_id: Some(m.id.clone()),
                eligible: eligible.len(),
            });
        }
        let (a, b) = if preferred.len() >= 2 {
            let (x, y) = pick_two(&mut rng, preferred.len());
            (preferred[x], preferred[y])
        } else if preferred.len() == 1 {
            (preferred[0], rest[uniform(&mut rng, rest.len())])
        } else {
            let (x, y) = pick_two(&mut rng, eligible.len());
            (eligible[x], eligible[y])
        };
        let (a, b) = if a <= b { (a, b) } else { (b, a) };
        tasks.push(DrawTask {
            merchant_id: m.id.clone(),
            grade: m.grade,
            inspectors: [a.to_string(), b.to_string()],
        });
    }

    Ok(DrawOutput {
        algorithm: ALGORITHM.to_string(),
        seed_hash: sha256_hex(&input.seed),
        pool_size: pool.len() as u64,
        tasks,
    })
}

fn quotas(
    quota: &DrawQuota,
    strata: &[Vec<&DrawMerchant>; 4],
    total: usize,
) -> Result<[u64; 4], InspectionError> {
    let sizes: [u64; 4] = [0, 1, 2, 3].map(|g| strata[g].len() as u64);
    match quota {
        DrawQuota::PerGrade(map) => {
            let mut q = [0u64; 4];
            for (g, &k) in map {
                let gi = *g as usize;
                if k > sizes[gi] {
                    return Err(InspectionError::DrawExceedsPool {
                        field: format!("per_grade.{}", g.as_str()),
                        requested: k,
                        available: sizes[gi],
                    });
                }
                q[gi] = k;
            }
            Ok(q)
        }
        DrawQuota::Count(n) => {
            let (n, p) = (*n, total as u64);
            if n > p {
                return Err(InspectionError::DrawExceedsPool {
                    field: "count".into(),
                    requested: n,
                    available: p,
                });
            }
            if n == 0 {
                return Ok([0; 4]);
            }
            let mut q = [0u64; 4];
            let mut rems = [(0u128, 0usize); 4];
            let mut given = 0u64;
            for g in 0..4 {
                let prod = u128::from(n) * u128::from(sizes[g]);
                q[g] = (prod / u128::from(p)) as u64;
                rems[g] = (prod % u128::from(p), g);
                given += q[g];
            }
            // Largest remainder first; ties to the higher-risk grade (D before A).
            rems.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.cmp(&a.1)));
            for &(r, g) in rems.iter().take((n - given) as usize) {
                if r > 0 {
                    q[g] += 1;
                }
            }
            Ok(q)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(n: usize) -> Vec<DrawMerchant> {
        (0..n)
            .map(|i| DrawMerchant {
                id: format!("m{i:04}"),
                grade: RiskGrade::ALL[i % 4],
                region: if i % 2 == 0 {
                    "350203".into()
                } else {
                    "350102".into()
                },
                categories: vec![if i % 3 == 0 {
                    Category::Aquatic
                } else {
                    Category::Vegetable
                }],
                last_inspectors: vec![],
            })
            .collect()
    }

    fn input(seed: &str, count: u64) -> DrawInput {
        DrawInput {
            seed: seed.into(),
            pool: pool(40),
            inspectors: (0..6).map(|i| format!("u{i}")).collect(),
            conflicts: vec![],
            region_codes: None,
            categories: None,
            quota: DrawQuota::Count(count),
        }
    }

    fn run(i: &DrawInput) -> DrawOutput {
        match draw(i) {
            Ok(o) => o,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn same_seed_same_tasks_other_seed_different() {
        let a = run(&input("2024-05-20 厦门市市场监管局 第3批", 12));
        let b = run(&input("2024-05-20 厦门市市场监管局 第3批", 12));
        let c = run(&input("2024-05-20 厦门市市场监管局 第4批", 12));
        assert_eq!(a, b);
        assert_ne!(a.tasks, c.tasks);
        assert_eq!(a.tasks.len(), 12);
        assert_eq!(a.seed_hash, sha256_hex("2024-05-20 厦门市市场监管局 第3批"));
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        for t in &a.tasks {
            assert_ne!(t.inspectors[0], t.inspectors[1]);
        }
        let ids: HashSet<&str> = a.tasks.iter().map(|t| t.merchant_id.as_str()).collect();
        assert_eq!(ids.len(), 12);
    }

    #[test]
    fn input_order_does_not_matter() {
        let a = run(&input("seed", 10));
        let mut i = input("seed", 10);
        i.pool.reverse();
        i.inspectors.reverse();
        i.inspectors.push("u3".into()); // a duplicate is ignored
        let b = run(&i);
        assert_eq!(a, b);
    }

    #[test]
    fn stratified_by_grade() {
        let o = run(&input("s", 8)); // 10 per grade → 2 per grade
        for g in RiskGrade::ALL {
            assert_eq!(o.tasks.iter().filter(|t| t.grade == g).count(), 2);
        }
        let mut i = input("s", 0);
        i.quota = DrawQuota::PerGrade([(RiskGrade::D, 5), (RiskGrade::A, 1)].into_iter().collect());
        let o = run(&i);
        assert_eq!(
            o.tasks.iter().filter(|t| t.grade == RiskGrade::D).count(),
            5
        );
        assert_eq!(o.tasks.len(), 6);
        i.quota = DrawQuota::PerGrade([(RiskGrade::C, 11)].into_iter().collect());
        let e = draw(&i).err();
        assert_eq!(e.as_ref().map(|e| e.code()), Some("draw_exceeds_pool"));
        assert_eq!(e.as_ref().and_then(|e| e.field()), Some("per_grade.C"));
        // 7 of 40 with 10 per grade: 1.75 each → 1,2,2,2 (ties go to riskier grades).
        let o = run(&input("s", 7));
        let per: Vec<usize> = RiskGrade::ALL
            .iter()
            .map(|g| o.tasks.iter().filter(|t| t.grade == *g).count())
            .collect();
        assert_eq!(per, vec![1, 2, 2, 2]);
    }

    #[test]
    fn count_larger_than_pool_and_too_few_inspectors() {
        assert_eq!(
            draw(&input("s", 41)).err().map(|e| e.code()),
            Some("draw_exceeds_pool")
        );
        assert_eq!(run(&input("s", 40)).tasks.len(), 40);
        let mut i = input("s", 3);
        i.inspectors = vec!["u1".into()];
        assert_eq!(
            draw(&i).err().map(|e| e.code()),
            Some("not_enough_inspectors")
        );
        i.inspectors = vec!["u1".into(), "u1".into()];
        assert_eq!(
            draw(&i).err().map(|e| e.code()),
            Some("not_enough_inspectors")
        );
        let mut i = input("", 3);
        i.seed = " ".into();
        assert_eq!(draw(&i).err().map(|e| e.code()), Some("missing_field"));
    }

    #[test]
    fn conflicts_are_never_assigned() {
        let mut i = input("conflicts", 40);
        i.inspectors = vec!["u1".into(), "u2".into(), "u3".into()];
        for m in &i.pool {
            i.conflicts.push(DrawConflict {
                inspector: "u1".into(),
                merchant: m.id.clone(),
            });
        }
        let o = run(&i);
        assert!(o
            .tasks
            .iter()
            .all(|t| t.inspectors == ["u2".to_string(), "u3".to_string()]));
        // One more conflict leaves one merchant with a single eligible inspector.
        i.conflicts.push(DrawConflict {
            inspector: "u2".into(),
            merchant: "m0005".into(),
        });
        let e = draw(&i).err();
        assert!(
            matches!(e, Some(InspectionError::NotEnoughInspectors { merchant_id: Some(ref m), eligible: 1 }) if m == "m0005")
        );
    }

    #[test]
    fn last_inspectors_avoided_when_possible() {
        let mut i = input("last", 40);
        i.inspectors = vec!["u1".into(), "u2".into(), "u3".into(), "u4".into()];
        for m in &mut i.pool {
            m.last_inspectors = vec!["u1".into(), "u2".into()];
        }
        let o = run(&i);
        assert!(o
            .tasks
            .iter()
            .all(|t| t.inspectors == ["u3".to_string(), "u4".to_string()]));
        // Only one fresh inspector: it is always used, plus one of the others.
        for m in &mut i.pool {
            m.last_inspectors = vec!["u1".into(), "u2".into(), "u3".into()];
        }
        let o = run(&i);
        assert!(o
            .tasks
            .iter()
            .all(|t| t.inspectors.contains(&"u4".to_string())));
        // Unavoidable: only the last two are eligible.
        i.inspectors = vec!["u1".into(), "u2".into()];
        assert_eq!(run(&i).tasks.len(), 40);
    }

    #[test]
    fn filters_by_region_and_category() {
        let mut i = input("f", 0);
        i.region_codes = Some(vec!["350200".into()]); // 厦门市: 350203 only
        i.quota = DrawQuota::Count(20);
        let o = run(&i);
        assert_eq!(o.pool_size, 20);
        assert!(o.tasks.iter().all(|t| {
            let n: usize = t.merchant_id[1..].parse().unwrap_or(1);
            n & 1 == 0
        }));
        i.region_codes = Some(vec!["350000".into()]);
        i.categories = Some(vec![Category::Aquatic]);
        i.quota = DrawQuota::Count(1);
        assert_eq!(run(&i).pool_size, 14);
    }

    #[test]
    fn duplicate_pool_ids_rejected_and_serde_shape() {
        let mut i = input("d", 1);
        let dup = i.pool[0].clone();
        i.pool.push(dup);
        assert_eq!(draw(&i).err().map(|e| e.code()), Some("invalid_field"));
        let json = serde_json::json!({
            "seed": "x", "inspectors": ["a", "b"],
            "pool": [{"id": "m1", "grade": "C"}],
            "per_grade": {"C": 1}
        });
        let parsed: Result<DrawInput, _> = serde_json::from_value(json);
        let Ok(parsed) = parsed else {
            panic!("{parsed:?}")
        };
        let o = run(&parsed);
        assert_eq!(o.tasks[0].inspectors, ["a".to_string(), "b".to_string()]);
        let v = serde_json::to_value(input("x", 2)).unwrap_or_default();
        assert_eq!(v["count"], serde_json::json!(2));
    }

    #[test]
    fn uniform_is_in_range() {
        let mut rng = rng_for("u");
        for n in [1usize, 2, 3, 7, 1000] {
            for _ in 0..200 {
                assert!(uniform(&mut rng, n) < n);
            }
        }
    }
}
