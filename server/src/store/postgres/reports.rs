//! (To be ported from `sqlite/reports.rs`.)
