//! `/api/chat/messages/`, `/api/chat/rooms/{id}/messages/` and `/api/chat/rooms/{id}/read/`
//! (each also without the trailing slash).

use std::sync::Arc;

use axum::{
    Router,
    extract::{Path, State},
    http::StatusCode,
    routing::{get, post, put},
};
use couple_common::{ApiResponse, Identity, Json, PageQuery, Query};
use uuid::Uuid;

use super::{Messages, dto::*};
use crate::{AppState, Config, error::Result, path_id, rooms::Rooms, route_with_and_without_slash as route, store::Appended};

pub fn router() -> Router<AppState> {
    let router = route(Router::new(), "/api/chat/messages/", post(create));
    let router = route(router, "/api/chat/rooms/{id}/messages/", get(history));
    route(router, "/api/chat/rooms/{id}/read/", put(mark_read))
}

/// Post a message: stored, then delivered to the room's sockets. A resend with a `clientId` the
/// sender already used in the room returns the stored message (200) and delivers nothing.
#[utoipa::path(post, path = "/api/chat/messages/", tag = "chat", request_body = PostMessageRequest, security(("bearer" = [])),
    responses((status = 201, body = ApiResponse<Message>, description = "stored and delivered"),
        (status = 200, body = ApiResponse<Message>, description = "a resend of a `clientId`: the message stored the first time"),
        (status = 403, description = "the caller has no couple (`NO_COUPLE`)"), (status = 404, description = "no such room in the couple"),
        (status = 422, description = "invalid fields, or `parentId` is not a message of the room"),
        (status = 503, description = "not stored (the database is down, or the service is shutting down): send again with the same `clientId`")))]
pub async fn create(
    State(rooms): State<Arc<Rooms>>,
    State(messages): State<Arc<Messages>>,
    State(config): State<Arc<Config>>,
    identity: Identity,
    Json(req): Json<PostMessageRequest>,
) -> Result<ApiResponse<Message>> {
    let (room_id, post) = req.parse(config.max_message_chars)?;
    let room = rooms.room_for(&identity, room_id).await?;
    Ok(match messages.post(&identity, &room, post).await? {
        Appended::New(m) => ApiResponse::created(m.into()),
        Appended::Existing(m) => ApiResponse::with_status(StatusCode::OK, "already stored", m.into()),
    })
}

/// A page of a room's history, oldest first: the newest messages, or those just `before` or
/// `after` a message. When more remain that way, `page.nextCursor` is the id to pass as the same
/// parameter (as `before` after the newest page).
#[utoipa::path(get, path = "/api/chat/rooms/{id}/messages/", tag = "chat", security(("bearer" = [])),
    params(("id" = String, Path, description = "room id"),
        ("before" = Option<String>, Query, format = Uuid, description = "the page just before this message"),
        ("after" = Option<String>, Query, format = Uuid, description = "the page just after this message (not with `before`)"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 200, description = "page size, 50 by default")),
    responses((status = 200, body = ApiResponse<Vec<Message>>),
        (status = 400, description = "`before` or `after` is not a UUID, both are given, or the limit does not parse"),
        (status = 403, description = "the caller has no couple (`NO_COUPLE`)"),
        (status = 404, description = "no such room in the couple, or `before`/`after` is not a message of the room"),
        (status = 422, description = "the limit is out of range")))]
pub async fn history(
    State(rooms): State<Arc<Rooms>>,
    State(messages): State<Arc<Messages>>,
    identity: Identity,
    Path(id): Path<String>,
    Query(query): Query<HistoryQuery>,
    page: PageQuery,
) -> Result<ApiResponse<Vec<Message>>> {
    let anchor = query.anchor()?;
    let room = rooms.room_for(&identity, path_id(&id, "room")?).await?;
    let page = messages.page(&room, anchor, page.limit).await?;
    Ok(ApiResponse::ok(page.messages.into_iter().map(Message::from).collect()).next_cursor(page.next.map(|id| id.to_string())))
}

/// Move the caller's read marker in a room forward to a message (never backwards); the room's
/// sockets get a `chat.read` frame when it moves.
#[utoipa::path(put, path = "/api/chat/rooms/{id}/read/", tag = "chat", request_body = MarkReadRequest, security(("bearer" = [])),
    params(("id" = String, Path, description = "room id")),
    responses((status = 200, body = ApiResponse<ReadReceipt>, description = "the marker as it is now"),
        (status = 403, description = "the caller has no couple (`NO_COUPLE`)"),
        (status = 404, description = "no such room in the couple, or `lastReadId` is not a message of the room")))]
pub async fn mark_read(
    State(rooms): State<Arc<Rooms>>,
    State(messages): State<Arc<Messages>>,
    identity: Identity,
    Path(id): Path<String>,
    Json(req): Json<MarkReadRequest>,
) -> Result<ApiResponse<ReadReceipt>> {
    let last_read_id = Uuid::try_from(req)?;
    let room = rooms.room_for(&identity, path_id(&id, "room")?).await?;
    Ok(ApiResponse::ok(messages.mark_read(&identity, &room, last_read_id).await?.into()))
}
