//! `/internal/*`: service-to-service calls, authenticated by the shared internal token. The
//! gateway never routes these paths.

use axum::{
    Router,
    extract::{Path, State},
    http::HeaderMap,
    routing::get,
};
use couple_common::{ApiError, ApiResponse};
use secrecy::ExposeSecret;
use uuid::Uuid;

use super::AppState;
use crate::model::TokenVersion;

/// Header carrying the internal token.
pub const INTERNAL_TOKEN_HEADER: &str = "x-internal-token";

pub fn router() -> Router<AppState> {
    Router::new().route("/internal/users/{id}/token-version", get(token_version))
}

/// Compares in time independent of where the inputs differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn authorize(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    let presented = headers.get(INTERNAL_TOKEN_HEADER).map(|v| v.as_bytes());
    match (&state.internal_token, presented) {
        (Some(expected), Some(presented)) if constant_time_eq(expected.expose_secret().as_bytes(), presented) => Ok(()),
        // Without a configured token the internal API does not exist.
        (None, _) => Err(ApiError::not_found("no such endpoint")),
        _ => Err(ApiError::unauthorized("INVALID_INTERNAL_TOKEN", "a valid internal token is required")),
    }
}

/// A user's current token version, for the gateway's revocation check.
#[utoipa::path(get, path = "/internal/users/{id}/token-version", tag = "internal",
    params(("id" = Uuid, Path, description = "user id"), ("x-internal-token" = String, Header, description = "shared internal token")),
    responses((status = 200, body = ApiResponse<TokenVersion>), (status = 400, description = "the id is not a UUID", body = couple_common::error::ErrorEnvelope),
        (status = 401, description = "no valid internal token", body = couple_common::error::ErrorEnvelope), (status = 404, description = "no such user", body = couple_common::error::ErrorEnvelope)))]
pub async fn token_version(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<ApiResponse<TokenVersion>, ApiError> {
    authorize(&s, &headers)?;
    let id = Uuid::parse_str(&id).map_err(|_| ApiError::bad_request("the user id must be a UUID"))?;
    Ok(ApiResponse::ok(s.service.token_version(id).await?))
}

#[cfg(test)]
mod tests {
    use super::constant_time_eq;

    #[test]
    fn constant_time_eq_compares_whole_inputs() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }
}
