//! The service's OpenAPI document, served at `/openapi.json` (with the shared error bodies,
//! bearer scheme and standard responses added by `server::app`) and merged by the gateway. Each
//! path is also served without its trailing slash; the WebSocket protocol is described in the
//! README and api.md.

use utoipa::OpenApi;

use crate::{internal, messages::http as messages, rooms::http as rooms};

/// The document.
#[derive(OpenApi)]
#[openapi(
    info(title = "Chat service", description = "Couple chat: rooms, stored messages in per-room order, read markers; live delivery over WebSocket."),
    paths(
        rooms::create, rooms::list, rooms::room,
        messages::create, messages::history, messages::mark_read,
        internal::erase_user, internal::erase_couple,
    ),
    tags((name = "chat", description = "Rooms and messages"), (name = "internal", description = "Service-to-service; never routed by the gateway")),
)]
pub struct ApiDoc;
