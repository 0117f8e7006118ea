//! The warnings' ground truth: for every alert kind, which subjects of a
//! generated market are truly positive (`planted: true`) and which near
//! misses must stay quiet (`planted: false`).
//!
//! The thresholds are the warnings engine's own config
//! (`core/data/warnings/warnings-v1.json`, [`Thresholds::builtin`]) where a
//! rule is the config's — one number, read by both — and the constants
//! below where the generator only plants (licence horizons, sampling
//! frequency). "Days" count from the day after the run's last day (the day
//! `serve --demo` starts and the scan runs):
//!
//! | kind | positive when |
//! |---|---|
//! | `licence_expiring_7d` | the licence expires in 0–7 days |
//! | `licence_expiring_30d` | the licence expires in 8–30 days (7 or fewer is the 7-day kind) |
//! | `licence_expired_trading` | the licence has expired and a ledger entry is dated after the expiry |
//! | `sales_beyond_purchases` | a sale takes more than the batch holds (来源不明) |
//! | `expired_stock_on_sale` | a sale is dated after the batch's expiry date |
//! | `missing_certificate` | a purchase lacks a certificate its category needs (core's ledger rules) |
//! | `price_below_market` | a purchase or sale under `price.max_share_of_median` of the median and under median − `mad_k`·1.4826·MAD of its product's prices (same unit and side) in its market; its category's where the product has fewer than `min_baseline_entries` entries |
//! | `pass_rate_abnormal` | at least `pass_rate.min_samples` samples and `min_failures` failures in the last 12 months, significant against the baseline failure rate of the samples before them (one-sided binomial test, `alpha`); baseline ~3 % |
//! | `not_sampled` | no sample in the last 3 years (1,095 days) |
//! | `sampled_too_often` | more than 4 samples in the last 12 months of a low-risk merchant |
//! | `complaints_frequent` | `complaints.frequent_min` (5) or more complaints in the last `window_days` (30) |
//! | `complaint_hot_topic` | a food category's or a product's complaints of the last `hot_window_days` (30) are at least `hot_min_count` (8) and significant against the `hot_baseline_days` (30) before (one-sided Poisson test, `hot_alpha`) |
//!
//! Planted dates keep a margin of a few days from every boundary, so an
//! engine counting a window from today or from yesterday agrees. The truth
//! holds for that day: scanned a week later, licences and windows have
//! moved (start the demo on a fresh data directory to measure).
//!
//! The ledger kinds' positives are whatever the emitted events contain
//! (the generator's ~1 % of sales beyond stock and ~3 % of purchases
//! without papers reach most merchants over 30 days); their near misses
//! are a few merchants that came within a hair. The pass-rate kind's truth
//! is the reference test itself, so a market or category dragged down by
//! the planted merchants is a positive too, and one a chance background
//! brings near α is recorded as a near miss with its p-value.

use serde::{Deserialize, Serialize};

use crate::warnings::Thresholds;

/// The alert kinds of the warnings contract, in its order.
pub const ALERT_KINDS: [&str; 12] = [
    LICENCE_EXPIRING_30D,
    LICENCE_EXPIRING_7D,
    LICENCE_EXPIRED_TRADING,
    SALES_BEYOND_PURCHASES,
    EXPIRED_STOCK_ON_SALE,
    MISSING_CERTIFICATE,
    PRICE_BELOW_MARKET,
    PASS_RATE_ABNORMAL,
    NOT_SAMPLED,
    SAMPLED_TOO_OFTEN,
    COMPLAINTS_FREQUENT,
    COMPLAINT_HOT_TOPIC,
];

pub const LICENCE_EXPIRING_30D: &str = "licence_expiring_30d";
pub const LICENCE_EXPIRING_7D: &str = "licence_expiring_7d";
pub const LICENCE_EXPIRED_TRADING: &str = "licence_expired_trading";
pub const SALES_BEYOND_PURCHASES: &str = "sales_beyond_purchases";
pub const EXPIRED_STOCK_ON_SALE: &str = "expired_stock_on_sale";
pub const MISSING_CERTIFICATE: &str = "missing_certificate";
pub const PRICE_BELOW_MARKET: &str = "price_below_market";
pub const PASS_RATE_ABNORMAL: &str = "pass_rate_abnormal";
pub const NOT_SAMPLED: &str = "not_sampled";
pub const SAMPLED_TOO_OFTEN: &str = "sampled_too_often";
pub const COMPLAINTS_FREQUENT: &str = "complaints_frequent";
pub const COMPLAINT_HOT_TOPIC: &str = "complaint_hot_topic";

/// The licence warnings' horizons, in days.
pub const LICENCE_WARN_DAYS: i64 = 30;
pub const LICENCE_URGENT_DAYS: i64 = 7;
/// The rules the truth shares with the warnings engine.
pub fn thresholds() -> &'static Thresholds {
    Thresholds::builtin()
}
/// The baseline the generator's background samples fail at.
pub const BASELINE_FAILURE_RATE: f64 = 0.03;
/// Not sampled for this many days (3 years).
pub const NOT_SAMPLED_DAYS: i64 = 3 * 365;
/// More samples than this in the last 12 months is too often.
pub const MAX_SAMPLES_A_YEAR: usize = 4;

/// Who an alert is about (the contract's `subject.type`): the warnings
/// engine's own type, so the truth and the alerts cannot name subjects apart.
pub use crate::warnings::SubjectType;

/// One subject of one kind: a true positive to find or a near miss to
/// leave alone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TruthCase {
    pub kind: String,
    pub subject_type: SubjectType,
    pub subject_id: String,
    /// `true`: the engine must raise it; `false`: a near miss that must stay
    /// quiet.
    pub planted: bool,
    /// What was planted, with the figures (zh-CN or English, for people).
    pub note: String,
}

/// The ground truth of one generated market (`demo-truth.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroundTruth {
    pub generator_seed: u64,
    pub cases: Vec<TruthCase>,
}

impl GroundTruth {
    /// The cases of one kind.
    pub fn of_kind<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a TruthCase> + 'a {
        self.cases.iter().filter(move |c| c.kind == kind)
    }

    /// Positives and near misses of a kind.
    pub fn counts(&self, kind: &str) -> (usize, usize) {
        self.of_kind(kind).fold(
            (0, 0),
            |(p, n), c| {
                if c.planted {
                    (p + 1, n)
                } else {
                    (p, n + 1)
                }
            },
        )
    }
}

/// Builds cases, dropping a near miss of a subject that is also a positive
/// of the same kind (the positive wins).
#[derive(Default)]
pub(crate) struct CaseList {
    cases: Vec<TruthCase>,
}

impl CaseList {
    pub fn push(
        &mut self,
        kind: &str,
        subject_type: SubjectType,
        subject_id: &str,
        planted: bool,
        note: String,
    ) {
        self.cases.push(TruthCase {
            kind: kind.to_owned(),
            subject_type,
            subject_id: subject_id.to_owned(),
            planted,
            note,
        });
    }

    pub fn merchant(&mut self, kind: &str, id: &str, planted: bool, note: String) {
        self.push(kind, SubjectType::Merchant, id, planted, note);
    }

    /// Sorted by kind order, subject; one case per (kind, subject).
    pub fn finish(mut self) -> Vec<TruthCase> {
        let order = |k: &str| {
            ALERT_KINDS
                .iter()
                .position(|x| *x == k)
                .unwrap_or(usize::MAX)
        };
        self.cases.sort_by(|a, b| {
            (order(&a.kind), a.subject_type, &a.subject_id, !a.planted).cmp(&(
                order(&b.kind),
                b.subject_type,
                &b.subject_id,
                !b.planted,
            ))
        });
        // After the sort a positive comes first among its subject's cases.
        self.cases.dedup_by(|later, first| {
            later.kind == first.kind
                && later.subject_type == first.subject_type
                && later.subject_id == first.subject_id
        });
        self.cases
    }
}

/// P(X ≥ k) for X ~ Binomial(n, p): the one-sided test of "more failures
/// than the baseline rate explains".
pub fn binomial_tail(n: u64, k: u64, p: f64) -> f64 {
    if k == 0 {
        return 1.0;
    }
    if k > n || p <= 0.0 {
        return 0.0;
    }
    if p >= 1.0 {
        return 1.0;
    }
    // The terms below k, each in log form so (1 − p)^n cannot underflow:
    // ln t_{i+1} = ln t_i + ln((n − i)/(i + 1)) + ln(p/(1 − p)).
    let mut ln_term = n as f64 * (1.0 - p).ln();
    let odds = (p / (1.0 - p)).ln();
    let mut below = 0.0;
    for i in 0..k {
        below += ln_term.exp();
        ln_term += ((n - i) as f64 / (i + 1) as f64).ln() + odds;
    }
    (1.0 - below).clamp(0.0, 1.0)
}
