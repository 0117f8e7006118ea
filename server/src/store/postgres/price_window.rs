//! (To be ported from `sqlite/price_window.rs`.)
