//! `serve --demo`: a ready-to-try server. Creates demo accounts for every
//! role, a market and a few merchants, and prints the logins. Idempotent: a
//! second start finds them and prints the same logins.
//!
//! The passwords are fixed and printed on purpose — this is a demo; never
//! start a public server with `--demo`.
//!
//! Extension point: generated ledger data (purchases, sales, vouchers) is to
//! be added at the end of [`load`].

use chrono::NaiveDate;

use crate::admin::AdminError;
use crate::auth::hash_password_async;
use crate::db::{Market, Merchant, MerchantFilter, NewUser, Role, Store, StoreError};
use crate::validate;

/// Demo market region: Xiamen, Siming district (GB/T 2260 350203).
const REGION: &str = "350203";

/// One demo login, as printed.
#[derive(Debug, Clone)]
pub struct DemoLogin {
    pub username: &'static str,
    pub password: &'static str,
    pub role: Role,
    pub note: String,
}

/// What `--demo` loaded.
#[derive(Debug, Clone)]
pub struct DemoSummary {
    pub market_id: String,
    pub merchant_ids: Vec<String>,
    pub logins: Vec<DemoLogin>,
}

struct DemoMerchant {
    name: &'static str,
    org_body: &'static str,
    licence: &'static str,
    stall: &'static str,
    categories: &'static [&'static str],
}

const MERCHANTS: [DemoMerchant; 3] = [
    DemoMerchant {
        name: "鑫海冻品商行",
        org_body: "MA2XK001",
        licence: "JY13502030000011",
        stall: "A区-01",
        categories: &["frozen", "imported_cold_chain"],
    },
    DemoMerchant {
        name: "闽南鲜肉铺",
        org_body: "MA2XK002",
        licence: "JY13502030000022",
        stall: "B区-12",
        categories: &["livestock_meat", "poultry"],
    },
    DemoMerchant {
        name: "同安绿色蔬菜摊",
        org_body: "MA2XK003",
        licence: "JY13502030000033",
        stall: "C区-07",
        categories: &["vegetable", "fruit"],
    },
];

async fn demo_merchant(
    store: &dyn Store,
    market: &Market,
    d: &DemoMerchant,
) -> Result<String, AdminError> {
    let existing = store
        .list_merchants(MerchantFilter {
            q: Some(d.licence.to_owned()),
            limit: 1,
            ..MerchantFilter::default()
        })
        .await?;
    if let Some(m) = existing.items.into_iter().next() {
        return Ok(m.id);
    }
    // 92 = individual business (个体工商户) registered by market regulation.
    let uscc = validate::complete_uscc(&format!("92{REGION}{}", d.org_body)).ok_or_else(|| {
        AdminError::Invalid(format!("demo USCC for {} does not complete", d.name))
    })?;
    let m = Merchant {
        id: uuid::Uuid::now_v7().to_string(),
        market_id: Some(market.id.clone()),
        name: d.name.to_owned(),
        uscc,
        uscc_acknowledged: false,
        licence_no: Some(d.licence.to_owned()),
        licence_expiry: NaiveDate::from_ymd_opt(2029, 12, 31),
        business_type: Some("批发".to_owned()),
        categories: d.categories.iter().map(|c| (*c).to_owned()).collect(),
        stall: Some(d.stall.to_owned()),
        contact: None,
        region_code: REGION.to_owned(),
        shop_code: validate::new_code(&mut rand::rng()),
        created_at: crate::db::now(),
    };
    Ok(store.create_merchant(m).await?.id)
}

async fn demo_user(
    store: &dyn Store,
    login: &DemoLogin,
    merchant_id: Option<String>,
    regions: Vec<String>,
) -> Result<(), AdminError> {
    if store
        .user_credentials(login.username.to_owned())
        .await?
        .is_some()
    {
        return Ok(());
    }
    let password_hash = hash_password_async(login.password.to_owned()).await?;
    let user = NewUser {
        username: login.username.to_owned(),
        password_hash,
        role: login.role,
        merchant_id,
        regions,
    };
    match store.create_user(user).await {
        Ok(_) | Err(StoreError::Conflict { .. }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Loads the demo data into `store` and returns what to print.
pub async fn load(store: &dyn Store) -> Result<DemoSummary, AdminError> {
    const MARKET_NAME: &str = "示范冷链批发市场 (Demo cold-chain market)";
    let markets = store.list_markets(crate::registry::MAX_PAGE, 0).await?;
    let market = match markets.items.into_iter().find(|m| m.name == MARKET_NAME) {
        Some(m) => m,
        None => {
            let m = Market {
                id: uuid::Uuid::now_v7().to_string(),
                name: MARKET_NAME.to_owned(),
                region_code: REGION.to_owned(),
                address: Some("福建省厦门市思明区示范路 1 号".to_owned()),
                created_at: crate::db::now(),
            };
            store.create_market(m).await?
        }
    };
    let mut merchant_ids = Vec::new();
    for d in &MERCHANTS {
        merchant_ids.push(demo_merchant(store, &market, d).await?);
    }

    let login = |username, password, role, note: String| DemoLogin {
        username,
        password,
        role,
        note,
    };
    let logins = vec![
        login(
            "admin",
            "demo-admin-pass",
            Role::Admin,
            "管理员 administrator".into(),
        ),
        login(
            "analyst",
            "demo-analyst-pass",
            Role::Analyst,
            "监管分析 regulator".into(),
        ),
        login(
            "inspector1",
            "demo-inspector1-pass",
            Role::Inspector,
            format!("监管人员 inspector, region {REGION}"),
        ),
        login(
            "inspector2",
            "demo-inspector2-pass",
            Role::Inspector,
            "监管人员 inspector, region 350200 (Xiamen)".into(),
        ),
        login(
            "merchant1",
            "demo-merchant1-pass",
            Role::Merchant,
            format!("经营户 {}", MERCHANTS[0].name),
        ),
        login(
            "merchant2",
            "demo-merchant2-pass",
            Role::Merchant,
            format!("经营户 {}", MERCHANTS[1].name),
        ),
    ];
    for l in &logins {
        let (merchant_id, regions) = match l.username {
            "inspector1" => (None, vec![REGION.to_owned()]),
            "inspector2" => (None, vec!["350200".to_owned()]),
            "merchant1" => (merchant_ids.first().cloned(), vec![]),
            "merchant2" => (merchant_ids.get(1).cloned(), vec![]),
            _ => (None, vec![]),
        };
        demo_user(store, l, merchant_id, regions).await?;
    }
    // Generated ledger data goes here.
    Ok(DemoSummary {
        market_id: market.id,
        merchant_ids,
        logins,
    })
}

/// The logins as a table for the terminal.
pub fn print(summary: &DemoSummary) {
    println!("\n演示账户 Demo logins (仅供演示 demo only):");
    println!(
        "  {:<12} {:<22} {:<10} note",
        "username", "password", "role"
    );
    for l in &summary.logins {
        println!(
            "  {:<12} {:<22} {:<10} {}",
            l.username, l.password, l.role, l.note
        );
    }
    println!(
        "  market {}; merchants {}\n",
        summary.market_id,
        summary.merchant_ids.join(", ")
    );
}
