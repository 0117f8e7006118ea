//! `GET /v1/checklists`: the checklist templates this server evaluates
//! against. They are core's built-in, versioned JSON files, so what the
//! console shows, what a phone evaluates offline and what the server re-checks
//! are the same items in the same version.

use serde::Serialize;
use shian_core::inspection::{Template, TemplateRegistry};

use crate::auth::Auth;
use crate::errors::{ApiError, ErrorResponse};
use crate::extract::Json;

/// `{templates:[…]}`.
#[derive(Debug, Serialize)]
pub struct ChecklistList {
    pub templates: Vec<Template>,
}

/// The checklist templates (every version), for any logged-in role.
#[utoipa::path(
    get, path = "/v1/checklists", tag = "field", security(("bearer" = [])),
    responses(
        (status = 200, description = "{templates:[{id, version, title, business_type, source, items:[{id, kind: key|general, section, text, basis, answer:{type: yes_no|number|photo, min?, max?, unit?}, allow_not_applicable}]}]}", body = Object),
        (status = 401, body = ErrorResponse),
    )
)]
pub async fn list_checklists(_auth: Auth) -> Result<Json<ChecklistList>, ApiError> {
    let registry = TemplateRegistry::builtin().map_err(ApiError::internal)?;
    Ok(Json(ChecklistList {
        templates: registry.list().to_vec(),
    }))
}
