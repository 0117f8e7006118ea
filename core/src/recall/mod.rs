//! Food recalls (食品召回): the GS1 Recall flow of notice → every recipient
//! responds → live progress → close-off, under the 2015 《食品召回管理办法》.
//! The server, the apps and the console call this one implementation.
//!
//! * [`level`]: levels 1/2/3 and their start and finish deadlines, from
//!   `core/data/recall/levels-v1.json` (the regulation is data).
//! * [`holders`]: who must answer and what each received of the code, from
//!   the forward trace (partial sales, disposals and voids already counted
//!   by the trace engine).
//! * [`confirm`]: a holder's confirmation (held, returned, destroyed) and the
//!   rule that it may not exceed what the holder received; how confirmations
//!   from several offline devices combine.
//! * [`notice`]: what the phones pull (`recall.notice`, `recall.updated`,
//!   `recall.progress`).
//! * [`local`]: the phone's side (notices from the inbox, the confirmation
//!   checked offline and queued in the outbox).
//! * [`progress`]: progress per holder and in total, overdue holders, and
//!   when a recall is closed.

pub mod confirm;
pub mod holders;
pub mod level;
pub mod local;
pub mod notice;
pub mod progress;

pub use confirm::{
    check_confirmation, latest, parse_confirmation, ConfirmError, Confirmation, ConfirmationInput,
    CONFIRM_KIND,
};
pub use holders::{holders_of, Holder};
pub use level::{Deadlines, LevelRule, RecallLevel, RecallRules};
pub use notice::{DistrictProgress, MerchantNotice, RecallHeader};
pub use progress::{is_overdue, HolderProgress, HolderState, Progress, RecallStatus, UnitProgress};

/// The change a merchant's devices pull when a recall names one of its
/// batches (and again, marked `reminder`, when it is overdue).
pub const NOTICE_KIND: &str = "recall.notice";
/// The change a merchant's devices pull after its confirmation counted.
pub const UPDATED_KIND: &str = "recall.updated";
/// The change a district's inspectors pull: the recall's holders in their
/// region and who has not confirmed.
pub const PROGRESS_KIND: &str = "recall.progress";

/// The longest reason of a recall, in characters.
pub const REASON_MAX_CHARS: usize = 256;
