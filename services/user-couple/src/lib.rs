//! The user-couple service: accounts, sessions (JWT access tokens and rotating refresh tokens),
//! and pairing two users into a couple with a 6-digit code.
//!
//! Each resource has its logic in `<resource>/mod.rs`, its bodies in `dto.rs` and its routes in
//! `http.rs`; [`UserCouple`] assembles them into the service the kit runs.

use std::{sync::Arc, time::Duration};

use anyhow::Context;
use axum::{Router, extract::FromRef};
use couple_common::{
    JwtKeys,
    config::{ListenConfig, SharedConfig},
    extract::{InternalToken, TrustForwardedFor},
    kit::ServiceMain,
    server::{self, ReadinessChecks},
    shutdown::Shutdown,
};
use couple_registry::{ServiceSpec, USER_COUPLE};
use utoipa::OpenApi;

pub mod admin;
pub mod config;
pub mod couples;
pub mod domain;
pub mod erasure;
pub mod error;
pub mod internal;
pub mod limits;
pub mod openapi;
pub mod password;
pub mod sessions;
pub mod store;
pub mod users;

pub use config::Config;

use crate::{couples::Couples, sessions::Sessions, store::Store, users::Accounts};

/// The service, as the kit runs it.
#[derive(Debug)]
pub struct UserCouple;

impl ServiceMain for UserCouple {
    const SPEC: &'static ServiceSpec = &USER_COUPLE;
    type Config = Config;

    fn listen(config: &Config) -> &ListenConfig {
        &config.listen
    }

    fn load_config() -> anyhow::Result<Config> {
        Ok(Config::from_env()?)
    }

    async fn migrate(config: &Config) -> anyhow::Result<()> {
        open_store(config).await?.migrate().await.context("applying migrations")
    }

    async fn build(config: &Config, shared: &SharedConfig, shutdown: Shutdown) -> anyhow::Result<Router> {
        build(config, shared, shutdown).await
    }

    /// `admin grant|revoke <email>`, against the configured database and Redis.
    async fn command(config: &Config, args: Vec<String>) -> anyhow::Result<()> {
        let Some(command) = admin::parse(&args)? else { return Ok(()) };
        let store = open_store(config).await?;
        let kv = config.redis.connect().context("configuring Redis")?;
        println!("{}", admin::run(store.as_ref(), kv.as_ref(), &command).await?);
        Ok(())
    }
}

/// What handlers share; each handler takes the part it needs.
#[derive(Clone, FromRef)]
pub struct AppState {
    /// Accounts and their sessions.
    pub accounts: Arc<Accounts>,
    /// Couples.
    pub couples: Arc<Couples>,
    /// Token issue and revocation.
    pub sessions: Arc<Sessions>,
    /// The signing keys, for the identity extractor.
    pub keys: Arc<JwtKeys>,
    /// The token for `/internal/` calls.
    pub internal_token: InternalToken,
    /// Whether the last `X-Forwarded-For` hop is the client address.
    pub trust_forwarded_for: TrustForwardedFor,
}

/// Opens the store named by the configuration.
pub async fn open_store(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    store::connect(&config.database.database_url, config.database.pool_settings()).await.context("opening the database")
}

/// Builds the application router from its configuration, and starts the erasure worker, which
/// stops with `shutdown`.
pub async fn build(config: &Config, shared: &SharedConfig, shutdown: Shutdown) -> anyhow::Result<Router> {
    let admin_emails = config.admin_email_keys()?;
    let erasure_targets = config.erasure_targets()?;
    let store = open_store(config).await?;
    if config.auto_migrate {
        store.migrate().await.context("applying migrations")?;
    }
    let kv = config.redis.connect().context("configuring Redis")?;
    admin::grant_configured(store.clone(), kv.clone(), admin_emails.clone(), shutdown.clone()).await;
    let erasure = erasure::start(
        store.clone(),
        erasure_targets,
        &config.peers,
        shared.internal_token.clone(),
        erasure::WorkerSettings::new(Duration::from_secs(config.erasure_retry_max_secs)),
        shutdown,
    )
    .await?;
    let keys = Arc::new(JwtKeys::from_config(shared));
    let sessions = Arc::new(Sessions::new(store.clone(), kv.clone(), keys.clone(), config.refresh_token_ttl_days));
    let state = AppState {
        accounts: Arc::new(Accounts::new(config, store.clone(), sessions.clone(), kv.clone(), admin_emails, erasure)),
        couples: Arc::new(Couples::new(config, store.clone(), sessions.clone(), kv.clone())),
        sessions,
        keys,
        internal_token: InternalToken::from_config(shared),
        trust_forwarded_for: TrustForwardedFor(config.trust_forwarded_for),
    };
    let api = Router::new().merge(users::http::router()).merge(couples::http::router()).merge(internal::router()).with_state(state);
    let readiness = ReadinessChecks::new().with("database", store, |store| async move { store.ping().await }).with_if(
        config.redis.url().is_some(),
        "redis",
        kv,
        |kv| async move { kv.ping().await },
    );
    Ok(server::app(api, openapi::ApiDoc::openapi(), readiness, shared.body_limit_bytes))
}
