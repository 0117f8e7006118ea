//! Checklist templates (监督检查要点表) as versioned data.
//!
//! The 2016 notice 食药监食监一〔2016〕58号 publishes the daily inspection
//! key-point tables (1-2 food sales, 1-3 catering) and lets provinces refine
//! them, so the items are data, not code: JSON files in `core/data/checklists/`,
//! embedded in the library so a phone offline has them, and identified by
//! `(id, version)` so that an old record is always re-evaluated against the
//! exact template it was made with. Items are key items (重点项, marked `*` in
//! the tables) or general items (一般项); the distinction drives the result
//! (see [`super::evaluate`]).

use std::collections::HashSet;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use super::error::InspectionError;

/// Key (重点项) or general (一般项) item: one failed key item makes the whole
/// inspection 不符合 (食药监食监一〔2016〕58号, 结果判定).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemKind {
    Key,
    General,
}

impl ItemKind {
    /// Label on the printed record.
    pub fn label_zh(self) -> &'static str {
        match self {
            ItemKind::Key => "重点项",
            ItemKind::General => "一般项",
        }
    }
}

/// How an item is answered on the phone.
///
/// Every answer also carries the inspector's `compliant` judgement; a number
/// outside its limits fails whatever the judgement says, so a typed-in fridge
/// temperature of 12 ℃ cannot be marked "fine".
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AnswerType {
    /// 是/否.
    #[default]
    YesNo,
    /// A measured value with inclusive limits (at least one of them).
    Number {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        min: Option<f64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max: Option<f64>,
        unit: String,
    },
    /// At least one photo (content-addressed by SHA-256) as evidence.
    Photo,
}

impl AnswerType {
    /// Whether `value` is within the limits (always true for non-number items).
    pub fn within_limits(&self, value: f64) -> bool {
        match self {
            AnswerType::Number { min, max, .. } => {
                value.is_finite()
                    && !matches!(min, Some(m) if value < *m)
                    && !matches!(max, Some(m) if value > *m)
            }
            _ => true,
        }
    }

    /// The limits as text, e.g. `0～8 ℃`, `≥ 60 ℃`.
    pub fn limits_zh(&self) -> Option<String> {
        match self {
            AnswerType::Number { min, max, unit } => Some(match (min, max) {
                (Some(a), Some(b)) => format!("{a}～{b} {unit}"),
                (Some(a), None) => format!("≥ {a} {unit}"),
                (None, Some(b)) => format!("≤ {b} {unit}"),
                (None, None) => unit.clone(),
            }),
            _ => None,
        }
    }
}

/// One line of a checklist.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChecklistItem {
    /// Stable within the template, e.g. `"3.2"`.
    pub id: String,
    pub kind: ItemKind,
    /// The heading it sits under (检查项目), e.g. `"经营资质"`.
    #[serde(default)]
    pub section: String,
    /// What the inspector checks (检查内容), zh-CN.
    pub text: String,
    /// The legal provision it enforces, e.g. `《食品安全法》第五十三条`.
    pub basis: String,
    #[serde(default)]
    pub answer: AnswerType,
    /// May be answered "not applicable" (合理缺项), e.g. imported food at a
    /// stall that sells none. Such answers count neither as checked nor failed.
    #[serde(default)]
    pub allow_not_applicable: bool,
}

/// A versioned checklist template.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Template {
    /// e.g. `"food_sales_daily"`.
    pub id: String,
    /// Starts at 1; a changed item list is a new version, never an edit.
    pub version: u32,
    /// e.g. `"食品销售日常监督检查要点表"`.
    pub title: String,
    /// `food_sales`, `catering`, … (free text, for filtering).
    #[serde(default)]
    pub business_type: String,
    /// Where the items come from.
    #[serde(default)]
    pub source: String,
    /// A self-inspection template's cadence (日管控/周排查/月调度); `None`
    /// for the inspectors' checklists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cadence: Option<crate::self_check::Cadence>,
    /// Who does a self-inspection (食品安全员/食品安全总监); `None` for the
    /// inspectors' checklists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub performer: Option<crate::self_check::Performer>,
    pub items: Vec<ChecklistItem>,
}

impl Template {
    /// The item with this id.
    pub fn item(&self, id: &str) -> Option<&ChecklistItem> {
        self.items.iter().find(|i| i.id == id)
    }

    /// Number of key and general items.
    pub fn counts(&self) -> (usize, usize) {
        let key = self
            .items
            .iter()
            .filter(|i| i.kind == ItemKind::Key)
            .count();
        (key, self.items.len() - key)
    }

    /// Checks the template's own consistency: id and title present, version ≥ 1,
    /// items present with unique well-formed ids, text and basis present, number
    /// limits sane.
    pub fn validate(&self) -> Result<(), InspectionError> {
        let bad = |field: String, reason: &str| InspectionError::InvalidTemplate {
            template_id: self.id.clone(),
            field,
            reason: reason.to_string(),
        };
        if !is_identifier(&self.id) {
            return Err(bad(
                "id".into(),
                "模板编号须为 1–64 位字母、数字、点、下划线或连字符",
            ));
        }
        if self.version == 0 {
            return Err(bad("version".into(), "版本号从 1 开始"));
        }
        if self.title.trim().is_empty() {
            return Err(bad("title".into(), "标题不能为空"));
        }
        if self.items.is_empty() {
            return Err(bad("items".into(), "检查项不能为空"));
        }
        let mut seen = HashSet::with_capacity(self.items.len());
        for (i, item) in self.items.iter().enumerate() {
            if !is_identifier(&item.id) {
                return Err(bad(format!("items[{i}].id"), "检查项编号格式无效"));
            }
            if !seen.insert(item.id.as_str()) {
                return Err(bad(format!("items[{i}].id"), "检查项编号重复"));
            }
            if item.text.trim().is_empty() {
                return Err(bad(format!("items[{i}].text"), "检查内容不能为空"));
            }
            if item.basis.trim().is_empty() {
                return Err(bad(format!("items[{i}].basis"), "缺少法律依据"));
            }
            if let AnswerType::Number { min, max, unit } = &item.answer {
                let finite = !matches!(min, Some(m) if !m.is_finite())
                    && !matches!(max, Some(m) if !m.is_finite());
                if !finite || (min.is_none() && max.is_none()) {
                    return Err(bad(
                        format!("items[{i}].answer"),
                        "数值项须至少有一个有效限值",
                    ));
                }
                if let (Some(a), Some(b)) = (min, max) {
                    if a > b {
                        return Err(bad(format!("items[{i}].answer"), "下限大于上限"));
                    }
                }
                if unit.trim().is_empty() {
                    return Err(bad(format!("items[{i}].answer.unit"), "数值项须有单位"));
                }
            }
        }
        Ok(())
    }
}

/// 1–64 chars of `[A-Za-z0-9._-]`.
pub(crate) fn is_identifier(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Parses and validates one template from JSON.
pub fn parse_template(json: &str) -> Result<Template, InspectionError> {
    let t: Template = serde_json::from_str(json).map_err(|e| InspectionError::InvalidJson {
        message: e.to_string(),
    })?;
    t.validate()?;
    Ok(t)
}

/// The templates one device or server knows, unique by `(id, version)`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TemplateRegistry {
    templates: Vec<Template>,
}

/// The templates shipped in the library (`core/data/checklists/`).
const BUILTIN_TEMPLATES: &[(&str, &str)] = &[
    (
        "food_sales_daily.v1.json",
        include_str!("../../data/checklists/food_sales_daily.v1.json"),
    ),
    (
        "catering_daily.v1.json",
        include_str!("../../data/checklists/catering_daily.v1.json"),
    ),
];

impl TemplateRegistry {
    /// Builds a registry, validating every template and rejecting a repeated
    /// `(id, version)`. Servers use it to add provincial templates to the
    /// built-in ones.
    pub fn new(templates: Vec<Template>) -> Result<Self, InspectionError> {
        let mut seen = HashSet::with_capacity(templates.len());
        for t in &templates {
            t.validate()?;
            if !seen.insert((t.id.as_str(), t.version)) {
                return Err(InspectionError::DuplicateTemplate {
                    template_id: t.id.clone(),
                    version: t.version,
                });
            }
        }
        let mut templates = templates;
        templates.sort_by(|a, b| a.id.cmp(&b.id).then(a.version.cmp(&b.version)));
        Ok(Self { templates })
    }

    /// The built-in templates, parsed once.
    pub fn builtin() -> Result<&'static TemplateRegistry, InspectionError> {
        static BUILTIN: OnceLock<Result<TemplateRegistry, InspectionError>> = OnceLock::new();
        BUILTIN
            .get_or_init(|| {
                let mut v = Vec::with_capacity(BUILTIN_TEMPLATES.len());
                for (_name, json) in BUILTIN_TEMPLATES {
                    v.push(parse_template(json)?);
                }
                TemplateRegistry::new(v)
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    /// All templates, sorted by id then version.
    pub fn list(&self) -> &[Template] {
        &self.templates
    }

    /// The template with this id and version.
    pub fn get(&self, id: &str, version: u32) -> Option<&Template> {
        self.templates
            .iter()
            .find(|t| t.id == id && t.version == version)
    }

    /// The highest version of a template (what a new inspection uses).
    pub fn latest(&self, id: &str) -> Option<&Template> {
        self.templates
            .iter()
            .filter(|t| t.id == id)
            .max_by_key(|t| t.version)
    }

    /// Adds a template (validated; `(id, version)` must be new).
    pub fn insert(&mut self, template: Template) -> Result<(), InspectionError> {
        template.validate()?;
        if self.get(&template.id, template.version).is_some() {
            return Err(InspectionError::DuplicateTemplate {
                template_id: template.id,
                version: template.version,
            });
        }
        self.templates.push(template);
        self.templates
            .sort_by(|a, b| a.id.cmp(&b.id).then(a.version.cmp(&b.version)));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn builtin() -> &'static TemplateRegistry {
        match TemplateRegistry::builtin() {
            Ok(r) => r,
            Err(e) => panic!("builtin templates invalid: {e}"),
        }
    }

    #[test]
    fn builtin_templates_load_with_a_mix_of_items() {
        let r = builtin();
        assert_eq!(r.list().len(), 2);
        for t in r.list() {
            let (key, general) = t.counts();
            assert!(
                (15..=30).contains(&t.items.len()),
                "{} has {} items",
                t.id,
                t.items.len()
            );
            assert!(
                key >= 5 && general >= 9,
                "{}: {key} key / {general} general",
                t.id
            );
            assert!(t
                .items
                .iter()
                .any(|i| matches!(i.answer, AnswerType::Number { .. })));
            assert!(t
                .items
                .iter()
                .any(|i| matches!(i.answer, AnswerType::Photo)));
            assert!(t.items.iter().all(|i| i.basis.contains('《')));
        }
        assert!(r.get("food_sales_daily", 1).is_some());
        assert!(r.get("catering_daily", 1).is_some());
        assert!(r.get("food_sales_daily", 2).is_none());
        assert_eq!(r.latest("catering_daily").map(|t| t.version), Some(1));
    }

    #[test]
    fn loader_rejects_duplicate_item_ids_and_bad_limits() {
        let mut t = builtin().list()[0].clone();
        t.items[1].id = t.items[0].id.clone();
        let e = t.validate().err();
        assert!(
            matches!(e, Some(InspectionError::InvalidTemplate { ref field, .. }) if field == "items[1].id")
        );

        let mut t = builtin().list()[0].clone();
        t.items[0].answer = AnswerType::Number {
            min: Some(5.0),
            max: Some(1.0),
            unit: "℃".into(),
        };
        assert!(t.validate().is_err());
        t.items[0].answer = AnswerType::Number {
            min: None,
            max: None,
            unit: "℃".into(),
        };
        assert!(t.validate().is_err());

        let mut t = builtin().list()[0].clone();
        t.items[0].basis = " ".into();
        assert!(t.validate().is_err());
        let mut t = builtin().list()[0].clone();
        t.version = 0;
        assert!(t.validate().is_err());
        assert!(parse_template("{").is_err());
    }

    #[test]
    fn registry_rejects_duplicate_versions_and_accepts_new_ones() {
        let t = builtin().list()[0].clone();
        let e = TemplateRegistry::new(vec![t.clone(), t.clone()]).err();
        assert_eq!(e.map(|e| e.code()), Some("duplicate_template"));
        let mut r = builtin().clone();
        let mut t2 = t.clone();
        t2.version = 2;
        assert!(r.insert(t2).is_ok());
        assert_eq!(r.latest(&t.id).map(|t| t.version), Some(2));
        assert!(r.insert(t).is_err());
    }

    #[test]
    fn number_limits_are_inclusive() {
        let a = AnswerType::Number {
            min: Some(0.0),
            max: Some(8.0),
            unit: "℃".into(),
        };
        assert!(a.within_limits(0.0) && a.within_limits(8.0));
        assert!(!a.within_limits(8.1) && !a.within_limits(-0.1) && !a.within_limits(f64::NAN));
        assert_eq!(a.limits_zh().as_deref(), Some("0～8 ℃"));
        assert!(AnswerType::YesNo.within_limits(1e9));
    }
}
