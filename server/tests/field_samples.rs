//! Rapid tests and lab confirmation: a positive rapid test is not a failure;
//! its lab confirmation is, and raises an alert, a recall proposal and a
//! public finding.

mod common;
mod field_common;

use field_common::{accepted, now_cn, op, rejected, Field};
use serde_json::{json, Value};

fn rapid(merchant: &str, value: f64) -> Value {
    json!({
        "sample_id": uuid::Uuid::now_v7().to_string(),
        "merchant_id": merchant,
        "trace_code": "7K3M9QX2HD4RT8WB",
        "item": "pesticide_enzyme_inhibition",
        "method": "rapid",
        "value": value,
        "unit": "%",
        "limit": 50.0,
        "taken_at": now_cn(-20),
    })
}

fn lab(merchant: &str, confirms: &str, value: f64) -> Value {
    json!({
        "sample_id": uuid::Uuid::now_v7().to_string(),
        "merchant_id": merchant,
        "item": "毒死蜱",
        "method": "lab",
        "value": value,
        "unit": "mg/kg",
        "limit": 0.02,
        "taken_at": now_cn(-5),
        "confirms": confirms,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rapid_positive_then_lab_failure() {
    let f = Field::start().await;

    // A negative and a flagged reading: no alert.
    let r = accepted(
        &f.push1(&f.insp1, op("sample.record", rapid(&f.m2, 12.0)))
            .await,
    );
    assert_eq!(r["outcome"], "pass");
    let r = accepted(
        &f.push1(&f.insp1, op("sample.record", rapid(&f.m2, 45.0)))
            .await,
    );
    assert_eq!(r["outcome"], "flagged");

    // Positive rapid test: to be confirmed, not a failure yet.
    let first = rapid(&f.m2, 62.5);
    let rapid_id = first["sample_id"].as_str().unwrap().to_owned();
    let r = accepted(&f.push1(&f.insp1, op("sample.record", first)).await);
    assert_eq!(r["outcome"], "positive_unconfirmed");
    assert_eq!(r["needs_confirmation"], true);
    assert_eq!(r["counts_as_failure"], false);
    assert_eq!(f.count("SELECT COUNT(*) FROM alerts"), 0);

    // A lab result for a rapid test the server has not seen: retryable.
    let orphan = lab(&f.m2, &uuid::Uuid::now_v7().to_string(), 0.5);
    let e = rejected(
        &f.push1(&f.insp2, op("sample.record", orphan)).await,
        "unknown_sample",
    );
    assert_eq!(e["retryable"], true);
    // A lab result for another merchant than the rapid test's.
    rejected(
        &f.push1(&f.insp2, op("sample.record", lab(&f.m1, &rapid_id, 0.5)))
            .await,
        "confirmation_mismatch",
    );

    // The lab confirms: failure, alert, recall proposal for the batch.
    let r = accepted(
        &f.push1(&f.insp2, op("sample.record", lab(&f.m2, &rapid_id, 0.35)))
            .await,
    );
    assert_eq!(r["outcome"], "failed_confirmed", "{r}");
    assert_eq!(r["counts_as_failure"], true);
    assert_eq!(
        r["recall"]["trace_code"], "7K3M9QX2HD4RT8WB",
        "the batch comes from the rapid test"
    );
    let recall_id = r["recall_proposal_id"].as_str().unwrap().to_owned();

    // The confirmed failure is a sample row that counts (it weighs in the
    // pass-rate warnings, server/tests/alerts.rs), confirming the rapid test.
    let confirmed = f.s.rows(
        "SELECT merchant_id, confirms, CASE WHEN counts_as_failure THEN 1 ELSE 0 END
         FROM samples WHERE confirms IS NOT NULL",
        &[],
    );
    let some = |v: &str| Some(v.to_owned());
    assert_eq!(
        confirmed,
        vec![vec![some(&f.m2), some(&rapid_id), some("1")]]
    );
    let recall = f.s.rows(
        "SELECT trace_code, status FROM recall_proposals WHERE id = $1",
        &[&recall_id],
    );
    assert_eq!(
        recall,
        vec![vec![some("7K3M9QX2HD4RT8WB"), some("proposed")]]
    );
    let public = f.s.rows(
        "SELECT COUNT(*) FROM public_findings WHERE merchant_id = $1",
        &[&f.m2],
    );
    assert_eq!(
        public,
        vec![vec![some("1")]],
        "the shop's public record shows the failure"
    );
    // … and so does the consumer's JSON behind the shop's QR, without a login.
    let shop_code =
        f.s.text("SELECT shop_code FROM merchants WHERE id = $1", &[&f.m2])
            .unwrap();
    let page =
        f.s.http
            .get(f.s.url(&format!("/v1/public/shops/{}", shop_code.to_lowercase())))
            .send()
            .await
            .unwrap();
    assert_eq!(page.status(), 200);
    let page: Value = page.json().await.unwrap();
    assert_eq!(page["shop_code"], shop_code.as_str());
    assert_eq!(page["findings"].as_array().unwrap().len(), 1, "{page}");
    assert_eq!(page["findings"][0]["trace_code"], "7K3M9QX2HD4RT8WB");
    let unknown = shian_core::codes::new_code(&mut rand::rng());
    let r =
        f.s.http
            .get(f.s.url(&format!("/v1/public/shops/{unknown}")))
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), 404);
    let r =
        f.s.http
            .get(f.s.url("/v1/public/shops/NOT-A-CODE"))
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["field"], "shop_code");
    assert_eq!(f.count("SELECT COUNT(*) FROM samples"), 4);

    // The merchant sees its test results.
    let feed: Value =
        f.s.get("/v1/sync/pull", &f.m2_user)
            .await
            .json()
            .await
            .unwrap();
    let n = feed["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["kind"] == "sample.record")
        .count();
    assert_eq!(n, 4);

    // Out of district, and a merchant account, are refused.
    rejected(
        &f.push1(&f.insp1, op("sample.record", rapid(&f.m_far, 10.0)))
            .await,
        "out_of_district",
    );
    rejected(
        &f.push1(&f.m2_user, op("sample.record", rapid(&f.m2, 10.0)))
            .await,
        "forbidden_kind",
    );
    let mut bad = rapid(&f.m2, 10.0);
    bad["method"] = json!("lab");
    rejected(
        &f.push1(&f.insp1, op("sample.record", bad)).await,
        "invalid_field",
    );
    assert_eq!(f.count("SELECT COUNT(*) FROM samples"), 4);
    f.s.assert_healthy().await;
}
