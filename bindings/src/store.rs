//! `ShianStore`: a device's local store (ledger, outbox, inbox, directory)
//! with its sync client. One object per store file, used from any thread:
//! the core store sits behind `Arc<Mutex<_>>` (the background sync worker
//! shares it), and no lock is held across the network.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde_json::Value;
use shian_core::codes;
use shian_core::event;
use shian_core::inspection::{
    check_inspection_record, evaluate, parse_template, render_record_html, CheckedInspection,
    InspectionRecordPayload, InspectionRules, RecordContext, TemplateRegistry,
};
use shian_core::ledger::LedgerView;
use shian_core::quantity::Quantity;
use shian_core::store::view::SqlView;
use shian_core::store::LocalStore;
use shian_core::sync::{SyncClient, SyncConfig, SyncWorker};
use shian_core::trace::{self, SqlGraph};

use crate::error::ShianError;
use crate::inspection::{
    AnswerInput, ChecklistRecord, InspectionInput, InspectionOutcome, PrintInfo,
};
use crate::ledger::{
    AdjustInput, DisposeInput, MerchantWarning, PurchaseInput, QuantityValue, RecordOutcome,
    SaleInput, VoidInput, WarningRecord,
};
use crate::trace::{BackwardTraceRecord, ForwardTraceRecord};

/// What the app passes in to open a store; the core reads no files of its own.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct StoreConfig {
    /// The SQLite file (created if missing; its folder must exist).
    pub path: String,
    /// e.g. `https://shian.example.cn` (no trailing path).
    pub server_url: String,
    /// 1–64 characters of `[A-Za-z0-9_-]`, stable for the installation.
    pub device_id: String,
    pub username: String,
    pub password: String,
}

/// Row counts, for status screens.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct StoreCounts {
    pub entries: i64,
    pub batches: i64,
    pub movements: i64,
    pub warnings: i64,
    pub outbox_pending: i64,
    pub outbox_parked: i64,
}

/// An event waiting in the outbox.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct OutboxOpRecord {
    pub seq: i64,
    pub op_id: String,
    pub kind: String,
    pub at: String,
    pub payload_json: String,
    /// `pending` or `parked`.
    pub state: String,
    pub attempts: i64,
    pub last_error: Option<String>,
}

/// An event the server refused, kept and shown with its reason.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ParkedOpRecord {
    pub op_id: String,
    pub kind: String,
    pub reason_code: String,
    pub message: String,
    /// It will be offered again (it refers to something another device has not pushed yet).
    pub retryable: bool,
}

/// A change pulled from the server that this device could not apply, kept
/// with the reason and tried again (never dropped silently).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct UnappliedChangeRecord {
    /// The server's sequence of the change in its feed.
    pub seq: i64,
    pub kind: String,
    /// The payload as received.
    pub payload_json: String,
    pub reason_code: String,
    pub message: String,
    /// The field at fault, when one is.
    pub field: Option<String>,
    /// The rules version and the library version it was last tried under.
    pub rules_version: String,
    pub core_version: String,
    pub attempts: i64,
    pub first_tried_at: String,
    pub last_tried_at: String,
}

/// What one sync did.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SyncReportRecord {
    pub accepted: u64,
    pub duplicate: u64,
    pub rejected: u64,
    pub pulled: u64,
}

/// What an app shows about sync.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SyncStatusRecord {
    pub pending: i64,
    pub parked: i64,
    /// Pulled changes this device could not apply (`unapplied_changes`).
    pub unapplied: i64,
    pub cursor: String,
    pub last_success_at: Option<String>,
    pub last_attempt_at: Option<String>,
    pub last_error: Option<String>,
    pub consecutive_failures: i64,
    /// A background sync worker is running.
    pub background: bool,
}

/// A merchant this device knows (the inspector's district, trace labels).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct DirectoryEntry {
    pub merchant_id: String,
    pub name: String,
    /// The merchant card as synced (`shop_code`, `region_code`, `licence_no`, ...).
    pub payload_json: String,
}

/// A batch this merchant holds (or held), with its running balance.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct BatchRecord {
    pub trace_code: String,
    pub product_name: String,
    pub category: String,
    pub received: QuantityValue,
    /// received + adjusted − everything that left; negative when oversold.
    pub held: QuantityValue,
    /// The upstream voucher it was received with.
    pub voucher_code: Option<String>,
    pub received_at: String,
    pub expiry_date: Option<String>,
}

/// A device's store and its sync.
#[derive(uniffi::Object)]
pub struct ShianStore {
    store: Arc<Mutex<LocalStore>>,
    config: SyncConfig,
    /// Kept between `sync_now` calls so the login token is reused; the lock
    /// also makes two `sync_now` calls run one after the other.
    client: Mutex<Option<SyncClient>>,
    worker: Mutex<Option<SyncWorker>>,
}

fn guard<T>(m: &Mutex<T>) -> Result<MutexGuard<'_, T>, ShianError> {
    m.lock()
        .map_err(|_| ShianError::storage("本地存储锁已损坏 (store lock poisoned)"))
}

fn parse_json(json: &str, field: &str) -> Result<Value, ShianError> {
    serde_json::from_str(json)
        .map_err(|e| ShianError::invalid(field, "invalid_json", format!("JSON 格式错误: {e}")))
}

impl ShianStore {
    pub(crate) fn lock(&self) -> Result<MutexGuard<'_, LocalStore>, ShianError> {
        guard(&self.store)
    }

    fn record(&self, kind: &str, payload: &Value) -> Result<RecordOutcome, ShianError> {
        Ok(self.lock()?.record(kind, payload)?.into())
    }

    /// Built-in templates plus those received by sync.
    pub(crate) fn templates(&self) -> Result<TemplateRegistry, ShianError> {
        let builtin = TemplateRegistry::builtin()?;
        let received = self.lock()?.inbox("checklist")?;
        if received.is_empty() {
            return Ok(builtin.clone());
        }
        let mut all = builtin.clone();
        for t in received {
            // A template already known (the same built-in one, published by
            // the server) or not valid here is skipped: the built-in one stands.
            if let Ok(t) = parse_template(&t.to_string()) {
                if all.get(&t.id, t.version).is_none() {
                    let _ = all.insert(t);
                }
            }
        }
        Ok(all)
    }

    /// Checks a record as the server will (the pushing inspector aside, which
    /// only the server knows).
    fn check(
        &self,
        payload: InspectionRecordPayload,
    ) -> Result<(CheckedInspection, TemplateRegistry), ShianError> {
        let templates = self.templates()?;
        let ctx = RecordContext {
            pushing_inspector: None,
            now: chrono::Utc::now(),
            templates: &templates,
            rules: InspectionRules::builtin()?,
        };
        let checked = check_inspection_record(payload, &ctx)?;
        Ok((checked, templates))
    }

    /// Checks a record and writes it to the outbox with the inspection id as op id.
    fn enqueue_inspection(
        &self,
        payload: InspectionRecordPayload,
    ) -> Result<InspectionOutcome, ShianError> {
        let wire = serde_json::to_value(&payload)?;
        let (checked, _) = self.check(payload)?;
        let id = checked.record.inspection_id.to_string();
        self.lock()?.enqueue(
            &id,
            "inspection.record",
            &checked.record.finished_at.to_rfc3339(),
            &wire,
        )?;
        Ok(InspectionOutcome::new(Some(id), &checked.evaluation))
    }
}

#[uniffi::export]
impl ShianStore {
    /// Opens (creating and migrating if needed) the store file. Works offline:
    /// nothing is sent until `sync_now` or `start_background_sync`.
    #[uniffi::constructor]
    pub fn open(config: StoreConfig) -> Result<Arc<Self>, ShianError> {
        codes::validate_id(&config.device_id, "device_id")?;
        let store = LocalStore::open(&config.path)?;
        let sync = SyncConfig::new(
            &config.server_url,
            &config.device_id,
            &config.username,
            &config.password,
        );
        Ok(Arc::new(Self {
            store: Arc::new(Mutex::new(store)),
            config: sync,
            client: Mutex::new(None),
            worker: Mutex::new(None),
        }))
    }

    // ---- ledger ----------------------------------------------------------

    /// Records a purchase (进货) with its outbox entry, before returning.
    pub fn record_purchase(&self, input: PurchaseInput) -> Result<RecordOutcome, ShianError> {
        self.record(event::PURCHASE, &input.to_wire())
    }

    /// Records a sale (销货); a sale to a platform merchant issues a voucher.
    pub fn record_sale(&self, input: SaleInput) -> Result<RecordOutcome, ShianError> {
        self.record(event::SALE, &input.to_wire())
    }

    /// Voids an earlier entry of this merchant (a correction, never a deletion).
    pub fn record_void(&self, input: VoidInput) -> Result<RecordOutcome, ShianError> {
        self.record(event::VOID, &input.to_wire())
    }

    /// Records goods destroyed or returned.
    pub fn record_dispose(&self, input: DisposeInput) -> Result<RecordOutcome, ShianError> {
        self.record(event::DISPOSE, &input.to_wire())
    }

    /// Records a stock-count correction.
    pub fn record_adjust(&self, input: AdjustInput) -> Result<RecordOutcome, ShianError> {
        self.record(event::ADJUST, &input.to_wire())
    }

    /// Records any ledger event given as its wire JSON (`ledger.purchase`, ...).
    pub fn record_json(
        &self,
        kind: String,
        payload_json: String,
    ) -> Result<RecordOutcome, ShianError> {
        self.record(&kind, &parse_json(&payload_json, "payload")?)
    }

    /// The warnings recorded for a merchant on this device, newest first.
    pub fn warnings(
        &self,
        merchant_id: String,
        limit: u32,
    ) -> Result<Vec<MerchantWarning>, ShianError> {
        Ok(self
            .lock()?
            .warnings(&merchant_id, limit)?
            .into_iter()
            .map(|(entry_id, w)| MerchantWarning {
                entry_id,
                warning: WarningRecord::from(w),
            })
            .collect())
    }

    pub fn counts(&self) -> Result<StoreCounts, ShianError> {
        let c = self.lock()?.counts()?;
        Ok(StoreCounts {
            entries: c.entries,
            batches: c.batches,
            movements: c.movements,
            warnings: c.warnings,
            outbox_pending: c.outbox_pending,
            outbox_parked: c.outbox_parked,
        })
    }

    /// A merchant's batches on this device, newest first (not voided), with
    /// what each still holds: the stock list a sale is recorded against.
    pub fn batches(&self, merchant_id: String, limit: u32) -> Result<Vec<BatchRecord>, ShianError> {
        // Core has the per-batch reader (`SqlView::batch`, with the running
        // balance) but no list: this one query is the binding's.
        let store = self.lock()?;
        let conn = store.conn();
        let mut st = conn.prepare_cached(
            "SELECT trace_code, product_name, voucher_code, received_at FROM batches
             WHERE merchant_id = ?1 AND voided = 0 ORDER BY received_at DESC, rowid DESC LIMIT ?2",
        )?;
        let rows = st.query_map(rusqlite::params![merchant_id, limit], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Option<String>>(2)?,
                r.get::<_, String>(3)?,
            ))
        })?;
        let view = SqlView {
            conn,
            authoritative: false,
        };
        let mut out = Vec::new();
        for row in rows {
            let (trace_code, product_name, voucher_code, received_at) = row?;
            let Some(b) = view.batch(&trace_code)? else {
                continue;
            };
            out.push(BatchRecord {
                trace_code,
                product_name,
                category: b.category.as_str().to_owned(),
                received: Quantity::new(b.received, b.unit).into(),
                held: Quantity::new(b.held(), b.unit).into(),
                voucher_code,
                received_at,
                expiry_date: b.expiry_date.map(|d| d.to_string()),
            });
        }
        Ok(out)
    }

    // ---- trace on local data --------------------------------------------

    /// Every downstream holder of a batch, from this device's data.
    pub fn trace_forward(&self, trace_code: String) -> Result<ForwardTraceRecord, ShianError> {
        let code = codes::parse_code(&trace_code, "trace_code")?;
        let store = self.lock()?;
        Ok(trace::forward(&SqlGraph::new(store.conn()), &code)?.into())
    }

    /// The chain of custody of a batch back to its origin, from this device's data.
    pub fn trace_backward(&self, trace_code: String) -> Result<BackwardTraceRecord, ShianError> {
        let code = codes::parse_code(&trace_code, "trace_code")?;
        let store = self.lock()?;
        Ok(trace::backward(&SqlGraph::new(store.conn()), &code)?.into())
    }

    // ---- sync ------------------------------------------------------------

    /// Pushes every pending event, then pulls every page. Blocking: call it
    /// from a background thread. Recording stays possible meanwhile.
    pub fn sync_now(&self) -> Result<SyncReportRecord, ShianError> {
        let mut client = guard(&self.client)?;
        if client.is_none() {
            *client = Some(SyncClient::new(self.config.clone())?);
        }
        let Some(c) = client.as_mut() else {
            return Err(ShianError::storage("sync client missing"));
        };
        let r = c.sync(&self.store)?;
        Ok(SyncReportRecord {
            accepted: r.accepted as u64,
            duplicate: r.duplicate as u64,
            rejected: r.rejected as u64,
            pulled: r.pulled as u64,
        })
    }

    pub fn sync_status(&self) -> Result<SyncStatusRecord, ShianError> {
        let background = guard(&self.worker)?.is_some();
        let s = self.lock()?.sync_status()?;
        Ok(SyncStatusRecord {
            pending: s.pending,
            parked: s.parked,
            unapplied: s.unapplied,
            cursor: s.cursor,
            last_success_at: s.last_success_at,
            last_attempt_at: s.last_attempt_at,
            last_error: s.last_error,
            consecutive_failures: s.consecutive_failures,
            background,
        })
    }

    /// Events waiting to be pushed, oldest first, at most `limit`.
    pub fn pending_ops(&self, limit: u32) -> Result<Vec<OutboxOpRecord>, ShianError> {
        self.outbox("pending", limit)
    }

    /// Events the server refused, with reasons (never dropped silently).
    pub fn parked_ops(&self) -> Result<Vec<ParkedOpRecord>, ShianError> {
        Ok(self
            .lock()?
            .parked()?
            .into_iter()
            .map(|p| ParkedOpRecord {
                op_id: p.op_id,
                kind: p.kind,
                reason_code: p.reason_code,
                message: p.message,
                retryable: p.retryable,
            })
            .collect())
    }

    /// Changes pulled from the server that this device could not apply, in
    /// the order pulled, with reasons (kept, never dropped silently).
    pub fn unapplied_changes(&self) -> Result<Vec<UnappliedChangeRecord>, ShianError> {
        Ok(self
            .lock()?
            .unapplied()?
            .into_iter()
            .map(|u| UnappliedChangeRecord {
                seq: u.seq,
                kind: u.kind,
                payload_json: u.payload,
                reason_code: u.reason_code,
                message: u.message,
                field: u.field,
                rules_version: u.rules_version,
                core_version: u.core_version,
                attempts: u.attempts,
                first_tried_at: u.first_tried_at,
                last_tried_at: u.last_tried_at,
            })
            .collect())
    }

    /// Tries the unapplied changes again (after the app fixed what blocked
    /// them, e.g. voided a local sale); returns how many now apply. Opening
    /// the store after an app update does this by itself.
    pub fn retry_unapplied(&self) -> Result<u64, ShianError> {
        Ok(self.lock()?.retry_unapplied()? as u64)
    }

    /// Starts syncing on a timer of its own (every `interval_ms` after a
    /// success, with jittered backoff after a failure). A running worker is
    /// replaced.
    pub fn start_background_sync(&self, interval_ms: u64) -> Result<(), ShianError> {
        let client = SyncClient::new(self.config.clone())?;
        let mut worker = guard(&self.worker)?;
        if let Some(old) = worker.take() {
            old.stop();
        }
        *worker = Some(SyncWorker::spawn(
            self.store.clone(),
            client,
            Duration::from_millis(interval_ms.max(1)),
        ));
        Ok(())
    }

    /// Asks the background worker for a sync now (after a write, or when the
    /// network returns). Does nothing if no worker runs.
    pub fn wake_background_sync(&self) -> Result<(), ShianError> {
        if let Some(w) = guard(&self.worker)?.as_ref() {
            w.wake();
        }
        Ok(())
    }

    /// Stops the background worker after its current attempt (blocks until then).
    pub fn stop_background_sync(&self) -> Result<(), ShianError> {
        let old = guard(&self.worker)?.take();
        if let Some(w) = old {
            w.stop();
        }
        Ok(())
    }

    /// Items of a non-ledger kind received by sync, newest first, as JSON:
    /// `task`, `checklist`, `inspection.record`, recall notices, ...
    pub fn inbox(&self, kind: String) -> Result<Vec<String>, ShianError> {
        Ok(self
            .lock()?
            .inbox(&kind)?
            .into_iter()
            .map(|v| v.to_string())
            .collect())
    }

    /// The merchants this device knows (its district, for an inspector), by name.
    pub fn directory(&self) -> Result<Vec<DirectoryEntry>, ShianError> {
        // Core has a writer (`put_directory`) and the sync fills the table,
        // but no reader yet: this one query is the binding's.
        let store = self.lock()?;
        let mut st = store.conn().prepare_cached(
            "SELECT merchant_id, name, payload FROM directory ORDER BY name, merchant_id",
        )?;
        let rows = st.query_map([], |r| {
            Ok(DirectoryEntry {
                merchant_id: r.get(0)?,
                name: r.get(1)?,
                payload_json: r.get(2)?,
            })
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// Records a merchant's name (and card) for traces shown offline.
    pub fn put_directory(
        &self,
        merchant_id: String,
        name: String,
        payload_json: String,
    ) -> Result<(), ShianError> {
        let id = codes::validate_id(&merchant_id, "merchant_id")?;
        let payload = parse_json(&payload_json, "payload")?;
        Ok(self.lock()?.put_directory(&id, &name, &payload)?)
    }

    // ---- inspection ------------------------------------------------------

    /// The checklist templates this device knows (built in, and received by sync).
    pub fn checklists(&self) -> Result<Vec<ChecklistRecord>, ShianError> {
        Ok(self.templates()?.list().iter().map(Into::into).collect())
    }

    /// One template; `version` None: the latest.
    pub fn checklist(
        &self,
        template_id: String,
        version: Option<u32>,
    ) -> Result<ChecklistRecord, ShianError> {
        let templates = self.templates()?;
        let t = match version {
            Some(v) => templates.get(&template_id, v),
            None => templates.latest(&template_id),
        };
        t.map(Into::into).ok_or_else(|| ShianError::NotFound {
            code: "unknown_template".into(),
            message: format!("未知的检查表模板 {template_id}"),
        })
    }

    /// The result of a complete set of answers (自动评定), offline, with the
    /// same rules the server re-runs. `finished_at` (RFC 3339) dates the
    /// correction deadline.
    pub fn evaluate_answers(
        &self,
        template_id: String,
        template_version: u32,
        answers: Vec<AnswerInput>,
        finished_at: String,
    ) -> Result<InspectionOutcome, ShianError> {
        let templates = self.templates()?;
        let template = templates
            .get(&template_id, template_version)
            .ok_or_else(|| {
                ShianError::invalid(
                    "template_id",
                    "unknown_template",
                    format!("未知的检查表模板 {template_id} 第 {template_version} 版"),
                )
            })?;
        let finished = chrono::DateTime::parse_from_rfc3339(finished_at.trim()).map_err(|_| {
            ShianError::invalid(
                "finished_at",
                "invalid_timestamp",
                "时间应为带时区偏移的 RFC 3339 格式",
            )
        })?;
        let answers: Vec<_> = answers.iter().map(Into::into).collect();
        let ev = evaluate(template, &answers, finished, InspectionRules::builtin()?)?;
        Ok(InspectionOutcome::new(None, &ev))
    }

    /// Checks a whole `inspection.record` as the server will (two inspectors,
    /// times, template, result equal to the computed one) without saving it.
    pub fn check_inspection(
        &self,
        input: InspectionInput,
    ) -> Result<InspectionOutcome, ShianError> {
        let (checked, _) = self.check(input.to_payload()?)?;
        Ok(InspectionOutcome::new(
            Some(checked.record.inspection_id.to_string()),
            &checked.evaluation,
        ))
    }

    /// Checks the record and writes `inspection.record` to the outbox; the
    /// next sync pushes it. The op id is the inspection id.
    pub fn record_inspection(
        &self,
        input: InspectionInput,
    ) -> Result<InspectionOutcome, ShianError> {
        self.enqueue_inspection(input.to_payload()?)
    }

    /// The same, for an `inspection.record` given as wire JSON.
    pub fn record_inspection_json(
        &self,
        payload_json: String,
    ) -> Result<InspectionOutcome, ShianError> {
        let payload: InspectionRecordPayload =
            serde_json::from_str(&payload_json).map_err(|e| {
                ShianError::invalid("payload", "invalid_json", format!("数据格式错误：{e}"))
            })?;
        self.enqueue_inspection(payload)
    }

    /// The printable record (监督检查结果记录表) as one self-contained zh-CN HTML page.
    pub fn render_inspection_record_html(
        &self,
        input: InspectionInput,
        info: PrintInfo,
    ) -> Result<String, ShianError> {
        let (checked, templates) = self.check(input.to_payload()?)?;
        let template = templates
            .get(&checked.record.template_id, checked.record.template_version)
            .ok_or_else(|| ShianError::storage("template vanished"))?;
        Ok(render_record_html(template, &checked, &info.into()))
    }
}

impl ShianStore {
    fn outbox(&self, state: &str, limit: u32) -> Result<Vec<OutboxOpRecord>, ShianError> {
        Ok(self
            .lock()?
            .outbox(state, limit)?
            .into_iter()
            .map(|o| OutboxOpRecord {
                seq: o.seq,
                op_id: o.op_id,
                kind: o.kind,
                at: o.at,
                payload_json: o.payload.to_string(),
                state: o.state,
                attempts: o.attempts,
                last_error: o.last_error,
            })
            .collect())
    }
}

impl Drop for ShianStore {
    fn drop(&mut self) {
        if let Ok(mut w) = self.worker.lock() {
            if let Some(w) = w.take() {
                w.stop();
            }
        }
    }
}
