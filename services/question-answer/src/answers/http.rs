//! `/api/user-answers*` and `/api/questions/{id}/answers`.

use std::sync::Arc;

use axum::{
    Router,
    extract::{Path, State},
    routing::{get, post},
};
use couple_common::{ApiResponse, Identity, Json, PageQuery};

use super::{Answers, dto::*};
use crate::{AppState, error::Result, questions::http::path_id};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/user-answers", post(submit))
        .route("/api/user-answers/my-answers", get(my_answers))
        .route("/api/questions/{id}/answers", get(reveal))
}

/// Answer a question; the tag profile and the vector move with it.
#[utoipa::path(post, path = "/api/user-answers", tag = "answers", request_body = CreateAnswerRequest, security(("bearer" = [])),
    responses((status = 201, body = ApiResponse<UserAnswer>), (status = 404, description = "no such question"),
        (status = 409, description = "answered already")))]
pub async fn submit(
    State(answers): State<Arc<Answers>>,
    identity: Identity,
    Json(req): Json<CreateAnswerRequest>,
) -> Result<ApiResponse<UserAnswer>> {
    Ok(ApiResponse::created(answers.submit(&identity, req.try_into()?).await?))
}

/// The caller's answers, newest first.
#[utoipa::path(get, path = "/api/user-answers/my-answers", tag = "answers", security(("bearer" = [])),
    params(("limit" = Option<u32>, Query, minimum = 1, maximum = 200, description = "page size, 50 by default"),
        ("cursor" = Option<String>, Query, description = "`page.nextCursor` of the previous page")),
    responses((status = 200, body = ApiResponse<Vec<UserAnswer>>), (status = 400, description = "the cursor or limit does not parse"),
        (status = 422, description = "the limit is out of range")))]
pub async fn my_answers(State(answers): State<Arc<Answers>>, identity: Identity, page: PageQuery) -> Result<ApiResponse<Vec<UserAnswer>>> {
    let (items, next) = answers.mine(&identity, &page).await?;
    Ok(ApiResponse::ok(items).next_cursor(next))
}

/// My answer and, once I have answered, my partner's.
#[utoipa::path(get, path = "/api/questions/{id}/answers", tag = "answers", security(("bearer" = [])),
    params(("id" = String, Path, description = "question id")),
    responses((status = 200, body = ApiResponse<AnswerState>), (status = 404, description = "no such question")))]
pub async fn reveal(State(answers): State<Arc<Answers>>, identity: Identity, Path(id): Path<String>) -> Result<ApiResponse<AnswerState>> {
    Ok(ApiResponse::ok(answers.reveal(&identity, path_id(&id)?).await?))
}
