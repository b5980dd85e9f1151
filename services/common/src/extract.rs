//! Extractors whose rejections use the error envelope: malformed JSON is 400, a body that
//! parses but has the wrong shape is 422 with the offending field, an oversized body is 413.
//! Also who is calling: [`InternalCaller`] for `/internal/` endpoints and [`ClientAddr`] for
//! per-client limits, each configured through a small state type reached with `FromRef`.

use std::{net::SocketAddr, sync::Arc};

use axum::{
    extract::{ConnectInfo, FromRef, FromRequest, FromRequestParts, Request, rejection::BytesRejection},
    http::{StatusCode, header, request::Parts},
};
use bytes::Bytes;
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use subtle::ConstantTimeEq;

use crate::{
    config::SharedConfig,
    error::{ApiError, FieldErrors, codes},
    net::{INTERNAL_TOKEN_HEADER, last_forwarded_hop},
};

/// JSON body extractor with envelope rejections. As a response it is plain JSON.
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json =
            req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).and_then(|v| v.split(';').next()).is_some_and(|mime| {
                let mime = mime.trim();
                mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
            });
        if !is_json {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                codes::UNSUPPORTED_MEDIA_TYPE,
                "expected an application/json body",
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(body_rejection)?;
        parse_json(&bytes).map(Json)
    }
}

/// Parses a JSON body, telling syntax errors (400) from shape errors (422 with the field path).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    match serde_path_to_error::deserialize::<_, T>(&mut de) {
        Ok(value) => {
            de.end().map_err(malformed)?;
            Ok(value)
        }
        Err(err) => {
            let path = err.path().to_string();
            let inner = err.into_inner();
            if inner.classify() != serde_json::error::Category::Data {
                return Err(malformed(inner));
            }
            let field = if path.is_empty() || path == "." { "body".to_string() } else { path };
            let mut fields = FieldErrors::new();
            fields.insert(field, clean_serde_message(&inner.to_string()));
            Err(ApiError::validation(fields))
        }
    }
}

fn malformed(err: serde_json::Error) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, codes::MALFORMED_JSON, format!("malformed JSON: {}", clean_serde_message(&err.to_string())))
}

/// Drops serde's " at line 1 column 42" suffix, which means nothing to a client.
fn clean_serde_message(message: &str) -> String {
    match message.find(" at line ") {
        Some(idx) => message[..idx].to_string(),
        None => message.to_string(),
    }
}

fn body_rejection(rejection: BytesRejection) -> ApiError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::payload_too_large()
    } else {
        ApiError::bad_request("the request body could not be read")
    }
}

impl<T: serde::Serialize> axum::response::IntoResponse for Json<T> {
    fn into_response(self) -> axum::response::Response {
        axum::Json(self.0).into_response()
    }
}

/// Query-string extractor with envelope rejections (400 naming the problem).
#[derive(Debug, Clone, Copy, Default)]
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::try_from_uri(&parts.uri)
            .map(|q| Query(q.0))
            .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, codes::INVALID_QUERY, e.body_text()))
    }
}

/// The shared internal token (`COUPLE_INTERNAL_TOKEN`) in a service's state; without one the
/// internal API does not exist.
#[derive(Clone, Default)]
pub struct InternalToken(pub Option<Arc<SecretString>>);

impl InternalToken {
    /// The token the shared configuration names.
    pub fn from_config(shared: &SharedConfig) -> Self {
        Self(shared.internal_token.clone().map(Arc::new))
    }
}

/// A caller that presented the internal token in `X-Internal-Token`. Rejects with 404 "no such
/// endpoint" when no token is configured, 401 `INVALID_INTERNAL_TOKEN` when it is missing or wrong.
#[derive(Debug, Clone, Copy)]
pub struct InternalCaller;

impl<S> FromRequestParts<S> for InternalCaller
where
    InternalToken: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let InternalToken(Some(expected)) = InternalToken::from_ref(state) else { return Err(ApiError::no_such_endpoint()) };
        let presented = parts.headers.get(INTERNAL_TOKEN_HEADER).map_or(&[][..], |v| v.as_bytes());
        // Comparing lengths first reveals only the length, which the token's format fixes anyway.
        if bool::from(expected.expose_secret().as_bytes().ct_eq(presented)) {
            Ok(Self)
        } else {
            Err(ApiError::unauthorized(codes::INVALID_INTERNAL_TOKEN, "a valid internal token is required"))
        }
    }
}

/// Whether the last `X-Forwarded-For` hop is the client address, in a service's state: true
/// behind the gateway, which appends the address it saw.
#[derive(Debug, Clone, Copy, Default)]
pub struct TrustForwardedFor(pub bool);

/// The caller's address: the last `X-Forwarded-For` hop when trusted (and at most 64
/// characters), the peer address otherwise, `unknown` without either.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientAddr(pub String);

impl<S> FromRequestParts<S> for ClientAddr
where
    TrustForwardedFor: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        if TrustForwardedFor::from_ref(state).0
            && let Some(hop) = last_forwarded_hop(&parts.headers).filter(|hop| hop.len() <= 64)
        {
            return Ok(Self(hop.to_owned()));
        }
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip().to_string());
        Ok(Self(peer.unwrap_or_else(|| "unknown".into())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Clone)]
    struct State {
        token: InternalToken,
        trust: TrustForwardedFor,
    }

    impl FromRef<State> for InternalToken {
        fn from_ref(state: &State) -> Self {
            state.token.clone()
        }
    }

    impl FromRef<State> for TrustForwardedFor {
        fn from_ref(state: &State) -> Self {
            state.trust
        }
    }

    fn state(token: Option<&str>, trust: bool) -> State {
        State { token: InternalToken(token.map(|t| Arc::new(SecretString::from(t.to_owned())))), trust: TrustForwardedFor(trust) }
    }

    fn parts(headers: &[(&str, &str)]) -> Parts {
        let mut req = axum::http::Request::builder();
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        let mut parts = req.body(()).unwrap().into_parts().0;
        parts.extensions.insert(ConnectInfo(SocketAddr::from(([10, 0, 0, 7], 4321))));
        parts
    }

    async fn internal(state: &State, headers: &[(&str, &str)]) -> Result<InternalCaller, ApiError> {
        InternalCaller::from_request_parts(&mut parts(headers), state).await
    }

    #[tokio::test]
    async fn internal_calls_need_exactly_the_configured_token() {
        let with = state(Some("secret-token"), false);
        assert!(internal(&with, &[("x-internal-token", "secret-token")]).await.is_ok());
        for headers in [&[][..], &[("x-internal-token", "secret-tokeN")], &[("x-internal-token", "secret-token-and-more")]] {
            let err = internal(&with, headers).await.unwrap_err();
            assert_eq!((err.status, err.code.as_ref()), (StatusCode::UNAUTHORIZED, "INVALID_INTERNAL_TOKEN"), "{headers:?}");
        }
        let err = internal(&state(None, false), &[("x-internal-token", "secret-token")]).await.unwrap_err();
        assert_eq!((err.status, err.message.as_ref()), (StatusCode::NOT_FOUND, "no such endpoint"));
    }

    async fn client(state: &State, headers: &[(&str, &str)]) -> String {
        ClientAddr::from_request_parts(&mut parts(headers), state).await.unwrap().0
    }

    #[tokio::test]
    async fn the_client_address_is_the_trusted_last_hop_or_the_peer() {
        let forwarded = [("x-forwarded-for", "1.1.1.1, 2.2.2.2")];
        assert_eq!(client(&state(None, true), &forwarded).await, "2.2.2.2");
        assert_eq!(client(&state(None, false), &forwarded).await, "10.0.0.7", "an untrusted header is ignored");
        let long = "9".repeat(65);
        assert_eq!(client(&state(None, true), &[("x-forwarded-for", &long)]).await, "10.0.0.7", "an overlong hop is ignored");
        assert_eq!(client(&state(None, true), &[]).await, "10.0.0.7");
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        age: u8,
    }

    #[test]
    fn syntax_errors_are_bad_requests() {
        let err = parse_json::<Body>(b"{\"name\": ").unwrap_err();
        assert_eq!(err.status, StatusCode::BAD_REQUEST);
        assert_eq!(err.code, "MALFORMED_JSON");
    }

    #[test]
    fn shape_errors_name_the_field() {
        let err = parse_json::<Body>(br#"{"name": "a", "age": "old"}"#).unwrap_err();
        assert_eq!(err.status, StatusCode::UNPROCESSABLE_ENTITY);
        let fields = err.fields.unwrap();
        assert!(fields.contains_key("age"), "{fields:?}");
        assert!(!fields["age"].contains("line"), "{fields:?}");
    }

    #[test]
    fn trailing_garbage_is_rejected() {
        let err = parse_json::<Body>(br#"{"name": "a", "age": 3} x"#).unwrap_err();
        assert_eq!(err.status, StatusCode::BAD_REQUEST);
    }

    #[test]
    fn a_missing_field_is_a_validation_error() {
        let err = parse_json::<Body>(br#"{"name": "a"}"#).unwrap_err();
        assert_eq!(err.status, StatusCode::UNPROCESSABLE_ENTITY);
    }
}
