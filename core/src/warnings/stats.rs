//! The statistics the detectors use: median and MAD (robust location and
//! spread: one smuggler's price cannot move them, as it would a mean and a
//! standard deviation), and the exact upper tails of the binomial and the
//! Poisson distributions, summed in log space so large counts neither
//! overflow nor underflow.

/// The scale factor that makes the MAD estimate the standard deviation of
/// a normal distribution (1 / Φ⁻¹(3/4)).
pub const MAD_TO_SIGMA: f64 = 1.4826;

/// The median of `values` (sorted in place); `None` when empty.
pub fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let n = values.len();
    Some(if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    })
}

/// Median and median absolute deviation (unscaled).
pub fn median_mad(values: &[f64]) -> Option<(f64, f64)> {
    let mut v = values.to_vec();
    let m = median(&mut v)?;
    let mut dev: Vec<f64> = v.iter().map(|x| (x - m).abs()).collect();
    let mad = median(&mut dev)?;
    Some((m, mad))
}

fn log_sum_exp(a: f64, b: f64) -> f64 {
    if a == f64::NEG_INFINITY {
        return b;
    }
    if b == f64::NEG_INFINITY {
        return a;
    }
    let m = a.max(b);
    m + ((a - m).exp() + (b - m).exp()).ln()
}

/// ln(n!) by summation (exact enough for the counts here, and no gamma
/// function in std).
fn ln_factorial(n: u64) -> f64 {
    (2..=n).map(|i| (i as f64).ln()).sum()
}

/// P(X ≥ k) for X ~ Binomial(n, p): the one-sided p-value of seeing `k`
/// or more failures in `n` samples when the failure rate is `p`.
pub fn binomial_upper_tail(k: u64, n: u64, p: f64) -> f64 {
    if k == 0 {
        return 1.0;
    }
    if k > n || p <= 0.0 {
        return 0.0;
    }
    if p >= 1.0 {
        return 1.0;
    }
    let (lp, lq) = (p.ln(), (1.0 - p).ln());
    // ln pmf(k), then the recurrence pmf(i+1) = pmf(i)·(n−i)/(i+1)·p/q.
    let mut term = ln_factorial(n) - ln_factorial(k) - ln_factorial(n - k)
        + k as f64 * lp
        + (n - k) as f64 * lq;
    let mut sum = term;
    for i in k..n {
        term += ((n - i) as f64).ln() - ((i + 1) as f64).ln() + lp - lq;
        sum = log_sum_exp(sum, term);
    }
    sum.exp().min(1.0)
}

/// P(X ≥ c) for X ~ Poisson(λ).
pub fn poisson_upper_tail(c: u64, lambda: f64) -> f64 {
    if c == 0 {
        return 1.0;
    }
    if lambda <= 0.0 {
        return 0.0;
    }
    let mut term = -lambda + c as f64 * lambda.ln() - ln_factorial(c);
    let mut sum = term;
    let mut i = c;
    // The terms fall once i > λ; stop when they no longer count.
    loop {
        i += 1;
        term += lambda.ln() - (i as f64).ln();
        sum = log_sum_exp(sum, term);
        if (i as f64) > lambda && term < sum - 40.0 {
            break;
        }
    }
    sum.exp().min(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-9 * b.abs().max(1e-300)
    }

    #[test]
    fn median_and_mad_of_known_sets() {
        assert_eq!(median_mad(&[1.0, 2.0, 3.0, 4.0, 100.0]), Some((3.0, 1.0)));
        assert_eq!(median_mad(&[2.0, 4.0]), Some((3.0, 1.0)));
        assert_eq!(median_mad(&[]), None);
    }

    #[test]
    fn binomial_tail_matches_closed_forms() {
        // P(X ≥ 1) = 1 − (1−p)^n; P(X ≥ n) = p^n.
        assert!(close(
            binomial_upper_tail(1, 10, 0.1),
            1.0 - 0.9f64.powi(10)
        ));
        assert!(close(binomial_upper_tail(10, 10, 0.1), 0.1f64.powi(10)));
        // P(X ≥ 3), n = 5, p = 0.5: (10 + 5 + 1) / 32.
        assert!(close(binomial_upper_tail(3, 5, 0.5), 16.0 / 32.0));
        assert_eq!(binomial_upper_tail(0, 5, 0.2), 1.0);
        assert_eq!(binomial_upper_tail(6, 5, 0.2), 0.0);
        // Large n neither underflows nor overflows.
        let p = binomial_upper_tail(300, 100_000, 0.002);
        assert!(p > 0.0 && p < 1e-6, "{p}");
    }

    #[test]
    fn poisson_tail_matches_closed_forms() {
        // P(X ≥ 1) = 1 − e^−λ; P(X ≥ 2) = 1 − e^−λ(1 + λ).
        assert!(close(poisson_upper_tail(1, 2.0), 1.0 - (-2.0f64).exp()));
        assert!(close(
            poisson_upper_tail(2, 0.5),
            1.0 - (-0.5f64).exp() * 1.5
        ));
        assert_eq!(poisson_upper_tail(0, 3.0), 1.0);
    }
}
