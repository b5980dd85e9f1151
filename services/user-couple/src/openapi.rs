//! The service's OpenAPI document, served at `/openapi.json` (with the shared error bodies,
//! bearer scheme and standard responses added by `server::app`) and merged by the gateway.

use utoipa::OpenApi;

use crate::{couples::http as couples, internal, users::http as users};

/// The document.
#[derive(OpenApi)]
#[openapi(
    info(title = "User-Couple service", description = "Accounts, sessions and couple matching."),
    paths(
        users::signup, users::login, users::refresh, users::logout, users::me, users::update_me, users::delete_me, users::change_password,
        couples::create_match_code, couples::accept_match, couples::my_couple, couples::update_couple, couples::break_up,
        couples::members, couples::home, internal::token_version, internal::couple,
    ),
    tags((name = "users", description = "Accounts and sessions"), (name = "couples", description = "Matching and the couple"),
        (name = "internal", description = "Service-to-service; never routed by the gateway")),
)]
pub struct ApiDoc;
