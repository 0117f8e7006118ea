//! Holds and destruction (暂扣、销毁; issue 14, item 4). The rules are
//! core's (`shian_core::hold`, `shian_core::rules::check_hold`); here: the
//! operator's ops ([`ops`]), what a held batch does to a merchant's ledger
//! ops in the push ([`ops::hold_on`], [`ops::after_admit`]), the routes
//! ([`api`]) and the demo's hold ([`demo`]).
//!
//! **Ops** (pushed from an operator's tablet, or made by the console's
//! form through the same push service):
//! - `market.hold {hold_id (UUID), market_id, merchant_id, trace_code,
//!   reason: unknown_origin|rapid_test_failed|recall|other, note?}` — the
//!   op's `at` is when the goods were held (≤ 5 min ahead, ≤ 7 days old).
//!   Refusals: `forbidden_kind` (not a market operator), field errors at
//!   `payload.*`, `out_of_scope` (another market, or a merchant not of this
//!   market), `unknown_merchant`, `not_merchants_batch` (the trace code is
//!   not a live batch of that merchant), `hold_exists`, `already_held`.
//!   Accepted: `batch_held` is raised at once in the same transaction.
//! - `market.hold_release {hold_id, note}` — `unknown_hold` (also for
//!   another market's hold), `hold_not_active`.
//!
//! **Destruction** is the merchant's own `ledger.dispose` with method
//! `destroyed`, `witness` (the operator's officer who watched) and `photos`
//! (attachment ids, `PUT /v1/attachments/{sha256}`): the ledger is the
//! merchant's and only a merchant account records it (the operator
//! witnesses, so the record that the goods left the stock is the holder's
//! own, as every other movement is). A held batch's destruction without a
//! witness or photo is refused (`destruction_needs_witness`,
//! `destruction_needs_photos`), its return to the supplier and its sale
//! `batch_held` (or kept with `held_batch_sold`, see `shian_core::hold` for
//! how the push's `pulled_cursor` decides). A destruction that leaves none
//! on hand ends the hold as `destroyed`.
//!
//! **Changes** sent by sync (payload core's `hold::HoldChange`: `{id,
//! market_id, merchant_id, trace_code, reason, note?, placed_at,
//! placed_by, status, ended_note?, ended_at?, dispose_entry_id?}`):
//! `hold.placed` when placed, `hold.released` when released (`status`
//! `released`) or destroyed (`destroyed`); each to the merchant's devices
//! and to the market's tablets.

pub mod api;
pub mod demo;
pub mod ops;
pub mod service;

pub use ops::{apply_op, handles};
