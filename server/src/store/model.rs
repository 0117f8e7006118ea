//! Records the store keeps for the server: accounts, devices, markets and
//! merchants. They are plain data, the same whatever the backend; the HTTP
//! layer returns the public ones as they are (hence `ToSchema`).

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// What an account may do. Scope narrows it further: a merchant sees its own
/// records, an inspector its regions, a market operator (市场开办者 and its
/// food-safety officers) its markets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    Analyst,
    Inspector,
    Merchant,
    /// A market's operator or food-safety officer (市场开办者、食品安全员,
    /// seed 001/000): entry checks, self-inspections, holds, for its
    /// markets only.
    MarketOperator,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Admin,
        Role::Analyst,
        Role::Inspector,
        Role::Merchant,
        Role::MarketOperator,
    ];

    /// The stored and wire form.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Analyst => "analyst",
            Role::Inspector => "inspector",
            Role::Merchant => "merchant",
            Role::MarketOperator => "market_operator",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::parse(s).ok_or_else(|| {
            format!("unknown role '{s}' (admin|analyst|inspector|merchant|market_operator)")
        })
    }
}

/// An account, without its secrets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct User {
    pub id: String,
    pub username: String,
    pub role: Role,
    /// Set for merchant accounts: the one merchant they act for.
    pub merchant_id: Option<String>,
    /// GB/T 2260 codes an inspector covers (a province or city code covers
    /// everything under it).
    pub regions: Vec<String>,
    /// Market-operator accounts: the markets they run (one or more).
    pub markets: Vec<String>,
    pub created_at: DateTime<Utc>,
}

/// An account with what login needs to decide.
#[derive(Debug, Clone)]
pub struct UserCredentials {
    pub user: User,
    /// PHC string (argon2id).
    pub password_hash: String,
    /// A lock seen here is refused without a write; the failure count is
    /// read and written only by `Store::begin_login_attempt`, atomically.
    pub locked_until: Option<DateTime<Utc>>,
}

/// A new account; the password is already hashed.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub username: String,
    pub password_hash: String,
    pub role: Role,
    pub merchant_id: Option<String>,
    pub regions: Vec<String>,
    pub markets: Vec<String>,
}

/// What a login attempt may do, decided (and counted) before its password
/// is checked, so parallel guesses cannot all reach the slow check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginAttempt {
    /// Check the password. The attempt is already counted as a failure; a
    /// right password clears the count. `locked_until` is set when this was
    /// the last attempt allowed: the account is locked from now on, and
    /// stays so unless this password is right.
    Check {
        attempt: u32,
        locked_until: Option<DateTime<Utc>>,
    },
    /// The account is locked: refuse without checking.
    Locked { until: DateTime<Utc> },
}

/// A create request sent under an `Idempotency-Key`: a retry with the same
/// key (for the same account, operation and body) answers the stored
/// response instead of creating again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey {
    /// The account that sent it: keys are scoped per account.
    pub account: String,
    /// The header's value.
    pub key: String,
    /// Method and path, `POST /v1/merchants`.
    pub operation: String,
    /// SHA-256 (hex) of the request body as parsed, so a retry that only
    /// reorders keys or spacing is the same request.
    pub fingerprint: String,
}

/// The response stored under an idempotency key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    pub status: u16,
    /// The JSON body as sent the first time.
    pub body: String,
}

/// What a create under an idempotency key did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Created<T> {
    /// Created now (and the response stored under the key).
    New(T),
    /// The key was used before for the same request: its first response.
    Replayed(StoredResponse),
}

/// A phone or tablet registered under a user; sync pushes name it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Device {
    pub id: String,
    pub user_id: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub last_seen: Option<DateTime<Utc>>,
}

/// A market (wholesale, cold storage, farmers' market…).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Market {
    pub id: String,
    pub name: String,
    pub region_code: String,
    pub address: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// A merchant (经营户) as registered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Merchant {
    pub id: String,
    pub market_id: Option<String>,
    pub name: String,
    /// Unified social credit code (统一社会信用代码), canonical form.
    pub uscc: String,
    /// The USCC failed a check character and the registrar acknowledged it.
    pub uscc_acknowledged: bool,
    /// Food business/production licence (`JY…`/`SC…`).
    pub licence_no: Option<String>,
    pub licence_expiry: Option<NaiveDate>,
    pub business_type: Option<String>,
    /// Food category codes (`livestock_meat`, `aquatic`…).
    pub categories: Vec<String>,
    pub stall: Option<String>,
    pub contact: Option<String>,
    pub region_code: String,
    /// Unguessable, URL-safe code of the shop QR (一店一码).
    pub shop_code: String,
    pub created_at: DateTime<Utc>,
}

/// Filters of the merchant list.
#[derive(Debug, Clone, Default)]
pub struct MerchantFilter {
    pub market_id: Option<String>,
    /// GB/T 2260 code; a province or city code matches everything under it.
    pub region: Option<String>,
    /// Substring of the name or stall, or an exact USCC / licence number.
    pub q: Option<String>,
    pub limit: u32,
    pub offset: u32,
}

/// One page of a list, with the total matching count.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: u64,
    pub limit: u32,
    pub offset: u32,
}
