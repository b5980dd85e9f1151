//! The question-answer service: a question a day for each couple (or user), two-option answers
//! that reveal the partner's choice only once both answered, and what the answers build up: a
//! score per tag and a 50-trait vector per user.
//!
//! Each resource has its logic in `<resource>/mod.rs`, its bodies in `dto.rs` and its routes in
//! `http.rs`; [`QuestionAnswer`] assembles them into the service the kit runs.

use std::{sync::Arc, time::Duration};

use anyhow::Context;
use axum::{Router, extract::FromRef};
use couple_common::{
    Identity, JwtKeys, Role,
    config::{ListenConfig, SharedConfig},
    extract::InternalToken,
    kit::ServiceMain,
    server::{self, ReadinessChecks},
    shutdown::Shutdown,
};
use couple_registry::{QUESTION_ANSWER, ServiceSpec};
use tokio::sync::Notify;
use utoipa::OpenApi;

pub mod answers;
pub mod config;
pub mod domain;
pub mod error;
pub mod internal;
pub mod openapi;
pub mod questions;
pub mod seed;
pub mod store;
pub mod tags;
pub mod vectors;

pub use config::{Config, VectorUpdates};

use crate::{
    answers::Answers,
    error::{Error, Result},
    questions::{Questions, cache::QuestionCache},
    store::{MongoVectors, Store, StoreError, VectorStore},
    tags::Tags,
    vectors::{Vectors, outbox::OutboxWorker},
};

/// The service, as the kit runs it.
#[derive(Debug)]
pub struct QuestionAnswer;

impl ServiceMain for QuestionAnswer {
    const SPEC: &'static ServiceSpec = &QUESTION_ANSWER;
    type Config = Config;

    fn listen(config: &Config) -> &ListenConfig {
        &config.listen
    }

    async fn migrate(config: &Config) -> anyhow::Result<()> {
        let store = open_store(config).await?;
        store.migrate().await.context("applying migrations")?;
        if let Some(url) = config.mongodb_url() {
            open_mongo(url, config).await?.ensure_index().await.context("creating the MongoDB index on userId")?;
        }
        load_seed(store.as_ref(), config).await
    }

    async fn build(config: &Config, shared: &SharedConfig, shutdown: Shutdown) -> anyhow::Result<Router> {
        build(config, shared, shutdown).await
    }
}

/// What handlers share; each handler takes the part it needs.
#[derive(Clone, FromRef)]
pub struct AppState {
    /// Questions and today's question.
    pub questions: Arc<Questions>,
    /// Answers.
    pub answers: Arc<Answers>,
    /// Tags and tag profiles.
    pub tags: Arc<Tags>,
    /// Vectors.
    pub vectors: Arc<Vectors>,
    /// The signing keys, for the identity extractor.
    pub keys: Arc<JwtKeys>,
    /// The token for `/internal/` calls.
    pub internal_token: InternalToken,
}

/// 403 unless the caller is an admin.
pub fn require_admin(identity: &Identity) -> Result<()> {
    if identity.role == Role::Admin { Ok(()) } else { Err(Error::AdminOnly) }
}

/// Opens the store named by the configuration.
pub async fn open_store(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    store::connect(&config.database.database_url, config.database.pool_settings()).await.context("opening the database")
}

/// Opens the MongoDB vector store (no connection yet: the driver connects on first use).
pub async fn open_mongo(url: &str, config: &Config) -> anyhow::Result<MongoVectors> {
    MongoVectors::connect(url, config.mongodb_timeout()).await.context("reading QUESTION_ANSWER_MONGODB_URL")
}

/// The vector store the configuration names: MongoDB when a URL is set (its unique index created
/// now, or on the first write if MongoDB is down at start), else the relational `store`.
async fn open_vector_store(config: &Config, store: &Arc<dyn Store>) -> anyhow::Result<Arc<dyn VectorStore>> {
    let Some(url) = config.mongodb_url() else { return Ok(store.clone()) };
    let mongo = open_mongo(url, config).await?;
    match mongo.ensure_index().await {
        Ok(()) => {}
        Err(StoreError::Unavailable(err)) => {
            tracing::warn!(%err, "MongoDB is not reachable at start; vector calls answer 503 and answers queue until it is")
        }
        Err(err) => return Err(err).context("creating the MongoDB index on userId"),
    }
    // `transaction` is the default, so overriding it is news, not a warning.
    let overridden = if config.vector_updates == VectorUpdates::Transaction {
        " (QUESTION_ANSWER_VECTOR_UPDATES=transaction is overridden: the relational transaction cannot include MongoDB)"
    } else {
        ""
    };
    tracing::info!(database = mongo.database_name(), "user vectors are kept in MongoDB; answers reach them through the outbox{overridden}");
    Ok(Arc::new(mongo))
}

async fn load_seed(store: &dyn Store, config: &Config) -> anyhow::Result<()> {
    let seed = seed::shipped().map_err(anyhow::Error::msg)?;
    seed::load(store, &seed, config.clock.now()).await.context("loading the seed questions")
}

/// Builds the application router, loads the seed questions, opens the vector store and, in outbox
/// mode (always with MongoDB), starts the worker that applies queued vector updates until
/// `shutdown`.
pub async fn build(config: &Config, shared: &SharedConfig, shutdown: Shutdown) -> anyhow::Result<Router> {
    let store = open_store(config).await?;
    if config.auto_migrate {
        store.migrate().await.context("applying migrations")?;
    }
    // A broken seed is a bug and stops the start; a database that is down only delays loading
    // it (the operator's migration Job has loaded it already), and requests answer 503 meanwhile.
    let seed = Arc::new(seed::shipped().map_err(anyhow::Error::msg)?);
    let (seeding, clock) = (store.clone(), config.clock.clone());
    couple_common::shutdown::now_or_in_background("loading the seed questions", shutdown.clone(), move || {
        let (store, seed, now) = (seeding.clone(), seed.clone(), clock.now());
        async move { seed::load(store.as_ref(), &seed, now).await }
    })
    .await;
    let vector_store = open_vector_store(config, &store).await?;
    let vector_updates = config.effective_vector_updates();
    let clock = config.clock.clone();
    let wake = Arc::new(Notify::new());
    if vector_updates == VectorUpdates::Outbox {
        OutboxWorker::new(
            store.clone(),
            vector_store.clone(),
            clock.clone(),
            wake.clone(),
            Duration::from_millis(config.outbox_poll_millis.max(1)),
            Duration::from_millis(config.outbox_max_backoff_millis.max(100)),
        )
        .spawn(shutdown);
    }
    let cache = Arc::new(QuestionCache::new(store.clone()));
    let state = AppState {
        questions: Arc::new(Questions::new(store.clone(), cache.clone(), clock.clone(), shared.time_zone())),
        answers: Arc::new(Answers::new(store.clone(), cache, clock.clone(), shared.time_zone(), vector_updates, wake)),
        tags: Arc::new(Tags::new(store.clone(), clock.clone())),
        vectors: Arc::new(Vectors::new(store.clone(), vector_store.clone(), clock)),
        keys: Arc::new(JwtKeys::from_config(shared)),
        internal_token: InternalToken::from_config(shared),
    };
    let api = Router::new()
        .merge(questions::http::router())
        .merge(answers::http::router())
        .merge(tags::http::router())
        .merge(vectors::http::router())
        .merge(internal::router())
        .with_state(state);
    let readiness = ReadinessChecks::new().with("database", store, |store| async move { store.ping().await }).with_if(
        config.mongodb_url().is_some(),
        "mongodb",
        vector_store,
        |vectors| async move { vectors.ping_vectors().await },
    );
    Ok(server::app(api, openapi::ApiDoc::openapi(), readiness, shared.body_limit_bytes))
}
