//! A trace waits a bounded time for its instance's read model (issue 15).
//! Instance B over A's store is made slow to catch up (each catch-up with
//! entries to read first sleeps 2 s: `Fault::SlowCatchUp`) and told to wait
//! 300 ms. A trace on B of what A just accepted is then refused with 503
//! `read_model_catching_up` and `Retry-After`, never answered from a model
//! that lacks it; the refused request's catch-up goes on, so a later trace
//! on B answers at once and names the holder. Writes are not bounded: a
//! push through B while it is behind is judged on everything committed.
//! On either backend.

mod common;
mod field_common;

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};
use shian_server::store::graph::{Faults, ReadModelOptions, SLOW_CATCH_UP};

use common::expect_error;
use field_common::{
    accepted, frozen_purchase, holders, new_code, now_cn, op, warning_codes, Field,
};

fn sale(merchant: &str, trace: &str, buyer: &str, qty: &str, voucher: Option<&str>) -> Value {
    op(
        "ledger.sale",
        json!({"entry_id": uuid::Uuid::now_v7().to_string(), "merchant_id": merchant,
               "trace_code": trace, "quantity": {"value": qty, "unit": "kg"},
               "buyer": {"merchant_id": buyer}, "voucher_code": voucher,
               "sold_at": now_cn(-90)}),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trace_on_an_instance_far_behind_is_refused_in_time_and_answers_once_caught_up() {
    let f = Field::start().await;
    let a = &f.s;
    let slow = ReadModelOptions {
        catch_up_wait: Duration::from_millis(300),
        faults: Faults {
            slow_catch_up: true,
            ..Faults::default()
        },
    };
    let b = a.beside_opened(shian_server::Config::default(), slow).await;
    let trace = new_code();
    // B's model is built and level with the store: nothing to catch up,
    // so the fault does not fire and B answers.
    let res = b
        .get(&format!("/v1/trace/{trace}/forward"), &f.analyst)
        .await;
    assert_ne!(res.status(), StatusCode::SERVICE_UNAVAILABLE);

    // Through A: m1 buys 20 kg and sells 5 kg of it to m2 with a voucher,
    // which m2 scans into a purchase of its own.
    let (downstream, voucher) = (new_code(), new_code());
    let done = a
        .push_from(
            &f.m1_user,
            "phone-m1",
            json!([
                op(
                    "ledger.purchase",
                    frozen_purchase(&f.m1, &trace, "20", None)
                ),
                sale(&f.m1, &trace, &f.m2, "5", Some(&voucher)),
            ]),
        )
        .await;
    accepted(&done[0]);
    accepted(&done[1]);
    let scanned = a
        .push_from(
            &f.m2_user,
            "phone-m2",
            json!([op(
                "ledger.purchase",
                frozen_purchase(&f.m2, &downstream, "5", Some(&voucher))
            )]),
        )
        .await;
    accepted(&scanned[0]);
    assert_eq!(
        holders(a, &f.analyst, &trace).await,
        vec![(downstream.clone(), f.m2.clone())]
    );

    // On B: refused within its wait, in the error shape, retry named.
    let res = b
        .get(&format!("/v1/trace/{trace}/forward"), &f.analyst)
        .await;
    let retry = res
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    let body = expect_error(
        res,
        StatusCode::SERVICE_UNAVAILABLE,
        "read_model_catching_up",
    )
    .await;
    assert!(
        body["error"]["message"].as_str().unwrap().contains("300"),
        "{body}"
    );
    assert_eq!(retry.as_deref(), Some("1"));

    // Nothing asked of B meanwhile: the refused request's catch-up runs on.
    tokio::time::sleep(SLOW_CATCH_UP + Duration::from_millis(700)).await;
    assert_eq!(
        holders(&b, &f.analyst, &trace).await,
        vec![(downstream.clone(), f.m2.clone())],
        "B caught up after the refusal, with no catch-up of its own left to wait for"
    );

    // A write through B while B is behind again is judged on everything
    // committed (writes catch up under their lock, without a bound): m1 has
    // 15 kg left, so a sale of 16 kg warns and one of 15 kg does not.
    let more = a
        .push_from(
            &f.m1_user,
            "phone-m1",
            json!([sale(&f.m1, &trace, &f.m2, "3", None)]),
        )
        .await;
    accepted(&more[0]);
    let through_b = b
        .push_from(
            &f.m1_user,
            "phone-m1",
            json!([sale(&f.m1, &trace, &f.m2, "12", None)]),
        )
        .await;
    assert!(
        !warning_codes(&accepted(&through_b[0])).contains(&"sale_exceeds_stock".to_owned()),
        "12 kg of the 12 left after A's sale: {}",
        through_b[0]
    );
    let over = b
        .push_from(
            &f.m1_user,
            "phone-m1",
            json!([sale(&f.m1, &trace, &f.m2, "1", None)]),
        )
        .await;
    assert!(
        warning_codes(&accepted(&over[0])).contains(&"sale_exceeds_stock".to_owned()),
        "nothing is left after B's own sale of the rest: {}",
        over[0]
    );
    a.assert_healthy().await;
    b.assert_healthy().await;
}
