//! The WebSocket side (placeholder: the socket helper writes it).

use axum::Router;

use crate::AppState;

/// `/ws/chat/{room_id}/` and `/ws/chat/{room_id}/chat/`.
pub fn router() -> Router<AppState> {
    Router::new()
}
