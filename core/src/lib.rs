//! shian-core: the shared brain of Shian (食安), used on devices and by the server.
//!
//! One implementation of every rule lives here, so a phone offline and the
//! server re-checking the same event reach the same verdict.

pub mod calendar;
pub mod category;
pub mod codes;
pub mod complaints;
pub mod entry_check;
pub mod error;
pub mod event;
pub mod evidence;
pub mod fields;
pub mod generator;
pub mod hold;
pub mod inspection;
pub mod json;
pub mod ledger;
pub mod quantity;
pub mod recall;
pub mod reports;
pub mod rules;
pub mod self_check;
pub mod signed;
pub mod staff;
pub mod store;
pub mod sync;
pub mod trace;
pub mod warnings;
