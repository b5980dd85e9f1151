//! Every way a request can fail at the gateway, and the one place that turns each into a status,
//! an error code and a log line. Causes are logged, never sent to the client.

use std::{sync::Arc, time::Duration};

use axum::{
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use couple_common::{ApiError, jwt::TokenError};

use crate::ratelimit::retry_after_secs;

/// A request the gateway answers itself instead of forwarding.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// No `Authorization: Bearer` (nor `?token=` on a WebSocket upgrade).
    #[error("no bearer token")]
    MissingToken,
    /// Expired, or a bad signature, algorithm, issuer, audience or shape.
    #[error(transparent)]
    Token(#[from] TokenError),
    /// The user's token version moved past the token's (logout, password change, ...).
    #[error("revoked token")]
    RevokedToken,
    /// Neither Redis nor the user-couple service could say whether the token is revoked.
    #[error("token version unavailable: {0}")]
    RevocationUnavailable(String),
    /// A WebSocket upgrade from a browser origin that is not allowed.
    #[error("origin not allowed")]
    OriginNotAllowed,
    /// The client's bucket is empty.
    #[error("rate limited")]
    RateLimited(Duration),
    /// The body is over `COUPLE_BODY_LIMIT_BYTES`.
    #[error("request body too large")]
    PayloadTooLarge,
    /// The client broke off or garbled the body.
    #[error("request body unreadable: {0}")]
    UnreadableBody(String),
    /// A path the gateway never forwards.
    #[error("not found")]
    NotFound,
    /// `Upgrade: websocket` on a connection that cannot be upgraded.
    #[error("connection cannot be upgraded")]
    NotUpgradable,
    /// The upstream's circuit is open.
    #[error("circuit open for {upstream}")]
    CircuitOpen { upstream: Arc<str>, retry_after: Duration },
    /// No response headers within the route timeout.
    #[error("{upstream} did not answer within {timeout:?}")]
    UpstreamTimeout { upstream: Arc<str>, timeout: Duration },
    /// The upstream could not be reached.
    #[error("{upstream} unreachable: {cause}")]
    UpstreamUnavailable { upstream: Arc<str>, cause: String },
    /// The upstream closed the connection or answered something that is not HTTP.
    #[error("bad response from {upstream}: {cause}")]
    BadGateway { upstream: Arc<str>, cause: String },
}

impl GatewayError {
    /// The status the client gets.
    pub fn status(&self) -> StatusCode {
        self.api_error().status
    }

    /// The wire error.
    fn api_error(&self) -> ApiError {
        use GatewayError::*;
        let with_retry = |mut err: ApiError, secs: u64| {
            err.retry_after = Some(secs.max(1));
            err
        };
        match self {
            MissingToken => ApiError::missing_token(),
            Token(err) => err.clone().into(),
            RevokedToken => ApiError::token_revoked(),
            RevocationUnavailable(_) => ApiError::unavailable("cannot check the session right now"),
            OriginNotAllowed => ApiError::forbidden("ORIGIN_NOT_ALLOWED", "this origin may not open a connection"),
            RateLimited(wait) => ApiError::too_many_requests(retry_after_secs(*wait)),
            PayloadTooLarge => ApiError::payload_too_large(),
            UnreadableBody(_) => ApiError::bad_request("the request body could not be read"),
            NotFound => ApiError::no_such_endpoint(),
            NotUpgradable => ApiError::bad_request("this connection cannot be upgraded to a WebSocket"),
            CircuitOpen { retry_after, .. } => with_retry(
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "CIRCUIT_OPEN", "the service is unavailable, try again shortly"),
                retry_after_secs(*retry_after),
            ),
            UpstreamTimeout { .. } => ApiError::new(StatusCode::GATEWAY_TIMEOUT, "UPSTREAM_TIMEOUT", "the service did not answer in time"),
            UpstreamUnavailable { .. } => {
                with_retry(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "UPSTREAM_UNAVAILABLE", "the service is unavailable"), 1)
            }
            BadGateway { .. } => ApiError::new(StatusCode::BAD_GATEWAY, "BAD_GATEWAY", "the service sent an invalid response"),
        }
    }

    fn log(&self) {
        use GatewayError::*;
        match self {
            UpstreamTimeout { upstream, timeout } => tracing::warn!(%upstream, ?timeout, "upstream timed out"),
            UpstreamUnavailable { upstream, cause } => tracing::warn!(%upstream, %cause, "upstream unreachable"),
            BadGateway { upstream, cause } => tracing::warn!(%upstream, %cause, "bad upstream response"),
            CircuitOpen { upstream, .. } => tracing::debug!(%upstream, "circuit open, request refused"),
            RevocationUnavailable(cause) => tracing::error!(%cause, "cannot check token revocation; refusing the request"),
            UnreadableBody(cause) => tracing::debug!(%cause, "request body unreadable"),
            _ => {}
        }
    }
}

impl IntoResponse for GatewayError {
    fn into_response(self) -> Response {
        self.log();
        let err = self.api_error();
        let unauthorized = err.status == StatusCode::UNAUTHORIZED;
        let mut response = err.into_response();
        if unauthorized {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_failures_map_to_502_503_504_with_stable_codes() {
        let upstream: Arc<str> = "chat".into();
        let cases = [
            (GatewayError::UpstreamTimeout { upstream: upstream.clone(), timeout: Duration::from_secs(1) }, 504, "UPSTREAM_TIMEOUT"),
            (GatewayError::UpstreamUnavailable { upstream: upstream.clone(), cause: "refused".into() }, 503, "UPSTREAM_UNAVAILABLE"),
            (GatewayError::BadGateway { upstream: upstream.clone(), cause: "reset".into() }, 502, "BAD_GATEWAY"),
            (GatewayError::CircuitOpen { upstream, retry_after: Duration::from_millis(1500) }, 503, "CIRCUIT_OPEN"),
        ];
        for (err, status, code) in cases {
            let api = err.api_error();
            assert_eq!((api.status.as_u16(), api.code.as_ref()), (status, code));
            assert!(!api.message.contains("refused") && !api.message.contains("reset"), "causes stay in the logs");
        }
        let open = GatewayError::CircuitOpen { upstream: "x".into(), retry_after: Duration::from_millis(1500) };
        assert_eq!(open.api_error().retry_after, Some(2));
    }

    #[test]
    fn authentication_failures_ask_for_a_bearer_token() {
        let response = GatewayError::RevokedToken.into_response();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(response.headers()[header::WWW_AUTHENTICATE], "Bearer");
    }
}
