//! `POST /api/meetings/recommend`.

use std::sync::Arc;

use axum::{Router, extract::State, routing::post};
use couple_common::{ApiResponse, Json};

use super::{
    Recommender,
    dto::{Course, RecommendBody, RecommendRequest},
};
use crate::{AppState, error::Result, member::CoupleMember};

pub fn router() -> Router<AppState> {
    Router::new().route("/api/meetings/recommend", post(recommend))
}

/// Up to three date courses for the couple on `date` between `startTime` and `endTime`: for
/// each slot of the window, places ranked from both partners' trait vectors, the keywords, the
/// day's forecast (rain or snow favour indoor places) and the walk from the previous stop, with
/// the reasons in words. Places of the couple's last three meetings are left out. Nothing is
/// saved: `POST /api/meetings` saves a chosen course. Missing vectors count as neutral; without a
/// forecast `weather` is null and the courses rank as for dry weather; `notes` says what was
/// missing. Each course carries the day's `weather` and the `notes` (api.md's shape: data is the
/// list of courses).
#[utoipa::path(post, path = "/api/meetings/recommend", tag = "meetings", request_body = RecommendBody, security(("bearer" = [])),
    responses((status = 200, body = ApiResponse<Vec<Course>>, description = "up to three courses, best first; empty when no place fits"), (status = 403, description = "the caller has no couple (`NO_COUPLE`)"),
        (status = 422, description = "invalid fields: a date or time that does not parse, `endTime` not after `startTime`, bad keywords, `near` or `radiusKm`")))]
pub async fn recommend(
    State(recommender): State<Arc<Recommender>>,
    member: CoupleMember,
    Json(body): Json<RecommendBody>,
) -> Result<ApiResponse<Vec<Course>>> {
    let request = RecommendRequest::try_from(body)?;
    Ok(ApiResponse::ok(recommender.recommend(member.couple_id, member.user_id, &request).await?.into_courses()))
}
