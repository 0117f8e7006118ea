//! EPCIS 2.0 JSON-LD: an `EPCISDocument` whose event list is written one
//! event per [`Row`], so it streams like the CSV.
//!
//! How the ledger maps (CBV 2.0 terms, which the EPCIS context expands to
//! the `https://ref.gs1.org/cbv/BizStep-…` and `…/Disp-…` URIs; the schema
//! refuses the old URN spellings):
//!
//! | ledger | event | action | bizStep | disposition |
//! |---|---|---|---|---|
//! | purchase | ObjectEvent | ADD (our lot code is made on receipt; `ilmd` carries its dates) | receiving | active |
//! | sale to a merchant or a named buyer | ObjectEvent | OBSERVE | shipping | in_transit |
//! | retail sale | ObjectEvent | OBSERVE | retail_selling | retail_sold |
//! | destroyed | ObjectEvent | DELETE | destroying | destroyed |
//! | returned | ObjectEvent | OBSERVE | shipping | returned |
//! | stock-count correction | ObjectEvent | OBSERVE | stock_taking | active |
//!
//! Object events only: the ledger records no packing (AggregationEvent)
//! and no processing (TransformationEvent). A buyer's batch gets a new lot
//! code on receipt; it is linked to the seller's shipping by the voucher,
//! which both events carry as the same `desadv` business transaction.
//!
//! Identifiers: a lot class is a GS1 Digital Link URI
//! (`https://id.gs1.org/01/{GTIN-14}/10/{trace code}`) when the product has
//! a GTIN, else the URN `urn:shian:lot:{trace code}`; merchants (read
//! point, business location, owning parties) are URNs
//! `urn:shian:merchant:{id}`, an off-platform supplier with a USCC
//! `urn:shian:uscc:{uscc}`, a voucher `urn:shian:voucher:{code}`, a
//! certificate `urn:shian:certificate:{kind}:{number}` (business
//! transaction type `cert`). What EPCIS has no field for (product name,
//! category, prices, names, reasons) goes in `shian:` extension members
//! under a namespace declared in the document's `@context`.

use chrono::{SecondsFormat, Utc};
use serde_json::{json, Map, Value};
use shian_core::quantity::BaseUnit;

use super::china_time;
use super::rows::{Event, Row};

/// The EPCIS 2.0 JSON-LD context.
const EPCIS_CONTEXT: &str = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld";
/// Our extension namespace.
const SHIAN_NS: &str = "urn:shian:epcis:";

/// The document up to the first event.
pub fn head() -> Vec<u8> {
    let doc = json!({
        "@context": [EPCIS_CONTEXT, {"shian": SHIAN_NS}],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true),
    });
    // `{…}` without its closing brace, then the body.
    let mut text = doc.to_string();
    text.pop();
    text.push_str(",\"epcisBody\":{\"eventList\":[");
    text.into_bytes()
}

/// What closes the document.
pub fn tail() -> &'static [u8] {
    b"]}}"
}

/// Percent-encodes what a URI path segment may not hold (RFC 3986
/// unreserved characters pass).
fn seg(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn merchant(id: &str) -> String {
    format!("urn:shian:merchant:{}", seg(id))
}

fn lot_class(r: &Row) -> String {
    match &r.gtin {
        Some(g) => format!("https://id.gs1.org/01/{g:0>14}/10/{}", seg(&r.trace_code)),
        None => format!("urn:shian:lot:{}", seg(&r.trace_code)),
    }
}

/// UN/CEFACT Recommendation 20/21 codes.
fn uom(unit: BaseUnit) -> &'static str {
    match unit {
        BaseUnit::Gram => "KGM",
        BaseUnit::Piece => "H87",
        BaseUnit::Bag => "XBG",
        BaseUnit::Box => "XBX",
    }
}

/// The events written before `r` decide whether it needs a comma.
pub fn event(r: &Row, first: bool, out: &mut Vec<u8>) {
    if !first {
        out.push(b',');
    }
    // Cannot fail: a tree of strings and numbers.
    let _ = serde_json::to_writer(&mut *out, &event_value(r));
}

fn event_value(r: &Row) -> Value {
    let (action, biz_step, disposition) = match r.event {
        Event::Purchase => ("ADD", "receiving", "active"),
        Event::SaleMerchant | Event::SaleNamed => ("OBSERVE", "shipping", "in_transit"),
        Event::SaleRetail => ("OBSERVE", "retail_selling", "retail_sold"),
        Event::Destroyed => ("DELETE", "destroying", "destroyed"),
        Event::Returned => ("OBSERVE", "shipping", "returned"),
        Event::Adjust => ("OBSERVE", "stock_taking", "active"),
    };
    let at = china_time(r.at);
    let amount: f64 = r
        .quantity
        .value_string()
        .trim_start_matches('-')
        .parse()
        .unwrap_or(0.0);
    let here = json!({"id": merchant(&r.holder_id)});
    let mut e = Map::new();
    e.insert("type".into(), "ObjectEvent".into());
    e.insert(
        "eventTime".into(),
        at.to_rfc3339_opts(SecondsFormat::Millis, true).into(),
    );
    e.insert("eventTimeZoneOffset".into(), "+08:00".into());
    e.insert("eventID".into(), format!("urn:uuid:{}", r.entry_id).into());
    e.insert("action".into(), action.into());
    e.insert("bizStep".into(), biz_step.into());
    e.insert("disposition".into(), disposition.into());
    e.insert(
        "quantityList".into(),
        json!([{"epcClass": lot_class(r), "quantity": amount, "uom": uom(r.quantity.unit)}]),
    );
    e.insert("readPoint".into(), here.clone());
    e.insert("bizLocation".into(), here);
    let mut transactions = Vec::new();
    if let Some(v) = &r.voucher_code {
        transactions.push(
            json!({"type": "desadv", "bizTransaction": format!("urn:shian:voucher:{}", seg(v))}),
        );
    }
    if r.event == Event::Purchase {
        for c in &r.certificates {
            transactions.push(json!({"type": "cert", "bizTransaction":
                format!("urn:shian:certificate:{}:{}", c.kind.as_str(), seg(&c.number))}));
        }
    }
    if !transactions.is_empty() {
        e.insert("bizTransactionList".into(), transactions.into());
    }
    let party = match (&r.counterparty_id, &r.counterparty_uscc) {
        (Some(id), _) => Some(merchant(id)),
        (None, Some(uscc)) => Some(format!("urn:shian:uscc:{}", seg(uscc))),
        _ => None,
    };
    let holder = merchant(&r.holder_id);
    match r.event {
        Event::Purchase => {
            if let Some(p) = party {
                e.insert(
                    "sourceList".into(),
                    json!([{"type": "owning_party", "source": p}]),
                );
            }
            e.insert(
                "destinationList".into(),
                json!([{"type": "owning_party", "destination": holder}]),
            );
            let mut ilmd = Map::new();
            ilmd.insert("cbvmda:lotNumber".into(), r.trace_code.clone().into());
            if let Some(d) = r.expiry_date {
                ilmd.insert("cbvmda:itemExpirationDate".into(), d.to_string().into());
            }
            if let Some(d) = r.production_date {
                ilmd.insert("shian:productionDate".into(), d.to_string().into());
            }
            e.insert("ilmd".into(), ilmd.into());
        }
        Event::SaleMerchant | Event::SaleNamed | Event::Returned => {
            e.insert(
                "sourceList".into(),
                json!([{"type": "owning_party", "source": holder}]),
            );
            if let Some(p) = party {
                e.insert(
                    "destinationList".into(),
                    json!([{"type": "owning_party", "destination": p}]),
                );
            }
        }
        _ => {}
    }
    let mut ext = |k: &str, v: Option<Value>| {
        if let Some(v) = v {
            e.insert(format!("shian:{k}"), v);
        }
    };
    ext("event", Some(r.event.code().into()));
    ext("traceCode", Some(r.trace_code.clone().into()));
    ext("productName", r.product.clone().map(Into::into));
    ext("category", r.category.map(|c| c.as_str().into()));
    ext("holderName", r.holder_name.clone().map(Into::into));
    ext(
        "counterpartyName",
        r.counterparty_name.clone().map(Into::into),
    );
    ext("unitPriceFen", r.unit_price_fen.map(Into::into));
    ext("reason", r.reason.clone().map(Into::into));
    if r.event == Event::Adjust {
        ext(
            "adjustment",
            Some(format!("{} {}", r.quantity.value_string(), r.quantity.wire_unit()).into()),
        );
    }
    e.into()
}
