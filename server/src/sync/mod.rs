//! `POST /v1/sync/push` and `GET /v1/sync/pull`: the HTTP side of sync.
//! The rules are core's; the push and pull logic is in [`push`] and
//! [`pull`], which the store runs inside its transaction.

pub mod pull;
pub mod push;

use std::sync::OnceLock;

use axum::extract::State;
use chrono::{DateTime, FixedOffset, Utc};
use serde::Deserialize;
use serde_json::Value;
use shian_core::event::LedgerEvent;
use shian_core::json::Node;
use shian_core::rules::LedgerRules;
use shian_core::sync::protocol::{Op, OpStatus, PullResponse, PushResponse, MAX_OPS_PER_PUSH};
use utoipa::IntoParams;

use crate::auth::Auth;
use crate::errors::{ApiError, ErrorResponse};
use crate::extract::{parse_json, Json, JsonBody, Query};
use crate::metrics;
use crate::store::Role;
use crate::AppState;

use crate::store::ledger::{Caller, Prepared};

static RULES: OnceLock<LedgerRules> = OnceLock::new();

/// The ledger rules this server enforces: those given to `serve --rules`
/// (see [`install_rules`]), else core's built-in set.
pub fn rules() -> &'static LedgerRules {
    RULES.get_or_init(LedgerRules::builtin)
}

/// Makes `rules` what [`rules`] returns from now on. Called once at start-up,
/// before the store opens; `false` if rules were already in use.
pub fn install_rules(rules: LedgerRules) -> bool {
    RULES.set(rules).is_ok()
}

/// Core's `PushRequest` as the server reads it: every payload borrowed
/// from the body rather than built into a `Value` (see core's `json`).
#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = PushRequest)]
struct PushBody<'a> {
    /// The id `POST /v1/devices` gave.
    #[schema(value_type = crate::openapi::wire::Id)]
    device_id: String,
    /// At most 1,000 (413 above).
    #[serde(borrow)]
    #[schema(max_items = 1000)]
    ops: Vec<BodyOp<'a>>,
    /// The cursor of the device's last pull: what it had received when it
    /// recorded these ops. A sale of a held batch is refused when the
    /// device had the hold, kept with `held_batch_sold` when it had not.
    #[serde(default)]
    #[schema(value_type = Option<crate::openapi::wire::SyncCursor>)]
    pulled_cursor: Option<String>,
}

/// One op of a push; its outcome comes back in `results`.
#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = PushOp)]
struct BodyOp<'a> {
    op_id: String,
    /// `ledger.purchase`, `ledger.sale`, `ledger.void`, `ledger.adjust`,
    /// `ledger.dispose` or a field op kind.
    kind: String,
    /// When the device recorded it (RFC 3339).
    at: String,
    /// Any JSON value: a payload the kind does not accept is that op's
    /// `rejected` outcome, not a refusal of the push.
    #[serde(borrow)]
    #[schema(value_type = serde_json::Value)]
    payload: Node<'a>,
}

/// Parses the ledger events of a push and serializes their canonical form:
/// pure work, done on the request's task before the push reaches the
/// single writer, where every microsecond is everyone's. Other kinds keep
/// their payload as a `Value` for the field ops.
fn prepare(ops: Vec<BodyOp<'_>>) -> Vec<Prepared> {
    ops.into_iter()
        .map(|o| {
            let event = LedgerEvent::is_ledger_kind(&o.kind)
                .then(|| LedgerEvent::parse_node(&o.kind, &o.payload));
            let payload = if event.is_some() {
                Value::Null
            } else {
                o.payload.to_value()
            };
            let wire = match &event {
                Some(Ok(e)) if !e.lacks_code() => Some(e.to_wire_string()),
                _ => None,
            };
            Prepared {
                op: Op {
                    op_id: o.op_id,
                    kind: o.kind,
                    at: o.at,
                    payload,
                },
                event,
                wire,
            }
        })
        .collect()
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

fn valid_device_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
}

/// Pushes a batch of events. Every op gets an outcome: `accepted`,
/// `duplicate` (with the original outcome) or `rejected` with a
/// machine-readable reason.
#[utoipa::path(
    post, path = "/v1/sync/push", tag = "sync", security(("bearer" = [])),
    request_body = PushBody,
    responses(
        (status = 200, description = "{results:[{op_id, status, error?, result?}], cursor}", body = Object),
        (status = 400, body = ErrorResponse), (status = 401, body = ErrorResponse), (status = 403, body = ErrorResponse),
        (status = 409, description = "device_of_another_user: the device is registered to another account", body = ErrorResponse),
        (status = 413, description = "more than 1,000 ops or too many bytes", body = ErrorResponse),
    )
)]
pub async fn push(
    State(state): State<AppState>,
    auth: Auth,
    JsonBody(body): JsonBody,
) -> Result<Json<PushResponse>, ApiError> {
    auth.require(&[Role::Merchant, Role::Inspector, Role::MarketOperator])?;
    let req: PushBody<'_> = parse_json(&body)?;
    if !valid_device_id(&req.device_id) {
        return Err(ApiError::invalid(
            "device_id",
            "invalid_device_id",
            "设备标识应为 1–64 位字母、数字、下划线或连字符",
        ));
    }
    if req.ops.len() > MAX_OPS_PER_PUSH {
        return Err(ApiError::payload_too_large(state.config.body_limit)
            .with_extra("max_ops", serde_json::json!(MAX_OPS_PER_PUSH)));
    }
    // Device times of the ops, for the outbox-lag gauge.
    let sent_at: Vec<Option<DateTime<FixedOffset>>> = req
        .ops
        .iter()
        .map(|o| DateTime::parse_from_rfc3339(&o.at).ok())
        .collect();
    let PushBody {
        device_id,
        ops,
        pulled_cursor,
    } = req;
    let pulled = match pulled_cursor.as_deref().filter(|c| !c.is_empty()) {
        None => None,
        Some(c) => Some(
            shian_core::sync::protocol::decode_cursor(c)
                .ok_or_else(|| {
                    ApiError::invalid(
                        "pulled_cursor",
                        "invalid_cursor",
                        "同步游标无效 (malformed cursor)",
                    )
                })?
                .changes,
        ),
    };
    // Field ops (inspections, samples, findings) change what the public
    // pages say; ledger movements only lengthen chains, which may lag by
    // the page cache's few seconds.
    let public_facing = ops.iter().any(|o| !o.kind.starts_with("ledger."));
    let ops = prepare(ops);
    // Nothing borrows the body now: free it before waiting for the writer.
    drop(body);
    let (results, cursor) = state
        .store
        .sync_push_pulled(caller(&auth), device_id, pulled, ops)
        .await?;
    crate::alerts::after_write(&state).await;
    if public_facing && results.iter().any(|r| r.status == OpStatus::Accepted) {
        state.page_cache.forget_all();
    }
    let now = Utc::now();
    let oldest = results
        .iter()
        .zip(&sent_at)
        .filter(|(r, _)| r.status == OpStatus::Accepted)
        .filter_map(|(_, at)| at.map(|at| (now - at.with_timezone(&Utc)).num_seconds()))
        .max();
    if let Some(age) = oldest {
        metrics::sync_outbox_lag().set(age.max(0));
    }
    for r in &results {
        let outcome = match r.status {
            OpStatus::Accepted => "accepted",
            OpStatus::Duplicate => "duplicate",
            OpStatus::Rejected => "rejected",
        };
        metrics::sync_ops(outcome).inc();
    }
    Ok(Json(PushResponse { results, cursor }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PullQuery {
    /// The opaque cursor of the previous page; empty or absent for the start.
    #[param(value_type = Option<crate::openapi::wire::SyncCursor>)]
    pub cursor: Option<String>,
    /// Changes per page, 1–5,000 (default 1,000).
    #[param(minimum = 1, maximum = 5000)]
    pub limit: Option<u32>,
}

/// The caller's changes after a cursor: a merchant its own records and the
/// notices addressed to it; an inspector the registry and tasks of its
/// district; everyone the templates and keys. A page lists the change feed
/// (registry, tasks, notices) before the ledger entries; `seq` orders the
/// changes within each of the two, and only the returned `cursor` says
/// where to resume.
#[utoipa::path(
    get, path = "/v1/sync/pull", tag = "sync", params(PullQuery), security(("bearer" = [])),
    responses(
        (status = 200, description = "{changes:[{seq, kind, payload}], cursor, has_more}; change-feed items first, then ledger entries (kind ledger.*) in the order the server accepted them", body = Object),
        (status = 400, description = "invalid_cursor", body = ErrorResponse), (status = 401, body = ErrorResponse),
    )
)]
pub async fn pull(
    State(state): State<AppState>,
    auth: Auth,
    Query(q): Query<PullQuery>,
) -> Result<Json<PullResponse>, ApiError> {
    auth.require(&[Role::Merchant, Role::Inspector, Role::MarketOperator])?;
    let limit = q.limit.unwrap_or(1000);
    if limit == 0 || limit > shian_core::sync::protocol::MAX_PULL_LIMIT {
        return Err(ApiError::invalid(
            "limit",
            "invalid_limit",
            "limit 应在 1 到 5000 之间",
        ));
    }
    let page = state
        .store
        .sync_pull(caller(&auth), q.cursor.unwrap_or_default(), limit)
        .await?;
    page.map(Json).map_err(|_| {
        ApiError::invalid(
            "cursor",
            "invalid_cursor",
            "同步游标无效 (malformed cursor)",
        )
    })
}
