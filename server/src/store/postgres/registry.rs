//! The [`Store`](crate::store::Store) trait's own methods on PostgreSQL —
//! accounts, devices, markets and merchants — as `sqlite/mod.rs` implements
//! them: the same results, errors, ordering and paging, and the same
//! changes published to the feed.
//!
//! `impl Store for PgStore` needs every sub-trait first, so each method is
//! a blocking function on a client here, wired by the trait as
//! `self.pool.call(move |c| registry::create_user(c, u))`:
//!
//! | `Store` method               | function here                 |
//! |------------------------------|-------------------------------|
//! | `create_user`                | [`create_user`]               |
//! | `user`                       | [`user`]                      |
//! | `user_credentials`           | [`user_credentials`]          |
//! | `begin_login_attempt`        | [`begin_login_attempt`]       |
//! | `record_login_success`       | [`record_login_success`]      |
//! | `create_device`              | [`create_device`]             |
//! | `device`                     | [`device`]                    |
//! | `touch_device`               | [`touch_device`]              |
//! | `create_market`              | [`create_market`]             |
//! | `create_market_idempotent`   | [`create_market_idempotent`]  |
//! | `market`                     | [`market`]                    |
//! | `list_markets`               | [`list_markets`]              |
//! | `create_merchant`            | [`create_merchant`]           |
//! | `create_merchant_idempotent` | [`create_merchant_idempotent`]|
//! | `merchant`                   | [`merchant`]                  |
//! | `merchant_by_shop_code`      | [`merchant_by_shop_code`]     |
//! | `list_merchants`             | [`list_merchants`]            |
//! | `existing_licences`          | [`existing_licences`]         |
//! | `import_merchants`           | [`import_merchants`]          |
//!
//! What SQLite's trait methods do besides the SQL stays with the caller:
//! after `create_merchant`, `create_merchant_idempotent` (when `New`) and
//! `import_merchants`, the wiring updates an already built ledger graph's
//! names (`graph.set_merchant_names`), as `sqlite/mod.rs` does.
//!
//! Text comparisons follow SQLite's: lists are ordered by `id COLLATE "C"`
//! (SQLite's binary order, whatever the database's collation), and the
//! case-insensitive matches (`username`'s NOCASE, `LIKE`) fold ASCII
//! letters only, with `lower(… COLLATE "C")`.

// Until `impl Store for PgStore` calls these functions (the lead wires it
// once every sub-trait is ported), only the tests do.

use ::postgres::types::ToSql;
use ::postgres::{Client, GenericClient, Row, Transaction};
use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;

use super::error::PgError;
use super::feed::{publish, take_seq, Audience};
use crate::store::search::{like_substring, region_prefix};
use crate::store::*;

// ---------------------------------------------------------------------------
// Row mapping
// ---------------------------------------------------------------------------

/// A time as SQLite keeps it (milliseconds), so that what a caller made
/// with finer precision reads back here as it does there.
fn ms(t: &DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(t.timestamp_millis()).unwrap_or(*t)
}

/// A stored JSON list of strings (`jsonb`); anything else is a corrupt row.
fn list(v: Value, column: &str) -> Result<Vec<String>, StoreError> {
    serde_json::from_value(v).map_err(|e| StoreError::Corrupt(format!("{column}: {e}")))
}

const USER_COLS: &str =
    "id, username, role, merchant_id, regions, created_at, password_hash, locked_until, markets";

fn user_row(r: &Row) -> Result<UserCredentials, StoreError> {
    let role_s: String = r.try_get(2)?;
    let role =
        Role::parse(&role_s).ok_or_else(|| StoreError::Corrupt(format!("role '{role_s}'")))?;
    Ok(UserCredentials {
        user: User {
            id: r.try_get(0)?,
            username: r.try_get(1)?,
            role,
            merchant_id: r.try_get(3)?,
            regions: list(r.try_get(4)?, "users.regions")?,
            markets: list(r.try_get(8)?, "users.markets")?,
            created_at: r.try_get(5)?,
        },
        password_hash: r.try_get(6)?,
        locked_until: r.try_get(7)?,
    })
}

/// One account by a fixed `where_clause` of this file over `$1`.
fn query_user(
    c: &mut impl GenericClient,
    where_clause: &str,
    key: &str,
) -> Result<Option<UserCredentials>, StoreError> {
    let sql = format!("SELECT {USER_COLS} FROM users WHERE {where_clause}");
    c.query_opt(&sql, &[&key])?
        .as_ref()
        .map(user_row)
        .transpose()
}

const MARKET_COLS: &str = "id, name, region_code, address, created_at";

fn market_row(r: &Row) -> Result<Market, StoreError> {
    Ok(Market {
        id: r.try_get(0)?,
        name: r.try_get(1)?,
        region_code: r.try_get(2)?,
        address: r.try_get(3)?,
        created_at: r.try_get(4)?,
    })
}

const MERCHANT_COLS: &str =
    "id, market_id, name, uscc, uscc_acknowledged, licence_no, licence_expiry, business_type, \
     categories, stall, contact, region_code, shop_code, created_at";

fn merchant_row(r: &Row) -> Result<Merchant, StoreError> {
    Ok(Merchant {
        id: r.try_get(0)?,
        market_id: r.try_get(1)?,
        name: r.try_get(2)?,
        uscc: r.try_get(3)?,
        uscc_acknowledged: r.try_get(4)?,
        licence_no: r.try_get(5)?,
        licence_expiry: r.try_get::<_, Option<NaiveDate>>(6)?,
        business_type: r.try_get(7)?,
        categories: list(r.try_get(8)?, "merchants.categories")?,
        stall: r.try_get(9)?,
        contact: r.try_get(10)?,
        region_code: r.try_get(11)?,
        shop_code: r.try_get(12)?,
        created_at: r.try_get(13)?,
    })
}

/// One merchant by a fixed `where_clause` of this file over `$1`.
fn query_merchant(
    c: &mut impl GenericClient,
    where_clause: &str,
    key: &str,
) -> Result<Option<Merchant>, StoreError> {
    let sql = format!("SELECT {MERCHANT_COLS} FROM merchants WHERE {where_clause}");
    c.query_opt(&sql, &[&key])?
        .as_ref()
        .map(merchant_row)
        .transpose()
}

// ---------------------------------------------------------------------------
// Accounts
// ---------------------------------------------------------------------------

/// `Store::create_user`: `Conflict("username_taken")` for a name taken
/// case-insensitively (ASCII), `NotFound("商户")` for an unknown merchant.
pub(super) fn create_user(c: &mut Client, u: NewUser) -> Result<User, StoreError> {
    let user = User {
        id: uuid::Uuid::now_v7().to_string(),
        username: u.username,
        role: u.role,
        merchant_id: u.merchant_id,
        regions: u.regions,
        markets: u.markets,
        created_at: now(),
    };
    let r = c.execute(
        "INSERT INTO users (id, username, password_hash, role, merchant_id, regions, created_at, markets) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        &[
            &user.id,
            &user.username,
            &u.password_hash,
            &user.role.as_str(),
            &user.merchant_id,
            &Value::from(user.regions.clone()),
            &user.created_at,
            &Value::from(user.markets.clone()),
        ],
    );
    match r.map_err(PgError::from) {
        Ok(_) => Ok(user),
        // `username` is the one unique index besides the fresh id.
        Err(PgError::Unique { .. }) => Err(StoreError::conflict(
            "username_taken",
            format!("用户名 {} 已存在 (username taken)", user.username),
        )),
        Err(PgError::ForeignKey { .. }) => Err(StoreError::NotFound("商户")),
        Err(e) => Err(e.into()),
    }
}

/// `Store::user`.
pub(super) fn user(c: &mut Client, id: String) -> Result<Option<User>, StoreError> {
    Ok(query_user(c, "id = $1", &id)?.map(|c| c.user))
}

/// `Store::user_credentials`: by username, case-insensitively as SQLite's
/// NOCASE column (and through the same expression as the unique index).
pub(super) fn user_credentials(
    c: &mut Client,
    username: String,
) -> Result<Option<UserCredentials>, StoreError> {
    query_user(
        c,
        r#"lower(username COLLATE "C") = lower($1 COLLATE "C")"#,
        &username,
    )
}

/// `Store::begin_login_attempt`: the account's row is locked (`FOR UPDATE`)
/// from the read to the commit, so parallel attempts count one after
/// another, as SQLite's IMMEDIATE transaction makes them. An unknown
/// account is a backend error, as on SQLite (no row).
pub(super) fn begin_login_attempt(
    c: &mut Client,
    user_id: String,
    now: DateTime<Utc>,
    max_failures: u32,
    lock_for: chrono::Duration,
) -> Result<LoginAttempt, StoreError> {
    let mut tx = c.transaction()?;
    let row = tx.query_one(
        "SELECT failed_logins, locked_until FROM users WHERE id = $1 FOR UPDATE",
        &[&user_id],
    )?;
    let failed: i32 = row.try_get(0)?;
    let locked: Option<DateTime<Utc>> = row.try_get(1)?;
    if let Some(until) = locked.filter(|u| *u > now) {
        return Ok(LoginAttempt::Locked { until });
    }
    let failed = u32::try_from(failed)
        .map_err(|_| StoreError::Corrupt(format!("users.failed_logins {failed}")))?;
    // An expired lock starts a new count.
    let attempt = if locked.is_some() {
        1
    } else {
        failed.saturating_add(1)
    };
    let locked_until = (attempt >= max_failures).then(|| now + lock_for);
    // The count stops growing at the column's maximum (never reached: the
    // lock comes first).
    let stored = i32::try_from(attempt).unwrap_or(i32::MAX);
    tx.execute(
        "UPDATE users SET failed_logins = $2, locked_until = $3 WHERE id = $1",
        &[&user_id, &stored, &locked_until.as_ref().map(ms)],
    )?;
    tx.commit()?;
    Ok(LoginAttempt::Check {
        attempt,
        locked_until,
    })
}

/// `Store::record_login_success`: writes only when there is something to
/// clear.
pub(super) fn record_login_success(c: &mut Client, user_id: String) -> Result<(), StoreError> {
    c.execute(
        "UPDATE users SET failed_logins = 0, locked_until = NULL \
         WHERE id = $1 AND (failed_logins <> 0 OR locked_until IS NOT NULL)",
        &[&user_id],
    )?;
    Ok(())
}

// ---------------------------------------------------------------------------
// Devices
// ---------------------------------------------------------------------------

/// `Store::create_device`: `NotFound("用户")` for an unknown user,
/// `Conflict("duplicate_device")` for a taken id.
pub(super) fn create_device(c: &mut Client, d: Device) -> Result<Device, StoreError> {
    c.execute(
        "INSERT INTO devices (id, user_id, name, created_at, last_seen) VALUES ($1, $2, $3, $4, $5)",
        &[
            &d.id,
            &d.user_id,
            &d.name,
            &ms(&d.created_at),
            &d.last_seen.as_ref().map(ms),
        ],
    )
    .map_err(|e| match PgError::from(e) {
        PgError::ForeignKey { .. } => StoreError::NotFound("用户"),
        PgError::Unique { .. } => {
            StoreError::conflict("duplicate_device", "设备已登记 (device exists)")
        }
        e => e.into(),
    })?;
    Ok(d)
}

/// `Store::device`.
pub(super) fn device(c: &mut Client, id: String) -> Result<Option<Device>, StoreError> {
    let row = c.query_opt(
        "SELECT id, user_id, name, created_at, last_seen FROM devices WHERE id = $1",
        &[&id],
    )?;
    row.map(|r| {
        Ok(Device {
            id: r.try_get(0)?,
            user_id: r.try_get(1)?,
            name: r.try_get(2)?,
            created_at: r.try_get(3)?,
            last_seen: r.try_get(4)?,
        })
    })
    .transpose()
}

/// `Store::touch_device`: an unknown device is no error (as on SQLite).
pub(super) fn touch_device(
    c: &mut Client,
    id: String,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    c.execute(
        "UPDATE devices SET last_seen = $2 WHERE id = $1",
        &[&id, &ms(&at)],
    )?;
    Ok(())
}

// ---------------------------------------------------------------------------
// Idempotency keys
// ---------------------------------------------------------------------------

/// How long a key's response is kept for retries (Stripe keeps a day).
/// Older keys are dropped when a new key is written.
const IDEMPOTENCY_TTL: chrono::Duration = chrono::Duration::hours(24);

/// Runs `create` under an idempotency key in one transaction, as SQLite's
/// `once`: a key already used answers its stored response (or
/// `IdempotencyKeyReused` for another request) and creates nothing;
/// otherwise the record is created and the response stored beside it.
///
/// SQLite's single writer queues two retries at once; here the key's row
/// is claimed first (`ON CONFLICT DO NOTHING`), so a second transaction
/// with the same key waits on the first's uncommitted row, then finds it
/// committed and replays it — or, if the first rolled back, claims it.
fn once<T: serde::Serialize>(
    c: &mut Client,
    key: &IdempotencyKey,
    status: u16,
    create: impl FnOnce(&mut Transaction<'_>) -> Result<T, StoreError>,
) -> Result<Created<T>, StoreError> {
    let mut tx = c.transaction()?;
    let now = now();
    tx.execute(
        "DELETE FROM idempotency_keys WHERE created_at < $1",
        &[&(now - IDEMPOTENCY_TTL)],
    )?;
    let claimed = tx.execute(
        "INSERT INTO idempotency_keys (account, key, operation, fingerprint, status, response, created_at) \
         VALUES ($1, $2, $3, $4, $5, 'null'::json, $6) ON CONFLICT (account, key) DO NOTHING",
        &[
            &key.account,
            &key.key,
            &key.operation,
            &key.fingerprint,
            &i32::from(status),
            &now,
        ],
    )?;
    if claimed == 0 {
        let stored = tx.query_opt(
            "SELECT operation, fingerprint, status, response::text FROM idempotency_keys \
             WHERE account = $1 AND key = $2",
            &[&key.account, &key.key],
        )?;
        // Gone again between the two statements (expired and deleted by
        // another create): the client's retry will claim it.
        let Some(r) = stored else {
            return Err(StoreError::Busy);
        };
        let operation: String = r.try_get(0)?;
        let fingerprint: String = r.try_get(1)?;
        if operation != key.operation || fingerprint != key.fingerprint {
            return Err(StoreError::IdempotencyKeyReused);
        }
        let status: i32 = r.try_get(2)?;
        let status = u16::try_from(status)
            .map_err(|_| StoreError::Corrupt(format!("idempotency_keys.status {status}")))?;
        let body: String = r.try_get(3)?;
        tx.commit()?;
        return Ok(Created::Replayed(StoredResponse { status, body }));
    }
    let made = create(&mut tx)?;
    // Serialising these plain records cannot fail; if it ever did, nothing
    // is stored (the transaction rolls back).
    let body = serde_json::to_string(&made).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    tx.execute(
        "UPDATE idempotency_keys SET response = $3::text::json WHERE account = $1 AND key = $2",
        &[&key.account, &key.key, &body],
    )?;
    tx.commit()?;
    Ok(Created::New(made))
}

// ---------------------------------------------------------------------------
// Markets
// ---------------------------------------------------------------------------

/// `Conflict("duplicate_market")` for a taken id.
fn insert_market(c: &mut impl GenericClient, m: &Market) -> Result<(), StoreError> {
    c.execute(
        "INSERT INTO markets (id, name, region_code, address, created_at) VALUES ($1, $2, $3, $4, $5)",
        &[&m.id, &m.name, &m.region_code, &m.address, &ms(&m.created_at)],
    )
    .map_err(|e| match PgError::from(e) {
        PgError::Unique { .. } => {
            StoreError::conflict("duplicate_market", "市场已登记 (market id exists)")
        }
        e => e.into(),
    })?;
    Ok(())
}

/// `Store::create_market`.
pub(super) fn create_market(c: &mut Client, m: Market) -> Result<Market, StoreError> {
    insert_market(c, &m)?;
    Ok(m)
}

/// `Store::create_market_idempotent`.
pub(super) fn create_market_idempotent(
    c: &mut Client,
    m: Market,
    key: IdempotencyKey,
) -> Result<Created<Market>, StoreError> {
    once(c, &key, 201, |tx| {
        insert_market(tx, &m)?;
        Ok(m)
    })
}

/// `Store::market`.
pub(super) fn market(c: &mut Client, id: String) -> Result<Option<Market>, StoreError> {
    let sql = format!("SELECT {MARKET_COLS} FROM markets WHERE id = $1");
    c.query_opt(&sql, &[&id])?
        .as_ref()
        .map(market_row)
        .transpose()
}

/// `Store::list_markets`: by id, with the total.
pub(super) fn list_markets(
    c: &mut Client,
    limit: u32,
    offset: u32,
) -> Result<Page<Market>, StoreError> {
    let total: i64 = c
        .query_one("SELECT count(*) FROM markets", &[])?
        .try_get(0)?;
    let sql =
        format!(r#"SELECT {MARKET_COLS} FROM markets ORDER BY id COLLATE "C" LIMIT $1 OFFSET $2"#);
    let items = c
        .query(&sql, &[&i64::from(limit), &i64::from(offset)])?
        .iter()
        .map(market_row)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Page {
        items,
        total: count(total),
        limit,
        offset,
    })
}

/// A `count(*)`, never negative.
fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

// ---------------------------------------------------------------------------
// Merchants
// ---------------------------------------------------------------------------

/// Does a merchant have `column = value`? (`column` is a fixed name of
/// this file, never input.)
fn taken(c: &mut impl GenericClient, column: &str, value: &str) -> Result<bool, StoreError> {
    let sql = format!("SELECT EXISTS (SELECT 1 FROM merchants WHERE {column} = $1)");
    Ok(c.query_one(&sql, &[&value])?.try_get(0)?)
}

/// Names the conflict of a merchant insert that a unique index refused,
/// as SQLite's `merchant_conflict` does and in its order: the licence,
/// then the shop code, then the id, looked up in the caller's transaction.
fn merchant_conflict(c: &mut impl GenericClient, m: &Merchant) -> Result<StoreError, StoreError> {
    if let Some(licence) = m.licence_no.as_deref() {
        if taken(c, "licence_no", licence)? {
            return Ok(StoreError::conflict(
                "duplicate_licence",
                format!("许可证号 {licence} 已登记 (licence already registered)"),
            ));
        }
    }
    if taken(c, "shop_code", &m.shop_code)? {
        return Ok(StoreError::conflict(
            "duplicate_shop_code",
            "店码冲突，请重试 (shop code collision, retry)",
        ));
    }
    if taken(c, "id", &m.id)? {
        return Ok(StoreError::conflict(
            "duplicate_merchant",
            "商户已登记 (merchant id exists)",
        ));
    }
    // The row that collided is gone again (a concurrent rollback).
    Ok(StoreError::conflict(
        "unique_violation",
        format!("merchants: merchant {} collided", m.id),
    ))
}

/// Writes (or rewrites) a merchant's directory row — its name and card for
/// traces — at a new `seq` of the changes sequencer, so each instance's
/// read model follows the names in commit order. Call it with the merchant
/// and again whenever its name changes, inside the changing transaction.
pub(super) fn write_directory(
    c: &mut impl GenericClient,
    merchant_id: &str,
    name: &str,
    card: &Value,
) -> Result<i64, StoreError> {
    let seq = take_seq(c, 1)?;
    c.execute(
        "INSERT INTO directory (merchant_id, name, payload, seq) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (merchant_id) DO UPDATE SET name = EXCLUDED.name, payload = EXCLUDED.payload, seq = EXCLUDED.seq",
        &[&merchant_id, &name, card, &seq],
    )?;
    Ok(seq)
}

/// Registers one merchant: its row, its directory entry and its two sync
/// changes (its district's and its own), as SQLite's `insert_merchant`.
/// The caller runs it inside a transaction, so that a failure between the
/// writes leaves nothing. `Conflict` on a taken licence, shop code or id,
/// `NotFound("市场")` on an unknown market.
///
/// `ON CONFLICT DO NOTHING` (any unique index) rather than catching the
/// violation: the transaction stays usable for the lookup that names the
/// conflict.
pub(super) fn insert_merchant(c: &mut impl GenericClient, m: &Merchant) -> Result<(), StoreError> {
    let inserted = c
        .execute(
            "INSERT INTO merchants (id, market_id, name, uscc, uscc_acknowledged, licence_no, licence_expiry, \
             business_type, categories, stall, contact, region_code, shop_code, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) ON CONFLICT DO NOTHING",
            &[
                &m.id,
                &m.market_id,
                &m.name,
                &m.uscc,
                &m.uscc_acknowledged,
                &m.licence_no,
                &m.licence_expiry,
                &m.business_type,
                &Value::from(m.categories.clone()),
                &m.stall,
                &m.contact,
                &m.region_code,
                &m.shop_code,
                &ms(&m.created_at),
            ],
        )
        .map_err(|e| match PgError::from(e) {
            PgError::ForeignKey { .. } => StoreError::NotFound("市场"),
            e => e.into(),
        })?;
    if inserted == 0 {
        return Err(merchant_conflict(c, m)?);
    }
    // The merchant reaches the devices of its district and itself by sync,
    // and its name labels traces.
    let card = serde_json::json!({
        "id": m.id, "name": m.name, "region_code": m.region_code, "market_id": m.market_id,
        "licence_no": m.licence_no, "licence_expiry": m.licence_expiry, "stall": m.stall,
        "categories": m.categories, "shop_code": m.shop_code,
    });
    write_directory(c, &m.id, &m.name, &card)?;
    publish(
        c,
        "merchant",
        Audience {
            region_code: Some(&m.region_code),
            ..Audience::default()
        },
        &card,
    )?;
    publish(
        c,
        "merchant",
        Audience {
            merchant_id: Some(&m.id),
            ..Audience::default()
        },
        &card,
    )?;
    Ok(())
}

/// `Store::create_merchant`: the merchant, its directory row and its
/// changes in one transaction.
pub(super) fn create_merchant(c: &mut Client, m: Merchant) -> Result<Merchant, StoreError> {
    let mut tx = c.transaction()?;
    insert_merchant(&mut tx, &m)?;
    tx.commit()?;
    Ok(m)
}

/// `Store::create_merchant_idempotent`.
pub(super) fn create_merchant_idempotent(
    c: &mut Client,
    m: Merchant,
    key: IdempotencyKey,
) -> Result<Created<Merchant>, StoreError> {
    once(c, &key, 201, |tx| {
        insert_merchant(tx, &m)?;
        Ok(m)
    })
}

/// `Store::merchant`.
pub(super) fn merchant(c: &mut Client, id: String) -> Result<Option<Merchant>, StoreError> {
    query_merchant(c, "id = $1", &id)
}

/// `Store::merchant_by_shop_code`.
pub(super) fn merchant_by_shop_code(
    c: &mut Client,
    shop_code: String,
) -> Result<Option<Merchant>, StoreError> {
    query_merchant(c, "shop_code = $1", &shop_code)
}

/// `Store::list_merchants`: filtered by market, region (a province or city
/// code covers its districts) and a search term (a substring of the name or
/// stall, ASCII case-insensitive as SQLite's `LIKE`, or an exact USCC or
/// licence number); by id, with the total matching.
pub(super) fn list_merchants(
    c: &mut Client,
    f: MerchantFilter,
) -> Result<Page<Merchant>, StoreError> {
    // Only fixed clauses are concatenated; every value is bound.
    let mut clauses: Vec<String> = Vec::new();
    let mut values: Vec<String> = Vec::new();
    if let Some(market) = &f.market_id {
        values.push(market.clone());
        clauses.push(format!("market_id = ${}", values.len()));
    }
    if let Some(region) = &f.region {
        values.push(format!("{}%", region_prefix(region)));
        clauses.push(format!("region_code LIKE ${}", values.len()));
    }
    if let Some(q) = f.q.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
        values.push(like_substring(q));
        let like = values.len();
        values.push(crate::validate::normalize(q));
        let exact = values.len();
        clauses.push(format!(
            r#"(lower(name COLLATE "C") LIKE lower(${like} COLLATE "C") OR lower(stall COLLATE "C") LIKE lower(${like} COLLATE "C") OR uscc = ${exact} OR licence_no = ${exact})"#
        ));
    }
    let where_sql = if clauses.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", clauses.join(" AND "))
    };
    let mut params: Vec<&(dyn ToSql + Sync)> =
        values.iter().map(|v| v as &(dyn ToSql + Sync)).collect();
    let total: i64 = c
        .query_one(
            &format!("SELECT count(*) FROM merchants{where_sql}"),
            &params,
        )?
        .try_get(0)?;
    let (limit, offset) = (i64::from(f.limit), i64::from(f.offset));
    params.extend([&limit as &(dyn ToSql + Sync), &offset]);
    let sql = format!(
        r#"SELECT {MERCHANT_COLS} FROM merchants{where_sql} ORDER BY id COLLATE "C" LIMIT ${} OFFSET ${}"#,
        values.len() + 1,
        values.len() + 2
    );
    let items = c
        .query(&sql, &params)?
        .iter()
        .map(merchant_row)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Page {
        items,
        total: count(total),
        limit: f.limit,
        offset: f.offset,
    })
}

/// `Store::existing_licences`: the given numbers that are registered, in
/// the order given (a number given twice comes back twice, as on SQLite).
pub(super) fn existing_licences(
    c: &mut Client,
    licences: Vec<String>,
) -> Result<Vec<String>, StoreError> {
    let found: std::collections::HashSet<String> = c
        .query(
            "SELECT licence_no FROM merchants WHERE licence_no = ANY($1)",
            &[&licences],
        )?
        .iter()
        .map(|r| r.try_get(0))
        .collect::<Result<_, _>>()?;
    Ok(licences.into_iter().filter(|l| found.contains(l)).collect())
}

/// `Store::import_merchants`: all in one transaction, or none.
pub(super) fn import_merchants(
    c: &mut Client,
    merchants: Vec<Merchant>,
) -> Result<usize, StoreError> {
    let mut tx = c.transaction()?;
    for m in &merchants {
        insert_merchant(&mut tx, m)?;
    }
    tx.commit()?;
    Ok(merchants.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::postgres::testing::fresh;

    fn new_market(id: &str, region: &str) -> Market {
        Market {
            id: id.into(),
            name: format!("市场 {id}"),
            region_code: region.into(),
            address: Some("思明区".into()),
            created_at: now(),
        }
    }

    fn new_merchant(
        id: &str,
        market: Option<&str>,
        region: &str,
        licence: Option<&str>,
    ) -> Merchant {
        Merchant {
            id: id.into(),
            market_id: market.map(Into::into),
            name: format!("Shop {id}"),
            uscc: format!("USCC{}", id.to_uppercase()),
            uscc_acknowledged: false,
            licence_no: licence.map(Into::into),
            licence_expiry: NaiveDate::from_ymd_opt(2027, 6, 30),
            business_type: Some("retail".into()),
            categories: vec!["aquatic".into(), "frozen".into()],
            stall: Some(format!("A-{id}")),
            contact: None,
            region_code: region.into(),
            shop_code: format!("code-{id}"),
            created_at: now(),
        }
    }

    fn new_user(name: &str, role: Role, merchant: Option<&str>) -> NewUser {
        NewUser {
            username: name.into(),
            password_hash: "$argon2id$x".into(),
            role,
            merchant_id: merchant.map(Into::into),
            regions: vec!["350200".into()],
            markets: vec![],
        }
    }

    fn key(k: &str, fingerprint: &str) -> IdempotencyKey {
        IdempotencyKey {
            account: "admin-1".into(),
            key: k.into(),
            operation: "POST /v1/merchants".into(),
            fingerprint: fingerprint.into(),
        }
    }

    fn conflict_code(r: Result<impl std::fmt::Debug, StoreError>) -> String {
        match r {
            Err(StoreError::Conflict { code, .. }) => code,
            other => panic!("expected a conflict, got {other:?}"),
        }
    }

    fn changes(c: &mut Client) -> i64 {
        c.query_one("SELECT count(*) FROM changes", &[])
            .unwrap()
            .get(0)
    }

    #[test]
    fn accounts_are_created_and_found_case_insensitively() {
        let Some(db) = fresh() else { return };
        let mut c = db.store.pool().get().unwrap();
        create_market(&mut c, new_market("m1", "350203")).unwrap();
        create_merchant(&mut c, new_merchant("s1", Some("m1"), "350203", None)).unwrap();

        let u = create_user(&mut c, new_user("Alice", Role::Merchant, Some("s1"))).unwrap();
        assert_eq!(user(&mut c, u.id.clone()).unwrap(), Some(u.clone()));
        let creds = user_credentials(&mut c, "aLICE".into()).unwrap().unwrap();
        assert_eq!(creds.user, u);
        assert_eq!(creds.password_hash, "$argon2id$x");
        assert_eq!(creds.locked_until, None);
        assert!(user_credentials(&mut c, "bob".into()).unwrap().is_none());
        assert!(user(&mut c, "nobody".into()).unwrap().is_none());

        // NOCASE folds ASCII only: "ÄLICE" is another name than "älice".
        let taken = create_user(&mut c, new_user("ALICE", Role::Admin, None));
        assert_eq!(conflict_code(taken), "username_taken");
        create_user(&mut c, new_user("älice", Role::Admin, None)).unwrap();
        create_user(&mut c, new_user("ÄLICE", Role::Admin, None)).unwrap();

        let unknown = create_user(&mut c, new_user("carol", Role::Merchant, Some("nope")));
        assert!(
            matches!(unknown, Err(StoreError::NotFound("商户"))),
            "{unknown:?}"
        );
    }

    #[test]
    fn login_attempts_count_lock_and_clear() {
        let Some(db) = fresh() else { return };
        let mut c = db.store.pool().get().unwrap();
        let u = create_user(&mut c, new_user("dave", Role::Admin, None)).unwrap();
        let t0 = now();
        let lock = chrono::Duration::minutes(15);
        let attempt =
            |c: &mut Client, at| begin_login_attempt(c, u.id.clone(), at, 3, lock).unwrap();

        for n in 1..=2 {
            let a = attempt(&mut c, t0);
            assert_eq!(
                a,
                LoginAttempt::Check {
                    attempt: n,
                    locked_until: None
                }
            );
        }
        let third = attempt(&mut c, t0);
        assert_eq!(
            third,
            LoginAttempt::Check {
                attempt: 3,
                locked_until: Some(t0 + lock)
            }
        );
        assert_eq!(
            attempt(&mut c, t0),
            LoginAttempt::Locked { until: t0 + lock }
        );
        let creds = user_credentials(&mut c, "dave".into()).unwrap().unwrap();
        assert_eq!(creds.locked_until, Some(t0 + lock));

        // An expired lock starts a new count.
        let later = t0 + lock + chrono::Duration::seconds(1);
        assert_eq!(
            attempt(&mut c, later),
            LoginAttempt::Check {
                attempt: 1,
                locked_until: None
            }
        );
        assert_eq!(
            attempt(&mut c, later),
            LoginAttempt::Check {
                attempt: 2,
                locked_until: None
            }
        );
        record_login_success(&mut c, u.id.clone()).unwrap();
        assert_eq!(
            attempt(&mut c, later),
            LoginAttempt::Check {
                attempt: 1,
                locked_until: None
            }
        );

        // A success also lifts a lock.
        attempt(&mut c, later);
        attempt(&mut c, later);
        record_login_success(&mut c, u.id.clone()).unwrap();
        let creds = user_credentials(&mut c, "dave".into()).unwrap().unwrap();
        assert_eq!(creds.locked_until, None);

        let unknown = begin_login_attempt(&mut c, "nobody".into(), t0, 3, lock);
        assert!(
            matches!(unknown, Err(StoreError::Backend(_))),
            "{unknown:?}"
        );
    }

    /// However many attempts arrive at once, at most `max_failures` are let
    /// through to the password check.
    #[test]
    fn parallel_attempts_check_at_most_the_lockout_count() {
        let Some(db) = fresh() else { return };
        let mut c = db.store.pool().get().unwrap();
        let u = create_user(&mut c, new_user("eve", Role::Admin, None)).unwrap();
        drop(c);
        let t0 = now();
        let results: Vec<LoginAttempt> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| {
                    let (pool, id) = (db.store.pool(), u.id.clone());
                    s.spawn(move || {
                        let mut c = pool.get().unwrap();
                        begin_login_attempt(&mut c, id, t0, 3, chrono::Duration::minutes(5))
                            .unwrap()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let checked = results
            .iter()
            .filter(|a| matches!(a, LoginAttempt::Check { .. }))
            .count();
        assert_eq!(checked, 3, "{results:?}");
    }

    #[test]
    fn devices_are_registered_read_and_touched() {
        let Some(db) = fresh() else { return };
        let mut c = db.store.pool().get().unwrap();
        let u = create_user(&mut c, new_user("frank", Role::Inspector, None)).unwrap();
        let d = Device {
            id: "dev-1".into(),
            user_id: u.id.clone(),
            name: "tablet".into(),
            created_at: now(),
            last_seen: None,
        };
        assert_eq!(create_device(&mut c, d.clone()).unwrap(), d);
        assert_eq!(device(&mut c, "dev-1".into()).unwrap(), Some(d.clone()));
        assert!(device(&mut c, "dev-2".into()).unwrap().is_none());
        assert_eq!(
            conflict_code(create_device(&mut c, d.clone())),
            "duplicate_device"
        );
        let orphan = create_device(
            &mut c,
            Device {
                id: "dev-3".into(),
                user_id: "nobody".into(),
                ..d.clone()
            },
        );
        assert!(
            matches!(orphan, Err(StoreError::NotFound("用户"))),
            "{orphan:?}"
        );

        let at = now() + chrono::Duration::seconds(5);
        touch_device(&mut c, "dev-1".into(), at).unwrap();
        touch_device(&mut c, "unknown".into(), at).unwrap();
        let seen = device(&mut c, "dev-1".into()).unwrap().unwrap();
        assert_eq!(seen.last_seen, Some(at));
    }

    #[test]
    fn markets_are_created_once_and_listed_by_id_in_pages() {
        let Some(db) = fresh() else { return };
        let mut c = db.store.pool().get().unwrap();
        // "B" sorts before "a" in SQLite's binary order, not in a locale's.
        for id in ["m3", "a1", "B2"] {
            create_market(&mut c, new_market(id, "350203")).unwrap();
        }
        let m = market(&mut c, "a1".into()).unwrap().unwrap();
        let built = Market {
            created_at: m.created_at,
            ..new_market("a1", "350203")
        };
        assert_eq!(m, built);
        assert!(market(&mut c, "zz".into()).unwrap().is_none());
        let dup = create_market(&mut c, new_market("a1", "350203"));
        assert_eq!(conflict_code(dup), "duplicate_market");

        let page = list_markets(&mut c, 2, 0).unwrap();
        let ids: Vec<_> = page.items.iter().map(|m| m.id.as_str()).collect();
        assert_eq!(
            (ids, page.total, page.limit, page.offset),
            (vec!["B2", "a1"], 3, 2, 0)
        );
        let rest = list_markets(&mut c, 2, 2).unwrap();
        let ids: Vec<_> = rest.items.iter().map(|m| m.id.as_str()).collect();
        assert_eq!((ids, rest.total), (vec!["m3"], 3));
    }

    #[test]
    fn a_merchant_comes_with_its_directory_row_and_changes() {
        let Some(db) = fresh() else { return };
        let mut c = db.store.pool().get().unwrap();
        create_market(&mut c, new_market("m1", "350203")).unwrap();
        let m = new_merchant("s1", Some("m1"), "350203", Some("JY1"));
        assert_eq!(create_merchant(&mut c, m.clone()).unwrap(), m);
        assert_eq!(merchant(&mut c, "s1".into()).unwrap(), Some(m.clone()));
        assert_eq!(
            merchant_by_shop_code(&mut c, "code-s1".into()).unwrap(),
            Some(m.clone())
        );
        assert!(merchant_by_shop_code(&mut c, "code-s2".into())
            .unwrap()
            .is_none());

        let card = c
            .query_one(
                "SELECT name, payload, seq FROM directory WHERE merchant_id = 's1'",
                &[],
            )
            .unwrap();
        assert_eq!(card.get::<_, String>(0), "Shop s1");
        let payload: Value = card.get(1);
        assert_eq!(payload["shop_code"], "code-s1");
        assert_eq!(payload["licence_expiry"], "2027-06-30");
        let rows = c
            .query(
                "SELECT kind, merchant_id, region_code, payload, seq FROM changes WHERE kind = 'merchant' ORDER BY seq",
                &[],
            )
            .unwrap();
        let to: Vec<(String, Option<String>, Option<String>)> = rows
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect();
        assert_eq!(
            to,
            vec![
                ("merchant".into(), None, Some("350203".into())),
                ("merchant".into(), Some("s1".into()), None),
            ]
        );
        assert!(rows.iter().all(|r| r.get::<_, Value>(3) == payload));
        let seqs: Vec<i64> = rows.iter().map(|r| r.get(4)).collect();
        assert!(
            seqs.iter().all(|s| *s != card.get::<_, i64>(2)),
            "one sequencer, distinct numbers"
        );

        // A rename writes the row again at a new seq.
        let seq = write_directory(&mut *c, "s1", "New name", &payload).unwrap();
        let row = c
            .query_one(
                "SELECT name, seq FROM directory WHERE merchant_id = 's1'",
                &[],
            )
            .unwrap();
        assert_eq!(
            (row.get::<_, String>(0), row.get::<_, i64>(1)),
            ("New name".into(), seq)
        );
        assert!(seq > seqs[1]);
    }

    #[test]
    fn merchant_conflicts_are_named_and_leave_nothing() {
        let Some(db) = fresh() else { return };
        let mut c = db.store.pool().get().unwrap();
        create_market(&mut c, new_market("m1", "350203")).unwrap();
        create_merchant(
            &mut c,
            new_merchant("s1", Some("m1"), "350203", Some("JY1")),
        )
        .unwrap();
        let before = changes(&mut c);

        // Licence first, then shop code, then id — SQLite's order.
        let mut all_three = new_merchant("s1", Some("m1"), "350203", Some("JY1"));
        assert_eq!(
            conflict_code(create_merchant(&mut c, all_three.clone())),
            "duplicate_licence"
        );
        all_three.licence_no = Some("JY2".into());
        assert_eq!(
            conflict_code(create_merchant(&mut c, all_three.clone())),
            "duplicate_shop_code"
        );
        all_three.shop_code = "fresh".into();
        assert_eq!(
            conflict_code(create_merchant(&mut c, all_three)),
            "duplicate_merchant"
        );

        let lost = create_merchant(&mut c, new_merchant("s2", Some("nope"), "350203", None));
        assert!(
            matches!(lost, Err(StoreError::NotFound("市场"))),
            "{lost:?}"
        );
        assert!(merchant(&mut c, "s2".into()).unwrap().is_none());
        assert_eq!(
            changes(&mut c),
            before,
            "no change published by a refused merchant"
        );
        let n: i64 = c
            .query_one("SELECT count(*) FROM directory", &[])
            .unwrap()
            .get(0);
        assert_eq!(n, 1);
    }

    #[test]
    fn merchants_are_filtered_searched_and_paged() {
        let Some(db) = fresh() else { return };
        let mut c = db.store.pool().get().unwrap();
        create_market(&mut c, new_market("m1", "350203")).unwrap();
        create_market(&mut c, new_market("m2", "350102")).unwrap();
        let mut a = new_merchant("a", Some("m1"), "350203", Some("JY100"));
        a.name = "Fresh Fish 100%".into();
        let mut b = new_merchant("b", Some("m2"), "350102", None);
        b.name = "fresh fruit".into();
        let mut z = new_merchant("Z", None, "440305", None);
        z.name = "Ocean".into();
        z.stall = Some("FRESH-9".into());
        import_merchants(&mut c, vec![a, b, z]).unwrap();

        let ids = |c: &mut Client, f: MerchantFilter| {
            let p = list_merchants(c, f).unwrap();
            (
                p.items.into_iter().map(|m| m.id).collect::<Vec<_>>(),
                p.total,
            )
        };
        let all = MerchantFilter {
            limit: 50,
            ..Default::default()
        };
        assert_eq!(
            ids(&mut c, all.clone()),
            (vec!["Z".into(), "a".into(), "b".into()], 3)
        );
        let page = MerchantFilter {
            limit: 1,
            offset: 1,
            ..all.clone()
        };
        assert_eq!(ids(&mut c, page), (vec!["a".into()], 3));
        let by_market = MerchantFilter {
            market_id: Some("m2".into()),
            ..all.clone()
        };
        assert_eq!(ids(&mut c, by_market), (vec!["b".into()], 1));
        let province = MerchantFilter {
            region: Some("350000".into()),
            ..all.clone()
        };
        assert_eq!(ids(&mut c, province).1, 2);
        let city = MerchantFilter {
            region: Some("350200".into()),
            ..all.clone()
        };
        assert_eq!(ids(&mut c, city), (vec!["a".into()], 1));
        let q = |q: &str| MerchantFilter {
            q: Some(q.into()),
            ..all.clone()
        };
        // ASCII case folds, in the name and the stall.
        assert_eq!(ids(&mut c, q(" FRESH ")).1, 3);
        assert_eq!(ids(&mut c, q("fish")), (vec!["a".into()], 1));
        assert_eq!(
            ids(&mut c, q("%")),
            (vec!["a".into()], 1),
            "a literal percent"
        );
        assert_eq!(
            ids(&mut c, q("jy100")),
            (vec!["a".into()], 1),
            "exact licence"
        );
        assert_eq!(ids(&mut c, q("usccb")), (vec!["b".into()], 1), "exact USCC");
        assert_eq!(ids(&mut c, q("   ")).1, 3, "a blank term is no filter");
        let both = MerchantFilter {
            q: Some("fresh".into()),
            market_id: Some("m1".into()),
            ..all
        };
        assert_eq!(ids(&mut c, both), (vec!["a".into()], 1));
    }

    #[test]
    fn licences_are_looked_up_and_imports_are_all_or_nothing() {
        let Some(db) = fresh() else { return };
        let mut c = db.store.pool().get().unwrap();
        let ok = vec![
            new_merchant("a", None, "350203", Some("JY1")),
            new_merchant("b", None, "350203", Some("JY2")),
        ];
        assert_eq!(import_merchants(&mut c, ok).unwrap(), 2);
        let found = existing_licences(
            &mut c,
            vec!["JY2".into(), "JY9".into(), "JY1".into(), "JY2".into()],
        );
        assert_eq!(found.unwrap(), vec!["JY2", "JY1", "JY2"]);
        assert!(existing_licences(&mut c, vec![]).unwrap().is_empty());

        let before = changes(&mut c);
        let twice = vec![
            new_merchant("c", None, "350203", Some("JY3")),
            new_merchant("d", None, "350203", Some("JY3")),
        ];
        assert_eq!(
            conflict_code(import_merchants(&mut c, twice)),
            "duplicate_licence"
        );
        assert!(
            merchant(&mut c, "c".into()).unwrap().is_none(),
            "none of the import stored"
        );
        assert_eq!(changes(&mut c), before);
    }

    #[test]
    fn keyed_creates_answer_their_first_result() {
        let Some(db) = fresh() else { return };
        let mut c = db.store.pool().get().unwrap();
        let m = new_merchant("s1", None, "350203", Some("JY1"));
        let Created::New(first) =
            create_merchant_idempotent(&mut c, m.clone(), key("k1", "f1")).unwrap()
        else {
            panic!("the first request creates")
        };
        let again = create_merchant_idempotent(&mut c, m.clone(), key("k1", "f1")).unwrap();
        assert_eq!(
            again,
            Created::Replayed(StoredResponse {
                status: 201,
                body: serde_json::to_string(&first).unwrap(),
            })
        );
        let reused = create_merchant_idempotent(&mut c, m.clone(), key("k1", "f2"));
        assert!(
            matches!(reused, Err(StoreError::IdempotencyKeyReused)),
            "{reused:?}"
        );

        // A refused create keeps no key: the corrected retry creates.
        let dup = new_merchant("s2", None, "350203", Some("JY1"));
        assert_eq!(
            conflict_code(create_merchant_idempotent(&mut c, dup, key("k2", "f1"))),
            "duplicate_licence"
        );
        let fixed = new_merchant("s2", None, "350203", Some("JY2"));
        let made = create_merchant_idempotent(&mut c, fixed, key("k2", "f1")).unwrap();
        assert!(matches!(made, Created::New(_)));

        let mk = new_market("m1", "350203");
        let first = create_market_idempotent(&mut c, mk.clone(), key("k3", "f3")).unwrap();
        assert_eq!(first, Created::New(mk.clone()));
        let again = create_market_idempotent(&mut c, mk.clone(), key("k3", "f3")).unwrap();
        assert!(
            matches!(&again, Created::Replayed(r) if r.body == serde_json::to_string(&mk).unwrap()),
            "{again:?}"
        );

        // Keys older than a day are dropped, and may be used again.
        c.execute(
            "UPDATE idempotency_keys SET created_at = created_at - interval '25 hours'",
            &[],
        )
        .unwrap();
        let mk2 = new_market("m2", "350203");
        assert!(matches!(
            create_market_idempotent(&mut c, mk2, key("k3", "other")).unwrap(),
            Created::New(_)
        ));
    }

    /// Two requests with one key at once: one creates, the other waits for
    /// it and answers its result (SQLite's single writer queues them).
    #[test]
    fn concurrent_keyed_creates_create_once() {
        let Some(db) = fresh() else { return };
        let results: Vec<Created<Merchant>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..4)
                .map(|i| {
                    let pool = db.store.pool();
                    s.spawn(move || {
                        let mut c = pool.get().unwrap();
                        // Each retry is the same request with a fresh id, as
                        // the handler makes one per request.
                        let mut m = new_merchant(&format!("s{i}"), None, "350203", Some("JY1"));
                        m.shop_code = format!("code-{i}");
                        create_merchant_idempotent(&mut c, m, key("k1", "f1")).unwrap()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let new = results
            .iter()
            .filter(|r| matches!(r, Created::New(_)))
            .count();
        assert_eq!(new, 1, "{results:?}");
        let mut c = db.store.pool().get().unwrap();
        let n: i64 = c
            .query_one("SELECT count(*) FROM merchants", &[])
            .unwrap()
            .get(0);
        assert_eq!(n, 1);
    }
}
