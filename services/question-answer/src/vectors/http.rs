//! `/api/user-vectors*`.

use std::sync::Arc;

use axum::{
    Router,
    extract::{Path, State},
    routing::{get, put},
};
use couple_common::{
    ApiResponse, Identity, Json, Query,
    envelope::{Empty, done},
    traits::{Trait, traits},
};

use super::{Vectors, dto::*};
use crate::{AppState, error::Result};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/user-vectors", axum::routing::post(create))
        .route("/api/user-vectors/traits", get(trait_space))
        .route("/api/user-vectors/my-vector", get(my_vector).put(put_vector).delete(delete_vector))
        .route("/api/user-vectors/my-vector/{key}", put(set_trait))
}

/// Create the caller's vector: 50 zeros.
#[utoipa::path(post, path = "/api/user-vectors", tag = "vectors", security(("bearer" = [])),
    responses((status = 201, body = ApiResponse<UserVector>), (status = 409, description = "the caller has a vector")))]
pub async fn create(State(vectors): State<Arc<Vectors>>, identity: Identity) -> Result<ApiResponse<UserVector>> {
    Ok(ApiResponse::created(vectors.create(&identity).await?))
}

/// The 50 traits: what each end of each scale means.
#[utoipa::path(get, path = "/api/user-vectors/traits", tag = "vectors", security(("bearer" = [])),
    responses((status = 200, body = ApiResponse<Vec<Trait>>)))]
pub async fn trait_space(_: Identity) -> ApiResponse<&'static [Trait]> {
    ApiResponse::ok(traits())
}

/// The caller's vector.
#[utoipa::path(get, path = "/api/user-vectors/my-vector", tag = "vectors", security(("bearer" = [])),
    responses((status = 200, body = ApiResponse<UserVector>), (status = 404, description = "the caller has no vector")))]
pub async fn my_vector(State(vectors): State<Arc<Vectors>>, identity: Identity) -> Result<ApiResponse<UserVector>> {
    Ok(ApiResponse::ok(vectors.get(identity.user_id).await?))
}

/// Set some of the caller's traits (creating the vector if missing).
#[utoipa::path(put, path = "/api/user-vectors/my-vector", tag = "vectors", request_body = PutVectorRequest, security(("bearer" = [])),
    responses((status = 200, body = ApiResponse<UserVector>)))]
pub async fn put_vector(
    State(vectors): State<Arc<Vectors>>,
    identity: Identity,
    Json(req): Json<PutVectorRequest>,
) -> Result<ApiResponse<UserVector>> {
    Ok(ApiResponse::ok(vectors.put(&identity, req.try_into()?).await?).message("updated"))
}

/// Set one of the caller's traits (creating the vector if missing).
#[utoipa::path(put, path = "/api/user-vectors/my-vector/{key}", tag = "vectors", security(("bearer" = [])),
    params(("key" = String, Path, description = "`vec1`..`vec50`"), ("value" = f64, Query, minimum = -1.0, maximum = 1.0, description = "the new value")),
    responses((status = 200, body = ApiResponse<UserVector>), (status = 400, description = "the value is missing or not a number"),
        (status = 422, description = "the key is not a trait or the value is out of [-1, 1]")))]
pub async fn set_trait(
    State(vectors): State<Arc<Vectors>>,
    identity: Identity,
    Path(key): Path<String>,
    Query(query): Query<ValueQuery>,
) -> Result<ApiResponse<UserVector>> {
    Ok(ApiResponse::ok(vectors.set(&identity, &key, query.value).await?).message("updated"))
}

/// Delete the caller's vector.
#[utoipa::path(delete, path = "/api/user-vectors/my-vector", tag = "vectors", security(("bearer" = [])),
    responses((status = 200, body = ApiResponse<Empty>)))]
pub async fn delete_vector(State(vectors): State<Arc<Vectors>>, identity: Identity) -> Result<ApiResponse<Empty>> {
    let deleted = vectors.delete(&identity).await?;
    Ok(done(if deleted { "the vector has been deleted" } else { "there was no vector" }))
}
