//! The user-couple service: accounts, sessions (JWT access tokens and rotating refresh tokens),
//! and pairing two users into a couple with a 6-digit code.

use std::sync::Arc;

use anyhow::Context;
use async_trait::async_trait;
use couple_common::{
    JwtKeys,
    config::SharedConfig,
    db::PoolSettings,
    kv::{self, Kv},
    server::{self, Readiness},
    shutdown::Shutdown,
};
use tokio::net::TcpListener;

pub mod config;
pub mod domain;
pub mod error;
pub mod http;
pub mod limits;
pub mod model;
pub mod password;
pub mod service;
pub mod store;

pub use config::Config;

use crate::{service::Service, store::Store};

struct Dependencies {
    store: Arc<dyn Store>,
    kv: Arc<dyn Kv>,
    redis: bool,
}

#[async_trait]
impl Readiness for Dependencies {
    async fn check(&self) -> Vec<(&'static str, Result<(), String>)> {
        let mut checks = vec![("database", self.store.ping().await.map_err(|e| e.to_string()))];
        if self.redis {
            checks.push(("redis", self.kv.ping().await.map_err(|e| e.to_string())));
        }
        checks
    }
}

/// Opens the store named by the configuration.
pub async fn open_store(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    let settings = PoolSettings { max_connections: config.database_max_connections, ..PoolSettings::default() };
    store::connect(&config.database_url, settings).await.context("opening the database")
}

/// Applies the migrations (the `migrate` subcommand).
pub async fn migrate(config: &Config) -> anyhow::Result<()> {
    open_store(config).await?.migrate().await.context("applying migrations")
}

/// Builds the application router from its configuration.
pub async fn build(config: &Config, shared: &SharedConfig) -> anyhow::Result<axum::Router> {
    let store = open_store(config).await?;
    if config.auto_migrate {
        store.migrate().await.context("applying migrations")?;
    }
    let kv = kv::from_url(config.redis_url.as_deref(), &config.redis_prefix).context("configuring Redis")?;
    let keys = Arc::new(JwtKeys::from_config(shared));
    let service = Arc::new(Service::new(config, store.clone(), kv.clone(), keys));
    let state = http::AppState {
        service,
        internal_token: shared.internal_token.clone().map(Arc::new),
        trust_forwarded_for: config.trust_forwarded_for,
    };
    let readiness = Arc::new(Dependencies { store, kv, redis: config.redis_url.as_deref().is_some_and(|u| !u.is_empty()) });
    Ok(http::app(state, readiness, shared.body_limit_bytes))
}

/// Serves the service on `listener` until `shutdown` fires.
pub async fn run(config: Config, shared: SharedConfig, listener: TcpListener, shutdown: Shutdown) -> anyhow::Result<()> {
    let app = build(&config, &shared).await?;
    tracing::info!(addr = %listener.local_addr()?, "user-couple listening");
    server::serve(listener, app, shutdown, shared.shutdown_grace()).await?;
    Ok(())
}
