//! The ledger rules, all in one place, each with the provision it comes from.
//!
//! A purchase without the certificate its category needs, a sale beyond what
//! the batch holds (goods of unknown origin, 来源不明 — how smuggled frozen
//! beef shows up in seed 000) and a sale after the expiry date are recorded
//! and raise a warning: the goods are already in the cold store and the
//! record is evidence. Events that would make the ledger meaningless
//! (voiding another merchant's entry, selling kilograms from a batch kept in
//! boxes) are refused.

use std::collections::BTreeMap;
use std::convert::Infallible;

use chrono::{DateTime, Duration, FixedOffset, NaiveDate, Utc};
use serde::Deserialize;
use serde_json::json;

use crate::category::{Category, CertificateKind};
use crate::error::{ErrorClass, FieldError, LedgerError, RuleError};
use crate::event::{Buyer, DisposeMethod, LedgerEvent, Purchase, Sale, Supplier, PURCHASE, VOID};
use crate::fields::check_len;
use crate::hold::HoldInfo;
use crate::ledger::{BatchInfo, LedgerView, Warning};
use crate::quantity::Quantity;

/// Versioned, per-province ledger configuration (core/data/ledger/*.json).
#[derive(Debug, Clone, Deserialize)]
pub struct LedgerRules {
    pub version: String,
    pub source: String,
    /// Per category, groups of certificate kinds: every group must be met by
    /// at least one of its kinds. Meat and poultry need 动物检疫合格证明
    /// (《动物防疫法》第五十一条, 《食品安全法》第五十三条); imported cold-chain
    /// food its entry inspection certificate (《食品安全法》第九十二条); fresh farm
    /// produce an origin certificate, a 承诺达标合格证 or a test report (总局令第81号
    /// 第十二条).
    pub required_certificates: BTreeMap<Category, Vec<Vec<CertificateKind>>>,
    /// A market may make a missing certificate a refusal instead of a warning.
    pub reject_missing_certificates: bool,
    /// How far a device clock may run ahead before a time counts as future.
    pub future_tolerance_seconds: i64,
    /// Older entries are typos (or forged back-dating).
    pub max_backdate_days: i64,
    /// Policy limits on new events, checked when they are judged (not when
    /// they are parsed: stored events read back under the wire's fixed
    /// limits, `event::WIRE_V1`, which these must lie within).
    pub max_name_chars: usize,
    pub max_reason_chars: usize,
    pub max_certificates: usize,
    pub max_unit_price_fen: i64,
}

const DEFAULT_RULES: &str = include_str!("../data/ledger/rules-v1.json");

/// Why a ledger rules file cannot be used. A province's rules decide which
/// purchases count as 索证索票 failures, so a file that cannot be read or
/// parsed must stop start-up: running on other rules than the operator gave
/// would record the wrong warnings in a ledger that is evidence.
#[derive(Debug, thiserror::Error)]
pub enum RulesFileError {
    #[error("规则文件 (rules file) {path}: 无法读取 (cannot read): {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    /// JSON syntax, a wrong field type, an unknown category or certificate
    /// kind: serde_json knows where.
    #[error("规则文件 (rules file) {path}:{line}:{column}: {message}")]
    Parse {
        path: String,
        line: usize,
        column: usize,
        message: String,
    },
    /// Well-formed but unusable.
    #[error("规则文件 (rules file) {path}: {field}: {message}")]
    Invalid {
        path: String,
        field: String,
        message: String,
    },
}

impl LedgerRules {
    /// The rules shipped with this build.
    pub fn builtin() -> Self {
        // Cannot fail: the file is embedded at compile time and the test
        // `builtin_rules_parse` parses and validates it, so a broken file
        // fails CI, never a running program. (There is no fallback: a
        // silently weaker rule set is worse than no start.)
        Self::from_json(DEFAULT_RULES).expect("core/data/ledger/rules-v1.json parses")
    }

    pub fn from_json(text: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// Reads a province's rules file (`shian-server serve --rules`). Every
    /// failure names the file, and a parse error its line and column.
    pub fn load(path: &std::path::Path) -> Result<Self, RulesFileError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| RulesFileError::Read {
            path: shown.clone(),
            source,
        })?;
        let rules = Self::from_json(&text).map_err(|e| {
            // serde_json's message ends in " at line L column C"; the
            // position is given once, in front.
            let suffix = format!(" at line {} column {}", e.line(), e.column());
            let message = e.to_string();
            RulesFileError::Parse {
                path: shown.clone(),
                line: e.line(),
                column: e.column(),
                message: message.strip_suffix(&suffix).unwrap_or(&message).to_owned(),
            }
        })?;
        rules
            .validate()
            .map_err(|(field, message)| RulesFileError::Invalid {
                path: shown,
                field,
                message: message.to_owned(),
            })?;
        Ok(rules)
    }

    /// What parses but cannot be meant: a nameless version (warnings cite
    /// it) or an empty certificate group, which no purchase could ever meet.
    fn validate(&self) -> Result<(), (String, &'static str)> {
        if self.version.trim().is_empty() {
            return Err(("version".into(), "不能为空 (must not be empty)"));
        }
        for (category, groups) in &self.required_certificates {
            if let Some(i) = groups.iter().position(Vec::is_empty) {
                return Err((
                    format!("required_certificates.{}[{i}]", category.as_str()),
                    "证件组不能为空 (an empty group can never be met)",
                ));
            }
        }
        Ok(())
    }

    /// Certificate groups the purchase does not meet.
    pub fn missing_certificates(&self, p: &Purchase) -> Vec<Vec<CertificateKind>> {
        let seen: Vec<CertificateKind> = p.certificates.iter().map(|c| c.kind).collect();
        self.missing_certificate_groups(p.product.category, &seen)
    }

    /// Certificate groups of `category` that none of `seen` meets: the one
    /// rule for a purchase and for a market's entry check
    /// ([`crate::entry_check`]).
    pub fn missing_certificate_groups(
        &self,
        category: Category,
        seen: &[CertificateKind],
    ) -> Vec<Vec<CertificateKind>> {
        self.required_certificates
            .get(&category)
            .map(|groups| {
                groups
                    .iter()
                    .filter(|g| !g.iter().any(|k| seen.contains(k)))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl From<Infallible> for LedgerError {
    fn from(e: Infallible) -> Self {
        match e {}
    }
}

/// The calendar day of a time on screens and in rules about dates
/// (expiry dates are printed as local dates in China).
fn shanghai_date(t: DateTime<FixedOffset>) -> NaiveDate {
    // +08:00 always exists.
    let cst = FixedOffset::east_opt(8 * 3600).unwrap_or(*t.offset());
    t.with_timezone(&cst).date_naive()
}

fn check_time(
    t: DateTime<FixedOffset>,
    field: &str,
    now: DateTime<Utc>,
    rules: &LedgerRules,
) -> Result<(), FieldError> {
    if t.with_timezone(&Utc) > now + Duration::seconds(rules.future_tolerance_seconds) {
        return Err(FieldError::new(
            field,
            "future_time",
            "时间晚于当前时间 (time is in the future)",
        ));
    }
    if t.with_timezone(&Utc) < now - Duration::days(rules.max_backdate_days) {
        return Err(FieldError::new(
            field,
            "time_too_old",
            "时间过早，请检查 (implausibly old)",
        ));
    }
    Ok(())
}

/// The rules' limits on names, reasons, certificates and prices: the same
/// refusals as parsing gives past the wire's limits, at the same fields.
fn check_limits(event: &LedgerEvent, rules: &LedgerRules) -> Result<(), FieldError> {
    let reason = |reason: &str| check_len(reason, "reason", rules.max_reason_chars);
    match event {
        LedgerEvent::Purchase(p) => {
            check_len(&p.product.name, "product.name", rules.max_name_chars)?;
            if let Supplier::External { name, .. } = &p.supplier {
                check_len(name, "supplier.name", rules.max_name_chars)?;
            }
            if p.certificates.len() > rules.max_certificates {
                return Err(FieldError::new(
                    "certificates",
                    "too_many",
                    format!("证明最多 {} 份", rules.max_certificates),
                ));
            }
            if p.unit_price_fen
                .is_some_and(|f| f > rules.max_unit_price_fen)
            {
                return Err(FieldError::new(
                    "unit_price_fen",
                    "invalid_price",
                    "单价（分）应在 0 到上限之间 (price in fen out of range)",
                ));
            }
            Ok(())
        }
        LedgerEvent::Sale(s) => match &s.buyer {
            Buyer::Named { name } => check_len(name, "buyer.name", rules.max_name_chars),
            _ => Ok(()),
        },
        LedgerEvent::Void(v) => reason(&v.reason),
        LedgerEvent::Adjust(a) => reason(&a.reason),
        LedgerEvent::Dispose(d) => reason(&d.reason),
    }
}

/// Checks an event against the rules and what is recorded. `Ok` carries the
/// warnings the accepted event raises; `Err` refuses it.
pub fn check<V>(
    event: &LedgerEvent,
    view: &V,
    rules: &LedgerRules,
    now: DateTime<Utc>,
) -> Result<Vec<Warning>, LedgerError>
where
    V: LedgerView,
    LedgerError: From<V::Error>,
{
    let time_field = match event {
        LedgerEvent::Purchase(_) => "received_at",
        LedgerEvent::Sale(_) => "sold_at",
        _ => "at",
    };
    check_time(event.at(), time_field, now, rules)?;
    check_limits(event, rules)?;
    if view.entry(&event.entry_id())?.is_some() {
        return Err(RuleError::new(
            ErrorClass::Conflict,
            "entry_exists",
            "该记录编号已存在 (entry_id already recorded)",
        )
        .at("entry_id")
        .into());
    }
    match event {
        LedgerEvent::Purchase(p) => check_purchase(p, view, rules),
        LedgerEvent::Sale(s) => check_sale(s, view),
        LedgerEvent::Void(v) => {
            if v.voided_entry_id == v.entry_id {
                return Err(
                    FieldError::new("voided_entry_id", "void_of_self", "不能作废自身").into(),
                );
            }
            let Some(target) = view.entry(&v.voided_entry_id)? else {
                return not_found_unless_device(
                    view,
                    "unknown_entry",
                    "被作废的记录不存在",
                    "voided_entry_id",
                );
            };
            if target.merchant_id != v.merchant_id {
                return Err(RuleError::new(
                    ErrorClass::Forbidden,
                    "not_your_entry",
                    "不能作废其他经营户的记录",
                )
                .at("voided_entry_id")
                .into());
            }
            if target.kind == VOID {
                return Err(RuleError::new(
                    ErrorClass::Unprocessable,
                    "cannot_void_a_void",
                    "不能作废一条作废记录；请重新录入",
                )
                .at("voided_entry_id")
                .into());
            }
            if target.voided {
                return Err(
                    RuleError::new(ErrorClass::Conflict, "already_voided", "该记录已作废")
                        .at("voided_entry_id")
                        .into(),
                );
            }
            if target.kind == PURCHASE {
                if let Some(b) = target
                    .trace_code
                    .as_deref()
                    .map(|c| view.batch(c))
                    .transpose()?
                    .flatten()
                {
                    if b.active_movements > 0 {
                        return Err(RuleError::new(
                            ErrorClass::Conflict,
                            "batch_has_movements",
                            "该批次已有销售或处置记录，请先作废这些记录",
                        )
                        .at("voided_entry_id")
                        .into());
                    }
                }
            }
            Ok(Vec::new())
        }
        LedgerEvent::Adjust(a) => {
            let Some(b) = own_batch(view, &a.trace_code, &a.merchant_id, a.delta, "delta")? else {
                return Ok(Vec::new());
            };
            let mut w = Vec::new();
            if b.held() + a.delta.amount < 0 {
                w.push(Warning::new(
                    "negative_stock",
                    "盘点调整后库存为负，请核查",
                    json!({"trace_code": b.trace_code, "held": b.held(), "delta": a.delta.amount, "unit": b.unit.as_str()}),
                ));
            }
            Ok(w)
        }
        LedgerEvent::Dispose(d) => {
            let Some(b) = own_batch(view, &d.trace_code, &d.merchant_id, d.quantity, "quantity")?
            else {
                return Ok(Vec::new());
            };
            let mut w = Vec::new();
            if d.quantity.amount > b.held() {
                w.push(Warning::new(
                    "dispose_exceeds_stock",
                    "处置数量超过批次结存",
                    json!({"trace_code": b.trace_code, "held": b.held(), "disposed": d.quantity.amount, "unit": b.unit.as_str()}),
                ));
            }
            Ok(w)
        }
    }
}

fn not_found_unless_device<V: LedgerView>(
    view: &V,
    code: &str,
    msg: &str,
    field: &str,
) -> Result<Vec<Warning>, LedgerError> {
    if view.is_authoritative() {
        Err(RuleError::new(ErrorClass::NotFound, code, msg)
            .at(field)
            .into())
    } else {
        Ok(Vec::new())
    }
}

/// The merchant's own, live batch in the same unit as `q`; `None` on a device
/// that has not seen the batch yet (the server decides).
fn own_batch<V>(
    view: &V,
    trace_code: &str,
    merchant_id: &str,
    q: Quantity,
    qfield: &str,
) -> Result<Option<BatchInfo>, LedgerError>
where
    V: LedgerView,
    LedgerError: From<V::Error>,
{
    let Some(b) = view.batch(trace_code)? else {
        return not_found_unless_device(
            view,
            "unknown_batch",
            "追溯码对应的批次不存在",
            "trace_code",
        )
        .map(|_| None);
    };
    if b.merchant_id != merchant_id {
        return Err(RuleError::new(
            ErrorClass::Forbidden,
            "not_your_batch",
            "该批次不属于本经营户",
        )
        .at("trace_code")
        .into());
    }
    if b.voided {
        return Err(RuleError::new(
            ErrorClass::Conflict,
            "batch_voided",
            "该批次的进货记录已作废",
        )
        .at("trace_code")
        .into());
    }
    if b.unit != q.unit {
        return Err(RuleError::new(
            ErrorClass::Unprocessable,
            "unit_mismatch",
            format!(
                "批次以「{}」计量，不能按其他单位出库 (count and mass units never convert)",
                b.unit.zh()
            ),
        )
        .at(&format!("{qfield}.unit"))
        .into());
    }
    Ok(Some(b))
}

fn check_purchase<V>(
    p: &Purchase,
    view: &V,
    rules: &LedgerRules,
) -> Result<Vec<Warning>, LedgerError>
where
    V: LedgerView,
    LedgerError: From<V::Error>,
{
    let mut warnings = Vec::new();
    if let Supplier::Merchant { merchant_id } = &p.supplier {
        if *merchant_id == p.merchant_id {
            return Err(FieldError::new(
                "supplier.merchant_id",
                "self_trade",
                "供货方不能是本经营户",
            )
            .into());
        }
    }
    if let Some(code) = &p.trace_code {
        if view.code_in_use(code)? {
            return Err(
                RuleError::new(ErrorClass::Conflict, "trace_code_taken", "追溯码已被使用")
                    .at("trace_code")
                    .into(),
            );
        }
    }
    if let Some(code) = &p.voucher_code {
        match view.voucher(code)? {
            Some(v) => {
                if v.buyer_merchant_id != p.merchant_id {
                    return Err(RuleError::new(
                        ErrorClass::Forbidden,
                        "voucher_not_for_you",
                        "该上市凭证开给其他经营户",
                    )
                    .at("voucher_code")
                    .into());
                }
                if v.redeemed_by.is_some() {
                    return Err(RuleError::new(
                        ErrorClass::Conflict,
                        "voucher_already_redeemed",
                        "该上市凭证已被收货使用",
                    )
                    .at("voucher_code")
                    .into());
                }
                if v.quantity.unit != p.quantity.unit {
                    return Err(RuleError::new(
                        ErrorClass::Unprocessable,
                        "unit_mismatch",
                        "收货单位与凭证单位不一致",
                    )
                    .at("quantity.unit")
                    .into());
                }
                if v.quantity.amount != p.quantity.amount {
                    warnings.push(Warning::new(
                        "voucher_quantity_mismatch",
                        "收货数量与上市凭证数量不一致",
                        json!({"voucher_code": code, "voucher": v.quantity.amount, "received": p.quantity.amount, "unit": p.quantity.unit.as_str()}),
                    ));
                }
            }
            None if view.is_authoritative() => warnings.push(Warning::new(
                "voucher_not_yet_known",
                "上市凭证尚未同步到平台，待卖方同步后自动关联",
                json!({"voucher_code": code}),
            )),
            None => {}
        }
    }
    let missing = rules.missing_certificates(p);
    if !missing.is_empty() {
        let names: Vec<String> = missing
            .iter()
            .map(|g| g.iter().map(|k| k.zh()).collect::<Vec<_>>().join("或"))
            .collect();
        let message = format!(
            "{}进货缺少{}（索证索票）",
            p.product.category.zh(),
            names.join("、")
        );
        if rules.reject_missing_certificates {
            return Err(
                RuleError::new(ErrorClass::Unprocessable, "missing_certificate", message)
                    .at("certificates")
                    .into(),
            );
        }
        warnings.push(Warning::new(
            "missing_certificate",
            message,
            json!({"category": p.product.category.as_str(), "missing": missing, "rules": rules.version}),
        ));
    }
    if let Some(expiry) = p.expiry_date {
        if expiry < shanghai_date(p.received_at) {
            warnings.push(Warning::new(
                "expired_on_receipt",
                "进货时已超过保质期",
                json!({"expiry_date": expiry.to_string(), "received_at": p.received_at.to_rfc3339()}),
            ));
        }
    }
    Ok(warnings)
}

/// A sale of a batch under a hold (暂扣, [`crate::hold`]), decided the same
/// way on the device and on the server: refused (`batch_held`, naming the
/// hold) when the device that recorded it had the hold and the sale is not
/// older than the hold; otherwise recorded with the warning
/// `held_batch_sold` and its evidence, because the goods left before anyone
/// at the stall could know (总局令第81号: the operator stops the sale and
/// reports; a sale it could not stop is evidence, not an error). Held goods
/// may not be returned to the supplier either (`batch_held`); their
/// destruction (销毁, what ends a hold) needs a witness and at least one
/// photo (`destruction_needs_witness`, `destruction_needs_photos`), since a
/// destruction nobody saw is how held goods get sold after all. Other
/// events pass.
pub fn check_hold(
    event: &LedgerEvent,
    hold: Option<&HoldInfo>,
) -> Result<Option<Warning>, LedgerError> {
    let Some(h) = hold else {
        return Ok(None);
    };
    let s = match event {
        LedgerEvent::Sale(s) => s,
        LedgerEvent::Dispose(d) if d.method == DisposeMethod::Destroyed => {
            if d.witness.is_none() {
                return Err(FieldError::new(
                    "witness",
                    "destruction_needs_witness",
                    format!("销毁被暂扣的批次（暂扣单 {}）须填写见证人", h.hold_id),
                )
                .into());
            }
            if d.photos.is_empty() {
                return Err(FieldError::new(
                    "photos",
                    "destruction_needs_photos",
                    format!("销毁被暂扣的批次（暂扣单 {}）须附销毁照片", h.hold_id),
                )
                .into());
            }
            return Ok(None);
        }
        LedgerEvent::Dispose(_) => return Err(held(h)),
        _ => return Ok(None),
    };
    let before = s.sold_at < h.placed_at;
    if before || !h.device_had_it {
        return Ok(Some(Warning::new(
            "held_batch_sold",
            format!(
                "售出已被市场暂扣的批次（{}，暂扣于 {}）：销售发生在本机收到暂扣之前",
                h.reason.zh(),
                h.placed_at.to_rfc3339()
            ),
            json!({
                "hold_id": h.hold_id,
                "trace_code": s.trace_code,
                "reason": h.reason.as_str(),
                "placed_at": h.placed_at.to_rfc3339(),
                "sold_at": s.sold_at.to_rfc3339(),
                "sold": s.quantity.amount,
                "unit": s.quantity.unit.as_str(),
                "sold_before_hold": before,
                "device_had_hold": h.device_had_it,
            }),
        )));
    }
    Err(held(h))
}

/// The refusal of a movement out of a held batch, naming the hold.
fn held(h: &HoldInfo) -> LedgerError {
    let note = h
        .note
        .as_deref()
        .map(|n| format!("：{n}"))
        .unwrap_or_default();
    RuleError::new(
        ErrorClass::Conflict,
        "batch_held",
        format!(
            "该批次已被市场暂扣（{}{}，暂扣单 {}，{}），暂停销售，待解除暂扣或销毁",
            h.reason.zh(),
            note,
            h.hold_id,
            shanghai_date(h.placed_at)
        ),
    )
    .at("trace_code")
    .into()
}

fn check_sale<V>(s: &Sale, view: &V) -> Result<Vec<Warning>, LedgerError>
where
    V: LedgerView,
    LedgerError: From<V::Error>,
{
    if let Buyer::Merchant { merchant_id } = &s.buyer {
        if *merchant_id == s.merchant_id {
            return Err(
                FieldError::new("buyer.merchant_id", "self_trade", "买方不能是本经营户").into(),
            );
        }
    }
    if let Some(code) = &s.voucher_code {
        if view.code_in_use(code)? {
            return Err(RuleError::new(
                ErrorClass::Conflict,
                "voucher_code_taken",
                "凭证码已被使用",
            )
            .at("voucher_code")
            .into());
        }
    }
    let Some(b) = own_batch(view, &s.trace_code, &s.merchant_id, s.quantity, "quantity")? else {
        return Ok(Vec::new());
    };
    let mut warnings = Vec::new();
    if s.quantity.amount > b.held() {
        warnings.push(Warning::new(
            "sale_exceeds_stock",
            "销售数量超过批次结存：货物来源不明",
            json!({"trace_code": b.trace_code, "held": b.held(), "sold": s.quantity.amount, "unit": b.unit.as_str()}),
        ));
    }
    if let Some(expiry) = b.expiry_date {
        if shanghai_date(s.sold_at) > expiry {
            warnings.push(Warning::new(
                "sold_after_expiry",
                "销售超过保质期的食品",
                json!({"trace_code": b.trace_code, "expiry_date": expiry.to_string(), "sold_at": s.sold_at.to_rfc3339()}),
            ));
        }
    }
    Ok(warnings)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::trace::MemoryGraph;

    #[test]
    fn builtin_rules_parse() {
        let r = LedgerRules::from_json(DEFAULT_RULES).unwrap();
        assert_eq!(r.validate(), Ok(()));
        assert_eq!(r.version, "ledger-2023.1");
        assert!(!r.required_certificates.is_empty());
        assert_eq!(LedgerRules::builtin().version, r.version);
    }

    fn load(text: &str) -> Result<LedgerRules, RulesFileError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("province.json");
        std::fs::write(&path, text).unwrap();
        LedgerRules::load(&path)
    }

    fn parse_error(text: &str) -> (usize, usize, String, String) {
        match load(text) {
            Err(e @ RulesFileError::Parse { .. }) => {
                let shown = e.to_string();
                let RulesFileError::Parse {
                    line,
                    column,
                    message,
                    ..
                } = e
                else {
                    unreachable!()
                };
                (line, column, message, shown)
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_custom_file_loads() {
        let text = DEFAULT_RULES.replace(
            "\"reject_missing_certificates\": false",
            "\"reject_missing_certificates\": true",
        );
        assert!(load(&text).unwrap().reject_missing_certificates);
    }

    #[test]
    fn a_broken_file_names_the_file_line_and_column() {
        // Syntax error on line 3.
        let (line, column, message, shown) =
            parse_error("{\n  \"version\": \"x\",\n  \"source\" \"y\"\n}");
        assert_eq!((line, column), (3, 12), "{message}");
        assert!(
            shown.contains("province.json:3:12: expected `:`"),
            "{shown}"
        );
        assert!(!shown.contains("at line"), "position given once: {shown}");

        // A wrong field type.
        let text = DEFAULT_RULES.replace(
            "\"reject_missing_certificates\": false",
            "\"reject_missing_certificates\": \"no\"",
        );
        let (line, _, message, _) = parse_error(&text);
        assert_eq!(line, 13);
        assert!(message.contains("invalid type"), "{message}");

        // An unknown category and an unknown certificate kind.
        let text = DEFAULT_RULES.replace("\"poultry\":", "\"poultryy\":");
        let (line, _, message, _) = parse_error(&text);
        assert_eq!(line, 6);
        assert!(message.contains("unknown variant `poultryy`"), "{message}");
        let text = DEFAULT_RULES.replace("[[\"import_inspection\"]]", "[[\"stamp\"]]");
        let (line, _, message, _) = parse_error(&text);
        assert_eq!(line, 7);
        assert!(message.contains("unknown variant `stamp`"), "{message}");
    }

    #[test]
    fn unreadable_and_unusable_files_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.json");
        let e = LedgerRules::load(&missing).unwrap_err();
        assert!(matches!(e, RulesFileError::Read { .. }), "{e:?}");
        assert!(e.to_string().contains("nope.json"), "{e}");
        // A directory cannot be read as a file.
        let e = LedgerRules::load(dir.path()).unwrap_err();
        assert!(matches!(e, RulesFileError::Read { .. }), "{e:?}");

        let text = DEFAULT_RULES.replace("[[\"quarantine\"]]", "[[]]");
        let e = load(&text).unwrap_err();
        assert!(
            e.to_string()
                .contains("required_certificates.livestock_meat[0]"),
            "{e}"
        );
        let text = DEFAULT_RULES.replace("\"ledger-2023.1\"", "\" \"");
        assert!(matches!(
            load(&text).unwrap_err(),
            RulesFileError::Invalid { .. }
        ));
    }

    fn purchase(name: &str) -> LedgerEvent {
        let p = json!({
            "entry_id": "0190a0c0-0000-7000-8000-000000000001",
            "merchant_id": "m-1",
            "product": {"name": name, "category": "vegetable"},
            "quantity": {"value": "20", "unit": "kg"},
            "supplier": {"name": "同安蔬菜合作社"},
            "certificates": [{"kind": "origin", "number": "CD-1"}],
            "received_at": Utc::now().to_rfc3339(),
        });
        LedgerEvent::parse(PURCHASE, &p).expect("within the wire's limits")
    }

    /// A tightened limit refuses new events when they are judged, while an
    /// event recorded before still parses (the wire's limits are fixed).
    #[test]
    fn a_tightened_limit_refuses_new_events_but_not_their_parsing() {
        let mut rules = LedgerRules::builtin();
        rules.max_name_chars = 10;
        let long = purchase(&"菜".repeat(50));
        let e = check(&long, &MemoryGraph::new(), &rules, Utc::now()).unwrap_err();
        let LedgerError::Invalid(f) = e else {
            panic!("a field refusal: {e:?}")
        };
        assert_eq!(
            (f.field.as_str(), f.code.as_str()),
            ("product.name", "text_too_long")
        );
        let short = purchase("菠菜");
        check(&short, &MemoryGraph::new(), &rules, Utc::now()).expect("within the rules");
        let past_wire = json!({"name": "菜".repeat(101), "category": "vegetable"});
        let mut p = long.to_wire();
        p["product"] = past_wire;
        let f = LedgerEvent::parse(PURCHASE, &p).unwrap_err();
        assert_eq!(
            (f.field.as_str(), f.code.as_str()),
            ("product.name", "text_too_long")
        );
    }

    fn held_batch(placed_at: DateTime<FixedOffset>, device_had_it: bool) -> HoldInfo {
        HoldInfo {
            hold_id: "0190a0c0-0000-7000-8000-0000000000aa".into(),
            reason: crate::hold::HoldReason::UnknownOrigin,
            note: Some("无检疫证明".into()),
            placed_at,
            device_had_it,
        }
    }

    fn sale_at(at: DateTime<Utc>) -> LedgerEvent {
        let code = crate::codes::new_code(&mut rand::rng());
        let s = json!({
            "entry_id": "0190a0c0-0000-7000-8000-000000000002",
            "merchant_id": "m-1",
            "trace_code": code,
            "quantity": {"value": "3", "unit": "kg"},
            "buyer": {"retail": true},
            "sold_at": at.to_rfc3339(),
        });
        LedgerEvent::parse(crate::event::SALE, &s).unwrap()
    }

    /// The ordering rule: refused once the device had the hold; kept with
    /// `held_batch_sold` when the sale is older than the hold or the device
    /// had not pulled it.
    #[test]
    fn a_sale_of_a_held_batch_is_refused_or_kept_by_what_the_device_knew() {
        let placed = Utc::now() - Duration::hours(2);
        let after = sale_at(Utc::now());
        let before = sale_at(placed - Duration::minutes(1));
        assert_eq!(check_hold(&after, None).unwrap(), None);

        let e = check_hold(&after, Some(&held_batch(placed.fixed_offset(), true))).unwrap_err();
        let LedgerError::Rule(r) = e else {
            panic!("{e:?}")
        };
        assert_eq!(
            (r.code.as_str(), r.class),
            ("batch_held", ErrorClass::Conflict)
        );
        assert!(r.message.contains("来源不明") && r.message.contains("无检疫证明"));

        let w = check_hold(&after, Some(&held_batch(placed.fixed_offset(), false)))
            .unwrap()
            .expect("kept, warned");
        assert_eq!(w.code, "held_batch_sold");
        assert_eq!(w.evidence["device_had_hold"], false);
        assert_eq!(w.evidence["sold_before_hold"], false);

        let w = check_hold(&before, Some(&held_batch(placed.fixed_offset(), true)))
            .unwrap()
            .expect("older than the hold");
        assert_eq!(w.evidence["sold_before_hold"], true);
        // The boundary: a sale at the very moment of the hold is after it.
        let at = sale_at(placed);
        assert!(check_hold(&at, Some(&held_batch(placed.fixed_offset(), true))).is_err());
    }

    #[test]
    fn held_goods_are_destroyed_with_a_witness_and_photos_and_never_returned() {
        let h = held_batch(Utc::now().fixed_offset(), true);
        let code = crate::codes::new_code(&mut rand::rng());
        let dispose = |method: &str, witness: Option<&str>, photos: Vec<String>| {
            let mut d = json!({
                "entry_id": "0190a0c0-0000-7000-8000-000000000003",
                "merchant_id": "m-1",
                "trace_code": code,
                "quantity": {"value": "3", "unit": "kg"},
                "method": method,
                "reason": "暂扣后销毁",
                "at": Utc::now().to_rfc3339(),
                "photos": photos,
            });
            if let Some(w) = witness {
                d["witness"] = json!(w);
            }
            LedgerEvent::parse(crate::event::DISPOSE, &d).unwrap()
        };
        let photo = "ab".repeat(32);
        let ok = dispose("destroyed", Some("王安全员"), vec![photo.clone()]);
        assert_eq!(check_hold(&ok, Some(&h)).unwrap(), None);
        let code_of = |e: LedgerEvent| match check_hold(&e, Some(&h)).unwrap_err() {
            LedgerError::Invalid(f) => f.code,
            LedgerError::Rule(r) => r.code,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            code_of(dispose("destroyed", None, vec![photo.clone()])),
            "destruction_needs_witness"
        );
        assert_eq!(
            code_of(dispose("destroyed", Some("王"), vec![])),
            "destruction_needs_photos"
        );
        assert_eq!(
            code_of(dispose("returned", Some("王"), vec![photo])),
            "batch_held"
        );
        // Without a hold, a plain disposal needs neither.
        assert_eq!(
            check_hold(&dispose("returned", None, vec![]), None).unwrap(),
            None
        );
    }

    /// The witness and photos are optional on the wire: a payload from
    /// before them parses, and one with them round-trips canonically.
    #[test]
    fn a_disposal_with_and_without_witness_parses() {
        let code = crate::codes::new_code(&mut rand::rng());
        let old = json!({
            "entry_id": "0190a0c0-0000-7000-8000-000000000004",
            "merchant_id": "m-1", "trace_code": code,
            "quantity": {"value": "1", "unit": "kg"}, "method": "destroyed",
            "reason": "变质", "at": Utc::now().to_rfc3339(),
        });
        let e = LedgerEvent::parse(crate::event::DISPOSE, &old).unwrap();
        assert_eq!(e.to_wire(), old, "an old payload's wire form is unchanged");
        let mut new = old.clone();
        new["witness"] = json!("李见证");
        new["photos"] = json!(["CD".repeat(32)]);
        let e = LedgerEvent::parse(crate::event::DISPOSE, &new).unwrap();
        let LedgerEvent::Dispose(d) = &e else {
            unreachable!()
        };
        assert_eq!(d.photos, ["cd".repeat(32)]);
        let text = e.to_wire_string();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v.to_string(), text, "canonical");
        assert_eq!(LedgerEvent::parse(crate::event::DISPOSE, &v).unwrap(), e);
        for (k, bad, code) in [
            ("photos", json!(["x"]), "invalid_hash"),
            ("photos", json!(vec!["ab".repeat(32); 2]), "duplicate_photo"),
            ("photos", json!(vec!["ab".repeat(32); 10]), "too_many"),
            ("witness", json!(" "), "empty_text"),
        ] {
            let mut p = old.clone();
            p[k] = bad;
            assert_eq!(
                LedgerEvent::parse(crate::event::DISPOSE, &p)
                    .unwrap_err()
                    .code,
                code,
                "{k}"
            );
        }
    }
}
