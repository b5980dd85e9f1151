//! `GET /api/schedules/calendar` and `/api/calendar/feeds*`.

use std::sync::Arc;

use axum::{
    Router,
    extract::{Path, State},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use couple_common::{ApiResponse, Query};

use super::{Calendar, dto::*};
use crate::{AppState, error::Result, member::CoupleMember, path_id};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/schedules/calendar", get(month))
        .route("/api/calendar/feeds", get(feeds).post(create_feed))
        // One segment serves both `{id}` (DELETE) and `{secret}.ics` (GET): the router matches
        // whole segments only.
        .route("/api/calendar/feeds/{segment}", get(ics).delete(revoke_feed))
}

/// A month of the couple's calendar: schedules, meetings, both partners' birthdays and the
/// anniversaries of the start date (D+100, D+200, ... counting the start date as day 1, and
/// yearly), by day in the platform's time zone. Only days with items are listed. If user-couple
/// cannot be reached, the month still comes with schedules and meetings, `partial: true` and
/// what is `missing`.
#[utoipa::path(get, path = "/api/schedules/calendar", tag = "schedules", security(("bearer" = [])),
    params(("year" = i32, Query, minimum = 1970, maximum = 2100, example = 2026), ("month" = u32, Query, minimum = 1, maximum = 12, example = 3)),
    responses((status = 200, body = ApiResponse<MonthCalendar>), (status = 400, description = "`year` or `month` missing or not a whole number"),
        (status = 403, description = "the caller has no couple (`NO_COUPLE`)"),
        (status = 422, description = "`year` outside 1970..=2100 or `month` outside 1..=12")))]
pub async fn month(
    State(calendar): State<Arc<Calendar>>,
    member: CoupleMember,
    Query(query): Query<MonthQuery>,
) -> Result<ApiResponse<MonthCalendar>> {
    Ok(ApiResponse::ok(calendar.month(&member, query.parse()?).await?))
}

/// The couple's active calendar feeds, oldest first.
#[utoipa::path(get, path = "/api/calendar/feeds", tag = "calendar", security(("bearer" = [])),
    responses((status = 200, body = ApiResponse<Vec<CalendarFeed>>), (status = 403, description = "the caller has no couple (`NO_COUPLE`)")))]
pub async fn feeds(State(calendar): State<Arc<Calendar>>, member: CoupleMember) -> Result<ApiResponse<Vec<CalendarFeed>>> {
    Ok(ApiResponse::ok(calendar.feeds(&member).await?))
}

/// A new secret feed URL for phone calendars to subscribe to (no body). A couple may have five
/// active feeds.
#[utoipa::path(post, path = "/api/calendar/feeds", tag = "calendar", security(("bearer" = [])),
    responses((status = 201, body = ApiResponse<CalendarFeed>), (status = 403, description = "the caller has no couple (`NO_COUPLE`)"),
        (status = 409, description = "the couple has five active feeds already (`FEED_LIMIT`)")))]
pub async fn create_feed(State(calendar): State<Arc<Calendar>>, member: CoupleMember) -> Result<ApiResponse<CalendarFeed>> {
    Ok(ApiResponse::created(calendar.create_feed(&member).await?))
}

/// Revoke one of the couple's feeds: its URL stops working at once.
#[utoipa::path(delete, path = "/api/calendar/feeds/{id}", tag = "calendar", security(("bearer" = [])),
    params(("id" = String, Path, description = "feed id")),
    responses((status = 204, description = "revoked"), (status = 403, description = "the caller has no couple (`NO_COUPLE`)"),
        (status = 404, description = "no such active feed in the couple")))]
pub async fn revoke_feed(State(calendar): State<Arc<Calendar>>, member: CoupleMember, Path(segment): Path<String>) -> Result<StatusCode> {
    calendar.revoke_feed(&member, path_id(&segment, "calendar feed")?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The couple's calendar as an iCalendar file (RFC 5545): schedules and meetings from a year
/// back to two years ahead, birthdays and the yearly anniversary repeating, the D+N days. No
/// token: the secret in the URL is the credential.
#[utoipa::path(get, path = "/api/calendar/feeds/{secret}.ics", tag = "calendar",
    params(("secret" = String, Path, description = "the feed's secret, from its `url`")),
    responses((status = 200, content_type = "text/calendar", body = String, description = "the calendar (`text/calendar; charset=utf-8`)"),
        (status = 404, description = "unknown or revoked feed"),
        (status = 503, description = "user-couple cannot be reached just now (calendar clients keep their last copy)")))]
pub async fn ics(State(calendar): State<Arc<Calendar>>, Path(segment): Path<String>) -> Result<Response> {
    let secret = segment.strip_suffix(".ics").ok_or(crate::error::Error::NotFound("calendar feed"))?;
    let body = calendar.ics(secret).await?;
    let headers = [(header::CONTENT_TYPE, "text/calendar; charset=utf-8"), (header::CACHE_CONTROL, "private, max-age=300")];
    Ok((headers, body).into_response())
}
