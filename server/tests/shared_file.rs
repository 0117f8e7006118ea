//! Two server instances over one data directory (issue 15): each has its
//! own connections, ledger graph and price windows, as two processes behind
//! a load balancer have. Whatever one instance accepted, the other judges
//! pushes against and traces from: a voucher sold through one is known to
//! the other, redeemed once across both, a retried op answered from its
//! first result, and a trace on either names every holder.
//!
//! Before the graph followed the file, instance B judged against the
//! entries it had read at start: it accepted a voucher sold through A with
//! `voucher_not_yet_known`, accepted a second redemption of it, and traced
//! A's batch without the holder that B itself had accepted.

mod common;
mod field_common;

use common::TestServer;
use field_common::{
    accepted, frozen_purchase, holders, new_code, now_cn, op, warning_codes, Field,
};
use serde_json::{json, Value};

/// Pushes `ops` to one instance from `device`; the results.
async fn push(s: &TestServer, token: &str, device: &str, ops: Vec<Value>) -> Vec<Value> {
    s.push_from(token, device, Value::from(ops)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_instance_judges_and_traces_what_the_first_accepted() {
    let f = Field::start().await;
    let a = &f.s;
    let b = a.beside().await;
    let (upstream, downstream, voucher) = (new_code(), new_code(), new_code());

    // Through A: m1 buys 20 kg and sells 5 kg to m2 with a voucher.
    let sale_op = op(
        "ledger.sale",
        json!({"entry_id": uuid::Uuid::now_v7().to_string(), "merchant_id": f.m1,
               "trace_code": upstream, "quantity": {"value": "5", "unit": "kg"},
               "buyer": {"merchant_id": f.m2}, "voucher_code": voucher,
               "sold_at": now_cn(-90)}),
    );
    let first = push(
        a,
        &f.m1_user,
        "phone-m1",
        vec![
            op(
                "ledger.purchase",
                frozen_purchase(&f.m1, &upstream, "20", None),
            ),
            sale_op.clone(),
        ],
    )
    .await;
    accepted(&first[0]);
    let sold = accepted(&first[1]);

    // The same sale retried, landing on B: the first answer again.
    let retried = push(&b, &f.m1_user, "phone-m1", vec![sale_op]).await;
    assert_eq!(retried[0]["status"], "duplicate", "{}", retried[0]);
    assert_eq!(
        retried[0]["result"], sold,
        "a retry answers the first result"
    );

    // Through B: m2 scans the voucher — B knows it.
    let redeemed = push(
        &b,
        &f.m2_user,
        "phone-m2",
        vec![op(
            "ledger.purchase",
            frozen_purchase(&f.m2, &downstream, "5", Some(&voucher)),
        )],
    )
    .await;
    let result = accepted(&redeemed[0]);
    assert!(
        !warning_codes(&result).contains(&"voucher_not_yet_known".to_owned()),
        "B judged the voucher sold through A as unknown: {result}"
    );

    // Through A again: the voucher is spent, whichever instance spent it.
    let again = push(
        a,
        &f.m2_user,
        "phone-m2",
        vec![op(
            "ledger.purchase",
            frozen_purchase(&f.m2, &new_code(), "5", Some(&voucher)),
        )],
    )
    .await;
    assert_eq!(again[0]["status"], "rejected", "{}", again[0]);
    assert_eq!(
        again[0]["error"]["code"], "voucher_already_redeemed",
        "{}",
        again[0]
    );

    // Both instances trace m1's batch to m2's, at once.
    let want = vec![(downstream.clone(), f.m2.clone())];
    assert_eq!(holders(a, &f.analyst, &upstream).await, want, "A's trace");
    assert_eq!(holders(&b, &f.analyst, &upstream).await, want, "B's trace");

    // Exactly once in the file.
    let conn = rusqlite::Connection::open(&a.db).unwrap();
    let n: i64 = conn
        .query_row("SELECT COUNT(*) FROM entries", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 3, "purchase, sale, redemption: each once");
    a.assert_healthy().await;
    b.assert_healthy().await;
}

/// The follower's look (what `serve` runs in the background): it reads what
/// the other instance committed, says how far behind it was, and
/// `/healthz` shows where the instance stands.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_follower_reads_the_other_instance_and_reports_its_lag() {
    let f = Field::start().await;
    let a = &f.s;
    let b = a.beside().await;
    let start = b.store.follow_ledger().await.unwrap().expect("graph built");
    assert_eq!(start.entries, 0);

    let ops = (0..3)
        .map(|_| {
            op(
                "ledger.purchase",
                frozen_purchase(&f.m1, &new_code(), "20", None),
            )
        })
        .collect();
    for r in push(a, &f.m1_user, "phone-m1", ops).await {
        accepted(&r);
    }
    let looked = b.store.follow_ledger().await.unwrap().unwrap();
    assert_eq!(looked.entries, 3, "three entries behind when it looked");
    assert_eq!(looked.position, start.position + 3);
    let again = b.store.follow_ledger().await.unwrap().unwrap();
    assert_eq!(again.entries, 0, "nothing new the second time");

    let health: Value = b
        .http
        .get(b.url("/healthz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["ledger"]["position"], looked.position, "{health}");
    assert_eq!(health["ledger"]["behind"], 0, "{health}");
    let metrics = b
        .http
        .get(b.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("shian_ledger_graph_position"), "{metrics}");
    a.assert_healthy().await;
}
