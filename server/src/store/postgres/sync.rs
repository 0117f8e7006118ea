//! The two sides of sync on PostgreSQL: the push transaction ([`push`],
//! [`PushTx`] for [`PgTxn`]) and the feeds a pull pages through
//! ([`PullReads`] for [`Shared`]). The decisions are the sync service's
//! (`crate::sync::push`, `crate::sync::pull`), as on SQLite.
//!
//! **How any instance may take any push.** A push writes ledger entries
//! for one merchant (the service refuses another's), so for one district.
//! It first locks that district's sequencer row (`ledger_heads`, `SELECT …
//! FOR UPDATE`), then catches the instance's ledger graph up with every
//! committed entry, then judges with core's rules on the graph. Under the
//! row lock no other push of the district can commit, so the graph holds
//! the district exactly as the database does: the rules judge committed
//! facts, whichever instance took the earlier pushes. What crosses
//! districts is held by rows of `codes` (one per trace or voucher code):
//! a code made twice at once is a unique violation, and a voucher's one
//! redemption is its row's `redeemed_*`, set under the row's lock. When two
//! instances meet there (their graphs could not see each other's open
//! pushes), the later push fails as retryable (503), its graph is rebuilt,
//! and the retry is judged on the winner's committed facts. Exactly once:
//! `entries` and `ops` are keyed by op id (an entry id is its op id).
//!
//! The positions a push gives its entries come from the row it locked, so
//! a district's feed is gapless and in commit order: a pull or a follower
//! that has read position p has everything below it.

use std::cell::RefCell;
use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use postgres::{Client, GenericClient, Transaction};
use serde_json::Value;
use shian_core::event::LedgerEvent;
use shian_core::ledger::Warning;
use shian_core::rules::LedgerRules;
use shian_core::sync::protocol::{Change, Cursor, OpResult};

use super::district;
use super::txn::{FeedHead, PgTxn};
use crate::store::field::FieldWrite;
use crate::store::graph::{Marks, Writing};
use crate::store::ledger::{Caller, Prepared};
use crate::store::sync::{FeedScope, LoggedOp, NewLoggedOp, PullReads, PushTx, RecordedEntry};
use crate::store::StoreError;

/// A connection or transaction behind a `RefCell`, for the store traits
/// that read through `&self` ([`PullReads`], `LedgerSource`): one
/// blocking call at a time holds it, so borrows never overlap.
pub struct Shared<'a, C>(RefCell<&'a mut C>);

impl<'a, C: GenericClient> Shared<'a, C> {
    pub fn new(c: &'a mut C) -> Self {
        Shared(RefCell::new(c))
    }

    /// Runs `f` on the connection.
    pub fn with<R>(
        &self,
        f: impl FnOnce(&mut C) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        f(&mut self.0.borrow_mut())
    }

    /// The connection itself (to open a transaction on it).
    pub fn get_mut(&mut self) -> &mut C {
        self.0.get_mut()
    }
}

/// The district a caller's ops other than ledger entries are logged under
/// (`ops.region_code`): its merchant's, its first region or market's, or
/// `000000` — the same for every push of the caller, so a retried op is
/// found in the shard that logged it.
fn log_district(c: &mut impl GenericClient, caller: &Caller) -> Result<String, StoreError> {
    if let Some(m) = &caller.merchant_id {
        if let Some(d) = district::of_merchant(c, m)? {
            return Ok(d);
        }
    }
    if let Some(r) = caller.regions.first() {
        return Ok(r.clone());
    }
    if let Some(m) = caller.markets.first() {
        if let Some(d) = district::of_market(c, m)? {
            return Ok(d);
        }
    }
    Ok("000000".into())
}

/// Locks a district's sequencer row (making it at 0 if it is the
/// district's first entry) and returns its head.
pub(super) fn lock_head(tx: &mut Transaction<'_>, district: &str) -> Result<i64, StoreError> {
    tx.execute(
        "INSERT INTO ledger_heads (region_code, head) VALUES ($1, 0) ON CONFLICT (region_code) DO NOTHING",
        &[&district],
    )?;
    Ok(tx
        .query_one(
            "SELECT head FROM ledger_heads WHERE region_code = $1 FOR UPDATE",
            &[&district],
        )?
        .get(0))
}

/// Writes a held feed's head back (before the commit).
pub(super) fn store_head(tx: &mut Transaction<'_>, feed: &FeedHead) -> Result<(), StoreError> {
    if feed.head > feed.taken {
        tx.execute(
            "UPDATE ledger_heads SET head = $2 WHERE region_code = $1",
            &[&feed.district, &feed.head],
        )?;
    }
    Ok(())
}

/// Applies a push in one transaction: the district locked, the graph
/// caught up, the service's decisions stored, the head written, committed.
#[allow(clippy::too_many_arguments)] // the push's context, passed through
pub fn push(
    conn: &mut Shared<'_, Client>,
    graph: &mut Writing<'_>,
    caller: &Caller,
    device_id: &str,
    pulled: Option<i64>,
    ops: Vec<Prepared>,
    rules: &LedgerRules,
    now: DateTime<Utc>,
) -> Result<(Vec<OpResult>, String), StoreError> {
    let mut tx = conn.get_mut().transaction()?;
    let logged_under = log_district(&mut tx, caller)?;
    let writes_ledger = ops.iter().any(|p| p.event.is_some());
    let feed = match (&caller.merchant_id, writes_ledger) {
        (Some(m), true) => match district::of_merchant(&mut tx, m)? {
            Some(d) => {
                let head = lock_head(&mut tx, &d)?;
                Some(FeedHead {
                    district: d,
                    taken: head,
                    head,
                })
            }
            None => None,
        },
        _ => None,
    };
    // Under the district's lock: the graph holds what is committed.
    graph.catch_up(&Shared::new(&mut tx))?;
    let (answer, feed, touched) = {
        let mut txn = PgTxn::for_push(&mut tx, feed, logged_under);
        let answer =
            crate::sync::push::run(&mut txn, graph, caller, device_id, pulled, ops, rules, now)?;
        let (feed, touched) = txn.finish()?;
        (answer, feed, touched)
    };
    // Every merchant whose facts the push wrote (an inspector's samples of
    // another's shop, a decision on its complaint), not only the caller's.
    for m in &touched {
        super::alerts::mark(&mut tx, m)?;
    }
    if let Some(feed) = &feed {
        store_head(&mut tx, feed)?;
        if feed.head > feed.taken {
            let mut marks = Marks::default();
            marks.raise(&feed.district, feed.head);
            graph.advance_to(&marks);
        }
    }
    tx.commit()?;
    Ok(answer)
}

impl PushTx for PgTxn<'_, '_> {
    fn claim_device(
        &mut self,
        device_id: &str,
        user_id: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.with(|tx| {
            let owner = tx.query_opt(
                "SELECT user_id, last_seen FROM devices WHERE id = $1",
                &[&device_id],
            )?;
            match owner {
                Some(r) if r.get::<_, String>(0) != user_id => Ok(false),
                Some(r) => {
                    // `devices` is a reference table (a write reaches every
                    // node): refreshed once a minute, not on every push.
                    let seen: Option<DateTime<Utc>> = r.get(1);
                    if seen.is_none_or(|s| now - s > Duration::minutes(1)) {
                        tx.execute(
                            "UPDATE devices SET last_seen = $2 WHERE id = $1",
                            &[&device_id, &now],
                        )?;
                    }
                    Ok(true)
                }
                None => {
                    tx.execute(
                        "INSERT INTO devices (id, user_id, name, created_at, last_seen) VALUES ($1, $2, $1, $3, $3)",
                        &[&device_id, &user_id, &now],
                    )?;
                    Ok(true)
                }
            }
        })
    }

    fn logged_ops(&mut self, op_ids: &[&str]) -> Result<HashMap<String, LoggedOp>, StoreError> {
        let ids: Vec<String> = op_ids.iter().map(|s| (*s).to_owned()).collect();
        self.with(|tx| {
            Ok(tx
                .query(
                    "SELECT op_id, status, outcome::text, user_id FROM ops WHERE op_id = ANY($1)",
                    &[&ids],
                )?
                .into_iter()
                .map(|r| {
                    (
                        r.get(0),
                        LoggedOp {
                            status: r.get(1),
                            outcome: r.get(2),
                            user_id: r.get(3),
                        },
                    )
                })
                .collect())
        })
    }

    fn log_op(&mut self, o: NewLoggedOp<'_>) -> Result<(), StoreError> {
        let d = self.log_district.clone();
        self.with(|tx| {
            tx.execute(
                "INSERT INTO ops (region_code, op_id, device_id, user_id, kind, status, outcome, received_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7::text::json, $8)",
                &[&d, &o.op_id, &o.device_id, &o.user_id, &o.kind, &o.status, &o.outcome, &o.received_at],
            )
        })?;
        Ok(())
    }

    fn merchant_exists(&mut self, merchant_id: &str) -> Result<bool, StoreError> {
        self.with(|tx| {
            Ok(tx
                .query_one(
                    "SELECT EXISTS (SELECT 1 FROM merchants WHERE id = $1)",
                    &[&merchant_id],
                )?
                .get(0))
        })
    }

    fn recorded_entry(&mut self, entry_id: &str) -> Result<RecordedEntry, StoreError> {
        self.try_with(|tx| {
            let r = tx.query_one(
                "SELECT kind, payload::text FROM entries WHERE entry_id = $1",
                &[&entry_id],
            )?;
            let warnings = tx
                .query(
                    "SELECT code, message, evidence FROM warnings WHERE entry_id = $1 ORDER BY id",
                    &[&entry_id],
                )?
                .into_iter()
                .map(|w| Warning {
                    code: w.get(0),
                    message: w.get(1),
                    evidence: w.get(2),
                })
                .collect();
            Ok(RecordedEntry {
                kind: r.get(0),
                payload: r.get(1),
                warnings,
            })
        })
    }

    fn record_entry(
        &mut self,
        event: &LedgerEvent,
        wire: &str,
        warnings: &[Warning],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut feed = self.feed.borrow_mut();
        let Some(feed) = feed.as_mut() else {
            // The service accepts ledger events of the caller's own
            // merchant only, whose district the push locked.
            return Err(StoreError::Backend(format!(
                "entry {} of merchant {} outside the push's district",
                event.entry_id(),
                event.merchant_id()
            )));
        };
        self.record(feed, event, wire, warnings, now)?;
        self.touch(event.merchant_id());
        Ok(())
    }

    fn persist_field(&mut self, writes: &[FieldWrite]) -> Result<(), StoreError> {
        self.try_with(|tx| super::field_ops::persist(tx, writes))?;
        for w in writes {
            // Of the field writes, the alerts read the samples.
            if let FieldWrite::Sample(s) = w {
                self.touch(&s.record.merchant_id);
            }
        }
        Ok(())
    }

    fn entries_end(&mut self) -> Result<i64, StoreError> {
        Ok(self.feed.borrow().as_ref().map_or(0, |f| f.head))
    }

    fn feeds_end(&mut self) -> Result<Cursor, StoreError> {
        let entries = self.entries_end()?;
        let changes = self.with(|tx| {
            Ok(tx
                .query_one("SELECT head FROM changes_head WHERE feed = 'changes'", &[])?
                .get(0))
        })?;
        Ok(Cursor { changes, entries })
    }

    fn record_push(
        &mut self,
        device_id: &str,
        user_id: &str,
        received_at: DateTime<Utc>,
        first: i64,
        last: i64,
    ) -> Result<(), StoreError> {
        let Some(d) = self.feed.borrow().as_ref().map(|f| f.district.clone()) else {
            return Ok(());
        };
        self.with(|tx| {
            tx.execute(
                "INSERT INTO pushes (region_code, device_id, user_id, received_at, first_pos, last_pos) VALUES ($1, $2, $3, $4, $5, $6)",
                &[&d, &device_id, &user_id, &received_at, &first, &last],
            )
        })?;
        Ok(())
    }
}

/// A change row: its payload is JSON.
fn change(r: &postgres::Row) -> Change {
    Change {
        seq: r.get(0),
        kind: r.get(1),
        payload: r.get(2),
    }
}

/// The feeds as a connection sees them (committed rows only).
impl<C: GenericClient> PullReads for Shared<'_, C> {
    fn changes_after(
        &self,
        seq: i64,
        scope: &FeedScope,
        limit: usize,
    ) -> Result<Vec<Change>, StoreError> {
        let prefixes: Vec<String> = scope.inspector_prefixes.clone().unwrap_or_default();
        let inspector = scope.inspector_prefixes.is_some();
        let limit = limit as i64;
        self.with(|c| {
            Ok(c.query(
                "SELECT seq, kind, payload FROM changes
                 WHERE seq > $1 AND (
                       (merchant_id IS NULL AND region_code IS NULL AND user_id IS NULL AND market_id IS NULL)
                    OR ($2::text IS NOT NULL AND merchant_id = $2)
                    OR ($4 AND EXISTS (SELECT 1 FROM unnest($3::text[]) r(p) WHERE left(changes.region_code, length(r.p)) = r.p))
                    OR user_id = $5
                    OR market_id = ANY($7))
                 ORDER BY seq LIMIT $6",
                &[&seq, &scope.merchant_id, &prefixes, &inspector, &scope.user_id, &limit, &scope.market_ids],
            )?
            .iter()
            .map(change)
            .collect())
        })
    }

    /// A merchant's entries in its district's feed order.
    fn entries_after(
        &self,
        merchant_id: &str,
        position: i64,
        limit: usize,
    ) -> Result<Vec<Change>, StoreError> {
        let limit = limit as i64;
        self.with(|c| {
            Ok(c.query(
                "SELECT e.pos, e.kind, e.payload::text FROM entries e
                 WHERE e.region_code = (SELECT region_code FROM merchants WHERE id = $1)
                   AND e.merchant_id = $1 AND e.pos > $2 ORDER BY e.pos LIMIT $3",
                &[&merchant_id, &position, &limit],
            )?
            .iter()
            .map(|r| {
                let payload: String = r.get(2);
                Change {
                    seq: r.get(0),
                    kind: r.get(1),
                    // As SQLite's: the stored wire form, parsed (jsonb
                    // would reorder keys and normalise numbers).
                    payload: serde_json::from_str(&payload).unwrap_or(Value::Null),
                }
            })
            .collect())
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use shian_core::sync::protocol::{Op, OpStatus};

    use super::super::testing::{add_market, add_merchant, add_user, fresh};
    use super::super::{PgOptions, PgStore};
    use crate::store::ledger::LedgerStore;
    use crate::store::ledger::{Caller, Prepared};

    fn merchant(user: &str, merchant: &str) -> Caller {
        Caller {
            user_id: user.into(),
            role: "merchant".into(),
            merchant_id: Some(merchant.into()),
            regions: vec![],
            markets: vec![],
        }
    }

    /// A ledger op as the sync handler prepares it.
    fn ledger(kind: &str, payload: serde_json::Value) -> Prepared {
        let event = shian_core::event::LedgerEvent::parse(kind, &payload);
        let wire = match &event {
            Ok(e) if !e.lacks_code() => Some(e.to_wire_string()),
            _ => None,
        };
        Prepared {
            op: Op {
                op_id: payload["entry_id"].as_str().unwrap().to_owned(),
                kind: kind.into(),
                at: chrono::Utc::now().to_rfc3339(),
                payload: serde_json::Value::Null,
            },
            event: Some(event),
            wire,
        }
    }

    fn id() -> String {
        uuid::Uuid::now_v7().to_string()
    }

    fn purchase(merchant: &str, entry: &str, voucher: Option<&str>) -> Prepared {
        let mut p = json!({
            "entry_id": entry,
            "merchant_id": merchant,
            "product": {"name": "菠菜", "category": "vegetable"},
            "quantity": {"value": "20", "unit": "kg"},
            "supplier": {"name": "同安蔬菜合作社"},
            "received_at": chrono::Utc::now().to_rfc3339(),
        });
        if let Some(v) = voucher {
            p["voucher_code"] = json!(v);
            p["supplier"] = json!({"name": "上游", "merchant_id": "m-a"});
        }
        ledger("ledger.purchase", p)
    }

    fn sale_to(merchant: &str, trace: &str, buyer: &str) -> Prepared {
        ledger(
            "ledger.sale",
            json!({
                "entry_id": id(),
                "merchant_id": merchant,
                "trace_code": trace,
                "quantity": {"value": "5", "unit": "kg"},
                "buyer": {"merchant_id": buyer},
                "sold_at": chrono::Utc::now().to_rfc3339(),
            }),
        )
    }

    /// Two stores over one database are two instances: each judges on
    /// what the other committed, a retry through the other answers the
    /// first result, and a district's feed is gapless in commit order.
    #[test]
    fn two_instances_judge_on_each_others_commits() {
        // The synchronous client blocks: setup and checks run here, the
        // store's calls on a runtime.
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let Some(db) = fresh() else { return };
        {
            let mut c = db.store.pool().get().unwrap();
            add_market(&mut *c, "mk", "350203");
            add_merchant(&mut *c, "m-a", "350203", Some("mk"));
            add_merchant(&mut *c, "m-b", "350206", None);
            add_merchant(&mut *c, "m-c", "350211", None);
            for (u, m) in [("u-a", "m-a"), ("u-b", "m-b"), ("u-c", "m-c")] {
                add_user(&mut *c, u, "merchant", Some(m), &[], &[]);
            }
        }
        let one = &db.store;
        let two = PgStore::open(&db.url, &PgOptions::default()).unwrap();
        let bought = id();
        let (r, _) = rt
            .block_on(one.sync_push(
                merchant("u-a", "m-a"),
                "d-a".into(),
                vec![purchase("m-a", &bought, None)],
            ))
            .unwrap();
        assert_eq!(r[0].status, OpStatus::Accepted, "{r:?}");
        let first = r[0].result.clone().unwrap();
        let trace = first["trace_code"].as_str().unwrap().to_owned();

        // The retry through the other instance: the same answer, no new row.
        let (again, _) = rt
            .block_on(two.sync_push(
                merchant("u-a", "m-a"),
                "d-a".into(),
                vec![purchase("m-a", &bought, None)],
            ))
            .unwrap();
        assert_eq!(again[0].status, OpStatus::Duplicate, "{again:?}");
        assert_eq!(again[0].result.as_ref(), Some(&first));

        // A sale from that batch through the other instance: its graph
        // caught up under the district's lock and knows the batch.
        let (sold, _) = rt
            .block_on(two.sync_push(
                merchant("u-a", "m-a"),
                "d-a".into(),
                vec![sale_to("m-a", &trace, "m-b")],
            ))
            .unwrap();
        assert_eq!(sold[0].status, OpStatus::Accepted, "{sold:?}");
        let voucher = sold[0].result.as_ref().unwrap()["voucher_code"]
            .as_str()
            .unwrap()
            .to_owned();

        // Two buyers redeem the one voucher, each through an instance, at
        // once: one wins; the other is told so once its retry is judged.
        let (b, c) = rt.block_on(async {
            tokio::join!(
                one.sync_push(
                    merchant("u-b", "m-b"),
                    "d-b".into(),
                    vec![purchase("m-b", &id(), Some(&voucher))]
                ),
                two.sync_push(
                    merchant("u-c", "m-c"),
                    "d-c".into(),
                    vec![purchase("m-c", &id(), Some(&voucher))]
                ),
            )
        });
        let outcome = |r: Result<
            (Vec<shian_core::sync::protocol::OpResult>, String),
            crate::store::StoreError,
        >| match r {
            Ok((r, _)) => format!("{:?}", r[0].status),
            Err(e) => format!("error {e}"),
        };
        let (b, c) = (outcome(b), outcome(c));
        let accepted = [&b, &c].iter().filter(|s| s.as_str() == "Accepted").count();
        assert_eq!(accepted, 1, "one redemption: {b} / {c}");
        let redeemed: i64 = db
            .store
            .pool()
            .get()
            .unwrap()
            .query_one(
                "SELECT count(*) FROM codes WHERE code = $1 AND redeemed_entry_id IS NOT NULL",
                &[&voucher],
            )
            .unwrap()
            .get(0);
        assert_eq!(redeemed, 1);

        // The seller's district feed: positions 1 and 2, in order, read
        // by either instance.
        let mut c = db.store.pool().get().unwrap();
        let pos: Vec<i64> = c
            .query(
                "SELECT pos FROM entries WHERE region_code = '350203' ORDER BY pos",
                &[],
            )
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        assert_eq!(pos, vec![1, 2]);
        let head: i64 = c
            .query_one(
                "SELECT head FROM ledger_heads WHERE region_code = '350203'",
                &[],
            )
            .unwrap()
            .get(0);
        assert_eq!(head, 2);
        let traced = rt
            .block_on(one.trace_forward(trace.clone()))
            .unwrap()
            .unwrap();
        assert!(format!("{traced:?}").contains("m-b"), "{traced:?}");
    }
}
