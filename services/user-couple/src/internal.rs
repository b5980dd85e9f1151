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

use crate::{AppState, error::Result, sessions::Sessions};

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
    Router::new().route("/internal/users/{id}/token-version", get(token_version))
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
    let id = Uuid::parse_str(&id).map_err(|_| ApiError::bad_request("the user id must be a UUID"))?;
    Ok(ApiResponse::ok(sessions.token_version(id).await?))
}
