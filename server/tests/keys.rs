//! Key files made by several starts at once on one fresh data directory.

use std::sync::{Arc, Barrier};
use std::thread;

use shian_server::keys::Keys;

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
