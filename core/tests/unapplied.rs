//! Pulled changes the device cannot apply are kept, shown and retried, never
//! dropped (issue 11), on a real SQLite file.

use chrono::{Duration, Utc};
use serde_json::{json, Value};
use shian_core::rules::LedgerRules;
use shian_core::store::LocalStore;
use shian_core::sync::protocol::Change;
use uuid::Uuid;

fn ago(hours: i64) -> String {
    (Utc::now() - Duration::hours(hours)).to_rfc3339()
}

fn purchase(merchant: &str, category: &str, certs: Value) -> Value {
    json!({
        "entry_id": Uuid::now_v7().to_string(), "merchant_id": merchant,
        "product": {"name": "冻鸡腿", "category": category},
        "quantity": {"value": "20", "unit": "kg"},
        "supplier": {"name": "某某禽场", "region_code": "350203"},
        "certificates": certs, "received_at": ago(48),
    })
}

fn change(seq: i64, kind: &str, payload: Value) -> Change {
    Change {
        seq,
        kind: kind.into(),
        payload,
    }
}

/// Rules of a market that refuses a purchase without its certificates.
fn strict() -> LedgerRules {
    let mut rules = LedgerRules::builtin();
    rules.reject_missing_certificates = true;
    rules.version = "test-strict-1".into();
    rules
}

#[test]
fn a_pulled_event_the_device_cannot_apply_shows_in_status_and_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("device.db");
    let good = purchase(
        "m1",
        "poultry",
        json!([{"kind": "quarantine", "number": "3502031234567"}]),
    );
    // No quantity: does not parse.
    let broken = json!({"entry_id": Uuid::now_v7().to_string(), "merchant_id": "m1",
        "trace_code": "0000000000000000", "buyer": {"retail": true}, "sold_at": ago(2)});
    // Poultry without its quarantine certificate: this device's rules refuse it.
    let refused = purchase("m1", "poultry", json!([]));
    let nameless = json!({"name": "无编号的商户卡"});
    let page = vec![
        change(1, "ledger.purchase", good.clone()),
        change(2, "ledger.sale", broken.clone()),
        change(3, "ledger.purchase", refused.clone()),
        change(4, "merchant", nameless.clone()),
        change(5, "merchant", json!({"id": "m2", "name": "鹭江饭店"})),
    ];
    {
        let mut s = LocalStore::open_with_rules(&path, strict()).unwrap();
        assert_eq!(s.apply_page(&page, "s5.3").unwrap(), 2, "the good ones");
        assert_eq!(
            s.cursor().unwrap(),
            "s5.3",
            "the cursor moves past the page"
        );
        assert_eq!(s.counts().unwrap().entries, 1);

        let kept = s.unapplied().unwrap();
        let seen: Vec<(i64, &str, &str)> = kept
            .iter()
            .map(|u| (u.seq, u.kind.as_str(), u.reason_code.as_str()))
            .collect();
        assert_eq!(
            seen,
            vec![
                (2, "ledger.sale", "missing_field"),
                (3, "ledger.purchase", "missing_certificate"),
                (4, "merchant", "missing_id"),
            ],
            "{kept:?}"
        );
        let payloads: Vec<Value> = kept
            .iter()
            .map(|u| serde_json::from_str(&u.payload).unwrap())
            .collect();
        assert_eq!(
            payloads,
            vec![broken.clone(), refused.clone(), nameless.clone()]
        );
        assert_eq!(kept[0].field.as_deref(), Some("quantity"));
        for u in &kept {
            assert!(!u.message.is_empty(), "{u:?}");
            assert_eq!(u.rules_version, "test-strict-1");
            assert_eq!(u.core_version, env!("CARGO_PKG_VERSION"));
            assert_eq!(u.attempts, 1);
            assert_eq!(u.first_tried_at, u.last_tried_at);
        }
        assert_eq!(s.sync_status().unwrap().unapplied, 3);
    }

    // Closed and opened again under the same rules and version: still there,
    // not retried on its own.
    {
        let mut s = LocalStore::open_with_rules(&path, strict()).unwrap();
        assert_eq!(s.sync_status().unwrap().unapplied, 3);
        assert!(s.unapplied().unwrap().iter().all(|u| u.attempts == 1));
        // The app retries: nothing has changed, so each is tried once more
        // and kept with its reason.
        assert_eq!(s.retry_unapplied().unwrap(), 0);
        let kept = s.unapplied().unwrap();
        assert_eq!(kept.len(), 3);
        assert!(kept.iter().all(|u| u.attempts == 2), "{kept:?}");
        assert_eq!(kept[1].reason_code, "missing_certificate");
    }

    // Opened with other rules (this build's, which take a purchase without
    // its certificate with a warning): the refused purchase applies at once.
    let s = LocalStore::open(&path).unwrap();
    let kept = s.unapplied().unwrap();
    let seqs: Vec<i64> = kept.iter().map(|u| u.seq).collect();
    assert_eq!(seqs, vec![2, 4], "{kept:?}");
    assert!(kept
        .iter()
        .all(|u| u.attempts == 3 && u.rules_version == LedgerRules::builtin().version));
    assert_eq!(s.sync_status().unwrap().unapplied, 2);
    assert_eq!(s.counts().unwrap().entries, 2);
    let w = s.warnings("m1", 10).unwrap();
    assert_eq!(w.len(), 1);
    assert_eq!(w[0].0, refused["entry_id"].as_str().unwrap());
    assert_eq!(w[0].1.code, "missing_certificate");
}

#[test]
fn a_refused_pull_applies_when_the_app_retries_after_what_blocked_it_is_gone() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = LocalStore::open(dir.path().join("device.db")).unwrap();
    // This tablet holds a purchase and, offline, a sale from it; meanwhile
    // the merchant's other phone voided the purchase on the server.
    let p = purchase("m1", "frozen", json!([]));
    let code = s.record("ledger.purchase", &p).unwrap().trace_code.unwrap();
    let sale = json!({"entry_id": Uuid::now_v7().to_string(), "merchant_id": "m1", "trace_code": code,
        "quantity": {"value": "5", "unit": "kg"}, "buyer": {"retail": true}, "sold_at": ago(1)});
    s.record("ledger.sale", &sale).unwrap();
    let void = json!({"entry_id": Uuid::now_v7().to_string(), "merchant_id": "m1",
        "voided_entry_id": p["entry_id"], "reason": "录入错误", "at": ago(1)});
    assert_eq!(
        s.apply_page(&[change(7, "ledger.void", void.clone())], "s0.7")
            .unwrap(),
        0
    );
    let kept = s.unapplied().unwrap();
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].reason_code, "batch_has_movements");
    assert_eq!(kept[0].field.as_deref(), Some("voided_entry_id"));

    // The user voids the local sale; the server's void now applies.
    let undo = json!({"entry_id": Uuid::now_v7().to_string(), "merchant_id": "m1",
        "voided_entry_id": sale["entry_id"], "reason": "批次已作废", "at": ago(0)});
    s.record("ledger.void", &undo).unwrap();
    assert_eq!(s.retry_unapplied().unwrap(), 1);
    assert!(s.unapplied().unwrap().is_empty());
    assert_eq!(s.sync_status().unwrap().unapplied, 0);
    let voided: bool = s
        .conn()
        .query_row(
            "SELECT voided FROM batches WHERE trace_code = ?1",
            [&code],
            |r| r.get(0),
        )
        .unwrap();
    assert!(voided, "the server's void is applied here");
}
