//! Limits per client address for the endpoints anyone may call without a
//! token: login now, the public report and complaint routes when they come.
//!
//! Kept in memory per server instance by `tower_governor` (a token bucket
//! per peer IP): a burst, then one request back every period. Past it the
//! answer is 429 `rate_limited` in the error shape with `Retry-After`. The
//! address is the TCP peer, so [`crate::serve`] serves with connect info;
//! behind a reverse proxy every client shares the proxy's address, and the
//! burst must be set for that.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::response::IntoResponse;
use governor::middleware::NoOpMiddleware;
use tower_governor::governor::{GovernorConfigBuilder, SharedRateLimiter};
use tower_governor::key_extractor::PeerIpKeyExtractor;
use tower_governor::{GovernorError, GovernorLayer};

use crate::errors::ApiError;

/// The layer: put it on a router of the limited routes with `route_layer`.
pub type PerClientLimit = GovernorLayer<PeerIpKeyExtractor, NoOpMiddleware, Body>;

/// How often addresses whose bucket is full again are forgotten, so that
/// the map does not grow with every address ever seen.
const FORGET_EVERY: Duration = Duration::from_secs(60);

/// `burst` requests at once per client address, then one more each
/// `period`. Zero values are raised to the least that means something (one
/// request, one millisecond).
pub fn per_client_address(burst: u32, period: Duration) -> PerClientLimit {
    let config = GovernorConfigBuilder::default()
        .period(period.max(Duration::from_millis(1)))
        .burst_size(burst.max(1))
        .finish()
        // `finish` refuses only a zero burst or period, excluded above.
        .unwrap_or_default();
    forget_idle_addresses(config.limiter());
    GovernorLayer::new(config).error_handler(|e| refusal(e).into_response())
}

fn refusal(e: GovernorError) -> ApiError {
    match e {
        GovernorError::TooManyRequests { wait_time, .. } => {
            // `wait_time` is rounded down to whole seconds; one more is
            // never too early.
            let secs = wait_time + 1;
            ApiError::too_many_requests(
                "rate_limited",
                format!("请求过于频繁，请 {secs} 秒后重试 (too many requests from this address; retry in {secs} s)"),
                secs,
            )
        }
        other => ApiError::internal(format!("rate limit: {other}")),
    }
}

/// Sweeps the limiter now and then while it lives (outside a runtime, as
/// in `openapi_doc`, there is nothing to serve and nothing to sweep).
fn forget_idle_addresses(limiter: &SharedRateLimiter<IpAddr, NoOpMiddleware>) {
    let limiter = Arc::downgrade(limiter);
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    runtime.spawn(async move {
        let mut tick = tokio::time::interval(FORGET_EVERY);
        tick.tick().await;
        loop {
            tick.tick().await;
            let Some(limiter) = limiter.upgrade() else {
                break;
            };
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    });
}
