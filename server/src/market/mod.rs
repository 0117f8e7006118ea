//! The market operator's side (issue 14): what a market's operator and
//! food-safety officers (市场开办者、食品安全员) record from their tablets
//! and read back, each feature in its own modules.

pub mod self_check_demo;
pub mod self_check_ops;
pub mod self_check_tick;
pub mod self_checks;
