//! `GET /v1/alerts`, `POST /v1/alerts/{id}/assign`,
//! `POST /v1/alerts/{id}/resolve`, `POST /v1/alerts/scan` (analysts and
//! admins).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::sync::Arc;

use axum::extract::State;
use axum::Extension;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use shian_core::warnings::{Kind, Severity, SubjectType};
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::RefOr;
use utoipa::{IntoParams, PartialSchema, ToSchema};

use crate::auth::Auth;
use crate::errors::{ApiError, ErrorResponse};
use crate::extract::{Json, Path, Query};
use crate::field::risk::ANALYSTS;
use crate::store::alerts::{Alert, AlertAction, AlertFilter, AlertStatus};
use crate::store::{Role, StoreError};
use crate::AppState;

macro_rules! enum_wire {
    ($(#[$doc:meta])* $wire:ident, $name:literal, $values:expr) => {
        $(#[$doc])*
        pub struct $wire;

        impl PartialSchema for $wire {
            fn schema() -> RefOr<Schema> {
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some($values))
                    .into()
            }
        }

        impl ToSchema for $wire {
            fn name() -> Cow<'static, str> {
                Cow::Borrowed($name)
            }
        }
    };
}

enum_wire!(
    /// The twelve kinds of warning.
    KindWire, "AlertKind", Kind::ALL.map(Kind::as_str)
);
enum_wire!(
    /// Where an alert stands.
    StatusWire, "AlertStatus", AlertStatus::ALL.map(AlertStatus::as_str)
);
enum_wire!(
    /// How urgent.
    SeverityWire, "AlertSeverity", ["low", "medium", "high"]
);
enum_wire!(
    /// What an alert is about.
    SubjectTypeWire, "AlertSubjectType", ["merchant", "market", "category", "product"]
);
enum_wire!(
    /// What an evidence link points at.
    LinkTypeWire, "AlertLinkType", ["entry", "sample", "complaint", "inspection", "merchant", "entry_check"]
);

/// What an alert is about.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = AlertSubject)]
pub struct SubjectView {
    #[serde(rename = "type")]
    #[schema(value_type = SubjectTypeWire)]
    pub kind: &'static str,
    /// A merchant or market id, a category code, or a product name.
    pub id: String,
    pub market_id: Option<String>,
    pub name: String,
}

/// A record behind an alert.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = AlertLink)]
pub struct LinkView {
    #[serde(rename = "type")]
    #[schema(value_type = LinkTypeWire)]
    pub kind: String,
    pub id: String,
}

/// The figures and records that raised an alert.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = AlertEvidence)]
pub struct EvidenceView {
    /// Named numbers (counts, medians, p-values, days).
    pub figures: BTreeMap<String, f64>,
    pub links: Vec<LinkView>,
}

/// One alert.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Alert)]
pub struct AlertView {
    pub id: String,
    #[schema(value_type = KindWire)]
    pub kind: &'static str,
    #[schema(value_type = SeverityWire)]
    pub severity: &'static str,
    pub subject: SubjectView,
    /// zh-CN.
    pub title: String,
    pub evidence: EvidenceView,
    #[schema(value_type = StatusWire)]
    pub status: &'static str,
    pub assigned_to: Option<String>,
    pub note: Option<String>,
    /// The thresholds version it was last seen under.
    pub rules_version: String,
    pub first_seen_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
}

impl From<Alert> for AlertView {
    fn from(a: Alert) -> Self {
        AlertView {
            id: a.id,
            kind: a.kind.as_str(),
            severity: severity(a.severity),
            subject: SubjectView {
                kind: subject_type(a.subject.kind),
                id: a.subject.id,
                market_id: a.subject.market_id,
                name: a.subject.name,
            },
            title: a.title,
            evidence: EvidenceView {
                figures: a.evidence.figures,
                links: a
                    .evidence
                    .links
                    .into_iter()
                    .map(|l| LinkView {
                        kind: serde_json::to_value(l.kind)
                            .ok()
                            .and_then(|v| v.as_str().map(str::to_owned))
                            .unwrap_or_default(),
                        id: l.id,
                    })
                    .collect(),
            },
            status: a.status.as_str(),
            assigned_to: a.assigned_to,
            note: a.note,
            rules_version: a.rules_version,
            first_seen_at: a.first_seen_at,
            last_seen_at: a.last_seen_at,
            resolved_at: a.resolved_at,
        }
    }
}

fn severity(s: Severity) -> &'static str {
    s.as_str()
}

fn subject_type(s: SubjectType) -> &'static str {
    s.as_str()
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = AlertList)]
pub struct AlertList {
    pub alerts: Vec<AlertView>,
    /// Alerts matching the filters (before paging).
    pub total: u64,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AlertQuery {
    #[param(value_type = Option<StatusWire>)]
    pub status: Option<String>,
    #[param(value_type = Option<KindWire>)]
    pub kind: Option<String>,
    #[param(value_type = Option<crate::openapi::wire::IdFilter>)]
    pub market_id: Option<String>,
    #[param(value_type = Option<crate::openapi::wire::IdFilter>)]
    pub merchant_id: Option<String>,
    /// 1..=1000, default 100.
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
    #[param(minimum = 0, maximum = 4294967295_u32)]
    pub offset: Option<u32>,
}

/// An id filter: empty is none; otherwise the id pattern.
fn id_filter(v: Option<String>, field: &str) -> Result<Option<String>, ApiError> {
    match v.filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) if is_id(&s) => Ok(Some(s)),
        Some(_) => Err(ApiError::invalid(
            field,
            "invalid_query",
            format!("{field} 应为 1–64 个字母、数字、_ 或 -"),
        )),
    }
}

fn is_id(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// The filter of a list request, checked (the console uses it too).
pub fn filter(q: AlertQuery) -> Result<AlertFilter, ApiError> {
    let limit = crate::paging::limit(q.limit)?;
    let status = q
        .status
        .map(|s| {
            AlertStatus::parse(&s).ok_or_else(|| {
                ApiError::invalid(
                    "status",
                    "invalid_query",
                    "status 应为 new、assigned 或 resolved",
                )
            })
        })
        .transpose()?;
    let kind = q
        .kind
        .map(|s| {
            Kind::parse(&s)
                .ok_or_else(|| ApiError::invalid("kind", "invalid_query", "未知的预警类型"))
        })
        .transpose()?;
    Ok(AlertFilter {
        status,
        kind,
        market_id: id_filter(q.market_id, "market_id")?,
        merchant_id: id_filter(q.merchant_id, "merchant_id")?,
        limit,
        offset: q.offset.unwrap_or(0),
    })
}

/// Alerts, open ones first, then by severity and recency (admins and
/// analysts: every market's; a market operator: its own market's).
#[utoipa::path(
    get, path = "/v1/alerts", tag = "alerts", params(AlertQuery), security(("bearer" = [])),
    responses(
        (status = 200, body = AlertList),
        (status = 400, description = "invalid_query: bad status, kind, id or limit", body = ErrorResponse),
        (status = 401, body = ErrorResponse), (status = 403, body = ErrorResponse),
    )
)]
pub async fn list_alerts(
    State(state): State<AppState>,
    auth: Auth,
    Query(q): Query<AlertQuery>,
) -> Result<Json<AlertList>, ApiError> {
    auth.require(&[Role::Admin, Role::Analyst, Role::MarketOperator])?;
    let mut filter = filter(q)?;
    filter.market_id = auth.market_filter(filter.market_id)?;
    let page = state.store.list_alerts(filter).await?;
    Ok(Json(AlertList {
        alerts: page.items.into_iter().map(AlertView::from).collect(),
        total: page.total,
    }))
}

/// An alert's id.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct AlertPath {
    #[param(pattern = "^[A-Za-z0-9_-]{1,64}$")]
    pub id: String,
}

/// Who takes the alert on.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = AlertAssign)]
pub struct AssignIn {
    /// An admin, analyst or inspector account's id.
    #[schema(pattern = "^[A-Za-z0-9_-]{1,64}$")]
    pub user_id: String,
}

/// How it was dealt with.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = AlertResolve)]
pub struct ResolveIn {
    /// 1–2000 characters once trimmed.
    pub note: String,
}

/// The answer to a store refusal of a lifecycle step.
fn step_error(e: StoreError) -> ApiError {
    match e {
        StoreError::NotFound("用户") => {
            ApiError::unprocessable("unknown_user", "该账号不存在或不能受理预警").at("user_id")
        }
        other => other.into(),
    }
}

fn path_id(id: &str) -> Result<(), ApiError> {
    if is_id(id) {
        Ok(())
    } else {
        Err(ApiError::not_found("预警"))
    }
}

/// Assign (or reassign) an alert: new or assigned → assigned.
#[utoipa::path(
    post, path = "/v1/alerts/{id}/assign", tag = "alerts", params(AlertPath), security(("bearer" = [])),
    request_body = AssignIn,
    responses(
        (status = 200, body = AlertView),
        (status = 400, body = ErrorResponse), (status = 401, body = ErrorResponse), (status = 403, body = ErrorResponse),
        (status = 404, body = ErrorResponse),
        (status = 409, description = "alert_resolved", body = ErrorResponse),
        (status = 422, description = "unknown_user", body = ErrorResponse),
    )
)]
pub async fn assign(
    State(state): State<AppState>,
    auth: Auth,
    Path(p): Path<AlertPath>,
    Json(body): Json<AssignIn>,
) -> Result<Json<AlertView>, ApiError> {
    auth.require(ANALYSTS)?;
    path_id(&p.id)?;
    if !is_id(&body.user_id) {
        return Err(
            ApiError::unprocessable("unknown_user", "该账号不存在或不能受理预警").at("user_id"),
        );
    }
    let a = state
        .store
        .act_on_alert(
            p.id,
            AlertAction::Assign {
                user_id: body.user_id,
            },
            crate::store::now(),
        )
        .await
        .map_err(step_error)?;
    Ok(Json(a.into()))
}

/// Resolve an assigned alert with a note: assigned → resolved. The same
/// facts do not raise it again; newer facts do.
#[utoipa::path(
    post, path = "/v1/alerts/{id}/resolve", tag = "alerts", params(AlertPath), security(("bearer" = [])),
    request_body = ResolveIn,
    responses(
        (status = 200, body = AlertView),
        (status = 400, body = ErrorResponse), (status = 401, body = ErrorResponse), (status = 403, body = ErrorResponse),
        (status = 404, body = ErrorResponse),
        (status = 409, description = "alert_resolved, alert_not_assigned", body = ErrorResponse),
        (status = 422, description = "too_short, too_long, invalid_characters", body = ErrorResponse),
    )
)]
pub async fn resolve(
    State(state): State<AppState>,
    auth: Auth,
    Path(p): Path<AlertPath>,
    Json(body): Json<ResolveIn>,
) -> Result<Json<AlertView>, ApiError> {
    auth.require(ANALYSTS)?;
    path_id(&p.id)?;
    let note = crate::reports::service::text(&body.note, "note", 1, 2000)?;
    let a = state
        .store
        .act_on_alert(p.id, AlertAction::Resolve { note }, crate::store::now())
        .await
        .map_err(step_error)?;
    Ok(Json(a.into()))
}

/// What a full pass did.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = AlertScan)]
pub struct ScanView {
    /// Alerts raised that were not open before.
    pub raised: u64,
    /// Open alerts after the pass.
    pub open: u64,
    pub elapsed_ms: u64,
}

/// The full pass over every subject's facts, now.
#[utoipa::path(
    post, path = "/v1/alerts/scan", tag = "alerts", security(("bearer" = [])),
    responses(
        (status = 200, body = ScanView),
        (status = 401, body = ErrorResponse), (status = 403, body = ErrorResponse),
        (status = 429, description = "rate_limited, with Retry-After: a few passes at once, then one every 15 s per account", body = ErrorResponse),
    )
)]
pub async fn scan(
    State(state): State<AppState>,
    Extension(limit): Extension<ScanLimit>,
    auth: Auth,
) -> Result<Json<ScanView>, ApiError> {
    auth.require(ANALYSTS)?;
    limit.check(&auth.user_id)?;
    let (out, elapsed_ms) = super::scan(&state).await?;
    Ok(Json(ScanView {
        raised: out.raised,
        open: out.open,
        elapsed_ms,
    }))
}

/// The full passes one account may start: a few at once, then one more
/// each period. A pass reads every subject's facts (seconds on a market's
/// data) and the incremental pass after each write keeps the list current,
/// so a loop of scans would only hold the writer. Counted per account and
/// only after the token is checked, so a caller without one is answered
/// 401, never 429.
#[derive(Clone)]
pub struct ScanLimit(Arc<governor::DefaultKeyedRateLimiter<String>>);

impl ScanLimit {
    /// `burst` passes at once, then one more each `period` (zero values
    /// are raised to one pass and one millisecond).
    pub fn new(burst: u32, period: std::time::Duration) -> ScanLimit {
        let burst = NonZeroU32::new(burst.max(1)).unwrap_or(NonZeroU32::MIN);
        let quota = governor::Quota::with_period(period.max(std::time::Duration::from_millis(1)))
            .unwrap_or_else(|| governor::Quota::per_second(NonZeroU32::MIN))
            .allow_burst(burst);
        ScanLimit(Arc::new(governor::RateLimiter::keyed(quota)))
    }

    fn check(&self, user_id: &str) -> Result<(), ApiError> {
        use governor::clock::{Clock, DefaultClock};
        self.0.check_key(&user_id.to_owned()).map_err(|not_until| {
            let secs = not_until.wait_time_from(DefaultClock::default().now()).as_secs() + 1;
            ApiError::too_many_requests(
                "rate_limited",
                format!("全量预警扫描过于频繁，请 {secs} 秒后重试 (too many full passes; retry in {secs} s)"),
                secs,
            )
        })
    }
}
