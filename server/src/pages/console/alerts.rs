//! `/console/alerts`: the warnings list with its filters (status, kind,
//! market, merchant), each alert's evidence (figures and the records that
//! raised it) and the assign / resolve forms. The list is the same query
//! as `GET /v1/alerts` (`crate::alerts::routes::filter`), the steps the
//! same store calls as its POST routes.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;
use shian_core::warnings::{Kind, LinkType, SubjectType};

use super::{error_page, html, Analyst};
use crate::alerts::routes::{filter, AlertQuery};
use crate::errors::ApiError;
use crate::extract::Path;
use crate::store::alerts::{Alert, AlertAction, AlertStatus};
use crate::store::StoreError;
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console/alerts", get(page))
        .route("/console/alerts/{id}/{step}", post(step))
}

/// Alerts on one page.
const PAGE: u32 = 50;

/// The filters as the form sends them (empty: no filter).
#[derive(Debug, Default, Deserialize)]
struct Filters {
    #[serde(default)]
    status: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    market_id: String,
    #[serde(default)]
    merchant_id: String,
    #[serde(default)]
    offset: u32,
    /// What the last step did (after its redirect).
    #[serde(default)]
    done: String,
}

impl Filters {
    /// The query string of these filters (without the offset), for links
    /// and for coming back after a form.
    fn query(&self) -> String {
        let pairs = [
            ("status", &self.status),
            ("kind", &self.kind),
            ("market_id", &self.market_id),
            ("merchant_id", &self.merchant_id),
        ];
        let mut s = form_urlencoded::Serializer::new(String::new());
        for (k, v) in pairs {
            if !v.is_empty() {
                s.append_pair(k, v);
            }
        }
        s.finish()
    }
}

struct Choice {
    value: &'static str,
    label: &'static str,
}

struct MarketChoice {
    id: String,
    name: String,
}

struct Figure {
    name: std::borrow::Cow<'static, str>,
    value: String,
}

struct LinkRow {
    label: &'static str,
    id: String,
    /// Where it opens in the console, if anywhere.
    href: Option<String>,
}

struct Row {
    id: String,
    kind: &'static str,
    kind_label: &'static str,
    severity: &'static str,
    severity_label: &'static str,
    subject_label: &'static str,
    subject_name: String,
    subject_href: Option<String>,
    title: String,
    figures: Vec<Figure>,
    links: Vec<LinkRow>,
    status: &'static str,
    status_label: &'static str,
    assigned_to: String,
    note: String,
    first_seen: String,
    last_seen: String,
    resolved: String,
    open: bool,
    assigned: bool,
}

#[derive(Template)]
#[template(path = "console/alerts.html")]
struct AlertsPage {
    nav: &'static str,
    csrf: String,
    user_id: String,
    statuses: Vec<Choice>,
    kinds: Vec<Choice>,
    markets: Vec<MarketChoice>,
    f: Filters,
    back: String,
    rows: Vec<Row>,
    total: u64,
    from: u64,
    to: u64,
    prev: Option<String>,
    next: Option<String>,
    done: Option<&'static str>,
}

fn status_label(s: AlertStatus) -> &'static str {
    match s {
        AlertStatus::New => "新预警",
        AlertStatus::Assigned => "已指派",
        AlertStatus::Resolved => "已处理",
    }
}

/// A figure's zh-CN name; unknown names are shown as they are. A price
/// warning's per-entry figures (`entry.{id}.price_fen`, `….baseline_median_fen`)
/// name their entry.
fn figure_name(name: &str) -> std::borrow::Cow<'static, str> {
    if let Some(rest) = name.strip_prefix("entry.") {
        if let Some(id) = rest.strip_suffix(".price_fen") {
            return format!("台账 {id} 单价（分）").into();
        }
        if let Some(id) = rest.strip_suffix(".baseline_median_fen") {
            return format!("台账 {id} 基线中位（分）").into();
        }
    }
    let zh = match name {
        "days_left" => "剩余天数",
        "notice_days" => "提醒天数",
        "days_expired" => "已过期天数",
        "entries_after_expiry" => "过期后台账笔数",
        "count" => "预警笔数",
        "window_days" => "统计窗口（天）",
        "outlying_entries" => "明显偏低笔数",
        "lowest_price_fen" => "最低单价（分）",
        "lowest_share_of_median" => "最低单价占基线中位比例",
        "baseline_median_fen" => "基线价格中位（分）",
        "baseline_mad_fen" => "基线价格MAD（分）",
        "threshold_fen" => "预警线（分）",
        "baseline_entries" => "基线笔数",
        "baseline_merchants" => "基线户数",
        "category_baseline" => "以品类为基线（1=是）",
        "max_share_of_median" => "比例门槛",
        "samples" => "抽检批次",
        "failures" => "不合格批次",
        "pass_rate" => "合格率",
        "baseline_failure_rate" => "基线不合格率",
        "p_value" => "p 值",
        "alpha" => "显著性水平",
        "samplings" => "抽检次数",
        "max" => "上限",
        "days_since_sampled" => "未抽检天数",
        "not_sampled_days" => "阈值（天）",
        "complaints" => "投诉件数",
        "min" => "阈值",
        "recent" => "近期件数",
        "before" => "此前件数",
        "expected" => "期望件数",
        _ => "其他",
    };
    zh.into()
}

fn figure_value(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else if v.abs() < 0.001 {
        format!("{v:.2e}")
    } else {
        format!("{v:.3}")
    }
}

fn link_label(t: LinkType) -> &'static str {
    match t {
        LinkType::Entry => "台账记录",
        LinkType::Sample => "抽检记录",
        LinkType::Complaint => "投诉",
        LinkType::Inspection => "检查记录",
        LinkType::Merchant => "经营户",
        LinkType::EntryCheck => "入场查验",
    }
}

fn time(t: chrono::DateTime<chrono::Utc>) -> String {
    let cst = chrono::FixedOffset::east_opt(8 * 3600).unwrap_or_else(|| chrono::Utc.fix());
    t.with_timezone(&cst).format("%Y-%m-%d %H:%M").to_string()
}

use chrono::Offset;

fn row(a: Alert) -> Row {
    let subject_href = match a.subject.kind {
        SubjectType::Merchant => Some(format!("/console/alerts?merchant_id={}", a.subject.id)),
        SubjectType::Market => Some(format!("/console/alerts?market_id={}", a.subject.id)),
        _ => None,
    };
    let links = a
        .evidence
        .links
        .into_iter()
        .map(|l| LinkRow {
            label: link_label(l.kind),
            href: (l.kind == LinkType::Merchant)
                .then(|| format!("/console/alerts?merchant_id={}", l.id)),
            id: l.id,
        })
        .collect();
    Row {
        kind: a.kind.as_str(),
        kind_label: a.kind.label_zh(),
        severity: a.severity.as_str(),
        severity_label: match a.severity {
            shian_core::warnings::Severity::High => "高",
            shian_core::warnings::Severity::Medium => "中",
            shian_core::warnings::Severity::Low => "低",
        },
        subject_label: match a.subject.kind {
            SubjectType::Merchant => "经营户",
            SubjectType::Market => "市场",
            SubjectType::Category => "品类",
            SubjectType::Product => "产品",
        },
        subject_name: a.subject.name,
        subject_href,
        title: a.title,
        figures: a
            .evidence
            .figures
            .iter()
            .map(|(k, v)| Figure {
                name: figure_name(k),
                value: figure_value(*v),
            })
            .collect(),
        links,
        status: a.status.as_str(),
        status_label: status_label(a.status),
        assigned_to: a.assigned_to.unwrap_or_default(),
        note: a.note.unwrap_or_default(),
        first_seen: time(a.first_seen_at),
        last_seen: time(a.last_seen_at),
        resolved: a.resolved_at.map(time).unwrap_or_default(),
        open: a.status != AlertStatus::Resolved,
        assigned: a.status == AlertStatus::Assigned,
        id: a.id,
    }
}

fn nonempty(s: &str) -> Option<String> {
    Some(s.trim().to_owned()).filter(|s| !s.is_empty())
}

async fn page(
    State(state): State<AppState>,
    analyst: Analyst,
    q: Result<Query<Filters>, axum::extract::rejection::QueryRejection>,
) -> Response {
    // A query that does not parse (an offset that is not a number) shows
    // the unfiltered list rather than an error.
    let f = q.map(|Query(f)| f).unwrap_or_default();
    let query = AlertQuery {
        status: nonempty(&f.status),
        kind: nonempty(&f.kind),
        market_id: nonempty(&f.market_id),
        merchant_id: nonempty(&f.merchant_id),
        limit: Some(PAGE),
        offset: Some(f.offset),
    };
    let filter = match filter(query) {
        Ok(x) => x,
        Err(e) => return error_page(e),
    };
    let list = match state.store.list_alerts(filter).await {
        Ok(l) => l,
        Err(e) => return error_page(e.into()),
    };
    let markets = match state.store.list_markets(1000, 0).await {
        Ok(m) => m.items,
        Err(e) => return error_page(e.into()),
    };
    let base = f.query();
    let amp = if base.is_empty() { "" } else { "&" };
    let offset = u64::from(f.offset);
    let shown = list.items.len() as u64;
    let prev = (f.offset > 0).then(|| {
        format!(
            "/console/alerts?{base}{amp}offset={}",
            f.offset.saturating_sub(PAGE)
        )
    });
    let next = (offset + shown < list.total).then(|| {
        format!(
            "/console/alerts?{base}{amp}offset={}",
            offset + u64::from(PAGE)
        )
    });
    let done = match f.done.as_str() {
        "assigned" => Some("已指派。"),
        "resolved" => Some("已处理，处理意见已记录。"),
        _ => None,
    };
    html(
        StatusCode::OK,
        &AlertsPage {
            nav: "alerts",
            csrf: analyst.csrf,
            user_id: analyst.user_id,
            statuses: AlertStatus::ALL
                .into_iter()
                .map(|s| Choice {
                    value: s.as_str(),
                    label: status_label(s),
                })
                .collect(),
            kinds: Kind::ALL
                .into_iter()
                .map(|k| Choice {
                    value: k.as_str(),
                    label: k.label_zh(),
                })
                .collect(),
            markets: markets
                .into_iter()
                .map(|m| MarketChoice {
                    id: m.id,
                    name: m.name,
                })
                .collect(),
            back: base,
            rows: list.items.into_iter().map(row).collect(),
            total: list.total,
            from: if shown == 0 { 0 } else { offset + 1 },
            to: offset + shown,
            prev,
            next,
            done,
            f,
        },
    )
}

/// An assign or resolve form.
#[derive(Debug, Default, Deserialize)]
struct StepForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    user_id: String,
    #[serde(default)]
    note: String,
    /// The list's filters to come back to (a query string).
    #[serde(default)]
    back: String,
}

/// The list's query string to come back to, if it is one (no open
/// redirect, no header injection: only the characters a query string of
/// these filters holds).
fn back_to(back: &str, done: &str) -> String {
    let safe = back
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"=&_-%.+".contains(&b));
    let base = if safe && !back.is_empty() {
        format!("{back}&")
    } else {
        String::new()
    };
    format!("/console/alerts?{base}done={done}")
}

async fn step(
    State(state): State<AppState>,
    analyst: Analyst,
    Path((id, step)): Path<(String, String)>,
    form: Result<Form<StepForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let f = form.map(|Form(f)| f).unwrap_or_default();
    if let Err(refused) = analyst.check_csrf(&f.csrf) {
        return refused;
    }
    let (action, done) = match step.as_str() {
        "assign" => {
            let user_id = nonempty(&f.user_id).unwrap_or_else(|| analyst.user_id.clone());
            (AlertAction::Assign { user_id }, "assigned")
        }
        "resolve" => match crate::reports::service::text(&f.note, "note", 1, 2000) {
            Ok(note) => (AlertAction::Resolve { note }, "resolved"),
            Err(e) => return error_page(e),
        },
        _ => return error_page(ApiError::not_found("操作")),
    };
    match state
        .store
        .act_on_alert(id, action, crate::store::now())
        .await
    {
        Ok(_) => {
            let to = HeaderValue::from_str(&back_to(&f.back, done))
                .unwrap_or(HeaderValue::from_static("/console/alerts"));
            (StatusCode::SEE_OTHER, [(header::LOCATION, to)]).into_response()
        }
        Err(StoreError::NotFound("用户")) => error_page(ApiError::unprocessable(
            "unknown_user",
            "该账号不存在或不能受理预警",
        )),
        Err(e) => error_page(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn back_keeps_only_a_query_string() {
        assert_eq!(
            back_to("status=new&kind=not_sampled", "assigned"),
            "/console/alerts?status=new&kind=not_sampled&done=assigned"
        );
        assert_eq!(back_to("", "resolved"), "/console/alerts?done=resolved");
        for evil in ["//evil.example/", "x\r\nSet-Cookie: a=b", "a=<b>"] {
            assert_eq!(
                back_to(evil, "resolved"),
                "/console/alerts?done=resolved",
                "{evil:?}"
            );
        }
    }
}
