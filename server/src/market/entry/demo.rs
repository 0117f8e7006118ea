//! The demo market's month of entry checks, pushed by operator1 through
//! the real sync path as its tablet would: most of the month's purchases
//! into the market are checked and accepted (with the certificates the
//! ledger's rule asks of their category), one seller in ten leaves half
//! its purchases without a check (they raise `entry_check_missing`), and
//! every third day
//! goods are refused at the gate with the reason (`entry_refused`).
//!
//! Idempotent: a market that already has entry checks gets none, and the
//! op ids are fixed per purchase and day, so a retry is a duplicate.

use chrono::{Duration, FixedOffset, Offset, Utc};
use serde_json::{json, Value};
use shian_core::category::Category;
use shian_core::entry_check::KIND;
use shian_core::rules::LedgerRules;
use shian_core::sync::protocol::{Op, OpStatus};

use crate::store::entry_checks::{CheckFilter, UncheckedPurchase};
use crate::store::ledger::{Caller, Prepared};
use crate::store::{Store, StoreError};

/// What the demo pushed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Planted {
    pub accepted: usize,
    pub refused: usize,
    pub rejected: usize,
}

/// Ops per push (a tablet syncing a busy morning).
const PER_PUSH: usize = 200;

/// Whether the demo leaves this purchase without a check: about one
/// seller in ten skips the gate, half the time. Decided by the ids, so
/// every start picks the same ones.
fn left_unchecked(p: &UncheckedPurchase) -> bool {
    let sum = |s: &str| s.bytes().map(u32::from).sum::<u32>();
    sum(&p.merchant_id) % 10 == 0 && sum(&p.entry_id) % 2 == 0
}

/// The certificates an accepted check shows: one of each group the
/// built-in ledger rules ask of the category (the demo's rules; under a
/// province's `--rules` asking for more, such a check is refused and
/// logged).
fn certificates(category: Category, n: usize) -> Vec<Value> {
    LedgerRules::builtin()
        .required_certificates
        .get(&category)
        .map(|groups| {
            groups
                .iter()
                .filter_map(|g| g.first())
                .enumerate()
                .map(|(i, k)| json!({"kind": k.as_str(), "number": format!("RC-{n:05}-{i}")}))
                .collect()
        })
        .unwrap_or_default()
}

fn check_payload(
    market_id: &str,
    p: &UncheckedPurchase,
    at: chrono::DateTime<FixedOffset>,
    refused: Option<(&str, Option<Value>)>,
    n: usize,
) -> Value {
    let mut v = json!({
        "check_id": uuid::Uuid::now_v7().to_string(),
        "market_id": market_id,
        "merchant_id": p.merchant_id,
        "product": {"name": p.product_name, "category": p.category.as_str()},
        "quantity": p.quantity.to_wire(),
        "certificates_seen": if refused.is_some() { vec![] } else { certificates(p.category, n) },
        "decision": if refused.is_some() { "refused" } else { "accepted" },
        "at": at.to_rfc3339(),
    });
    if let Some((reason, test)) = refused {
        v["reason"] = json!(reason);
        if let Some(t) = test {
            v["rapid_test"] = t;
        }
    }
    v
}

/// Why goods of a category are turned away in the demo.
fn refusal(category: Category) -> (&'static str, Option<Value>) {
    match category {
        Category::Vegetable | Category::Fruit => (
            "快检不合格（有机磷农药残留），拒绝入场",
            Some(
                json!({"item": "有机磷和氨基甲酸酯类农药残留", "result": "fail", "value": "抑制率 62%"}),
            ),
        ),
        Category::LivestockMeat | Category::Poultry => ("无动物检疫合格证明，拒绝入场", None),
        Category::ImportedColdChain | Category::Frozen => {
            ("无入境货物检验检疫证明，来源不明，拒绝入场", None)
        }
        _ => ("无产地证明或合格证明文件，拒绝入场", None),
    }
}

/// Plants the month; nothing when there is no operator1 or market, or the
/// market has entry checks already.
pub async fn plant(store: &dyn Store) -> Result<Planted, StoreError> {
    let Some(op) = store.user_credentials("operator1".into()).await? else {
        return Ok(Planted::default());
    };
    let Some(market_id) = op.user.markets.first().cloned() else {
        return Ok(Planted::default());
    };
    let existing = store
        .list_entry_checks(CheckFilter {
            market_id: Some(market_id.clone()),
            limit: 1,
            ..Default::default()
        })
        .await?;
    if existing.total > 0 {
        return Ok(Planted::default());
    }
    let china = FixedOffset::east_opt(8 * 3600).unwrap_or_else(|| Utc.fix());
    let today = Utc::now().with_timezone(&china).date_naive();
    let mut ops: Vec<(Op, bool)> = Vec::new();
    let mut refusals = Vec::new();
    for back in (0..30).rev() {
        let date = today - Duration::days(back);
        let day = store.unchecked_purchases(market_id.clone(), date).await?;
        for (i, p) in day.iter().rev().enumerate() {
            if left_unchecked(p) {
                continue;
            }
            // Checked at the gate a quarter of an hour before it was booked.
            let at = (p.received_at - Duration::minutes(15)).with_timezone(&china);
            let n = ops.len();
            ops.push((
                Op {
                    op_id: format!("demo-entry-check-{}", p.entry_id),
                    kind: KIND.into(),
                    at: at.to_rfc3339(),
                    payload: check_payload(&market_id, p, at, None, n),
                },
                false,
            ));
            // Every third day, the first seller of the day also brought
            // goods that were turned away earlier that morning.
            if back % 3 == 0 && i == 0 {
                let at = (p.received_at - Duration::hours(3)).with_timezone(&china);
                refusals.push((
                    Op {
                        op_id: format!("demo-entry-refusal-{date}"),
                        kind: KIND.into(),
                        at: at.to_rfc3339(),
                        payload: check_payload(&market_id, p, at, Some(refusal(p.category)), n),
                    },
                    true,
                ));
            }
        }
    }
    // The accepted checks first, so each links to its own purchase.
    ops.extend(refusals);
    let caller = Caller {
        user_id: op.user.id.clone(),
        role: "market_operator".into(),
        merchant_id: None,
        regions: vec![],
        markets: op.user.markets.clone(),
    };
    let mut planted = Planted::default();
    let mut ops = ops.into_iter().peekable();
    while ops.peek().is_some() {
        let chunk: Vec<(Op, bool)> = ops.by_ref().take(PER_PUSH).collect();
        let refused: Vec<bool> = chunk.iter().map(|(_, r)| *r).collect();
        let (results, _) = store
            .sync_push(
                caller.clone(),
                "demo-operator1-tablet".into(),
                chunk
                    .into_iter()
                    .map(|(op, _)| Prepared {
                        op,
                        event: None,
                        wire: None,
                    })
                    .collect(),
            )
            .await?;
        for (r, refused) in results.iter().zip(refused) {
            match (r.status, refused) {
                (OpStatus::Accepted, false) => planted.accepted += 1,
                (OpStatus::Accepted, true) => planted.refused += 1,
                (OpStatus::Duplicate, _) => {}
                (OpStatus::Rejected, _) => {
                    tracing::warn!(error = ?r.error, "demo entry check refused");
                    planted.rejected += 1;
                }
            }
        }
    }
    Ok(planted)
}
