//! (To be ported from `sqlite/field_ops.rs`.)
