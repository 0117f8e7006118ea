//! A tiny Prometheus registry: counters, gauges and histograms with labels,
//! rendered as text at `GET /metrics`.
//!
//! Why not a crate: the server needs a handful of series, and a handle that
//! is an `Arc` of atomics costs one atomic add per increment on the hot sync
//! path. Get a handle once (it is cheap to clone) and keep it:
//!
//! ```ignore
//! let accepted = metrics::counter("shian_sync_ops_total", "Sync ops by outcome", &[("outcome", "accepted")]);
//! accepted.inc_by(500);
//! ```
//!
//! The registry is process-global so any module can record without threading
//! a handle through; several servers in one test process share it.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// Latency buckets (seconds) of the HTTP histogram: 100 µs to 10 s.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    10.0,
];

/// A monotonically increasing count.
#[derive(Debug, Clone, Default)]
pub struct Counter(Arc<AtomicU64>);

impl Counter {
    pub fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
    pub fn inc_by(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A value that goes up and down (queue depth, lag).
#[derive(Debug, Clone, Default)]
pub struct Gauge(Arc<AtomicI64>);

impl Gauge {
    pub fn set(&self, v: i64) {
        self.0.store(v, Ordering::Relaxed);
    }
    pub fn add(&self, v: i64) {
        self.0.fetch_add(v, Ordering::Relaxed);
    }
    pub fn get(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }
}

#[derive(Debug)]
struct HistogramInner {
    bounds: &'static [f64],
    /// Per-bucket (non-cumulative) counts; the last is +Inf.
    buckets: Vec<AtomicU64>,
    count: AtomicU64,
    /// Sum as f64 bits, updated by compare-and-swap.
    sum_bits: AtomicU64,
}

/// A distribution of observations (latencies, batch sizes).
#[derive(Debug, Clone)]
pub struct Histogram(Arc<HistogramInner>);

impl Histogram {
    fn new(bounds: &'static [f64]) -> Histogram {
        Histogram(Arc::new(HistogramInner {
            bounds,
            buckets: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            sum_bits: AtomicU64::new(0f64.to_bits()),
        }))
    }

    pub fn observe(&self, v: f64) {
        let h = &self.0;
        let i = h
            .bounds
            .iter()
            .position(|b| v <= *b)
            .unwrap_or(h.bounds.len());
        if let Some(b) = h.buckets.get(i) {
            b.fetch_add(1, Ordering::Relaxed);
        }
        h.count.fetch_add(1, Ordering::Relaxed);
        let _ = h
            .sum_bits
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
                Some((f64::from_bits(bits) + v).to_bits())
            });
    }

    /// Observes the seconds elapsed since `start`.
    pub fn observe_since(&self, start: Instant) {
        self.observe(start.elapsed().as_secs_f64());
    }

    pub fn count(&self) -> u64 {
        self.0.count.load(Ordering::Relaxed)
    }
}

#[derive(Debug, Clone)]
enum Series {
    Counter(Counter),
    Gauge(Gauge),
    Histogram(Histogram),
}

#[derive(Debug)]
struct Family {
    help: &'static str,
    kind: &'static str,
    /// Rendered label set (`{a="1",b="2"}`) → series.
    series: BTreeMap<String, Series>,
}

/// A set of metric families. Use [`global`] unless you need isolation.
#[derive(Debug, Default)]
pub struct Registry {
    families: Mutex<BTreeMap<&'static str, Family>>,
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn label_key(labels: &[(&str, &str)]) -> String {
    if labels.is_empty() {
        return String::new();
    }
    let inner: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
        .collect();
    format!("{{{}}}", inner.join(","))
}

impl Registry {
    fn series(
        &self,
        name: &'static str,
        help: &'static str,
        kind: &'static str,
        labels: &[(&str, &str)],
        make: impl FnOnce() -> Series,
    ) -> Series {
        let mut families = self
            .families
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let family = families.entry(name).or_insert_with(|| Family {
            help,
            kind,
            series: BTreeMap::new(),
        });
        family
            .series
            .entry(label_key(labels))
            .or_insert_with(make)
            .clone()
    }

    /// The counter `name{labels}`, created on first use. A name registered
    /// as another kind yields a detached handle (recorded nowhere) rather
    /// than a panic.
    pub fn counter(
        &self,
        name: &'static str,
        help: &'static str,
        labels: &[(&str, &str)],
    ) -> Counter {
        match self.series(name, help, "counter", labels, || {
            Series::Counter(Counter::default())
        }) {
            Series::Counter(c) => c,
            _ => Counter::default(),
        }
    }

    pub fn gauge(&self, name: &'static str, help: &'static str, labels: &[(&str, &str)]) -> Gauge {
        match self.series(name, help, "gauge", labels, || {
            Series::Gauge(Gauge::default())
        }) {
            Series::Gauge(g) => g,
            _ => Gauge::default(),
        }
    }

    pub fn histogram(
        &self,
        name: &'static str,
        help: &'static str,
        labels: &[(&str, &str)],
        buckets: &'static [f64],
    ) -> Histogram {
        match self.series(name, help, "histogram", labels, || {
            Series::Histogram(Histogram::new(buckets))
        }) {
            Series::Histogram(h) => h,
            _ => Histogram::new(buckets),
        }
    }

    /// The Prometheus text exposition format (version 0.0.4).
    pub fn render(&self) -> String {
        let families = self
            .families
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut out = String::new();
        for (name, fam) in families.iter() {
            let _ = writeln!(out, "# HELP {name} {}", fam.help);
            let _ = writeln!(out, "# TYPE {name} {}", fam.kind);
            for (labels, series) in &fam.series {
                match series {
                    Series::Counter(c) => {
                        let _ = writeln!(out, "{name}{labels} {}", c.get());
                    }
                    Series::Gauge(g) => {
                        let _ = writeln!(out, "{name}{labels} {}", g.get());
                    }
                    Series::Histogram(h) => render_histogram(&mut out, name, labels, h),
                }
            }
        }
        out
    }
}

fn render_histogram(out: &mut String, name: &str, labels: &str, h: &Histogram) {
    // Add `le` to the existing label set.
    let with_le = |le: &str| {
        if labels.is_empty() {
            format!("{{le=\"{le}\"}}")
        } else {
            format!("{},le=\"{le}\"}}", &labels[..labels.len() - 1])
        }
    };
    let inner = &h.0;
    let mut cumulative = 0u64;
    for (i, bound) in inner.bounds.iter().enumerate() {
        cumulative += inner
            .buckets
            .get(i)
            .map_or(0, |b| b.load(Ordering::Relaxed));
        let _ = writeln!(
            out,
            "{name}_bucket{} {cumulative}",
            with_le(&bound.to_string())
        );
    }
    cumulative += inner
        .buckets
        .last()
        .map_or(0, |b| b.load(Ordering::Relaxed));
    let _ = writeln!(out, "{name}_bucket{} {cumulative}", with_le("+Inf"));
    let _ = writeln!(
        out,
        "{name}_sum{labels} {}",
        f64::from_bits(inner.sum_bits.load(Ordering::Relaxed))
    );
    let _ = writeln!(
        out,
        "{name}_count{labels} {}",
        inner.count.load(Ordering::Relaxed)
    );
}

/// The process-wide registry.
pub fn global() -> &'static Registry {
    static GLOBAL: OnceLock<Registry> = OnceLock::new();
    GLOBAL.get_or_init(Registry::default)
}

/// Shorthand for `global().counter(…)`.
pub fn counter(name: &'static str, help: &'static str, labels: &[(&str, &str)]) -> Counter {
    global().counter(name, help, labels)
}

/// Shorthand for `global().gauge(…)`.
pub fn gauge(name: &'static str, help: &'static str, labels: &[(&str, &str)]) -> Gauge {
    global().gauge(name, help, labels)
}

/// Shorthand for `global().histogram(…)`.
pub fn histogram(
    name: &'static str,
    help: &'static str,
    labels: &[(&str, &str)],
    buckets: &'static [f64],
) -> Histogram {
    global().histogram(name, help, labels, buckets)
}

/// Sync ops by outcome (`accepted`, `duplicate`, `rejected`): the series
/// `/metrics` promises. Registered at start so they read 0, not absent.
pub fn sync_ops(outcome: &str) -> Counter {
    counter(
        "shian_sync_ops_total",
        "Sync ops pushed, by outcome",
        &[("outcome", outcome)],
    )
}

/// Registers the series that should exist from the first scrape.
pub fn register_defaults() {
    for outcome in ["accepted", "duplicate", "rejected"] {
        let _ = sync_ops(outcome);
    }
    let _ = sync_outbox_lag();
}

/// How far behind the devices are: the age, by the device's own clock, of
/// the oldest op accepted in the latest push (0 when its clock runs ahead).
/// A rising value means phones sat offline or their queues stalled.
pub fn sync_outbox_lag() -> Gauge {
    gauge(
        "shian_sync_outbox_lag_seconds",
        "Age of the oldest op accepted in the last push (device time to server time)",
        &[],
    )
}

/// Middleware: counts every request by method, route template and status,
/// and times it. The route is axum's matched template (`/v1/merchants/{id}`),
/// never the raw path, so ids cannot explode the series count.
pub async fn track(req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().as_str().to_owned();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let res = next.run(req).await;
    let status = res.status();
    let elapsed = start.elapsed();
    counter(
        "shian_http_requests_total",
        "HTTP requests by method, route and status",
        &[
            ("method", &method),
            ("route", &route),
            ("status", status.as_str()),
        ],
    )
    .inc();
    histogram(
        "shian_http_request_duration_seconds",
        "HTTP request latency by route",
        &[("route", &route)],
        LATENCY_BUCKETS,
    )
    .observe(elapsed.as_secs_f64());
    if status.is_server_error() {
        tracing::warn!(%method, %route, status = status.as_u16(), ms = elapsed.as_secs_f64() * 1e3, "request failed");
    } else {
        tracing::debug!(%method, %route, status = status.as_u16(), ms = elapsed.as_secs_f64() * 1e3, "request");
    }
    res
}

/// `GET /metrics`.
#[utoipa::path(get, path = "/metrics", tag = "ops", responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
pub async fn metrics_handler() -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        global().render(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_histograms() {
        let r = Registry::default();
        r.counter("t_total", "help", &[("a", "x\"y")]).inc_by(3);
        let h = r.histogram("t_seconds", "help", &[("route", "/a")], &[0.1, 1.0]);
        h.observe(0.05);
        h.observe(5.0);
        let text = r.render();
        assert!(text.contains("t_total{a=\"x\\\"y\"} 3"), "{text}");
        assert!(
            text.contains("t_seconds_bucket{route=\"/a\",le=\"0.1\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("t_seconds_bucket{route=\"/a\",le=\"+Inf\"} 2"),
            "{text}"
        );
        assert!(text.contains("t_seconds_count{route=\"/a\"} 2"), "{text}");
    }
}
