//! Ledger rules through the real local store (a SQLite file on disk).

use chrono::{Duration, Utc};
use serde_json::{json, Value};
use shian_core::error::LedgerError;
use shian_core::store::LocalStore;
use uuid::Uuid;

fn store() -> (tempfile::TempDir, LocalStore) {
    let dir = tempfile::tempdir().unwrap();
    let mut s = LocalStore::open(dir.path().join("device.db")).unwrap();
    s.set_authoritative(true);
    (dir, s)
}

fn ago(hours: i64) -> String {
    (Utc::now() - Duration::hours(hours)).to_rfc3339()
}

fn purchase(merchant: &str, category: &str, qty: (&str, &str), certs: Value) -> Value {
    json!({
        "entry_id": Uuid::now_v7().to_string(), "merchant_id": merchant,
        "product": {"name": "冻牛腱", "category": category},
        "quantity": {"value": qty.0, "unit": qty.1},
        "supplier": {"name": "某某屠宰场", "region_code": "350203"},
        "certificates": certs, "received_at": ago(48),
    })
}

fn sale(merchant: &str, trace: &str, qty: (&str, &str), buyer: Value) -> Value {
    json!({
        "entry_id": Uuid::now_v7().to_string(), "merchant_id": merchant, "trace_code": trace,
        "quantity": {"value": qty.0, "unit": qty.1}, "buyer": buyer, "sold_at": ago(24),
    })
}

fn quarantine() -> Value {
    json!([{"kind": "quarantine", "number": "3502031234567"}])
}

fn field_err(e: LedgerError) -> (String, String) {
    match e {
        LedgerError::Invalid(f) => (f.code, f.field),
        LedgerError::Rule(r) => (r.code, r.field.unwrap_or_default()),
        other => panic!("unexpected {other:?}"),
    }
}

fn nothing_stored(s: &LocalStore, before: &shian_core::store::Counts) {
    assert_eq!(
        &s.counts().unwrap(),
        before,
        "a refused event stores nothing"
    );
}

#[test]
fn purchase_records_batch_and_outbox_in_one_step() {
    let (_d, mut s) = store();
    let a = s
        .record(
            "ledger.purchase",
            &purchase("m1", "livestock_meat", ("12.5", "kg"), quarantine()),
        )
        .unwrap();
    let code = a.trace_code.unwrap();
    assert!(shian_core::codes::parse_code(&code, "t").is_ok());
    assert!(a.warnings.is_empty());
    let c = s.counts().unwrap();
    assert_eq!((c.entries, c.batches, c.outbox_pending), (1, 1, 1));
    let op = &s.outbox("pending", 10).unwrap()[0];
    assert_eq!(
        op.payload["trace_code"], code,
        "the outbox carries the code the device made"
    );
    assert_eq!(
        op.payload["quantity"],
        json!({"value": "12.5", "unit": "kg"})
    );
}

#[test]
fn missing_certificate_is_recorded_with_a_warning() {
    let (_d, mut s) = store();
    let a = s
        .record(
            "ledger.purchase",
            &purchase("m1", "livestock_meat", ("10", "kg"), json!([])),
        )
        .unwrap();
    assert_eq!(a.warnings.len(), 1);
    assert_eq!(a.warnings[0].code, "missing_certificate");
    assert_eq!(a.warnings[0].evidence["missing"], json!([["quarantine"]]));
    // farm produce: any of origin / commitment / test report will do
    let a = s
        .record(
            "ledger.purchase",
            &purchase(
                "m1",
                "vegetable",
                ("10", "kg"),
                json!([{"kind":"commitment","number":"C1"}]),
            ),
        )
        .unwrap();
    assert!(a.warnings.is_empty());
    let a = s
        .record(
            "ledger.purchase",
            &purchase("m1", "imported_cold_chain", ("10", "kg"), quarantine()),
        )
        .unwrap();
    assert_eq!(a.warnings[0].code, "missing_certificate");
    let a = s
        .record(
            "ledger.purchase",
            &purchase("m1", "prepackaged", ("10", "box"), json!([])),
        )
        .unwrap();
    assert!(
        a.warnings.is_empty(),
        "prepackaged food needs no purchase certificate here"
    );
    assert_eq!(s.warnings("m1", 10).unwrap().len(), 2);
}

#[test]
fn a_market_may_make_missing_certificates_a_refusal() {
    let (_d, mut s) = store();
    let mut rules = s.rules().clone();
    rules.reject_missing_certificates = true;
    s.set_rules(rules);
    let before = s.counts().unwrap();
    let e = s
        .record(
            "ledger.purchase",
            &purchase("m1", "poultry", ("10", "kg"), json!([])),
        )
        .unwrap_err();
    assert_eq!(
        field_err(e),
        ("missing_certificate".into(), "certificates".into())
    );
    nothing_stored(&s, &before);
}

#[test]
fn sale_beyond_stock_and_after_expiry_warn_but_record() {
    let (_d, mut s) = store();
    let mut p = purchase("m1", "frozen", ("100", "kg"), json!([]));
    p["expiry_date"] = json!((Utc::now() - Duration::days(10)).date_naive().to_string());
    p["production_date"] = json!((Utc::now() - Duration::days(200)).date_naive().to_string());
    let a = s.record("ledger.purchase", &p).unwrap();
    assert_eq!(a.warnings[0].code, "expired_on_receipt");
    let code = a.trace_code.unwrap();
    let w = s
        .record(
            "ledger.sale",
            &sale("m1", &code, ("60", "kg"), json!({"retail": true})),
        )
        .unwrap()
        .warnings;
    assert_eq!(
        w.iter().map(|w| w.code.as_str()).collect::<Vec<_>>(),
        ["sold_after_expiry"]
    );
    let w = s
        .record(
            "ledger.sale",
            &sale("m1", &code, ("40.001", "kg"), json!({"name": "某饭店"})),
        )
        .unwrap()
        .warnings;
    let over = w
        .iter()
        .find(|w| w.code == "sale_exceeds_stock")
        .expect("over-sale warns");
    assert_eq!(
        (
            over.evidence["held"].as_i64(),
            over.evidence["sold"].as_i64()
        ),
        (Some(40_000), Some(40_001))
    );
    assert_eq!(s.counts().unwrap().movements, 2);
}

#[test]
fn sale_to_a_merchant_issues_a_voucher_the_buyer_redeems() {
    let (_d, mut s) = store();
    let code = s
        .record(
            "ledger.purchase",
            &purchase("m1", "livestock_meat", ("100", "kg"), quarantine()),
        )
        .unwrap()
        .trace_code
        .unwrap();
    let v = s
        .record(
            "ledger.sale",
            &sale("m1", &code, ("30", "kg"), json!({"merchant_id": "m2"})),
        )
        .unwrap()
        .voucher_code
        .unwrap();
    let mut p = purchase("m2", "livestock_meat", ("30", "kg"), quarantine());
    p["voucher_code"] = json!(v.to_lowercase());
    let a = s.record("ledger.purchase", &p).unwrap();
    assert!(a.warnings.is_empty(), "{:?}", a.warnings);
    // the same voucher cannot be received twice
    let before = s.counts().unwrap();
    let mut again = purchase("m2", "livestock_meat", ("30", "kg"), quarantine());
    again["voucher_code"] = json!(v);
    assert_eq!(
        field_err(s.record("ledger.purchase", &again).unwrap_err()).0,
        "voucher_already_redeemed"
    );
    // nor by someone it was not issued to
    let mut other = purchase("m3", "livestock_meat", ("30", "kg"), quarantine());
    other["voucher_code"] = json!(v);
    assert_eq!(
        field_err(s.record("ledger.purchase", &other).unwrap_err()).0,
        "voucher_not_for_you"
    );
    nothing_stored(&s, &before);
    // a voucher only goes with a sale to a merchant
    let mut retail = sale("m1", &code, ("1", "kg"), json!({"retail": true}));
    retail["voucher_code"] = json!(shian_core::codes::new_code(&mut rand::rng()));
    assert_eq!(
        field_err(s.record("ledger.sale", &retail).unwrap_err()),
        ("voucher_needs_merchant_buyer".into(), "voucher_code".into())
    );
}

#[test]
fn counts_never_convert_to_mass() {
    let (_d, mut s) = store();
    let code = s
        .record(
            "ledger.purchase",
            &purchase("m1", "frozen", ("20", "box"), json!([])),
        )
        .unwrap()
        .trace_code
        .unwrap();
    let before = s.counts().unwrap();
    let e = s
        .record(
            "ledger.sale",
            &sale("m1", &code, ("5", "kg"), json!({"retail": true})),
        )
        .unwrap_err();
    assert_eq!(
        field_err(e),
        ("unit_mismatch".into(), "quantity.unit".into())
    );
    nothing_stored(&s, &before);
    assert!(s
        .record(
            "ledger.sale",
            &sale("m1", &code, ("5", "box"), json!({"retail": true}))
        )
        .is_ok());
}

/// A change that breaks a payload, the refusal code and the field it names.
type Breakage = (Box<dyn Fn(&mut Value)>, &'static str, &'static str);

#[test]
fn malformed_events_name_the_field() {
    let (_d, mut s) = store();
    let before = s.counts().unwrap();
    let cases: Vec<Breakage> = vec![
        (
            Box::new(|p| p["quantity"]["value"] = json!("-3")),
            "negative_quantity",
            "quantity.value",
        ),
        (
            Box::new(|p| p["quantity"]["value"] = json!("0")),
            "zero_quantity",
            "quantity.value",
        ),
        (
            Box::new(|p| p["quantity"]["value"] = json!(12.5)),
            "wrong_type",
            "quantity.value",
        ),
        (
            Box::new(|p| p["quantity"]["unit"] = json!("lb")),
            "unknown_unit",
            "quantity.unit",
        ),
        (
            Box::new(|p| p["quantity"]["value"] = json!("200000000")),
            "absurd_quantity",
            "quantity.value",
        ),
        (
            Box::new(|p| p["product"]["name"] = json!("   ")),
            "empty_text",
            "product.name",
        ),
        (
            Box::new(|p| p["product"]["name"] = json!("肉".repeat(101))),
            "text_too_long",
            "product.name",
        ),
        (
            Box::new(|p| p["product"]["category"] = json!("meat")),
            "invalid_enum",
            "product.category",
        ),
        (
            Box::new(|p| p["product"]["gtin"] = json!("5391234567893")),
            "invalid_gtin",
            "product.gtin",
        ),
        (
            Box::new(|p| p["received_at"] = json!("2026-11-20 08:00")),
            "invalid_time",
            "received_at",
        ),
        (
            Box::new(|p| p["received_at"] = json!("2026-11-20T08:00:00")),
            "invalid_time",
            "received_at",
        ),
        (
            Box::new(|p| p["received_at"] = json!((Utc::now() + Duration::hours(2)).to_rfc3339())),
            "future_time",
            "received_at",
        ),
        (
            Box::new(|p| p["received_at"] = json!("1999-01-01T00:00:00+08:00")),
            "time_too_old",
            "received_at",
        ),
        (
            Box::new(|p| p["expiry_date"] = json!("2026-02-30")),
            "invalid_date",
            "expiry_date",
        ),
        (
            Box::new(|p| {
                p["production_date"] = json!("2026-05-01");
                p["expiry_date"] = json!("2026-04-01");
            }),
            "expiry_before_production",
            "expiry_date",
        ),
        (
            Box::new(|p| p["entry_id"] = json!("not-a-uuid")),
            "invalid_uuid",
            "entry_id",
        ),
        (
            Box::new(|p| p["merchant_id"] = json!("m1; DROP TABLE entries")),
            "invalid_id",
            "merchant_id",
        ),
        (
            Box::new(|p| p["supplier"]["uscc"] = json!("9131011066600721")),
            "invalid_uscc",
            "supplier.uscc",
        ),
        (
            Box::new(|p| p["supplier"]["region_code"] = json!("000000")),
            "invalid_region_code",
            "supplier.region_code",
        ),
        (
            Box::new(|p| p["certificates"] = json!([{"kind": "blessing", "number": "1"}])),
            "invalid_enum",
            "certificates[0].kind",
        ),
        (
            Box::new(|p| p["trace_code"] = json!("0123456789ABCDEF")),
            "code_check_mismatch",
            "trace_code",
        ),
        (
            Box::new(|p| p["unit_price_fen"] = json!(-5)),
            "invalid_price",
            "unit_price_fen",
        ),
        (
            Box::new(|p| {
                p.as_object_mut().unwrap().remove("supplier");
            }),
            "missing_field",
            "supplier",
        ),
        (
            Box::new(|p| p["supplier"]["merchant_id"] = json!("m1")),
            "self_trade",
            "supplier.merchant_id",
        ),
    ];
    for (mutate, code, field) in cases {
        let mut p = purchase("m1", "livestock_meat", ("10", "kg"), quarantine());
        mutate(&mut p);
        let e = s.record("ledger.purchase", &p).expect_err(code);
        assert_eq!(
            field_err(e),
            (code.to_owned(), field.to_owned()),
            "case {code}"
        );
    }
    assert_eq!(
        field_err(s.record("ledger.purchase", &json!([1, 2])).unwrap_err()).0,
        "wrong_type"
    );
    assert_eq!(
        field_err(s.record("ledger.teleport", &json!({})).unwrap_err()).0,
        "unknown_kind"
    );
    nothing_stored(&s, &before);
}

#[test]
fn voids_follow_their_rules() {
    let (_d, mut s) = store();
    let p = purchase("m1", "frozen", ("50", "kg"), json!([]));
    let pid = p["entry_id"].as_str().unwrap().to_owned();
    let code = s.record("ledger.purchase", &p).unwrap().trace_code.unwrap();
    let sl = sale("m1", &code, ("10", "kg"), json!({"retail": true}));
    let sid = sl["entry_id"].as_str().unwrap().to_owned();
    s.record("ledger.sale", &sl).unwrap();
    let void = |merchant: &str, target: &str| json!({"entry_id": Uuid::now_v7().to_string(), "merchant_id": merchant, "voided_entry_id": target, "reason": "录入错误", "at": ago(1)});

    // a purchase with live sales cannot be voided
    assert_eq!(
        field_err(s.record("ledger.void", &void("m1", &pid)).unwrap_err()).0,
        "batch_has_movements"
    );
    // another merchant's entry cannot be voided
    assert_eq!(
        field_err(s.record("ledger.void", &void("m2", &sid)).unwrap_err()),
        ("not_your_entry".into(), "voided_entry_id".into())
    );
    // voiding the sale gives the stock back
    let v1 = void("m1", &sid);
    s.record("ledger.void", &v1).unwrap();
    let again = s
        .record(
            "ledger.sale",
            &sale("m1", &code, ("50", "kg"), json!({"retail": true})),
        )
        .unwrap();
    assert!(
        again.warnings.is_empty(),
        "voided sale no longer counts: {:?}",
        again.warnings
    );
    // a void cannot be voided, nor can an entry be voided twice
    assert_eq!(
        field_err(
            s.record("ledger.void", &void("m1", v1["entry_id"].as_str().unwrap()))
                .unwrap_err()
        )
        .0,
        "cannot_void_a_void"
    );
    assert_eq!(
        field_err(s.record("ledger.void", &void("m1", &sid)).unwrap_err()).0,
        "already_voided"
    );
    assert_eq!(
        field_err(
            s.record("ledger.void", &void("m1", &Uuid::now_v7().to_string()))
                .unwrap_err()
        )
        .0,
        "unknown_entry"
    );
    let mut no_reason = void("m1", &sid);
    no_reason["reason"] = json!("");
    assert_eq!(
        field_err(s.record("ledger.void", &no_reason).unwrap_err()),
        ("empty_text".into(), "reason".into())
    );
    // the same entry id twice is a conflict, not a second record
    assert_eq!(
        field_err(s.record("ledger.void", &v1).unwrap_err()).0,
        "entry_exists"
    );
}

#[test]
fn adjust_and_dispose() {
    let (_d, mut s) = store();
    let code = s
        .record(
            "ledger.purchase",
            &purchase(
                "m1",
                "aquatic",
                ("10", "kg"),
                json!([{"kind":"origin","number":"O-1"}]),
            ),
        )
        .unwrap()
        .trace_code
        .unwrap();
    let adj = |v: &str| json!({"entry_id": Uuid::now_v7().to_string(), "merchant_id": "m1", "trace_code": code, "delta": {"value": v, "unit": "kg"}, "reason": "盘点", "at": ago(2)});
    assert!(s
        .record("ledger.adjust", &adj("-0.5"))
        .unwrap()
        .warnings
        .is_empty());
    assert_eq!(
        s.record("ledger.adjust", &adj("-20")).unwrap().warnings[0].code,
        "negative_stock"
    );
    let disp = json!({"entry_id": Uuid::now_v7().to_string(), "merchant_id": "m1", "trace_code": code, "quantity": {"value": "1", "unit": "kg"}, "method": "destroyed", "reason": "变质", "at": ago(1)});
    assert_eq!(
        s.record("ledger.dispose", &disp).unwrap().warnings[0].code,
        "dispose_exceeds_stock"
    );
    let mut bad = disp.clone();
    bad["entry_id"] = json!(Uuid::now_v7().to_string());
    bad["method"] = json!("eaten");
    assert_eq!(
        field_err(s.record("ledger.dispose", &bad).unwrap_err()).0,
        "invalid_enum"
    );
    let mut other = disp;
    other["entry_id"] = json!(Uuid::now_v7().to_string());
    other["merchant_id"] = json!("m2");
    assert_eq!(
        field_err(s.record("ledger.dispose", &other).unwrap_err()).0,
        "not_your_batch"
    );
}

#[test]
fn a_device_records_against_facts_it_has_not_seen_yet() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = LocalStore::open(dir.path().join("d.db")).unwrap();
    // a second device of the merchant sells from a batch made on the first
    let unknown = shian_core::codes::new_code(&mut rand::rng());
    assert!(s
        .record(
            "ledger.sale",
            &sale("m1", &unknown, ("1", "kg"), json!({"retail": true}))
        )
        .is_ok());
    let mut p = purchase("m2", "livestock_meat", ("1", "kg"), quarantine());
    p["voucher_code"] = json!(shian_core::codes::new_code(&mut rand::rng()));
    assert!(s.record("ledger.purchase", &p).unwrap().warnings.is_empty());
}

#[test]
fn store_survives_reopen_and_keeps_outbox() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("d.db");
    {
        let mut s = LocalStore::open(&path).unwrap();
        s.record(
            "ledger.purchase",
            &purchase(
                "m1",
                "egg",
                ("3", "box"),
                json!([{"kind":"origin","number":"1"}]),
            ),
        )
        .unwrap();
    }
    let s = LocalStore::open(&path).unwrap();
    assert_eq!(s.counts().unwrap().outbox_pending, 1);
}
