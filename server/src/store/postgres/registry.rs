//! (To be ported from `sqlite/registry.rs`.)
