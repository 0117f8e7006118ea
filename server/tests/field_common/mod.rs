//! Shared set-up of the field-inspection tests: a market in 350203 with two
//! merchants, a merchant in 350206, inspectors in both districts, an analyst.
#![allow(dead_code)]

use chrono::{Duration, FixedOffset, Utc};
use reqwest::StatusCode;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use shian_server::store::Role;

use crate::common::{uscc, TestServer};

pub const PW: &str = "field-password-1";

pub struct Field {
    pub s: TestServer,
    pub admin: String,
    pub analyst: String,
    /// Inspectors of 350203 (思明区).
    pub insp1_id: String,
    pub insp1: String,
    pub insp2_id: String,
    pub insp2: String,
    /// An inspector of 350206 (湖里区).
    pub insp3_id: String,
    pub insp3: String,
    pub market: String,
    /// Merchants in the market (350203).
    pub m1: String,
    pub m2: String,
    /// A merchant in 350206.
    pub m_far: String,
    /// m1's own account.
    pub m1_user: String,
    /// m2's own account.
    pub m2_user: String,
}

async fn merchant(s: &TestServer, admin: &str, body: Value) -> String {
    let res = s.post("/v1/merchants", admin, body).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let v: Value = res.json().await.unwrap();
    v["id"].as_str().unwrap().to_owned()
}

impl Field {
    pub async fn start() -> Field {
        Self::start_with(shian_server::Config::default()).await
    }

    pub async fn start_with(config: shian_server::Config) -> Field {
        let s = TestServer::start_with(config).await;
        let admin = s.admin().await;
        let market = s.create_market(&admin).await;
        let m1 = merchant(
            &s,
            &admin,
            json!({"market_id": market, "name": "鑫海冻品", "uscc": uscc("9235020300000001"),
                   "licence_no": "JY13502030000011", "licence_expiry": "2030-06-30",
                   "categories": ["livestock_meat", "frozen"], "stall": "A-01", "contact": "陈先生"}),
        )
        .await;
        let m2 = merchant(
            &s,
            &admin,
            json!({"market_id": market, "name": "绿源蔬菜", "uscc": uscc("9235020300000002"),
                   "categories": ["vegetable"], "stall": "B-02"}),
        )
        .await;
        let m_far = merchant(
            &s,
            &admin,
            json!({"name": "湖里海鲜", "uscc": uscc("9235020600000003"), "region_code": "350206",
                   "categories": ["aquatic"]}),
        )
        .await;
        let insp1_id = s
            .user("insp_wang", PW, Role::Inspector, None, &["350203"])
            .await;
        let insp2_id = s
            .user("insp_li", PW, Role::Inspector, None, &["350203"])
            .await;
        let insp3_id = s
            .user("insp_zhao", PW, Role::Inspector, None, &["350206"])
            .await;
        s.user("analyst", PW, Role::Analyst, None, &[]).await;
        s.user("shop1", PW, Role::Merchant, Some(&m1), &[]).await;
        s.user("shop2", PW, Role::Merchant, Some(&m2), &[]).await;
        Field {
            insp1: s.token("insp_wang", PW).await,
            insp2: s.token("insp_li", PW).await,
            insp3: s.token("insp_zhao", PW).await,
            analyst: s.token("analyst", PW).await,
            m1_user: s.token("shop1", PW).await,
            m2_user: s.token("shop2", PW).await,
            s,
            admin,
            insp1_id,
            insp2_id,
            insp3_id,
            market,
            m1,
            m2,
            m_far,
        }
    }

    /// Pushes ops and returns `results`.
    pub async fn push(&self, token: &str, ops: Vec<Value>) -> Vec<Value> {
        // One phone per account: a device id belongs to one user.
        let device = format!("phone-{}", &sha256_hex(token.as_bytes())[..16]);
        self.s.push_from(token, &device, Value::from(ops)).await
    }

    /// Pushes one op and returns its result.
    pub async fn push1(&self, token: &str, op: Value) -> Value {
        self.push(token, vec![op]).await.remove(0)
    }

    pub async fn template(&self, id: &str) -> Value {
        let v: Value = self
            .s
            .get("/v1/checklists", &self.insp1)
            .await
            .json()
            .await
            .unwrap();
        v["templates"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["id"] == id)
            .unwrap()
            .clone()
    }

    /// Uploads bytes as an inspector; returns the hash.
    pub async fn upload(&self, token: &str, bytes: Vec<u8>) -> String {
        let h = sha256_hex(&bytes);
        let res = self
            .s
            .http
            .put(self.s.url(&format!("/v1/attachments/{h}")))
            .bearer_auth(token)
            .header("content-type", "image/jpeg")
            .body(bytes)
            .send()
            .await
            .unwrap();
        assert!(
            res.status() == StatusCode::CREATED || res.status() == StatusCode::OK,
            "{}",
            res.status()
        );
        h
    }

    /// Rows counted straight in the store, beneath the API.
    pub fn count(&self, sql: &str) -> i64 {
        self.s.count(sql)
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub fn op(kind: &str, payload: Value) -> Value {
    json!({"op_id": uuid::Uuid::now_v7().to_string(), "kind": kind, "at": now_cn(0), "payload": payload})
}

/// Now plus `minutes`, in China time with its offset.
pub fn now_cn(minutes: i64) -> String {
    let t = Utc::now() + Duration::minutes(minutes);
    t.with_timezone(&FixedOffset::east_opt(8 * 3600).unwrap())
        .to_rfc3339()
}

/// A fresh trace or voucher code.
pub fn new_code() -> String {
    shian_core::codes::new_code(&mut rand::rng())
}

/// A `ledger.purchase` payload: `qty` kg of frozen trotters from a
/// registered supplier with its certificate, received two hours ago, with
/// the seller's `voucher` when the goods came from a merchant on Shian.
pub fn frozen_purchase(merchant: &str, trace: &str, qty: &str, voucher: Option<&str>) -> Value {
    json!({"entry_id": uuid::Uuid::now_v7().to_string(), "merchant_id": merchant,
           "product": {"name": "冻猪蹄", "category": "frozen"},
           "quantity": {"value": qty, "unit": "kg"},
           "supplier": {"name": "同安冷冻食品厂", "region_code": "350212"},
           "certificates": [{"kind": "origin", "number": "CD-2026-0001"}],
           "trace_code": trace, "voucher_code": voucher, "received_at": now_cn(-120)})
}

/// The holders a forward trace of `trace` on `s` names, as (trace code,
/// merchant) (200 asserted).
pub async fn holders(s: &TestServer, token: &str, trace: &str) -> Vec<(String, String)> {
    let res = s.get(&format!("/v1/trace/{trace}/forward"), token).await;
    assert_eq!(res.status(), StatusCode::OK);
    let v: Value = res.json().await.unwrap();
    v["holders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["trace_code"].as_str().unwrap_or_default().to_owned(),
                h["merchant_id"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// The warning codes of an accepted op's result.
pub fn warning_codes(result: &Value) -> Vec<String> {
    result["warnings"]
        .as_array()
        .map(|w| {
            w.iter()
                .filter_map(|w| w["code"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// How an inspection's answers should come out.
#[derive(Debug, Clone, Copy, Default)]
pub struct Failures {
    pub general: usize,
    pub key: usize,
}

/// An `inspection.record` payload over `template` with the given number of
/// failed yes/no items, every other item compliant.
pub fn inspection(
    template: &Value,
    merchant_id: &str,
    inspectors: &[&str],
    fail: Failures,
    photo: &str,
    result: &str,
) -> Value {
    let (mut g, mut k) = (fail.general, fail.key);
    let mut answers = Vec::new();
    for item in template["items"].as_array().unwrap() {
        let id = item["id"].as_str().unwrap();
        let kind = item["kind"].as_str().unwrap();
        let answer = &item["answer"];
        let mut a = json!({"item_id": id, "compliant": true});
        match answer["type"].as_str().unwrap_or("yes_no") {
            "number" => {
                let v = match (answer["min"].as_f64(), answer["max"].as_f64()) {
                    (Some(lo), Some(hi)) => (lo + hi) / 2.0,
                    (Some(lo), None) => lo + 5.0,
                    (None, Some(hi)) => hi - 2.0,
                    (None, None) => 0.0,
                };
                a["value"] = json!(v);
            }
            "photo" => a["photos"] = json!([photo]),
            _ => {
                if kind == "general" && g > 0 {
                    g -= 1;
                    a["compliant"] = json!(false);
                    a["note"] = json!("现场发现问题");
                } else if kind == "key" && k > 0 {
                    k -= 1;
                    a["compliant"] = json!(false);
                }
            }
        }
        answers.push(a);
    }
    assert_eq!((g, k), (0, 0), "template has too few yes/no items to fail");
    json!({
        "inspection_id": uuid::Uuid::now_v7().to_string(),
        "merchant_id": merchant_id,
        "template_id": template["id"],
        "template_version": template["version"],
        "inspectors": inspectors,
        "answers": answers,
        "result": result,
        "started_at": now_cn(-60),
        "finished_at": now_cn(-30),
    })
}

/// Asserts an op was rejected with `code` (and returns its error).
pub fn rejected(r: &Value, code: &str) -> Value {
    assert_eq!(r["status"], "rejected", "{r}");
    assert_eq!(r["error"]["code"], code, "{r}");
    assert!(
        r["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{r}"
    );
    r["error"].clone()
}

pub fn accepted(r: &Value) -> Value {
    assert_eq!(r["status"], "accepted", "{r}");
    r["result"].clone()
}
