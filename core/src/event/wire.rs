//! The canonical wire form of a ledger event, written by serde straight
//! from the event.
//!
//! Canonical means: the fields of every object in byte order of their
//! names (the order serde_json's `Value` keeps), absent options left out,
//! no spaces. The outbox, the server's `entries` and pull all carry this
//! text. It used to be built as a `Value` tree and then written; the server
//! writes one per pushed event, and the tree's allocations were a visible
//! share of a push (bench-ingest). Each struct below therefore declares its
//! fields in sorted order — `wire_text_is_canonical` checks it.

use serde::{Serialize, Serializer};

use super::{Buyer, LedgerEvent, Supplier};
use crate::quantity::Quantity;

/// An event, serialized as its wire payload.
pub(super) struct Wire<'a>(pub(super) &'a LedgerEvent);

impl Serialize for Wire<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            LedgerEvent::Purchase(p) => PurchaseWire {
                certificates: p
                    .certificates
                    .iter()
                    .map(|c| CertificateWire {
                        kind: c.kind.as_str(),
                        number: &c.number,
                    })
                    .collect(),
                entry_id: p.entry_id.to_string(),
                expiry_date: p.expiry_date.map(|d| d.to_string()),
                merchant_id: &p.merchant_id,
                product: ProductWire {
                    category: p.product.category.as_str(),
                    gtin: p.product.gtin.as_deref(),
                    name: &p.product.name,
                },
                production_date: p.production_date.map(|d| d.to_string()),
                quantity: QuantityWire::of(p.quantity),
                received_at: p.received_at.to_rfc3339(),
                supplier: match &p.supplier {
                    Supplier::Merchant { merchant_id } => PartyWire::Merchant { merchant_id },
                    Supplier::External {
                        name,
                        uscc,
                        region_code,
                    } => PartyWire::External {
                        name,
                        region_code: region_code.as_deref(),
                        uscc: uscc.as_deref(),
                    },
                },
                trace_code: p.trace_code.as_deref(),
                unit_price_fen: p.unit_price_fen,
                voucher_code: p.voucher_code.as_deref(),
            }
            .serialize(s),
            LedgerEvent::Sale(e) => SaleWire {
                buyer: match &e.buyer {
                    Buyer::Merchant { merchant_id } => PartyWire::Merchant { merchant_id },
                    Buyer::Named { name } => PartyWire::Named { name },
                    Buyer::Retail => PartyWire::Retail { retail: true },
                },
                entry_id: e.entry_id.to_string(),
                merchant_id: &e.merchant_id,
                quantity: QuantityWire::of(e.quantity),
                sold_at: e.sold_at.to_rfc3339(),
                trace_code: &e.trace_code,
                unit_price_fen: e.unit_price_fen,
                voucher_code: e.voucher_code.as_deref(),
            }
            .serialize(s),
            LedgerEvent::Void(e) => VoidWire {
                at: e.at.to_rfc3339(),
                entry_id: e.entry_id.to_string(),
                merchant_id: &e.merchant_id,
                reason: &e.reason,
                voided_entry_id: e.voided_entry_id.to_string(),
            }
            .serialize(s),
            LedgerEvent::Adjust(e) => AdjustWire {
                at: e.at.to_rfc3339(),
                delta: QuantityWire::of(e.delta),
                entry_id: e.entry_id.to_string(),
                merchant_id: &e.merchant_id,
                reason: &e.reason,
                trace_code: &e.trace_code,
            }
            .serialize(s),
            LedgerEvent::Dispose(e) => DisposeWire {
                at: e.at.to_rfc3339(),
                entry_id: e.entry_id.to_string(),
                merchant_id: &e.merchant_id,
                method: e.method.as_str(),
                quantity: QuantityWire::of(e.quantity),
                photos: &e.photos,
                reason: &e.reason,
                trace_code: &e.trace_code,
                witness: e.witness.as_deref(),
            }
            .serialize(s),
        }
    }
}

// Fields in byte order of their names, in every struct below.

#[derive(Serialize)]
struct PurchaseWire<'a> {
    certificates: Vec<CertificateWire<'a>>,
    entry_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    expiry_date: Option<String>,
    merchant_id: &'a str,
    product: ProductWire<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    production_date: Option<String>,
    quantity: QuantityWire,
    received_at: String,
    supplier: PartyWire<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    trace_code: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    unit_price_fen: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    voucher_code: Option<&'a str>,
}

#[derive(Serialize)]
struct SaleWire<'a> {
    buyer: PartyWire<'a>,
    entry_id: String,
    merchant_id: &'a str,
    quantity: QuantityWire,
    sold_at: String,
    trace_code: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    unit_price_fen: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    voucher_code: Option<&'a str>,
}

#[derive(Serialize)]
struct VoidWire<'a> {
    at: String,
    entry_id: String,
    merchant_id: &'a str,
    reason: &'a str,
    voided_entry_id: String,
}

#[derive(Serialize)]
struct AdjustWire<'a> {
    at: String,
    delta: QuantityWire,
    entry_id: String,
    merchant_id: &'a str,
    reason: &'a str,
    trace_code: &'a str,
}

#[derive(Serialize)]
struct DisposeWire<'a> {
    at: String,
    entry_id: String,
    merchant_id: &'a str,
    method: &'static str,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    photos: &'a [String],
    quantity: QuantityWire,
    reason: &'a str,
    trace_code: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    witness: Option<&'a str>,
}

#[derive(Serialize)]
struct ProductWire<'a> {
    category: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    gtin: Option<&'a str>,
    name: &'a str,
}

#[derive(Serialize)]
struct CertificateWire<'a> {
    kind: &'static str,
    number: &'a str,
}

#[derive(Serialize)]
struct QuantityWire {
    unit: &'static str,
    value: String,
}

impl QuantityWire {
    fn of(q: Quantity) -> Self {
        QuantityWire {
            unit: q.wire_unit(),
            value: q.value_string(),
        }
    }
}

/// A supplier or a buyer.
#[derive(Serialize)]
#[serde(untagged)]
enum PartyWire<'a> {
    Merchant {
        merchant_id: &'a str,
    },
    External {
        name: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        region_code: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        uscc: Option<&'a str>,
    },
    Named {
        name: &'a str,
    },
    Retail {
        retail: bool,
    },
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use crate::event::LedgerEvent;
    use crate::generator::{GenConfig, Generator};

    /// The text is what a `Value` of it writes (every object's keys sorted)
    /// and parses back to the same event, for every kind and shape the
    /// generator makes.
    #[test]
    fn wire_text_is_canonical() {
        let (mut kinds, mut fields) = (
            std::collections::BTreeSet::new(),
            std::collections::BTreeSet::new(),
        );
        for event in Generator::new(GenConfig::frozen_market(7))
            .take(30_000)
            .chain(Generator::new(GenConfig::xiamen(7, 20_000)))
        {
            let text = event.to_wire_string();
            let value: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(value.to_string(), text, "keys in canonical order");
            assert_eq!(event.to_wire(), value);
            assert_eq!(
                LedgerEvent::parse(event.kind(), &value).unwrap(),
                event,
                "{text}"
            );
            kinds.insert(event.kind());
            for (k, v) in value.as_object().unwrap() {
                fields.insert(k.clone());
                for k in v.as_object().into_iter().flatten().map(|(k, _)| k) {
                    fields.insert(k.clone());
                }
            }
        }
        assert_eq!(kinds.len(), 5, "every kind seen: {kinds:?}");
        for optional in [
            "gtin",
            "uscc",
            "region_code",
            "production_date",
            "expiry_date",
            "voucher_code",
            "unit_price_fen",
            "retail",
            "name",
        ] {
            assert!(
                fields.contains(optional),
                "{optional} never written: {fields:?}"
            );
        }
    }
}
