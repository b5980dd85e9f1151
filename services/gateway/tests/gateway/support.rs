//! Fake upstreams and a gateway started on real sockets.

use std::{
    collections::HashMap,
    convert::Infallible,
    net::SocketAddr,
    path::PathBuf,
    sync::{
        Arc, Mutex,
        atomic::{AtomicI64, AtomicUsize, Ordering},
    },
    time::Duration,
};

use axum::{
    Router,
    body::Bytes,
    extract::{Path, Request, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::get,
};
use couple_common::{
    JwtKeys, Role,
    config::{ListenConfig, PeerUrls, SharedConfig},
    jwt::TokenSubject,
    net::INTERNAL_TOKEN_HEADER,
    shutdown::{ShutdownTrigger, channel},
    test_util,
};
use couple_registry::{SERVICES, ServiceSpec, USER_COUPLE};
pub use gateway::{CircuitConfig, Config};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use uuid::Uuid;

/// Nothing listens on port 1: connections are refused at once.
pub const DEAD: &str = "http://127.0.0.1:1";

/// A free loopback port, bound, and its URL.
pub async fn listener() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    (listener, url)
}

/// Serves `router` on a free loopback port for the rest of the test.
pub async fn serve(router: Router) -> String {
    let (listener, url) = listener().await;
    tokio::spawn(async move { axum::serve(listener, router).await });
    url
}

/// An upstream that answers every request with what it received.
pub fn echo(name: &'static str) -> Router {
    Router::new().fallback(move |request: Request| echo_request(name, request))
}

async fn echo_request(name: &'static str, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX).await.unwrap_or_default();
    let headers: serde_json::Map<String, Value> =
        parts.headers.iter().map(|(k, v)| (k.as_str().to_owned(), Value::from(v.to_str().unwrap_or("<binary>")))).collect();
    axum::Json(json!({
        "upstream": name,
        "method": parts.method.as_str(),
        "path": parts.uri.path(),
        "query": parts.uri.query(),
        "headers": headers,
        "bodyLength": body.len(),
    }))
    .into_response()
}

/// The user-couple service as the gateway sees it: token versions on the internal endpoint, an
/// OpenAPI document, and echo everywhere else.
#[derive(Default)]
pub struct UserCouple {
    versions: Mutex<HashMap<Uuid, i64>>,
    deleted: Mutex<Vec<Uuid>>,
    /// Token-version lookups answered.
    pub lookups: AtomicUsize,
    /// OpenAPI documents served.
    pub documents: AtomicUsize,
    /// Forwarded (non-internal) requests.
    pub requests: AtomicUsize,
}

impl UserCouple {
    pub fn set_version(&self, user: Uuid, version: i64) {
        self.versions.lock().unwrap().insert(user, version);
    }

    pub fn delete(&self, user: Uuid) {
        self.deleted.lock().unwrap().push(user);
    }
}

/// Starts a fake user-couple service.
pub async fn user_couple() -> (Arc<UserCouple>, String) {
    let state = Arc::new(UserCouple::default());
    let router = Router::new()
        .route("/internal/users/{id}/token-version", get(token_version))
        .route("/openapi.json", get(openapi))
        .fallback(|State(state): State<Arc<UserCouple>>, request: Request| async move {
            state.requests.fetch_add(1, Ordering::SeqCst);
            echo_request("user-couple", request).await
        })
        .with_state(state.clone());
    (state, serve(router).await)
}

async fn token_version(State(state): State<Arc<UserCouple>>, Path(id): Path<Uuid>, headers: HeaderMap) -> Response {
    let expected = test_util::shared_config().internal_token.map(|t| secrecy::ExposeSecret::expose_secret(&t).to_owned());
    if headers.get(INTERNAL_TOKEN_HEADER).and_then(|v| v.to_str().ok()) != expected.as_deref() {
        return StatusCode::NOT_FOUND.into_response();
    }
    state.lookups.fetch_add(1, Ordering::SeqCst);
    if state.deleted.lock().unwrap().contains(&id) {
        return (StatusCode::NOT_FOUND, axum::Json(json!({"success": false, "message": "no such user", "data": null}))).into_response();
    }
    let version = state.versions.lock().unwrap().get(&id).copied().unwrap_or(0);
    axum::Json(json!({"success": true, "message": "ok", "data": {"userId": id, "tokenVersion": version}})).into_response()
}

async fn openapi(State(state): State<Arc<UserCouple>>) -> axum::Json<Value> {
    state.documents.fetch_add(1, Ordering::SeqCst);
    axum::Json(json!({
        "openapi": "3.1.0",
        "info": {"title": "user-couple", "version": "1"},
        "paths": {
            "/api/users/login": {"post": {"operationId": "login"}},
            "/api/users/me": {"get": {"operationId": "me"}},
            "/internal/users/{id}/token-version": {"get": {}},
            "/healthz": {"get": {}}
        },
        "components": {"schemas": {"User": {"type": "object"}}}
    }))
}

/// An upstream that drops the next `drop_next` connections as soon as they are accepted and
/// answers the others with 200, one request per connection (so the gateway never reuses one and
/// every attempt is a new connection that can be counted).
pub struct Flaky {
    pub url: String,
    pub accepted: Arc<AtomicUsize>,
    pub served: Arc<AtomicUsize>,
    pub drop_next: Arc<AtomicI64>,
}

pub async fn flaky() -> Flaky {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (accepted, served, drop_next) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)), Arc::new(AtomicI64::new(0)));
    let flaky = Flaky { url, accepted: accepted.clone(), served: served.clone(), drop_next: drop_next.clone() };
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { continue };
            accepted.fetch_add(1, Ordering::SeqCst);
            if drop_next.fetch_sub(1, Ordering::SeqCst) > 0 {
                drop(stream);
                continue;
            }
            drop_next.fetch_add(1, Ordering::SeqCst);
            let served = served.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |_request| {
                    served.fetch_add(1, Ordering::SeqCst);
                    async { Ok::<_, Infallible>(hyper::Response::new(http_body_util::Full::new(Bytes::from_static(b"{\"ok\":true}")))) }
                });
                let io = hyper_util::rt::TokioIo::new(stream);
                let _ = hyper::server::conn::http1::Builder::new().keep_alive(false).serve_connection(io, service).await;
            });
        }
    });
    flaky
}

/// Writes `table` to a new route file for `GATEWAY_ROUTES_FILE`.
pub fn routes_file(table: &Value) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gateway-test-{}", Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("routes.json");
    std::fs::write(&file, table.to_string()).unwrap();
    file
}

/// A gateway listening on a free loopback port; stops when dropped.
pub struct TestGateway {
    pub addr: SocketAddr,
    pub url: String,
    pub http: reqwest::Client,
    pub keys: JwtKeys,
    _stop: ShutdownTrigger,
}

/// A configuration aimed at `user_couple`, with every other upstream dead.
pub fn config(user_couple: &str) -> Config {
    Config {
        listen: ListenConfig::new("127.0.0.1", 0),
        peers: SERVICES.iter().fold(PeerUrls::default(), |peers, spec| peers.with(spec, DEAD)).with(&USER_COUPLE, user_couple),
        ..Config::default()
    }
}

/// [`config`] with `service` at `url`.
pub fn config_with(user_couple: &str, service: &ServiceSpec, url: &str) -> Config {
    let config = config(user_couple);
    Config { peers: config.peers.clone().with(service, url), ..config }
}

pub fn shared() -> SharedConfig {
    test_util::shared_config()
}

pub async fn start(config: Config) -> TestGateway {
    start_with(config, shared()).await
}

pub async fn start_with(config: Config, shared: SharedConfig) -> TestGateway {
    let (listener, url) = listener().await;
    let addr = listener.local_addr().unwrap();
    let (stop, shutdown) = channel();
    let keys = JwtKeys::from_config(&shared);
    let serving = async move { couple_common::kit::run::<gateway::Gateway>(&config, &shared, listener, shutdown).await };
    tokio::spawn(async move {
        if let Err(err) = serving.await {
            panic!("gateway failed: {err:#}");
        }
    });
    let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
    TestGateway { addr, url, http, keys, _stop: stop }
}

impl TestGateway {
    /// A token for a new user with a couple, at token version 0.
    pub fn token(&self) -> (Uuid, Uuid, String) {
        let (user, couple) = (Uuid::now_v7(), Uuid::now_v7());
        let (token, _) = self.keys.issue(TokenSubject { user_id: user, couple_id: Some(couple), role: Role::User, version: 0 });
        (user, couple, token)
    }

    pub fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.http.get(format!("{}{path}", self.url))
    }

    pub fn post(&self, path: &str) -> reqwest::RequestBuilder {
        self.http.post(format!("{}{path}", self.url))
    }
}

/// Status, headers and JSON body (`null` when the body is not JSON).
pub async fn send(request: reqwest::RequestBuilder) -> (StatusCode, HeaderMap, Value) {
    let response = request.send().await.unwrap();
    let (status, headers) = (response.status(), response.headers().clone());
    let body = response.bytes().await.unwrap_or_default();
    (status, headers, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

/// Asserts an error envelope with `code`.
pub fn assert_error(body: &Value, code: &str) {
    assert_eq!(body["success"], false, "{body}");
    assert_eq!(body["data"], Value::Null, "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
}

/// Polls `done` every 100 ms until it holds, failing after 15 s.
pub async fn wait_until(what: &str, done: impl AsyncFn() -> bool) {
    let started = std::time::Instant::now();
    while !done().await {
        assert!(started.elapsed() < Duration::from_secs(15), "{what}: not within 15 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
