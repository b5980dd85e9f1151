//! `/internal/*`: service-to-service calls, authenticated by the shared internal token. The
//! gateway never routes these paths.

use std::sync::Arc;

use axum::{
    Router,
    extract::{Path, State},
    routing::get,
};
use couple_common::{ApiError, ApiResponse, InternalCaller};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{
    AppState,
    couples::{Couples, dto::CoupleForService},
    error::Result,
    sessions::Sessions,
};

/// `GET /internal/users/{id}/token-version`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenVersion {
    /// User id.
    pub user_id: Uuid,
    /// Tokens carrying a lower `ver` are revoked.
    pub token_version: i64,
}

pub fn router() -> Router<AppState> {
    Router::new().route("/internal/users/{id}/token-version", get(token_version)).route("/internal/couples/{id}", get(couple))
}

fn parse_id(raw: &str, what: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| ApiError::bad_request(format!("the {what} id must be a UUID")))
}

/// A user's current token version, for the gateway's revocation check.
#[utoipa::path(get, path = "/internal/users/{id}/token-version", tag = "internal",
    params(("id" = Uuid, Path, description = "user id"), ("x-internal-token" = String, Header, description = "shared internal token")),
    responses((status = 200, body = ApiResponse<TokenVersion>), (status = 400, description = "the id is not a UUID"),
        (status = 401, description = "no valid internal token"), (status = 404, description = "no such user")))]
pub async fn token_version(
    _: InternalCaller,
    State(sessions): State<Arc<Sessions>>,
    Path(id): Path<String>,
) -> Result<ApiResponse<TokenVersion>> {
    Ok(ApiResponse::ok(sessions.token_version(parse_id(&id, "user")?).await?))
}

/// A couple with its start date and current members' birthdays (schedule-meeting's calendar).
/// An ended couple answers with `active: false` and no members, until no former member has an
/// account left and it is erased (404).
#[utoipa::path(get, path = "/internal/couples/{id}", tag = "internal",
    params(("id" = Uuid, Path, description = "couple id"), ("x-internal-token" = String, Header, description = "shared internal token")),
    responses((status = 200, body = ApiResponse<CoupleForService>), (status = 400, description = "the id is not a UUID"),
        (status = 401, description = "no valid internal token"), (status = 404, description = "no such couple")))]
pub async fn couple(
    _: InternalCaller,
    State(couples): State<Arc<Couples>>,
    Path(id): Path<String>,
) -> Result<ApiResponse<CoupleForService>> {
    Ok(ApiResponse::ok(couples.for_service(parse_id(&id, "couple")?).await?))
}
