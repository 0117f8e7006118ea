//! One row per movement: what FSMA 204's key data elements (21 CFR
//! 1.1340/1.1345: lot code, quantity and unit, product, the location it
//! left and the one it reached, the date, the reference document) and our
//! ledger share. Every format (CSV, XLSX, EPCIS) is written from these rows,
//! so the three say the same thing.
//!
//! A row is made from an entry's canonical payload, parsed by core's own
//! parser, and its batch's purchase for the product, dates and
//! certificates of a movement.

use std::collections::HashMap;

use chrono::{DateTime, FixedOffset, NaiveDate};
use shian_core::category::{Category, Certificate};
use shian_core::event::{Buyer, DisposeMethod, LedgerEvent, Purchase, Supplier};
use shian_core::quantity::Quantity;
use uuid::Uuid;

use crate::store::ledger::ExportEntry;

/// What happened, as a row says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// 进货: received (from a supplier off the platform or by voucher).
    Purchase,
    /// 销售给平台经营户 (with a voucher).
    SaleMerchant,
    /// 销售给平台外的买方 (a canteen, a trader).
    SaleNamed,
    /// 零售.
    SaleRetail,
    /// 销毁.
    Destroyed,
    /// 退货.
    Returned,
    /// 盘点调整 (a signed stock-count correction).
    Adjust,
}

impl Event {
    pub fn code(self) -> &'static str {
        match self {
            Event::Purchase => "purchase",
            Event::SaleMerchant => "sale_merchant",
            Event::SaleNamed => "sale_named",
            Event::SaleRetail => "sale_retail",
            Event::Destroyed => "destroyed",
            Event::Returned => "returned",
            Event::Adjust => "adjust",
        }
    }

    pub fn zh(self) -> &'static str {
        match self {
            Event::Purchase => "进货",
            Event::SaleMerchant => "销售给经营户",
            Event::SaleNamed => "销售给平台外买方",
            Event::SaleRetail => "零售",
            Event::Destroyed => "销毁",
            Event::Returned => "退货",
            Event::Adjust => "盘点调整",
        }
    }
}

/// One movement of goods.
#[derive(Debug, Clone)]
pub struct Row {
    /// When it happened, by the device's clock, with its offset.
    pub at: DateTime<FixedOffset>,
    pub event: Event,
    pub holder_id: String,
    pub holder_name: Option<String>,
    /// The supplier or buyer when it is a platform merchant.
    pub counterparty_id: Option<String>,
    /// Its registry name, or the name as written for one off the platform.
    pub counterparty_name: Option<String>,
    /// The supplier's USCC as written on the purchase (off the platform).
    pub counterparty_uscc: Option<String>,
    /// The batch (our lot code).
    pub trace_code: String,
    pub product: Option<String>,
    pub category: Option<Category>,
    pub gtin: Option<String>,
    /// Signed only for a stock-count correction.
    pub quantity: Quantity,
    /// The voucher (上市凭证) that links a sale to its buyer's receipt.
    pub voucher_code: Option<String>,
    pub production_date: Option<NaiveDate>,
    pub expiry_date: Option<NaiveDate>,
    pub certificates: Vec<Certificate>,
    pub unit_price_fen: Option<i64>,
    /// Why goods were destroyed, returned or recounted.
    pub reason: Option<String>,
    pub entry_id: Uuid,
}

/// Why an entry could not become a row: the store holds a payload this
/// build cannot read (a corrupt row), which an export must not skip.
#[derive(Debug, thiserror::Error)]
#[error("ledger entry cannot be read for export ({kind}): {reason}")]
pub struct RowError {
    pub kind: String,
    pub reason: String,
}

/// The batch facts of a purchase that a movement row repeats.
#[derive(Debug, Clone)]
struct BatchFacts {
    product: String,
    category: Category,
    gtin: Option<String>,
    production_date: Option<NaiveDate>,
    expiry_date: Option<NaiveDate>,
    certificates: Vec<Certificate>,
}

impl BatchFacts {
    fn of(p: &Purchase) -> Self {
        BatchFacts {
            product: p.product.name.clone(),
            category: p.product.category,
            gtin: p.product.gtin.clone(),
            production_date: p.production_date,
            expiry_date: p.expiry_date,
            certificates: p.certificates.clone(),
        }
    }
}

/// Makes rows from entries, parsing each batch's purchase once while it is
/// recent (a batch's movements come together in a holder's ledger).
#[derive(Default)]
pub struct RowMaker {
    batches: HashMap<String, BatchFacts>,
}

/// Batches remembered at once; the map is emptied past it, which bounds
/// the memory of an export of any size.
const BATCHES_KEPT: usize = 4096;

fn parse(kind: &str, payload: &str) -> Result<LedgerEvent, RowError> {
    let err = |reason: String| RowError {
        kind: kind.to_owned(),
        reason,
    };
    let v: serde_json::Value = serde_json::from_str(payload).map_err(|e| err(e.to_string()))?;
    LedgerEvent::parse(kind, &v).map_err(|e| err(format!("{}: {}", e.field, e.message)))
}

impl RowMaker {
    /// The row of one entry; `None` for an entry that moves nothing (a
    /// void, which the store does not send).
    pub fn row(&mut self, e: &ExportEntry) -> Result<Option<Row>, RowError> {
        let event = parse(&e.kind, &e.payload)?;
        let (trace_code, facts) = match &event {
            LedgerEvent::Purchase(p) => {
                let code = p.trace_code.clone().unwrap_or_default();
                (code, Some(BatchFacts::of(p)))
            }
            LedgerEvent::Sale(s) => (s.trace_code.clone(), None),
            LedgerEvent::Dispose(d) => (d.trace_code.clone(), None),
            LedgerEvent::Adjust(a) => (a.trace_code.clone(), None),
            LedgerEvent::Void(_) => return Ok(None),
        };
        let facts = match facts {
            Some(f) => Some(f),
            None => self.batch(&trace_code, e.batch_purchase.as_deref())?,
        };
        let mut row = Row {
            at: event.at(),
            event: Event::Purchase,
            holder_id: e.merchant_id.clone(),
            holder_name: e.merchant_name.clone(),
            counterparty_id: None,
            counterparty_name: None,
            counterparty_uscc: None,
            trace_code,
            product: facts.as_ref().map(|f| f.product.clone()),
            category: facts.as_ref().map(|f| f.category),
            gtin: facts.as_ref().and_then(|f| f.gtin.clone()),
            quantity: Quantity::new(0, shian_core::quantity::BaseUnit::Gram),
            voucher_code: None,
            production_date: facts.as_ref().and_then(|f| f.production_date),
            expiry_date: facts.as_ref().and_then(|f| f.expiry_date),
            certificates: facts.map(|f| f.certificates).unwrap_or_default(),
            unit_price_fen: None,
            reason: None,
            entry_id: event.entry_id(),
        };
        match event {
            LedgerEvent::Purchase(p) => {
                row.quantity = p.quantity;
                row.voucher_code = p.voucher_code;
                row.unit_price_fen = p.unit_price_fen;
                match p.supplier {
                    Supplier::Merchant { merchant_id } => {
                        row.counterparty_id = Some(merchant_id);
                        row.counterparty_name = e.counterparty_name.clone();
                    }
                    Supplier::External { name, uscc, .. } => {
                        row.counterparty_name = Some(name);
                        row.counterparty_uscc = uscc;
                    }
                }
            }
            LedgerEvent::Sale(s) => {
                row.quantity = s.quantity;
                row.voucher_code = s.voucher_code;
                row.unit_price_fen = s.unit_price_fen;
                row.event = match s.buyer {
                    Buyer::Merchant { merchant_id } => {
                        row.counterparty_id = Some(merchant_id);
                        row.counterparty_name = e.counterparty_name.clone();
                        Event::SaleMerchant
                    }
                    Buyer::Named { name } => {
                        row.counterparty_name = Some(name);
                        Event::SaleNamed
                    }
                    Buyer::Retail => Event::SaleRetail,
                };
            }
            LedgerEvent::Dispose(d) => {
                row.quantity = d.quantity;
                row.reason = Some(d.reason);
                row.event = match d.method {
                    DisposeMethod::Destroyed => Event::Destroyed,
                    DisposeMethod::Returned => Event::Returned,
                };
            }
            LedgerEvent::Adjust(a) => {
                row.quantity = a.delta;
                row.reason = Some(a.reason);
                row.event = Event::Adjust;
            }
            LedgerEvent::Void(_) => return Ok(None),
        }
        Ok(Some(row))
    }

    fn batch(
        &mut self,
        trace_code: &str,
        purchase: Option<&str>,
    ) -> Result<Option<BatchFacts>, RowError> {
        if let Some(f) = self.batches.get(trace_code) {
            return Ok(Some(f.clone()));
        }
        let Some(payload) = purchase else {
            return Ok(None);
        };
        let LedgerEvent::Purchase(p) = parse(shian_core::event::PURCHASE, payload)? else {
            return Ok(None);
        };
        let facts = BatchFacts::of(&p);
        if self.batches.len() >= BATCHES_KEPT {
            self.batches.clear();
        }
        self.batches.insert(trace_code.to_owned(), facts.clone());
        Ok(Some(facts))
    }
}

/// The columns of the spreadsheet formats, zh-CN first with the English key
/// after a slash (the FDA's sortable spreadsheet is read in English).
pub const COLUMNS: &[&str] = &[
    "时间/time",
    "事件/event",
    "事件说明/event_zh",
    "经营户ID/holder_id",
    "经营户/holder",
    "对方ID/counterparty_id",
    "对方/counterparty",
    "对方信用代码/counterparty_uscc",
    "追溯码(批次)/trace_code",
    "品名/product",
    "类别/category",
    "GTIN/gtin",
    "数量/quantity",
    "单位/unit",
    "上市凭证/voucher_code",
    "生产日期/production_date",
    "保质期至/expiry_date",
    "证明/certificates",
    "单价(分)/unit_price_fen",
    "原因/reason",
    "条目ID/entry_id",
];

impl Row {
    /// Certificates as `kind:number`, `; `-separated.
    pub fn certificates_text(&self) -> String {
        self.certificates
            .iter()
            .map(|c| format!("{}:{}", c.kind.as_str(), c.number))
            .collect::<Vec<_>>()
            .join("; ")
    }
}
