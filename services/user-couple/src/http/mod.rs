//! The HTTP surface: one router per resource, merged into [`app`] behind the standard stack.

use std::{net::SocketAddr, sync::Arc};

use axum::{
    Router,
    extract::{ConnectInfo, FromRef, FromRequestParts},
    http::request::Parts,
};
use couple_common::{ApiError, JwtKeys, server};
use secrecy::SecretString;

use crate::service::Service;

mod couples;
mod internal;
pub mod openapi;
mod users;

/// What handlers share.
#[derive(Clone)]
pub struct AppState {
    /// The behaviour.
    pub service: Arc<Service>,
    /// Token for `/internal/` calls; without it they are refused.
    pub internal_token: Option<Arc<SecretString>>,
    /// Whether the last `X-Forwarded-For` hop is the client address.
    pub trust_forwarded_for: bool,
}

impl FromRef<AppState> for Arc<JwtKeys> {
    fn from_ref(state: &AppState) -> Self {
        state.service.keys().clone()
    }
}

/// The whole API with the standard middleware, health endpoints and OpenAPI document.
pub fn app(state: AppState, readiness: Arc<dyn server::Readiness>, body_limit: usize) -> Router {
    let api = Router::new()
        .merge(users::router())
        .merge(couples::router())
        .merge(internal::router())
        .with_state(state)
        .merge(openapi::router())
        .merge(server::health_routes(readiness))
        .fallback(server::not_found);
    server::standard_layers(api, body_limit)
}

/// The caller's address: the hop the gateway appended to `X-Forwarded-For` when trusted, the
/// peer address otherwise.
pub struct ClientAddr(pub String);

impl FromRequestParts<AppState> for ClientAddr {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        if state.trust_forwarded_for
            && let Some(hop) =
                parts.headers.get_all("x-forwarded-for").iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).next_back()
        {
            let hop = hop.trim();
            if !hop.is_empty() && hop.len() <= 64 {
                return Ok(Self(hop.to_owned()));
            }
        }
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip().to_string());
        Ok(Self(peer.unwrap_or_else(|| "unknown".into())))
    }
}
