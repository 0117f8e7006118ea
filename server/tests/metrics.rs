//! `GET /metrics` after real traffic: the series names, label names and
//! label values dashboards rely on, and output that parses as the Prometheus
//! text format (version 0.0.4).
//!
//! The registry is process-global and this file is its own test process, so
//! the one test here compares a scrape before the traffic with one after.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::{uscc, TestServer};
use reqwest::StatusCode;
use serde_json::{json, Value};
use shian_server::store::Role;

/// A scrape: every sample (`name{labels}` → value) and every `# TYPE`.
struct Scrape {
    samples: BTreeMap<String, f64>,
    types: BTreeMap<String, String>,
}

impl Scrape {
    fn value(&self, series: &str) -> f64 {
        self.samples.get(series).copied().unwrap_or(0.0)
    }
}

/// A metric or label name: `[a-zA-Z_:][a-zA-Z0-9_:]*` (labels without `:`).
fn is_name(s: &str, colon: bool) -> bool {
    let ok = |c: char| c.is_ascii_alphanumeric() || c == '_' || (colon && c == ':');
    s.chars()
        .next()
        .is_some_and(|c| ok(c) && !c.is_ascii_digit())
        && s.chars().all(ok)
}

/// Parses `{k="v",…}` at the start of `s`; returns the label pairs and the
/// rest after `}`. Panics (naming the line) on anything else.
fn parse_labels<'a>(s: &'a str, line: &str) -> (Vec<(String, String)>, &'a str) {
    let mut rest = s.strip_prefix('{').unwrap();
    let mut labels = Vec::new();
    loop {
        if let Some(r) = rest.strip_prefix('}') {
            return (labels, r);
        }
        let eq = rest.find('=').unwrap_or_else(|| panic!("no = in {line}"));
        let key = &rest[..eq];
        assert!(is_name(key, false), "label name {key:?} in {line}");
        rest = rest[eq + 1..]
            .strip_prefix('"')
            .unwrap_or_else(|| panic!("unquoted value in {line}"));
        let mut value = String::new();
        let mut chars = rest.char_indices();
        let end = loop {
            match chars.next() {
                Some((i, '"')) => break i,
                Some((_, '\\')) => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, c @ ('\\' | '"'))) => value.push(c),
                    other => panic!("bad escape {other:?} in {line}"),
                },
                Some((_, c)) => value.push(c),
                None => panic!("unterminated value in {line}"),
            }
        };
        labels.push((key.to_owned(), value));
        rest = &rest[end + 1..];
        rest = rest.strip_prefix(',').unwrap_or(rest);
    }
}

/// Scrapes `/metrics`, checking the content type and that every line is a
/// `# HELP`/`# TYPE` comment or a sample `name{labels} value` of a declared
/// family, with no series twice.
async fn scrape(s: &TestServer) -> Scrape {
    let res = s.http.get(s.url("/metrics")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let text = res.text().await.unwrap();
    let mut samples = BTreeMap::new();
    let mut types = BTreeMap::new();
    let mut helped = BTreeSet::new();
    for line in text.lines() {
        if let Some(help) = line.strip_prefix("# HELP ") {
            let (name, doc) = help.split_once(' ').unwrap();
            assert!(is_name(name, true) && !doc.is_empty(), "{line}");
            helped.insert(name.to_owned());
            continue;
        }
        if let Some(ty) = line.strip_prefix("# TYPE ") {
            let (name, kind) = ty.split_once(' ').unwrap();
            assert!(["counter", "gauge", "histogram"].contains(&kind), "{line}");
            assert!(helped.contains(name), "TYPE before HELP: {line}");
            types.insert(name.to_owned(), kind.to_owned());
            continue;
        }
        assert!(!line.starts_with('#') && !line.is_empty(), "line {line:?}");
        let name_end = line.find(['{', ' ']).unwrap_or(line.len());
        let name = &line[..name_end];
        assert!(is_name(name, true), "metric name in {line}");
        let (labels, rest) = if line[name_end..].starts_with('{') {
            parse_labels(&line[name_end..], line)
        } else {
            (Vec::new(), &line[name_end..])
        };
        let value = rest
            .strip_prefix(' ')
            .unwrap_or_else(|| panic!("no value in {line}"));
        let value: f64 = value
            .parse()
            .unwrap_or_else(|e| panic!("value {value:?} in {line}: {e}"));
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|suffix| {
                name.strip_suffix(suffix)
                    .filter(|f| types.get(*f).is_some_and(|k| k == "histogram"))
            })
            .unwrap_or(name);
        assert!(types.contains_key(family), "sample of no TYPE: {line}");
        let key = if labels.is_empty() {
            name.to_owned()
        } else {
            let inner: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
            format!("{name}{{{}}}", inner.join(","))
        };
        assert!(samples.insert(key, value).is_none(), "series twice: {line}");
    }
    Scrape { samples, types }
}

fn op(merchant: &str, payload: Value) -> Value {
    let id = uuid::Uuid::now_v7().to_string();
    let mut payload = payload;
    payload["entry_id"] = json!(id);
    payload["merchant_id"] = json!(merchant);
    json!({"op_id": id, "kind": "ledger.purchase", "at": chrono::Utc::now().to_rfc3339(), "payload": payload})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_pushed_ops_and_requests_by_their_labels() {
    let s = TestServer::start().await;
    let admin = s.admin().await;
    let market = s.create_market(&admin).await;
    let res = s
        .post(
            "/v1/merchants",
            &admin,
            json!({"market_id": market, "name": "指标档口", "uscc": uscc("9235020300000077"),
                   "licence_no": "JY13502030000077", "licence_expiry": "2028-06-30",
                   "categories": ["vegetable"]}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let merchant = res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    s.user(
        "metrics-shop",
        "shop-password-1",
        Role::Merchant,
        Some(&merchant),
        &[],
    )
    .await;

    let before = scrape(&s).await;
    for (name, kind) in [
        ("shian_sync_ops_total", "counter"),
        ("shian_sync_outbox_lag_seconds", "gauge"),
        ("shian_http_requests_total", "counter"),
        ("shian_http_request_duration_seconds", "histogram"),
    ] {
        assert_eq!(
            before.types.get(name).map(String::as_str),
            Some(kind),
            "{name}"
        );
    }
    assert!(
        !before.types.keys().any(|n| n.ends_with("_total_total")),
        "{:?}",
        before.types
    );
    for outcome in ["accepted", "duplicate", "rejected"] {
        let series = format!("shian_sync_ops_total{{outcome=\"{outcome}\"}}");
        assert!(before.samples.contains_key(&series), "{series} from start");
    }

    // One failed and one good login.
    let res = s.login("metrics-shop", "wrong-password").await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let shop = s.token("metrics-shop", "shop-password-1").await;
    // A push: one op accepted, the same op again (duplicate), one refused.
    let good = op(
        &merchant,
        json!({"product": {"name": "菠菜", "category": "vegetable"},
               "quantity": {"value": "2", "unit": "kg"},
               "supplier": {"name": "同安蔬菜合作社", "region_code": "350212"},
               "certificates": [{"kind": "origin", "number": "CD-2026-0001"}],
               "unit_price_fen": 450, "received_at": chrono::Utc::now().to_rfc3339()}),
    );
    let refused = op(&merchant, json!({}));
    let res = s
        .post(
            "/v1/sync/push",
            &shop,
            json!({"device_id": "metrics-dev", "ops": [good.clone(), good, refused]}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let results = res.json::<Value>().await.unwrap()["results"].clone();
    let statuses: Vec<&str> = results
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["accepted", "duplicate", "rejected"], "{results}");
    // A route with a path parameter is counted by its template.
    let res = s.get(&format!("/v1/merchants/{merchant}"), &admin).await;
    assert_eq!(res.status(), StatusCode::OK);

    let after = scrape(&s).await;
    let delta = |series: &str| after.value(series) - before.value(series);
    for outcome in ["accepted", "duplicate", "rejected"] {
        assert_eq!(
            delta(&format!("shian_sync_ops_total{{outcome=\"{outcome}\"}}")),
            1.0,
            "{outcome}"
        );
    }
    let requests = |method: &str, route: &str, status: u16| {
        delta(&format!(
            "shian_http_requests_total{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}}"
        ))
    };
    assert_eq!(requests("POST", "/v1/auth/login", 401), 1.0);
    assert_eq!(requests("POST", "/v1/auth/login", 200), 1.0);
    assert_eq!(requests("POST", "/v1/sync/push", 200), 1.0);
    assert_eq!(requests("GET", "/v1/merchants/{id}", 200), 1.0);
    assert!(
        !after.samples.keys().any(|k| k.contains(&merchant)),
        "a raw path became a label"
    );
    // The ops were sent a moment ago: the lag is small and not negative.
    let lag = after.value("shian_sync_outbox_lag_seconds");
    assert!((0.0..60.0).contains(&lag), "lag {lag}");

    // The latency histogram of the push route: today's buckets, cumulative,
    // `+Inf` equal to the count, one more observation than before.
    let bucket = |le: &str| {
        format!("shian_http_request_duration_seconds_bucket{{route=\"/v1/sync/push\",le=\"{le}\"}}")
    };
    let bounds = [
        "0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1",
        "0.25", "0.5", "1", "2.5", "10", "+Inf",
    ];
    let mut last = 0.0;
    for le in bounds {
        let v = after.value(&bucket(le));
        assert!(after.samples.contains_key(&bucket(le)), "{}", bucket(le));
        assert!(v >= last, "buckets not cumulative at {le}");
        last = v;
    }
    let buckets = after
        .samples
        .keys()
        .filter(|k| {
            k.starts_with("shian_http_request_duration_seconds_bucket{route=\"/v1/sync/push\"")
        })
        .count();
    assert_eq!(buckets, bounds.len(), "no other buckets");
    let count = "shian_http_request_duration_seconds_count{route=\"/v1/sync/push\"}";
    assert_eq!(after.value(count), last);
    assert_eq!(delta(count), 1.0);
    assert!(after.value("shian_http_request_duration_seconds_sum{route=\"/v1/sync/push\"}") > 0.0);
    s.assert_healthy().await;
}
