//! The service's OpenAPI document, served at `/openapi.json` and merged by the gateway.

use axum::{Json, Router, routing::get};
use utoipa::{
    Modify, OpenApi,
    openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
};

use couple_common::openapi::StandardResponses;

use super::{couples, internal, users};

/// The document.
#[derive(OpenApi)]
#[openapi(
    info(title = "User-Couple service", description = "Accounts, sessions and couple matching."),
    paths(
        users::signup, users::login, users::refresh, users::logout, users::me, users::update_me, users::delete_me, users::change_password,
        couples::create_match_code, couples::accept_match, couples::my_couple, couples::update_couple, couples::break_up,
        couples::members, couples::home, internal::token_version,
    ),
    modifiers(&BearerAuth, &StandardResponses),
    tags((name = "users", description = "Accounts and sessions"), (name = "couples", description = "Matching and the couple"),
        (name = "internal", description = "Service-to-service; never routed by the gateway")),
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build()),
        );
    }
}

pub fn router() -> Router {
    let doc = ApiDoc::openapi();
    Router::new().route("/openapi.json", get(move || std::future::ready(Json(doc.clone()))))
}
