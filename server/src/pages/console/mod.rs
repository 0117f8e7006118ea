//! The regulator's console (`/console`): the pages an analyst or an admin
//! works in from a desktop browser (usable on a tablet), zh-CN, rendered by
//! the server with askama like the public pages.
//!
//! # What every console page shares
//!
//! * [`Analyst`] as a handler argument: an admin or analyst logged in
//!   through the browser login of [`super::session`] (no cookie or a stale
//!   one: 303 to `/login?next=…`, and back after; another role: a 403 page).
//!   It carries `user_id` and `csrf`, the session's anti-forgery token; a
//!   sub-page module reads `analyst.auth` (the login's [`Auth`]) to call the
//!   service or handler a JSON route calls (as `trace.rs` and `draws.rs`
//!   do), so a page and its JSON twin check and answer alike.
//! * Every POST form carries `<input type="hidden" name="csrf"
//!   value="{{ csrf }}">` and its handler calls
//!   [`Analyst::check_csrf`] before anything else: a missing or wrong token
//!   answers a 403 page and changes nothing. The session cookie is already
//!   `SameSite=Strict`; the token is the second lock, for a browser that
//!   ignores SameSite or a same-site page (another port, a subdomain) that
//!   could post a form.
//! * [`html`] renders a template with `Cache-Control: private, no-store`
//!   (a console page holds non-public data and must not be kept by a proxy
//!   or the back button) and `Referrer-Policy: no-referrer`; [`notice`] and
//!   [`error_page`] answer a failure as a console page.
//! * The template extends `console/base.html` (the nav, the logout button)
//!   and its struct has exactly these two fields besides its own:
//!   - `nav: &'static str`: the nav entry to mark as current, one of
//!     `overview`, `alerts`, `map`, `recalls`, `search`, `trace`, `draws`,
//!     `exports` (or `""` for none);
//!   - `csrf: String`: the token for the page's forms, from
//!     [`Analyst::csrf`].
//!
//! ```ignore
//! #[derive(askama::Template)]
//! #[template(path = "console/alerts.html")]
//! struct AlertsPage {
//!     nav: &'static str,
//!     csrf: String,
//!     alerts: Vec<Row>,
//! }
//!
//! async fn alerts(State(state): State<AppState>, analyst: Analyst) -> Response {
//!     let rows = …;
//!     html(StatusCode::OK, &AlertsPage { nav: "alerts", csrf: analyst.csrf, alerts: rows })
//! }
//!
//! async fn assign(analyst: Analyst, Form(f): Form<AssignForm>) -> Response {
//!     if let Err(refused) = analyst.check_csrf(&f.csrf) {
//!         return refused;
//!     }
//!     …
//! }
//! ```
//!
//! ```text
//! {% extends "console/base.html" %}
//! {% block title %}预警{% endblock %}
//! {% block content %}
//! <form method="post" action="/console/alerts/{{ id }}/assign">
//!   <input type="hidden" name="csrf" value="{{ csrf }}"> …
//! </form>
//! {% endblock %}
//! ```
//!
//! Each sub-page lives in its own module with its own `router()`, merged by
//! one line in [`router`].
//!
//! # Charts and maps
//!
//! Charts and the market map are SVG drawn by the server inside the page,
//! not a JavaScript chart library vendored into the repository: the page
//! is lighter and appears at once, it works with JavaScript off, it renders
//! identically in every screenshot (no animation, no layout done late by a
//! script), and there is no vendored library to keep patched. The handful
//! of shapes a console needs (bars, a line, a grid of stalls) are a few
//! lines of arithmetic each.

mod alerts;
mod draws;
mod exports;
pub(crate) mod map;
mod merchant;
mod overview;
mod recalls;
mod search;
mod trace;

use askama::Template;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use ring::hmac;

use super::session::{cookie_token, Session};
use crate::auth::Auth;
use crate::errors::ApiError;
use crate::AppState;

/// The console's page routes (merged into [`super::router`]).
pub fn router() -> Router<AppState> {
    Router::new()
        .merge(overview::router())
        .merge(draws::router())
        .merge(map::router())
        .merge(merchant::router())
        .merge(search::router())
        .merge(trace::router())
        .merge(alerts::router())
        .merge(recalls::router())
        .merge(exports::router())
}

/// What the anti-forgery MAC is computed over besides the session token,
/// so it can never be mistaken for another use of the same secret.
const CSRF_CONTEXT: &[u8] = b"shian console csrf v1\0";

/// A logged-in admin or analyst in a browser.
#[derive(Debug, Clone)]
pub struct Analyst {
    pub user_id: String,
    /// This session's anti-forgery token, for the page's forms: hex of
    /// HMAC-SHA256 over the session token with the server's token secret.
    /// It is derived rather than stored, so it needs no table and lives
    /// exactly as long as the login; another session's token does not fit.
    pub csrf: String,
    /// The MAC key, kept to check a posted token.
    key: hmac::Key,
    /// The session token the MAC is over.
    session: String,
    /// The login, for calling the services the JSON routes call (they
    /// check the role again).
    auth: Auth,
}

/// The MAC of a session token under `secret`.
fn csrf_tag(secret: &[u8], session: &str) -> hmac::Tag {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    let mut ctx = hmac::Context::with_key(&key);
    ctx.update(CSRF_CONTEXT);
    ctx.update(session.as_bytes());
    ctx.sign()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Lower- or upper-case hex to bytes; `None` on anything else.
fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || !s.is_ascii() {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
        .collect()
}

impl Analyst {
    /// The analyst of a session token, with its anti-forgery token. The
    /// market pages ([`super::market`]) sign their forms the same way.
    pub(in crate::pages) fn new(auth: Auth, secret: &[u8], session: &str) -> Analyst {
        Analyst {
            user_id: auth.user_id.clone(),
            auth,
            csrf: hex(csrf_tag(secret, session).as_ref()),
            key: hmac::Key::new(hmac::HMAC_SHA256, secret),
            session: session.to_owned(),
        }
    }

    /// The login behind the page.
    pub(in crate::pages) fn auth(&self) -> &Auth {
        &self.auth
    }

    /// Whether a posted form's `csrf` field is this session's token,
    /// compared in constant time (`ring::hmac::verify`). Call it first in
    /// every POST handler; on `Err` answer the response and change nothing.
    #[allow(clippy::result_large_err)]
    pub fn check_csrf(&self, form_token: &str) -> Result<(), Response> {
        let refused = || {
            notice(
                StatusCode::FORBIDDEN,
                "请求无效",
                "表单已过期或不是从本平台的页面提交的，未做任何更改。请返回页面刷新后重试。",
            )
        };
        let tag = unhex(form_token.trim()).ok_or_else(refused)?;
        let mut msg = Vec::with_capacity(CSRF_CONTEXT.len() + self.session.len());
        msg.extend_from_slice(CSRF_CONTEXT);
        msg.extend_from_slice(self.session.as_bytes());
        hmac::verify(&self.key, &msg, &tag).map_err(|_| refused())
    }
}

impl FromRequestParts<AppState> for Analyst {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Session(auth) = Session::from_request_parts(parts, state).await?;
        if !crate::field::risk::ANALYSTS.contains(&auth.role) {
            return Err(notice(
                StatusCode::FORBIDDEN,
                "无权访问",
                "监管控制台仅限分析人员和管理员。",
            ));
        }
        // `Session` accepted the cookie's token, so it is there.
        let token = cookie_token(&parts.headers).unwrap_or_default();
        Ok(Analyst::new(auth, state.keys.jwt_secret(), token))
    }
}

/// A console page: the template rendered, never cached, no `Referer` sent
/// on (a console URL may carry a search term or an id).
pub fn html(status: StatusCode, t: &impl Template) -> Response {
    match t.render() {
        Ok(body) => (
            status,
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/html; charset=utf-8"),
                ),
                (
                    header::CACHE_CONTROL,
                    HeaderValue::from_static("private, no-store"),
                ),
                (
                    header::REFERRER_POLICY,
                    HeaderValue::from_static("no-referrer"),
                ),
            ],
            body,
        )
            .into_response(),
        Err(e) => ApiError::internal(e).into_response(),
    }
}

#[derive(Template)]
#[template(path = "console/notice.html")]
struct Notice<'a> {
    nav: &'static str,
    csrf: String,
    heading: &'a str,
    message: &'a str,
}

/// A short console page saying why something was refused or not found.
pub fn notice(status: StatusCode, heading: &str, message: &str) -> Response {
    html(
        status,
        &Notice {
            nav: "",
            csrf: String::new(),
            heading,
            message,
        },
    )
}

/// A service's error as a console page (a server fault stays the API's 500,
/// which logs it).
pub fn error_page(e: ApiError) -> Response {
    if e.status.is_server_error() {
        return e.into_response();
    }
    notice(e.status, "无法完成", &e.message)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"a server secret of thirty-two by";

    fn analyst(secret: &[u8], session: &str) -> Analyst {
        let auth = Auth {
            user_id: "u1".into(),
            role: crate::store::Role::Analyst,
            scope: Default::default(),
            expires_at: 0,
        };
        Analyst::new(auth, secret, session)
    }

    #[test]
    fn the_sessions_own_token_is_accepted() {
        let a = analyst(SECRET, "session.token.one");
        assert_eq!(a.csrf.len(), 64);
        assert!(a.check_csrf(&a.csrf).is_ok());
        assert!(a.check_csrf(&a.csrf.to_uppercase()).is_ok());
    }

    #[test]
    fn a_wrong_token_is_refused() {
        let a = analyst(SECRET, "session.token.one");
        let mut wrong = a.csrf.clone().into_bytes();
        wrong[10] = if wrong[10] == b'0' { b'1' } else { b'0' };
        let wrong = String::from_utf8(wrong).unwrap();
        for bad in [wrong.as_str(), &a.csrf[..62], "zz", "不是十六进制"] {
            let res = a.check_csrf(bad).unwrap_err();
            assert_eq!(res.status(), StatusCode::FORBIDDEN, "{bad}");
        }
    }

    #[test]
    fn a_missing_token_is_refused() {
        let a = analyst(SECRET, "session.token.one");
        assert_eq!(
            a.check_csrf("").unwrap_err().status(),
            StatusCode::FORBIDDEN
        );
    }

    #[test]
    fn another_sessions_token_is_refused() {
        let a = analyst(SECRET, "session.token.one");
        let b = analyst(SECRET, "session.token.two");
        assert_ne!(a.csrf, b.csrf);
        assert!(a.check_csrf(&b.csrf).is_err());
        assert!(b.check_csrf(&a.csrf).is_err());
        // Another server's secret does not fit either.
        let c = analyst(b"another secret", "session.token.one");
        assert!(a.check_csrf(&c.csrf).is_err());
    }
}
