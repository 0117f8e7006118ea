//! (To be ported from `sqlite/recalls.rs`.)
