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
    /// The cursor of the device's last pull, i.e. what it had received when
    /// it recorded these ops (the client pushes before it pulls). The
    /// server judges a sale of a held batch by it (`crate::hold`); absent
    /// from older clients.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pulled_cursor: Option<String>,
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

/// Where a pull stands in the server's two feeds: the change feed
/// (registry cards, tasks, checklists, notices) and the ledger itself
/// (entries in the order the server accepted them). The ledger is its own
/// feed so that ingest writes each event once, not once more as a change.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cursor {
    pub changes: i64,
    pub entries: i64,
}

const BASE36: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";

fn base36(n: i64, out: &mut Vec<u8>) {
    let mut n = n.max(0) as u64;
    let start = out.len();
    loop {
        out.push(BASE36[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    out[start..].reverse();
}

fn parse36(s: &str) -> Option<i64> {
    if s.is_empty() || s.len() > 12 || !s.bytes().all(|b| BASE36.contains(&b)) {
        return None;
    }
    i64::from_str_radix(s, 36).ok()
}

/// Cursors are opaque to apps: `s`, the change-feed sequence in base 36,
/// `.` and the ledger sequence. Opaque so the server may change what it
/// encodes; monotonic because both parts only grow.
pub fn encode_cursor(c: Cursor) -> String {
    let mut out = vec![b's'];
    base36(c.changes, &mut out);
    out.push(b'.');
    base36(c.entries, &mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// The position in a cursor; `None` for a malformed one. An empty cursor is
/// the start. A cursor of one part (`s` and the change sequence, as servers
/// before the ledger feed wrote) starts the ledger from the beginning: the
/// device skips the entries it already holds.
pub fn decode_cursor(cursor: &str) -> Option<Cursor> {
    if cursor.is_empty() {
        return Some(Cursor::default());
    }
    let body = cursor.strip_prefix('s')?;
    match body.split_once('.') {
        Some((c, e)) => Some(Cursor {
            changes: parse36(c)?,
            entries: parse36(e)?,
        }),
        None => Some(Cursor {
            changes: parse36(body)?,
            entries: 0,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_garbage() {
        for n in [0, 1, 35, 36, 1_000_000_007, i64::from(u32::MAX)] {
            for e in [0, 7, 36 * 36, 4_000_000_000] {
                let c = Cursor {
                    changes: n,
                    entries: e,
                };
                assert_eq!(decode_cursor(&encode_cursor(c)), Some(c));
            }
        }
        assert_eq!(decode_cursor(""), Some(Cursor::default()));
        // A one-part cursor from an older server restarts the ledger feed.
        assert_eq!(
            decode_cursor("s1z"),
            Some(Cursor {
                changes: 71,
                entries: 0
            })
        );
        for bad in [
            "x1",
            "s",
            "s-1",
            "s!!",
            "1234",
            "szzzzzzzzzzzzz",
            "s1.",
            "s.1",
            "s1.2.3",
            "s1.-2",
            "sA.1",
        ] {
            assert_eq!(decode_cursor(bad), None, "{bad}");
        }
    }
}
