//! Field inspection on the server (issue 5).
//!
//! Inspectors' phones decide results offline with core's rules
//! (`shian_core::inspection`); the server re-checks what they push with the
//! same code and adds what only it can see: accounts, the registry, uploads,
//! history across merchants. Here:
//!
//! * [`ops`]: the `inspection.record` and `sample.record` sync ops, decided
//!   inside the push transaction (exactly-once with the op log) and
//!   answered as typed writes that the store persists;
//! * [`checklists`]: `GET /v1/checklists` (templates are also published once
//!   on the change feed, see `store::sqlite::field_schema::publish_checklists`);
//! * [`record`]: the printable record `GET /v1/inspections/{id}/record`;
//! * [`attachments`]: content-addressed photo uploads;
//! * [`risk`]: risk grades computed on request from the stored facts;
//! * [`draws`]: the double random draw and its publication;
//! * [`stats`]: inspection statistics.

pub mod attachments;
pub mod checklists;
pub mod draws;
pub mod ops;
pub mod record;
pub mod risk;
pub mod stats;

use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use shian_core::inspection::InspectionError;
use shian_core::sync::protocol::{Op, OpError};

use crate::errors::ApiError;
use crate::store::field::{FieldDecision, FieldReads};
use crate::store::ledger::Caller;
use crate::store::StoreError;

/// Whether an op kind belongs to field inspection.
pub fn handles(kind: &str) -> bool {
    matches!(kind, "inspection.record" | "sample.record")
}

/// Decides one field op inside the push transaction, reading through
/// `reads`: what to write and answer, or a refusal (after which nothing of
/// it is stored). The outer `Err` is a storage failure (the whole push
/// fails and the device retries).
pub fn apply_op(
    reads: &dyn FieldReads,
    caller: &Caller,
    op: &Op,
    now: DateTime<Utc>,
) -> Result<Result<FieldDecision, OpError>, StoreError> {
    let outcome = match op.kind.as_str() {
        "inspection.record" => ops::apply_inspection(reads, caller, op, now),
        "sample.record" => ops::apply_sample(reads, caller, op, now),
        other => Err(ops::refuse(
            "unknown_kind",
            format!("不支持的事件类型 '{other}'"),
            Some("kind"),
            false,
        )),
    };
    ops::finish(outcome)
}

/// Core's rule error as an HTTP error with its code, zh-CN message and
/// field: a rule broken by well-formed input is a 422, malformed input 400.
pub(crate) fn api_error(e: &InspectionError) -> ApiError {
    let status = match e {
        InspectionError::NotEnoughInspectors { .. } | InspectionError::DrawExceedsPool { .. } => {
            StatusCode::UNPROCESSABLE_ENTITY
        }
        InspectionError::InvalidConfig { .. }
        | InspectionError::InvalidTemplate { .. }
        | InspectionError::DuplicateTemplate { .. } => return ApiError::internal(e),
        _ => StatusCode::BAD_REQUEST,
    };
    let err = ApiError::new(status, e.code(), e.to_string());
    match e.field() {
        Some(f) => err.at(f),
        None => err,
    }
}
