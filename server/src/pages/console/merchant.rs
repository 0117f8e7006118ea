//! `/console/merchants/{id}`: one merchant as a regulator sees it: the
//! registry record, its risk grade with the facts it came from (graded by
//! core's `RiskGrader` exactly as `GET /v1/risk/merchants`), its recent
//! inspections and samples, the ledger warnings of the risk period by kind,
//! and the batches it received with links to their trace views; export
//! buttons for its ledger (POST forms to `/console/exports`).

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use chrono::Utc;
use shian_core::category::Category;
use shian_core::inspection::{InspectionResult, LedgerWarningKind, RiskGrader, SampleOutcome};

use super::overview::grade_colour;
use super::{error_page, html, notice, Analyst};
use crate::errors::ApiError;
use crate::pages::render::local_time_str;
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/console/merchants/{id}", get(page))
}

/// How many of each recent list the page shows.
const RECENT: u32 = 20;

/// 中文 of a ledger warning kind (the names of core's doc comments).
pub(super) fn ledger_kind_zh(k: LedgerWarningKind) -> &'static str {
    match k {
        LedgerWarningKind::SaleExceedsStock => "销售超过结存（来源不明）",
        LedgerWarningKind::SoldAfterExpiry => "销售超过保质期的食品",
        LedgerWarningKind::MissingCertificate => "进货缺少合格证明",
        LedgerWarningKind::ExpiredOnReceipt => "进货时已超过保质期",
        LedgerWarningKind::DisposeExceedsStock => "处置数量超过结存",
        LedgerWarningKind::NegativeStock => "盘点调整后库存为负",
        LedgerWarningKind::VoucherQuantityMismatch => "收货数量与上市凭证不一致",
    }
}

/// A stored snake_case enum value's 中文 label, or the value itself.
fn label<T: serde::de::DeserializeOwned>(value: &str, zh: fn(T) -> &'static str) -> String {
    serde_json::from_value::<T>(serde_json::Value::String(value.to_owned()))
        .map(|v| zh(v).to_owned())
        .unwrap_or_else(|_| value.to_owned())
}

struct Grade {
    grade: &'static str,
    colour: &'static str,
    score: f64,
    static_score: f64,
    dynamic_score: f64,
    per_year: u8,
    due: u8,
    rules_version: u32,
    period_days: u32,
}

/// The facts the grade weighed, as lines of the page.
struct Fact {
    what: &'static str,
    value: String,
}

struct InspectionLine {
    id: String,
    result: String,
    bad: bool,
    template: String,
    finished_at: String,
}

struct SampleLine {
    item: String,
    method: &'static str,
    reading: String,
    outcome: String,
    bad: bool,
    trace_code: Option<String>,
    taken_at: String,
}

struct BatchLine {
    trace_code: String,
    product_name: String,
    at: String,
}

#[derive(Template)]
#[template(path = "console/merchant.html")]
struct MerchantPage {
    nav: &'static str,
    csrf: String,
    id: String,
    name: String,
    uscc: String,
    licence_no: String,
    licence_expiry: String,
    business_type: String,
    categories: String,
    stall: String,
    contact: String,
    region_code: String,
    market: Option<(String, String)>,
    shop_code: String,
    grade: Option<Grade>,
    facts: Vec<Fact>,
    ledger: Vec<(&'static str, u16)>,
    ledger_total: u16,
    inspections: Vec<InspectionLine>,
    samples: Vec<SampleLine>,
    batches: Vec<BatchLine>,
}

async fn page(State(state): State<AppState>, analyst: Analyst, Path(id): Path<String>) -> Response {
    let merchant = match state.store.merchant(id.clone()).await {
        Ok(Some(m)) => m,
        Ok(None) => {
            return notice(
                StatusCode::NOT_FOUND,
                "查无此经营户",
                "没有这个经营户。请从搜索或风险地图进入。",
            )
        }
        Err(e) => return error_page(e.into()),
    };
    let grader = match RiskGrader::builtin() {
        Ok(g) => g,
        Err(e) => return error_page(ApiError::internal(e)),
    };
    let period_days = grader.rules().dynamic.period_days;
    let facts = match state
        .store
        .merchant_risk_facts(merchant.id.clone(), Utc::now(), period_days)
        .await
    {
        Ok(f) => f,
        Err(e) => return error_page(e.into()),
    };
    let record = match state
        .store
        .merchant_record(merchant.id.clone(), RECENT)
        .await
    {
        Ok(r) => r,
        Err(e) => return error_page(e.into()),
    };
    let market = match &merchant.market_id {
        Some(mid) => match state.store.market(mid.clone()).await {
            Ok(m) => Some((mid.clone(), m.map_or_else(|| mid.clone(), |m| m.name))),
            Err(e) => return error_page(e.into()),
        },
        None => None,
    };
    let (grade, fact_lines, ledger, ledger_total) = match &facts {
        Some(row) => {
            let a = grader.grade(&row.facts);
            let f = &row.facts;
            let grade = Grade {
                grade: a.grade.as_str(),
                colour: grade_colour(a.grade),
                score: a.score,
                static_score: a.static_score,
                dynamic_score: a.dynamic_score,
                per_year: a.inspections_per_year,
                due: a.inspections_due,
                rules_version: grader.rules().version,
                period_days,
            };
            let fact = |what, value: String| Fact { what, value };
            let lines = vec![
                fact(
                    "检查结果（符合 / 基本符合 / 不符合）",
                    format!(
                        "{} / {} / {}",
                        f.inspections_compliant,
                        f.inspections_basically_compliant,
                        f.inspections_non_compliant
                    ),
                ),
                fact("实验室确证不合格", f.confirmed_test_failures.to_string()),
                fact("计入评级的投诉", f.complaints.to_string()),
                fact(
                    "台账（条目 / 进货 / 销售）",
                    format!(
                        "{} / {} / {}",
                        f.ledger.entries, f.ledger.purchases, f.ledger.sales
                    ),
                ),
                fact("本年已检查", f.inspections_this_year.to_string()),
                fact(
                    "新开业",
                    if f.new_operator { "是" } else { "否" }.to_owned(),
                ),
            ];
            let ledger = LedgerWarningKind::ALL
                .into_iter()
                .map(|k| (ledger_kind_zh(k), f.ledger.warnings(k)))
                .collect();
            (Some(grade), lines, ledger, f.ledger_warnings)
        }
        None => (None, Vec::new(), Vec::new(), 0),
    };
    let inspections = record
        .inspections
        .into_iter()
        .map(|i| InspectionLine {
            bad: i.result == InspectionResult::NonCompliant.as_str(),
            result: label(&i.result, InspectionResult::label_zh),
            id: i.id,
            template: i.template,
            finished_at: local_time_str(&i.finished_at),
        })
        .collect();
    let samples = record
        .samples
        .into_iter()
        .map(|s| SampleLine {
            bad: s.outcome == "failed_confirmed" || s.outcome == "positive_unconfirmed",
            outcome: label(&s.outcome, SampleOutcome::label_zh),
            method: if s.method == "lab" {
                "实验室"
            } else {
                "快检"
            },
            reading: format!("{} {}（限值 {}）", s.value, s.unit, s.limit_value),
            item: s.item,
            trace_code: s.trace_code,
            taken_at: local_time_str(&s.taken_at),
        })
        .collect();
    let batches = record
        .batches
        .into_iter()
        .map(|b| BatchLine {
            trace_code: b.trace_code,
            product_name: b.product_name,
            at: local_time_str(&b.at),
        })
        .collect();
    let categories = merchant
        .categories
        .iter()
        .map(|c| Category::parse(c).map_or(c.clone(), |c| c.zh().to_owned()))
        .collect::<Vec<_>>()
        .join("、");
    html(
        StatusCode::OK,
        &MerchantPage {
            nav: "",
            csrf: analyst.csrf,
            id: merchant.id,
            name: merchant.name,
            uscc: merchant.uscc,
            licence_no: merchant.licence_no.unwrap_or_default(),
            licence_expiry: merchant
                .licence_expiry
                .map(|d| d.to_string())
                .unwrap_or_default(),
            business_type: merchant.business_type.unwrap_or_default(),
            categories,
            stall: merchant.stall.unwrap_or_default(),
            contact: merchant.contact.unwrap_or_default(),
            region_code: merchant.region_code,
            market,
            shop_code: merchant.shop_code,
            grade,
            facts: fact_lines,
            ledger,
            ledger_total,
            inspections,
            samples,
            batches,
        },
    )
}
