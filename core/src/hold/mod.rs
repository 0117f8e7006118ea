//! Holds (暂扣): a market operator stops the sale of one batch of one of
//! its merchants — goods of unknown origin, a failed rapid test, a recall —
//! until it releases the hold or the goods are destroyed (销毁, a
//! `ledger.dispose` with method `destroyed`, a witness and photos).
//! 《食用农产品市场销售质量安全监督管理办法》(总局令第81号) makes the market
//! operator stop the sale of goods that fail or cannot show their origin
//! and report to the regulator at once; the hold is that stop, kept as data.
//!
//! **The rule, once.** [`crate::rules::check_hold`] decides a sale of a
//! held batch on the device (against the holds it pulled) and on the server
//! (against every hold), so the two cannot disagree:
//! - a sale made *after* the device had the hold is refused, `batch_held`,
//!   with a zh-CN reason naming the hold (offline too: the device keeps the
//!   holds it pulled);
//! - a sale made *before* the hold reached the device — its `sold_at`
//!   earlier than the hold's `placed_at`, or the device had not pulled the
//!   hold when it pushed the sale — is recorded, not lost, and carries the
//!   warning `held_batch_sold` with the evidence (the regulator sees it).
//!
//! **How the server tells the two apart.** A push carries the device's
//! pull cursor (`pulled_cursor`, what it had pulled before it pushed; core's
//! sync client pushes before it pulls, so that is what the device knew when
//! it recorded the ops). Each hold remembers the sequence of its
//! `hold.placed` change in the merchant's feed; the device had the hold iff
//! its cursor's change position is at or past that sequence. Limits: the
//! cursor and the sale's time are the device's word (a tampered app could
//! claim an older cursor or back-date a sale; either way the sale is kept
//! with a `held_batch_sold` warning for the regulator, never silently
//! accepted); a push without a cursor (older apps, tools) counts as "had
//! not pulled it"; a merchant's two devices are judged each by its own
//! cursor. Only the hold in force when the sale arrives is consulted (a
//! released or destroyed hold no longer stops anything).
//!
//! **Ops and changes.** From the operator's tablet or the console's form
//! (the same service): `market.hold {hold_id, market_id, merchant_id,
//! trace_code, reason, note?}` with the op's `at` the moment the goods were
//! held, and `market.hold_release {hold_id, note}`. To the merchant's
//! devices and the market's tablets: `hold.placed` and `hold.released`
//! (payload: [`HoldChange`]; `id` is the hold id; `status` `released` or
//! `destroyed` on the latter).

pub mod local;

use chrono::{DateTime, Duration, FixedOffset, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::codes;
use crate::error::FieldError;
use crate::fields::{check_text, parse_time};

/// The op an operator places a hold with.
pub const PLACE_KIND: &str = "market.hold";
/// The op that ends a hold without destruction.
pub const RELEASE_KIND: &str = "market.hold_release";
/// The change a hold reaches devices as.
pub const PLACED_CHANGE: &str = "hold.placed";
/// The change its end reaches devices as.
pub const RELEASED_CHANGE: &str = "hold.released";

/// Longest note on a hold or its release.
pub const MAX_NOTE_CHARS: usize = 200;
/// How far a tablet's clock may run ahead of the server's.
pub const MAX_SKEW_SECS: i64 = 300;
/// How old a hold made offline may be when it arrives.
pub const MAX_BACKDATE_DAYS: i64 = 7;

/// Why a batch is held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HoldReason {
    /// 来源不明: no purchase record or certificate for the goods.
    UnknownOrigin,
    /// 快检不合格.
    RapidTestFailed,
    /// 召回.
    Recall,
    Other,
}

impl HoldReason {
    pub const ALL: [HoldReason; 4] = [
        HoldReason::UnknownOrigin,
        HoldReason::RapidTestFailed,
        HoldReason::Recall,
        HoldReason::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            HoldReason::UnknownOrigin => "unknown_origin",
            HoldReason::RapidTestFailed => "rapid_test_failed",
            HoldReason::Recall => "recall",
            HoldReason::Other => "other",
        }
    }

    pub fn parse(s: &str) -> Option<HoldReason> {
        HoldReason::ALL.into_iter().find(|r| r.as_str() == s)
    }

    pub fn zh(self) -> &'static str {
        match self {
            HoldReason::UnknownOrigin => "来源不明",
            HoldReason::RapidTestFailed => "快检不合格",
            HoldReason::Recall => "召回",
            HoldReason::Other => "其他原因",
        }
    }
}

/// Where a hold stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HoldStatus {
    Active,
    Released,
    Destroyed,
}

impl HoldStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            HoldStatus::Active => "active",
            HoldStatus::Released => "released",
            HoldStatus::Destroyed => "destroyed",
        }
    }

    pub fn parse(s: &str) -> Option<HoldStatus> {
        [
            HoldStatus::Active,
            HoldStatus::Released,
            HoldStatus::Destroyed,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
    }
}

/// A hold as placed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Hold {
    pub hold_id: String,
    pub market_id: String,
    pub merchant_id: String,
    pub trace_code: String,
    pub reason: HoldReason,
    pub note: Option<String>,
    /// When the goods were held, by the tablet's clock.
    pub placed_at: DateTime<FixedOffset>,
    /// The operator's user id.
    pub placed_by: String,
}

/// What the ledger rules need to know of the hold in force on a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HoldInfo {
    pub hold_id: String,
    pub reason: HoldReason,
    pub note: Option<String>,
    pub placed_at: DateTime<FixedOffset>,
    /// Whether the device that recorded the event had the hold then: always
    /// on the device itself (it judges against the holds it holds); on the
    /// server, from the push's `pulled_cursor` (see the module doc).
    pub device_had_it: bool,
}

/// The payload of `hold.placed` / `hold.released`, as devices receive it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HoldChange {
    /// The hold id (the device's inbox keeps the latest per id).
    pub id: String,
    pub market_id: String,
    pub merchant_id: String,
    pub trace_code: String,
    pub reason: HoldReason,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    pub placed_at: String,
    pub placed_by: String,
    pub status: HoldStatus,
    /// The release's note, or the disposal entry that destroyed the goods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_note: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dispose_entry_id: Option<String>,
}

/// The release op's payload, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    pub hold_id: String,
    pub note: String,
}

fn obj(payload: &Value) -> Result<&serde_json::Map<String, Value>, FieldError> {
    payload
        .as_object()
        .ok_or_else(|| FieldError::new("payload", "wrong_type", "应为对象 (expected object)"))
}

fn field<'a>(
    o: &'a serde_json::Map<String, Value>,
    key: &str,
) -> Result<Option<&'a str>, FieldError> {
    match o.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(FieldError::new(
            format!("payload.{key}"),
            "wrong_type",
            "应为字符串 (expected string)",
        )),
    }
}

fn required<'a>(o: &'a serde_json::Map<String, Value>, key: &str) -> Result<&'a str, FieldError> {
    field(o, key)?.ok_or_else(|| {
        FieldError::new(
            format!("payload.{key}"),
            "missing_field",
            "缺少必填字段 (required)",
        )
    })
}

fn hold_id(o: &serde_json::Map<String, Value>) -> Result<String, FieldError> {
    let raw = required(o, "hold_id")?;
    uuid::Uuid::parse_str(raw)
        .map(|u| u.to_string())
        .map_err(|_| {
            FieldError::new(
                "payload.hold_id",
                "invalid_uuid",
                "暂扣单编号应为 UUID (made on the tablet)",
            )
        })
}

fn note(o: &serde_json::Map<String, Value>, key: &str) -> Result<Option<String>, FieldError> {
    field(o, key)?
        .map(|n| check_text(n, &format!("payload.{key}"), MAX_NOTE_CHARS))
        .transpose()
}

/// Parses `market.hold`: the payload and the op's `at` (when the goods were
/// held: not ahead of `now` by more than [`MAX_SKEW_SECS`], not older than
/// [`MAX_BACKDATE_DAYS`]). `placed_by` is the caller, never the payload.
pub fn parse_hold(
    payload: &Value,
    at: &str,
    placed_by: &str,
    now: DateTime<Utc>,
) -> Result<Hold, FieldError> {
    let o = obj(payload)?;
    let placed_at = parse_time(at, "at")?;
    let utc = placed_at.with_timezone(&Utc);
    if utc > now + Duration::seconds(MAX_SKEW_SECS) {
        return Err(FieldError::new(
            "at",
            "future_time",
            "时间晚于当前时间 (time is in the future)",
        ));
    }
    if utc < now - Duration::days(MAX_BACKDATE_DAYS) {
        return Err(FieldError::new(
            "at",
            "time_too_old",
            "暂扣时间过早，请检查 (implausibly old)",
        ));
    }
    let reason = required(o, "reason")?;
    Ok(Hold {
        hold_id: hold_id(o)?,
        market_id: codes::validate_id(required(o, "market_id")?, "payload.market_id")?,
        merchant_id: codes::validate_id(required(o, "merchant_id")?, "payload.merchant_id")?,
        trace_code: codes::parse_code(required(o, "trace_code")?, "payload.trace_code")?,
        reason: HoldReason::parse(reason).ok_or_else(|| {
            FieldError::new(
                "payload.reason",
                "invalid_enum",
                "暂扣原因应为 unknown_origin、rapid_test_failed、recall 或 other",
            )
        })?,
        note: note(o, "note")?,
        placed_at,
        placed_by: placed_by.to_owned(),
    })
}

/// Parses `market.hold_release {hold_id, note}` (the note is required: why
/// the goods may be sold again is evidence).
pub fn parse_release(payload: &Value) -> Result<Release, FieldError> {
    let o = obj(payload)?;
    let hold_id = hold_id(o)?;
    let note = note(o, "note")?.ok_or_else(|| {
        FieldError::new(
            "payload.note",
            "missing_field",
            "解除暂扣须说明理由 (required)",
        )
    })?;
    Ok(Release { hold_id, note })
}

impl Hold {
    /// The hold as its `hold.placed` change carries it.
    pub fn change(&self) -> HoldChange {
        HoldChange {
            id: self.hold_id.clone(),
            market_id: self.market_id.clone(),
            merchant_id: self.merchant_id.clone(),
            trace_code: self.trace_code.clone(),
            reason: self.reason,
            note: self.note.clone(),
            placed_at: self.placed_at.to_rfc3339(),
            placed_by: self.placed_by.clone(),
            status: HoldStatus::Active,
            ended_note: None,
            ended_at: None,
            dispose_entry_id: None,
        }
    }

    /// What the rules need, given whether the device had it.
    pub fn info(&self, device_had_it: bool) -> HoldInfo {
        HoldInfo {
            hold_id: self.hold_id.clone(),
            reason: self.reason,
            note: self.note.clone(),
            placed_at: self.placed_at,
            device_had_it,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn code() -> String {
        codes::new_code(&mut rand::rng())
    }

    #[test]
    fn a_hold_parses_and_its_bad_fields_are_named() {
        let now = Utc::now();
        let at = now.to_rfc3339();
        let tc = code();
        let p = json!({"hold_id": uuid::Uuid::now_v7().to_string(), "market_id": "mk-1",
            "merchant_id": "m-1", "trace_code": tc, "reason": "unknown_origin", "note": " 无票 "});
        let h = parse_hold(&p, &at, "u-op", now).unwrap();
        assert_eq!(h.reason, HoldReason::UnknownOrigin);
        assert_eq!(h.note.as_deref(), Some("无票"));
        assert_eq!(h.placed_by, "u-op");

        let bad = |mut p: Value, key: &str, v: Value| {
            p[key] = v;
            parse_hold(&p, &at, "u", now).unwrap_err()
        };
        let e = bad(p.clone(), "reason", json!("smelly"));
        assert_eq!(
            (e.field.as_str(), e.code.as_str()),
            ("payload.reason", "invalid_enum")
        );
        let e = bad(p.clone(), "trace_code", json!("nope"));
        assert_eq!(e.field, "payload.trace_code");
        let e = bad(p.clone(), "hold_id", json!("x"));
        assert_eq!(e.code, "invalid_uuid");
        let e = bad(p.clone(), "note", json!("长".repeat(201)));
        assert_eq!(e.code, "text_too_long");
        let e = bad(p.clone(), "merchant_id", json!(7));
        assert_eq!(e.code, "wrong_type");
        let e = parse_hold(&json!([]), &at, "u", now).unwrap_err();
        assert_eq!(e.field, "payload");
        let future = (now + Duration::hours(1)).to_rfc3339();
        assert_eq!(
            parse_hold(&p, &future, "u", now).unwrap_err().code,
            "future_time"
        );
        let old = (now - Duration::days(8)).to_rfc3339();
        assert_eq!(
            parse_hold(&p, &old, "u", now).unwrap_err().code,
            "time_too_old"
        );
        assert_eq!(
            parse_hold(&p, "yesterday", "u", now).unwrap_err().code,
            "invalid_time"
        );
    }

    #[test]
    fn a_release_needs_its_note() {
        let id = uuid::Uuid::now_v7().to_string();
        let r = parse_release(&json!({"hold_id": id, "note": "补齐票证"})).unwrap();
        assert_eq!(r.note, "补齐票证");
        let e = parse_release(&json!({"hold_id": id})).unwrap_err();
        assert_eq!(
            (e.field.as_str(), e.code.as_str()),
            ("payload.note", "missing_field")
        );
        let e = parse_release(&json!({"hold_id": id, "note": "  "})).unwrap_err();
        assert_eq!(e.code, "empty_text");
    }

    #[test]
    fn the_change_round_trips() {
        let now = Utc::now();
        let p = json!({"hold_id": uuid::Uuid::now_v7().to_string(), "market_id": "mk-1",
            "merchant_id": "m-1", "trace_code": code(), "reason": "recall"});
        let h = parse_hold(&p, &now.to_rfc3339(), "u", now).unwrap();
        let c = h.change();
        let back: HoldChange = serde_json::from_value(serde_json::to_value(&c).unwrap()).unwrap();
        assert_eq!(back, c);
        assert_eq!(serde_json::to_value(&c).unwrap()["status"], "active");
    }
}
