//! The command line (DESIGN.md, "Command line"). Every setting can also come
//! from a `SHIAN_*` environment variable, for containers and systemd units.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::db::Role;
use crate::extract::DEFAULT_BODY_LIMIT;

/// Default database file; its directory is created on first start.
pub const DEFAULT_DB: &str = "./data/shian.db";

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
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// SQLite database file; keys are kept in `keys/` beside it.
    #[arg(long, env = "SHIAN_DB", default_value = DEFAULT_DB)]
    pub db: PathBuf,
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
    /// Read-only database connections.
    #[arg(long, env = "SHIAN_DB_READERS", default_value_t = 4)]
    pub db_readers: usize,
    /// Test-only fault points (see `db::graph::Fault`); hidden, off unless
    /// named.
    #[arg(long = "debug-fault", hide = true, value_enum)]
    pub debug_fault: Vec<crate::db::graph::Fault>,
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create an account.
    CreateUser(CreateUserArgs),
}

#[derive(Debug, Clone, Args)]
pub struct CreateUserArgs {
    #[arg(long, env = "SHIAN_DB", default_value = DEFAULT_DB)]
    pub db: PathBuf,
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
}

fn parse_role(s: &str) -> Result<Role, String> {
    s.parse()
}
