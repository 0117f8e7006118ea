//! Starting a recall: the forward trace of the code (core's engine over the
//! in-memory ledger graph), its holders and deadlines (core's recall rules),
//! stored with every notice in one transaction by the store.

use chrono::{DateTime, Utc};
use shian_core::calendar::WorkCalendar;
use shian_core::recall::{holders_of, RecallHeader, RecallLevel, RecallRules, RecallStatus};
use shian_core::trace::TraceError;

use crate::store::recalls::{NewRecall, StoredRecall};
use crate::store::{Store, StoreError};

/// Why a recall could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("追溯码 {0} 对应的批次不存在")]
    UnknownCode(String),
    #[error("{0}")]
    InvalidCode(String),
    #[error("召回规则或节假日数据无效：{0}")]
    Rules(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What the caller asked for, checked.
#[derive(Debug, Clone)]
pub struct StartRecall {
    pub trace_code: String,
    pub level: RecallLevel,
    pub reason: String,
    pub proposal_id: Option<String>,
    pub started_by: String,
}

/// Traces the code, makes the holders and deadlines and stores the recall
/// with its notices; returns it as stored.
pub async fn start(
    store: &dyn Store,
    req: StartRecall,
    now: DateTime<Utc>,
) -> Result<StoredRecall, StartError> {
    let trace = store
        .trace_forward(req.trace_code.clone())
        .await?
        .map_err(|e| match e {
            TraceError::NotFound { trace_code } => StartError::UnknownCode(trace_code),
            TraceError::InvalidCode { reason, .. } => StartError::InvalidCode(reason),
            TraceError::Storage(detail) => StartError::Store(StoreError::Corrupt(detail)),
        })?;
    let rules = RecallRules::builtin().map_err(StartError::Rules)?;
    let cal = WorkCalendar::builtin().map_err(|e| StartError::Rules(e.to_string()))?;
    let deadlines = rules
        .deadlines(req.level, now, cal)
        .ok_or_else(|| StartError::Rules(format!("缺少 {} 的期限", req.level.zh())))?;
    let id = uuid::Uuid::now_v7().to_string();
    let header = RecallHeader {
        recall_id: id.clone(),
        trace_code: trace.trace_code.clone(),
        product_name: trace.root.product_name.clone(),
        level: req.level,
        reason: req.reason,
        status: RecallStatus::Active,
        started_at: now,
        deadlines,
        closed_at: None,
    };
    store
        .create_recall(NewRecall {
            header,
            proposal_id: req.proposal_id,
            started_by: req.started_by,
            holders: holders_of(&trace),
        })
        .await?;
    store.recall(id).await?.ok_or_else(|| {
        StartError::Store(StoreError::Corrupt("recall vanished after commit".into()))
    })
}
