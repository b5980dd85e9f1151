//! `/api/meetings` and `/api/meetings/{id}`.

use std::sync::Arc;

use axum::{
    Router,
    extract::{Path, State},
    http::StatusCode,
    routing::get,
};
use couple_common::{ApiResponse, Json, PageQuery, Query};

use super::{Meetings, dto::*};
use crate::{AppState, domain::DateRangeQuery, error::Result, member::CoupleMember, path_id};

pub fn router() -> Router<AppState> {
    Router::new().route("/api/meetings", get(list).post(create)).route("/api/meetings/{id}", get(meeting).put(update).delete(delete))
}

/// Save a planned date with its course of places.
#[utoipa::path(post, path = "/api/meetings", tag = "meetings", request_body = CreateMeetingRequest, security(("bearer" = [])),
    responses((status = 201, body = ApiResponse<Meeting>), (status = 403, description = "the caller has no couple (`NO_COUPLE`)"),
        (status = 422, description = "invalid fields: the times out of order, places not in the catalogue, ...")))]
pub async fn create(
    State(meetings): State<Arc<Meetings>>,
    member: CoupleMember,
    Json(req): Json<CreateMeetingRequest>,
) -> Result<ApiResponse<Meeting>> {
    Ok(ApiResponse::created(meetings.create(&member, req.try_into()?).await?))
}

/// The couple's meetings by date and start time, optionally only those on the days `from` to `to`.
#[utoipa::path(get, path = "/api/meetings", tag = "meetings", security(("bearer" = [])),
    params(("from" = Option<String>, Query, format = Date, description = "first day (YYYY-MM-DD)"),
        ("to" = Option<String>, Query, format = Date, description = "last day (YYYY-MM-DD), not before `from`"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 200, description = "page size, 50 by default"),
        ("cursor" = Option<String>, Query, description = "`page.nextCursor` of the previous page")),
    responses((status = 200, body = ApiResponse<Vec<Meeting>>), (status = 400, description = "a date, the limit or the cursor does not parse"),
        (status = 403, description = "the caller has no couple (`NO_COUPLE`)"),
        (status = 422, description = "`from` is after `to`, or the limit is out of range")))]
pub async fn list(
    State(meetings): State<Arc<Meetings>>,
    member: CoupleMember,
    Query(range): Query<DateRangeQuery>,
    page: PageQuery,
) -> Result<ApiResponse<Vec<Meeting>>> {
    let (items, next) = meetings.list(&member, range.parse()?, &page).await?;
    Ok(ApiResponse::ok(items).next_cursor(next))
}

/// One meeting of the couple.
#[utoipa::path(get, path = "/api/meetings/{id}", tag = "meetings", security(("bearer" = [])),
    params(("id" = String, Path, description = "meeting id")),
    responses((status = 200, body = ApiResponse<Meeting>), (status = 403, description = "the caller has no couple (`NO_COUPLE`)"),
        (status = 404, description = "no such meeting in the couple")))]
pub async fn meeting(State(meetings): State<Arc<Meetings>>, member: CoupleMember, Path(id): Path<String>) -> Result<ApiResponse<Meeting>> {
    Ok(ApiResponse::ok(meetings.get(&member, path_id(&id, "meeting")?).await?))
}

/// Change any of a meeting's fields; `places` replaces the whole course.
#[utoipa::path(put, path = "/api/meetings/{id}", tag = "meetings", request_body = UpdateMeetingRequest, security(("bearer" = [])),
    params(("id" = String, Path, description = "meeting id")),
    responses((status = 200, body = ApiResponse<Meeting>), (status = 403, description = "the caller has no couple (`NO_COUPLE`)"),
        (status = 404, description = "no such meeting in the couple"),
        (status = 422, description = "invalid fields: the start not before the end (given or stored), places not in the catalogue, ...")))]
pub async fn update(
    State(meetings): State<Arc<Meetings>>,
    member: CoupleMember,
    Path(id): Path<String>,
    Json(req): Json<UpdateMeetingRequest>,
) -> Result<ApiResponse<Meeting>> {
    let id = path_id(&id, "meeting")?;
    Ok(ApiResponse::ok(meetings.update(&member, id, req.try_into()?).await?))
}

/// Delete a meeting.
#[utoipa::path(delete, path = "/api/meetings/{id}", tag = "meetings", security(("bearer" = [])),
    params(("id" = String, Path, description = "meeting id")),
    responses((status = 204, description = "deleted"), (status = 403, description = "the caller has no couple (`NO_COUPLE`)"),
        (status = 404, description = "no such meeting in the couple")))]
pub async fn delete(State(meetings): State<Arc<Meetings>>, member: CoupleMember, Path(id): Path<String>) -> Result<StatusCode> {
    meetings.delete(&member, path_id(&id, "meeting")?).await?;
    Ok(StatusCode::NO_CONTENT)
}
