//! Exports of the ledger: a trace (forward or backward), a merchant's or a
//! market's ledger, as CSV, XLSX or EPCIS 2.0 JSON-LD, one row (or event)
//! per movement ([`rows`]).
//!
//! Rows come from the store a page at a time
//! ([`LedgerStore::export_page`]), so an export of any length holds one
//! page in memory and is never cut short. CSV and EPCIS stream to the
//! client as pages are read: a task reads and encodes, a bounded channel
//! feeds the response body (a slow client slows the reading, nothing piles
//! up). XLSX, a zip, is written in constant-memory mode to a temporary file
//! and sent from it. A failure after the first byte aborts the response, so
//! a client never takes a short file for a whole one.
//!
//! The console's export jobs ([`to_file`]) write the same bytes to a file
//! with a row counter.

pub mod csv;
pub mod epcis;
pub mod routes;
pub mod rows;
pub mod xlsx;

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, FixedOffset};
use serde::Deserialize;
use shian_core::trace::TraceError;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

use crate::errors::ApiError;
use crate::store::ledger::{ExportCursor, ExportGroup, ExportWindow};
use crate::store::{MerchantFilter, Store, StoreError};

use self::rows::{Row, RowError, RowMaker};

/// Entries read per page: large enough to amortise a read, small enough
/// that a page's rows are a few hundred kilobytes.
const PAGE_ROWS: u32 = 2000;
/// Encoded pages in flight between the reader and the client.
const PAGES_IN_FLIGHT: usize = 4;

/// China Standard Time, the time every export is written in (the markets
/// are in China; one zone keeps a spreadsheet sortable).
pub fn china_time(t: DateTime<FixedOffset>) -> DateTime<FixedOffset> {
    // Cannot fail: +8 h is a valid offset.
    let cst = FixedOffset::east_opt(8 * 3600).unwrap_or(*t.offset());
    t.with_timezone(&cst)
}

/// The file formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Csv,
    Xlsx,
    Epcis,
}

impl Format {
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Csv => "text/csv; charset=utf-8",
            Format::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            Format::Epcis => "application/ld+json",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Xlsx => "xlsx",
            Format::Epcis => "jsonld",
        }
    }

    pub fn parse(s: &str) -> Option<Format> {
        match s {
            "csv" => Some(Format::Csv),
            "xlsx" => Some(Format::Xlsx),
            "epcis" => Some(Format::Epcis),
            _ => None,
        }
    }
}

/// Which way a trace goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Every downstream holder (a recall).
    #[default]
    Forward,
    /// The chain of custody to the origin.
    Backward,
}

impl Direction {
    pub fn parse(s: &str) -> Option<Direction> {
        match s {
            "forward" => Some(Direction::Forward),
            "backward" => Some(Direction::Backward),
            _ => None,
        }
    }
}

/// What is exported.
#[derive(Debug, Clone)]
pub enum Subject {
    Trace { code: String, direction: Direction },
    Merchant { id: String },
    Market { id: String },
}

/// Why an export failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("追溯码 {0} 对应的批次不存在")]
    UnknownTrace(String),
    #[error("追溯码无效: {0}")]
    InvalidCode(String),
    #[error("经营户不存在")]
    UnknownMerchant,
    #[error("市场不存在")]
    UnknownMarket,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("trace: {0}")]
    Trace(String),
    #[error(transparent)]
    Row(#[from] RowError),
    #[error("csv: {0}")]
    Csv(#[from] ::csv::Error),
    #[error("xlsx: {0}")]
    Xlsx(#[from] rust_xlsxwriter::XlsxError),
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
}

impl From<ExportError> for ApiError {
    fn from(e: ExportError) -> Self {
        match e {
            ExportError::UnknownTrace(code) => ApiError::new(
                StatusCode::NOT_FOUND,
                "unknown_trace_code",
                format!("追溯码 {code} 对应的批次不存在"),
            )
            .at("code"),
            ExportError::InvalidCode(reason) => ApiError::invalid("code", "invalid_code", reason),
            ExportError::UnknownMerchant => ApiError::not_found("经营户").at("id"),
            ExportError::UnknownMarket => ApiError::not_found("市场").at("id"),
            ExportError::Store(e) => e.into(),
            other => ApiError::internal(other),
        }
    }
}

/// An export resolved against the store: whose rows, which times, the
/// format and the file's names.
#[derive(Debug, Clone)]
pub struct Plan {
    groups: Arc<[ExportGroup]>,
    window: ExportWindow,
    pub format: Format,
    /// An ASCII file name (the `filename=` fallback).
    pub file_ascii: String,
    /// The file name for people, in Chinese (`filename*=`).
    pub file_name: String,
    /// What it is, for the console (zh-CN).
    pub title: String,
}

/// Keeps what a file name may hold: no path separators, quotes or controls.
fn file_safe(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_control() || "/\\\"'<>:|?*;%".contains(c) {
                '_'
            } else {
                c
            }
        })
        .take(60)
        .collect::<String>()
        .trim()
        .to_owned()
}

/// Resolves `subject`: checks that it exists and lists the groups of its
/// rows. Unknown subjects are the caller's error (404), found before any
/// byte is sent.
pub async fn plan(
    store: &dyn Store,
    subject: &Subject,
    window: ExportWindow,
    format: Format,
) -> Result<Plan, ExportError> {
    let ext = format.extension();
    let (groups, file_ascii, file_name, title) = match subject {
        Subject::Trace { code, direction } => {
            let code = shian_core::codes::parse_code(code, "code")
                .map_err(|e| ExportError::InvalidCode(e.message))?;
            let mut holders: Vec<(String, String)> = Vec::new();
            let trace_err = |e: TraceError| match e {
                TraceError::NotFound { trace_code } => ExportError::UnknownTrace(trace_code),
                TraceError::InvalidCode { reason, .. } => ExportError::InvalidCode(reason),
                TraceError::Storage(s) => ExportError::Trace(s),
            };
            match direction {
                Direction::Forward => {
                    let t = store
                        .trace_forward(code.clone())
                        .await?
                        .map_err(trace_err)?;
                    holders.push((t.root.merchant_id, t.root.trace_code));
                    holders.extend(t.holders.into_iter().map(|h| (h.merchant_id, h.trace_code)));
                }
                Direction::Backward => {
                    let t = store
                        .trace_backward(code.clone())
                        .await?
                        .map_err(trace_err)?;
                    holders.extend(t.chain.into_iter().map(|s| (s.merchant_id, s.trace_code)));
                }
            }
            let (en, zh) = match direction {
                Direction::Forward => ("forward", "正向"),
                Direction::Backward => ("backward", "反向"),
            };
            (
                group_by_holder(holders),
                format!("shian-trace-{code}-{en}.{ext}"),
                format!("追溯-{code}-{zh}.{ext}"),
                format!("追溯码 {code} {zh}追溯"),
            )
        }
        Subject::Merchant { id } => {
            let m = store
                .merchant(id.clone())
                .await?
                .ok_or(ExportError::UnknownMerchant)?;
            let name = file_safe(&m.name);
            (
                vec![ExportGroup {
                    merchant_id: m.id.clone(),
                    trace_codes: None,
                }],
                format!("shian-merchant-{}.{ext}", m.id),
                format!("{name}-台账.{ext}"),
                format!("经营户 {} 台账", m.name),
            )
        }
        Subject::Market { id } => {
            let market = store
                .market(id.clone())
                .await?
                .ok_or(ExportError::UnknownMarket)?;
            let mut groups = Vec::new();
            let mut offset = 0;
            loop {
                let page = store
                    .list_merchants(MerchantFilter {
                        market_id: Some(market.id.clone()),
                        limit: 1000,
                        offset,
                        ..MerchantFilter::default()
                    })
                    .await?;
                let n = page.items.len() as u32;
                groups.extend(page.items.into_iter().map(|m| ExportGroup {
                    merchant_id: m.id,
                    trace_codes: None,
                }));
                if n < 1000 {
                    break;
                }
                offset += n;
            }
            let name = file_safe(&market.name);
            (
                groups,
                format!("shian-market-{}.{ext}", market.id),
                format!("{name}-台账.{ext}"),
                format!("市场 {} 台账", market.name),
            )
        }
    };
    Ok(Plan {
        groups: groups.into(),
        window,
        format,
        file_ascii,
        file_name,
        title,
    })
}

/// How many rows a plan will write, for a progress bar (rows accepted
/// while it runs may add a few).
pub async fn count(store: &dyn Store, plan: &Plan) -> Result<u64, ExportError> {
    Ok(store.export_count(plan.groups.clone(), plan.window).await?)
}

/// One group per holder, in the order holders first appear (a trace's
/// root first), so a holder's ledger is walked once however many of the
/// trace's batches it holds.
fn group_by_holder(batches: Vec<(String, String)>) -> Vec<ExportGroup> {
    let mut groups: Vec<ExportGroup> = Vec::new();
    let mut at = std::collections::HashMap::new();
    for (merchant, code) in batches {
        let i = *at.entry(merchant.clone()).or_insert_with(|| {
            groups.push(ExportGroup {
                merchant_id: merchant,
                trace_codes: Some(Vec::new()),
            });
            groups.len() - 1
        });
        if let Some(codes) = groups[i].trace_codes.as_mut() {
            codes.push(code);
        }
    }
    groups
}

/// Reads a plan's rows a page at a time.
pub struct PageReader {
    store: Arc<dyn Store>,
    groups: Arc<[ExportGroup]>,
    window: ExportWindow,
    cursor: Option<ExportCursor>,
    maker: RowMaker,
}

impl PageReader {
    pub fn new(store: Arc<dyn Store>, plan: &Plan) -> Self {
        PageReader {
            store,
            groups: plan.groups.clone(),
            window: plan.window,
            cursor: Some(ExportCursor::default()),
            maker: RowMaker::default(),
        }
    }

    /// The next page's rows; `None` after the last.
    pub async fn next(&mut self) -> Result<Option<Vec<Row>>, ExportError> {
        let Some(cursor) = self.cursor else {
            return Ok(None);
        };
        let page = self
            .store
            .export_page(self.groups.clone(), self.window, cursor, PAGE_ROWS)
            .await?;
        self.cursor = page.next;
        let mut rows = Vec::with_capacity(page.entries.len());
        for e in &page.entries {
            if let Some(r) = self.maker.row(e)? {
                rows.push(r);
            }
        }
        Ok(Some(rows))
    }
}

/// The text formats' encoder (CSV, EPCIS).
enum Text {
    Csv,
    Epcis { first: bool },
}

impl Text {
    fn of(format: Format) -> Option<Text> {
        match format {
            Format::Csv => Some(Text::Csv),
            Format::Epcis => Some(Text::Epcis { first: true }),
            Format::Xlsx => None,
        }
    }

    fn head(&self) -> Result<Vec<u8>, ExportError> {
        Ok(match self {
            Text::Csv => csv::head()?,
            Text::Epcis { .. } => epcis::head(),
        })
    }

    fn rows(&mut self, rows: &[Row]) -> Result<Vec<u8>, ExportError> {
        Ok(match self {
            Text::Csv => csv::records(rows)?,
            Text::Epcis { first } => {
                let mut out = Vec::with_capacity(rows.len() * 900);
                for r in rows {
                    epcis::event(r, *first, &mut out);
                    *first = false;
                }
                out
            }
        })
    }

    fn tail(&self) -> &'static [u8] {
        match self {
            Text::Csv => b"",
            Text::Epcis { .. } => epcis::tail(),
        }
    }
}

/// A response body fed by a bounded channel: an `Err` item aborts the
/// transfer (the client sees a broken download, never a short file).
fn channel_body() -> (mpsc::Sender<Result<Bytes, std::io::Error>>, Body) {
    let (tx, mut rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(PAGES_IN_FLIGHT);
    let stream = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx));
    (tx, Body::from_stream(stream))
}

/// Streams a text-format plan: reads, encodes and sends page by page.
fn stream_text(store: Arc<dyn Store>, plan: Plan, mut text: Text) -> Body {
    let (tx, body) = channel_body();
    tokio::spawn(async move {
        let run = async {
            if tx.send(Ok(text.head()?.into())).await.is_err() {
                return Ok(());
            }
            let mut reader = PageReader::new(store, &plan);
            while let Some(rows) = reader.next().await? {
                let bytes = text.rows(&rows)?;
                if !bytes.is_empty() && tx.send(Ok(bytes.into())).await.is_err() {
                    // The client went away: stop reading.
                    return Ok(());
                }
            }
            let _ = tx.send(Ok(Bytes::from_static(text.tail()))).await;
            Ok::<(), ExportError>(())
        };
        if let Err(e) = run.await {
            tracing::error!(error = %e, "export failed while streaming");
            let _ = tx.send(Err(std::io::Error::other(e.to_string()))).await;
        }
    });
    body
}

/// Writes a plan to `path` (any format), counting rows into `progress`;
/// XLSX keeps its temporary row files in `tmp`. Returns the rows written.
pub async fn to_file(
    store: Arc<dyn Store>,
    plan: &Plan,
    path: &Path,
    tmp: &Path,
    progress: Arc<AtomicU64>,
) -> Result<u64, ExportError> {
    let mut reader = PageReader::new(store, plan);
    match Text::of(plan.format) {
        Some(mut text) => {
            let mut file = tokio::io::BufWriter::new(tokio::fs::File::create(path).await?);
            file.write_all(&text.head()?).await?;
            let mut total = 0;
            while let Some(rows) = reader.next().await? {
                file.write_all(&text.rows(&rows)?).await?;
                total += rows.len() as u64;
                progress.fetch_add(rows.len() as u64, Ordering::Relaxed);
            }
            file.write_all(text.tail()).await?;
            file.flush().await?;
            file.into_inner().sync_all().await?;
            Ok(total)
        }
        None => {
            let (tx, rx) = mpsc::channel::<Vec<Row>>(2);
            let (path, tmp) = (path.to_owned(), tmp.to_owned());
            let counter = progress.clone();
            let writer =
                tokio::task::spawn_blocking(move || xlsx::write(&path, &tmp, rx, &counter));
            let read = async {
                while let Some(rows) = reader.next().await? {
                    if tx.send(rows).await.is_err() {
                        break;
                    }
                }
                drop(tx);
                Ok::<(), ExportError>(())
            };
            let read = read.await;
            let written = writer
                .await
                .map_err(|e| ExportError::Io(std::io::Error::other(e)))?;
            // A read error makes the file incomplete, whatever the writer says.
            read?;
            Ok(written?)
        }
    }
}

/// `attachment` with an ASCII `filename` and the RFC 5987 `filename*`
/// (UTF-8, percent-encoded) that browsers prefer for Chinese names.
pub fn content_disposition(ascii: &str, name: &str) -> HeaderValue {
    let ascii: String = ascii
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut encoded = String::new();
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
            encoded.push(b as char);
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    let value = format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}");
    // Cannot fail: the value is ASCII without controls.
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static("attachment"))
}

/// A file sent in 64 KiB chunks.
fn file_body(file: tokio::fs::File) -> Body {
    let stream = futures_util::stream::unfold(Some(file), |file| async move {
        let mut file = file?;
        let mut buf = vec![0u8; 64 * 1024];
        match file.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok::<_, std::io::Error>(Bytes::from(buf)), Some(file)))
            }
            Err(e) => Some((Err(e), None)),
        }
    });
    Body::from_stream(stream)
}

/// The HTTP answer of a plan: streamed (CSV, EPCIS) or built in a
/// temporary file first (XLSX).
pub async fn respond(store: Arc<dyn Store>, plan: Plan) -> Result<Response, ExportError> {
    let disposition = content_disposition(&plan.file_ascii, &plan.file_name);
    let content_type = HeaderValue::from_static(plan.format.content_type());
    let body = match Text::of(plan.format) {
        Some(text) => stream_text(store, plan, text),
        None => {
            let dir = tempfile::tempdir()?;
            let path = dir.path().join("export.xlsx");
            to_file(store, &plan, &path, dir.path(), Arc::new(AtomicU64::new(0))).await?;
            // Open, then let the directory go: the open file stays readable
            // until it is sent, and nothing is left behind.
            let file = tokio::fs::File::open(&path).await?;
            drop(dir);
            file_body(file)
        }
    };
    Ok((
        [
            (header::CONTENT_TYPE, content_type),
            (header::CONTENT_DISPOSITION, disposition),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        body,
    )
        .into_response())
}

/// The export of a trace, for the routes and for a recall's export
/// (`GET /v1/recalls/{id}/export`: the recall's forward trace). Checks
/// nothing about the caller: the route does.
pub async fn export_trace(
    state: &crate::AppState,
    code: &str,
    direction: Direction,
    format: Format,
) -> Result<Response, ApiError> {
    let subject = Subject::Trace {
        code: code.to_owned(),
        direction,
    };
    let plan = plan(
        state.store.as_ref(),
        &subject,
        ExportWindow::default(),
        format,
    )
    .await?;
    Ok(respond(state.store.clone(), plan).await?)
}
