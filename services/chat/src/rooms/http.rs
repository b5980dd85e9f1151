//! `/api/chat/rooms/` and `/api/chat/rooms/{id}/` (each also without the trailing slash).

use std::sync::Arc;

use axum::{
    Router,
    extract::{Path, State},
    routing::get,
};
use couple_common::{ApiResponse, Identity, Json};

use super::{Rooms, dto::*};
use crate::{
    AppState,
    error::{Error, Result},
    messages::Messages,
    path_id, route_with_and_without_slash as route,
};

pub fn router() -> Router<AppState> {
    let router = route(Router::new(), "/api/chat/rooms/", get(list).post(create));
    route(router, "/api/chat/rooms/{id}/", get(room))
}

/// Create a room for the caller's couple.
#[utoipa::path(post, path = "/api/chat/rooms/", tag = "chat", request_body = CreateRoomRequest, security(("bearer" = [])),
    responses((status = 201, body = ApiResponse<Room>), (status = 403, description = "the caller has no couple (`NO_COUPLE`)"),
        (status = 409, description = "the couple has as many rooms as it may (`ROOM_LIMIT`)")))]
pub async fn create(State(rooms): State<Arc<Rooms>>, identity: Identity, Json(req): Json<CreateRoomRequest>) -> Result<ApiResponse<Room>> {
    Ok(ApiResponse::created(rooms.create(&identity, req.try_into()?).await?.into()))
}

/// The couple's rooms, the default one first (created on first use), each with the caller's
/// unread count, read marker and the newest message.
#[utoipa::path(get, path = "/api/chat/rooms/", tag = "chat", security(("bearer" = [])),
    responses((status = 200, body = ApiResponse<Vec<RoomOverview>>), (status = 403, description = "the caller has no couple (`NO_COUPLE`)")))]
pub async fn list(
    State(rooms): State<Arc<Rooms>>,
    State(messages): State<Arc<Messages>>,
    identity: Identity,
) -> Result<ApiResponse<Vec<RoomOverview>>> {
    let views = rooms.list(&identity).await?;
    let read = messages.last_read_ids(&identity, &views).await?;
    Ok(ApiResponse::ok(views.into_iter().zip(read).map(|(view, read)| RoomOverview::new(view, read)).collect()))
}

/// One of the couple's rooms, as the list shows it.
#[utoipa::path(get, path = "/api/chat/rooms/{id}/", tag = "chat", security(("bearer" = [])),
    params(("id" = String, Path, description = "room id")),
    responses((status = 200, body = ApiResponse<RoomOverview>), (status = 403, description = "the caller has no couple (`NO_COUPLE`)"),
        (status = 404, description = "no such room in the couple")))]
pub async fn room(
    State(rooms): State<Arc<Rooms>>,
    State(messages): State<Arc<Messages>>,
    identity: Identity,
    Path(id): Path<String>,
) -> Result<ApiResponse<RoomOverview>> {
    let room = rooms.room_for(&identity, path_id(&id, "room")?).await?;
    let view = rooms.list(&identity).await?.into_iter().find(|v| v.room.id == room.id).ok_or(Error::NotFound("room"))?;
    let read = messages.last_read_ids(&identity, std::slice::from_ref(&view)).await?.pop().flatten();
    Ok(ApiResponse::ok(RoomOverview::new(view, read)))
}
