//! Judging a ledger event and writing it, inside a transaction the caller
//! owns: the rules run before the first write, so a refused event writes
//! nothing. The device judges against its SQLite file and writes the entry
//! with its batch or movement rows ([`apply`]); the server judges against
//! its in-memory graph ([`judge`]) and writes the entry alone ([`record`]).

use chrono::{DateTime, SecondsFormat, Utc};
use rand::Rng;
use rusqlite::{params, Connection};
use serde::Serialize;
use serde_json::json;
use uuid::Uuid;

use crate::codes;
use crate::error::LedgerError;
use crate::event::{Buyer, DisposeMethod, LedgerEvent, Supplier};
use crate::ledger::{LedgerView, Warning};
use crate::rules::{self, LedgerRules};
use crate::store::view::SqlView;

/// What an accepted event produced.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Applied {
    pub entry_id: Uuid,
    pub kind: &'static str,
    /// The batch a purchase created.
    pub trace_code: Option<String>,
    /// The voucher a sale to a merchant issued.
    pub voucher_code: Option<String>,
    pub warnings: Vec<Warning>,
}

/// Fills in the codes the device (or the server, for an online client) makes:
/// a purchase's trace code, the voucher of a sale to a merchant.
pub fn assign_codes<V, R>(event: &mut LedgerEvent, view: &V, rng: &mut R) -> Result<(), LedgerError>
where
    V: LedgerView,
    LedgerError: From<V::Error>,
    R: Rng + ?Sized,
{
    let Some(slot) = event.missing_code() else {
        return Ok(());
    };
    loop {
        let code = codes::new_code(rng);
        if !view.code_in_use(&code)? {
            *slot = Some(code);
            return Ok(());
        }
    }
}

/// Checks and writes one event. The caller runs this inside a transaction
/// (or savepoint) and rolls back on `Err`.
pub fn apply<R: Rng + ?Sized>(
    conn: &Connection,
    event: &mut LedgerEvent,
    rules: &LedgerRules,
    now: DateTime<Utc>,
    authoritative: bool,
    rng: &mut R,
) -> Result<Applied, LedgerError> {
    let view = SqlView {
        conn,
        authoritative,
    };
    let warnings = judge(event, &view, rules, now, rng)?;
    write(conn, event, &warnings, now, authoritative)?;
    Ok(Applied::new(event, warnings))
}

impl Applied {
    /// What an event judged and written produced.
    pub fn new(event: &LedgerEvent, warnings: Vec<Warning>) -> Self {
        Applied {
            entry_id: event.entry_id(),
            kind: event.kind(),
            trace_code: match event {
                LedgerEvent::Purchase(p) => p.trace_code.clone(),
                _ => None,
            },
            voucher_code: match event {
                LedgerEvent::Sale(s) => s.voucher_code.clone(),
                _ => None,
            },
            warnings,
        }
    }
}

/// Runs the rules against `view` and fills in the codes the event lacks:
/// everything short of writing. Any [`LedgerView`] will do — the device's
/// SQLite file, or the server's in-memory graph.
pub fn judge<V, R>(
    event: &mut LedgerEvent,
    view: &V,
    rules: &LedgerRules,
    now: DateTime<Utc>,
    rng: &mut R,
) -> Result<Vec<Warning>, LedgerError>
where
    V: LedgerView,
    LedgerError: From<V::Error>,
    R: Rng + ?Sized,
{
    let warnings = rules::check(event, view, rules, now)?;
    assign_codes(event, view, rng)?;
    Ok(warnings)
}

fn write(
    conn: &Connection,
    event: &LedgerEvent,
    warnings: &[Warning],
    now: DateTime<Utc>,
    authoritative: bool,
) -> rusqlite::Result<()> {
    record(conn, event, &event.to_wire_string(), warnings, now)?;
    let entry_id = event.entry_id().to_string();
    let merchant = event.merchant_id();
    let at = event.at().to_rfc3339();
    match event {
        LedgerEvent::Purchase(p) => {
            let supplier = match &p.supplier {
                Supplier::Merchant { merchant_id } => json!({"merchant_id": merchant_id}),
                Supplier::External {
                    name,
                    uscc,
                    region_code,
                } => json!({"name": name, "uscc": uscc, "region_code": region_code}),
            };
            conn.prepare_cached(
                "INSERT INTO batches (trace_code, entry_id, merchant_id, product_name, category, gtin, unit, received,
                     voucher_code, supplier, production_date, expiry_date, unit_price_fen, received_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
            )?
            .execute(params![
                p.trace_code,
                entry_id,
                merchant,
                p.product.name,
                p.product.category.as_str(),
                p.product.gtin,
                p.quantity.unit.as_str(),
                p.quantity.amount,
                p.voucher_code,
                supplier.to_string(),
                p.production_date.map(|d| d.to_string()),
                p.expiry_date.map(|d| d.to_string()),
                p.unit_price_fen,
                at,
            ])?;
            // A device may hold movements of a batch it learns of later (a
            // second device's sale pulled first): count them in. The
            // authoritative store refuses a movement of an unknown batch, so
            // there are none to count.
            if !authoritative {
                conn.prepare_cached(
                    "UPDATE batches SET
                        out_qty = (SELECT COALESCE(SUM(amount), 0) FROM movements WHERE trace_code = ?1 AND voided = 0 AND kind <> 'adjust'),
                        adjusted = (SELECT COALESCE(SUM(amount), 0) FROM movements WHERE trace_code = ?1 AND voided = 0 AND kind = 'adjust'),
                        active_movements = (SELECT COUNT(*) FROM movements WHERE trace_code = ?1 AND voided = 0)
                     WHERE trace_code = ?1",
                )?
                .execute([&p.trace_code])?;
            }
        }
        LedgerEvent::Sale(s) => {
            let (kind, buyer_id, buyer_name) = match &s.buyer {
                Buyer::Merchant { merchant_id } => {
                    ("sale_merchant", Some(merchant_id.as_str()), None)
                }
                Buyer::Named { name } => ("sale_named", None, Some(name.as_str())),
                Buyer::Retail => ("sale_retail", None, None),
            };
            movement(
                conn,
                &entry_id,
                &s.trace_code,
                merchant,
                kind,
                s.quantity.amount,
                buyer_id,
                buyer_name,
                s.voucher_code.as_deref(),
                s.unit_price_fen,
                &at,
            )?;
        }
        LedgerEvent::Dispose(d) => {
            let kind = match d.method {
                DisposeMethod::Destroyed => "destroyed",
                DisposeMethod::Returned => "returned",
            };
            movement(
                conn,
                &entry_id,
                &d.trace_code,
                merchant,
                kind,
                d.quantity.amount,
                None,
                None,
                None,
                None,
                &at,
            )?;
        }
        LedgerEvent::Adjust(a) => {
            movement(
                conn,
                &entry_id,
                &a.trace_code,
                merchant,
                "adjust",
                a.delta.amount,
                None,
                None,
                None,
                None,
                &at,
            )?;
        }
        LedgerEvent::Void(v) => {
            let target = v.voided_entry_id.to_string();
            conn.prepare_cached("UPDATE batches SET voided = 1 WHERE entry_id = ?1")?
                .execute([&target])?;
            let moved: Option<(String, String, i64)> = {
                let mut st = conn.prepare_cached("SELECT trace_code, kind, amount FROM movements WHERE entry_id = ?1 AND voided = 0")?;
                let mut rows = st.query([&target])?;
                match rows.next()? {
                    Some(r) => Some((r.get(0)?, r.get(1)?, r.get(2)?)),
                    None => None,
                }
            };
            if let Some((code, kind, amount)) = moved {
                conn.prepare_cached("UPDATE movements SET voided = 1 WHERE entry_id = ?1")?
                    .execute([&target])?;
                let (out, adj) = if kind == "adjust" {
                    (0, amount)
                } else {
                    (amount, 0)
                };
                conn.prepare_cached(
                    "UPDATE batches SET out_qty = out_qty - ?1, adjusted = adjusted - ?2, active_movements = active_movements - 1 WHERE trace_code = ?3",
                )?
                .execute(params![out, adj, code])?;
            }
        }
    }
    Ok(())
}

/// Writes an accepted event's entry row (the ledger itself, and the
/// server's pull feed), marks a voided entry, and keeps its warnings. This
/// is all the server writes: batches and balances live in its in-memory
/// graph, rebuilt from these rows on start. `payload` is the event's
/// canonical wire form (`event.to_wire_string()`), which the server serializes
/// before its single writer when the event already carries its codes.
pub fn record(
    conn: &Connection,
    event: &LedgerEvent,
    payload: &str,
    warnings: &[Warning],
    now: DateTime<Utc>,
) -> rusqlite::Result<()> {
    let recorded_at = now.to_rfc3339_opts(SecondsFormat::Millis, true);
    let entry_id = event.entry_id().to_string();
    let merchant = event.merchant_id();
    let batch_code = match event {
        LedgerEvent::Purchase(p) => p.trace_code.as_deref(),
        LedgerEvent::Sale(s) => Some(s.trace_code.as_str()),
        LedgerEvent::Adjust(a) => Some(a.trace_code.as_str()),
        LedgerEvent::Dispose(d) => Some(d.trace_code.as_str()),
        LedgerEvent::Void(_) => None,
    };
    conn.prepare_cached(
        "INSERT INTO entries (entry_id, kind, merchant_id, at, recorded_at, trace_code, payload) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![entry_id, event.kind(), merchant, event.at().to_rfc3339(), recorded_at, batch_code, payload])?;
    if let LedgerEvent::Void(v) = event {
        conn.prepare_cached("UPDATE entries SET voided_by = ?1 WHERE entry_id = ?2")?
            .execute(params![entry_id, v.voided_entry_id.to_string()])?;
    }
    if !warnings.is_empty() {
        let mut st = conn.prepare_cached(
            "INSERT INTO warnings (entry_id, merchant_id, code, message, evidence, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?;
        for w in warnings {
            st.execute(params![
                entry_id,
                merchant,
                w.code,
                w.message,
                w.evidence.to_string(),
                recorded_at
            ])?;
        }
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn movement(
    conn: &Connection,
    entry_id: &str,
    trace_code: &str,
    merchant: &str,
    kind: &str,
    amount: i64,
    buyer_id: Option<&str>,
    buyer_name: Option<&str>,
    voucher: Option<&str>,
    price: Option<i64>,
    at: &str,
) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO movements (entry_id, trace_code, merchant_id, kind, amount, buyer_merchant_id, buyer_name, voucher_code, unit_price_fen, at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?
    .execute(params![entry_id, trace_code, merchant, kind, amount, buyer_id, buyer_name, voucher, price, at])?;
    let (out, adj) = if kind == "adjust" {
        (0, amount)
    } else {
        (amount, 0)
    };
    conn.prepare_cached(
        "UPDATE batches SET out_qty = out_qty + ?1, adjusted = adjusted + ?2, active_movements = active_movements + 1 WHERE trace_code = ?3",
    )?
    .execute(params![out, adj, trace_code])?;
    Ok(())
}
