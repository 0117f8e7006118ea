//! The market operator's side (issue 14): what a market's operator and
//! food-safety officers record on their tablets and read on the market
//! pages, one module per kind of record.

pub mod entry;
pub mod holds;
