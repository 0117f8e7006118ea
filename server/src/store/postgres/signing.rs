//! (To be ported from `sqlite/signing.rs`.)
