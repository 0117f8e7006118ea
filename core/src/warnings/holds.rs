//! The hold warnings (暂扣): `batch_held`, raised at once for every hold an
//! operator places (the regulator is told of each hold, 总局令第81号), and
//! `held_batch_sold`, raised when a sale of a held batch that was made
//! before the hold reached the device is recorded (the rule that decides
//! it is [`crate::rules::check_hold`]). Pure: facts in, candidates out.
//! Severities come from `core/data/warnings/holds-v1.json`, with the rule
//! they rest on.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::{figures, merchant_subject, Candidate, Evidence, Kind, Link, LinkType, Severity};
use crate::hold::HoldReason;

const BUILTIN: &str = include_str!("../../data/warnings/holds-v1.json");

/// The hold warnings' configuration.
#[derive(Debug, Clone, Deserialize)]
pub struct HoldThresholds {
    pub version: String,
    pub source: String,
    pub severity: BTreeMap<Kind, Severity>,
}

impl HoldThresholds {
    pub fn builtin() -> &'static HoldThresholds {
        static T: std::sync::OnceLock<HoldThresholds> = std::sync::OnceLock::new();
        // Cannot fail: the file is embedded at compile time and the test
        // `builtin_parses` reads it.
        T.get_or_init(|| serde_json::from_str(BUILTIN).expect("holds-v1.json is valid"))
    }

    fn severity(&self, kind: Kind) -> Severity {
        self.severity.get(&kind).copied().unwrap_or(Severity::High)
    }
}

/// A hold in force, as the warning reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct HeldFact {
    pub hold_id: String,
    pub merchant_id: String,
    pub merchant_name: String,
    pub market_id: Option<String>,
    pub trace_code: String,
    pub product_name: String,
    /// Quantity on hand when the hold was placed, in the batch's unit
    /// (shown as `on_hand_zh`).
    pub on_hand: f64,
    pub on_hand_zh: String,
    pub reason: HoldReason,
    /// Who placed it (the operator's name).
    pub placed_by: String,
    pub placed_at: DateTime<Utc>,
    /// The batch's purchase entry, when the server has it.
    pub purchase_entry_id: Option<String>,
}

/// A recorded sale of a held batch (the entry carries `held_batch_sold`).
#[derive(Debug, Clone, PartialEq)]
pub struct HeldSaleFact {
    pub hold_id: String,
    pub merchant_id: String,
    pub merchant_name: String,
    pub market_id: Option<String>,
    pub trace_code: String,
    pub sale_entry_id: String,
    pub sold_zh: String,
    pub sold_at: DateTime<Utc>,
}

/// One `batch_held` per merchant with holds in force (a warning's identity
/// is its kind and subject): the newest hold titles it, every hold counts.
pub fn batch_held(t: &HoldThresholds, holds: &[HeldFact]) -> Vec<Candidate> {
    let mut by_merchant: BTreeMap<&str, Vec<&HeldFact>> = BTreeMap::new();
    for h in holds {
        by_merchant
            .entry(h.merchant_id.as_str())
            .or_default()
            .push(h);
    }
    by_merchant
        .into_values()
        .filter_map(|hs| {
            let newest = *hs
                .iter()
                .max_by_key(|h| (h.placed_at, h.hold_id.as_str()))?;
            let mut links = vec![Link::new(LinkType::Merchant, newest.merchant_id.clone())];
            links.extend(
                hs.iter()
                    .filter_map(|h| h.purchase_entry_id.clone())
                    .map(|id| Link::new(LinkType::Entry, id)),
            );
            Some(Candidate {
                kind: Kind::BatchHeld,
                subject: merchant_subject(
                    &newest.merchant_id,
                    &newest.merchant_name,
                    newest.market_id.as_deref(),
                ),
                severity: t.severity(Kind::BatchHeld),
                title: format!(
                    "市场暂扣：{}（追溯码 {}），{}，结存 {}，由 {} 暂扣（暂扣单 {}）",
                    newest.product_name,
                    newest.trace_code,
                    newest.reason.zh(),
                    newest.on_hand_zh,
                    newest.placed_by,
                    newest.hold_id
                ),
                evidence: Evidence {
                    figures: figures([
                        ("holds_in_force", hs.len() as f64),
                        ("on_hand", newest.on_hand),
                    ]),
                    links,
                },
                latest: newest.placed_at,
            })
        })
        .collect()
}

/// One `held_batch_sold` per merchant over its recorded sales of held
/// batches; `None` when there are none.
pub fn held_batch_sold(t: &HoldThresholds, sales: &[HeldSaleFact]) -> Vec<Candidate> {
    let mut by_merchant: BTreeMap<&str, Vec<&HeldSaleFact>> = BTreeMap::new();
    for s in sales {
        by_merchant
            .entry(s.merchant_id.as_str())
            .or_default()
            .push(s);
    }
    by_merchant
        .into_values()
        .filter_map(|ss| {
            let newest = *ss
                .iter()
                .max_by_key(|s| (s.sold_at, s.sale_entry_id.as_str()))?;
            let mut links = vec![Link::new(LinkType::Merchant, newest.merchant_id.clone())];
            links.extend(
                ss.iter()
                    .map(|s| Link::new(LinkType::Entry, s.sale_entry_id.clone())),
            );
            Some(Candidate {
                kind: Kind::HeldBatchSold,
                subject: merchant_subject(
                    &newest.merchant_id,
                    &newest.merchant_name,
                    newest.market_id.as_deref(),
                ),
                severity: t.severity(Kind::HeldBatchSold),
                title: format!(
                    "售出被暂扣的批次：追溯码 {}，售出 {}（暂扣单 {}，销售发生在设备收到暂扣之前）",
                    newest.trace_code, newest.sold_zh, newest.hold_id
                ),
                evidence: Evidence {
                    figures: figures([("sales", ss.len() as f64)]),
                    links,
                },
                latest: newest.sold_at,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;

    #[test]
    fn builtin_parses() {
        let t = HoldThresholds::builtin();
        assert_eq!(t.version, "holds-v1");
        assert_eq!(t.severity(Kind::BatchHeld), Severity::High);
        assert!(t.severity.contains_key(&Kind::HeldBatchSold));
    }

    fn fact(merchant: &str, hold: &str, hours_ago: i64) -> HeldFact {
        HeldFact {
            hold_id: hold.into(),
            merchant_id: merchant.into(),
            merchant_name: "某冻品行".into(),
            market_id: Some("mk-1".into()),
            trace_code: "TC".into(),
            product_name: "冻牛腩".into(),
            on_hand: 120.0,
            on_hand_zh: "120 千克".into(),
            reason: HoldReason::UnknownOrigin,
            placed_by: "市场开办者".into(),
            placed_at: Utc::now() - Duration::hours(hours_ago),
            purchase_entry_id: Some(format!("e-{hold}")),
        }
    }

    #[test]
    fn every_hold_fires_once_per_merchant() {
        let t = HoldThresholds::builtin();
        assert!(batch_held(t, &[]).is_empty(), "no hold, no warning");
        let c = batch_held(
            t,
            &[
                fact("m-1", "h-1", 3),
                fact("m-1", "h-2", 1),
                fact("m-2", "h-3", 2),
            ],
        );
        assert_eq!(c.len(), 2, "one per merchant, no duplicate");
        let m1 = c.iter().find(|c| c.subject.id == "m-1").unwrap();
        assert_eq!(m1.kind, Kind::BatchHeld);
        assert_eq!(m1.evidence.figures["holds_in_force"], 2.0);
        assert!(
            m1.title.contains("h-2")
                && m1.title.contains("来源不明")
                && m1.title.contains("120 千克")
        );
        assert_eq!(m1.evidence.links.len(), 3);
    }

    #[test]
    fn a_sale_of_a_held_batch_fires_and_none_does_not() {
        let t = HoldThresholds::builtin();
        assert!(held_batch_sold(t, &[]).is_empty());
        let s = HeldSaleFact {
            hold_id: "h-1".into(),
            merchant_id: "m-1".into(),
            merchant_name: "某冻品行".into(),
            market_id: None,
            trace_code: "TC".into(),
            sale_entry_id: "e-9".into(),
            sold_zh: "5 千克".into(),
            sold_at: Utc::now(),
        };
        let c = held_batch_sold(t, &[s.clone(), s]);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].kind, Kind::HeldBatchSold);
        assert_eq!(c[0].evidence.figures["sales"], 2.0);
    }
}
