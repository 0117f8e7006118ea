//! The market's own pages (`/market`, 市场端): what a market operator
//! (市场开办者) and its food-safety officers (食品安全总监、食品安全员, as in
//! seed 001) work in on a desktop or the market's tablet: entry checks
//! (入场查验), self-inspections (日管控、周排查、月调度), holds (暂扣) and the
//! staff's health certificates, for their own market only. Analysts and
//! admins open the same pages for any market (`?market_id=`), so the
//! regulator sees every market's operator records.
//!
//! # What every market page shares
//!
//! * [`Operator`] as a handler argument: a logged-in market operator, or an
//!   analyst or admin (no login: 303 to `/login?next=…`; another role: a
//!   403 page). [`Operator::market`] picks the market a request is about
//!   (its `market_id` if given, else the operator's first market) and
//!   answers a 403 page for a market outside the login's scope, before
//!   any read — an operator never sees another market's data.
//! * The same anti-forgery tokens as the console ([`super::console`]):
//!   every POST form carries `<input type="hidden" name="csrf" value="{{
//!   csrf }}">` and its handler calls [`Operator::check_csrf`] first.
//! * Templates extend `market/base.html`; the struct has `nav: &'static
//!   str` (one of `overview`, `entries`, `self_checks`, `holds`, `staff`,
//!   or `""`), `csrf: String` and `market_id: String` (the nav's links
//!   keep the market) besides its own fields; render with
//!   [`super::console::html`] (never cached).
//! * Each sub-page lives in its own module with its own `router()`, merged
//!   by one line in [`router`].

mod entries;
mod holds;
mod overview;
mod self_checks;
mod staff;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::Response;
use axum::Router;

use super::console::{notice, Analyst};
use super::session::{cookie_token, Session};
use crate::auth::Auth;
use crate::store::Role;
use crate::AppState;

/// The market pages' routes (merged into [`super::router`]).
pub fn router() -> Router<AppState> {
    Router::new()
        .merge(overview::router())
        .merge(staff::router())
        .merge(entries::router())
        .merge(holds::router())
        .merge(self_checks::router())
}

/// A logged-in market operator, analyst or admin in a browser.
#[derive(Debug, Clone)]
pub struct Operator {
    pub user_id: String,
    /// This session's anti-forgery token for the page's forms.
    pub csrf: String,
    /// The signed session (its CSRF check and its login).
    desk: Analyst,
}

impl Operator {
    /// The login, for calling the services the JSON routes call.
    pub fn auth(&self) -> &Auth {
        self.desk.auth()
    }

    /// See [`Analyst::check_csrf`].
    #[allow(clippy::result_large_err)]
    pub fn check_csrf(&self, form_token: &str) -> Result<(), Response> {
        self.desk.check_csrf(form_token)
    }

    /// Whether this login may see `market_id`'s operator records.
    pub fn may_see(&self, market_id: &str) -> bool {
        let auth = self.auth();
        auth.sees_every_market() || auth.runs_market(Some(market_id))
    }

    /// The market a request is about: `asked` if the login may see it,
    /// else the operator's first market; a 403 page for a market outside
    /// the scope, and a notice when an analyst names none.
    #[allow(clippy::result_large_err)]
    pub fn market(&self, asked: Option<&str>) -> Result<String, Response> {
        let asked = asked.map(str::trim).filter(|s| !s.is_empty());
        match asked {
            Some(id) if self.may_see(id) => Ok(id.to_owned()),
            Some(_) => Err(notice(
                StatusCode::FORBIDDEN,
                "无权访问",
                "只能查看本账户所管理市场的记录。",
            )),
            None => self.auth().scope.markets.first().cloned().ok_or_else(|| {
                notice(
                    StatusCode::BAD_REQUEST,
                    "请选择市场",
                    "请从风险地图选择一个市场，或在地址中给出 market_id。",
                )
            }),
        }
    }
}

impl FromRequestParts<AppState> for Operator {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Session(auth) = Session::from_request_parts(parts, state).await?;
        if !matches!(
            auth.role,
            Role::MarketOperator | Role::Analyst | Role::Admin
        ) {
            return Err(notice(
                StatusCode::FORBIDDEN,
                "无权访问",
                "市场端页面仅限市场开办者、食品安全员和监管分析人员。",
            ));
        }
        // `Session` accepted the cookie's token, so it is there.
        let token = cookie_token(&parts.headers).unwrap_or_default();
        let desk = Analyst::new(auth, state.keys.jwt_secret(), token);
        Ok(Operator {
            user_id: desk.user_id.clone(),
            csrf: desk.csrf.clone(),
            desk,
        })
    }
}
