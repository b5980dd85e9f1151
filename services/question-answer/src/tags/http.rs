//! `/api/tags` and `/api/user-tag-profiles/my-profiles`.

use std::sync::Arc;

use axum::{Router, extract::State, routing::get};
use couple_common::{ApiResponse, Identity, Json};

use super::{Tags, dto::*};
use crate::{AppState, error::Result};

pub fn router() -> Router<AppState> {
    Router::new().route("/api/tags", get(list).post(create)).route("/api/user-tag-profiles/my-profiles", get(my_profiles))
}

/// Every tag.
#[utoipa::path(get, path = "/api/tags", tag = "tags", security(("bearer" = [])), responses((status = 200, body = ApiResponse<Vec<Tag>>)))]
pub async fn list(State(tags): State<Arc<Tags>>, _: Identity) -> Result<ApiResponse<Vec<Tag>>> {
    Ok(ApiResponse::ok(tags.list().await?))
}

/// Create a tag (admin only).
#[utoipa::path(post, path = "/api/tags", tag = "tags", request_body = CreateTagRequest, security(("bearer" = [])),
    responses((status = 201, body = ApiResponse<Tag>), (status = 403, description = "not an admin"), (status = 409, description = "the name is taken")))]
pub async fn create(State(tags): State<Arc<Tags>>, identity: Identity, Json(req): Json<CreateTagRequest>) -> Result<ApiResponse<Tag>> {
    Ok(ApiResponse::created(tags.create(&identity, req.try_into()?).await?))
}

/// The caller's score per tag.
#[utoipa::path(get, path = "/api/user-tag-profiles/my-profiles", tag = "tags", security(("bearer" = [])),
    responses((status = 200, body = ApiResponse<Vec<TagScore>>)))]
pub async fn my_profiles(State(tags): State<Arc<Tags>>, identity: Identity) -> Result<ApiResponse<Vec<TagScore>>> {
    Ok(ApiResponse::ok(tags.my_profile(&identity).await?))
}
