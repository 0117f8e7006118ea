//! Benchmark (not a test) of the tamper-evident log (issue 16), each figure
//! beside its floor measured in the same run:
//!
//! - append: leaves per second into an in-memory log of `--leaves` (10 M),
//!   beside one raw SHA-256 of the same bytes per leaf (the log hashes each
//!   leaf once and about one interior node more); the encoding of a fact
//!   (RFC 8785) on its own;
//! - proofs at 10 M: audit path and consistency proof sizes, and the time
//!   to build (in memory) and to verify them;
//! - proofs at 1 B leaves, computed: the path lengths from the tree's shape
//!   (no tree of 1 B is built), and verification timed on proofs of that
//!   length — the same hashing as an honest proof, which only then fails
//!   the final comparison;
//! - checkpoints: signing and opening per second beside raw Ed25519 sign
//!   and verify of the same bytes.
//!
//! `cargo run --release -p shian-tests --bin bench-evidence [-- --leaves 10000000]`

use std::time::Instant;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::NaiveDate;
use ed25519_dalek::{Signer as _, SigningKey, Verifier as _};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::json;
use sha2::{Digest, Sha256};
use shian_core::evidence::{
    fact_leaf, verify_consistency, verify_inclusion, Checkpoint, CheckpointSigner, LogHash,
    MemoryLog,
};
use shian_core::signed::{KeyStatus, TrustList, TrustedKey};
use shian_tests::memory;

fn leaves_arg() -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.windows(2)
        .find(|w| w[0] == "--leaves")
        .and_then(|w| w[1].parse().ok())
        .unwrap_or(10_000_000)
}

/// Median and 99th percentile, in microseconds.
fn spread(mut us: Vec<f64>) -> (f64, f64) {
    us.sort_by(f64::total_cmp);
    let at = |q: f64| us[((us.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.99))
}

/// Hashes in the audit path of leaf `m` of a tree of `n` (RFC 9162 §2.1.3.1).
fn path_len(m: u64, n: u64) -> usize {
    if n <= 1 {
        return 0;
    }
    let k = 1u64 << (63 - (n - 1).leading_zeros());
    if m < k {
        1 + path_len(m, k)
    } else {
        1 + path_len(m - k, n - k)
    }
}

/// Hashes in the consistency proof from `m` to `n` (RFC 9162 §2.1.4.1).
fn consistency_len(m: u64, n: u64, whole: bool) -> usize {
    if m == n {
        return usize::from(!whole);
    }
    let k = 1u64 << (63 - (n - 1).leading_zeros());
    if m <= k {
        1 + consistency_len(m, k, whole)
    } else {
        1 + consistency_len(m - k, n - k, false)
    }
}

/// A fact leaf of about the size of a purchase, with `i` in it.
fn sample_fact(i: u64) -> Vec<u8> {
    let body = json!({
        "merchant_id": "0196f3c2-7b1e-7c4a-9d2f-3a8b5c6d7e8f",
        "product": {"name": "冻猪蹄", "category": "frozen"},
        "quantity": {"value": format!("{}.5", i % 1000), "unit": "kg"},
        "supplier": {"name": "同安冷冻食品厂", "region_code": "350212"},
        "certificates": [{"kind": "origin", "number": format!("CD-2026-{i:08}")}],
        "trace_code": format!("T{i:012}"),
        "received_at": "2026-12-03T08:30:00+08:00"
    });
    // The body above always canonicalises.
    fact_leaf("ledger.purchase", &format!("entry-{i:016}"), &body).expect("a fact")
}

fn main() {
    let n = leaves_arg();
    let mut rng = ChaCha8Rng::seed_from_u64(16);
    println!("# bench-evidence, {n} leaves");

    // Encoding a fact.
    let samples = 100_000u64;
    let t = Instant::now();
    let mut bytes = 0usize;
    for i in 0..samples {
        bytes += sample_fact(i).len();
    }
    let encode_us = t.elapsed().as_secs_f64() * 1e6 / samples as f64;
    let leaf_len = bytes / samples as usize;

    // Append, beside raw SHA-256 of the same bytes.
    let mut leaf = sample_fact(0);
    let tail = leaf.len() - 8;
    let t = Instant::now();
    let mut acc = 0u8;
    for i in 0..n {
        leaf[tail..].copy_from_slice(&i.to_be_bytes());
        acc ^= Sha256::digest(&leaf)[0];
    }
    let raw_s = t.elapsed().as_secs_f64();
    let mut log = MemoryLog::new();
    let t = Instant::now();
    for i in 0..n {
        leaf[tail..].copy_from_slice(&i.to_be_bytes());
        log.append(&leaf).expect("an in-memory append");
    }
    let append_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let root = log.root(n).expect("the root");
    let root_us = t.elapsed().as_secs_f64() * 1e6;
    let (_, hwm) = memory();

    // Proofs at n.
    let probes = 10_000;
    let (mut prove, mut verify, mut sizes) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..probes {
        let m = rng.random_range(0..n);
        leaf[tail..].copy_from_slice(&m.to_be_bytes());
        let h = LogHash::of_leaf(&leaf);
        let t = Instant::now();
        let path = log.inclusion(m, n).expect("a proof");
        prove.push(t.elapsed().as_secs_f64() * 1e6);
        let t = Instant::now();
        verify_inclusion(&h, m, n, &path, &root).expect("an honest proof");
        verify.push(t.elapsed().as_secs_f64() * 1e6);
        sizes.push(path.len());
    }
    let from = n - n / 10;
    let from_root = log.root(from).expect("an earlier root");
    let t = Instant::now();
    let cons = log.consistency(from, n).expect("a consistency proof");
    let cons_prove_us = t.elapsed().as_secs_f64() * 1e6;
    let mut cons_verify = Vec::new();
    for _ in 0..1000 {
        let t = Instant::now();
        verify_consistency(from, &from_root, n, &root, &cons).expect("an honest proof");
        cons_verify.push(t.elapsed().as_secs_f64() * 1e6);
    }

    // 1 B, computed.
    let big = 1_000_000_000u64;
    let big_paths: Vec<usize> = (0..probes)
        .map(|_| path_len(rng.random_range(0..big), big))
        .collect();
    let big_path = *big_paths.iter().max().unwrap_or(&0);
    let big_cons = consistency_len(big - big / 10, big, true);
    let mut big_verify = Vec::new();
    for _ in 0..probes {
        let fake: Vec<LogHash> = (0..big_path).map(|_| LogHash(rng.random())).collect();
        let m = rng.random_range(0..big);
        let t = Instant::now();
        let _ = verify_inclusion(&root, m, big, &fake, &root);
        big_verify.push(t.elapsed().as_secs_f64() * 1e6);
    }

    // Checkpoints, beside raw Ed25519.
    let key = SigningKey::from_bytes(&rng.random());
    let origin = "shian.example/log/350203";
    let head = Checkpoint {
        origin: origin.into(),
        size: n,
        root,
    };
    let signer = CheckpointSigner::new(origin, &key);
    let trust = TrustList {
        keys: vec![TrustedKey {
            kid: shian_core::signed::trust::key_id(&key.verifying_key()),
            alg: "Ed25519".into(),
            public_key: URL_SAFE_NO_PAD.encode(key.verifying_key().as_bytes()),
            status: KeyStatus::Active,
            signs: true,
            valid_from: NaiveDate::from_ymd_opt(2026, 1, 1).expect("a date"),
            valid_until: None,
        }],
        revoked_devices: Vec::new(),
    }
    .verifier()
    .expect("a trust list");
    let body = head.body().expect("a checkpoint body");
    let rounds = 5_000;
    let t = Instant::now();
    let mut note = String::new();
    for _ in 0..rounds {
        note = head.sign(&signer).expect("a signed checkpoint");
    }
    let sign_rate = rounds as f64 / t.elapsed().as_secs_f64();
    let t = Instant::now();
    let mut sig = key.sign(&body);
    for _ in 0..rounds {
        sig = key.sign(&body);
    }
    let raw_sign_rate = rounds as f64 / t.elapsed().as_secs_f64();
    let t = Instant::now();
    for _ in 0..rounds {
        Checkpoint::open(&note, &trust, &[], &[]).expect("opens");
    }
    let open_rate = rounds as f64 / t.elapsed().as_secs_f64();
    let t = Instant::now();
    for _ in 0..rounds {
        key.verifying_key().verify(&body, &sig).expect("verifies");
    }
    let raw_verify_rate = rounds as f64 / t.elapsed().as_secs_f64();

    let (pm, pp) = spread(prove);
    let (vm, vp) = spread(verify);
    let (cm, cp) = spread(cons_verify);
    let (bm, bp) = spread(big_verify);
    let max_path = sizes.iter().max().copied().unwrap_or(0);
    println!();
    println!("| measure | Shian | peer in the same run |");
    println!("|---|---|---|");
    println!("| encode a fact (RFC 8785, {leaf_len} B) | {encode_us:.2} µs | |");
    println!(
        "| append {n} leaves | {:.0} leaves/s ({:.2} µs/leaf) | raw SHA-256 of each leaf: {:.0}/s ({:.2} µs) |",
        n as f64 / append_s,
        append_s * 1e6 / n as f64,
        n as f64 / raw_s,
        raw_s * 1e6 / n as f64
    );
    println!("| root of {n} (from stored hashes) | {root_us:.1} µs | |");
    println!(
        "| audit path at {n} | ≤ {max_path} hashes ({} B); build median {pm:.1} µs, p99 {pp:.1} µs; verify median {vm:.1} µs, p99 {vp:.1} µs | |",
        max_path * 32
    );
    println!(
        "| consistency {from} → {n} | {} hashes ({} B); build {cons_prove_us:.1} µs; verify median {cm:.1} µs, p99 {cp:.1} µs | |",
        cons.len(),
        cons.len() * 32
    );
    println!(
        "| audit path at 1 B (computed) | ≤ {big_path} hashes ({} B); verify median {bm:.1} µs, p99 {bp:.1} µs | |",
        big_path * 32
    );
    println!(
        "| consistency 900 M → 1 B (computed) | {big_cons} hashes ({} B) | |",
        big_cons * 32
    );
    println!("| sign a checkpoint | {sign_rate:.0}/s | raw Ed25519 sign: {raw_sign_rate:.0}/s |");
    println!("| open a checkpoint (parse, verify) | {open_rate:.0}/s | raw Ed25519 verify: {raw_verify_rate:.0}/s |");
    println!(
        "\nPeak resident set with the {n}-leaf log in memory: {:.0} MiB ({:.1} B/leaf; 2 stored hashes of 32 B a leaf). [{acc}]",
        hwm as f64 / (1024.0 * 1024.0),
        hwm as f64 / n as f64
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The computed lengths used for 1 B are those of real proofs.
    #[test]
    fn computed_proof_lengths_are_those_of_built_proofs() {
        let mut log = MemoryLog::new();
        for i in 0..70u32 {
            log.append(&i.to_be_bytes()).unwrap();
        }
        for n in 1..=70u64 {
            for m in 0..n {
                assert_eq!(
                    path_len(m, n),
                    log.inclusion(m, n).unwrap().len(),
                    "{m} of {n}"
                );
            }
            for m in 1..=n {
                assert_eq!(
                    consistency_len(m, n, true),
                    log.consistency(m, n).unwrap().len(),
                    "{m} → {n}"
                );
            }
        }
    }
}
