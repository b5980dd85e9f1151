//! The service's OpenAPI document.

use utoipa::OpenApi;

/// Chat's REST side (the WebSocket protocol is described in the README and api.md).
#[derive(OpenApi)]
#[openapi(info(title = "chat", description = "Couple chat rooms and messages."), tags((name = "chat", description = "Rooms and messages")))]
pub struct ApiDoc;
