//! The demo's month of self-inspections: officer1 (the demo market's
//! food-safety officer) records the 日管控 of each of the last 30 days but
//! three, the 周排查 of each week that ended in them and the last month's
//! 月调度, with findings — two closed, one overdue, one still open —
//! pushed through the real sync path as the tablet would. Op and check ids
//! are fixed by date, so a second start the same day adds nothing.

use chrono::{DateTime, Datelike, Days, FixedOffset, NaiveDate, Offset, Utc, Weekday};
use serde_json::{json, Value};
use shian_core::inspection::AnswerType;
use shian_core::self_check::{
    china_date, day_start, finding_id, templates, Cadence, Period, CLOSE_KIND, RECORD_KIND,
};
use shian_core::sync::protocol::{Op, OpStatus};

use crate::store::ledger::{Caller, Prepared};
use crate::store::{Store, StoreError};

/// Days before today without a daily check.
const MISSED: [u64; 3] = [4, 11, 17];
/// A photo digest standing for the demo's pictures.
const PHOTO: &str = "5d41402abc4b2a76b9719d911017c592a1b2c3d4e5f60718293a4b5c6d7e8f90";

fn china() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).unwrap_or_else(|| Utc.fix())
}

fn at(d: NaiveDate, hour: i64) -> String {
    (day_start(d) + chrono::Duration::hours(hour))
        .with_timezone(&china())
        .to_rfc3339()
}

/// A check id fixed by its period and cadence.
fn check_uuid(p: Period) -> uuid::Uuid {
    let days = u128::try_from(p.first_day().num_days_from_ce()).unwrap_or(0);
    let cadence = match p.cadence() {
        Cadence::Daily => 1,
        Cadence::Weekly => 2,
        Cadence::Monthly => 3,
    };
    uuid::Uuid::from_u128(0x5e1f_c4ec_0000_7000_8000_0000_0000_0000 | (days << 8) | cadence)
}

/// Every item passing, but `failed` (answered 否, or out of limits).
fn answers(template_id: &str, failed: Option<&str>) -> Vec<Value> {
    let Some(t) = templates().ok().and_then(|r| r.latest(template_id)) else {
        return Vec::new();
    };
    t.items
        .iter()
        .map(|i| {
            let ok = failed != Some(i.id.as_str());
            match &i.answer {
                AnswerType::Number { min, max, .. } => {
                    let v = if ok {
                        min.or(*max).unwrap_or(0.0)
                    } else {
                        max.map_or(-1.0, |m| m + 3.0)
                    };
                    json!({"item_id": i.id, "compliant": ok, "value": v})
                }
                AnswerType::Photo => json!({"item_id": i.id, "compliant": ok, "photos": [PHOTO]}),
                AnswerType::YesNo => json!({"item_id": i.id, "compliant": ok}),
            }
        })
        .collect()
}

fn check(
    market_id: &str,
    template_id: &str,
    p: Period,
    when: String,
    finding: Option<(&str, &str, NaiveDate)>,
) -> Op {
    let findings: Vec<Value> = finding
        .map(|(item, note, by)| json!({"item_id": item, "note": note, "follow_up_by": by.to_string()}))
        .into_iter()
        .collect();
    Op {
        op_id: format!("demo-self-check-{}-{}", p.cadence().as_str(), p),
        kind: RECORD_KIND.into(),
        at: when,
        payload: json!({
            "check_id": check_uuid(p).to_string(),
            "market_id": market_id,
            "template_id": template_id,
            "template_version": 1,
            "period": p.to_string(),
            "answers": answers(template_id, finding.map(|f| f.0)),
            "findings": findings,
        }),
    }
}

fn closing(p: Period, item: &str, note: &str, when: String) -> Op {
    Op {
        op_id: format!("demo-follow-up-closed-{p}-{item}"),
        kind: CLOSE_KIND.into(),
        at: when,
        payload: json!({"finding_id": finding_id(&check_uuid(p), item), "note": note, "photos": [PHOTO]}),
    }
}

/// The ops of the month ending yesterday (Asia/Shanghai), in order.
fn month_of_ops(market_id: &str, now: DateTime<Utc>) -> Vec<Op> {
    let today = china_date(now);
    let ago = |n: u64| today - Days::new(n);
    let mut ops = Vec::new();
    // Findings: (days ago, item, note, days to put right, closed after days).
    let findings: [(u64, &str, &str, u64, Option<u64>); 4] = [
        (12, "3.4", "水产区地面积水，废弃物未及时清运", 2, Some(1)),
        (9, "1.1", "两户蔬菜未留存承诺达标合格证", 2, Some(2)),
        (6, "2.1", "新入场冻品销售者未签订食品安全协议", 3, None),
        (2, "3.2", "2号冷库温度偏高，已报修", 4, None),
    ];
    for n in (1..=30u64).rev() {
        if MISSED.contains(&n) {
            continue;
        }
        let d = ago(n);
        let f = findings
            .iter()
            .find(|f| f.0 == n)
            .map(|f| (f.1, f.2, d + Days::new(f.3)));
        ops.push(check(
            market_id,
            "market_daily_control",
            Period::Day(d),
            at(d, 9),
            f,
        ));
    }
    // Each ISO week that ended in the month, reviewed on its Sunday.
    for n in (1..=30u64).rev() {
        let d = ago(n);
        if d.weekday() == Weekday::Sun {
            let w = Period::containing(Cadence::Weekly, d);
            ops.push(check(market_id, "market_weekly_review", w, at(d, 17), None));
        }
    }
    // Last month's scheduling meeting, on its last day, when in the month.
    let last_month = Period::containing(Cadence::Monthly, today).first_day() - Days::new(1);
    if last_month >= ago(30) {
        let m = Period::containing(Cadence::Monthly, last_month);
        ops.push(check(
            market_id,
            "market_monthly_schedule",
            m,
            at(last_month, 18),
            None,
        ));
    }
    for f in &findings {
        if let Some(after) = f.4 {
            let d = ago(f.0);
            ops.push(closing(
                Period::Day(d),
                f.1,
                "已整改并复查",
                at(d + Days::new(after), 10),
            ));
        }
    }
    ops
}

/// Plants the month; `Ok(0)` when there is no officer1 or no market, or
/// everything was planted before.
pub async fn plant(store: &dyn Store, market_id: Option<&str>) -> Result<usize, StoreError> {
    let (Some(market_id), Some(officer)) =
        (market_id, store.user_credentials("officer1".into()).await?)
    else {
        return Ok(0);
    };
    let caller = Caller {
        user_id: officer.user.id,
        role: "market_operator".into(),
        merchant_id: None,
        regions: vec![],
        markets: officer.user.markets,
    };
    let ops: Vec<Prepared> = month_of_ops(market_id, Utc::now())
        .into_iter()
        .map(|op| Prepared {
            op,
            event: None,
            wire: None,
        })
        .collect();
    let (results, _) = store
        .sync_push(caller, "demo-officer1-tablet".into(), ops)
        .await?;
    for r in results.iter().filter(|r| r.status == OpStatus::Rejected) {
        tracing::warn!(op = %r.op_id, error = ?r.error, "demo self-check refused");
    }
    Ok(results
        .iter()
        .filter(|r| r.status == OpStatus::Accepted)
        .count())
}
