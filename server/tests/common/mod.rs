//! A real server on loopback over a real SQLite file in a temp dir, or,
//! with `SHIAN_TEST_DB=postgres`, over a fresh database of its own on a
//! throw-away PostgreSQL 15 cluster (the same suites, the other backend).
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;

use reqwest::{Client, Response, StatusCode};
use serde_json::{json, Value};
use shian_server::db_target::DbTarget;
use shian_server::store::postgres::PgOptions;
use shian_server::store::sqlite::SqliteOptions;
use shian_server::store::{NewUser, Role, Store};
use shian_server::{AppState, Config};
use tempfile::TempDir;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub struct TestServer {
    pub base: String,
    /// The SQLite file (on PostgreSQL: a path nothing is at; a suite that
    /// reads the file itself runs on SQLite only).
    pub db: PathBuf,
    /// The store the server runs on.
    pub target: DbTarget,
    pub store: Arc<dyn Store>,
    pub state: AppState,
    pub http: Client,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
    _dir: TempDir,
}

/// Whether the suites run on PostgreSQL (`SHIAN_TEST_DB=postgres`).
pub fn on_postgres() -> bool {
    std::env::var("SHIAN_TEST_DB").is_ok_and(|v| v == "postgres")
}

impl TestServer {
    pub async fn start() -> TestServer {
        Self::start_with(Config::default()).await
    }

    pub async fn start_with(config: Config) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("data").join("shian.db");
        let target = if on_postgres() {
            // The synchronous client may not run on the async runtime.
            let url =
                tokio::task::spawn_blocking(shian_server::store::postgres::testing::fresh_url)
                    .await
                    .unwrap()
                    .expect(
                        "SHIAN_TEST_DB=postgres needs PostgreSQL 15 (scripts/install-test-deps.sh)",
                    );
            DbTarget::Postgres(url)
        } else {
            DbTarget::Sqlite(db.clone())
        };
        Self::serve_on(target, db, config, dir).await
    }

    /// Opens the store `target` names and serves it on a port of its own;
    /// with PostgreSQL the keys live in the database.
    async fn serve_on(target: DbTarget, db: PathBuf, config: Config, dir: TempDir) -> TestServer {
        let state = AppState::open_target(
            &target,
            config,
            SqliteOptions::default(),
            PgOptions::default(),
        )
        .await
        .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(shian_server::serve(listener, state.clone(), async move {
            let _ = stopped.await;
        }));
        TestServer {
            base: format!("http://{addr}"),
            db,
            target,
            store: state.store.clone(),
            state,
            http: Client::new(),
            stop: Some(stop),
            task: Some(task),
            _dir: dir,
        }
    }

    /// Another server process's view of the same data directory: a second
    /// [`AppState`] (its own SQLite connections, ledger graph and price
    /// windows) over this server's file and keys, serving on its own port —
    /// what a second instance behind a load balancer is.
    pub async fn beside(&self) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        Self::serve_on(self.target.clone(), self.db.clone(), Config::default(), dir).await
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Creates an account straight in the store.
    pub async fn user(
        &self,
        username: &str,
        password: &str,
        role: Role,
        merchant_id: Option<&str>,
        regions: &[&str],
    ) -> String {
        let hash = shian_server::auth::hash_password(password).unwrap();
        let u = self
            .store
            .create_user(NewUser {
                username: username.into(),
                password_hash: hash,
                role,
                merchant_id: merchant_id.map(str::to_owned),
                regions: regions.iter().map(|r| (*r).to_owned()).collect(),
                markets: vec![],
            })
            .await
            .unwrap();
        u.id
    }

    /// Creates a market-operator account for `markets` straight in the store.
    pub async fn operator(&self, username: &str, password: &str, markets: &[&str]) -> String {
        let hash = shian_server::auth::hash_password(password).unwrap();
        let u = self
            .store
            .create_user(NewUser {
                username: username.into(),
                password_hash: hash,
                role: Role::MarketOperator,
                merchant_id: None,
                regions: vec![],
                markets: markets.iter().map(|m| (*m).to_owned()).collect(),
            })
            .await
            .unwrap();
        u.id
    }

    pub async fn login(&self, username: &str, password: &str) -> Response {
        self.http
            .post(self.url("/v1/auth/login"))
            .json(&json!({"username": username, "password": password}))
            .send()
            .await
            .unwrap()
    }

    pub async fn token(&self, username: &str, password: &str) -> String {
        let res = self.login(username, password).await;
        assert_eq!(res.status(), StatusCode::OK);
        let body: Value = res.json().await.unwrap();
        body["token"].as_str().unwrap().to_owned()
    }

    /// An admin account and its token.
    pub async fn admin(&self) -> String {
        self.user("root", "root-password-1", Role::Admin, None, &[])
            .await;
        self.token("root", "root-password-1").await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Response {
        self.http
            .post(self.url(path))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// Pushes `ops` (a JSON array) from `device` and returns `results`,
    /// the push's 200 asserted.
    pub async fn push_from(&self, token: &str, device: &str, ops: Value) -> Vec<Value> {
        let res = self
            .post(
                "/v1/sync/push",
                token,
                json!({"device_id": device, "ops": ops}),
            )
            .await;
        let status = res.status();
        let body: Value = res.json().await.unwrap();
        assert_eq!(status, StatusCode::OK, "{body}");
        body["results"].as_array().unwrap().clone()
    }

    pub async fn get(&self, path: &str, token: &str) -> Response {
        self.http
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    pub async fn create_market(&self, token: &str) -> String {
        let res = self
            .post(
                "/v1/markets",
                token,
                json!({"name": "测试市场", "region_code": "350203"}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::CREATED);
        let v: Value = res.json().await.unwrap();
        v["id"].as_str().unwrap().to_owned()
    }

    /// The server answers /healthz; call at the end of every test.
    pub async fn assert_healthy(&self) {
        let res = self.http.get(self.url("/healthz")).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let v: Value = res.json().await.unwrap();
        assert_eq!(v["status"], "ok");
    }

    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap().unwrap();
        }
    }
}

/// Asserts the contract's error shape and returns the body.
pub async fn expect_error(res: Response, status: StatusCode, code: &str) -> Value {
    let got = res.status();
    let ct = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let text = res.text().await.unwrap();
    assert_eq!(got, status, "status for {code}: body {text}");
    assert!(
        ct.starts_with("application/json"),
        "content-type {ct} body {text}"
    );
    let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    assert_eq!(v["error"]["code"], code, "{text}");
    assert!(
        v["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{text}"
    );
    v
}

/// A valid USCC with both check characters, from a 16-character stem.
pub fn uscc(stem: &str) -> String {
    shian_server::validate::complete_uscc(stem).unwrap()
}
