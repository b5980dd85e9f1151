//! The standard HTTP stack every service serves behind: request ids, access logs, metrics,
//! panic capture, body limit, health endpoints, the admin port, and bounded graceful shutdown.

use std::{
    future::Future,
    net::SocketAddr,
    pin::Pin,
    sync::{Arc, OnceLock},
    time::{Duration, Instant},
};

use async_trait::async_trait;
use axum::{
    Router,
    extract::{DefaultBodyLimit, MatchedPath, Request, State},
    http::{HeaderName, StatusCode, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::get,
};
use couple_registry::PathPattern;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use serde::Serialize;
use tokio::net::TcpListener;
use tower_http::{
    catch_panic::CatchPanicLayer,
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, RequestId, SetRequestIdLayer},
    sensitive_headers::SetSensitiveRequestHeadersLayer,
    trace::TraceLayer,
};

use crate::{
    envelope::ApiResponse,
    error::{ApiError, REQUEST_ID},
    shutdown::Shutdown,
};

/// The request id header, generated when the client sends none and echoed in the response.
pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// Wraps `router` in the standard middleware stack. The access log names the path with the
/// credential segment of every public `{secret}` path of the registry masked
/// ([`couple_registry::secret_paths`]), never the query (it may carry a token).
pub fn standard_layers(router: Router, body_limit: usize) -> Router {
    standard_layers_masking(router, body_limit, Vec::new())
}

/// [`standard_layers`], masking also the `{secret}` segments of `secret_paths` in the access log
/// (the gateway's route table may list public paths the registry does not).
pub fn standard_layers_masking(router: Router, body_limit: usize, secret_paths: Vec<String>) -> Router {
    let secret_paths: Arc<[String]> = couple_registry::secret_paths().map(|p| p.as_str().to_owned()).chain(secret_paths).collect();
    router
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(CatchPanicLayer::custom(|_: Box<dyn std::any::Any + Send>| {
            tracing::error!("handler panicked");
            ApiError::internal().into_response()
        }))
        .layer(middleware::from_fn(request_context))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(move |req: &Request| {
                    let route = req.extensions().get::<MatchedPath>().map_or("unmatched", MatchedPath::as_str);
                    let request_id = req.headers().get(REQUEST_ID_HEADER).and_then(|v| v.to_str().ok()).unwrap_or_default();
                    let path = couple_registry::mask_secrets(secret_paths.iter().map(|p| PathPattern::new(p)), req.uri().path());
                    tracing::info_span!("request", method = %req.method(), route, path = %path, request_id)
                })
                .on_request(())
                .on_response(tower_http::trace::DefaultOnResponse::new().level(tracing::Level::INFO)),
        )
        .layer(PropagateRequestIdLayer::new(REQUEST_ID_HEADER))
        .layer(SetRequestIdLayer::new(REQUEST_ID_HEADER, MakeRequestUuid))
        .layer(SetSensitiveRequestHeadersLayer::new([header::AUTHORIZATION, header::COOKIE]))
}

/// Makes the request id available to error responses and records request metrics.
async fn request_context(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let request_id = req.extensions().get::<RequestId>().and_then(|id| id.header_value().to_str().ok()).unwrap_or_default().to_owned();
    let route = req.extensions().get::<MatchedPath>().map(|p| p.as_str().to_owned()).unwrap_or_else(|| "unmatched".into());
    let method = req.method().as_str().to_owned();
    let response = REQUEST_ID.scope(request_id, next.run(req)).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!("http_requests_total", "method" => method.clone(), "route" => route.clone(), "status" => status).increment(1);
    metrics::histogram!("http_request_duration_seconds", "method" => method, "route" => route).record(started.elapsed().as_secs_f64());
    response
}

/// A dependency `/readyz` checks.
#[async_trait]
pub trait Readiness: Send + Sync + 'static {
    /// Each dependency's name and whether it answers.
    async fn check(&self) -> Vec<(&'static str, Result<(), String>)>;
}

type Check = Box<dyn Fn() -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>> + Send + Sync>;

/// Readiness from a list of named checks, run one after the other.
#[derive(Default)]
pub struct ReadinessChecks(Vec<(&'static str, Check)>);

impl ReadinessChecks {
    /// No checks: always ready.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the check `name`: `check(target)` must succeed (typically a ping).
    pub fn with<T, F, Fut, E>(mut self, name: &'static str, target: T, check: F) -> Self
    where
        T: Clone + Send + Sync + 'static,
        F: Fn(T) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: std::fmt::Display,
    {
        let check: Check = Box::new(move || {
            let running = check(target.clone());
            Box::pin(async move { running.await.map_err(|e| e.to_string()) })
        });
        self.0.push((name, check));
        self
    }

    /// Adds the check `name` only when `enabled` (a dependency that is optional and configured).
    pub fn with_if<T, F, Fut, E>(self, enabled: bool, name: &'static str, target: T, check: F) -> Self
    where
        T: Clone + Send + Sync + 'static,
        F: Fn(T) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: std::fmt::Display,
    {
        if enabled { self.with(name, target, check) } else { self }
    }
}

#[async_trait]
impl Readiness for ReadinessChecks {
    async fn check(&self) -> Vec<(&'static str, Result<(), String>)> {
        let mut results = Vec::with_capacity(self.0.len());
        for (name, check) in &self.0 {
            results.push((*name, check().await));
        }
        results
    }
}

/// A service's whole application: its API router, `/openapi.json` (the document with the error
/// bodies, the bearer scheme and the standard responses added), `/healthz`, `/readyz`, the 404
/// fallback, all behind the standard layers.
#[cfg(feature = "openapi")]
pub fn app(api: Router, openapi: utoipa::openapi::OpenApi, readiness: impl Readiness, body_limit: usize) -> Router {
    let router =
        api.merge(crate::openapi::router(crate::openapi::standard(openapi))).merge(health_routes(Arc::new(readiness))).fallback(not_found);
    standard_layers(router, body_limit)
}

#[derive(Serialize)]
struct ReadyReport {
    status: &'static str,
    checks: std::collections::BTreeMap<&'static str, String>,
}

/// `/healthz` (the process is alive) and `/readyz` (its dependencies answer).
pub fn health_routes(readiness: Arc<dyn Readiness>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { ApiResponse::ok(serde_json::json!({ "status": "ok" })) }))
        .route("/readyz", get(readyz).with_state(readiness))
}

async fn readyz(State(readiness): State<Arc<dyn Readiness>>) -> Response {
    let results = readiness.check().await;
    let ready = results.iter().all(|(_, r)| r.is_ok());
    let checks = results.into_iter().map(|(name, r)| (name, r.err().unwrap_or_else(|| "ok".into()))).collect();
    let report = ReadyReport { status: if ready { "ready" } else { "unavailable" }, checks };
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    ApiResponse::with_status(status, report.status, report).into_response()
}

/// The process-wide Prometheus recorder, installed on first use.
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let handle = PrometheusBuilder::new()
                .set_buckets(&[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0])
                .and_then(|b| b.install_recorder())
                .unwrap_or_else(|_| PrometheusBuilder::new().build_recorder().handle());
            let upkeep = handle.clone();
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn(async move {
                    loop {
                        tokio::time::sleep(Duration::from_secs(5)).await;
                        upkeep.run_upkeep();
                    }
                });
            }
            handle
        })
        .clone()
}

/// The admin router: `/metrics` in the Prometheus text format.
pub fn admin_router() -> Router {
    let handle = metrics_handle();
    Router::new().route("/metrics", get(move || std::future::ready(handle.render())))
}

/// Binds `host:port`; port 0 picks a free port.
pub async fn bind(host: &str, port: u16) -> std::io::Result<TcpListener> {
    TcpListener::bind((host, port)).await
}

/// Serves `app` on `listener` until `shutdown` fires, then lets in-flight requests finish, and
/// work with a [`Hold`](crate::shutdown::Hold) end, for at most `grace`.
pub async fn serve(listener: TcpListener, app: Router, shutdown: Shutdown, grace: Duration) -> std::io::Result<()> {
    let addr = listener.local_addr()?;
    let drain_deadline = {
        let shutdown = shutdown.clone();
        async move {
            shutdown.wait().await;
            tokio::time::sleep(grace).await;
        }
    };
    // Without TCP_NODELAY a response written in two parts (head, then a streamed body) waits for
    // the client's delayed ACK: 40 ms per response on Linux.
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp: &mut tokio::net::TcpStream| {
        if let Err(err) = tcp.set_nodelay(true) {
            tracing::debug!(%err, "could not set TCP_NODELAY");
        }
    });
    let holds = shutdown.clone();
    let server = axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).with_graceful_shutdown(shutdown.wait());
    // Upgraded connections (WebSockets) leave the server's count: their holds keep it draining.
    let drained = async move {
        server.into_future().await?;
        holds.released().await;
        Ok(())
    };
    tokio::select! {
        result = drained => result,
        () = drain_deadline => {
            tracing::warn!(%addr, "connections still open after the shutdown grace period; closing them");
            Ok(())
        }
    }
}

/// Binds the admin port when one is configured and serves `/metrics` there in the background.
/// Metrics are only recorded once this has run, so a service without an admin port pays nothing.
pub async fn start_admin(host: &str, port: Option<u16>, shutdown: Shutdown) -> std::io::Result<Option<SocketAddr>> {
    let Some(port) = port else { return Ok(None) };
    let listener = bind(host, port).await?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, "metrics on the admin port");
    spawn_admin(listener, shutdown);
    Ok(Some(addr))
}

/// Serves the admin router on its own listener in the background.
pub fn spawn_admin(listener: TcpListener, shutdown: Shutdown) {
    // Built here, not in the task: the recorder must be installed before the caller goes on to
    // serve requests whose metrics it should see.
    let router = admin_router();
    tokio::spawn(async move {
        let server = axum::serve(listener, router).with_graceful_shutdown(shutdown.wait());
        if let Err(err) = server.await {
            tracing::error!(%err, "admin server failed");
        }
    });
}

/// 404 in the envelope for unknown paths.
pub async fn not_found() -> ApiError {
    ApiError::no_such_endpoint()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::ServiceExt;

    struct Always(bool);

    #[async_trait]
    impl Readiness for Always {
        async fn check(&self) -> Vec<(&'static str, Result<(), String>)> {
            vec![("db", if self.0 { Ok(()) } else { Err("down".into()) })]
        }
    }

    fn app(ready: bool) -> Router {
        let router = health_routes(Arc::new(Always(ready)))
            .route(
                "/boom",
                get(|| async {
                    panic!("boom");
                    #[allow(unreachable_code)]
                    ()
                }),
            )
            .route("/echo", axum::routing::post(|body: crate::Json<serde_json::Value>| async move { body }))
            .fallback(not_found);
        standard_layers(router, 16)
    }

    async fn call(app: Router, req: Request) -> (StatusCode, axum::http::HeaderMap, serde_json::Value) {
        let response = app.oneshot(req).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
        (status, headers, serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null))
    }

    fn get_req(path: &str) -> Request {
        Request::builder().uri(path).body(axum::body::Body::empty()).unwrap()
    }

    #[tokio::test]
    async fn readiness_checks_run_each_named_check_that_is_enabled() {
        let checks = ReadinessChecks::new()
            .with("up", 1, |_| async { Ok::<_, String>(()) })
            .with("down", "cause", |cause| async move { Err(cause) })
            .with_if(false, "skipped", (), |()| async { Err("never run") });
        assert_eq!(checks.check().await, [("up", Ok(())), ("down", Err("cause".to_owned()))]);
    }

    #[tokio::test]
    async fn readiness_reports_failing_dependencies_with_503() {
        let (status, _, body) = call(app(false), get_req("/readyz")).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body["data"]["checks"]["db"], "down");
        let (status, _, _) = call(app(true), get_req("/readyz")).await;
        assert_eq!(status, StatusCode::OK);
    }

    #[tokio::test]
    async fn a_panic_becomes_a_500_envelope_with_the_request_id() {
        let (status, headers, body) = call(app(true), get_req("/boom")).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(body["error"]["code"], "INTERNAL_ERROR");
        assert!(headers.contains_key("x-request-id"));
    }

    #[tokio::test]
    async fn a_client_request_id_is_echoed_and_used_as_trace_id() {
        let req = Request::builder().uri("/nowhere").header("x-request-id", "abc-123").body(axum::body::Body::empty()).unwrap();
        let (status, headers, body) = call(app(true), req).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(headers["x-request-id"], "abc-123");
        assert_eq!(body["error"]["traceId"], "abc-123");
    }

    #[tokio::test]
    async fn requests_are_counted_on_the_admin_port_by_route() {
        let (_stop, shutdown) = crate::shutdown::channel();
        let addr = start_admin("127.0.0.1", Some(0), shutdown).await.unwrap().unwrap();
        call(app(true), get_req("/healthz")).await;
        let metrics = reqwest_like_get(addr).await;
        assert!(metrics.contains("http_requests_total"), "{metrics}");
        assert!(metrics.contains(r#"route="/healthz""#), "{metrics}");
    }

    /// A plain HTTP/1.0 GET, so the test needs no client library.
    async fn reqwest_like_get(addr: SocketAddr) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        stream.write_all(b"GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n").await.unwrap();
        let mut out = String::new();
        stream.read_to_string(&mut out).await.unwrap();
        out
    }

    #[tokio::test]
    async fn the_access_log_names_the_path_with_credential_segments_masked() {
        let logs = crate::telemetry::CapturedLogs::start();
        let feed = Router::new().route("/api/calendar/feeds/{file}", get(|| async { "BEGIN:VCALENDAR" })).fallback(not_found);
        let app = standard_layers_masking(feed, 1024, vec!["/extra/{secret}".into()]);
        for path in ["/api/calendar/feeds/s3cr3t-feed.ics?x=query-s3cr3t", "/api/calendar/feeds/s3cr3t-typo", "/extra/s3cr3t-extra"] {
            app.clone().oneshot(get_req(path)).await.unwrap();
        }
        call(app, get_req("/api/schedules/visible")).await;
        let text = logs.text();
        assert!(!text.contains("s3cr3t"), "{text}");
        assert!(text.contains(r#""path":"/api/calendar/feeds/***.ics""#), "{text}");
        assert!(text.contains(r#""path":"/api/calendar/feeds/***""#), "{text}");
        assert!(text.contains(r#""path":"/extra/***""#), "{text}");
        assert!(text.contains(r#""path":"/api/schedules/visible""#), "other paths are logged as they are: {text}");
        assert!(text.contains(r#""route":"/api/calendar/feeds/{file}""#), "{text}");
    }

    #[tokio::test]
    async fn oversized_bodies_get_413_in_the_envelope() {
        let req = Request::builder()
            .method("POST")
            .uri("/echo")
            .header("content-type", "application/json")
            .body(axum::body::Body::from(r#"{"a": "0123456789abcdef"}"#))
            .unwrap();
        let (status, _, body) = call(app(true), req).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(body["error"]["code"], "PAYLOAD_TOO_LARGE");
    }
}
