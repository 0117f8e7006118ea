//! The sync client: pushes the outbox in batches and pulls pages into the
//! local store, with exponential backoff and jitter on a timer of its own.
//!
//! Lessons from peers (research/sync-and-style.md): PowerSync clients stalled
//! until the next local write after a failed upload, so here a background
//! worker retries on its own clock; ODK duplicated submissions, so every op
//! carries an idempotency key and a retry is always safe; a refused op is
//! parked with its reason rather than wedging the queue (matrix-rust-sdk).

use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use rand::Rng;
use reqwest::blocking::{Client, Response};
use reqwest::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::store::LocalStore;
use crate::sync::protocol::{OpError, OpResult, OpStatus, PullResponse, PushRequest, PushResponse};

/// What the host app passes in; the core reads no files of its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncConfig {
    /// e.g. `http://127.0.0.1:8080`
    pub server_url: String,
    pub device_id: String,
    pub username: String,
    pub password: String,
    /// Ops per push (the server takes at most 1,000).
    pub push_batch: usize,
    /// Changes per pull page.
    pub pull_limit: u32,
    /// Per-request timeout.
    pub timeout_ms: u64,
}

impl SyncConfig {
    pub fn new(server_url: &str, device_id: &str, username: &str, password: &str) -> Self {
        Self {
            server_url: server_url.trim_end_matches('/').to_owned(),
            device_id: device_id.to_owned(),
            username: username.to_owned(),
            password: password.to_owned(),
            push_batch: 500,
            pull_limit: 1000,
            timeout_ms: 15_000,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("网络错误: {0}")]
    Network(String),
    #[error("登录失败: {0}")]
    Auth(String),
    #[error("请求过于频繁，{retry_after_s} 秒后重试")]
    RateLimited { retry_after_s: u64 },
    #[error("服务器拒绝 ({status}): {code} {message}")]
    Server {
        status: u16,
        code: String,
        message: String,
    },
    #[error("服务器应答无法解析: {0}")]
    Protocol(String),
    #[error("本地存储: {0}")]
    Storage(#[from] rusqlite::Error),
    #[error("本地存储锁已损坏")]
    Poisoned,
}

impl From<reqwest::Error> for SyncError {
    fn from(e: reqwest::Error) -> Self {
        SyncError::Network(e.to_string())
    }
}

/// What one sync did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SyncReport {
    pub accepted: usize,
    pub duplicate: usize,
    pub rejected: usize,
    pub pulled: usize,
}

#[derive(Deserialize)]
struct Login {
    token: String,
}

pub struct SyncClient {
    http: Client,
    config: SyncConfig,
    token: Option<String>,
}

fn lock(store: &Mutex<LocalStore>) -> Result<std::sync::MutexGuard<'_, LocalStore>, SyncError> {
    store.lock().map_err(|_| SyncError::Poisoned)
}

impl SyncClient {
    pub fn new(config: SyncConfig) -> Result<Self, SyncError> {
        let http = Client::builder()
            .timeout(Duration::from_millis(config.timeout_ms))
            .connect_timeout(Duration::from_millis(config.timeout_ms.min(5_000)))
            .build()?;
        Ok(Self {
            http,
            config,
            token: None,
        })
    }

    pub fn config(&self) -> &SyncConfig {
        &self.config
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.config.server_url, path)
    }

    fn login(&mut self) -> Result<String, SyncError> {
        let resp = self
            .http
            .post(self.url("/v1/auth/login"))
            .json(&json!({"username": self.config.username, "password": self.config.password}))
            .send()?;
        let resp = check(resp)?;
        let login: Login = resp
            .json()
            .map_err(|e| SyncError::Protocol(e.to_string()))?;
        self.token = Some(login.token.clone());
        Ok(login.token)
    }

    fn token(&mut self) -> Result<String, SyncError> {
        match &self.token {
            Some(t) => Ok(t.clone()),
            None => self.login(),
        }
    }

    /// Sends a request with the bearer token, logging in again once if the
    /// token has expired.
    fn send(
        &mut self,
        build: impl Fn(&Client, &str) -> reqwest::blocking::RequestBuilder,
    ) -> Result<Response, SyncError> {
        let token = self.token()?;
        let resp = build(&self.http, &token).send()?;
        if resp.status() == StatusCode::UNAUTHORIZED {
            self.token = None;
            let token = self.login()?;
            return check(build(&self.http, &token).send()?);
        }
        check(resp)
    }

    /// Pushes every pending op, then pulls every page. The store lock is held
    /// only while reading or writing the store, never across the network, so
    /// the app keeps recording while a sync is under way.
    pub fn sync(&mut self, store: &Mutex<LocalStore>) -> Result<SyncReport, SyncError> {
        let result = self.push_all(store).and_then(|mut report| {
            report.pulled = self.pull_all(store)?;
            Ok(report)
        });
        let err = result.as_ref().err().map(ToString::to_string);
        lock(store)?.note_attempt(err.as_deref())?;
        result
    }

    pub fn push_all(&mut self, store: &Mutex<LocalStore>) -> Result<SyncReport, SyncError> {
        let mut report = SyncReport::default();
        lock(store)?.unpark_retryable()?;
        let mut batch = self
            .config
            .push_batch
            .clamp(1, crate::sync::protocol::MAX_OPS_PER_PUSH);
        loop {
            let (ops, pulled) = {
                let s = lock(store)?;
                (s.next_ops(batch)?, s.cursor()?)
            };
            if ops.is_empty() {
                return Ok(report);
            }
            let body = PushRequest {
                device_id: self.config.device_id.clone(),
                ops,
                pulled_cursor: (!pulled.is_empty()).then_some(pulled),
            };
            let url = self.url("/v1/sync/push");
            let resp = match self.send(|c, t| c.post(&url).bearer_auth(t).json(&body)) {
                // Too large for the server's body limit: halve and go on.
                Err(SyncError::Server { status: 413, .. }) if batch > 1 => {
                    batch /= 2;
                    continue;
                }
                // One op alone is too large: park it with the reason rather
                // than wedge every op behind it, and go on at full size.
                Err(SyncError::Server {
                    status: 413,
                    code,
                    message,
                }) => {
                    let error = OpError {
                        code,
                        message,
                        field: None,
                        retryable: false,
                    };
                    let refused = OpResult {
                        op_id: body.ops[0].op_id.clone(),
                        status: OpStatus::Rejected,
                        error: Some(error),
                        result: None,
                    };
                    report.rejected += lock(store)?.settle(&[refused])?.2;
                    batch = self
                        .config
                        .push_batch
                        .clamp(1, crate::sync::protocol::MAX_OPS_PER_PUSH);
                    continue;
                }
                other => other?,
            };
            let resp: PushResponse = resp
                .json()
                .map_err(|e| SyncError::Protocol(e.to_string()))?;
            let (a, d, r) = lock(store)?.settle(&resp.results)?;
            report.accepted += a;
            report.duplicate += d;
            report.rejected += r;
            if resp.results.is_empty() {
                return Err(SyncError::Protocol("push answered no results".into()));
            }
        }
    }

    pub fn pull_all(&mut self, store: &Mutex<LocalStore>) -> Result<usize, SyncError> {
        let mut pulled = 0;
        loop {
            let cursor = lock(store)?.cursor()?;
            let url = self.url("/v1/sync/pull");
            let limit = self.config.pull_limit;
            let resp = self.send(|c, t| {
                c.get(&url)
                    .bearer_auth(t)
                    .query(&[("cursor", cursor.as_str()), ("limit", &limit.to_string())])
            })?;
            let page: PullResponse = resp
                .json()
                .map_err(|e| SyncError::Protocol(e.to_string()))?;
            pulled += lock(store)?.apply_page(&page.changes, &page.cursor)?;
            if !page.has_more || page.changes.is_empty() {
                return Ok(pulled);
            }
        }
    }
}

/// Maps a non-success answer to an error, reading the contract's error shape.
fn check(resp: Response) -> Result<Response, SyncError> {
    let status = resp.status();
    if status.is_success() {
        return Ok(resp);
    }
    let retry_after = resp
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let body: serde_json::Value = resp.json().unwrap_or_default();
    let code = body["error"]["code"]
        .as_str()
        .unwrap_or("unknown")
        .to_owned();
    let message = body["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    Err(match status {
        StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE => SyncError::RateLimited {
            retry_after_s: retry_after.unwrap_or(5),
        },
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
            SyncError::Auth(format!("{code}: {message}"))
        }
        s => SyncError::Server {
            status: s.as_u16(),
            code,
            message,
        },
    })
}

/// Exponential backoff with full jitter: a random wait in
/// `[0, min(cap, base·2^failures)]`, so that a thousand phones coming back
/// online after an outage do not retry in lockstep.
pub fn backoff(failures: u32, base: Duration, cap: Duration, rng: &mut impl Rng) -> Duration {
    let exp = base.saturating_mul(1u32 << failures.min(20));
    let ceiling = exp.min(cap).as_millis() as u64;
    Duration::from_millis(rng.random_range(0..=ceiling.max(1)))
}

enum Signal {
    Wake,
    Stop,
}

/// Syncs in the background on its own timer: every `interval` after a
/// success, after a jittered backoff after a failure (or the server's
/// `Retry-After`), and at once when woken by the app after a write.
pub struct SyncWorker {
    tx: Sender<Signal>,
    handle: Option<JoinHandle<()>>,
}

impl SyncWorker {
    pub fn spawn(
        store: Arc<Mutex<LocalStore>>,
        mut client: SyncClient,
        interval: Duration,
    ) -> Self {
        let (tx, rx) = mpsc::channel();
        let handle = std::thread::spawn(move || {
            let mut failures = 0u32;
            let mut rng = rand::rng();
            loop {
                let wait = match client.sync(&store) {
                    Ok(_) => {
                        failures = 0;
                        interval
                    }
                    Err(SyncError::RateLimited { retry_after_s }) => {
                        failures += 1;
                        Duration::from_secs(retry_after_s)
                    }
                    Err(_) => {
                        failures += 1;
                        backoff(
                            failures,
                            Duration::from_millis(500),
                            Duration::from_secs(300),
                            &mut rng,
                        )
                    }
                };
                match rx.recv_timeout(wait) {
                    Ok(Signal::Wake) | Err(RecvTimeoutError::Timeout) => {}
                    Ok(Signal::Stop) | Err(RecvTimeoutError::Disconnected) => return,
                }
            }
        });
        Self {
            tx,
            handle: Some(handle),
        }
    }

    /// Asks for a sync now (after a write, or when the network returns).
    pub fn wake(&self) {
        // A send fails only when the worker has stopped; nothing to wake then.
        let _ = self.tx.send(Signal::Wake);
    }

    /// Stops the worker after its current attempt.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        let _ = self.tx.send(Signal::Stop);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

impl Drop for SyncWorker {
    fn drop(&mut self) {
        self.shutdown();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn backoff_grows_caps_and_jitters() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let base = Duration::from_millis(500);
        let cap = Duration::from_secs(300);
        for f in 0..40 {
            let ceiling = base.saturating_mul(1 << f.min(20)).min(cap);
            for _ in 0..50 {
                assert!(backoff(f, base, cap, &mut rng) <= ceiling);
            }
        }
        let waits: std::collections::HashSet<_> =
            (0..50).map(|_| backoff(10, base, cap, &mut rng)).collect();
        assert!(waits.len() > 10, "jitter spreads retries");
    }
}
