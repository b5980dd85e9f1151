//! `/internal/*` (placeholder: the REST helper writes the erasure endpoints).

use axum::Router;

use crate::AppState;

/// The internal routes.
pub fn router() -> Router<AppState> {
    Router::new()
}
