//! Benchmark (not a test): the Xiamen-shaped recall of issue 13 — a root
//! batch of 4,890 bags sold to 45 sellers, each selling on at retail — from
//! `POST /v1/recalls` to every holder's notice queued, through the real HTTP
//! server on a real SQLite file.
//!
//! `cargo run -p shian-server --example bench_recall [runs]`

use std::time::Instant;

use serde_json::{json, Value};
use shian_server::store::sqlite::SqliteOptions;
use shian_server::store::{NewUser, Role};
use shian_server::{AppState, Config};

const SELLERS: usize = 45;
const BAGS: u64 = 4_890;

fn code() -> String {
    shian_core::codes::new_code(&mut rand::rng())
}

fn now_cn(minutes: i64) -> String {
    let t = chrono::Utc::now() + chrono::Duration::minutes(minutes);
    t.with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).expect("8 h is a valid offset"))
        .to_rfc3339()
}

fn op(kind: &str, payload: Value) -> Value {
    json!({"op_id": uuid::Uuid::now_v7().to_string(), "kind": kind, "at": now_cn(0), "payload": payload})
}

struct Bench {
    base: String,
    http: reqwest::Client,
    state: AppState,
}

impl Bench {
    async fn post(&self, path: &str, token: &str, body: Value) -> (u16, Value) {
        let res = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .expect("request");
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    async fn user(&self, name: &str, role: Role, merchant: Option<&str>) -> String {
        let hash = shian_server::auth::hash_password("bench-password-1").expect("hash");
        self.state
            .store
            .create_user(NewUser {
                username: name.into(),
                password_hash: hash,
                role,
                merchant_id: merchant.map(str::to_owned),
                regions: vec![],
                markets: vec![],
            })
            .await
            .expect("user");
        let (_, v) = self
            .post(
                "/v1/auth/login",
                "",
                json!({"username": name, "password": "bench-password-1"}),
            )
            .await;
        v["token"].as_str().expect("token").to_owned()
    }

    async fn push(&self, token: &str, device: &str, ops: Vec<Value>) {
        let (status, v) = self
            .post(
                "/v1/sync/push",
                token,
                json!({"device_id": device, "ops": ops}),
            )
            .await;
        assert_eq!(status, 200, "{v}");
        for r in v["results"].as_array().expect("results") {
            assert_eq!(r["status"], "accepted", "{r}");
        }
    }

    async fn merchant(&self, admin: &str, market: &str, i: usize) -> String {
        let stem = format!("92350203{i:08}");
        let uscc = shian_server::validate::complete_uscc(&stem).expect("uscc");
        let (status, v) = self
            .post(
                "/v1/merchants",
                admin,
                json!({"market_id": market, "name": format!("经营户{i}"), "uscc": uscc,
                       "categories": ["dairy"], "stall": format!("A-{i}")}),
            )
            .await;
        assert_eq!(status, 201, "{v}");
        v["id"].as_str().expect("id").to_owned()
    }
}

fn bags(n: u64) -> Value {
    json!({"value": n.to_string(), "unit": "bag"})
}

#[tokio::main]
async fn main() {
    let runs: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let dir = tempfile::tempdir().expect("temp dir");
    let state = AppState::open(
        &dir.path().join("shian.db"),
        // Forty-seven logins from one address: above the per-address burst.
        Config {
            login_rate_burst: 1_000,
            ..Config::default()
        },
        SqliteOptions::default(),
    )
    .await
    .expect("open");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(shian_server::serve(
        listener,
        state.clone(),
        std::future::pending(),
    ));
    let b = Bench {
        base,
        http: reqwest::Client::new(),
        state,
    };
    let admin = b.user("admin", Role::Admin, None).await;
    let analyst = b.user("analyst", Role::Analyst, None).await;
    let (_, m) = b
        .post(
            "/v1/markets",
            &admin,
            json!({"name": "厦门进口食品市场", "region_code": "350203"}),
        )
        .await;
    let market = m["id"].as_str().expect("market").to_owned();

    // Every run recalls a fresh root batch sold to the same 45 sellers.
    let root_merchant = b.merchant(&admin, &market, 0).await;
    let root_token = b.user("root", Role::Merchant, Some(&root_merchant)).await;
    let mut sellers = Vec::new();
    for i in 1..=SELLERS {
        let id = b.merchant(&admin, &market, i).await;
        let token = b
            .user(&format!("seller{i}"), Role::Merchant, Some(&id))
            .await;
        sellers.push((id, token));
    }
    let per_seller = BAGS / SELLERS as u64;
    let mut timings = Vec::new();
    for run in 0..runs {
        let root = code();
        let mut ops = vec![op(
            "ledger.purchase",
            json!({"entry_id": uuid::Uuid::now_v7().to_string(), "merchant_id": root_merchant,
                   "product": {"name": "改标奶酪", "category": "dairy"}, "quantity": bags(BAGS),
                   "supplier": {"name": "境外供货商", "region_code": "350206"},
                   "certificates": [{"kind": "origin", "number": "CIQ-1"}],
                   "trace_code": root, "unit_price_fen": 3000, "received_at": now_cn(-600)}),
        )];
        let vouchers: Vec<String> = sellers.iter().map(|_| code()).collect();
        for ((id, _), v) in sellers.iter().zip(&vouchers) {
            ops.push(op(
                "ledger.sale",
                json!({"entry_id": uuid::Uuid::now_v7().to_string(), "merchant_id": root_merchant,
                       "trace_code": root, "quantity": bags(per_seller), "buyer": {"merchant_id": id},
                       "voucher_code": v, "unit_price_fen": 3500, "sold_at": now_cn(-500)}),
            ));
        }
        b.push(&root_token, "root-phone", ops).await;
        for ((id, token), v) in sellers.iter().zip(&vouchers) {
            let batch = code();
            b.push(
                token,
                &format!("{id}-phone"),
                vec![
                    op(
                        "ledger.purchase",
                        json!({"entry_id": uuid::Uuid::now_v7().to_string(), "merchant_id": id,
                               "product": {"name": "改标奶酪", "category": "dairy"}, "quantity": bags(per_seller),
                               "supplier": {"merchant_id": root_merchant}, "voucher_code": v,
                               "certificates": [{"kind": "origin", "number": "CIQ-1"}],
                               "trace_code": batch, "unit_price_fen": 3500, "received_at": now_cn(-400)}),
                    ),
                    op(
                        "ledger.sale",
                        json!({"entry_id": uuid::Uuid::now_v7().to_string(), "merchant_id": id,
                               "trace_code": batch, "quantity": bags(per_seller / 2), "buyer": {"retail": true},
                               "unit_price_fen": 5000, "sold_at": now_cn(-300)}),
                    ),
                ],
            )
            .await;
        }
        let t = Instant::now();
        let (status, r) = b
            .post(
                "/v1/recalls",
                &analyst,
                json!({"trace_code": root, "level": 1, "reason": "改标过期奶酪"}),
            )
            .await;
        let elapsed = t.elapsed();
        assert_eq!(status, 201, "{r}");
        assert_eq!(r["progress"]["holders"], SELLERS + 1);
        timings.push(elapsed.as_secs_f64() * 1000.0);
        println!(
            "run {run}: {} holders, {:.2} ms from POST to every notice queued",
            SELLERS + 1,
            elapsed.as_secs_f64() * 1000.0
        );
    }
    let conn = rusqlite::Connection::open(dir.path().join("shian.db")).expect("db");
    let notices: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM changes WHERE kind = 'recall.notice'",
            [],
            |r| r.get(0),
        )
        .expect("count");
    assert_eq!(notices as usize, runs * (SELLERS + 1));
    timings.sort_by(f64::total_cmp);
    println!(
        "{runs} recalls, {notices} notices queued; median {:.2} ms, max {:.2} ms",
        timings[timings.len() / 2],
        timings[timings.len() - 1]
    );
}
