//! Food-handling staff and their health certificates (从业人员健康证,
//! issue 14 item 5): what a worker record holds, how it is checked, when a
//! certificate is valid, what the public may see of it, and how an
//! inspector's checklist item on health certificates is pre-filled from the
//! records. One implementation for the merchant's phone (offline), the
//! server and the shop page.
//!
//! Basis: 《食品安全法》第四十五条 — a food business keeps a staff health
//! management system, and "从事接触直接入口食品工作的食品生产经营人员应当每年进行
//! 健康检查，取得健康证明后方可上岗工作". The validity period itself is printed
//! on the certificate (issue and expiry date), so this module keeps both
//! dates as typed and judges by the expiry date alone. (Article 45 is not
//! in `../shared/research/regulation.md`; its text was checked against the
//! published law.)
//!
//! Dates are Asia/Shanghai local dates: a certificate whose `expires_on` is
//! today is valid until 24:00 Shanghai time and expired from 00:00 the next
//! day ([`validity`]).
//!
//! # Privacy
//!
//! A worker's full name and certificate number are personal data. The
//! public (the shop page behind its QR code) sees only [`PublicWorker`]:
//! the name's first character and `*` ([`masked_name`]), the role and the
//! validity — never the full name or the number.
//!
//! # Wire
//!
//! Ops from the merchant's device: `staff.upsert` with a worker
//! `{staff_id, merchant_id, name, role, certificate_no?, issued_on?,
//! expires_on?, photo?}` and `staff.remove` with `{staff_id, merchant_id}`.
//! The server sends the merchant's whole roster back as the change kind
//! `staff.roster` `{id: merchant_id, merchant_id, staff: [worker…]}` (the
//! latest per merchant is what a device keeps).

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::FieldError;
use crate::fields::Obj;
use crate::inspection::checklist::{ChecklistItem, Template};
use crate::inspection::evaluate::{is_sha256_hex, Answer};
use crate::json::Node;
use crate::store::LocalStore;
use crate::warnings::local_date;

/// The op that records (adds or changes) a worker.
pub const UPSERT_KIND: &str = "staff.upsert";
/// The op that removes a worker (left the shop).
pub const REMOVE_KIND: &str = "staff.remove";
/// The change kind carrying a merchant's whole roster to its devices, its
/// district's inspectors and its market's operators.
pub const ROSTER_KIND: &str = "staff.roster";

/// A name as on an identity card: at most 32 characters.
pub const NAME_MAX_CHARS: usize = 32;
/// A role (负责人, 从业人员, 配送, 厨师 …): at most 16 characters.
pub const ROLE_MAX_CHARS: usize = 16;
/// A certificate number: 4–32 ASCII letters, digits or `-` (numbering
/// differs by issuing centre; none uses other characters).
pub const CERT_NO_MIN_CHARS: usize = 4;
pub const CERT_NO_MAX_CHARS: usize = 32;
/// Ids (staff and merchant): at most 64 characters.
pub const ID_MAX_CHARS: usize = 64;
/// The longest validity a certificate may state: the law asks for a
/// yearly examination, and some centres print two years; beyond five
/// years the date is a typing mistake.
pub const MAX_VALID_DAYS: i64 = 5 * 366;
/// The roles the apps offer (free text is accepted within the limit).
pub const ROLES: [&str; 4] = ["负责人", "从业人员", "配送", "食品安全管理员"];

/// One food-handling worker of a merchant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Worker {
    /// Chosen by the device (a UUID), stable across edits.
    pub staff_id: String,
    pub merchant_id: String,
    pub name: String,
    pub role: String,
    /// The health certificate's number; `None`: no certificate recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_no: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issued_on: Option<NaiveDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_on: Option<NaiveDate>,
    /// SHA-256 of the certificate's photo (uploaded as an attachment).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub photo: Option<String>,
}

/// A worker's removal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Removal {
    pub staff_id: String,
    pub merchant_id: String,
}

/// Ids as everywhere in Shian: 1–64 of `A-Z a-z 0-9 _ -` (a UUID passes).
fn id_text(o: &Obj<'_>, key: &str) -> Result<String, FieldError> {
    let s = o.text(key, ID_MAX_CHARS)?;
    if !s
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(FieldError::new(
            o.path(key),
            "invalid_id",
            "编号应为 1–64 位字母、数字、_ 或 - (A-Z a-z 0-9 _ -)",
        ));
    }
    Ok(s)
}

fn check_cert_no(s: &str, field: &str) -> Result<String, FieldError> {
    let t = s.trim().to_ascii_uppercase();
    let n = t.chars().count();
    if !(CERT_NO_MIN_CHARS..=CERT_NO_MAX_CHARS).contains(&n)
        || !t.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    {
        return Err(FieldError::new(
            field,
            "invalid_certificate_no",
            format!(
                "健康证编号应为 {CERT_NO_MIN_CHARS}–{CERT_NO_MAX_CHARS} 位字母、数字或 - (letters, digits, -)"
            ),
        ));
    }
    Ok(t)
}

/// The object at `prefix` (`""` for a request body, `"payload"` for an op).
fn object<'a>(node: &'a Node<'a>, prefix: &str) -> Result<Obj<'a>, FieldError> {
    if prefix.is_empty() {
        Obj::root(node)
    } else {
        Obj::at(node, prefix.to_owned())
    }
}

/// Refusals no schema pattern can state (a date pair, a number with its
/// dates): the server answers them 422 rather than 400.
pub const CONSISTENCY_CODES: [&str; 3] = [
    "expiry_before_issue",
    "validity_too_long",
    "certificate_incomplete",
];

/// Reads and checks a worker: names and roles with core's text rules, a
/// certificate number with its dates (all three or none), the expiry after
/// the issue and at most [`MAX_VALID_DAYS`] later, a photo as a SHA-256.
/// Field paths are under `prefix` (`payload.name`).
pub fn parse_worker(value: &Value, prefix: &str) -> Result<Worker, FieldError> {
    let node = Node::of(value);
    let o = object(&node, prefix)?;
    let staff_id = id_text(&o, "staff_id")?;
    let merchant_id = id_text(&o, "merchant_id")?;
    let name = o.text("name", NAME_MAX_CHARS)?;
    let role = o.text("role", ROLE_MAX_CHARS)?;
    let certificate_no = o
        .opt_str("certificate_no")?
        .filter(|s| !s.trim().is_empty())
        .map(|s| check_cert_no(s, &o.path("certificate_no")))
        .transpose()?;
    let issued_on = o.opt_date("issued_on")?;
    let expires_on = o.opt_date("expires_on")?;
    match (&certificate_no, issued_on, expires_on) {
        (None, None, None) => {}
        (Some(_), Some(issued), Some(expires)) => {
            if expires <= issued {
                return Err(FieldError::new(
                    o.path("expires_on"),
                    "expiry_before_issue",
                    "有效期至应晚于发证日期 (expiry after issue)",
                ));
            }
            if (expires - issued).num_days() > MAX_VALID_DAYS {
                return Err(FieldError::new(
                    o.path("expires_on"),
                    "validity_too_long",
                    "健康证有效期不应超过五年，请核对日期 (at most five years)",
                ));
            }
        }
        (None, _, _) => {
            return Err(FieldError::new(
                o.path("certificate_no"),
                "certificate_incomplete",
                "填写了健康证日期，但缺少健康证编号 (dates without a number)",
            ))
        }
        (Some(_), None, _) => {
            return Err(FieldError::new(
                o.path("issued_on"),
                "certificate_incomplete",
                "缺少健康证发证日期 (required with a certificate)",
            ))
        }
        (Some(_), _, None) => {
            return Err(FieldError::new(
                o.path("expires_on"),
                "certificate_incomplete",
                "缺少健康证有效期至 (required with a certificate)",
            ))
        }
    }
    let photo = match o.opt_str("photo")?.map(str::trim).filter(|s| !s.is_empty()) {
        None => None,
        Some(p) => {
            let p = p.to_ascii_lowercase();
            if !is_sha256_hex(&p) {
                return Err(FieldError::new(
                    o.path("photo"),
                    "invalid_hash",
                    "照片应为附件的 64 位十六进制 SHA-256 摘要",
                ));
            }
            Some(p)
        }
    };
    Ok(Worker {
        staff_id,
        merchant_id,
        name,
        role,
        certificate_no,
        issued_on,
        expires_on,
        photo,
    })
}

/// Reads a removal `{staff_id, merchant_id}` under `prefix`.
pub fn parse_removal(value: &Value, prefix: &str) -> Result<Removal, FieldError> {
    let node = Node::of(value);
    let o = object(&node, prefix)?;
    Ok(Removal {
        staff_id: id_text(&o, "staff_id")?,
        merchant_id: id_text(&o, "merchant_id")?,
    })
}

/// Whether a worker's certificate is valid, as of a moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Validity {
    /// Valid past the notice window.
    Valid {
        expires_on: NaiveDate,
    },
    /// Valid, and expiring within the window (`days_left` 0 = today is the
    /// last valid day).
    Expiring {
        expires_on: NaiveDate,
        days_left: i64,
    },
    Expired {
        expires_on: NaiveDate,
    },
    /// No certificate recorded.
    Missing,
}

impl Validity {
    pub fn as_str(self) -> &'static str {
        match self {
            Validity::Valid { .. } => "valid",
            Validity::Expiring { .. } => "expiring",
            Validity::Expired { .. } => "expired",
            Validity::Missing => "missing",
        }
    }

    /// Valid or expiring: the worker may handle food today.
    pub fn is_valid(self) -> bool {
        matches!(self, Validity::Valid { .. } | Validity::Expiring { .. })
    }

    pub fn expires_on(self) -> Option<NaiveDate> {
        match self {
            Validity::Valid { expires_on }
            | Validity::Expiring { expires_on, .. }
            | Validity::Expired { expires_on } => Some(expires_on),
            Validity::Missing => None,
        }
    }

    /// zh-CN, for lists: `有效期至 2027-03-01`, `健康证已过期` …
    pub fn label_zh(self) -> String {
        match self {
            Validity::Valid { expires_on } => format!("有效期至 {expires_on}"),
            Validity::Expiring {
                expires_on,
                days_left,
            } => format!("有效期至 {expires_on}（剩 {days_left} 天）"),
            Validity::Expired { .. } => "健康证已过期".to_owned(),
            Validity::Missing => "未登记健康证".to_owned(),
        }
    }
}

/// The validity of a certificate expiring on `expires_on`, as of `now`,
/// with a notice window of `expiring_days`: valid through the whole of its
/// expiry day in Asia/Shanghai, expired from the next local midnight.
pub fn validity_of(
    expires_on: Option<NaiveDate>,
    now: DateTime<Utc>,
    expiring_days: i64,
) -> Validity {
    let Some(expires_on) = expires_on else {
        return Validity::Missing;
    };
    let days_left = days_left(expires_on, now);
    if days_left < 0 {
        Validity::Expired { expires_on }
    } else if days_left <= expiring_days {
        Validity::Expiring {
            expires_on,
            days_left,
        }
    } else {
        Validity::Valid { expires_on }
    }
}

/// Days from today (Asia/Shanghai) to the expiry day: 0 on the last valid
/// day, negative once expired.
pub fn days_left(expires_on: NaiveDate, now: DateTime<Utc>) -> i64 {
    (expires_on - local_date(now)).num_days()
}

/// A worker's validity (a number without dates cannot be stored, so no
/// number means missing).
pub fn validity(w: &Worker, now: DateTime<Utc>, expiring_days: i64) -> Validity {
    if w.certificate_no.is_none() {
        return Validity::Missing;
    }
    validity_of(w.expires_on, now, expiring_days)
}

/// The name as the public sees it: its first character and `*` (`王*`).
pub fn masked_name(name: &str) -> String {
    match name.trim().chars().next() {
        Some(c) => format!("{c}*"),
        None => "*".to_owned(),
    }
}

/// What the public may see of a worker: never the full name or number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PublicWorker {
    /// [`masked_name`].
    pub name: String,
    pub role: String,
    /// `valid`, `expiring`, `expired` or `missing` (expiring is valid).
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_on: Option<NaiveDate>,
}

impl PublicWorker {
    pub fn new(w: &Worker, now: DateTime<Utc>) -> PublicWorker {
        // The public sees valid or not; the notice window is the merchant's.
        let v = validity(w, now, 0);
        PublicWorker {
            name: masked_name(&w.name),
            role: w.role.clone(),
            status: if v.is_valid() { "valid" } else { v.as_str() },
            expires_on: v.expires_on(),
        }
    }

    pub fn is_valid(&self) -> bool {
        self.status == "valid"
    }
}

/// The checklist item that asks for health certificates: the one whose
/// basis is 《食品安全法》第四十五条 (`food_sales_daily` 6.2, `catering_daily`
/// 4.2), found by its basis so a new template version needs no code.
pub fn health_item(template: &Template) -> Option<&ChecklistItem> {
    template
        .items
        .iter()
        .find(|i| i.basis.contains("食品安全法") && i.basis.contains("第四十五条"))
}

/// One worker line for the inspector: full name (an official sees it),
/// role, number and validity.
pub fn inspector_line(w: &Worker, now: DateTime<Utc>) -> String {
    let v = validity(w, now, 0);
    match (&w.certificate_no, v) {
        (Some(no), Validity::Expired { expires_on }) => {
            format!("{}（{}）健康证 {no} 已于 {expires_on} 过期", w.name, w.role)
        }
        (Some(no), v) => format!("{}（{}）健康证 {no} {}", w.name, w.role, v.label_zh()),
        (None, _) => format!("{}（{}）未登记健康证", w.name, w.role),
    }
}

/// Pre-fills the template's health-certificate item from the merchant's
/// records: compliant when at least one worker is recorded and every one
/// holds a valid certificate; otherwise failed, the note naming who is
/// expired or missing (the evidence). `None` when the template has no
/// such item. The inspector may still change the answer on site.
pub fn prefill_answer(
    template: &Template,
    workers: &[Worker],
    now: DateTime<Utc>,
) -> Option<Answer> {
    let item = health_item(template)?;
    let bad: Vec<&Worker> = workers
        .iter()
        .filter(|w| !validity(w, now, 0).is_valid())
        .collect();
    let compliant = !workers.is_empty() && bad.is_empty();
    let note = if workers.is_empty() {
        "系统中未登记从业人员健康证".to_owned()
    } else if bad.is_empty() {
        format!("已登记 {} 名从业人员，健康证均在有效期内", workers.len())
    } else {
        let lines: Vec<String> = bad.iter().map(|w| inspector_line(w, now)).collect();
        format!(
            "已登记 {} 名从业人员，{} 名健康证无效：{}",
            workers.len(),
            bad.len(),
            lines.join("；")
        )
    };
    Some(Answer {
        item_id: item.id.clone(),
        compliant,
        not_applicable: false,
        note: Some(note),
        value: None,
        photos: workers.iter().filter_map(|w| w.photo.clone()).collect(),
    })
}

/// Reads a pulled `staff.roster` payload's workers (those that do not
/// parse are left out: the server checked them).
pub fn roster_workers(payload: &Value) -> Vec<Worker> {
    payload["staff"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|w| serde_json::from_value(w.clone()).ok())
        .collect()
}

impl LocalStore {
    /// Checks a worker typed on the phone and queues it as `staff.upsert`
    /// with `op_id` (made at `at`); refused, nothing is queued.
    pub fn queue_staff_upsert(
        &mut self,
        payload: &Value,
        op_id: &str,
        at: &str,
    ) -> Result<Worker, LocalStaffError> {
        let w = parse_worker(payload, "payload")?;
        let wire = serde_json::to_value(&w).map_err(|e| {
            LocalStaffError::Invalid(FieldError::new("payload", "invalid_payload", e.to_string()))
        })?;
        self.enqueue(op_id, UPSERT_KIND, at, &wire)?;
        Ok(w)
    }

    /// Queues a `staff.remove`.
    pub fn queue_staff_removal(
        &mut self,
        payload: &Value,
        op_id: &str,
        at: &str,
    ) -> Result<Removal, LocalStaffError> {
        let r = parse_removal(payload, "payload")?;
        let wire = serde_json::json!({"staff_id": r.staff_id, "merchant_id": r.merchant_id});
        self.enqueue(op_id, REMOVE_KIND, at, &wire)?;
        Ok(r)
    }

    /// A merchant's roster as this device knows it: the latest pulled
    /// `staff.roster`, with this device's own ops not yet accepted laid
    /// over it in the order they were made (offline edits show at once).
    pub fn staff_roster(&self, merchant_id: &str) -> rusqlite::Result<Vec<Worker>> {
        let pulled: Option<String> = self
            .conn()
            .prepare_cached("SELECT payload FROM inbox WHERE kind = ?1 AND key = ?2")?
            .query_row([ROSTER_KIND, merchant_id], |r| r.get(0))
            .or_else(|e| match e {
                rusqlite::Error::QueryReturnedNoRows => Ok(None),
                e => Err(e),
            })?;
        let mut workers = pulled
            .and_then(|p| serde_json::from_str::<Value>(&p).ok())
            .map(|v| roster_workers(&v))
            .unwrap_or_default();
        let mut st = self.conn().prepare_cached(
            "SELECT kind, payload FROM outbox WHERE kind IN (?1, ?2) AND state = 'pending' ORDER BY seq",
        )?;
        let rows = st.query_map([UPSERT_KIND, REMOVE_KIND], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })?;
        for row in rows {
            let (kind, payload) = row?;
            let Ok(v) = serde_json::from_str::<Value>(&payload) else {
                continue;
            };
            if v["merchant_id"] != merchant_id {
                continue;
            }
            let id = v["staff_id"].as_str().unwrap_or_default().to_owned();
            workers.retain(|w| w.staff_id != id);
            if kind == UPSERT_KIND {
                if let Ok(w) = serde_json::from_value::<Worker>(v) {
                    workers.push(w);
                }
            }
        }
        workers.sort_by(|a, b| a.name.cmp(&b.name).then(a.staff_id.cmp(&b.staff_id)));
        Ok(workers)
    }
}

/// Why a worker was not queued on the phone.
#[derive(Debug, thiserror::Error)]
pub enum LocalStaffError {
    #[error("{0}")]
    Invalid(#[from] FieldError),
    #[error(transparent)]
    Storage(#[from] rusqlite::Error),
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use serde_json::json;

    use super::*;
    use crate::inspection::checklist::TemplateRegistry;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    /// A moment given in Shanghai time.
    fn sh(y: i32, m: u32, day: u32, h: u32, min: u32, s: u32) -> DateTime<Utc> {
        crate::warnings::china()
            .with_ymd_and_hms(y, m, day, h, min, s)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn worker(expires: Option<&str>) -> Worker {
        Worker {
            staff_id: "s1".into(),
            merchant_id: "m1".into(),
            name: "王小明".into(),
            role: "从业人员".into(),
            certificate_no: expires.map(|_| "JK2026-0001".into()),
            issued_on: expires.map(|_| d("2025-12-01")),
            expires_on: expires.map(d),
            photo: None,
        }
    }

    fn payload() -> Value {
        json!({"staff_id": "s1", "merchant_id": "m1", "name": " 王小明 ", "role": "从业人员",
               "certificate_no": "jk2026-0001", "issued_on": "2025-12-01", "expires_on": "2026-12-01"})
    }

    #[test]
    fn a_worker_parses_trimmed_with_the_number_upper_case() {
        let w = parse_worker(&payload(), "payload").unwrap();
        assert_eq!(w.name, "王小明");
        assert_eq!(w.certificate_no.as_deref(), Some("JK2026-0001"));
        assert_eq!(w.expires_on, Some(d("2026-12-01")));
    }

    #[test]
    fn bad_input_names_its_field() {
        for (key, value, field, code) in [
            ("name", json!(""), "payload.name", "empty_text"),
            (
                "name",
                json!("王".repeat(33)),
                "payload.name",
                "text_too_long",
            ),
            ("role", json!(7), "payload.role", "wrong_type"),
            (
                "certificate_no",
                json!("健康证1"),
                "payload.certificate_no",
                "invalid_certificate_no",
            ),
            (
                "expires_on",
                json!("2025-11-30"),
                "payload.expires_on",
                "expiry_before_issue",
            ),
            (
                "expires_on",
                json!("2025-12-01"),
                "payload.expires_on",
                "expiry_before_issue",
            ),
            (
                "expires_on",
                json!("2031-12-31"),
                "payload.expires_on",
                "validity_too_long",
            ),
            (
                "expires_on",
                json!("2026/12/01"),
                "payload.expires_on",
                "invalid_date",
            ),
            (
                "issued_on",
                Value::Null,
                "payload.issued_on",
                "certificate_incomplete",
            ),
            ("photo", json!("abc"), "payload.photo", "invalid_hash"),
            ("staff_id", json!("a b"), "payload.staff_id", "invalid_id"),
        ] {
            let mut p = payload();
            p[key] = value;
            let e = parse_worker(&p, "payload").unwrap_err();
            assert_eq!((e.field.as_str(), e.code.as_str()), (field, code), "{key}");
        }
        let mut p = payload();
        p["certificate_no"] = Value::Null;
        let e = parse_worker(&p, "").unwrap_err();
        assert_eq!(
            (e.field.as_str(), e.code.as_str()),
            ("certificate_no", "certificate_incomplete")
        );
    }

    #[test]
    fn a_worker_without_a_certificate_is_kept_and_missing() {
        let p = json!({"staff_id": "s1", "merchant_id": "m1", "name": "李四", "role": "配送"});
        let w = parse_worker(&p, "").unwrap();
        assert_eq!(
            validity(&w, sh(2026, 12, 1, 12, 0, 0), 30),
            Validity::Missing
        );
    }

    #[test]
    fn a_certificate_expiring_today_is_valid_until_midnight_in_shanghai() {
        let w = worker(Some("2026-12-01"));
        // 23:59:59 Shanghai on the expiry day (15:59:59 UTC): still valid.
        let last = sh(2026, 12, 1, 23, 59, 59);
        assert_eq!(
            validity(&w, last, 30),
            Validity::Expiring {
                expires_on: d("2026-12-01"),
                days_left: 0
            }
        );
        assert!(PublicWorker::new(&w, last).is_valid());
        // 00:00:00 Shanghai the next day (16:00 UTC on the expiry day): expired,
        // though it is still the expiry day in UTC.
        let midnight = sh(2026, 12, 2, 0, 0, 0);
        assert_eq!(midnight.date_naive(), d("2026-12-01"));
        assert_eq!(
            validity(&w, midnight, 30),
            Validity::Expired {
                expires_on: d("2026-12-01")
            }
        );
        assert_eq!(PublicWorker::new(&w, midnight).status, "expired");
    }

    #[test]
    fn the_notice_window_edges() {
        let w = worker(Some("2026-12-31"));
        let now = sh(2026, 12, 1, 9, 0, 0);
        assert!(matches!(
            validity(&w, now, 30),
            Validity::Expiring { days_left: 30, .. }
        ));
        let w = worker(Some("2027-01-01"));
        assert!(matches!(validity(&w, now, 30), Validity::Valid { .. }));
    }

    #[test]
    fn the_public_sees_the_initial_role_and_validity_only() {
        let w = worker(Some("2027-03-01"));
        let p = PublicWorker::new(&w, sh(2026, 12, 1, 9, 0, 0));
        assert_eq!(p.name, "王*");
        let text = serde_json::to_string(&p).unwrap();
        assert!(
            !text.contains("王小明") && !text.contains("JK2026"),
            "{text}"
        );
        assert!(text.contains("2027-03-01"));
        assert_eq!(masked_name("  Zhang San"), "Z*");
    }

    #[test]
    fn the_health_item_is_prefilled_from_the_records() {
        let reg = TemplateRegistry::builtin().unwrap();
        let sales = reg.latest("food_sales_daily").unwrap();
        let catering = reg.latest("catering_daily").unwrap();
        assert_eq!(health_item(sales).unwrap().id, "6.2");
        assert_eq!(health_item(catering).unwrap().id, "4.2");
        let now = sh(2026, 12, 2, 0, 0, 0);
        let mut expired = worker(Some("2026-12-01"));
        expired.staff_id = "s2".into();
        let valid = worker(Some("2027-03-01"));
        let a = prefill_answer(sales, std::slice::from_ref(&valid), now).unwrap();
        assert!(a.compliant);
        let a = prefill_answer(sales, &[valid, expired], now).unwrap();
        assert!(!a.compliant);
        let note = a.note.unwrap();
        assert!(
            note.contains("已于 2026-12-01 过期") && note.contains("JK2026-0001"),
            "{note}"
        );
        let none = prefill_answer(catering, &[], now).unwrap();
        assert!(!none.compliant && none.item_id == "4.2");
    }

    #[test]
    fn offline_edits_lay_over_the_pulled_roster() {
        let mut store = LocalStore::open_in_memory().unwrap();
        store
            .queue_staff_upsert(&payload(), "op1", "2026-12-01T09:00:00+08:00")
            .unwrap();
        let mut other = payload();
        other["staff_id"] = json!("s2");
        other["name"] = json!("李四");
        store
            .queue_staff_upsert(&other, "op2", "2026-12-01T09:01:00+08:00")
            .unwrap();
        store
            .queue_staff_removal(
                &json!({"staff_id": "s1", "merchant_id": "m1"}),
                "op3",
                "2026-12-01T09:02:00+08:00",
            )
            .unwrap();
        let roster = store.staff_roster("m1").unwrap();
        assert_eq!(roster.len(), 1);
        assert_eq!(roster[0].name, "李四");
        let mut bad = payload();
        bad["expires_on"] = json!("2020-01-01");
        assert!(matches!(
            store.queue_staff_upsert(&bad, "op4", "2026-12-01T09:03:00+08:00"),
            Err(LocalStaffError::Invalid(_))
        ));
        assert_eq!(store.outbox("pending", 10).unwrap().len(), 3);
    }
}
