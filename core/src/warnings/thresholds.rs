//! The warnings' thresholds: versioned configuration
//! (`core/data/warnings/warnings-v1.json`), each family with the rule it
//! comes from (`basis_zh`), so a province can change a number without a
//! build and every warning names the version it was raised under.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::kinds::{Kind, Severity};

const BUILTIN: &str = include_str!("../../data/warnings/warnings-v1.json");

/// The kinds whose severity this file sets. Kinds added since (the market
/// operator's, issue 14) carry their severity in their own versioned
/// config beside it (e.g. `self-checks-v1.json`).
const KINDS: [Kind; 12] = [
    Kind::LicenceExpiring30d,
    Kind::LicenceExpiring7d,
    Kind::LicenceExpiredTrading,
    Kind::SalesBeyondPurchases,
    Kind::ExpiredStockOnSale,
    Kind::MissingCertificate,
    Kind::PriceBelowMarket,
    Kind::PassRateAbnormal,
    Kind::NotSampled,
    Kind::SampledTooOften,
    Kind::ComplaintsFrequent,
    Kind::ComplaintHotTopic,
];

#[derive(Debug, Clone, Deserialize)]
pub struct Thresholds {
    pub version: String,
    pub source_zh: String,
    /// At most this many evidence links per warning (the newest).
    pub max_links: usize,
    pub licence: Licence,
    pub ledger: Ledger,
    pub price: Price,
    pub pass_rate: PassRate,
    pub sampling: Sampling,
    pub complaints: Complaints,
    pub severity: BTreeMap<Kind, Severity>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Licence {
    /// The first notice, this many days before expiry.
    pub notice_days: i64,
    /// The second, urgent notice.
    pub urgent_days: i64,
    pub basis_zh: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Ledger {
    pub window_days: i64,
    pub min_count: u32,
    pub basis_zh: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Price {
    pub window_days: i64,
    /// Fewer prices in a window give no baseline.
    pub min_observations: usize,
    /// Fewer distinct merchants give no market price, only theirs.
    pub min_merchants: usize,
    /// One cheap sale (a clearance) is not a pattern.
    pub min_own_observations: usize,
    /// How many scaled MADs below the median.
    pub mad_k: f64,
    /// And below this share of the median (a window whose MAD is zero, all
    /// at one price, would otherwise flag a price one fen lower).
    pub max_share_of_median: f64,
    pub basis_zh: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PassRate {
    pub window_days: i64,
    /// The significance of the one-sided binomial test.
    pub alpha: f64,
    pub min_samples: u32,
    pub min_failures: u32,
    /// The baseline failure rate is never taken below this.
    pub baseline_floor: f64,
    pub basis_zh: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Sampling {
    pub not_sampled_days: i64,
    pub too_often_window_days: i64,
    pub too_often_max: u32,
    pub basis_zh: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Complaints {
    pub window_days: i64,
    pub frequent_min: u32,
    pub hot_window_days: i64,
    pub hot_baseline_days: i64,
    pub hot_min_count: u32,
    pub hot_alpha: f64,
    /// The expected count is never taken below this (a topic with no
    /// complaints before would otherwise make any one significant).
    pub hot_min_expected: f64,
    pub basis_zh: String,
}

/// Why a thresholds file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ThresholdsError {
    #[error("预警阈值 (warning thresholds): {0}")]
    Parse(#[from] serde_json::Error),
    #[error("预警阈值 (warning thresholds): {field}: {message}")]
    Invalid {
        field: &'static str,
        message: &'static str,
    },
}

impl Thresholds {
    /// The thresholds shipped with this build.
    pub fn builtin() -> &'static Thresholds {
        static T: std::sync::OnceLock<Thresholds> = std::sync::OnceLock::new();
        // Cannot fail: the file is embedded at compile time and the test
        // `builtin_thresholds_parse` parses and validates it.
        T.get_or_init(|| Thresholds::from_json(BUILTIN).expect("warnings-v1.json is valid"))
    }

    pub fn from_json(text: &str) -> Result<Thresholds, ThresholdsError> {
        let t: Thresholds = serde_json::from_str(text)?;
        t.validate()?;
        Ok(t)
    }

    fn validate(&self) -> Result<(), ThresholdsError> {
        let bad = |field, message| Err(ThresholdsError::Invalid { field, message });
        if self.version.trim().is_empty() {
            return bad("version", "不能为空");
        }
        if KINDS.iter().any(|k| !self.severity.contains_key(k)) {
            return bad("severity", "每种预警都要有严重程度");
        }
        if !(0.0..0.5).contains(&self.pass_rate.alpha)
            || !(0.0..0.5).contains(&self.complaints.hot_alpha)
        {
            return bad("alpha", "显著性水平应在0到0.5之间");
        }
        if self.licence.urgent_days > self.licence.notice_days {
            return bad("licence.urgent_days", "不应大于 notice_days");
        }
        if !(0.0..=1.0).contains(&self.price.max_share_of_median) {
            return bad("price.max_share_of_median", "应在0到1之间");
        }
        Ok(())
    }

    pub fn severity(&self, kind: Kind) -> Severity {
        self.severity
            .get(&kind)
            .copied()
            .unwrap_or(Severity::Medium)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_thresholds_parse() {
        let t = Thresholds::from_json(BUILTIN).unwrap();
        assert_eq!(t.version, "warnings-v1");
        assert_eq!(t.severity.len(), KINDS.len());
    }

    #[test]
    fn a_missing_severity_is_refused() {
        let mut v: serde_json::Value = serde_json::from_str(BUILTIN).unwrap();
        v["severity"].as_object_mut().unwrap().remove("not_sampled");
        assert!(matches!(
            Thresholds::from_json(&v.to_string()),
            Err(ThresholdsError::Invalid {
                field: "severity",
                ..
            })
        ));
    }
}
