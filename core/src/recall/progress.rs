//! Progress of a recall: per holder (confirmed or not, its latest count,
//! overdue) and in total per unit, and when the recall is closed.
//!
//! **Overdue.** A holder that has not confirmed when the start deadline
//! passes is overdue: the regulation wants every holder acting within 24 /
//! 48 / 72 hours. A confirmed holder that still holds goods when the finish
//! deadline passes is overdue too (the recall is not done while the goods
//! sit on its shelf), as is any unconfirmed holder then.
//!
//! **Closed** when every holder has confirmed (GS1 Recall's close-off: each
//! recipient responded). A recall with no holder at all cannot be started.

use chrono::{DateTime, Utc};
use serde::{Serialize, Serializer};

use super::confirm::Confirmation;
use super::holders::Holder;
use super::level::Deadlines;
use crate::quantity::{BaseUnit, Quantity};

fn qty<S: Serializer>(q: &Quantity, s: S) -> Result<S::Ok, S::Error> {
    q.to_wire().serialize(s)
}

fn opt_qty<S: Serializer>(q: &Option<Quantity>, s: S) -> Result<S::Ok, S::Error> {
    q.map(Quantity::to_wire).serialize(s)
}

/// Whether a recall is still running.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecallStatus {
    Active,
    Closed,
}

impl RecallStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RecallStatus::Active => "active",
            RecallStatus::Closed => "closed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "active" => Some(RecallStatus::Active),
            "closed" => Some(RecallStatus::Closed),
            _ => None,
        }
    }

    pub fn zh(self) -> &'static str {
        match self {
            RecallStatus::Active => "进行中",
            RecallStatus::Closed => "已结束",
        }
    }
}

/// A holder's answer so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HolderState {
    Pending,
    Confirmed,
}

/// One holder's line of the progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HolderProgress {
    pub merchant_id: String,
    pub merchant_name: Option<String>,
    pub trace_code: String,
    pub parent_trace_code: Option<String>,
    pub depth: u32,
    pub product_name: String,
    #[serde(serialize_with = "qty")]
    pub received: Quantity,
    /// The latest confirmed count (see `confirm::latest`), `null` before.
    #[serde(serialize_with = "opt_qty")]
    pub held: Option<Quantity>,
    #[serde(serialize_with = "opt_qty")]
    pub returned: Option<Quantity>,
    #[serde(serialize_with = "opt_qty")]
    pub destroyed: Option<Quantity>,
    pub confirmed_at: Option<DateTime<Utc>>,
    pub state: HolderState,
    pub overdue: bool,
}

impl HolderProgress {
    /// A holder with the confirmation that counts (if any), as of `now`.
    pub fn new(
        h: &Holder,
        latest: Option<&Confirmation>,
        deadlines: &Deadlines,
        now: DateTime<Utc>,
    ) -> Self {
        let overdue = is_overdue(latest.map(|c| c.held.amount), deadlines, now);
        HolderProgress {
            merchant_id: h.merchant_id.clone(),
            merchant_name: h.merchant_name.clone(),
            trace_code: h.trace_code.clone(),
            parent_trace_code: h.parent_trace_code.clone(),
            depth: h.depth,
            product_name: h.product_name.clone(),
            received: h.received,
            held: latest.map(|c| c.held),
            returned: latest.map(|c| c.returned),
            destroyed: latest.map(|c| c.destroyed),
            confirmed_at: latest.map(|c| c.confirmed_at),
            state: if latest.is_some() {
                HolderState::Confirmed
            } else {
                HolderState::Pending
            },
            overdue,
        }
    }
}

/// The overdue rule of the module doc: `held` is the confirmed count still
/// held, `None` before any confirmation.
pub fn is_overdue(held: Option<i64>, deadlines: &Deadlines, now: DateTime<Utc>) -> bool {
    match held {
        None => now > deadlines.start_by,
        Some(held) => held > 0 && now > deadlines.finish_by_end,
    }
}

/// The totals of one unit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnitProgress {
    /// Holders whose batch is kept in this unit.
    pub holders: usize,
    #[serde(serialize_with = "qty")]
    pub received: Quantity,
    /// As confirmed.
    #[serde(serialize_with = "qty")]
    pub held: Quantity,
    #[serde(serialize_with = "qty")]
    pub returned: Quantity,
    #[serde(serialize_with = "qty")]
    pub destroyed: Quantity,
    /// Received by holders that have not confirmed yet.
    #[serde(serialize_with = "qty")]
    pub unconfirmed: Quantity,
}

/// The whole recall's progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Progress {
    pub holders: usize,
    pub confirmed: usize,
    pub pending: usize,
    pub overdue: usize,
    /// Per unit, in the order units first appear among the holders.
    pub totals: Vec<UnitProgress>,
}

impl Progress {
    pub fn of(holders: &[HolderProgress]) -> Self {
        let mut totals: Vec<(BaseUnit, UnitProgress)> = Vec::new();
        for h in holders {
            let unit = h.received.unit;
            let i = match totals.iter().position(|(u, _)| *u == unit) {
                Some(i) => i,
                None => {
                    let zero = Quantity::new(0, unit);
                    totals.push((
                        unit,
                        UnitProgress {
                            holders: 0,
                            received: zero,
                            held: zero,
                            returned: zero,
                            destroyed: zero,
                            unconfirmed: zero,
                        },
                    ));
                    totals.len() - 1
                }
            };
            let t = &mut totals[i].1;
            let add = |q: &mut Quantity, by: Option<Quantity>| {
                if let Some(by) = by.filter(|b| b.unit == q.unit) {
                    q.amount = q.amount.saturating_add(by.amount);
                }
            };
            t.holders += 1;
            add(&mut t.received, Some(h.received));
            add(&mut t.held, h.held);
            add(&mut t.returned, h.returned);
            add(&mut t.destroyed, h.destroyed);
            if h.state == HolderState::Pending {
                add(&mut t.unconfirmed, Some(h.received));
            }
        }
        let confirmed = holders
            .iter()
            .filter(|h| h.state == HolderState::Confirmed)
            .count();
        Progress {
            holders: holders.len(),
            confirmed,
            pending: holders.len() - confirmed,
            overdue: holders.iter().filter(|h| h.overdue).count(),
            totals: totals.into_iter().map(|(_, t)| t).collect(),
        }
    }

    /// Every holder has confirmed.
    pub fn is_complete(&self) -> bool {
        self.holders > 0 && self.pending == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quantity::BaseUnit;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn holder(m: &str, received: i64, unit: BaseUnit) -> Holder {
        Holder {
            merchant_id: m.into(),
            merchant_name: None,
            trace_code: format!("{m}-code"),
            parent_trace_code: None,
            depth: 1,
            product_name: "奶酪".into(),
            received_at: t("2026-11-30T08:00:00Z"),
            received: Quantity::new(received, unit),
            held_at_start: Quantity::new(received, unit),
        }
    }

    fn conf(m: &str, held: i64, destroyed: i64, unit: BaseUnit) -> Confirmation {
        Confirmation {
            recall_id: "r".into(),
            merchant_id: m.into(),
            trace_code: format!("{m}-code"),
            held: Quantity::new(held, unit),
            returned: Quantity::new(0, unit),
            destroyed: Quantity::new(destroyed, unit),
            confirmed_at: t("2026-12-01T03:00:00Z"),
            op_id: "op".into(),
        }
    }

    fn deadlines() -> Deadlines {
        Deadlines {
            start_by: t("2026-12-02T02:00:00Z"),
            finish_by: chrono::NaiveDate::from_ymd_opt(2026, 12, 15).unwrap(),
            finish_by_end: t("2026-12-15T16:00:00Z"),
            calendar_warning: None,
        }
    }

    #[test]
    fn totals_per_unit_and_overdue_after_the_start_deadline() {
        let d = deadlines();
        let a = holder("a", 5_000, BaseUnit::Gram);
        let b = holder("b", 3_000, BaseUnit::Gram);
        let c = holder("c", 7, BaseUnit::Bag);
        let ca = conf("a", 1_000, 4_000, BaseUnit::Gram);
        let before = t("2026-12-01T12:00:00Z");
        let after = t("2026-12-02T03:00:00Z");
        let rows = |now| {
            vec![
                HolderProgress::new(&a, Some(&ca), &d, now),
                HolderProgress::new(&b, None, &d, now),
                HolderProgress::new(&c, None, &d, now),
            ]
        };
        let p = Progress::of(&rows(before));
        assert_eq!((p.holders, p.confirmed, p.pending, p.overdue), (3, 1, 2, 0));
        assert_eq!(p.totals.len(), 2);
        assert_eq!(p.totals[0].received, Quantity::new(8_000, BaseUnit::Gram));
        assert_eq!(p.totals[0].destroyed, Quantity::new(4_000, BaseUnit::Gram));
        assert_eq!(
            p.totals[0].unconfirmed,
            Quantity::new(3_000, BaseUnit::Gram)
        );
        assert_eq!(p.totals[1].unconfirmed, Quantity::new(7, BaseUnit::Bag));
        assert!(!p.is_complete());
        let p = Progress::of(&rows(after));
        assert_eq!(p.overdue, 2, "the two silent holders");
        // After the finish deadline, goods still held make a holder overdue.
        let late = t("2026-12-16T00:00:00Z");
        assert!(HolderProgress::new(&a, Some(&ca), &d, late).overdue);
        let done = conf("a", 0, 5_000, BaseUnit::Gram);
        assert!(!HolderProgress::new(&a, Some(&done), &d, late).overdue);
    }

    #[test]
    fn complete_when_every_holder_confirmed() {
        let d = deadlines();
        let now = t("2026-12-01T12:00:00Z");
        let a = holder("a", 5_000, BaseUnit::Gram);
        let rows = [HolderProgress::new(
            &a,
            Some(&conf("a", 0, 5_000, BaseUnit::Gram)),
            &d,
            now,
        )];
        assert!(Progress::of(&rows).is_complete());
        assert!(!Progress::of(&[]).is_complete());
    }
}
