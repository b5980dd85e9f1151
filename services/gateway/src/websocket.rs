//! WebSocket upgrades: authenticated like any request (the token may also come as `?token=`,
//! since browsers cannot set headers on a WebSocket), checked against the allowed origins, then
//! forwarded; once the upstream answers 101 the two upgraded connections are spliced byte for
//! byte until either side closes or the gateway shuts down.

use std::time::Duration;

use axum::{
    body::Body,
    http::{
        HeaderMap, HeaderValue, StatusCode, Uri,
        header::{CONNECTION, HOST, ORIGIN, UPGRADE},
        request::Parts,
    },
    response::Response,
};
use bytes::Bytes;
use couple_common::{net::last_hop, shutdown::Shutdown};
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

/// A browser's `Origin` must be one of the allowed ones or the gateway's own (the scheme, host
/// and port the request was sent to: the web client it serves and a local `make run` need no
/// configuration); clients that send none (not browsers) pass, since the origin check only
/// protects browser sessions from other sites.
pub(crate) fn check_origin(parts: &Parts, allowed: &[HeaderValue], trust_forwarded: bool) -> Result<(), GatewayError> {
    let Some(origin) = parts.headers.get(ORIGIN) else { return Ok(()) };
    let origin = origin.to_str().map(normalise_origin).map_err(|_| GatewayError::OriginNotAllowed)?;
    let listed = allowed.iter().any(|a| a.to_str().is_ok_and(|a| normalise_origin(a) == origin));
    if listed || own_origin(parts, trust_forwarded).is_some_and(|own| own == origin) { Ok(()) } else { Err(GatewayError::OriginNotAllowed) }
}

/// The origin the request was sent to: `http://` and its `Host` (the listener has no TLS), or
/// behind a trusted proxy the scheme and host that proxy received (`X-Forwarded-Proto`,
/// `X-Forwarded-Host`, the nearest hop, as for the client address).
fn own_origin(parts: &Parts, trust_forwarded: bool) -> Option<String> {
    let forwarded = |name| trust_forwarded.then(|| last_hop(&parts.headers, name)).flatten();
    let scheme = forwarded("x-forwarded-proto").unwrap_or("http");
    let host = match forwarded("x-forwarded-host") {
        Some(host) => host,
        None => match parts.headers.get(HOST) {
            Some(host) => host.to_str().ok()?,
            None => parts.uri.authority()?.as_str(),
        },
    };
    Some(normalise_origin(&format!("{scheme}://{host}")))
}

/// Lower case, no trailing slash, and no port where it is the scheme's default, so
/// `https://App.example:443` and `https://app.example` are one origin.
fn normalise_origin(origin: &str) -> String {
    let origin = origin.trim().trim_end_matches('/').to_ascii_lowercase();
    for (scheme, port) in [("http://", ":80"), ("https://", ":443")] {
        if origin.starts_with(scheme) && origin.ends_with(port) {
            return origin[..origin.len() - port.len()].to_owned();
        }
    }
    origin
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

    /// An upgrade request to `uri` with these headers.
    fn upgrade(uri: &str, headers: &[(&str, &str)]) -> Parts {
        let mut request = axum::http::Request::builder().uri(uri);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.body(()).unwrap().into_parts().0
    }

    fn allowed(parts: &Parts, allowed: &[HeaderValue], trust_forwarded: bool) -> bool {
        match check_origin(parts, allowed, trust_forwarded) {
            Ok(()) => true,
            Err(GatewayError::OriginNotAllowed) => false,
            Err(other) => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn listed_origins_may_upgrade_and_others_not() {
        let listed = [HeaderValue::from_static("https://app.example")];
        let from = |origin| upgrade("/ws/chat/1/", &[("host", "gateway.example"), ("origin", origin)]);
        assert!(allowed(&upgrade("/ws/chat/1/", &[("host", "gateway.example")]), &listed, false), "no Origin: not a browser");
        assert!(allowed(&from("https://App.example"), &listed, false));
        assert!(allowed(&from("https://app.example:443"), &listed, false), "the default port is the same origin");
        assert!(!allowed(&from("https://evil.example"), &listed, false));
        assert!(!allowed(&from("http://app.example"), &listed, false), "another scheme is another origin");
        assert!(!allowed(&from("https://evil.example"), &[], false), "none listed: only the gateway's own");
        assert!(!allowed(&from("null"), &listed, false), "a sandboxed page");
    }

    #[test]
    fn the_gateway_s_own_origin_may_upgrade_without_being_listed() {
        let to = |host, origin| upgrade("/ws/chat/1/", &[("host", host), ("origin", origin)]);
        assert!(allowed(&to("localhost:8080", "http://localhost:8080"), &[], false));
        assert!(allowed(&to("LocalHost:8080", "http://localhost:8080"), &[], false), "case does not matter");
        assert!(allowed(&to("couple.example", "http://couple.example:80"), &[], false), "with the default port");
        assert!(allowed(&to("couple.example:80", "http://couple.example"), &[], false), "or without");
        assert!(allowed(&to("[::1]:8080", "http://[::1]:8080"), &[], false));
        assert!(!allowed(&to("localhost:8080", "http://localhost:3000"), &[], false), "another port");
        assert!(!allowed(&to("localhost:8080", "https://localhost:8080"), &[], false), "the listener is plain http");
        assert!(!allowed(&to("gateway.example", "http://evil.example"), &[], false));
        let no_host = upgrade("http://couple.example/ws/chat/1/", &[("origin", "http://couple.example")]);
        assert!(allowed(&no_host, &[], false), "the authority of an absolute request target");
    }

    #[test]
    fn behind_a_trusted_proxy_the_own_origin_is_what_the_proxy_received() {
        let behind = |origin| {
            upgrade(
                "/ws/chat/1/",
                &[
                    ("host", "demo-gateway:8080"),
                    ("x-forwarded-host", "couple.example.com"),
                    ("x-forwarded-proto", "https"),
                    ("origin", origin),
                ],
            )
        };
        assert!(allowed(&behind("https://couple.example.com"), &[], true));
        assert!(allowed(&behind("https://couple.example.com:443"), &[], true));
        assert!(!allowed(&behind("http://couple.example.com"), &[], true));
        assert!(!allowed(&behind("https://evil.example"), &[], true));
        // Untrusted, the forwarding headers are the client's word: only Host counts.
        assert!(!allowed(&behind("https://couple.example.com"), &[], false));
        assert!(allowed(&behind("http://demo-gateway:8080"), &[], false));
        let proto_only =
            upgrade("/ws/", &[("host", "couple.example.com"), ("x-forwarded-proto", "https"), ("origin", "https://couple.example.com")]);
        assert!(allowed(&proto_only, &[], true), "the Host the proxy passed on, with its scheme");
    }
}
