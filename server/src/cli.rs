//! The command line (DESIGN.md, "Command line"). Every setting can also come
//! from a `SHIAN_*` environment variable, for containers and systemd units.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use shian_core::inspection::{InspectionRules, RiskGrader, SampleRules};
use shian_core::rules::{LedgerRules, RulesFileError};

use crate::db_target::DbTarget;
use crate::extract::DEFAULT_BODY_LIMIT;
use crate::store::Role;

/// Default database file; its directory is created on first start.
pub const DEFAULT_DB: &str = "./data/shian.db";

/// Default folder of the server's files beside a PostgreSQL store.
pub const DEFAULT_DATA_DIR: &str = "./data";

#[derive(Debug, Parser)]
#[command(
    name = "shian-server",
    version,
    about = "食安 Shian: food-safety supervision server"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server.
    Serve(ServeArgs),
    /// Administration on the database file (works while the server runs).
    #[command(subcommand)]
    Admin(AdminCommand),
    /// The signing keys of shop codes and device certificates.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Check an evidence bundle offline and say what it proves (exit 0:
    /// it holds; 1: it does not, or cannot be read).
    VerifyEvidence {
        /// The bundle (`shian-evidence/1` JSON).
        file: PathBuf,
        /// The trust list the authority publishes
        /// (`/.well-known/shian-keys.json`); without it the bundle's own
        /// keys are used and the report says so.
        #[arg(long)]
        trust_list: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Make a new signing key and sign with it from now on; the old keys
    /// keep verifying what they signed.
    Rotate {
        #[arg(long, env = "SHIAN_DB", default_value = DEFAULT_DB)]
        db: DbTarget,
    },
    /// Withdraw a key: what it signed no longer verifies (not the key that
    /// signs: rotate first).
    Retire {
        /// The key id (`ed25519-…`, see /.well-known/shian-keys.json).
        kid: String,
        #[arg(long, env = "SHIAN_DB", default_value = DEFAULT_DB)]
        db: DbTarget,
    },
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// The store: a SQLite database file (keys are kept in `keys/` beside
    /// it), or a `postgres://user[:password]@host:port/db` URL (several
    /// instances may serve one database).
    #[arg(long, env = "SHIAN_DB", default_value = DEFAULT_DB)]
    pub db: DbTarget,
    /// With PostgreSQL: the folder of the demo's ground truth (the keys are
    /// in the database). With SQLite the files sit beside the database
    /// file, the keys in `keys/`.
    #[arg(long, env = "SHIAN_DATA_DIR", default_value = DEFAULT_DATA_DIR)]
    pub data_dir: PathBuf,
    /// Address to listen on, HOST:PORT.
    #[arg(long, env = "SHIAN_ADDR", default_value = "127.0.0.1:8080")]
    pub addr: String,
    /// Generate the demo market (seed 000's frozen-food market), load its
    /// ledger, create demo accounts and print the logins and a sample trace.
    #[arg(long, env = "SHIAN_DEMO")]
    pub demo: bool,
    /// Days of trading the demo generates (more: longer chains, slower start).
    #[arg(long, env = "SHIAN_DEMO_DAYS", default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=365))]
    pub demo_days: u32,
    /// Largest request body in bytes (413 above it).
    #[arg(long, env = "SHIAN_BODY_LIMIT", default_value_t = DEFAULT_BODY_LIMIT)]
    pub body_limit: usize,
    /// Lifetime of login tokens, in seconds.
    #[arg(long, env = "SHIAN_TOKEN_TTL", default_value_t = 12 * 3600)]
    pub token_ttl: u64,
    /// Consecutive wrong passwords that lock an account.
    #[arg(long, env = "SHIAN_LOGIN_MAX_FAILURES", default_value_t = 5)]
    pub login_max_failures: u32,
    /// How long a locked account stays locked, in seconds.
    #[arg(long, env = "SHIAN_LOGIN_LOCK_SECS", default_value_t = 60)]
    pub login_lock_secs: u32,
    /// The province's ledger rules file (JSON in the form of
    /// core/data/ledger/rules-v1.json); without it the built-in rules apply.
    /// A file that cannot be read or parsed stops start-up.
    #[arg(long, env = "SHIAN_RULES")]
    pub rules: Option<PathBuf>,
    /// The address the public reaches this server at, e.g.
    /// `https://shian.example.cn` (what shop QR codes and stall signs carry);
    /// without it, each request's Host header.
    #[arg(long, env = "SHIAN_PUBLIC_URL", value_parser = parse_public_url)]
    pub public_url: Option<String>,
    /// Seconds a public page (`/s/…`, `/t/…`, their JSON twins) is kept in
    /// memory and served again without rendering; 0 renders every request.
    /// A page lags a write by at most this long.
    #[arg(long, env = "SHIAN_PAGE_CACHE_SECS", default_value_t = 5)]
    pub page_cache_secs: u32,
    /// Seconds between checks for recall holders silent past their start
    /// deadline (each gets one reminder notice); 0 turns the check off.
    #[arg(long, env = "SHIAN_RECALL_CHECK_SECS", default_value_t = 300)]
    pub recall_check_secs: u32,
    /// Seconds between checks of the staff's health certificates (one that
    /// expired at midnight raises its warning); 0 turns the check off.
    #[arg(long, env = "SHIAN_STAFF_CHECK_SECS", default_value_t = 300)]
    pub staff_check_secs: u32,
    /// Seconds between the market checks: missed self-inspections, overdue
    /// follow-ups and purchases past their entry-check grace (their
    /// warnings); 0 turns the checks off.
    #[arg(long, env = "SHIAN_MARKET_CHECK_SECS", default_value_t = 60)]
    pub market_check_secs: u32,
    /// Milliseconds between looks at what other instances over the same
    /// store committed (several instances behind a load balancer); traces
    /// and recalls catch up before they answer anyway. 0 turns it off.
    #[arg(long, env = "SHIAN_FOLLOW_MS", default_value_t = 250)]
    pub follow_ms: u32,
    /// Milliseconds a trace, recall or hold waits for this instance's
    /// read model to catch up with what is committed; past it the request
    /// answers 503 `read_model_catching_up` with `Retry-After` (the catch-up
    /// goes on). At least 1: a zero wait would refuse every catch-up.
    #[arg(long, env = "SHIAN_TRACE_WAIT_MS",
          default_value_t = crate::store::graph::DEFAULT_CATCH_UP_WAIT_MS,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub trace_wait_ms: u32,
    /// Saves this instance's in-memory ledger state once this many entries
    /// came after the newest saved one, so that a starting instance reads
    /// the snapshot and the entries after it instead of every entry. About
    /// 60–70 bytes an entry; encoding holds writes off while it runs, hence
    /// a large default. 0 turns saving off.
    #[arg(long, env = "SHIAN_SNAPSHOT_ENTRIES", default_value_t = 1_000_000)]
    pub snapshot_entries: u32,
    /// Seconds between looks at whether a snapshot is due.
    #[arg(long, env = "SHIAN_SNAPSHOT_CHECK_SECS", default_value_t = 30)]
    pub snapshot_check_secs: u32,
    /// A load balancer or reverse proxy in front of this server (an IP
    /// address; repeat, or comma-separate in the variable): its requests
    /// count against the client it names in `X-Real-IP` (else the last
    /// `X-Forwarded-For` hop) in the per-address limits. Any other peer's
    /// headers are ignored.
    #[arg(long, env = "SHIAN_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxy: Vec<std::net::IpAddr>,
    /// Read-only database connections.
    #[arg(long, env = "SHIAN_DB_READERS", default_value_t = 4)]
    pub db_readers: usize,
    /// Test-only fault points (see `store::graph::Fault`); hidden, off unless
    /// named.
    #[arg(long = "debug-fault", hide = true, value_enum)]
    pub debug_fault: Vec<crate::store::graph::Fault>,
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create an account.
    CreateUser(CreateUserArgs),
}

#[derive(Debug, Clone, Args)]
pub struct CreateUserArgs {
    /// The store, as `serve --db`.
    #[arg(long, env = "SHIAN_DB", default_value = DEFAULT_DB)]
    pub db: DbTarget,
    #[arg(long)]
    pub username: String,
    /// At least 8 characters. SHIAN_PASSWORD keeps it out of the process list.
    #[arg(long, env = "SHIAN_PASSWORD", hide_env_values = true)]
    pub password: String,
    #[arg(long, value_parser = parse_role)]
    pub role: Role,
    /// Required for merchant accounts: the merchant they act for.
    #[arg(long)]
    pub merchant_id: Option<String>,
    /// GB/T 2260 code an inspector covers; repeat or comma-separate.
    #[arg(long = "region", value_delimiter = ',')]
    pub regions: Vec<String>,
    /// A market a market operator runs; repeat for several (required for
    /// `--role market_operator`, refused for any other role).
    #[arg(long = "market-id")]
    pub market_ids: Vec<String>,
}

/// An `http://` or `https://` URL with a host and nothing after it but an
/// optional path; kept without its trailing slash.
fn parse_public_url(s: &str) -> Result<String, String> {
    let url = s.trim().trim_end_matches('/');
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or("should start with http:// or https://")?;
    let host = rest.split('/').next().unwrap_or("");
    let fine = |b: u8| b.is_ascii_alphanumeric() || b"-._~/:[]%".contains(&b);
    if host.is_empty() || !rest.bytes().all(fine) {
        return Err("should be http(s)://host[:port][/path] with no query".into());
    }
    Ok(url.to_owned())
}

fn parse_role(s: &str) -> Result<Role, String> {
    s.parse()
}

/// Why `serve` would not start with its rules.
#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    #[error("{0}")]
    File(#[from] RulesFileError),
    /// An embedded rules file this build ships is broken (a test proves
    /// each parses, so only a bad build gets here).
    #[error("内置规则 (built-in rules): {0}")]
    Builtin(String),
    #[error("账本规则已在使用，不能更换 (ledger rules already in use)")]
    AlreadyInUse,
}

/// Fixes the rules `serve` enforces, before the store opens (its ledger
/// graph is built with them) and before any request: the `--rules` file if
/// given, else the built-in set. The embedded inspection, sample and risk
/// rules are parsed here too, so a broken one stops start-up instead of
/// failing every request later. Returns the ledger rules' version.
pub fn install_rules(args: &ServeArgs) -> Result<String, RulesError> {
    let builtin = |e: shian_core::inspection::InspectionError| RulesError::Builtin(e.to_string());
    InspectionRules::builtin().map_err(builtin)?;
    SampleRules::builtin().map_err(builtin)?;
    RiskGrader::builtin().map_err(builtin)?;
    let Some(path) = &args.rules else {
        return Ok(crate::sync::rules().version.clone());
    };
    let rules = LedgerRules::load(path)?;
    let version = rules.version.clone();
    if !crate::sync::install_rules(rules) {
        return Err(RulesError::AlreadyInUse);
    }
    Ok(version)
}

#[cfg(test)]
mod tests {
    use super::parse_public_url;

    #[test]
    fn public_urls_are_http_or_https_with_a_host() {
        assert_eq!(
            parse_public_url(" https://shian.example.cn/ ").as_deref(),
            Ok("https://shian.example.cn")
        );
        assert_eq!(
            parse_public_url("http://10.0.0.5:8080/shian").as_deref(),
            Ok("http://10.0.0.5:8080/shian")
        );
        for bad in [
            "shian.example.cn",
            "https://",
            "https://a b",
            "https://x/?q=1",
            "ftp://x",
        ] {
            assert!(parse_public_url(bad).is_err(), "{bad}");
        }
    }
}
