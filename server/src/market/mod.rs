//! The market operator's records (issue 14), one module per kind of record.

pub mod entry;
