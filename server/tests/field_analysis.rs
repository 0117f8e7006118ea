//! What regulators do with field results: risk grades, the double random
//! draw and its publication, inspection statistics.

mod common;
mod field_common;

use chrono::{Duration, FixedOffset, Utc};
use common::{expect_error, uscc};
use field_common::{accepted, inspection, now_cn, op, sha256_hex, Failures, Field, PW};
use reqwest::StatusCode;
use serde_json::{json, Value};
use shian_server::store::Role;

/// Pushes inspections of `merchant` by inspectors 1 and 2 with these failures.
async fn inspect(f: &Field, merchant: &str, fails: &[(Failures, &str)]) {
    let t = f.template("food_sales_daily").await;
    let photo = f.upload(&f.insp1, b"photo".to_vec()).await;
    for (fail, result) in fails {
        let p = inspection(
            &t,
            merchant,
            &[f.insp1_id.as_str(), f.insp2_id.as_str()],
            *fail,
            &photo,
            result,
        );
        accepted(&f.push1(&f.insp1, op("inspection.record", p)).await);
    }
}

const KEY: Failures = Failures { general: 0, key: 1 };
const NONE: Failures = Failures { general: 0, key: 0 };
const TWO: Failures = Failures { general: 2, key: 0 };

fn row<'a>(list: &'a Value, merchant: &str) -> &'a Value {
    list["merchants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["merchant_id"] == merchant)
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn risk_grades_follow_the_facts() {
    let f = Field::start().await;
    inspect(&f, &f.m1, &[(KEY, "non_compliant"), (KEY, "non_compliant")]).await;
    // A supervisory lab sample over its limit is a confirmed failure.
    let lab = json!({"sample_id": uuid::Uuid::now_v7().to_string(), "merchant_id": f.m1, "item": "克伦特罗",
                     "method": "lab", "value": 1.2, "unit": "μg/kg", "limit": 0.5, "taken_at": now_cn(-10)});
    let r = accepted(&f.push1(&f.insp1, op("sample.record", lab)).await);
    assert_eq!(r["counts_as_failure"], true);

    let res = f.s.get("/v1/risk/merchants", &f.analyst).await;
    assert_eq!(res.status(), StatusCode::OK);
    let all: Value = res.json().await.unwrap();
    assert_eq!(all["total"], 3);
    let list = all["merchants"].as_array().unwrap();
    assert_eq!(
        list[0]["merchant_id"],
        f.m1.as_str(),
        "highest score first: {all}"
    );
    for m in list {
        assert!(
            ["A", "B", "C", "D"].contains(&m["grade"].as_str().unwrap()),
            "{m}"
        );
        let (s, st, dy) = (
            m["score"].as_f64().unwrap(),
            m["static_score"].as_f64().unwrap(),
            m["dynamic_score"].as_f64().unwrap(),
        );
        assert!((s - (st + dy)).abs() < 1e-9, "{m}");
        assert!(
            m["inspections_due"].as_u64().unwrap() <= m["inspections_per_year"].as_u64().unwrap()
        );
        assert!(m["name"].is_string());
    }
    let bad = row(&all, &f.m1);
    let clean = row(&all, &f.m2);
    // Two non-compliant inspections (15 each, capped at 30) and a confirmed
    // failure (10): 40 dynamic points.
    assert_eq!(bad["dynamic_score"].as_f64().unwrap(), 40.0, "{bad}");
    assert!(bad["score"].as_f64().unwrap() > clean["score"].as_f64().unwrap());
    assert!(
        bad["grade"].as_str().unwrap() > clean["grade"].as_str().unwrap(),
        "{bad} vs {clean}"
    );
    assert_eq!(clean["grade"], "A");

    // Filters and paging.
    let g = bad["grade"].as_str().unwrap();
    let only: Value =
        f.s.get(&format!("/v1/risk/merchants?grade={g}"), &f.analyst)
            .await
            .json()
            .await
            .unwrap();
    assert!(only["merchants"]
        .as_array()
        .unwrap()
        .iter()
        .all(|m| m["grade"] == g));
    assert!(only["merchants"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["merchant_id"] == f.m1.as_str()));
    let far: Value =
        f.s.get("/v1/risk/merchants?region=350206", &f.admin)
            .await
            .json()
            .await
            .unwrap();
    assert_eq!(far["total"], 1);
    assert_eq!(far["merchants"][0]["merchant_id"], f.m_far.as_str());
    let page: Value =
        f.s.get("/v1/risk/merchants?limit=1&offset=1", &f.analyst)
            .await
            .json()
            .await
            .unwrap();
    assert_eq!(page["merchants"].as_array().unwrap().len(), 1);
    assert_eq!(page["total"], 3);

    expect_error(
        f.s.get("/v1/risk/merchants?grade=E", &f.analyst).await,
        StatusCode::BAD_REQUEST,
        "invalid_query",
    )
    .await;
    expect_error(
        f.s.get("/v1/risk/merchants", &f.insp1).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    f.s.assert_healthy().await;
}

/// Issue 11 item 10: ledger warnings pushed through sync reach the grade,
/// per kind and as a rate (risk-v2), not as v1's one point per warning.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn risk_grades_see_the_ledger() {
    let f = Field::start().await;
    let grades = || async {
        let v: Value =
            f.s.get("/v1/risk/merchants", &f.analyst)
                .await
                .json()
                .await
                .unwrap();
        v
    };
    let before = grades().await;
    assert_eq!(row(&before, &f.m2)["grade"], "A");

    // 绿源蔬菜 buys five lots of spinach without any certificate and sells
    // twice what each lot holds: 5 missing certificates, 5 sales beyond stock.
    let mut codes = Vec::new();
    for _ in 0..5 {
        let p = json!({"entry_id": uuid::Uuid::now_v7().to_string(), "merchant_id": f.m2,
            "product": {"name": "菠菜", "category": "vegetable"},
            "quantity": {"value": "10", "unit": "kg"},
            "supplier": {"name": "同安蔬菜合作社", "region_code": "350212"},
            "certificates": [], "received_at": now_cn(-60)});
        let r = f.push1(&f.m2_user, op("ledger.purchase", p)).await;
        assert_eq!(r["status"], "accepted", "{r}");
        assert_eq!(
            r["result"]["warnings"][0]["code"], "missing_certificate",
            "{r}"
        );
        codes.push(r["result"]["trace_code"].as_str().unwrap().to_owned());
    }
    for code in &codes {
        let s = json!({"entry_id": uuid::Uuid::now_v7().to_string(), "merchant_id": f.m2,
            "trace_code": code, "quantity": {"value": "20", "unit": "kg"},
            "buyer": {"retail": true}, "sold_at": now_cn(-30)});
        let r = f.push1(&f.m2_user, op("ledger.sale", s)).await;
        assert_eq!(r["status"], "accepted", "{r}");
        assert_eq!(
            r["result"]["warnings"][0]["code"], "sale_exceeds_stock",
            "{r}"
        );
    }

    let after = grades().await;
    let m2 = row(&after, &f.m2);
    // v1 gave 10 points for the 10 warnings; v2 gives 25 % of sales beyond
    // stock and 25 % of purchases without certificates, to the caps.
    assert!(m2["dynamic_score"].as_f64().unwrap() >= 20.0, "{m2}");
    assert_ne!(m2["grade"], "A", "{m2}");
    assert!(m2["score"].as_f64().unwrap() > row(&before, &f.m2)["score"].as_f64().unwrap());
    // Exactly what core grades for these facts.
    let facts: shian_core::inspection::MerchantFacts = serde_json::from_value(json!({
        "categories": ["vegetable"], "new_operator": true, "ledger_warnings": 10,
        "ledger": {"entries": 10, "purchases": 5, "sales": 5,
                   "warnings": [5, 0, 5, 0, 0, 0, 0]}}))
    .unwrap();
    let expected = shian_core::inspection::RiskGrader::builtin()
        .unwrap()
        .grade(&facts);
    assert_eq!(m2["score"].as_f64().unwrap(), expected.score, "{m2}");
    assert_eq!(m2["grade"], expected.grade.as_str());
    // The others' ledgers are clean: unchanged.
    for m in [&f.m1, &f.m_far] {
        assert_eq!(row(&after, m), row(&before, m));
    }
    assert_eq!(after["rules_version"], 3);
    f.s.assert_healthy().await;
}

fn tasks_of(v: &Value) -> Vec<(String, Vec<String>)> {
    v["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            let ins = t["inspectors"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i.as_str().unwrap().to_owned())
                .collect();
            (t["merchant_id"].as_str().unwrap().to_owned(), ins)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn double_random_draw() {
    let f = Field::start().await;
    for i in 0..12 {
        let res = f
            .s
            .post(
                "/v1/merchants",
                &f.admin,
                json!({"market_id": f.market, "name": format!("摊位{i:02}"), "uscc": uscc(&format!("92350203000001{i:02}")),
                       "categories": ["vegetable"]}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::CREATED);
    }
    let insp4 =
        f.s.user("insp_sun", PW, Role::Inspector, None, &["350203"])
            .await;
    let inspectors = json!([f.insp1_id, f.insp2_id, f.insp3_id, insp4]);
    let body = |seed: &str| json!({"name": "2024年第二季度双随机抽查", "seed": seed, "count": 5, "inspectors": inspectors});

    let res =
        f.s.post("/v1/draws", &f.analyst, body("seed-2024-q2"))
            .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let a: Value = res.json().await.unwrap();
    assert_eq!(a["seed_hash"], sha256_hex(b"seed-2024-q2").as_str());
    assert_eq!(a["pool_size"], 15);
    assert_eq!(a["algorithm"], "shian-draw-v1");
    let ta = tasks_of(&a);
    assert_eq!(ta.len(), 5);
    for (_, pair) in &ta {
        assert_eq!(pair.len(), 2);
        assert_ne!(pair[0], pair[1]);
    }
    // Same seed, same pool: same tasks.
    let b: Value =
        f.s.post("/v1/draws", &f.admin, body("seed-2024-q2"))
            .await
            .json()
            .await
            .unwrap();
    assert_ne!(a["id"], b["id"]);
    assert_eq!(tasks_of(&b), ta);
    // Another seed: another draw.
    let mut all_tasks = vec![ta.clone(), tasks_of(&b)];
    let mut differs = false;
    for seed in ["seed-2024-q3", "another", "third"] {
        let c: Value =
            f.s.post("/v1/draws", &f.analyst, body(seed))
                .await
                .json()
                .await
                .unwrap();
        differs |= tasks_of(&c) != ta;
        all_tasks.push(tasks_of(&c));
    }
    assert!(differs, "three other seeds all gave the same tasks");

    // Each inspector's phone gets exactly its tasks.
    for (token, id) in [(&f.insp1, &f.insp1_id), (&f.insp3, &f.insp3_id)] {
        let feed: Value = f.s.get("/v1/sync/pull", token).await.json().await.unwrap();
        let mine: Vec<&Value> = feed["changes"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["kind"] == "task")
            .collect();
        let expected = all_tasks
            .iter()
            .flatten()
            .filter(|(_, p)| p.contains(id))
            .count();
        assert!(expected > 0);
        assert_eq!(mine.len(), expected);
        assert!(mine.iter().all(|c| c["payload"]["inspectors"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i == id.as_str())));
        assert!(mine
            .iter()
            .all(|c| c["payload"]["merchant_name"].is_string()
                && c["payload"]["task_id"].is_string()));
    }

    // Filters and a declared conflict: only m1 trades meat in 350203, and
    // inspector 1 recuses from it.
    let r: Value = f
        .s
        .post(
            "/v1/draws",
            &f.analyst,
            json!({"name": "肉类专项", "seed": "meat", "region_codes": ["350203"], "categories": ["畜肉"], "count": 1,
                   "inspectors": inspectors, "conflicts": [{"inspector": f.insp1_id, "merchant": f.m1}]}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(r["pool_size"], 1, "{r}");
    let t = tasks_of(&r);
    assert_eq!(t[0].0, f.m1);
    assert!(!t[0].1.contains(&f.insp1_id));

    // Refusals.
    let one = json!({"name": "x", "seed": "s", "count": 1, "inspectors": [f.insp1_id]});
    let e = expect_error(
        f.s.post("/v1/draws", &f.analyst, one).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "not_enough_inspectors",
    )
    .await;
    assert_eq!(e["error"]["field"], "inspectors");
    let twice =
        json!({"name": "x", "seed": "s", "count": 1, "inspectors": [f.insp1_id, f.insp1_id]});
    expect_error(
        f.s.post("/v1/draws", &f.analyst, twice).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "not_enough_inspectors",
    )
    .await;
    let unknown =
        json!({"name": "x", "seed": "s", "count": 1, "inspectors": [f.insp1_id, "ghost"]});
    let e = expect_error(
        f.s.post("/v1/draws", &f.analyst, unknown).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "unknown_inspector",
    )
    .await;
    assert_eq!(e["error"]["field"], "inspectors[1]");
    let too_many = json!({"name": "x", "seed": "s", "count": 99, "inspectors": inspectors});
    expect_error(
        f.s.post("/v1/draws", &f.analyst, too_many).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "draw_exceeds_pool",
    )
    .await;
    let both = json!({"name": "x", "seed": "s", "count": 1, "per_grade": {"A": 1}, "inspectors": inspectors});
    expect_error(
        f.s.post("/v1/draws", &f.analyst, both).await,
        StatusCode::BAD_REQUEST,
        "invalid_quota",
    )
    .await;
    let per_grade =
        json!({"name": "x", "seed": "s", "per_grade": {"A": 2}, "inspectors": inspectors});
    let pg: Value =
        f.s.post("/v1/draws", &f.analyst, per_grade)
            .await
            .json()
            .await
            .unwrap();
    assert_eq!(pg["tasks"].as_array().unwrap().len(), 2, "{pg}");
    expect_error(
        f.s.post("/v1/draws", &f.insp1, body("x")).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    let before = f.count("SELECT COUNT(*) FROM draws");

    // Publication, without login.
    let id = a["id"].as_str().unwrap();
    let res =
        f.s.http
            .get(f.s.url(&format!("/v1/public/draws/{id}")))
            .send()
            .await
            .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let p: Value = res.json().await.unwrap();
    assert_eq!(p["name"], "2024年第二季度双随机抽查");
    assert_eq!(p["seed"], "seed-2024-q2");
    assert_eq!(p["seed_hash"], a["seed_hash"]);
    assert_eq!(p["algorithm"], "shian-draw-v1");
    assert_eq!(p["pool_size"], 15);
    assert_eq!(p["params"]["count"], 5);
    assert_eq!(tasks_of(&p), ta);
    assert!(p["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .all(|t| t["merchant_name"].as_str().is_some_and(|n| !n.is_empty())));
    let res =
        f.s.http
            .get(f.s.url("/v1/public/draws/0190ffff-0000-7000-8000-000000000000"))
            .send()
            .await
            .unwrap();
    expect_error(res, StatusCode::NOT_FOUND, "not_found").await;
    assert_eq!(
        f.count("SELECT COUNT(*) FROM draws"),
        before,
        "refused draws store nothing"
    );
    f.s.assert_healthy().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inspection_statistics() {
    let f = Field::start().await;
    inspect(&f, &f.m1, &[(KEY, "non_compliant"), (KEY, "non_compliant")]).await;
    inspect(
        &f,
        &f.m2,
        &[(NONE, "compliant"), (TWO, "basically_compliant")],
    )
    .await;

    let fr = &f;
    let get = |q: &str| {
        let url = format!("/v1/stats/inspections?{q}");
        async move {
            let res = fr.s.get(&url, &fr.analyst).await;
            assert_eq!(res.status(), StatusCode::OK, "{url}");
            res.json::<Value>().await.unwrap()
        }
    };
    let by_result = get("group_by=result").await;
    assert_eq!(by_result["group_by"], "result");
    let rows = by_result["rows"].as_array().unwrap();
    let find = |rows: &[Value], key: &str| rows.iter().find(|r| r["key"] == key).cloned().unwrap();
    assert_eq!(find(rows, "non_compliant")["count"], 2);
    assert_eq!(find(rows, "non_compliant")["label"], "不符合");
    assert_eq!(find(rows, "compliant")["count"], 1);
    assert_eq!(find(rows, "basically_compliant")["count"], 1);

    let month = (Utc::now() - Duration::minutes(30))
        .with_timezone(&FixedOffset::east_opt(8 * 3600).unwrap())
        .format("%Y-%m")
        .to_string();
    let by_month = get("group_by=month").await;
    let rows = by_month["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{by_month}");
    assert_eq!(rows[0]["key"], month.as_str());
    assert!(rows[0]["label"].as_str().unwrap().contains('年'));
    assert_eq!(rows[0]["count"], 4);
    assert_eq!(rows[0]["compliant"], 1);
    assert_eq!(rows[0]["basically_compliant"], 1);
    assert_eq!(rows[0]["non_compliant"], 2);

    // A window that excludes everything; an inclusive last day.
    let tomorrow = (Utc::now() + Duration::days(2))
        .format("%Y-%m-%d")
        .to_string();
    assert_eq!(
        get(&format!("group_by=month&from={tomorrow}")).await["rows"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
    let today = Utc::now()
        .with_timezone(&FixedOffset::east_opt(8 * 3600).unwrap())
        .format("%Y-%m-%d")
        .to_string();
    let week_ago = (Utc::now() - Duration::days(7))
        .format("%Y-%m-%d")
        .to_string();
    let r = get(&format!("group_by=month&from={week_ago}&to={today}")).await;
    let total: u64 = r["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["count"].as_u64().unwrap())
        .sum();
    assert_eq!(total, 4);

    let by_inspector = get("group_by=inspector").await;
    let rows = by_inspector["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(find(rows, &f.insp1_id)["label"], "insp_wang");
    assert_eq!(find(rows, &f.insp1_id)["count"], 4);
    let by_market = get("group_by=market").await;
    assert_eq!(by_market["rows"][0]["key"], f.market.as_str());
    assert_eq!(by_market["rows"][0]["label"], "测试市场");
    let by_item = get("group_by=item").await;
    let rows = by_item["rows"].as_array().unwrap();
    let key_item = find(rows, "food_sales_daily/1.1");
    assert_eq!(key_item["count"], 2);
    assert_eq!(key_item["non_compliant"], 2);
    assert!(!key_item["label"].as_str().unwrap().is_empty());
    assert_eq!(
        rows.iter()
            .map(|r| r["count"].as_u64().unwrap())
            .sum::<u64>(),
        4,
        "two key + two general failures"
    );

    expect_error(
        f.s.get("/v1/stats/inspections?group_by=weather", &f.analyst)
            .await,
        StatusCode::BAD_REQUEST,
        "invalid_query",
    )
    .await;
    expect_error(
        f.s.get(
            "/v1/stats/inspections?group_by=month&from=yesterday",
            &f.analyst,
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid_query",
    )
    .await;
    expect_error(
        f.s.get("/v1/stats/inspections?group_by=result", &f.insp1)
            .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    f.s.assert_healthy().await;
}
