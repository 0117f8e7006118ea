//! The real binary: `admin create-user` while a server runs on the same file,
//! and `serve --demo` started, used and stopped with SIGTERM.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use common::{expect_error, TestServer};
use reqwest::StatusCode;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_shian-server");

fn create_user(db: &std::path::Path, args: &[&str]) -> std::process::Output {
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
    let db = s.db.clone();

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
    let db = s.db.clone();
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
