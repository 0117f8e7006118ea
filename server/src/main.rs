//! `shian-server`: see [`shian_server::cli`] for the commands.

use std::process::ExitCode;

use clap::Parser;
use shian_server::cli::{AdminCommand, Cli, Command};
use shian_server::store::postgres::PgOptions;
use shian_server::store::sqlite::SqliteOptions;
use shian_server::{admin, logging, run_serve};

/// mimalloc instead of glibc's malloc: see server/Cargo.toml.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    logging::init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("错误 (error): cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result: Result<(), String> = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => run_serve(args).await.map_err(|e| e.to_string()),
            Command::Admin(AdminCommand::CreateUser(args)) => create_user(args).await,
            Command::Keys(cmd) => shian_server::signing::cli::run(cmd).await,
            Command::VerifyEvidence { file, trust_list } => {
                shian_server::evidence::verify_file(&file, trust_list.as_deref())
            }
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("错误 (error): {e}");
            ExitCode::FAILURE
        }
    }
}

async fn create_user(args: shian_server::cli::CreateUserArgs) -> Result<(), String> {
    let sqlite = SqliteOptions {
        readers: 1,
        ..SqliteOptions::default()
    };
    let postgres = PgOptions {
        max_connections: 2,
        ..PgOptions::default()
    };
    let store = args
        .db
        .open(sqlite, postgres, false)
        .await
        .map_err(|e| format!("数据库 (database) {}: {e}", args.db))?
        .store;
    let result = admin::create_user(store.as_ref(), args).await;
    let _ = store.close().await;
    let user = result.map_err(|e| e.to_string())?;
    println!(
        "created user {} ({}) id {}",
        user.username, user.role, user.id
    );
    Ok(())
}
