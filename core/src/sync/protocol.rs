//! The wire types of `POST /v1/sync/push` and `GET /v1/sync/pull`, shared by
//! the server and the sync client so the two cannot drift apart.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Most ops one push may carry; more is answered 413 by the server.
pub const MAX_OPS_PER_PUSH: usize = 1000;
/// Most changes one pull page may carry.
pub const MAX_PULL_LIMIT: u32 = 5000;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PushRequest {
    pub device_id: String,
    pub ops: Vec<Op>,
}

/// One event on its way to the server. `op_id` is the idempotency key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Op {
    pub op_id: String,
    pub kind: String,
    pub at: String,
    pub payload: Value,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OpStatus {
    Accepted,
    Duplicate,
    Rejected,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpError {
    pub code: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// True when the same op may succeed later unchanged (it refers to a
    /// batch or entry another device has not pushed yet); the server keeps
    /// no record of it, so a later push is judged afresh.
    #[serde(default)]
    pub retryable: bool,
}

/// The outcome of one op. A duplicate repeats the original outcome's
/// `result` (and `error`), so a client whose first answer was lost learns
/// what happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpResult {
    pub op_id: String,
    pub status: OpStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<OpError>,
    /// For accepted ledger ops: `{trace_code?, voucher_code?, warnings}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PushResponse {
    pub results: Vec<OpResult>,
    pub cursor: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    pub seq: i64,
    pub kind: String,
    pub payload: Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PullResponse {
    pub changes: Vec<Change>,
    pub cursor: String,
    pub has_more: bool,
}

/// Cursors are opaque to apps: `s` and the server sequence in base 36.
/// Opaque so the server may change what it encodes; monotonic because it
/// only ever grows.
pub fn encode_cursor(seq: i64) -> String {
    let mut n = seq.max(0) as u64;
    let digits = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    loop {
        out.push(digits[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    out.push(b's');
    out.reverse();
    String::from_utf8_lossy(&out).into_owned()
}

/// The sequence in a cursor; `None` for a malformed one. An empty cursor is 0.
pub fn decode_cursor(cursor: &str) -> Option<i64> {
    if cursor.is_empty() {
        return Some(0);
    }
    let body = cursor.strip_prefix('s')?;
    if body.is_empty() || body.len() > 12 {
        return None;
    }
    i64::from_str_radix(body, 36).ok().filter(|n| *n >= 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_garbage() {
        for n in [0, 1, 35, 36, 1_000_000_007, i64::from(u32::MAX)] {
            assert_eq!(decode_cursor(&encode_cursor(n)), Some(n));
        }
        assert_eq!(decode_cursor(""), Some(0));
        for bad in ["x1", "s", "s-1", "s!!", "1234", "szzzzzzzzzzzzz"] {
            assert_eq!(decode_cursor(bad), None, "{bad}");
        }
    }
}
