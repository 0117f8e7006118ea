//! Versioned migrations of the ledger schema.
//!
//! Versions are recorded per component in `schema_migrations`, not in
//! `PRAGMA user_version`, so that the server can keep its own tables
//! (accounts, op log) in the same file with its own version line.
//! Each step runs in the transaction that records it: a crash mid-upgrade
//! leaves the file at the previous version, never half-way.

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

/// The ledger component's migrations; index + 1 is the version.
pub const LEDGER: &[&str] = &[
    // v1: the first schema — events, batches with running balances,
    // movements, the outbox.
    r#"
    CREATE TABLE entries (
        entry_id    TEXT PRIMARY KEY,
        kind        TEXT NOT NULL,
        merchant_id TEXT NOT NULL,
        at          TEXT NOT NULL,   -- device time, RFC 3339 as sent
        recorded_at TEXT NOT NULL,   -- this store's clock, UTC
        trace_code  TEXT,            -- the batch a purchase made or a movement moved
        payload     TEXT NOT NULL,   -- canonical wire form
        voided_by   TEXT
    );
    CREATE INDEX entries_by_merchant ON entries(merchant_id, recorded_at);
    CREATE TABLE batches (
        trace_code       TEXT PRIMARY KEY,
        entry_id         TEXT NOT NULL,
        merchant_id      TEXT NOT NULL,
        product_name     TEXT NOT NULL,
        category         TEXT NOT NULL,
        gtin             TEXT,
        unit             TEXT NOT NULL,
        received         INTEGER NOT NULL,
        out_qty          INTEGER NOT NULL DEFAULT 0,
        adjusted         INTEGER NOT NULL DEFAULT 0,
        active_movements INTEGER NOT NULL DEFAULT 0,
        voucher_code     TEXT,
        supplier         TEXT NOT NULL,
        production_date  TEXT,
        expiry_date      TEXT,
        unit_price_fen   INTEGER,
        received_at      TEXT NOT NULL,
        voided           INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX batches_by_voucher ON batches(voucher_code) WHERE voucher_code IS NOT NULL;
    CREATE INDEX batches_by_merchant ON batches(merchant_id);
    CREATE TABLE movements (
        entry_id          TEXT PRIMARY KEY,
        trace_code        TEXT NOT NULL,
        merchant_id       TEXT NOT NULL,
        kind              TEXT NOT NULL,  -- sale_merchant | sale_named | sale_retail | destroyed | returned | adjust
        amount            INTEGER NOT NULL,
        buyer_merchant_id TEXT,
        buyer_name        TEXT,
        voucher_code      TEXT,
        unit_price_fen    INTEGER,
        at                TEXT NOT NULL,
        voided            INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX movements_by_batch ON movements(trace_code);
    CREATE UNIQUE INDEX movements_by_voucher ON movements(voucher_code) WHERE voucher_code IS NOT NULL;
    CREATE TABLE outbox (
        seq        INTEGER PRIMARY KEY AUTOINCREMENT,
        op_id      TEXT NOT NULL UNIQUE,
        kind       TEXT NOT NULL,
        at         TEXT NOT NULL,
        payload    TEXT NOT NULL,
        created_at TEXT NOT NULL
    );
    "#,
    // v2: warnings kept with their evidence; outbox ops can be parked with
    // the server's reason instead of blocking the queue; a directory of
    // merchant names for traces shown offline.
    r#"
    CREATE TABLE warnings (
        id          INTEGER PRIMARY KEY,
        entry_id    TEXT NOT NULL,
        merchant_id TEXT NOT NULL,
        code        TEXT NOT NULL,
        message     TEXT NOT NULL,
        evidence    TEXT NOT NULL,
        at          TEXT NOT NULL
    );
    CREATE INDEX warnings_by_merchant ON warnings(merchant_id, code);
    ALTER TABLE outbox ADD COLUMN state TEXT NOT NULL DEFAULT 'pending';
    ALTER TABLE outbox ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE outbox ADD COLUMN last_error TEXT;
    ALTER TABLE outbox ADD COLUMN retryable INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE directory (
        merchant_id TEXT PRIMARY KEY,
        name        TEXT NOT NULL,
        payload     TEXT NOT NULL DEFAULT '{}'
    );
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    -- What the server sends besides ledger entries: tasks, checklists,
    -- recall notices, keys; the latest version of each (kind, key).
    CREATE TABLE inbox (
        kind     TEXT NOT NULL,
        key      TEXT NOT NULL,
        seq      INTEGER NOT NULL,
        payload  TEXT NOT NULL,
        PRIMARY KEY (kind, key)
    );
    "#,
    // v3: pulled changes this device could not apply (they do not parse
    // under this build, its rules refuse them, a card lacks its id), kept
    // as received with the reason and retried, never dropped.
    r#"
    CREATE TABLE unapplied (
        id             INTEGER PRIMARY KEY,
        seq            INTEGER NOT NULL,  -- the server's sequence in its feed
        kind           TEXT NOT NULL,
        payload        TEXT NOT NULL,     -- as received
        reason_code    TEXT NOT NULL,
        message        TEXT NOT NULL,
        field          TEXT,
        rules_version  TEXT NOT NULL,     -- last tried under these rules
        core_version   TEXT NOT NULL,     -- and this build
        attempts       INTEGER NOT NULL DEFAULT 1,
        first_tried_at TEXT NOT NULL,
        last_tried_at  TEXT NOT NULL,
        UNIQUE (kind, seq)
    );
    "#,
];

/// Opens the pragmas every Shian SQLite connection wants: WAL so readers
/// never block the writer, NORMAL sync (durable at each WAL checkpoint and
/// safe against application crashes, which is what a phone killed by the OS
/// is), a busy timeout for the CLI writing beside a running server.
pub fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    // Pulled pages apply each change in a savepoint: keep the sub-journal in
    // memory (by default it spills to a temp file after 64 KiB, a pwrite per
    // page per change; Android's own SQLite builds keep temp in memory).
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    Ok(())
}

/// The version of `component` recorded in the file (0 when new).
pub fn version(conn: &Connection, component: &str) -> rusqlite::Result<usize> {
    // The same bookkeeping table as the server's migrator (server/src/db/migrate.rs).
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            component  TEXT    NOT NULL,
            version    INTEGER NOT NULL,
            name       TEXT    NOT NULL DEFAULT '',
            applied_at TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
            PRIMARY KEY (component, version)
        )",
    )?;
    let v: Option<i64> = conn
        .query_row(
            "SELECT MAX(version) FROM schema_migrations WHERE component = ?1",
            [component],
            |r| r.get(0),
        )
        .optional()?
        .flatten();
    Ok(usize::try_from(v.unwrap_or(0)).unwrap_or(0))
}

/// Brings `component` up to `target` (at most `steps.len()`), one transaction
/// per step. Each step's transaction is IMMEDIATE and re-reads the version
/// inside it, so two processes opening one new file at once (two servers on
/// one data directory) cannot both apply a step ("table already exists").
pub fn migrate_to(
    conn: &mut Connection,
    component: &str,
    steps: &[&str],
    target: usize,
) -> rusqlite::Result<usize> {
    loop {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let current = version(&tx, component)?;
        if current >= target.min(steps.len()) {
            return Ok(current);
        }
        tx.execute_batch(steps[current])?;
        tx.execute(
            "INSERT INTO schema_migrations (component, version) VALUES (?1, ?2)",
            params![component, current as i64 + 1],
        )?;
        tx.commit()?;
    }
}

/// Brings the ledger schema to the newest version.
pub fn migrate(conn: &mut Connection) -> rusqlite::Result<usize> {
    migrate_to(conn, "ledger", LEDGER, LEDGER.len())
}
