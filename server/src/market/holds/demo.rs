//! The demo's hold (`serve --demo`): the market's operator holds one of the
//! smuggled-beef batches the generator plants (seed 000: beef booked from a
//! person without papers, `core/src/generator/purchase.rs`), through the
//! real push path, and the demo gets the login of the merchant that holds
//! it — `merchant3` / `demo-merchant3-pass` (the smugglers are not the
//! showcase's merchant1 or merchant2) — so that its device pulls the hold
//! and refuses the sale. Idempotent: a second start finds the hold and
//! adds nothing.

use serde_json::json;
use shian_core::hold::PLACE_KIND;
use shian_core::sync::protocol::{Op, OpStatus};

use crate::demo::{demo_user, DemoError, DemoLogin};
use crate::store::holds::HoldFilter;
use crate::store::ledger::{Caller, Prepared};
use crate::store::{Role, Store};

/// The merchant login that holds the held batch.
fn login() -> DemoLogin {
    DemoLogin {
        username: "merchant3",
        password: "demo-merchant3-pass",
        role: Role::Merchant,
        note: "经营户 merchant: holds the smuggled-beef batch the market has held (暂扣); its device refuses the sale"
            .into(),
    }
}

/// Holds a smuggled-beef batch of `market` as `operator1` (once) and
/// returns the login of its merchant; `None` when the demo has no market,
/// operator or such batch.
pub async fn hold_smuggled_batch(
    store: &dyn Store,
    market: Option<&str>,
) -> Result<Option<DemoLogin>, DemoError> {
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
    let login = login();
    demo_user(store, &login, Some(merchant_id), vec![], vec![]).await?;
    Ok(Some(login))
}

/// Finds a smuggled-beef batch with goods on hand and holds it; the
/// merchant that holds it.
async fn place(store: &dyn Store, market: &str) -> Result<Option<String>, DemoError> {
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
        other => Err(DemoError::Refused {
            what: "demo hold".into(),
            why: format!("{:?}", other.and_then(|r| r.error.as_ref())),
        }),
    }
}
