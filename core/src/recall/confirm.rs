//! A holder's confirmation: `recall.confirm {recall_id, merchant_id,
//! trace_code, held, returned, destroyed}`, quantities as in the ledger
//! events (`{"value": "12.5", "unit": "kg"}`), made on the phone (offline
//! if need be) at the op's `at`.
//!
//! **The bound.** held + returned + destroyed may not exceed what the holder
//! received of that code: more would be goods of unknown origin, or a typo,
//! and a recall's totals must add up. The units must be those of the batch
//! (kilograms for a batch kept in grams; boxes are never weighed).
//!
//! **Two devices.** A shop may confirm from two phones, both offline; the
//! server may receive them in either order, or once each after retries.
//! A confirmation is a full count of where the goods stand at a moment, not
//! a change: two phones of one stall that both say "5 kg destroyed" mean
//! 5 kg, not 10, so confirmations are never added. The one that counts is
//! the latest by the phone's time of the count, ties broken by the op id:
//! a total order over confirmations, so the one that counts is the maximum
//! of the set received, whatever order it arrived in ([`latest`]). Every
//! accepted confirmation is kept, so the choice can be re-made at any time.
//! Each one is checked against the bound on its own, so the winner always
//! satisfies it. Confirmations are accepted after a recall closed for the
//! same reason: refusing late ones would make the result depend on which
//! phone was first.

use chrono::{DateTime, FixedOffset, Utc};
use serde::{Deserialize, Serialize};

use crate::error::FieldError;
use crate::quantity::{Quantity, Sign};

/// The op kind.
pub const CONFIRM_KIND: &str = "recall.confirm";

/// How far a phone's clock may run ahead of the server's.
pub const MAX_SKEW_SECS: i64 = 300;

/// A quantity on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WireQuantity {
    pub value: String,
    pub unit: String,
}

/// The op's payload as sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfirmationInput {
    pub recall_id: String,
    pub merchant_id: String,
    pub trace_code: String,
    pub held: WireQuantity,
    pub returned: WireQuantity,
    pub destroyed: WireQuantity,
}

/// A checked confirmation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Confirmation {
    pub recall_id: String,
    pub merchant_id: String,
    pub trace_code: String,
    pub held: Quantity,
    pub returned: Quantity,
    pub destroyed: Quantity,
    /// When the holder counted, by the phone's clock.
    pub confirmed_at: DateTime<Utc>,
    /// The op that carried it (the tie-break of [`latest`]).
    pub op_id: String,
}

impl Confirmation {
    /// held + returned + destroyed, in the batch's unit.
    pub fn accounted(&self) -> i64 {
        self.held
            .amount
            .saturating_add(self.returned.amount)
            .saturating_add(self.destroyed.amount)
    }
}

/// Why a confirmation is refused: a stable code, a zh-CN message, the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ConfirmError {
    pub code: &'static str,
    pub message: String,
    pub field: Option<String>,
}

impl ConfirmError {
    fn new(code: &'static str, message: impl Into<String>, field: &str) -> Self {
        ConfirmError {
            code,
            message: message.into(),
            field: Some(field.to_owned()),
        }
    }
}

impl From<FieldError> for ConfirmError {
    fn from(e: FieldError) -> Self {
        // Field errors of a quantity carry codes such as `invalid_number`;
        // they are kept as `invalid_quantity` with the message and path.
        ConfirmError {
            code: "invalid_quantity",
            message: e.message,
            field: Some(format!("payload.{}", e.field)),
        }
    }
}

/// A quantity that may be zero (nothing held is a real answer).
fn quantity(q: &WireQuantity, field: &str) -> Result<Quantity, ConfirmError> {
    match Quantity::parse(&q.value, &q.unit, Sign::Positive, field) {
        Ok(q) => Ok(q),
        Err(e) if e.code == "zero_quantity" => {
            // The unit parsed (the zero check comes after it): its base unit.
            let unit = Quantity::parse("1", &q.unit, Sign::Positive, field)?.unit;
            Ok(Quantity::new(0, unit))
        }
        Err(e) => Err(e.into()),
    }
}

/// Parses the payload and the op's time (RFC 3339 with an offset, not more
/// than [`MAX_SKEW_SECS`] ahead of `now`).
pub fn parse_confirmation(
    payload: &serde_json::Value,
    op_id: &str,
    at: &str,
    now: DateTime<Utc>,
) -> Result<Confirmation, ConfirmError> {
    let p: ConfirmationInput =
        serde_json::from_value(payload.clone()).map_err(|e| ConfirmError {
            code: "invalid_payload",
            message: format!("事件内容格式错误：{e}"),
            field: Some("payload".into()),
        })?;
    let confirmed_at = DateTime::<FixedOffset>::parse_from_rfc3339(at)
        .map_err(|_| {
            ConfirmError::new(
                "invalid_timestamp",
                "at 须为带时区偏移的 RFC 3339 时间",
                "at",
            )
        })?
        .with_timezone(&Utc);
    if (confirmed_at - now).num_seconds() > MAX_SKEW_SECS {
        return Err(ConfirmError::new(
            "timestamp_in_future",
            "at 晚于当前时间",
            "at",
        ));
    }
    let trace_code =
        crate::codes::parse_code(&p.trace_code, "payload.trace_code").map_err(|e| {
            ConfirmError {
                code: "invalid_code",
                message: e.message,
                field: Some("payload.trace_code".into()),
            }
        })?;
    Ok(Confirmation {
        held: quantity(&p.held, "held")?,
        returned: quantity(&p.returned, "returned")?,
        destroyed: quantity(&p.destroyed, "destroyed")?,
        recall_id: p.recall_id,
        merchant_id: p.merchant_id,
        trace_code,
        confirmed_at,
        op_id: op_id.to_owned(),
    })
}

/// The bound: the batch's unit, and no more than `received` in all.
pub fn check_confirmation(c: &Confirmation, received: Quantity) -> Result<(), ConfirmError> {
    for (q, field) in [
        (c.held, "held"),
        (c.returned, "returned"),
        (c.destroyed, "destroyed"),
    ] {
        if q.unit != received.unit {
            return Err(ConfirmError::new(
                "unit_mismatch",
                format!("该批次以 {} 计量，{field} 的单位不符", received.wire_unit()),
                &format!("payload.{field}.unit"),
            ));
        }
    }
    if c.accounted() > received.amount {
        let total = Quantity::new(c.accounted(), received.unit);
        return Err(ConfirmError::new(
            "exceeds_received",
            format!(
                "在库、退回与销毁合计 {} 超过该户收到的 {}",
                total.display_zh(),
                received.display_zh()
            ),
            "payload",
        ));
    }
    Ok(())
}

/// The confirmation that counts among those received for one (recall,
/// merchant, trace code): the latest count, ties broken by op id (see the
/// module doc: the maximum of a total order, so arrival order is moot).
pub fn latest<'a, I>(confirmations: I) -> Option<&'a Confirmation>
where
    I: IntoIterator<Item = &'a Confirmation>,
{
    confirmations
        .into_iter()
        .max_by(|a, b| (a.confirmed_at, &a.op_id).cmp(&(b.confirmed_at, &b.op_id)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quantity::BaseUnit;
    use serde_json::json;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-12-01T12:00:00+08:00")
            .unwrap()
            .with_timezone(&Utc)
    }

    fn payload(held: &str, returned: &str, destroyed: &str) -> serde_json::Value {
        json!({
            "recall_id": "r1", "merchant_id": "m1", "trace_code": "TRACE0000000000A",
            "held": {"value": held, "unit": "kg"},
            "returned": {"value": returned, "unit": "kg"},
            "destroyed": {"value": destroyed, "unit": "kg"},
        })
    }

    fn conf(op: &str, at: &str, held: i64) -> Confirmation {
        Confirmation {
            recall_id: "r1".into(),
            merchant_id: "m1".into(),
            trace_code: "T".into(),
            held: Quantity::new(held, BaseUnit::Gram),
            returned: Quantity::new(0, BaseUnit::Gram),
            destroyed: Quantity::new(0, BaseUnit::Gram),
            confirmed_at: DateTime::parse_from_rfc3339(at)
                .unwrap()
                .with_timezone(&Utc),
            op_id: op.into(),
        }
    }

    #[test]
    fn zero_is_an_answer_and_the_bound_holds() {
        let code = crate::codes::new_code(&mut rand::rng());
        let mut p = payload("0", "2.5", "1");
        p["trace_code"] = json!(code);
        let c = parse_confirmation(&p, "op1", "2026-12-01T11:00:00+08:00", now()).unwrap();
        assert_eq!(c.held, Quantity::new(0, BaseUnit::Gram));
        assert_eq!(c.accounted(), 3_500);
        let received = Quantity::new(3_500, BaseUnit::Gram);
        assert!(check_confirmation(&c, received).is_ok());
        let less = Quantity::new(3_499, BaseUnit::Gram);
        assert_eq!(
            check_confirmation(&c, less).unwrap_err().code,
            "exceeds_received"
        );
        let boxes = Quantity::new(10, BaseUnit::Box);
        assert_eq!(
            check_confirmation(&c, boxes).unwrap_err().code,
            "unit_mismatch"
        );
    }

    #[test]
    fn bad_payloads_are_refused_with_their_field() {
        let code = crate::codes::new_code(&mut rand::rng());
        let mut p = payload("-1", "0", "0");
        p["trace_code"] = json!(code);
        let e = parse_confirmation(&p, "op", "2026-12-01T11:00:00+08:00", now()).unwrap_err();
        assert_eq!(
            (e.code, e.field.as_deref()),
            ("invalid_quantity", Some("payload.held.value"))
        );
        p["held"] = json!({"value": "1", "unit": "kg"});
        let e = parse_confirmation(&p, "op", "2026-12-01T13:00:00+08:00", now()).unwrap_err();
        assert_eq!(e.code, "timestamp_in_future");
        p["trace_code"] = json!("nonsense");
        let e = parse_confirmation(&p, "op", "2026-12-01T11:00:00+08:00", now()).unwrap_err();
        assert_eq!(e.code, "invalid_code");
        let e = parse_confirmation(&json!({"recall_id": 1}), "op", "x", now()).unwrap_err();
        assert_eq!(e.code, "invalid_payload");
    }

    #[test]
    fn the_latest_count_wins_in_any_order() {
        let a = conf("op-a", "2026-12-01T09:00:00+08:00", 1_000);
        let b = conf("op-b", "2026-12-01T10:00:00+08:00", 0);
        let tie = conf("op-c", "2026-12-01T10:00:00+08:00", 500);
        assert_eq!(
            latest([&a, &b]).map(|c| &c.op_id),
            Some(&"op-b".to_string())
        );
        assert_eq!(
            latest([&b, &a]).map(|c| &c.op_id),
            Some(&"op-b".to_string())
        );
        assert_eq!(latest([&tie, &b, &a]), latest([&a, &b, &tie]));
        assert_eq!(latest([&b, &tie]).map(|c| c.held.amount), Some(500));
        assert_eq!(latest(std::iter::empty()), None);
    }
}
