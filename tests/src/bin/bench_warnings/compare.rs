//! Alerts against the ground truth, per kind: a planted subject alerted is
//! a true positive, a planted one missed a false negative, and any other
//! subject alerted a false positive (a near miss alerted is one too,
//! counted apart because it is the sharper failure: the engine was shown
//! exactly where the line is and crossed it).

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::Value;
use shian_core::generator::truth::ALERT_KINDS;
use shian_core::generator::GroundTruth;

/// The targets on planted cases at the demo scale.
pub const RECALL_TARGET: f64 = 0.95;
pub const PRECISION_TARGET: f64 = 0.9;

/// One alert as the contract's `GET /v1/alerts` lists it, reduced to what
/// is compared: its kind and subject.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct AlertKey {
    pub kind: String,
    pub subject_type: String,
    pub subject_id: String,
}

impl AlertKey {
    /// From an `Alert` object; `None` when it lacks a kind or a subject.
    pub fn from_json(alert: &Value) -> Option<AlertKey> {
        Some(AlertKey {
            kind: alert.get("kind")?.as_str()?.to_owned(),
            subject_type: alert.pointer("/subject/type")?.as_str()?.to_owned(),
            subject_id: alert.pointer("/subject/id")?.as_str()?.to_owned(),
        })
    }
}

/// One kind's figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KindScore {
    pub kind: String,
    pub planted: usize,
    pub near_misses: usize,
    /// Distinct subjects alerted.
    pub alerted: usize,
    pub tp: usize,
    pub fp: usize,
    #[serde(rename = "fn")]
    pub fn_: usize,
    /// Near misses that were alerted (already in `fp`).
    pub near_misses_alerted: usize,
    /// `None` when nothing was alerted.
    pub precision: Option<f64>,
    /// `None` when nothing was planted.
    pub recall: Option<f64>,
    pub meets_target: bool,
    /// A few missed and wrongly alerted subjects, for a look.
    pub missed: Vec<String>,
    pub wrongly_alerted: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub generator_seed: u64,
    pub kinds: Vec<KindScore>,
    /// All kinds pooled (micro-averaged).
    pub total: KindScore,
    /// Alerts of kinds the contract does not name.
    pub unknown_kinds: BTreeMap<String, usize>,
    pub alerts_read: usize,
}

const EXAMPLES: usize = 5;

fn ratio(num: usize, den: usize) -> Option<f64> {
    (den > 0).then(|| num as f64 / den as f64)
}

fn score(
    kind: &str,
    planted: &BTreeSet<(String, String)>,
    near: &BTreeSet<(String, String)>,
    alerted: &BTreeSet<(String, String)>,
) -> KindScore {
    let tp = alerted.intersection(planted).count();
    let wrong: Vec<&(String, String)> = alerted.difference(planted).collect();
    let missed: Vec<&(String, String)> = planted.difference(alerted).collect();
    let precision = ratio(tp, alerted.len());
    let recall = ratio(tp, planted.len());
    let show = |v: &[&(String, String)]| {
        v.iter()
            .take(EXAMPLES)
            .map(|(t, id)| format!("{t}:{id}"))
            .collect()
    };
    KindScore {
        kind: kind.to_owned(),
        planted: planted.len(),
        near_misses: near.len(),
        alerted: alerted.len(),
        tp,
        fp: wrong.len(),
        fn_: missed.len(),
        near_misses_alerted: alerted.intersection(near).count(),
        precision,
        recall,
        // Nothing planted and nothing alerted meets it; a kind with planted
        // cases needs both figures.
        meets_target: recall.unwrap_or(1.0) >= RECALL_TARGET
            && precision.unwrap_or(if planted.is_empty() { 1.0 } else { 0.0 }) >= PRECISION_TARGET,
        missed: show(&missed),
        wrongly_alerted: show(&wrong),
    }
}

/// Scores `alerts` against `truth`, kind by kind in the contract's order.
pub fn compare(truth: &GroundTruth, alerts: &[AlertKey]) -> Report {
    type Set = BTreeSet<(String, String)>;
    let mut planted: BTreeMap<&str, Set> = BTreeMap::new();
    let mut near: BTreeMap<&str, Set> = BTreeMap::new();
    for c in &truth.cases {
        let key = (c.subject_type.as_str().to_owned(), c.subject_id.clone());
        let into = if c.planted { &mut planted } else { &mut near };
        into.entry(c.kind.as_str()).or_default().insert(key);
    }
    let mut alerted: BTreeMap<&str, Set> = BTreeMap::new();
    let mut unknown_kinds = BTreeMap::new();
    for a in alerts {
        match ALERT_KINDS.iter().find(|k| **k == a.kind) {
            Some(k) => {
                alerted
                    .entry(*k)
                    .or_default()
                    .insert((a.subject_type.clone(), a.subject_id.clone()));
            }
            None => *unknown_kinds.entry(a.kind.clone()).or_insert(0) += 1,
        }
    }
    let empty = Set::new();
    let kinds: Vec<KindScore> = ALERT_KINDS
        .iter()
        .map(|k| {
            score(
                k,
                planted.get(k).unwrap_or(&empty),
                near.get(k).unwrap_or(&empty),
                alerted.get(k).unwrap_or(&empty),
            )
        })
        .collect();
    let sum = |f: fn(&KindScore) -> usize| kinds.iter().map(f).sum::<usize>();
    let (tp, fp, fn_) = (sum(|k| k.tp), sum(|k| k.fp), sum(|k| k.fn_));
    let precision = ratio(tp, tp + fp);
    let recall = ratio(tp, tp + fn_);
    let total = KindScore {
        kind: "all".to_owned(),
        planted: sum(|k| k.planted),
        near_misses: sum(|k| k.near_misses),
        alerted: sum(|k| k.alerted),
        tp,
        fp,
        fn_,
        near_misses_alerted: sum(|k| k.near_misses_alerted),
        precision,
        recall,
        meets_target: kinds.iter().all(|k| k.meets_target),
        missed: Vec::new(),
        wrongly_alerted: Vec::new(),
    };
    Report {
        generator_seed: truth.generator_seed,
        kinds,
        total,
        unknown_kinds,
        alerts_read: alerts.len(),
    }
}

fn fmt(x: Option<f64>) -> String {
    x.map_or("–".to_owned(), |v| format!("{v:.3}"))
}

/// The report as a markdown table.
pub fn markdown(r: &Report) -> String {
    let mut s = String::from(
        "| kind | planted | near misses | alerted | TP | FP | FN | near misses alerted | precision | recall | target |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n",
    );
    for k in r.kinds.iter().chain(std::iter::once(&r.total)) {
        s.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            if k.kind == "all" { "**all**" } else { &k.kind },
            k.planted,
            k.near_misses,
            k.alerted,
            k.tp,
            k.fp,
            k.fn_,
            k.near_misses_alerted,
            fmt(k.precision),
            fmt(k.recall),
            if k.meets_target { "met" } else { "**not met**" },
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use shian_core::generator::{SubjectType, TruthCase};

    fn case(kind: &str, t: SubjectType, id: &str, planted: bool) -> TruthCase {
        TruthCase {
            kind: kind.to_owned(),
            subject_type: t,
            subject_id: id.to_owned(),
            planted,
            note: String::new(),
        }
    }

    fn alert(kind: &str, t: &str, id: &str) -> AlertKey {
        AlertKey {
            kind: kind.to_owned(),
            subject_type: t.to_owned(),
            subject_id: id.to_owned(),
        }
    }

    fn kind<'a>(r: &'a Report, k: &str) -> &'a KindScore {
        r.kinds.iter().find(|x| x.kind == k).unwrap()
    }

    #[test]
    fn a_made_truth_and_made_alerts_give_the_known_answer() {
        use SubjectType::{Category, Market, Merchant};
        let truth = GroundTruth {
            generator_seed: 7,
            cases: vec![
                // Four planted, one near miss.
                case("licence_expiring_7d", Merchant, "m1", true),
                case("licence_expiring_7d", Merchant, "m2", true),
                case("licence_expiring_7d", Merchant, "m3", true),
                case("licence_expiring_7d", Merchant, "m4", true),
                case("licence_expiring_7d", Merchant, "m5", false),
                // A market and a category of the same kind, by type.
                case("pass_rate_abnormal", Market, "mk0000", true),
                case("pass_rate_abnormal", Category, "aquatic", false),
                case("complaint_hot_topic", Category, "aquatic", true),
            ],
        };
        let alerts = vec![
            // 3 of 4 found, the near miss alerted, an unlisted one alerted,
            // and m1 twice (one alert per subject counts once).
            alert("licence_expiring_7d", "merchant", "m1"),
            alert("licence_expiring_7d", "merchant", "m1"),
            alert("licence_expiring_7d", "merchant", "m2"),
            alert("licence_expiring_7d", "merchant", "m3"),
            alert("licence_expiring_7d", "merchant", "m5"),
            alert("licence_expiring_7d", "merchant", "m9"),
            // Right id, wrong subject type: not the planted market.
            alert("pass_rate_abnormal", "merchant", "mk0000"),
            alert("complaint_hot_topic", "category", "aquatic"),
            alert("made_up_kind", "merchant", "m1"),
        ];
        let r = compare(&truth, &alerts);
        let l = kind(&r, "licence_expiring_7d");
        assert_eq!(
            (
                l.planted,
                l.near_misses,
                l.alerted,
                l.tp,
                l.fp,
                l.fn_,
                l.near_misses_alerted
            ),
            (4, 1, 5, 3, 2, 1, 1)
        );
        assert_eq!(l.precision, Some(0.6));
        assert_eq!(l.recall, Some(0.75));
        assert!(!l.meets_target);
        assert_eq!(l.missed, vec!["merchant:m4"]);
        assert_eq!(l.wrongly_alerted, vec!["merchant:m5", "merchant:m9"]);

        let p = kind(&r, "pass_rate_abnormal");
        assert_eq!((p.tp, p.fp, p.fn_), (0, 1, 1));
        assert_eq!((p.precision, p.recall), (Some(0.0), Some(0.0)));

        let h = kind(&r, "complaint_hot_topic");
        assert_eq!((h.tp, h.fp, h.fn_, h.meets_target), (1, 0, 0, true));

        // A kind with nothing planted and nothing alerted has no figures
        // and meets the target; one with planted cases and no alerts fails.
        let n = kind(&r, "not_sampled");
        assert_eq!((n.precision, n.recall, n.meets_target), (None, None, true));

        assert_eq!(r.unknown_kinds.get("made_up_kind"), Some(&1));
        assert_eq!(r.alerts_read, 9);
        assert_eq!((r.total.tp, r.total.fp, r.total.fn_), (4, 3, 2));
        assert_eq!(r.total.precision, Some(4.0 / 7.0));
        assert_eq!(r.total.recall, Some(4.0 / 6.0));
        assert!(!r.total.meets_target);
        let table = markdown(&r);
        assert!(
            table.contains(
                "| licence_expiring_7d | 4 | 1 | 5 | 3 | 2 | 1 | 1 | 0.600 | 0.750 | **not met** |"
            ),
            "{table}"
        );
        assert_eq!(table.lines().count(), 2 + ALERT_KINDS.len() + 1);
    }

    #[test]
    fn a_perfect_engine_meets_every_target() {
        let truth = GroundTruth {
            generator_seed: 1,
            cases: vec![
                case("not_sampled", SubjectType::Merchant, "m1", true),
                case("not_sampled", SubjectType::Merchant, "m2", false),
            ],
        };
        let r = compare(&truth, &[alert("not_sampled", "merchant", "m1")]);
        assert!(r.total.meets_target);
        assert_eq!(kind(&r, "not_sampled").precision, Some(1.0));
        // Planted but never alerted: recall 0, target missed.
        let r = compare(&truth, &[]);
        assert!(!kind(&r, "not_sampled").meets_target);
    }

    #[test]
    fn an_alert_reads_from_the_contract_json() {
        let a: Value = serde_json::json!({
            "id": "a1", "kind": "price_below_market", "severity": "high",
            "subject": {"type": "merchant", "id": "m000123", "market_id": "mk0000", "name": "x"},
            "status": "new"
        });
        assert_eq!(
            AlertKey::from_json(&a),
            Some(alert("price_below_market", "merchant", "m000123"))
        );
        assert_eq!(AlertKey::from_json(&serde_json::json!({"kind": "x"})), None);
    }
}
