//! The graph as a [`LedgerView`]: what the ledger rules ask of recorded
//! state, answered from memory. The server judges every pushed event here
//! (it is authoritative), so a push costs no SQLite reads and its only
//! writes are the entry rows. Answers match [`crate::store::view::SqlView`]
//! over a file holding the same events (tested in `tests.rs`).

use std::convert::Infallible;

use uuid::Uuid;

use super::moves::ID_LIMIT;
use super::records::Kind;
use super::{code, MemoryGraph};
use crate::event::{ADJUST, DISPOSE, PURCHASE, SALE, VOID};
use crate::ledger::{BatchInfo, EntryInfo, LedgerView, VoucherInfo};
use crate::quantity::Quantity;

impl MemoryGraph {
    fn merchant_string(&self, m: u32) -> String {
        self.merchants.get(m).unwrap_or_default().to_owned()
    }

    /// A recorded batch (voided or not; not a placeholder named only by a
    /// movement that arrived first).
    fn recorded_batch(&self, trace_code: &str) -> Option<u32> {
        code::pack(trace_code)
            .and_then(|c| self.find_batch(c))
            .filter(|&b| self.batches.get(b as usize).is_some_and(|r| r.known()))
    }
}

impl LedgerView for MemoryGraph {
    type Error = Infallible;

    fn is_authoritative(&self) -> bool {
        true
    }

    fn entry(&self, entry_id: &Uuid) -> Result<Option<EntryInfo>, Infallible> {
        let id = entry_id.as_u128();
        if let Some(&m) = self.voids.get(&id) {
            return Ok(Some(EntryInfo {
                kind: VOID.to_owned(),
                merchant_id: self.merchant_string(m),
                voided: false,
                trace_code: None,
            }));
        }
        let Some(r) = self.find_entry(id) else {
            return Ok(None);
        };
        if r & ID_LIMIT == 0 {
            let Some(b) = self.batches.get(r as usize) else {
                return Ok(None);
            };
            return Ok(Some(EntryInfo {
                kind: PURCHASE.to_owned(),
                merchant_id: self.merchant_string(b.merchant),
                voided: b.voided(),
                trace_code: Some(code::unpack(b.code)),
            }));
        }
        let Some((batch, m)) = self.moves.get(r & !ID_LIMIT) else {
            return Ok(None);
        };
        let Some(b) = self.batches.get(batch as usize) else {
            return Ok(None);
        };
        let kind = match m.kind() {
            Kind::SaleMerchant | Kind::SaleNamed | Kind::SaleRetail => SALE,
            Kind::Destroyed | Kind::Returned => DISPOSE,
            Kind::Adjust => ADJUST,
        };
        // A movement is recorded by the batch's own merchant (the rules
        // refuse any other), so the batch names it.
        Ok(Some(EntryInfo {
            kind: kind.to_owned(),
            merchant_id: self.merchant_string(b.merchant),
            voided: m.voided(),
            trace_code: Some(code::unpack(b.code)),
        }))
    }

    fn batch(&self, trace_code: &str) -> Result<Option<BatchInfo>, Infallible> {
        let Some(b) = self.recorded_batch(trace_code) else {
            return Ok(None);
        };
        let (Some(r), Some(s)) = (self.batches.get(b as usize), self.stock.get(b as usize)) else {
            return Ok(None);
        };
        let Some(category) = s.category else {
            return Ok(None);
        };
        Ok(Some(BatchInfo {
            trace_code: code::unpack(r.code),
            merchant_id: self.merchant_string(r.merchant),
            category,
            unit: r.unit(),
            received: r.received,
            out: s.out,
            adjusted: s.adjusted,
            expiry_date: s.expiry,
            voided: r.voided(),
            active_movements: s.active,
        }))
    }

    fn voucher(&self, voucher_code: &str) -> Result<Option<VoucherInfo>, Infallible> {
        let Some(v) = code::pack(voucher_code).and_then(|c| self.find_voucher(c)) else {
            return Ok(None);
        };
        let Some(rec) = self.vouchers.get(v as usize) else {
            return Ok(None);
        };
        let Some(from) = rec.live_from() else {
            return Ok(None);
        };
        let (Some(b), Some(s)) = (
            self.batches.get(from as usize).filter(|b| b.known()),
            self.stock.get(from as usize),
        ) else {
            return Ok(None);
        };
        let Some(category) = s.category else {
            return Ok(None);
        };
        let live = |x: &u32| self.batches.get(*x as usize).is_some_and(|r| r.live());
        let redeemer = rec.first_redeemer().filter(live).or_else(|| {
            rec.more_redeemers()
                .then(|| self.extra_redeemers.get(&v))
                .flatten()
                .and_then(|more| more.iter().copied().find(live))
        });
        Ok(Some(VoucherInfo {
            code: code::unpack(rec.code),
            seller_merchant_id: self.merchant_string(rec.seller),
            buyer_merchant_id: self.merchant_string(rec.buyer),
            from_trace_code: code::unpack(b.code),
            quantity: Quantity::new(rec.amount, b.unit()),
            category,
            redeemed_by: redeemer
                .and_then(|x| self.batches.get(x as usize))
                .map(|r| code::unpack(r.code)),
        }))
    }

    fn code_in_use(&self, c: &str) -> Result<bool, Infallible> {
        let Some(packed) = code::pack(c) else {
            return Ok(false);
        };
        Ok(self
            .find_batch(packed)
            .and_then(|b| self.batches.get(b as usize))
            .is_some_and(|r| r.known())
            || self
                .find_voucher(packed)
                .and_then(|v| self.vouchers.get(v as usize))
                .is_some_and(|r| r.issued()))
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;
    use uuid::Uuid;

    use crate::error::LedgerError;
    use crate::event::{Buyer, LedgerEvent, Sale, Void};
    use crate::generator::{GenConfig, Generator};
    use crate::ledger::Warning;
    use crate::quantity::Quantity;
    use crate::rules::LedgerRules;
    use crate::store::{apply, LocalStore};
    use crate::trace::MemoryGraph;

    /// An outcome both stores can be compared on: the warnings and codes of
    /// an accepted event, or the code of a refusal.
    type Outcome = Result<(Vec<Warning>, Option<String>, Option<String>), String>;

    fn outcome(r: Result<apply::Applied, LedgerError>) -> Outcome {
        r.map(|a| (a.warnings, a.trace_code, a.voucher_code))
            .map_err(|e| e.code().to_owned())
    }

    /// Events that must be refused or warned about, built from what is
    /// already recorded: a replayed entry, voids of anything (voids, voided
    /// entries, purchases with sales, unknown ids), another merchant's sale
    /// of a batch, oversized sales.
    fn mischief(rng: &mut ChaCha8Rng, seen: &[LedgerEvent]) -> LedgerEvent {
        let pick = seen[rng.random_range(0..seen.len())].clone();
        let at = pick.at();
        match rng.random_range(0..5) {
            0 => pick,
            1 | 2 => LedgerEvent::Void(Void {
                entry_id: Uuid::from_u128(rng.random()),
                merchant_id: pick.merchant_id().to_owned(),
                voided_entry_id: if rng.random_range(0..8) == 0 {
                    Uuid::from_u128(rng.random())
                } else {
                    pick.entry_id()
                },
                reason: "录错".into(),
                at,
            }),
            n => {
                let Some(code) = (match &pick {
                    LedgerEvent::Purchase(p) => p.trace_code.clone(),
                    LedgerEvent::Sale(s) => Some(s.trace_code.clone()),
                    _ => None,
                }) else {
                    return pick;
                };
                let other = seen[rng.random_range(0..seen.len())]
                    .merchant_id()
                    .to_owned();
                LedgerEvent::Sale(Sale {
                    entry_id: Uuid::from_u128(rng.random()),
                    merchant_id: if n == 3 {
                        other
                    } else {
                        pick.merchant_id().to_owned()
                    },
                    trace_code: code,
                    quantity: Quantity::new(
                        rng.random_range(1..5_000_000),
                        crate::quantity::BaseUnit::Gram,
                    ),
                    buyer: Buyer::Retail,
                    voucher_code: None,
                    unit_price_fen: None,
                    sold_at: at,
                })
            }
        }
    }

    #[test]
    fn the_graph_judges_every_event_as_the_sql_store_does() {
        let rules = LedgerRules::builtin();
        let mut store = LocalStore::open_in_memory().expect("store");
        let mut graph = MemoryGraph::new();
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let mut config = GenConfig::frozen_market(5);
        config.days = 12;
        let mut seen: Vec<LedgerEvent> = Vec::new();
        let (mut accepted, mut refused) = (0, std::collections::BTreeMap::<String, usize>::new());
        for generated in Generator::new(config) {
            let mut batch = vec![generated];
            if !seen.is_empty() && rng.random_range(0..4) == 0 {
                batch.push(mischief(&mut rng, &seen));
            }
            for event in batch {
                let now = Utc::now();
                let seed = rng.random::<u64>();
                let (mut by_sql, mut by_graph) = (event.clone(), event.clone());
                let tx = store.conn_mut().transaction().expect("tx");
                let sql = outcome(apply::apply(
                    &tx,
                    &mut by_sql,
                    &rules,
                    now,
                    true,
                    &mut ChaCha8Rng::seed_from_u64(seed),
                ));
                tx.commit().expect("commit");
                let mem = outcome(
                    apply::judge(
                        &mut by_graph,
                        &graph,
                        &rules,
                        now,
                        &mut ChaCha8Rng::seed_from_u64(seed),
                    )
                    .map(|w| apply::Applied::new(&by_graph, w)),
                );
                assert_eq!(mem, sql, "the stores disagree on {event:?}");
                match mem {
                    Ok(_) => {
                        graph
                            .apply(&by_graph)
                            .expect("graph takes what the rules accepted");
                        accepted += 1;
                        seen.push(by_graph);
                    }
                    Err(code) => *refused.entry(code).or_default() += 1,
                }
            }
        }
        println!("{accepted} accepted, refused {refused:?}");
        assert!(accepted > 1000, "a real ledger went through ({accepted})");
        for code in [
            "entry_exists",
            "cannot_void_a_void",
            "already_voided",
            "batch_has_movements",
            "unknown_entry",
            "not_your_batch",
        ] {
            assert!(
                refused.get(code).copied().unwrap_or(0) > 0,
                "no {code} among {refused:?}"
            );
        }
        // A graph loaded from the file answers as the one built from events.
        let loaded = MemoryGraph::load(store.conn()).expect("load");
        for e in seen.iter().step_by(7) {
            let probe = mischief(&mut rng, std::slice::from_ref(e));
            let (mut a, mut b) = (probe.clone(), probe);
            let now = Utc::now();
            let x = outcome(
                apply::judge(
                    &mut a,
                    &graph,
                    &rules,
                    now,
                    &mut ChaCha8Rng::seed_from_u64(1),
                )
                .map(|w| apply::Applied::new(&a, w)),
            );
            let y = outcome(
                apply::judge(
                    &mut b,
                    &loaded,
                    &rules,
                    now,
                    &mut ChaCha8Rng::seed_from_u64(1),
                )
                .map(|w| apply::Applied::new(&b, w)),
            );
            assert_eq!(x, y);
        }
    }
}
