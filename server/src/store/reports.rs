//! The anonymous reports (吹哨人) side of the store: reports, the two-way
//! messages, photos, and what handlers change.
//!
//! What is stored is chosen so that nothing identifies the reporter: a
//! report is found by the slow hash of its receipt (never the receipt), and
//! carries no address, user agent or account. Its days are calendar days
//! (China's zone), not instants: the deadlines count days, and an exact
//! time of filing or answering could be matched against a proxy's or a
//! building's logs to tell who was typing then. Messages are ordered by a
//! number, not a time, for the same reason.

use chrono::NaiveDate;
use shian_core::reports::{Priority, ReportStatus};

use super::StoreFuture;

/// A report as filed (already validated).
#[derive(Debug, Clone)]
pub struct NewReport {
    /// Random, not time-ordered (a UUID v7 would carry the filing instant).
    pub id: String,
    /// The receipt's slow hash ([`crate::reports::receipt`]).
    pub receipt_hash: Vec<u8>,
    pub category: String,
    pub description: String,
    /// The shop's code as given, canonical.
    pub merchant_ref: Option<String>,
    /// The registered merchant it names, when it names one.
    pub merchant_id: Option<String>,
    pub location: Option<String>,
    pub occurred_on: Option<NaiveDate>,
    pub received_on: NaiveDate,
    /// Photos sent with it (cleaned), stored in the same transaction.
    pub photos: Vec<NewReportPhoto>,
}

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Author {
    Reporter,
    Handler,
}

impl Author {
    pub fn as_str(self) -> &'static str {
        match self {
            Author::Reporter => "reporter",
            Author::Handler => "handler",
        }
    }
}

/// One message of a report's conversation.
#[derive(Debug, Clone)]
pub struct ReportMessage {
    /// 1, 2, 3… within the report.
    pub seq: i64,
    pub author: Author,
    pub body: String,
    pub sent_on: NaiveDate,
}

/// A photo's description (its bytes are read on their own).
#[derive(Debug, Clone)]
pub struct PhotoMeta {
    pub seq: i64,
    pub sha256: String,
    pub size: u64,
    pub width: u32,
    pub height: u32,
}

/// A stored photo, cleaned of metadata before it was stored.
#[derive(Debug, Clone)]
pub struct NewReportPhoto {
    pub sha256: String,
    pub bytes: Vec<u8>,
    pub width: u32,
    pub height: u32,
}

/// A stored report with its handling.
#[derive(Debug, Clone)]
pub struct StoredReport {
    pub id: String,
    pub category: String,
    pub description: String,
    pub merchant_ref: Option<String>,
    pub merchant_id: Option<String>,
    pub merchant_name: Option<String>,
    pub location: Option<String>,
    pub occurred_on: Option<NaiveDate>,
    pub received_on: NaiveDate,
    pub status: ReportStatus,
    pub priority: Priority,
    pub acknowledged_on: Option<NaiveDate>,
    /// The first feedback to the reporter (a handler's reply or the
    /// closing note), for Art. 9(1)(f).
    pub feedback_on: Option<NaiveDate>,
    pub closed_on: Option<NaiveDate>,
    pub close_note: Option<String>,
    /// The inspector it was handed to.
    pub assigned_to: Option<String>,
    pub task_id: Option<String>,
    pub messages: Vec<ReportMessage>,
    pub photos: Vec<PhotoMeta>,
}

/// A handler's change to a report, all of it in one transaction.
#[derive(Debug, Clone)]
pub enum ReportAction {
    /// Moves the status on (and sets the category or priority).
    Triage {
        status: Option<ReportStatus>,
        category: Option<String>,
        priority: Option<Priority>,
    },
    /// A message to the reporter (feedback).
    Reply { body: String },
    /// Hands the report to an inspector: an inspection task reaches the
    /// inspector's phone by sync (change kind `task`, `source: "report"`).
    Assign { inspector_id: String },
    /// Closes it; the note is also sent to the reporter as a message.
    Close { note: String },
}

/// Why a handler's change was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionRefused {
    NoSuchReport,
    /// The status cannot move there from where it is.
    BadTransition {
        from: ReportStatus,
        to: ReportStatus,
    },
    /// The report is closed: nothing more changes.
    Closed,
    NotAnInspector,
}

/// The list's filter and page.
#[derive(Debug, Clone)]
pub struct ReportFilter {
    pub status: Option<ReportStatus>,
    pub limit: u32,
    pub offset: u32,
}

/// Reports in the store. A separate trait from [`super::Store`]'s
/// registry, as [`super::field::FieldStore`] is; `Store` requires it.
pub trait ReportStore {
    /// Stores a new report; `Conflict("receipt_taken")` in the (2^-94)
    /// case of a receipt hash already used.
    fn create_report(&self, report: NewReport) -> StoreFuture<'_, ()>;

    /// The report whose receipt hashes to `receipt_hash`.
    fn report_by_receipt(&self, receipt_hash: Vec<u8>) -> StoreFuture<'_, Option<StoredReport>>;

    fn report(&self, id: String) -> StoreFuture<'_, Option<StoredReport>>;

    /// The reporter's message; `false` when the report is closed (or the
    /// hash names none).
    fn add_reporter_message(
        &self,
        receipt_hash: Vec<u8>,
        body: String,
        on: NaiveDate,
    ) -> StoreFuture<'_, Option<bool>>;

    /// Adds a cleaned photo; `None` when the hash names no report, `false`
    /// when the report already holds `max` photos or is closed.
    fn add_report_photo(
        &self,
        receipt_hash: Vec<u8>,
        photo: NewReportPhoto,
        on: NaiveDate,
        max: u32,
    ) -> StoreFuture<'_, Option<bool>>;

    /// A photo's bytes by the report's id and the photo's number.
    fn report_photo(&self, report_id: String, seq: i64) -> StoreFuture<'_, Option<Vec<u8>>>;

    /// Reports, newest first (by day, then by the order they came in), with
    /// the total count of the filter.
    fn list_reports(&self, filter: ReportFilter) -> StoreFuture<'_, (Vec<StoredReport>, u64)>;

    /// Applies a handler's action; the report after it, or why not.
    fn act_on_report(
        &self,
        report_id: String,
        action: ReportAction,
        by: String,
        on: NaiveDate,
    ) -> StoreFuture<'_, Result<StoredReport, ActionRefused>>;
}
