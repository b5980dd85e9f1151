//! `/internal/*`: service-to-service calls, authenticated by the shared internal token. The
//! gateway never routes these paths.

use std::sync::Arc;

use axum::{
    Router,
    extract::{Path, State},
    http::StatusCode,
    routing::{delete, get},
};
use couple_common::{ApiError, ApiResponse, FieldErrors, InternalCaller, Query};
use serde::Deserialize;
use uuid::Uuid;

use crate::{
    AppState,
    error::{Error, Result},
    questions::Questions,
    vectors::{MAX_BATCH, Vectors, dto::UserVector},
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/internal/user-vectors", get(vectors_batch))
        .route("/internal/user-vectors/{user_id}", get(vector))
        .route("/internal/users/{id}", delete(erase_user))
        .route("/internal/couples/{id}", delete(erase_couple))
}

fn user_id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| ApiError::bad_request("the user id must be a UUID"))
}

/// A user's vector.
#[utoipa::path(get, path = "/internal/user-vectors/{user_id}", tag = "internal",
    params(("user_id" = String, Path, description = "user id"), ("x-internal-token" = String, Header, description = "shared internal token")),
    responses((status = 200, body = ApiResponse<UserVector>), (status = 400, description = "the id is not a UUID"),
        (status = 401, description = "no valid internal token"), (status = 404, description = "no vector")))]
pub async fn vector(_: InternalCaller, State(vectors): State<Arc<Vectors>>, Path(raw): Path<String>) -> Result<ApiResponse<UserVector>> {
    Ok(ApiResponse::ok(vectors.get(user_id(&raw)?).await?))
}

/// `?userIds=`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchQuery {
    /// Comma-separated user ids.
    pub user_ids: String,
}

/// The vectors of up to ten users (a couple's, for recommendations); users without one are left out.
#[utoipa::path(get, path = "/internal/user-vectors", tag = "internal",
    params(("userIds" = String, Query, description = "comma-separated user ids, 1 to 10"),
        ("x-internal-token" = String, Header, description = "shared internal token")),
    responses((status = 200, body = ApiResponse<Vec<UserVector>>), (status = 400, description = "missing, or an id is not a UUID"),
        (status = 401, description = "no valid internal token"), (status = 422, description = "no id, or more than ten")))]
pub async fn vectors_batch(
    _: InternalCaller,
    State(vectors): State<Arc<Vectors>>,
    Query(query): Query<BatchQuery>,
) -> Result<ApiResponse<Vec<UserVector>>> {
    let mut ids = Vec::new();
    for raw in query.user_ids.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let id = user_id(raw)?;
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    if ids.is_empty() || ids.len() > MAX_BATCH {
        return Err(Error::Validation(FieldErrors::from([("userIds".into(), format!("must name 1 to {MAX_BATCH} users"))])));
    }
    Ok(ApiResponse::ok(vectors.get_many(&ids).await?))
}

/// Erases a deleted account's data: answers, tag profile, vector. Idempotent.
#[utoipa::path(delete, path = "/internal/users/{id}", tag = "internal",
    params(("id" = String, Path, description = "user id"), ("x-internal-token" = String, Header, description = "shared internal token")),
    responses((status = 204, description = "erased (or nothing to erase)"), (status = 400, description = "the id is not a UUID"),
        (status = 401, description = "no valid internal token")))]
pub async fn erase_user(_: InternalCaller, State(vectors): State<Arc<Vectors>>, Path(raw): Path<String>) -> Result<StatusCode> {
    vectors.erase_user(user_id(&raw)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Erases a couple's data (its rotation of daily questions) once no former member has an
/// account; user-couple calls it. Idempotent.
#[utoipa::path(delete, path = "/internal/couples/{id}", tag = "internal",
    params(("id" = String, Path, description = "couple id"), ("x-internal-token" = String, Header, description = "shared internal token")),
    responses((status = 204, description = "erased (or nothing to erase)"), (status = 400, description = "the id is not a UUID"),
        (status = 401, description = "no valid internal token")))]
pub async fn erase_couple(_: InternalCaller, State(questions): State<Arc<Questions>>, Path(raw): Path<String>) -> Result<StatusCode> {
    let id = Uuid::parse_str(&raw).map_err(|_| ApiError::bad_request("the couple id must be a UUID"))?;
    questions.erase_couple(id).await?;
    Ok(StatusCode::NO_CONTENT)
}
