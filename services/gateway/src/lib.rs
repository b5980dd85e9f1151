//! The couple platform's single entry point.
//!
//! Every public request passes here: the path picks an upstream from the route table, the access
//! token is verified and checked against revocation, the client's identity headers are replaced by
//! the verified ones, the request is rate-limited per client and forwarded through a circuit
//! breaker with a per-route timeout (idempotent requests retried after connection failures), and
//! the answer is streamed back. WebSocket upgrades under `/ws/` are spliced through to the chat
//! service. `/openapi.json` merges the services' documents.

mod auth;
mod circuit;
mod config;
mod error;
mod openapi;
mod proxy;
mod ratelimit;
mod redis_health;
mod routes;
mod websocket;

use std::{sync::Arc, time::Duration};

use anyhow::Context as _;
use async_trait::async_trait;
use axum::{
    Router,
    extract::Request,
    http::{HeaderName, HeaderValue, Method, header},
    routing::{any, get},
};
use couple_common::{
    JwtKeys,
    config::{ListenConfig, SharedConfig},
    kit::ServiceMain,
    kv::RedisKv,
    server::{Readiness, health_routes, not_found, standard_layers_masking},
    shutdown::Shutdown,
};
use couple_registry::{GATEWAY, ServiceSpec};
use secrecy::ExposeSecret;
use tower_http::cors::{AllowOrigin, CorsLayer};

pub use config::{CircuitConfig, Config};
pub use error::GatewayError;
pub use routes::{PublicSpec, RouteSpec, RouteTable, UpstreamSpec};

use crate::{
    auth::{Authenticator, TokenVersions},
    openapi::OpenApiCache,
    proxy::HttpClient,
    ratelimit::RateLimiter,
    redis_health::SharedRedis,
    routes::Routes,
};

/// Everything a request needs, built once at start-up.
pub(crate) struct GatewayState {
    routes: Routes,
    client: HttpClient,
    auth: Authenticator,
    limiter: RateLimiter,
    body_limit: usize,
    trust_forwarded_for: bool,
    allowed_origins: Vec<HeaderValue>,
    openapi: OpenApiCache,
    shutdown: Shutdown,
}

/// Builds the gateway's router. `shutdown` closes spliced WebSocket connections.
///
/// Serve it with `ConnectInfo<SocketAddr>` (as [`couple_common::server::serve`] does): the peer
/// address is the rate-limit key of unauthenticated clients and goes into `X-Forwarded-For`.
///
/// Fails on an invalid configuration or route table, and without `COUPLE_INTERNAL_TOKEN`: the
/// revocation check needs the user-couple service's token-version endpoint.
pub fn build_app(config: &Config, shared: &SharedConfig, shutdown: Shutdown) -> anyhow::Result<Router> {
    config.validate()?;
    // The recorder must exist before the upstream metric handles are first resolved.
    couple_common::server::metrics_handle();
    let routes = RouteTable::load(config)?.compile(config)?;
    let internal_token = shared
        .internal_token
        .as_ref()
        .context("COUPLE_INTERNAL_TOKEN is required: the gateway asks the user-couple service for token versions")?;
    let redis = match config.redis.url() {
        Some(url) => Some(SharedRedis::new(Arc::new(RedisKv::new(url)?.with_prefix(&config.redis.redis_prefix)))),
        None => None,
    };
    let client = proxy::http_client();
    let versions = TokenVersions::new(
        Duration::from_millis(config.revocation_cache_ms),
        redis.clone(),
        client.clone(),
        routes.user_couple.clone(),
        internal_token.expose_secret(),
    );
    let allowed_origins = config.origins()?;
    let gateway = Arc::new(GatewayState {
        routes,
        client,
        auth: Authenticator::new(JwtKeys::from_config(shared), versions),
        limiter: RateLimiter::new(redis, config.rate_limit_per_sec, config.rate_limit_burst),
        body_limit: shared.body_limit_bytes,
        trust_forwarded_for: config.trust_forwarded_for,
        allowed_origins: allowed_origins.clone(),
        openapi: OpenApiCache::new(Duration::from_secs(config.openapi_cache_secs)),
        shutdown,
    });
    // The table's public paths may hold credentials the registry does not know of.
    let secret_paths = gateway.routes.secret_paths();
    let app = standard_layers_masking(router(gateway), shared.body_limit_bytes, secret_paths);
    // With no origin listed there is no CORS layer at all: browsers refuse cross-origin calls.
    Ok(if allowed_origins.is_empty() { app } else { app.layer(cors(allowed_origins)) })
}

/// The gateway, as the service kit runs it (`gateway serve`; `migrate` does nothing, since the
/// gateway has no database but the operator runs `migrate` for every binary alike).
#[derive(Debug)]
pub struct Gateway;

impl ServiceMain for Gateway {
    const SPEC: &'static ServiceSpec = &GATEWAY;
    type Config = Config;

    fn listen(config: &Config) -> &ListenConfig {
        &config.listen
    }

    fn load_config() -> anyhow::Result<Config> {
        Ok(Config::from_env()?)
    }

    async fn migrate(_: &Config) -> anyhow::Result<()> {
        Ok(())
    }

    async fn build(config: &Config, shared: &SharedConfig, shutdown: Shutdown) -> anyhow::Result<Router> {
        build_app(config, shared, shutdown)
    }
}

fn router(gateway: Arc<GatewayState>) -> Router {
    let mut router = Router::new();
    for (index, route) in gateway.routes.routes.iter().enumerate() {
        let handler = {
            let gateway = gateway.clone();
            move |request: Request| proxy::handle(gateway, index, request)
        };
        for path in route.axum_paths() {
            router = router.route(&path, any(handler.clone()));
        }
    }
    let readiness = Arc::new(RouteTableLoaded(gateway.routes.routes.len()));
    router
        // Registered so that no route, not even a catch-all, can reach them.
        .route("/internal", any(not_found))
        .route("/internal/", any(not_found))
        .route("/internal/{*rest}", any(not_found))
        .route("/openapi.json", get(openapi::serve).with_state(gateway))
        .merge(health_routes(readiness))
        .fallback(not_found)
}

fn cors(origins: Vec<HeaderValue>) -> CorsLayer {
    let request_id = HeaderName::from_static("x-request-id");
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_credentials(true)
        .allow_methods([Method::GET, Method::HEAD, Method::POST, Method::PUT, Method::PATCH, Method::DELETE, Method::OPTIONS])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE, request_id.clone()])
        .expose_headers([request_id])
        .max_age(Duration::from_secs(600))
}

/// `/readyz`: the gateway serves without Redis, and upstream health is the circuit breakers'
/// business, so it is ready once its route table is loaded.
struct RouteTableLoaded(usize);

#[async_trait]
impl Readiness for RouteTableLoaded {
    async fn check(&self) -> Vec<(&'static str, Result<(), String>)> {
        vec![("routes", if self.0 > 0 { Ok(()) } else { Err("the route table is empty".into()) })]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::{body::Body, http::StatusCode};
    use tower::ServiceExt;

    fn shared() -> SharedConfig {
        let mut shared = SharedConfig::with_secret("0123456789abcdef0123456789abcdef");
        shared.internal_token = Some("internal-token".to_string().into());
        shared
    }

    async fn status(app: &Router, method: Method, path: &str) -> StatusCode {
        let request = Request::builder().method(method).uri(path).body(Body::empty()).unwrap();
        app.clone().oneshot(request).await.unwrap().status()
    }

    fn app_with_routes(table: &str) -> (Router, couple_common::shutdown::ShutdownTrigger) {
        let dir = std::env::temp_dir().join(format!("gateway-routes-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("routes.json");
        std::fs::write(&file, table).unwrap();
        let config = Config { routes_file: Some(file), ..Config::default() };
        let (trigger, shutdown) = couple_common::shutdown::channel();
        (build_app(&config, &shared(), shutdown).unwrap(), trigger)
    }

    #[tokio::test]
    async fn nested_prefixes_can_be_registered_together() {
        let (app, _stop) = app_with_routes(
            r#"{"upstreams": {"a": {"url": "http://127.0.0.1:1"}},
                "routes": [{"prefix": "/api", "upstream": "a"}, {"prefix": "/api/chat", "upstream": "a"}, {"prefix": "/api/chat/rooms", "upstream": "a"}]}"#,
        );
        for path in ["/api", "/api/", "/api/x", "/api/chat", "/api/chat/", "/api/chat/rooms/1/"] {
            assert_eq!(status(&app, Method::GET, path).await, StatusCode::UNAUTHORIZED, "{path}");
        }
    }

    #[tokio::test]
    async fn a_catch_all_route_still_cannot_reach_internal_or_shadow_the_gateway_paths() {
        let (app, _stop) =
            app_with_routes(r#"{"upstreams": {"all": {"url": "http://127.0.0.1:1"}}, "routes": [{"prefix": "/", "upstream": "all"}]}"#);
        assert_eq!(status(&app, Method::GET, "/internal/users/1/token-version").await, StatusCode::NOT_FOUND);
        assert_eq!(status(&app, Method::POST, "/internal").await, StatusCode::NOT_FOUND);
        assert_eq!(status(&app, Method::POST, "/internal/").await, StatusCode::NOT_FOUND);
        assert_eq!(status(&app, Method::GET, "/healthz").await, StatusCode::OK);
        assert_eq!(status(&app, Method::GET, "/readyz").await, StatusCode::OK);
        assert_eq!(status(&app, Method::GET, "/anything/else").await, StatusCode::UNAUTHORIZED, "routed, so a token is needed");
        assert_eq!(status(&app, Method::GET, "/").await, StatusCode::UNAUTHORIZED);
    }

    #[tokio::test]
    async fn trailing_slash_and_bare_prefix_paths_are_routed() {
        let (_trigger, shutdown) = couple_common::shutdown::channel();
        let app = build_app(&Config::default(), &shared(), shutdown).unwrap();
        for path in ["/api/chat", "/api/chat/", "/api/chat/rooms/", "/ws/chat/1/"] {
            assert_eq!(status(&app, Method::GET, path).await, StatusCode::UNAUTHORIZED, "{path}");
        }
        assert_eq!(status(&app, Method::GET, "/api/chatter").await, StatusCode::NOT_FOUND);
    }

    #[test]
    fn the_gateway_refuses_to_start_without_the_internal_token() {
        let (_trigger, shutdown) = couple_common::shutdown::channel();
        let err = build_app(&Config::default(), &SharedConfig::with_secret("0123456789abcdef0123456789abcdef"), shutdown).unwrap_err();
        assert!(err.to_string().contains("COUPLE_INTERNAL_TOKEN"));
    }
}
