//! The ledger events: their typed form, parsing from the wire with field
//! paths, and the canonical wire form written to the outbox.
//!
//! Every written fact is an immutable event with an id made on the device
//! (UUIDv7); a correction is a new event pointing at the old one.

use chrono::{DateTime, FixedOffset, NaiveDate};
use serde_json::Value;
use uuid::Uuid;

use crate::category::{Category, Certificate, CertificateKind};
use crate::codes;
use crate::error::FieldError;
use crate::fields::{check_text, Obj};
use crate::json::Node;
use crate::quantity::{Quantity, Sign};

mod limits;
mod wire;

pub use limits::{WireLimits, WIRE_V1};

pub const PURCHASE: &str = "ledger.purchase";
pub const SALE: &str = "ledger.sale";
pub const VOID: &str = "ledger.void";
pub const ADJUST: &str = "ledger.adjust";
pub const DISPOSE: &str = "ledger.dispose";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Product {
    pub name: String,
    pub category: Category,
    pub gtin: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Supplier {
    /// A merchant on the platform.
    Merchant { merchant_id: String },
    /// A farm, slaughterhouse or trader off the platform.
    External {
        name: String,
        uscc: Option<String>,
        region_code: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Buyer {
    Merchant { merchant_id: String },
    Named { name: String },
    Retail,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Purchase {
    pub entry_id: Uuid,
    pub merchant_id: String,
    pub product: Product,
    pub quantity: Quantity,
    pub supplier: Supplier,
    pub voucher_code: Option<String>,
    pub trace_code: Option<String>,
    pub certificates: Vec<Certificate>,
    pub production_date: Option<NaiveDate>,
    pub expiry_date: Option<NaiveDate>,
    pub unit_price_fen: Option<i64>,
    pub received_at: DateTime<FixedOffset>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sale {
    pub entry_id: Uuid,
    pub merchant_id: String,
    pub trace_code: String,
    pub quantity: Quantity,
    pub buyer: Buyer,
    pub voucher_code: Option<String>,
    pub unit_price_fen: Option<i64>,
    pub sold_at: DateTime<FixedOffset>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Void {
    pub entry_id: Uuid,
    pub merchant_id: String,
    pub voided_entry_id: Uuid,
    pub reason: String,
    pub at: DateTime<FixedOffset>,
}

/// A stock-count correction: the signed difference found when counting.
/// A delta, not an absolute count, so that two offline devices' corrections
/// compose in any order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Adjust {
    pub entry_id: Uuid,
    pub merchant_id: String,
    pub trace_code: String,
    pub delta: Quantity,
    pub reason: String,
    pub at: DateTime<FixedOffset>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DisposeMethod {
    /// 销毁 / 无害化处理
    Destroyed,
    /// 退货
    Returned,
}

impl DisposeMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            DisposeMethod::Destroyed => "destroyed",
            DisposeMethod::Returned => "returned",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dispose {
    pub entry_id: Uuid,
    pub merchant_id: String,
    pub trace_code: String,
    pub quantity: Quantity,
    pub method: DisposeMethod,
    pub reason: String,
    pub at: DateTime<FixedOffset>,
    /// Who watched the destruction (销毁见证人): optional on the wire, so
    /// payloads from before it stay valid; a destruction that ends a hold
    /// needs it ([`crate::rules::check_hold`]).
    pub witness: Option<String>,
    /// Photos of the destruction: SHA-256 ids of attachments uploaded
    /// through `PUT /v1/attachments/{sha256}` (before or after the push),
    /// at most [`MAX_DISPOSE_PHOTOS`].
    pub photos: Vec<String>,
}

/// Most photos one disposal may cite.
pub const MAX_DISPOSE_PHOTOS: usize = 9;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LedgerEvent {
    Purchase(Purchase),
    Sale(Sale),
    Void(Void),
    Adjust(Adjust),
    Dispose(Dispose),
}

impl LedgerEvent {
    pub fn kind(&self) -> &'static str {
        match self {
            LedgerEvent::Purchase(_) => PURCHASE,
            LedgerEvent::Sale(_) => SALE,
            LedgerEvent::Void(_) => VOID,
            LedgerEvent::Adjust(_) => ADJUST,
            LedgerEvent::Dispose(_) => DISPOSE,
        }
    }

    /// Whether the event lacks a code it should carry: a purchase's trace
    /// code, the voucher of a sale to a merchant. The device (or the
    /// server, for an online client) fills it in.
    pub fn lacks_code(&self) -> bool {
        match self {
            LedgerEvent::Purchase(p) => p.trace_code.is_none(),
            LedgerEvent::Sale(s) => {
                s.voucher_code.is_none() && matches!(s.buyer, Buyer::Merchant { .. })
            }
            _ => false,
        }
    }

    /// The slot of the code the event lacks (see [`LedgerEvent::lacks_code`]).
    pub fn missing_code(&mut self) -> Option<&mut Option<String>> {
        if !self.lacks_code() {
            return None;
        }
        match self {
            LedgerEvent::Purchase(p) => Some(&mut p.trace_code),
            LedgerEvent::Sale(s) => Some(&mut s.voucher_code),
            _ => None,
        }
    }

    pub fn is_ledger_kind(kind: &str) -> bool {
        matches!(kind, PURCHASE | SALE | VOID | ADJUST | DISPOSE)
    }

    pub fn entry_id(&self) -> Uuid {
        match self {
            LedgerEvent::Purchase(e) => e.entry_id,
            LedgerEvent::Sale(e) => e.entry_id,
            LedgerEvent::Void(e) => e.entry_id,
            LedgerEvent::Adjust(e) => e.entry_id,
            LedgerEvent::Dispose(e) => e.entry_id,
        }
    }

    pub fn merchant_id(&self) -> &str {
        match self {
            LedgerEvent::Purchase(e) => &e.merchant_id,
            LedgerEvent::Sale(e) => &e.merchant_id,
            LedgerEvent::Void(e) => &e.merchant_id,
            LedgerEvent::Adjust(e) => &e.merchant_id,
            LedgerEvent::Dispose(e) => &e.merchant_id,
        }
    }

    /// When the fact happened, by the device's clock.
    pub fn at(&self) -> DateTime<FixedOffset> {
        match self {
            LedgerEvent::Purchase(e) => e.received_at,
            LedgerEvent::Sale(e) => e.sold_at,
            LedgerEvent::Void(e) => e.at,
            LedgerEvent::Adjust(e) => e.at,
            LedgerEvent::Dispose(e) => e.at,
        }
    }

    /// Parses a wire payload of the given kind, within the wire format's
    /// limits ([`WIRE_V1`]): a stored event reads back whatever the rules
    /// say today. Time plausibility against a clock and the rules' own
    /// limits are rules, checked in [`crate::rules::check`].
    pub fn parse(kind: &str, payload: &Value) -> Result<Self, FieldError> {
        Self::parse_node(kind, &Node::of(payload))
    }

    /// [`LedgerEvent::parse`] over a tree read straight from JSON text
    /// without `Value`'s allocations (the server's push and replay).
    pub fn parse_node(kind: &str, payload: &Node<'_>) -> Result<Self, FieldError> {
        let limits = &WIRE_V1;
        let o = Obj::root(payload)?;
        match kind {
            PURCHASE => parse_purchase(&o, limits).map(LedgerEvent::Purchase),
            SALE => parse_sale(&o, limits).map(LedgerEvent::Sale),
            VOID => Ok(LedgerEvent::Void(Void {
                entry_id: entry_id(&o, "entry_id")?,
                merchant_id: codes::validate_id(o.str("merchant_id")?, "merchant_id")?,
                voided_entry_id: entry_id(&o, "voided_entry_id")?,
                reason: o.text("reason", limits.max_reason_chars)?,
                at: o.time("at")?,
            })),
            ADJUST => Ok(LedgerEvent::Adjust(Adjust {
                entry_id: entry_id(&o, "entry_id")?,
                merchant_id: codes::validate_id(o.str("merchant_id")?, "merchant_id")?,
                trace_code: codes::parse_code(o.str("trace_code")?, "trace_code")?,
                delta: quantity(&o, "delta", Sign::NonZeroSigned)?,
                reason: o.text("reason", limits.max_reason_chars)?,
                at: o.time("at")?,
            })),
            DISPOSE => Ok(LedgerEvent::Dispose(Dispose {
                entry_id: entry_id(&o, "entry_id")?,
                merchant_id: codes::validate_id(o.str("merchant_id")?, "merchant_id")?,
                trace_code: codes::parse_code(o.str("trace_code")?, "trace_code")?,
                quantity: quantity(&o, "quantity", Sign::Positive)?,
                method: match o.str("method")? {
                    "destroyed" => DisposeMethod::Destroyed,
                    "returned" => DisposeMethod::Returned,
                    _ => {
                        return Err(FieldError::new(
                            "method",
                            "invalid_enum",
                            "处置方式应为 destroyed（销毁）或 returned（退货）",
                        ))
                    }
                },
                reason: o.text("reason", limits.max_reason_chars)?,
                at: o.time("at")?,
                witness: o
                    .opt_str("witness")?
                    .map(|w| check_text(w, "witness", limits.max_name_chars))
                    .transpose()?,
                photos: photos(&o)?,
            })),
            other => Err(FieldError::new(
                "kind",
                "unknown_kind",
                format!("未知事件类型 '{other}'"),
            )),
        }
    }

    /// The canonical wire payload (what the outbox holds and the server
    /// stores), as a tree.
    pub fn to_wire(&self) -> Value {
        // Cannot fail: every key is a string and every value plain data.
        serde_json::to_value(wire::Wire(self)).unwrap_or(Value::Null)
    }

    /// The canonical wire payload as text, written straight from the event
    /// (no tree in between): the same text as `to_wire_string()`.
    pub fn to_wire_string(&self) -> String {
        serde_json::to_string(&wire::Wire(self)).unwrap_or_default()
    }
}

fn entry_id(o: &Obj<'_>, key: &str) -> Result<Uuid, FieldError> {
    Uuid::parse_str(o.str(key)?).map_err(|_| {
        FieldError::new(
            o.path(key),
            "invalid_uuid",
            "应为 UUID (e.g. a UUIDv7 made on the device)",
        )
    })
}

/// A disposal's photo ids: SHA-256 hex digests, lower case, no repeats.
fn photos(o: &Obj<'_>) -> Result<Vec<String>, FieldError> {
    let list = o.opt_array("photos")?;
    if list.len() > MAX_DISPOSE_PHOTOS {
        return Err(FieldError::new(
            "photos",
            "too_many",
            format!("照片最多 {MAX_DISPOSE_PHOTOS} 张"),
        ));
    }
    let mut out: Vec<String> = Vec::with_capacity(list.len());
    for (i, p) in list.iter().enumerate() {
        let field = format!("photos[{i}]");
        let Node::Str(h) = p else {
            return Err(FieldError::new(
                field,
                "wrong_type",
                "应为字符串 (expected string)",
            ));
        };
        let h = h.to_ascii_lowercase();
        if !crate::inspection::evaluate::is_sha256_hex(&h) {
            return Err(FieldError::new(
                field,
                "invalid_hash",
                "照片编号应为附件的 64 位十六进制 SHA-256 摘要",
            ));
        }
        if out.contains(&h) {
            return Err(FieldError::new(
                field,
                "duplicate_photo",
                "同一张照片只能引用一次",
            ));
        }
        out.push(h);
    }
    Ok(out)
}

fn quantity(o: &Obj<'_>, key: &str, sign: Sign) -> Result<Quantity, FieldError> {
    let q = o.obj(key)?;
    Quantity::parse(q.str("value")?, q.str("unit")?, sign, &o.path(key))
}

fn price(o: &Obj<'_>, max: i64) -> Result<Option<i64>, FieldError> {
    match o.opt_i64("unit_price_fen")? {
        Some(p) if p < 0 || p > max => Err(FieldError::new(
            o.path("unit_price_fen"),
            "invalid_price",
            "单价（分）应在 0 到上限之间 (price in fen out of range)",
        )),
        p => Ok(p),
    }
}

fn parse_purchase(o: &Obj<'_>, limits: &WireLimits) -> Result<Purchase, FieldError> {
    let product = o.obj("product")?;
    let category = product.str("category")?;
    let product = Product {
        name: product.text("name", limits.max_name_chars)?,
        category: Category::parse(category).ok_or_else(|| {
            FieldError::new(
                product.path("category"),
                "invalid_enum",
                format!("未知食品类别 '{category}'"),
            )
        })?,
        gtin: product
            .opt_str("gtin")?
            .map(|g| codes::validate_gtin(g, &product.path("gtin")))
            .transpose()?,
    };
    let s = o.obj("supplier")?;
    let supplier = if s.has("merchant_id") {
        Supplier::Merchant {
            merchant_id: codes::validate_id(s.str("merchant_id")?, &s.path("merchant_id"))?,
        }
    } else {
        Supplier::External {
            name: s.text("name", limits.max_name_chars)?,
            // A supplier's code is evidence copied from paper; a mismatching
            // check digit is recorded as written rather than refused, since
            // the goods are already in the cold store.
            uscc: s
                .opt_str("uscc")?
                .map(|u| codes::validate_uscc(u, &s.path("uscc"), true).map(|x| x.code))
                .transpose()?,
            region_code: s
                .opt_str("region_code")?
                .map(|r| codes::validate_region_code(r, &s.path("region_code")))
                .transpose()?,
        }
    };
    let certs = o.opt_array("certificates")?;
    if certs.len() > limits.max_certificates {
        return Err(FieldError::new(
            "certificates",
            "too_many",
            format!("证明最多 {} 份", limits.max_certificates),
        ));
    }
    let mut certificates = Vec::with_capacity(certs.len());
    for (i, c) in certs.iter().enumerate() {
        let c = Obj::at(c, format!("certificates[{i}]"))?;
        let kind = c.str("kind")?;
        certificates.push(Certificate {
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
    let production_date = o.opt_date("production_date")?;
    let expiry_date = o.opt_date("expiry_date")?;
    if let (Some(p), Some(e)) = (production_date, expiry_date) {
        if e < p {
            return Err(FieldError::new(
                "expiry_date",
                "expiry_before_production",
                "保质期截止日期早于生产日期",
            ));
        }
    }
    Ok(Purchase {
        entry_id: entry_id(o, "entry_id")?,
        merchant_id: codes::validate_id(o.str("merchant_id")?, "merchant_id")?,
        product,
        quantity: quantity(o, "quantity", Sign::Positive)?,
        supplier,
        voucher_code: o
            .opt_str("voucher_code")?
            .map(|c| codes::parse_code(c, "voucher_code"))
            .transpose()?,
        trace_code: o
            .opt_str("trace_code")?
            .map(|c| codes::parse_code(c, "trace_code"))
            .transpose()?,
        certificates,
        production_date,
        expiry_date,
        unit_price_fen: price(o, limits.max_unit_price_fen)?,
        received_at: o.time("received_at")?,
    })
}

fn parse_sale(o: &Obj<'_>, limits: &WireLimits) -> Result<Sale, FieldError> {
    let b = o.obj("buyer")?;
    let buyer = if b.has("merchant_id") {
        Buyer::Merchant {
            merchant_id: codes::validate_id(b.str("merchant_id")?, &b.path("merchant_id"))?,
        }
    } else if b.opt_bool("retail")? == Some(true) {
        Buyer::Retail
    } else if b.has("name") {
        Buyer::Named {
            name: b.text("name", limits.max_name_chars)?,
        }
    } else {
        return Err(FieldError::new(
            "buyer",
            "missing_field",
            "买方应为 {merchant_id}、{name} 或 {retail: true}",
        ));
    };
    let voucher_code = o
        .opt_str("voucher_code")?
        .map(|c| codes::parse_code(c, "voucher_code"))
        .transpose()?;
    if voucher_code.is_some() && !matches!(buyer, Buyer::Merchant { .. }) {
        return Err(FieldError::new(
            "voucher_code",
            "voucher_needs_merchant_buyer",
            "只有向平台内经营户销售才开具上市凭证",
        ));
    }
    Ok(Sale {
        entry_id: entry_id(o, "entry_id")?,
        merchant_id: codes::validate_id(o.str("merchant_id")?, "merchant_id")?,
        trace_code: codes::parse_code(o.str("trace_code")?, "trace_code")?,
        quantity: quantity(o, "quantity", Sign::Positive)?,
        buyer,
        voucher_code,
        unit_price_fen: price(o, i64::MAX)?,
        sold_at: o.time("sold_at")?,
    })
}
