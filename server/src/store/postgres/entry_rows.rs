//! The rows of a push's accepted ledger events, written together: a push of
//! 500 events wrote its entries, warnings and codes one `INSERT` at a time,
//! 1,000-odd round trips (each parsed and planned again), and pushed at 5 %
//! of a `COPY` of the same rows (README, "PostgreSQL and several
//! instances"). Now [`EntryRows`] keeps them and [`EntryRows::flush`] writes
//! each table's rows with one `INSERT … SELECT FROM unnest(…)` and the
//! vouchers' redemptions with one locking read and one `UPDATE`.
//!
//! **When rows are flushed:** before any other statement of the push that
//! could read or change them ([`super::txn::PgTxn::with`] flushes first;
//! only reads of tables these rows never touch skip it, `PgTxn::read`), and
//! before the push writes its feed's head and commits. So every statement
//! sees the push's own entries as if each had been written at once, and
//! the transaction commits all of them or none, as before.
//!
//! A code another instance took meanwhile is still a unique violation, now
//! of the batched `INSERT`; a voucher another instance redeemed is still
//! seen under its row's lock. Either fails the push as retryable, as a lost
//! race did one row at a time.

use chrono::{DateTime, Utc};
use postgres::Transaction;
use shian_core::event::LedgerEvent;
use shian_core::ledger::Warning;

use super::error::PgError;
use super::txn::FeedHead;
use crate::store::StoreError;

/// Rows waiting to be written, by table, in the order they were made.
#[derive(Debug, Default)]
pub struct EntryRows {
    entries: Entries,
    warnings: Warnings,
    codes: Codes,
    redeems: Redeems,
}

#[derive(Debug, Default)]
struct Entries {
    region: Vec<String>,
    id: Vec<String>,
    pos: Vec<i64>,
    kind: Vec<String>,
    merchant: Vec<String>,
    at: Vec<String>,
    recorded: Vec<DateTime<Utc>>,
    trace: Vec<Option<String>>,
    payload: Vec<String>,
}

#[derive(Debug, Default)]
struct Warnings {
    region: Vec<String>,
    entry: Vec<String>,
    merchant: Vec<String>,
    code: Vec<String>,
    message: Vec<String>,
    evidence: Vec<serde_json::Value>,
    at: Vec<DateTime<Utc>>,
}

#[derive(Debug, Default)]
struct Codes {
    code: Vec<String>,
    kind: Vec<String>,
    region: Vec<String>,
    merchant: Vec<String>,
    entry: Vec<String>,
    trace: Vec<Option<String>>,
    at: Vec<DateTime<Utc>>,
}

/// Vouchers scanned on receipt: each redemption set under its row's lock.
#[derive(Debug, Default)]
struct Redeems {
    voucher: Vec<String>,
    region: Vec<String>,
    merchant: Vec<String>,
    entry: Vec<String>,
    at: Vec<DateTime<Utc>>,
}

/// A code another instance took (or redeemed) while this push was open:
/// the push is retried, and the retry is judged on the other's facts.
pub(super) fn lost_race(what: String) -> StoreError {
    tracing::info!(reason = %what, "postgres: a push met another instance's commit; retry");
    StoreError::Busy
}

impl EntryRows {
    /// Keeps the rows of an accepted event (a push's, or the ledger
    /// load's): the entry at the feed's next position, its warnings, and
    /// the rows of `codes` it makes or redeems. A void changes rows already
    /// written, so it flushes and writes at once.
    pub(super) fn record(
        &mut self,
        tx: &mut Transaction<'_>,
        feed: &mut FeedHead,
        event: &LedgerEvent,
        wire: &str,
        warnings: &[Warning],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let entry_id = event.entry_id().to_string();
        let merchant = event.merchant_id();
        let d = feed.district.as_str();
        let batch_code = match event {
            LedgerEvent::Purchase(p) => p.trace_code.clone(),
            LedgerEvent::Sale(s) => Some(s.trace_code.clone()),
            LedgerEvent::Adjust(a) => Some(a.trace_code.clone()),
            LedgerEvent::Dispose(x) => Some(x.trace_code.clone()),
            LedgerEvent::Void(_) => None,
        };
        feed.head += 1;
        let e = &mut self.entries;
        e.region.push(d.to_owned());
        e.id.push(entry_id.clone());
        e.pos.push(feed.head);
        e.kind.push(event.kind().to_owned());
        e.merchant.push(merchant.to_owned());
        e.at.push(event.at().to_rfc3339());
        e.recorded.push(now);
        e.trace.push(batch_code);
        e.payload.push(wire.to_owned());
        for w in warnings {
            let ws = &mut self.warnings;
            ws.region.push(d.to_owned());
            ws.entry.push(entry_id.clone());
            ws.merchant.push(merchant.to_owned());
            ws.code.push(w.code.clone());
            ws.message.push(w.message.clone());
            ws.evidence.push(w.evidence.clone());
            ws.at.push(now);
        }
        let mut code = |code: &str, kind: &str, trace: Option<&str>| {
            let c = &mut self.codes;
            c.code.push(code.to_owned());
            c.kind.push(kind.to_owned());
            c.region.push(d.to_owned());
            c.merchant.push(merchant.to_owned());
            c.entry.push(entry_id.clone());
            c.trace.push(trace.map(str::to_owned));
            c.at.push(now);
        };
        match event {
            LedgerEvent::Purchase(p) => {
                if let Some(t) = &p.trace_code {
                    code(t, "trace", None);
                }
                if let Some(v) = &p.voucher_code {
                    let r = &mut self.redeems;
                    r.voucher.push(v.clone());
                    r.region.push(d.to_owned());
                    r.merchant.push(merchant.to_owned());
                    r.entry.push(entry_id.clone());
                    r.at.push(now);
                }
            }
            LedgerEvent::Sale(s) => {
                if let Some(v) = &s.voucher_code {
                    code(v, "voucher", Some(&s.trace_code));
                }
            }
            LedgerEvent::Void(v) => {
                self.flush(tx)?;
                let voided = v.voided_entry_id.to_string();
                tx.execute(
                    "UPDATE entries SET voided_by = $1 WHERE region_code = $2 AND entry_id = $3",
                    &[&entry_id, &d, &voided],
                )?;
                // A voided purchase gives its voucher back, as the rules do.
                tx.execute(
                    "UPDATE codes SET redeemed_region = NULL, redeemed_by = NULL, redeemed_entry_id = NULL, redeemed_at = NULL
                     WHERE redeemed_entry_id = $1 AND redeemed_region = $2",
                    &[&voided, &d],
                )?;
            }
            LedgerEvent::Adjust(_) | LedgerEvent::Dispose(_) => {}
        }
        Ok(())
    }

    /// Writes every row kept, and forgets them.
    pub(super) fn flush(&mut self, tx: &mut Transaction<'_>) -> Result<(), StoreError> {
        let rows = std::mem::take(self);
        let e = &rows.entries;
        if !e.id.is_empty() {
            tx.execute(
                "INSERT INTO entries (region_code, entry_id, pos, kind, merchant_id, at, recorded_at, trace_code, payload)
                 SELECT r, e, p, k, m, a, t, c, pl::json
                 FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::text[],
                             $7::timestamptz[], $8::text[], $9::text[]) WITH ORDINALITY AS u(r, e, p, k, m, a, t, c, pl, n)
                 ORDER BY n",
                &[&e.region, &e.id, &e.pos, &e.kind, &e.merchant, &e.at, &e.recorded, &e.trace, &e.payload],
            )?;
        }
        let w = &rows.warnings;
        if !w.entry.is_empty() {
            // In order: `warnings.id` is the order they are answered in.
            tx.execute(
                "INSERT INTO warnings (region_code, entry_id, merchant_id, code, message, evidence, at)
                 SELECT r, e, m, c, msg, ev, t
                 FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::jsonb[],
                             $7::timestamptz[]) WITH ORDINALITY AS u(r, e, m, c, msg, ev, t, n)
                 ORDER BY n",
                &[&w.region, &w.entry, &w.merchant, &w.code, &w.message, &w.evidence, &w.at],
            )?;
        }
        let c = &rows.codes;
        if !c.code.is_empty() {
            tx.execute(
                "INSERT INTO codes (code, kind, region_code, merchant_id, entry_id, trace_code, created_at)
                 SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                                      $7::timestamptz[])",
                &[&c.code, &c.kind, &c.region, &c.merchant, &c.entry, &c.trace, &c.at],
            )
            .map_err(|e| match PgError::from(e) {
                PgError::Unique { message, .. } => lost_race(format!("code taken: {message}")),
                other => other.into(),
            })?;
        }
        rows.redeems.write(tx)
    }
}

impl Redeems {
    /// Each voucher's one redemption, set under its row's lock (rows taken
    /// in code order, so two pushes never wait for each other in a
    /// circle). A voucher with no row was not issued on this platform (the
    /// rules judged it as such); one another entry redeemed lost a race.
    fn write(&self, tx: &mut Transaction<'_>) -> Result<(), StoreError> {
        if self.voucher.is_empty() {
            return Ok(());
        }
        let locked = tx.query(
            "SELECT code, redeemed_entry_id FROM codes WHERE code = ANY($1) AND kind = 'voucher'
             ORDER BY code FOR UPDATE",
            &[&self.voucher],
        )?;
        for r in &locked {
            let (code, by): (&str, Option<&str>) = (r.get(0), r.get(1));
            let Some(by) = by else { continue };
            let ours = self
                .voucher
                .iter()
                .zip(&self.entry)
                .any(|(v, e)| v == code && e == by);
            if !ours {
                return Err(lost_race(format!("voucher {code} redeemed by {by}")));
            }
        }
        tx.execute(
            "UPDATE codes SET redeemed_region = u.r, redeemed_by = u.m, redeemed_entry_id = u.e, redeemed_at = u.t
             FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[]) AS u(v, r, m, e, t)
             WHERE codes.code = u.v AND codes.kind = 'voucher'",
            &[&self.voucher, &self.region, &self.merchant, &self.entry, &self.at],
        )?;
        Ok(())
    }
}
