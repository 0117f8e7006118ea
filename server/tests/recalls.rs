//! Recalls through the real HTTP server: a batch sold on over three hops
//! (partial sales, a disposal, a voided sale) is recalled; the recall names
//! exactly its holders and what each received, every holder's phones pull
//! the notice and every district's inspectors the progress, confirmations
//! over what was received are refused and kept, two phones' confirmations
//! count the same in any order, the recall closes when all confirmed, the
//! silent are reminded once, and bad input answers in the error shape.

mod common;
mod field_common;

use std::collections::BTreeSet;

use common::{csrf_of, expect_error, forged, uscc, TestServer};
use field_common::{accepted, now_cn, op, rejected, Field, PW};
use reqwest::StatusCode;
use serde_json::{json, Value};
use shian_server::db_target::DbTarget;
use shian_server::store::Role;

/// The text columns of every row `sql` answers (text parameters `$1`,
/// `$2`…; a NULL is `None`), on whichever store the server runs: the few
/// checks that look into the store itself, in SQL both backends read.
fn rows(s: &TestServer, sql: &str, params: &[&str]) -> Vec<Vec<Option<String>>> {
    match &s.target {
        DbTarget::Sqlite(path) => {
            let c = rusqlite::Connection::open(path).unwrap();
            let mut st = c.prepare(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
            let n = st.column_count();
            st.query_map(rusqlite::params_from_iter(params.iter()), |r| {
                (0..n).map(|i| r.get::<_, Option<String>>(i)).collect()
            })
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
            .map(|r| r.unwrap_or_else(|e| panic!("{sql}: {e}")))
            .collect()
        }
        // The synchronous client may not block the runtime's thread.
        DbTarget::Postgres(url) => tokio::task::block_in_place(|| {
            let mut c = postgres::Client::connect(url, postgres::NoTls).unwrap();
            let params: Vec<&(dyn postgres::types::ToSql + Sync)> = params
                .iter()
                .map(|p| p as &(dyn postgres::types::ToSql + Sync))
                .collect();
            c.query(sql, &params)
                .unwrap_or_else(|e| panic!("{sql}: {e}"))
                .iter()
                .map(|r| {
                    (0..r.len())
                        .map(|i| r.get::<_, Option<String>>(i))
                        .collect()
                })
                .collect()
        }),
    }
}

/// The one text value `sql` answers (see [`rows`]).
fn text(s: &TestServer, sql: &str, params: &[&str]) -> String {
    rows(s, sql, params)
        .into_iter()
        .next()
        .and_then(|r| r.into_iter().next().flatten())
        .unwrap_or_else(|| panic!("{sql}: no value"))
}

fn code() -> String {
    shian_core::codes::new_code(&mut rand::rng())
}

fn id() -> String {
    uuid::Uuid::now_v7().to_string()
}

fn purchase(merchant: &str, trace: &str, kg: &str, voucher: Option<&str>) -> Value {
    json!({"entry_id": id(), "merchant_id": merchant,
           "product": {"name": "进口奶酪", "category": "dairy"},
           "quantity": {"value": kg, "unit": "kg"},
           "supplier": {"name": "厦门某进口商", "region_code": "350206"},
           "certificates": [{"kind": "origin", "number": "CD-2026-0009"}],
           "trace_code": trace, "voucher_code": voucher,
           "unit_price_fen": 4500, "received_at": now_cn(-300)})
}

fn sale(merchant: &str, trace: &str, kg: &str, buyer: Value, voucher: Option<&str>) -> Value {
    json!({"entry_id": id(), "merchant_id": merchant, "trace_code": trace,
           "quantity": {"value": kg, "unit": "kg"}, "buyer": buyer, "voucher_code": voucher,
           "unit_price_fen": 6000, "sold_at": now_cn(-200)})
}

/// The ledger of the story, and its accounts.
struct Story {
    f: Field,
    m3: String,
    m3_user: String,
    far_user: String,
    /// A merchant with nothing of the batch.
    m5: String,
    m5_user: String,
    root: String,
    b2: String,
    b_far: String,
    b4: String,
}

async fn new_merchant(f: &Field, body: Value) -> String {
    let res = f.s.post("/v1/merchants", &f.admin, body).await;
    let status = res.status();
    let v: Value = res.json().await.unwrap();
    assert_eq!(status, StatusCode::CREATED, "{v}");
    v["id"].as_str().unwrap().to_owned()
}

/// m1 buys 100 kg (root), sells 30 kg to m2 and 20 kg to m_far (350206)
/// with vouchers, 10 kg at retail, destroys 5 kg, and sells 7 kg to m3
/// with a voucher that it voids before m3 scans it. m2 sells 12 kg of its
/// 30 on to m3 (third hop) and 5 kg at retail; m3 sells 2 kg at retail.
async fn story() -> Story {
    let f = Field::start().await;
    let m3 = new_merchant(
        &f,
        json!({"market_id": f.market, "name": "巷口便利店", "uscc": uscc("9235020300000043"),
               "categories": ["dairy"], "stall": "C-09"}),
    )
    .await;
    let m5 = new_merchant(
        &f,
        json!({"market_id": f.market, "name": "无关干货", "uscc": uscc("9235020300000053"),
               "categories": ["grain_oil"], "stall": "D-01"}),
    )
    .await;
    f.s.user("shop3", PW, Role::Merchant, Some(&m3), &[]).await;
    f.s.user("shopfar", PW, Role::Merchant, Some(&f.m_far), &[])
        .await;
    f.s.user("shop5", PW, Role::Merchant, Some(&m5), &[]).await;
    let m3_user = f.s.token("shop3", PW).await;
    let far_user = f.s.token("shopfar", PW).await;
    let m5_user = f.s.token("shop5", PW).await;
    let (root, b2, b_far, b4) = (code(), code(), code(), code());
    let (v2, v_far, v_void, v4) = (code(), code(), code(), code());
    let m = |k: &str| json!({"merchant_id": k});
    accepted(
        &f.push1(
            &f.m1_user,
            op("ledger.purchase", purchase(&f.m1, &root, "100", None)),
        )
        .await,
    );
    let voided = sale(&f.m1, &root, "7", m(&m3), Some(&v_void));
    let voided_id = voided["entry_id"].as_str().unwrap().to_owned();
    for r in f
        .push(
            &f.m1_user,
            vec![
                op("ledger.sale", sale(&f.m1, &root, "30", m(&f.m2), Some(&v2))),
                op(
                    "ledger.sale",
                    sale(&f.m1, &root, "20", m(&f.m_far), Some(&v_far)),
                ),
                op(
                    "ledger.sale",
                    sale(&f.m1, &root, "10", json!({"retail": true}), None),
                ),
                op(
                    "ledger.dispose",
                    json!({"entry_id": id(), "merchant_id": f.m1, "trace_code": root,
                           "quantity": {"value": "5", "unit": "kg"}, "method": "destroyed",
                           "reason": "包装破损", "at": now_cn(-150)}),
                ),
                op("ledger.sale", voided),
                op(
                    "ledger.void",
                    json!({"entry_id": id(), "merchant_id": f.m1, "voided_entry_id": voided_id,
                           "reason": "录入错误", "at": now_cn(-140)}),
                ),
            ],
        )
        .await
    {
        accepted(&r);
    }
    accepted(
        &f.push1(
            &f.m2_user,
            op("ledger.purchase", purchase(&f.m2, &b2, "30", Some(&v2))),
        )
        .await,
    );
    accepted(
        &f.push1(
            &far_user,
            op(
                "ledger.purchase",
                purchase(&f.m_far, &b_far, "20", Some(&v_far)),
            ),
        )
        .await,
    );
    for r in f
        .push(
            &f.m2_user,
            vec![
                op("ledger.sale", sale(&f.m2, &b2, "12", m(&m3), Some(&v4))),
                op(
                    "ledger.sale",
                    sale(&f.m2, &b2, "5", json!({"retail": true}), None),
                ),
            ],
        )
        .await
    {
        accepted(&r);
    }
    accepted(
        &f.push1(
            &m3_user,
            op("ledger.purchase", purchase(&m3, &b4, "12", Some(&v4))),
        )
        .await,
    );
    accepted(
        &f.push1(
            &m3_user,
            op(
                "ledger.sale",
                sale(&m3, &b4, "2", json!({"retail": true}), None),
            ),
        )
        .await,
    );
    Story {
        f,
        m3,
        m3_user,
        far_user,
        m5,
        m5_user,
        root,
        b2,
        b_far,
        b4,
    }
}

async fn start(s: &Story, body: Value) -> Value {
    let res = s.f.s.post("/v1/recalls", &s.f.analyst, body).await;
    let status = res.status();
    let v: Value = res.json().await.unwrap();
    assert_eq!(status, StatusCode::CREATED, "{v}");
    v
}

async fn recall(s: &Story, id: &str) -> Value {
    let res = s.f.s.get(&format!("/v1/recalls/{id}"), &s.f.analyst).await;
    assert_eq!(res.status(), StatusCode::OK);
    res.json().await.unwrap()
}

/// Every change of `kind` the account pulls.
async fn pulled(s: &Story, token: &str, kind: &str) -> Vec<Value> {
    let v: Value =
        s.f.s
            .get("/v1/sync/pull?limit=1000", token)
            .await
            .json()
            .await
            .unwrap();
    v["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["kind"] == kind)
        .map(|c| c["payload"].clone())
        .collect()
}

fn kg(v: &str) -> Value {
    json!({"value": v, "unit": "kg"})
}

fn confirm(
    recall_id: &str,
    merchant: &str,
    trace: &str,
    held: &str,
    returned: &str,
    destroyed: &str,
) -> Value {
    json!({"recall_id": recall_id, "merchant_id": merchant, "trace_code": trace,
           "held": kg(held), "returned": kg(returned), "destroyed": kg(destroyed)})
}

/// An op made on the phone `minutes` from now.
fn op_at(kind: &str, payload: Value, minutes: i64) -> Value {
    json!({"op_id": id(), "kind": kind, "at": now_cn(minutes), "payload": payload})
}

/// Pushes from a named device and returns the results.
async fn push_from(s: &Story, token: &str, device: &str, ops: Vec<Value>) -> Vec<Value> {
    s.f.s.push_from(token, device, Value::from(ops)).await
}

fn holder<'a>(r: &'a Value, trace: &str) -> &'a Value {
    r["holders"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["trace_code"] == trace)
        .unwrap_or_else(|| panic!("no holder {trace} in {r}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recall_over_three_hops_names_exactly_the_holders_and_what_each_received() {
    let s = story().await;
    let r = start(
        &s,
        json!({"trace_code": s.root.to_lowercase(), "level": 1, "reason": "检出李斯特菌"}),
    )
    .await;
    assert_eq!(r["trace_code"], s.root.as_str(), "the code is canonical");
    assert_eq!(r["level"], 1);
    assert_eq!(r["status"], "active");
    let got: BTreeSet<(String, String, String, u64)> = r["holders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            assert_eq!(h["received"]["unit"], "kg");
            (
                h["merchant_id"].as_str().unwrap().to_owned(),
                h["trace_code"].as_str().unwrap().to_owned(),
                h["received"]["value"].as_str().unwrap().to_owned(),
                h["depth"].as_u64().unwrap(),
            )
        })
        .collect();
    let want: BTreeSet<(String, String, String, u64)> = [
        (s.f.m1.clone(), s.root.clone(), "100".to_owned(), 0),
        (s.f.m2.clone(), s.b2.clone(), "30".to_owned(), 1),
        (s.f.m_far.clone(), s.b_far.clone(), "20".to_owned(), 1),
        (s.m3.clone(), s.b4.clone(), "12".to_owned(), 2),
    ]
    .into_iter()
    .collect();
    assert_eq!(got, want, "the voided sale to m3 names no holder");
    for h in r["holders"].as_array().unwrap() {
        assert_eq!(h["state"], "pending");
        assert!(h["held"].is_null() && h["confirmed_at"].is_null());
        assert_eq!(h["overdue"], false);
    }
    assert_eq!(r["progress"]["holders"], 4);
    assert_eq!(r["progress"]["pending"], 4);
    assert_eq!(r["progress"]["totals"][0]["received"], kg("162"));
    assert_eq!(r["progress"]["totals"][0]["unconfirmed"], kg("162"));
    assert_eq!(holder(&r, &s.b_far)["region_code"], "350206");
    // Level 1: start within 24 h.
    let started = chrono::DateTime::parse_from_rfc3339(r["started_at"].as_str().unwrap()).unwrap();
    let start_by =
        chrono::DateTime::parse_from_rfc3339(r["deadlines"]["start_by"].as_str().unwrap()).unwrap();
    assert_eq!(start_by - started, chrono::Duration::hours(24));
    assert!(r["deadlines"]["finish_by"].is_string());
    // The same recall, read back and listed.
    assert_eq!(
        recall(&s, r["id"].as_str().unwrap()).await["holders"],
        r["holders"]
    );
    let list: Value =
        s.f.s
            .get("/v1/recalls?status=active", &s.f.analyst)
            .await
            .json()
            .await
            .unwrap();
    assert_eq!(list["total"], 1);
    assert_eq!(list["recalls"][0]["id"], r["id"]);
    assert_eq!(list["recalls"][0]["pending"], 4);
    let closed: Value =
        s.f.s
            .get("/v1/recalls?status=closed", &s.f.analyst)
            .await
            .json()
            .await
            .unwrap();
    assert_eq!(closed["total"], 0);
    s.f.s.assert_healthy().await;
}

/// The recall's spreadsheet is its forward trace: every movement of every
/// holder's batch, the voided sale left out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recall_exports_every_movement_of_its_holders() {
    let s = story().await;
    let r = start(
        &s,
        json!({"trace_code": s.root, "level": 2, "reason": "标签不符"}),
    )
    .await;
    let rid = r["id"].as_str().unwrap();
    let res =
        s.f.s
            .get(
                &format!("/v1/recalls/{rid}/export?format=csv"),
                &s.f.analyst,
            )
            .await;
    assert_eq!(res.status(), StatusCode::OK);
    let bytes = res.bytes().await.unwrap();
    assert!(bytes.starts_with(b"\xEF\xBB\xBF"), "UTF-8 with BOM");
    let text = String::from_utf8(bytes[3..].to_vec()).unwrap();
    for code in [&s.root, &s.b2, &s.b_far, &s.b4] {
        assert!(text.contains(code.as_str()), "holder batch {code}: {text}");
    }
    // The same rows as the forward trace's own export.
    let trace =
        s.f.s
            .get(
                &format!("/v1/traces/{}/export?format=csv&direction=forward", s.root),
                &s.f.analyst,
            )
            .await
            .bytes()
            .await
            .unwrap();
    assert_eq!(&bytes[..], &trace[..]);
    let res =
        s.f.s
            .get(
                &format!("/v1/recalls/{}/export?format=csv", id()),
                &s.f.analyst,
            )
            .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let res =
        s.f.s
            .get("/v1/recalls/not-a-uuid/export?format=csv", &s.f.analyst)
            .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let res =
        s.f.s
            .get(
                &format!("/v1/recalls/{rid}/export?format=pdf"),
                &s.f.analyst,
            )
            .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    s.f.s.assert_healthy().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_holder_pulls_its_notice_and_every_district_its_progress() {
    let s = story().await;
    let r = start(
        &s,
        json!({"trace_code": s.root, "level": 2, "reason": "标签虚假标注产地"}),
    )
    .await;
    let rid = r["id"].as_str().unwrap();
    for (token, merchant, batches) in [
        (&s.f.m1_user, &s.f.m1, vec![&s.root]),
        (&s.f.m2_user, &s.f.m2, vec![&s.b2]),
        (&s.far_user, &s.f.m_far, vec![&s.b_far]),
        (&s.m3_user, &s.m3, vec![&s.b4]),
    ] {
        let notices = pulled(&s, token, "recall.notice").await;
        assert_eq!(notices.len(), 1, "{notices:?}");
        let n = &notices[0];
        assert_eq!(n["id"], rid);
        assert_eq!(n["merchant_id"], merchant.as_str());
        assert_eq!(n["level"], 2);
        assert_eq!(n["level_zh"], "二级召回");
        assert_eq!(n["reason"], "标签虚假标注产地");
        assert_eq!(n["reminder"], false);
        let codes: Vec<&str> = n["batches"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["trace_code"].as_str().unwrap())
            .collect();
        assert_eq!(
            codes,
            batches.iter().map(|c| c.as_str()).collect::<Vec<_>>()
        );
    }
    assert!(
        pulled(&s, &s.m5_user, "recall.notice").await.is_empty(),
        "a shop without the batch gets nothing"
    );
    // 思明区's inspectors see their three holders; 湖里区's the one there.
    let here = pulled(&s, &s.f.insp1, "recall.progress").await;
    assert_eq!(here.len(), 1, "{here:?}");
    assert_eq!(here[0]["id"], format!("{rid}@350203"));
    let mut ms: Vec<&str> = here[0]["holders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["merchant_id"].as_str().unwrap())
        .collect();
    ms.sort_unstable();
    let mut want = vec![s.f.m1.as_str(), s.f.m2.as_str(), s.m3.as_str()];
    want.sort_unstable();
    assert_eq!(ms, want);
    let far = pulled(&s, &s.f.insp3, "recall.progress").await;
    assert_eq!(far.len(), 1);
    assert_eq!(far[0]["holders"][0]["merchant_id"], s.f.m_far.as_str());
    assert_eq!(far[0]["holders"][0]["state"], "pending");
    let _ = &s.m5;
    s.f.s.assert_healthy().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_confirmation_beyond_what_was_received_is_refused_and_kept_with_its_reason() {
    let s = story().await;
    let r = start(
        &s,
        json!({"trace_code": s.root, "level": 1, "reason": "检出李斯特菌"}),
    )
    .await;
    let rid = r["id"].as_str().unwrap();
    // m2 received 30 kg: 20 + 6 + 5 = 31 is one too many.
    let over = op_at(
        "recall.confirm",
        confirm(rid, &s.f.m2, &s.b2, "20", "6", "5"),
        0,
    );
    let over_id = over["op_id"].as_str().unwrap().to_owned();
    let e = rejected(&s.f.push1(&s.f.m2_user, over).await, "exceeds_received");
    assert!(e["message"].as_str().unwrap().contains("30"), "{e}");
    // Kept in the op log with its reason.
    let row = rows(
        &s.f.s,
        "SELECT status, CAST(outcome AS TEXT) FROM ops WHERE op_id = $1",
        &[&over_id],
    );
    let (status, outcome) = (row[0][0].clone().unwrap(), row[0][1].clone().unwrap());
    assert_eq!(status, "rejected");
    assert!(outcome.contains("exceeds_received"), "{outcome}");
    // Someone else's batch, a batch not in the recall, an unknown recall,
    // another merchant's name, grams for a batch in kg are all refused.
    rejected(
        &s.f.push1(
            &s.f.m2_user,
            op_at(
                "recall.confirm",
                confirm(rid, &s.f.m2, &s.root, "1", "0", "0"),
                0,
            ),
        )
        .await,
        "unknown_recall_holder",
    );
    rejected(
        &s.f.push1(
            &s.f.m2_user,
            op_at(
                "recall.confirm",
                confirm(&id(), &s.f.m2, &s.b2, "1", "0", "0"),
                0,
            ),
        )
        .await,
        "unknown_recall_holder",
    );
    rejected(
        &s.f.push1(
            &s.f.m2_user,
            op_at(
                "recall.confirm",
                confirm(rid, &s.f.m1, &s.root, "1", "0", "0"),
                0,
            ),
        )
        .await,
        "out_of_scope",
    );
    let mut boxes = confirm(rid, &s.f.m2, &s.b2, "1", "0", "0");
    boxes["held"] = json!({"value": "1", "unit": "box"});
    rejected(
        &s.f.push1(&s.f.m2_user, op_at("recall.confirm", boxes, 0))
            .await,
        "unit_mismatch",
    );
    rejected(
        &s.f.push1(
            &s.f.insp1,
            op_at(
                "recall.confirm",
                confirm(rid, &s.f.m2, &s.b2, "1", "0", "0"),
                0,
            ),
        )
        .await,
        "forbidden_kind",
    );
    // Nothing of them counted; exactly what was received is fine.
    assert_eq!(recall(&s, rid).await["progress"]["confirmed"], 0);
    let ok = accepted(
        &s.f.push1(
            &s.f.m2_user,
            op_at(
                "recall.confirm",
                confirm(rid, &s.f.m2, &s.b2, "13", "0", "0"),
                0,
            ),
        )
        .await,
    );
    assert_eq!(ok["pending_holders"], 3);
    let after = recall(&s, rid).await;
    assert_eq!(holder(&after, &s.b2)["held"], kg("13"));
    assert_eq!(holder(&after, &s.b2)["state"], "confirmed");
    s.f.s.assert_healthy().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_phones_confirming_offline_count_the_same_in_either_order_and_the_recall_closes() {
    let s = story().await;
    let mut finals = Vec::new();
    for order in [[0usize, 1], [1, 0]] {
        let r = start(
            &s,
            json!({"trace_code": s.root, "level": 3, "reason": "标签虚假"}),
        )
        .await;
        let rid = r["id"].as_str().unwrap().to_owned();
        // Phone A counted first (two hours ago): 13 kg still on the shelf.
        // Phone B later (an hour ago): 3 kg returned, 10 kg destroyed.
        let a = op_at(
            "recall.confirm",
            confirm(&rid, &s.f.m2, &s.b2, "13", "0", "0"),
            -120,
        );
        let b = op_at(
            "recall.confirm",
            confirm(&rid, &s.f.m2, &s.b2, "0", "3", "10"),
            -60,
        );
        let b_id = b["op_id"].clone();
        let phones = [("m2-phone-a", a), ("m2-phone-b", b)];
        for i in order {
            let (device, op) = &phones[i];
            let res = push_from(&s, &s.f.m2_user, device, vec![op.clone()]).await;
            accepted(&res[0]);
        }
        let got = recall(&s, &rid).await;
        let h = holder(&got, &s.b2).clone();
        assert_eq!(h["held"], kg("0"), "order {order:?}");
        assert_eq!(h["returned"], kg("3"));
        assert_eq!(h["destroyed"], kg("10"));
        assert_eq!(h["confirmations"], 2);
        let updated = pulled(&s, &s.f.m2_user, "recall.updated").await;
        let last = updated
            .iter()
            .rev()
            .find(|u| u["id"] == rid.as_str())
            .unwrap();
        assert_eq!(
            last["batches"][0]["destroyed"],
            kg("10"),
            "the phones pull the count that counts"
        );
        finals.push((
            h["held"].clone(),
            h["returned"].clone(),
            h["destroyed"].clone(),
        ));
        let _ = b_id;

        // The other holders confirm; the last one closes the recall.
        for (token, m, t, held) in [
            (&s.f.m1_user, &s.f.m1, &s.root, "28"),
            (&s.far_user, &s.f.m_far, &s.b_far, "20"),
        ] {
            let r = accepted(
                &s.f.push1(
                    token,
                    op_at("recall.confirm", confirm(&rid, m, t, held, "0", "0"), 0),
                )
                .await,
            );
            assert_eq!(r["recall_status"], "active");
        }
        let last = accepted(
            &s.f.push1(
                &s.m3_user,
                op_at(
                    "recall.confirm",
                    confirm(&rid, &s.m3, &s.b4, "0", "0", "10"),
                    0,
                ),
            )
            .await,
        );
        assert_eq!(last["recall_status"], "closed");
        assert_eq!(last["pending_holders"], 0);
        let closed = recall(&s, &rid).await;
        assert_eq!(closed["status"], "closed");
        assert!(closed["closed_at"].is_string());
        assert_eq!(closed["progress"]["confirmed"], 4);
        assert_eq!(closed["progress"]["totals"][0]["destroyed"], kg("20"));
        assert_eq!(closed["progress"]["totals"][0]["unconfirmed"], kg("0"));
        // Every holder's phones learn it closed.
        for token in [&s.f.m1_user, &s.f.m2_user, &s.far_user, &s.m3_user] {
            let u = pulled(&s, token, "recall.updated").await;
            assert!(
                u.iter()
                    .any(|u| u["id"] == rid.as_str() && u["status"] == "closed"),
                "{u:?}"
            );
        }
        // A late count from a phone still counts (closing does not depend on
        // which phone came first), and the recall stays closed.
        let late = accepted(
            &s.f.push1(
                &s.f.m1_user,
                op_at(
                    "recall.confirm",
                    confirm(&rid, &s.f.m1, &s.root, "0", "28", "0"),
                    1,
                ),
            )
            .await,
        );
        assert_eq!(late["recall_status"], "closed");
    }
    assert_eq!(finals[0], finals[1]);
    s.f.s.assert_healthy().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_silent_are_reminded_once_past_the_start_deadline() {
    let s = story().await;
    let r = start(
        &s,
        json!({"trace_code": s.root, "level": 1, "reason": "检出李斯特菌"}),
    )
    .await;
    let rid = r["id"].as_str().unwrap();
    accepted(
        &s.f.push1(
            &s.f.m2_user,
            op_at(
                "recall.confirm",
                confirm(rid, &s.f.m2, &s.b2, "0", "13", "0"),
                0,
            ),
        )
        .await,
    );
    let now = chrono::Utc::now();
    assert_eq!(
        s.f.s.store.remind_overdue(now).await.unwrap(),
        0,
        "not yet due"
    );
    let later = now + chrono::Duration::hours(25);
    assert_eq!(s.f.s.store.remind_overdue(later).await.unwrap(), 3);
    assert_eq!(s.f.s.store.remind_overdue(later).await.unwrap(), 0, "once");
    let n = pulled(&s, &s.m3_user, "recall.notice").await;
    assert_eq!(n.len(), 2);
    assert_eq!(n[1]["reminder"], true);
    assert_eq!(n[1]["batches"][0]["overdue"], true);
    assert!(
        pulled(&s, &s.f.m2_user, "recall.notice").await.len() == 1,
        "the holder that confirmed is not reminded"
    );
    let stored = s.f.s.store.recall(rid.to_owned()).await.unwrap().unwrap();
    let view = shian_server::recalls::view::RecallView::new(stored, later);
    assert_eq!(view.progress.overdue, 3);
    assert!(view.overdue);
    s.f.s.assert_healthy().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recall_from_a_failed_lab_test_uses_its_proposal_once() {
    let s = story().await;
    let r = accepted(
        &s.f.push1(
            &s.f.insp1,
            op(
                "sample.record",
                json!({"sample_id": id(), "merchant_id": s.f.m1, "trace_code": s.root,
                       "item": "单核细胞增生李斯特氏菌", "method": "lab", "value": 120.0,
                       "unit": "CFU/g", "limit": 100.0, "taken_at": now_cn(-30)}),
            ),
        )
        .await,
    );
    let pid = r["recall_proposal_id"].as_str().unwrap().to_owned();
    let rec = start(
        &s,
        json!({"proposal_id": pid, "level": 1, "reason": "实验室确证不合格"}),
    )
    .await;
    assert_eq!(rec["trace_code"], s.root.as_str());
    assert_eq!(rec["proposal_id"], pid.as_str());
    assert_eq!(rec["progress"]["holders"], 4);
    let again =
        s.f.s
            .post(
                "/v1/recalls",
                &s.f.analyst,
                json!({"proposal_id": pid, "level": 1, "reason": "再次"}),
            )
            .await;
    expect_error(again, StatusCode::CONFLICT, "proposal_used").await;
    let status = text(
        &s.f.s,
        "SELECT status FROM recall_proposals WHERE id = $1",
        &[&pid],
    );
    assert_eq!(status, "recalled");
    s.f.s.assert_healthy().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_answers_in_the_error_shape_and_stores_nothing() {
    let s = story().await;
    let post = |body: Value, token: String| {
        let srv = &s.f.s;
        async move { srv.post("/v1/recalls", &token, body).await }
    };
    let a = s.f.analyst.clone();
    let v = expect_error(
        post(
            json!({"trace_code": s.root, "level": 4, "reason": "x"}),
            a.clone(),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid_level",
    )
    .await;
    assert_eq!(v["error"]["field"], "level");
    let v = expect_error(
        post(
            json!({"trace_code": code(), "level": 1, "reason": "未知批次"}),
            a.clone(),
        )
        .await,
        StatusCode::NOT_FOUND,
        "unknown_trace_code",
    )
    .await;
    assert_eq!(v["error"]["field"], "trace_code");
    let v = expect_error(
        post(
            json!({"proposal_id": id(), "level": 1, "reason": "未知建议"}),
            a.clone(),
        )
        .await,
        StatusCode::NOT_FOUND,
        "unknown_proposal",
    )
    .await;
    assert_eq!(v["error"]["field"], "proposal_id");
    let mut typo: Vec<char> = s.root.chars().collect();
    typo[3] = if typo[3] == '7' { '8' } else { '7' };
    let typo: String = typo.into_iter().collect();
    expect_error(
        post(
            json!({"trace_code": typo, "level": 1, "reason": "打错"}),
            a.clone(),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "code_check_mismatch",
    )
    .await;
    expect_error(
        post(
            json!({"trace_code": s.root, "proposal_id": id(), "level": 1, "reason": "两者"}),
            a.clone(),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid_field",
    )
    .await;
    expect_error(
        post(json!({"level": 1, "reason": "都没有"}), a.clone()).await,
        StatusCode::BAD_REQUEST,
        "invalid_field",
    )
    .await;
    expect_error(
        post(
            json!({"trace_code": s.root, "level": 1, "reason": "  "}),
            a.clone(),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid_field",
    )
    .await;
    expect_error(
        post(
            json!({"trace_code": s.root, "level": "一级", "reason": "x"}),
            a.clone(),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid_field",
    )
    .await;
    expect_error(
        post(
            json!({"trace_code": s.root, "level": 1, "reason": "x"}),
            s.f.insp1.clone(),
        )
        .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    expect_error(
        s.f.s.get("/v1/recalls/not-a-uuid", &s.f.analyst).await,
        StatusCode::BAD_REQUEST,
        "invalid_field",
    )
    .await;
    expect_error(
        s.f.s
            .get(&format!("/v1/recalls/{}", id()), &s.f.analyst)
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect_error(
        s.f.s.get("/v1/recalls?status=open", &s.f.analyst).await,
        StatusCode::BAD_REQUEST,
        "invalid_query",
    )
    .await;
    expect_error(
        s.f.s
            .get("/v1/recalls?offset=2147483648", &s.f.analyst)
            .await,
        StatusCode::BAD_REQUEST,
        "invalid_query",
    )
    .await;
    expect_error(
        s.f.s.get("/v1/recalls", &s.f.m1_user).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    let list: Value =
        s.f.s
            .get("/v1/recalls", &s.f.analyst)
            .await
            .json()
            .await
            .unwrap();
    assert_eq!(list["total"], 0, "no refused request stored a recall");
    assert!(pulled(&s, &s.f.m1_user, "recall.notice").await.is_empty());
    s.f.s.assert_healthy().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shop_and_product_pages_show_an_active_recall_in_red() {
    let s = story().await;
    let shop = |m: &str| -> String {
        text(
            &s.f.s,
            "SELECT shop_code FROM merchants WHERE id = $1",
            &[m],
        )
    };
    let html = |path: String| {
        let srv = &s.f.s;
        async move {
            let res = srv.http.get(srv.url(&path)).send().await.unwrap();
            assert_eq!(res.status(), StatusCode::OK, "{path}");
            res.text().await.unwrap()
        }
    };
    // Seen before the recall, and so kept by the public pages' cache: the
    // recall must not wait for the cache to expire.
    let before = html(format!("/t/{}", s.b4)).await;
    assert!(!before.contains("banner red recall"), "{before}");
    assert!(!html(format!("/s/{}", shop(&s.m3)))
        .await
        .contains("banner red recall"));
    start(
        &s,
        json!({"trace_code": s.root, "level": 1, "reason": "检出李斯特菌"}),
    )
    .await;
    let m3_page = html(format!("/s/{}", shop(&s.m3))).await;
    assert!(m3_page.contains("banner red recall"), "{m3_page}");
    assert!(m3_page.contains("一级召回") && m3_page.contains("检出李斯特菌"));
    let m5_page = html(format!("/s/{}", shop(&s.m5))).await;
    assert!(
        !m5_page.contains("recall"),
        "a shop without the batch shows none"
    );
    let product = html(format!("/t/{}", s.b4)).await;
    assert!(product.contains("banner red recall"), "{product}");
    assert!(product.contains("正在召回"));
    s.f.s.assert_healthy().await;
}

/// Logs in through the browser form; returns the `Cookie` header to send.
async fn browser_login(s: &common::TestServer, username: &str) -> String {
    let res = no_redirect()
        .post(s.url("/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("username={username}&password={PW}&next=%2Fconsole"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let cookie = res.headers()["set-cookie"].to_str().unwrap();
    cookie.split(';').next().unwrap().to_owned()
}

fn no_redirect() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_starts_a_recall_with_its_token_and_shows_each_holder() {
    let s = story().await;
    let cookie = browser_login(&s.f.s, "analyst").await;
    let page = |path: String| {
        let (srv, cookie) = (&s.f.s, cookie.clone());
        async move {
            let res = no_redirect()
                .get(srv.url(&path))
                .header("cookie", cookie)
                .send()
                .await
                .unwrap();
            (res.status(), res.text().await.unwrap())
        }
    };
    let (status, list) = page("/console/recalls".into()).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        list.contains("按追溯码启动") && list.contains("暂无召回"),
        "{list}"
    );
    let csrf = csrf_of(&list);
    let post = |body: String| {
        let (srv, cookie) = (&s.f.s, cookie.clone());
        async move {
            no_redirect()
                .post(srv.url("/console/recalls"))
                .header("cookie", cookie)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body)
                .send()
                .await
                .unwrap()
        }
    };
    // Without the token: refused, nothing started.
    let res = post(format!("trace_code={}&level=1&reason=x", s.root)).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = post(format!(
        "csrf={}&trace_code={}&level=1&reason=x",
        forged(&csrf),
        s.root
    ))
    .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        text(&s.f.s, "SELECT CAST(COUNT(*) AS TEXT) FROM recalls", &[]),
        "0"
    );
    // A bad level is a page saying why.
    let res = post(format!(
        "csrf={csrf}&trace_code={}&level=4&reason=x",
        s.root
    ))
    .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(res.text().await.unwrap().contains("召回级别"));
    let res = post(format!(
        "csrf={csrf}&trace_code={}&level=1&reason=%E6%A3%80%E5%87%BA",
        s.root
    ))
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let to = res.headers()["location"].to_str().unwrap().to_owned();
    assert!(to.starts_with("/console/recalls/"), "{to}");
    let (status, detail) = page(to.clone()).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        detail.contains("一级召回") && detail.contains("检出"),
        "{detail}"
    );
    assert!(detail.contains("0 / 4"), "none confirmed of four");
    for code in [&s.root, &s.b2, &s.b_far, &s.b4] {
        assert!(detail.contains(code.as_str()), "holder {code}");
    }
    assert!(
        detail.contains(r#"name="what" value="recall""#),
        "the export form"
    );
    let (_, list) = page("/console/recalls".into()).await;
    assert!(list.contains(&to), "the list links to it");
    let (status, _) = page(format!("/console/recalls/{}", id())).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    s.f.s.assert_healthy().await;
}
