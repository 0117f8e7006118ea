//! Bulk import of merchants from a spreadsheet export (CSV).
//!
//! Market offices keep their merchant lists in Excel. Excel on Chinese
//! Windows saves "CSV" in GBK, elsewhere in UTF-8 (often with a BOM), and
//! "Unicode text" as tab-separated UTF-16; all are read here. Headers may be
//! Chinese or English. Every row is validated like a JSON registration and
//! every error is reported with its spreadsheet row number (the header is
//! row 1) and field. Nothing is half-imported: if any row is wrong nothing is
//! stored; if all are right they are stored in one transaction.

use std::collections::HashMap;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{build_merchant, market_for, MerchantInput};
use crate::auth::Auth;
use crate::errors::{ApiError, ErrorResponse};
use crate::extract::{body_bytes, Json, Query};
use crate::store::Role;
use crate::AppState;

/// Most rows one file may hold (a big market has a few thousand merchants).
pub const MAX_ROWS: usize = 50_000;
/// Most row errors listed in a report; the count says if more were cut.
pub const MAX_REPORTED_ERRORS: usize = 1_000;

/// The columns we read, and the header names that mean them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Column {
    Name,
    Uscc,
    LicenceNo,
    LicenceExpiry,
    Stall,
    RegionCode,
    Categories,
    BusinessType,
    Contact,
    AcknowledgeUscc,
}

impl Column {
    /// Canonical (English) name, used as `field` in the report.
    fn field(self) -> &'static str {
        match self {
            Column::Name => "name",
            Column::Uscc => "uscc",
            Column::LicenceNo => "licence_no",
            Column::LicenceExpiry => "licence_expiry",
            Column::Stall => "stall",
            Column::RegionCode => "region_code",
            Column::Categories => "categories",
            Column::BusinessType => "business_type",
            Column::Contact => "contact",
            Column::AcknowledgeUscc => "acknowledge_uscc_mismatch",
        }
    }

    fn from_header(h: &str) -> Option<Column> {
        let h: String = h
            .trim()
            .trim_start_matches('\u{feff}')
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect::<String>()
            .to_lowercase();
        Some(match h.as_str() {
            "name" | "名称" | "商户名称" | "经营者名称" | "经营户名称" | "单位名称"
            | "企业名称" => Column::Name,
            "uscc" | "统一社会信用代码" | "社会信用代码" | "信用代码" => {
                Column::Uscc
            }
            "licence_no"
            | "license_no"
            | "licence"
            | "license"
            | "许可证号"
            | "许可证编号"
            | "食品经营许可证号"
            | "食品经营许可证编号" => Column::LicenceNo,
            "licence_expiry"
            | "license_expiry"
            | "许可证有效期"
            | "有效期"
            | "有效期至"
            | "许可证有效期至" => Column::LicenceExpiry,
            "stall" | "摊位" | "摊位号" | "档口" | "档口号" => Column::Stall,
            "region_code" | "region" | "区划代码" | "行政区划代码" | "行政区划" => {
                Column::RegionCode
            }
            "categories" | "category" | "类别" | "经营类别" | "食品类别" | "经营品类" => {
                Column::Categories
            }
            "business_type" | "经营类型" | "业态" | "主体业态" => Column::BusinessType,
            "contact" | "联系方式" | "联系电话" | "电话" => Column::Contact,
            "acknowledge_uscc_mismatch" | "确认信用代码" | "信用代码已核实" => {
                Column::AcknowledgeUscc
            }
            _ => return None,
        })
    }
}

/// One refused cell or row.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RowError {
    /// The row Excel or WPS shows: the header is row 1 (below any empty
    /// lines), a cell with line breaks is one row, an empty line is a row.
    pub row: u64,
    pub field: String,
    pub code: String,
    pub message: String,
}

/// What an import did (or would have done).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ImportReport {
    /// Data rows read (blank rows not counted).
    pub rows: usize,
    /// Merchants stored: all rows, or 0 when any row is wrong.
    pub imported: usize,
    pub errors: Vec<RowError>,
    /// How many errors were found in all (the list stops at 1000).
    pub error_count: usize,
    /// Header columns not understood, and so not read.
    pub ignored_columns: Vec<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ImportQuery {
    /// Market every imported merchant belongs to (its region is the default).
    #[param(value_type = Option<crate::openapi::wire::IdFilter>)]
    pub market_id: Option<String>,
    /// Validate and report only; store nothing.
    #[serde(default)]
    pub dry_run: bool,
}

/// Decodes a spreadsheet export: UTF-8 (BOM or not) first, then UTF-16 by
/// its BOM, then GB18030 (a superset of GBK, what Excel on Chinese Windows
/// writes). Invalid in all of these → `invalid_encoding`.
pub fn decode(bytes: &[u8]) -> Result<String, ApiError> {
    if let Some(rest) = bytes.strip_prefix(&[0xEF, 0xBB, 0xBF]) {
        return std::str::from_utf8(rest)
            .map(str::to_owned)
            .map_err(|_| bad_encoding());
    }
    if bytes.starts_with(&[0xFF, 0xFE]) || bytes.starts_with(&[0xFE, 0xFF]) {
        let (text, _, had_errors) = encoding_rs::UTF_16LE.decode(bytes); // BOM sniffing picks LE/BE
        return if had_errors {
            Err(bad_encoding())
        } else {
            Ok(text.into_owned())
        };
    }
    if let Ok(s) = std::str::from_utf8(bytes) {
        return Ok(s.to_owned());
    }
    encoding_rs::GB18030
        .decode_without_bom_handling_and_without_replacement(bytes)
        .map(|c| c.into_owned())
        .ok_or_else(bad_encoding)
}

fn bad_encoding() -> ApiError {
    ApiError::bad_request(
        "invalid_encoding",
        "文件编码无法识别，请另存为 UTF-8 或 GBK 的 CSV (file must be UTF-8 or GBK CSV)",
    )
}

/// Tab-separated when the header line has more tabs than commas (Excel's
/// "Unicode text"), else comma-separated.
fn delimiter(text: &str) -> u8 {
    let first = text.lines().next().unwrap_or("");
    if first.matches('\t').count() > first.matches(',').count() {
        b'\t'
    } else {
        b','
    }
}

/// Splits a categories cell: `畜肉、禽肉`, `aquatic;frozen`, `蔬菜，水果`.
fn split_categories(cell: &str) -> Vec<String> {
    cell.split(|c: char| {
        matches!(c, '、' | ',' | '，' | ';' | '；' | '|' | '/') || c.is_whitespace()
    })
    .map(str::trim)
    .filter(|s| !s.is_empty())
    .map(str::to_owned)
    .collect()
}

fn truthy(cell: &str) -> bool {
    matches!(
        cell.trim().to_lowercase().as_str(),
        "true" | "yes" | "y" | "1" | "是" | "已确认" | "确认"
    )
}

/// Parses and validates a whole file without touching the store (duplicate
/// licences against the store are checked by the caller).
fn parse_rows(text: &str, market: Option<&crate::store::Market>) -> Result<Parsed, ApiError> {
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter(text))
        .has_headers(true)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| {
            ApiError::bad_request(
                "malformed_csv",
                format!("无法读取表头 (cannot read header row: {e})"),
            )
        })?
        .clone();
    let mut sheet = SheetRows::new(text);
    // The header's own row, so that empty lines above it count.
    sheet.row_of(headers.position());
    let mut columns: HashMap<Column, usize> = HashMap::new();
    let mut ignored = Vec::new();
    for (i, h) in headers.iter().enumerate() {
        match Column::from_header(h) {
            Some(c) if !columns.contains_key(&c) => {
                columns.insert(c, i);
            }
            Some(c) => {
                return Err(ApiError::unprocessable(
                    "duplicate_column",
                    format!("列「{h}」重复 (column appears twice)"),
                )
                .at(c.field()))
            }
            None if h.trim().is_empty() => {}
            None => ignored.push(h.to_owned()),
        }
    }
    // 422 (as for a column given twice): the file is readable; what it
    // lacks is the import's rule, which no schema of a text/csv body states.
    for required in [Column::Name, Column::Uscc] {
        if !columns.contains_key(&required) {
            return Err(ApiError::unprocessable(
                "missing_column",
                format!("缺少必需的列 {} (required column missing; e.g. 名称/name, 统一社会信用代码/uscc)", required.field()),
            )
            .at(required.field()));
        }
    }

    let mut parsed = Parsed {
        rows: 0,
        merchants: Vec::new(),
        errors: Vec::new(),
        ignored,
    };
    let mut seen_licences: HashMap<String, u64> = HashMap::new();
    for record in reader.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let row = sheet.row_of(e.position());
                parsed.errors.push(RowError {
                    row,
                    field: String::new(),
                    code: "malformed_csv".into(),
                    message: format!("CSV 格式错误 (malformed CSV: {e})"),
                });
                continue;
            }
        };
        // Before the blank check: a blank row is a row the user sees.
        let row = sheet.row_of(record.position());
        if record.iter().all(|c| c.trim().is_empty()) {
            continue; // Excel leaves blank rows at the end
        }
        parsed.rows += 1;
        if parsed.rows > MAX_ROWS {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_many_rows",
                format!("一次最多导入 {MAX_ROWS} 行 (at most {MAX_ROWS} rows)"),
            ));
        }
        let cell = |c: Column| {
            columns
                .get(&c)
                .and_then(|i| record.get(*i))
                .map(str::to_owned)
        };
        let input = MerchantInput {
            name: cell(Column::Name).unwrap_or_default(),
            uscc: cell(Column::Uscc).unwrap_or_default(),
            acknowledge_uscc_mismatch: cell(Column::AcknowledgeUscc).as_deref().is_some_and(truthy),
            licence_no: cell(Column::LicenceNo),
            licence_expiry: cell(Column::LicenceExpiry),
            business_type: cell(Column::BusinessType),
            categories: cell(Column::Categories)
                .as_deref()
                .map(split_categories)
                .unwrap_or_default(),
            stall: cell(Column::Stall),
            contact: cell(Column::Contact),
            region_code: cell(Column::RegionCode),
        };
        match build_merchant(&input, market) {
            Ok(m) => {
                if let Some(l) = &m.licence_no {
                    if let Some(first) = seen_licences.get(l) {
                        parsed.errors.push(RowError {
                            row,
                            field: "licence_no".into(),
                            code: "duplicate_licence".into(),
                            message: format!(
                                "许可证号 {l} 与第 {first} 行重复 (same licence as row {first})"
                            ),
                        });
                        continue;
                    }
                    seen_licences.insert(l.clone(), row);
                }
                parsed.merchants.push((row, m));
            }
            Err(errors) => parsed.errors.extend(errors.into_iter().map(|e| RowError {
                row,
                // Category errors name the list element; the report names the column.
                field: if e.field.starts_with("categories[") {
                    "categories".into()
                } else {
                    e.field
                },
                code: e.code,
                message: e.message,
            })),
        }
    }
    Ok(parsed)
}

/// Spreadsheet row numbers of CSV records, as Excel and WPS show the file.
///
/// csv's `Position::line()` is not that row: it counts `\n` bytes up to where
/// the reader stopped after the previous record, which in a CRLF file is
/// between that record's `\r` and `\n` (so every row came out one too early,
/// the bug); it counts a line break inside a quoted cell, which is
/// no new row; and it misses an empty line, which is an empty row. So rows
/// are counted from the line breaks *between* records: one record's text
/// never ends in a line break (an unquoted cell cannot hold one, a quoted
/// one ends in `"`), and only line breaks (the terminator and empty lines)
/// stand between it and the next record. `\r\n`, `\n` and a lone `\r` (old
/// Mac) each end one row, as csv reads them.
struct SheetRows<'a> {
    text: &'a [u8],
    /// Where the record last numbered starts (0 before the header).
    last_start: usize,
    /// That record's row (1 before the header).
    row: u64,
}

impl<'a> SheetRows<'a> {
    fn new(text: &'a str) -> Self {
        SheetRows {
            text: text.as_bytes(),
            last_start: 0,
            row: 1,
        }
    }

    /// The row of the record at `pos` (the reader's position when it began
    /// the record). Call it for every record, in order, blank ones too.
    fn row_of(&mut self, pos: Option<&csv::Position>) -> u64 {
        // csv gives a position with every record and every parse error it
        // yields; without one the row stays that of the record before.
        let Some(pos) = pos else {
            return self.row;
        };
        let is_break = |b: &u8| matches!(b, b'\r' | b'\n');
        let len = self.text.len();
        let from = usize::try_from(pos.byte()).map_or(len, |b| b.min(len));
        // The reader may stop short of the record: on the `\n` of a CRLF,
        // or before empty lines.
        let start = from + self.text[from..].iter().take_while(|b| is_break(b)).count();
        let since_last = &self.text[self.last_start.min(start)..start];
        let gap_len = since_last.iter().rev().take_while(|b| is_break(b)).count();
        let gap = &since_last[since_last.len() - gap_len..];
        let crlf = gap.windows(2).filter(|w| w == b"\r\n").count();
        let breaks = gap.len() - crlf;
        self.row += breaks as u64;
        self.last_start = start;
        self.row
    }
}

struct Parsed {
    rows: usize,
    merchants: Vec<(u64, crate::store::Merchant)>,
    errors: Vec<RowError>,
    ignored: Vec<String>,
}

/// Import merchants from a CSV file (the request body, UTF-8 or GBK).
#[utoipa::path(
    post, path = "/v1/merchants/import", tag = "registry", params(ImportQuery), security(("bearer" = [])),
    request_body(content = crate::openapi::wire::CsvFile, content_type = "text/csv", description = "Header row (名称/name, 统一社会信用代码/uscc, 许可证号/licence_no, 许可证有效期/licence_expiry, 摊位/stall, 区划代码/region_code, 类别/categories), then one merchant per row"),
    responses(
        (status = 201, description = "all rows imported", body = ImportReport),
        (status = 200, description = "dry run: all rows valid", body = ImportReport),
        (status = 422, description = "`error` (code import_rejected) plus the report's rows, imported (0) and errors, nothing stored; or missing_column, duplicate_column", body = ErrorResponse),
        (status = 400, description = "unreadable file: invalid_encoding, empty_body…", body = ErrorResponse),
        (status = 413, body = ErrorResponse),
    )
)]
pub async fn import_merchants(
    State(state): State<AppState>,
    auth: Auth,
    Query(q): Query<ImportQuery>,
    req: Request,
) -> Result<impl IntoResponse, ApiError> {
    auth.require(&[Role::Admin])?;
    let market = market_for(&state, q.market_id.as_deref()).await?;
    let bytes = body_bytes(req, &state).await?;
    if bytes.is_empty() {
        return Err(ApiError::bad_request(
            "empty_body",
            "请上传 CSV 文件 (empty body; send the CSV file)",
        ));
    }
    let text = decode(&bytes)?;
    let mut parsed = tokio::task::spawn_blocking(move || parse_rows(&text, market.as_ref()))
        .await
        .map_err(ApiError::internal)??;

    // Licences already registered.
    let licences: Vec<String> = parsed
        .merchants
        .iter()
        .filter_map(|(_, m)| m.licence_no.clone())
        .collect();
    if !licences.is_empty() {
        let existing = state.store.existing_licences(licences).await?;
        for (row, m) in &parsed.merchants {
            if let Some(l) = m.licence_no.as_ref().filter(|l| existing.contains(l)) {
                parsed.errors.push(RowError {
                    row: *row,
                    field: "licence_no".into(),
                    code: "duplicate_licence".into(),
                    message: format!("许可证号 {l} 已登记 (licence already registered)"),
                });
            }
        }
    }
    parsed.errors.sort_by_key(|e| e.row);
    let error_count = parsed.errors.len();
    parsed.errors.truncate(MAX_REPORTED_ERRORS);
    let mut report = ImportReport {
        rows: parsed.rows,
        imported: 0,
        errors: parsed.errors,
        error_count,
        ignored_columns: parsed.ignored,
    };

    if report.error_count > 0 {
        let message = format!(
            "{} 处错误，未导入任何商户 ({} errors; nothing imported)",
            report.error_count, report.error_count
        );
        let mut err = ApiError::unprocessable("import_rejected", message);
        if let serde_json::Value::Object(map) =
            serde_json::to_value(&report).map_err(ApiError::internal)?
        {
            for (k, v) in map {
                err = err.with_extra(&k, v);
            }
        }
        return Err(err);
    }
    if report.rows == 0 {
        return Err(ApiError::bad_request(
            "no_rows",
            "文件中没有商户数据 (no data rows)",
        ));
    }
    if q.dry_run {
        return Ok((StatusCode::OK, Json(report)));
    }
    let merchants: Vec<_> = parsed.merchants.into_iter().map(|(_, m)| m).collect();
    report.imported = state.store.import_merchants(merchants).await?;
    state.page_cache.forget_all();
    tracing::info!(imported = report.imported, "merchants imported");
    Ok((StatusCode::CREATED, Json(report)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_utf8_bom_and_gbk() {
        assert_eq!(decode("\u{feff}名称".as_bytes()).unwrap(), "名称");
        let (gbk, _, _) = encoding_rs::GBK.encode("名称,摊位");
        assert_eq!(decode(&gbk).unwrap(), "名称,摊位");
        // Neither UTF-8 nor GB18030 (0x81 must be followed by a trail byte).
        assert!(decode(&[b'a', 0x81, 0x20]).is_err());
    }

    #[test]
    fn sheet_rows_count_empty_lines_and_not_breaks_in_cells() {
        let text = "\r\n\nname,uscc\r\n\"a\nb\",x\r\n\r\nc,\"y\r\nz\"\rd,w";
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(text.as_bytes());
        let mut sheet = SheetRows::new(text);
        let rows: Vec<u64> = reader
            .records()
            .map(|r| sheet.row_of(r.unwrap().position()))
            .collect();
        assert_eq!(rows, [3, 4, 6, 7]);
    }

    #[test]
    fn headers_and_categories() {
        assert_eq!(
            Column::from_header("\u{feff}统一社会信用代码"),
            Some(Column::Uscc)
        );
        assert_eq!(Column::from_header(" Licence_No "), Some(Column::LicenceNo));
        assert_eq!(
            split_categories("畜肉、禽肉 ;aquatic"),
            vec!["畜肉", "禽肉", "aquatic"]
        );
    }
}
