//! Forward trace: from one batch to every downstream batch at any depth,
//! with what each received and where every gram went (retail, named buyers
//! off the platform, other merchants, destroyed, returned, still held), plus
//! the vouchers nobody has scanned yet (goods in transit).
//!
//! The figures add up exactly, per unit, in [`UnitTotals`]: a recall must be
//! able to say where every kilogram of a bad batch is, and a gap in the sum
//! is itself a finding (a buyer who received more than the voucher said).

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{canonical, wire, BatchNode, MovementKind, TraceError, TraceGraph, MAX_DEPTH};
use crate::quantity::{BaseUnit, Quantity};

/// The answer of `GET /v1/trace/{trace_code}/forward`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ForwardTrace {
    pub trace_code: String,
    /// The traced batch itself (depth 0).
    pub root: TraceNode,
    /// One row per downstream batch, at any depth, ordered by depth, then
    /// receipt time, then code (the same order on every store).
    pub holders: Vec<TraceNode>,
    /// Sold at retail by the root and every holder, in the root's unit.
    #[serde(serialize_with = "wire::qty")]
    pub retail_sold: Quantity,
    /// Still held by the root and every holder, in the root's unit.
    #[serde(serialize_with = "wire::qty")]
    pub held: Quantity,
    /// Vouchers issued and not yet scanned by their buyer.
    pub in_transit: Vec<InTransit>,
    /// The mass balance per unit, the root's unit first.
    pub totals: Vec<UnitTotals>,
    /// A chain deeper than [`MAX_DEPTH`] was cut off.
    pub truncated: bool,
    /// A batch was reached twice (only corrupt or forged data does this).
    pub cycle: bool,
}

impl ForwardTrace {
    /// Whether every batch was reached once and every unit's balance holds.
    pub fn is_balanced(&self) -> bool {
        !self.truncated && !self.cycle && self.totals.iter().all(UnitTotals::balances)
    }
}

/// One batch in a forward trace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TraceNode {
    pub merchant_id: String,
    pub merchant_name: Option<String>,
    pub trace_code: String,
    /// The batch whose sale this one received; `None` for the root.
    pub parent_trace_code: Option<String>,
    /// The voucher this batch was received with.
    pub voucher_code: Option<String>,
    pub depth: u32,
    pub product_name: String,
    pub received_at: DateTime<Utc>,
    #[serde(serialize_with = "wire::qty")]
    pub received: Quantity,
    #[serde(serialize_with = "wire::qty")]
    pub retail_sold: Quantity,
    /// Sold to named buyers off the platform (see `named_buyers`).
    #[serde(serialize_with = "wire::qty")]
    pub named_sold: Quantity,
    /// Sold to platform merchants with a voucher.
    #[serde(serialize_with = "wire::qty")]
    pub sold_to_merchants: Quantity,
    #[serde(serialize_with = "wire::qty")]
    pub destroyed: Quantity,
    #[serde(serialize_with = "wire::qty")]
    pub returned: Quantity,
    /// Sum of stock-count corrections (signed).
    #[serde(serialize_with = "wire::qty")]
    pub adjusted: Quantity,
    /// received + adjusted − everything that left. Negative when more was
    /// sold than the batch held: goods of unknown origin (来源不明).
    #[serde(serialize_with = "wire::qty")]
    pub held: Quantity,
    /// Off-platform buyers by name (they get the recall notice by hand).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub named_buyers: Vec<NamedBuyer>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NamedBuyer {
    pub name: String,
    #[serde(serialize_with = "wire::qty")]
    pub quantity: Quantity,
}

/// A voucher issued and not scanned yet: the goods are on a truck, or the
/// buyer has not synced, or never will (a lead for the inspector).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InTransit {
    pub from_trace_code: String,
    pub seller_merchant_id: String,
    pub voucher_code: String,
    pub buyer_merchant_id: String,
    pub buyer_merchant_name: Option<String>,
    #[serde(serialize_with = "wire::qty")]
    pub quantity: Quantity,
    pub sold_at: DateTime<Utc>,
}

/// The balance of one unit over the root and its holders. Boxes are never
/// added to grams: a batch received in another unit than its voucher starts
/// a balance of its own (`entered`), and the voucher leaves the seller's
/// unit as `converted_out`. Exactly:
///
/// entered + adjusted + receipt_difference
///   = retail_sold + named_sold + destroyed + returned + held + in_transit + converted_out
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnitTotals {
    /// Batches of the trace kept in this unit.
    pub batches: usize,
    /// The root's receipt, and receipts of batches that changed unit.
    #[serde(serialize_with = "wire::qty")]
    pub entered: Quantity,
    #[serde(serialize_with = "wire::qty")]
    pub adjusted: Quantity,
    /// What buyers recorded receiving minus what the vouchers said.
    #[serde(serialize_with = "wire::qty")]
    pub receipt_difference: Quantity,
    #[serde(serialize_with = "wire::qty")]
    pub retail_sold: Quantity,
    #[serde(serialize_with = "wire::qty")]
    pub named_sold: Quantity,
    /// Moved on to merchants within the trace (not part of the balance:
    /// it reappears as their receipts).
    #[serde(serialize_with = "wire::qty")]
    pub sold_to_merchants: Quantity,
    #[serde(serialize_with = "wire::qty")]
    pub destroyed: Quantity,
    #[serde(serialize_with = "wire::qty")]
    pub returned: Quantity,
    #[serde(serialize_with = "wire::qty")]
    pub held: Quantity,
    #[serde(serialize_with = "wire::qty")]
    pub in_transit: Quantity,
    #[serde(serialize_with = "wire::qty")]
    pub converted_out: Quantity,
}

impl UnitTotals {
    fn new(unit: BaseUnit) -> Self {
        let zero = Quantity::new(0, unit);
        Self {
            batches: 0,
            entered: zero,
            adjusted: zero,
            receipt_difference: zero,
            retail_sold: zero,
            named_sold: zero,
            sold_to_merchants: zero,
            destroyed: zero,
            returned: zero,
            held: zero,
            in_transit: zero,
            converted_out: zero,
        }
    }

    pub fn unit(&self) -> BaseUnit {
        self.entered.unit
    }

    /// The identity in the type's documentation.
    pub fn balances(&self) -> bool {
        let came = i128::from(self.entered.amount)
            + i128::from(self.adjusted.amount)
            + i128::from(self.receipt_difference.amount);
        let went = [
            self.retail_sold,
            self.named_sold,
            self.destroyed,
            self.returned,
            self.held,
            self.in_transit,
            self.converted_out,
        ]
        .iter()
        .map(|q| i128::from(q.amount))
        .sum::<i128>();
        came == went
    }
}

/// Adds without overflow panics. Each entry is bounded by
/// [`crate::quantity::MAX_GRAMS`] (10¹¹), so i64 holds the sum of 10⁷
/// entries exactly; beyond that a trace saturates rather than wraps.
fn add(q: &mut Quantity, amount: i64) {
    q.amount = q.amount.saturating_add(amount);
}

/// Totals per unit, the root's unit first.
struct Ledger(Vec<UnitTotals>);

impl Ledger {
    fn unit(&mut self, unit: BaseUnit) -> &mut UnitTotals {
        let i = match self.0.iter().position(|t| t.unit() == unit) {
            Some(i) => i,
            None => {
                self.0.push(UnitTotals::new(unit));
                self.0.len() - 1
            }
        };
        &mut self.0[i]
    }
}

/// A node of the trace, before its movements are read.
fn node(batch: BatchNode, parent: Option<String>, depth: u32) -> TraceNode {
    let zero = Quantity::new(0, batch.received.unit);
    TraceNode {
        merchant_id: batch.merchant_id,
        merchant_name: batch.merchant_name,
        trace_code: batch.trace_code,
        parent_trace_code: parent,
        voucher_code: batch.voucher_code,
        depth,
        product_name: batch.product_name,
        received_at: batch.received_at,
        received: batch.received,
        retail_sold: zero,
        named_sold: zero,
        sold_to_merchants: zero,
        destroyed: zero,
        returned: zero,
        adjusted: zero,
        held: zero,
        named_buyers: Vec::new(),
    }
}

/// What left one batch, summed while its movements are read.
#[derive(Default)]
struct Flows {
    retail: i64,
    named: i64,
    merchants: i64,
    destroyed: i64,
    returned: i64,
    adjusted: i64,
}

impl Flows {
    fn record(node: &mut TraceNode, flows: Flows, named: BTreeMap<String, i64>) {
        let unit = node.received.unit;
        let q = |amount| Quantity::new(amount, unit);
        node.retail_sold = q(flows.retail);
        node.named_sold = q(flows.named);
        node.sold_to_merchants = q(flows.merchants);
        node.destroyed = q(flows.destroyed);
        node.returned = q(flows.returned);
        node.adjusted = q(flows.adjusted);
        let left = [
            flows.retail,
            flows.named,
            flows.merchants,
            flows.destroyed,
            flows.returned,
        ]
        .iter()
        .fold(0i64, |a, b| a.saturating_add(*b));
        node.held = q(node
            .received
            .amount
            .saturating_add(flows.adjusted)
            .saturating_sub(left));
        node.named_buyers = named
            .into_iter()
            .map(|(name, amount)| NamedBuyer {
                name,
                quantity: q(amount),
            })
            .collect();
    }
}

fn add_to(sum: &mut i64, amount: i64) {
    *sum = sum.saturating_add(amount);
}

/// A voucher nobody has scanned, with its buyer from the voucher's sale.
fn in_transit_row<G: TraceGraph + ?Sized>(
    graph: &G,
    seller: &TraceNode,
    voucher: &G::Voucher,
    quantity: Quantity,
) -> Result<InTransit, TraceError> {
    let sale = graph.voucher_sale(voucher)?.ok_or_else(|| {
        TraceError::Storage(format!(
            "a live sale of batch {} has no voucher record",
            seller.trace_code
        ))
    })?;
    Ok(InTransit {
        from_trace_code: seller.trace_code.clone(),
        seller_merchant_id: seller.merchant_id.clone(),
        buyer_merchant_name: graph.merchant_name(&sale.buyer_merchant_id)?,
        buyer_merchant_id: sale.buyer_merchant_id,
        voucher_code: sale.voucher_code,
        quantity,
        sold_at: sale.sold_at,
    })
}

/// Every downstream holder of `trace_code`, with the exact balance.
///
/// Breadth first: `nodes[i]` is the i-th batch reached and `handles[i]` its
/// handle in the store; a batch is read once however it is reached.
pub fn forward<G: TraceGraph + ?Sized>(
    graph: &G,
    trace_code: &str,
) -> Result<ForwardTrace, TraceError> {
    let code = canonical(trace_code)?;
    let handle = graph.find(&code)?.ok_or_else(|| TraceError::NotFound {
        trace_code: code.clone(),
    })?;
    let root = graph.batch(&handle)?;
    let root_unit = root.received.unit;
    let mut totals = Ledger(vec![UnitTotals::new(root_unit)]);
    add(&mut totals.unit(root_unit).entered, root.received.amount);

    let mut visited: HashSet<G::Batch, FastHash> = HashSet::default();
    visited.insert(handle.clone());
    let mut nodes = vec![node(root, None, 0)];
    let mut handles = vec![handle];
    let mut in_transit = Vec::new();
    let (mut truncated, mut cycle) = (false, false);

    let mut i = 0;
    while let (Some(handle), Some(parent)) = (handles.get(i).cloned(), nodes.get(i)) {
        let (unit, depth, parent_code) = (
            parent.received.unit,
            parent.depth,
            parent.trace_code.clone(),
        );
        let mut flows = Flows::default();
        let mut named: BTreeMap<String, i64> = BTreeMap::new();
        for m in graph.movements(&handle)? {
            match m.kind {
                MovementKind::SaleRetail => add_to(&mut flows.retail, m.amount),
                MovementKind::Destroyed => add_to(&mut flows.destroyed, m.amount),
                MovementKind::Returned => add_to(&mut flows.returned, m.amount),
                MovementKind::Adjust => add_to(&mut flows.adjusted, m.amount),
                MovementKind::SaleNamed { buyer_name } => {
                    add_to(&mut flows.named, m.amount);
                    add_to(named.entry(buyer_name).or_insert(0), m.amount);
                }
                MovementKind::SaleMerchant { voucher } => {
                    add_to(&mut flows.merchants, m.amount);
                    let children = graph.redeemed_by(&voucher)?;
                    if children.is_empty() {
                        add(&mut totals.unit(unit).in_transit, m.amount);
                        if let Some(seller) = nodes.get(i) {
                            in_transit.push(in_transit_row(
                                graph,
                                seller,
                                &voucher,
                                Quantity::new(m.amount, unit),
                            )?);
                        }
                        continue;
                    }
                    // What buyers in the seller's unit recorded, against the voucher.
                    let (mut same_unit, mut received) = (false, 0i64);
                    for child in children {
                        let batch = graph.batch(&child)?;
                        if batch.received.unit == unit {
                            same_unit = true;
                            received = received.saturating_add(batch.received.amount);
                        } else {
                            add(
                                &mut totals.unit(batch.received.unit).entered,
                                batch.received.amount,
                            );
                        }
                        if depth >= MAX_DEPTH {
                            truncated = true;
                        } else if !visited.insert(child.clone()) {
                            cycle = true;
                        } else {
                            nodes.push(node(batch, Some(parent_code.clone()), depth + 1));
                            handles.push(child);
                        }
                    }
                    if same_unit {
                        add(
                            &mut totals.unit(unit).receipt_difference,
                            received.saturating_sub(m.amount),
                        );
                    } else {
                        add(&mut totals.unit(unit).converted_out, m.amount);
                    }
                }
            }
        }
        if let Some(n) = nodes.get_mut(i) {
            Flows::record(n, flows, named);
            let t = totals.unit(unit);
            t.batches += 1;
            for (sum, part) in [
                (&mut t.adjusted, n.adjusted),
                (&mut t.retail_sold, n.retail_sold),
                (&mut t.named_sold, n.named_sold),
                (&mut t.sold_to_merchants, n.sold_to_merchants),
                (&mut t.destroyed, n.destroyed),
                (&mut t.returned, n.returned),
                (&mut t.held, n.held),
            ] {
                add(sum, part.amount);
            }
        }
        i += 1;
    }

    // The root is nodes[0]; the holders are sorted below, so the last node
    // may take its place.
    let root = nodes.swap_remove(0);
    let holders = sorted(nodes);
    in_transit.sort_by(|a, b| (a.sold_at, &a.voucher_code).cmp(&(b.sold_at, &b.voucher_code)));
    let totals = totals.0;
    Ok(ForwardTrace {
        trace_code: code,
        retail_sold: totals[0].retail_sold,
        held: totals[0].held,
        root,
        holders,
        in_transit,
        totals,
        truncated,
        cycle,
    })
}

/// Holders by depth, receipt time and code: the same order on every store.
/// Sorts positions rather than the (large) rows, then moves each row once.
fn sorted(nodes: Vec<TraceNode>) -> Vec<TraceNode> {
    let mut order: Vec<usize> = (0..nodes.len()).collect();
    order.sort_unstable_by(|&a, &b| {
        let (a, b) = (&nodes[a], &nodes[b]);
        (a.depth, a.received_at, &a.trace_code).cmp(&(b.depth, b.received_at, &b.trace_code))
    });
    let mut slots: Vec<Option<TraceNode>> = nodes.into_iter().map(Some).collect();
    order
        .into_iter()
        .filter_map(|i| slots.get_mut(i).and_then(Option::take))
        .collect()
}

/// FxHash (rustc's hasher): the visited set holds a store's handles (small
/// integers or codes) on a path an adversary does not choose, so a fast
/// non-keyed hash is safe and several times cheaper than SipHash.
#[derive(Default, Clone, Copy)]
struct FastHash;

impl std::hash::BuildHasher for FastHash {
    type Hasher = FxHasher;
    fn build_hasher(&self) -> FxHasher {
        FxHasher(0)
    }
}

struct FxHasher(u64);

impl std::hash::Hasher for FxHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }
    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}
