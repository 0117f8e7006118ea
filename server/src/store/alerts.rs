//! Alerts (预警) for regulators: what core's warnings engine
//! (`shian_core::warnings`) raised, kept with their lifecycle
//! (new → assigned → resolved with a note). A separate trait from
//! [`super::Store`]'s registry like the other features; `Store` requires it.
//!
//! Identity: one open alert per (kind, subject type, subject id). The same
//! facts seen again update the open alert (`last_seen_at`, figures, links),
//! never a second row; a resolved alert is raised again only by facts newer
//! than its resolution (the candidate's `latest`).

use chrono::{DateTime, Utc};
use shian_core::warnings::{Evidence, Kind, Severity, Subject};

use super::{Page, StoreFuture};

/// Where an alert stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertStatus {
    New,
    Assigned,
    Resolved,
}

impl AlertStatus {
    pub const ALL: [AlertStatus; 3] = [
        AlertStatus::New,
        AlertStatus::Assigned,
        AlertStatus::Resolved,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AlertStatus::New => "new",
            AlertStatus::Assigned => "assigned",
            AlertStatus::Resolved => "resolved",
        }
    }

    pub fn parse(s: &str) -> Option<AlertStatus> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// A stored alert.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    pub id: String,
    pub kind: Kind,
    pub subject: Subject,
    pub severity: Severity,
    pub title: String,
    pub evidence: Evidence,
    pub status: AlertStatus,
    pub assigned_to: Option<String>,
    pub note: Option<String>,
    /// The thresholds version (`warnings-v1`) it was last seen under.
    pub rules_version: String,
    pub first_seen_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
}

/// Which alerts a list shows.
#[derive(Debug, Clone, Default)]
pub struct AlertFilter {
    pub status: Option<AlertStatus>,
    pub kind: Option<Kind>,
    pub market_id: Option<String>,
    pub merchant_id: Option<String>,
    pub limit: u32,
    pub offset: u32,
}

/// An analyst's step in an alert's lifecycle.
#[derive(Debug, Clone)]
pub enum AlertAction {
    /// To a user (new or assigned → assigned).
    Assign { user_id: String },
    /// With a note (new or assigned → resolved).
    Resolve { note: String },
}

/// What a pass over the facts did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PassOutcome {
    /// Alerts raised that were not open before.
    pub raised: u64,
    /// Open alerts after the pass.
    pub open: u64,
}

pub trait AlertStore {
    /// Alerts matching the filter, most severe and most recent first.
    fn list_alerts(&self, filter: AlertFilter) -> StoreFuture<'_, Page<Alert>>;

    fn alert(&self, id: String) -> StoreFuture<'_, Option<Alert>>;

    /// One lifecycle step, in one transaction: `NotFound("预警")` for an
    /// unknown id, `NotFound("用户")` for an unknown assignee,
    /// `Conflict("alert_resolved")` for a step after resolution.
    fn act_on_alert(
        &self,
        id: String,
        action: AlertAction,
        now: DateTime<Utc>,
    ) -> StoreFuture<'_, Alert>;

    /// The full pass: every subject's facts evaluated as of `now`, the
    /// candidates stored, in one transaction.
    fn scan_alerts(&self, now: DateTime<Utc>) -> StoreFuture<'_, PassOutcome>;

    /// The incremental pass: the subjects writes marked since the last
    /// refresh (a push's merchants; a complaint's merchant) evaluated and
    /// stored, their marks cleared, in one transaction.
    fn refresh_alerts(&self, now: DateTime<Utc>) -> StoreFuture<'_, PassOutcome>;
}
