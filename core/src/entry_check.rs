//! Entry checks (入场查验): what a market operator records when a seller's
//! goods enter the market — the seller, the product, the quantity, the
//! certificates seen, a rapid test if one was done, and whether the goods
//! were accepted or refused (with the reason).
//!
//! 总局令第81号《食用农产品市场销售质量安全监督管理办法》 puts the entry
//! check on the market operator (集中交易市场开办者: 入场销售者档案、查验并留存
//! 产地证明或购货凭证、合格证明文件; `../shared/research/regulation.md` §4). What
//! each category must show is the ledger's own rule,
//! [`LedgerRules::required_certificates`] (the same groups a purchase is
//! judged by, cited there), never a second copy: an accepted check must
//! show every group the category needs, and goods that failed a rapid
//! test cannot be accepted.
//!
//! The event is made on the operator's tablet, offline if need be, and goes
//! through core's outbox like a ledger event (op kind [`KIND`]); the
//! server re-judges it with the same [`judge`].
//!
//! Wire form (`market.entry_check`):
//! `{check_id, market_id, merchant_id, product:{name, category},
//! quantity:{value, unit}, certificates_seen:[{kind, number}],
//! rapid_test?:{item, result: pass|fail, value?}, decision: accepted|refused,
//! reason? (required when refused), at}`.

use chrono::{DateTime, Duration, FixedOffset, NaiveDate, Offset, Utc};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::category::{Category, Certificate, CertificateKind};
use crate::codes;
use crate::error::FieldError;
use crate::event::WIRE_V1;
use crate::fields::{check_len, check_text, Obj};
use crate::json::Node;
use crate::quantity::{Quantity, Sign};
use crate::rules::LedgerRules;
use crate::store::LocalStore;

/// The op kind a tablet pushes, and the change kind its market's tablets
/// pull (the stored check, as the server answers it).
pub const KIND: &str = "market.entry_check";

/// At most this many characters in a rapid test's item and value.
pub const MAX_TEST_CHARS: usize = 64;

/// Accepted into the market or refused at the gate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Accepted,
    Refused,
}

impl Decision {
    pub const ALL: [Decision; 2] = [Decision::Accepted, Decision::Refused];

    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Accepted => "accepted",
            Decision::Refused => "refused",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.as_str() == s)
    }

    pub fn zh(self) -> &'static str {
        match self {
            Decision::Accepted => "准入",
            Decision::Refused => "拒收",
        }
    }
}

/// A rapid test's verdict (快速检测).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestResult {
    Pass,
    Fail,
}

impl TestResult {
    pub fn as_str(self) -> &'static str {
        match self {
            TestResult::Pass => "pass",
            TestResult::Fail => "fail",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RapidTest {
    /// What was tested for (e.g. 有机磷农药残留).
    pub item: String,
    pub result: TestResult,
    /// The reading as shown on the strip or meter (e.g. 抑制率 32%).
    pub value: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedProduct {
    pub name: String,
    pub category: Category,
}

/// One entry check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryCheck {
    pub check_id: Uuid,
    pub market_id: String,
    /// The seller whose goods enter (a merchant of the market).
    pub merchant_id: String,
    pub product: CheckedProduct,
    pub quantity: Quantity,
    pub certificates_seen: Vec<Certificate>,
    pub rapid_test: Option<RapidTest>,
    pub decision: Decision,
    /// Why the goods were refused (required then), or a note.
    pub reason: Option<String>,
    /// When the check was made, by the tablet's clock.
    pub at: DateTime<FixedOffset>,
}

impl EntryCheck {
    /// Parses a wire payload within the wire's limits ([`WIRE_V1`]); every
    /// refusal names its field (`quantity.value`, `certificates_seen[1].kind`).
    pub fn parse(payload: &Value) -> Result<Self, FieldError> {
        Self::parse_node(&Node::of(payload))
    }

    pub fn parse_node(payload: &Node<'_>) -> Result<Self, FieldError> {
        let limits = &WIRE_V1;
        let o = Obj::root(payload)?;
        let check_id = Uuid::parse_str(o.str("check_id")?).map_err(|_| {
            FieldError::new("check_id", "invalid_uuid", "应为 UUID (made on the tablet)")
        })?;
        let market_id = codes::validate_id(o.str("market_id")?, "market_id")?;
        let merchant_id = codes::validate_id(o.str("merchant_id")?, "merchant_id")?;
        let p = o.obj("product")?;
        let category = p.str("category")?;
        let product = CheckedProduct {
            name: p.text("name", limits.max_name_chars)?,
            category: Category::parse(category).ok_or_else(|| {
                FieldError::new(
                    p.path("category"),
                    "invalid_enum",
                    format!("未知食品类别 '{category}'"),
                )
            })?,
        };
        let q = o.obj("quantity")?;
        let quantity =
            Quantity::parse(q.str("value")?, q.str("unit")?, Sign::Positive, "quantity")?;
        let certs = o.opt_array("certificates_seen")?;
        if certs.len() > limits.max_certificates {
            return Err(FieldError::new(
                "certificates_seen",
                "too_many",
                format!("证明最多 {} 份", limits.max_certificates),
            ));
        }
        let mut certificates_seen = Vec::with_capacity(certs.len());
        for (i, c) in certs.iter().enumerate() {
            let c = Obj::at(c, format!("certificates_seen[{i}]"))?;
            let kind = c.str("kind")?;
            certificates_seen.push(Certificate {
                kind: CertificateKind::parse(kind).ok_or_else(|| {
                    FieldError::new(
                        c.path("kind"),
                        "invalid_enum",
                        format!("未知证明类型 '{kind}'"),
                    )
                })?,
                number: check_text(
                    c.str("number")?,
                    &c.path("number"),
                    limits.max_certificate_number_chars,
                )?,
            });
        }
        let rapid_test = o
            .opt_obj("rapid_test")?
            .map(|t| -> Result<RapidTest, FieldError> {
                Ok(RapidTest {
                    item: t.text("item", MAX_TEST_CHARS)?,
                    result: match t.str("result")? {
                        "pass" => TestResult::Pass,
                        "fail" => TestResult::Fail,
                        _ => {
                            return Err(FieldError::new(
                                t.path("result"),
                                "invalid_enum",
                                "快检结果应为 pass（合格）或 fail（不合格）",
                            ))
                        }
                    },
                    value: t.opt_text("value", MAX_TEST_CHARS)?,
                })
            })
            .transpose()?;
        let decision = Decision::parse(o.str("decision")?).ok_or_else(|| {
            FieldError::new(
                "decision",
                "invalid_enum",
                "查验结论应为 accepted（准入）或 refused（拒收）",
            )
        })?;
        let reason = o.opt_text("reason", limits.max_reason_chars)?;
        if decision == Decision::Refused && reason.is_none() {
            return Err(FieldError::new(
                "reason",
                "missing_field",
                "拒收须写明原因 (a refusal needs its reason)",
            ));
        }
        Ok(EntryCheck {
            check_id,
            market_id,
            merchant_id,
            product,
            quantity,
            certificates_seen,
            rapid_test,
            decision,
            reason,
            at: o.time("at")?,
        })
    }

    /// The canonical wire payload (what the outbox holds and the server
    /// stores).
    pub fn to_wire(&self) -> Value {
        let mut v = json!({
            "check_id": self.check_id.to_string(),
            "market_id": self.market_id,
            "merchant_id": self.merchant_id,
            "product": {"name": self.product.name, "category": self.product.category.as_str()},
            "quantity": self.quantity.to_wire(),
            "certificates_seen": self.certificates_seen.iter()
                .map(|c| json!({"kind": c.kind.as_str(), "number": c.number}))
                .collect::<Vec<_>>(),
            "decision": self.decision.as_str(),
            "at": self.at.to_rfc3339(),
        });
        if let Some(t) = &self.rapid_test {
            let mut rt = json!({"item": t.item, "result": t.result.as_str()});
            if let Some(val) = &t.value {
                rt["value"] = json!(val);
            }
            v["rapid_test"] = rt;
        }
        if let Some(r) = &self.reason {
            v["reason"] = json!(r);
        }
        v
    }

    /// The certificate groups the category needs that the check did not
    /// see (the ledger's rule).
    pub fn missing_certificates(&self, rules: &LedgerRules) -> Vec<Vec<CertificateKind>> {
        let seen: Vec<CertificateKind> = self.certificates_seen.iter().map(|c| c.kind).collect();
        rules.missing_certificate_groups(self.product.category, &seen)
    }
}

/// The missing groups for people: `动物检疫合格证明`, `产地证明或承诺达标合格证`.
pub fn missing_zh(groups: &[Vec<CertificateKind>]) -> String {
    groups
        .iter()
        .map(|g| g.iter().map(|k| k.zh()).collect::<Vec<_>>().join("或"))
        .collect::<Vec<_>>()
        .join("、")
}

/// Judges a parsed check against the ledger rules and a clock: a time in
/// the future or implausibly old, a name or reason past the rules' limits,
/// goods accepted without a certificate their category needs, or accepted
/// after a failed rapid test, are refused (nothing is stored). A refusal
/// at the gate is always recordable: it is the evidence.
pub fn judge(c: &EntryCheck, rules: &LedgerRules, now: DateTime<Utc>) -> Result<(), FieldError> {
    let t = c.at.with_timezone(&Utc);
    if t > now + Duration::seconds(rules.future_tolerance_seconds) {
        return Err(FieldError::new(
            "at",
            "future_time",
            "时间晚于当前时间 (time is in the future)",
        ));
    }
    if t < now - Duration::days(rules.max_backdate_days) {
        return Err(FieldError::new(
            "at",
            "time_too_old",
            "时间过早，请检查 (implausibly old)",
        ));
    }
    check_len(&c.product.name, "product.name", rules.max_name_chars)?;
    if let Some(r) = &c.reason {
        check_len(r, "reason", rules.max_reason_chars)?;
    }
    if c.certificates_seen.len() > rules.max_certificates {
        return Err(FieldError::new(
            "certificates_seen",
            "too_many",
            format!("证明最多 {} 份", rules.max_certificates),
        ));
    }
    if c.decision == Decision::Accepted {
        let missing = c.missing_certificates(rules);
        if !missing.is_empty() {
            return Err(FieldError::new(
                "certificates_seen",
                "missing_certificate",
                format!(
                    "{}须查验{}，缺证不能准入（应拒收并写明原因）",
                    c.product.category.zh(),
                    missing_zh(&missing)
                ),
            ));
        }
        if c.rapid_test.as_ref().map(|t| t.result) == Some(TestResult::Fail) {
            return Err(FieldError::new(
                "decision",
                "rapid_test_failed",
                "快检不合格的货品不能准入（应拒收并写明原因）",
            ));
        }
    }
    Ok(())
}

/// Whether a check and a purchase are the same goods entering: the same
/// seller (the caller matches merchants), the same category, and times
/// within `window` of each other (the seller books the purchase when the
/// goods arrive; the gate checks them then).
pub fn same_goods(
    check: (Category, DateTime<Utc>),
    purchase: (Category, DateTime<Utc>),
    window: Duration,
) -> bool {
    check.0 == purchase.0 && (check.1 - purchase.1).abs() <= window
}

/// Of the candidates `(id, category, at)`, the one [`same_goods`] as
/// `(category, at)` and nearest in time (ties: the smaller id, so every
/// order of arrival picks the same).
pub fn nearest(
    of: (Category, DateTime<Utc>),
    candidates: &[(String, Category, DateTime<Utc>)],
    window: Duration,
) -> Option<&str> {
    candidates
        .iter()
        .filter(|(_, cat, at)| same_goods(of, (*cat, *at), window))
        .min_by(|a, b| {
            (a.2 - of.1)
                .abs()
                .cmp(&(b.2 - of.1).abs())
                .then(a.0.cmp(&b.0))
        })
        .map(|(id, _, _)| id.as_str())
}

/// Why a check was not queued on the tablet.
#[derive(Debug, thiserror::Error)]
pub enum LocalEntryError {
    /// A bad field or a rule: the same refusal the server would give.
    #[error("{0}")]
    Invalid(FieldError),
    #[error(transparent)]
    Storage(#[from] rusqlite::Error),
}

impl LocalStore {
    /// Parses and judges a check made on the tablet (the ledger rules this
    /// store holds, the same the server applies) and queues it in the
    /// outbox as a `market.entry_check` op `op_id`. Refused, nothing is
    /// queued. Returns the check as queued.
    pub fn queue_entry_check(
        &mut self,
        payload: &Value,
        op_id: &str,
        now: DateTime<Utc>,
    ) -> Result<EntryCheck, LocalEntryError> {
        let check = EntryCheck::parse(payload).map_err(LocalEntryError::Invalid)?;
        judge(&check, self.rules(), now).map_err(LocalEntryError::Invalid)?;
        self.enqueue(op_id, KIND, &check.at.to_rfc3339(), &check.to_wire())?;
        Ok(check)
    }

    /// The checks made on `date` (Asia/Shanghai) this tablet knows: those
    /// its market's server sent (pulled, with their links) and those still
    /// waiting in the outbox (`"synced": false`), newest first.
    pub fn entry_checks_on(&self, date: NaiveDate) -> rusqlite::Result<Vec<Value>> {
        let mut out: Vec<Value> = Vec::new();
        let mut pulled = self
            .conn()
            .prepare_cached("SELECT payload FROM inbox WHERE kind = ?1 ORDER BY seq")?;
        let rows = pulled.query_map([KIND], |r| r.get::<_, String>(0))?;
        for row in rows {
            let mut v: Value = serde_json::from_str(&row?).unwrap_or_default();
            v["synced"] = json!(true);
            out.push(v);
        }
        let mut queued = self
            .conn()
            .prepare_cached("SELECT payload, state FROM outbox WHERE kind = ?1 ORDER BY seq")?;
        let rows = queued.query_map([KIND], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })?;
        for row in rows {
            let (payload, state) = row?;
            let mut v: Value = serde_json::from_str(&payload).unwrap_or_default();
            if out.iter().any(|o| o["check_id"] == v["check_id"]) {
                continue;
            }
            v["synced"] = json!(false);
            v["outbox_state"] = json!(state);
            out.push(v);
        }
        let cst = FixedOffset::east_opt(8 * 3600).unwrap_or_else(|| Utc.fix());
        let day = |v: &Value| {
            v["at"]
                .as_str()
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                .map(|t| t.with_timezone(&cst).date_naive())
        };
        out.retain(|v| day(v) == Some(date));
        out.sort_by_key(|v| std::cmp::Reverse(v["at"].as_str().unwrap_or_default().to_owned()));
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        "2026-12-01T04:00:00Z".parse().unwrap()
    }

    fn payload() -> Value {
        json!({
            "check_id": "0193a000-0000-7000-8000-000000000001",
            "market_id": "mkt-1",
            "merchant_id": "m-1",
            "product": {"name": "冷鲜猪肉", "category": "livestock_meat"},
            "quantity": {"value": "120.5", "unit": "kg"},
            "certificates_seen": [{"kind": "quarantine", "number": "3501-2026-001"}],
            "decision": "accepted",
            "at": "2026-12-01T11:30:00+08:00",
        })
    }

    fn rules() -> LedgerRules {
        LedgerRules::builtin()
    }

    #[test]
    fn a_complete_check_parses_judges_and_round_trips() {
        let c = EntryCheck::parse(&payload()).unwrap();
        assert_eq!(c.quantity.value_string(), "120.5");
        judge(&c, &rules(), now()).unwrap();
        assert_eq!(EntryCheck::parse(&c.to_wire()).unwrap(), c);
    }

    #[test]
    fn meat_accepted_without_quarantine_is_refused_but_a_refusal_records() {
        let mut p = payload();
        p["certificates_seen"] = json!([]);
        let c = EntryCheck::parse(&p).unwrap();
        let e = judge(&c, &rules(), now()).unwrap_err();
        assert_eq!(
            (e.code.as_str(), e.field.as_str()),
            ("missing_certificate", "certificates_seen")
        );
        assert!(e.message.contains("动物检疫合格证明"), "{}", e.message);
        p["decision"] = json!("refused");
        p["reason"] = json!("无动物检疫合格证明");
        judge(&EntryCheck::parse(&p).unwrap(), &rules(), now()).unwrap();
    }

    #[test]
    fn a_failed_rapid_test_cannot_be_accepted() {
        let mut p = payload();
        p["product"] = json!({"name": "小白菜", "category": "vegetable"});
        p["certificates_seen"] = json!([{"kind": "commitment", "number": "HG-1"}]);
        p["rapid_test"] =
            json!({"item": "有机磷农药残留", "result": "fail", "value": "抑制率 62%"});
        let e = judge(&EntryCheck::parse(&p).unwrap(), &rules(), now()).unwrap_err();
        assert_eq!(e.code, "rapid_test_failed");
        p["rapid_test"]["result"] = json!("pass");
        judge(&EntryCheck::parse(&p).unwrap(), &rules(), now()).unwrap();
    }

    #[test]
    fn bad_inputs_name_their_field() {
        for (path, value, field, code) in [
            (
                "quantity",
                json!({"value": "-3", "unit": "kg"}),
                "quantity.value",
                "",
            ),
            (
                "quantity",
                json!({"value": "3", "unit": "桶"}),
                "quantity.unit",
                "",
            ),
            ("decision", json!("maybe"), "decision", "invalid_enum"),
            ("check_id", json!("not-a-uuid"), "check_id", "invalid_uuid"),
            ("at", json!("2026-12-01 11:30"), "at", "invalid_time"),
            (
                "rapid_test",
                json!({"item": "瘦肉精", "result": "?"}),
                "rapid_test.result",
                "invalid_enum",
            ),
            (
                "certificates_seen",
                json!([{"kind": "stamp", "number": "1"}]),
                "certificates_seen[0].kind",
                "invalid_enum",
            ),
        ] {
            let mut p = payload();
            p[path] = value;
            let e = EntryCheck::parse(&p).unwrap_err();
            assert_eq!(e.field, field, "{path}: {e:?}");
            if !code.is_empty() {
                assert_eq!(e.code, code, "{path}");
            }
        }
        let mut p = payload();
        p["decision"] = json!("refused");
        let e = EntryCheck::parse(&p).unwrap_err();
        assert_eq!(
            (e.field.as_str(), e.code.as_str()),
            ("reason", "missing_field")
        );
    }

    #[test]
    fn a_check_from_the_future_is_refused() {
        let mut p = payload();
        p["at"] = json!("2026-12-01T14:00:00+08:00");
        let e = judge(&EntryCheck::parse(&p).unwrap(), &rules(), now()).unwrap_err();
        assert_eq!(e.code, "future_time");
    }

    #[test]
    fn the_nearest_purchase_of_the_same_category_within_the_window_links() {
        let at = |s: &str| -> DateTime<Utc> { s.parse().unwrap() };
        let w = Duration::hours(12);
        let cands = vec![
            (
                "e-far".to_owned(),
                Category::LivestockMeat,
                at("2026-11-30T06:00:00Z"),
            ),
            (
                "e-fish".to_owned(),
                Category::Aquatic,
                at("2026-12-01T03:00:00Z"),
            ),
            (
                "e-near".to_owned(),
                Category::LivestockMeat,
                at("2026-12-01T02:00:00Z"),
            ),
        ];
        let of = (Category::LivestockMeat, at("2026-12-01T03:30:00Z"));
        assert_eq!(nearest(of, &cands, w), Some("e-near"));
        // 12 h 01 min away is a near miss.
        let of = (Category::LivestockMeat, at("2026-12-01T14:01:00Z"));
        assert_eq!(nearest(of, &cands, w), None);
    }

    #[test]
    fn a_tablet_queues_a_check_offline_and_lists_it_by_its_local_day() {
        let mut store = LocalStore::open_in_memory().unwrap();
        let now = now();
        let c = store.queue_entry_check(&payload(), "op-1", now).unwrap();
        let mut bad = payload();
        bad["quantity"]["value"] = json!("abc");
        let e = match store.queue_entry_check(&bad, "op-2", now) {
            Err(LocalEntryError::Invalid(e)) => e,
            other => panic!("{other:?}"),
        };
        assert_eq!(e.field, "quantity.value");
        let day = c.at.date_naive();
        let listed = store.entry_checks_on(day).unwrap();
        assert_eq!(listed.len(), 1, "the refused one was not queued");
        assert_eq!(listed[0]["synced"], false);
        assert!(store
            .entry_checks_on(day.pred_opt().unwrap())
            .unwrap()
            .is_empty());
    }
}
