//! The schedule-meeting service: a couple's shared life in time. Schedules, planned dates
//! (meetings) made of an ordered course of places from a shipped catalogue, a month calendar with
//! both birthdays and the anniversaries, an iCalendar feed, weather cards from the KMA forecast,
//! and date-course recommendations ranked from both partners' trait vectors.
//!
//! Each resource has its logic in `<resource>/mod.rs`, its bodies in `dto.rs` and its routes in
//! `http.rs`; [`ScheduleMeeting`] assembles them into the service the kit runs.

use std::sync::Arc;

use anyhow::Context;
use axum::{Router, extract::FromRef};
use couple_common::{
    JwtKeys,
    config::{ListenConfig, PeerUrls, SharedConfig},
    extract::InternalToken,
    kit::ServiceMain,
    peers::PeerSettings,
    server::{self, ReadinessChecks},
    shutdown::Shutdown,
};
use couple_registry::{SCHEDULE_MEETING, ServiceSpec};
use utoipa::OpenApi;
use uuid::Uuid;

pub mod calendar;
pub mod config;
pub mod domain;
pub mod error;
pub mod internal;
pub mod meetings;
pub mod member;
pub mod openapi;
pub mod peers;
pub mod places;
pub mod recommend;
pub mod schedules;
pub mod store;
pub mod weather;

pub use config::Config;

use crate::{
    calendar::Calendar,
    error::{Error, Result},
    internal::Erasure,
    meetings::Meetings,
    peers::Peers,
    places::{Catalogue, Places},
    recommend::{Recommender, engine::PlaceIndex, inputs::ServiceInputs},
    schedules::Schedules,
    store::Store,
    weather::Forecasts,
};

/// The service, as the kit runs it.
#[derive(Debug)]
pub struct ScheduleMeeting;

impl ServiceMain for ScheduleMeeting {
    const SPEC: &'static ServiceSpec = &SCHEDULE_MEETING;
    type Config = Config;

    fn load_config() -> anyhow::Result<Config> {
        let mut config: Config = couple_common::config::load(SCHEDULE_MEETING.env_prefix)?;
        config.peers = PeerUrls::from_env(&SCHEDULE_MEETING);
        Ok(config)
    }

    fn listen(config: &Config) -> &ListenConfig {
        &config.listen
    }

    async fn migrate(config: &Config) -> anyhow::Result<()> {
        let store = open_store(config).await?;
        store.migrate().await.context("applying migrations")?;
        let catalogue = Catalogue::shipped().map_err(anyhow::Error::msg)?;
        store.load_places(catalogue.places()).await.context("loading the places catalogue")
    }

    async fn build(config: &Config, shared: &SharedConfig, shutdown: Shutdown) -> anyhow::Result<Router> {
        build(config, shared, shutdown).await
    }
}

/// What handlers share; each handler takes the part it needs.
#[derive(Clone, FromRef)]
pub struct AppState {
    /// Schedules.
    pub schedules: Arc<Schedules>,
    /// Meetings.
    pub meetings: Arc<Meetings>,
    /// The place search.
    pub places: Arc<Places>,
    /// Erasure of accounts and couples.
    pub erasure: Arc<Erasure>,
    /// The shipped places catalogue in memory, with the places' trait profiles.
    pub catalogue: Arc<Catalogue>,
    /// The store, for parts that read across resources (the calendar, the feeds).
    pub store: Arc<dyn Store>,
    /// The KMA forecasts (weather cards, and the weather of a recommended day).
    pub forecasts: Arc<Forecasts>,
    /// The month calendar and the calendar feeds.
    pub calendar: Arc<Calendar>,
    /// Date-course recommendations.
    pub recommender: Arc<Recommender>,
    /// The signing keys, for the identity extractor.
    pub keys: Arc<JwtKeys>,
    /// The token for `/internal/` calls.
    pub internal_token: InternalToken,
}

/// A path id; one that is not a UUID names nothing, so it is a 404 like an unknown one.
pub fn path_id(raw: &str, what: &'static str) -> Result<Uuid> {
    Uuid::parse_str(raw).map_err(|_| Error::NotFound(what))
}

/// Opens the store named by the configuration.
pub async fn open_store(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    store::connect(&config.database.database_url, config.database.pool_settings()).await.context("opening the database")
}

/// Builds the application router and loads the places catalogue into the database (now, or in
/// the background until it succeeds while the database is down).
pub async fn build(config: &Config, shared: &SharedConfig, shutdown: Shutdown) -> anyhow::Result<Router> {
    let store = open_store(config).await?;
    if config.auto_migrate {
        store.migrate().await.context("applying migrations")?;
    }
    // A broken catalogue is a bug and stops the start; a database that is down only delays
    // loading it (the operator's migration Job has loaded it already).
    let catalogue = Arc::new(Catalogue::shipped().map_err(anyhow::Error::msg)?);
    let (loading, places) = (store.clone(), catalogue.clone());
    couple_common::shutdown::now_or_in_background("loading the places catalogue", shutdown, move || {
        let (store, places) = (loading.clone(), places.clone());
        async move { store.load_places(places.places()).await }
    })
    .await;
    anyhow::ensure!(
        config.public_base_url.starts_with("http://") || config.public_base_url.starts_with("https://"),
        "SCHEDULE_MEETING_PUBLIC_BASE_URL must be an absolute http(s) URL (the gateway's public address), not {:?}",
        config.public_base_url
    );
    let (clock, zone) = (config.clock.clone(), shared.time_zone());
    let peers = Peers::new(&config.peers, shared.internal_token.clone(), PeerSettings::default())?;
    let forecasts = Arc::new(Forecasts::new(config, zone.clone())?);
    let index = Arc::new(PlaceIndex::new(catalogue.places().to_vec()));
    let inputs = Arc::new(ServiceInputs::new(peers.clone(), forecasts.clone(), store.clone()));
    let calendar = Calendar::new(store.clone(), peers.user_couple, clock.clone(), zone.clone(), &config.public_base_url);
    let state = AppState {
        schedules: Arc::new(Schedules::new(store.clone(), clock.clone(), zone)),
        meetings: Arc::new(Meetings::new(store.clone(), clock.clone())),
        places: Arc::new(Places::new(store.clone())),
        erasure: Arc::new(Erasure::new(store.clone(), clock)),
        catalogue,
        store: store.clone(),
        forecasts,
        calendar: Arc::new(calendar),
        recommender: Arc::new(Recommender::new(index, inputs)),
        keys: Arc::new(JwtKeys::from_config(shared)),
        internal_token: InternalToken::from_config(shared),
    };
    let api = Router::new()
        .merge(schedules::http::router())
        .merge(meetings::http::router())
        .merge(places::http::router())
        .merge(weather::http::router())
        .merge(calendar::http::router())
        .merge(recommend::http::router())
        .merge(internal::router())
        .with_state(state);
    let readiness = ReadinessChecks::new().with("database", store, |store| async move { store.ping().await });
    Ok(server::app(api, openapi::ApiDoc::openapi(), readiness, shared.body_limit_bytes))
}
