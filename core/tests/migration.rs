//! Migrations from the first schema, on a real SQLite file.

use rusqlite::Connection;
use serde_json::json;
use shian_core::store::{schema, LocalStore, StoreError};

#[test]
fn a_v1_file_upgrades_with_its_data_and_outbox_intact() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    {
        let mut conn = Connection::open(&path).unwrap();
        schema::configure(&conn).unwrap();
        assert_eq!(
            schema::migrate_to(&mut conn, "ledger", schema::LEDGER, 1).unwrap(),
            1
        );
        // rows as the first version of the app wrote them
        conn.execute_batch(
            "INSERT INTO entries (entry_id, kind, merchant_id, at, recorded_at, trace_code, payload)
               VALUES ('0190f5b4-0000-7000-8000-000000000001', 'ledger.purchase', 'm1', '2026-10-01T08:00:00+08:00', '2026-10-01T00:00:00Z', '0000000000000000', '{}');
             INSERT INTO batches (trace_code, entry_id, merchant_id, product_name, category, unit, received, supplier, received_at)
               VALUES ('0000000000000000', '0190f5b4-0000-7000-8000-000000000001', 'm1', '冻鸡翅', 'poultry', 'g', 20000, '{\"name\":\"某禽场\"}', '2026-10-01T08:00:00+08:00');
             INSERT INTO outbox (op_id, kind, at, payload, created_at)
               VALUES ('0190f5b4-0000-7000-8000-000000000001', 'ledger.purchase', '2026-10-01T08:00:00+08:00', '{}', '2026-10-01T00:00:00Z');",
        )
        .unwrap();
        assert!(
            conn.prepare("SELECT state FROM outbox").is_err(),
            "v1 had no parking"
        );
    }
    let mut store = LocalStore::open(&path).unwrap();
    assert_eq!(
        schema::version(store.conn(), "ledger").unwrap(),
        schema::LEDGER.len()
    );
    let pending = store.outbox("pending", 10).unwrap();
    assert_eq!(
        pending.len(),
        1,
        "the unsent op survives the upgrade as pending"
    );
    let c = store.counts().unwrap();
    assert_eq!((c.entries, c.batches, c.warnings), (1, 1, 0));
    // the upgraded file takes new events against the old batch
    let sale = json!({"entry_id": uuid::Uuid::now_v7().to_string(), "merchant_id": "m1", "trace_code": "0000000000000000",
        "quantity": {"value": "25", "unit": "kg"}, "buyer": {"retail": true}, "sold_at": chrono::Utc::now().to_rfc3339()});
    store.set_authoritative(true);
    let w = store.record("ledger.sale", &sale).unwrap().warnings;
    assert_eq!(w[0].code, "sale_exceeds_stock");
    assert_eq!(
        store.counts().unwrap().warnings,
        1,
        "v2's warnings table is in use"
    );
}

#[test]
fn a_file_from_a_newer_app_is_refused_not_damaged() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new.db");
    {
        let conn = Connection::open(&path).unwrap();
        schema::version(&conn, "ledger").unwrap();
        conn.execute(
            "INSERT INTO schema_migrations (component, version) VALUES ('ledger', 99)",
            [],
        )
        .unwrap();
    }
    match LocalStore::open(&path) {
        Err(StoreError::SchemaTooNew { found: 99, .. }) => {}
        other => panic!("expected SchemaTooNew, got {:?}", other.err()),
    }
}
