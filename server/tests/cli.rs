//! The real binary: `admin create-user` while a server runs on the same file,
//! and `serve --demo` started, used and stopped with SIGTERM.

mod common;

use std::io::{BufRead, BufReader, Read, Seek};
use std::process::{Command, Stdio};

use common::{expect_error, TestServer};
use reqwest::StatusCode;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_shian-server");

fn create_user(db: impl AsRef<std::ffi::OsStr>, args: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .args(["admin", "create-user", "--db"])
        .arg(db)
        .args(args)
        .env_remove("SHIAN_DB")
        .env_remove("SHIAN_PASSWORD")
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_user_while_the_server_runs() {
    let s = TestServer::start().await;
    let admin = s.admin().await;
    let market = s.create_market(&admin).await; // the server is writing too
    let db = s.db_arg();

    let out = tokio::task::spawn_blocking(move || {
        create_user(
            &db,
            &[
                "--username",
                "zhang.san",
                "--password",
                "inspector-pass",
                "--role",
                "inspector",
                "--region",
                "350203",
                "--region",
                "350206",
            ],
        )
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("zhang.san"));

    let res = s.login("zhang.san", "inspector-pass").await;
    assert_eq!(res.status(), StatusCode::OK);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["role"], "inspector");
    assert_eq!(
        v["scope"]["regions"],
        serde_json::json!(["350203", "350206"])
    );

    // Refusals: taken name, merchant without merchant id, inspector without region, bad role, short password.
    let db = s.db_arg();
    let outs = tokio::task::spawn_blocking(move || {
        vec![
            create_user(
                &db,
                &[
                    "--username",
                    "ZHANG.SAN",
                    "--password",
                    "another-pass",
                    "--role",
                    "admin",
                ],
            ),
            create_user(
                &db,
                &[
                    "--username",
                    "shop",
                    "--password",
                    "merchant-pass",
                    "--role",
                    "merchant",
                ],
            ),
            create_user(
                &db,
                &[
                    "--username",
                    "shop",
                    "--password",
                    "merchant-pass",
                    "--role",
                    "merchant",
                    "--merchant-id",
                    "nope",
                ],
            ),
            create_user(
                &db,
                &[
                    "--username",
                    "insp",
                    "--password",
                    "inspector-pass",
                    "--role",
                    "inspector",
                ],
            ),
            create_user(
                &db,
                &[
                    "--username",
                    "x",
                    "--password",
                    "password1",
                    "--role",
                    "root",
                ],
            ),
            create_user(
                &db,
                &[
                    "--username",
                    "short",
                    "--password",
                    "short",
                    "--role",
                    "analyst",
                ],
            ),
        ]
    })
    .await
    .unwrap();
    for out in outs {
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("panicked"), "{err}");
    }
    expect_error(
        s.login("shop", "merchant-pass").await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;
    let _ = market;
    s.assert_healthy().await;
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_demo_and_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("nested").join("data").join("shian.db");
    let mut child = Command::new(BIN)
        .args([
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--demo",
            "--demo-days",
            "5",
            "--db",
        ])
        .arg(&db)
        .env("SHIAN_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (base, printed) = tokio::task::spawn_blocking(move || {
        let mut printed = String::new();
        for line in BufReader::new(stdout).lines() {
            let line = line.unwrap();
            printed.push_str(&line);
            printed.push('\n');
            if let Some(url) = line.strip_prefix("shian-server listening on ") {
                return (url.to_owned(), printed);
            }
        }
        panic!("server did not start: {printed}");
    })
    .await
    .unwrap();
    assert!(printed.contains("demo-admin-pass"), "{printed}");
    assert!(db.exists(), "database and its directory created");
    assert!(db.parent().unwrap().join("keys/jwt.secret").exists());
    assert!(db
        .parent()
        .unwrap()
        .join("keys/signing-ed25519.key")
        .exists());

    let http = reqwest::Client::new();
    let res = http
        .post(format!("{base}/v1/auth/login"))
        .json(&serde_json::json!({"username": "merchant1", "password": "demo-merchant1-pass"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let res = http
        .post(format!("{base}/v1/auth/login"))
        .json(&serde_json::json!({"username": "admin", "password": "demo-admin-pass"}))
        .send()
        .await
        .unwrap();
    let token = res.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let list: Value = http
        .get(format!("{base}/v1/merchants"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["total"], 478, "the generated seed-000 market");
    assert!(printed.contains("条记录 entries"), "{printed}");
    assert!(
        printed.contains("正向追溯 Forward trace"),
        "a sample trace is printed: {printed}"
    );
    assert_eq!(
        http.get(format!("{base}/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );

    // SIGTERM: a clean exit.
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    assert!(exit.success(), "{exit:?}");
}

/// The built-in ledger rules, the base of the province files below.
const RULES: &str = include_str!("../../core/data/ledger/rules-v1.json");

/// How a `serve` run ended before it listened, or the running server.
enum Served {
    Exited {
        status: std::process::ExitStatus,
        stderr: String,
    },
    Listening {
        child: std::process::Child,
        base: String,
    },
}

/// Starts `serve` on a free port over `db` with `args` and `env`, and waits
/// until it listens or exits.
fn serve(
    db: &std::path::Path,
    args: &[&std::ffi::OsStr],
    env: &[(&str, &std::ffi::OsStr)],
) -> Served {
    let mut log = tempfile::tempfile().unwrap();
    let mut child = Command::new(BIN)
        .args(["serve", "--addr", "127.0.0.1:0", "--db"])
        .arg(db)
        .args(args)
        .env_remove("SHIAN_RULES")
        .envs(env.iter().copied())
        .env("SHIAN_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(log.try_clone().unwrap())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    for line in BufReader::new(stdout).lines() {
        if let Some(url) = line.unwrap().strip_prefix("shian-server listening on ") {
            return Served::Listening {
                child,
                base: url.to_owned(),
            };
        }
    }
    let status = child.wait().unwrap();
    let mut stderr = String::new();
    log.seek(std::io::SeekFrom::Start(0)).unwrap();
    log.read_to_string(&mut stderr).unwrap();
    Served::Exited { status, stderr }
}

fn sigterm(mut child: std::process::Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert!(child.wait().unwrap().success());
}

/// Issue 11 item 7: a rules file that cannot be read or parsed stops
/// start-up with the file, line and column, before the database is touched.
#[test]
fn broken_rules_file_stops_serve() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let syntax = write(
        "syntax.json",
        "{\n  \"version\": \"fj-2026.1\",\n  \"source\" \"闽\"\n}\n",
    );
    let wrong_type = write(
        "wrong-type.json",
        &RULES.replace(
            "\"reject_missing_certificates\": false",
            "\"reject_missing_certificates\": \"no\"",
        ),
    );
    let unknown_category = write(
        "unknown-category.json",
        &RULES.replace("\"poultry\":", "\"poultryy\":"),
    );
    let missing = dir.path().join("missing.json");
    let cases: [(&std::path::Path, bool, &[&str]); 4] = [
        (&syntax, false, &["syntax.json:3:12:", "expected `:`"]),
        (&wrong_type, true, &["wrong-type.json:13:", "invalid type"]),
        (
            &unknown_category,
            false,
            &["unknown-category.json:6:", "unknown variant `poultryy`"],
        ),
        (&missing, false, &["missing.json", "无法读取 (cannot read)"]),
    ];
    for (i, (file, by_env, wanted)) in cases.into_iter().enumerate() {
        let db = dir.path().join(format!("db{i}")).join("shian.db");
        let served = if by_env {
            serve(&db, &[], &[("SHIAN_RULES", file.as_os_str())])
        } else {
            serve(&db, &["--rules".as_ref(), file.as_os_str()], &[])
        };
        let Served::Exited { status, stderr } = served else {
            panic!("{} was accepted", file.display());
        };
        assert!(!status.success(), "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        for w in wanted {
            assert!(stderr.contains(w), "{w} not in: {stderr}");
        }
        assert!(!db.exists(), "stopped before opening the database");
    }
}

/// A good province file starts the server and its rules apply: with
/// `reject_missing_certificates` a purchase without its certificate is
/// refused instead of recorded with a warning.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_rules_file_applies() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("shian.db");
    let rules = dir.path().join("province.json");
    std::fs::write(
        &rules,
        RULES
            .replace("\"ledger-2023.1\"", "\"province-test.1\"")
            .replace(
                "\"reject_missing_certificates\": false",
                "\"reject_missing_certificates\": true",
            ),
    )
    .unwrap();
    let (db2, rules2) = (db.clone(), rules.clone());
    let (out, served) = tokio::task::spawn_blocking(move || {
        let out = create_user(
            &db2,
            &[
                "--username",
                "root",
                "--password",
                "root-password-1",
                "--role",
                "admin",
            ],
        );
        (
            out,
            serve(&db2, &["--rules".as_ref(), rules2.as_os_str()], &[]),
        )
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let Served::Listening { child, base } = served else {
        panic!("did not start");
    };
    let http = reqwest::Client::new();
    let login = |user: &'static str, pw: &'static str| {
        let http = http.clone();
        let base = base.clone();
        async move {
            let v: Value = http
                .post(format!("{base}/v1/auth/login"))
                .json(&serde_json::json!({"username": user, "password": pw}))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            v["token"].as_str().unwrap().to_owned()
        }
    };
    let admin = login("root", "root-password-1").await;
    let res = http
        .post(format!("{base}/v1/merchants"))
        .bearer_auth(&admin)
        .json(
            &serde_json::json!({"name": "绿源蔬菜", "region_code": "350203",
            "uscc": common::uscc("9235020300000002"), "categories": ["vegetable"]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let merchant = res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (db2, m) = (db.clone(), merchant.clone());
    let out = tokio::task::spawn_blocking(move || {
        create_user(
            &db2,
            &[
                "--username",
                "shop",
                "--password",
                "shop-password-1",
                "--role",
                "merchant",
                "--merchant-id",
                &m,
            ],
        )
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let shop = login("shop", "shop-password-1").await;

    let now = chrono::Utc::now()
        .with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).unwrap())
        .to_rfc3339();
    let purchase = |certificates: Value| {
        let id = uuid::Uuid::now_v7().to_string();
        serde_json::json!({"op_id": id, "kind": "ledger.purchase", "at": now, "payload": {
            "entry_id": id, "merchant_id": merchant,
            "product": {"name": "菠菜", "category": "vegetable"},
            "quantity": {"value": "10", "unit": "kg"},
            "supplier": {"name": "同安蔬菜合作社", "region_code": "350212"},
            "certificates": certificates, "received_at": now}})
    };
    let res = http
        .post(format!("{base}/v1/sync/push"))
        .bearer_auth(&shop)
        .json(&serde_json::json!({"device_id": "shop-phone", "ops": [
            purchase(serde_json::json!([])),
            purchase(serde_json::json!([{"kind": "origin", "number": "CD-2026-0001"}])),
        ]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let v: Value = res.json().await.unwrap();
    let results = &v["results"];
    assert_eq!(results[0]["status"], "rejected", "{v}");
    assert_eq!(results[0]["error"]["code"], "missing_certificate", "{v}");
    assert_eq!(results[1]["status"], "accepted", "{v}");
    sigterm(child);
}
