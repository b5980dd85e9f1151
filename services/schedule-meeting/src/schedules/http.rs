//! `/api/schedules*`.

use std::sync::Arc;

use axum::{
    Router,
    extract::{Path, State},
    http::StatusCode,
    routing::get,
};
use couple_common::{ApiResponse, Json, PageQuery, Query};

use super::{Schedules, dto::*};
use crate::{AppState, domain::DateRangeQuery, error::Result, member::CoupleMember, path_id};

pub fn router() -> Router<AppState> {
    Router::new().route("/api/schedules", get(list).post(create)).route("/api/schedules/{id}", get(schedule).put(update).delete(delete))
}

/// Add a schedule to the couple's calendar.
#[utoipa::path(post, path = "/api/schedules", tag = "schedules", request_body = CreateScheduleRequest, security(("bearer" = [])),
    responses((status = 201, body = ApiResponse<Schedule>), (status = 403, description = "the caller has no couple (`NO_COUPLE`)")))]
pub async fn create(
    State(schedules): State<Arc<Schedules>>,
    member: CoupleMember,
    Json(req): Json<CreateScheduleRequest>,
) -> Result<ApiResponse<Schedule>> {
    Ok(ApiResponse::created(schedules.create(&member, req.try_into()?).await?))
}

/// The couple's schedules by time, optionally only those on the days `from` to `to` (in the
/// platform's time zone).
#[utoipa::path(get, path = "/api/schedules", tag = "schedules", security(("bearer" = [])),
    params(("from" = Option<String>, Query, format = Date, description = "first day (YYYY-MM-DD)"),
        ("to" = Option<String>, Query, format = Date, description = "last day (YYYY-MM-DD), not before `from`"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 200, description = "page size, 50 by default"),
        ("cursor" = Option<String>, Query, description = "`page.nextCursor` of the previous page")),
    responses((status = 200, body = ApiResponse<Vec<Schedule>>), (status = 400, description = "a date, the limit or the cursor does not parse"),
        (status = 403, description = "the caller has no couple (`NO_COUPLE`)"),
        (status = 422, description = "`from` is after `to`, or the limit is out of range")))]
pub async fn list(
    State(schedules): State<Arc<Schedules>>,
    member: CoupleMember,
    Query(range): Query<DateRangeQuery>,
    page: PageQuery,
) -> Result<ApiResponse<Vec<Schedule>>> {
    let (items, next) = schedules.list(&member, range.parse()?, &page).await?;
    Ok(ApiResponse::ok(items).next_cursor(next))
}

/// One schedule of the couple.
#[utoipa::path(get, path = "/api/schedules/{id}", tag = "schedules", security(("bearer" = [])),
    params(("id" = String, Path, description = "schedule id")),
    responses((status = 200, body = ApiResponse<Schedule>), (status = 403, description = "the caller has no couple (`NO_COUPLE`)"),
        (status = 404, description = "no such schedule in the couple")))]
pub async fn schedule(
    State(schedules): State<Arc<Schedules>>,
    member: CoupleMember,
    Path(id): Path<String>,
) -> Result<ApiResponse<Schedule>> {
    Ok(ApiResponse::ok(schedules.get(&member, path_id(&id, "schedule")?).await?))
}

/// Change any of a schedule's fields.
#[utoipa::path(put, path = "/api/schedules/{id}", tag = "schedules", request_body = UpdateScheduleRequest, security(("bearer" = [])),
    params(("id" = String, Path, description = "schedule id")),
    responses((status = 200, body = ApiResponse<Schedule>), (status = 403, description = "the caller has no couple (`NO_COUPLE`)"),
        (status = 404, description = "no such schedule in the couple")))]
pub async fn update(
    State(schedules): State<Arc<Schedules>>,
    member: CoupleMember,
    Path(id): Path<String>,
    Json(req): Json<UpdateScheduleRequest>,
) -> Result<ApiResponse<Schedule>> {
    let id = path_id(&id, "schedule")?;
    Ok(ApiResponse::ok(schedules.update(&member, id, req.try_into()?).await?))
}

/// Delete a schedule.
#[utoipa::path(delete, path = "/api/schedules/{id}", tag = "schedules", security(("bearer" = [])),
    params(("id" = String, Path, description = "schedule id")),
    responses((status = 204, description = "deleted"), (status = 403, description = "the caller has no couple (`NO_COUPLE`)"),
        (status = 404, description = "no such schedule in the couple")))]
pub async fn delete(State(schedules): State<Arc<Schedules>>, member: CoupleMember, Path(id): Path<String>) -> Result<StatusCode> {
    schedules.delete(&member, path_id(&id, "schedule")?).await?;
    Ok(StatusCode::NO_CONTENT)
}
