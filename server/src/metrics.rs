//! The server's Prometheus series, kept by `prometheus-client` (the
//! Prometheus project's Rust client) and served as text at `GET /metrics`.
//!
//! Every series is a field of [`Metrics`], registered once; recording is an
//! atomic add on a handle. A labelled family finds its series under a
//! read lock (`Family` keeps a `RwLock`ed map), and its label values are
//! `&'static str`, integers or cheap clones (axum's `MatchedPath` is an
//! `Arc<str>`), so no request or pushed op allocates a label string. The
//! three sync outcomes are looked up once, at start, and kept as handles:
//! counting a pushed op takes no lock at all.
//!
//! The registry is process-global so any module can record without threading
//! a handle through; several servers in one test process share it.
//!
//! prometheus-client appends `_total` to a counter's name, so counters are
//! registered without it and exposed under the names they always had.

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::{header, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::{prometheus_text, EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::errors::ApiError;

/// Latency buckets (seconds) of the HTTP histogram: 100 µs to 10 s.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    10.0,
];

/// Labels of `shian_sync_ops_total`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct SyncOpLabels {
    /// `accepted`, `duplicate` or `rejected`.
    outcome: &'static str,
}

/// Labels of `shian_password_checks_total`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct AccountLabels {
    account: &'static str,
}

/// Labels of `shian_http_requests_total`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RequestLabels {
    method: MethodLabel,
    route: RouteLabel,
    status: u16,
}

/// Labels of `shian_http_request_duration_seconds`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RouteLabels {
    route: RouteLabel,
}

/// The request method as a label value (`GET`); cloning a standard method
/// allocates nothing.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct MethodLabel(Method);

impl EncodeLabelValue for MethodLabel {
    fn encode(
        &self,
        encoder: &mut prometheus_client::encoding::LabelValueEncoder,
    ) -> Result<(), std::fmt::Error> {
        EncodeLabelValue::encode(&self.0.as_str(), encoder)
    }
}

/// axum's matched route template (`/v1/merchants/{id}`), never the raw
/// path, so ids cannot explode the series count; `unmatched` without one.
#[derive(Debug, Clone)]
struct RouteLabel(Option<MatchedPath>);

impl RouteLabel {
    fn as_str(&self) -> &str {
        self.0.as_ref().map_or("unmatched", MatchedPath::as_str)
    }
}

impl PartialEq for RouteLabel {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for RouteLabel {}

impl std::hash::Hash for RouteLabel {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl EncodeLabelValue for RouteLabel {
    fn encode(
        &self,
        encoder: &mut prometheus_client::encoding::LabelValueEncoder,
    ) -> Result<(), std::fmt::Error> {
        EncodeLabelValue::encode(&self.as_str(), encoder)
    }
}

/// A latency histogram with [`LATENCY_BUCKETS`].
fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS.iter().copied())
}

/// Every series the server exposes, and the registry that renders them.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// `shian_sync_ops_total{outcome}`.
    sync_ops: Family<SyncOpLabels, Counter>,
    /// The `accepted`, `duplicate` and `rejected` series of `sync_ops`.
    sync_outcomes: [(&'static str, Counter); 3],
    /// `shian_sync_outbox_lag_seconds`.
    sync_outbox_lag: Gauge,
    /// `shian_http_requests_total{method,route,status}`.
    http_requests: Family<RequestLabels, Counter>,
    /// `shian_http_request_duration_seconds{route}`.
    http_duration: Family<RouteLabels, Histogram>,
    /// `shian_password_checks_total{account}`: the `known` and `unknown`
    /// series (an account's name is never a label).
    password_checks: [Counter; 2],
    /// `shian_ledger_graph_failed`.
    ledger_graph_failed: Gauge,
    /// `shian_ledger_rows_skipped`.
    ledger_rows_skipped: Gauge,
    /// `shian_ledger_graph_position`.
    ledger_graph_position: Gauge,
    /// `shian_ledger_graph_lag_entries`.
    ledger_graph_lag: Gauge,
}

impl Metrics {
    fn new() -> Metrics {
        let mut registry = Registry::default();
        let sync_ops = Family::<SyncOpLabels, Counter>::default();
        registry.register(
            "shian_sync_ops",
            "Sync ops pushed, by outcome",
            sync_ops.clone(),
        );
        // Created now, so the three series read 0 from the first scrape,
        // not absent.
        let sync_outcomes = ["accepted", "duplicate", "rejected"].map(|outcome| {
            (
                outcome,
                sync_ops.get_or_create_owned(&SyncOpLabels { outcome }),
            )
        });
        let sync_outbox_lag = Gauge::default();
        registry.register(
            "shian_sync_outbox_lag_seconds",
            "Age of the oldest op accepted in the last push (device time to server time)",
            sync_outbox_lag.clone(),
        );
        let http_requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "shian_http_requests",
            "HTTP requests by method, route and status",
            http_requests.clone(),
        );
        let http_duration = Family::new_with_constructor(latency_histogram as fn() -> Histogram);
        registry.register(
            "shian_http_request_duration_seconds",
            "HTTP request latency by route",
            http_duration.clone(),
        );
        let password_family = Family::<AccountLabels, Counter>::default();
        registry.register(
            "shian_password_checks",
            "Password hashes checked at login",
            password_family.clone(),
        );
        let password_checks = ["known", "unknown"]
            .map(|account| password_family.get_or_create_owned(&AccountLabels { account }));
        let ledger_graph_failed = Gauge::default();
        registry.register(
            "shian_ledger_graph_failed",
            "1 once the in-memory ledger graph could not be made equal to the file (writes and traces refused until a restart)",
            ledger_graph_failed.clone(),
        );
        let ledger_rows_skipped = Gauge::default();
        registry.register(
            "shian_ledger_rows_skipped",
            "Stored ledger rows the last rebuild of the graph skipped because they do not read back (see /healthz alerts and the log)",
            ledger_rows_skipped.clone(),
        );
        let ledger_graph_position = Gauge::default();
        registry.register(
            "shian_ledger_graph_position",
            "The position of the last ledger entry this instance's in-memory graph holds (it follows the store)",
            ledger_graph_position.clone(),
        );
        let ledger_graph_lag = Gauge::default();
        registry.register(
            "shian_ledger_graph_lag_entries",
            "Ledger entries other instances committed that this instance's graph had not yet read when it last looked",
            ledger_graph_lag.clone(),
        );
        Metrics {
            registry,
            ledger_graph_position,
            ledger_graph_lag,
            password_checks,
            ledger_graph_failed,
            ledger_rows_skipped,
            sync_ops,
            sync_outcomes,
            sync_outbox_lag,
            http_requests,
            http_duration,
        }
    }

    /// The Prometheus text exposition format (version 0.0.4).
    pub fn render(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::new();
        prometheus_text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}

/// The process-wide series.
pub fn global() -> &'static Metrics {
    static GLOBAL: OnceLock<Metrics> = OnceLock::new();
    GLOBAL.get_or_init(Metrics::new)
}

/// Sync ops by outcome (`accepted`, `duplicate`, `rejected`): the series
/// `/metrics` promises. The three are kept as handles (no lock); another
/// outcome gets a series of its own in the family.
pub fn sync_ops(outcome: &'static str) -> Counter {
    let m = global();
    m.sync_outcomes
        .iter()
        .find(|(o, _)| *o == outcome)
        .map_or_else(
            || m.sync_ops.get_or_create_owned(&SyncOpLabels { outcome }),
            |(_, c)| c.clone(),
        )
}

/// Registers the series that should exist from the first scrape.
pub fn register_defaults() {
    let _ = global();
}

/// How far behind the devices are: the age, by the device's own clock, of
/// the oldest op accepted in the latest push (0 when its clock runs ahead).
/// A rising value means phones sat offline or their queues stalled.
pub fn sync_outbox_lag() -> Gauge {
    global().sync_outbox_lag.clone()
}

/// Argon2 password checks at login, for a known account or not: the
/// lockout's bound on checks is watched here.
pub fn password_checks(known: bool) -> Counter {
    global().password_checks[usize::from(!known)].clone()
}

/// 1 once the ledger graph could not be made equal to the file.
pub fn ledger_graph_failed() -> Gauge {
    global().ledger_graph_failed.clone()
}

/// How many stored ledger rows the last rebuild of the graph skipped.
pub fn ledger_rows_skipped() -> Gauge {
    global().ledger_rows_skipped.clone()
}

/// The ledger graph looked at the store: its position and how far behind.
pub fn ledger_graph_followed(position: i64, behind: i64) {
    let m = global();
    m.ledger_graph_position.set(position);
    m.ledger_graph_lag.set(behind);
}

/// Middleware: counts every request by method, route template and status,
/// and times it.
pub async fn track(req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = MethodLabel(req.method().clone());
    let route = RouteLabel(req.extensions().get::<MatchedPath>().cloned());
    let res = next.run(req).await;
    let status = res.status();
    let elapsed = start.elapsed();
    let m = global();
    m.http_duration
        .get_or_create(&RouteLabels {
            route: route.clone(),
        })
        .observe(elapsed.as_secs_f64());
    let (method_str, route_str) = (method.0.as_str(), route.as_str());
    if status.is_server_error() {
        tracing::warn!(method = %method_str, route = %route_str, status = status.as_u16(), ms = elapsed.as_secs_f64() * 1e3, "request failed");
    } else if !is_anonymous_route(route_str) {
        tracing::debug!(method = %method_str, route = %route_str, status = status.as_u16(), ms = elapsed.as_secs_f64() * 1e3, "request");
    }
    m.http_requests
        .get_or_create(&RequestLabels {
            method,
            route,
            status: status.as_u16(),
        })
        .inc();
    res
}

/// The anonymous report routes (API and pages): no line per request, since
/// a log line's timestamp would give the exact time of a report that the
/// store keeps only by day. Failures (5xx) are still logged, by template.
fn is_anonymous_route(route: &str) -> bool {
    route.starts_with("/v1/reports") || route.starts_with("/report")
}

/// `GET /metrics`.
#[utoipa::path(get, path = "/metrics", tag = "ops", responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
pub async fn metrics_handler() -> Response {
    match global().render() {
        Ok(text) => (
            [(header::CONTENT_TYPE, prometheus_text::CONTENT_TYPE)],
            text,
        )
            .into_response(),
        Err(e) => ApiError::internal(format!("encoding metrics: {e}")).into_response(),
    }
}

/// The ledger graph's state on the server's metrics.
pub struct MetricsReport;

impl crate::store::graph::GraphReport for MetricsReport {
    fn graph_failed(&self) {
        ledger_graph_failed().set(1);
    }

    fn rows_skipped(&self, n: usize) {
        ledger_rows_skipped().set(n as i64);
    }

    fn followed(&self, position: i64, behind: i64) {
        ledger_graph_followed(position, behind);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_keep_their_total_names_and_buckets_their_bounds() {
        let m = Metrics::new();
        m.sync_ops
            .get_or_create(&SyncOpLabels {
                outcome: "accepted",
            })
            .inc_by(3);
        m.http_duration
            .get_or_create(&RouteLabels {
                route: RouteLabel(None),
            })
            .observe(0.05);
        m.http_requests
            .get_or_create(&RequestLabels {
                method: MethodLabel(Method::GET),
                route: RouteLabel(None),
                status: 404,
            })
            .inc();
        let text = m.render().unwrap();
        assert!(
            text.contains("\nshian_sync_ops_total{outcome=\"accepted\"} 3\n"),
            "{text}"
        );
        assert!(
            text.contains("shian_sync_ops_total{outcome=\"rejected\"} 0\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "# TYPE shian_http_requests_total counter\n\
                 shian_http_requests_total{method=\"GET\",route=\"unmatched\",status=\"404\"} 1\n"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "shian_http_request_duration_seconds_bucket{route=\"unmatched\",le=\"0.025\"} 0\n\
                 shian_http_request_duration_seconds_bucket{route=\"unmatched\",le=\"0.05\"} 1\n"
            ),
            "{text}"
        );
        assert!(!text.contains("_total_total"), "{text}");
    }
}
