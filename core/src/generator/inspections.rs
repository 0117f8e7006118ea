//! A two-year history of routine inspections (日常监督检查) on the food
//! sales checklist: every seller inspected about once a year, most records
//! compliant, some with a general item found wanting (基本符合) and a few
//! with a key item (不符合). No warning kind reads inspections; they make
//! the demo's inspection figures and the grading facts look like a
//! district's. Kitchens are left out (they have a checklist of their own).

use chrono::{DateTime, Duration, FixedOffset};
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};
use uuid::{Builder, Uuid};

use super::clock::{self, HOUR, MINUTE};
use super::plants::Planted;
use super::registry::GenMerchant;
use crate::inspection::{
    evaluate, AnswerType, InspectionError, InspectionRules, ItemKind, TemplateRegistry,
};

const INSPECTION_STREAM: u64 = 0x494e_5350_4543_545f;
/// The checklist every generated inspection uses.
pub const TEMPLATE: &str = "food_sales_daily";

/// One inspection, ready to be sent as an `inspection.record` op.
#[derive(Debug, Clone, PartialEq)]
pub struct GenInspection {
    pub inspection_id: Uuid,
    pub merchant_id: String,
    pub started_at: DateTime<FixedOffset>,
    pub finished_at: DateTime<FixedOffset>,
    /// Items answered 否.
    pub failed_items: Vec<String>,
}

impl GenInspection {
    /// The `inspection.record` payload signed by `inspectors` (registered
    /// inspector accounts, the pusher among them), every item answered (a
    /// photo item with the uploaded `photo`, by its SHA-256) and the result
    /// as core's evaluation gives it.
    pub fn payload(&self, inspectors: &[String], photo: &str) -> Result<Value, InspectionError> {
        let template = TemplateRegistry::builtin()?
            .latest(TEMPLATE)
            .ok_or_else(|| InspectionError::UnknownTemplate {
                field: "template_id".into(),
                template_id: TEMPLATE.into(),
                version: 0,
            })?;
        let answers: Vec<Value> = template
            .items
            .iter()
            .map(|i| {
                let compliant = !self.failed_items.contains(&i.id);
                // Only yes/no items fail; a measured one is in range.
                let value = match &i.answer {
                    AnswerType::Number { min, max, .. } => Some(match (min, max) {
                        (Some(lo), Some(hi)) => (lo + hi) / 2.0,
                        (Some(lo), None) => lo + 2.0,
                        (None, Some(hi)) => hi - 2.0,
                        (None, None) => 0.0,
                    }),
                    _ => None,
                };
                let photos: Vec<&str> = match &i.answer {
                    AnswerType::Photo => vec![photo],
                    _ => Vec::new(),
                };
                json!({"item_id": i.id, "compliant": compliant, "value": value, "photos": photos})
            })
            .collect();
        let typed: Vec<crate::inspection::Answer> =
            serde_json::from_value(Value::Array(answers.clone())).map_err(|e| {
                InspectionError::InvalidJson {
                    message: e.to_string(),
                }
            })?;
        let evaluation = evaluate(
            template,
            &typed,
            self.finished_at,
            InspectionRules::builtin()?,
        )?;
        Ok(json!({
            "inspection_id": self.inspection_id.to_string(),
            "merchant_id": self.merchant_id,
            "template_id": template.id,
            "template_version": template.version,
            "inspectors": inspectors,
            "answers": typed,
            "result": evaluation.result,
            "started_at": self.started_at.to_rfc3339(),
            "finished_at": self.finished_at.to_rfc3339(),
        }))
    }
}

/// Every seller's inspections, oldest first.
pub(crate) fn inspections(
    seed: u64,
    merchants: &[GenMerchant],
    planted: &Planted,
) -> Vec<GenInspection> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ INSPECTION_STREAM);
    let Some(template) = TemplateRegistry::builtin()
        .ok()
        .and_then(|r| r.latest(TEMPLATE))
    else {
        return Vec::new();
    };
    let general: Vec<&str> = template
        .items
        .iter()
        .filter(|i| i.kind == ItemKind::General && matches!(i.answer, AnswerType::YesNo))
        .map(|i| i.id.as_str())
        .collect();
    let key: Vec<&str> = template
        .items
        .iter()
        .filter(|i| i.kind == ItemKind::Key && matches!(i.answer, AnswerType::YesNo))
        .map(|i| i.id.as_str())
        .collect();
    let mut out = Vec::new();
    for m in merchants.iter().filter(|m| m.business_type != "catering") {
        let first = rng.random_range(20..340);
        for ago in [first, first + rng.random_range(300..430)] {
            let x: f64 = rng.random();
            let failed_items: Vec<String> = if x < 0.02 {
                key.choose(&mut rng)
                    .map(|s| vec![s.to_string()])
                    .unwrap_or_default()
            } else if x < 0.12 {
                general
                    .choose(&mut rng)
                    .map(|s| vec![s.to_string()])
                    .unwrap_or_default()
            } else {
                Vec::new()
            };
            let date = planted.today - Duration::days(ago);
            let start = clock::midnight(date) + rng.random_range(9 * HOUR..16 * HOUR);
            let end = start + rng.random_range(30 * MINUTE..90 * MINUTE);
            out.push(GenInspection {
                inspection_id: Builder::from_random_bytes(rng.random()).into_uuid(),
                merchant_id: m.id.clone(),
                started_at: clock::to_datetime(start),
                finished_at: clock::to_datetime(end),
                failed_items,
            });
        }
    }
    out.sort_by_key(|i| i.started_at);
    out
}
