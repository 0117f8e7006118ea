use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{json, Value};

use super::*;
use crate::inspection::{AnswerType, InspectionResult};

fn t(s: &str) -> DateTime<Utc> {
    match DateTime::parse_from_rfc3339(s) {
        Ok(t) => t.with_timezone(&Utc),
        Err(e) => panic!("{s}: {e}"),
    }
}

fn date(s: &str) -> NaiveDate {
    match NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        Ok(d) => d,
        Err(e) => panic!("{s}: {e}"),
    }
}

fn registry() -> &'static TemplateRegistry {
    match templates() {
        Ok(r) => r,
        Err(e) => panic!("self-check templates invalid: {e}"),
    }
}

/// Every item answered as passing (numbers inside their limits, a photo).
fn passing(template_id: &str) -> Vec<Value> {
    let Some(t) = registry().latest(template_id) else {
        panic!("{template_id}")
    };
    t.items
        .iter()
        .map(|i| match &i.answer {
            AnswerType::Number { min, max, .. } => {
                let v = min.or(*max).unwrap_or(0.0);
                json!({"item_id": i.id, "compliant": true, "value": v})
            }
            AnswerType::Photo => {
                json!({"item_id": i.id, "compliant": true, "photos": ["a".repeat(64)]})
            }
            AnswerType::YesNo => json!({"item_id": i.id, "compliant": true}),
        })
        .collect()
}

fn payload(template_id: &str, period: &str, answers: Vec<Value>, findings: Value) -> Value {
    json!({
        "check_id": "0193a000-0000-7000-8000-000000000001",
        "market_id": "mkt-1",
        "template_id": template_id,
        "template_version": 1,
        "period": period,
        "answers": answers,
        "findings": findings,
    })
}

const NOW: &str = "2026-12-01T12:00:00+08:00";

#[test]
fn the_three_templates_load_with_cadence_performer_and_basis() {
    let r = registry();
    let want = [
        (
            "market_daily_control",
            Cadence::Daily,
            Performer::FoodSafetyOfficer,
        ),
        (
            "market_weekly_review",
            Cadence::Weekly,
            Performer::FoodSafetyDirector,
        ),
        (
            "market_monthly_schedule",
            Cadence::Monthly,
            Performer::FoodSafetyDirector,
        ),
    ];
    assert_eq!(r.list().len(), 3);
    for (id, cadence, performer) in want {
        let Some(t) = r.get(id, 1) else {
            panic!("{id}")
        };
        assert_eq!(t.cadence, Some(cadence));
        assert_eq!(t.performer, Some(performer));
        assert!(t.source.contains("总局令第60号"), "{id}");
        for i in &t.items {
            assert!(
                i.basis.contains("总局令第60号")
                    || i.basis.contains("总局令第81号")
                    || i.basis.contains("《食品安全法》第六十五条"),
                "{id} {}: {}",
                i.id,
                i.basis
            );
        }
    }
    // The inspectors' registry is untouched by them.
    let inspectors = crate::inspection::TemplateRegistry::builtin().map(|r| r.list().len());
    assert_eq!(inspectors.ok(), Some(2));
}

#[test]
fn a_passing_daily_check_is_compliant_with_no_findings() {
    let p = payload(
        "market_daily_control",
        "2026-11-30",
        passing("market_daily_control"),
        json!([]),
    );
    let c = check_self_check(&p, "2026-11-30T23:59:00+08:00", t(NOW));
    let Ok(c) = c else { panic!("{c:?}") };
    assert_eq!(c.cadence, Cadence::Daily);
    assert_eq!(c.period.to_string(), "2026-11-30");
    assert_eq!(c.evaluation.result, InspectionResult::Compliant);
    assert!(c.findings.is_empty());
}

#[test]
fn a_failed_item_needs_its_finding_and_the_engine_judges_numbers() {
    let mut answers = passing("market_daily_control");
    // Cold store at 12 ℃, ticked as fine: the engine fails it anyway.
    for a in answers.iter_mut() {
        if a["item_id"] == "3.2" {
            a["value"] = json!(12.0);
        }
    }
    let p = payload(
        "market_daily_control",
        "2026-11-30",
        answers.clone(),
        json!([]),
    );
    let e = check_self_check(&p, "2026-11-30T09:00:00+08:00", t(NOW)).err();
    assert_eq!(e.as_ref().map(|e| e.code), Some("finding_missing"));
    assert_eq!(e.and_then(|e| e.field).as_deref(), Some("payload.findings"));

    let findings =
        json!([{"item_id": "3.2", "note": "冷库温度偏高，已报修", "follow_up_by": "2026-12-02"}]);
    let p = payload(
        "market_daily_control",
        "2026-11-30",
        answers.clone(),
        findings,
    );
    let c = check_self_check(&p, "2026-11-30T09:00:00+08:00", t(NOW));
    let Ok(c) = c else { panic!("{c:?}") };
    assert_eq!(c.evaluation.result, InspectionResult::BasicallyCompliant);
    assert_eq!(c.findings.len(), 1);
    assert_eq!(
        c.findings[0].finding_id,
        "0193a000-0000-7000-8000-000000000001:3.2"
    );
    assert_eq!(c.findings[0].follow_up_by, date("2026-12-02"));

    // A finding on a passed item, twice on one item, a date out of range.
    let bad = [
        (
            json!([{"item_id": "3.2", "note": "x", "follow_up_by": "2026-12-02"}, {"item_id": "1.1", "note": "x", "follow_up_by": "2026-12-02"}]),
            "finding_on_passed_item",
            "payload.findings[1].item_id",
        ),
        (
            json!([{"item_id": "3.2", "note": "x", "follow_up_by": "2026-12-02"}, {"item_id": "3.2", "note": "y", "follow_up_by": "2026-12-02"}]),
            "duplicate_finding",
            "payload.findings[1].item_id",
        ),
        (
            json!([{"item_id": "3.2", "note": "x", "follow_up_by": "2026-11-29"}]),
            "follow_up_out_of_range",
            "payload.findings[0].follow_up_by",
        ),
        (
            json!([{"item_id": "3.2", "note": "x", "follow_up_by": "2027-03-01"}]),
            "follow_up_out_of_range",
            "payload.findings[0].follow_up_by",
        ),
        (
            json!([{"item_id": "3.2", "note": "x", "follow_up_by": "12/02"}]),
            "invalid_date",
            "payload.findings[0].follow_up_by",
        ),
        (
            json!([{"item_id": "3.2", "note": " ", "follow_up_by": "2026-12-02"}]),
            "missing_field",
            "payload.findings[0].note",
        ),
        (
            json!([{"item_id": "9.9", "note": "x", "follow_up_by": "2026-12-02"}]),
            "unknown_item",
            "payload.findings[0].item_id",
        ),
    ];
    for (findings, code, field) in bad {
        let p = payload(
            "market_daily_control",
            "2026-11-30",
            answers.clone(),
            findings,
        );
        let e = check_self_check(&p, "2026-11-30T09:00:00+08:00", t(NOW)).err();
        assert_eq!(e.as_ref().map(|e| e.code), Some(code), "{e:?}");
        assert_eq!(e.and_then(|e| e.field).as_deref(), Some(field));
    }
}

#[test]
fn the_check_must_fall_in_its_period_in_shanghai() {
    let answers = passing("market_daily_control");
    let p = payload(
        "market_daily_control",
        "2026-11-30",
        answers.clone(),
        json!([]),
    );
    // 16:00 UTC on the 30th is 00:00 on 1 December in Shanghai.
    let e = check_self_check(&p, "2026-11-30T16:00:00Z", t(NOW)).err();
    assert_eq!(e.map(|e| e.code), Some("period_mismatch"));
    assert!(check_self_check(&p, "2026-11-30T15:59:59Z", t(NOW)).is_ok());

    let weekly = payload(
        "market_weekly_review",
        "2026-W48",
        passing("market_weekly_review"),
        json!([]),
    );
    assert!(check_self_check(&weekly, "2026-11-29T20:00:00+08:00", t(NOW)).is_ok());
    let e = check_self_check(&weekly, "2026-11-30T08:00:00+08:00", t(NOW)).err();
    assert_eq!(e.map(|e| e.code), Some("period_mismatch"));
    // A weekly template with a daily period.
    let wrong = payload(
        "market_weekly_review",
        "2026-11-29",
        passing("market_weekly_review"),
        json!([]),
    );
    let e = check_self_check(&wrong, "2026-11-29T20:00:00+08:00", t(NOW)).err();
    assert_eq!(e.map(|e| e.code), Some("invalid_period"));

    let monthly = payload(
        "market_monthly_schedule",
        "2026-11",
        passing("market_monthly_schedule"),
        json!([]),
    );
    assert!(check_self_check(&monthly, "2026-11-30T18:00:00+08:00", t(NOW)).is_ok());
}

#[test]
fn bad_ops_are_refused_with_their_field() {
    let answers = passing("market_daily_control");
    let ok = payload("market_daily_control", "2026-11-30", answers, json!([]));
    let at = "2026-11-30T09:00:00+08:00";
    let mut cases: Vec<(Value, &str, &str, &str)> = Vec::new();
    let mut p = ok.clone();
    p["check_id"] = json!("not-a-uuid");
    cases.push((p, at, "invalid_uuid", "payload.check_id"));
    let mut p = ok.clone();
    p["template_id"] = json!("food_sales_daily");
    cases.push((p, at, "unknown_template", "payload.template_id"));
    let mut p = ok.clone();
    p["template_version"] = json!(9);
    cases.push((p, at, "unknown_template", "payload.template_id"));
    let mut p = ok.clone();
    p["answers"] = json!([]);
    cases.push((p, at, "missing_answer", "payload"));
    let mut p = ok.clone();
    p["answers"][0]["item_id"] = json!("nope");
    cases.push((p, at, "unknown_item", "payload.answers[0].item_id"));
    let mut p = ok.clone();
    p["market_id"] = json!("");
    cases.push((p, at, "invalid_field", "payload.market_id"));
    cases.push((json!({"check_id": 1}), at, "invalid_payload", "payload"));
    cases.push((ok.clone(), "yesterday", "invalid_timestamp", "at"));
    cases.push((
        ok.clone(),
        "2026-12-01T12:06:00+08:00",
        "timestamp_in_future",
        "at",
    ));
    for (p, at, code, field) in cases {
        let e = check_self_check(&p, at, t(NOW)).err();
        assert_eq!(e.as_ref().map(|e| e.code), Some(code), "{e:?}");
        if field != "payload" || code != "missing_answer" {
            assert_eq!(e.and_then(|e| e.field).as_deref(), Some(field), "{code}");
        }
    }
}

#[test]
fn a_follow_up_closes_once_after_its_check_and_is_overdue_after_its_day() {
    let fid = "0193a000-0000-7000-8000-000000000001:3.2";
    let c = parse_closure(
        &json!({"finding_id": fid, "note": "已修复冷库"}),
        "2026-12-01T10:00:00+08:00",
        t(NOW),
    );
    let Ok(c) = c else { panic!("{c:?}") };
    let open = FindingState {
        check_at: t("2026-11-30T09:00:00+08:00"),
        closed: false,
    };
    assert!(check_closure(&c, &open).is_ok());
    let closed = FindingState {
        closed: true,
        ..open.clone()
    };
    assert_eq!(
        check_closure(&c, &closed).err().map(|e| e.code),
        Some("follow_up_already_closed")
    );
    let later = FindingState {
        check_at: t("2026-12-01T11:00:00+08:00"),
        closed: false,
    };
    assert_eq!(
        check_closure(&c, &later).err().map(|e| e.code),
        Some("closed_before_found")
    );
    for (p, code) in [
        (json!({"finding_id": "x", "note": "n"}), "invalid_field"),
        (json!({"finding_id": fid, "note": ""}), "missing_field"),
        (
            json!({"finding_id": fid, "note": "n", "photos": ["nothex"]}),
            "invalid_photo_hash",
        ),
        (json!({"note": "n"}), "invalid_payload"),
    ] {
        let e = parse_closure(&p, "2026-12-01T10:00:00+08:00", t(NOW)).err();
        assert_eq!(e.map(|e| e.code), Some(code));
    }

    let by = date("2026-12-02");
    assert_eq!(
        follow_up_status(by, false, t("2026-12-02T23:59:59+08:00")),
        FollowUpStatus::Open
    );
    assert_eq!(
        follow_up_status(by, false, t("2026-12-03T00:00:00+08:00")),
        FollowUpStatus::Overdue
    );
    assert_eq!(
        follow_up_status(by, true, t("2026-12-09T00:00:00+08:00")),
        FollowUpStatus::Closed
    );
}

#[test]
fn the_calendar_marks_done_missed_pending_and_not_due() {
    let checks = vec![
        (Period::Day(date("2026-11-02")), "a".to_owned()),
        (Period::Day(date("2026-11-04")), "b".to_owned()),
        (Period::Day(date("2026-11-04")), "c".to_owned()),
    ];
    let now = t("2026-11-05T10:00:00+08:00");
    let cal = calendar(
        Cadence::Daily,
        date("2026-11-01"),
        date("2026-11-06"),
        Some(date("2026-11-02")),
        &checks,
        now,
    );
    let got: Vec<(String, &str, usize)> = cal
        .iter()
        .map(|p| (p.period.to_string(), p.status.as_str(), p.check_ids.len()))
        .collect();
    assert_eq!(
        got,
        vec![
            ("2026-11-01".into(), "not_due", 0),
            ("2026-11-02".into(), "done", 1),
            ("2026-11-03".into(), "missed", 0),
            ("2026-11-04".into(), "done", 2),
            ("2026-11-05".into(), "pending", 0),
            ("2026-11-06".into(), "pending", 0),
        ]
    );
    // The week of the first check is due; November is pending on the 5th.
    let weeks = calendar(
        Cadence::Weekly,
        date("2026-11-01"),
        date("2026-11-10"),
        Some(date("2026-11-02")),
        &[],
        t("2026-11-10T10:00:00+08:00"),
    );
    let got: Vec<(String, &str)> = weeks
        .iter()
        .map(|p| (p.period.to_string(), p.status.as_str()))
        .collect();
    assert_eq!(
        got,
        vec![
            ("2026-W44".into(), "not_due"),
            ("2026-W45".into(), "missed"),
            ("2026-W46".into(), "pending"),
        ]
    );
    let months = calendar(
        Cadence::Monthly,
        date("2026-11-01"),
        date("2026-11-30"),
        None,
        &[],
        now,
    );
    assert_eq!(months.len(), 1);
    assert_eq!(months[0].status, PeriodStatus::NotDue);
}
