//! (To be ported from `sqlite/sync.rs`.)
