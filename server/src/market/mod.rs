//! The market operator's side (issue 14): what a market's operator and
//! food-safety officers (市场开办者、食品安全员) record on their tablets and
//! read on the market pages, one module per kind of record.

pub mod entry;
pub mod holds;
pub mod self_check_demo;
pub mod self_check_ops;
pub mod self_check_tick;
pub mod self_checks;
