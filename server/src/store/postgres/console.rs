//! (To be ported from `sqlite/console.rs`.)
