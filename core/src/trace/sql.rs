//! [`TraceGraph`] over the SQLite ledger tables (a device's store, or the
//! server's default database). Every lookup is one indexed query through a
//! cached prepared statement: `batches` by primary key (with the merchant's
//! `directory` name), `movements_by_batch`, `batches_by_voucher` and
//! `movements_by_voucher`.

use std::hash::{Hash, Hasher};

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Row};
use serde_json::Value;

use super::{BatchNode, Movement, MovementKind, SupplierRef, TraceError, TraceGraph, VoucherSale};
use crate::quantity::{BaseUnit, Quantity};

/// The ledger tables of one SQLite connection, seen as a trace graph.
pub struct SqlGraph<'c> {
    pub conn: &'c Connection,
}

impl<'c> SqlGraph<'c> {
    pub fn new(conn: &'c Connection) -> Self {
        Self { conn }
    }
}

/// A batch row as [`SqlGraph`]'s handle: the row itself, so following a
/// voucher to its redeemers is one query; equal by trace code.
#[derive(Debug, Clone)]
pub struct SqlBatch(BatchNode);

impl PartialEq for SqlBatch {
    fn eq(&self, other: &Self) -> bool {
        self.0.trace_code == other.0.trace_code
    }
}

impl Eq for SqlBatch {}

impl Hash for SqlBatch {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.trace_code.hash(state);
    }
}

const BATCH_SELECT: &str = "SELECT b.trace_code, b.merchant_id, d.name, b.product_name, b.unit, b.received, b.voucher_code, b.received_at
     FROM batches b LEFT JOIN directory d ON d.merchant_id = b.merchant_id";

fn bad(what: &str, value: &str) -> TraceError {
    TraceError::Storage(format!("unreadable {what} in the ledger: {value:?}"))
}

/// A stored RFC 3339 time, in UTC to the millisecond (the precision every
/// store keeps, so that all stores give identical answers).
pub(super) fn time(s: &str) -> Result<DateTime<Utc>, TraceError> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .and_then(|t| DateTime::from_timestamp_millis(t.timestamp_millis()))
        .ok_or_else(|| bad("time", s))
}

pub(super) fn unit(s: &str) -> Result<BaseUnit, TraceError> {
    BaseUnit::parse(s).ok_or_else(|| bad("unit", s))
}

/// The `batches.supplier` column: the JSON that [`crate::store::apply`] wrote.
pub(super) fn supplier(s: &str) -> Result<SupplierRef, TraceError> {
    let v: Value = serde_json::from_str(s).map_err(|_| bad("supplier", s))?;
    let text = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
    match (text("merchant_id"), text("name")) {
        (Some(merchant_id), _) => Ok(SupplierRef::Merchant { merchant_id }),
        (None, Some(name)) => Ok(SupplierRef::External {
            name,
            uscc: text("uscc"),
            region_code: text("region_code"),
        }),
        (None, None) => Err(bad("supplier", s)),
    }
}

fn batch_row(r: &Row<'_>) -> rusqlite::Result<Result<BatchNode, TraceError>> {
    let unit_s: String = r.get(4)?;
    let at: String = r.get(7)?;
    let (trace_code, merchant_id, merchant_name, product_name, received, voucher_code) = (
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(5)?,
        r.get(6)?,
    );
    Ok(unit(&unit_s).and_then(|u| {
        Ok(BatchNode {
            trace_code,
            merchant_id,
            merchant_name,
            product_name,
            received: Quantity::new(received, u),
            voucher_code,
            received_at: time(&at)?,
        })
    }))
}

/// Decodes `movements.kind` (with its voucher, for sales to merchants).
pub(super) fn movement_kind(
    kind: &str,
    voucher_code: Option<String>,
    buyer_name: Option<String>,
) -> Result<MovementKind<String>, TraceError> {
    Ok(match kind {
        "sale_merchant" => MovementKind::SaleMerchant {
            voucher: voucher_code.ok_or_else(|| bad("sale to a merchant", "without voucher"))?,
        },
        "sale_named" => MovementKind::SaleNamed {
            buyer_name: buyer_name.unwrap_or_default(),
        },
        "sale_retail" => MovementKind::SaleRetail,
        "destroyed" => MovementKind::Destroyed,
        "returned" => MovementKind::Returned,
        "adjust" => MovementKind::Adjust,
        other => return Err(bad("movement kind", other)),
    })
}

impl SqlGraph<'_> {
    fn row(&self, trace_code: &str) -> Result<Option<SqlBatch>, TraceError> {
        let sql = format!("{BATCH_SELECT} WHERE b.trace_code = ?1 AND b.voided = 0");
        Ok(self
            .conn
            .prepare_cached(&sql)?
            .query_row([trace_code], batch_row)
            .optional()?
            .transpose()?
            .map(SqlBatch))
    }
}

impl TraceGraph for SqlGraph<'_> {
    type Batch = SqlBatch;
    type Voucher = String;

    fn find(&self, trace_code: &str) -> Result<Option<SqlBatch>, TraceError> {
        self.row(trace_code)
    }

    fn batch(&self, batch: &SqlBatch) -> Result<BatchNode, TraceError> {
        Ok(batch.0.clone())
    }

    fn movements(&self, batch: &SqlBatch) -> Result<Vec<Movement<String>>, TraceError> {
        let mut st = self.conn.prepare_cached(
            "SELECT kind, amount, voucher_code, buyer_name FROM movements WHERE trace_code = ?1 AND voided = 0 ORDER BY rowid",
        )?;
        let mut rows = st.query([&batch.0.trace_code])?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            let kind: String = r.get(0)?;
            out.push(Movement {
                amount: r.get(1)?,
                kind: movement_kind(&kind, r.get(2)?, r.get(3)?)?,
            });
        }
        Ok(out)
    }

    fn redeemed_by(&self, voucher: &String) -> Result<Vec<SqlBatch>, TraceError> {
        let sql =
            format!("{BATCH_SELECT} WHERE b.voucher_code = ?1 AND b.voided = 0 ORDER BY b.rowid");
        let mut st = self.conn.prepare_cached(&sql)?;
        let rows = st.query_map([voucher], batch_row)?;
        let mut out = Vec::new();
        for r in rows {
            out.push(SqlBatch(r??));
        }
        Ok(out)
    }

    fn received_with(&self, batch: &SqlBatch) -> Result<Option<String>, TraceError> {
        Ok(batch.0.voucher_code.clone())
    }

    fn voucher_sale(&self, voucher: &String) -> Result<Option<VoucherSale<SqlBatch>>, TraceError> {
        let mut st = self.conn.prepare_cached(
            "SELECT trace_code, merchant_id, buyer_merchant_id, amount, at
             FROM movements WHERE voucher_code = ?1 AND voided = 0 AND kind = 'sale_merchant'",
        )?;
        let row = st
            .query_row([voucher], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Option<String>>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, String>(4)?,
                ))
            })
            .optional()?;
        let Some((from_trace_code, seller_merchant_id, buyer, amount, at)) = row else {
            return Ok(None);
        };
        Ok(Some(VoucherSale {
            voucher_code: voucher.clone(),
            from: self.row(&from_trace_code)?,
            from_trace_code,
            seller_merchant_id,
            buyer_merchant_id: buyer.ok_or_else(|| bad("sale to a merchant without buyer", &at))?,
            amount,
            sold_at: time(&at)?,
        }))
    }

    fn supplier(&self, batch: &SqlBatch) -> Result<SupplierRef, TraceError> {
        let text: String = self
            .conn
            .prepare_cached("SELECT supplier FROM batches WHERE trace_code = ?1")?
            .query_row([&batch.0.trace_code], |r| r.get(0))?;
        supplier(&text)
    }

    fn merchant_name(&self, merchant_id: &str) -> Result<Option<String>, TraceError> {
        Ok(self
            .conn
            .prepare_cached("SELECT name FROM directory WHERE merchant_id = ?1")?
            .query_row([merchant_id], |r| r.get(0))
            .optional()?)
    }
}
