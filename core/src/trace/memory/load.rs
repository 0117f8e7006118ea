//! Building a [`MemoryGraph`] from a SQLite ledger (the server at start-up).
//! Rows are read in arrival (rowid) order, so the graph answers exactly as
//! [`crate::trace::SqlGraph`] over the same file does.

use chrono::NaiveDate;
use rusqlite::Connection;
use uuid::Uuid;

use super::build::{KindIn, MovementIn, PurchaseIn};
use super::records::Kind;
use super::{packed, GraphError, MemoryGraph};
use crate::category::Category;
use crate::quantity::Quantity;
use crate::trace::sql;
use crate::trace::MovementKind;

fn entry_id(s: &str) -> Result<u128, GraphError> {
    Uuid::parse_str(s)
        .map(|u| u.as_u128())
        .map_err(|_| GraphError::Storage(format!("unreadable entry id {s:?}")))
}

impl MemoryGraph {
    /// Loads every batch, movement and directory name of a ledger.
    pub fn load(conn: &Connection) -> Result<Self, GraphError> {
        let mut g = MemoryGraph::new();
        let mut st = conn.prepare(
            "SELECT entry_id, trace_code, merchant_id, product_name, unit, received, voucher_code, supplier, received_at, voided,
                    category, expiry_date
             FROM batches ORDER BY rowid",
        )?;
        let mut rows = st.query([])?;
        while let Some(r) = rows.next()? {
            let (entry, code, merchant, product): (String, String, String, String) =
                (r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?);
            let (unit, voucher, supplier, at): (String, Option<String>, String, String) =
                (r.get(4)?, r.get(6)?, r.get(7)?, r.get(8)?);
            g.add_purchase(PurchaseIn {
                entry: entry_id(&entry)?,
                trace_code: packed(&code)?,
                merchant: &merchant,
                product: &product,
                received: Quantity::new(r.get(5)?, sql::unit(&unit)?),
                voucher: voucher.as_deref().map(packed).transpose()?,
                supplier: sql::supplier(&supplier)?,
                received_at_ms: sql::time(&at)?.timestamp_millis(),
                voided: r.get(9)?,
                category: Category::parse(&r.get::<_, String>(10)?).ok_or_else(|| {
                    GraphError::Storage(format!("batch {code}: unknown category"))
                })?,
                expiry: r
                    .get::<_, Option<String>>(11)?
                    .and_then(|d| NaiveDate::parse_from_str(&d, "%Y-%m-%d").ok()),
            })?;
        }

        let mut st = conn.prepare(
            "SELECT entry_id, trace_code, merchant_id, kind, amount, voucher_code, buyer_merchant_id, buyer_name, at, voided
             FROM movements ORDER BY rowid",
        )?;
        let mut rows = st.query([])?;
        while let Some(r) = rows.next()? {
            let (entry, code, seller, kind, at): (String, String, String, String, String) =
                (r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(8)?);
            let (voucher, buyer, buyer_name): (Option<String>, Option<String>, Option<String>) =
                (r.get(5)?, r.get(6)?, r.get(7)?);
            let kind = match sql::movement_kind(&kind, voucher, buyer_name)? {
                MovementKind::SaleMerchant { voucher } => KindIn::SaleMerchant {
                    voucher: packed(&voucher)?,
                    seller: &seller,
                    buyer: buyer
                        .ok_or_else(|| {
                            GraphError::Storage(format!("sale {entry} to a merchant without buyer"))
                        })?
                        .into(),
                    sold_at_ms: sql::time(&at)?.timestamp_millis(),
                },
                MovementKind::SaleNamed { buyer_name } => KindIn::SaleNamed {
                    buyer_name: buyer_name.into(),
                },
                MovementKind::SaleRetail => KindIn::Plain(Kind::SaleRetail),
                MovementKind::Destroyed => KindIn::Plain(Kind::Destroyed),
                MovementKind::Returned => KindIn::Plain(Kind::Returned),
                MovementKind::Adjust => KindIn::Plain(Kind::Adjust),
            };
            g.insert_movement(MovementIn {
                entry: entry_id(&entry)?,
                trace_code: packed(&code)?,
                amount: r.get(4)?,
                kind,
                voided: r.get(9)?,
            })?;
        }

        // Void entries, so that their ids count as taken (the voids
        // themselves are already in the rows' `voided` flags).
        let mut st = conn.prepare("SELECT entry_id, merchant_id FROM entries WHERE kind = ?1")?;
        let mut rows = st.query([crate::event::VOID])?;
        while let Some(r) = rows.next()? {
            let (entry, merchant): (String, String) = (r.get(0)?, r.get(1)?);
            let m = g.merchant(&merchant)?;
            g.voids.insert(entry_id(&entry)?, m);
        }

        let mut st = conn.prepare("SELECT merchant_id, name FROM directory")?;
        let mut rows = st.query([])?;
        while let Some(r) = rows.next()? {
            let (id, name): (String, String) = (r.get(0)?, r.get(1)?);
            g.set_merchant_name(&id, &name)?;
        }
        g.compact();
        Ok(g)
    }
}
