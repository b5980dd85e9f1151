//! The chat service: a couple's rooms and messages, stored before they are delivered, with
//! WebSocket sessions that resume without gaps or duplicates, fanned out across replicas through
//! Redis when several run.
//!
//! - `rooms/`, `messages/`: the logic and the REST side (`mod.rs` logic, `dto.rs` bodies,
//!   `http.rs` routes).
//! - `hub/`: which of this replica's sockets listen to which room; the Redis fan-out.
//! - `socket/`: the WebSocket protocol and the session loop.
//! - `store/`: PostgreSQL and SQLite behind one trait.

use std::sync::Arc;

use anyhow::Context;
use axum::{Router, extract::FromRef, routing::MethodRouter};
use couple_common::{
    JwtKeys,
    config::{ListenConfig, PeerUrls, SharedConfig},
    extract::InternalToken,
    kit::ServiceMain,
    server::{self, ReadinessChecks},
    shutdown::Shutdown,
};
use couple_registry::{CHAT, ServiceSpec};
use utoipa::OpenApi;
use uuid::Uuid;

pub mod config;
pub mod domain;
pub mod error;
pub mod hub;
pub mod internal;
pub mod messages;
pub mod openapi;
pub mod people;
pub mod rooms;
pub mod socket;
pub mod store;

pub use config::Config;

use crate::{
    error::{Error, Result},
    hub::{Hub, redis::RedisFanout},
    internal::Erasure,
    messages::{Messages, committer::Committer},
    people::People,
    rooms::Rooms,
    store::Store,
};

/// The service, as the kit runs it.
#[derive(Debug)]
pub struct Chat;

impl ServiceMain for Chat {
    const SPEC: &'static ServiceSpec = &CHAT;
    type Config = Config;

    fn listen(config: &Config) -> &ListenConfig {
        &config.listen
    }

    fn load_config() -> anyhow::Result<Config> {
        let mut config: Config = couple_common::config::load(CHAT.env_prefix)?;
        config.peers = PeerUrls::from_env(&CHAT);
        Ok(config)
    }

    async fn migrate(config: &Config) -> anyhow::Result<()> {
        open_store(config).await?.migrate().await.context("applying migrations")
    }

    async fn build(config: &Config, shared: &SharedConfig, shutdown: Shutdown) -> anyhow::Result<Router> {
        build(config, shared, shutdown).await
    }
}

/// What handlers share; each handler takes the part it needs.
#[derive(Clone, FromRef)]
pub struct AppState {
    /// Rooms and the access rule.
    pub rooms: Arc<Rooms>,
    /// Posting, history and read markers.
    pub messages: Arc<Messages>,
    /// This replica's sockets.
    pub hub: Arc<Hub>,
    /// Nicknames, for typing and presence frames.
    pub people: Arc<People>,
    /// Erasure of deleted accounts and couples.
    pub erasure: Arc<Erasure>,
    /// The settings sessions need (sizes, timings).
    pub config: Arc<Config>,
    /// The signing keys, for the identity extractor.
    pub keys: Arc<JwtKeys>,
    /// The token for `/internal/` calls.
    pub internal_token: InternalToken,
    /// Fires when the service begins to shut down: sessions close with 1001.
    pub shutdown: Shutdown,
}

/// Parses a path id; 404 for anything that is not one (no such `what` can exist).
pub fn path_id(raw: &str, what: &'static str) -> Result<Uuid> {
    Uuid::parse_str(raw).map_err(|_| Error::NotFound(what))
}

/// Routes `path` (which ends in `/`, as the original clients' paths do) and the same path without
/// the trailing slash to `method`.
pub fn route_with_and_without_slash(router: Router<AppState>, path: &str, method: MethodRouter<AppState>) -> Router<AppState> {
    let bare = path.strip_suffix('/').filter(|bare| !bare.is_empty());
    match bare {
        Some(bare) => router.route(bare, method.clone()).route(path, method),
        None => router.route(path, method),
    }
}

/// Opens the store named by the configuration.
pub async fn open_store(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    store::connect(&config.database.database_url, config.database.pool_settings()).await.context("opening the database")
}

/// Builds the application router.
pub async fn build(config: &Config, shared: &SharedConfig, shutdown: Shutdown) -> anyhow::Result<Router> {
    let store = open_store(config).await?;
    if config.auto_migrate {
        store.migrate().await.context("applying migrations")?;
    }
    let hub = Hub::new(config.send_queue);
    if let Some(url) = config.redis.url() {
        // Not a readiness check: without Redis this replica still serves its own sockets.
        RedisFanout::attach(&hub, url, &config.redis.redis_prefix, shutdown.clone()).context("configuring the Redis fan-out")?;
    }
    let people = Arc::new(People::new(&config.peers, shared.internal_token.clone(), People::SETTINGS)?);
    let clock = config.clock.clone();
    let committer = Committer::spawn(store.clone(), hub.clone(), config.commit_batch, shutdown.clone());
    let state = AppState {
        rooms: Arc::new(Rooms::new(store.clone(), clock.clone(), config.max_rooms)),
        messages: Arc::new(Messages::new(store.clone(), committer, hub.clone(), people.clone(), clock)),
        people,
        erasure: Arc::new(Erasure::new(store.clone(), hub.clone())),
        hub,
        config: Arc::new(config.clone()),
        keys: Arc::new(JwtKeys::from_config(shared)),
        internal_token: InternalToken::from_config(shared),
        shutdown,
    };
    let api = Router::new()
        .merge(rooms::http::router())
        .merge(messages::http::router())
        .merge(socket::router())
        .merge(internal::router())
        .with_state(state);
    let readiness = ReadinessChecks::new().with("database", store, |store| async move { store.ping().await });
    Ok(server::app(api, openapi::ApiDoc::openapi(), readiness, shared.body_limit_bytes))
}
