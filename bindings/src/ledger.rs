//! The ledger events as uniffi records, mirroring the wire events of DESIGN.md
//! field for field. Each input becomes the wire JSON and goes through core's
//! one parser (`LedgerEvent::parse`), so a bad field comes back with the same
//! code and path as from the server (`quantity.value`, `supplier.uscc`).

use serde_json::{json, Map, Value};
use shian_core::ledger::Warning;
use shian_core::quantity::Quantity;
use shian_core::store::apply::Applied;

/// A quantity as on the wire: an exact decimal string and a unit
/// (`kg`, `g`, `t`, `jin`, `piece`, `bag`, `box`). Output quantities are in
/// `kg` for masses.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct QuantityValue {
    pub value: String,
    pub unit: String,
}

impl From<Quantity> for QuantityValue {
    fn from(q: Quantity) -> Self {
        Self {
            value: q.value_string(),
            unit: q.wire_unit().to_owned(),
        }
    }
}

impl QuantityValue {
    fn wire(&self) -> Value {
        json!({"value": self.value, "unit": self.unit})
    }
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ProductInput {
    pub name: String,
    /// `livestock_meat`, `poultry`, `aquatic`, `vegetable`, `fruit`, `egg`, `frozen`,
    /// `imported_cold_chain`, `prepackaged`, `dairy`, `grain_oil`, `other`.
    pub category: String,
    pub gtin: Option<String>,
}

/// Where a purchase came from.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum SupplierInput {
    /// A merchant on the platform (scan its voucher to link the batches).
    Merchant { merchant_id: String },
    /// A farm, slaughterhouse, importer or trader off the platform.
    External {
        name: String,
        uscc: Option<String>,
        region_code: Option<String>,
    },
}

/// A certificate kept with a purchase (索证索票).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct CertificateInput {
    /// `quarantine`, `origin`, `commitment`, `import_inspection`, `test_report`.
    pub kind: String,
    pub number: String,
}

/// `ledger.purchase`. `entry_id` None: a new UUIDv7 is made; `received_at`
/// None: now. `trace_code` None: the device makes one.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct PurchaseInput {
    pub entry_id: Option<String>,
    pub merchant_id: String,
    pub product: ProductInput,
    pub quantity: QuantityValue,
    pub supplier: SupplierInput,
    /// The upstream seller's voucher, scanned on receipt: links the batches.
    pub voucher_code: Option<String>,
    pub trace_code: Option<String>,
    pub certificates: Vec<CertificateInput>,
    /// `YYYY-MM-DD`.
    pub production_date: Option<String>,
    /// `YYYY-MM-DD`.
    pub expiry_date: Option<String>,
    pub unit_price_fen: Option<i64>,
    /// RFC 3339 with offset.
    pub received_at: Option<String>,
}

/// Who bought.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum BuyerInput {
    /// A merchant on the platform: the sale issues a voucher.
    Merchant {
        merchant_id: String,
    },
    /// A buyer off the platform (a canteen, a trader).
    Named {
        name: String,
    },
    Retail,
}

/// `ledger.sale`.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SaleInput {
    pub entry_id: Option<String>,
    pub merchant_id: String,
    pub trace_code: String,
    pub quantity: QuantityValue,
    pub buyer: BuyerInput,
    /// None: the device makes one for a sale to a merchant.
    pub voucher_code: Option<String>,
    pub unit_price_fen: Option<i64>,
    pub sold_at: Option<String>,
}

/// `ledger.void`: a correction pointing at an earlier entry.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct VoidInput {
    pub entry_id: Option<String>,
    pub merchant_id: String,
    pub voided_entry_id: String,
    pub reason: String,
    pub at: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum DisposeMethod {
    /// 销毁 / 无害化处理
    Destroyed,
    /// 退货
    Returned,
}

/// `ledger.dispose`.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct DisposeInput {
    pub entry_id: Option<String>,
    pub merchant_id: String,
    pub trace_code: String,
    pub quantity: QuantityValue,
    pub method: DisposeMethod,
    pub reason: String,
    pub at: Option<String>,
    /// Who watched a destruction (销毁见证人); a held batch's destruction
    /// needs it.
    #[uniffi(default)]
    pub witness: Option<String>,
    /// Photo ids (SHA-256 of attachments uploaded by the app); a held
    /// batch's destruction needs one at least.
    #[uniffi(default)]
    pub photos: Vec<String>,
}

/// `ledger.adjust`: a signed stock-count correction (`delta.value` may be negative).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct AdjustInput {
    pub entry_id: Option<String>,
    pub merchant_id: String,
    pub trace_code: String,
    pub delta: QuantityValue,
    pub reason: String,
    pub at: Option<String>,
}

/// A warning raised by an accepted entry: the record stands, a person must look.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct WarningRecord {
    /// e.g. `missing_certificate`, `oversold`, `expired_on_sale`.
    pub code: String,
    pub message: String,
    /// The facts that raised it, as JSON.
    pub evidence_json: String,
}

impl From<Warning> for WarningRecord {
    fn from(w: Warning) -> Self {
        Self {
            code: w.code,
            message: w.message,
            evidence_json: w.evidence.to_string(),
        }
    }
}

/// What a recorded event produced.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct RecordOutcome {
    pub entry_id: String,
    /// `ledger.purchase`, `ledger.sale`, ...
    pub kind: String,
    /// The batch a purchase created.
    pub trace_code: Option<String>,
    /// The voucher a sale to a merchant issued (show it as a QR to the buyer).
    pub voucher_code: Option<String>,
    pub warnings: Vec<WarningRecord>,
}

impl From<Applied> for RecordOutcome {
    fn from(a: Applied) -> Self {
        Self {
            entry_id: a.entry_id.to_string(),
            kind: a.kind.to_owned(),
            trace_code: a.trace_code,
            voucher_code: a.voucher_code,
            warnings: a.warnings.into_iter().map(Into::into).collect(),
        }
    }
}

/// A warning stored for a merchant, with the entry that raised it.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct MerchantWarning {
    pub entry_id: String,
    pub warning: WarningRecord,
}

/// A fresh UUIDv7 (entry ids, inspection ids): made on the device.
pub(crate) fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Now, RFC 3339 in UTC to the millisecond.
pub(crate) fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Builds a wire object, leaving out absent optional fields.
struct Wire(Map<String, Value>);

impl Wire {
    fn new() -> Self {
        Self(Map::new())
    }
    fn put(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.0.insert(key.to_owned(), value.into());
        self
    }
    fn opt(self, key: &str, value: Option<impl Into<Value>>) -> Self {
        match value {
            Some(v) => self.put(key, v),
            None => self,
        }
    }
    fn done(self) -> Value {
        Value::Object(self.0)
    }
}

fn id_or_new(id: &Option<String>) -> String {
    id.clone().unwrap_or_else(new_id)
}

fn time_or_now(t: &Option<String>) -> String {
    t.clone().unwrap_or_else(now_rfc3339)
}

impl PurchaseInput {
    pub(crate) fn to_wire(&self) -> Value {
        let product = Wire::new()
            .put("name", self.product.name.clone())
            .put("category", self.product.category.clone())
            .opt("gtin", self.product.gtin.clone())
            .done();
        let supplier = match &self.supplier {
            SupplierInput::Merchant { merchant_id } => json!({"merchant_id": merchant_id}),
            SupplierInput::External {
                name,
                uscc,
                region_code,
            } => Wire::new()
                .put("name", name.clone())
                .opt("uscc", uscc.clone())
                .opt("region_code", region_code.clone())
                .done(),
        };
        let certificates: Vec<Value> = self
            .certificates
            .iter()
            .map(|c| json!({"kind": c.kind, "number": c.number}))
            .collect();
        Wire::new()
            .put("entry_id", id_or_new(&self.entry_id))
            .put("merchant_id", self.merchant_id.clone())
            .put("product", product)
            .put("quantity", self.quantity.wire())
            .put("supplier", supplier)
            .opt("voucher_code", self.voucher_code.clone())
            .opt("trace_code", self.trace_code.clone())
            .put("certificates", certificates)
            .opt("production_date", self.production_date.clone())
            .opt("expiry_date", self.expiry_date.clone())
            .opt("unit_price_fen", self.unit_price_fen)
            .put("received_at", time_or_now(&self.received_at))
            .done()
    }
}

impl SaleInput {
    pub(crate) fn to_wire(&self) -> Value {
        let buyer = match &self.buyer {
            BuyerInput::Merchant { merchant_id } => json!({"merchant_id": merchant_id}),
            BuyerInput::Named { name } => json!({"name": name}),
            BuyerInput::Retail => json!({"retail": true}),
        };
        Wire::new()
            .put("entry_id", id_or_new(&self.entry_id))
            .put("merchant_id", self.merchant_id.clone())
            .put("trace_code", self.trace_code.clone())
            .put("quantity", self.quantity.wire())
            .put("buyer", buyer)
            .opt("voucher_code", self.voucher_code.clone())
            .opt("unit_price_fen", self.unit_price_fen)
            .put("sold_at", time_or_now(&self.sold_at))
            .done()
    }
}

impl VoidInput {
    pub(crate) fn to_wire(&self) -> Value {
        json!({
            "entry_id": id_or_new(&self.entry_id),
            "merchant_id": self.merchant_id,
            "voided_entry_id": self.voided_entry_id,
            "reason": self.reason,
            "at": time_or_now(&self.at),
        })
    }
}

impl DisposeInput {
    pub(crate) fn to_wire(&self) -> Value {
        json!({
            "entry_id": id_or_new(&self.entry_id),
            "merchant_id": self.merchant_id,
            "trace_code": self.trace_code,
            "quantity": self.quantity.wire(),
            "method": match self.method { DisposeMethod::Destroyed => "destroyed", DisposeMethod::Returned => "returned" },
            "reason": self.reason,
            "at": time_or_now(&self.at),
            "witness": self.witness,
            "photos": self.photos,
        })
    }
}

impl AdjustInput {
    pub(crate) fn to_wire(&self) -> Value {
        json!({
            "entry_id": id_or_new(&self.entry_id),
            "merchant_id": self.merchant_id,
            "trace_code": self.trace_code,
            "delta": self.delta.wire(),
            "reason": self.reason,
            "at": time_or_now(&self.at),
        })
    }
}
