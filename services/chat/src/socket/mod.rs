//! The WebSocket side: `/ws/chat/{room_id}/` (and `/ws/chat/{room_id}/chat/`, the seed's path).
//!
//! The handler authenticates, checks the room and `after`, and subscribes to the room before
//! the 101 response, so no message committed after the handshake can be missed. A refused
//! socket still completes the handshake and is then closed with a code, because browsers do
//! not show a client why a handshake failed. The session itself is in [`session`].

pub mod frames;
pub mod session;

use std::collections::HashMap;

use axum::{
    Router,
    extract::{
        Path, Query, State,
        rejection::QueryRejection,
        ws::{WebSocket, WebSocketUpgrade, rejection::WebSocketUpgradeRejection},
    },
    http::{HeaderMap, HeaderValue, header},
    response::{IntoResponse, Response},
    routing::get,
};
use couple_common::{ApiError, identity};
use futures_util::StreamExt;
use uuid::Uuid;

use crate::{
    AppState,
    error::Error,
    route_with_and_without_slash as route,
    store::{RoomRecord, StoreError},
};
use session::{ReadError, Session};

/// The close codes the server sends.
pub mod close {
    /// The service is shutting down: reconnect with `after`.
    pub const GOING_AWAY: u16 = 1001;
    /// A client frame over `max_frame_bytes`.
    pub const TOO_BIG: u16 = 1009;
    /// The store is down: reconnect with `after` later.
    pub const INTERNAL: u16 = 1011;
    /// No or invalid identity.
    pub const UNAUTHENTICATED: u16 = 4001;
    /// No couple, not the caller's couple's room, or the room was erased.
    pub const FORBIDDEN: u16 = 4003;
    /// The socket fell behind its queue: reconnect with `after`.
    pub const SLOW_CONSUMER: u16 = 4008;
    /// `after` is not a message id of this room.
    pub const BAD_AFTER: u16 = 4400;
}

/// `/ws/chat/{room_id}/` and `/ws/chat/{room_id}/chat/`, each with and without the slash.
pub fn router() -> Router<AppState> {
    let router = route(Router::new(), "/ws/chat/{room_id}/", get(connect));
    route(router, "/ws/chat/{room_id}/chat/", get(connect))
}

/// Read and write buffer size per socket; frames larger than this still pass (up to
/// `CHAT_MAX_FRAME_BYTES`), the buffer grows for them.
const SOCKET_BUFFER: usize = 4 * 1024;

/// Why a socket is refused: its close code and reason.
type Refusal = (u16, String);

/// The upgrade: checks, subscription, then the session (or a close with the refusal's code).
async fn connect(
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
    State(state): State<AppState>,
    Path(room_id): Path<String>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
    headers: HeaderMap,
) -> Response {
    let upgrade = match upgrade {
        Ok(upgrade) => upgrade,
        Err(rejection) => {
            return ApiError::new(rejection.status(), "WEBSOCKET_REQUIRED", "this path takes WebSocket connections").into_response();
        }
    };
    let size = state.config.max_frame_bytes;
    // Small buffers: the defaults (128 KiB each way, allocated per socket) cost 1,000 sockets
    // over 120 MiB, and every frame is flushed as it is sent anyway.
    let upgrade = upgrade.max_message_size(size).max_frame_size(size).read_buffer_size(SOCKET_BUFFER).write_buffer_size(SOCKET_BUFFER);
    let query = query.map(|Query(q)| q).unwrap_or_default();
    // The process stops only once the socket has closed (within the grace period): a going-away
    // close sent just before it exits could otherwise reach the client as a reset.
    let hold = state.shutdown.hold();
    match open(&state, &room_id, &query, &headers).await {
        Ok((session, subscription, last)) => upgrade.on_upgrade(move |socket: WebSocket| async move {
            let (sink, stream) = socket.split();
            let ended = session.run(subscription, last, sink, stream.map(|r| r.map_err(ReadError::from))).await;
            tracing::debug!(?ended, "socket ended");
            drop(hold);
        }),
        Err((code, reason)) => upgrade.on_upgrade(move |socket: WebSocket| async move {
            let (mut sink, mut stream) = socket.split();
            session::close_with(&mut sink, &mut stream, code, &reason).await;
            drop(hold);
        }),
    }
}

/// Everything checked before the handshake: identity, room, `after`; subscribes to the room.
async fn open(
    state: &AppState,
    room_id: &str,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
) -> Result<(Session, crate::hub::Subscription, i64), Refusal> {
    let identity = authenticate(state, query, headers)?;
    let forbidden = || (close::FORBIDDEN, "no such room for you".to_owned());
    let room_id = Uuid::parse_str(room_id).map_err(|_| forbidden())?;
    // Subscribed before the room is read: its `last_seq` then covers everything the
    // subscription will not see. Refused, the subscription is dropped unread.
    let subscription = state.hub.subscribe(room_id, identity.user_id);
    let room = state.rooms.room_for(&identity, room_id).await.map_err(|err| match err {
        Error::Store(err) => outage(err),
        _ => forbidden(),
    })?;
    let last = match query.get("after") {
        None => room.last_seq,
        Some(after) => after_seq(state, &room, after).await?,
    };
    let session = Session {
        messages: state.messages.clone(),
        hub: state.hub.clone(),
        config: state.config.clone(),
        people: state.people.clone(),
        identity,
        room,
        shutdown: state.shutdown.clone(),
    };
    Ok((session, subscription, last))
}

/// The caller, from `Authorization: Bearer` or else `?token=` (browsers cannot set headers).
fn authenticate(state: &AppState, query: &HashMap<String, String>, headers: &HeaderMap) -> Result<couple_common::Identity, Refusal> {
    let mut with_token;
    let headers = match query.get("token") {
        Some(token) if identity::bearer_token(headers).is_none() => {
            with_token = headers.clone();
            let value =
                HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| (close::UNAUTHENTICATED, "INVALID_TOKEN".to_owned()))?;
            with_token.insert(header::AUTHORIZATION, value);
            &with_token
        }
        _ => headers,
    };
    identity::authenticate(headers, &state.keys).map_err(|err| (close::UNAUTHENTICATED, format!("{}: {}", err.code, err.message)))
}

/// The `seq` of the `after` message, which must be one of the room's.
async fn after_seq(state: &AppState, room: &RoomRecord, after: &str) -> Result<i64, Refusal> {
    let bad = |why: &str| (close::BAD_AFTER, format!("after {why}"));
    let id = Uuid::parse_str(after).map_err(|_| bad("is not a message id"))?;
    state.messages.seq_of(room, id).await.map_err(|err| match err {
        Error::Store(err) => outage(err),
        _ => bad("is not a message of this room"),
    })
}

fn outage(err: StoreError) -> Refusal {
    tracing::warn!(%err, "a socket could not be opened");
    (close::INTERNAL, "the chat store is unavailable: try again shortly".to_owned())
}
