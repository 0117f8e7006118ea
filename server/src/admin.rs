//! `shian-server admin …`: account administration straight on the database
//! file. It opens the same SQLite file as a running server (WAL with a busy
//! timeout, so both can write), so no HTTP admin session is needed to create
//! the first admin.

use crate::auth::{hash_password_async, PasswordError};
use crate::cli::CreateUserArgs;
use crate::store::{NewUser, Role, Store, StoreError, User};
use crate::validate;

/// Why an admin command failed.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Password(#[from] PasswordError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A username: 1–64 letters, digits or `._@-` (no spaces: they get lost
/// when people copy a login from a message).
pub fn validate_username(u: &str) -> Result<String, AdminError> {
    let ok = !u.is_empty()
        && u.chars().count() <= 64
        && u.chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '@' | '-'));
    if ok {
        Ok(u.to_owned())
    } else {
        Err(AdminError::Invalid(format!(
            "用户名「{u}」无效：1–64 个字母、数字或 ._@- (invalid username)"
        )))
    }
}

/// Checks the role's scope rules and creates the account.
pub async fn create_user(store: &dyn Store, args: CreateUserArgs) -> Result<User, AdminError> {
    let username = validate_username(args.username.trim())?;
    let regions = args
        .regions
        .iter()
        .map(|r| {
            validate::validate_region_code(r, "region")
                .map_err(|e| AdminError::Invalid(format!("--region {r}: {}", e.message)))
        })
        .collect::<Result<Vec<_>, _>>()?;
    match args.role {
        Role::Merchant => {
            let Some(id) = args.merchant_id.as_deref() else {
                return Err(AdminError::Invalid(
                    "商户账户须指定 --merchant-id (merchant accounts need --merchant-id)".into(),
                ));
            };
            if store.merchant(id.to_owned()).await?.is_none() {
                return Err(AdminError::Invalid(format!(
                    "商户 {id} 不存在 (no such merchant)"
                )));
            }
        }
        _ if args.merchant_id.is_some() => {
            return Err(AdminError::Invalid(
                "只有商户账户可指定 --merchant-id (only merchant accounts take --merchant-id)"
                    .into(),
            ));
        }
        _ => {}
    }
    match args.role {
        Role::Inspector if regions.is_empty() => {
            return Err(AdminError::Invalid(
                "监管人员账户须指定至少一个 --region (inspectors need --region)".into(),
            ));
        }
        Role::Inspector => {}
        _ if !regions.is_empty() => {
            return Err(AdminError::Invalid(
                "只有监管人员账户可指定 --region (only inspectors take --region)".into(),
            ));
        }
        _ => {}
    }
    let markets = market_scope(store, args.role, &args.market_ids).await?;
    let password_hash = hash_password_async(args.password).await?;
    let user = store
        .create_user(NewUser {
            username,
            password_hash,
            role: args.role,
            merchant_id: args.merchant_id,
            regions,
            markets,
        })
        .await?;
    Ok(user)
}

/// A market operator runs one or more existing markets; no other role takes
/// `--market-id`. Ids are kept once each, in the order given.
async fn market_scope(
    store: &dyn Store,
    role: Role,
    ids: &[String],
) -> Result<Vec<String>, AdminError> {
    match role {
        Role::MarketOperator if ids.is_empty() => Err(AdminError::Invalid(
            "市场开办者账户须指定至少一个 --market-id (market operators need --market-id)".into(),
        )),
        Role::MarketOperator => {
            let mut out: Vec<String> = Vec::with_capacity(ids.len());
            for id in ids {
                let id = validate::validate_id(id.trim(), "market_id")
                    .map_err(|e| AdminError::Invalid(format!("--market-id {id}: {}", e.message)))?;
                if store.market(id.clone()).await?.is_none() {
                    return Err(AdminError::Invalid(format!(
                        "市场 {id} 不存在 (no such market)"
                    )));
                }
                if !out.contains(&id) {
                    out.push(id);
                }
            }
            Ok(out)
        }
        _ if !ids.is_empty() => Err(AdminError::Invalid(
            "只有市场开办者账户可指定 --market-id (only market operators take --market-id)".into(),
        )),
        _ => Ok(Vec::new()),
    }
}
