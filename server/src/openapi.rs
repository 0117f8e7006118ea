//! The OpenAPI document served at `/openapi.json`.
//!
//! Paths are not listed here: each handler carries its `#[utoipa::path]` and
//! is registered with `utoipa_axum::routes!` in [`crate::api_router`], which
//! adds the route and its documentation together, so the document cannot
//! list a route that does not exist or miss one that does.

use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::errors::{ErrorBody, ErrorResponse};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Shian (食安) API",
        description = "Food-safety supervision: registry, ledgers, sync, trace, recalls. \
                       Errors are always {\"error\":{\"code\",\"message\",\"field\"}}.",
    ),
    components(schemas(ErrorResponse, ErrorBody)),
    modifiers(&BearerAuth),
    tags(
        (name = "auth", description = "Login and devices"),
        (name = "registry", description = "Markets and merchants"),
        (name = "keys", description = "Public keys for offline verification"),
        (name = "ops", description = "Health and metrics"),
    )
)]
pub struct ApiDoc;

/// Declares the `bearer` scheme that protected operations name.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let mut http = Http::new(HttpAuthScheme::Bearer);
        http.bearer_format = Some("JWT".to_owned());
        components.add_security_scheme("bearer", SecurityScheme::Http(http));
    }
}
