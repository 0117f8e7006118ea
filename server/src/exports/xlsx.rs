//! XLSX with `rust_xlsxwriter`: a frozen header, an autofilter over every
//! column, set column widths, times and dates as real dates, written in
//! the crate's constant-memory mode (each row goes to a temporary file as
//! the next starts, so a million rows take the memory of one).
//!
//! A zip cannot be streamed as its rows are read, so the workbook is built
//! in a file and sent from it. A sheet holds 1,048,576 rows; a longer export
//! goes on in a second sheet with the same header rather than being cut.

use std::path::Path;

use rust_xlsxwriter::{Format, Workbook, Worksheet, XlsxError};
use tokio::sync::mpsc::Receiver;

use super::china_time;
use super::rows::{Row, COLUMNS};

/// Data rows per sheet below the header (Excel's limit is 1,048,576 rows).
const ROWS_PER_SHEET: u32 = 1_048_575;

/// Widths in characters, by column (see [`COLUMNS`]).
const WIDTHS: [f64; 21] = [
    20.0, 14.0, 16.0, 20.0, 24.0, 20.0, 24.0, 20.0, 19.0, 24.0, 16.0, 15.0, 11.0, 7.0, 19.0, 12.0,
    12.0, 36.0, 12.0, 24.0, 38.0,
];

struct Formats {
    header: Format,
    time: Format,
    date: Format,
}

fn new_sheet<'a>(
    book: &'a mut Workbook,
    formats: &Formats,
    n: usize,
) -> Result<&'a mut Worksheet, XlsxError> {
    let sheet = book.add_worksheet_with_constant_memory()?;
    sheet.set_name(if n == 0 {
        "台账".to_owned()
    } else {
        format!("台账{}", n + 1)
    })?;
    // In constant-memory mode the layout is set before the first row.
    for (c, w) in WIDTHS.iter().enumerate() {
        sheet.set_column_width(c as u16, *w)?;
    }
    sheet.set_freeze_panes(1, 0)?;
    for (c, name) in COLUMNS.iter().enumerate() {
        sheet.write_string_with_format(0, c as u16, *name, &formats.header)?;
    }
    Ok(sheet)
}

fn write_row(sheet: &mut Worksheet, row: u32, r: &Row, f: &Formats) -> Result<(), XlsxError> {
    let s = |sheet: &mut Worksheet, c: u16, v: Option<&str>| -> Result<(), XlsxError> {
        if let Some(v) = v.filter(|v| !v.is_empty()) {
            sheet.write_string(row, c, v)?;
        }
        Ok(())
    };
    sheet.write_datetime_with_format(row, 0, china_time(r.at).naive_local(), &f.time)?;
    s(sheet, 1, Some(r.event.code()))?;
    s(sheet, 2, Some(r.event.zh()))?;
    s(sheet, 3, Some(&r.holder_id))?;
    s(sheet, 4, r.holder_name.as_deref())?;
    s(sheet, 5, r.counterparty_id.as_deref())?;
    s(sheet, 6, r.counterparty_name.as_deref())?;
    s(sheet, 7, r.counterparty_uscc.as_deref())?;
    s(sheet, 8, Some(&r.trace_code))?;
    s(sheet, 9, r.product.as_deref())?;
    s(sheet, 10, r.category.map(|c| c.as_str()))?;
    s(sheet, 11, r.gtin.as_deref())?;
    // Exact: grams as kg with at most three decimals, counts as integers,
    // far inside a double's 15 significant digits.
    let value: f64 = r.quantity.value_string().parse().unwrap_or(0.0);
    sheet.write_number(row, 12, value)?;
    s(sheet, 13, Some(r.quantity.wire_unit()))?;
    s(sheet, 14, r.voucher_code.as_deref())?;
    if let Some(d) = r.production_date {
        sheet.write_datetime_with_format(row, 15, d, &f.date)?;
    }
    if let Some(d) = r.expiry_date {
        sheet.write_datetime_with_format(row, 16, d, &f.date)?;
    }
    s(sheet, 17, Some(&r.certificates_text()))?;
    if let Some(p) = r.unit_price_fen {
        sheet.write_number(row, 18, p as f64)?;
    }
    s(sheet, 19, r.reason.as_deref())?;
    s(sheet, 20, Some(&r.entry_id.to_string()))?;
    Ok(())
}

/// Builds the workbook at `path` from the pages `pages` delivers (its
/// temporary row files in `tmp`), counting rows into `progress`. Blocking:
/// run it on the blocking pool. Returns the rows written.
pub fn write(
    path: &Path,
    tmp: &Path,
    mut pages: Receiver<Vec<Row>>,
    progress: &std::sync::atomic::AtomicU64,
) -> Result<u64, XlsxError> {
    let mut book = Workbook::new();
    book.set_tempdir(tmp)?;
    // Large exports pass 4 GiB of XML inside the zip.
    book.use_zip_large_file(true);
    let formats = Formats {
        header: Format::new().set_bold(),
        time: Format::new().set_num_format("yyyy-mm-dd hh:mm:ss"),
        date: Format::new().set_num_format("yyyy-mm-dd"),
    };
    let last_col = (COLUMNS.len() - 1) as u16;
    let mut sheets = 0usize;
    let mut row = 0u32;
    let mut total = 0u64;
    new_sheet(&mut book, &formats, 0)?;
    while let Some(page) = pages.blocking_recv() {
        for r in &page {
            if row == ROWS_PER_SHEET {
                book.worksheet_from_index(sheets)?
                    .autofilter(0, 0, row, last_col)?;
                sheets += 1;
                new_sheet(&mut book, &formats, sheets)?;
                row = 0;
            }
            row += 1;
            write_row(book.worksheet_from_index(sheets)?, row, r, &formats)?;
            total += 1;
        }
        progress.fetch_add(page.len() as u64, std::sync::atomic::Ordering::Relaxed);
    }
    book.worksheet_from_index(sheets)?
        .autofilter(0, 0, row, last_col)?;
    book.save(path)?;
    Ok(total)
}
