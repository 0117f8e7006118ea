//! Accounts on the wire: login, tokens, the `Auth` extractor, devices.
//!
//! Tokens are HS256 JWTs signed with the secret in `keys/jwt.secret`; they
//! carry the role and the scope (a merchant's id, an inspector's regions), so
//! any server instance can check a request without a database read. Only
//! HS256 is accepted: `alg: none` and every other algorithm are refused.
//! Passwords are hashed with argon2id. Login attempts are counted per
//! account in the database (so the count holds across instances and
//! restarts) before the slow password check, in one transaction: the fifth
//! attempt since the last success locks the account for a minute (429 with
//! Retry-After), so however many guesses arrive at once at most five reach
//! argon2, and a locked account is never checked. Besides, each client
//! address may send only so many logins (see [`crate::rate_limit`]).

use std::sync::OnceLock;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use axum::extract::{FromRef, FromRequestParts, State};
use axum::http::{header, request::Parts, StatusCode};
use axum::response::IntoResponse;
use chrono::{DateTime, Utc};
use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::errors::ApiError;
use crate::extract::Json;
use crate::store::{Device, LoginAttempt, Merchant, Role, User};
use crate::validate;
use crate::AppState;

/// Issuer of our tokens; a token from another issuer is refused.
const ISSUER: &str = "shian";

/// Password length bounds. The upper bound keeps argon2 from being fed
/// megabytes per request.
pub const MIN_PASSWORD_CHARS: usize = 8;
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// Why a password could not be hashed.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("password hashing failed: {0}")]
    Hash(String),
    #[error("密码至少 {MIN_PASSWORD_CHARS} 个字符，至多 {MAX_PASSWORD_BYTES} 字节 (password must be {MIN_PASSWORD_CHARS}..{MAX_PASSWORD_BYTES} long)")]
    Policy,
}

/// Hashes a password with argon2id and a random salt (PHC string). Slow on
/// purpose (tens of ms): call it off the async workers (see [`hash_password_async`]).
pub fn hash_password(password: &str) -> Result<String, PasswordError> {
    if password.chars().count() < MIN_PASSWORD_CHARS || password.len() > MAX_PASSWORD_BYTES {
        return Err(PasswordError::Policy);
    }
    let salt_bytes: [u8; 16] = rand::random();
    let salt =
        SaltString::encode_b64(&salt_bytes).map_err(|e| PasswordError::Hash(e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| PasswordError::Hash(e.to_string()))
}

/// [`hash_password`] on the blocking pool.
pub async fn hash_password_async(password: String) -> Result<String, PasswordError> {
    tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(|e| PasswordError::Hash(e.to_string()))?
}

/// Checks a password against a stored PHC hash; a malformed hash is a "no".
pub fn verify_password(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|h| {
        Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

/// A hash to verify against when the username is unknown, so that the
/// answer takes as long as for a known one (no user enumeration by timing).
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| hash_password("not-a-real-password-0000").unwrap_or_default())
}

// ---------------------------------------------------------------------------
// Tokens
// ---------------------------------------------------------------------------

/// What a token may touch beyond its role.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Scope {
    /// Merchant accounts: the merchant they act for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merchant_id: Option<String>,
    /// Inspector accounts: their GB/T 2260 regions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub regions: Vec<String>,
    /// Market-operator accounts: the market ids they run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub markets: Vec<String>,
}

/// The claims of a login token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// The user id.
    pub sub: String,
    pub role: Role,
    pub scope: Scope,
    pub iss: String,
    pub iat: i64,
    pub exp: i64,
}

/// Makes a token for `user`, valid for `ttl`.
pub fn issue_token(
    secret: &[u8],
    user: &User,
    ttl: chrono::Duration,
) -> Result<(String, DateTime<Utc>), ApiError> {
    let now = Utc::now();
    let expires = now + ttl;
    let claims = Claims {
        sub: user.id.clone(),
        role: user.role,
        scope: Scope {
            merchant_id: user.merchant_id.clone(),
            regions: user.regions.clone(),
            markets: user.markets.clone(),
        },
        iss: ISSUER.to_owned(),
        iat: now.timestamp(),
        exp: expires.timestamp(),
    };
    let token = encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret),
    )
    .map_err(ApiError::internal)?;
    Ok((token, expires))
}

/// Checks signature, algorithm, issuer and expiry.
pub fn verify_token(secret: &[u8], token: &str) -> Result<Claims, ApiError> {
    let mut v = Validation::new(Algorithm::HS256);
    v.set_issuer(&[ISSUER]);
    v.set_required_spec_claims(&["exp", "sub", "iss"]);
    // Server instances' clocks agree closely; a small allowance only.
    v.leeway = 5;
    decode::<Claims>(token, &DecodingKey::from_secret(secret), &v)
        .map(|d| d.claims)
        .map_err(|e| {
            tracing::debug!(error = %e, "token refused");
            ApiError::invalid_token()
        })
}

/// The authenticated caller. Put it in a handler's arguments to require a
/// valid bearer token; then check the role with [`Auth::require`].
#[derive(Debug, Clone)]
pub struct Auth {
    pub user_id: String,
    pub role: Role,
    pub scope: Scope,
    pub expires_at: i64,
}

impl Auth {
    /// 403 `forbidden` unless the caller has one of `roles`.
    pub fn require(&self, roles: &[Role]) -> Result<(), ApiError> {
        if roles.contains(&self.role) {
            Ok(())
        } else {
            Err(ApiError::forbidden())
        }
    }

    /// May the caller read this merchant's record? Admins and analysts all;
    /// a merchant only its own; an inspector those in its regions; a market
    /// operator those of its markets.
    pub fn can_see_merchant(&self, m: &Merchant) -> bool {
        match self.role {
            Role::Admin | Role::Analyst => true,
            Role::Merchant => self.scope.merchant_id.as_deref() == Some(m.id.as_str()),
            Role::Inspector => self
                .scope
                .regions
                .iter()
                .any(|r| validate::region_covers(r, &m.region_code)),
            Role::MarketOperator => self.runs_market(m.market_id.as_deref()),
        }
    }

    /// Is `market_id` one of the caller's markets? Admins and analysts run
    /// none but see all: ask [`Auth::sees_every_market`] for them.
    pub fn runs_market(&self, market_id: Option<&str>) -> bool {
        self.role == Role::MarketOperator
            && market_id.is_some_and(|id| self.scope.markets.iter().any(|m| m == id))
    }

    /// The market a list asked for, as this caller may read it: a market
    /// operator reads its own markets only (its first one when it names
    /// none; another market is 403); everyone else as asked (their role
    /// check comes first).
    pub fn market_filter(&self, asked: Option<String>) -> Result<Option<String>, ApiError> {
        if self.role != Role::MarketOperator {
            return Ok(asked);
        }
        match asked {
            Some(id) if self.runs_market(Some(&id)) => Ok(Some(id)),
            Some(_) => Err(ApiError::forbidden()),
            None => self
                .scope
                .markets
                .first()
                .cloned()
                .map(Some)
                .ok_or_else(ApiError::forbidden),
        }
    }

    /// Admins and analysts see every market's operator records.
    pub fn sees_every_market(&self) -> bool {
        matches!(self.role, Role::Admin | Role::Analyst)
    }
}

impl<S> FromRequestParts<S> for Auth
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let state = AppState::from_ref(state);
        let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
            return Err(ApiError::missing_token());
        };
        let value = value
            .to_str()
            .map_err(|_| ApiError::invalid_token())?
            .trim();
        let token = match value.split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
            _ => return Err(ApiError::invalid_token()),
        };
        let claims = verify_token(state.keys.jwt_secret(), token)?;
        Ok(Auth {
            user_id: claims.sub,
            role: claims.role,
            scope: claims.scope,
            expires_at: claims.exp,
        })
    }
}

// ---------------------------------------------------------------------------
// Handlers
// ---------------------------------------------------------------------------

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// 1–64 characters once trimmed.
    #[schema(min_length = 1, max_length = 64, pattern = "\\S")]
    pub username: String,
    /// 1–1024 bytes (256 characters always fit).
    #[schema(min_length = 1, max_length = 256)]
    pub password: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LoginResponse {
    /// Bearer token for `Authorization: Bearer …`.
    pub token: String,
    pub role: Role,
    /// The user id (the token's `sub`).
    pub subject_id: String,
    /// RFC 3339; log in again after it.
    pub expires_at: DateTime<Utc>,
    pub scope: Scope,
}

fn locked(until: DateTime<Utc>, now: DateTime<Utc>) -> ApiError {
    let secs = u64::try_from((until - now).num_milliseconds())
        .unwrap_or(0)
        .div_ceil(1000);
    ApiError::too_many_requests(
        "account_locked",
        format!("密码错误次数过多，账户已锁定，请 {secs} 秒后重试 (too many wrong passwords; retry in {secs} s)"),
        secs,
    )
}

fn bad_credentials() -> ApiError {
    ApiError::unauthorized(
        "invalid_credentials",
        "用户名或密码错误 (wrong username or password)",
    )
}

/// Log in with a username and password.
#[utoipa::path(
    post, path = "/v1/auth/login", tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, body = LoginResponse),
        (status = 400, body = crate::errors::ErrorResponse),
        (status = 401, description = "invalid_credentials", body = crate::errors::ErrorResponse),
        (status = 429, description = "account_locked (too many wrong passwords for this account) or rate_limited (too many logins from this client address), with Retry-After", body = crate::errors::ErrorResponse),
    )
)]
pub async fn login(
    State(state): State<AppState>,
    Json(req): Json<LoginRequest>,
) -> Result<Json<LoginResponse>, ApiError> {
    let username = req.username.trim().to_owned();
    if username.is_empty() || username.chars().count() > 64 {
        return Err(ApiError::invalid(
            "username",
            "invalid_username",
            "用户名应为 1–64 个字符 (1..64 characters)",
        ));
    }
    if req.password.is_empty() || req.password.len() > MAX_PASSWORD_BYTES {
        return Err(ApiError::invalid(
            "password",
            "invalid_password",
            "密码长度不符 (password length out of range)",
        ));
    }
    let now = Utc::now();
    let creds = state.store.user_credentials(username).await?;
    let Some(creds) = creds else {
        let password = req.password;
        crate::metrics::password_checks(false).inc();
        let _ = tokio::task::spawn_blocking(move || verify_password(&password, dummy_hash())).await;
        return Err(bad_credentials());
    };
    // A lock seen in the read is refused without a write.
    if let Some(until) = creds.locked_until.filter(|u| *u > now) {
        return Err(locked(until, now));
    }
    let cfg = &state.config;
    let attempt = state
        .store
        .begin_login_attempt(
            creds.user.id.clone(),
            now,
            cfg.login_max_failures,
            cfg.login_lock,
        )
        .await?;
    let locks_if_wrong = match attempt {
        LoginAttempt::Locked { until } => return Err(locked(until, now)),
        LoginAttempt::Check { locked_until, .. } => locked_until,
    };
    let hash = creds.password_hash.clone();
    let password = req.password;
    crate::metrics::password_checks(true).inc();
    let ok = tokio::task::spawn_blocking(move || verify_password(&password, &hash))
        .await
        .map_err(ApiError::internal)?;
    if !ok {
        tracing::info!(user = %creds.user.username, ?attempt, "wrong password");
        return Err(match locks_if_wrong {
            Some(until) => locked(until, now),
            None => bad_credentials(),
        });
    }
    state
        .store
        .record_login_success(creds.user.id.clone())
        .await?;
    let (token, expires_at) = issue_token(state.keys.jwt_secret(), &creds.user, cfg.token_ttl)?;
    let user = creds.user;
    Ok(Json(LoginResponse {
        token,
        role: user.role,
        subject_id: user.id,
        expires_at,
        scope: Scope {
            merchant_id: user.merchant_id,
            regions: user.regions,
            markets: user.markets,
        },
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterDevice {
    /// What the user calls it ("摊位平板", "Pixel 7").
    #[schema(value_type = crate::openapi::wire::Name)]
    pub name: String,
    /// A merchant device's Ed25519 public key (base64url, 32 bytes), made
    /// by core on the device: the answer then carries its certificate.
    #[serde(default)]
    #[schema(pattern = "^[A-Za-z0-9_-]{43}$")]
    pub public_key: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeviceRegistered {
    pub device_id: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
    /// Present when a `public_key` was sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate: Option<crate::certify::CertificateDoc>,
}

/// Register the caller's phone or tablet; its id goes into every sync push.
#[utoipa::path(
    post, path = "/v1/devices", tag = "auth",
    request_body = RegisterDevice,
    security(("bearer" = [])),
    responses(
        (status = 201, body = DeviceRegistered),
        (status = 400, description = "invalid_public_key", body = crate::errors::ErrorResponse),
        (status = 422, description = "unusable_public_key", body = crate::errors::ErrorResponse),
        (status = 401, body = crate::errors::ErrorResponse),
        (status = 409, description = "duplicate_device", body = crate::errors::ErrorResponse),
        (status = 403, description = "forbidden, certificate_for_merchants_only", body = crate::errors::ErrorResponse),
    )
)]
pub async fn register_device(
    State(state): State<AppState>,
    auth: Auth,
    Json(req): Json<RegisterDevice>,
) -> Result<impl IntoResponse, ApiError> {
    auth.require(&[Role::Inspector, Role::Merchant])?;
    let name = validate::validate_name(&req.name, "name")?;
    let device = Device {
        id: uuid::Uuid::now_v7().to_string(),
        user_id: auth.user_id.clone(),
        name,
        created_at: crate::store::now(),
        last_seen: None,
    };
    let (d, certificate) = match req.public_key.as_deref() {
        Some(key) => {
            let merchant = auth.scope.merchant_id.clone();
            let (cert, doc) =
                crate::certify::for_device(&state, auth.role, merchant, &device.id, key).await?;
            let d = state.store.create_certified_device(device, cert).await?;
            (d, Some(doc))
        }
        None => (state.store.create_device(device).await?, None),
    };
    Ok((
        StatusCode::CREATED,
        Json(DeviceRegistered {
            device_id: d.id,
            name: d.name,
            created_at: d.created_at,
            certificate,
        }),
    ))
}
