//! The periodic jobs' one loop: `serve` starts each background check (recall
//! reminders, staff certificates, market checks, the ledger follower) with
//! [`every`], so they all pace themselves the same way.

use std::future::Future;
use std::time::Duration;

/// Runs `job` every `interval` until the process ends. A tick missed while
/// a job ran late is delayed, not bunched up behind it.
pub fn every<F, Fut>(interval: Duration, mut job: F)
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            job().await;
        }
    });
}
