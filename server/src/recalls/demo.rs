//! The demo's failed test: inspector1 records a lab result over the limit
//! for the showcase batch (the one sold to the most merchants), pushed
//! through the real sync path as a phone would, so the field service makes
//! its alert, public finding and recall proposal. The analyst then starts
//! a recall from it in the console (召回 → 由检测不合格的召回建议启动).
//! The op id is fixed, so a restart of `serve --demo` finds it a duplicate
//! and plants nothing twice.

use chrono::{Duration, FixedOffset, Offset, Utc};
use serde_json::json;
use shian_core::sync::protocol::{Op, OpStatus};

use crate::store::ledger::{Caller, Prepared, Showcase};
use crate::store::{Store, StoreError};

/// The fixed op id of the demo's lab result.
const OP_ID: &str = "demo-failed-lab-sample-v1";

/// Plants the failed sample; `Ok(false)` when there is no showcase batch or
/// no inspector1 (nothing to plant on) or it was planted before.
pub async fn plant_failed_sample(
    store: &dyn Store,
    showcase: Option<&Showcase>,
) -> Result<bool, StoreError> {
    let (Some(show), Some(insp)) = (showcase, store.user_credentials("inspector1".into()).await?)
    else {
        return Ok(false);
    };
    let china = FixedOffset::east_opt(8 * 3600).unwrap_or_else(|| Utc.fix());
    let taken = (Utc::now() - Duration::hours(2)).with_timezone(&china);
    let op = Op {
        op_id: OP_ID.into(),
        kind: "sample.record".into(),
        at: Utc::now().with_timezone(&china).to_rfc3339(),
        payload: json!({
            "sample_id": uuid::Uuid::now_v7().to_string(),
            "merchant_id": show.merchant_id,
            "trace_code": show.trace_code,
            "item": "单核细胞增生李斯特氏菌",
            "method": "lab",
            "value": 320.0,
            "unit": "CFU/g",
            "limit": 100.0,
            "taken_at": taken.to_rfc3339(),
        }),
    };
    let caller = Caller {
        user_id: insp.user.id,
        role: "inspector".into(),
        merchant_id: None,
        regions: insp.user.regions,
        markets: vec![],
    };
    let (results, _) = store
        .sync_push(
            caller,
            "demo-inspector1-phone".into(),
            vec![Prepared {
                op,
                event: None,
                wire: None,
            }],
        )
        .await?;
    let planted = results
        .first()
        .is_some_and(|r| r.status == OpStatus::Accepted);
    if let Some(r) = results.first().filter(|r| r.status == OpStatus::Rejected) {
        tracing::warn!(error = ?r.error, "demo failed sample refused");
    }
    Ok(planted)
}
