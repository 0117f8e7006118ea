//! [`LedgerView`] over a SQLite connection (device or server).

use chrono::NaiveDate;
use rusqlite::{Connection, OptionalExtension};
use uuid::Uuid;

use crate::category::Category;
use crate::ledger::{BatchInfo, EntryInfo, LedgerView, VoucherInfo};
use crate::quantity::{BaseUnit, Quantity};

/// Ledger state as the rules see it, read from a connection (or a
/// transaction, which derefs to one).
pub struct SqlView<'c> {
    pub conn: &'c Connection,
    pub authoritative: bool,
}

fn bad_column(i: usize, what: &str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        i,
        rusqlite::types::Type::Text,
        format!("unknown {what}").into(),
    )
}

pub(crate) fn unit_col(s: &str, i: usize) -> rusqlite::Result<BaseUnit> {
    BaseUnit::parse(s).ok_or_else(|| bad_column(i, "unit"))
}

pub(crate) fn category_col(s: &str, i: usize) -> rusqlite::Result<Category> {
    Category::parse(s).ok_or_else(|| bad_column(i, "category"))
}

impl LedgerView for SqlView<'_> {
    type Error = rusqlite::Error;

    fn is_authoritative(&self) -> bool {
        self.authoritative
    }

    fn entry(&self, entry_id: &Uuid) -> rusqlite::Result<Option<EntryInfo>> {
        self.conn
            .prepare_cached("SELECT kind, merchant_id, voided_by IS NOT NULL, trace_code FROM entries WHERE entry_id = ?1")?
            .query_row([entry_id.to_string()], |r| {
                Ok(EntryInfo { kind: r.get(0)?, merchant_id: r.get(1)?, voided: r.get(2)?, trace_code: r.get(3)? })
            })
            .optional()
    }

    fn batch(&self, trace_code: &str) -> rusqlite::Result<Option<BatchInfo>> {
        self.conn
            .prepare_cached(
                "SELECT trace_code, merchant_id, category, unit, received, out_qty, adjusted, expiry_date, voided, active_movements
                 FROM batches WHERE trace_code = ?1",
            )?
            .query_row([trace_code], |r| {
                let expiry: Option<String> = r.get(7)?;
                Ok(BatchInfo {
                    trace_code: r.get(0)?,
                    merchant_id: r.get(1)?,
                    category: category_col(&r.get::<_, String>(2)?, 2)?,
                    unit: unit_col(&r.get::<_, String>(3)?, 3)?,
                    received: r.get(4)?,
                    out: r.get(5)?,
                    adjusted: r.get(6)?,
                    expiry_date: expiry.and_then(|d| NaiveDate::parse_from_str(&d, "%Y-%m-%d").ok()),
                    voided: r.get(8)?,
                    active_movements: r.get(9)?,
                })
            })
            .optional()
    }

    fn voucher(&self, code: &str) -> rusqlite::Result<Option<VoucherInfo>> {
        self.conn
            .prepare_cached(
                "SELECT m.merchant_id, m.buyer_merchant_id, m.trace_code, m.amount, b.unit, b.category,
                        (SELECT c.trace_code FROM batches c WHERE c.voucher_code = m.voucher_code AND c.voided = 0 LIMIT 1)
                 FROM movements m JOIN batches b ON b.trace_code = m.trace_code
                 WHERE m.voucher_code = ?1 AND m.voided = 0",
            )?
            .query_row([code], |r| {
                Ok(VoucherInfo {
                    code: code.to_owned(),
                    seller_merchant_id: r.get(0)?,
                    buyer_merchant_id: r.get::<_, Option<String>>(1)?.unwrap_or_default(),
                    from_trace_code: r.get(2)?,
                    quantity: Quantity::new(r.get(3)?, unit_col(&r.get::<_, String>(4)?, 4)?),
                    category: category_col(&r.get::<_, String>(5)?, 5)?,
                    redeemed_by: r.get(6)?,
                })
            })
            .optional()
    }

    fn code_in_use(&self, code: &str) -> rusqlite::Result<bool> {
        self.conn
            .prepare_cached(
                "SELECT EXISTS(SELECT 1 FROM batches WHERE trace_code = ?1)
                     OR EXISTS(SELECT 1 FROM movements WHERE voucher_code = ?1)",
            )?
            .query_row([code], |r| r.get(0))
    }
}
