//! `serve --demo`: a ready-to-try server. Generates the frozen-food market of
//! seed 000 (478 merchants, outside suppliers, multi-hop wholesale chains,
//! some missing certificates, sales beyond stock and expired goods) with
//! core's deterministic generator, loads its ledger through core's rules,
//! creates demo accounts for every role and prints the logins, the counts
//! and a sample forward and backward trace. Idempotent: a second start finds
//! the data and prints the same.
//!
//! The generator also plants every warning kind's cases with near misses
//! (licences near expiry or lapsed, a four-year sampling history,
//! complaint bursts and a hot topic): the first start loads the samples and
//! complaints through the real services (`plants`) and writes their
//! ground truth to `demo-truth.json` beside the database, which
//! `scripts/bench-warnings.sh` compares the alerts with (the ledger kinds'
//! truth is read off the events as they are loaded). The ledger is the
//! "done" mark: samples and complaints come first (each stored once by its
//! id), so a start cut short before the ledger is completed by the next.
//!
//! The passwords are fixed and printed on purpose — this is a demo; never
//! start a public server with `--demo`.

mod plants;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use shian_core::event::LedgerEvent;
use shian_core::generator::{truth::ALERT_KINDS, GenConfig, Generator};
use shian_core::quantity::Quantity;

use crate::admin::AdminError;
use crate::auth::hash_password_async;
use crate::store::ledger::{Caller, LedgerCounts, Showcase};
use crate::store::{Market, Merchant, NewUser, Role, Store, StoreError};

pub use plants::TRUTH_FILE;

/// Why the demo could not load.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error(transparent)]
    Admin(#[from] AdminError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A generated item the services refused: a bug of the generator.
    #[error("{what} refused: {why}")]
    Refused { what: String, why: String },
    #[error("writing {TRUTH_FILE}: {0}")]
    Truth(std::io::Error),
    #[error(transparent)]
    Hold(#[from] crate::market::holds::demo::HoldDemoError),
}

/// The login of the merchant whose smuggled-beef batch the market holds
/// (`crate::market::holds::demo`).
fn holder_login() -> DemoLogin {
    DemoLogin {
        username: "merchant3",
        password: "demo-merchant3-pass",
        role: Role::Merchant,
        note: "经营户 merchant: holds the smuggled-beef batch the market has held (暂扣); its device refuses the sale"
            .into(),
    }
}

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
    /// What this start planted (`None` when an earlier start loaded the data).
    pub planted: Option<Planted>,
    pub counts: LedgerCounts,
    pub showcase: Option<Showcase>,
    pub logins: Vec<DemoLogin>,
}

/// The planted cases this start loaded, for the terminal.
#[derive(Debug, Clone)]
pub struct Planted {
    pub truth_path: PathBuf,
    /// (kind, positives, near misses), in the contract's order.
    pub per_kind: Vec<(&'static str, usize, usize)>,
    pub samples: usize,
    pub inspections: usize,
    pub complaints: usize,
}

/// Creates the account unless it exists; its id either way.
async fn demo_user(
    store: &dyn Store,
    login: &DemoLogin,
    merchant_id: Option<String>,
    regions: Vec<String>,
    markets: Vec<String>,
) -> Result<String, AdminError> {
    if let Some(c) = store.user_credentials(login.username.to_owned()).await? {
        return Ok(c.user.id);
    }
    let password_hash = hash_password_async(login.password.to_owned()).await?;
    let user = NewUser {
        username: login.username.to_owned(),
        password_hash,
        role: login.role,
        merchant_id,
        regions,
        markets,
    };
    match store.create_user(user).await {
        Ok(u) => Ok(u.id),
        // Created meanwhile by another start.
        Err(StoreError::Conflict { .. }) => store
            .user_credentials(login.username.to_owned())
            .await?
            .map(|c| c.user.id)
            .ok_or_else(|| AdminError::Invalid(format!("{} vanished", login.username))),
        Err(e) => Err(e.into()),
    }
}

/// The demo's generator config.
fn config(days: u32) -> GenConfig {
    GenConfig {
        days,
        ..GenConfig::frozen_market(SEED)
    }
}

/// The generator as the ledger loader's iterator, shared so that its
/// ground truth can be read once the loader is done with it.
struct Shared(Arc<Mutex<Generator>>);

impl Iterator for Shared {
    type Item = LedgerEvent;

    fn next(&mut self) -> Option<LedgerEvent> {
        // Poisoned only if a pull panicked: the run is over either way.
        self.0.lock().ok()?.next()
    }
}

/// Registers the generated markets and merchants, plants the samples and
/// complaints, writes the truth and loads the ledger, unless an earlier
/// start did.
async fn load_market(
    store: &dyn Store,
    days: u32,
    data_dir: &Path,
    inspectors: &[DemoLogin; 2],
) -> Result<(usize, usize, Option<Planted>), DemoError> {
    let mut generator = Generator::new(config(days));
    let (n_markets, n_merchants) = (generator.markets().len(), generator.merchants().len());
    if store.ledger_counts().await?.entries > 0 {
        if !data_dir.join(TRUTH_FILE).exists() {
            tracing::warn!(
                "{TRUTH_FILE} is missing (data loaded by an older version, or a start cut short \
                 after the ledger): start on an empty data directory to plant it"
            );
        }
        return Ok((n_markets, n_merchants, None));
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
    let by_id: HashMap<String, Merchant> = merchants
        .iter()
        .map(|m| (m.id.clone(), m.clone()))
        .collect();
    store.import_merchants(merchants).await?;

    // The planted samples and the inspections, as the district's two
    // inspectors record them.
    let region = demo_region(&generator);
    let mut inspector_ids = Vec::new();
    for login in inspectors {
        inspector_ids.push(demo_user(store, login, None, vec![region.clone()], vec![]).await?);
    }
    let started = Instant::now();
    let samples = generator.samples();
    let caller = Caller {
        user_id: inspector_ids.first().cloned().unwrap_or_default(),
        role: Role::Inspector.as_str().to_owned(),
        merchant_id: None,
        regions: vec![region],
        markets: vec![],
    };
    let pushed = plants::push_samples(store, &caller, &samples).await?;
    let inspections = generator.inspections();
    let inspected = plants::push_inspections(store, &caller, &inspector_ids, &inspections).await?;
    let complaints = generator.complaints();
    let filed = plants::file_complaints(store, &by_id, &complaints).await?;
    tracing::info!(
        samples = pushed,
        inspections = inspected,
        complaints = filed,
        ms = started.elapsed().as_millis() as u64,
        "demo samples and complaints"
    );

    println!("生成演示台账 Generating the demo ledger ({days} days of a {n_merchants}-merchant cold-chain market)…");
    generator.record_truth().progress(true);
    let generator = Arc::new(Mutex::new(generator));
    let counts = store
        .load_ledger(Box::new(Shared(Arc::clone(&generator))))
        .await?;
    if counts.refused > 0 {
        tracing::warn!(
            refused = counts.refused,
            "some generated events were refused"
        );
    }
    let truth = generator
        .lock()
        .map_err(|_| DemoError::Refused {
            what: "the ledger".to_owned(),
            why: "the generator panicked".to_owned(),
        })?
        .truth();
    let truth_path = plants::write_truth(data_dir, &truth)?;
    let planted = Planted {
        truth_path,
        per_kind: ALERT_KINDS
            .iter()
            .map(|k| {
                let (p, n) = truth.counts(k);
                (*k, p, n)
            })
            .collect(),
        samples: samples.len(),
        inspections: inspections.len(),
        complaints: complaints.len(),
    };
    Ok((n_markets, n_merchants, Some(planted)))
}

/// The district of the demo's market, which its inspectors cover.
fn demo_region(generator: &Generator) -> String {
    generator
        .markets()
        .first()
        .map(|m| m.region_code.clone())
        .unwrap_or_else(|| "350205".to_owned())
}

/// The demo's market, which its operator and food-safety officer run.
fn demo_market(generator: &Generator) -> Option<String> {
    generator.markets().first().map(|m| m.id.clone())
}

/// Loads the demo data into `store` and returns what to print; the
/// ground truth goes to `data_dir` (the database's directory).
/// `days` of trading are generated on the first start (30 by default: chains
/// of several hops and every kind of warning, loaded in seconds).
pub async fn load(store: &dyn Store, days: u32, data_dir: &Path) -> Result<DemoSummary, DemoError> {
    let generator = Generator::new(config(days));
    let region = demo_region(&generator);
    let market = demo_market(&generator);
    drop(generator);
    let login = |username, password, role, note: String| DemoLogin {
        username,
        password,
        role,
        note,
    };
    let inspector = |n: u8| {
        let (username, password) = match n {
            1 => ("inspector1", "demo-inspector1-pass"),
            _ => ("inspector2", "demo-inspector2-pass"),
        };
        login(
            username,
            password,
            Role::Inspector,
            format!("监管人员 inspector, region {region}"),
        )
    };
    let inspectors = [inspector(1), inspector(2)];
    let (markets, merchants, planted) = load_market(store, days, data_dir, &inspectors).await?;
    let showcase = store.showcase_batch().await?;
    let mut logins = vec![
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
        inspectors[0].clone(),
        inspectors[1].clone(),
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
        login(
            "operator1",
            "demo-operator1-pass",
            Role::MarketOperator,
            "市场开办者 market operator of the demo market".into(),
        ),
        login(
            "officer1",
            "demo-officer1-pass",
            Role::MarketOperator,
            "食品安全员 the market's food-safety officer".into(),
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
        let markets = match l.role {
            Role::MarketOperator => market.iter().cloned().collect(),
            _ => vec![],
        };
        demo_user(store, l, merchant_id, regions, markets).await?;
    }
    crate::recalls::demo::plant_failed_sample(store, showcase.as_ref()).await?;
    crate::staff::demo::plant_staff(store, showcase.as_ref(), market.as_deref()).await?;
    crate::market::entry::demo::plant(store).await?;
    if let Some(holder) =
        crate::market::holds::demo::hold_smuggled_batch(store, market.as_deref()).await?
    {
        let l = holder_login();
        demo_user(store, &l, Some(holder), vec![], vec![]).await?;
        logins.push(l);
    }
    crate::market::self_check_demo::plant(store, market.as_deref()).await?;
    Ok(DemoSummary {
        markets,
        merchants,
        planted,
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
    if let Some(p) = &summary.planted {
        println!(
            "  抽检 samples: {}, 检查 inspections: {}, 投诉 complaints: {}; 预警真值 warnings' ground truth: {}",
            p.samples,
            p.inspections,
            p.complaints,
            p.truth_path.display()
        );
        let kinds: Vec<String> = p
            .per_kind
            .iter()
            .map(|(k, pos, near)| format!("{k} {pos}+{near}"))
            .collect();
        println!("    planted+near misses: {}", kinds.join(", "));
    }
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
