//! Benchmark (not a test): the warnings' incremental cost per push (issue
//! 13, "the incremental cost per pushed event beside the push's own"), on
//! the demo database (`serve --demo`'s 30-day frozen market, loaded into a
//! temporary directory) through the real HTTP server.
//!
//! Pushes `N` times `PER` ledger sales as the demo's merchant1 from
//! one batch it bought, and reports per push, median and p95:
//!
//! * the whole `POST /v1/sync/push` as the client sees it (the push
//!   transaction, then the incremental pass in the handler —
//!   `alerts::after_write` — before it answers);
//! * the incremental pass alone, read from the server's own timing: the
//!   `alerts: incremental pass` debug event of `refresh_in` (`total_us`:
//!   reading the marked merchant's facts and its market's price, sample
//!   and complaint windows, evaluating, storing), captured by a tracing
//!   layer in this process;
//! * the push's own time: the first less the second (the push transaction
//!   with HTTP, JSON and auth around it).
//!
//! `cargo run --release -p shian-server --example bench_alerts_push [N] [PER]`
//! (default 200 pushes of 1 sale each; `PER` sales a push show the cost
//! per event when a phone syncs many at once).

use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde_json::{json, Value};
use shian_server::store::sqlite::SqliteOptions;
use shian_server::{AppState, Config};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;

/// The incremental passes' `(read_us, total_us)`, in the order they ran.
#[derive(Clone, Default)]
struct PassTimes(Arc<Mutex<Vec<(u64, u64)>>>);

#[derive(Default)]
struct Find {
    pass: bool,
    read_us: Option<u64>,
    total_us: Option<u64>,
}

impl Visit for Find {
    fn record_u64(&mut self, field: &Field, value: u64) {
        match field.name() {
            "read_us" => self.read_us = Some(value),
            "total_us" => self.total_us = Some(value),
            _ => {}
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" && format!("{value:?}") == "alerts: incremental pass" {
            self.pass = true;
        }
    }
}

impl<S: Subscriber> Layer<S> for PassTimes {
    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let mut f = Find::default();
        event.record(&mut f);
        if let (true, Some(read), Some(total)) = (f.pass, f.read_us, f.total_us) {
            if let Ok(mut v) = self.0.lock() {
                v.push((read, total));
            }
        }
    }
}

fn now_cn(seconds: i64) -> String {
    let t = chrono::Utc::now() + chrono::Duration::seconds(seconds);
    t.with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).expect("8 h is a valid offset"))
        .to_rfc3339()
}

fn op(kind: &str, payload: Value) -> Value {
    json!({"op_id": uuid::Uuid::now_v7().to_string(), "kind": kind, "at": now_cn(0), "payload": payload})
}

/// (median, p95) of microsecond figures.
fn summary(mut v: Vec<u64>) -> (u64, u64) {
    v.sort_unstable();
    let at = |q: f64| v[((v.len() as f64 - 1.0) * q).round() as usize];
    (at(0.5), at(0.95))
}

async fn post(http: &reqwest::Client, url: String, token: &str, body: Value) -> (u16, Value) {
    let res = http
        .post(url)
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .expect("request");
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

#[tokio::main]
async fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    // Sales per push: a phone syncing after a morning offline sends many,
    // and its merchant is judged once for them all.
    let per: usize = std::env::args()
        .nth(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1)
        .max(1);
    let passes = PassTimes::default();
    tracing_subscriber::registry()
        .with(
            passes
                .clone()
                .with_filter(Targets::new().with_target("shian_server", Level::DEBUG)),
        )
        .init();

    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("shian.db");
    let state = AppState::open(&db, Config::default(), SqliteOptions::default())
        .await
        .expect("open");
    let loaded = Instant::now();
    shian_server::demo::load(state.store.as_ref(), 30, dir.path())
        .await
        .expect("demo");
    println!("demo loaded in {:.1} s", loaded.elapsed().as_secs_f64());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(shian_server::serve(
        listener,
        state.clone(),
        std::future::pending(),
    ));
    let http = reqwest::Client::new();
    let login = |user: &'static str, pass: &'static str| {
        let http = http.clone();
        let base = base.clone();
        async move {
            let (_, v) = post(
                &http,
                format!("{base}/v1/auth/login"),
                "",
                json!({"username": user, "password": pass}),
            )
            .await;
            v["token"].as_str().expect("token").to_owned()
        }
    };
    let analyst = login("analyst", "demo-analyst-pass").await;
    let merchant = login("merchant1", "demo-merchant1-pass").await;
    // The full pass a started server runs, so the pushes find the open
    // alerts of a running one.
    let (status, scan) = post(&http, format!("{base}/v1/alerts/scan"), &analyst, json!({})).await;
    assert_eq!(status, 200, "{scan}");
    println!("full pass: {scan}");
    let (merchant_id, market, prices): (String, String, i64) = {
        let conn = rusqlite::Connection::open(&db).expect("db");
        let (m, mk): (String, String) = conn
            .query_row(
                "SELECT u.merchant_id, m.market_id FROM users u JOIN merchants m ON m.id = u.merchant_id WHERE u.username = 'merchant1'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .expect("merchant1");
        let prices = conn
            .query_row(
                "SELECT COUNT(*) FROM entries e JOIN merchants m ON m.id = e.merchant_id
                 WHERE m.market_id = ?1 AND json_extract(e.payload, '$.unit_price_fen') IS NOT NULL",
                [&mk],
                |r| r.get(0),
            )
            .expect("count");
        (m, mk, prices)
    };
    println!("merchant1 {merchant_id} in market {market} ({prices} priced entries in its market)");

    let push = |ops: Vec<Value>| {
        let http = http.clone();
        let url = format!("{base}/v1/sync/push");
        let token = merchant.clone();
        async move {
            let (status, v) = post(
                &http,
                url,
                &token,
                json!({"device_id": "bench-phone", "ops": ops}),
            )
            .await;
            assert_eq!(status, 200, "{v}");
            assert_eq!(v["results"][0]["status"], "accepted", "{v}");
        }
    };
    let batch = shian_core::codes::new_code(&mut rand::rng());
    push(vec![op(
        "ledger.purchase",
        json!({"entry_id": uuid::Uuid::now_v7().to_string(), "merchant_id": merchant_id,
               "product": {"name": "冻牛腱", "category": "livestock_meat"},
               "quantity": {"value": (n * per + 10).to_string(), "unit": "kg"},
               "supplier": {"name": "内蒙古某肉类加工厂", "region_code": "150100"},
               "certificates": [{"kind": "quarantine", "number": "Q-BENCH-1"}],
               "trace_code": batch, "unit_price_fen": 6_800, "received_at": now_cn(-3_600)}),
    )])
    .await;
    let skip = passes.0.lock().map(|v| v.len()).unwrap_or(0);
    let mut walls = Vec::with_capacity(n);
    for i in 0..n {
        let sales = (0..per)
            .map(|j| {
                op(
                    "ledger.sale",
                    json!({"entry_id": uuid::Uuid::now_v7().to_string(), "merchant_id": merchant_id,
                           "trace_code": batch, "quantity": {"value": "1", "unit": "kg"},
                           "buyer": {"retail": true}, "unit_price_fen": 7_800 + ((i + j) % 7) as i64 * 50,
                           "sold_at": now_cn(-1_800)}),
                )
            })
            .collect();
        let t = Instant::now();
        push(sales).await;
        walls.push(t.elapsed().as_micros() as u64);
    }
    let timed: Vec<(u64, u64)> = passes
        .0
        .lock()
        .map(|v| v[skip..].to_vec())
        .unwrap_or_default();
    assert_eq!(timed.len(), n, "one incremental pass per push");
    let read: Vec<u64> = timed.iter().map(|t| t.0).collect();
    let pass: Vec<u64> = timed.iter().map(|t| t.1).collect();
    let own: Vec<u64> = walls
        .iter()
        .zip(&pass)
        .map(|(w, p)| w.saturating_sub(*p))
        .collect();
    let (w50, w95) = summary(walls);
    let (p50, p95) = summary(pass);
    let (o50, o95) = summary(own);
    let (r50, r95) = summary(read);
    println!(
        "{n} pushes of {per} ledger sale(s) each (µs per push; divide by {per} for per event):"
    );
    println!("| per push | median | p95 |");
    println!("|---|---:|---:|");
    println!("| POST /v1/sync/push, whole | {w50} | {w95} |");
    println!("| the push's own (whole − pass) | {o50} | {o95} |");
    println!("| incremental alerts pass (`refresh_in` total_us) | {p50} | {p95} |");
    println!("| … of which reading the facts (read_us) | {r50} | {r95} |");
}
