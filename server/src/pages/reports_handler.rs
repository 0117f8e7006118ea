//! The analysts' H5 pages for handling reports: the list with its deadline
//! warnings (`/handler/reports`), one report with its messages and photos,
//! and the forms to reply, triage, assign to an inspector and close. They
//! call the same service as the JSON routes (`crate::reports::service`).
//!
//! The browser login is `pages/session.rs` (a login form setting an
//! HttpOnly SameSite=Strict cookie with the JWT); [`Session`] adds the
//! handler's role. SameSite=Strict keeps other sites' forms from posting
//! with it.

use askama::Template;
use axum::extract::{FromRequestParts, State};
use axum::http::{header, request::Parts, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;
use shian_core::reports::{self as rules, Priority, ReportStatus};

use crate::errors::ApiError;
use crate::extract::Path;
use crate::reports::{self as api, author_zh, service, HandlerView};
use crate::store::reports::{ReportAction, StoredReport};
use crate::AppState;

/// The analyst's page routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/handler/reports", get(list))
        .route("/handler/reports/{id}", get(one))
        .route("/handler/reports/{id}/photos/{seq}", get(photo))
        .route("/handler/reports/{id}/{action}", post(act))
}

/// A logged-in admin or analyst: the browser login of
/// [`super::session::Session`] (no cookie or a stale one goes to the login
/// form, and back here after), with a handler's role.
#[derive(Debug, Clone)]
pub struct Session {
    pub user_id: String,
}

impl FromRequestParts<AppState> for Session {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let super::session::Session(auth) =
            super::session::Session::from_request_parts(parts, state).await?;
        if !api::HANDLERS.contains(&auth.role) {
            return Err(notice(
                StatusCode::FORBIDDEN,
                "无权访问",
                "举报处理页面仅限分析人员和管理员。",
                true,
            ));
        }
        Ok(Session {
            user_id: auth.user_id,
        })
    }
}

fn html(status: StatusCode, t: &impl Template) -> Response {
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
#[template(path = "report_notice.html")]
struct Notice<'a> {
    heading: &'a str,
    message: &'a str,
    login: bool,
}

fn notice(status: StatusCode, heading: &str, message: &str, login: bool) -> Response {
    html(
        status,
        &Notice {
            heading,
            message,
            login,
        },
    )
}

fn error_page(e: ApiError) -> Response {
    if e.status.is_server_error() {
        return e.into_response();
    }
    notice(e.status, "无法完成", &e.message, false)
}

struct Row {
    id: String,
    category: &'static str,
    status: &'static str,
    priority: &'static str,
    received_on: String,
    excerpt: String,
    /// (text, overdue?)
    warnings: Vec<(String, bool)>,
}

fn category_zh(code: &str) -> &'static str {
    rules::category_name(code).unwrap_or("其他")
}

fn priority_zh(p: &str) -> &'static str {
    Priority::parse(p).map_or("", Priority::zh)
}

fn status_zh(s: &str) -> &'static str {
    ReportStatus::parse(s).map_or("", ReportStatus::zh)
}

/// The deadline warnings of a report, as lines for the page.
fn warnings(v: &HandlerView) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    for (what, d) in [
        ("确认收到（7 天）", &v.deadlines.acknowledge),
        ("答复（3 个月）", &v.deadlines.feedback),
    ] {
        if d.warn {
            out.push((
                format!("{what}期限 {}：{}", d.due, api::state_zh(d.state)),
                d.state == "overdue",
            ));
        }
    }
    out
}

#[derive(Template)]
#[template(path = "reports_list.html")]
struct ListPage {
    total: u64,
    warnings: u64,
    status: Option<&'static str>,
    statuses: Vec<(&'static str, &'static str)>,
    rows: Vec<Row>,
}

#[derive(Debug, Deserialize)]
struct ListParams {
    status: Option<String>,
}

async fn list(
    State(state): State<AppState>,
    _s: Session,
    q: Result<axum::extract::Query<ListParams>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let status = q
        .ok()
        .and_then(|axum::extract::Query(p)| p.status)
        .and_then(|s| ReportStatus::parse(&s));
    let list = match api::list(&state, status, Some(500), None).await {
        Ok(l) => l,
        Err(e) => return error_page(e),
    };
    let rows = list
        .reports
        .iter()
        .map(|r| Row {
            id: r.id.clone(),
            category: category_zh(&r.category),
            status: status_zh(r.status),
            priority: priority_zh(r.priority),
            received_on: r.received_on.to_string(),
            excerpt: r.description.chars().take(80).collect(),
            warnings: warnings(r),
        })
        .collect();
    html(
        StatusCode::OK,
        &ListPage {
            total: list.total,
            warnings: list.warnings,
            status: status.map(ReportStatus::zh),
            statuses: ReportStatus::ALL
                .iter()
                .map(|s| (s.as_str(), s.zh()))
                .collect(),
            rows,
        },
    )
}

#[derive(Template)]
#[template(path = "report_handle.html")]
struct HandlePage {
    id: String,
    error: Option<String>,
    category: &'static str,
    status: &'static str,
    priority: &'static str,
    received_on: String,
    warnings: Vec<(String, bool)>,
    acknowledge: String,
    feedback: String,
    merchant: Option<String>,
    location: Option<String>,
    occurred_on: Option<String>,
    assigned_to: Option<String>,
    description: String,
    photos: Vec<i64>,
    /// (from, day, body)
    messages: Vec<(&'static str, String, String)>,
    open: bool,
    closed_on: String,
    next_statuses: Vec<(&'static str, &'static str)>,
    priorities: Vec<(&'static str, &'static str)>,
    categories: &'static [(&'static str, &'static str)],
}

fn handle_page(r: &StoredReport, error: Option<String>) -> HandlePage {
    let v = HandlerView::of(r);
    let d = &v.deadlines;
    HandlePage {
        id: r.id.clone(),
        error,
        category: category_zh(&r.category),
        status: r.status.zh(),
        priority: r.priority.zh(),
        received_on: r.received_on.to_string(),
        warnings: warnings(&v),
        acknowledge: format!(
            "{}（{}）",
            d.acknowledge.due,
            api::state_zh(d.acknowledge.state)
        ),
        feedback: format!("{}（{}）", d.feedback.due, api::state_zh(d.feedback.state)),
        merchant: match (&r.merchant_name, &r.merchant_ref) {
            (Some(n), Some(c)) => Some(format!("{n}（店码 {c}）")),
            (None, Some(c)) => Some(format!("店码 {c}（未登记）")),
            _ => None,
        },
        location: r.location.clone(),
        occurred_on: r.occurred_on.map(|d| d.to_string()),
        assigned_to: r.assigned_to.clone(),
        description: r.description.clone(),
        photos: r.photos.iter().map(|p| p.seq).collect(),
        messages: r
            .messages
            .iter()
            .map(|m| (author_zh(m.author), m.sent_on.to_string(), m.body.clone()))
            .collect(),
        open: r.status != ReportStatus::Closed,
        closed_on: r.closed_on.map(|d| d.to_string()).unwrap_or_default(),
        next_statuses: ReportStatus::ALL
            .iter()
            .filter(|s| **s != ReportStatus::Closed && r.status.may_become(**s))
            .map(|s| (s.as_str(), s.zh()))
            .collect(),
        priorities: Priority::ALL.iter().map(|p| (p.as_str(), p.zh())).collect(),
        categories: rules::CATEGORIES,
    }
}

async fn one(State(state): State<AppState>, _s: Session, Path(id): Path<String>) -> Response {
    match state.store.report(id).await {
        Ok(Some(r)) => html(StatusCode::OK, &handle_page(&r, None)),
        Ok(None) => notice(StatusCode::NOT_FOUND, "没有这件举报", "", false),
        Err(e) => ApiError::from(e).into_response(),
    }
}

async fn photo(
    State(state): State<AppState>,
    _s: Session,
    Path((id, seq)): Path<(String, i64)>,
) -> Response {
    match api::photo_response(&state, id, seq).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

/// Every action form's fields (each form sends its own).
#[derive(Debug, Default, Deserialize)]
struct ActionForm {
    #[serde(default)]
    body: String,
    #[serde(default)]
    note: String,
    #[serde(default)]
    inspector: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    priority: String,
    #[serde(default)]
    category: String,
}

fn nonempty(s: &str) -> Option<&str> {
    Some(s.trim()).filter(|s| !s.is_empty())
}

async fn action_of(
    state: &AppState,
    action: &str,
    f: ActionForm,
) -> Result<ReportAction, ApiError> {
    Ok(match action {
        "reply" => ReportAction::Reply { body: f.body },
        "close" => ReportAction::Close { note: f.note },
        "assign" => {
            let name = f.inspector.trim().to_owned();
            let user = state
                .store
                .user_credentials(name)
                .await?
                .map(|c| c.user.id)
                .ok_or_else(|| {
                    ApiError::unprocessable("not_an_inspector", "没有这个检查人员账号")
                        .at("inspector")
                })?;
            ReportAction::Assign { inspector_id: user }
        }
        "triage" => ReportAction::Triage {
            status: nonempty(&f.status).and_then(ReportStatus::parse),
            priority: nonempty(&f.priority).and_then(Priority::parse),
            category: nonempty(&f.category).map(str::to_owned),
        },
        _ => return Err(ApiError::not_found("操作")),
    })
}

/// A form's action, then back to the report (303) or the report with the
/// reason it was refused.
async fn act(
    State(state): State<AppState>,
    s: Session,
    Path((id, action)): Path<(String, String)>,
    form: Result<Form<ActionForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let f = form.map(|Form(f)| f).unwrap_or_default();
    let result = match action_of(&state, &action, f).await {
        Ok(a) => service::act(&state, &id, a, &s.user_id).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(_) => {
            // The id named a stored report, so it is 32 hex digits: a valid
            // header value; the fallback is never taken.
            let to = HeaderValue::from_str(&format!("/handler/reports/{id}"))
                .unwrap_or(HeaderValue::from_static("/handler/reports"));
            (StatusCode::SEE_OTHER, [(header::LOCATION, to)]).into_response()
        }
        Err(e) if e.status == StatusCode::NOT_FOUND || e.status.is_server_error() => error_page(e),
        Err(e) => match state.store.report(id).await {
            Ok(Some(r)) => html(e.status, &handle_page(&r, Some(e.message))),
            _ => error_page(e),
        },
    }
}
