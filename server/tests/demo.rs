//! `serve --demo` plants the warnings' cases (and routine inspections)
//! through the real services and writes their ground truth beside the
//! database; a second start loads nothing twice and leaves the truth as it
//! was.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_shian-server");

/// Starts the demo over `db`, waits until it listens; the child and its base URL.
fn start(db: &Path) -> (Child, String) {
    let mut child = Command::new(BIN)
        .args([
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--demo",
            "--demo-days",
            "3",
            "--db",
        ])
        .arg(db)
        .env("SHIAN_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut printed = String::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        printed.push_str(&line);
        printed.push('\n');
        if let Some(url) = line.strip_prefix("shian-server listening on ") {
            return (child, url.to_owned());
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("server did not start: {printed}");
}

fn stop(mut child: Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert!(child.wait().unwrap().success());
}

async fn complaints_total(base: &str) -> u64 {
    let http = reqwest::Client::new();
    let login: Value = http
        .post(format!("{base}/v1/auth/login"))
        .json(&serde_json::json!({"username": "analyst", "password": "demo-analyst-pass"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let list: Value = http
        .get(format!("{base}/v1/complaints?limit=1"))
        .bearer_auth(login["token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    list["total"].as_u64().unwrap()
}

fn count(db: &Path, table: &str) -> i64 {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_plants_its_cases_once_and_writes_the_truth() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("shian.db");
    let truth_path = dir.path().join("demo-truth.json");

    let (child, base) = start(&db);
    let complaints = complaints_total(&base).await;
    stop(child);
    let truth_text = std::fs::read_to_string(&truth_path).expect("demo-truth.json written");
    let truth: Value = serde_json::from_str(&truth_text).unwrap();
    assert_eq!(truth["generator_seed"], 20_261_122);
    let cases = truth["cases"].as_array().unwrap();
    for kind in [
        "licence_expiring_7d",
        "pass_rate_abnormal",
        "not_sampled",
        "complaints_frequent",
        "complaint_hot_topic",
    ] {
        assert!(
            cases
                .iter()
                .any(|c| c["kind"] == kind && c["planted"] == true),
            "{kind} planted"
        );
        assert!(
            cases
                .iter()
                .any(|c| c["kind"] == kind && c["planted"] == false),
            "{kind} has a near miss"
        );
    }
    let samples = count(&db, "samples");
    let inspections = count(&db, "inspections");
    assert!(inspections > 500, "{inspections} inspections recorded");
    assert!(count(&db, "inspections WHERE result = 'compliant'") * 2 > inspections);
    let failed = count(&db, "samples WHERE counts_as_failure");
    assert!(complaints >= 50, "{complaints} complaints filed");
    assert!(samples > 1_000, "{samples} samples recorded");
    assert!(
        failed > 0 && failed * 10 < samples,
        "{failed} failed of {samples}"
    );
    // Each lab failure went through the field service: its public finding,
    // and the falling pass rates their warning (the alerts of issue 13).
    assert!(count(&db, "alerts WHERE kind = 'pass_rate_abnormal'") > 0);
    assert_eq!(
        count(&db, "public_findings WHERE kind = 'sample_failure'"),
        failed
    );

    // The market's month of entry checks: refusals among them, and
    // purchases that entered unchecked warned of (issue 14).
    let checks = count(&db, "entry_checks");
    assert!(checks > 100, "{checks} entry checks");
    assert!(count(&db, "entry_checks WHERE decision = 'refused'") > 0);
    assert!(count(&db, "alerts WHERE kind = 'entry_check_missing'") > 0);

    // A second start: nothing loaded twice, the truth untouched.
    let (child, base) = start(&db);
    assert_eq!(complaints_total(&base).await, complaints);
    stop(child);
    assert_eq!(count(&db, "samples"), samples);
    assert_eq!(count(&db, "inspections"), inspections);
    assert_eq!(count(&db, "entry_checks"), checks);
    assert_eq!(std::fs::read_to_string(&truth_path).unwrap(), truth_text);
}
