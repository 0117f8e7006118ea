//! An evidence bundle: one JSON file with facts, the audit path of each in
//! its log, the signed checkpoints of those logs and the public keys that
//! signed them — what an analyst downloads and hands to a court, and what
//! `shian-server verify-evidence` checks with nothing but this file (and,
//! best, the trust list the authority publishes).
//!
//! ```json
//! {"format": "shian-evidence/1", "subject": "trace 7XK3…", "generated_at": "…",
//!  "keys": [{"kid": "ed25519-…", "public_key": "…", …}],
//!  "checkpoints": ["shian.example/log/350203\n1204\n…\n\n— …\n"],
//!  "facts": [{"log": "shian.example/log/350203", "index": 17, "kind": "ledger.sale",
//!             "id": "…", "body": {…}, "proof": ["64 hex digits", …]}]}
//! ```

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::checkpoint::Checkpoint;
use super::fact::fact_leaf;
use super::tree::{verify_inclusion, LogHash};
use crate::signed::{TrustList, TrustedKey};

/// The `format` of a bundle this code reads and writes.
pub const BUNDLE_FORMAT: &str = "shian-evidence/1";

/// A bundle as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bundle {
    pub format: String,
    /// What the bundle is about, for people (`trace …`, `merchant …`).
    pub subject: String,
    pub generated_at: String,
    /// The server keys, as the trust list writes them.
    pub keys: Vec<TrustedKey>,
    /// Signed checkpoints, one per log the facts are in.
    pub checkpoints: Vec<String>,
    pub facts: Vec<BundledFact>,
}

/// One fact with its audit path in the checkpointed tree of its log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BundledFact {
    /// The log's origin, as its checkpoint names it.
    pub log: String,
    pub index: u64,
    pub kind: String,
    pub id: String,
    pub body: Value,
    pub proof: Vec<LogHash>,
}

/// Why a bundle could not be checked at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BundleError {
    #[error("证据包不是有效的 JSON (the bundle is not valid JSON): {0}")]
    Json(String),
    #[error("证据包格式为 {0:?}，本程序只认 {BUNDLE_FORMAT} (unknown bundle format)")]
    Format(String),
    #[error("证据包或信任列表中的密钥无效 (a key is not usable): {0}")]
    Keys(String),
}

/// Whose keys the checkpoints were checked with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySource {
    /// The bundle's own: anyone can make a bundle with keys of their own,
    /// so the key ids must still be compared with the published list.
    Bundle,
    /// The trust list given beside the bundle.
    TrustList,
}

/// A log whose checkpoint verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSeen {
    pub origin: String,
    pub size: u64,
    pub root: LogHash,
    pub kid: String,
}

/// What checking a bundle found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub subject: String,
    pub key_source: KeySource,
    pub logs: Vec<LogSeen>,
    /// Checkpoints refused, with why.
    pub bad_checkpoints: Vec<String>,
    /// Facts proven to be in their log: "kind id".
    pub proven: Vec<String>,
    /// Facts not proven, with why.
    pub failed: Vec<(String, String)>,
}

impl Report {
    /// Whether every checkpoint verified and every fact is proven.
    pub fn holds(&self) -> bool {
        self.bad_checkpoints.is_empty() && self.failed.is_empty() && !self.proven.is_empty()
    }

    /// What the check proves and what it does not, in zh-CN and English.
    pub fn explain(&self) -> String {
        let mut out = format!("证据包 (bundle): {}\n", self.subject);
        for l in &self.logs {
            out += &format!(
                "  日志 (log) {}: {} 条 (leaves), 树根 (root) {}, 签名密钥 (signed by) {}\n",
                l.origin, l.size, l.root, l.kid
            );
        }
        for b in &self.bad_checkpoints {
            out += &format!("  ✗ 检查点被拒绝 (checkpoint refused): {b}\n");
        }
        for (fact, why) in &self.failed {
            out += &format!("  ✗ {fact}: {why}\n");
        }
        out += &format!(
            "  ✓ 已证明 {} 条事实在日志中 ({} facts proven in their logs)\n",
            self.proven.len(),
            self.proven.len()
        );
        out += if self.holds() {
            "结论 (verdict): 成立。上述每条事实都在签名检查点所覆盖的日志中，自那以后未被改动。\n\
             Holds: each fact above is in the log its signed checkpoint covers, unchanged since.\n"
        } else {
            "结论 (verdict): 不成立。证据包与其声称的内容不符，标 ✗ 者未被证明。\n\
             Does not hold: the bundle does not show what it claims; the facts marked ✗ are not proven.\n"
        };
        out += "不能证明 (what it does not prove): 事实本身属实；追溯或台账没有遗漏其他事实；\
                检查点之后日志未分叉（请与见证方或其他设备持有的检查点比对）。\n\
                It does not prove the facts are true, that no other fact was left out of the \
                trace or ledger, nor that the log did not fork after the checkpoint (compare it \
                with checkpoints witnesses and other devices hold).\n";
        out += match self.key_source {
            KeySource::TrustList => "密钥取自所给信任列表 (keys from the given trust list).\n",
            KeySource::Bundle => {
                "注意：密钥取自证据包本身，请将上面的密钥编号与监管部门公布的信任列表 \
                 (/.well-known/shian-keys.json) 比对，或用 --trust-list 重新检查。\n\
                 Note: the keys came with the bundle; compare the key ids above with the \
                 authority's published trust list, or check again with --trust-list.\n"
            }
        };
        out
    }
}

/// Checks a bundle: its checkpoints with `trust` (or, without one, the
/// bundle's own keys), then each fact's audit path against its log's
/// checkpoint. Two checkpoints of one log and size with different roots are
/// a fork, and refuse both.
pub fn verify_bundle(json: &str, trust: Option<&TrustList>) -> Result<Report, BundleError> {
    let bundle: Bundle =
        serde_json::from_str(json).map_err(|e| BundleError::Json(e.to_string()))?;
    if bundle.format != BUNDLE_FORMAT {
        return Err(BundleError::Format(bundle.format));
    }
    let (list, key_source) = match trust {
        Some(t) => (t.clone(), KeySource::TrustList),
        None => (
            TrustList {
                keys: bundle.keys.clone(),
                revoked_devices: Vec::new(),
            },
            KeySource::Bundle,
        ),
    };
    let verifier = list
        .verifier()
        .map_err(|e| BundleError::Keys(e.to_string()))?;
    let mut logs: BTreeMap<String, LogSeen> = BTreeMap::new();
    let mut bad_checkpoints = Vec::new();
    for (i, note) in bundle.checkpoints.iter().enumerate() {
        match Checkpoint::open(note, &verifier, &[], &[]) {
            Ok(c) => {
                let seen = LogSeen {
                    origin: c.checkpoint.origin.clone(),
                    size: c.checkpoint.size,
                    root: c.checkpoint.root,
                    kid: c.kid,
                };
                match logs.get(&seen.origin) {
                    Some(other) if other.size == seen.size && other.root != seen.root => {
                        bad_checkpoints.push(format!(
                            "日志 {} 在 {} 条时有两个不同的树根：已分叉 (two roots at one size: the log forked)",
                            seen.origin, seen.size
                        ));
                    }
                    // The larger checkpoint of a log is the one facts are
                    // proven against.
                    Some(other) if other.size >= seen.size => {}
                    _ => {
                        logs.insert(seen.origin.clone(), seen);
                    }
                }
            }
            Err(e) => bad_checkpoints.push(format!("第 {} 个 (#{}): {e}", i + 1, i + 1)),
        }
    }
    let (mut proven, mut failed) = (Vec::new(), Vec::new());
    for f in &bundle.facts {
        let name = format!("{} {}", f.kind, f.id);
        let Some(log) = logs.get(&f.log) else {
            failed.push((
                name,
                format!(
                    "没有日志 {} 的有效检查点 (no valid checkpoint of its log)",
                    f.log
                ),
            ));
            continue;
        };
        let leaf = match fact_leaf(&f.kind, &f.id, &f.body) {
            Ok(l) => l,
            Err(e) => {
                failed.push((name, e.to_string()));
                continue;
            }
        };
        match verify_inclusion(
            &LogHash::of_leaf(&leaf),
            f.index,
            log.size,
            &f.proof,
            &log.root,
        ) {
            Ok(()) => proven.push(name),
            Err(e) => failed.push((name, e.to_string())),
        }
    }
    Ok(Report {
        subject: bundle.subject,
        key_source,
        logs: logs.into_values().collect(),
        bad_checkpoints,
        proven,
        failed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::checkpoint::{trusted_key, CheckpointSigner};
    use crate::evidence::MemoryLog;
    use crate::signed::KeyStatus;
    use ed25519_dalek::SigningKey;
    use serde_json::json;

    const LOG: &str = "shian.test/log/350203";

    fn body(i: u64) -> Value {
        json!({"merchant_id": "m1", "quantity": {"value": (i + 1).to_string(), "unit": "kg"}})
    }

    /// A bundle of facts 3, 8 and 11 of a 12-leaf log signed by `key`.
    fn bundle(key: &SigningKey) -> Bundle {
        let mut log = MemoryLog::new();
        for i in 0..12 {
            log.append(&fact_leaf("ledger.purchase", &format!("e{i}"), &body(i)).unwrap())
                .unwrap();
        }
        let head = Checkpoint {
            origin: LOG.into(),
            size: 12,
            root: log.root(12).unwrap(),
        };
        Bundle {
            format: BUNDLE_FORMAT.into(),
            subject: "trace T1".into(),
            generated_at: "2026-12-03T17:00:00+08:00".into(),
            keys: vec![trusted_key(key, KeyStatus::Active)],
            checkpoints: vec![head.sign(&CheckpointSigner::new(LOG, key)).unwrap()],
            facts: [3u64, 8, 11]
                .iter()
                .map(|&i| BundledFact {
                    log: LOG.into(),
                    index: i,
                    kind: "ledger.purchase".into(),
                    id: format!("e{i}"),
                    body: body(i),
                    proof: log.inclusion(i, 12).unwrap(),
                })
                .collect(),
        }
    }

    fn check(b: &Bundle, trust: Option<&TrustList>) -> Report {
        verify_bundle(&serde_json::to_string(b).unwrap(), trust).unwrap()
    }

    #[test]
    fn an_honest_bundle_holds_and_says_what_it_does_not_prove() {
        let key = SigningKey::from_bytes(&[3; 32]);
        let r = check(&bundle(&key), None);
        assert!(r.holds(), "{r:?}");
        assert_eq!(r.proven.len(), 3);
        assert_eq!(r.key_source, KeySource::Bundle);
        let text = r.explain();
        assert!(text.contains("成立") && text.contains("Holds"), "{text}");
        assert!(
            text.contains("不能证明") && text.contains("--trust-list"),
            "{text}"
        );
    }

    #[test]
    fn every_lie_in_a_bundle_is_caught() {
        let key = SigningKey::from_bytes(&[3; 32]);
        let honest = bundle(&key);
        let mut lies: Vec<(&str, Bundle)> = Vec::new();
        let mut b = honest.clone();
        b.facts[1].body = body(99);
        lies.push(("an altered fact", b));
        let mut b = honest.clone();
        b.facts[0].proof.pop();
        lies.push(("a truncated proof", b));
        let mut b = honest.clone();
        b.facts[2].index = 10;
        lies.push(("another index", b));
        let mut b = honest.clone();
        b.checkpoints[0] = b.checkpoints[0].replacen("\n12\n", "\n13\n", 1);
        lies.push(("a changed checkpoint", b));
        let mut b = honest.clone();
        let stranger = SigningKey::from_bytes(&[4; 32]);
        b.checkpoints = bundle(&stranger).checkpoints;
        lies.push(("a checkpoint signed by a key not in the bundle", b));
        let mut b = honest.clone();
        // A second checkpoint of the same log and size over other leaves.
        let mut other = MemoryLog::new();
        for i in 0..12u32 {
            other.append(&i.to_be_bytes()).unwrap();
        }
        let fork = Checkpoint {
            origin: LOG.into(),
            size: 12,
            root: other.root(12).unwrap(),
        };
        b.checkpoints
            .push(fork.sign(&CheckpointSigner::new(LOG, &key)).unwrap());
        lies.push(("a forked log", b));
        let mut b = honest.clone();
        b.facts[0].log = "shian.test/log/350206".into();
        lies.push(("a fact of a log with no checkpoint", b));
        for (what, b) in &lies {
            let r = check(b, None);
            assert!(!r.holds(), "{what} was not caught: {r:?}");
            assert!(r.explain().contains("不成立"), "{what}");
        }
        // A bundle made whole with a key of its own is caught only by the
        // published trust list: hence --trust-list.
        let forged = bundle(&stranger);
        assert!(check(&forged, None).holds());
        let published = TrustList {
            keys: vec![trusted_key(&key, KeyStatus::Active)],
            revoked_devices: Vec::new(),
        };
        let r = check(&forged, Some(&published));
        assert!(!r.holds());
        assert_eq!(r.key_source, KeySource::TrustList);
        assert!(check(&honest, Some(&published)).holds());
        // An empty bundle proves nothing.
        let mut b = honest.clone();
        b.facts.clear();
        assert!(!check(&b, None).holds());
    }

    #[test]
    fn a_bundle_that_does_not_read_is_an_error() {
        assert!(matches!(
            verify_bundle("{", None),
            Err(BundleError::Json(_))
        ));
        let key = SigningKey::from_bytes(&[3; 32]);
        let mut b = bundle(&key);
        b.format = "shian-evidence/9".into();
        assert!(matches!(
            verify_bundle(&serde_json::to_string(&b).unwrap(), None),
            Err(BundleError::Format(_))
        ));
    }
}
