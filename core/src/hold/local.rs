//! Holds on the device. The `hold.placed` and `hold.released` changes a
//! device pulls are kept in its store's inbox (the latest payload per kind
//! and hold id, as every notice is), so a hold is in force on the device
//! from the pull that brought it until the pull that brings its end, and
//! [`crate::store::LocalStore::record_event`] refuses a sale of the batch
//! offline by [`crate::rules::check_hold`]. The operator's tablet places and
//! releases holds into its outbox ([`LocalStore::place_hold`],
//! [`LocalStore::release_hold`]), checked by the same parsing the server
//! applies.

use chrono::{DateTime, FixedOffset, Utc};
use rusqlite::{params, Connection, OptionalExtension};
use serde_json::{json, Value};

use super::{
    parse_hold, parse_release, Hold, HoldChange, HoldInfo, HoldReason, PLACED_CHANGE, PLACE_KIND,
    RELEASED_CHANGE, RELEASE_KIND,
};
use crate::error::FieldError;
use crate::ledger::Warning;
use crate::store::LocalStore;

/// Why a hold or release was not queued on the tablet.
#[derive(Debug, thiserror::Error)]
pub enum LocalHoldError {
    #[error(transparent)]
    Invalid(#[from] FieldError),
    #[error(transparent)]
    Storage(#[from] rusqlite::Error),
}

/// The hold in force on the device for a merchant's batch: pulled as
/// `hold.placed` and not (yet) ended by a pulled `hold.released`. The
/// device had it, by definition.
pub fn active_hold(
    conn: &Connection,
    merchant_id: &str,
    trace_code: &str,
) -> rusqlite::Result<Option<HoldInfo>> {
    let payload: Option<String> = conn
        .prepare_cached(
            "SELECT p.payload FROM inbox p
             WHERE p.kind = ?1 AND json_extract(p.payload, '$.trace_code') = ?3
               AND json_extract(p.payload, '$.merchant_id') = ?4
               AND NOT EXISTS (SELECT 1 FROM inbox r WHERE r.kind = ?2 AND r.key = p.key)
             ORDER BY p.seq DESC LIMIT 1",
        )?
        .query_row(
            params![PLACED_CHANGE, RELEASED_CHANGE, trace_code, merchant_id],
            |r| r.get(0),
        )
        .optional()?;
    // A payload the server wrote from a `HoldChange`; one that does not read
    // back (a newer server's shape) still stops the sale, as a hold of
    // unknown reason placed now.
    Ok(payload.map(|p| {
        let c: Option<HoldChange> = serde_json::from_str(&p).ok();
        match c {
            Some(c) => HoldInfo {
                placed_at: DateTime::parse_from_rfc3339(&c.placed_at)
                    .unwrap_or_else(|_| Utc::now().fixed_offset()),
                hold_id: c.id,
                reason: c.reason,
                note: c.note,
                device_had_it: true,
            },
            None => HoldInfo {
                hold_id: String::new(),
                reason: HoldReason::Other,
                note: None,
                placed_at: Utc::now().fixed_offset(),
                device_had_it: true,
            },
        }
    }))
}

/// Keeps the warning a hold gave an accepted entry, with the entry's others.
pub(crate) fn keep_warning(
    conn: &Connection,
    entry_id: &str,
    merchant_id: &str,
    w: &Warning,
    now: DateTime<Utc>,
) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO warnings (entry_id, merchant_id, code, message, evidence, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        entry_id,
        merchant_id,
        w.code,
        w.message,
        w.evidence.to_string(),
        now.to_rfc3339()
    ])?;
    Ok(())
}

impl LocalStore {
    /// The holds this device pulled (a merchant: its own; an operator's
    /// tablet: its market's), newest first, each as its latest change:
    /// `status` says whether it is still in force.
    pub fn holds(&self) -> rusqlite::Result<Vec<HoldChange>> {
        let mut st = self.conn().prepare_cached(
            "SELECT p.payload, (SELECT r.payload FROM inbox r WHERE r.kind = ?2 AND r.key = p.key)
             FROM inbox p WHERE p.kind = ?1 ORDER BY p.seq DESC",
        )?;
        let rows = st.query_map(params![PLACED_CHANGE, RELEASED_CHANGE], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (placed, ended) = row?;
            let latest = ended.unwrap_or(placed);
            if let Ok(c) = serde_json::from_str::<HoldChange>(&latest) {
                out.push(c);
            }
        }
        Ok(out)
    }

    /// Queues `market.hold` on an operator's tablet (offline if need be),
    /// checked as the server checks it; the scope (the market's own
    /// merchant, a batch it holds) is the server's to judge. Returns the hold.
    pub fn place_hold(
        &mut self,
        payload: &Value,
        operator_user_id: &str,
        at: DateTime<FixedOffset>,
    ) -> Result<Hold, LocalHoldError> {
        let now = Utc::now();
        let hold = parse_hold(payload, &at.to_rfc3339(), operator_user_id, now)?;
        let wire = json!({
            "hold_id": hold.hold_id,
            "market_id": hold.market_id,
            "merchant_id": hold.merchant_id,
            "trace_code": hold.trace_code,
            "reason": hold.reason.as_str(),
            "note": hold.note,
        });
        self.enqueue(&hold.hold_id, PLACE_KIND, &at.to_rfc3339(), &wire)?;
        Ok(hold)
    }

    /// Queues `market.hold_release {hold_id, note}`; returns the op id.
    pub fn release_hold(
        &mut self,
        payload: &Value,
        at: DateTime<FixedOffset>,
    ) -> Result<String, LocalHoldError> {
        let r = parse_release(payload)?;
        let op_id = uuid::Uuid::now_v7().to_string();
        self.enqueue(
            &op_id,
            RELEASE_KIND,
            &at.to_rfc3339(),
            &json!({"hold_id": r.hold_id, "note": r.note}),
        )?;
        Ok(op_id)
    }
}

#[cfg(test)]
mod tests {
    use chrono::Duration;
    use serde_json::json;

    use super::*;
    use crate::error::LedgerError;
    use crate::hold::HoldStatus;
    use crate::sync::protocol::Change;

    fn purchase(store: &mut LocalStore, merchant: &str) -> String {
        let p = json!({
            "entry_id": uuid::Uuid::now_v7().to_string(),
            "merchant_id": merchant,
            "product": {"name": "冻牛腩", "category": "livestock_meat"},
            "quantity": {"value": "100", "unit": "kg"},
            "supplier": {"name": "某冷库"},
            "certificates": [{"kind": "quarantine", "number": "Q-1"}],
            "received_at": (Utc::now() - Duration::days(2)).to_rfc3339(),
        });
        store
            .record("ledger.purchase", &p)
            .unwrap()
            .trace_code
            .unwrap()
    }

    fn sale(merchant: &str, code: &str, at: DateTime<Utc>) -> Value {
        json!({
            "entry_id": uuid::Uuid::now_v7().to_string(),
            "merchant_id": merchant,
            "trace_code": code,
            "quantity": {"value": "5", "unit": "kg"},
            "buyer": {"retail": true},
            "sold_at": at.to_rfc3339(),
        })
    }

    fn change(seq: i64, kind: &str, c: &HoldChange) -> Change {
        Change {
            seq,
            kind: kind.into(),
            payload: serde_json::to_value(c).unwrap(),
        }
    }

    fn hold_on(merchant: &str, code: &str, placed_at: DateTime<Utc>) -> HoldChange {
        HoldChange {
            id: uuid::Uuid::now_v7().to_string(),
            market_id: "mk-1".into(),
            merchant_id: merchant.into(),
            trace_code: code.into(),
            reason: HoldReason::UnknownOrigin,
            note: Some("无检疫证明".into()),
            placed_at: placed_at.to_rfc3339(),
            placed_by: "u-op".into(),
            status: HoldStatus::Active,
            ended_note: None,
            ended_at: None,
            dispose_entry_id: None,
        }
    }

    /// A pulled hold stops the sale offline with a reason naming it, keeps
    /// an older sale (recorded with `held_batch_sold`), and a pulled release
    /// lets the batch be sold again.
    #[test]
    fn a_pulled_hold_refuses_the_sale_offline_until_released() {
        let mut store = LocalStore::open_in_memory().unwrap();
        let code = purchase(&mut store, "m-1");
        let other = purchase(&mut store, "m-1");
        let placed = Utc::now() - Duration::hours(1);
        let h = hold_on("m-1", &code, placed);
        store
            .apply_page(&[change(10, PLACED_CHANGE, &h)], "s10.0")
            .unwrap();
        assert_eq!(store.holds().unwrap()[0].status, HoldStatus::Active);

        let refused = store
            .record("ledger.sale", &sale("m-1", &code, Utc::now()))
            .unwrap_err();
        let LedgerError::Rule(r) = refused else {
            panic!("a rule refusal: {refused:?}")
        };
        assert_eq!(r.code, "batch_held");
        assert_eq!(r.field.as_deref(), Some("trace_code"));
        assert!(
            r.message.contains("来源不明") && r.message.contains(&h.id),
            "{}",
            r.message
        );
        assert!(r.message.contains("无检疫证明"), "{}", r.message);
        // Nothing of it stored, not even in the outbox.
        assert_eq!(store.counts().unwrap().movements, 0);
        assert_eq!(store.counts().unwrap().outbox_pending, 2);

        // Another batch sells.
        store
            .record("ledger.sale", &sale("m-1", &other, Utc::now()))
            .unwrap();

        // A sale made before the hold (typed in from paper) is kept, warned.
        let before = store
            .record(
                "ledger.sale",
                &sale("m-1", &code, placed - Duration::minutes(5)),
            )
            .unwrap();
        let w: Vec<_> = before.warnings.iter().map(|w| w.code.as_str()).collect();
        assert_eq!(w, ["held_batch_sold"]);
        assert!(store
            .warnings("m-1", 10)
            .unwrap()
            .iter()
            .any(|(_, w)| w.code == "held_batch_sold" && w.evidence["hold_id"] == h.id.as_str()));

        let mut ended = h.clone();
        ended.status = HoldStatus::Released;
        store
            .apply_page(&[change(11, RELEASED_CHANGE, &ended)], "s11.0")
            .unwrap();
        assert_eq!(store.holds().unwrap()[0].status, HoldStatus::Released);
        store
            .record("ledger.sale", &sale("m-1", &code, Utc::now()))
            .expect("released: the batch sells");
    }

    /// A pulled sale of a held batch (the server accepted it: made on
    /// another phone before that phone had the hold) applies here too.
    #[test]
    fn a_pulled_sale_of_a_held_batch_is_not_judged_again() {
        let mut store = LocalStore::open_in_memory().unwrap();
        let code = purchase(&mut store, "m-1");
        let h = hold_on("m-1", &code, Utc::now() - Duration::hours(1));
        let s = sale("m-1", &code, Utc::now());
        store
            .apply_page(
                &[
                    change(10, PLACED_CHANGE, &h),
                    Change {
                        seq: 3,
                        kind: "ledger.sale".into(),
                        payload: s,
                    },
                ],
                "s10.3",
            )
            .unwrap();
        assert_eq!(store.counts().unwrap().movements, 1);
        assert!(store.unapplied().unwrap().is_empty());
    }

    #[test]
    fn the_tablet_queues_holds_and_releases_checked() {
        let mut store = LocalStore::open_in_memory().unwrap();
        let code = crate::codes::new_code(&mut rand::rng());
        let id = uuid::Uuid::now_v7().to_string();
        let p = json!({"hold_id": id, "market_id": "mk-1", "merchant_id": "m-1",
            "trace_code": code, "reason": "rapid_test_failed"});
        let h = store
            .place_hold(&p, "u-op", Utc::now().fixed_offset())
            .unwrap();
        assert_eq!(h.hold_id, id);
        let bad = json!({"hold_id": id, "market_id": "mk-1", "merchant_id": "m-1",
            "trace_code": code, "reason": "smelly"});
        assert!(matches!(
            store.place_hold(&bad, "u-op", Utc::now().fixed_offset()),
            Err(LocalHoldError::Invalid(_))
        ));
        store
            .release_hold(
                &json!({"hold_id": id, "note": "复检合格"}),
                Utc::now().fixed_offset(),
            )
            .unwrap();
        let ops = store.outbox("pending", 10).unwrap();
        let kinds: Vec<_> = ops.iter().map(|o| o.kind.as_str()).collect();
        assert_eq!(kinds, [PLACE_KIND, RELEASE_KIND]);
        assert_eq!(ops[0].op_id, id);
    }
}
