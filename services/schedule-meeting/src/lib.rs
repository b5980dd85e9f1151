//! The schedule-meeting service: a couple's shared life in time. Schedules, planned dates
//! (meetings) made of an ordered course of places from a shipped catalogue, a month calendar with
//! both birthdays and the anniversaries, an iCalendar feed, weather cards from the KMA forecast,
//! and date-course recommendations ranked from both partners' trait vectors.
//!
//! Each resource has its logic in `<resource>/mod.rs`, its bodies in `dto.rs` and its routes in
//! `http.rs`; [`ScheduleMeeting`] assembles them into the service the kit runs.

use std::sync::Arc;

use axum::{Router, extract::FromRef};
use couple_common::{
    JwtKeys,
    config::{ListenConfig, PeerUrls, SharedConfig},
    kit::ServiceMain,
    server::{self, ReadinessChecks},
    shutdown::Shutdown,
};
use couple_registry::{SCHEDULE_MEETING, ServiceSpec};
use utoipa::OpenApi;

pub mod config;
pub mod domain;
pub mod error;
pub mod openapi;
pub mod peers;
pub mod places;
pub mod recommend;
pub mod weather;

pub use config::Config;

use weather::Forecasts;

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

    async fn migrate(_config: &Config) -> anyhow::Result<()> {
        Ok(())
    }

    async fn build(config: &Config, shared: &SharedConfig, shutdown: Shutdown) -> anyhow::Result<Router> {
        build(config, shared, shutdown).await
    }
}

/// What handlers share; each handler takes the part it needs.
#[derive(Clone, FromRef)]
pub struct AppState {
    /// The KMA forecasts (weather cards, and the weather of a recommended day).
    pub forecasts: Arc<Forecasts>,
    /// The signing keys, for the identity extractor.
    pub keys: Arc<JwtKeys>,
}

/// Builds the application router.
pub async fn build(config: &Config, shared: &SharedConfig, _shutdown: Shutdown) -> anyhow::Result<Router> {
    places::shipped().map_err(anyhow::Error::msg)?;
    let state = AppState { forecasts: Arc::new(Forecasts::new(config, shared.time_zone())?), keys: Arc::new(JwtKeys::from_config(shared)) };
    let api = Router::new().merge(weather::http::router()).with_state(state);
    Ok(server::app(api, openapi::ApiDoc::openapi(), ReadinessChecks::new(), shared.body_limit_bytes))
}
