//! Saving the ledger state's snapshot (`LedgerStore::save_ledger_snapshot`)
//! with three instances over one store: when all three find a snapshot
//! due at the same moment, one is saved, not three; one is not saved again
//! until enough new entries came; and an instance started afterwards reads
//! it. On either backend.

mod common;
mod field_common;

use serde_json::json;

use field_common::{now_cn, op, Field};
use shian_server::store::graph::Started;

async fn purchases(f: &Field, n: usize) {
    for _ in 0..n {
        let p = json!({"entry_id": uuid::Uuid::now_v7().to_string(), "merchant_id": f.m2,
            "product": {"name": "菠菜", "category": "vegetable"},
            "quantity": {"value": "10", "unit": "kg"},
            "supplier": {"name": "同安蔬菜合作社", "region_code": "350212"},
            "certificates": [], "received_at": now_cn(-60)});
        let r = f.push1(&f.m2_user, op("ledger.purchase", p)).await;
        assert_eq!(r["status"], "accepted", "{r}");
    }
}

/// Builds an instance's ledger state (the first trace does).
async fn built(s: &common::TestServer) {
    let none = s
        .store
        .trace_forward("NOSUCHBATCH00000".into())
        .await
        .unwrap();
    assert!(none.is_err(), "{none:?}");
    assert!(s.store.ledger_lag().is_some(), "the state is built");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_racing_to_save_save_one_snapshot() {
    let f = Field::start().await;
    let b = f.s.beside().await;
    let c = f.s.beside().await;
    purchases(&f, 12).await;
    for s in [&f.s, &b, &c] {
        built(s).await;
        s.store.follow_ledger().await.unwrap();
    }
    let (x, y, z) = tokio::join!(
        f.s.store.save_ledger_snapshot(10),
        b.store.save_ledger_snapshot(10),
        c.store.save_ledger_snapshot(10),
    );
    let saved: Vec<_> = [x, y, z].into_iter().filter_map(Result::unwrap).collect();
    assert_eq!(saved.len(), 1, "one of three saved: {saved:?}");
    assert_eq!(saved[0].position, 12);
    assert_eq!(f.s.count("SELECT count(*) FROM graph_snapshots"), 1);

    // Not again before ten more entries.
    purchases(&f, 9).await;
    b.store.follow_ledger().await.unwrap();
    assert_eq!(b.store.save_ledger_snapshot(10).await.unwrap(), None);
    purchases(&f, 1).await;
    b.store.follow_ledger().await.unwrap();
    let again = b
        .store
        .save_ledger_snapshot(10)
        .await
        .unwrap()
        .expect("due");
    assert_eq!(again.position, 22);

    // A fourth instance starts from it; the last two are kept.
    purchases(&f, 1).await;
    let d = f.s.beside().await;
    built(&d).await;
    assert_eq!(
        d.store.ledger_started(),
        Some(Started::Snapshot { at: 22, read: 1 })
    );
    purchases(&f, 10).await;
    d.store.follow_ledger().await.unwrap();
    assert!(d.store.save_ledger_snapshot(10).await.unwrap().is_some());
    assert_eq!(
        f.s.rows(
            "SELECT CAST(position AS TEXT) FROM graph_snapshots ORDER BY position",
            &[]
        ),
        vec![vec![Some("22".to_owned())], vec![Some("33".to_owned())]]
    );
}
