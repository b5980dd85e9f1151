//! Forwarding a request: authenticate, rate-limit, rewrite the headers, send it upstream through a
//! pooled HTTP/1 client, and stream the answer back.
//!
//! Request bodies are buffered (they are capped at `COUPLE_BODY_LIMIT_BYTES` anyway), so an
//! idempotent request can be sent again when the connection failed before any answer; response
//! bodies are streamed. The route timeout bounds the wait for response headers, retries included.

use std::{
    error::Error as StdError,
    net::{IpAddr, Ipv4Addr, SocketAddr},
    sync::{Arc, OnceLock},
    time::{Duration, Instant},
};

use axum::{
    body::Body,
    extract::{ConnectInfo, Request},
    http::{
        HeaderMap, HeaderName, HeaderValue, Method, StatusCode,
        header::{
            self, CONNECTION, CONTENT_LENGTH, EXPECT, HOST, PROXY_AUTHENTICATE, PROXY_AUTHORIZATION, TE, TRAILER, TRANSFER_ENCODING,
            UPGRADE,
        },
        request::Parts,
        uri::PathAndQuery,
    },
    response::{IntoResponse, Response},
};
use bytes::Bytes;
use couple_common::{
    Claims,
    identity::{COUPLE_ID_HEADER, IDENTITY_HEADERS, USER_ID_HEADER, bearer_token},
    jwt::TokenError,
    net::last_forwarded_hop,
};
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::{Body as _, Incoming};
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::{TokioExecutor, TokioTimer},
};
use uuid::Uuid;

use crate::{
    GatewayState,
    error::GatewayError,
    ratelimit::ClientKey,
    routes::{Route, Upstream, has_dot_segment},
    websocket,
};

/// The upstream client: HTTP/1 with a connection pool per upstream.
pub(crate) type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// Retries of an idempotent request after a connection failure.
const MAX_RETRIES: u32 = 2;
/// The first pause before a retry; doubled for the next.
const FIRST_BACKOFF: Duration = Duration::from_millis(20);

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

/// Headers that describe one connection, not the message: never forwarded either way.
static HOP_BY_HOP: [HeaderName; 9] = [
    CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    PROXY_AUTHENTICATE,
    PROXY_AUTHORIZATION,
    TE,
    TRAILER,
    TRANSFER_ENCODING,
    UPGRADE,
];

/// Forwarding headers only a trusted proxy in front of the gateway may set.
static FORWARDING: [HeaderName; 4] =
    [header::FORWARDED, X_FORWARDED_HOST, HeaderName::from_static("x-forwarded-proto"), HeaderName::from_static("x-real-ip")];

/// The client every upstream call shares.
pub(crate) fn http_client() -> HttpClient {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    connector.set_keepalive(Some(Duration::from_secs(60)));
    Client::builder(TokioExecutor::new()).pool_timer(TokioTimer::new()).pool_idle_timeout(Duration::from_secs(30)).build(connector)
}

/// The handler behind every route.
pub(crate) async fn handle(gateway: Arc<GatewayState>, route: usize, request: Request) -> Response {
    let route = &gateway.routes.routes[route];
    match proxy(&gateway, route, request).await {
        Ok(response) => response,
        Err(err) => err.into_response(),
    }
}

async fn proxy(gateway: &GatewayState, route: &Route, request: Request) -> Result<Response, GatewayError> {
    let (mut parts, body) = request.into_parts();
    if has_dot_segment(parts.uri.path()) {
        return Err(GatewayError::NotFound);
    }
    let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |info| info.0.ip());
    let upgrade = websocket::is_upgrade(&parts.headers);
    // Browsers cannot set headers on a WebSocket, so the token may come in the query; it is taken
    // out of the URI so it never travels further (or into a log) there.
    let query_token = if upgrade {
        websocket::check_origin(&parts, &gateway.allowed_origins, gateway.trust_forwarded_for)?;
        websocket::take_query_token(&mut parts.uri)
    } else {
        None
    };

    let verified = (upgrade || !gateway.routes.is_public(&parts.method, parts.uri.path()))
        .then(|| gateway.auth.verify(bearer_token(&parts.headers).or(query_token.as_deref())));
    let client = match &verified {
        Some(Ok(claims)) => ClientKey::User(claims.sub),
        _ => ClientKey::Ip(client_ip(&parts.headers, peer, gateway.trust_forwarded_for)),
    };
    gateway.limiter.check(client).await?;
    let claims = verified.transpose()?;
    if let Some(claims) = &claims {
        gateway.auth.check_not_revoked(claims).await?;
    }

    if upgrade {
        // The upstream verifies the token itself, so it must get the one that was verified here.
        let query_token = query_token.filter(|_| bearer_token(&parts.headers).is_none());
        prepare_headers(&mut parts.headers, claims.as_ref(), peer, gateway.trust_forwarded_for);
        if let Some(token) = query_token {
            let value = HeaderValue::try_from(format!("Bearer {token}"))
                .map_err(|_| TokenError::Invalid("the query token is not a header value".into()))?;
            parts.headers.insert(header::AUTHORIZATION, value);
        }
        return websocket::proxy(gateway, route, parts).await;
    }
    let body = read_body(body, &parts.headers, gateway.body_limit).await?;
    prepare_headers(&mut parts.headers, claims.as_ref(), peer, gateway.trust_forwarded_for);
    let retry = is_idempotent(&parts.method);
    let request = upstream_request(&route.upstream, parts, body);
    exchange(&gateway.client, route, request, retry).await.map(client_response)
}

/// Sends `request` through the upstream's circuit breaker within the route timeout, retrying
/// connection failures when `retry` allows, and records the outcome.
pub(crate) async fn exchange(
    client: &HttpClient,
    route: &Route,
    request: hyper::Request<Full<Bytes>>,
    retry: bool,
) -> Result<hyper::Response<Incoming>, GatewayError> {
    let upstream = &route.upstream;
    let permit = upstream
        .breaker
        .try_acquire(Instant::now())
        .map_err(|retry_after| GatewayError::CircuitOpen { upstream: upstream.name.clone(), retry_after })?;
    let started = Instant::now();
    let deadline = tokio::time::Instant::from_std(started + route.timeout);
    let outcome = match tokio::time::timeout_at(deadline, send(client, request, retry, deadline)).await {
        Ok(outcome) => outcome,
        Err(_) => Err(Failure::Timeout),
    };
    match outcome {
        Ok(response) => {
            permit.success();
            upstream.metrics.record(response.status(), started.elapsed());
            Ok(response)
        }
        Err(failure) => {
            permit.failure(Instant::now());
            let err = failure.into_error(upstream, route.timeout);
            upstream.metrics.record(err.status(), started.elapsed());
            Err(err)
        }
    }
}

async fn send(
    client: &HttpClient,
    request: hyper::Request<Full<Bytes>>,
    retry: bool,
    deadline: tokio::time::Instant,
) -> Result<hyper::Response<Incoming>, Failure> {
    let mut retries_left = if retry { MAX_RETRIES } else { 0 };
    let mut backoff = FIRST_BACKOFF;
    loop {
        if retries_left == 0 {
            return client.request(request).await.map_err(|e| classify(&e));
        }
        let failure = match client.request(clone_request(&request)).await {
            Ok(response) => return Ok(response),
            Err(err) => classify(&err),
        };
        if !failure.retriable() || tokio::time::Instant::now() + backoff >= deadline {
            return Err(failure);
        }
        tracing::debug!(?failure, "retrying an idempotent request");
        retries_left -= 1;
        tokio::time::sleep(backoff).await;
        backoff *= 2;
    }
}

/// Safe to send twice: the methods HTTP defines as idempotent.
fn is_idempotent(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS | Method::PUT | Method::DELETE)
}

fn clone_request(request: &hyper::Request<Full<Bytes>>) -> hyper::Request<Full<Bytes>> {
    let mut copy = hyper::Request::new(request.body().clone());
    *copy.method_mut() = request.method().clone();
    *copy.uri_mut() = request.uri().clone();
    *copy.headers_mut() = request.headers().clone();
    copy
}

/// The request to send: the client's method, path, query and (prepared) headers, aimed at the
/// upstream. The server-side extensions stay behind.
pub(crate) fn upstream_request(upstream: &Upstream, parts: Parts, body: Bytes) -> hyper::Request<Full<Bytes>> {
    let path_and_query = parts.uri.path_and_query().cloned().unwrap_or_else(|| PathAndQuery::from_static("/"));
    let mut request = hyper::Request::new(Full::new(body));
    *request.method_mut() = parts.method;
    *request.uri_mut() = upstream.uri(path_and_query);
    *request.headers_mut() = parts.headers;
    request
}

/// The upstream's response as the client gets it: hop-by-hop headers dropped, body streamed.
pub(crate) fn client_response(response: hyper::Response<Incoming>) -> Response {
    let (mut parts, body) = response.into_parts();
    strip_hop_by_hop(&mut parts.headers);
    Response::from_parts(parts, Body::new(body))
}

/// Buffers the body up to `limit`, refusing early when `Content-Length` already says it is larger.
async fn read_body(body: Body, headers: &HeaderMap, limit: usize) -> Result<Bytes, GatewayError> {
    let announced = headers.get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|len| len > limit as u64) {
        return Err(GatewayError::PayloadTooLarge);
    }
    if body.is_end_stream() {
        return Ok(Bytes::new());
    }
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(err) if err.downcast_ref::<LengthLimitError>().is_some() => Err(GatewayError::PayloadTooLarge),
        Err(err) => Err(GatewayError::UnreadableBody(err.to_string())),
    }
}

/// Rewrites the client's headers for the upstream: connection headers out, identity headers
/// replaced by the verified ones, forwarding headers set. `Authorization` and `X-Request-ID` pass.
pub(crate) fn prepare_headers(headers: &mut HeaderMap, claims: Option<&Claims>, peer: IpAddr, trust_forwarded: bool) {
    strip_hop_by_hop(headers);
    // The body is re-framed by the client from the buffered bytes.
    headers.remove(CONTENT_LENGTH);
    headers.remove(EXPECT);
    for name in IDENTITY_HEADERS {
        headers.remove(name);
    }
    if let Some(claims) = claims {
        headers.insert(USER_ID_HEADER, uuid_header(claims.sub));
        if let Some(couple_id) = claims.couple_id {
            headers.insert(COUPLE_ID_HEADER, uuid_header(couple_id));
        }
    }

    let host = headers.remove(HOST);
    if !trust_forwarded {
        for name in &FORWARDING {
            headers.remove(name);
        }
    }
    if let Some(host) = host
        && !headers.contains_key(&X_FORWARDED_HOST)
    {
        headers.insert(X_FORWARDED_HOST, host);
    }
    // Untrusted, the client's own X-Forwarded-For is dropped: services read its first hop as the
    // client address (for login limits), which a client must not be able to choose.
    let previous = trust_forwarded.then(|| forwarded_for(headers)).flatten();
    let value = match previous {
        Some(previous) => format!("{previous}, {peer}"),
        None => peer.to_string(),
    };
    if let Ok(value) = HeaderValue::try_from(value) {
        headers.insert(X_FORWARDED_FOR, value);
    }
}

/// All `X-Forwarded-For` lines joined, when they are readable.
fn forwarded_for(headers: &HeaderMap) -> Option<String> {
    let mut joined = String::new();
    for value in headers.get_all(X_FORWARDED_FOR) {
        let value = value.to_str().ok()?.trim();
        if !value.is_empty() {
            if !joined.is_empty() {
                joined.push_str(", ");
            }
            joined.push_str(value);
        }
    }
    (!joined.is_empty()).then_some(joined)
}

/// The address requests are counted against: the TCP peer, or behind a trusted proxy the last
/// `X-Forwarded-For` hop, which that proxy appended (earlier hops are whatever the client sent).
pub(crate) fn client_ip(headers: &HeaderMap, peer: IpAddr, trust_forwarded: bool) -> IpAddr {
    if !trust_forwarded {
        return peer;
    }
    last_forwarded_hop(headers).and_then(|hop| hop.parse().ok()).unwrap_or(peer)
}

/// Drops hop-by-hop headers, including any the `Connection` header names.
pub(crate) fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let mut named = Vec::new();
    for value in headers.get_all(CONNECTION) {
        for token in value.to_str().unwrap_or_default().split(',').map(str::trim) {
            let ordinary = token.is_empty() || ["keep-alive", "close", "upgrade"].iter().any(|t| token.eq_ignore_ascii_case(t));
            if let (false, Ok(name)) = (ordinary, HeaderName::from_bytes(token.as_bytes())) {
                named.push(name);
            }
        }
    }
    for name in named {
        headers.remove(name);
    }
    for name in &HOP_BY_HOP {
        headers.remove(name);
    }
}

fn uuid_header(id: Uuid) -> HeaderValue {
    let mut buf = Uuid::encode_buffer();
    // A hyphenated UUID is always a valid header value.
    HeaderValue::from_str(id.hyphenated().encode_lower(&mut buf)).expect("a UUID is a valid header value")
}

/// Why an exchange with an upstream failed.
#[derive(Debug)]
pub(crate) enum Failure {
    /// No connection: refused, unresolvable, unreachable.
    Connect(String),
    /// The connection closed or reset before a response arrived.
    Closed(String),
    /// The upstream answered something that is not HTTP.
    Protocol(String),
    /// No response headers within the route timeout.
    Timeout,
}

impl Failure {
    /// Whether the request may be sent again (for idempotent methods): nothing was answered.
    fn retriable(&self) -> bool {
        matches!(self, Failure::Connect(_) | Failure::Closed(_))
    }

    pub(crate) fn into_error(self, upstream: &Upstream, timeout: Duration) -> GatewayError {
        let name = upstream.name.clone();
        match self {
            Failure::Connect(cause) => GatewayError::UpstreamUnavailable { upstream: name, cause },
            Failure::Closed(cause) | Failure::Protocol(cause) => GatewayError::BadGateway { upstream: name, cause },
            Failure::Timeout => GatewayError::UpstreamTimeout { upstream: name, timeout },
        }
    }
}

pub(crate) fn classify(err: &hyper_util::client::legacy::Error) -> Failure {
    let cause = describe(err);
    if err.is_connect() {
        return Failure::Connect(cause);
    }
    let mut source = err.source();
    while let Some(current) = source {
        if let Some(hyper_err) = current.downcast_ref::<hyper::Error>() {
            if hyper_err.is_incomplete_message() || hyper_err.is_canceled() || hyper_err.is_closed() {
                return Failure::Closed(cause);
            }
            if hyper_err.is_parse() {
                return Failure::Protocol(cause);
            }
        }
        if let Some(io) = current.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind::*;
            if matches!(io.kind(), ConnectionReset | ConnectionAborted | BrokenPipe | UnexpectedEof) {
                return Failure::Closed(cause);
            }
        }
        source = current.source();
    }
    Failure::Protocol(cause)
}

/// An error and its causes on one line, for the logs.
pub(crate) fn describe(err: &dyn StdError) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// `gateway_upstream_requests_total{upstream,status}` and
/// `gateway_upstream_request_duration_seconds{upstream}`. The handles are resolved once per
/// upstream and status, so recording costs no allocation or registry lookup.
pub(crate) struct UpstreamMetrics {
    name: String,
    by_status: Box<[OnceLock<metrics::Counter>]>,
    duration: OnceLock<metrics::Histogram>,
}

impl std::fmt::Debug for UpstreamMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamMetrics").field("name", &self.name).finish_non_exhaustive()
    }
}

impl UpstreamMetrics {
    pub fn new(upstream: &str) -> Self {
        // One slot per status code 100..=999.
        Self { name: upstream.to_owned(), by_status: (100..1000).map(|_| OnceLock::new()).collect(), duration: OnceLock::new() }
    }

    fn record(&self, status: StatusCode, elapsed: Duration) {
        let counter = self.by_status[usize::from(status.as_u16()) - 100].get_or_init(|| {
            metrics::counter!("gateway_upstream_requests_total", "upstream" => self.name.clone(), "status" => status.as_str().to_owned())
        });
        counter.increment(1);
        let histogram =
            self.duration.get_or_init(|| metrics::histogram!("gateway_upstream_request_duration_seconds", "upstream" => self.name.clone()));
        histogram.record(elapsed.as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn hop_by_hop_headers_and_those_named_in_connection_are_dropped() {
        let mut map = headers(&[
            ("connection", "keep-alive, x-secret"),
            ("keep-alive", "timeout=5"),
            ("transfer-encoding", "chunked"),
            ("x-secret", "1"),
            ("te", "trailers"),
            ("accept", "application/json"),
        ]);
        strip_hop_by_hop(&mut map);
        assert_eq!(map.len(), 1, "{map:?}");
        assert!(map.contains_key("accept"));
    }

    #[test]
    fn identity_and_untrusted_forwarding_headers_are_replaced() {
        let mut map = headers(&[
            ("x-user-id", "spoofed"),
            ("x-couple-id", "spoofed"),
            ("x-nickname", "spoofed"),
            ("x-email", "spoofed"),
            ("x-forwarded-for", "1.2.3.4"),
            ("x-real-ip", "1.2.3.4"),
            ("host", "api.example"),
            ("authorization", "Bearer t"),
            ("content-length", "3"),
        ]);
        let peer: IpAddr = "10.0.0.7".parse().unwrap();
        prepare_headers(&mut map, None, peer, false);
        for name in IDENTITY_HEADERS.iter().chain(&["x-real-ip", "host", "content-length"]) {
            assert!(!map.contains_key(*name), "{name} must be gone");
        }
        assert_eq!(map["x-forwarded-for"], "10.0.0.7");
        assert_eq!(map["x-forwarded-host"], "api.example");
        assert_eq!(map["authorization"], "Bearer t");
    }

    #[test]
    fn a_trusted_proxy_chain_is_extended_and_its_last_hop_is_the_client() {
        let mut map = headers(&[("x-forwarded-for", "6.6.6.6, 203.0.113.9")]);
        let peer: IpAddr = "10.0.0.1".parse().unwrap();
        assert_eq!(client_ip(&map, peer, true), "203.0.113.9".parse::<IpAddr>().unwrap());
        assert_eq!(client_ip(&map, peer, false), peer);
        prepare_headers(&mut map, None, peer, true);
        assert_eq!(map["x-forwarded-for"], "6.6.6.6, 203.0.113.9, 10.0.0.1");
    }

    #[test]
    fn only_idempotent_methods_are_retried() {
        for method in [Method::GET, Method::HEAD, Method::OPTIONS, Method::PUT, Method::DELETE] {
            assert!(is_idempotent(&method), "{method}");
        }
        assert!(!is_idempotent(&Method::POST));
        assert!(!is_idempotent(&Method::PATCH));
    }
}
