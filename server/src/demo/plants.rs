//! The demo's planted warning cases beyond the ledger, loaded through the
//! paths real data takes: the sampling history and the routine inspections
//! as `sample.record` and `inspection.record` ops of the demo inspector
//! pushed through the sync service's store call (so each is judged by the
//! same field service, a failed sample with its alert, recall proposal and
//! public finding), complaints through the
//! feedback service's routing ([`crate::feedback::complaints::route`]) and
//! its store call; and the ground truth written beside the database as
//! `demo-truth.json` for the warnings benchmark.
//!
//! Every item carries the generator's id, so a second run stores nothing
//! twice: a pushed op comes back `duplicate`, a stored complaint is
//! skipped.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use shian_core::generator::{GenComplaint, GenInspection, GenSample, GroundTruth};
use shian_core::sync::protocol::{Op, OpStatus};

use super::DemoError;
use crate::feedback::complaints::route;
use crate::store::field::NewAttachment;
use crate::store::ledger::{Caller, Prepared};
use crate::store::{Merchant, Store};

/// The file the benchmark reads, in the database's directory.
pub const TRUTH_FILE: &str = "demo-truth.json";

/// Ops per push: the sync API's own limit.
const OPS_PER_PUSH: usize = 1_000;

/// Pushes field ops as `inspector` from the demo's one device, in order,
/// a push at a time; a refusal is a bug of the generator.
async fn push_ops(store: &dyn Store, inspector: &Caller, ops: Vec<Op>) -> Result<usize, DemoError> {
    let mut accepted = 0;
    let mut ops = ops.into_iter().peekable();
    while ops.peek().is_some() {
        let chunk: Vec<Prepared> = ops
            .by_ref()
            .take(OPS_PER_PUSH)
            .map(|op| Prepared {
                op,
                event: None,
                wire: None,
            })
            .collect();
        let (results, _) = store
            .sync_push(inspector.clone(), "demo-field".to_owned(), chunk)
            .await?;
        for r in results {
            match r.status {
                OpStatus::Accepted => accepted += 1,
                OpStatus::Duplicate => {}
                OpStatus::Rejected => {
                    return Err(DemoError::Refused {
                        what: format!("op {}", r.op_id),
                        why: r.error.map(|e| e.message).unwrap_or_default(),
                    })
                }
            }
        }
    }
    Ok(accepted)
}

/// Pushes the samples as `inspector`, in time order.
pub async fn push_samples(
    store: &dyn Store,
    inspector: &Caller,
    samples: &[GenSample],
) -> Result<usize, DemoError> {
    let ops = samples
        .iter()
        .map(|s| Op {
            op_id: s.sample_id.to_string(),
            kind: "sample.record".to_owned(),
            at: s.taken_at.to_rfc3339(),
            payload: s.payload(),
        })
        .collect();
    push_ops(store, inspector, ops).await
}

/// The picture the demo's inspections attach to their photo items: drawn
/// here, made safe by [`crate::photo::clean`] and stored as the
/// inspector's upload. Its SHA-256.
async fn site_photo(store: &dyn Store, user_id: &str) -> Result<String, DemoError> {
    let picture = image::RgbImage::from_fn(96, 64, |x, y| {
        image::Rgb([180 + (x % 40) as u8, 190 + (y % 40) as u8, 200])
    });
    let mut png = Vec::new();
    image::DynamicImage::ImageRgb8(picture)
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .map_err(|e| DemoError::Refused {
            what: "the inspection photo".to_owned(),
            why: e.to_string(),
        })?;
    let clean = crate::photo::clean(&png).map_err(|e| DemoError::Refused {
        what: "the inspection photo".to_owned(),
        why: e.to_string(),
    })?;
    store
        .put_attachment(NewAttachment {
            sha256: clean.sha256.clone(),
            content_type: clean.media_type.to_owned(),
            data: clean.bytes,
            user_id: user_id.to_owned(),
        })
        .await?;
    Ok(clean.sha256)
}

/// Pushes the inspections as `inspector`, signed by `inspectors` (the
/// pusher among them), in time order.
pub async fn push_inspections(
    store: &dyn Store,
    inspector: &Caller,
    inspectors: &[String],
    inspections: &[GenInspection],
) -> Result<usize, DemoError> {
    let photo = site_photo(store, &inspector.user_id).await?;
    let ops = inspections
        .iter()
        .map(|i| {
            let payload = i
                .payload(inspectors, &photo)
                .map_err(|e| DemoError::Refused {
                    what: format!("inspection {}", i.inspection_id),
                    why: e.to_string(),
                })?;
            Ok(Op {
                op_id: i.inspection_id.to_string(),
                kind: "inspection.record".to_owned(),
                at: i.finished_at.to_rfc3339(),
                payload,
            })
        })
        .collect::<Result<Vec<Op>, DemoError>>()?;
    push_ops(store, inspector, ops).await
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
        let routed = route(
            id.clone(),
            shop,
            c.category,
            c.product.clone(),
            text,
            None,
            c.received_on,
        )
        .map_err(|e| DemoError::Refused {
            what: format!("complaint {id}"),
            why: e.to_string(),
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
