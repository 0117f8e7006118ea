//! `/console/draws` (双随机抽查): the draws run so far, the form to run one
//! (the parameters of `POST /v1/draws`: name, published seed, regions,
//! categories, a total or a number per grade, the inspectors to pair, the
//! declared conflicts of interest), and `/console/draws/{id}` with its
//! tasks. The form runs the JSON route's own service
//! (`crate::field::draws::run_draw`), so the console checks and stores
//! exactly what the API would; a refused form stores nothing and comes back
//! with its values and the reason.
//!
//! Publication (一公开): a stored draw is public at once, with its seed,
//! the seed's hash, its parameters and tasks, at `/v1/public/draws/{id}`
//! (no login); the detail page links it so it can be posted or sent.

use std::collections::{BTreeMap, HashMap};

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use shian_core::category::Category;
use shian_core::inspection::RiskGrade;

use super::overview::grade_colour;
use super::{error_page, html, notice, Analyst};
use crate::errors::ApiError;
use crate::field::draws::{run_draw, ConflictIn, DrawRequest};
use crate::pages::render::local_time;
use crate::store::console::InspectorRow;
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console/draws", get(list).post(run))
        .route("/console/draws/{id}", get(one))
}

/// Draws listed, newest first.
const LISTED: u32 = 100;
/// Inspector accounts offered on the form.
const MAX_INSPECTORS: u32 = 2000;

/// What the form holds, as typed (echoed back when refused).
#[derive(Debug, Default)]
struct DrawForm {
    csrf: String,
    name: String,
    seed: String,
    regions: String,
    categories: Vec<String>,
    /// `count` or `per_grade`.
    quota: String,
    count: String,
    per_grade: [String; 4],
    inspectors: Vec<String>,
    conflicts: String,
}

impl DrawForm {
    /// The urlencoded body; repeated keys (the checkboxes) are kept.
    fn parse(body: &[u8]) -> DrawForm {
        let mut f = DrawForm::default();
        for (k, v) in form_urlencoded::parse(body) {
            let v = v.into_owned();
            match k.as_ref() {
                "csrf" => f.csrf = v,
                "name" => f.name = v,
                "seed" => f.seed = v,
                "regions" => f.regions = v,
                "category" => f.categories.push(v),
                "quota" => f.quota = v,
                "count" => f.count = v,
                "grade_A" => f.per_grade[0] = v,
                "grade_B" => f.per_grade[1] = v,
                "grade_C" => f.per_grade[2] = v,
                "grade_D" => f.per_grade[3] = v,
                "inspector" => f.inspectors.push(v),
                "conflicts" => f.conflicts = v,
                _ => {}
            }
        }
        f
    }

    /// The API request this form asks for; `Err` says what to correct.
    /// Conflicts are lines of `inspector merchant` (an inspector's username
    /// or id, then a merchant id).
    fn request(&self, inspectors: &[InspectorRow]) -> Result<DrawRequest, String> {
        let whole = |s: &str, what: &str| -> Result<Option<u64>, String> {
            let s = s.trim();
            if s.is_empty() {
                return Ok(None);
            }
            s.parse::<u64>()
                .map(Some)
                .map_err(|_| format!("{what}应为不小于 0 的整数"))
        };
        let (count, per_grade) = if self.quota == "per_grade" {
            let mut map = BTreeMap::new();
            for (g, v) in RiskGrade::ALL.iter().zip(&self.per_grade) {
                if let Some(n) = whole(v, &format!("{} 级抽取数", g.as_str()))? {
                    map.insert(g.as_str().to_owned(), n);
                }
            }
            (None, Some(map))
        } else {
            (Some(whole(&self.count, "抽取数")?.unwrap_or(0)), None)
        };
        let split = |s: &str| -> Vec<String> {
            s.split(|c: char| c.is_whitespace() || matches!(c, ',' | '，' | '、' | ';' | '；'))
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
                .collect()
        };
        let regions = split(&self.regions);
        let mut conflicts = Vec::new();
        for (i, line) in self.conflicts.lines().enumerate() {
            let parts = split(line);
            match parts.as_slice() {
                [] => {}
                [who, merchant] => {
                    let inspector = inspectors
                        .iter()
                        .find(|r| r.username.eq_ignore_ascii_case(who) || r.id == *who)
                        .map_or_else(|| who.clone(), |r| r.id.clone());
                    conflicts.push(ConflictIn {
                        inspector,
                        merchant: merchant.clone(),
                    });
                }
                _ => {
                    return Err(format!(
                        "回避关系第 {} 行应为「检查人员 经营户编号」两项",
                        i + 1
                    ))
                }
            }
        }
        Ok(DrawRequest {
            name: self.name.clone(),
            seed: self.seed.clone(),
            region_codes: (!regions.is_empty()).then_some(regions),
            categories: (!self.categories.is_empty()).then(|| self.categories.clone()),
            count,
            per_grade,
            inspectors: self.inspectors.clone(),
            conflicts,
        })
    }
}

struct DrawLine {
    id: String,
    name: String,
    created_at: String,
    created_by: String,
    pool_size: u64,
    tasks: u64,
    /// The hash's first 16 hex digits (the list's column).
    seed_hash: String,
}

struct InspectorChoice {
    id: String,
    username: String,
    regions: String,
    checked: bool,
}

#[derive(Template)]
#[template(path = "console/draws.html")]
struct DrawsPage {
    nav: &'static str,
    csrf: String,
    draws: Vec<DrawLine>,
    total: u64,
    error: Option<String>,
    form: DrawForm,
    categories: Vec<(&'static str, &'static str, bool)>,
    inspectors: Vec<InspectorChoice>,
    grades: Vec<(&'static str, String)>,
}

/// The list and the form, with `error` and the typed values when a run
/// was refused.
async fn render(
    state: &AppState,
    analyst: Analyst,
    status: StatusCode,
    error: Option<String>,
    form: DrawForm,
) -> Response {
    let (draws, total) = match state.store.list_draws(LISTED).await {
        Ok(d) => d,
        Err(e) => return error_page(e.into()),
    };
    let inspectors = match state.store.list_inspectors(MAX_INSPECTORS).await {
        Ok(i) => i,
        Err(e) => return error_page(e.into()),
    };
    let draws = draws
        .into_iter()
        .map(|d| DrawLine {
            id: d.id,
            name: d.name,
            created_at: local_time(d.created_at),
            created_by: d.created_by,
            pool_size: d.pool_size,
            tasks: d.tasks,
            seed_hash: d.seed_hash.get(..16).unwrap_or(&d.seed_hash).to_owned(),
        })
        .collect();
    let categories = Category::ALL
        .into_iter()
        .map(|c| {
            (
                c.as_str(),
                c.zh(),
                form.categories.iter().any(|f| f == c.as_str()),
            )
        })
        .collect();
    let inspectors = inspectors
        .into_iter()
        .map(|i| InspectorChoice {
            checked: form.inspectors.contains(&i.id),
            id: i.id,
            username: i.username,
            regions: i.regions.join("、"),
        })
        .collect();
    let grades = RiskGrade::ALL
        .iter()
        .zip(&form.per_grade)
        .map(|(g, v)| (g.as_str(), v.clone()))
        .collect();
    html(
        status,
        &DrawsPage {
            nav: "draws",
            csrf: analyst.csrf.clone(),
            draws,
            total,
            error,
            form,
            categories,
            inspectors,
            grades,
        },
    )
}

async fn list(State(state): State<AppState>, analyst: Analyst) -> Response {
    let form = DrawForm {
        quota: "count".to_owned(),
        ..DrawForm::default()
    };
    render(&state, analyst, StatusCode::OK, None, form).await
}

/// `POST /console/draws`: the anti-forgery token first, then the draw.
async fn run(State(state): State<AppState>, analyst: Analyst, body: Bytes) -> Response {
    let form = DrawForm::parse(&body);
    if let Err(refused) = analyst.check_csrf(&form.csrf) {
        return refused;
    }
    let inspectors = match state.store.list_inspectors(MAX_INSPECTORS).await {
        Ok(i) => i,
        Err(e) => return error_page(e.into()),
    };
    let req = match form.request(&inspectors) {
        Ok(r) => r,
        Err(message) => {
            return render(
                &state,
                analyst,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(message),
                form,
            )
            .await
        }
    };
    match run_draw(&state, analyst.auth.clone(), req).await {
        Ok(created) => match HeaderValue::from_str(&format!("/console/draws/{}", created.id)) {
            Ok(to) => (StatusCode::SEE_OTHER, [(header::LOCATION, to)]).into_response(),
            Err(e) => ApiError::internal(e).into_response(),
        },
        Err(e) if e.status.is_server_error() => e.into_response(),
        Err(e) => {
            let status = e.status;
            render(&state, analyst, status, Some(e.message), form).await
        }
    }
}

struct TaskLine {
    merchant_id: String,
    merchant_name: String,
    grade: &'static str,
    colour: &'static str,
    inspectors: String,
}

#[derive(Template)]
#[template(path = "console/draw.html")]
struct DrawPage {
    nav: &'static str,
    csrf: String,
    id: String,
    name: String,
    seed: String,
    seed_hash: String,
    algorithm: String,
    pool_size: u64,
    params: String,
    created_at: String,
    tasks: Vec<TaskLine>,
}

async fn one(State(state): State<AppState>, analyst: Analyst, Path(id): Path<String>) -> Response {
    let draw = match state.store.draw(id).await {
        Ok(Some(d)) => d,
        Ok(None) => {
            return notice(
                StatusCode::NOT_FOUND,
                "查无此抽查",
                "没有这次抽查。请从双随机抽查列表进入。",
            )
        }
        Err(e) => return error_page(e.into()),
    };
    let names: HashMap<String, String> = match state.store.list_inspectors(MAX_INSPECTORS).await {
        Ok(i) => i.into_iter().map(|i| (i.id, i.username)).collect(),
        Err(e) => return error_page(e.into()),
    };
    let tasks = draw
        .tasks
        .into_iter()
        .map(|t| TaskLine {
            grade: t.grade.as_str(),
            colour: grade_colour(t.grade),
            inspectors: t
                .inspectors
                .iter()
                .map(|i| names.get(i).cloned().unwrap_or_else(|| i.clone()))
                .collect::<Vec<_>>()
                .join("、"),
            merchant_id: t.merchant_id,
            merchant_name: t.merchant_name,
        })
        .collect();
    html(
        StatusCode::OK,
        &DrawPage {
            nav: "draws",
            csrf: analyst.csrf,
            id: draw.id,
            name: draw.name,
            seed: draw.seed,
            seed_hash: draw.seed_hash,
            algorithm: draw.algorithm,
            pool_size: draw.pool_size,
            params: serde_json::to_string_pretty(&draw.params).unwrap_or_default(),
            created_at: local_time(draw.created_at),
            tasks,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inspectors() -> Vec<InspectorRow> {
        vec![InspectorRow {
            id: "u-wang".into(),
            username: "insp_wang".into(),
            regions: vec!["350203".into()],
        }]
    }

    #[test]
    fn the_form_becomes_the_api_request() {
        let body = "csrf=t&name=%E5%8F%8C%E9%9A%8F%E6%9C%BA&seed=s1&regions=350203%EF%BC%8C350206\
                    &category=aquatic&category=frozen&quota=per_grade&grade_C=2&grade_D=3\
                    &inspector=u-wang&inspector=u-li&conflicts=insp_wang+m1%0D%0A%0D%0Au-li+m2";
        let f = DrawForm::parse(body.as_bytes());
        assert_eq!(f.csrf, "t");
        let r = f.request(&inspectors()).unwrap();
        assert_eq!(r.name, "双随机");
        assert_eq!(r.region_codes.unwrap(), ["350203", "350206"]);
        assert_eq!(r.categories.unwrap(), ["aquatic", "frozen"]);
        assert_eq!(r.count, None);
        let pg = r.per_grade.unwrap();
        assert_eq!((pg["C"], pg["D"], pg.len()), (2, 3, 2));
        assert_eq!(r.inspectors, ["u-wang", "u-li"]);
        let c: Vec<(&str, &str)> = r
            .conflicts
            .iter()
            .map(|c| (c.inspector.as_str(), c.merchant.as_str()))
            .collect();
        assert_eq!(c, [("u-wang", "m1"), ("u-li", "m2")]);
    }

    #[test]
    fn a_bad_number_or_conflict_line_is_explained() {
        let f = DrawForm::parse(b"quota=count&count=-1");
        assert!(f.request(&[]).unwrap_err().contains("整数"));
        let f = DrawForm::parse(b"quota=count&count=2&conflicts=only-one");
        assert!(f.request(&[]).unwrap_err().contains("第 1 行"));
        let f = DrawForm::parse(b"quota=count&count=");
        assert_eq!(f.request(&[]).unwrap().count, Some(0));
    }
}
