//! Limits per client address for the endpoints anyone may call without a
//! token: login now, the public report and complaint routes when they come.
//!
//! Kept in memory per server instance by `tower_governor` (a token bucket
//! per peer IP): a burst, then one request back every period. Past it the
//! answer is 429 `rate_limited` in the error shape with `Retry-After`. The
//! address is the TCP peer, so [`crate::serve`] serves with connect info.
//! Behind a load balancer every client would share the balancer's address:
//! a peer named with `--trusted-proxy` is believed about the client it
//! forwards for (`X-Real-IP`, else the last `X-Forwarded-For` hop, which
//! that proxy appended), any other peer is its own client — a header from
//! an untrusted peer is ignored, so a client cannot pick its own bucket.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::Request;
use axum::response::IntoResponse;
use governor::middleware::NoOpMiddleware;
use tower_governor::governor::{GovernorConfigBuilder, SharedRateLimiter};
use tower_governor::key_extractor::KeyExtractor;
use tower_governor::{GovernorError, GovernorLayer};

use crate::errors::ApiError;

/// The layer: put it on a router of the limited routes with `route_layer`.
pub type PerClientLimit = GovernorLayer<ClientAddress, NoOpMiddleware, Body>;

/// The client's address: the TCP peer's, or, when the peer is a trusted
/// proxy, the address it says it forwards for.
#[derive(Debug, Clone, Default)]
pub struct ClientAddress {
    trusted: Arc<[IpAddr]>,
}

impl ClientAddress {
    pub fn new(trusted_proxies: &[IpAddr]) -> Self {
        ClientAddress {
            trusted: trusted_proxies.into(),
        }
    }

    /// The client of a request from `peer` with these headers.
    pub fn of(&self, peer: IpAddr, headers: &axum::http::HeaderMap) -> IpAddr {
        if !self.trusted.contains(&peer) {
            return peer;
        }
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        header("x-real-ip")
            .and_then(|v| v.trim().parse().ok())
            .or_else(|| {
                header("x-forwarded-for")
                    .and_then(|v| v.rsplit(',').next())
                    .and_then(|v| v.trim().parse().ok())
            })
            .unwrap_or(peer)
    }
}

impl KeyExtractor for ClientAddress {
    type Key = IpAddr;

    fn extract<T>(&self, req: &Request<T>) -> Result<IpAddr, GovernorError> {
        let peer = req
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip())
            .ok_or(GovernorError::UnableToExtractKey)?;
        Ok(self.of(peer, req.headers()))
    }
}

/// How often addresses whose bucket is full again are forgotten, so that
/// the map does not grow with every address ever seen.
const FORGET_EVERY: Duration = Duration::from_secs(60);

/// `burst` requests at once per client address, then one more each
/// `period`. Zero values are raised to the least that means something (one
/// request, one millisecond).
pub fn per_client_address(burst: u32, period: Duration, clients: &ClientAddress) -> PerClientLimit {
    let config = GovernorConfigBuilder::default()
        .key_extractor(clients.clone())
        .period(period.max(Duration::from_millis(1)))
        .burst_size(burst.max(1))
        .finish()
        // `finish` refuses only a zero burst or period, excluded above.
        .expect("burst and period are at least one");
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A forwarded address counts only from a trusted proxy; the last
    /// `X-Forwarded-For` hop is the one that proxy added.
    #[test]
    fn only_a_trusted_proxy_names_the_client() {
        let lb: IpAddr = "10.0.0.2".parse().unwrap();
        let client: IpAddr = "203.0.113.7".parse().unwrap();
        let clients = ClientAddress::new(&[lb]);
        let mut h = axum::http::HeaderMap::new();
        h.insert(
            "x-forwarded-for",
            "198.51.100.1, 203.0.113.7".parse().unwrap(),
        );
        assert_eq!(clients.of(lb, &h), client);
        let stranger: IpAddr = "192.0.2.9".parse().unwrap();
        assert_eq!(
            clients.of(stranger, &h),
            stranger,
            "an untrusted peer's header is ignored"
        );
        h.insert("x-real-ip", "198.51.100.2".parse().unwrap());
        assert_eq!(
            clients.of(lb, &h),
            "198.51.100.2".parse::<IpAddr>().unwrap()
        );
        h.insert("x-real-ip", "not an address".parse().unwrap());
        assert_eq!(
            clients.of(lb, &h),
            client,
            "a bad X-Real-IP falls back to the forwarded hop"
        );
        assert_eq!(clients.of(lb, &axum::http::HeaderMap::new()), lb);
        assert_eq!(
            ClientAddress::default().of(lb, &h),
            lb,
            "no proxy trusted by default"
        );
    }
}
