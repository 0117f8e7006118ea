//! A real server on loopback over a real SQLite file in a temp dir, or,
//! with `SHIAN_TEST_DB=postgres`, over a fresh database of its own on a
//! throw-away PostgreSQL 15 cluster (the same suites, the other backend).
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;

use reqwest::{Client, Response, StatusCode};
use serde_json::{json, Value};
use shian_server::db_target::DbTarget;
use shian_server::store::graph::ReadModelOptions;
use shian_server::store::postgres::PgOptions;
use shian_server::store::sqlite::SqliteOptions;
use shian_server::store::{NewUser, Role, Store};
use shian_server::{AppState, Config};
use tempfile::TempDir;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub struct TestServer {
    pub base: String,
    /// The SQLite file (on PostgreSQL: a path nothing is at; look beneath
    /// the API with [`TestServer::count`], [`TestServer::rows`] and
    /// [`TestServer::execute`], which run on either).
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

/// A store of its own for a test: the SQLite file `db` (not made yet), or
/// with `SHIAN_TEST_DB=postgres` a fresh database.
pub async fn fresh_target(db: &std::path::Path) -> DbTarget {
    if on_postgres() {
        // The synchronous client may not run on the async runtime.
        let url = tokio::task::spawn_blocking(shian_server::store::postgres::testing::fresh_url)
            .await
            .unwrap()
            .expect("SHIAN_TEST_DB=postgres needs PostgreSQL 15 (scripts/install-test-deps.sh)");
        DbTarget::Postgres(url)
    } else {
        DbTarget::Sqlite(db.to_path_buf())
    }
}

impl TestServer {
    pub async fn start() -> TestServer {
        Self::start_with(Config::default()).await
    }

    pub async fn start_with(config: Config) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("data").join("shian.db");
        let target = fresh_target(&db).await;
        Self::serve_on(target, db, config, ReadModelOptions::default(), dir).await
    }

    /// Opens the store `target` names and serves it on a port of its own;
    /// with PostgreSQL the keys live in the database.
    async fn serve_on(
        target: DbTarget,
        db: PathBuf,
        config: Config,
        read_model: ReadModelOptions,
        dir: TempDir,
    ) -> TestServer {
        let state = AppState::open_target(
            &target,
            config,
            SqliteOptions {
                read_model,
                ..SqliteOptions::default()
            },
            PgOptions {
                read_model,
                ..PgOptions::default()
            },
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
        self.beside_with(Config::default()).await
    }

    /// [`TestServer::beside`] with its own `config`.
    pub async fn beside_with(&self, config: Config) -> TestServer {
        self.beside_opened(config, ReadModelOptions::default())
            .await
    }

    /// [`TestServer::beside_with`] whose read model is opened with
    /// `read_model` (a catch-up wait, fault points).
    pub async fn beside_opened(&self, config: Config, read_model: ReadModelOptions) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        Self::serve_on(
            self.target.clone(),
            self.db.clone(),
            config,
            read_model,
            dir,
        )
        .await
    }

    /// The number `sql` answers (see [`sql_rows`]).
    pub fn count(&self, sql: &str) -> i64 {
        sql_count(&self.target, sql)
    }

    /// Every row `sql` answers, each column as text (see [`sql_rows`]).
    pub fn rows(&self, sql: &str, params: &[&str]) -> Vec<Vec<Option<String>>> {
        sql_rows(&self.target, sql, params)
    }

    /// The first column of the first row `sql` answers: `None` when there
    /// is no row or it is NULL.
    pub fn text(&self, sql: &str, params: &[&str]) -> Option<String> {
        self.rows(sql, params)
            .into_iter()
            .next()
            .and_then(|r| r.into_iter().next().flatten())
    }

    /// Runs a statement valid in both dialects; returns the rows it changed.
    pub fn execute(&self, sql: &str, params: &[&str]) -> u64 {
        self.execute_in(sql, sql, params)
    }

    /// Runs `sqlite` or `postgres`, whichever the server is on, for a
    /// statement the two dialects write differently.
    pub fn execute_in(&self, sqlite: &str, postgres: &str, params: &[&str]) -> u64 {
        sql_execute(&self.target, sqlite, postgres, params)
    }

    /// Adopts a key ring the CLI wrote, as `serve`'s one-second refresher
    /// does when the keys are in the database (a TestServer runs none);
    /// keys in files re-read them as they sign, and this does nothing.
    pub fn follow_keys(&self) {
        let keys = self.state.keys.clone();
        // The vault's synchronous client may not run on the async runtime.
        std::thread::scope(|s| s.spawn(move || keys.follow_vault()).join().unwrap());
    }

    /// The keys a restarted server would load from this server's store.
    pub fn keys_restarted(&self) -> shian_server::keys::Keys {
        let target = self.target.clone();
        // Opened as a restarted server opens it, on a runtime of its own
        // (the vault's synchronous client may not run on the test's).
        std::thread::scope(|s| {
            s.spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                let opened = rt
                    .block_on(target.open(SqliteOptions::default(), PgOptions::default(), false))
                    .unwrap();
                let keys = shian_server::keys::Keys::open(&opened.keys).unwrap();
                let _ = rt.block_on(opened.store.close());
                keys
            })
            .join()
            .unwrap()
        })
    }

    /// The store as the CLI's `--db` names it: the SQLite file or the
    /// PostgreSQL URL.
    pub fn db_arg(&self) -> std::ffi::OsString {
        db_arg(&self.target)
    }

    /// Whether `needle` is anywhere in what the store holds ([`stored_bytes`]).
    pub fn stores(&self, needle: &[u8]) -> bool {
        contains(&stored_bytes(&self.target), needle)
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

// SQL beneath the API, on whichever store a server runs on: written once
// with `$1`-style parameters (SQLite gets `?1`), every parameter text. On
// PostgreSQL a parameter is sent as a quoted literal, so it takes the
// type of the column it meets (date, timestamptz, jsonb) as SQL's own
// literals do, and each column comes back as text whatever its type
// (select a boolean as `CASE WHEN b THEN 1 ELSE 0 END` to read the same on
// both). The synchronous PostgreSQL client may not run on an async
// runtime's thread, so it runs on a thread of its own.

/// `sql` with its `$n` placeholders replaced by `with(n)`.
fn placeholders(sql: &str, with: impl Fn(usize) -> String) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '$' && chars.peek().is_some_and(char::is_ascii_digit) {
            let mut n = String::new();
            while let Some(d) = chars.next_if(char::is_ascii_digit) {
                n.push(d);
            }
            out.push_str(&with(n.parse().unwrap()));
        } else {
            out.push(c);
        }
    }
    out
}

/// `sql` for PostgreSQL's simple protocol, each `$n` the literal `params[n-1]`.
fn pg_literal_sql(sql: &str, params: &[&str]) -> String {
    placeholders(sql, |n| {
        let p = params
            .get(n - 1)
            .unwrap_or_else(|| panic!("{sql}: no parameter ${n}"));
        format!("'{}'", p.replace('\'', "''"))
    })
}

/// Runs `work` on a PostgreSQL connection to `url`, on a thread of its own.
fn on_pg<T: Send>(url: &str, work: impl FnOnce(&mut postgres::Client) -> T + Send) -> T {
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let mut client = postgres::Client::connect(url, postgres::NoTls)
                    .unwrap_or_else(|e| panic!("connect to the test database: {e}"));
                work(&mut client)
            })
            .join()
            .unwrap_or_else(|e| std::panic::resume_unwind(e))
    })
}

/// The text rows of a simple-protocol answer.
fn pg_text_rows(messages: Vec<postgres::SimpleQueryMessage>) -> Vec<Vec<Option<String>>> {
    messages
        .into_iter()
        .filter_map(|m| match m {
            postgres::SimpleQueryMessage::Row(r) => {
                Some((0..r.len()).map(|i| r.get(i).map(str::to_owned)).collect())
            }
            _ => None,
        })
        .collect()
}

/// Every row `sql` answers on the store `target` names, each column as
/// text (a number in its decimal form; NULL is `None`).
pub fn sql_rows(target: &DbTarget, sql: &str, params: &[&str]) -> Vec<Vec<Option<String>>> {
    match target {
        DbTarget::Sqlite(path) => {
            let conn = rusqlite::Connection::open(path).unwrap();
            let sql = placeholders(sql, |n| format!("?{n}"));
            let mut st = conn.prepare(&sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
            let n = st.column_count();
            let rows = st
                .query_map(rusqlite::params_from_iter(params.iter()), |r| {
                    (0..n)
                        .map(|i| {
                            Ok(match r.get::<_, rusqlite::types::Value>(i)? {
                                rusqlite::types::Value::Null => None,
                                rusqlite::types::Value::Integer(v) => Some(v.to_string()),
                                rusqlite::types::Value::Real(v) => Some(v.to_string()),
                                rusqlite::types::Value::Text(v) => Some(v),
                                rusqlite::types::Value::Blob(v) => {
                                    Some(String::from_utf8_lossy(&v).into_owned())
                                }
                            })
                        })
                        .collect()
                })
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
            rows.map(|r| r.unwrap_or_else(|e| panic!("{sql}: {e}")))
                .collect()
        }
        DbTarget::Postgres(url) => {
            let sql = pg_literal_sql(sql, params);
            on_pg(url, |c| {
                let got = c
                    .simple_query(&sql)
                    .unwrap_or_else(|e| panic!("{sql}: {e}"));
                pg_text_rows(got)
            })
        }
    }
}

/// The number `sql` answers (`COUNT(*)`, `SUM(…)`) on the store `target` names.
pub fn sql_count(target: &DbTarget, sql: &str) -> i64 {
    let rows = sql_rows(target, sql, &[]);
    let first = rows
        .first()
        .and_then(|r| r.first().cloned().flatten())
        .unwrap_or_else(|| panic!("{sql}: no number"));
    first
        .parse()
        .unwrap_or_else(|e| panic!("{sql}: {first} is not a number: {e}"))
}

/// Runs `sqlite` or `postgres` (whichever `target` names) with `params`;
/// returns the rows it changed.
pub fn sql_execute(target: &DbTarget, sqlite: &str, postgres: &str, params: &[&str]) -> u64 {
    match target {
        DbTarget::Sqlite(path) => {
            let conn = rusqlite::Connection::open(path).unwrap();
            let sql = placeholders(sqlite, |n| format!("?{n}"));
            conn.execute(&sql, rusqlite::params_from_iter(params.iter()))
                .unwrap_or_else(|e| panic!("{sql}: {e}")) as u64
        }
        DbTarget::Postgres(url) => {
            let sql = pg_literal_sql(postgres, params);
            on_pg(url, |c| {
                c.simple_query(&sql)
                    .unwrap_or_else(|e| panic!("{sql}: {e}"))
                    .into_iter()
                    .find_map(|m| match m {
                        postgres::SimpleQueryMessage::CommandComplete(n) => Some(n),
                        _ => None,
                    })
                    .unwrap_or(0)
            })
        }
    }
}

/// What the store `target` names holds, as bytes to search for what must
/// not be stored: the SQLite file and its write-ahead log, or every row of
/// every table of the PostgreSQL database in its text form, `bytea` in the
/// escape format (a printable byte as itself).
pub fn stored_bytes(target: &DbTarget) -> Vec<u8> {
    match target {
        DbTarget::Sqlite(path) => {
            let mut out = std::fs::read(path).unwrap();
            out.extend(std::fs::read(path.with_extension("db-wal")).unwrap_or_default());
            out
        }
        DbTarget::Postgres(url) => on_pg(url, |c| {
            c.batch_execute("SET bytea_output = 'escape'").unwrap();
            let tables: Vec<String> = c
                .query(
                    "SELECT table_name::text FROM information_schema.tables
                     WHERE table_schema = 'public' AND table_type = 'BASE TABLE'",
                    &[],
                )
                .unwrap()
                .iter()
                .map(|r| r.get(0))
                .collect();
            assert!(!tables.is_empty(), "the database has tables");
            let mut out = Vec::new();
            for t in tables {
                let sql = format!("SELECT CAST(t AS TEXT) FROM \"{t}\" t");
                for row in pg_text_rows(c.simple_query(&sql).unwrap()) {
                    out.extend_from_slice(t.as_bytes());
                    out.push(b' ');
                    out.extend(row.into_iter().flatten().flat_map(String::into_bytes));
                    out.push(b'\n');
                }
            }
            out
        }),
    }
}

/// `target` as the CLI's `--db` names it.
pub fn db_arg(target: &DbTarget) -> std::ffi::OsString {
    match target {
        DbTarget::Sqlite(path) => path.clone().into_os_string(),
        DbTarget::Postgres(url) => url.into(),
    }
}

/// Whether `needle` occurs in `hay`.
pub fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// The `value` of the page's first hidden `csrf` input.
pub fn csrf_of(html: &str) -> String {
    let mark = r#"name="csrf" value=""#;
    let rest = &html[html.find(mark).expect("a csrf field on the page") + mark.len()..];
    rest[..rest.find('"').expect("the csrf value ends")].to_owned()
}

/// `token` with its first character changed, so it is never the token itself
/// (overwriting a fixed prefix would leave it whole whenever the token
/// already began with that prefix: once in 256 runs for "00").
pub fn forged(token: &str) -> String {
    let mut chars = token.chars();
    let first = if chars.next() == Some('0') { '1' } else { '0' };
    let forged = format!("{first}{}", chars.as_str());
    assert_ne!(forged, token);
    forged
}
