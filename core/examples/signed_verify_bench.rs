//! Offline code verifications per second (issue 12's benchmark figure).
//! `cargo run --release -p shian-core --example signed_verify_bench [N]`

use std::time::Instant;

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20_000);
    let sample = shian_core::signed::bench::sample(n);
    let start = Instant::now();
    let shops = sample
        .shop_urls
        .iter()
        .filter(|u| {
            shian_core::signed::shop::verify_url(&sample.verifier, u, sample.today)
                .verdict
                .is_genuine()
        })
        .count();
    let shop_secs = start.elapsed().as_secs_f64();
    let start = Instant::now();
    let vouchers = sample
        .vouchers
        .iter()
        .filter(|v| {
            shian_core::signed::voucher::verify(&sample.verifier, v, sample.today)
                .verdict
                .is_genuine()
        })
        .count();
    let voucher_secs = start.elapsed().as_secs_f64();
    assert_eq!((shops, vouchers), (n, n), "every sample code is genuine");
    println!(
        "shop URLs: {n} in {shop_secs:.3} s = {:.0}/s (one Ed25519 verification each)",
        n as f64 / shop_secs
    );
    println!(
        "vouchers:  {n} in {voucher_secs:.3} s = {:.0}/s (two: certificate and voucher)",
        n as f64 / voucher_secs
    );
}
