//! Offline queue and sync: the wire protocol shared with the server, the
//! bookkeeping in the local store, and the HTTP client with its own timer.

pub mod client;
pub mod protocol;
pub mod pulled;
pub mod state;

pub use client::{SyncClient, SyncConfig, SyncError, SyncReport, SyncWorker};
pub use pulled::UnappliedChange;
pub use state::{ParkedOp, SyncStatus};
