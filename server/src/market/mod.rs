//! The market operator's side (issue 14): what a market's operator and
//! food-safety officers record on their tablets and read on the console.
//! One module per feature.

pub mod holds;
