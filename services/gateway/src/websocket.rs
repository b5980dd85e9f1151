//! WebSocket upgrades: authenticated like any request (the token may also come as `?token=`,
//! since browsers cannot set headers on a WebSocket), checked against the allowed origins, then
//! forwarded; once the upstream answers 101 the two upgraded connections are spliced byte for
//! byte until either side closes or the gateway shuts down.

use std::time::Duration;

use axum::{
    body::Body,
    http::{
        HeaderMap, HeaderValue, StatusCode, Uri,
        header::{CONNECTION, ORIGIN, UPGRADE},
        request::Parts,
    },
    response::Response,
};
use bytes::Bytes;
use couple_common::shutdown::Shutdown;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;

use crate::{
    GatewayState,
    error::GatewayError,
    proxy::{client_response, exchange, upstream_request},
    routes::Route,
};

/// Whether the request asks to become a WebSocket.
pub(crate) fn is_upgrade(headers: &HeaderMap) -> bool {
    headers.get(UPGRADE).is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"websocket"))
}

/// A browser's `Origin` must be one of the allowed ones; clients that send none (not browsers)
/// pass, since the origin check only protects browser sessions from other sites.
pub(crate) fn check_origin(headers: &HeaderMap, allowed: &[HeaderValue]) -> Result<(), GatewayError> {
    match headers.get(ORIGIN) {
        Some(origin) if !allowed.iter().any(|a| a.as_bytes().eq_ignore_ascii_case(origin.as_bytes())) => {
            Err(GatewayError::OriginNotAllowed)
        }
        _ => Ok(()),
    }
}

/// Removes every `token` parameter from the query and returns the last non-empty value.
pub(crate) fn take_query_token(uri: &mut Uri) -> Option<String> {
    let query = uri.query()?;
    if !query.split('&').any(|pair| pair == "token" || pair.starts_with("token=")) {
        return None;
    }
    let mut token = None;
    let mut kept = String::new();
    for pair in query.split('&') {
        match pair.split_once('=') {
            Some(("token", value)) => token = Some(value.to_owned()),
            _ if pair == "token" || pair.is_empty() => {}
            _ => {
                if !kept.is_empty() {
                    kept.push('&');
                }
                kept.push_str(pair);
            }
        }
    }
    let rebuilt = if kept.is_empty() { uri.path().to_owned() } else { format!("{}?{kept}", uri.path()) };
    // The pieces came from a valid URI, so the rebuilt one is valid too.
    if let Ok(rebuilt) = rebuilt.parse() {
        *uri = rebuilt;
    }
    token.filter(|t| !t.is_empty())
}

/// Forwards the upgrade request (headers already prepared) and, on 101, splices the connections.
pub(crate) async fn proxy(gateway: &GatewayState, route: &Route, mut parts: Parts) -> Result<Response, GatewayError> {
    let client_side = parts.extensions.remove::<OnUpgrade>().ok_or(GatewayError::NotUpgradable)?;
    parts.headers.insert(CONNECTION, HeaderValue::from_static("upgrade"));
    parts.headers.insert(UPGRADE, HeaderValue::from_static("websocket"));
    let request = upstream_request(&route.upstream, parts, Bytes::new());
    let mut response = exchange(&gateway.client, route, request, false).await?;
    if response.status() != StatusCode::SWITCHING_PROTOCOLS {
        return Ok(client_response(response));
    }
    let upstream_side = hyper::upgrade::on(&mut response);
    tokio::spawn(splice(client_side, upstream_side, gateway.shutdown.clone()));
    // The 101 keeps its Upgrade, Connection and Sec-WebSocket-* headers: they are the handshake.
    let (parts, _) = response.into_parts();
    Ok(Response::from_parts(parts, Body::empty()))
}

async fn splice(client: OnUpgrade, upstream: OnUpgrade, shutdown: Shutdown) {
    let (client, upstream) = match tokio::time::timeout(Duration::from_secs(10), async { tokio::try_join!(client, upstream) }).await {
        Ok(Ok(pair)) => pair,
        Ok(Err(err)) => return tracing::warn!(error = %err, "websocket upgrade failed"),
        Err(_) => return tracing::warn!("websocket upgrade did not complete"),
    };
    let (mut client, mut upstream) = (TokioIo::new(client), TokioIo::new(upstream));
    tokio::select! {
        result = tokio::io::copy_bidirectional(&mut client, &mut upstream) => {
            if let Err(err) = result {
                tracing::debug!(error = %err, "websocket connection ended with an error");
            }
        }
        // Clients reconnect (to another replica) and resume with `?after=`.
        () = shutdown.wait() => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn take(uri: &str) -> (Option<String>, String) {
        let mut uri: Uri = uri.parse().unwrap();
        let token = take_query_token(&mut uri);
        (token, uri.to_string())
    }

    #[test]
    fn the_token_is_taken_out_of_the_query() {
        assert_eq!(take("/ws/chat/1/?token=abc.def&after=5"), (Some("abc.def".into()), "/ws/chat/1/?after=5".into()));
        assert_eq!(take("/ws/chat/1/?after=5&token=abc"), (Some("abc".into()), "/ws/chat/1/?after=5".into()));
        assert_eq!(take("/ws/chat/1/?token=abc"), (Some("abc".into()), "/ws/chat/1/".into()));
        assert_eq!(take("/ws/chat/1/?token="), (None, "/ws/chat/1/".into()));
        assert_eq!(take("/ws/chat/1/?tokens=1"), (None, "/ws/chat/1/?tokens=1".into()));
        assert_eq!(take("/ws/chat/1/"), (None, "/ws/chat/1/".into()));
    }

    #[test]
    fn only_allowed_origins_may_upgrade() {
        let allowed = [HeaderValue::from_static("https://app.example")];
        let mut headers = HeaderMap::new();
        assert!(check_origin(&headers, &allowed).is_ok(), "no Origin: not a browser");
        headers.insert(ORIGIN, HeaderValue::from_static("https://App.example"));
        assert!(check_origin(&headers, &allowed).is_ok());
        headers.insert(ORIGIN, HeaderValue::from_static("https://evil.example"));
        assert!(matches!(check_origin(&headers, &allowed), Err(GatewayError::OriginNotAllowed)));
        assert!(check_origin(&headers, &[]).is_err(), "no allowed origins: no browser may connect");
    }
}
