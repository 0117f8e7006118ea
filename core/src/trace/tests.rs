//! Unit tests of the engine, each run on both stores: every answer of the
//! SQL graph must equal the memory graph's.

use chrono::{DateTime, Duration, FixedOffset, Utc};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use uuid::Uuid;

use super::*;
use crate::category::Category;
use crate::event::{
    Adjust, Buyer, Dispose, DisposeMethod, LedgerEvent, Product, Purchase, Sale, Supplier, Void,
};
use crate::quantity::BaseUnit;
use crate::store::LocalStore;

/// A ledger written to a device store and a memory graph at once.
pub(super) struct World {
    pub store: LocalStore,
    pub mem: MemoryGraph,
    pub events: Vec<LedgerEvent>,
    rng: ChaCha8Rng,
    clock: DateTime<FixedOffset>,
}

pub(super) fn g(kg: i64) -> Quantity {
    Quantity::new(kg * 1000, BaseUnit::Gram)
}

impl World {
    pub fn new(seed: u64) -> Self {
        Self {
            store: LocalStore::open_in_memory().expect("store"),
            mem: MemoryGraph::new(),
            events: Vec::new(),
            rng: ChaCha8Rng::seed_from_u64(seed),
            clock: (Utc::now() - Duration::days(30)).fixed_offset(),
        }
    }

    fn tick(&mut self) -> DateTime<FixedOffset> {
        self.clock += Duration::minutes(7);
        self.clock
    }

    fn record(&mut self, e: LedgerEvent) -> Uuid {
        let id = e.entry_id();
        self.store.record_event(e.clone()).expect("accepted");
        self.mem.apply(&e).expect("applied");
        self.events.push(e);
        id
    }

    pub fn name(&mut self, merchant: &str, name: &str) {
        self.store
            .put_directory(merchant, name, &serde_json::json!({}))
            .expect("directory");
        self.mem.set_merchant_name(merchant, name).expect("name");
    }

    /// A purchase; `from` is the voucher scanned, else an outside farm.
    pub fn buy(&mut self, merchant: &str, q: Quantity, from: Option<&str>) -> (Uuid, String) {
        let code = crate::codes::new_code(&mut self.rng);
        let received_at = self.tick();
        let id = self.record(LedgerEvent::Purchase(Purchase {
            entry_id: Uuid::now_v7(),
            merchant_id: merchant.into(),
            product: Product {
                name: "冻牛肉".into(),
                category: Category::Frozen,
                gtin: None,
            },
            quantity: q,
            supplier: match from {
                Some(_) => Supplier::Merchant {
                    merchant_id: "upstream".into(),
                },
                None => Supplier::External {
                    name: "内蒙古某牧场".into(),
                    uscc: None,
                    region_code: Some("150100".into()),
                },
            },
            voucher_code: from.map(str::to_owned),
            trace_code: Some(code.clone()),
            certificates: Vec::new(),
            production_date: None,
            expiry_date: None,
            unit_price_fen: None,
            received_at,
        }));
        (id, code)
    }

    fn sale(
        &mut self,
        merchant: &str,
        batch: &str,
        q: Quantity,
        buyer: Buyer,
    ) -> (Uuid, Option<String>) {
        let voucher =
            matches!(buyer, Buyer::Merchant { .. }).then(|| crate::codes::new_code(&mut self.rng));
        self.sale_with(merchant, batch, q, buyer, voucher)
    }

    /// A voucher code made on a device before the sale is recorded.
    pub fn new_code(&mut self) -> String {
        crate::codes::new_code(&mut self.rng)
    }

    fn sale_with(
        &mut self,
        merchant: &str,
        batch: &str,
        q: Quantity,
        buyer: Buyer,
        voucher: Option<String>,
    ) -> (Uuid, Option<String>) {
        let sold_at = self.tick();
        let id = self.record(LedgerEvent::Sale(Sale {
            entry_id: Uuid::now_v7(),
            merchant_id: merchant.into(),
            trace_code: batch.into(),
            quantity: q,
            buyer,
            voucher_code: voucher.clone(),
            unit_price_fen: None,
            sold_at,
        }));
        (id, voucher)
    }

    /// A sale to a platform merchant; returns the sale and its voucher.
    pub fn sell(
        &mut self,
        merchant: &str,
        batch: &str,
        q: Quantity,
        buyer: &str,
    ) -> (Uuid, String) {
        let (id, v) = self.sale(
            merchant,
            batch,
            q,
            Buyer::Merchant {
                merchant_id: buyer.into(),
            },
        );
        (id, v.unwrap_or_default())
    }

    pub fn retail(&mut self, merchant: &str, batch: &str, q: Quantity) -> Uuid {
        self.sale(merchant, batch, q, Buyer::Retail).0
    }

    pub fn named(&mut self, merchant: &str, batch: &str, q: Quantity, name: &str) -> Uuid {
        self.sale(merchant, batch, q, Buyer::Named { name: name.into() })
            .0
    }

    pub fn dispose(
        &mut self,
        merchant: &str,
        batch: &str,
        q: Quantity,
        method: DisposeMethod,
    ) -> Uuid {
        let at = self.tick();
        self.record(LedgerEvent::Dispose(Dispose {
            entry_id: Uuid::now_v7(),
            merchant_id: merchant.into(),
            trace_code: batch.into(),
            quantity: q,
            method,
            reason: "检出问题".into(),
            at,
            witness: None,
            photos: Vec::new(),
        }))
    }

    pub fn adjust(&mut self, merchant: &str, batch: &str, delta: Quantity) -> Uuid {
        let at = self.tick();
        self.record(LedgerEvent::Adjust(Adjust {
            entry_id: Uuid::now_v7(),
            merchant_id: merchant.into(),
            trace_code: batch.into(),
            delta,
            reason: "盘点".into(),
            at,
        }))
    }

    pub fn void(&mut self, merchant: &str, entry: Uuid) {
        let at = self.tick();
        self.record(LedgerEvent::Void(Void {
            entry_id: Uuid::now_v7(),
            merchant_id: merchant.into(),
            voided_entry_id: entry,
            reason: "录错".into(),
            at,
        }));
    }

    /// Forward on both stores; they must agree.
    pub fn forward(&self, code: &str) -> Result<ForwardTrace, TraceError> {
        let sql = forward(&SqlGraph::new(self.store.conn()), code);
        let mem = forward(&self.mem, code);
        assert_eq!(
            sql, mem,
            "SQL and memory graphs disagree on forward({code})"
        );
        let loaded = MemoryGraph::load(self.store.conn()).expect("load");
        assert_eq!(
            forward(&loaded, code),
            mem,
            "a graph loaded from SQLite disagrees on forward({code})"
        );
        mem
    }

    /// Backward on both stores; they must agree.
    pub fn backward(&self, code: &str) -> Result<BackwardTrace, TraceError> {
        let sql = backward(&SqlGraph::new(self.store.conn()), code);
        let mem = backward(&self.mem, code);
        assert_eq!(
            sql, mem,
            "SQL and memory graphs disagree on backward({code})"
        );
        mem
    }
}

fn holder<'a>(t: &'a ForwardTrace, code: &str) -> &'a TraceNode {
    t.holders
        .iter()
        .find(|h| h.trace_code == code)
        .expect("holder")
}

#[test]
fn partial_sales_are_accounted_to_the_gram() {
    let mut w = World::new(1);
    let (_, root) = w.buy("m1", Quantity::new(100_000, BaseUnit::Gram), None);
    let (_, v) = w.sell("m1", &root, Quantity::new(30_500, BaseUnit::Gram), "m2");
    let (_, child) = w.buy("m2", Quantity::new(30_500, BaseUnit::Gram), Some(&v));
    w.retail("m1", &root, Quantity::new(1_250, BaseUnit::Gram));
    w.retail("m2", &child, Quantity::new(499, BaseUnit::Gram));
    w.named("m1", &root, g(10), "第三中学食堂");
    w.named("m1", &root, g(2), "第三中学食堂");
    w.dispose("m2", &child, g(1), DisposeMethod::Destroyed);
    w.dispose("m1", &root, g(3), DisposeMethod::Returned);

    let t = w.forward(&root).unwrap();
    assert_eq!(
        t.root.sold_to_merchants,
        Quantity::new(30_500, BaseUnit::Gram)
    );
    assert_eq!(
        t.root.named_buyers,
        vec![NamedBuyer {
            name: "第三中学食堂".into(),
            quantity: g(12)
        }]
    );
    assert_eq!(
        t.root.held.amount,
        100_000 - 30_500 - 1_250 - 12_000 - 3_000
    );
    let c = holder(&t, &child);
    assert_eq!(
        (
            c.depth,
            c.parent_trace_code.as_deref(),
            c.voucher_code.as_deref()
        ),
        (1, Some(root.as_str()), Some(v.as_str()))
    );
    assert_eq!(c.held.amount, 30_500 - 499 - 1_000);
    assert_eq!(t.retail_sold.amount, 1_749);
    assert_eq!(t.held.amount, 100_000 - 1_749 - 12_000 - 3_000 - 1_000);
    assert!(t.is_balanced());

    let json = serde_json::to_value(&t).unwrap();
    assert_eq!(
        json["retail_sold"],
        serde_json::json!({"value": "1.749", "unit": "kg"})
    );
    assert_eq!(
        json["holders"][0]["received"],
        serde_json::json!({"value": "30.5", "unit": "kg"})
    );
    assert_eq!(json["holders"][0]["depth"], 1);
    assert_eq!(json["holders"][0]["merchant_id"], "m2");
    assert_eq!(json["holders"][0]["trace_code"], child.as_str());
}

#[test]
fn one_batch_sold_to_many_and_chains_of_many_hops() {
    let mut w = World::new(2);
    w.name("m0", "海鲜批发甲");
    let (_, root) = w.buy("m0", g(1000), None);
    let mut leaves = Vec::new();
    for i in 1..=5 {
        let (_, v) = w.sell("m0", &root, g(100), &format!("m{i}"));
        let (_, b) = w.buy(&format!("m{i}"), g(100), Some(&v));
        leaves.push(b);
    }
    // A five-hop chain below the first buyer.
    let mut code = leaves[0].clone();
    for hop in 0..5 {
        let (seller, buyer) = (format!("c{hop}"), format!("c{}", hop + 1));
        let seller = if hop == 0 { "m1".to_owned() } else { seller };
        let (_, v) = w.sell(&seller, &code, g(10), &buyer);
        code = w.buy(&buyer, g(10), Some(&v)).1;
    }
    let t = w.forward(&root).unwrap();
    assert_eq!(t.holders.len(), 10);
    assert_eq!(t.holders.iter().filter(|h| h.depth == 1).count(), 5);
    assert_eq!(t.holders.iter().map(|h| h.depth).max(), Some(6));
    assert_eq!(t.root.merchant_name.as_deref(), Some("海鲜批发甲"));
    assert!(t.is_balanced());

    let b = w.backward(&code).unwrap();
    assert_eq!(b.chain.len(), 7);
    assert_eq!(
        b.chain.last().map(|s| s.trace_code.as_str()),
        Some(root.as_str())
    );
    assert_eq!(b.chain[0].voucher_quantity, Some(g(10)));
    assert!(b.chain[0]
        .sold_at
        .is_some_and(|s| s <= b.chain[0].received_at));
    assert_eq!(
        b.end,
        ChainEnd::Origin {
            trace_code: root.clone(),
            supplier: SupplierRef::External {
                name: "内蒙古某牧场".into(),
                uscc: None,
                region_code: Some("150100".into())
            }
        }
    );
    let json = serde_json::to_value(&b).unwrap();
    assert_eq!(json["end"]["kind"], "origin");
    assert_eq!(json["end"]["supplier"]["name"], "内蒙古某牧场");
}

#[test]
fn voided_entries_are_left_out() {
    let mut w = World::new(3);
    let (_, root) = w.buy("m1", g(50), None);
    let retail = w.retail("m1", &root, g(5));
    let (sale, v) = w.sell("m1", &root, g(20), "m2");
    let (_, v2) = w.sell("m1", &root, g(10), "m3");
    let (bad_purchase, _) = w.buy("m3", g(10), Some(&v2));
    w.void("m1", retail);
    w.void("m1", sale);
    w.void("m3", bad_purchase);

    let t = w.forward(&root).unwrap();
    assert_eq!(t.retail_sold.amount, 0);
    assert!(t.holders.is_empty(), "the voided purchase is not a holder");
    // The voided sale is gone; the voucher whose receipt was voided is back in transit.
    assert_eq!(t.in_transit.len(), 1);
    assert_eq!(t.in_transit[0].voucher_code, v2);
    assert_eq!(t.held, g(40));
    assert!(t.is_balanced());
    assert!(!t.in_transit.iter().any(|i| i.voucher_code == v));

    let (voided_root_entry, voided_root) = w.buy("m4", g(1), None);
    w.void("m4", voided_root_entry);
    assert_eq!(
        w.forward(&voided_root),
        Err(TraceError::NotFound {
            trace_code: voided_root.clone()
        })
    );
}

#[test]
fn unscanned_vouchers_are_in_transit() {
    let mut w = World::new(4);
    w.name("m9", "城东菜市场 9 号摊");
    let (_, root) = w.buy("m1", g(10), None);
    let (_, v) = w.sell("m1", &root, g(4), "m9");
    let t = w.forward(&root).unwrap();
    assert!(t.holders.is_empty());
    assert_eq!(t.in_transit.len(), 1);
    let it = &t.in_transit[0];
    assert_eq!(
        (
            it.voucher_code.as_str(),
            it.buyer_merchant_id.as_str(),
            it.quantity
        ),
        (v.as_str(), "m9", g(4))
    );
    assert_eq!(it.buyer_merchant_name.as_deref(), Some("城东菜市场 9 号摊"));
    assert_eq!((t.totals[0].in_transit, t.held), (g(4), g(6)));
    assert!(t.is_balanced());
}

#[test]
fn boxes_never_mix_with_grams() {
    let mut w = World::new(5);
    let (_, root) = w.buy("m1", Quantity::new(40, BaseUnit::Box), None);
    let (_, v) = w.sell("m1", &root, Quantity::new(15, BaseUnit::Box), "m2");
    let (_, child) = w.buy("m2", Quantity::new(15, BaseUnit::Box), Some(&v));
    w.retail("m2", &child, Quantity::new(3, BaseUnit::Box));
    w.dispose(
        "m1",
        &root,
        Quantity::new(2, BaseUnit::Box),
        DisposeMethod::Destroyed,
    );
    w.adjust("m1", &root, Quantity::new(-1, BaseUnit::Box));
    let t = w.forward(&root).unwrap();
    assert_eq!(t.totals.len(), 1, "one unit, no grams appear");
    let tot = &t.totals[0];
    assert_eq!(tot.unit(), BaseUnit::Box);
    assert_eq!(
        (
            tot.entered.amount,
            tot.adjusted.amount,
            tot.held.amount,
            tot.batches
        ),
        (40, -1, 34, 2)
    );
    assert_eq!(t.retail_sold, Quantity::new(3, BaseUnit::Box));
    let json = serde_json::to_value(&t).unwrap();
    assert_eq!(
        json["held"],
        serde_json::json!({"value": "34", "unit": "box"})
    );
    assert!(t.is_balanced());
}

#[test]
fn a_buyer_recording_another_unit_starts_its_own_balance() {
    // The memory graph alone: the rules refuse this once the voucher is known,
    // but a purchase that arrived before the sale stands, in its own unit.
    let mut w = World::new(6);
    let (_, root) = w.buy("m1", Quantity::new(10, BaseUnit::Box), None);
    let (_, v) = w.sell("m1", &root, Quantity::new(4, BaseUnit::Box), "m2");
    let mut mem = w.mem;
    let child = crate::codes::new_code(&mut rand::rng());
    let mut late = match w.events.first() {
        Some(LedgerEvent::Purchase(p)) => p.clone(),
        _ => unreachable!(),
    };
    late.entry_id = Uuid::now_v7();
    late.merchant_id = "m2".into();
    late.trace_code = Some(child.clone());
    late.voucher_code = Some(v);
    late.quantity = g(60);
    mem.apply(&LedgerEvent::Purchase(late)).unwrap();
    let t = forward(&mem, &root).unwrap();
    assert_eq!(t.totals.len(), 2);
    assert_eq!(
        (t.totals[0].converted_out, t.totals[0].held),
        (
            Quantity::new(4, BaseUnit::Box),
            Quantity::new(6, BaseUnit::Box)
        )
    );
    assert_eq!((t.totals[1].entered, t.totals[1].held), (g(60), g(60)));
    assert!(t.is_balanced());
}

#[test]
fn a_receipt_different_from_its_voucher_shows_in_the_balance() {
    let mut w = World::new(7);
    let (_, root) = w.buy("m1", g(10), None);
    let (_, v) = w.sell("m1", &root, g(4), "m2");
    w.buy("m2", Quantity::new(4_200, BaseUnit::Gram), Some(&v));
    let t = w.forward(&root).unwrap();
    assert_eq!(t.totals[0].receipt_difference.amount, 200);
    assert!(t.is_balanced());
}

#[test]
fn unknown_and_mistyped_codes() {
    let mut w = World::new(8);
    let (_, root) = w.buy("m1", g(1), None);
    let unknown = crate::codes::new_code(&mut rand::rng());
    assert_eq!(
        w.forward(&unknown),
        Err(TraceError::NotFound {
            trace_code: unknown.clone()
        })
    );
    assert_eq!(
        w.backward(&unknown),
        Err(TraceError::NotFound {
            trace_code: unknown
        })
    );
    // One wrong character is caught by the check character.
    let mut typo = root.clone().into_bytes();
    typo[3] = if typo[3] == b'7' { b'8' } else { b'7' };
    let typo = String::from_utf8(typo).unwrap();
    assert!(matches!(
        w.forward(&typo),
        Err(TraceError::InvalidCode { .. })
    ));
    // Lower case and dashes, as people type them, find the batch.
    let typed = format!("{}-{}", &root[..8].to_lowercase(), &root[8..]);
    assert_eq!(w.forward(&typed).unwrap().trace_code, root);
}

#[test]
fn purchase_before_the_sale_links_up_in_the_memory_graph() {
    let mut w = World::new(9);
    let (_, root) = w.buy("m1", g(10), None);
    let (_, v) = w.sell("m1", &root, g(4), "m2");
    let (_, child) = w.buy("m2", g(4), Some(&v));
    w.retail("m2", &child, g(1));
    let in_order = forward(&w.mem, &root).unwrap();
    let mut reversed = MemoryGraph::new();
    for e in w.events.iter().rev() {
        reversed.apply(e).unwrap();
    }
    assert_eq!(forward(&reversed, &root).unwrap(), in_order);
    assert_eq!(
        backward(&reversed, &child).unwrap(),
        backward(&w.mem, &child).unwrap()
    );
}

#[test]
fn broken_chains_say_where_they_break() {
    let mut w = World::new(10);
    let (_, root) = w.buy("m1", g(10), None);
    let (sale, v) = w.sell("m1", &root, g(4), "m2");
    let (_, child) = w.buy("m2", g(4), Some(&v));
    w.void("m1", sale);
    let b = w.backward(&child).unwrap();
    assert_eq!(b.end, ChainEnd::VoucherNotFound { voucher_code: v });
    assert_eq!(b.chain.len(), 1);
}

#[test]
fn cycles_and_duplicate_facts_are_refused_or_flagged() {
    let mut mem = MemoryGraph::new();
    let mut w = World::new(11);
    let (_, root) = w.buy("m1", g(10), None);
    for e in &w.events {
        mem.apply(e).unwrap();
    }
    assert!(matches!(
        mem.apply(&w.events[0]),
        Err(GraphError::DuplicateEntry(_))
    ));
    // A forged loop: a batch that redeems a voucher issued from itself.
    let mut rng = rand::rng();
    let (a, v) = (
        crate::codes::new_code(&mut rng),
        crate::codes::new_code(&mut rng),
    );
    let LedgerEvent::Purchase(mut p) = w.events[0].clone() else {
        unreachable!()
    };
    p.entry_id = Uuid::now_v7();
    p.trace_code = Some(a.clone());
    p.voucher_code = Some(v.clone());
    mem.apply(&LedgerEvent::Purchase(p)).unwrap();
    mem.apply(&LedgerEvent::Sale(Sale {
        entry_id: Uuid::now_v7(),
        merchant_id: "m1".into(),
        trace_code: a.clone(),
        quantity: g(1),
        buyer: Buyer::Merchant {
            merchant_id: "m2".into(),
        },
        voucher_code: Some(v),
        unit_price_fen: None,
        sold_at: Utc::now().fixed_offset(),
    }))
    .unwrap();
    let f = forward(&mem, &a).unwrap();
    assert!(f.cycle && !f.is_balanced());
    assert_eq!(
        backward(&mem, &a).unwrap().end,
        ChainEnd::Cycle { trace_code: a }
    );
    assert!(forward(&mem, &root).unwrap().is_balanced());
}

#[test]
fn two_purchases_scanning_one_voucher_before_its_sale_are_both_holders() {
    let mut w = World::new(12);
    let (_, root) = w.buy("m1", g(10), None);
    let v = w.new_code();
    let (_, a) = w.buy("m2", g(4), Some(&v));
    let (_, b) = w.buy("m2", g(4), Some(&v));
    w.sale_with(
        "m1",
        &root,
        g(4),
        Buyer::Merchant {
            merchant_id: "m2".into(),
        },
        Some(v.clone()),
    );
    let t = w.forward(&root).unwrap();
    let mut codes: Vec<&str> = t.holders.iter().map(|h| h.trace_code.as_str()).collect();
    codes.sort_unstable();
    let mut expected = vec![a.as_str(), b.as_str()];
    expected.sort_unstable();
    assert_eq!(codes, expected);
    assert_eq!(
        t.totals[0].receipt_difference,
        g(4),
        "the second receipt shows as a difference"
    );
    assert!(t.is_balanced());
    assert!(w.backward(&b).unwrap().contains(&root));
}
