//! Forward trace: from one batch to every downstream batch at any depth,
//! with what each received and where every gram went (retail, named buyers
//! off the platform, other merchants, destroyed, returned, still held), plus
//! the vouchers nobody has scanned yet (goods in transit).
//!
//! The figures add up exactly, per unit, in [`UnitTotals`]: a recall must be
//! able to say where every kilogram of a bad batch is, and a gap in the sum
//! is itself a finding (a buyer who received more than the voucher said).

use std::collections::{BTreeMap, HashSet, VecDeque};

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
        let came = i128::from(self.entered.amount) + i128::from(self.adjusted.amount) + i128::from(self.receipt_difference.amount);
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

/// A batch waiting in the breadth-first queue.
struct Pending {
    batch: BatchNode,
    parent: Option<String>,
    depth: u32,
}

/// A voucher nobody has scanned, with its buyer from the voucher's sale.
fn in_transit_row<G: TraceGraph + ?Sized>(
    graph: &G,
    seller: &TraceNode,
    voucher_code: String,
    quantity: Quantity,
) -> Result<InTransit, TraceError> {
    let sale = graph
        .voucher_sale(&voucher_code)?
        .ok_or_else(|| TraceError::Storage(format!("voucher {voucher_code} has a live sale but no sale record")))?;
    Ok(InTransit {
        from_trace_code: seller.trace_code.clone(),
        seller_merchant_id: seller.merchant_id.clone(),
        buyer_merchant_name: graph.merchant_name(&sale.buyer_merchant_id)?,
        buyer_merchant_id: sale.buyer_merchant_id,
        voucher_code,
        quantity,
        sold_at: sale.sold_at,
    })
}

/// Every downstream holder of `trace_code`, with the exact balance.
pub fn forward<G: TraceGraph + ?Sized>(graph: &G, trace_code: &str) -> Result<ForwardTrace, TraceError> {
    let code = canonical(trace_code)?;
    let root = graph.batch(&code)?.ok_or_else(|| TraceError::NotFound { trace_code: code.clone() })?;
    let root_unit = root.received.unit;
    let mut totals = Ledger(vec![UnitTotals::new(root_unit)]);
    add(&mut totals.unit(root_unit).entered, root.received.amount);

    let mut visited: HashSet<String> = HashSet::from([root.trace_code.clone()]);
    let mut queue = VecDeque::from([Pending { batch: root, parent: None, depth: 0 }]);
    let mut nodes = Vec::new();
    let mut in_transit = Vec::new();
    let (mut truncated, mut cycle) = (false, false);

    while let Some(Pending { batch, parent, depth }) = queue.pop_front() {
        let unit = batch.received.unit;
        let zero = Quantity::new(0, unit);
        let mut node = TraceNode {
            merchant_name: batch.merchant_name,
            merchant_id: batch.merchant_id,
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
        };
        let mut named: BTreeMap<String, i64> = BTreeMap::new();
        for m in graph.movements(&node.trace_code)? {
            match m.kind {
                MovementKind::SaleRetail => add(&mut node.retail_sold, m.amount),
                MovementKind::Destroyed => add(&mut node.destroyed, m.amount),
                MovementKind::Returned => add(&mut node.returned, m.amount),
                MovementKind::Adjust => add(&mut node.adjusted, m.amount),
                MovementKind::SaleNamed { buyer_name } => {
                    add(&mut node.named_sold, m.amount);
                    let n = named.entry(buyer_name).or_insert(0);
                    *n = n.saturating_add(m.amount);
                }
                MovementKind::SaleMerchant { voucher_code } => {
                    add(&mut node.sold_to_merchants, m.amount);
                    let children = graph.redeemed_by(&voucher_code)?;
                    if children.is_empty() {
                        add(&mut totals.unit(unit).in_transit, m.amount);
                        in_transit.push(in_transit_row(graph, &node, voucher_code, Quantity::new(m.amount, unit))?);
                        continue;
                    }
                    let same_unit: Vec<i64> =
                        children.iter().filter(|c| c.received.unit == unit).map(|c| c.received.amount).collect();
                    if same_unit.is_empty() {
                        add(&mut totals.unit(unit).converted_out, m.amount);
                    } else {
                        let received = same_unit.iter().fold(0i64, |a, b| a.saturating_add(*b));
                        add(&mut totals.unit(unit).receipt_difference, received.saturating_sub(m.amount));
                    }
                    for child in children {
                        if child.received.unit != unit {
                            add(&mut totals.unit(child.received.unit).entered, child.received.amount);
                        }
                        if !visited.insert(child.trace_code.clone()) {
                            cycle = true;
                        } else if depth >= MAX_DEPTH {
                            truncated = true;
                        } else {
                            queue.push_back(Pending { batch: child, parent: Some(node.trace_code.clone()), depth: depth + 1 });
                        }
                    }
                }
            }
        }
        node.named_buyers = named.into_iter().map(|(name, amount)| NamedBuyer { name, quantity: Quantity::new(amount, unit) }).collect();
        let left = [node.retail_sold, node.named_sold, node.sold_to_merchants, node.destroyed, node.returned]
            .iter()
            .fold(0i64, |a, q| a.saturating_add(q.amount));
        node.held.amount = node.received.amount.saturating_add(node.adjusted.amount).saturating_sub(left);

        let t = totals.unit(unit);
        t.batches += 1;
        for (sum, part) in [
            (&mut t.adjusted, node.adjusted),
            (&mut t.retail_sold, node.retail_sold),
            (&mut t.named_sold, node.named_sold),
            (&mut t.sold_to_merchants, node.sold_to_merchants),
            (&mut t.destroyed, node.destroyed),
            (&mut t.returned, node.returned),
            (&mut t.held, node.held),
        ] {
            add(sum, part.amount);
        }
        nodes.push(node);
    }

    let mut nodes = nodes.into_iter();
    // The queue starts with the root, so the first node is always there.
    let Some(root) = nodes.next() else { return Err(TraceError::NotFound { trace_code: code }) };
    let mut holders: Vec<TraceNode> = nodes.collect();
    holders.sort_by(|a, b| (a.depth, a.received_at, &a.trace_code).cmp(&(b.depth, b.received_at, &b.trace_code)));
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
