//! Benchmark (not a test) of the warnings' quality (issue 13, item 2):
//! logs in to a running `serve --demo` server as the analyst, runs the full
//! warning pass (`POST /v1/alerts/scan`), pages through `GET /v1/alerts`
//! and scores the alerts per kind against the demo's ground truth
//! (`demo-truth.json`): TP, FP, FN, precision and recall, a near miss
//! alerted counted as a false positive. Prints a markdown table and a JSON
//! summary; `scripts/bench-warnings.sh` starts the server and runs it.
//!
//! `bench-warnings --base http://127.0.0.1:PORT --truth DIR/demo-truth.json [--json-out FILE]`
//!
//! Exits 0 when it measured (whatever the figures), 2 when the alerts API
//! is not there (a 404 from the scan or the list), 1 on any other failure.

mod compare;

use std::process::ExitCode;
use std::time::Instant;

use reqwest::blocking::Client;
use reqwest::StatusCode;
use serde_json::{json, Value};
use shian_core::generator::GroundTruth;

use compare::{compare, markdown, AlertKey, PRECISION_TARGET, RECALL_TARGET};

/// Alerts per page (the contract's `limit`; 100 is within any cap an
/// engine is likely to set).
const PAGE: usize = 100;

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

/// Why the run stopped.
enum Stop {
    /// The route answered 404: the warnings engine is not built (yet).
    Missing(String),
    Failed(String),
}

fn failed(e: impl std::fmt::Display) -> Stop {
    Stop::Failed(e.to_string())
}

/// The body of a 2xx answer; a 404 is [`Stop::Missing`].
fn ok_json(what: &str, res: reqwest::blocking::Response) -> Result<Value, Stop> {
    let status = res.status();
    let body = res.text().map_err(failed)?;
    if status == StatusCode::NOT_FOUND {
        return Err(Stop::Missing(format!("{what} answered 404: {body}")));
    }
    if !status.is_success() {
        return Err(Stop::Failed(format!("{what} answered {status}: {body}")));
    }
    serde_json::from_str(&body).map_err(|e| Stop::Failed(format!("{what}: {e}: {body}")))
}

fn run() -> Result<(), Stop> {
    let base = arg("--base").ok_or_else(|| failed("--base URL is required"))?;
    let truth_path = arg("--truth").ok_or_else(|| failed("--truth FILE is required"))?;
    let username = arg("--username").unwrap_or_else(|| "analyst".to_owned());
    let password = arg("--password").unwrap_or_else(|| "demo-analyst-pass".to_owned());
    let truth: GroundTruth = serde_json::from_str(
        &std::fs::read_to_string(&truth_path)
            .map_err(|e| Stop::Failed(format!("{truth_path}: {e}")))?,
    )
    .map_err(|e| Stop::Failed(format!("{truth_path}: {e}")))?;

    // The full pass can take a while over a big ledger.
    let http = Client::builder()
        .timeout(std::time::Duration::from_secs(1800))
        .build()
        .map_err(failed)?;
    let login = ok_json(
        "POST /v1/auth/login",
        http.post(format!("{base}/v1/auth/login"))
            .json(&json!({"username": username, "password": password}))
            .send()
            .map_err(failed)?,
    )?;
    let token = login["token"]
        .as_str()
        .ok_or_else(|| failed("the login answered no token"))?
        .to_owned();

    let started = Instant::now();
    let scan = ok_json(
        "POST /v1/alerts/scan",
        http.post(format!("{base}/v1/alerts/scan"))
            .bearer_auth(&token)
            .send()
            .map_err(failed)?,
    )?;
    let scan_wall_ms = started.elapsed().as_millis() as u64;

    let mut alerts = Vec::new();
    let mut unreadable = 0usize;
    let mut offset = 0usize;
    loop {
        let page = ok_json(
            "GET /v1/alerts",
            http.get(format!("{base}/v1/alerts?limit={PAGE}&offset={offset}"))
                .bearer_auth(&token)
                .send()
                .map_err(failed)?,
        )?;
        let items = page["alerts"]
            .as_array()
            .ok_or_else(|| failed("GET /v1/alerts: no alerts array"))?;
        for a in items {
            match AlertKey::from_json(a) {
                Some(k) => alerts.push(k),
                None => unreadable += 1,
            }
        }
        offset += items.len();
        let total = page["total"].as_u64().unwrap_or(0) as usize;
        if items.is_empty() || offset >= total {
            break;
        }
    }

    let report = compare(&truth, &alerts);
    println!(
        "# Warnings against the demo's ground truth (seed {})\n",
        truth.generator_seed
    );
    println!("{}", markdown(&report));
    println!(
        "Targets: recall ≥ {RECALL_TARGET}, precision ≥ {PRECISION_TARGET} per kind; a near miss alerted is a false positive."
    );
    if !report.unknown_kinds.is_empty() {
        println!(
            "Alerts of kinds outside the contract: {:?}",
            report.unknown_kinds
        );
    }
    if unreadable > 0 {
        println!("{unreadable} alerts without a kind or subject were skipped.");
    }
    let summary = json!({
        "report": report,
        "scan": scan,
        "scan_wall_ms": scan_wall_ms,
        "unreadable_alerts": unreadable,
    });
    let text = serde_json::to_string_pretty(&summary).map_err(failed)?;
    println!("\n```json\n{text}\n```");
    if let Some(path) = arg("--json-out") {
        std::fs::write(&path, &text).map_err(|e| Stop::Failed(format!("{path}: {e}")))?;
    }
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(Stop::Missing(why)) => {
            eprintln!("bench-warnings: the alerts API is not there: {why}");
            ExitCode::from(2)
        }
        Err(Stop::Failed(why)) => {
            eprintln!("bench-warnings: {why}");
            ExitCode::FAILURE
        }
    }
}
