//! Key files made by several starts at once on one fresh data directory.

use std::sync::{Arc, Barrier};
use std::thread;

use shian_server::keys::Keys;

mod process;
use process::{create_user, serve};

/// Starts racing to make the keys of one data directory: every one must
/// load (none may read a half-written file) and all must hold the same
/// secrets (none may overwrite another's).
#[test]
fn racing_starts_read_the_same_keys() {
    const ROUNDS: usize = 200;
    const STARTS: usize = 4;
    for round in 0..ROUNDS {
        let dir = tempfile::tempdir().unwrap();
        let db = Arc::new(dir.path().join("data").join("shian.db"));
        let barrier = Arc::new(Barrier::new(STARTS));
        let starts: Vec<_> = (0..STARTS)
            .map(|_| {
                let (db, barrier) = (db.clone(), barrier.clone());
                thread::spawn(move || {
                    barrier.wait();
                    Keys::load_or_create(&db)
                })
            })
            .collect();
        let keys: Vec<Keys> = starts
            .into_iter()
            .map(|t| {
                t.join()
                    .unwrap()
                    .unwrap_or_else(|e| panic!("round {round}: {e}"))
            })
            .collect();
        for k in &keys[1..] {
            assert_eq!(k.jwt_secret(), keys[0].jwt_secret(), "round {round}");
            assert_eq!(k.kid(), keys[0].kid(), "round {round}");
        }
        // Only the two key files are left: no temporary file stays behind.
        let mut names: Vec<_> = std::fs::read_dir(dir.path().join("data").join("keys"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(
            names,
            ["jwt.secret", "signing-ed25519.key"],
            "round {round}"
        );
    }
}

/// Two real servers started at the same moment on one fresh data
/// directory serve the same signing key and accept each other's tokens.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_starting_at_once_share_the_keys() {
    let http = reqwest::Client::new();
    for round in 0..5 {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("data").join("shian.db");
        let (a, b) = {
            let (da, db2) = (db.clone(), db.clone());
            let ta = thread::spawn(move || serve(&da));
            let tb = thread::spawn(move || serve(&db2));
            (ta.join().unwrap(), tb.join().unwrap())
        };
        let mut kids = Vec::new();
        for s in [&a, &b] {
            let v: serde_json::Value = http
                .get(format!("{}/.well-known/shian-keys.json", s.base))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            kids.push(v["keys"][0]["kid"].as_str().unwrap().to_owned());
        }
        assert_eq!(kids[0], kids[1], "round {round}");

        // The JWT secret too: a token from one is good at the other.
        create_user(&db, "root", "root-password-1", "admin");
        let login: serde_json::Value = http
            .post(format!("{}/v1/auth/login", a.base))
            .json(&serde_json::json!({"username": "root", "password": "root-password-1"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let token = login["token"].as_str().unwrap();
        let res = http
            .get(format!("{}/v1/markets", b.base))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), reqwest::StatusCode::OK, "round {round}");
    }
}
