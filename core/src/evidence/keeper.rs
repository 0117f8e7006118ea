//! What a device (or a witness) does with a checkpoint it is shown, given
//! the one it holds: a log only grows, so a newer checkpoint must extend the
//! held one, proven by a consistency proof. Anything else is evidence that
//! the log was rewritten or forked — two checkpoints of one size with
//! different roots, both signed, are proof a court can read — and the held
//! checkpoint stays.

use super::checkpoint::Checkpoint;
use super::tree::{verify_consistency, LogHash};

/// The new checkpoint is good; hold it from now on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Accepted {
    /// Nothing was held: trusted on first use (its signature was checked).
    First,
    /// The one already held.
    Same,
    /// A larger tree proven to extend the held one of `from` leaves.
    Extended { from: u64 },
}

/// Why the new checkpoint was refused; keep holding the old one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("检查点属于另一个日志 {got}，本机跟随的是 {held} (another log's checkpoint)")]
    OtherLog { held: String, got: String },
    #[error("检查点 ({got} 条) 比本机持有的 ({held} 条) 更旧 (older than the one held: a rolled-back log)")]
    Older { held: u64, got: u64 },
    #[error("同为 {size} 条却有不同的树根：日志已分叉 (the log forked: same size, another root)")]
    Forked {
        size: u64,
        held: LogHash,
        got: LogHash,
    },
    #[error("新检查点与本机持有的不一致：日志被改写 (the new checkpoint does not extend the held one: the log was rewritten)")]
    Inconsistent { from: u64, to: u64 },
}

/// Judges `new` against `held`, with `proof` the consistency proof from the
/// held size to the new one (empty when nothing is held or the sizes match).
/// Signatures are checked before, by [`Checkpoint::open`].
pub fn accept_checkpoint(
    held: Option<&Checkpoint>,
    new: &Checkpoint,
    proof: &[LogHash],
) -> Result<Accepted, Refused> {
    let Some(held) = held else {
        return Ok(Accepted::First);
    };
    if held.origin != new.origin {
        return Err(Refused::OtherLog {
            held: held.origin.clone(),
            got: new.origin.clone(),
        });
    }
    if new.size < held.size {
        return Err(Refused::Older {
            held: held.size,
            got: new.size,
        });
    }
    if new.size == held.size {
        return if new.root == held.root {
            Ok(Accepted::Same)
        } else {
            Err(Refused::Forked {
                size: new.size,
                held: held.root,
                got: new.root,
            })
        };
    }
    verify_consistency(held.size, &held.root, new.size, &new.root, proof)
        .map(|()| Accepted::Extended { from: held.size })
        .map_err(|_| Refused::Inconsistent {
            from: held.size,
            to: new.size,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::testing::log;
    use crate::evidence::MemoryLog;

    fn head(log: &MemoryLog, size: u64) -> Checkpoint {
        Checkpoint {
            origin: "shian.test/log".into(),
            size,
            root: log.root(size).unwrap(),
        }
    }

    #[test]
    fn a_growing_log_is_followed_and_a_rewritten_or_forked_one_is_refused() {
        let honest = log(30, None);
        let held = head(&honest, 10);
        assert_eq!(accept_checkpoint(None, &held, &[]), Ok(Accepted::First));
        assert_eq!(
            accept_checkpoint(Some(&held), &held, &[]),
            Ok(Accepted::Same)
        );
        let proof = honest.consistency(10, 30).unwrap();
        assert_eq!(
            accept_checkpoint(Some(&held), &head(&honest, 30), &proof),
            Ok(Accepted::Extended { from: 10 })
        );
        // Entry 4 rewritten, the tree rebuilt and re-signed: the proof the
        // lying server can make does not join it to what the device holds.
        let rewritten = log(30, Some(4));
        let proof = rewritten.consistency(10, 30).unwrap();
        assert_eq!(
            accept_checkpoint(Some(&held), &head(&rewritten, 30), &proof),
            Err(Refused::Inconsistent { from: 10, to: 30 })
        );
        // The honest proof does not help the rewritten root either.
        let proof = honest.consistency(10, 30).unwrap();
        assert!(accept_checkpoint(Some(&held), &head(&rewritten, 30), &proof).is_err());
        // Two checkpoints of one size, two roots: a fork.
        let fork = head(&log(10, Some(9)), 10);
        assert!(matches!(
            accept_checkpoint(Some(&held), &fork, &[]),
            Err(Refused::Forked { size: 10, .. })
        ));
        assert_eq!(
            accept_checkpoint(Some(&head(&honest, 30)), &held, &[]),
            Err(Refused::Older { held: 30, got: 10 })
        );
        let mut elsewhere = head(&honest, 30);
        elsewhere.origin = "shian.test/other".into();
        assert!(matches!(
            accept_checkpoint(Some(&held), &elsewhere, &[]),
            Err(Refused::OtherLog { .. })
        ));
    }
}
