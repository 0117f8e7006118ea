//! shian-server: the lean sync server of Shian (食安), its public pages and
//! console.
//!
//! Everything the server knows is in the [`store::Store`] and the key files
//! beside it; what it holds in memory (the ledger graph, the price windows)
//! is derived from the store and follows it by position ([`follow`],
//! `store::graph`), so several instances over one store can run behind a
//! load balancer (`tests/tests/instances.rs`: three behind nginx). Per
//! instance stay only the public pages' few-second cache and the login rate
//! limit's buckets. [`app`] builds the router from
//! an [`AppState`]; integration tests call it on `127.0.0.1:0`.

pub mod admin;
pub mod alerts;
pub mod auth;
pub mod certify;
pub mod cli;
pub mod db_target;
pub mod demo;
pub mod errors;
pub mod evidence;
pub mod exports;
pub mod extract;
pub mod feedback;
pub mod field;
pub mod follow;
pub mod health;
pub mod idempotency;
pub mod keys;
pub mod logging;
pub mod market;
pub mod metrics;
pub mod openapi;
pub mod page_cache;
pub mod pages;
pub mod paging;
pub mod photo;
pub mod public;
pub mod qr;
pub mod rate_limit;
pub mod recalls;
pub mod registry;
pub mod reports;
pub mod shutdown;
pub mod signing;
pub mod staff;
pub mod store;
pub mod sync;
pub mod tick;
pub mod trace;
pub mod validate;

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::{Extension, Router};
use tower_http::catch_panic::CatchPanicLayer;
use utoipa::OpenApi as _;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::cli::ServeArgs;
use crate::db_target::DbTarget;
use crate::extract::BodyLimit;
use crate::keys::{KeyError, Keys};
use crate::store::graph::ReadModelOptions;
use crate::store::postgres::PgOptions;
use crate::store::sqlite::SqliteOptions;
use crate::store::{Store, StoreError};

/// Settings of a running server.
#[derive(Debug, Clone)]
pub struct Config {
    /// Largest request body (413 above it).
    pub body_limit: usize,
    /// Lifetime of login tokens.
    pub token_ttl: chrono::Duration,
    /// Consecutive wrong passwords that lock an account.
    pub login_max_failures: u32,
    /// How long a lock lasts.
    pub login_lock: chrono::Duration,
    /// Logins one client address may send at once before it is refused
    /// (429 `rate_limited`), whatever the account: the per-account lockout
    /// stops guessing one password, this stops a script spraying many
    /// accounts or burning argon2 time.
    pub login_rate_burst: u32,
    /// How often one more login is allowed back to an address that used
    /// up its burst.
    pub login_rate_period: std::time::Duration,
    /// The address the public reaches this server at (`https://…`, no
    /// trailing slash), for the URLs QR codes carry; `None`: from each
    /// request's Host header.
    pub public_url: Option<String>,
    /// How long a public page or its JSON twin is kept in the
    /// [`page_cache`]; zero keeps nothing.
    pub page_cache_ttl: std::time::Duration,
    /// Ratings and complaints one client address may send at once (JSON
    /// and forms together), kept in memory only.
    pub feedback_rate_burst: u32,
    /// How often one more is allowed back after the burst.
    pub feedback_rate_period: std::time::Duration,
    /// Requests one client address may send at once to the anonymous
    /// report routes (filing, and everything a receipt opens) before 429:
    /// receipts cannot be guessed at speed. In memory only.
    pub report_rate_burst: u32,
    /// How often one more report request is allowed back.
    pub report_rate_period: std::time::Duration,
    /// Full warning passes (`POST /v1/alerts/scan`) one account may start
    /// at once before 429: a pass reads every subject's facts (seconds
    /// on a market's data), and the incremental pass after each write keeps
    /// the list current anyway, so a loop calling it only burns the writer.
    pub scan_rate_burst: u32,
    /// How often one more full pass is allowed back.
    pub scan_rate_period: std::time::Duration,
    /// Whose address the per-address limits count: the TCP peer's, or
    /// the forwarded client's for a peer given as `--trusted-proxy` (the
    /// load balancer in front of several instances).
    pub clients: rate_limit::ClientAddress,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            body_limit: extract::DEFAULT_BODY_LIMIT,
            token_ttl: chrono::Duration::hours(12),
            login_max_failures: 5,
            login_lock: chrono::Duration::seconds(60),
            // A person logs in a few times a day, a market's shared office a
            // few dozen; a script sends hundreds a minute.
            login_rate_burst: 30,
            login_rate_period: std::time::Duration::from_secs(1),
            public_url: None,
            page_cache_ttl: std::time::Duration::from_secs(5),
            clients: rate_limit::ClientAddress::default(),
            // A family at a stall rates and complains a few times; a script
            // stuffing a shop's grade sends hundreds.
            feedback_rate_burst: 10,
            feedback_rate_period: std::time::Duration::from_secs(60),
            // A reporter files once and looks back now and then; twenty
            // at once and one every three seconds after is far beyond that.
            report_rate_burst: 20,
            report_rate_period: std::time::Duration::from_secs(3),
            // An analyst rescans after a rules change or to check a fix: a
            // few at once, then one every 15 s.
            scan_rate_burst: 4,
            scan_rate_period: std::time::Duration::from_secs(15),
        }
    }
}

/// What every handler can reach. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub keys: Arc<Keys>,
    pub config: Arc<Config>,
    /// Public pages kept for a few seconds ([`page_cache`]).
    pub page_cache: page_cache::PageCache,
    /// Hashes report receipts under the server's secret salt.
    pub receipts: Arc<reports::receipt::ReceiptHasher>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("store", &self.store.backend())
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("数据库 (database): {0}")]
    Store(#[from] StoreError),
    #[error("密钥 (keys): {0}")]
    Keys(#[from] KeyError),
    #[error("无法监听 (cannot listen on) {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error("演示数据 (demo data): {0}")]
    Demo(#[from] admin::AdminError),
    #[error("演示数据 (demo data): {0}")]
    DemoLoad(#[from] demo::DemoError),
    #[error("规则 (rules): {0}")]
    Rules(#[from] cli::RulesError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

impl AppState {
    /// Opens (or creates) the SQLite store at `db_path` and the keys beside
    /// it. Blocking work runs on the blocking pool.
    pub async fn open(
        db_path: &Path,
        config: Config,
        sqlite: SqliteOptions,
    ) -> Result<AppState, StartError> {
        let target = DbTarget::Sqlite(db_path.to_owned());
        AppState::open_target(&target, config, sqlite, PgOptions::default()).await
    }

    /// Opens the store `target` names (a SQLite file or a PostgreSQL
    /// database) and the keys (beside the file, or in the database for
    /// PostgreSQL: [`keys::KeyHome`]).
    pub async fn open_target(
        target: &DbTarget,
        config: Config,
        sqlite: SqliteOptions,
        postgres: PgOptions,
    ) -> Result<AppState, StartError> {
        let db_target::Opened { store, keys: home } = target.open(sqlite, postgres, true).await?;
        let (keys, salt) = tokio::task::spawn_blocking(move || -> Result<_, StartError> {
            let keys = Keys::open(&home)?;
            let salt = keys::receipt_salt_at(&home)?;
            Ok((keys, salt))
        })
        .await
        .map_err(|e| StartError::Io(std::io::Error::other(e)))??;
        // A fresh device's first pull must hold the current trust list.
        store.publish_trust_list(keys.trusted_keys()).await?;
        Ok(AppState {
            store,
            keys: Arc::new(keys),
            page_cache: page_cache::PageCache::new(config.page_cache_ttl),
            config: Arc::new(config),
            receipts: Arc::new(reports::receipt::ReceiptHasher::new(salt)),
        })
    }
}

/// Every API route with its OpenAPI operation.
///
/// To add routes: write the handler with `#[utoipa::path(…)]` and add
/// `.routes(routes!(module::handler))` here (handlers sharing one path go in
/// one `routes!`, e.g. `routes!(get_x, post_x)`).
///
/// `config` sets the per-client-address limits; the routes and the document
/// do not depend on it.
pub fn api_router(config: &Config) -> OpenApiRouter<AppState> {
    // Unauthenticated routes, limited per client address. Later public
    // report routes get their own `rate_limit` layer.
    let login = OpenApiRouter::new()
        .routes(routes!(auth::login))
        .route_layer(rate_limit::per_client_address(
            config.login_rate_burst,
            config.login_rate_period,
            &config.clients,
        ));
    // Ratings and complaints, JSON and the shop page's forms, share one
    // bucket per address: a script cannot double its share by using both.
    let feedback = OpenApiRouter::new()
        .routes(routes!(feedback::ratings::post_rating))
        .routes(routes!(feedback::complaints::post_complaint))
        .route("/s/{shop_code}/ratings", post(pages::feedback::rating_form))
        .route(
            "/s/{shop_code}/complaints",
            post(pages::feedback::complaint_form),
        )
        .route_layer(rate_limit::per_client_address(
            config.feedback_rate_burst,
            config.feedback_rate_period,
            &config.clients,
        ));
    // The anonymous report routes: one limiter for filing and for every
    // route a receipt opens.
    let reporter = OpenApiRouter::new()
        .routes(routes!(reports::create_report))
        .routes(routes!(reports::get_report))
        .routes(routes!(reports::post_message))
        .routes(routes!(reports::post_photo))
        .route_layer(rate_limit::per_client_address(
            config.report_rate_burst,
            config.report_rate_period,
            &config.clients,
        ));
    let scan = OpenApiRouter::new()
        .routes(routes!(alerts::routes::scan))
        .layer(axum::Extension(alerts::routes::ScanLimit::new(
            config.scan_rate_burst,
            config.scan_rate_period,
        )));
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .merge(login)
        .merge(scan)
        .merge(feedback)
        .merge(reporter)
        .routes(routes!(feedback::complaints::list_complaints))
        .routes(routes!(reports::list_reports))
        .routes(routes!(reports::get_handled))
        .routes(routes!(reports::get_photo))
        .routes(routes!(reports::triage))
        .routes(routes!(reports::reply))
        .routes(routes!(reports::assign))
        .routes(routes!(reports::close))
        .routes(routes!(auth::register_device))
        .routes(routes!(registry::create_market, registry::list_markets))
        .routes(routes!(registry::create_merchant, registry::list_merchants))
        .routes(routes!(registry::get_merchant))
        .routes(routes!(qr::merchant_qr_svg))
        .routes(routes!(qr::merchant_qr_png))
        .routes(routes!(qr::voucher_qr_svg))
        .routes(routes!(qr::voucher_qr_png))
        .routes(routes!(registry::import::import_merchants))
        .routes(routes!(sync::push))
        .routes(routes!(sync::pull))
        .routes(routes!(public::shop))
        .routes(routes!(pages::public_trace::trace))
        .routes(routes!(trace::forward))
        .routes(routes!(trace::backward))
        .routes(routes!(recalls::create_recall, recalls::list_recalls))
        .routes(routes!(recalls::get_recall))
        .routes(routes!(staff::list_staff))
        .routes(routes!(staff::put_staff, staff::delete_staff))
        .routes(routes!(market::entry::routes::list_entry_checks))
        .routes(routes!(market::entry::routes::get_entry_check))
        .routes(routes!(market::holds::api::list_market_holds))
        .routes(routes!(market::holds::api::get_hold))
        .routes(routes!(market::self_checks::self_check_calendar))
        .routes(routes!(market::self_checks::follow_ups))
        .routes(routes!(exports::routes::trace_export))
        .routes(routes!(exports::routes::merchant_export))
        .routes(routes!(exports::routes::market_export))
        .routes(routes!(exports::routes::recall_export))
        .routes(routes!(field::checklists::list_checklists))
        .routes(routes!(field::record::inspection_record))
        .routes(routes!(
            field::attachments::put_attachment,
            field::attachments::get_attachment
        ))
        .routes(routes!(field::risk::risk_merchants))
        .routes(routes!(field::draws::create_draw))
        .routes(routes!(field::draws::public_draw))
        .routes(routes!(field::stats::inspection_stats))
        .routes(routes!(signing::well_known))
        .routes(routes!(signing::signed_code))
        .routes(routes!(signing::revoke_device))
        .routes(routes!(alerts::routes::list_alerts))
        .routes(routes!(alerts::routes::assign))
        .routes(routes!(alerts::routes::resolve))
        .routes(routes!(health::healthz))
        .routes(routes!(metrics::metrics_handler))
}

/// The OpenAPI document of [`api_router`].
pub fn openapi_doc() -> utoipa::openapi::OpenApi {
    openapi::finish(api_router(&Config::default()).into_openapi())
}

/// The whole HTTP application.
pub fn app(state: AppState) -> Router {
    metrics::register_defaults();
    let limit = state.config.body_limit;
    let (router, doc) = api_router(&state.config).split_for_parts();
    let doc = Arc::new(openapi::finish(doc));
    router
        .merge(pages::router(&state.config))
        .route(
            "/openapi.json",
            get(move || async move { axum::Json(doc.as_ref().clone()) }),
        )
        // Public pages from the micro-cache; then count and time matched
        // routes by their template (hits included: the outer layer runs
        // first).
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            page_cache::serve_cached,
        ))
        .route_layer(axum::middleware::from_fn(metrics::track))
        .fallback(errors::not_found_fallback)
        .method_not_allowed_fallback(errors::method_not_allowed_fallback)
        .layer(DefaultBodyLimit::max(limit))
        .layer(Extension(BodyLimit(limit)))
        // Last resort: a panic becomes a JSON 500, the connection and the
        // server survive.
        .layer(CatchPanicLayer::custom(errors::panic_response))
        .with_state(state)
}

/// Serves `state` on `listener` until `shutdown` resolves, then lets
/// in-flight requests finish and closes the store.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let store = state.store.clone();
    // Connect info gives handlers and layers the peer address (the
    // per-client-address limits key on it).
    axum::serve(
        listener,
        app(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await?;
    if let Err(e) = store.close().await {
        tracing::warn!(error = %e, "closing the store");
    }
    Ok(())
}

/// `shian-server serve`.
pub async fn run_serve(args: ServeArgs) -> Result<(), StartError> {
    let config = Config {
        body_limit: args.body_limit,
        token_ttl: chrono::Duration::seconds(
            i64::try_from(args.token_ttl)
                .unwrap_or(i64::MAX / 1000)
                .min(365 * 24 * 3600),
        ),
        login_max_failures: args.login_max_failures.max(1),
        login_lock: chrono::Duration::seconds(i64::from(args.login_lock_secs)),
        public_url: args.public_url.clone(),
        page_cache_ttl: std::time::Duration::from_secs(u64::from(args.page_cache_secs)),
        clients: rate_limit::ClientAddress::new(&args.trusted_proxy),
        ..Config::default()
    };
    let read_model = ReadModelOptions {
        catch_up_wait: std::time::Duration::from_millis(u64::from(args.trace_wait_ms)),
        faults: args.debug_fault.iter().copied().collect(),
    };
    let sqlite = SqliteOptions {
        readers: args.db_readers.clamp(1, 64),
        read_model,
        ..SqliteOptions::default()
    };
    let rules_version = cli::install_rules(&args)?;
    tracing::info!(rules = %rules_version, "ledger rules");
    let postgres = PgOptions {
        max_connections: u32::try_from(args.db_readers.clamp(1, 64) * 4).unwrap_or(16),
        read_model,
        ..PgOptions::default()
    };
    let state = AppState::open_target(&args.db, config, sqlite, postgres).await?;
    if args.demo {
        // The ground truth goes beside the database.
        let data_dir = args.db.files_dir(&args.data_dir);
        let summary = demo::load(state.store.as_ref(), args.demo_days, &data_dir).await?;
        demo::print(&summary);
        demo::print_traces(state.store.as_ref(), &summary).await?;
        println!("API: /openapi.json  健康 /healthz  指标 /metrics");
    }
    // The full warnings pass over what is stored (and any marks a crash
    // left behind). A server restarting over a city's ledger serves at
    // once and runs it beside the first requests (84 s at 10 M events in
    // a debug build): pushes meanwhile are judged by their own incremental
    // passes, one writer at a time. The demo runs it first, so that its
    // pages show every planted warning from the first request (loading
    // the demo waits longer anyway).
    if args.demo {
        alerts::scan(&state).await?;
    } else {
        let state = state.clone();
        tokio::spawn(async move {
            if let Err(e) = alerts::scan(&state).await {
                tracing::error!(error = %e, "alerts: the full pass at start failed; POST /v1/alerts/scan runs it again");
            }
        });
    }
    if args.recall_check_secs > 0 {
        let every = std::time::Duration::from_secs(u64::from(args.recall_check_secs));
        recalls::overdue::spawn(state.store.clone(), every);
    }
    if args.staff_check_secs > 0 {
        let every = std::time::Duration::from_secs(u64::from(args.staff_check_secs));
        staff::check::spawn(state.store.clone(), every);
    }
    if args.market_check_secs > 0 {
        let every = std::time::Duration::from_secs(u64::from(args.market_check_secs));
        market::self_check_tick::spawn(state.store.clone(), every);
        market::entry::tick::spawn(state.store.clone(), every);
    }
    if args.follow_ms > 0 {
        let every = std::time::Duration::from_millis(u64::from(args.follow_ms));
        follow::spawn(state.store.clone(), state.page_cache.clone(), every);
    }
    if args.snapshot_entries > 0 && args.snapshot_check_secs > 0 {
        let every = std::time::Duration::from_secs(u64::from(args.snapshot_check_secs));
        follow::spawn_snapshots(state.store.clone(), i64::from(args.snapshot_entries), every);
    }
    if state.keys.in_vault() {
        // Keys in the database: a rotation by the CLI or another instance
        // signs here within a second (`keys::vault`).
        let keys = state.keys.clone();
        tick::every(std::time::Duration::from_secs(1), move || {
            let keys = keys.clone();
            async move {
                let _ = tokio::task::spawn_blocking(move || keys.follow_vault()).await;
            }
        });
    }
    let listener = tokio::net::TcpListener::bind(&args.addr)
        .await
        .map_err(|source| StartError::Bind {
            addr: args.addr.clone(),
            source,
        })?;
    let local = listener.local_addr()?;
    tracing::info!(addr = %local, db = %args.db, kid = state.keys.kid(), "shian-server listening");
    // The handlers go in before the line that says the server is up: a
    // SIGTERM sent on reading it must stop the server cleanly.
    let stop = shutdown::signal();
    println!("shian-server listening on http://{local}");
    serve(listener, state, stop).await?;
    tracing::info!("shian-server stopped");
    Ok(())
}
