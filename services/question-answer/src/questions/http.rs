//! `/api/questions*`: the catalogue, today's question and authoring.

use std::sync::Arc;

use axum::{
    Router,
    extract::{Path, State},
    routing::get,
};
use couple_common::{ApiError, ApiResponse, Identity, Json, PageQuery};
use uuid::Uuid;

use super::{Questions, dto::*};
use crate::{AppState, error::Result};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/questions", get(list).post(create))
        .route("/api/questions/today", get(today))
        .route("/api/questions/{id}", get(question))
}

/// Parses a path id; 404 for anything that is not one (no such question can exist).
pub fn path_id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| ApiError::not_found("no such question"))
}

/// Create a question (admin only).
#[utoipa::path(post, path = "/api/questions", tag = "questions", request_body = CreateQuestionRequest, security(("bearer" = [])),
    responses((status = 201, body = ApiResponse<QuestionDto>), (status = 403, description = "not an admin"),
        (status = 409, description = "another question has this date")))]
pub async fn create(
    State(questions): State<Arc<Questions>>,
    identity: Identity,
    Json(req): Json<CreateQuestionRequest>,
) -> Result<ApiResponse<QuestionDto>> {
    Ok(ApiResponse::created(questions.create(&identity, req).await?))
}

/// The questions, in creation order.
#[utoipa::path(get, path = "/api/questions", tag = "questions", security(("bearer" = [])),
    params(("limit" = Option<u32>, Query, minimum = 1, maximum = 200, description = "page size, 50 by default"),
        ("cursor" = Option<String>, Query, description = "`page.nextCursor` of the previous page")),
    responses((status = 200, body = ApiResponse<Vec<QuestionDto>>), (status = 400, description = "the cursor or limit does not parse"),
        (status = 422, description = "the limit is out of range")))]
pub async fn list(State(questions): State<Arc<Questions>>, identity: Identity, page: PageQuery) -> Result<ApiResponse<Vec<QuestionDto>>> {
    let (items, next) = questions.list(&identity, &page).await?;
    Ok(ApiResponse::ok(items).next_cursor(next))
}

/// Today's question of the caller's couple (or the caller's own, without a couple).
#[utoipa::path(get, path = "/api/questions/today", tag = "questions", security(("bearer" = [])),
    responses((status = 200, body = ApiResponse<TodayQuestion>), (status = 404, description = "there are no questions")))]
pub async fn today(State(questions): State<Arc<Questions>>, identity: Identity) -> Result<ApiResponse<TodayQuestion>> {
    Ok(ApiResponse::ok(questions.today(&identity).await?))
}

/// A question.
#[utoipa::path(get, path = "/api/questions/{id}", tag = "questions", security(("bearer" = [])),
    params(("id" = String, Path, description = "question id")),
    responses((status = 200, body = ApiResponse<QuestionDto>), (status = 404, description = "no such question, or one dated after today")))]
pub async fn question(
    State(questions): State<Arc<Questions>>,
    identity: Identity,
    Path(id): Path<String>,
) -> Result<ApiResponse<QuestionDto>> {
    Ok(ApiResponse::ok(questions.get(&identity, path_id(&id)?).await?))
}
