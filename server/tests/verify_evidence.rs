//! `shian-server verify-evidence`, the real binary, on bundles made here
//! with core's log: an honest bundle holds (exit 0) and says what it does
//! not prove; an altered fact, a proof for another tree size and a bundle
//! made whole with a key of its own (caught by the published trust list)
//! do not (exit 1), naming what failed; a file that is not a bundle is an
//! error in words, not a crash.

use std::path::Path;
use std::process::{Command, Output};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::NaiveDate;
use ed25519_dalek::SigningKey;
use serde_json::{json, Value};
use shian_core::evidence::{
    fact_leaf, Bundle, BundledFact, Checkpoint, CheckpointSigner, MemoryLog, BUNDLE_FORMAT,
};
use shian_core::signed::{KeyStatus, TrustList, TrustedKey};

const BIN: &str = env!("CARGO_BIN_EXE_shian-server");
const LOG: &str = "shian.test/log/350203";

fn trusted(key: &SigningKey) -> TrustedKey {
    let public = key.verifying_key();
    TrustedKey {
        kid: shian_core::signed::trust::key_id(&public),
        alg: "Ed25519".into(),
        public_key: URL_SAFE_NO_PAD.encode(public.as_bytes()),
        status: KeyStatus::Active,
        signs: true,
        valid_from: NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
        valid_until: None,
    }
}

fn body(i: u64) -> Value {
    json!({"merchant_id": "m1", "product": {"name": "冻猪蹄", "category": "frozen"},
           "quantity": {"value": format!("{}", i + 1), "unit": "kg"}})
}

/// Facts 2 and 6 of a 9-leaf log, checkpointed at `size` and signed by `key`.
fn bundle(key: &SigningKey, size: u64) -> Bundle {
    let mut log = MemoryLog::new();
    for i in 0..9 {
        log.append(&fact_leaf("ledger.sale", &format!("e{i}"), &body(i)).unwrap())
            .unwrap();
    }
    let head = Checkpoint {
        origin: LOG.into(),
        size,
        root: log.root(size).unwrap(),
    };
    Bundle {
        format: BUNDLE_FORMAT.into(),
        subject: "追溯码 T1 正向追溯".into(),
        generated_at: "2026-12-03T17:00:00+08:00".into(),
        keys: vec![trusted(key)],
        checkpoints: vec![head.sign(&CheckpointSigner::new(LOG, key)).unwrap()],
        facts: [2u64, 6]
            .iter()
            .map(|&i| BundledFact {
                log: LOG.into(),
                index: i,
                kind: "ledger.sale".into(),
                id: format!("e{i}"),
                body: body(i),
                proof: log.inclusion(i, 9).unwrap(),
            })
            .collect(),
    }
}

fn run(dir: &Path, bundle: &str, trust: Option<&TrustList>) -> Output {
    let file = dir.join("bundle.json");
    std::fs::write(&file, bundle).unwrap();
    let mut cmd = Command::new(BIN);
    cmd.arg("verify-evidence").arg(&file);
    if let Some(t) = trust {
        let list = dir.join("shian-keys.json");
        std::fs::write(&list, serde_json::to_string(t).unwrap()).unwrap();
        cmd.arg("--trust-list").arg(list);
    }
    cmd.output().unwrap()
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_binary_confirms_an_honest_bundle_and_catches_each_lie() {
    let dir = tempfile::tempdir().unwrap();
    let key = SigningKey::from_bytes(&[5; 32]);
    let published = TrustList {
        keys: vec![trusted(&key)],
        revoked_devices: Vec::new(),
    };
    let honest = bundle(&key, 9);

    let out = run(
        dir.path(),
        &serde_json::to_string(&honest).unwrap(),
        Some(&published),
    );
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("已证明 2 条事实"), "{stdout}");
    assert!(
        stdout.contains("成立") && stdout.contains("Holds"),
        "{stdout}"
    );
    assert!(stdout.contains("不能证明"), "{stdout}");

    let mut altered = honest.clone();
    altered.facts[1].body = body(60);
    let mut other_size = bundle(&key, 8);
    other_size.facts = honest.facts.clone();
    let forged = bundle(&SigningKey::from_bytes(&[6; 32]), 9);
    for (what, b, names) in [
        ("an altered fact", &altered, "ledger.sale e6"),
        (
            "a proof for another tree size",
            &other_size,
            "ledger.sale e2",
        ),
        ("a bundle with a key of its own", &forged, "检查点被拒绝"),
    ] {
        let out = run(
            dir.path(),
            &serde_json::to_string(b).unwrap(),
            Some(&published),
        );
        let (stdout, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(1), "{what}: {stdout}{stderr}");
        assert!(stdout.contains("不成立"), "{what}: {stdout}");
        assert!(stdout.contains(names), "{what} names what failed: {stdout}");
        assert!(stderr.contains("证据不成立"), "{what}: {stderr}");
    }
    // Without the published list, the forged bundle checks against its own
    // key, and the report says to compare the key ids.
    let out = run(dir.path(), &serde_json::to_string(&forged).unwrap(), None);
    let (stdout, _) = text(&out);
    assert!(out.status.success());
    assert!(stdout.contains("--trust-list"), "{stdout}");

    for bad in ["{", "[]", r#"{"format":"shian-evidence/9"}"#] {
        let out = run(dir.path(), bad, None);
        let (stdout, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(1), "{bad}: {stdout}{stderr}");
        assert!(stderr.contains("证据包"), "{bad}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    let out = Command::new(BIN)
        .args(["verify-evidence", "/nonexistent/bundle.json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("无法读取"));
}
