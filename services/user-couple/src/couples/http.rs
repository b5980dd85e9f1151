//! `/api/couples/*`: matching, the couple, its members and its home screen.

use std::sync::Arc;

use axum::{
    Router,
    extract::State,
    routing::{get, post},
};
use couple_common::{
    ApiResponse, Identity, Json,
    envelope::{Empty, done},
};

use super::{Couples, dto::*};
use crate::{AppState, error::Result};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/couples/match", post(create_match_code))
        .route("/api/couples/match/accept", post(accept_match))
        .route("/api/couples/me", get(my_couple).put(update_couple).delete(break_up))
        .route("/api/couples/members", get(members))
        .route("/api/couples/home", get(home))
}

/// Create a 6-digit match code for the partner to accept (replaces any outstanding one).
#[utoipa::path(post, path = "/api/couples/match", tag = "couples", request_body = MatchRequest, security(("bearer" = [])),
    responses((status = 200, body = ApiResponse<MatchCodeResponse>), (status = 409, description = "already in a couple")))]
pub async fn create_match_code(
    State(couples): State<Arc<Couples>>,
    identity: Identity,
    Json(req): Json<MatchRequest>,
) -> Result<ApiResponse<MatchCodeResponse>> {
    Ok(ApiResponse::ok(couples.create_match_code(&identity, req.try_into()?).await?).message("match code created"))
}

/// Accept a partner's code: the couple and tokens that carry it.
#[utoipa::path(post, path = "/api/couples/match/accept", tag = "couples", request_body = AcceptMatchRequest, security(("bearer" = [])),
    responses((status = 200, body = ApiResponse<AcceptMatchResponse>),
        (status = 404, description = "unknown or expired code"),
        (status = 409, description = "either side already in a couple"),
        (status = 422, description = "own code"),
        (status = 429, description = "too many wrong codes")))]
pub async fn accept_match(
    State(couples): State<Arc<Couples>>,
    identity: Identity,
    Json(req): Json<AcceptMatchRequest>,
) -> Result<ApiResponse<AcceptMatchResponse>> {
    Ok(ApiResponse::ok(couples.accept_match(&identity, req.try_into()?).await?).message("matched"))
}

/// The caller's couple.
#[utoipa::path(get, path = "/api/couples/me", tag = "couples", security(("bearer" = [])),
    responses((status = 200, body = ApiResponse<Couple>), (status = 404, description = "not in a couple")))]
pub async fn my_couple(State(couples): State<Arc<Couples>>, identity: Identity) -> Result<ApiResponse<Couple>> {
    Ok(ApiResponse::ok(couples.my_couple(&identity).await?))
}

/// Rename or re-date the couple.
#[utoipa::path(put, path = "/api/couples/me", tag = "couples", request_body = UpdateCoupleRequest, security(("bearer" = [])),
    responses((status = 200, body = ApiResponse<Couple>), (status = 404), (status = 422)))]
pub async fn update_couple(
    State(couples): State<Arc<Couples>>,
    identity: Identity,
    Json(req): Json<UpdateCoupleRequest>,
) -> Result<ApiResponse<Couple>> {
    Ok(ApiResponse::ok(couples.update_couple(&identity, req.try_into()?).await?).message("updated"))
}

/// Break up: both leave the couple and both users' access tokens are revoked.
#[utoipa::path(delete, path = "/api/couples/me", tag = "couples", security(("bearer" = [])),
    responses((status = 200, body = ApiResponse<Empty>), (status = 404)))]
pub async fn break_up(State(couples): State<Arc<Couples>>, identity: Identity) -> Result<ApiResponse<Empty>> {
    couples.break_up(&identity).await?;
    Ok(done("the couple has ended"))
}

/// The members of the caller's couple.
#[utoipa::path(get, path = "/api/couples/members", tag = "couples", security(("bearer" = [])),
    responses((status = 200, body = ApiResponse<Vec<Member>>), (status = 404)))]
pub async fn members(State(couples): State<Arc<Couples>>, identity: Identity) -> Result<ApiResponse<Vec<Member>>> {
    Ok(ApiResponse::ok(couples.members(&identity).await?))
}

/// The couple's home screen.
#[utoipa::path(get, path = "/api/couples/home", tag = "couples", security(("bearer" = [])),
    responses((status = 200, body = ApiResponse<CoupleHome>), (status = 404)))]
pub async fn home(State(couples): State<Arc<Couples>>, identity: Identity) -> Result<ApiResponse<CoupleHome>> {
    Ok(ApiResponse::ok(couples.home(&identity).await?))
}
