//! Placing and releasing a hold from the console's form: the same op and
//! the same push service as the operator's tablet (scope, op log, changes
//! and alert in one transaction), under the login's own web "device".

use serde_json::{json, Value};
use shian_core::hold::{PLACE_KIND, RELEASE_KIND};
use shian_core::sync::protocol::{Op, OpError, OpStatus};

use crate::auth::Auth;
use crate::errors::ApiError;
use crate::store::ledger::{Caller, Prepared};
use crate::AppState;

/// Why a form's op was not applied: the op's refusal (shown to the
/// operator with its reason) or the store's failure.
#[derive(Debug)]
pub enum FormError {
    Refused(OpError),
    Api(ApiError),
}

impl From<ApiError> for FormError {
    fn from(e: ApiError) -> Self {
        FormError::Api(e)
    }
}

fn caller(auth: &Auth) -> Caller {
    Caller {
        user_id: auth.user_id.clone(),
        role: auth.role.as_str().to_owned(),
        merchant_id: auth.scope.merchant_id.clone(),
        regions: auth.scope.regions.clone(),
        markets: auth.scope.markets.clone(),
    }
}

async fn push(state: &AppState, auth: &Auth, op: Op) -> Result<Value, FormError> {
    // One web "device" per login: the op log keeps who sent what.
    let device = format!("web-{}", auth.user_id);
    let (results, _) = state
        .store
        .sync_push(
            caller(auth),
            device,
            vec![Prepared {
                op,
                event: None,
                wire: None,
            }],
        )
        .await
        .map_err(ApiError::from)?;
    crate::alerts::after_write(state).await;
    let r = results
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::internal("push answered no result"))?;
    match (r.status, r.error) {
        (OpStatus::Rejected, Some(e)) | (OpStatus::Duplicate, Some(e)) => {
            Err(FormError::Refused(e))
        }
        _ => Ok(r.result.unwrap_or(Value::Null)),
    }
}

/// Places a hold as the logged-in operator; its id.
pub async fn place(
    state: &AppState,
    auth: &Auth,
    market_id: &str,
    merchant_id: &str,
    trace_code: &str,
    reason: &str,
    note: Option<&str>,
) -> Result<String, FormError> {
    let hold_id = uuid::Uuid::now_v7().to_string();
    let op = Op {
        op_id: hold_id.clone(),
        kind: PLACE_KIND.into(),
        at: crate::store::now().to_rfc3339(),
        payload: json!({
            "hold_id": hold_id,
            "market_id": market_id,
            "merchant_id": merchant_id,
            "trace_code": trace_code,
            "reason": reason,
            "note": note,
        }),
    };
    push(state, auth, op).await.map(|_| hold_id)
}

/// Releases a hold with the operator's note.
pub async fn release(
    state: &AppState,
    auth: &Auth,
    hold_id: &str,
    note: &str,
) -> Result<(), FormError> {
    let op = Op {
        op_id: uuid::Uuid::now_v7().to_string(),
        kind: RELEASE_KIND.into(),
        at: crate::store::now().to_rfc3339(),
        payload: json!({"hold_id": hold_id, "note": note}),
    };
    push(state, auth, op).await.map(|_| ())
}
