//! The harness of the end-to-end, fault and security tests (issue 3): the
//! real `shian-server` binary as a child process on a free loopback port over
//! a temp data dir, accounts and merchants made through the real CLI and API,
//! devices made of core's `LocalStore` and `SyncClient` over real SQLite
//! files, and a TCP proxy that cuts or delays answers.
//!
//! Nothing here asserts wall-clock times; the deadlines below only keep a
//! broken build from hanging the suite.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use chrono::{FixedOffset, Utc};
use rusqlite::{Connection, OpenFlags};
use serde_json::{json, Value};
use shian_core::store::LocalStore;
use shian_core::sync::{SyncClient, SyncConfig, SyncError, SyncReport, SyncWorker};
use tempfile::TempDir;

pub use shian_core;

pub mod pg;

/// How long a start, a login or a settle may take before the harness gives
/// up with a clear message (a hang guard, not a measurement).
pub const DEADLINE: Duration = Duration::from_secs(120);

// ---------------------------------------------------------------------------
// Finding the server binary
// ---------------------------------------------------------------------------

/// The workspace root (the directory of the workspace `Cargo.toml`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_owned()
}

/// The cargo target directory: `CARGO_TARGET_DIR` when set, else found from
/// the running executable (`target/<profile>/deps/x` or `target/<profile>/x`).
pub fn target_dir() -> PathBuf {
    if let Some(t) = std::env::var_os("CARGO_TARGET_DIR") {
        let t = PathBuf::from(t);
        return if t.is_absolute() {
            t
        } else {
            workspace_root().join(t)
        };
    }
    profile_dir_of_exe()
        .and_then(|p| p.parent().map(Path::to_owned))
        .unwrap_or_else(|| workspace_root().join("target"))
}

fn profile_dir_of_exe() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let mut dir = exe.parent()?.to_owned();
    if dir
        .file_name()
        .is_some_and(|n| n == "deps" || n == "examples")
    {
        dir = dir.parent()?.to_owned();
    }
    Some(dir)
}

/// The profile the running executable was built with (`debug`, `release`).
pub fn current_profile() -> String {
    profile_dir_of_exe()
        .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
        .filter(|p| p == "release" || p == "debug")
        .unwrap_or_else(|| "debug".into())
}

fn newest_source_mtime() -> Option<SystemTime> {
    fn walk(dir: &Path, newest: &mut Option<SystemTime>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, newest);
            } else if let Ok(m) = e.metadata().and_then(|m| m.modified()) {
                if newest.is_none_or(|n| m > n) {
                    *newest = Some(m);
                }
            }
        }
    }
    let root = workspace_root();
    let mut newest = None;
    for d in ["core/src", "server/src"] {
        walk(&root.join(d), &mut newest);
    }
    for f in ["core/Cargo.toml", "server/Cargo.toml", "Cargo.lock"] {
        if let Ok(m) = std::fs::metadata(root.join(f)).and_then(|m| m.modified()) {
            if newest.is_none_or(|n| m > n) {
                newest = Some(m);
            }
        }
    }
    newest
}

/// `target/<profile>/shian-server`, built with `cargo build -p shian-server`
/// when missing or older than the sources of core and server. A failed
/// rebuild over an existing binary only warns (another engineer's work in
/// progress must not stop the suite); a missing binary that cannot be built
/// is a clear panic. `SHIAN_SERVER_BIN` overrides all of this.
pub fn server_binary(profile: &str) -> PathBuf {
    static CACHE: OnceLock<Mutex<Vec<(String, PathBuf)>>> = OnceLock::new();
    if let Some(p) = std::env::var_os("SHIAN_SERVER_BIN") {
        return PathBuf::from(p);
    }
    let cache = CACHE.get_or_init(|| Mutex::new(Vec::new()));
    let mut cache = cache.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, p)) = cache.iter().find(|(k, _)| k == profile) {
        return p.clone();
    }
    let bin = target_dir()
        .join(profile)
        .join(format!("shian-server{}", std::env::consts::EXE_SUFFIX));
    let built = std::fs::metadata(&bin).and_then(|m| m.modified()).ok();
    let stale = match (built, newest_source_mtime()) {
        (None, _) => true,
        (Some(b), Some(src)) => src > b,
        (Some(_), None) => false,
    };
    if stale && std::env::var_os("SHIAN_TESTS_NO_BUILD").is_none() {
        eprintln!(
            "harness: {} is {}; running `cargo build{} -p shian-server` once (set SHIAN_SERVER_BIN or SHIAN_TESTS_NO_BUILD to skip)",
            bin.display(),
            if built.is_none() { "missing" } else { "older than the sources" },
            if profile == "release" { " --release" } else { "" }
        );
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.current_dir(workspace_root()).args([
            "build",
            "-p",
            "shian-server",
            "--bin",
            "shian-server",
        ]);
        if profile == "release" {
            cmd.arg("--release");
        } else if profile != "debug" {
            cmd.args(["--profile", profile]);
        }
        let ok = cmd.status().map(|s| s.success()).unwrap_or(false);
        if !ok {
            assert!(
                bin.exists(),
                "harness: cannot build shian-server and {} does not exist; run `cargo build -p shian-server` and look at its errors",
                bin.display()
            );
            eprintln!(
                "harness: WARNING: the rebuild failed; testing the existing (older) {}",
                bin.display()
            );
        }
    }
    assert!(
        bin.exists(),
        "harness: no server binary at {}",
        bin.display()
    );
    cache.push((profile.to_owned(), bin.clone()));
    bin
}

// ---------------------------------------------------------------------------
// The server process
// ---------------------------------------------------------------------------

/// The store the servers of a test process use, from `SHIAN_TEST_DB`:
/// `postgres` → a fresh PostgreSQL database per [`Server`] (on the
/// process's cluster, see [`pg`]); unset (or `sqlite`) → a SQLite file in
/// the server's temp dir.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// The backend `SHIAN_TEST_DB` asks for.
    pub fn from_env() -> Backend {
        Self::parse(std::env::var("SHIAN_TEST_DB").ok().as_deref())
    }

    /// `postgres` → PostgreSQL; unset, empty or `sqlite` → SQLite; anything
    /// else is a mistake worth a panic (a typo must not test SQLite quietly).
    pub fn parse(value: Option<&str>) -> Backend {
        match value.map(str::trim) {
            None | Some("") => Backend::Sqlite,
            Some(v) if v.eq_ignore_ascii_case("sqlite") => Backend::Sqlite,
            Some(v) if v.eq_ignore_ascii_case("postgres") => Backend::Postgres,
            Some(v) => panic!("SHIAN_TEST_DB={v}: expected `postgres`, `sqlite` or unset"),
        }
    }
}

/// True (after printing why) when the suites run on PostgreSQL: for the
/// tests that truly need the SQLite file, e.g. to corrupt it on purpose.
pub fn skip_on_postgres(why: &str) -> bool {
    let skip = Backend::from_env() == Backend::Postgres;
    if skip {
        eprintln!("skipped on PostgreSQL: {why}");
    }
    skip
}

/// Where a server's store is: what `--db` gets, and what the inspection
/// helpers ([`Server::count`], [`Server::balances`], …) read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Db {
    /// A SQLite file (the keys live in `keys/` beside it).
    Sqlite(PathBuf),
    /// A PostgreSQL URL (the keys live in the database).
    Postgres(String),
}

impl Db {
    /// The value of `--db`.
    pub fn arg(&self) -> std::ffi::OsString {
        match self {
            Db::Sqlite(p) => p.as_os_str().to_owned(),
            Db::Postgres(url) => url.into(),
        }
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self, Db::Postgres(_))
    }

    /// The entries in the order the server accepted them (SQLite: the
    /// rowid; PostgreSQL: the server's clock, then each district's feed
    /// position), for `ORDER BY`.
    pub fn entry_order(&self) -> &'static str {
        match self {
            Db::Sqlite(_) => "rowid",
            Db::Postgres(_) => "recorded_at, region_code, pos",
        }
    }
}

/// The arguments of `shian-server serve`: `--db`, `--data-dir` with
/// PostgreSQL (the demo's ground truth; with SQLite the files sit beside
/// the database file),
/// `--addr`, then `extra`.
pub fn serve_args(
    db: &Db,
    data_dir: &Path,
    port: u16,
    extra: &[String],
) -> Vec<std::ffi::OsString> {
    let mut args: Vec<std::ffi::OsString> = vec!["serve".into(), "--db".into(), db.arg()];
    if db.is_postgres() {
        args.push("--data-dir".into());
        args.push(data_dir.as_os_str().to_owned());
    }
    args.push("--addr".into());
    args.push(format!("127.0.0.1:{port}").into());
    args.extend(extra.iter().map(Into::into));
    args
}

/// A real `shian-server serve` on 127.0.0.1 over a SQLite file in a temp dir,
/// or over a fresh PostgreSQL database (see [`Backend`]). Killed (SIGKILL)
/// when dropped.
pub struct Server {
    pub dir: TempDir,
    /// Where the store is: SQLite, the file [`Server::db`]; PostgreSQL, a
    /// database of its own (see [`Backend`]).
    pub store: Db,
    /// `<dir>/data/shian.db`: the SQLite file when [`Server::store`] is
    /// one (tools that measure the file read it); nothing is there on
    /// PostgreSQL.
    pub db: PathBuf,
    /// The server's files: SQLite keeps its keys in `<file's dir>/keys/`,
    /// this folder (`<dir>/data` of the first server of a deployment);
    /// on PostgreSQL, `--data-dir`, this server's own (the keys are in the
    /// database).
    pub data_dir: PathBuf,
    pub port: u16,
    pub bin: PathBuf,
    pub http: reqwest::blocking::Client,
    extra: Vec<String>,
    child: Option<Child>,
    starts: u32,
    admin: Option<String>,
    next_uscc: AtomicUsize,
}

impl Server {
    /// Starts a server with default settings.
    pub fn start() -> Server {
        Self::start_with(&[])
    }

    /// Starts a server with extra `serve` flags (e.g. `--body-limit`).
    pub fn start_with(extra: &[&str]) -> Server {
        let mut s = Self::new(&current_profile(), extra);
        s.spawn_and_wait();
        s
    }

    /// A server not started yet: make accounts with the CLI, then
    /// [`Server::restart`]. `profile` picks the binary (`debug`, `release`).
    pub fn new(profile: &str, extra: &[&str]) -> Server {
        Self::new_on(Backend::from_env(), profile, extra)
    }

    /// [`Server::new`] on the given backend rather than `SHIAN_TEST_DB`'s.
    pub fn new_on(backend: Backend, profile: &str, extra: &[&str]) -> Server {
        let extra: Vec<String> = extra.iter().map(|s| (*s).to_owned()).collect();
        Self::new_with_bin(backend, server_binary(profile), extra)
    }

    /// A server not started yet running `bin` with `extra` flags.
    fn new_with_bin(backend: Backend, bin: PathBuf, extra: Vec<String>) -> Server {
        let dir = tempfile::Builder::new()
            .prefix("shian-e2e-")
            .tempdir()
            .expect("temp dir");
        let data_dir = dir.path().join("data");
        let db = data_dir.join("shian.db");
        let store = match backend {
            Backend::Sqlite => Db::Sqlite(db.clone()),
            Backend::Postgres => Db::Postgres(pg::fresh_database()),
        };
        Server {
            store,
            db,
            data_dir,
            dir,
            port: 0,
            bin,
            http: reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .expect("http client"),
            extra,
            child: None,
            starts: 0,
            admin: None,
            next_uscc: AtomicUsize::new(1),
        }
    }

    /// A server not started yet over the same store as `other` (its file
    /// or its database), with logs of its own: another instance of a
    /// deployment. Start it with [`Server::restart`]. On SQLite it shares
    /// `other`'s data dir, where the keys are; on PostgreSQL it has a data
    /// dir of its own, as an instance on another machine has: the keys
    /// are in the database.
    pub fn beside(other: &Server) -> Server {
        // Sqlite here: no fresh database for a server that takes `other`'s.
        let mut s = Self::new_with_bin(Backend::Sqlite, other.bin.clone(), other.extra.clone());
        s.db = other.db.clone();
        s.store = other.store.clone();
        if !other.store.is_postgres() {
            s.data_dir = other.data_dir.clone();
        }
        s.admin = other.admin.clone();
        s
    }

    /// The command [`Server::restart`] runs (without its output files).
    pub fn serve_command(&self) -> Command {
        let mut cmd = Command::new(&self.bin);
        cmd.args(serve_args(
            &self.store,
            &self.data_dir,
            self.port,
            &self.extra,
        ))
        .env(
            "SHIAN_LOG",
            std::env::var("SHIAN_LOG").unwrap_or_else(|_| "warn".into()),
        );
        cmd
    }

    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base())
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| c.try_wait().ok().flatten().is_none())
    }

    fn log_path(&self, stream: &str, n: u32) -> PathBuf {
        self.dir.path().join(format!("server.{n}.{stream}.log"))
    }

    /// The server's stderr (its logs) of every start so far.
    pub fn logs(&self) -> String {
        (1..=self.starts)
            .map(|n| std::fs::read_to_string(self.log_path("stderr", n)).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn try_spawn(&mut self) -> Result<(), String> {
        self.starts += 1;
        let n = self.starts;
        let out = std::fs::File::create(self.log_path("stdout", n)).map_err(|e| e.to_string())?;
        let err = std::fs::File::create(self.log_path("stderr", n)).map_err(|e| e.to_string())?;
        let child = self
            .serve_command()
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", self.bin.display()))?;
        self.child = Some(child);
        let start = Instant::now();
        // The port: from the "listening on" line when it was 0.
        loop {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                self.child = None;
                return Err(format!(
                    "shian-server exited with {status} at start:\n{}",
                    std::fs::read_to_string(self.log_path("stderr", n)).unwrap_or_default()
                ));
            }
            let stdout = std::fs::read_to_string(self.log_path("stdout", n)).unwrap_or_default();
            if let Some(rest) = stdout.split("listening on http://").nth(1) {
                let addr = rest.lines().next().unwrap_or_default().trim();
                if let Some(port) = addr.rsplit(':').next().and_then(|p| p.parse::<u16>().ok()) {
                    self.port = port;
                    break;
                }
            }
            if start.elapsed() > DEADLINE {
                return Err("shian-server did not print its address".into());
            }
            thread::sleep(Duration::from_millis(10));
        }
        while !self.healthy() {
            if start.elapsed() > DEADLINE {
                return Err("shian-server never answered /healthz".into());
            }
            thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    fn spawn_and_wait(&mut self) {
        // A restart on the same port may find it briefly taken: try again.
        let mut last = String::new();
        for _ in 0..50 {
            match self.try_spawn() {
                Ok(()) => return,
                Err(e) if e.contains("cannot listen") && self.port != 0 => {
                    last = e;
                    thread::sleep(Duration::from_millis(100));
                }
                Err(e) => panic!("{e}"),
            }
        }
        panic!("could not restart on port {}: {last}", self.port);
    }

    /// `GET /healthz` answers 200 `{"status":"ok"}`.
    pub fn healthy(&self) -> bool {
        let client = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .expect("client");
        client
            .get(self.url("/healthz"))
            .send()
            .ok()
            .filter(|r| r.status().is_success())
            .and_then(|r| r.json::<Value>().ok())
            .is_some_and(|v| v["status"] == "ok")
    }

    /// SIGKILL: no shutdown, no flush, no checkpoint.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM and wait for the graceful exit.
    pub fn terminate(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(c.id().to_string())
                .status();
            let until = Instant::now() + Duration::from_secs(30);
            while c.try_wait().ok().flatten().is_none() && Instant::now() < until {
                thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts again over the same store, on the same port once it had one.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn_and_wait();
    }

    // ----- accounts and registry, through the real CLI and API -------------

    /// `shian-server admin create-user …`; works whether or not the server
    /// runs. Returns the CLI's stdout.
    pub fn create_user(
        &self,
        username: &str,
        password: &str,
        role: &str,
        merchant_id: Option<&str>,
        regions: &[&str],
    ) -> String {
        let mut cmd = Command::new(&self.bin);
        // Accounts live in the store; the CLI needs no keys.
        cmd.args(["admin", "create-user", "--db"])
            .arg(self.store.arg());
        cmd.args([
            "--username",
            username,
            "--password",
            password,
            "--role",
            role,
        ])
        .env("SHIAN_LOG", "warn");
        if let Some(m) = merchant_id {
            cmd.args(["--merchant-id", m]);
        }
        for r in regions {
            cmd.args(["--region", r]);
        }
        let out = cmd.output().expect("run shian-server admin create-user");
        assert!(
            out.status.success(),
            "create-user {username} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `POST /v1/auth/login` → the whole answer.
    pub fn login_full(&self, username: &str, password: &str) -> Value {
        let res = self
            .http
            .post(self.url("/v1/auth/login"))
            .json(&json!({"username": username, "password": password}))
            .send()
            .expect("login request");
        let status = res.status();
        let body: Value = res.json().unwrap_or_default();
        assert!(status.is_success(), "login {username}: {status} {body}");
        body
    }

    pub fn login(&self, username: &str, password: &str) -> String {
        self.login_full(username, password)["token"]
            .as_str()
            .expect("token")
            .to_owned()
    }

    /// An admin account (made once) and a fresh token.
    pub fn admin_token(&mut self) -> String {
        if self.admin.is_none() {
            self.create_user("root", ADMIN_PASSWORD, "admin", None, &[]);
            self.admin = Some("root".into());
        }
        self.login("root", ADMIN_PASSWORD)
    }

    /// A merchant registered with `POST /v1/merchants`; returns its id.
    pub fn create_merchant(&self, admin: &str, name: &str, region_code: &str) -> String {
        let n = self.next_uscc.fetch_add(1, Ordering::Relaxed);
        let res = self
            .http
            .post(self.url("/v1/merchants"))
            .bearer_auth(admin)
            .json(&json!({"name": name, "uscc": uscc(region_code, n as u32), "region_code": region_code, "categories": ["vegetable", "frozen"]}))
            .send()
            .expect("create merchant");
        let status = res.status();
        let body: Value = res.json().unwrap_or_default();
        assert_eq!(status.as_u16(), 201, "create merchant {name}: {body}");
        body["id"].as_str().expect("merchant id").to_owned()
    }

    /// A merchant and a login for it (`<user>` / [`PASSWORD`]).
    pub fn merchant_with_user(&mut self, name: &str, region_code: &str, user: &str) -> String {
        let admin = self.admin_token();
        let id = self.create_merchant(&admin, name, region_code);
        self.create_user(user, PASSWORD, "merchant", Some(&id), &[]);
        id
    }

    /// `POST /v1/sync/push` of `ops` from `device_id`: the status and the
    /// body (`{"results": [...]}` when 200).
    pub fn push(&self, token: &str, device_id: &str, ops: &[Value]) -> (u16, Value) {
        send_json(
            self.http
                .post(self.url("/v1/sync/push"))
                .bearer_auth(token)
                .json(&json!({"device_id": device_id, "ops": ops})),
        )
    }

    /// `GET path` with the bearer token: the status and the body.
    pub fn get(&self, token: &str, path: &str) -> (u16, Value) {
        send_json(self.http.get(self.url(path)).bearer_auth(token))
    }

    /// Every page of `GET /v1/sync/pull` from `cursor` with `limit`, as the
    /// caller of `token` sees them: the pages' changes and the last cursor.
    pub fn pull_pages(&self, token: &str, cursor: &str, limit: usize) -> (Vec<Vec<Value>>, String) {
        let (mut cursor, mut pages) = (cursor.to_owned(), Vec::new());
        loop {
            let res = self
                .http
                .get(self.url("/v1/sync/pull"))
                .bearer_auth(token)
                .query(&[("cursor", cursor.as_str()), ("limit", &limit.to_string())])
                .send()
                .expect("pull");
            assert_eq!(res.status(), 200, "pull answered {}", res.status());
            let page: Value = res.json().expect("pull page");
            pages.push(page["changes"].as_array().expect("changes").clone());
            cursor = page["cursor"].as_str().expect("cursor").to_owned();
            if !page["has_more"].as_bool().expect("has_more") {
                return (pages, cursor);
            }
        }
    }

    // ----- looking into the server's store ----------------------------------

    /// A read-only connection to the server's SQLite file, for the tests
    /// that need the file itself; on PostgreSQL such a test is skipped
    /// first ([`skip_on_postgres`]), so this panics there.
    pub fn sqlite(&self) -> Connection {
        let Db::Sqlite(path) = &self.store else {
            panic!("Server::sqlite() on PostgreSQL: skip the test with skip_on_postgres(why)");
        };
        let c = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .expect("open server db");
        c.busy_timeout(Duration::from_secs(10))
            .expect("busy timeout");
        c
    }

    /// The SQLite file, if the store is one.
    pub fn sqlite_path(&self) -> Option<&Path> {
        match &self.store {
            Db::Sqlite(p) => Some(p),
            Db::Postgres(_) => None,
        }
    }

    /// Runs on PostgreSQL: the store is the database [`Db::Postgres`] names.
    pub fn on_postgres(&self) -> bool {
        self.store.is_postgres()
    }

    /// The one integer `sql` answers (`SELECT count(*) FROM t WHERE …`),
    /// on whichever store the server has: write it in SQL both run.
    pub fn count(&self, sql: &str) -> i64 {
        match &self.store {
            Db::Sqlite(_) => self
                .sqlite()
                .query_row(sql, [], |r| r.get(0))
                .unwrap_or_else(|e| panic!("{sql}: {e}")),
            Db::Postgres(url) => {
                let row = pg::connect(url)
                    .query_one(sql, &[])
                    .unwrap_or_else(|e| panic!("{sql}: {e}"));
                // count(*) and sum(bigint) are bigint; a plain integer is int4.
                row.try_get::<_, i64>(0)
                    .or_else(|_| row.try_get::<_, i32>(0).map(i64::from))
                    .unwrap_or_else(|e| panic!("{sql}: {e}"))
            }
        }
    }

    /// The text columns of every row `sql` answers, with text parameters
    /// `$1`, `$2`… (both stores read them; a NULL is `None`). Select a
    /// `json` column as `CAST(payload AS TEXT)`, which both run too.
    pub fn rows(&self, sql: &str, params: &[&str]) -> Vec<Vec<Option<String>>> {
        match &self.store {
            Db::Sqlite(_) => {
                let c = self.sqlite();
                let mut st = c.prepare(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
                let n = st.column_count();
                let rows = st
                    .query_map(rusqlite::params_from_iter(params.iter()), |r| {
                        (0..n).map(|i| r.get::<_, Option<String>>(i)).collect()
                    })
                    .unwrap_or_else(|e| panic!("{sql}: {e}"));
                rows.map(|r| r.unwrap_or_else(|e| panic!("{sql}: {e}")))
                    .collect()
            }
            Db::Postgres(url) => {
                let params: Vec<&(dyn postgres::types::ToSql + Sync)> = params
                    .iter()
                    .map(|p| p as &(dyn postgres::types::ToSql + Sync))
                    .collect();
                pg::connect(url)
                    .query(sql, &params)
                    .unwrap_or_else(|e| panic!("{sql}: {e}"))
                    .iter()
                    .map(|r| {
                        (0..r.len())
                            .map(|i| {
                                r.try_get::<_, Option<String>>(i)
                                    .unwrap_or_else(|e| panic!("{sql}: column {i}: {e}"))
                            })
                            .collect()
                    })
                    .collect()
            }
        }
    }

    /// The first column of the first row `sql` answers (see [`Server::rows`]):
    /// `None` when there is no row or it is NULL.
    pub fn text(&self, sql: &str, params: &[&str]) -> Option<String> {
        self.rows(sql, params)
            .into_iter()
            .next()
            .and_then(|r| r.into_iter().next().flatten())
    }

    /// The stored payload of an entry, parsed.
    pub fn entry_payload(&self, entry_id: &str) -> Option<Value> {
        self.text(
            "SELECT CAST(payload AS TEXT) FROM entries WHERE entry_id = $1",
            &[entry_id],
        )
        .map(|p| serde_json::from_str(&p).expect("stored payload is JSON"))
    }

    /// The entry ids the server holds for a merchant.
    pub fn entry_ids(&self, merchant_id: &str) -> BTreeSet<String> {
        self.rows(
            "SELECT entry_id FROM entries WHERE merchant_id = $1",
            &[merchant_id],
        )
        .into_iter()
        .filter_map(|r| r.into_iter().next().flatten())
        .collect()
    }

    /// Batch balances of a merchant as the server's ledger has them. The
    /// server keeps batches in memory only, so its entries are replayed, in
    /// the order it accepted them ([`Db::entry_order`]), into a fresh
    /// authoritative store.
    pub fn balances(&self, merchant_id: &str) -> Vec<(String, i64, i64, i64, bool)> {
        let mut replay = LocalStore::open_in_memory().expect("store");
        replay.set_authoritative(true);
        let sql = format!(
            "SELECT kind, CAST(payload AS TEXT) FROM entries ORDER BY {}",
            self.store.entry_order()
        );
        for row in self.rows(&sql, &[]) {
            let [Some(kind), Some(payload)] = &row[..] else {
                panic!("{sql}: a NULL kind or payload: {row:?}");
            };
            let payload: Value = serde_json::from_str(payload).expect("stored payload is JSON");
            replay
                .record(kind, &payload)
                .expect("the server's entries replay");
        }
        balances(replay.conn(), merchant_id)
    }

    /// The HS256 key of login tokens: `keys/jwt.secret` beside the SQLite
    /// file, or on PostgreSQL the `server_secrets` row the instances share.
    pub fn jwt_secret(&self) -> Vec<u8> {
        match &self.store {
            Db::Sqlite(_) => {
                let path = self.data_dir.join("keys").join("jwt.secret");
                std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            }
            Db::Postgres(url) => pg::connect(url)
                .query_one("SELECT secret FROM server_secrets WHERE name = 'jwt'", &[])
                .map(|r| r.get(0))
                .unwrap_or_else(|e| panic!("no jwt secret row: {e}")),
        }
    }

    /// Row counts of every table a push may write, for "nothing stored".
    pub fn table_counts(&self) -> Vec<(String, i64)> {
        ["entries", "warnings", "changes", "ops", "devices"]
            .iter()
            .map(|t| {
                (
                    (*t).to_owned(),
                    self.count(&format!("SELECT COUNT(*) FROM {t}")),
                )
            })
            .collect()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

pub const PASSWORD: &str = "device-password-1";
pub const ADMIN_PASSWORD: &str = "root-password-1";

/// A USCC that passes both check characters (GB 32100): `91`, the region,
/// an 8-digit organisation body, then the two checks.
pub fn uscc(region_code: &str, n: u32) -> String {
    use shian_core::codes::{org_check_char, uscc_check_char};
    let mut k = n;
    loop {
        let stem = format!("91{region_code}{:08}", k % 100_000_000);
        let mut b = stem.as_bytes().to_vec();
        if let Some(org) = org_check_char(&b[8..16]) {
            b.push(org);
            if let Some(full) = uscc_check_char(&b) {
                b.push(full);
                return String::from_utf8(b).expect("ascii");
            }
        }
        k += 7919;
    }
}

/// Sends a request: the status and the JSON body (`null` when it is none).
pub fn send_json(req: reqwest::blocking::RequestBuilder) -> (u16, Value) {
    let res = req.send().expect("request");
    let status = res.status().as_u16();
    (status, res.json().unwrap_or_default())
}

/// A free loopback port (bound then released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

// ---------------------------------------------------------------------------
// Ledger events as any client writes them (DESIGN.md, "The two ledger events")
// ---------------------------------------------------------------------------

/// A plausible device time: a minute ago, in Asia/Shanghai's offset.
pub fn now_wire() -> String {
    let cst = FixedOffset::east_opt(8 * 3600).expect("+08:00");
    (Utc::now() - chrono::Duration::minutes(1))
        .with_timezone(&cst)
        .to_rfc3339()
}

pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// A purchase of `kg` kilograms of vegetables with an origin certificate.
pub fn purchase(merchant_id: &str, product: &str, kg: &str) -> Value {
    json!({
        "entry_id": new_id(),
        "merchant_id": merchant_id,
        "product": {"name": product, "category": "vegetable"},
        "quantity": {"value": kg, "unit": "kg"},
        "supplier": {"name": "同安蔬菜合作社", "region_code": "350212"},
        "certificates": [{"kind": "origin", "number": "CD-2026-0001"}],
        "unit_price_fen": 450,
        "received_at": now_wire(),
    })
}

/// A sale from a batch; `buyer` is `{"retail": true}`, `{"name": …}` or
/// `{"merchant_id": …}`.
pub fn sale(merchant_id: &str, trace_code: &str, kg: &str, buyer: Value) -> Value {
    json!({
        "entry_id": new_id(),
        "merchant_id": merchant_id,
        "trace_code": trace_code,
        "quantity": {"value": kg, "unit": "kg"},
        "buyer": buyer,
        "unit_price_fen": 600,
        "sold_at": now_wire(),
    })
}

pub fn void(merchant_id: &str, voided_entry_id: &str, reason: &str) -> Value {
    json!({"entry_id": new_id(), "merchant_id": merchant_id, "voided_entry_id": voided_entry_id, "reason": reason, "at": now_wire()})
}

/// A raw op for hand-made pushes.
pub fn op(kind: &str, payload: &Value) -> Value {
    json!({"op_id": payload["entry_id"].as_str().map(str::to_owned).unwrap_or_else(new_id), "kind": kind, "at": now_wire(), "payload": payload})
}

// ---------------------------------------------------------------------------
// Devices
// ---------------------------------------------------------------------------

/// A phone or tablet: a store file of its own and core's sync client.
pub struct Device {
    pub name: String,
    pub path: PathBuf,
    pub store: Arc<Mutex<LocalStore>>,
    pub client: SyncClient,
}

impl Device {
    /// Opens (or reopens) the store at `<dir>/<name>.db`.
    pub fn open(
        dir: &Path,
        name: &str,
        server_url: &str,
        username: &str,
        password: &str,
    ) -> Device {
        Self::open_with(
            dir,
            name,
            SyncConfig::new(server_url, &format!("dev-{name}"), username, password),
        )
    }

    pub fn open_with(dir: &Path, name: &str, config: SyncConfig) -> Device {
        let path = dir.join(format!("{name}.db"));
        let store =
            LocalStore::open(&path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
        Device {
            name: name.to_owned(),
            path,
            store: Arc::new(Mutex::new(store)),
            client: SyncClient::new(config).expect("sync client"),
        }
    }

    pub fn store(&self) -> std::sync::MutexGuard<'_, LocalStore> {
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records an event (outbox and effect in one transaction); returns the
    /// trace code a purchase made.
    pub fn record(&self, kind: &str, payload: &Value) -> Option<String> {
        let applied = self
            .store()
            .record(kind, payload)
            .unwrap_or_else(|e| panic!("{} record {kind}: {e}", self.name));
        applied.trace_code
    }

    pub fn sync(&mut self) -> Result<SyncReport, SyncError> {
        self.client.sync(&self.store)
    }

    /// Syncs until nothing is pending (parked ops stay parked); panics after
    /// many failed attempts.
    pub fn sync_until_idle(&mut self) -> SyncReport {
        let mut total = SyncReport::default();
        let mut last = None;
        for _ in 0..200 {
            match self.sync() {
                Ok(r) => {
                    add_report(&mut total, &r);
                    if self.pending() == 0 {
                        return total;
                    }
                }
                Err(e) => {
                    last = Some(e.to_string());
                    thread::sleep(Duration::from_millis(100));
                }
            }
        }
        panic!("{}: sync never settled; last error {last:?}", self.name);
    }

    pub fn pending(&self) -> i64 {
        self.store().sync_status().expect("status").pending
    }

    pub fn parked(&self) -> i64 {
        self.store().sync_status().expect("status").parked
    }

    /// Entry ids held for a merchant.
    pub fn entry_ids(&self, merchant_id: &str) -> BTreeSet<String> {
        let store = self.store();
        let mut st = store
            .conn()
            .prepare("SELECT entry_id FROM entries WHERE merchant_id = ?1")
            .expect("prepare");
        let rows = st
            .query_map([merchant_id], |r| r.get::<_, String>(0))
            .expect("query");
        rows.map(|r| r.expect("row")).collect()
    }

    /// `(trace_code, received, out_qty, adjusted, voided)` of every batch of
    /// a merchant: the balances must agree across devices and the server.
    pub fn balances(&self, merchant_id: &str) -> Vec<(String, i64, i64, i64, bool)> {
        balances(self.store().conn(), merchant_id)
    }

    /// Merchant ids in the offline directory.
    pub fn directory(&self) -> BTreeSet<String> {
        let store = self.store();
        let mut st = store
            .conn()
            .prepare("SELECT merchant_id FROM directory")
            .expect("prepare");
        let rows = st.query_map([], |r| r.get::<_, String>(0)).expect("query");
        rows.map(|r| r.expect("row")).collect()
    }
}

/// Adds what one sync did to a running total.
pub fn add_report(total: &mut SyncReport, r: &SyncReport) {
    total.accepted += r.accepted;
    total.duplicate += r.duplicate;
    total.rejected += r.rejected;
    total.pulled += r.pulled;
}

/// Wakes a background sync worker until the device's outbox has nothing
/// pending (parked ops stay parked), e.g. after the server came back.
pub fn wait_drained(worker: &SyncWorker, device: &Device) {
    wait_until("the worker drains the outbox", || {
        worker.wake();
        thread::sleep(Duration::from_millis(100));
        device.pending() == 0
    });
}

/// Batch balances of a merchant in a device's ledger file.
pub fn balances(conn: &Connection, merchant_id: &str) -> Vec<(String, i64, i64, i64, bool)> {
    let mut st = conn
        .prepare("SELECT trace_code, received, out_qty, adjusted, voided FROM batches WHERE merchant_id = ?1 ORDER BY trace_code")
        .expect("prepare");
    let rows = st
        .query_map([merchant_id], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })
        .expect("query");
    rows.map(|r| r.expect("row")).collect()
}

/// Polls `cond` until it holds; panics with `what` after [`DEADLINE`].
pub fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < DEADLINE, "gave up waiting: {what}");
        thread::sleep(Duration::from_millis(20));
    }
}

// ---------------------------------------------------------------------------
// A TCP proxy that cuts or delays answers
// ---------------------------------------------------------------------------

/// What the proxy does to the answer of a matching request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Forward untouched.
    Pass,
    /// Forward the request, then close both sides as soon as the server
    /// starts answering: the server did the work, the client never hears.
    Cut,
    /// Hold the answer this long before forwarding it.
    Delay(Duration),
}

struct ProxyShared {
    target: AtomicU16,
    /// Requests whose first line contains this (e.g. `POST /v1/sync/push`).
    matching: String,
    fault: Mutex<Fault>,
    /// Matching answers to let through before the faults begin.
    skip_left: AtomicUsize,
    /// How many more matching answers get the fault.
    faults_left: AtomicUsize,
    matched: AtomicUsize,
    faulted: AtomicUsize,
    stop: AtomicBool,
}

/// A loopback proxy in front of the server (std::net and threads).
pub struct Proxy {
    pub port: u16,
    shared: Arc<ProxyShared>,
}

impl Proxy {
    /// Forwards to `127.0.0.1:target`; the first `count` answers to requests
    /// whose request line contains `matching` get `fault`.
    pub fn start(target: u16, matching: &str, fault: Fault, count: usize) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("proxy bind");
        let port = listener.local_addr().expect("addr").port();
        let shared = Arc::new(ProxyShared {
            target: AtomicU16::new(target),
            matching: matching.to_owned(),
            fault: Mutex::new(fault),
            skip_left: AtomicUsize::new(0),
            faults_left: AtomicUsize::new(count),
            matched: AtomicUsize::new(0),
            faulted: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
        });
        let sh = shared.clone();
        thread::spawn(move || {
            for conn in listener.incoming() {
                if sh.stop.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(client) = conn else { continue };
                let sh = sh.clone();
                thread::spawn(move || serve_conn(client, sh));
            }
        });
        Proxy { port, shared }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Matching requests forwarded so far.
    pub fn matched(&self) -> usize {
        self.shared.matched.load(Ordering::SeqCst)
    }

    /// Answers cut or delayed so far.
    pub fn faulted(&self) -> usize {
        self.shared.faulted.load(Ordering::SeqCst)
    }

    /// Arms `count` more faults of kind `fault`.
    pub fn arm(&self, fault: Fault, count: usize) {
        self.arm_after(fault, 0, count);
    }

    /// Lets `skip` matching answers through, then faults `count`.
    pub fn arm_after(&self, fault: Fault, skip: usize, count: usize) {
        *self.shared.fault.lock().unwrap_or_else(|e| e.into_inner()) = fault;
        self.shared.skip_left.store(skip, Ordering::SeqCst);
        self.shared.faults_left.store(count, Ordering::SeqCst);
    }

    pub fn set_target(&self, port: u16) {
        self.shared.target.store(port, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

const METHODS: [&[u8]; 6] = [b"GET ", b"POST ", b"PUT ", b"DELETE ", b"PATCH ", b"HEAD "];

fn serve_conn(client: TcpStream, sh: Arc<ProxyShared>) {
    let Ok(server) = TcpStream::connect(("127.0.0.1", sh.target.load(Ordering::SeqCst))) else {
        let _ = client.shutdown(Shutdown::Both);
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    // Per connection: is a request waiting for its answer, and does it match?
    let state = Arc::new(Mutex::new((false, false)));
    let (mut c_in, mut s_out) = (
        client.try_clone().expect("clone"),
        server.try_clone().expect("clone"),
    );
    let st = state.clone();
    let sh2 = sh.clone();
    let up = thread::spawn(move || {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match c_in.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let chunk = &buf[..n];
            if METHODS.iter().any(|m| chunk.starts_with(m)) {
                let line_end = chunk.iter().position(|&b| b == b'\r').unwrap_or(n);
                let matches = String::from_utf8_lossy(&chunk[..line_end]).contains(&sh2.matching);
                if matches {
                    sh2.matched.fetch_add(1, Ordering::SeqCst);
                }
                *st.lock().unwrap_or_else(|e| e.into_inner()) = (true, matches);
            }
            if s_out.write_all(chunk).is_err() {
                break;
            }
        }
        let _ = s_out.shutdown(Shutdown::Write);
    });
    let (mut s_in, mut c_out) = (server, client);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match s_in.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let first_of_answer = {
            let mut g = state.lock().unwrap_or_else(|e| e.into_inner());
            let first = g.0;
            let matched = g.1;
            g.0 = false;
            first && matched
        };
        if first_of_answer {
            let fault = *sh.fault.lock().unwrap_or_else(|e| e.into_inner());
            let skipped = sh
                .skip_left
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok();
            let take = !skipped
                && fault != Fault::Pass
                && sh
                    .faults_left
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                    .is_ok();
            if take {
                sh.faulted.fetch_add(1, Ordering::SeqCst);
                match fault {
                    Fault::Cut => {
                        let _ = c_out.shutdown(Shutdown::Both);
                        let _ = s_in.shutdown(Shutdown::Both);
                        break;
                    }
                    Fault::Delay(d) => thread::sleep(d),
                    Fault::Pass => {}
                }
            }
        }
        if c_out.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = c_out.shutdown(Shutdown::Both);
    let _ = s_in.shutdown(Shutdown::Both);
    let _ = up.join();
}

// ---------------------------------------------------------------------------
// Several instances behind a load balancer (issue 15, item 4)
// ---------------------------------------------------------------------------

/// `POST /v1/sync/push`, the request line the instances' taps count.
pub const PUSH_LINE: &str = "POST /v1/sync/push";

/// Server instances over one data directory (one SQLite file, its keys and
/// secrets), each behind a tap that counts the pushes it receives, and a
/// round-robin [`Balancer`] in front of the taps, which is what clients
/// use. [`Cluster::single`] is the reference: one plain server behind one
/// tap and no balancer, so a scenario runs unchanged against both.
pub struct Cluster {
    /// Instance 0 made the file and owns the temp dir that holds it.
    pub servers: Vec<Server>,
    /// One per instance, forwarding untouched (`Fault::Pass`): which
    /// instance a push reached, and when it is on the wire.
    pub taps: Vec<Proxy>,
    pub balancer: Option<Balancer>,
}

impl Cluster {
    /// `n` instances over one file behind nginx. The first starts alone
    /// (it makes the file, migrates it and writes the keys), then the
    /// others open what it made.
    pub fn start(n: usize) -> Cluster {
        Self::start_with(n, &[])
    }

    /// [`Cluster::start`] with extra `serve` flags for every instance.
    pub fn start_with(n: usize, extra: &[&str]) -> Cluster {
        assert!(n >= 1, "a cluster has an instance");
        let mut servers = vec![Server::start_with(extra)];
        for _ in 1..n {
            let mut s = Server::beside(&servers[0]);
            s.restart();
            servers.push(s);
        }
        let taps: Vec<Proxy> = servers
            .iter()
            .map(|s| Proxy::start(s.port, PUSH_LINE, Fault::Pass, 0))
            .collect();
        let ports: Vec<u16> = taps.iter().map(|t| t.port).collect();
        let balancer = Some(Balancer::nginx(&ports));
        Cluster {
            servers,
            taps,
            balancer,
        }
    }

    /// One plain [`Server::start`] behind its tap: what a cluster must
    /// answer like.
    pub fn single() -> Cluster {
        let server = Server::start();
        let tap = Proxy::start(server.port, PUSH_LINE, Fault::Pass, 0);
        Cluster {
            servers: vec![server],
            taps: vec![tap],
            balancer: None,
        }
    }

    /// The port clients use: the balancer's, or the single server's tap.
    pub fn port(&self) -> u16 {
        match &self.balancer {
            Some(b) => b.port,
            None => self.taps[0].port,
        }
    }

    /// The address clients use.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port())
    }

    /// Instance `i`; a single server is every instance.
    pub fn at(&self, i: usize) -> &Server {
        &self.servers[i % self.servers.len()]
    }

    /// The instance that made the file: registry writes and file reads.
    pub fn first(&mut self) -> &mut Server {
        &mut self.servers[0]
    }

    /// Pushes each instance has received so far.
    pub fn pushes_seen(&self) -> Vec<usize> {
        self.taps.iter().map(Proxy::matched).collect()
    }

    /// SIGKILL of instance `i`, then a start over the same file and port.
    pub fn kill_and_restart(&mut self, i: usize) {
        let n = self.servers.len();
        let s = &mut self.servers[i % n];
        s.kill();
        s.restart();
    }

    /// Every instance's log, instance by instance.
    pub fn logs(&self) -> String {
        self.servers
            .iter()
            .enumerate()
            .map(|(i, s)| format!("--- instance {i} ---\n{}", s.logs()))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.balancer.take();
        // The instances beside the first before the first, whose temp dir
        // holds the file they have open.
        while let Some(mut s) = self.servers.pop() {
            s.kill();
        }
    }
}

/// A real load balancer: Debian's nginx (`/usr/sbin/nginx`, or `NGINX`),
/// configured in a temp dir of its own (`nginx -p DIR -c DIR/nginx.conf`,
/// no global file read or written), round-robin over the given loopback
/// ports. Stopped with its workers when dropped.
pub struct Balancer {
    pub port: u16,
    pub dir: TempDir,
    child: Option<Child>,
}

impl Balancer {
    /// Starts nginx in front of `upstreams` and waits until it forwards
    /// `/healthz`.
    pub fn nginx(upstreams: &[u16]) -> Balancer {
        let bin = std::env::var_os("NGINX")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/usr/sbin/nginx"));
        assert!(
            bin.exists(),
            "harness: no nginx at {} (scripts/install-test-deps.sh installs it; NGINX names another)",
            bin.display()
        );
        let dir = tempfile::Builder::new()
            .prefix("shian-lb-")
            .tempdir()
            .expect("temp dir");
        // Run as root, nginx's workers drop to `nobody`, which must reach
        // the temp paths below (tempfile makes the dir 0700).
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
                .expect("chmod the balancer's dir");
        }
        let port = free_port();
        let d = dir.path().display();
        let servers: String = upstreams
            .iter()
            .map(|p| format!("        server 127.0.0.1:{p} max_fails=0;\n"))
            .collect();
        // - One worker: one round-robin turn for every request, so that a
        //   client alone sees its requests go A, B, C, A…
        // - `max_fails=0`: an instance that failed is not taken out for
        //   `fail_timeout`; a restarted one takes its turn again at once.
        // - `proxy_next_upstream off`: a request that failed is never sent
        //   on to the next instance by the balancer, a POST least of all
        //   (it may have been applied): the client sees the failure and
        //   retries by itself, as a phone does.
        // - Bodies of up to 64 MiB, kept in memory (the server's own limit
        //   answers 413, which the client's halving relies on).
        let conf = format!(
            "daemon off;
master_process on;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    log_format lb '$request_method $uri $status upstream=$upstream_addr';
    access_log {d}/access.log lb;
    client_body_temp_path {d}/client_body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    client_max_body_size 64m;
    client_body_buffer_size 64m;
    upstream shian {{
{servers}    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://shian;
            proxy_next_upstream off;
            proxy_set_header Host $http_host;
            proxy_read_timeout 120s;
            proxy_send_timeout 120s;
        }}
    }}
}}
"
        );
        std::fs::write(dir.path().join("nginx.conf"), conf).expect("write nginx.conf");
        let err = std::fs::File::create(dir.path().join("stderr.log")).expect("stderr log");
        let mut cmd = Command::new(&bin);
        cmd.arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(dir.path().join("nginx.conf"))
            // The log of start-up itself, before the config is read.
            .arg("-e")
            .arg(dir.path().join("error.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(err);
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        let mut b = Balancer {
            port,
            dir,
            child: Some(child),
        };
        let start = Instant::now();
        let health = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .expect("client");
        loop {
            if let Some(status) = b.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                b.child = None;
                panic!("nginx exited with {status} at start:\n{}", b.error_log());
            }
            let ok = health
                .get(format!("http://127.0.0.1:{port}/healthz"))
                .send()
                .is_ok_and(|r| r.status().is_success());
            if ok {
                return b;
            }
            assert!(
                start.elapsed() < DEADLINE,
                "nginx never forwarded /healthz:\n{}",
                b.error_log()
            );
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// nginx's error log (start-up included).
    pub fn error_log(&self) -> String {
        ["stderr.log", "error.log"]
            .iter()
            .map(|f| std::fs::read_to_string(self.dir.path().join(f)).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// One line per request: method, path, status, the upstream that
    /// answered.
    pub fn access_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("access.log")).unwrap_or_default()
    }
}

impl Drop for Balancer {
    /// SIGTERM, nginx's fast shutdown: the master ends its workers, then
    /// itself. SIGKILL only if it has not exited by then (its workers would
    /// outlive it). nginx stays in the test's process group, so a test
    /// process interrupted from outside (Ctrl-C, `timeout`) takes it along
    /// with the servers.
    fn drop(&mut self) {
        let Some(mut c) = self.child.take() else {
            return;
        };
        #[cfg(unix)]
        if let Ok(pid) = i32::try_from(c.id()) {
            // SAFETY: kill(2) signals the one process we started; no memory
            // is involved.
            unsafe {
                libc::kill(pid, libc::SIGTERM);
            }
            let until = Instant::now() + Duration::from_secs(10);
            while c.try_wait().ok().flatten().is_none() && Instant::now() < until {
                thread::sleep(Duration::from_millis(10));
            }
        }
        let _ = c.kill();
        let _ = c.wait();
    }
}

/// VmRSS and VmHWM of this process, in bytes.
pub fn memory() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|r| r.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backend_comes_from_shian_test_db() {
        assert_eq!(Backend::parse(None), Backend::Sqlite);
        assert_eq!(Backend::parse(Some("")), Backend::Sqlite);
        assert_eq!(Backend::parse(Some("sqlite")), Backend::Sqlite);
        assert_eq!(Backend::parse(Some("postgres")), Backend::Postgres);
        assert!(std::panic::catch_unwind(|| Backend::parse(Some("mysql"))).is_err());
    }

    fn strings(args: &[std::ffi::OsString]) -> Vec<String> {
        args.iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    /// PostgreSQL reaches the command line as `--db postgres://…`, with a
    /// `--data-dir`; SQLite as the file, without one (as before).
    #[test]
    fn serve_gets_the_store_on_its_command_line() {
        let data = Path::new("/tmp/x/data");
        let extra = vec!["--body-limit".to_owned(), "1000".to_owned()];
        let url = "postgres://shian@127.0.0.1:5432/t1_0";
        assert_eq!(
            strings(&serve_args(&Db::Postgres(url.into()), data, 0, &extra)),
            [
                "serve",
                "--db",
                url,
                "--data-dir",
                "/tmp/x/data",
                "--addr",
                "127.0.0.1:0",
                "--body-limit",
                "1000"
            ]
        );
        assert_eq!(
            strings(&serve_args(
                &Db::Sqlite(data.join("shian.db")),
                data,
                8080,
                &[]
            )),
            [
                "serve",
                "--db",
                "/tmp/x/data/shian.db",
                "--addr",
                "127.0.0.1:8080"
            ]
        );
    }

    /// `SHIAN_TEST_DB=postgres`'s path end to end short of the server: a
    /// server on PostgreSQL gets a fresh database of its own, the one
    /// beside it shares it but not the data dir, and the command it would
    /// run says `--db postgres://…`.
    #[test]
    fn a_server_on_postgres_has_a_database_of_its_own() {
        if !Path::new("/usr/lib/postgresql/15/bin/initdb").exists()
            && std::env::var_os("PG_BIN").is_none()
        {
            eprintln!("skipped: PostgreSQL 15 is not installed (scripts/install-test-deps.sh)");
            return;
        }
        // Never started: the binary is never run.
        let fake = PathBuf::from("/nonexistent/shian-server");
        let a = Server::new_with_bin(Backend::Postgres, fake.clone(), Vec::new());
        let b = Server::new_with_bin(Backend::Postgres, fake, Vec::new());
        let Db::Postgres(url) = &a.store else {
            panic!("{:?}", a.store)
        };
        assert!(url.starts_with("postgres://shian@127.0.0.1:"), "{url}");
        assert_ne!(a.store, b.store, "a fresh database per server");
        assert_eq!(
            a.count("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"),
            0
        );
        let beside = Server::beside(&a);
        assert_eq!(beside.store, a.store);
        // Its own folder: what instances share is the database.
        assert_ne!(beside.data_dir, a.data_dir);
        let cmd = beside.serve_command();
        let args = strings(&cmd.get_args().map(ToOwned::to_owned).collect::<Vec<_>>());
        let at = args.iter().position(|a| a == "--db").expect("--db");
        assert_eq!(&args[at + 1], url);
        let at = args
            .iter()
            .position(|a| a == "--data-dir")
            .expect("--data-dir");
        assert_eq!(Path::new(&args[at + 1]), beside.data_dir);
        assert_eq!(a.data_dir, a.dir.path().join("data"));
    }
}
