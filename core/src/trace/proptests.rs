//! The property of issue 2: in any generated graph the forward trace
//! accounts for every gram, and backward ∘ forward contains the root — on
//! the SQL store, on the memory graph, and on a memory graph fed the same
//! events in reverse arrival order.

use std::collections::HashMap;

use proptest::prelude::*;
use uuid::Uuid;

use super::tests::World;
use super::*;
use crate::event::{DisposeMethod, LedgerEvent};
use crate::quantity::BaseUnit;

#[derive(Debug, Clone)]
enum Op {
    Root {
        merchant: u8,
        amount: u32,
        boxes: bool,
    },
    /// A partial sale to a merchant, received with the exact quantity unless
    /// `redeem` is false (the voucher stays in transit).
    Sell {
        batch: u16,
        buyer: u8,
        pct: u8,
        redeem: bool,
    },
    Retail {
        batch: u16,
        pct: u8,
    },
    Named {
        batch: u16,
        pct: u8,
        name: u8,
    },
    Dispose {
        batch: u16,
        pct: u8,
        destroyed: bool,
    },
    Adjust {
        batch: u16,
        delta: i16,
    },
    Void {
        pick: u16,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => (any::<u8>(), 1u32..2_000_000, prop::bool::weighted(0.2)).prop_map(|(merchant, amount, boxes)| Op::Root { merchant, amount, boxes }),
        6 => (any::<u16>(), any::<u8>(), 1u8..=60, prop::bool::weighted(0.8)).prop_map(|(batch, buyer, pct, redeem)| Op::Sell { batch, buyer, pct, redeem }),
        2 => (any::<u16>(), 1u8..=40).prop_map(|(batch, pct)| Op::Retail { batch, pct }),
        1 => (any::<u16>(), 1u8..=40, 0u8..3).prop_map(|(batch, pct, name)| Op::Named { batch, pct, name }),
        1 => (any::<u16>(), 1u8..=30, any::<bool>()).prop_map(|(batch, pct, destroyed)| Op::Dispose { batch, pct, destroyed }),
        1 => (any::<u16>(), any::<i16>().prop_filter("non-zero", |d| *d != 0)).prop_map(|(batch, delta)| Op::Adjust { batch, delta }),
        1 => any::<u16>().prop_map(|pick| Op::Void { pick }),
    ]
}

/// A live batch the ops can act on.
struct Lot {
    code: String,
    merchant: String,
    received: Quantity,
}

/// Plays the ops into a world; returns the origin batches still live.
fn play(ops: &[Op]) -> (World, Vec<String>) {
    let mut w = World::new(ops.len() as u64);
    let mut lots: Vec<Lot> = Vec::new();
    let mut roots: Vec<(Uuid, String)> = Vec::new();
    // Entries that may be voided: (entry, merchant, the lot it moved or made, is a purchase).
    let mut voidable: Vec<(Uuid, String, String, bool)> = Vec::new();
    // Live movements per lot: the rules refuse to void a purchase that has any.
    let mut active: HashMap<String, usize> = HashMap::new();
    for op in ops {
        let part = |lot: &Lot, pct: u8| {
            Quantity::new(
                (lot.received.amount * i64::from(pct) / 100).max(1),
                lot.received.unit,
            )
        };
        if let Op::Root {
            merchant,
            amount,
            boxes,
        } = op
        {
            let q = if *boxes {
                Quantity::new(i64::from(amount % 500 + 1), BaseUnit::Box)
            } else {
                Quantity::new(i64::from(*amount), BaseUnit::Gram)
            };
            let merchant = format!("m{}", merchant % 8);
            let (id, code) = w.buy(&merchant, q, None);
            roots.push((id, code.clone()));
            lots.push(Lot {
                code,
                merchant,
                received: q,
            });
            continue;
        }
        if lots.is_empty() {
            continue;
        }
        let pick = |i: u16| (usize::from(i)) % lots.len();
        match *op {
            Op::Root { .. } => {}
            Op::Sell {
                batch,
                buyer,
                pct,
                redeem,
            } => {
                let lot = &lots[pick(batch)];
                let mut buyer = format!("m{}", buyer % 8);
                if buyer == lot.merchant {
                    buyer = format!("{buyer}x");
                }
                let (q, seller, code) = (part(lot, pct), lot.merchant.clone(), lot.code.clone());
                let (sale, voucher) = w.sell(&seller, &code, q, &buyer);
                voidable.push((sale, seller, code.clone(), false));
                *active.entry(code).or_default() += 1;
                if redeem {
                    let (id, child) = w.buy(&buyer, q, Some(&voucher));
                    voidable.push((id, buyer.clone(), child.clone(), true));
                    lots.push(Lot {
                        code: child,
                        merchant: buyer,
                        received: q,
                    });
                }
            }
            Op::Retail { batch, pct } => {
                let lot = &lots[pick(batch)];
                let (q, m, c) = (part(lot, pct), lot.merchant.clone(), lot.code.clone());
                let id = w.retail(&m, &c, q);
                voidable.push((id, m, c.clone(), false));
                *active.entry(c).or_default() += 1;
            }
            Op::Named { batch, pct, name } => {
                let lot = &lots[pick(batch)];
                let (q, m, c) = (part(lot, pct), lot.merchant.clone(), lot.code.clone());
                let id = w.named(
                    &m,
                    &c,
                    q,
                    ["第三中学食堂", "老王饭店", "城西敬老院"][usize::from(name % 3)],
                );
                voidable.push((id, m, c.clone(), false));
                *active.entry(c).or_default() += 1;
            }
            Op::Dispose {
                batch,
                pct,
                destroyed,
            } => {
                let lot = &lots[pick(batch)];
                let (q, m, c) = (part(lot, pct), lot.merchant.clone(), lot.code.clone());
                let method = if destroyed {
                    DisposeMethod::Destroyed
                } else {
                    DisposeMethod::Returned
                };
                let id = w.dispose(&m, &c, q, method);
                voidable.push((id, m, c.clone(), false));
                *active.entry(c).or_default() += 1;
            }
            Op::Adjust { batch, delta } => {
                let lot = &lots[pick(batch)];
                let (m, c) = (lot.merchant.clone(), lot.code.clone());
                let id = w.adjust(&m, &c, Quantity::new(i64::from(delta), lot.received.unit));
                voidable.push((id, m, c.clone(), false));
                *active.entry(c).or_default() += 1;
            }
            Op::Void { pick: p } => {
                if voidable.is_empty() {
                    continue;
                }
                let i = usize::from(p) % voidable.len();
                let (id, merchant, lot, purchase) = voidable[i].clone();
                let count = active.entry(lot.clone()).or_default();
                if purchase && *count > 0 {
                    continue;
                }
                voidable.swap_remove(i);
                w.void(&merchant, id);
                if purchase {
                    lots.retain(|l| l.code != lot);
                } else {
                    *count -= 1;
                }
            }
        }
    }
    (w, roots.into_iter().map(|(_, c)| c).collect())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn forward_accounts_for_every_gram_and_backward_finds_the_root(ops in prop::collection::vec(op(), 1..60)) {
        let (w, roots) = play(&ops);
        // The same events arriving in reverse order (voids last, after their targets).
        let mut reversed = MemoryGraph::new();
        let (voids, facts): (Vec<&LedgerEvent>, Vec<&LedgerEvent>) = w.events.iter().partition(|e| matches!(e, LedgerEvent::Void(_)));
        for e in facts.into_iter().rev().chain(voids) {
            reversed.apply(e).unwrap();
        }
        for root in &roots {
            let t = w.forward(root).unwrap();
            prop_assert_eq!(&forward(&reversed, root).unwrap(), &t);
            prop_assert!(!t.cycle && !t.truncated);
            prop_assert_eq!(t.totals.len(), 1, "one unit per tree");

            let nodes = || std::iter::once(&t.root).chain(&t.holders);
            let came = t.root.received.amount + nodes().map(|n| n.adjusted.amount).sum::<i64>();
            let went = nodes().map(|n| n.retail_sold.amount + n.named_sold.amount + n.destroyed.amount + n.returned.amount + n.held.amount).sum::<i64>()
                + t.in_transit.iter().map(|i| i.quantity.amount).sum::<i64>();
            prop_assert_eq!(came, went);
            prop_assert!(t.is_balanced());

            for h in &t.holders {
                let b = w.backward(&h.trace_code).unwrap();
                prop_assert!(b.contains(root));
                prop_assert_eq!(b.chain.len() as u32, h.depth + 1);
                let is_origin = matches!(b.end, ChainEnd::Origin { .. });
                prop_assert!(is_origin, "chain of {} ends in {:?}", h.trace_code, b.end);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// A graph taken back from its snapshot half way through the events,
    /// then fed the rest, answers every trace as the graph that never
    /// stopped (what an instance started from a snapshot and caught up
    /// must do). The test build folds movements into the CSR every few
    /// events, so snapshots cross both the CSR and the tail.
    #[test]
    fn a_graph_restored_from_its_snapshot_answers_as_the_original(ops in prop::collection::vec(op(), 1..60), cut in 0usize..100) {
        let (w, roots) = play(&ops);
        let k = w.events.len() * cut / 100;
        let mut kept = MemoryGraph::new();
        for e in &w.events[..k] {
            kept.apply(e).unwrap();
        }
        let mut restored = MemoryGraph::from_snapshot(&kept.to_snapshot().unwrap()).unwrap();
        // Everything but the heap bytes, which count spare capacity.
        let counts = |s: MemoryStats| (s.batches, s.movements, s.vouchers, s.merchants);
        prop_assert_eq!(counts(restored.stats()), counts(kept.stats()));
        for e in &w.events[k..] {
            kept.apply(e).unwrap();
            restored.apply(e).unwrap();
        }
        prop_assert_eq!(counts(restored.stats()), counts(kept.stats()));
        for root in &roots {
            let t = w.forward(root).unwrap();
            prop_assert_eq!(&forward(&restored, root).unwrap(), &t);
            for h in &t.holders {
                prop_assert_eq!(backward(&restored, &h.trace_code).unwrap(), backward(&kept, &h.trace_code).unwrap());
            }
        }
    }
}
