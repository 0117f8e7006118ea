//! Self-inspections (日管控、周排查、月调度) on the market's tablet: the
//! templates (built in, and those pulled as `self_check_template`), a
//! check evaluated and recorded offline (`market.self_check` in the
//! outbox, checked first by core's `self_check::check_self_check`, the one
//! the server re-runs), the market's follow-ups as pulled
//! (`market.self_check` / `market.follow_up_closed` changes) and a
//! follow-up closed offline (`market.follow_up_closed`). `sync_now` sends
//! and pulls. Thin over `shian_core::self_check`.

use chrono::{DateTime, FixedOffset, NaiveDate, Offset, Utc};
use serde_json::{json, Value};
use shian_core::inspection::{parse_template, TemplateRegistry};
use shian_core::self_check::{
    check_self_check, follow_up_status, parse_closure, templates, Cadence, Period, SelfCheckError,
    CLOSE_KIND, RECORD_KIND, TEMPLATE_KIND,
};

use crate::error::ShianError;
use crate::inspection::{AnswerInput, ChecklistRecord, ViolationRecord};
use crate::store::ShianStore;

/// A self-inspection template with its cadence and who does it.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct SelfCheckTemplateRecord {
    pub template: ChecklistRecord,
    /// `daily` (日管控), `weekly` (周排查) or `monthly` (月调度).
    pub cadence: String,
    /// 日管控 / 周排查 / 月调度.
    pub cadence_zh: String,
    /// `food_safety_officer` or `food_safety_director`.
    pub performer: String,
    /// 食品安全员 / 食品安全总监.
    pub performer_zh: String,
}

/// A finding that needs follow-up, as typed.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SelfCheckFindingInput {
    pub item_id: String,
    pub note: String,
    /// The date to put it right by (YYYY-MM-DD, Asia/Shanghai).
    pub follow_up_by: String,
}

/// A self-inspection as typed on the tablet.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct SelfCheckInput {
    /// None: a new UUIDv7 (pass one to make a retried call idempotent).
    pub check_id: Option<String>,
    pub market_id: String,
    pub template_id: String,
    pub template_version: u32,
    /// None: the period `at` falls in (the day, ISO week or month).
    pub period: Option<String>,
    pub answers: Vec<AnswerInput>,
    pub findings: Vec<SelfCheckFindingInput>,
    /// When done (RFC 3339 with offset); None: now.
    pub at: Option<String>,
}

/// A recorded (queued) self-inspection.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct SelfCheckOutcome {
    pub check_id: String,
    pub cadence: String,
    pub period: String,
    /// `compliant`, `basically_compliant` or `non_compliant`.
    pub result: String,
    pub result_zh: String,
    pub violations: Vec<ViolationRecord>,
    /// `{check_id}:{item_id}` of each finding, to close it later.
    pub finding_ids: Vec<String>,
}

/// A follow-up as the tablet knows it.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct FollowUpRecord {
    pub finding_id: String,
    pub check_id: String,
    pub period: String,
    pub item_id: String,
    pub item_text: String,
    pub note: String,
    pub follow_up_by: String,
    /// `open`, `overdue` or `closed`.
    pub status: String,
    pub close_note: Option<String>,
}

fn china() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).unwrap_or_else(|| Utc.fix())
}

impl From<SelfCheckError> for ShianError {
    fn from(e: SelfCheckError) -> Self {
        ShianError::Validation {
            code: e.code.to_owned(),
            message: e.message,
            field: e.field,
        }
    }
}

fn at_or_now(at: Option<&str>, now: DateTime<Utc>) -> Result<DateTime<FixedOffset>, ShianError> {
    match at {
        Some(s) => DateTime::parse_from_rfc3339(s.trim()).map_err(|_| {
            ShianError::invalid(
                "at",
                "invalid_timestamp",
                "at 须为带时区偏移的 RFC 3339 时间",
            )
        }),
        None => Ok(now.with_timezone(&china())),
    }
}

fn cadence(s: &str) -> Result<Cadence, ShianError> {
    Cadence::parse(s).ok_or_else(|| {
        ShianError::invalid(
            "cadence",
            "invalid_field",
            "cadence 应为 daily、weekly 或 monthly",
        )
    })
}

fn text(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_owned()
}

impl ShianStore {
    /// The built-in self-inspection templates and those pulled.
    fn self_check_registry(&self) -> Result<TemplateRegistry, ShianError> {
        let mut all = templates()?.clone();
        for t in self.lock()?.inbox(TEMPLATE_KIND)? {
            if let Ok(t) = parse_template(&t.to_string()) {
                if t.cadence.is_some() && all.get(&t.id, t.version).is_none() {
                    let _ = all.insert(t);
                }
            }
        }
        Ok(all)
    }
}

#[uniffi::export]
impl ShianStore {
    /// The self-inspection templates this tablet knows (built in and pulled).
    pub fn self_check_templates(&self) -> Result<Vec<SelfCheckTemplateRecord>, ShianError> {
        Ok(self
            .self_check_registry()?
            .list()
            .iter()
            .filter_map(|t| {
                let (c, p) = (t.cadence?, t.performer?);
                Some(SelfCheckTemplateRecord {
                    template: t.into(),
                    cadence: c.as_str().to_owned(),
                    cadence_zh: c.label_zh().to_owned(),
                    performer: serde_json::to_value(p)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_default(),
                    performer_zh: p.label_zh().to_owned(),
                })
            })
            .collect())
    }

    /// The period of `cadence` that `at` (RFC 3339; None: now) falls in,
    /// Asia/Shanghai: `2026-11-30`, `2026-W48`, `2026-11`.
    pub fn self_check_period(
        &self,
        cadence_name: String,
        at: Option<String>,
    ) -> Result<String, ShianError> {
        let at = at_or_now(at.as_deref(), Utc::now())?;
        Ok(Period::at(cadence(&cadence_name)?, at.with_timezone(&Utc)).to_string())
    }

    /// Evaluates and records a self-inspection offline: checked as the
    /// server will (template, period containing `at`, answers, one finding
    /// per failed item), then queued as `market.self_check` with the check
    /// id as op id. Refused, nothing is queued.
    pub fn record_self_check(&self, input: SelfCheckInput) -> Result<SelfCheckOutcome, ShianError> {
        let now = Utc::now();
        let at = at_or_now(input.at.as_deref(), now)?;
        let registry = self.self_check_registry()?;
        let template_cadence = registry
            .get(&input.template_id, input.template_version)
            .and_then(|t| t.cadence);
        let period = match (input.period, template_cadence) {
            (Some(p), _) => p,
            (None, Some(c)) => Period::at(c, at.with_timezone(&Utc)).to_string(),
            (None, None) => String::new(),
        };
        let check_id = input.check_id.unwrap_or_else(crate::ledger::new_id);
        let answers: Vec<shian_core::inspection::Answer> =
            input.answers.iter().map(Into::into).collect();
        let payload = json!({
            "check_id": check_id,
            "market_id": input.market_id,
            "template_id": input.template_id,
            "template_version": input.template_version,
            "period": period,
            "answers": answers,
            "findings": input.findings.iter().map(|f| json!({
                "item_id": f.item_id, "note": f.note, "follow_up_by": f.follow_up_by,
            })).collect::<Vec<_>>(),
        });
        let c = check_self_check(&payload, &at.to_rfc3339(), now)?;
        self.lock()?.enqueue(
            &c.check_id.to_string(),
            RECORD_KIND,
            &at.to_rfc3339(),
            &payload,
        )?;
        Ok(SelfCheckOutcome {
            check_id: c.check_id.to_string(),
            cadence: c.cadence.as_str().to_owned(),
            period: c.period.to_string(),
            result: c.evaluation.result.as_str().to_owned(),
            result_zh: c.evaluation.result.label_zh().to_owned(),
            violations: c.evaluation.violations.iter().map(Into::into).collect(),
            finding_ids: c.findings.iter().map(|f| f.finding_id.clone()).collect(),
        })
    }

    /// The market's follow-ups as pulled, overdue first then by date, each
    /// `open`, `overdue` (its date over in Asia/Shanghai) or `closed`.
    pub fn self_check_follow_ups(&self) -> Result<Vec<FollowUpRecord>, ShianError> {
        let store = self.lock()?;
        let closings = store.inbox(CLOSE_KIND)?;
        let checks = store.inbox(RECORD_KIND)?;
        drop(store);
        let now = Utc::now();
        let mut out = Vec::new();
        for c in &checks {
            for f in c["findings"].as_array().into_iter().flatten() {
                let id = text(&f["finding_id"]);
                let closing = closings.iter().find(|x| x["finding_id"] == id.as_str());
                let by = NaiveDate::parse_from_str(&text(&f["follow_up_by"]), "%Y-%m-%d").ok();
                let status = by.map_or("open", |by| {
                    follow_up_status(by, closing.is_some(), now).as_str()
                });
                out.push(FollowUpRecord {
                    finding_id: id,
                    check_id: text(&c["check_id"]),
                    period: text(&c["period"]),
                    item_id: text(&f["item_id"]),
                    item_text: text(&f["item_text"]),
                    note: text(&f["note"]),
                    follow_up_by: text(&f["follow_up_by"]),
                    status: status.to_owned(),
                    close_note: closing.map(|x| text(&x["note"])),
                });
            }
        }
        out.sort_by(|a, b| {
            (a.status != "overdue", &a.follow_up_by).cmp(&(b.status != "overdue", &b.follow_up_by))
        });
        Ok(out)
    }

    /// Closes a follow-up offline: checked (note, photos; a finding pulled
    /// as closed is `follow_up_already_closed`), then queued as
    /// `market.follow_up_closed`. Returns the op id.
    pub fn close_follow_up(
        &self,
        finding_id: String,
        note: String,
        photos: Vec<String>,
        at: Option<String>,
    ) -> Result<String, ShianError> {
        let now = Utc::now();
        let at = at_or_now(at.as_deref(), now)?;
        let payload = json!({"finding_id": finding_id, "note": note, "photos": photos});
        let c = parse_closure(&payload, &at.to_rfc3339(), now)?;
        let mut store = self.lock()?;
        if store
            .inbox(CLOSE_KIND)?
            .iter()
            .any(|x| x["finding_id"] == c.finding_id.as_str())
        {
            return Err(SelfCheckError::new(
                "follow_up_already_closed",
                "该问题已整改关闭",
                "payload.finding_id",
            )
            .into());
        }
        let op_id = crate::ledger::new_id();
        store.enqueue(&op_id, CLOSE_KIND, &at.to_rfc3339(), &payload)?;
        Ok(op_id)
    }
}
