//! The field-inspection tables (component `"field"`) and the one-time
//! publication of checklist templates to devices.

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use shian_core::inspection::TemplateRegistry;

use super::migrate::Migration;
use crate::store::StoreError;

/// The field tables. Records are events (DESIGN.md: nothing is updated in
/// place): an inspection or a sample row is written once and never changed;
/// what follows from it (an alert, a recall proposal, a public disclosure)
/// is a new row pointing at it.
pub const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "inspections, samples, attachments, alerts, recall proposals, draws",
    sql: r#"
    -- One row per inspection.record. Times are UTC RFC 3339 with
    -- milliseconds (sortable as text); `payload` is the checked record and
    -- `evaluation` what the rules made of it, both JSON, so the printed
    -- record can be re-rendered exactly as it was judged.
    CREATE TABLE inspections (
        id               TEXT PRIMARY KEY,
        merchant_id      TEXT NOT NULL,
        template         TEXT NOT NULL,
        template_version INTEGER NOT NULL,
        result           TEXT NOT NULL CHECK (result IN ('compliant', 'basically_compliant', 'non_compliant')),
        violations       TEXT NOT NULL,
        inspectors       TEXT NOT NULL,
        started_at       TEXT NOT NULL,
        finished_at      TEXT NOT NULL,
        payload          TEXT NOT NULL,
        evaluation       TEXT NOT NULL,
        pushed_by        TEXT NOT NULL,
        recorded_at      TEXT NOT NULL
    );
    CREATE INDEX inspections_by_merchant ON inspections(merchant_id, finished_at);
    CREATE INDEX inspections_by_finished ON inspections(finished_at);

    -- One row per sample.record (rapid test or lab result). A lab result
    -- confirming a rapid test points at it with `confirms`.
    CREATE TABLE samples (
        id                TEXT PRIMARY KEY,
        merchant_id       TEXT NOT NULL,
        trace_code        TEXT,
        item              TEXT NOT NULL,
        method            TEXT NOT NULL,
        value             REAL NOT NULL,
        unit              TEXT NOT NULL,
        limit_value       REAL NOT NULL,
        taken_at          TEXT NOT NULL,
        confirms          TEXT,
        outcome           TEXT NOT NULL,
        counts_as_failure INTEGER NOT NULL,
        payload           TEXT NOT NULL,
        evaluation        TEXT NOT NULL,
        pushed_by         TEXT NOT NULL,
        recorded_at       TEXT NOT NULL
    );
    CREATE INDEX samples_by_merchant ON samples(merchant_id, taken_at);
    CREATE INDEX samples_by_confirms ON samples(confirms) WHERE confirms IS NOT NULL;

    -- Content-addressed photos and documents. In the database rather than
    -- beside it so every server instance behind a load balancer sees them
    -- and a backup of the one file holds the evidence too.
    CREATE TABLE attachments (
        sha256       TEXT PRIMARY KEY,
        size         INTEGER NOT NULL,
        content_type TEXT NOT NULL,
        data         BLOB NOT NULL,
        created_at   TEXT NOT NULL
    );
    CREATE TABLE attachment_owners (
        sha256  TEXT NOT NULL,
        user_id TEXT NOT NULL,
        PRIMARY KEY (sha256, user_id)
    ) WITHOUT ROWID;

    -- Warnings for regulators raised by field results (a confirmed test
    -- failure); the ledger's own warnings stay in core's `warnings`.
    CREATE TABLE alerts (
        id          TEXT PRIMARY KEY,
        merchant_id TEXT NOT NULL,
        kind        TEXT NOT NULL,
        message     TEXT NOT NULL,
        evidence    TEXT NOT NULL,
        created_at  TEXT NOT NULL
    );
    CREATE INDEX alerts_by_merchant ON alerts(merchant_id, created_at);

    -- A recall an analyst has to decide on (the level depends on the harm).
    CREATE TABLE recall_proposals (
        id          TEXT PRIMARY KEY,
        merchant_id TEXT NOT NULL,
        trace_code  TEXT,
        sample_id   TEXT NOT NULL,
        reason      TEXT NOT NULL,
        basis       TEXT NOT NULL,
        status      TEXT NOT NULL DEFAULT 'proposed',
        created_at  TEXT NOT NULL
    );
    CREATE INDEX recall_proposals_by_trace ON recall_proposals(trace_code);

    -- What a shop's public page shows besides its registry data (抽检结果
    -- 公开): one row per disclosed finding.
    CREATE TABLE public_findings (
        id          TEXT PRIMARY KEY,
        merchant_id TEXT NOT NULL,
        kind        TEXT NOT NULL,
        ref_id      TEXT NOT NULL,
        title       TEXT NOT NULL,
        summary     TEXT NOT NULL,
        trace_code  TEXT,
        published_at TEXT NOT NULL
    );
    CREATE INDEX public_findings_by_merchant ON public_findings(merchant_id, published_at);

    -- Double random draws: the parameters and the result, published.
    CREATE TABLE draws (
        id         TEXT PRIMARY KEY,
        name       TEXT NOT NULL,
        seed       TEXT NOT NULL,
        seed_hash  TEXT NOT NULL,
        algorithm  TEXT NOT NULL,
        pool_size  INTEGER NOT NULL,
        params     TEXT NOT NULL,
        created_by TEXT NOT NULL,
        created_at TEXT NOT NULL
    );
    CREATE TABLE draw_tasks (
        id          TEXT PRIMARY KEY,
        draw_id     TEXT NOT NULL REFERENCES draws(id),
        position    INTEGER NOT NULL,
        merchant_id TEXT NOT NULL,
        grade       TEXT NOT NULL,
        inspector_a TEXT NOT NULL,
        inspector_b TEXT NOT NULL
    );
    CREATE UNIQUE INDEX draw_tasks_order ON draw_tasks(draw_id, position);

    -- Which checklist templates went out on the change feed, so a restart
    -- does not publish them again.
    CREATE TABLE published_checklists (
        template_id TEXT NOT NULL,
        version     INTEGER NOT NULL,
        seq         INTEGER NOT NULL,
        PRIMARY KEY (template_id, version)
    );
    "#,
}];

/// Publishes every known checklist template that has not been published yet
/// (kind `checklist`, addressed to everyone) so that phones get it with their
/// next pull. In an IMMEDIATE transaction: a server and the admin CLI opening
/// the file at the same moment publish each template once.
pub fn publish_checklists(
    conn: &mut Connection,
    templates: &TemplateRegistry,
) -> Result<usize, StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut published = 0;
    for t in templates.list() {
        let done: Option<i64> = tx
            .query_row(
                "SELECT seq FROM published_checklists WHERE template_id = ?1 AND version = ?2",
                params![t.id, t.version],
                |r| r.get(0),
            )
            .optional()?;
        if done.is_some() {
            continue;
        }
        let payload = serde_json::to_value(t).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let seq = super::sync::publish(&tx, "checklist", None, None, None, &payload)?;
        tx.execute(
            "INSERT INTO published_checklists (template_id, version, seq) VALUES (?1, ?2, ?3)",
            params![t.id, t.version, seq],
        )?;
        published += 1;
    }
    tx.commit()?;
    Ok(published)
}
