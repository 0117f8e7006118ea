//! Self-inspections (日管控、周排查、月调度, issue 14 item 3) against the
//! real server: pushed by a market's operators, scoped to their market,
//! periods in Asia/Shanghai, findings followed to closure or overdue, the
//! missed-check warning at the day boundary and its escalation.

mod common;

use chrono::{DateTime, Duration, FixedOffset, NaiveDate, Utc};
use common::{expect_error, TestServer};
use reqwest::StatusCode;
use serde_json::{json, Value};
use shian_core::inspection::AnswerType;
use shian_server::store::Role;

fn cn() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).unwrap()
}

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Every item of a template answered as passing.
fn passing(template_id: &str) -> Vec<Value> {
    let t = shian_core::self_check::templates()
        .unwrap()
        .latest(template_id)
        .unwrap();
    t.items
        .iter()
        .map(|i| match &i.answer {
            AnswerType::Number { min, max, .. } => {
                json!({"item_id": i.id, "compliant": true, "value": min.or(*max).unwrap_or(0.0)})
            }
            AnswerType::Photo => {
                json!({"item_id": i.id, "compliant": true, "photos": ["b".repeat(64)]})
            }
            AnswerType::YesNo => json!({"item_id": i.id, "compliant": true}),
        })
        .collect()
}

const DAILY: &str = "market_daily_control";
const WEEKLY: &str = "market_weekly_review";
const MONTHLY: &str = "market_monthly_schedule";

fn check_op(market: &str, template: &str, period: &str, at: &str) -> Value {
    check_op_with(market, template, period, at, passing(template), json!([]))
}

fn check_op_with(
    market: &str,
    template: &str,
    period: &str,
    at: &str,
    answers: Vec<Value>,
    findings: Value,
) -> Value {
    json!({
        "op_id": id(),
        "kind": "market.self_check",
        "at": at,
        "payload": {
            "check_id": id(),
            "market_id": market,
            "template_id": template,
            "template_version": 1,
            "period": period,
            "answers": answers,
            "findings": findings,
        }
    })
}

/// A daily check's answers with the cold store (item 1.1) failed.
fn failing_daily() -> Vec<Value> {
    let mut a = passing(DAILY);
    for x in a.iter_mut() {
        if x["item_id"] == "1.1" {
            x["compliant"] = json!(false);
        }
    }
    a
}

async fn push(s: &TestServer, token: &str, ops: Vec<Value>) -> Vec<Value> {
    let res = s
        .post(
            "/v1/sync/push",
            token,
            // One tablet per account (a device belongs to one account).
            json!({"device_id": format!("tablet-{}", &token[token.len() - 16..]), "ops": ops}),
        )
        .await;
    let status = res.status();
    let body: Value = res.json().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    body["results"].as_array().unwrap().clone()
}

async fn push_ok(s: &TestServer, token: &str, op: Value) -> Value {
    let r = push(s, token, vec![op]).await;
    assert_eq!(r[0]["status"], "accepted", "{}", r[0]);
    r[0]["result"].clone()
}

async fn push_refused(s: &TestServer, token: &str, op: Value, code: &str, field: &str) {
    let r = push(s, token, vec![op]).await;
    assert_eq!(r[0]["status"], "rejected", "{}", r[0]);
    assert_eq!(r[0]["error"]["code"], code, "{}", r[0]);
    assert_eq!(r[0]["error"]["field"], field, "{}", r[0]);
}

async fn get_json(s: &TestServer, token: &str, path: &str) -> Value {
    let res = s.get(path, token).await;
    let status = res.status();
    let body: Value = res.json().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{path}: {body}");
    body
}

fn status_of<'a>(cal: &'a Value, period: &str) -> &'a Value {
    cal["periods"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["period"] == period)
        .unwrap_or_else(|| panic!("no {period} in {cal}"))
}

/// The market's open alerts of a kind, as the analyst lists them.
async fn alerts(s: &TestServer, analyst: &str, market: &str, kind: &str) -> Vec<Value> {
    let v = get_json(
        s,
        analyst,
        &format!("/v1/alerts?market_id={market}&kind={kind}"),
    )
    .await;
    v["alerts"].as_array().unwrap().clone()
}

struct Market {
    s: TestServer,
    admin: String,
    analyst: String,
    ours: String,
    theirs: String,
    op: String,
    other_op: String,
}

async fn market() -> Market {
    let s = TestServer::start().await;
    let admin = s.admin().await;
    let (ours, theirs) = (s.create_market(&admin).await, s.create_market(&admin).await);
    s.operator("officer", "officer-pass-1", &[&ours]).await;
    s.operator("other", "other-pass-1", &[&theirs]).await;
    s.user("analyst", "analyst-pass-1", Role::Analyst, None, &[])
        .await;
    let op = s.token("officer", "officer-pass-1").await;
    let other_op = s.token("other", "other-pass-1").await;
    let analyst = s.token("analyst", "analyst-pass-1").await;
    Market {
        s,
        admin,
        analyst,
        ours,
        theirs,
        op,
        other_op,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_market_s_operators_record_and_read_its_self_checks() {
    let m = market().await;
    let s = &m.s;
    let at = "2026-10-05T09:00:00+08:00";
    // Another market's operator cannot record for ours, nor can a
    // merchant or an inspector account.
    push_refused(
        s,
        &m.other_op,
        check_op(&m.ours, DAILY, "2026-10-05", at),
        "out_of_scope",
        "payload.market_id",
    )
    .await;
    s.user(
        "insp",
        "inspector-pass-1",
        Role::Inspector,
        None,
        &["350203"],
    )
    .await;
    let insp = s.token("insp", "inspector-pass-1").await;
    push_refused(
        s,
        &insp,
        check_op(&m.ours, DAILY, "2026-10-05", at),
        "forbidden_kind",
        "kind",
    )
    .await;
    let done = push_ok(s, &m.op, check_op(&m.ours, DAILY, "2026-10-05", at)).await;
    assert_eq!(done["result"], "compliant");
    assert_eq!(done["period"], "2026-10-05");

    // By API: ours to its operator and the analyst; 403 to the other.
    let path = format!(
        "/v1/markets/{}/self-checks?from=2026-10-01&to=2026-10-31",
        m.ours
    );
    let cal = get_json(s, &m.op, &path).await;
    assert_eq!(status_of(&cal, "2026-10-05")["status"], "done");
    assert_eq!(cal["tracked_since"], "2026-10-05");
    get_json(s, &m.analyst, &path).await;
    expect_error(
        s.get(&path, &m.other_op).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    expect_error(
        s.get(&path, &insp).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    let fu = format!("/v1/markets/{}/follow-ups", m.ours);
    expect_error(
        s.get(&fu, &m.other_op).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    let theirs = get_json(
        s,
        &m.other_op,
        &format!(
            "/v1/markets/{}/self-checks?from=2026-10-01&to=2026-10-31",
            m.theirs
        ),
    )
    .await;
    assert!(theirs["periods"]
        .as_array()
        .unwrap()
        .iter()
        .all(|p| p["check_ids"].as_array().unwrap().is_empty()));

    // By pull: the check reaches our tablets, not the other market's.
    let pulled = |token: String| async move {
        let v = get_json(s, &token, "/v1/sync/pull").await;
        v["changes"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["kind"] == "market.self_check")
            .count()
    };
    assert_eq!(pulled(m.op.clone()).await, 1);
    assert_eq!(pulled(m.other_op.clone()).await, 0);
    // The templates went out to every tablet.
    let v = get_json(s, &m.op, "/v1/sync/pull").await;
    let templates: Vec<&Value> = v["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["kind"] == "self_check_template")
        .collect();
    assert_eq!(templates.len(), 3, "{v}");
    assert!(templates.iter().any(|c| c["payload"]["cadence"] == "weekly"
        && c["payload"]["performer"] == "food_safety_director"));
    s.assert_healthy().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_a_clear_refusal_and_stores_nothing() {
    let m = market().await;
    let s = &m.s;
    let at = "2026-10-05T09:00:00+08:00";
    let cases: Vec<(Value, &str, &str)> = vec![
        // The check is for the day it is done in, Shanghai time.
        (
            check_op(&m.ours, DAILY, "2026-10-04", at),
            "period_mismatch",
            "payload.period",
        ),
        (
            check_op(&m.ours, WEEKLY, "2026-10-05", at),
            "invalid_period",
            "payload.period",
        ),
        (
            check_op_with(
                &m.ours,
                "food_sales_daily",
                "2026-10-05",
                at,
                passing(DAILY),
                json!([]),
            ),
            "unknown_template",
            "payload.template_id",
        ),
        (
            check_op_with(&m.ours, DAILY, "2026-10-05", at, failing_daily(), json!([])),
            "finding_missing",
            "payload.findings",
        ),
        (
            check_op(&m.ours, DAILY, "2026-10-05", "soon"),
            "invalid_timestamp",
            "at",
        ),
        (
            check_op("no-such-market", DAILY, "2026-10-05", at),
            "out_of_scope",
            "payload.market_id",
        ),
        (
            json!({"op_id": id(), "kind": "market.follow_up_closed", "at": at,
                   "payload": {"finding_id": format!("{}:1.1", id()), "note": "已整改"}}),
            "unknown_finding",
            "payload.finding_id",
        ),
    ];
    for (op, code, field) in cases {
        push_refused(s, &m.op, op, code, field).await;
    }
    let cal = get_json(
        s,
        &m.op,
        &format!(
            "/v1/markets/{}/self-checks?from=2026-10-01&to=2026-10-31",
            m.ours
        ),
    )
    .await;
    assert_eq!(cal["tracked_since"], Value::Null, "nothing stored: {cal}");

    let base = format!("/v1/markets/{}/self-checks", m.ours);
    for (q, status, code, field) in [
        (
            "?from=2026-13-01",
            StatusCode::BAD_REQUEST,
            "invalid_date",
            "from",
        ),
        ("?to=", StatusCode::BAD_REQUEST, "invalid_date", "to"),
        (
            "?cadence=",
            StatusCode::BAD_REQUEST,
            "invalid_field",
            "cadence",
        ),
        (
            "?cadence=hourly",
            StatusCode::BAD_REQUEST,
            "invalid_field",
            "cadence",
        ),
        (
            "?from=2026-10-05&to=2026-10-01",
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_range",
            "to",
        ),
        (
            "?from=2025-01-01&to=2026-10-01",
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_range",
            "to",
        ),
    ] {
        let v = expect_error(s.get(&format!("{base}{q}"), &m.op).await, status, code).await;
        assert_eq!(v["error"]["field"], field);
    }
    for q in ["late", ""] {
        let path = format!("/v1/markets/{}/follow-ups?status={q}", m.ours);
        let v = expect_error(
            s.get(&path, &m.op).await,
            StatusCode::BAD_REQUEST,
            "invalid_field",
        )
        .await;
        assert_eq!(v["error"]["field"], "status");
    }
    expect_error(
        s.get("/v1/markets/nope/self-checks", &m.admin).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    s.assert_healthy().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_check_at_23_59_shanghai_counts_and_none_by_midnight_raises_one_warning() {
    let m = market().await;
    let s = &m.s;
    // Daily checks 1–9 October at 23:59 Shanghai (15:59 UTC); the week of
    // 28 September and its successor reviewed.
    for d in 1..=9 {
        let at = format!("2026-10-{d:02}T23:59:00+08:00");
        push_ok(
            s,
            &m.op,
            check_op(&m.ours, DAILY, &format!("2026-10-{d:02}"), &at),
        )
        .await;
    }
    push_ok(
        s,
        &m.op,
        check_op(&m.ours, WEEKLY, "2026-W40", "2026-10-04T20:00:00+08:00"),
    )
    .await;
    // A second check of the 9th is kept; the day counts once.
    let again = check_op(&m.ours, DAILY, "2026-10-09", "2026-10-09T10:00:00+08:00");
    push_ok(s, &m.op, again.clone()).await;
    // The same op again is a duplicate; the same check id under another
    // op id is known and stores nothing.
    let r = push(s, &m.op, vec![again.clone()]).await;
    assert_eq!(r[0]["status"], "duplicate");
    let mut same_check = again.clone();
    same_check["op_id"] = json!(id());
    assert_eq!(
        push_ok(s, &m.op, same_check).await["already_recorded"],
        true
    );

    // 23:59:59 on the 10th: the 10th is not over, nothing is missed.
    let before = t("2026-10-10T23:59:59+08:00");
    assert_eq!(s.store.check_self_check_alerts(before).await.unwrap(), 0);
    assert!(alerts(s, &m.analyst, &m.ours, "self_check_missed")
        .await
        .is_empty());
    // 00:00 on the 11th (16:00 UTC on the 10th): the 10th was missed.
    let midnight = t("2026-10-10T16:00:00Z");
    assert_eq!(s.store.check_self_check_alerts(midnight).await.unwrap(), 1);
    let a = alerts(s, &m.analyst, &m.ours, "self_check_missed").await;
    assert_eq!(a.len(), 1, "{a:?}");
    assert_eq!(a[0]["severity"], "medium");
    assert_eq!(a[0]["subject"]["type"], "market");
    assert_eq!(a[0]["evidence"]["figures"]["missed_daily"], 1.0);
    assert_eq!(a[0]["evidence"]["figures"]["escalated"], 0.0);
    // Checked again (and by the full pass): never a second alert.
    assert_eq!(
        s.store
            .check_self_check_alerts(midnight + Duration::hours(1))
            .await
            .unwrap(),
        0
    );
    s.store
        .scan_alerts(midnight + Duration::hours(2))
        .await
        .unwrap();
    assert_eq!(
        alerts(s, &m.analyst, &m.ours, "self_check_missed")
            .await
            .len(),
        1
    );
    // The operator sees it among its market's alerts.
    let own = get_json(s, &m.op, "/v1/alerts?kind=self_check_missed").await;
    assert_eq!(own["alerts"].as_array().unwrap().len(), 1);

    let cal = get_json(
        s,
        &m.op,
        &format!(
            "/v1/markets/{}/self-checks?from=2026-10-08&to=2026-10-11&cadence=daily",
            m.ours
        ),
    )
    .await;
    assert_eq!(status_of(&cal, "2026-10-09")["status"], "done");
    assert_eq!(
        status_of(&cal, "2026-10-09")["check_ids"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(status_of(&cal, "2026-10-10")["status"], "missed");
    assert_eq!(cal["periods"].as_array().unwrap().len(), 4);
    s.assert_healthy().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weeks_are_iso_weeks_and_months_calendar_months() {
    let m = market().await;
    let s = &m.s;
    // Sunday 1 November 2026 23:59:59 is the last second of ISO week 44
    // (Monday 26 October to Sunday 1 November).
    push_ok(
        s,
        &m.op,
        check_op(&m.ours, WEEKLY, "2026-W44", "2026-11-01T23:59:59+08:00"),
    )
    .await;
    push_refused(
        s,
        &m.op,
        check_op(&m.ours, WEEKLY, "2026-W44", "2026-11-02T00:00:00+08:00"),
        "period_mismatch",
        "payload.period",
    )
    .await;
    push_ok(
        s,
        &m.op,
        check_op(&m.ours, MONTHLY, "2026-10", "2026-10-31T23:59:59+08:00"),
    )
    .await;
    push_refused(
        s,
        &m.op,
        check_op(&m.ours, MONTHLY, "2026-10", "2026-11-01T00:00:00+08:00"),
        "period_mismatch",
        "payload.period",
    )
    .await;
    let cal = get_json(
        s,
        &m.op,
        &format!(
            "/v1/markets/{}/self-checks?from=2026-10-26&to=2026-11-15",
            m.ours
        ),
    )
    .await;
    let w44 = status_of(&cal, "2026-W44");
    assert_eq!(w44["cadence"], "weekly");
    assert_eq!(w44["first_day"], "2026-10-26");
    assert_eq!(w44["last_day"], "2026-11-01");
    assert_eq!(w44["status"], "done");
    assert_eq!(status_of(&cal, "2026-W45")["status"], "missed");
    assert_eq!(status_of(&cal, "2026-10")["status"], "done");
    assert_eq!(status_of(&cal, "2026-11")["status"], "missed");
    // Weekly missed from the Monday after the week, not on its Sunday.
    let sunday = t("2026-11-08T23:59:59+08:00");
    s.store.check_self_check_alerts(sunday).await.unwrap();
    let a = alerts(s, &m.analyst, &m.ours, "self_check_missed").await;
    let weekly = |a: &[Value]| {
        a.first()
            .map(|a| a["evidence"]["figures"]["missed_weekly"].clone())
    };
    // By then the daily checks since 31 October are missed, but not W45.
    assert_eq!(weekly(&a), Some(json!(0.0)), "{a:?}");
    s.store
        .check_self_check_alerts(t("2026-11-09T00:00:00+08:00"))
        .await
        .unwrap();
    let a = alerts(s, &m.analyst, &m.ours, "self_check_missed").await;
    assert_eq!(weekly(&a), Some(json!(1.0)), "{a:?}");
    assert_eq!(a.len(), 1);
    s.assert_healthy().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn findings_are_followed_to_closure_or_become_overdue() {
    let m = market().await;
    let s = &m.s;
    // A past check with a finding due 22 October: overdue now.
    let old = check_op_with(
        &m.ours,
        DAILY,
        "2026-10-20",
        "2026-10-20T09:00:00+08:00",
        failing_daily(),
        json!([{"item_id": "1.1", "note": "两户未留存合格证", "follow_up_by": "2026-10-22"}]),
    );
    let check_id = old["payload"]["check_id"].as_str().unwrap().to_owned();
    let r = push_ok(s, &m.op, old).await;
    assert_eq!(r["result"], "non_compliant");
    let finding = format!("{check_id}:1.1");
    assert_eq!(r["findings"][0]["finding_id"], finding.as_str());
    // A check today with a finding due in three days: open.
    let now = Utc::now().with_timezone(&cn());
    let today: NaiveDate = now.date_naive();
    let fresh = check_op_with(
        &m.ours,
        DAILY,
        &today.to_string(),
        &now.to_rfc3339(),
        failing_daily(),
        json!([{"item_id": "1.1", "note": "一户凭证待补", "follow_up_by": (today + Duration::days(3)).to_string()}]),
    );
    push_ok(s, &m.op, fresh).await;

    let fu = |q: &str| format!("/v1/markets/{}/follow-ups{q}", m.ours);
    let all = get_json(s, &m.op, &fu("")).await;
    assert_eq!(all["items"].as_array().unwrap().len(), 2, "{all}");
    let overdue = get_json(s, &m.op, &fu("?status=overdue")).await;
    assert_eq!(overdue["items"].as_array().unwrap().len(), 1);
    assert_eq!(overdue["items"][0]["finding_id"], finding.as_str());
    assert_eq!(
        get_json(s, &m.op, &fu("?status=open")).await["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // The warning: not on the 22nd, from 00:00 on the 23rd.
    s.store
        .check_self_check_alerts(t("2026-10-22T23:59:59+08:00"))
        .await
        .unwrap();
    assert!(alerts(s, &m.analyst, &m.ours, "follow_up_overdue")
        .await
        .is_empty());
    s.store
        .check_self_check_alerts(t("2026-10-23T00:00:00+08:00"))
        .await
        .unwrap();
    let a = alerts(s, &m.analyst, &m.ours, "follow_up_overdue").await;
    assert_eq!(a.len(), 1);
    assert_eq!(a[0]["evidence"]["figures"]["overdue"], 1.0);

    // Closing: another market's operator cannot; ours closes it once.
    let close = |note: &str| {
        json!({"op_id": id(), "kind": "market.follow_up_closed", "at": Utc::now().with_timezone(&cn()).to_rfc3339(),
               "payload": {"finding_id": finding, "note": note, "photos": ["c".repeat(64)]}})
    };
    push_refused(
        s,
        &m.other_op,
        close("别人关闭"),
        "unknown_finding",
        "payload.finding_id",
    )
    .await;
    let r = push_ok(s, &m.op, close("已补齐合格证并培训")).await;
    assert_eq!(r["status"], "closed");
    push_refused(
        s,
        &m.op,
        close("再关一次"),
        "follow_up_already_closed",
        "payload.finding_id",
    )
    .await;
    let closed = get_json(s, &m.op, &fu("?status=closed")).await;
    assert_eq!(closed["items"].as_array().unwrap().len(), 1);
    assert_eq!(closed["items"][0]["close_note"], "已补齐合格证并培训");
    assert_eq!(closed["items"][0]["close_photos"][0], "c".repeat(64));
    assert!(get_json(s, &m.op, &fu("?status=overdue")).await["items"]
        .as_array()
        .unwrap()
        .is_empty());
    s.assert_healthy().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missed_days_past_the_threshold_escalate_to_high() {
    let m = market().await;
    let s = &m.s;
    // Daily checks 1–20 October except the 14th, 16th and 18th; every
    // week reviewed.
    for d in (1..=20).filter(|d| ![14, 16, 18].contains(d)) {
        let at = format!("2026-10-{d:02}T18:00:00+08:00");
        push_ok(
            s,
            &m.op,
            check_op(&m.ours, DAILY, &format!("2026-10-{d:02}"), &at),
        )
        .await;
    }
    for (w, at) in [
        ("2026-W40", "2026-10-01"),
        ("2026-W41", "2026-10-05"),
        ("2026-W42", "2026-10-12"),
        ("2026-W43", "2026-10-19"),
    ] {
        push_ok(
            s,
            &m.op,
            check_op(&m.ours, WEEKLY, w, &format!("{at}T19:00:00+08:00")),
        )
        .await;
    }
    // Two missed in the last seven days: medium.
    s.store
        .check_self_check_alerts(t("2026-10-18T12:00:00+08:00"))
        .await
        .unwrap();
    let a = alerts(s, &m.analyst, &m.ours, "self_check_missed").await;
    assert_eq!(a[0]["severity"], "medium");
    assert_eq!(a[0]["evidence"]["figures"]["missed_daily_recent"], 2.0);
    // The 18th over too: three in seven days, high and escalated, still
    // one alert.
    s.store
        .check_self_check_alerts(t("2026-10-19T00:00:00+08:00"))
        .await
        .unwrap();
    let a = alerts(s, &m.analyst, &m.ours, "self_check_missed").await;
    assert_eq!(a.len(), 1);
    assert_eq!(a[0]["severity"], "high");
    assert_eq!(a[0]["evidence"]["figures"]["escalated"], 1.0);
    s.assert_healthy().await;
}
