//! Entry checks (入场查验, issue 14 item 2): the operator's tablet pushes a
//! `market.entry_check` op ([`ops`]), made offline if need be; the check
//! links to the seller's purchase entry in either order of arrival
//! ([`ops::on_entry`], one line in the push); `GET
//! /v1/markets/{id}/entry-checks` and `GET /v1/entry-checks/{id}`
//! ([`routes`]); the periodic check for purchases that entered unchecked
//! ([`tick`]); the demo market's month of checks ([`demo`]).
//!
//! Op kind (device → server): `market.entry_check`, payload core's
//! `shian_core::entry_check::EntryCheck` wire form `{check_id, market_id,
//! merchant_id, product:{name, category}, quantity:{value, unit},
//! certificates_seen:[{kind, number}], rapid_test?:{item, result:
//! pass|fail, value?}, decision: accepted|refused, reason?, at}`, from a
//! market operator of `market_id` only. Refusals (op errors, nothing
//! stored): `forbidden_kind` (not a market operator), core's field errors
//! (`quantity.value`, `reason` …), `out_of_scope` (another market),
//! `unknown_merchant`, `merchant_not_in_market`, `check_id_taken` (the id
//! is another market's check), `missing_certificate` /
//! `rapid_test_failed` (goods accepted against the ledger's certificate
//! rule or after a failed rapid test). A retry with the same `check_id`
//! answers the first result: `{check_id, decision, purchase_entry_id}`.
//!
//! Change kind (server → the market's tablets, `publish_to_market`):
//! `market.entry_check`, the stored check as `GET /v1/entry-checks/{id}`
//! answers it; sent when stored and again when a purchase links to it.
//!
//! Warnings: `entry_refused` at once on a refusal, `entry_check_missing`
//! in the periodic check and the full pass (core's `warnings::entry`,
//! `core/data/warnings/entry-v1.json`).

pub mod demo;
pub mod ops;
pub mod routes;
pub mod tick;

pub use ops::{apply_op, handles, on_entry};
