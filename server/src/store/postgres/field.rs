//! (To be ported from `sqlite/field.rs`.)
