//! A micro-cache in front of the public pages and their JSON twins.
//!
//! A shop's QR code is scanned by everyone who walks past the stall, and a
//! recalled batch's code by everyone who bought it, all at once, while the
//! page itself changes a few times a day. Rendering one is several indexed
//! reads (licence, inspections, tests, suppliers, the risk grade of its
//! merchant) — a couple of milliseconds. So each answer is kept for a few
//! seconds (`Config::page_cache_ttl`, default 5 s, `--page-cache-secs`) and
//! concurrent misses of one URL wait for one render (moka's `try_get_with`)
//! rather than each hitting the store: a crowd costs one render per URL per
//! TTL. This is nginx's "microcaching", kept in-process so a single binary
//! needs no proxy in front.
//!
//! What is kept is forgotten by the writes that change what the pages say:
//! a push carrying field ops (inspections, samples, findings) and merchant
//! registration call [`PageCache::forget_all`], a consumer's rating or
//! complaint [`PageCache::forget_shop`], so a red banner or a new grade is
//! on the page at once. Ledger movements, by far the most frequent writes,
//! do not: a new holder on a chain may appear up to the TTL late, which no
//! consumer can tell (peer systems publish daily). Another instance behind
//! the same balancer learns of those writes from the store: its background
//! follower (`crate::follow`, every `--follow-ms`) reads where they stand
//! ([`PagesStamp`]) and [`PageCache::follow`] forgets everything when they
//! moved, so a recall's banner shows there within a follower's tick, not
//! the TTL. Only GET
//! answers below 500 without `Set-Cookie` are kept; the key is the path with
//! its query.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use moka::future::Cache;

use crate::store::public::PagesStamp;
use crate::AppState;

/// The route templates whose GET answers are public and the same for
/// everyone (no session, no per-user content).
pub const CACHED_ROUTES: &[&str] = &[
    "/s/{shop_code}",
    "/t/{trace_code}",
    "/01/{gtin}",
    "/01/{gtin}/10/{lot}",
    "/v1/public/shops/{shop_code}",
    "/v1/public/trace/{trace_code}",
];

/// Largest answer kept: the pages are a few KiB; anything bigger is
/// served but not held in memory.
const MAX_ENTRY_BYTES: usize = 256 * 1024;

/// Memory the cache may hold, by answer size.
const MAX_CACHE_BYTES: u64 = 64 * 1024 * 1024;

/// One kept answer.
#[derive(Debug, Clone)]
struct Kept {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Kept {
    fn response(&self) -> Response {
        let mut res = Response::new(Body::from(self.body.clone()));
        *res.status_mut() = self.status;
        *res.headers_mut() = self.headers.clone();
        res
    }
}

/// The cache (cheap to clone: moka's cache is a handle).
#[derive(Clone)]
pub struct PageCache {
    cache: Option<Cache<String, Arc<Kept>>>,
    /// The store's [`PagesStamp`] when the follower last looked (`None`
    /// before its first look), shared by the clones.
    seen: Arc<Mutex<Option<PagesStamp>>>,
}

impl std::fmt::Debug for PageCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PageCache")
            .field("enabled", &self.cache.is_some())
            .finish_non_exhaustive()
    }
}

impl PageCache {
    /// A cache keeping answers for `ttl`; a zero `ttl` keeps nothing.
    pub fn new(ttl: Duration) -> PageCache {
        let cache = (!ttl.is_zero()).then(|| {
            Cache::builder()
                .time_to_live(ttl)
                .max_capacity(MAX_CACHE_BYTES)
                .weigher(|key: &String, kept: &Arc<Kept>| {
                    u32::try_from(key.len() + kept.body.len()).unwrap_or(u32::MAX)
                })
                .support_invalidation_closures()
                .build()
        });
        PageCache {
            cache,
            seen: Arc::default(),
        }
    }

    /// Drops every kept answer: after a write that changes what public pages
    /// say (an inspection, a finding, a new merchant), so this instance
    /// shows it at once. Other instances forget when their follower sees
    /// the write ([`PageCache::follow`]).
    pub fn forget_all(&self) {
        if let Some(cache) = &self.cache {
            cache.invalidate_all();
        }
    }

    /// Takes where the store's page-changing writes stand, read by the
    /// follower: when they moved since its last look (a write by any
    /// instance, this one's included), every kept answer is dropped, as
    /// the writing instance did. Returns whether it forgot. The first look
    /// only sets the mark: the follower takes it as the server starts,
    /// before any page is kept.
    pub fn follow(&self, now: PagesStamp) -> bool {
        // A poisoned lock still holds a stamp: the panic was elsewhere.
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        let moved = seen.is_some_and(|before| before != now);
        *seen = Some(now);
        if moved {
            self.forget_all();
        }
        moved
    }

    /// Drops every kept answer about this shop (its page and its JSON twin,
    /// with any query), so a consumer who just rated or complained sees it.
    pub fn forget_shop(&self, shop_code: &str) {
        let Some(cache) = &self.cache else { return };
        let page = format!("/s/{shop_code}");
        let twin = format!("/v1/public/shops/{shop_code}");
        let is_shop = move |key: &String| {
            [&page, &twin].iter().any(|p| {
                key.strip_prefix(p.as_str())
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with('?'))
            })
        };
        // Fails only when closures are not enabled, which `new` does.
        let _ = cache.invalidate_entries_if(move |key, _| is_shop(key));
    }
}

/// The middleware (a route layer, so the matched route is known): serves a
/// kept answer of a [`CACHED_ROUTES`] GET, or renders it once and keeps it.
pub async fn serve_cached(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let cacheable = req.method() == Method::GET
        && req
            .extensions()
            .get::<MatchedPath>()
            .is_some_and(|m| CACHED_ROUTES.contains(&m.as_str()));
    let Some(cache) = state.page_cache.cache.as_ref().filter(|_| cacheable) else {
        return next.run(req).await;
    };
    let key = req
        .uri()
        .path_and_query()
        .map_or_else(|| req.uri().path().to_owned(), |pq| pq.as_str().to_owned());
    // The error side carries an answer that must not be kept (a 5xx, a
    // cookie, too big): it goes to this caller only, and the next request
    // renders again.
    match cache
        .try_get_with(key, async move {
            let (parts, body) = next.run(req).await.into_parts();
            // The handlers render into memory, so reading the body whole
            // costs nothing new; a body that fails to read is a 500.
            let (status, body) = match axum::body::to_bytes(body, usize::MAX).await {
                Ok(b) => (parts.status, b),
                Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, Bytes::new()),
            };
            let kept = Kept {
                status,
                headers: parts.headers,
                body,
            };
            if kept.status.is_server_error()
                || kept.body.len() > MAX_ENTRY_BYTES
                || kept.headers.contains_key(header::SET_COOKIE)
            {
                Err(kept)
            } else {
                Ok(Arc::new(kept))
            }
        })
        .await
    {
        Ok(kept) => kept.response(),
        Err(not_kept) => not_kept.response().into_response(),
    }
}
