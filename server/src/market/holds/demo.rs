//! The demo's hold (`serve --demo`): the market's operator holds one of the
//! smuggled-beef batches the generator plants (seed 000: beef booked from a
//! person without papers, `core/src/generator/purchase.rs`), through the
//! real push path; `crate::demo` gives the merchant that holds it the login
//! `merchant3` / `demo-merchant3-pass` (the smugglers are not the
//! showcase's merchant1 or merchant2), so that its device pulls the hold
//! and refuses the sale. Idempotent: a second start finds the hold and
//! adds nothing.

use serde_json::json;
use shian_core::hold::PLACE_KIND;
use shian_core::sync::protocol::{Op, OpStatus};

use crate::store::holds::HoldFilter;
use crate::store::ledger::{Caller, Prepared};
use crate::store::{Role, Store, StoreError};

/// Why the demo's hold was not placed.
#[derive(Debug, thiserror::Error)]
pub enum HoldDemoError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The push refused the generated hold: a bug of the demo.
    #[error("demo hold refused: {0}")]
    Refused(String),
}

/// Holds a smuggled-beef batch of `market` as `operator1` (once) and
/// returns the merchant that holds it (the demo gives it a login); `None`
/// when the demo has no market, operator or such batch.
pub async fn hold_smuggled_batch(
    store: &dyn Store,
    market: Option<&str>,
) -> Result<Option<String>, HoldDemoError> {
    let Some(market) = market else {
        return Ok(None);
    };
    let existing = store
        .list_holds(HoldFilter {
            market_id: Some(market.to_owned()),
            status: None,
            limit: 1,
            offset: 0,
        })
        .await?;
    let merchant_id = match existing.items.into_iter().next() {
        Some(h) => h.hold.merchant_id,
        None => match place(store, market).await? {
            Some(m) => m,
            None => return Ok(None),
        },
    };
    Ok(Some(merchant_id))
}

/// Finds a smuggled-beef batch with goods on hand and holds it; the
/// merchant that holds it.
async fn place(store: &dyn Store, market: &str) -> Result<Option<String>, HoldDemoError> {
    let Some(operator) = store.user_credentials("operator1".into()).await? else {
        return Ok(None);
    };
    let mut pick = None;
    for (merchant, code, product) in store
        .paperless_meat_purchases(market.to_owned(), 500)
        .await?
    {
        if !product.contains('牛') {
            continue;
        }
        if store
            .batch_on_hand(code.clone())
            .await?
            .is_some_and(|(held, _)| held > 0)
        {
            pick = Some((merchant, code));
            break;
        }
    }
    let Some((merchant, code)) = pick else {
        tracing::warn!("demo: no smuggled-beef batch with goods on hand to hold");
        return Ok(None);
    };
    let hold_id = uuid::Uuid::now_v7().to_string();
    let op = Op {
        op_id: hold_id.clone(),
        kind: PLACE_KIND.into(),
        at: crate::store::now().to_rfc3339(),
        payload: json!({
            "hold_id": hold_id,
            "market_id": market,
            "merchant_id": merchant,
            "trace_code": code,
            "reason": "unknown_origin",
            "note": "进口冻牛肉无入境货物检验检疫证明，供货人无票（疑似走私）",
        }),
    };
    let caller = Caller {
        user_id: operator.user.id,
        role: Role::MarketOperator.as_str().to_owned(),
        merchant_id: None,
        regions: vec![],
        markets: vec![market.to_owned()],
    };
    let (results, _) = store
        .sync_push(
            caller,
            "demo-operator1-tablet".into(),
            vec![Prepared {
                op,
                event: None,
                wire: None,
            }],
        )
        .await?;
    match results.first() {
        Some(r) if r.status == OpStatus::Accepted => Ok(Some(merchant)),
        other => Err(HoldDemoError::Refused(format!(
            "{:?}",
            other.and_then(|r| r.error.as_ref())
        ))),
    }
}
