//! The embedded SQLite backend: one file, WAL, one writer thread, a read pool.
//!
//! Pragmas and why: WAL lets readers work while the writer commits;
//! `synchronous=NORMAL` in WAL mode loses no committed transaction when the
//! process is killed (only on power loss may the last commits roll back);
//! `busy_timeout` makes a second process (the `admin` CLI) wait for the lock
//! instead of failing; foreign keys keep users pointing at real merchants.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::ffi::{
    SQLITE_CONSTRAINT_FOREIGNKEY as FOREIGN_KEY, SQLITE_CONSTRAINT_PRIMARYKEY as PRIMARY_KEY,
    SQLITE_CONSTRAINT_UNIQUE as UNIQUE,
};
use rusqlite::{params, Connection, OpenFlags, OptionalExtension, Row};

use self::readers::Readers;
use self::writer::Writer;
use crate::metrics::MetricsReport;
use crate::store::graph::{self, LedgerGraph, ReadModelOptions};
use crate::store::price_windows::lock;
use crate::store::search::{like_substring, region_prefix};
use crate::store::*;

mod alerts;
mod console;
mod entry_checks;
mod error;
mod exports;
mod feedback;
mod field;
mod field_ops;
pub mod field_schema;
mod holds;
mod ledger;
pub mod migrate;
mod price_window;
mod public;
pub mod readers;
mod recalls;
mod reports;
mod self_checks;
mod signing;
mod snapshots;
mod staff;
pub mod sync;
mod timestamps;
pub mod writer;

use self::timestamps::{parse_ts, ts};

/// Tuning of the SQLite backend.
#[derive(Debug, Clone)]
pub struct SqliteOptions {
    /// Read-only connections in the pool.
    pub readers: usize,
    /// How long a statement waits for another process's lock.
    pub busy_timeout: Duration,
    /// The read model's catch-up wait and fault points.
    pub read_model: ReadModelOptions,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions {
            readers: 4,
            busy_timeout: Duration::from_secs(5),
            read_model: ReadModelOptions::default(),
        }
    }
}

/// The SQLite store. Clone the `Arc<dyn Store>` that holds it, not this.
#[derive(Debug)]
pub struct SqliteStore {
    path: PathBuf,
    writer: Writer,
    readers: Readers,
    /// Batches, balances and the trace graph, derived from `entries`; built
    /// on first use, so that the `admin` CLI never replays the ledger.
    graph: tokio::sync::OnceCell<Arc<LedgerGraph>>,
    /// The markets' price windows for the warnings passes (see
    /// [`price_window`]); used on the writer only.
    price_windows: Arc<std::sync::Mutex<price_window::PriceWindows>>,
    read_model: ReadModelOptions,
}

fn configure(conn: &Connection, busy: Duration) -> Result<(), StoreError> {
    conn.busy_timeout(busy)?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(())
}

impl SqliteStore {
    /// Opens (creating the file and its directory if needed) and migrates the
    /// server schema. Blocking: call it before serving or from a blocking
    /// thread.
    ///
    /// Two processes opening one new file at once (two servers on one data
    /// directory) can meet SQLite answers that skip the busy handler — the
    /// switch to WAL and the WAL index's first set-up answer SQLITE_BUSY at
    /// once — so a busy open is tried again, within the busy timeout. Every
    /// step of an open is idempotent (migrations re-read their version
    /// inside an IMMEDIATE transaction).
    pub fn open(path: &Path, options: &SqliteOptions) -> Result<SqliteStore, StoreError> {
        let started = std::time::Instant::now();
        let mut pause = Duration::from_millis(5);
        loop {
            match Self::open_once(path, options) {
                Err(StoreError::Busy) if started.elapsed() < options.busy_timeout => {
                    tracing::debug!(path = %path.display(), "database busy while opening; trying again");
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(200));
                }
                other => return other,
            }
        }
    }

    fn open_once(path: &Path, options: &SqliteOptions) -> Result<SqliteStore, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let mut conn = Connection::open(path)?;
        configure(&conn, options.busy_timeout)?;
        let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Corrupt(format!(
                "could not switch {} to WAL (journal_mode={mode})",
                path.display()
            )));
        }
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        // Field ops run in savepoints: keep the sub-journal in memory (by
        // default it spills to a temp file after 64 KiB and then costs a
        // pwrite per page per op).
        conn.pragma_update(None, "temp_store", "MEMORY")?;
        // Checkpoint every 64 MiB of WAL rather than every 4 MiB: fewer,
        // larger copies back (bench-ingest). A checkpointing thread beside
        // the writer was tried (2026-11-22): no faster on 2 cores, and a
        // WAL that the writer never restarts grows while ingest lasts.
        conn.pragma_update(None, "wal_autocheckpoint", 16384)?;
        migrate::apply(&mut conn, "server", migrate::SERVER)?;
        // Core's ledger tables and the sync op log live in the same file.
        shian_core::store::schema::migrate(&mut conn)?;
        migrate::apply(&mut conn, "sync", sync::MIGRATIONS)?;
        field::open(&mut conn)?;
        public::open(&mut conn)?;
        feedback::open(&mut conn)?;
        reports::open(&mut conn)?;
        signing::open(&mut conn)?;
        alerts::open(&mut conn)?;
        recalls::open(&mut conn)?;
        staff::open(&mut conn)?;
        entry_checks::open(&mut conn)?;
        holds::open(&mut conn)?;
        self_checks::open(&mut conn)?;
        snapshots::open(&mut conn)?;
        // Every write transaction takes the write lock before it reads. A
        // deferred one that has read and then meets another process's
        // commit (a second server on the same file, the `admin` CLI) cannot
        // wait: its snapshot is stale, and SQLite answers SQLITE_BUSY at
        // once, past the busy timeout (tests/writers.rs). Only the writer
        // connection is set; readers never write.
        conn.set_transaction_behavior(rusqlite::TransactionBehavior::Immediate);
        let writer = Writer::spawn(conn)?;

        let mut pool = Vec::with_capacity(options.readers.max(1));
        for _ in 0..options.readers.max(1) {
            let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
                | OpenFlags::SQLITE_OPEN_NO_MUTEX
                | OpenFlags::SQLITE_OPEN_URI;
            let r = Connection::open_with_flags(path, flags)?;
            configure(&r, options.busy_timeout)?;
            pool.push(r);
        }
        Ok(SqliteStore {
            path: path.to_owned(),
            writer,
            readers: Readers::new(pool),
            graph: tokio::sync::OnceCell::new(),
            price_windows: Arc::default(),
            read_model: options.read_model,
        })
    }

    /// The in-memory ledger state (see [`LedgerGraph`]), built on the
    /// writer the first time it is asked for: from the newest snapshot and
    /// the entries after it, or from every entry.
    pub async fn graph(&self) -> Result<Arc<LedgerGraph>, StoreError> {
        let faults = self.read_model.faults;
        self.graph
            .get_or_try_init(|| {
                self.writer.call(move |conn| {
                    // A snapshot that does not read is passed over: the
                    // entries are the truth, the snapshot a shortcut.
                    let saved = snapshots::newest(conn).unwrap_or_else(|e| {
                        tracing::warn!(error = %e, "graph snapshot not read: replaying");
                        None
                    });
                    LedgerGraph::load_from(conn, saved, faults, &MetricsReport).map(Arc::new)
                })
            })
            .await
            .cloned()
    }

    /// The graph caught up with what other instances committed (on a read
    /// connection, so committed rows only): what traces, recalls and holds
    /// read, so that an instance answers as if it had taken every push.
    pub async fn followed_graph(&self) -> Result<Arc<LedgerGraph>, StoreError> {
        self.follow_within(Some(self.read_model.catch_up_wait))
            .await
    }

    /// The graph caught up with the store, waiting at most `wait` (`None`:
    /// as long as it takes, for the background follower).
    pub async fn follow_within(
        &self,
        wait: Option<Duration>,
    ) -> Result<Arc<LedgerGraph>, StoreError> {
        let graph = self.graph().await?;
        let g = Arc::clone(&graph);
        let catch_up = self.readers().call(move |conn| g.follow(conn));
        graph::within(wait, catch_up).await?;
        Ok(graph)
    }

    /// The price windows, for a writer job.
    fn price_windows(&self) -> Arc<std::sync::Mutex<price_window::PriceWindows>> {
        Arc::clone(&self.price_windows)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The single writer: `store.writer().call(|conn| …).await`.
    pub fn writer(&self) -> &Writer {
        &self.writer
    }

    /// The read pool: `store.readers().call(|conn| …).await`.
    pub fn readers(&self) -> &Readers {
        &self.readers
    }

    /// Applies another component's migrations (e.g. core's `"ledger"`) on
    /// the writer.
    pub async fn migrate(
        &self,
        component: &'static str,
        migrations: &'static [migrate::Migration],
    ) -> Result<i64, StoreError> {
        self.writer
            .call(move |conn| migrate::apply(conn, component, migrations))
            .await
    }
}

// ---------------------------------------------------------------------------
// Row mapping
// ---------------------------------------------------------------------------
//
// Stored text that does not parse back (a JSON list, a timestamp) becomes
// rusqlite's conversion error: the row is corrupt, a 500 and a log line.

fn conversion(i: usize, e: impl std::error::Error + Send + Sync + 'static) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, Box::new(e))
}

fn ts_col(r: &Row<'_>, i: usize) -> rusqlite::Result<DateTime<Utc>> {
    let s: String = r.get(i)?;
    DateTime::parse_from_rfc3339(&s)
        .map(|d| d.with_timezone(&Utc))
        .map_err(|e| conversion(i, e))
}

fn opt_ts_col(r: &Row<'_>, i: usize) -> rusqlite::Result<Option<DateTime<Utc>>> {
    let s: Option<String> = r.get(i)?;
    s.map(|s| {
        DateTime::parse_from_rfc3339(&s)
            .map(|d| d.with_timezone(&Utc))
            .map_err(|e| conversion(i, e))
    })
    .transpose()
}

fn list_col(r: &Row<'_>, i: usize) -> rusqlite::Result<Vec<String>> {
    let s: String = r.get(i)?;
    serde_json::from_str(&s).map_err(|e| conversion(i, e))
}

fn to_json_list(v: &[String]) -> String {
    serde_json::Value::from(v.to_vec()).to_string()
}

const USER_COLS: &str =
    "id, username, role, merchant_id, regions, created_at, password_hash, locked_until, markets";

fn user_row(r: &Row<'_>) -> rusqlite::Result<UserCredentials> {
    let role_s: String = r.get(2)?;
    let role = Role::parse(&role_s)
        .ok_or_else(|| conversion(2, StoreError::Corrupt(format!("role '{role_s}'"))))?;
    Ok(UserCredentials {
        user: User {
            id: r.get(0)?,
            username: r.get(1)?,
            role,
            merchant_id: r.get(3)?,
            regions: list_col(r, 4)?,
            markets: list_col(r, 8)?,
            created_at: ts_col(r, 5)?,
        },
        password_hash: r.get(6)?,
        locked_until: opt_ts_col(r, 7)?,
    })
}

fn query_user(
    conn: &Connection,
    where_clause: &str,
    key: &str,
) -> Result<Option<UserCredentials>, StoreError> {
    let sql = format!("SELECT {USER_COLS} FROM users WHERE {where_clause}");
    Ok(conn.query_row(&sql, [key], user_row).optional()?)
}

const MARKET_COLS: &str = "id, name, region_code, address, created_at";

fn market_row(r: &Row<'_>) -> rusqlite::Result<Market> {
    Ok(Market {
        id: r.get(0)?,
        name: r.get(1)?,
        region_code: r.get(2)?,
        address: r.get(3)?,
        created_at: ts_col(r, 4)?,
    })
}

const MERCHANT_COLS: &str =
    "id, market_id, name, uscc, uscc_acknowledged, licence_no, licence_expiry, business_type, \
     categories, stall, contact, region_code, shop_code, created_at";

fn merchant_row(r: &Row<'_>) -> rusqlite::Result<Merchant> {
    let expiry: Option<String> = r.get(6)?;
    Ok(Merchant {
        id: r.get(0)?,
        market_id: r.get(1)?,
        name: r.get(2)?,
        uscc: r.get(3)?,
        uscc_acknowledged: r.get(4)?,
        licence_no: r.get(5)?,
        licence_expiry: expiry
            .map(|s| NaiveDate::parse_from_str(&s, "%Y-%m-%d").map_err(|e| conversion(6, e)))
            .transpose()?,
        business_type: r.get(7)?,
        categories: list_col(r, 8)?,
        stall: r.get(9)?,
        contact: r.get(10)?,
        region_code: r.get(11)?,
        shop_code: r.get(12)?,
        created_at: ts_col(r, 13)?,
    })
}

fn query_merchant(
    conn: &Connection,
    where_clause: &str,
    key: &str,
) -> Result<Option<Merchant>, StoreError> {
    let sql = format!("SELECT {MERCHANT_COLS} FROM merchants WHERE {where_clause}");
    Ok(conn.query_row(&sql, [key], merchant_row).optional()?)
}

/// The extended result code of a constraint failure
/// (`SQLITE_CONSTRAINT_UNIQUE`, `_PRIMARYKEY`, `_FOREIGNKEY`, `_CHECK`…), or
/// `None` for any other error. The message text is never parsed: which
/// column collided is looked up in the same transaction instead.
fn constraint(e: &rusqlite::Error) -> Option<i32> {
    match e {
        rusqlite::Error::SqliteFailure(f, _)
            if f.code == rusqlite::ErrorCode::ConstraintViolation =>
        {
            Some(f.extended_code)
        }
        _ => None,
    }
}

/// Does a row of `table` have `column = value`? (`table` and `column` are
/// fixed names of this file, never input.)
fn taken(conn: &Connection, table: &str, column: &str, value: &str) -> Result<bool, StoreError> {
    let sql = format!("SELECT 1 FROM {table} WHERE {column} = ?1");
    Ok(conn.prepare_cached(&sql)?.exists([value])?)
}

/// Names the conflict of a failed merchant insert: which unique value is
/// taken is looked up on the same connection, inside the caller's
/// transaction.
fn merchant_conflict(conn: &Connection, e: rusqlite::Error, m: &Merchant) -> StoreError {
    let found = match constraint(&e) {
        Some(UNIQUE | PRIMARY_KEY) => {
            let licence = m.licence_no.as_deref();
            if licence
                .map_or(Ok(false), |l| taken(conn, "merchants", "licence_no", l))
                .unwrap_or(false)
            {
                Some(StoreError::conflict(
                    "duplicate_licence",
                    format!(
                        "许可证号 {} 已登记 (licence already registered)",
                        licence.unwrap_or("")
                    ),
                ))
            } else if taken(conn, "merchants", "shop_code", &m.shop_code).unwrap_or(false) {
                Some(StoreError::conflict(
                    "duplicate_shop_code",
                    "店码冲突，请重试 (shop code collision, retry)",
                ))
            } else if taken(conn, "merchants", "id", &m.id).unwrap_or(false) {
                Some(StoreError::conflict(
                    "duplicate_merchant",
                    "商户已登记 (merchant id exists)",
                ))
            } else {
                None
            }
        }
        Some(FOREIGN_KEY) => Some(StoreError::NotFound("市场")),
        _ => None,
    };
    found.unwrap_or_else(|| e.into())
}

/// Registers one merchant: its row, its sync feed rows (its district's and
/// its own) and its directory entry. Four writes: the caller runs it inside
/// a transaction (`tx` derefs to the connection), so that a failure between
/// them leaves nothing.
fn insert_merchant(conn: &Connection, m: &Merchant) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO merchants (id, market_id, name, uscc, uscc_acknowledged, licence_no, licence_expiry, business_type, \
         categories, stall, contact, region_code, shop_code, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
    )?
    .execute(params![
        m.id,
        m.market_id,
        m.name,
        m.uscc,
        m.uscc_acknowledged,
        m.licence_no,
        m.licence_expiry.map(|d| d.format("%Y-%m-%d").to_string()),
        m.business_type,
        to_json_list(&m.categories),
        m.stall,
        m.contact,
        m.region_code,
        m.shop_code,
        ts(&m.created_at),
    ])
    .map_err(|e| merchant_conflict(conn, e, m))?;
    // The merchant reaches the devices of its district and itself by sync,
    // and its name labels traces.
    let card = serde_json::json!({
        "id": m.id, "name": m.name, "region_code": m.region_code, "market_id": m.market_id,
        "licence_no": m.licence_no, "licence_expiry": m.licence_expiry, "stall": m.stall,
        "categories": m.categories, "shop_code": m.shop_code,
    });
    sync::publish(conn, "merchant", None, Some(&m.region_code), None, &card)?;
    sync::publish(conn, "merchant", Some(&m.id), None, None, &card)?;
    conn.prepare_cached(
        "INSERT OR REPLACE INTO directory (merchant_id, name, payload) VALUES (?1, ?2, ?3)",
    )?
    .execute(params![m.id, m.name, card.to_string()])?;
    Ok(())
}

/// How long a key's response is kept for retries (Stripe keeps a day).
/// Older keys are dropped when a new key is written.
const IDEMPOTENCY_TTL: chrono::Duration = chrono::Duration::hours(24);

/// Runs `create` under an idempotency key in one transaction: a key already
/// used answers its stored response (or `IdempotencyKeyReused` for another
/// request) and creates nothing; otherwise the record is created and the
/// response (`status`, the record as JSON) is stored beside it. Retries
/// queue on the single writer, so two at once cannot both create.
fn once<T: serde::Serialize>(
    conn: &mut Connection,
    key: &IdempotencyKey,
    status: u16,
    create: impl FnOnce(&Connection) -> Result<T, StoreError>,
) -> Result<Created<T>, StoreError> {
    let tx = conn.transaction()?;
    let now = now();
    tx.prepare_cached("DELETE FROM idempotency_keys WHERE created_at < ?1")?
        .execute([ts(&(now - IDEMPOTENCY_TTL))])?;
    let stored = tx
        .prepare_cached(
            "SELECT operation, fingerprint, status, response FROM idempotency_keys \
             WHERE account = ?1 AND key = ?2",
        )?
        .query_row([&key.account, &key.key], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, u16>(2)?,
                r.get::<_, String>(3)?,
            ))
        })
        .optional()?;
    if let Some((operation, fingerprint, status, body)) = stored {
        if operation != key.operation || fingerprint != key.fingerprint {
            return Err(StoreError::IdempotencyKeyReused);
        }
        tx.commit()?;
        return Ok(Created::Replayed(StoredResponse { status, body }));
    }
    let made = create(&tx)?;
    // Serialising these plain records cannot fail; if it ever did, nothing
    // is stored (the transaction rolls back).
    let body = serde_json::to_string(&made).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    tx.prepare_cached(
        "INSERT INTO idempotency_keys (account, key, operation, fingerprint, status, response, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![key.account, key.key, key.operation, key.fingerprint, status, body, ts(&now)])?;
    tx.commit()?;
    Ok(Created::New(made))
}

fn insert_market(conn: &Connection, m: &Market) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO markets (id, name, region_code, address, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![m.id, m.name, m.region_code, m.address, ts(&m.created_at)])
    .map_err(|e| match constraint(&e) {
        Some(PRIMARY_KEY) => StoreError::conflict("duplicate_market", "市场已登记 (market id exists)"),
        _ => e.into(),
    })?;
    Ok(())
}

// ---------------------------------------------------------------------------
// The trait
// ---------------------------------------------------------------------------

impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    fn health(&self) -> StoreFuture<'_, Vec<String>> {
        Box::pin(async move {
            self.readers
                .call(|c| {
                    c.query_row("SELECT COUNT(*) FROM schema_migrations", [], |_| Ok(()))
                        .map_err(StoreError::from)
                })
                .await?;
            self.writer
                .call(|c| {
                    c.query_row("SELECT 1", [], |_| Ok(()))
                        .map_err(StoreError::from)
                })
                .await?;
            // The ledger graph, once built: failed (503), or serving with
            // alerts (rows skipped at its rebuild).
            match self.graph.get() {
                Some(g) => g.check().map(|()| g.alerts()),
                None => Ok(Vec::new()),
            }
        })
    }

    fn close(&self) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            self.readers.close();
            self.writer.close().await
        })
    }

    fn create_user(&self, u: NewUser) -> StoreFuture<'_, User> {
        Box::pin(self.writer.call(move |conn| {
            let user = User {
                id: uuid::Uuid::now_v7().to_string(),
                username: u.username,
                role: u.role,
                merchant_id: u.merchant_id,
                regions: u.regions,
                markets: u.markets,
                created_at: now(),
            };
            let r = conn.execute(
                "INSERT INTO users (id, username, password_hash, role, merchant_id, regions, created_at, markets) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    user.id,
                    user.username,
                    u.password_hash,
                    user.role.as_str(),
                    user.merchant_id,
                    to_json_list(&user.regions),
                    ts(&user.created_at),
                    to_json_list(&user.markets)
                ],
            );
            match r {
                Ok(_) => Ok(user),
                // `username` is the one unique column besides the fresh id.
                Err(e) if matches!(constraint(&e), Some(UNIQUE)) => Err(StoreError::conflict(
                    "username_taken",
                    format!("用户名 {} 已存在 (username taken)", user.username),
                )),
                Err(e) if matches!(constraint(&e), Some(FOREIGN_KEY)) => Err(StoreError::NotFound("商户")),
                Err(e) => Err(e.into()),
            }
        }))
    }

    fn user(&self, id: String) -> StoreFuture<'_, Option<User>> {
        Box::pin(async move {
            let c = self
                .readers
                .call(move |conn| query_user(conn, "id = ?1", &id))
                .await?;
            Ok(c.map(|c| c.user))
        })
    }

    fn user_credentials(&self, username: String) -> StoreFuture<'_, Option<UserCredentials>> {
        Box::pin(
            self.readers
                .call(move |conn| query_user(conn, "username = ?1", &username)),
        )
    }

    fn begin_login_attempt(
        &self,
        user_id: String,
        now: DateTime<Utc>,
        max_failures: u32,
        lock_for: chrono::Duration,
    ) -> StoreFuture<'_, LoginAttempt> {
        Box::pin(self.writer.call(move |conn| {
            // IMMEDIATE: the read and the write below hold the write lock
            // together, also against another process (the admin CLI).
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let (failed, locked): (u32, Option<String>) = tx.query_row(
                "SELECT failed_logins, locked_until FROM users WHERE id = ?1",
                [&user_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            let locked = locked.as_deref().map(parse_ts).transpose()?;
            if let Some(until) = locked.filter(|u| *u > now) {
                return Ok(LoginAttempt::Locked { until });
            }
            // An expired lock starts a new count.
            let attempt = if locked.is_some() { 1 } else { failed + 1 };
            let locked_until = (attempt >= max_failures).then(|| now + lock_for);
            tx.execute(
                "UPDATE users SET failed_logins = ?2, locked_until = ?3 WHERE id = ?1",
                params![user_id, attempt, locked_until.as_ref().map(ts)],
            )?;
            tx.commit()?;
            Ok(LoginAttempt::Check {
                attempt,
                locked_until,
            })
        }))
    }

    fn record_login_success(&self, user_id: String) -> StoreFuture<'_, ()> {
        Box::pin(self.writer.call(move |conn| {
            conn.execute(
                "UPDATE users SET failed_logins = 0, locked_until = NULL \
                 WHERE id = ?1 AND (failed_logins != 0 OR locked_until IS NOT NULL)",
                [&user_id],
            )?;
            Ok(())
        }))
    }

    fn create_device(&self, d: Device) -> StoreFuture<'_, Device> {
        Box::pin(self.writer.call(move |conn| {
            conn.execute(
                "INSERT INTO devices (id, user_id, name, created_at, last_seen) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![d.id, d.user_id, d.name, ts(&d.created_at), d.last_seen.as_ref().map(ts)],
            )
            .map_err(|e| match constraint(&e) {
                Some(FOREIGN_KEY) => StoreError::NotFound("用户"),
                Some(PRIMARY_KEY) => StoreError::conflict("duplicate_device", "设备已登记 (device exists)"),
                _ => e.into(),
            })?;
            Ok(d)
        }))
    }

    fn device(&self, id: String) -> StoreFuture<'_, Option<Device>> {
        Box::pin(self.readers.call(move |conn| {
            let sql = "SELECT id, user_id, name, created_at, last_seen FROM devices WHERE id = ?1";
            let device = conn
                .query_row(sql, [&id], |r| {
                    Ok(Device {
                        id: r.get(0)?,
                        user_id: r.get(1)?,
                        name: r.get(2)?,
                        created_at: ts_col(r, 3)?,
                        last_seen: opt_ts_col(r, 4)?,
                    })
                })
                .optional()?;
            Ok(device)
        }))
    }

    fn touch_device(&self, id: String, at: DateTime<Utc>) -> StoreFuture<'_, ()> {
        Box::pin(self.writer.call(move |conn| {
            conn.execute(
                "UPDATE devices SET last_seen = ?2 WHERE id = ?1",
                params![id, ts(&at)],
            )?;
            Ok(())
        }))
    }

    fn create_market(&self, m: Market) -> StoreFuture<'_, Market> {
        Box::pin(self.writer.call(move |conn| {
            insert_market(conn, &m)?;
            Ok(m)
        }))
    }

    fn create_market_idempotent(
        &self,
        m: Market,
        key: IdempotencyKey,
    ) -> StoreFuture<'_, Created<Market>> {
        Box::pin(self.writer.call(move |conn| {
            once(conn, &key, 201, |tx| {
                insert_market(tx, &m)?;
                Ok(m)
            })
        }))
    }

    fn market(&self, id: String) -> StoreFuture<'_, Option<Market>> {
        Box::pin(self.readers.call(move |conn| {
            let sql = format!("SELECT {MARKET_COLS} FROM markets WHERE id = ?1");
            Ok(conn.query_row(&sql, [&id], market_row).optional()?)
        }))
    }

    fn list_markets(&self, limit: u32, offset: u32) -> StoreFuture<'_, Page<Market>> {
        Box::pin(self.readers.call(move |conn| {
            let total: u64 = conn.query_row("SELECT COUNT(*) FROM markets", [], |r| r.get(0))?;
            let sql = format!("SELECT {MARKET_COLS} FROM markets ORDER BY id LIMIT ?1 OFFSET ?2");
            let mut stmt = conn.prepare_cached(&sql)?;
            let items = stmt
                .query_map(params![limit, offset], market_row)?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Page {
                items,
                total,
                limit,
                offset,
            })
        }))
    }

    fn create_merchant(&self, m: Merchant) -> StoreFuture<'_, Merchant> {
        // Traces label holders with the registry's names; a graph not yet
        // built reads them from the file when it is.
        let graph = self.graph.get().cloned();
        Box::pin(self.writer.call(move |conn| {
            let tx = conn.transaction()?;
            insert_merchant(&tx, &m)?;
            tx.commit()?;
            if let Some(g) = graph {
                g.set_merchant_names([(m.id.as_str(), m.name.as_str())])?;
            }
            Ok(m)
        }))
    }

    fn create_merchant_idempotent(
        &self,
        m: Merchant,
        key: IdempotencyKey,
    ) -> StoreFuture<'_, Created<Merchant>> {
        let graph = self.graph.get().cloned();
        Box::pin(self.writer.call(move |conn| {
            let created = once(conn, &key, 201, |tx| {
                insert_merchant(tx, &m)?;
                Ok(m)
            })?;
            if let (Some(g), Created::New(m)) = (graph, &created) {
                g.set_merchant_names([(m.id.as_str(), m.name.as_str())])?;
            }
            Ok(created)
        }))
    }

    fn merchant(&self, id: String) -> StoreFuture<'_, Option<Merchant>> {
        Box::pin(
            self.readers
                .call(move |conn| query_merchant(conn, "id = ?1", &id)),
        )
    }

    fn merchant_by_shop_code(&self, shop_code: String) -> StoreFuture<'_, Option<Merchant>> {
        Box::pin(
            self.readers
                .call(move |conn| query_merchant(conn, "shop_code = ?1", &shop_code)),
        )
    }

    fn list_merchants(&self, f: MerchantFilter) -> StoreFuture<'_, Page<Merchant>> {
        Box::pin(self.readers.call(move |conn| {
            // Only fixed clauses are concatenated; every value is bound.
            let mut clauses: Vec<&str> = Vec::new();
            let mut values: Vec<String> = Vec::new();
            if let Some(market) = &f.market_id {
                values.push(market.clone());
                clauses.push("market_id = ?");
            }
            if let Some(region) = &f.region {
                values.push(format!("{}%", region_prefix(region)));
                clauses.push("region_code LIKE ?");
            }
            if let Some(q) = f.q.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
                let upper = crate::validate::normalize(q);
                values.extend([like_substring(q), like_substring(q), upper.clone(), upper]);
                clauses.push("(name LIKE ? ESCAPE '\\' OR stall LIKE ? ESCAPE '\\' OR uscc = ? OR licence_no = ?)");
            }
            let where_sql = if clauses.is_empty() { String::new() } else { format!(" WHERE {}", clauses.join(" AND ")) };
            let total: u64 = conn.query_row(
                &format!("SELECT COUNT(*) FROM merchants{where_sql}"),
                rusqlite::params_from_iter(values.iter()),
                |r| r.get(0),
            )?;
            let sql = format!("SELECT {MERCHANT_COLS} FROM merchants{where_sql} ORDER BY id LIMIT {} OFFSET {}", f.limit, f.offset);
            let mut stmt = conn.prepare(&sql)?;
            let items = stmt
                .query_map(rusqlite::params_from_iter(values.iter()), merchant_row)?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Page { items, total, limit: f.limit, offset: f.offset })
        }))
    }

    fn existing_licences(&self, licences: Vec<String>) -> StoreFuture<'_, Vec<String>> {
        Box::pin(self.readers.call(move |conn| {
            let mut stmt = conn.prepare_cached("SELECT 1 FROM merchants WHERE licence_no = ?1")?;
            let mut found = Vec::new();
            for l in licences {
                if stmt.exists([&l])? {
                    found.push(l);
                }
            }
            Ok(found)
        }))
    }

    fn import_merchants(&self, merchants: Vec<Merchant>) -> StoreFuture<'_, usize> {
        let graph = self.graph.get().cloned();
        Box::pin(self.writer.call(move |conn| {
            let tx = conn.transaction()?;
            for m in &merchants {
                insert_merchant(&tx, m)?;
            }
            tx.commit()?;
            if let Some(graph) = graph {
                graph.set_merchant_names(
                    merchants.iter().map(|m| (m.id.as_str(), m.name.as_str())),
                )?;
            }
            Ok(merchants.len())
        }))
    }
}
