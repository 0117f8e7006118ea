//! CSV: UTF-8 with a byte-order mark (Excel opens Chinese text right only
//! with it), RFC 4180 quoting and CRLF line ends (the `csv` crate), one
//! record per [`Row`].
//!
//! Free text typed by merchants (names, products, reasons) that starts
//! with `=`, `+`, `-`, `@` or a tab is written with a leading `'`, so a
//! spreadsheet never runs it as a formula (OWASP's CSV injection advice);
//! numbers, dates and codes are written as they are.

use chrono::SecondsFormat;

use super::china_time;
use super::rows::{Row, COLUMNS};

/// The UTF-8 byte-order mark.
pub const BOM: &[u8] = b"\xEF\xBB\xBF";

fn writer() -> csv::Writer<Vec<u8>> {
    csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::with_capacity(64 * 1024))
}

/// The BOM and the header record.
pub fn head() -> Result<Vec<u8>, csv::Error> {
    let mut w = writer();
    w.write_record(COLUMNS)?;
    let mut out = BOM.to_vec();
    out.extend(w.into_inner().map_err(|e| e.into_error())?);
    Ok(out)
}

/// Text as a spreadsheet should see it: never a formula.
fn text(s: &str) -> std::borrow::Cow<'_, str> {
    match s.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{s}").into(),
        _ => s.into(),
    }
}

/// The records of `rows`.
pub fn records(rows: &[Row]) -> Result<Vec<u8>, csv::Error> {
    let mut w = writer();
    for r in rows {
        let opt = |s: &Option<String>| s.as_deref().map(text).unwrap_or_default().into_owned();
        w.write_record([
            china_time(r.at).to_rfc3339_opts(SecondsFormat::Millis, true),
            r.event.code().to_owned(),
            r.event.zh().to_owned(),
            r.holder_id.clone(),
            opt(&r.holder_name),
            r.counterparty_id.clone().unwrap_or_default(),
            opt(&r.counterparty_name),
            r.counterparty_uscc.clone().unwrap_or_default(),
            r.trace_code.clone(),
            opt(&r.product),
            r.category
                .map(|c| c.as_str().to_owned())
                .unwrap_or_default(),
            r.gtin.clone().unwrap_or_default(),
            r.quantity.value_string(),
            r.quantity.wire_unit().to_owned(),
            r.voucher_code.clone().unwrap_or_default(),
            r.production_date.map(|d| d.to_string()).unwrap_or_default(),
            r.expiry_date.map(|d| d.to_string()).unwrap_or_default(),
            text(&r.certificates_text()).into_owned(),
            r.unit_price_fen.map(|p| p.to_string()).unwrap_or_default(),
            opt(&r.reason),
            r.entry_id.to_string(),
        ])?;
    }
    w.into_inner().map_err(|e| e.into_error().into())
}

#[cfg(test)]
mod tests {
    use chrono::DateTime;
    use shian_core::category::{Category, Certificate, CertificateKind};
    use shian_core::quantity::{BaseUnit, Quantity};

    use super::*;
    use crate::exports::rows::Event;

    fn row(product: &str, counterparty: &str) -> Row {
        Row {
            at: DateTime::parse_from_rfc3339("2026-12-01T08:30:00+08:00").unwrap(),
            event: Event::SaleNamed,
            holder_id: "m-1".into(),
            holder_name: Some("鑫海冻品".into()),
            counterparty_id: None,
            counterparty_name: Some(counterparty.into()),
            counterparty_uscc: None,
            trace_code: "0123456789ABCDEF".into(),
            product: Some(product.into()),
            category: Some(Category::Frozen),
            gtin: None,
            quantity: Quantity::new(1250, BaseUnit::Gram),
            voucher_code: None,
            production_date: None,
            expiry_date: None,
            certificates: vec![Certificate {
                kind: CertificateKind::Quarantine,
                number: "A,1".into(),
            }],
            unit_price_fen: Some(700),
            reason: None,
            entry_id: uuid::Uuid::nil(),
        }
    }

    /// Quotes, commas, CR and LF inside a field come back as they went in
    /// (the ledger refuses control characters today; the file must not
    /// depend on it), and a leading `=` is defused.
    #[test]
    fn fields_round_trip_through_rfc_4180_quoting() {
        let product = "冻\"牛\"腱,\r\n一级\n(进口)";
        let mut bytes = head().unwrap();
        bytes.extend(records(&[row(product, "=1+1 食堂")]).unwrap());
        assert!(bytes.starts_with(BOM));
        let mut r = ::csv::ReaderBuilder::new()
            .has_headers(true)
            .from_reader(&bytes[BOM.len()..]);
        assert_eq!(r.headers().unwrap().len(), COLUMNS.len());
        let rec: Vec<::csv::StringRecord> = r.records().map(Result::unwrap).collect();
        assert_eq!(rec.len(), 1);
        assert_eq!(&rec[0][9], product);
        assert_eq!(&rec[0][6], "'=1+1 食堂");
        assert_eq!(&rec[0][0], "2026-12-01T08:30:00.000+08:00");
        assert_eq!(&rec[0][12], "1.25");
        assert_eq!(&rec[0][17], "quarantine:A,1");
    }
}
