//! The demo's planted warning cases beyond the ledger, loaded through the
//! paths real data takes: the sampling history as `sample.record` ops of
//! the demo inspector pushed through the sync service's store call (so each
//! sample is judged by the same field service, with its alert, recall
//! proposal and public finding on a failure), complaints through the
//! feedback service's routing ([`crate::feedback::complaints::route`]) and
//! its store call; and the ground truth written beside the database as
//! `demo-truth.json` for the warnings benchmark.
//!
//! Every item carries the generator's id, so a second run stores nothing
//! twice: a pushed sample comes back `duplicate`, a stored complaint is
//! skipped.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use shian_core::generator::{GenComplaint, GenSample, GroundTruth};
use shian_core::sync::protocol::{Op, OpStatus};

use super::DemoError;
use crate::feedback::complaints::route;
use crate::store::ledger::{Caller, Prepared};
use crate::store::{Merchant, Store};

/// The file the benchmark reads, in the database's directory.
pub const TRUTH_FILE: &str = "demo-truth.json";

/// Ops per push: the sync API's own limit.
const OPS_PER_PUSH: usize = 1_000;

/// Pushes the samples as `inspector` from one device, in time order.
pub async fn push_samples(
    store: &dyn Store,
    inspector: Caller,
    samples: &[GenSample],
) -> Result<usize, DemoError> {
    let mut accepted = 0;
    for chunk in samples.chunks(OPS_PER_PUSH) {
        let ops = chunk
            .iter()
            .map(|s| Prepared {
                op: Op {
                    op_id: s.sample_id.to_string(),
                    kind: "sample.record".to_owned(),
                    at: s.taken_at.to_rfc3339(),
                    payload: s.payload(),
                },
                event: None,
                wire: None,
            })
            .collect();
        let (results, _) = store
            .sync_push(inspector.clone(), "demo-sampling".to_owned(), ops)
            .await?;
        for r in results {
            match r.status {
                OpStatus::Accepted => accepted += 1,
                OpStatus::Duplicate => {}
                OpStatus::Rejected => {
                    return Err(DemoError::Refused {
                        what: format!("sample.record {}", r.op_id),
                        why: r.error.map(|e| e.message).unwrap_or_default(),
                    })
                }
            }
        }
    }
    Ok(accepted)
}

/// Files the complaints against the registered merchants, unless stored.
pub async fn file_complaints(
    store: &dyn Store,
    merchants: &HashMap<String, Merchant>,
    complaints: &[GenComplaint],
) -> Result<usize, DemoError> {
    let mut filed = 0;
    for c in complaints {
        let id = c.complaint_id.to_string();
        if store.complaint(id.clone()).await?.is_some() {
            continue;
        }
        let shop = merchants
            .get(&c.merchant_id)
            .ok_or_else(|| DemoError::Refused {
                what: format!("complaint {id}"),
                why: format!("unknown merchant {}", c.merchant_id),
            })?;
        let text =
            shian_core::complaints::check_text(&c.text).map_err(|why| DemoError::Refused {
                what: format!("complaint {id}"),
                why,
            })?;
        let routed =
            route(id.clone(), shop, c.category, text, None, c.received_on).map_err(|e| {
                DemoError::Refused {
                    what: format!("complaint {id}"),
                    why: e.to_string(),
                }
            })?;
        store.add_complaint(routed.complaint).await?;
        filed += 1;
    }
    Ok(filed)
}

/// Writes the truth atomically (a temporary file renamed over it).
pub fn write_truth(dir: &Path, truth: &GroundTruth) -> Result<PathBuf, DemoError> {
    let path = dir.join(TRUTH_FILE);
    let tmp = dir.join(format!("{TRUTH_FILE}.tmp"));
    let json = serde_json::to_vec_pretty(truth).map_err(|e| DemoError::Truth(e.into()))?;
    std::fs::write(&tmp, json).map_err(DemoError::Truth)?;
    std::fs::rename(&tmp, &path).map_err(DemoError::Truth)?;
    Ok(path)
}
