//! Logging in from a browser, for the pages behind an account (the stall
//! sign now, the console later: use [`Session`] as a handler argument).
//!
//! `GET /login` shows a form; `POST /login` checks the password exactly as
//! `POST /v1/auth/login` does (the same handler: lockout, rate limit, timing)
//! and keeps the login token in a cookie: `HttpOnly` (no script can read
//! it), `SameSite=Strict` (no other site's page or form sends it, which is
//! what makes a cookie safe against cross-site request forgery here),
//! `Secure` when the public address is https, and as long-lived as the
//! token. A token never appears in a URL (it would land in logs, history
//! and `Referer`). `POST /logout` clears the cookie.

use askama::Template;
use axum::body::Bytes;
use axum::extract::{FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::render::page;
use crate::auth::{verify_token, Auth, LoginRequest};
use crate::errors::ApiError;
use crate::AppState;

/// The cookie's name.
pub const COOKIE: &str = "shian_session";

/// The longest `next` path kept; longer ones go to `/`.
const MAX_NEXT: usize = 512;

/// A logged-in browser. As a handler argument it requires the session
/// cookie with a valid token; without one the browser is sent to the login
/// form (303), which brings it back to the page it asked for.
#[derive(Debug, Clone)]
pub struct Session(pub Auth);

/// The session cookie's value among the request's `Cookie` headers.
pub(super) fn cookie_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.trim())
}

/// A path on this site to go back to after logging in: a local absolute
/// path only (never `//host` or a scheme, so the form cannot be used to
/// send someone elsewhere).
fn local_path(next: &str) -> &str {
    let ok = next.starts_with('/')
        && !next.starts_with("//")
        && next.len() <= MAX_NEXT
        && next.bytes().all(|b| b.is_ascii_graphic() && b != b'\\');
    if ok {
        next
    } else {
        "/"
    }
}

fn see_other(location: &str) -> Response {
    let location = HeaderValue::from_str(location).unwrap_or(HeaderValue::from_static("/"));
    (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response()
}

impl FromRequestParts<AppState> for Session {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let claims = cookie_token(&parts.headers)
            .and_then(|t| verify_token(state.keys.jwt_secret(), t).ok());
        match claims {
            Some(c) => Ok(Session(Auth {
                user_id: c.sub,
                role: c.role,
                scope: c.scope,
                expires_at: c.exp,
            })),
            None => {
                let here = parts
                    .uri
                    .path_and_query()
                    .map_or("/", |p| p.as_str())
                    .to_owned();
                let next: String =
                    form_urlencoded::byte_serialize(local_path(&here).as_bytes()).collect();
                Err(see_other(&format!("/login?next={next}")))
            }
        }
    }
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    next: &'a str,
    username: &'a str,
    error: Option<&'a str>,
}

/// The form's answer, with no caching (it may carry an error about this
/// login).
fn login_page(status: StatusCode, next: &str, username: &str, error: Option<&str>) -> Response {
    let mut res = page(
        status,
        &LoginPage {
            next: local_path(next),
            username,
            error,
        },
    );
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct NextQuery {
    #[serde(default)]
    next: String,
}

/// `GET /login`.
pub(super) async fn login_form(
    q: Result<Query<NextQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let next = q.map(|Query(q)| q.next).unwrap_or_default();
    login_page(StatusCode::OK, &next, "", None)
}

#[derive(Debug, Default, Deserialize)]
struct LoginForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    next: String,
}

/// `Set-Cookie` for `token`, or for clearing the cookie (`None`).
fn session_cookie(token: Option<&str>, max_age: i64, secure: bool) -> HeaderValue {
    let value = format!(
        "{COOKIE}={}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{}",
        token.unwrap_or(""),
        if token.is_some() { max_age.max(0) } else { 0 },
        if secure { "; Secure" } else { "" }
    );
    // A JWT is base64url and dots, always a valid header value; the
    // fallback (clearing) is never taken.
    HeaderValue::from_str(&value).unwrap_or(HeaderValue::from_static(
        "shian_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0",
    ))
}

/// Whether the browser reached us over https (then the cookie is `Secure`).
fn over_https(state: &AppState, headers: &HeaderMap) -> bool {
    crate::qr::public_base(&state.config, headers).starts_with("https://")
}

/// `POST /login` (a urlencoded form): on the right password, the cookie
/// and a 303 to `next`; else the form again with the reason (401, or 429
/// while the account is locked).
pub(super) async fn login_submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form: LoginForm = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let req = LoginRequest {
        username: form.username.clone(),
        password: form.password,
    };
    match crate::auth::login(State(state.clone()), crate::extract::Json(req)).await {
        Ok(crate::extract::Json(ok)) => {
            let max_age = (ok.expires_at - chrono::Utc::now()).num_seconds();
            let mut res = see_other(local_path(&form.next));
            res.headers_mut().insert(
                header::SET_COOKIE,
                session_cookie(Some(&ok.token), max_age, over_https(&state, &headers)),
            );
            res
        }
        Err(e) => {
            let message = login_failure(&e);
            let mut res = login_page(e.status, &form.next, &form.username, Some(&message));
            if let Some(secs) = e.retry_after {
                res.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(secs));
            }
            res
        }
    }
}

/// Why a login failed, for the person at the form.
fn login_failure(e: &ApiError) -> String {
    match e.code.as_ref() {
        "invalid_credentials" => "用户名或密码错误。".to_owned(),
        "account_locked" | "rate_limited" => e.message.clone(),
        "invalid_username" | "invalid_password" => "请输入用户名和密码。".to_owned(),
        _ => "暂时无法登录，请稍后再试。".to_owned(),
    }
}

/// `POST /logout`: clears the cookie and goes to the landing page.
pub(super) async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let mut res = see_other("/");
    res.headers_mut().insert(
        header::SET_COOKIE,
        session_cookie(None, 0, over_https(&state, &headers)),
    );
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_gone_back_to() {
        assert_eq!(local_path("/signs/m-1"), "/signs/m-1");
        for bad in [
            "//evil.example",
            "https://evil.example",
            "/\\evil",
            "signs",
            "/a b",
            "",
        ] {
            assert_eq!(local_path(bad), "/", "{bad}");
        }
    }

    #[test]
    fn the_cookie_is_found_among_others() {
        let mut h = HeaderMap::new();
        h.append(
            header::COOKIE,
            HeaderValue::from_static("a=1; shian_session=tok.en; b=2"),
        );
        assert_eq!(cookie_token(&h), Some("tok.en"));
        let mut h = HeaderMap::new();
        h.append(
            header::COOKIE,
            HeaderValue::from_static("xshian_session=no"),
        );
        assert_eq!(cookie_token(&h), None);
    }
}
