//! The demo's hold (filled in below).
