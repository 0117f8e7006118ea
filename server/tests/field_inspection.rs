//! Checklists, the `inspection.record` op with its boundaries and refusals,
//! the printable record and attachments, through HTTP.

mod common;
mod field_common;

use common::expect_error;
use field_common::{accepted, inspection, op, rejected, sha256_hex, Failures, Field};
use reqwest::StatusCode;
use serde_json::{json, Value};

const T: &str = "food_sales_daily";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checklists_are_served_and_published_once() {
    let f = Field::start().await;
    // Any logged-in role reads them.
    for token in [&f.insp1, &f.analyst, &f.m1_user, &f.admin] {
        let res = f.s.get("/v1/checklists", token).await;
        assert_eq!(res.status(), StatusCode::OK);
        let v: Value = res.json().await.unwrap();
        let ts = v["templates"].as_array().unwrap();
        assert!(ts.len() >= 2);
        for t in ts {
            assert!(
                t["id"].is_string()
                    && t["version"].as_u64().unwrap() >= 1
                    && t["title"].is_string()
            );
            for item in t["items"].as_array().unwrap() {
                assert!(item["kind"] == "key" || item["kind"] == "general", "{item}");
                assert!(item["basis"].as_str().unwrap().contains('《'));
                assert!(item["text"].is_string() && item["id"].is_string());
            }
        }
    }
    expect_error(
        f.s.http
            .get(f.s.url("/v1/checklists"))
            .send()
            .await
            .unwrap(),
        StatusCode::UNAUTHORIZED,
        "missing_token",
    )
    .await;

    // Devices get the templates on the change feed, once, even after the
    // store is opened again (a restart).
    let pulled: Value =
        f.s.get("/v1/sync/pull", &f.insp1)
            .await
            .json()
            .await
            .unwrap();
    let checklists: Vec<&Value> = pulled["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["kind"] == "checklist")
        .collect();
    assert_eq!(checklists.len(), 2, "{pulled}");
    assert!(checklists
        .iter()
        .any(|c| c["payload"]["id"] == T && c["payload"]["items"].is_array()));
    let again =
        f.s.target
            .open(Default::default(), Default::default(), false)
            .await
            .unwrap();
    drop(again);
    assert_eq!(
        f.count("SELECT COUNT(*) FROM changes WHERE kind = 'checklist'"),
        2
    );

    // Every field route is documented.
    let doc: Value =
        f.s.http
            .get(f.s.url("/openapi.json"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    for p in [
        "/v1/checklists",
        "/v1/inspections/{id}/record",
        "/v1/attachments/{sha256}",
        "/v1/risk/merchants",
        "/v1/draws",
        "/v1/public/draws/{id}",
        "/v1/stats/inspections",
    ] {
        assert!(doc["paths"][p].is_object(), "{p} missing from openapi");
    }
    f.s.assert_healthy().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_at_the_boundaries() {
    let f = Field::start().await;
    let t = f.template(T).await;
    let photo = f
        .upload(&f.insp1, b"photo of the cold store".to_vec())
        .await;
    let pair = [f.insp1_id.as_str(), f.insp2_id.as_str()];
    let cases = [
        (Failures { general: 0, key: 0 }, "compliant"),
        (Failures { general: 8, key: 0 }, "basically_compliant"),
        (Failures { general: 9, key: 0 }, "non_compliant"),
        (Failures { general: 0, key: 1 }, "non_compliant"),
    ];
    let mut ids = Vec::new();
    for (fail, want) in cases {
        let p = inspection(&t, &f.m1, &pair, fail, &photo, want);
        let r = accepted(&f.push1(&f.insp1, op("inspection.record", p.clone())).await);
        assert_eq!(r["result"], want, "{fail:?}: {r}");
        assert_eq!(r["inspection_id"], p["inspection_id"]);
        assert_eq!(
            r["violations"].as_array().unwrap().len(),
            fail.general + fail.key
        );
        let action = r["follow_up"]["action"].as_str().unwrap();
        match want {
            "compliant" => assert_eq!(action, "none"),
            "basically_compliant" => {
                assert_eq!(action, "rectify_by_deadline");
                assert!(r["follow_up"]["deadline"].is_string());
            }
            _ => assert_eq!(action, "stop_and_investigate"),
        }
        if fail.key == 1 {
            assert_eq!(r["violations"][0]["kind"], "key");
            assert!(r["violations"][0]["basis"].as_str().unwrap().contains('《'));
        }
        ids.push(p["inspection_id"].as_str().unwrap().to_owned());
    }
    assert_eq!(f.count("SELECT COUNT(*) FROM inspections"), 4);

    // The same op again is a duplicate with the original outcome.
    let p = inspection(&t, &f.m2, &pair, Failures::default(), &photo, "compliant");
    let o = op("inspection.record", p);
    accepted(&f.push1(&f.insp2, o.clone()).await);
    let d = f.push1(&f.insp2, o).await;
    assert_eq!(d["status"], "duplicate");
    assert_eq!(d["result"]["result"], "compliant");
    assert_eq!(f.count("SELECT COUNT(*) FROM inspections"), 5);

    // The merchant sees its own results on its feed, the district too.
    let feed: Value =
        f.s.get("/v1/sync/pull", &f.m1_user)
            .await
            .json()
            .await
            .unwrap();
    let mine: Vec<&Value> = feed["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["kind"] == "inspection.record")
        .collect();
    assert_eq!(mine.len(), 4, "{feed}");
    assert!(mine
        .iter()
        .all(|c| c["payload"]["merchant_id"] == f.m1.as_str()));
    let district: Value =
        f.s.get("/v1/sync/pull", &f.insp2)
            .await
            .json()
            .await
            .unwrap();
    let n = district["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["kind"] == "inspection.record")
        .count();
    assert_eq!(n, 5);
    let other: Value =
        f.s.get("/v1/sync/pull", &f.m2_user)
            .await
            .json()
            .await
            .unwrap();
    let n = other["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["kind"] == "inspection.record")
        .count();
    assert_eq!(n, 1, "m2 sees only its own");
    f.s.assert_healthy().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_store_nothing() {
    let f = Field::start().await;
    let t = f.template(T).await;
    let photo = f.upload(&f.insp1, b"evidence".to_vec()).await;
    let pair = [f.insp1_id.as_str(), f.insp2_id.as_str()];

    // The phone says 符合 but an item failed.
    let p = inspection(
        &t,
        &f.m1,
        &pair,
        Failures { general: 1, key: 0 },
        &photo,
        "compliant",
    );
    let e = rejected(
        &f.push1(&f.insp1, op("inspection.record", p)).await,
        "result_mismatch",
    );
    assert_eq!(e["field"], "result");
    assert_eq!(e["retryable"], false);
    assert!(e["message"].as_str().unwrap().contains("基本符合"), "{e}");

    // One inspector only.
    let p = inspection(
        &t,
        &f.m1,
        &[f.insp1_id.as_str()],
        Failures::default(),
        &photo,
        "compliant",
    );
    let e = rejected(
        &f.push1(&f.insp1, op("inspection.record", p)).await,
        "too_few_inspectors",
    );
    assert_eq!(e["field"], "inspectors");

    // The pusher is not on the record.
    let p = inspection(&t, &f.m1, &pair, Failures::default(), &photo, "compliant");
    rejected(
        &f.push1(&f.insp3, op("inspection.record", p)).await,
        "inspector_not_listed",
    );

    // A second "inspector" that is no inspector account.
    let p = inspection(
        &t,
        &f.m1,
        &[f.insp1_id.as_str(), "nobody-0001"],
        Failures::default(),
        &photo,
        "compliant",
    );
    let e = rejected(
        &f.push1(&f.insp1, op("inspection.record", p)).await,
        "unknown_inspector",
    );
    assert_eq!(e["field"], "inspectors[1]");

    // The merchant is in 350206, the inspector's district is 350203.
    let p = inspection(
        &t,
        &f.m_far,
        &pair,
        Failures::default(),
        &photo,
        "compliant",
    );
    let e = rejected(
        &f.push1(&f.insp1, op("inspection.record", p)).await,
        "out_of_district",
    );
    assert_eq!(e["field"], "merchant_id");
    // …while its own district's inspector (with a colleague) may.
    let p = inspection(
        &t,
        &f.m_far,
        &[f.insp3_id.as_str(), f.insp1_id.as_str()],
        Failures::default(),
        &photo,
        "compliant",
    );
    accepted(&f.push1(&f.insp3, op("inspection.record", p)).await);

    // A template version this server does not know.
    let mut p = inspection(&t, &f.m1, &pair, Failures::default(), &photo, "compliant");
    p["template_version"] = json!(99);
    let e = rejected(
        &f.push1(&f.insp1, op("inspection.record", p)).await,
        "unknown_template",
    );
    assert_eq!(e["field"], "template_version");

    // An unknown merchant; a merchant account pushing an inspection; junk.
    let p = inspection(
        &t,
        "no-such-merchant",
        &pair,
        Failures::default(),
        &photo,
        "compliant",
    );
    rejected(
        &f.push1(&f.insp1, op("inspection.record", p)).await,
        "unknown_merchant",
    );
    let p = inspection(&t, &f.m1, &pair, Failures::default(), &photo, "compliant");
    rejected(
        &f.push1(&f.m1_user, op("inspection.record", p)).await,
        "forbidden_kind",
    );
    rejected(
        &f.push1(&f.insp1, op("inspection.record", json!({"merchant_id": 5})))
            .await,
        "invalid_payload",
    );

    // A photo not uploaded yet: retryable, so the same op is judged afresh
    // once the upload is there.
    let missing = b"uploaded later".to_vec();
    let p = inspection(
        &t,
        &f.m1,
        &pair,
        Failures::default(),
        &sha256_hex(&missing),
        "compliant",
    );
    let o = op("inspection.record", p);
    let e = rejected(&f.push1(&f.insp1, o.clone()).await, "unknown_attachment");
    assert_eq!(e["retryable"], true);
    assert!(e["field"].as_str().unwrap().starts_with("answers["));

    // Nothing of the refused ops was stored (one accepted, in 350206).
    assert_eq!(f.count("SELECT COUNT(*) FROM inspections"), 1);
    assert_eq!(
        f.count("SELECT COUNT(*) FROM changes WHERE kind = 'inspection.record'"),
        2
    );

    f.upload(&f.insp2, missing).await;
    accepted(&f.push1(&f.insp1, o).await);
    assert_eq!(f.count("SELECT COUNT(*) FROM inspections"), 2);

    // The same inspection id under another op id is refused.
    let p = inspection(&t, &f.m1, &pair, Failures::default(), &photo, "compliant");
    accepted(&f.push1(&f.insp1, op("inspection.record", p.clone())).await);
    rejected(
        &f.push1(&f.insp1, op("inspection.record", p)).await,
        "duplicate_inspection",
    );
    f.s.assert_healthy().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_printable_record() {
    let f = Field::start().await;
    let t = f.template(T).await;
    let photo = f.upload(&f.insp1, b"shelf".to_vec()).await;
    let p = inspection(
        &t,
        &f.m1,
        &[f.insp1_id.as_str(), f.insp2_id.as_str()],
        Failures { general: 2, key: 0 },
        &photo,
        "basically_compliant",
    );
    let id = p["inspection_id"].as_str().unwrap().to_owned();
    accepted(&f.push1(&f.insp1, op("inspection.record", p)).await);
    let path = format!("/v1/inspections/{id}/record");

    let res = f.s.get(&path, &f.analyst).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let html = res.text().await.unwrap();
    for want in [
        "监督检查结果记录表",
        "insp_wang",
        "insp_li",
        "鑫海冻品",
        "JY13502030000011",
        "☑ 基本符合",
        "整改期限",
        "<svg",
        &id,
    ] {
        assert!(html.contains(want), "record lacks {want}");
    }
    assert!(
        html.contains(&format!("{}{path}", f.s.base)),
        "the record's own URL"
    );
    assert!(!html.contains("<script"));

    // Who may read it: the inspectors on it, the merchant, analysts, admins.
    for token in [&f.insp1, &f.insp2, &f.m1_user, &f.admin] {
        assert_eq!(f.s.get(&path, token).await.status(), StatusCode::OK);
    }
    for token in [&f.insp3, &f.m2_user] {
        expect_error(
            f.s.get(&path, token).await,
            StatusCode::FORBIDDEN,
            "forbidden",
        )
        .await;
    }
    let unknown = format!("/v1/inspections/{}/record", uuid::Uuid::now_v7());
    expect_error(
        f.s.get(&unknown, &f.analyst).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect_error(
        f.s.get("/v1/inspections/not-a-uuid/record", &f.analyst)
            .await,
        StatusCode::BAD_REQUEST,
        "invalid_id",
    )
    .await;
    expect_error(
        f.s.http.get(f.s.url(&path)).send().await.unwrap(),
        StatusCode::UNAUTHORIZED,
        "missing_token",
    )
    .await;
    f.s.assert_healthy().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attachments_are_content_addressed() {
    let f = Field::start().await;
    let bytes = b"\xff\xd8\xff\xe0 a jpeg of a fridge thermometer".to_vec();
    let h = sha256_hex(&bytes);
    let url = f.s.url(&format!("/v1/attachments/{h}"));
    let put = |token: &str, body: Vec<u8>, url: String| {
        f.s.http
            .put(url)
            .bearer_auth(token.to_owned())
            .header("content-type", "image/jpeg")
            .body(body)
            .send()
    };

    let res = put(&f.insp1, bytes.clone(), url.clone()).await.unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["sha256"], h.as_str());
    assert_eq!(v["size"], bytes.len());
    assert_eq!(v["created"], true);
    // Idempotent.
    let res = put(&f.insp2, bytes.clone(), url.clone()).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.json::<Value>().await.unwrap()["created"], false);
    assert_eq!(f.count("SELECT COUNT(*) FROM attachments"), 1);

    // The body must hash to its name.
    let e = expect_error(
        put(&f.insp1, b"other bytes".to_vec(), url.clone())
            .await
            .unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "hash_mismatch",
    )
    .await;
    assert_eq!(e["error"]["field"], "sha256");
    expect_error(
        put(&f.insp1, bytes.clone(), f.s.url("/v1/attachments/xyz"))
            .await
            .unwrap(),
        StatusCode::BAD_REQUEST,
        "invalid_hash",
    )
    .await;
    // 5 MiB is the limit.
    let big = vec![7u8; 5 * 1024 * 1024 + 1];
    let big_url = f.s.url(&format!("/v1/attachments/{}", sha256_hex(&big)));
    expect_error(
        put(&f.insp1, big, big_url).await.unwrap(),
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
    )
    .await;
    let max = vec![8u8; 5 * 1024 * 1024];
    let max_url = f.s.url(&format!("/v1/attachments/{}", sha256_hex(&max)));
    assert_eq!(
        put(&f.m1_user, max, max_url).await.unwrap().status(),
        StatusCode::CREATED
    );
    // Analysts do not upload.
    expect_error(
        put(&f.analyst, bytes.clone(), url.clone()).await.unwrap(),
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;

    // Reading back.
    let res = f.s.get(&format!("/v1/attachments/{h}"), &f.analyst).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "image/jpeg");
    assert_eq!(res.bytes().await.unwrap().as_ref(), bytes.as_slice());
    // A merchant reads only its own uploads.
    expect_error(
        f.s.get(&format!("/v1/attachments/{h}"), &f.m1_user).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let unknown = sha256_hex(b"never uploaded");
    expect_error(
        f.s.get(&format!("/v1/attachments/{unknown}"), &f.insp1)
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    f.s.assert_healthy().await;
}
