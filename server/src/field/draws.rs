//! The double random draw (双随机、一公开): `POST /v1/draws` and its
//! publication `GET /v1/public/draws/{id}`.
//!
//! The draw itself is core's pure `draw()` (algorithm `shian-draw-v1`), so
//! anyone holding the published inputs re-runs it and gets the same tasks.
//! The server only assembles the pool from the registry (every merchant with
//! its current risk grade, its region, categories and last inspectors),
//! checks the inspector accounts, stores the result and sends each task to
//! the phones of its two inspectors through the change feed.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use shian_core::category::Category;
use shian_core::inspection::{draw, DrawConflict, DrawInput, DrawMerchant, DrawQuota, RiskGrade};
use utoipa::ToSchema;

use crate::auth::Auth;
use crate::errors::{ApiError, ErrorResponse};
use crate::extract::{Json, Path};
use crate::field::risk::{graded, parse_grade, ANALYSTS};
use crate::store::field::{NewDraw, StoredDrawTask};
use crate::{validate, AppState};

/// Most inspectors, conflicts or filter values in one request (keeps a
/// request from feeding the draw unbounded lists).
const MAX_LIST: usize = 10_000;

/// A declared conflict of interest: the inspector recuses from the merchant.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConflictIn {
    /// Inspector user id.
    pub inspector: String,
    /// Merchant id.
    pub merchant: String,
}

/// A draw request: exactly one of `count` and `per_grade`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DrawRequest {
    #[schema(value_type = crate::openapi::wire::Name)]
    pub name: String,
    /// Published before the draw; the same seed over the same pool gives the
    /// same tasks.
    #[schema(value_type = crate::openapi::wire::Text256)]
    pub seed: String,
    /// GB/T 2260 codes; `350000` a province, `350200` a prefecture.
    #[schema(value_type = Option<Vec<crate::openapi::wire::RegionCode>>, max_items = 10000)]
    pub region_codes: Option<Vec<String>>,
    /// Ledger category codes or names.
    #[schema(value_type = Option<Vec<crate::openapi::wire::Category>>, max_items = 10000)]
    pub categories: Option<Vec<String>>,
    /// Merchants in total, spread over the grades in proportion.
    #[schema(minimum = 0, maximum = 18446744073709551615_u64)]
    #[serde(default, deserialize_with = "count::optional")]
    pub count: Option<u64>,
    /// Merchants per grade, e.g. `{"C": 2, "D": 3}`.
    #[schema(value_type = Option<crate::openapi::wire::PerGrade>)]
    #[serde(default, deserialize_with = "count::per_grade")]
    pub per_grade: Option<BTreeMap<String, u64>>,
    /// Inspector user ids to draw pairs from (at least two).
    #[schema(value_type = Vec<crate::openapi::wire::Text128>, max_items = 10000)]
    pub inspectors: Vec<String>,
    #[serde(default)]
    pub conflicts: Vec<ConflictIn>,
}

/// Counts as JSON Schema reads an `integer`: any number with no fraction,
/// so `2.0` is 2 (serde's `u64` refuses it, and the OpenAPI document
/// promises an integer, not a token without a point).
mod count {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Deserializer};

    /// A count: a non-negative integer, written with or without a fraction
    /// of zero.
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Number {
        Int(u64),
        Float(f64),
    }

    fn whole<E: serde::de::Error>(n: Number) -> Result<u64, E> {
        match n {
            Number::Int(n) => Ok(n),
            // Below 2^64 (u64::MAX as f64 rounds up to 2^64), so `as` is exact.
            Number::Float(f)
                if f.fract() == 0.0 && (0.0..18_446_744_073_709_551_616.0).contains(&f) =>
            {
                Ok(f as u64)
            }
            Number::Float(f) => Err(E::custom(format!(
                "invalid value: {f}, expected a non-negative integer"
            ))),
        }
    }

    pub fn optional<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
        Option::<Number>::deserialize(d)?.map(whole).transpose()
    }

    pub fn per_grade<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<BTreeMap<String, u64>>, D::Error> {
        let Some(map) = Option::<BTreeMap<String, Number>>::deserialize(d)? else {
            return Ok(None);
        };
        map.into_iter()
            .map(|(k, v)| whole::<D::Error>(v).map(|v| (k, v)))
            .collect::<Result<_, _>>()
            .map(Some)
    }
}

/// One drawn inspection.
#[derive(Debug, Serialize, ToSchema)]
pub struct DrawTaskOut {
    pub task_id: String,
    pub merchant_id: String,
    #[schema(value_type = String)]
    pub grade: RiskGrade,
    /// Two inspector user ids, sorted.
    pub inspectors: Vec<String>,
}

/// The stored draw.
#[derive(Debug, Serialize, ToSchema)]
pub struct DrawCreated {
    pub id: String,
    pub name: String,
    pub seed: String,
    /// SHA-256 of the seed (lowercase hex).
    pub seed_hash: String,
    pub algorithm: String,
    /// Merchants in the pool after the filters.
    pub pool_size: u64,
    pub tasks: Vec<DrawTaskOut>,
}

/// A published task, with the merchant's name.
#[derive(Debug, Serialize, ToSchema)]
pub struct PublicDrawTask {
    pub merchant_id: String,
    pub merchant_name: String,
    #[schema(value_type = String)]
    pub grade: RiskGrade,
    pub inspectors: Vec<String>,
}

/// What `GET /v1/public/draws/{id}` publishes.
#[derive(Debug, Serialize, ToSchema)]
pub struct PublicDraw {
    pub id: String,
    pub name: String,
    pub seed: String,
    pub seed_hash: String,
    pub algorithm: String,
    pub pool_size: u64,
    /// Filters, quota, inspectors and conflicts the draw ran with.
    #[schema(value_type = Object)]
    pub params: serde_json::Value,
    pub created_at: DateTime<Utc>,
    pub tasks: Vec<PublicDrawTask>,
}

fn check_text(s: &str, field: &str, max: usize) -> Result<String, ApiError> {
    let t = s.trim();
    if t.is_empty() || t.chars().count() > max || t.chars().any(char::is_control) {
        return Err(ApiError::invalid(
            field,
            "invalid_field",
            format!("{field} 应为 1–{max} 个字符且不含控制字符"),
        ));
    }
    Ok(t.to_owned())
}

/// Run a double random draw (analysts and admins) and send its tasks to the
/// inspectors' phones.
#[utoipa::path(
    post, path = "/v1/draws", tag = "field", request_body = DrawRequest, security(("bearer" = [])),
    responses(
        (status = 201, body = DrawCreated),
        (status = 400, body = ErrorResponse), (status = 401, body = ErrorResponse), (status = 403, body = ErrorResponse),
        (status = 422, description = "not_enough_inspectors, unknown_inspector, draw_exceeds_pool", body = ErrorResponse),
    )
)]
pub async fn create_draw(
    State(state): State<AppState>,
    auth: Auth,
    Json(req): Json<DrawRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let created = run_draw(&state, auth, req).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// Runs and stores a draw: what `POST /v1/draws` and the console's draw
/// form do. Nothing is stored unless every check passes.
pub(crate) async fn run_draw(
    state: &AppState,
    auth: Auth,
    req: DrawRequest,
) -> Result<DrawCreated, ApiError> {
    auth.require(ANALYSTS)?;
    let name = validate::validate_name(&req.name, "name")?;
    let seed = check_text(&req.seed, "seed", 256)?;
    let quota = match (req.count, req.per_grade) {
        (Some(n), None) => DrawQuota::Count(n),
        (None, Some(map)) => {
            let mut q = BTreeMap::new();
            for (k, v) in map {
                let g = parse_grade(&k).ok_or_else(|| {
                    ApiError::invalid(
                        format!("per_grade.{k}"),
                        "invalid_field",
                        "风险等级应为 A、B、C 或 D",
                    )
                })?;
                q.insert(g, v);
            }
            DrawQuota::PerGrade(q)
        }
        _ => {
            return Err(ApiError::invalid(
                "count",
                "invalid_quota",
                "count 与 per_grade 须且只能填写一项",
            ));
        }
    };
    if req.inspectors.len() > MAX_LIST || req.conflicts.len() > MAX_LIST {
        return Err(ApiError::invalid(
            "inspectors",
            "too_many",
            format!("检查人员与回避关系各不超过 {MAX_LIST} 条"),
        ));
    }
    let mut inspectors: Vec<String> = Vec::with_capacity(req.inspectors.len());
    for (i, id) in req.inspectors.iter().enumerate() {
        let id = check_text(id, &format!("inspectors[{i}]"), 128)?;
        if !inspectors.contains(&id) {
            inspectors.push(id);
        }
    }
    if inspectors.len() < 2 {
        return Err(ApiError::unprocessable(
            "not_enough_inspectors",
            format!(
                "可派检查人员仅 {} 人，每项检查至少需要 2 人",
                inspectors.len()
            ),
        )
        .at("inspectors"));
    }
    let known = state.store.existing_inspectors(inspectors.clone()).await?;
    if let Some((i, id)) = req
        .inspectors
        .iter()
        .enumerate()
        .find(|(_, id)| !known.iter().any(|(k, _)| k == id.trim()))
    {
        return Err(ApiError::unprocessable(
            "unknown_inspector",
            format!("{id} 不是平台登记的监管人员账号"),
        )
        .at(format!("inspectors[{i}]")));
    }
    let region_codes = match req.region_codes {
        None => None,
        Some(rs) if rs.len() > MAX_LIST => {
            return Err(ApiError::invalid(
                "region_codes",
                "too_many",
                "行政区划过多",
            ));
        }
        Some(rs) => Some(
            rs.iter()
                .enumerate()
                .map(|(i, r)| {
                    validate::validate_region_code(r, &format!("region_codes[{i}]"))
                        .map_err(ApiError::from)
                })
                .collect::<Result<Vec<_>, _>>()?,
        ),
    };
    let categories = match req.categories {
        None => None,
        Some(cs) => {
            let mut out = Vec::with_capacity(cs.len());
            for (i, c) in cs.iter().enumerate().take(Category::ALL.len() * 4) {
                let code = validate::parse_category(c, &format!("categories[{i}]"))?;
                if let Some(cat) = Category::parse(code) {
                    out.push(cat);
                }
            }
            Some(out)
        }
    };
    let conflicts: Vec<DrawConflict> = req
        .conflicts
        .iter()
        .map(|c| DrawConflict {
            inspector: c.inspector.trim().to_owned(),
            merchant: c.merchant.trim().to_owned(),
        })
        .collect();

    let pool: Vec<DrawMerchant> = graded(state)
        .await?
        .into_iter()
        .map(|(r, a)| DrawMerchant {
            id: r.merchant_id,
            grade: a.grade,
            region: r.region_code,
            categories: r.categories,
            last_inspectors: r.last_inspectors,
        })
        .collect();
    let input = DrawInput {
        seed: seed.clone(),
        pool,
        inspectors,
        conflicts,
        region_codes,
        categories,
        quota,
    };
    // Pure but proportional to the pool: off the async workers.
    let (input, out) = tokio::task::spawn_blocking(move || {
        let out = draw(&input);
        (input, out)
    })
    .await
    .map_err(ApiError::internal)?;
    let out = out.map_err(|e| super::api_error(&e))?;

    let mut sorted_inspectors = input.inspectors.clone();
    sorted_inspectors.sort();
    let mut params = json!({
        "region_codes": input.region_codes,
        "categories": input.categories,
        "inspectors": sorted_inspectors,
        "conflicts": input.conflicts,
    });
    if let (Some(obj), Ok(serde_json::Value::Object(q))) =
        (params.as_object_mut(), serde_json::to_value(&input.quota))
    {
        obj.extend(q);
    }
    let id = uuid::Uuid::now_v7().to_string();
    let tasks: Vec<(String, shian_core::inspection::DrawTask)> = out
        .tasks
        .into_iter()
        .map(|t| (uuid::Uuid::now_v7().to_string(), t))
        .collect();
    let response = DrawCreated {
        id: id.clone(),
        name: name.clone(),
        seed: seed.clone(),
        seed_hash: out.seed_hash.clone(),
        algorithm: out.algorithm.clone(),
        pool_size: out.pool_size,
        tasks: tasks
            .iter()
            .map(|(tid, t)| DrawTaskOut {
                task_id: tid.clone(),
                merchant_id: t.merchant_id.clone(),
                grade: t.grade,
                inspectors: t.inspectors.to_vec(),
            })
            .collect(),
    };
    state
        .store
        .create_draw(NewDraw {
            id,
            name,
            seed,
            seed_hash: out.seed_hash,
            algorithm: out.algorithm,
            pool_size: out.pool_size,
            params,
            tasks,
            created_by: auth.user_id,
            created_at: crate::store::now(),
        })
        .await?;
    Ok(response)
}

/// A draw as published: anyone may read it (一公开), no login.
#[utoipa::path(
    get, path = "/v1/public/draws/{id}", tag = "field",
    params(("id" = crate::openapi::wire::Id, Path, description = "draw id")),
    responses((status = 200, body = PublicDraw), (status = 404, body = ErrorResponse))
)]
pub async fn public_draw(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<PublicDraw>, ApiError> {
    let id = validate::validate_id(&id, "id")?;
    let d = state
        .store
        .draw(id)
        .await?
        .ok_or_else(|| ApiError::not_found("抽查记录"))?;
    Ok(Json(PublicDraw {
        id: d.id,
        name: d.name,
        seed: d.seed,
        seed_hash: d.seed_hash,
        algorithm: d.algorithm,
        pool_size: d.pool_size,
        params: d.params,
        created_at: d.created_at,
        tasks: d
            .tasks
            .into_iter()
            .map(|t: StoredDrawTask| PublicDrawTask {
                merchant_id: t.merchant_id,
                merchant_name: t.merchant_name,
                grade: t.grade,
                inspectors: t.inspectors,
            })
            .collect(),
    }))
}
