//! `serve --demo`: a ready-to-try server. Generates the frozen-food market of
//! seed 000 (478 merchants, outside suppliers, multi-hop wholesale chains,
//! some missing certificates, sales beyond stock and expired goods) with
//! core's deterministic generator, loads its ledger through core's rules,
//! creates demo accounts for every role and prints the logins, the counts
//! and a sample forward and backward trace. Idempotent: a second start finds
//! the data and prints the same.
//!
//! The passwords are fixed and printed on purpose — this is a demo; never
//! start a public server with `--demo`.

use shian_core::generator::{GenConfig, Generator};
use shian_core::quantity::Quantity;

use crate::admin::AdminError;
use crate::auth::hash_password_async;
use crate::store::ledger::{LedgerCounts, Showcase};
use crate::store::{Market, Merchant, NewUser, Role, Store, StoreError};

/// The generator's seed: the same demo on every machine.
const SEED: u64 = 20_261_122;

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
    pub markets: usize,
    pub merchants: usize,
    pub counts: LedgerCounts,
    pub showcase: Option<Showcase>,
    pub logins: Vec<DemoLogin>,
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

/// Registers the generated markets and merchants and loads their ledger,
/// unless an earlier start did.
async fn load_market(store: &dyn Store, days: u32) -> Result<(usize, usize), AdminError> {
    let config = GenConfig {
        days,
        ..GenConfig::frozen_market(SEED)
    };
    let mut generator = Generator::new(config);
    let (n_markets, n_merchants) = (generator.markets().len(), generator.merchants().len());
    if store.ledger_counts().await?.entries > 0 {
        return Ok((n_markets, n_merchants));
    }
    for m in generator.markets() {
        let market = Market {
            id: m.id.clone(),
            name: m.name.clone(),
            region_code: m.region_code.clone(),
            address: Some(m.address.clone()),
            created_at: crate::store::now(),
        };
        match store.create_market(market).await {
            Ok(_) | Err(StoreError::Conflict { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let merchants: Vec<Merchant> = generator
        .merchants()
        .iter()
        .map(|g| Merchant {
            id: g.id.clone(),
            market_id: Some(g.market_id.clone()),
            name: g.name.clone(),
            uscc: g.uscc.clone(),
            uscc_acknowledged: false,
            licence_no: Some(g.licence_no.clone()),
            licence_expiry: Some(g.licence_expiry),
            business_type: Some(g.business_type.to_owned()),
            categories: g.categories.iter().map(|c| c.as_str().to_owned()).collect(),
            stall: Some(g.stall.clone()),
            contact: None,
            region_code: g.region_code.clone(),
            shop_code: shian_core::codes::new_code(&mut rand::rng()),
            created_at: crate::store::now(),
        })
        .collect();
    store.import_merchants(merchants).await?;
    println!("生成演示台账 Generating the demo ledger ({days} days of a {n_merchants}-merchant cold-chain market)…");
    generator.progress(true);
    let counts = store.load_ledger(Box::new(generator)).await?;
    if counts.refused > 0 {
        tracing::warn!(
            refused = counts.refused,
            "some generated events were refused"
        );
    }
    Ok((n_markets, n_merchants))
}

/// Loads the demo data into `store` and returns what to print.
/// `days` of trading are generated on the first start (30 by default: chains
/// of several hops and every kind of warning, loaded in seconds).
pub async fn load(store: &dyn Store, days: u32) -> Result<DemoSummary, AdminError> {
    let (markets, merchants) = load_market(store, days).await?;
    let showcase = store.showcase_batch().await?;
    let region = match &showcase {
        Some(s) => store
            .merchant(s.merchant_id.clone())
            .await?
            .map(|m| m.region_code),
        None => None,
    }
    .unwrap_or_else(|| "350203".to_owned());
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
            format!("监管人员 inspector, region {region}"),
        ),
        login(
            "inspector2",
            "demo-inspector2-pass",
            Role::Inspector,
            format!("监管人员 inspector, region {region}"),
        ),
        login(
            "merchant1",
            "demo-merchant1-pass",
            Role::Merchant,
            "经营户 merchant: the showcase batch's seller".into(),
        ),
        login(
            "merchant2",
            "demo-merchant2-pass",
            Role::Merchant,
            "经营户 merchant: its first buyer".into(),
        ),
    ];
    for l in &logins {
        let (merchant_id, regions) = match l.username {
            "inspector1" | "inspector2" => (None, vec![region.clone()]),
            "merchant1" => (showcase.as_ref().map(|s| s.merchant_id.clone()), vec![]),
            "merchant2" => (
                showcase.as_ref().map(|s| s.buyer_merchant_id.clone()),
                vec![],
            ),
            _ => (None, vec![]),
        };
        demo_user(store, l, merchant_id, regions).await?;
    }
    crate::recalls::demo::plant_failed_sample(store, showcase.as_ref()).await?;
    Ok(DemoSummary {
        markets,
        merchants,
        counts: store.ledger_counts().await?,
        showcase,
        logins,
    })
}

fn qty(q: Quantity) -> String {
    q.display_zh()
}

/// Prints what the demo holds and a sample trace, read back through the
/// same engine the API uses.
pub async fn print_traces(store: &dyn Store, summary: &DemoSummary) -> Result<(), AdminError> {
    let Some(show) = &summary.showcase else {
        return Ok(());
    };
    if let Ok(f) = store.trace_forward(show.trace_code.clone()).await? {
        println!(
            "正向追溯 Forward trace of {} ({}):",
            show.trace_code,
            f.root.merchant_name.clone().unwrap_or_default()
        );
        println!(
            "  {} 个下游批次 downstream batches; 零售售出 retail sold {}; 仍在库 still held {}",
            f.holders.len(),
            qty(f.retail_sold),
            qty(f.held)
        );
        for h in f.holders.iter().take(8) {
            println!(
                "  {}深度 depth {} {} {} 收货 received {}",
                "  ".repeat(h.depth.saturating_sub(1) as usize),
                h.depth,
                h.trace_code,
                h.merchant_name
                    .clone()
                    .unwrap_or_else(|| h.merchant_id.clone()),
                qty(h.received)
            );
        }
        if f.holders.len() > 8 {
            println!(
                "  … GET /v1/trace/{}/forward lists all {}",
                show.trace_code,
                f.holders.len()
            );
        }
        if let Some(deepest) = f.holders.iter().max_by_key(|h| h.depth) {
            if let Ok(b) = store.trace_backward(deepest.trace_code.clone()).await? {
                println!(
                    "反向追溯 Backward trace of {} ({} steps to the origin):",
                    deepest.trace_code,
                    b.chain.len()
                );
                for s in &b.chain {
                    println!(
                        "  {} {} {}",
                        s.trace_code,
                        s.merchant_name
                            .clone()
                            .unwrap_or_else(|| s.merchant_id.clone()),
                        qty(s.received)
                    );
                }
            }
        }
    }
    Ok(())
}

/// The logins and the counts, for the terminal.
pub fn print(summary: &DemoSummary) {
    println!(
        "\n演示数据 Demo data: {} 个市场 markets, {} 户经营户 merchants",
        summary.markets, summary.merchants
    );
    let c = &summary.counts;
    println!(
        "  台账 ledger: {} 条记录 entries, {} 个批次 batches, {} 条出库 movements",
        c.entries, c.batches, c.movements
    );
    let warnings: Vec<String> = c
        .warnings
        .iter()
        .map(|(code, n)| format!("{code} {n}"))
        .collect();
    println!("  预警 warnings: {}", warnings.join(", "));
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
    println!();
}
